"""Tests of recsys.evaluation.tune: determinism, search quality, the search space, bad input."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import recsys
from recsys import ALS, Interactions, Popularity
from recsys.evaluation.tune import LOG_SCALE_DECADES, TUNE_METRICS, _dimension, tune
from tests.bad_input import CLEAR, FUZZ, expect, outcome

pytest.importorskip("optuna")

N_ITEMS = 41
TARGET_ITEM = 20


class Nearest(Popularity):
    """Ranks items by ``-|item ID - target|``: the validation item's rank depends on ``target``."""

    def __init__(self, target: float = 0.0, num_threads: int = 0) -> None:
        super().__init__(num_threads=num_threads)
        self.target = target

    def _fit(self, data: Interactions, show_progress: bool) -> None:
        super()._fit(data, show_progress)
        ids = data.item_ids.external_ids.astype(np.float64)
        self.item_scores_ = (-np.abs(ids - float(self.target))).astype(np.float32)
        self._build_orders()


def nearest_problem() -> tuple[Interactions, pd.DataFrame]:
    """Every user bought 5 items far from TARGET_ITEM; each held out TARGET_ITEM."""
    rng = np.random.default_rng(0)
    far = [i for i in range(N_ITEMS) if abs(i - TARGET_ITEM) > 8]
    rows = [(u, int(i)) for u in range(25) for i in rng.choice(far, 5, replace=False)]
    rows += [(99, TARGET_ITEM + d) for d in range(-8, 9)]  # every item is known to train
    log = pd.DataFrame(rows, columns=["user", "item"])
    train = Interactions.from_pandas(log, user_col="user", item_col="item")
    validation = pd.DataFrame({"user": range(25), "item": TARGET_ITEM})
    return train, validation


def als_problem() -> tuple[Interactions, pd.DataFrame]:
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(60), 6)
    items = (users % 4) * 8 + rng.integers(0, 8, users.size)
    log = pd.DataFrame({"user": users, "item": items}).drop_duplicates()
    fit_rows, held_out = recsys.evaluation.random_split(
        log, user_col="user", item_col="item", test_fraction=0.25, random_state=0
    )
    return Interactions.from_pandas(fit_rows, user_col="user", item_col="item"), held_out


