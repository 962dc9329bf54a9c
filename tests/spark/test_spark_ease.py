"""recsys.spark.fit_ease: EASE's Gramian summed on Spark equals the local fit; its refusals.

Also the hook it rides on, ``EASE.fit_from_gramian`` (no Spark): equal to ``fit``
with the exact Gramian, and a Gramian of other rows is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pyspark")

import recsys  # noqa: E402
from recsys.models import ease as ease_module  # noqa: E402
from recsys.models.ease import EASE  # noqa: E402
from recsys.selling import recommend_cross_sell  # noqa: E402
from recsys.spark import fit_ease  # noqa: E402
from tests.models.contract import make_log  # noqa: E402

BASKETS = dict(user_col="user", item_col="item", weight_col="qty", basket_col="order", time_col="t")
USERS = dict(user_col="user", item_col="item", weight_col="qty")


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    """600 orders of 60 customers over 40 items; times out of order and with ties.

    Large enough for ``l2="auto"`` to validate the served score (20+ held-out
    baskets of returning customers) and for the repeat purchases to be learned.
    """
    frame = make_log(seed=3, n_users=60, n_items=40, n_orders=600)
    rng = np.random.default_rng(0)
    hours = rng.integers(0, 240, size=600)
    order_no = frame["order"].str[1:].astype(int).to_numpy()
    frame["t"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(hours[order_no], unit="h")
    return frame


@pytest.fixture(scope="module")
def slog(log: pd.DataFrame, to_spark: Any) -> Any:
    return to_spark(log).cache()


def _no_local_gramian(*args: Any, **kwargs: Any) -> np.ndarray:
    raise AssertionError("a Gramian was summed on the driver, not on Spark")


def _same_ease(ours: EASE, ref: EASE, atol: float) -> None:
    assert isinstance(ours, EASE)
    assert ours.rows_ == ref.rows_
    assert ours.l2_ == ref.l2_
    assert ours.user_ids_ == ref.user_ids_ and ours.item_ids_ == ref.item_ids_
    assert (ours.user_items_ != ref.user_items_).nnz == 0
    assert isinstance(ours.weights_, np.ndarray) and ours.weights_.dtype == np.float32
    np.testing.assert_allclose(ours.weights_, ref.weights_, rtol=0, atol=atol)
    if ref.validation_ is None:
        assert ours.validation_ is None
    else:
        assert ours.validation_ is not None
        pd.testing.assert_frame_equal(ours.validation_, ref.validation_, atol=1e-9)
    a, b = ours.repeat_purchases_, ref.repeat_purchases_
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert (a.prior, a.scale) == (b.prior, b.scale)
        pd.testing.assert_frame_equal(a.calibration, b.calibration)
    users = ref.user_ids_.external_ids
    pd.testing.assert_frame_equal(
        ours.recommend(users, n=8), ref.recommend(users, n=8), check_exact=False, atol=1e-4
    )


CASES = {
    # baskets with times, l2="auto": λ and the repeat term's scale chosen on the served score
    "baskets-auto": (BASKETS, {}),
    "baskets-fixed": (BASKETS, {"l2": 20.0}),
    # no baskets: rows are users; the weights (quantities) in X
    "users-auto-weights": (USERS, {"binary": False}),
    "users-fixed": (USERS, {"l2": 5.0}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fit_ease_equals_local_fit(
    slog: Any, log: pd.DataFrame, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs, params = CASES[case]
    data = recsys.Interactions.from_pandas(log, **kwargs)
    ref = EASE(num_threads=1, **params).fit(data)
    if case == "baskets-auto":  # the served score was validated (module docstring, step 4)
        assert ref.validation_ is not None and "scale" in ref.validation_
        assert ref.repeat_purchases_ is not None
    monkeypatch.setattr(ease_module, "dense_gramian", _no_local_gramian)
    ours = fit_ease(slog, num_threads=1, **kwargs, **params)
    # 0/1 data: integer sums, equal Gramians; weights: float64 sums on Spark vs float32 locally
    _same_ease(ours, ref, atol=0.0 if ours.binary else 1e-5)
    if ours.rows_ == "baskets":
        basket = log.loc[log["order"] == "o7", ["order", "item"]]
        for user in (None, int(log.loc[log["order"] == "o7", "user"].iloc[0])):
            pd.testing.assert_frame_equal(
                recommend_cross_sell(ours, basket["item"].tolist(), n=5, user=user),
                recommend_cross_sell(ref, basket["item"].tolist(), n=5, user=user),
            )


def test_the_refit_on_earlier_baskets_sums_its_gramian_on_the_driver(
    slog: Any, log: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rows="users" over baskets with l2="auto": the repeat term's scale needs one refit.

    That refit (on the baskets before the held-out ones) is the only Gramian
    summed on the driver; every λ of the search solves the Gramian from Spark.
    """
    data = recsys.Interactions.from_pandas(log, **BASKETS)
    ref = EASE(rows="users", num_threads=1).fit(data)
    shapes: list[tuple[int, int]] = []
    local = ease_module.dense_gramian

    def counted(indptr: Any, indices: Any, data_: Any, n_items: int, **kw: Any) -> np.ndarray:
        shapes.append((len(indptr) - 1, n_items))
        return local(indptr, indices, data_, n_items, **kw)

    monkeypatch.setattr(ease_module, "dense_gramian", counted)
    ours = fit_ease(slog, rows="users", num_threads=1, **BASKETS)
    _same_ease(ours, ref, atol=0.0)
    assert ours.repeat_purchases_ is not None
    assert len(shapes) == 1 and shapes[0][0] <= data.n_users  # the refit alone


