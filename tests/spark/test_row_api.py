"""The public hooks recsys.spark builds on, without a Spark session."""

from __future__ import annotations

import numpy as np
import pytest

import recsys
from recsys.core.cooccurrence import item_neighbours
from recsys.data.ids import IdMap
from tests.models.contract import DATA_KWARGS, make_log


@pytest.fixture(scope="module")
def data() -> recsys.Interactions:
    return recsys.Interactions.from_pandas(make_log(seed=5), **DATA_KWARGS)


@pytest.mark.parametrize("name", ["ALS", "ItemItem", "Popularity"])
def test_exclude_rows_equals_exclude_seen(data: recsys.Interactions, name: str) -> None:
    model = {
        "ALS": recsys.ALS(factors=4, iterations=2, random_state=0, num_threads=1),
        "ItemItem": recsys.ItemItem(num_threads=1),
        "Popularity": recsys.Popularity(num_threads=1),
    }[name].fit(data)
    rows = np.array([3, -1, 0, 3, 7], dtype=np.int64)
    seen = model.user_items_
    lengths = np.array([0 if r < 0 else seen.indptr[r + 1] - seen.indptr[r] for r in rows])
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate(
        [seen.indices[seen.indptr[r] : seen.indptr[r + 1]] for r in rows if r >= 0]
    )
    ids, scores = model.recommend_rows(rows, 5, exclude_seen=False, exclude_rows=(indptr, indices))
    ref_ids, ref_scores = model.recommend_rows(rows, 5, exclude_seen=True)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores)
    with pytest.raises(ValueError, match="one row per user row"):
        model.recommend_rows(rows, 5, exclude_rows=(indptr[:-1], indices))
    with pytest.raises(IndexError, match="exclude_rows indices"):
        model.recommend_rows(rows, 5, exclude_rows=(indptr, indices + 10_000))


def test_from_factors_is_a_fitted_als(data: recsys.Interactions) -> None:
    ref = recsys.ALS(factors=4, iterations=3, random_state=0, num_threads=1).fit(data)
    model = recsys.ALS.from_factors(
        ref.user_factors_,
        ref.item_factors_,
        ref.user_ids_,
        ref.item_ids_,
        ref.user_items_,
        num_threads=1,
    )
    users = ref.user_ids_.external_ids
    assert model.recommend(users, n=4).equals(ref.recommend(users, n=4))
    with pytest.raises(ValueError, match="do not match"):
        recsys.ALS.from_factors(
            ref.user_factors_[:-1], ref.item_factors_, ref.user_ids_, ref.item_ids_
        )
    with pytest.raises(ValueError, match="finite"):
        bad = ref.item_factors_.copy()
        bad[0, 0] = np.nan
        recsys.ALS.from_factors(ref.user_factors_, bad, ref.user_ids_, ref.item_ids_)
    with pytest.raises(TypeError, match="IdMap"):
        recsys.ALS.from_factors(ref.user_factors_, ref.item_factors_, list(users), ref.item_ids_)
    empty = recsys.ALS.from_factors(
        np.ones((1, 2)), np.eye(2), IdMap(["u"]), IdMap(["a", "b"]), item_popularity=[1.0, 5.0]
    )
    assert empty.recommend(["nobody"], n=1)["item"].tolist() == ["b"]


def test_fit_from_tables_is_fit(data: recsys.Interactions) -> None:
    ref = recsys.ItemItem(num_threads=1).fit(data)
    calls = []

    def tables(X):  # type: ignore[no-untyped-def]
        calls.append(X.shape)
        return item_neighbours(X, "confidence", k=100, num_threads=1)

    model = recsys.ItemItem(num_threads=1).fit_from_tables(data, tables)
    assert len(calls) == 2  # the full baskets and the calibration's training split
    np.testing.assert_array_equal(model.neighbours_.indices, ref.neighbours_.indices)
    assert model.basket_prior_ == ref.basket_prior_ and model.repeat_prior_ == ref.repeat_prior_
    with pytest.raises(ValueError, match="NeighbourTable over"):
        recsys.ItemItem(num_threads=1).fit_from_tables(data, lambda X: None)
