"""recsys.spark in Spark local mode: equal to the local fits and batches, same errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark")

import recsys  # noqa: E402
from recsys.exceptions import UnknownIdError  # noqa: E402
from recsys.selling import Rules  # noqa: E402
from recsys.selling import recommend_cross_sell_batch as local_batch  # noqa: E402
from recsys.spark import (  # noqa: E402
    fit_als,
    fit_item_item,
    recommend,
    recommend_cross_sell_batch,
)
from tests.models.contract import make_log  # noqa: E402

KW = dict(user_col="user", item_col="item", weight_col="qty", basket_col="order", time_col="t")


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    """Orders of 50 customers over 30 items; times out of order and with ties."""
    frame = make_log(seed=3, n_users=50, n_items=30, n_orders=300)
    rng = np.random.default_rng(0)
    hours = rng.integers(0, 120, size=300)  # ties, and not the order of the order IDs
    order_no = frame["order"].str[1:].astype(int).to_numpy()
    frame["t"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(hours[order_no], unit="h")
    return frame


@pytest.fixture(scope="module")
def data(log: pd.DataFrame) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(log, **KW)


@pytest.fixture(scope="module")
def slog(log: pd.DataFrame, to_spark: Any) -> Any:
    return to_spark(log).cache()


def _sorted(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.sort_values([key, "rank"]).reset_index(drop=True)


def _same_recommendations(local: pd.DataFrame, distributed: pd.DataFrame, key: str) -> None:
    a, b = _sorted(local, key), _sorted(distributed, key)
    assert len(a) == len(b)
    assert a[key].tolist() == b[key].tolist()
    assert a["rank"].tolist() == b["rank"].tolist()
    assert a["item"].tolist() == b["item"].tolist()
    np.testing.assert_allclose(b["score"].to_numpy(), a["score"].to_numpy(), rtol=0, atol=1e-6)


def _same_item_item(ours: recsys.ItemItem, ref: recsys.ItemItem) -> None:
    t, r = ours.neighbours_, ref.neighbours_
    np.testing.assert_array_equal(t.indptr, r.indptr)
    np.testing.assert_array_equal(t.indices, r.indices)
    np.testing.assert_array_equal(t.counts, r.counts)
    np.testing.assert_array_equal(t.item_support, r.item_support)
    np.testing.assert_allclose(t.scores, r.scores, rtol=0, atol=1e-6)
    assert t.n_rows == r.n_rows
    assert ours.user_ids_ == ref.user_ids_ and ours.item_ids_ == ref.item_ids_
    assert (ours.user_items_ != ref.user_items_).nnz == 0
    assert ours.basket_prior_ == ref.basket_prior_ and ours.repeat_prior_ == ref.repeat_prior_
    if ref.calibration_ is None:
        assert ours.calibration_ is None
    else:
        pd.testing.assert_frame_equal(ours.calibration_, ref.calibration_)
    if ref.conditional_probability_ is not None:
        np.testing.assert_allclose(
            ours.conditional_probability_, ref.conditional_probability_, atol=1e-6
        )
    users = ref.user_ids_.external_ids
    _same_recommendations(ref.recommend(users, n=5), ours.recommend(users, n=5), "user")


# ---------------------------------------------------------------------------- ItemItem
@pytest.mark.parametrize(
    "params",
    [
        {},  # the default: confidence over baskets, both priors calibrated on the time hold-out
        {"similarity": "lift", "use_baskets": False, "k": 7},
    ],
    ids=["default", "lift-users"],
)
def test_fit_item_item_equals_local_fit(
    slog: Any, data: recsys.Interactions, params: dict[str, Any]
) -> None:
    ref = recsys.ItemItem(num_threads=1, **params).fit(data)
    ours = fit_item_item(slog, num_threads=1, **KW, **params)
    if not params:
        assert ref.calibration_ is not None  # the calibration really ran
    _same_item_item(ours, ref)


def test_min_pair_count_prunes_on_the_cluster(slog: Any, data: recsys.Interactions) -> None:
    """Pruned pairs never reach the table: the model equals a local fit with that min_count."""
    ref = recsys.ItemItem("cosine", k=5, min_count=3, num_threads=1).fit(data)
    ours = fit_item_item(slog, similarity="cosine", k=5, min_pair_count=3, num_threads=1, **KW)
    assert ours.min_count == 3
    _same_item_item(ours, ref)
    full = recsys.ItemItem("cosine", k=5, num_threads=1).fit(data)
    assert ours.neighbours_.indices.size < full.neighbours_.indices.size


def test_fit_item_item_refuses_what_it_cannot_count(slog: Any) -> None:
    with pytest.raises(ValueError, match="similarity must be one of"):
        fit_item_item(slog, similarity="bm25", **KW)
    with pytest.raises(ValueError, match="weighted cosine"):
        fit_item_item(slog, similarity="cosine", binary=False, **KW)
    with pytest.raises(ValueError, match="min_pair_count must be a positive integer"):
        fit_item_item(slog, min_pair_count=0, **KW)


# --------------------------------------------------------------------------------- ALS
def test_fit_als_is_a_recsys_als_that_learns_the_structure(to_spark: Any, tmp_path: Any) -> None:
    """Two groups of customers buying from two disjoint halves: recommendations stay in them."""
    rng = np.random.default_rng(1)
    rows = []
    for user in range(40):
        half = user % 2
        for item in rng.choice(10, size=5, replace=False):
            rows.append((user, f"i{half}{item}", int(rng.integers(1, 3))))
    frame = pd.DataFrame(rows, columns=["user", "item", "qty"])
    kwargs = dict(user_col="user", item_col="item", weight_col="qty")
    model = fit_als(to_spark(frame), factors=4, iterations=8, alpha=10.0, blocks=2, **kwargs)
    data = recsys.Interactions.from_pandas(frame, **kwargs)
    assert isinstance(model, recsys.ALS)
    assert model.user_ids_ == data.user_ids and model.item_ids_ == data.item_ids
    assert (model.user_items_ != data.matrix).nnz == 0
    np.testing.assert_array_equal(model.item_popularity_, np.diff(data.matrix.tocsc().indptr))
    assert model.user_factors_.shape == (40, 4) and model.item_factors_.shape == (20, 4)
    recs = model.recommend(list(range(40)), n=3)
    assert len(recs) == 120
    same_half = recs["item"].str[1].astype(int).to_numpy() == recs["user"].to_numpy() % 2
    assert same_half.mean() > 0.9
    path = tmp_path / "als.npz"
    model.save(path)
    pd.testing.assert_frame_equal(
        recsys.ALS.load(path).recommend([0, 1], n=3), model.recommend([0, 1], n=3)
    )


# ---------------------------------------------------------------------------- recommend
@pytest.fixture(scope="module")
def local_models(data: recsys.Interactions) -> dict[str, recsys.Recommender]:
    return {
        "ALS": recsys.ALS(factors=8, iterations=4, random_state=0, num_threads=1).fit(data),
        "ItemItem": recsys.ItemItem(num_threads=1).fit(data),
        "Popularity": recsys.Popularity(num_threads=1).fit(data),
    }


@pytest.mark.parametrize("name", ["ALS", "ItemItem", "Popularity"])
@pytest.mark.parametrize("exclude_seen", [True, False])
def test_recommend_equals_local_recommend(
    spark: Any,
    to_spark: Any,
    slog: Any,
    local_models: dict[str, recsys.Recommender],
    name: str,
    exclude_seen: bool,
) -> None:
    model = local_models[name]
    users = [*model.user_ids_.external_ids.tolist(), 10_000]  # + a user the model does not know
    frame = to_spark(pd.DataFrame({"user": users}))
    got = recommend(
        model, frame, n=6, exclude_seen=exclude_seen, interactions=slog if exclude_seen else None
    ).toPandas()
    assert list(got.columns) == ["user", "item", "score", "rank"]
    _same_recommendations(model.recommend(users, n=6, exclude_seen=exclude_seen), got, "user")


def test_recommend_needs_interactions_to_exclude_seen(
    to_spark: Any, local_models: dict[str, recsys.Recommender]
) -> None:
    users = to_spark(pd.DataFrame({"user": [1, 2]}))
    with pytest.raises(ValueError, match="exclude_seen=True needs interactions"):
        recommend(local_models["ALS"], users)
    with pytest.raises(ValueError, match=r"users is missing column\(s\) \['customer'\]"):
        recommend(local_models["ALS"], users, user_col="customer", exclude_seen=False)


# ----------------------------------------------------------------------------- cross-sell
@pytest.mark.parametrize("personal", [False, True])
def test_cross_sell_batch_equals_local_batch(
    to_spark: Any, log: pd.DataFrame, local_models: dict[str, recsys.Recommender], personal: bool
) -> None:
    model = local_models["ItemItem"]
    carts = log[log["order"].isin([f"o{i}" for i in range(0, 300, 7)])][["order", "user", "item"]]
    carts = carts.rename(columns={"order": "cart"})
    kwargs: dict[str, Any] = dict(n=4, basket_col="cart", item_col="item")
    if personal:
        kwargs.update(user_col="user", rules=Rules(exclude_owned=True))
    expected = local_batch(model, carts, **kwargs)
    got = recommend_cross_sell_batch(model, to_spark(carts), **kwargs).toPandas()
    assert list(got.columns) == list(expected.columns)
    _same_recommendations(expected, got, "cart")
    a, b = _sorted(expected, "cart"), _sorted(got, "cart")
    assert a["reason"].tolist() == b["reason"].tolist()
    assert a["because"].fillna("-").tolist() == b["because"].fillna("-").tolist()
    np.testing.assert_array_equal(a["together_count"], b["together_count"])


def test_cross_sell_batch_unknown_items(
    to_spark: Any, local_models: dict[str, recsys.Recommender]
) -> None:
    carts = pd.DataFrame({"cart": ["a", "a"], "item": ["item000", "nope"]})
    with pytest.raises(UnknownIdError, match=r"1 unknown item\(s\): \['nope'\]"):
        recommend_cross_sell_batch(local_models["ItemItem"], to_spark(carts), basket_col="cart")
    got = recommend_cross_sell_batch(
        local_models["ItemItem"], to_spark(carts), basket_col="cart", unknown_items="ignore"
    ).toPandas()
    assert len(got) == 5


# ------------------------------------------------------------------------------ bad input
def _bad_logs(log: pd.DataFrame) -> dict[str, pd.DataFrame]:
    null_user = log.astype({"user": "float64"})
    null_user.loc[null_user.index[3], "user"] = np.nan
    negative = log.copy()
    negative.loc[negative.index[5], "qty"] = -2
    nan_weight = log.astype({"qty": "float64"})
    nan_weight.loc[nan_weight.index[1], "qty"] = np.nan
    return {
        "missing column": log.drop(columns=["qty"]),
        "null ids": null_user,
        "negative weights": negative,
        "nan weights": nan_weight,
        "empty": log.iloc[:0],
    }


@pytest.mark.parametrize(
    "case", ["missing column", "null ids", "negative weights", "nan weights", "empty"]
)
def test_bad_input_gets_the_local_errors(to_spark: Any, log: pd.DataFrame, case: str) -> None:
    frame = _bad_logs(log)[case]
    kwargs = dict(user_col="user", item_col="item", weight_col="qty")
    with pytest.raises((ValueError, TypeError)) as local:
        recsys.Interactions.from_pandas(frame, **kwargs)
    expected = str(local.value).split(" in rows")[0]
    sframe = to_spark(frame)
    for fit in (fit_als, fit_item_item):
        with pytest.raises(type(local.value)) as err:
            fit(sframe, **kwargs)
        assert str(err.value).startswith(expected)
        if case in ("missing column", "empty"):  # the local check itself, on the columns
            assert str(err.value) == str(local.value)


def test_zero_weights_are_dropped_with_the_local_warning(to_spark: Any, log: pd.DataFrame) -> None:
    frame = log[["user", "item", "qty"]].iloc[:200].copy()
    frame.loc[frame.index[:4], "qty"] = 0
    kwargs = dict(user_col="user", item_col="item", weight_col="qty")
    with pytest.warns(UserWarning, match="dropped 4 row"):
        data = recsys.Interactions.from_pandas(frame, **kwargs)
    local = recsys.ItemItem("jaccard", num_threads=1).fit(data)
    with pytest.warns(UserWarning, match="dropped 4 row"):
        ours = fit_item_item(to_spark(frame), similarity="jaccard", num_threads=1, **kwargs)
    _same_item_item(ours, local)