# ---------------------------------------------------------------------------- bad input
def test_fit_ease_refuses_what_it_cannot_sum(slog: Any) -> None:
    with pytest.raises(ValueError, match=r"density=0.005 .*fit it locally"):
        fit_ease(slog, density=0.005, **BASKETS)
    with pytest.raises(ValueError, match="rows='baskets' needs interactions with baskets"):
        fit_ease(slog, rows="baskets", **USERS)
    with pytest.raises(ValueError, match="time_col orders the baskets: it needs basket_col"):
        fit_ease(slog, time_col="t", **USERS)
    with pytest.raises(ValueError, match="l2 must be 'auto' or a finite number > 0"):
        fit_ease(slog, l2=-1.0, **USERS)
    with pytest.raises(TypeError):
        fit_ease(slog, similarity="cosine", **USERS)


def _bad_log(log: pd.DataFrame, case: str) -> pd.DataFrame:
    if case == "missing column":
        return log.drop(columns=["qty"])
    if case == "empty":
        return log.iloc[:0]
    bad = log.copy()
    bad.loc[bad.index[5], "qty"] = -2
    return bad


@pytest.mark.parametrize("case", ["missing column", "empty", "negative weights"])
def test_fit_ease_bad_logs_get_the_local_errors(
    log: pd.DataFrame, to_spark: Any, case: str
) -> None:
    frame = _bad_log(log, case)
    with pytest.raises(ValueError) as local:
        recsys.Interactions.from_pandas(frame, **BASKETS)
    with pytest.raises(ValueError) as err:
        fit_ease(to_spark(frame), **BASKETS)
    expected = str(local.value).split(" in rows")[0]  # a Spark DataFrame has no row labels
    assert str(err.value).startswith(expected)
    if case != "negative weights":
        assert str(err.value) == str(local.value)


def test_fit_ease_memory_refusal_comes_before_the_spark_sums(
    slog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dense fit over the budget is refused by the local check, before any pair is summed."""

    def no_sums(self: Any) -> Any:
        raise AssertionError("the pairs were summed before the memory check")

    from recsys.spark import training

    monkeypatch.setattr(training._SparkGramian, "_sum", no_sums)
    with pytest.raises(MemoryError, match=r"a dense fit on \d+ items needs about"):
        fit_ease(slog, l2=1.0, max_memory=1000, **BASKETS)


# ------------------------------------------------------- the hook: EASE.fit_from_gramian
def _exact(rows: sp.csr_matrix) -> np.ndarray:
    return np.ascontiguousarray((rows.T @ rows).toarray(), dtype=np.float32)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_rows=st.integers(2, 40),
    n_items=st.integers(2, 15),
    l2=st.one_of(st.just("auto"), st.floats(0.5, 50.0)),
    binary=st.booleans(),
)
def test_fit_from_gramian_equals_fit(
    seed: int, n_rows: int, n_items: int, l2: Any, binary: bool
) -> None:
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(
        (rng.random((n_rows, n_items)) < 0.35) * rng.integers(1, 5, (n_rows, n_items))
    )
    calls: list[int] = []

    def gramian(rows: sp.csr_matrix) -> np.ndarray:
        calls.append(rows.shape[0])
        return _exact(rows)

    ref = EASE(l2=l2, binary=binary, num_threads=1).fit(X)
    ours = EASE(l2=l2, binary=binary, num_threads=1).fit_from_gramian(X, gramian)
    assert ours.l2_ == ref.l2_
    assert calls and set(calls) == {X.shape[0]}  # only Gramians of all the fit's rows asked
    scale = max(1.0, float(np.abs(ref.weights_).max()))
    np.testing.assert_allclose(ours.weights_, ref.weights_, rtol=1e-4, atol=1e-5 * scale)
    assert "_gramian_source" not in ours.__dict__  # cleared: a later fit is a local fit


def test_fit_from_gramian_refuses_a_gramian_of_other_rows() -> None:
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 1]]))
    with pytest.raises(ValueError, match="the Gramian of other rows"):
        EASE(l2=1.0).fit_from_gramian(X, lambda rows: _exact(rows[:2]))
    with pytest.raises(ValueError, match=r"a finite real array of shape \(3, 3\)"):
        EASE(l2=1.0).fit_from_gramian(X, lambda rows: np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match=r"a finite real array of shape \(3, 3\)"):
        EASE(l2=1.0).fit_from_gramian(X, lambda rows: _exact(rows)[:2])
    with pytest.raises(ValueError, match=r"a finite real array of shape \(3, 3\), got list"):
        EASE(l2=1.0).fit_from_gramian(X, lambda rows: _exact(rows).tolist())
    # any real array of the right shape is used: float64, Fortran order, read-only
    fortran = np.asfortranarray(_exact(X).astype(np.float64))
    fortran.flags.writeable = False
    same = EASE(l2=1.0).fit_from_gramian(X, lambda rows: fortran)
    np.testing.assert_allclose(same.weights_, EASE(l2=1.0).fit(X).weights_, atol=1e-6)
    with pytest.raises(ValueError, match="fit_from_gramian fits the dense form"):
        EASE(l2=1.0, density=0.5).fit_from_gramian(X, _exact)
    model = EASE(l2=1.0)
    with pytest.raises(ValueError):
        model.fit_from_gramian(X, lambda rows: _exact(rows[:2]))
    assert "_gramian_source" not in model.__dict__  # cleared after a failed fit too
