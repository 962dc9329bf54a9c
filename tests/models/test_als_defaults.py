"""ALS's "auto" alpha and regularization: the rule, its invariance, persistence, the target.

Issue 11, part 2.
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import recsys
from recsys import ALS, Interactions
from recsys.data.ids import IdMap
from recsys.models.als import AUTO_CONFIDENCE, AUTO_REGULARIZATION
from tests.models.contract import DATA_KWARGS, make_log


def reference_scale(
    dense: np.ndarray, alpha: object, regularization: object
) -> tuple[float, float]:
    """The documented rule, on a dense users x items array (plain NumPy)."""
    positive = dense[dense > 0]
    median = float(np.median(positive)) if positive.size else 1.0
    a = AUTO_CONFIDENCE / median if alpha == "auto" else float(alpha)  # type: ignore[arg-type]
    users = int((dense > 0).any(axis=1).sum())
    per_user = positive.size / users if users else 1.0
    r = (
        AUTO_REGULARIZATION * a * median * per_user
        if regularization == "auto"
        else float(regularization)  # type: ignore[arg-type]
    )
    return a, r


def test_defaults_are_auto_and_resolve_at_fit() -> None:
    assert ALS().get_params()["alpha"] == "auto"
    assert ALS().get_params()["regularization"] == "auto"
    # 0/1 data: alpha 3; users with 2, 2, 4 items -> 0.15 * 3 * 1 * 8 / 3
    log = pd.DataFrame(
        {"u": [1, 1, 2, 2, 3, 3, 3, 3], "i": ["a", "b", "a", "c", "a", "b", "c", "d"]}
    )
    model = ALS(factors=4, iterations=2, random_state=0).fit(
        Interactions.from_pandas(log, user_col="u", item_col="i")
    )
    assert model.alpha_ == 3.0
    assert model.regularization_ == pytest.approx(0.15 * 3 * 8 / 3)
    assert model.alpha == "auto" and model.regularization == "auto"  # parameters untouched


@pytest.mark.parametrize(
    ("alpha", "regularization"), [("auto", "auto"), (2.0, "auto"), ("auto", 0.5), (1.5, 0.25)]
)
def test_resolve_scale_follows_the_documented_rule(alpha: object, regularization: object) -> None:
    rng = np.random.default_rng(0)
    dense = rng.gamma(0.7, 40.0, size=(30, 12)) * (rng.random((30, 12)) < 0.3)
    dense[4] = 0  # a user without items does not count
    got = ALS(alpha=alpha, regularization=regularization).resolve_scale(sp.csr_matrix(dense))
    np.testing.assert_allclose(got, reference_scale(dense, alpha, regularization), rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    seed=st.integers(0, 2**32 - 1),
    density=st.floats(0.0, 1.0),
    scale=st.sampled_from([1e-6, 1.0, 7.5, 1e6]),
    with_zeros=st.booleans(),
)
def test_resolve_scale_matches_the_reference_on_random_matrices(
    shape: tuple[int, int], seed: int, density: float, scale: float, with_zeros: bool
) -> None:
    rng = np.random.default_rng(seed)
    dense = (rng.random(shape) * scale * (rng.random(shape) < density)).astype(np.float32)
    matrix = sp.csr_matrix(dense)
    if with_zeros and matrix.nnz:  # explicitly stored zeros are not weights
        matrix.data[0] = 0.0
        dense = matrix.toarray()
    alpha, regularization = ALS().resolve_scale(matrix)
    ref = reference_scale(dense.astype(np.float64), "auto", "auto")
    np.testing.assert_allclose((alpha, regularization), ref, rtol=1e-5)
    assert np.isfinite(alpha) and alpha > 0 and np.isfinite(regularization) and regularization > 0


def test_auto_makes_the_fit_independent_of_the_weights_unit() -> None:
    log = make_log()
    data = Interactions.from_pandas(log, **DATA_KWARGS)
    scaled = Interactions.from_csr(data.matrix * np.float32(64.0))  # e.g. pence, not pounds
    a = ALS(factors=8, iterations=4, random_state=1, num_threads=1).fit(data)
    b = ALS(factors=8, iterations=4, random_state=1, num_threads=1).fit(scaled)
    assert b.alpha_ == a.alpha_ / 64 and b.regularization_ == pytest.approx(a.regularization_)
    np.testing.assert_allclose(b.user_factors_, a.user_factors_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b.item_factors_, a.item_factors_, rtol=1e-4, atol=1e-6)
    # with a fixed alpha the unit changes the model
    c = ALS(factors=8, iterations=4, alpha=1.0, random_state=1, num_threads=1).fit(scaled)
    assert not np.allclose(c.item_factors_, a.item_factors_, rtol=1e-2)


def test_given_values_are_used_as_they_are() -> None:
    data = Interactions.from_pandas(make_log(), **DATA_KWARGS)
    model = ALS(factors=4, iterations=2, alpha=2.0, regularization=0.3, random_state=0).fit(data)
    assert (model.alpha_, model.regularization_) == (2.0, 0.3)


def test_the_implicit_backend_gets_the_resolved_values() -> None:
    data = Interactions.from_pandas(make_log(seed=4), **DATA_KWARGS)
    auto = ALS(factors=8, iterations=3, random_state=0, num_threads=1, backend="implicit")
    auto.fit(data)
    explicit = ALS(
        factors=8,
        iterations=3,
        random_state=0,
        num_threads=1,
        backend="implicit",
        alpha=auto.alpha_,
        regularization=auto.regularization_,
    ).fit(data)
    np.testing.assert_allclose(auto.item_factors_, explicit.item_factors_, rtol=1e-5, atol=1e-7)


def test_refit_resolves_again_and_a_failed_fit_changes_nothing() -> None:
    small = pd.DataFrame({"u": [1, 1, 2], "i": ["a", "b", "a"], "w": [1.0, 1.0, 1.0]})
    model = ALS(factors=4, iterations=2, random_state=0)
    model.fit(Interactions.from_pandas(small, user_col="u", item_col="i", weight_col="w"))
    assert model.alpha_ == 3.0
    model.fit(
        Interactions.from_pandas(small.assign(w=4.0), user_col="u", item_col="i", weight_col="w")
    )
    assert model.alpha_ == 0.75
    before = (model.alpha_, model.regularization_, model.item_factors_.copy())
    bad = small.assign(w=[1.0, 1.0, 1e30])  # 3 / median 1 * 1e30 overflows the solver
    with pytest.raises(ValueError, match=r"alpha='auto'"):
        model.fit(Interactions.from_pandas(bad, user_col="u", item_col="i", weight_col="w"))
    assert (model.alpha_, model.regularization_) == before[:2]
    np.testing.assert_array_equal(model.item_factors_, before[2])


def test_partial_fit_and_fold_in_keep_the_fitted_values() -> None:
    log = make_log(seed=5)
    old, new = log.iloc[: len(log) // 2], log.iloc[len(log) // 2 :]
    model = ALS(factors=6, iterations=3, random_state=0, num_threads=1)
    model.fit(Interactions.from_pandas(old, **DATA_KWARGS))
    fitted = (model.alpha_, model.regularization_)
    heavier = new.assign(qty=new["qty"] * 50)
    model.partial_fit(Interactions.from_pandas(heavier, **DATA_KWARGS))
    assert (model.alpha_, model.regularization_) == fitted
    # fold-in solves with alpha_ and regularization_: the normal equations hold
    history = model.user_items_[:3]
    folded = model.fold_in_rows(history)
    Y = model.item_factors_.astype(np.float64)
    for row in range(3):
        items = history[row].indices
        conf = model.alpha_ * history[row].data.astype(np.float64)
        A = Y.T @ Y + model.regularization_ * np.eye(6) + (Y[items].T * (conf - 1.0)) @ Y[items]
        np.testing.assert_allclose(folded[row], np.linalg.solve(A, Y[items].T @ conf), rtol=2e-3)


def test_save_and_load_keep_the_resolved_values() -> None:
    data = Interactions.from_pandas(make_log(), **DATA_KWARGS)
    model = ALS(factors=4, iterations=2, random_state=0, num_threads=1).fit(data)
    path = os.path.join(tempfile.mkdtemp(), "als.npz")
    model.save(path)
    loaded = ALS.load(path)
    assert loaded.alpha == "auto" and loaded.regularization == "auto"
    assert (loaded.alpha_, loaded.regularization_) == (model.alpha_, model.regularization_)
    users = data.user_ids.external_ids[:5]
    pd.testing.assert_frame_equal(loaded.recommend(users, n=3), model.recommend(users, n=3))


def _state_with(model: ALS, **meta_changes: object) -> tuple[dict, dict]:
    meta, arrays = model._state()
    meta.update(meta_changes)
    for key, value in list(meta.items()):
        if value is None and key in ("alpha_", "regularization_"):
            del meta[key]
    return meta, arrays


@pytest.mark.parametrize(
    "change",
    [
        {"alpha_": None},  # a file without it, written with alpha="auto"
        {"regularization_": None},
        {"alpha_": float("nan")},
        {"alpha_": 0.0},
        {"alpha_": -1.0},
        {"alpha_": True},
        {"alpha_": "3"},
        {"regularization_": float("inf")},
        {"regularization_": 1e300},
        {"regularization_": -0.5},
    ],
)
def test_load_refuses_bad_resolved_values(change: dict) -> None:
    data = Interactions.from_pandas(make_log(), **DATA_KWARGS)
    model = ALS(factors=4, iterations=2, random_state=0, num_threads=1).fit(data)
    meta, arrays = _state_with(model, **change)
    name = next(iter(change))
    with pytest.raises(ValueError, match=name):
        ALS._from_state(model.get_params(deep=False), meta, arrays)


def test_load_refuses_resolved_values_that_contradict_the_parameters() -> None:
    data = Interactions.from_pandas(make_log(), **DATA_KWARGS)
    model = ALS(factors=4, iterations=2, alpha=2.0, regularization=0.3, random_state=0)
    model.fit(data)
    meta, arrays = _state_with(model, alpha_=5.0)
    with pytest.raises(ValueError, match="alpha_ 5.0 is not alpha 2.0"):
        ALS._from_state(model.get_params(deep=False), meta, arrays)
    # files written before the rule have no alpha_/regularization_: the numbers are used
    meta, arrays = _state_with(model, alpha_=None, regularization_=None)
    loaded = ALS._from_state(model.get_params(deep=False), meta, arrays)
    assert (loaded.alpha_, loaded.regularization_) == (2.0, 0.3)


def test_from_factors_resolves_auto_on_its_training_data() -> None:
    weights = sp.csr_matrix(np.array([[2.0, 0.0], [4.0, 6.0]], dtype=np.float32))
    model = ALS.from_factors(
        np.ones((2, 3)), np.ones((2, 3)), IdMap(["u", "v"]), IdMap(["a", "b"]), weights
    )
    assert model.alpha_ == pytest.approx(3 / 4)
    assert model.regularization_ == pytest.approx(0.15 * 0.75 * 4 * 1.5)
    given = ALS.from_factors(
        np.ones((2, 3)),
        np.ones((2, 3)),
        IdMap(["u", "v"]),
        IdMap(["a", "b"]),
        weights,
        alpha=1.0,
        regularization=0.2,
    )
    assert (given.alpha_, given.regularization_) == (1.0, 0.2)


@pytest.mark.parametrize("bad", ["Auto", "", None, np.nan, -1.0, [1.0]])
def test_bad_values_name_the_parameter_and_auto(bad: object) -> None:
    data = Interactions.from_pandas(make_log(), **DATA_KWARGS)
    for name in ("alpha", "regularization"):
        with pytest.raises(ValueError, match=rf"{name} must be .*'auto'"):
            ALS(factors=4, iterations=2, **{name: bad}).fit(data)


def _movielens_100k() -> pd.DataFrame:
    from recsys.datasets import load_movielens_100k

    try:
        return load_movielens_100k()
    except FileNotFoundError:
        pytest.skip("MovieLens 100K is not in ../shared/datasets or $RECSYS_DATA_DIR")


def test_defaults_reach_the_movielens_100k_target() -> None:
    """The benchmark protocol (benchmarks/als_defaults.py), seed 0: ALS() >= 0.26 NDCG@10."""
    ratings = _movielens_100k()
    ratings = ratings.loc[ratings["rating"] >= 4, ["userId", "movieId"]]
    fit_rows, test = recsys.evaluation.random_split(
        ratings, user_col="userId", item_col="movieId", test_fraction=0.2, random_state=0
    )
    train = Interactions.from_pandas(fit_rows, user_col="userId", item_col="movieId")
    models = {
        "auto": ALS(random_state=0).fit(train),
        "old": ALS(regularization=0.01, alpha=1.0, random_state=0).fit(train),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = recsys.evaluation.evaluate(
            models, train, test, k=10, metrics=["ndcg"], user_col="userId", item_col="movieId"
        ).set_index("model")["ndcg"]
    assert scores["auto"] >= 0.26, scores
    assert scores["auto"] > scores["old"] + 0.05, scores


def test_benchmark_scores_every_contender_on_one_split() -> None:
    from benchmarks import als_defaults

    log = make_log(seed=6).rename(columns={"qty": "weight"})[["user", "item", "weight"]]
    out = als_defaults.run_one(als_defaults.Log("tiny", log, "qty"), seed=0, threads=1)
    for name in ("new", "old", "implicit", "popularity"):
        assert 0.0 <= out[name] <= 1.0, (name, out[name])
    # the old defaults through our solver and implicit's own fit the same model
    assert out["old"] == pytest.approx(out["implicit"], abs=0.1)
    assert out["alpha_"] == pytest.approx(3 / out["median_weight"])
    expected = 0.15 * out["alpha_"] * out["median_weight"] * out["items_per_user"]
    assert out["regularization_"] == pytest.approx(expected)
    with pytest.raises(SystemExit):
        als_defaults.main(["--seeds", "0"])
