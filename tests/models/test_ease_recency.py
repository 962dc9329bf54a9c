"""EASE(half_life_days=...): baskets weighted by their age in the Gramian, against NumPy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys import Interactions
from recsys.core.sparse_ease import sparse_ease
from recsys.models import ease as ease_module
from recsys.models.ease import EASE
from tests.core.test_gramian import reference_ease

DAY = 86_400.0


def timed_log(seed: int, n_baskets: int = 60, n_items: int = 12, days: int = 400) -> pd.DataFrame:
    """Baskets of 2-5 distinct items, 20 customers, times spread over ``days`` (lines of a
    basket a few hours apart: the basket's time is its first line's)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01")
    rows = []
    for b in range(n_baskets):
        day = float(rng.integers(0, days))
        for k, item in enumerate(rng.choice(n_items, size=int(rng.integers(2, 6)), replace=False)):
            when = start + pd.Timedelta(days=day) + pd.Timedelta(hours=k)
            rows.append((f"b{b}", f"u{b % 20}", f"i{item:02d}", when))
    return pd.DataFrame(rows, columns=["basket", "user", "item", "time"])


def timed_data(log: pd.DataFrame) -> Interactions:
    return Interactions.from_pandas(
        log, user_col="user", item_col="item", basket_col="basket", time_col="time"
    )


def reference_rows(data: Interactions, log: pd.DataFrame, half_life: float) -> np.ndarray:
    """The 0/1 baskets × items rows times sqrt(0.5 ** (age / half_life)), from the log itself.

    A basket's age: from its first line to the newest line of the log, in days.
    """
    X = (data.basket_matrix.toarray() != 0).astype(np.float64)
    first = log.groupby("basket")["time"].min()
    ages = (log["time"].max() - first).dt.total_seconds() / DAY
    rows = data.basket_ids.to_rows(first.index.to_numpy())
    weight = np.empty(X.shape[0])
    weight[rows] = 0.5 ** (ages.to_numpy() / half_life)
    return X * np.sqrt(weight)[:, None]


# ------------------------------------------------------------------- the weights
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    half_life=st.floats(5.0, 2_000.0),
    l2=st.floats(0.5, 100.0),
)
def test_dense_weights_solve_the_decayed_gramian(seed: int, half_life: float, l2: float) -> None:
    log = timed_log(seed)
    data = timed_data(log)
    model = EASE(l2=l2, half_life_days=half_life, num_threads=1).fit(data)
    want = reference_ease(reference_rows(data, log, half_life), l2)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(model.weights_, want, atol=2e-4 * scale, rtol=1e-3)
    assert model.rows_ == "baskets" and np.all(np.diagonal(model.weights_) == 0)
    # the histories scored are not decayed: a basket's scores are the sum of its items' rows
    hist = sp.csr_matrix((data.basket_matrix[:4].toarray() != 0).astype(np.float32))
    np.testing.assert_allclose(
        model.score_history_rows(hist, np.arange(hist.shape[1])),
        np.maximum(hist.toarray() @ want, 0.0),
        atol=1e-3 * scale * hist.shape[1],
    )


def test_a_very_long_half_life_is_no_decay_and_a_short_one_differs() -> None:
    data = timed_data(timed_log(1))
    plain = EASE(l2=5.0).fit(data).weights_
    np.testing.assert_allclose(
        EASE(l2=5.0, half_life_days=1e9).fit(data).weights_, plain, atol=1e-5
    )
    assert np.abs(EASE(l2=5.0, half_life_days=30).fit(data).weights_ - plain).max() > 1e-2