def quiet_tune(*args: Any, **kwargs: Any) -> tuple[Any, pd.DataFrame]:
    kwargs.setdefault("show_progress", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tune(*args, **kwargs)


# ------------------------------------------------------------------ behaviour
def test_same_seed_same_trials_and_same_best_model() -> None:
    train, held_out = als_problem()
    space = {"regularization": (1e-3, 10.0), "factors": [2, 4, 8], "alpha": (0.5, 4.0)}
    model = ALS(iterations=3, num_threads=1)
    a_best, a_trials = quiet_tune(model, train, held_out, space, n_trials=6, random_state=3)
    b_best, b_trials = quiet_tune(model, train, held_out, space, n_trials=6, random_state=3)
    pd.testing.assert_frame_equal(a_trials, b_trials)
    np.testing.assert_array_equal(a_best.item_factors_, b_best.item_factors_)
    assert a_best.get_params() == b_best.get_params()
    # the unseeded model was seeded with random_state; the given model is untouched
    assert a_best.random_state == 3 and model.random_state is None
    assert not hasattr(model, "item_factors_")
    _, c_trials = quiet_tune(model, train, held_out, space, n_trials=6, random_state=4)
    assert not c_trials.equals(a_trials)


def test_best_model_is_the_best_trial_fitted_on_train() -> None:
    train, held_out = als_problem()
    space = {"regularization": (1e-2, 100.0), "factors": (2, 6)}
    best, trials = quiet_tune(
        ALS(iterations=3, num_threads=1, random_state=0), train, held_out, space, n_trials=5
    )
    top = trials.loc[trials["ndcg"].idxmax()]
    assert trials.attrs["best_trial"] == int(top["trial"])
    assert best.regularization == top["regularization"] and best.factors == top["factors"]
    assert best.user_ids_ == train.user_ids and best.item_ids_ == train.item_ids
    refit = ALS(iterations=3, num_threads=1, random_state=0, **trials.attrs["best_params"])
    refit.fit(train)
    np.testing.assert_array_equal(refit.item_factors_, best.item_factors_)
    again = recsys.evaluation.evaluate(best, train, held_out, k=10, metrics=["ndcg"])
    assert again["ndcg"].iloc[0] == pytest.approx(top["ndcg"])


@pytest.mark.parametrize("space", [(0, N_ITEMS - 1), (0.0, float(N_ITEMS - 1)), list(range(41))])
def test_finds_the_known_best_value(space: Any) -> None:
    train, validation = nearest_problem()
    best, trials = quiet_tune(
        Nearest(), train, validation, {"target": space}, k=10, n_trials=30, random_state=0
    )
    assert abs(best.target - TARGET_ITEM) < 0.5  # item 20 ranked first for every user
    assert trials["ndcg"].max() == pytest.approx(1.0)
    # the search moves toward the optimum: the later half is better than the random start
    assert trials["ndcg"].iloc[15:].mean() > trials["ndcg"].iloc[:10].mean()


def test_trials_frame() -> None:
    train, validation = nearest_problem()
    best, trials = quiet_tune(
        Nearest(), train, validation, {"target": (0, 40)}, metric="hit_rate", k=3, n_trials=7
    )
    assert trials.columns.tolist() == ["trial", "target", "hit_rate"]
    assert trials["trial"].tolist() == list(range(7))
    assert trials["target"].between(0, 40).all() and trials["target"].dtype.kind == "i"
    assert trials["hit_rate"].between(0.0, 1.0).all()
    # hit@3 is 1 exactly when item 20 is among the 3 nearest items of target
    expected = [float(abs(t - TARGET_ITEM) <= 1) for t in trials["target"]]
    assert trials["hit_rate"].tolist() == expected
    assert trials.attrs["best_params"] == {"target": best.target}


def test_a_repeated_combination_is_not_fitted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    train, validation = nearest_problem()
    fits: list[float] = []
    original = Nearest._fit

    def counting_fit(self: Nearest, data: Interactions, show_progress: bool) -> None:
        fits.append(self.target)
        original(self, data, show_progress)

    monkeypatch.setattr(Nearest, "_fit", counting_fit)
    _, trials = quiet_tune(Nearest(), train, validation, {"target": [19, 20]}, n_trials=8)
    assert len(trials) == 8 and sorted(set(fits)) == sorted(set(trials["target"]))
    assert len(fits) == trials["target"].nunique()


def test_float_ranges_spanning_decades_are_sampled_on_a_log_scale() -> None:
    assert _dimension("x", (1e-3, 10.0)).log
    assert _dimension("x", (1.0, 10.0**LOG_SCALE_DECADES)).log
    assert not _dimension("x", (1.0, 99.0)).log
    assert not _dimension("x", (0.0, 1e6)).log  # zero has no logarithm
    assert _dimension("x", (1, 1000)).kind == "int"
    assert _dimension("x", (1, 1000.0)).kind == "float"
    train, validation = nearest_problem()
    _, trials = quiet_tune(
        Nearest(), train, validation, {"target": (1e-4, 1e4)}, n_trials=10, random_state=1
    )
    values = trials["target"].to_numpy()
    assert ((values >= 1e-4) & (values <= 1e4)).all()
    # uniform on [1e-4, 1e4] puts a value below 1 once in 10,000 draws; log-uniform, half of them
    assert (values < 1.0).sum() >= 2


def test_nested_parameters_and_non_primitive_choices() -> None:
    class Wrapper(Popularity):
        def __init__(self, inner: Any = None, num_threads: int = 0) -> None:
            super().__init__(num_threads=num_threads)
            self.inner = inner

        def _fit(self, data: Interactions, show_progress: bool) -> None:
            self.inner.fit(data)
            super()._fit(data, show_progress)
            self.item_scores_ = self.inner.item_scores_
            self._build_orders()

    train, validation = nearest_problem()
    model = Wrapper(inner=Nearest())
    best, trials = quiet_tune(
        model, train, validation, {"inner__target": [float(TARGET_ITEM), 0.0]}, n_trials=4
    )
    assert best.inner.target == TARGET_ITEM and model.inner.target == 0.0
    choices = [np.float64(TARGET_ITEM), np.float64(0.0)]  # not stored by Optuna as such
    best, trials = quiet_tune(model, train, validation, {"inner__target": choices}, n_trials=4)
    assert best.inner.target == TARGET_ITEM and set(trials["inner__target"]) <= set(choices)


# ------------------------------------------------------------------ input handling
def test_unknown_parameter_names_the_valid_ones() -> None:
    train, validation = nearest_problem()
    err = expect(
        lambda: tune(Nearest(), train, validation, {"traget": (0, 3)}, show_progress=False),
        ValueError,
        "no parameter",
    )
    assert "traget" in str(err) and "'target'" in str(err) and "num_threads" in str(err)


def test_unknown_validation_users_and_items_are_dropped_with_a_warning() -> None:
    train, validation = nearest_problem()
    extra = pd.DataFrame({"user": [1000, 0, 1], "item": [TARGET_ITEM, 777, 4]})
    seen_item = int(train.to_pandas().query("user == 1")["item"].iloc[0])
    extra.loc[2, "item"] = seen_item
    with pytest.warns(UserWarning, match="1 with user unknown to train, 1 with item unknown to "):
        _, trials = tune(
            Nearest(),
            train,
            pd.concat([validation, extra]),
            {"target": [20]},
            n_trials=1,
            show_progress=False,
        )
    assert trials["ndcg"].iloc[0] == pytest.approx(1.0)  # scored on the 25 kept rows only
    as_strings = validation.assign(user=validation["user"].astype(str))
    expect(
        lambda: tune(Nearest(), train, as_strings, {"target": [20]}, show_progress=False),
        ValueError,
        "same type",
    )
    in_train = train.to_pandas()[["user", "item"]]
    expect(
        lambda: tune(Nearest(), train, in_train, {"target": [20]}, show_progress=False),
        ValueError,
        "already in train",
    )


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"metric": "auc"}, ValueError, "metric must be one of"),
        ({"metric": "revenue"}, ValueError, "metric must be one of"),
        ({"k": 0}, ValueError, "k must be a positive"),
        ({"n_trials": 0}, ValueError, "n_trials"),
        ({"n_trials": 2.0}, TypeError, "n_trials"),
        ({"random_state": -1}, ValueError, "random_state"),
        ({"random_state": np.random.default_rng(0)}, ValueError, "random_state"),
        ({"param_space": {}}, ValueError, "param_space is empty"),
        ({"param_space": {"target": []}}, ValueError, "empty list"),
        ({"param_space": {"target": (3, 3)}}, ValueError, "low < high"),
        ({"param_space": {"target": (1, 2, 3)}}, ValueError, "two numbers"),
        ({"param_space": {"target": (0.0, np.inf)}}, ValueError, "finite"),
        ({"param_space": {"target": "20"}}, TypeError, "list of values"),
        ({"param_space": {"target": 20}}, TypeError, "list of values"),
        ({"param_space": [("target", [20])]}, TypeError, "dict"),
        ({"validation": pd.DataFrame({"user": [], "item": []})}, ValueError, "empty"),
        ({"validation": pd.DataFrame({"u": [1], "item": [20]})}, ValueError, "missing column"),
        (
            {"validation": pd.DataFrame({"user": [1, None], "item": [20, 20]})},
            ValueError,
            "missing",
        ),
        ({"validation": [(1, 20)]}, TypeError, "DataFrame"),
        ({"model": Nearest}, TypeError, "instance"),
        ({"train": pd.DataFrame({"user": [1], "item": [2]})}, TypeError, "Interactions"),
        ({"show_progress": "yes"}, TypeError, "show_progress"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict[str, Any], exc: type, match: str) -> None:
    train, validation = nearest_problem()
    call = {
        "model": Nearest(),
        "train": train,
        "validation": validation,
        "param_space": {"target": [20]},
        "n_trials": 1,
        "show_progress": False,
    }
    call.update(kwargs)
    expect(lambda: tune(**call), exc, match)


