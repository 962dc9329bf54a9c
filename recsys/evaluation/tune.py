"""Hyper-parameter search: :func:`tune` fits a model per trial and keeps the best on validation.

The search engine is `Optuna <https://optuna.org>`_ (the optional extra
``pip install "recsys[tune]"``) with its TPE sampler, seeded, so the same
call gives the same trials.  Each trial clones the unfitted model (its
``get_params``), sets the trial's values with ``set_params``, fits it on the
training data and scores its top-``k`` recommendations against the held-out
validation rows with :func:`~recsys.evaluation.evaluate`.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys._utils.progress import progress
from recsys.data.interactions import Interactions
from recsys.data.validation import require_columns, require_no_missing
from recsys.evaluation.evaluate import evaluate
from recsys.evaluation.metrics import _METRICS, _check_k
from recsys.models.base import Recommender

__all__ = ["LOG_SCALE_DECADES", "TUNE_METRICS", "tune"]

#: The metrics :func:`tune` can maximise (those of :func:`~recsys.evaluation.evaluate`
#: computed from the validation rows alone).
TUNE_METRICS = tuple(name for name in _METRICS if name != "revenue")
#: A float range ``(low, high)`` with ``0 < low`` and ``high / low >= 10 ** LOG_SCALE_DECADES``
#: is sampled on a log scale (every decade equally likely), a narrower one uniformly.
LOG_SCALE_DECADES = 2
_CATEGORICAL_TYPES = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class _Dimension:
    """One searched hyper-parameter: a list of choices, an int range or a float range."""

    name: str
    kind: str  # "categorical", "int" or "float"
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter's value for an Optuna ``trial``."""
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if all(type(c) in _CATEGORICAL_TYPES for c in self.choices):
            return trial.suggest_categorical(self.name, list(self.choices))
        # Optuna stores only primitive choices: draw the position of anything else
        position = trial.suggest_categorical(self.name, list(range(len(self.choices))))
        return self.choices[position]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _dimension(name: str, space: Any) -> _Dimension:
    """Read one entry of ``param_space``: a list of choices or a ``(low, high)`` range."""
    if isinstance(space, tuple):
        if len(space) != 2 or not all(_is_real(v) for v in space):
            raise ValueError(
                f"param_space[{name!r}] = {space!r}: a range is a tuple of two numbers "
                "(low, high); give a list for a set of choices"
            )
        low, high = space
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise ValueError(
                f"param_space[{name!r}] = {space!r}: a range needs finite low < high; "
                "give a list such as [value] for a fixed value"
            )
        if _is_int(low) and _is_int(high):
            return _Dimension(name, "int", low=int(low), high=int(high))
        low, high = float(low), float(high)
        log = low > 0 and high / low >= 10.0**LOG_SCALE_DECADES
        return _Dimension(name, "float", low=low, high=high, log=log)
    if isinstance(space, (str, bytes)) or not isinstance(space, (list, np.ndarray, pd.Index)):
        raise TypeError(
            f"param_space[{name!r}] must be a list of values (categorical) or a (low, high) "
            f"tuple (a range), got {type(space).__name__}"
        )
    choices = tuple(space.tolist() if not isinstance(space, list) else space)
    if not choices:
        raise ValueError(f"param_space[{name!r}] is an empty list: give at least one value")
    return _Dimension(name, "categorical", choices=choices)


def _dimensions(model: Recommender, param_space: Any) -> list[_Dimension]:
    if not isinstance(param_space, Mapping):
        raise TypeError(
            "param_space must be a dict of parameter name -> list of values or (low, high) "
            f"tuple, got {type(param_space).__name__}"
        )
    if not param_space:
        raise ValueError("param_space is empty: name at least one parameter to search")
    valid = list(model.get_params(deep=True))
    unknown = [name for name in param_space if name not in valid]
    if unknown:
        raise ValueError(f"{type(model).__name__} has no parameter(s) {unknown}; valid: {valid}")
    return [_dimension(str(name), space) for name, space in param_space.items()]