def test_newer_baskets_decide_the_recommendation() -> None:
    # a year ago tea went with cups; lately with pots
    rows = [(f"o{k}", f"c{k}", item, "2024-01-01") for k in range(4) for item in ("tea", "cup")]
    rows += [(f"n{k}", f"d{k}", item, "2025-01-01") for k in range(3) for item in ("tea", "pot")]
    log = pd.DataFrame(rows, columns=["basket", "user", "item", "time"])
    log["time"] = pd.to_datetime(log["time"])
    data = timed_data(log)
    cart = pd.DataFrame({"cart": [1], "item": ["tea"]})
    plain = EASE(l2=1.0).fit(data).recommend_for_history(cart, n=1, query_col="cart")
    recent = (
        EASE(l2=1.0, half_life_days=90).fit(data).recommend_for_history(cart, n=1, query_col="cart")
    )
    assert plain["item"].tolist() == ["cup"] and recent["item"].tolist() == ["pot"]


# ------------------------------------------------------------------- auto λ
def _ranking_reference(scores: np.ndarray, queries: sp.csr_matrix, hidden: sp.csr_matrix) -> float:
    """Mean NDCG@10 of the one hidden item of each query (query items excluded, ties by item)."""
    total = 0.0
    n_items = scores.shape[1]
    for r in range(queries.shape[0]):
        s = scores[r].copy()
        s[queries[r].indices] = -np.inf
        top = sorted(range(n_items), key=lambda j: (-s[j], j))[:10]
        target = int(hidden[r].indices[0])
        total += 1.0 / math.log2(top.index(target) + 2) if target in top else 0.0
    return total / queries.shape[0]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), half_life=st.sampled_from([20.0, 90.0, 365.0]))
def test_auto_l2_validates_fits_of_the_decayed_training_rows(seed: int, half_life: float) -> None:
    """Every λ tried scores the held-out (0/1) queries with the EASE of the *decayed* rows
    that stay in training, on a grid scaled by the decayed Gramian's mean diagonal."""
    log = timed_log(seed, n_baskets=120)
    data = timed_data(log)
    model = EASE(half_life_days=half_life, num_threads=1).fit(data)
    table = model.validation_
    rows = reference_rows(data, log, half_life)
    X = (data.basket_matrix != 0).astype(np.float32).tocsr()
    split = ease_module._split_rows(X, "baskets", data.basket_times, 0)
    assert split.queries.shape[0] > 0
    mean = float((rows**2).sum()) / rows.shape[1]
    np.testing.assert_allclose(table["l2"], table["relative_l2"] * mean, rtol=1e-5)
    train = rows.copy()
    train[split.picked] = 0.0  # the query baskets leave training
    column = "basket_ndcg@10" if "basket_ndcg@10" in table else "ndcg@10"
    for l2, got in zip(table["l2"], table[column], strict=True):
        scores = split.queries.toarray() @ reference_ease(train, float(l2))
        want = _ranking_reference(scores, split.queries, split.hidden)
        assert got == pytest.approx(want, abs=0.02)
    # the chosen λ's model is the fit on every decayed row
    want_b = reference_ease(rows, model.l2_)
    scale = max(1.0, float(np.abs(want_b).max()))
    np.testing.assert_allclose(model.weights_, want_b, atol=2e-4 * scale, rtol=1e-3)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_auto_l2_refit_and_woodbury_validate_alike_with_decay(seed: int) -> None:
    data = timed_data(timed_log(seed, n_baskets=80))
    fits = {}
    for woodbury in (True, False):
        original = ease_module._woodbury_pays
        ease_module._woodbury_pays = lambda k, n, fits=5, _w=woodbury: _w
        try:
            fits[woodbury] = EASE(half_life_days=60, num_threads=1).fit(data)
        finally:
            ease_module._woodbury_pays = original
    a, b = fits[True], fits[False]
    assert a.l2_ == b.l2_
    pd.testing.assert_frame_equal(a.validation_, b.validation_, atol=1e-5, rtol=1e-4)
    np.testing.assert_array_equal(a.weights_, b.weights_)