def test_a_value_the_model_refuses_names_the_trial() -> None:
    train, held_out = als_problem()
    err = expect(
        lambda: tune(ALS(iterations=2), train, held_out, {"factors": [0]}, show_progress=False),
        ValueError,
        "trial 0",
    )
    assert "'factors': 0" in str(err) and "positive integer" in str(err)


def test_missing_optuna_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    train, validation = nearest_problem()
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    expect(
        lambda: tune(Nearest(), train, validation, {"target": [20]}, show_progress=False),
        ImportError,
        r'pip install "recsys\[tune\]"',
    )


def test_progress_bar_shows_the_trials(capsys: pytest.CaptureFixture[str]) -> None:
    train, validation = nearest_problem()
    tune(Nearest(), train, validation, {"target": [19, 20]}, n_trials=3, show_progress=True)
    err = capsys.readouterr().err
    assert "tune" in err and "best ndcg@10" in err


def test_optuna_logging_is_restored() -> None:
    import optuna

    before = optuna.logging.get_verbosity()
    train, validation = nearest_problem()
    quiet_tune(Nearest(), train, validation, {"target": [20]}, n_trials=1)
    assert optuna.logging.get_verbosity() == before


# ------------------------------------------------------------------ fuzz
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
_SPACES = st.one_of(
    st.lists(_VALUES, max_size=3),
    st.tuples(_VALUES, _VALUES),
    st.tuples(_VALUES),
    _VALUES,
)


