"""Same data, same seed, same model, whatever the row order; ALS names weights it cannot take.

Issue 16, section 4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import recsys
from recsys import ALS, Interactions, ItemItem, Popularity
from tests.models.contract import DATA_KWARGS, make_log


def _shuffled(log: pd.DataFrame, seed: int) -> pd.DataFrame:
    return log.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _all_recommendations(model: recsys.Recommender, log: pd.DataFrame) -> pd.DataFrame:
    users = sorted(log["user"].unique().tolist()) + [10_000]  # and an unknown user
    return model.recommend(users, n=10)


@pytest.mark.parametrize("seed", [1, 2])
def test_interactions_do_not_depend_on_row_order(seed: int) -> None:
    log = make_log()
    a = Interactions.from_pandas(log, **DATA_KWARGS)
    b = Interactions.from_pandas(_shuffled(log, seed), **DATA_KWARGS)
    assert a.user_ids == b.user_ids and a.item_ids == b.item_ids and a.basket_ids == b.basket_ids
    for name in ("matrix", "basket_matrix"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x != y).nnz == 0
        np.testing.assert_array_equal(x.indptr, y.indptr)
        np.testing.assert_array_equal(x.indices, y.indices)
        np.testing.assert_array_equal(x.data, y.data)
    np.testing.assert_array_equal(a.basket_users, b.basket_users)


def test_repeated_pairs_sum_the_same_bits_in_any_order() -> None:
    # 1 + 2**-24 lands on a float32 midpoint: whether the two 2**-53 are added before 1 (and
    # survive) or after (and vanish) decides the float32 sum
    weights = [1.0, 2.0**-24, 2.0**-53, 2.0**-53]
    log = pd.DataFrame({"user": [1] * 4, "item": ["a"] * 4, "w": weights})
    sums = {
        Interactions.from_pandas(
            log.iloc[perm], user_col="user", item_col="item", weight_col="w"
        ).matrix.data.tobytes()
        for perm in ([0, 1, 2, 3], [2, 3, 1, 0], [1, 2, 0, 3])
    }
    assert len(sums) == 1


@pytest.mark.parametrize("seed", [1, 2])
def test_als_fitted_on_shuffled_rows_is_the_same_model(seed: int) -> None:
    log = make_log()
    fitted = [
        ALS(factors=8, iterations=4, random_state=7).fit(
            Interactions.from_pandas(df, **DATA_KWARGS)
        )
        for df in (log, _shuffled(log, seed))
    ]
    np.testing.assert_array_equal(fitted[0].user_factors_, fitted[1].user_factors_)
    np.testing.assert_array_equal(fitted[0].item_factors_, fitted[1].item_factors_)
    pd.testing.assert_frame_equal(
        _all_recommendations(fitted[0], log), _all_recommendations(fitted[1], log)
    )


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("similarity", ["confidence", "cosine", "bm25"])
def test_item_item_fitted_on_shuffled_rows_is_the_same_model(seed: int, similarity: str) -> None:
    log = make_log()
    fitted = [
        ItemItem(similarity, k=20).fit(Interactions.from_pandas(df, **DATA_KWARGS))
        for df in (log, _shuffled(log, seed))
    ]
    a, b = fitted[0].neighbours_, fitted[1].neighbours_
    for part in ("indptr", "indices", "scores", "counts", "item_support"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    pd.testing.assert_frame_equal(
        _all_recommendations(fitted[0], log), _all_recommendations(fitted[1], log)
    )
    items = sorted(log["item"].unique().tolist())
    pd.testing.assert_frame_equal(fitted[0].similar_items(items), fitted[1].similar_items(items))


@pytest.mark.parametrize("seed", [1, 2])
def test_popularity_fitted_on_shuffled_rows_is_the_same_model(seed: int) -> None:
    log = make_log()
    fitted = [
        Popularity().fit(Interactions.from_pandas(df, **DATA_KWARGS))
        for df in (log, _shuffled(log, seed))
    ]
    np.testing.assert_array_equal(fitted[0].item_scores_, fitted[1].item_scores_)
    pd.testing.assert_frame_equal(
        _all_recommendations(fitted[0], log), _all_recommendations(fitted[1], log)
    )


@pytest.mark.parametrize("weight", [1e30, 3e38, 1e11])
def test_als_names_the_column_and_value_of_a_weight_it_cannot_take(weight: float) -> None:
    log = pd.DataFrame({"u": [1, 1, 2, 3], "i": ["a", "b", "a", "c"], "spend": [weight, 1, 2, 3]})
    data = Interactions.from_pandas(log, user_col="u", item_col="i", weight_col="spend")
    with pytest.raises(ValueError, match=r"column 'spend'") as err:
        ALS(factors=4, iterations=2, random_state=0).fit(data)
    assert f"{weight:g}" in str(err.value) and "user 1, item 'a'" in str(err.value)
    assert "scale the weights down" in str(err.value)


def test_als_weight_limit_scales_with_alpha_and_guards_partial_fit() -> None:
    log = pd.DataFrame({"u": [1, 1, 2, 3], "i": ["a", "b", "a", "c"], "w": [1e9, 1, 2, 3]})
    data = Interactions.from_pandas(log, user_col="u", item_col="i", weight_col="w")
    model = ALS(factors=4, iterations=2, random_state=0).fit(data)
    assert np.isfinite(model.user_factors_).all()
    with pytest.raises(ValueError, match="alpha"):
        ALS(factors=4, iterations=2, alpha=100.0, random_state=0).fit(data)
    new = pd.DataFrame({"u": [4], "i": ["a"], "w": [1e20]})
    with pytest.raises(ValueError, match=r"column 'w' is 1e\+20 \(user 4, item 'a'\)"):
        model.partial_fit(Interactions.from_pandas(new, user_col="u", item_col="i", weight_col="w"))
    assert len(model.user_ids_) == 3  # a failed partial_fit leaves the model unchanged