# ------------------------------------------------------------------- sparse form, Gramian hook
def test_sparse_form_solves_the_decayed_rows() -> None:
    log = timed_log(4)
    data = timed_data(log)
    model = EASE(l2=3.0, density=0.3, half_life_days=60).fit(data)
    rows = sp.csr_matrix(reference_rows(data, log, 60.0).astype(np.float32))
    want = sparse_ease(rows, 3.0, 0.3, num_threads=1)
    np.testing.assert_allclose(model.weights_.toarray(), want.toarray(), atol=1e-5)
    plain = EASE(l2=3.0, density=0.3).fit(data)
    assert abs(model.weights_ - plain.weights_).max() > 1e-3
    auto = EASE(density=0.3, half_life_days=60).fit(data)  # λ validated on the decayed rows
    assert auto.validation_ is not None and not auto.validation_.empty


def test_fit_from_gramian_gets_the_decayed_rows_and_refuses_an_undecayed_gramian() -> None:
    data = timed_data(timed_log(5))
    seen: list[sp.csr_matrix] = []

    def gram(rows: sp.csr_matrix) -> np.ndarray:
        seen.append(rows)
        return (rows.T @ rows).toarray().astype(np.float32)

    model = EASE(l2=4.0, half_life_days=45).fit_from_gramian(data, gram)
    local = EASE(l2=4.0, half_life_days=45).fit(data)
    np.testing.assert_allclose(model.weights_, local.weights_, atol=1e-5)
    assert len(seen) == 1 and seen[0].data.max() <= 1.0 and seen[0].data.min() < 1.0

    def unweighted(rows: sp.csr_matrix) -> np.ndarray:  # e.g. counts summed elsewhere
        ones = (rows != 0).astype(np.float32)
        return (ones.T @ ones).toarray()

    with pytest.raises(ValueError, match="the Gramian of other rows"):
        EASE(l2=4.0, half_life_days=45).fit_from_gramian(data, unweighted)


# ------------------------------------------------------------------- saving
def test_save_and_load_keep_the_half_life(tmp_path) -> None:
    data = timed_data(timed_log(6))
    model = EASE(l2=2.0, half_life_days=120).fit(data)
    path = tmp_path / "ease.npz"
    model.save(path)
    loaded = EASE.load(path)
    assert loaded.half_life_days == 120
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    model.half_life_days = 30  # changed since fit: the file would not describe the state
    with pytest.raises(ValueError, match="half_life_days"):
        model.save(tmp_path / "other.npz")


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("value", [0, -3.0, float("nan"), float("inf"), "90", True, [30]])
def test_bad_half_life_is_refused(value: object) -> None:
    data = timed_data(timed_log(7))
    with pytest.raises(ValueError, match=r"EASE\(half_life_days=...\) must be a positive number"):
        EASE(l2=1.0, half_life_days=value).fit(data)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0 < v < math.inf),
        st.integers(max_value=0),
        st.text(max_size=4),
        st.booleans(),
    )
)
def test_any_bad_half_life_is_refused_never_fitted(value: object) -> None:
    X = sp.csr_matrix(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="half_life_days"):
        EASE(l2=1.0, half_life_days=value).fit(X)  # type: ignore[arg-type]


def test_half_life_needs_baskets_with_times() -> None:
    log = timed_log(8)
    untimed = Interactions.from_pandas(log, user_col="user", item_col="item", basket_col="basket")
    with pytest.raises(ValueError, match="needs interactions with event times.*time_col"):
        EASE(l2=1.0, half_life_days=30).fit(untimed)
    with pytest.raises(ValueError, match="needs rows='baskets'"):
        EASE(l2=1.0, rows="users", half_life_days=30).fit(timed_data(log))
    users_only = Interactions.from_pandas(log, user_col="user", item_col="item", time_col="time")
    with pytest.raises(ValueError, match="needs rows='baskets'"):
        EASE(l2=1.0, half_life_days=30).fit(users_only)
    # None (the default) fits them all
    assert EASE(l2=1.0).fit(users_only).rows_ == "users"


def test_spark_fit_ease_refuses_a_half_life_before_touching_spark() -> None:
    pytest.importorskip("pyspark")
    from recsys.spark import fit_ease

    # the parameters are checked before the frame is read: no Spark session is needed
    with pytest.raises(ValueError, match=r"half_life_days=30 is not supported; fit it locally"):
        fit_ease(None, user_col="user", item_col="item", half_life_days=30)