@FUZZ
@given(
    space=_SPACES,
    name=st.sampled_from(["target", "num_threads", "bogus", ""]),
    metric=st.sampled_from([*TUNE_METRICS, "NDCG", "", "coverage"]),
    k=st.one_of(st.integers(-2, 50), st.floats(0, 5), st.none()),
    n_trials=st.one_of(st.integers(-1, 3), st.just(True), st.floats(0, 3)),
    random_state=st.one_of(st.none(), st.integers(-5, 2**33), st.text(max_size=2)),
)
def test_fuzz_bad_input_is_a_result_or_a_clear_error(
    space: Any, name: str, metric: Any, k: Any, n_trials: Any, random_state: Any
) -> None:
    train, validation = nearest_problem()
    result = outcome(
        lambda: tune(
            Nearest(),
            train,
            validation,
            {name: space},
            metric=metric,
            k=k,
            n_trials=n_trials,
            random_state=random_state,
            show_progress=False,
        )
    )
    if isinstance(result, CLEAR):
        return
    best, trials = result
    assert len(trials) == n_trials and trials.columns.tolist() == ["trial", name, metric]
    assert trials[metric].between(0.0, 1.0).all()
    assert best.get_params()[name] == trials.attrs["best_params"][name]


@FUZZ
@given(
    users=st.lists(st.one_of(st.integers(-3, 30), st.text(max_size=2), st.none()), max_size=6),
    items=st.lists(st.one_of(st.integers(-3, 45), st.floats(), st.none()), max_size=6),
)
def test_fuzz_validation_rows(users: list[Any], items: list[Any]) -> None:
    train, _ = nearest_problem()
    size = min(len(users), len(items))
    validation = pd.DataFrame({"user": users[:size], "item": items[:size]})
    result = outcome(
        lambda: tune(
            Nearest(), train, validation, {"target": [20.0]}, n_trials=1, show_progress=False
        )
    )
    if not isinstance(result, CLEAR):
        assert result[1]["ndcg"].between(0.0, 1.0).all()