def _clone(model: Recommender) -> Recommender:
    """Return an unfitted copy of ``model`` with the same hyper-parameters (scikit-learn ``clone``).

    Parameters that are estimators themselves are cloned the same way, the
    others deep-copied (a ``numpy.random.Generator`` seed starts every trial
    in the same state).
    """
    params = {}
    for name, value in model.get_params(deep=False).items():
        if isinstance(value, Recommender):
            params[name] = _clone(value)
        else:
            params[name] = copy.deepcopy(value)
    return type(model)(**params)


def _validation_rows(
    validation: Any, train: Interactions, user_col: str, item_col: str
) -> pd.DataFrame:
    """Check ``validation``; return its rows whose user and item ``train`` knows, as user, item."""
    if not isinstance(validation, pd.DataFrame):
        raise TypeError(
            f"validation must be a pandas DataFrame of held-out (user, item) rows, "
            f"got {type(validation).__name__}"
        )
    if validation.empty:
        raise ValueError(
            "validation is empty: give held-out (user, item) rows, e.g. the test side of "
            "recsys.evaluation.random_split"
        )
    require_columns(validation, [user_col, item_col], "validation")
    for col in (user_col, item_col):
        require_no_missing(validation, col, "validation")
    users = train.user_ids.to_rows(validation[user_col].to_numpy(), missing="ignore")
    items = train.item_ids.to_rows(validation[item_col].to_numpy(), missing="ignore")
    unknown_user, unknown_item = users < 0, (users >= 0) & (items < 0)
    known = ~(unknown_user | unknown_item)
    if not known.any():
        raise ValueError(
            f"none of the {len(validation)} validation rows has a user and an item that train "
            f"knows: check that validation[{user_col!r}] and validation[{item_col!r}] hold the "
            "same IDs, of the same type, as the data train was built from"
        )
    # pairs already in train can never be recommended (stored weights are > 0)
    seen = np.zeros(known.size, dtype=bool)
    seen[known] = np.asarray(train.matrix[users[known], items[known]]).ravel() > 0
    if seen[known].all():
        raise ValueError(
            "every validation pair is already in train: seen items are never recommended, so "
            "no trial can score; hold the validation rows out of train (e.g. with "
            "recsys.evaluation.random_split)"
        )
    dropped = {
        "user unknown to train": int(unknown_user.sum()),
        "item unknown to train": int(unknown_item.sum()),
        "pair already in train": int(seen.sum()),
    }
    if any(dropped.values()):
        counts = ", ".join(f"{n} with {why}" for why, n in dropped.items() if n)
        warnings.warn(
            f"tune: {counts}: dropped {sum(dropped.values())} of {len(validation)} validation "
            "row(s) no model fitted on train can recommend",
            UserWarning,
            stacklevel=3,
        )
    keep = known & ~seen
    return pd.DataFrame(
        {
            "user": validation[user_col].to_numpy()[keep],
            "item": validation[item_col].to_numpy()[keep],
        }
    )


def _check_scalars(metric: Any, n_trials: Any, random_state: Any, show_progress: Any) -> None:
    if not isinstance(metric, str) or metric not in TUNE_METRICS:
        raise ValueError(f"metric must be one of {list(TUNE_METRICS)}, got {metric!r}")
    _check_k(n_trials, "n_trials")
    if random_state is not None and not (_is_int(random_state) and 0 <= random_state < 2**32):
        raise ValueError(
            f"random_state must be None or an int in [0, 2**32) (the sampler's seed), "
            f"got {random_state!r}"
        )
    if not isinstance(show_progress, (bool, np.bool_)):
        raise TypeError(f"show_progress must be a bool, got {type(show_progress).__name__}")


def tune(
    model: Recommender,
    train: Interactions,
    validation: pd.DataFrame,
    param_space: Mapping[str, list[Any] | tuple[float, float]],
    metric: str = "ndcg",
    k: int = 10,
    n_trials: int = 20,
    random_state: int | None = 0,
    user_col: str = "user",
    item_col: str = "item",
    show_progress: bool = True,
) -> tuple[Recommender, pd.DataFrame]:
    """Search hyper-parameters that maximise a top-``k`` metric on held-out rows.

    Each trial draws a value for every parameter of ``param_space`` with
    Optuna's TPE sampler (seeded with ``random_state``), fits a clone of
    ``model`` with them on ``train`` and scores its top-``k`` recommendations
    (seen items excluded) against ``validation`` with
    :func:`~recsys.evaluation.evaluate`.  A combination drawn again is not
    fitted again: it gets the score it had.

    ``param_space`` maps a parameter name (as :meth:`get_params` lists it,
    ``<param>__<sub>`` for a nested estimator's) to

    * a **list** of values: one is chosen (categorical);
    * a **tuple** ``(low, high)`` of two ints: an int in ``[low, high]``;
    * a **tuple** ``(low, high)`` with a float: a float in ``[low, high]``,
      drawn on a **log scale** when ``0 < low`` and ``high / low >= 100``
      (:data:`LOG_SCALE_DECADES` decades or more: regularisation
      ``(1e-3, 10.0)`` tries 0.001, 0.01, 0.1, 1 and 10 alike), uniformly
      otherwise.  Write ``(1.0, 100.0)``, not ``(1, 100)``, for a float range.

    Validation rows a model fitted on ``train`` can never recommend are
    dropped, with a ``UserWarning`` giving the counts: rows whose user or
    item is not in ``train`` (the models have nothing to personalise from,
    or cannot recommend the item) and pairs already in ``train`` (seen items
    are excluded).  Every trial is scored on the same remaining rows, so the
    scores compare, and each validation user weighs the same.

    Parameters
    ----------
    model : Recommender
        An estimator such as ``recsys.ALS(factors=64)``; it is not modified
        (every trial fits a clone).  If it has a ``random_state``
        hyper-parameter that is ``None`` and not searched, every trial uses
        ``random_state`` instead, so the whole search is reproducible.
    train : Interactions
        The training data every trial is fitted on.
    validation : pandas.DataFrame
        Held-out ``user_col, item_col`` rows (e.g. the test side of
        :func:`~recsys.evaluation.random_split`), in the external IDs of ``train``.
    param_space : dict
        Parameter name -> list of values or ``(low, high)`` range, as above.
    metric : str
        One of :data:`TUNE_METRICS`: ``"ndcg"`` (binary gains), ``"precision"``,
        ``"recall"``, ``"hit_rate"``, ``"mrr"``, ``"map"``; maximised.
    k : int
        The cut-off of the metric.
    n_trials : int
        Trials (fits).
    random_state : int or None
        Seed of the sampler (and of models whose own ``random_state`` is
        ``None``).  The same seed, data and arguments give the same trials
        and the same best model.  ``None``: a different search each call.
    user_col, item_col : str
        ID columns of ``validation``.
    show_progress : bool
        Show a progress bar over the trials, with the best score so far.

    Returns
    -------
    best_model : Recommender
        A clone of ``model`` with the best trial's parameters, fitted on
        ``train`` (the best trial's own fit: nothing is fitted twice).  Ties
        go to the earliest trial.
    trials : pandas.DataFrame
        One row per trial, in order: ``trial`` (0, 1, ...), one column per
        searched parameter (the value used) and one named after ``metric``
        (its mean over validation users).  ``trials.attrs`` holds
        ``best_trial`` and ``best_params``.

    Raises
    ------
    ImportError
        Optuna is not installed: ``pip install "recsys[tune]"``.
    ValueError, TypeError
        A parameter name the model does not have (the message lists the
        valid ones), a malformed ``param_space`` entry, an unknown metric,
        an empty validation frame or one without a row a model fitted on
        ``train`` could recommend, bad ``k``/``n_trials``/``random_state``; a
        trial whose values the model refuses fails with the model's error
        type, the trial and the values named.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> from recsys.evaluation import random_split, tune
    >>> log = pd.DataFrame({"user": [u for u in range(30) for _ in range(4)],
    ...                     "item": [(u % 3) * 4 + j for u in range(30) for j in range(4)]})
    >>> fit_rows, held_out = random_split(log, user_col="user", item_col="item", random_state=0)
    >>> train = recsys.Interactions.from_pandas(fit_rows, user_col="user", item_col="item")
    >>> best, trials = tune(recsys.ItemItem(), train, held_out,
    ...                     {"similarity": ["cosine", "jaccard"], "k": (2, 20)},
    ...                     n_trials=4, show_progress=False)
    >>> trials.columns.tolist()
    ['trial', 'similarity', 'k', 'ndcg']
    >>> len(trials), best.similarity == trials.attrs["best_params"]["similarity"]
    (4, True)
    """
    if isinstance(model, type) or not isinstance(model, Recommender):
        raise TypeError(
            "model must be an unfitted recsys estimator instance such as recsys.ALS(), "
            f"got {model!r}"
        )
    if not isinstance(train, Interactions):
        raise TypeError(
            "train must be recsys.Interactions (Interactions.from_pandas), "
            f"got {type(train).__name__}"
        )
    dimensions = _dimensions(model, param_space)
    _check_scalars(metric, n_trials, random_state, show_progress)
    k = _check_k(k)
    relevant = _validation_rows(validation, train, user_col, item_col)
    try:
        import optuna
    except ImportError as err:
        raise ImportError(
            'recsys.evaluation.tune needs Optuna: pip install "recsys[tune]"'
        ) from err

    base = _clone(model)
    names = [d.name for d in dimensions]
    if (
        "random_state" in base.get_params(deep=False)
        and base.get_params(deep=False)["random_state"] is None
        and "random_state" not in names
    ):
        base.set_params(random_state=random_state)

    rows: list[dict[str, Any]] = []
    scores: dict[tuple[Any, ...], float] = {}
    best: dict[str, Any] = {"score": math.nan, "model": None, "trial": -1, "params": {}}

    def objective(trial: Any) -> float:
        params = {d.name: d.suggest(trial) for d in dimensions}
        key = tuple(repr(params[name]) for name in names)
        if key in scores:  # drawn before: the fit is deterministic, so is its score
            score = scores[key]
        else:
            candidate = _clone(base)
            try:
                candidate.set_params(**params)
                candidate.fit(train, show_progress=False)
            except (ValueError, TypeError) as err:  # the model's own check of the values
                kind = TypeError if isinstance(err, TypeError) else ValueError
                raise kind(f"tune: trial {trial.number} with {params}: {err}") from err
            result = evaluate(
                {"trial": candidate},
                train,
                relevant,
                k=k,
                metrics=[metric],
                weight_col=None,
            )
            score = float(result[metric].iloc[0])
            scores[key] = score
            if best["model"] is None or score > best["score"]:
                best.update(score=score, model=candidate, trial=trial.number, params=params)
        rows.append({"trial": trial.number, **params, metric: score})
        bar.update(1)
        # a trial is a fit: redrawing the bar after each one costs nothing
        bar.set_postfix({f"best {metric}@{k}": f"{best['score']:.4f}"}, refresh=True)
        return score

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per study and trial
    try:
        sampler = optuna.samplers.TPESampler(seed=random_state)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        with progress(n_trials, "tune", show_progress, unit="trial") as bar:
            study.optimize(objective, n_trials=n_trials, catch=())
    finally:
        optuna.logging.set_verbosity(verbosity)
    trials = pd.DataFrame(rows, columns=["trial", *names, metric])
    trials.attrs["best_trial"] = best["trial"]
    trials.attrs["best_params"] = dict(best["params"])
    best_model: Recommender = best["model"]  # the first trial always fits
    return best_model, trials
