"""Compare several fitted models, or recommendation functions, in one call.

:func:`evaluate` asks every model for the top ``max(k)`` items of each test
user, in batches, and scores them with the metrics of
:mod:`recsys.evaluation.metrics`.  Each metric is computed exactly as the
``*_at_k`` function of the same name (batching changes nothing: every metric
is a per-user value averaged with equal weight per user).

The result is one row per (model, k), with one column per metric, so several
models read side by side::

    model       k  precision  recall  ...  n_users  n_users_skipped  n_users_unknown
    popularity 10      0.031   0.052  ...     3720                0              614
    als        10      0.072   0.118  ...     3720                0              614

For the long ("tidy") form — one row per model × k × metric — use
``results.melt(id_vars=["model", "k"], value_vars=metrics, var_name="metric")``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.progress import progress
from recsys.data.interactions import Interactions
from recsys.data.validation import require_columns, require_no_missing
from recsys.evaluation.metrics import _METRICS, DEFAULT_METRICS, _check_k, _hits, _top_k
from recsys.exceptions import UnknownIdError
from recsys.models.base import Recommender
from recsys.types import ExternalIds

__all__ = ["BEYOND_ACCURACY_METRICS", "UNKNOWN_USERS", "evaluate"]

#: Metrics that need the training data rather than the test data.
BEYOND_ACCURACY_METRICS = ("coverage", "novelty")
#: The choices of ``evaluate(..., unknown_users=...)``.
UNKNOWN_USERS = ("skip", "include", "raise")
_COUNTS = ["n_users", "n_users_skipped", "n_users_unknown"]

RecommendFunction = Callable[[np.ndarray, int], pd.DataFrame]


class _Train:
    """What :func:`evaluate` needs from the training data: known users, catalogue, popularity."""

    def __init__(self, train: Any, user_col: str, item_col: str) -> None:
        if isinstance(train, Interactions) or sp.issparse(train):
            data = train if isinstance(train, Interactions) else Interactions.from_csr(train)
            self.interactions: Interactions | None = data
            self.users = pd.Index(data.user_ids.external_ids)
            self.items = pd.Index(data.item_ids.external_ids)
            self.popularity = np.diff(data.matrix.tocsc().indptr).astype(np.float64)
        elif isinstance(train, pd.DataFrame):
            require_columns(train, [user_col, item_col], "train")
            for col in (user_col, item_col):
                require_no_missing(train, col, "train")
            pairs = train[[user_col, item_col]].drop_duplicates()
            self.interactions = None
            self.users = pd.Index(pd.unique(train[user_col].to_numpy()))
            counts = pairs[item_col].value_counts(sort=False)
            self.items = pd.Index(counts.index)
            self.popularity = counts.to_numpy(dtype=np.float64)
        else:
            raise TypeError(
                f"train must be recsys.Interactions, a scipy sparse matrix or a pandas DataFrame, "
                f"got {type(train).__name__}"
            )
        if len(self.users) == 0 or len(self.items) == 0:
            raise ValueError("train is empty")


class _Accumulator:
    """Per-k running sums of per-user metric values over batches of users."""

    def __init__(self, names: list[str], ks: list[int], n_items: int) -> None:
        self.names = names
        self.ks = ks
        self.sums = {(name, k): 0.0 for name in names for k in ks}
        self.novelty_users = dict.fromkeys(ks, 0)
        self.covered = {k: np.zeros(n_items, dtype=bool) for k in ks}


def _models(models: Any) -> dict[str, Recommender | RecommendFunction]:
    if isinstance(models, Mapping):
        named = dict(models)
    elif isinstance(models, Recommender) or callable(models):
        named = {
            type(models).__name__
            if isinstance(models, Recommender)
            else getattr(models, "__name__", "model"): models
        }
    else:
        raise TypeError(
            "models must be a dict of name -> fitted Recommender or "
            f"callable(users, n) -> DataFrame, got {type(models).__name__}"
        )
    if not named:
        raise ValueError("models is empty: give at least one model")
    for name, model in named.items():
        if not isinstance(model, Recommender) and not callable(model):
            raise TypeError(
                f"model {name!r} must be a fitted Recommender or a "
                f"callable(users, n) -> DataFrame, got {type(model).__name__}"
            )
        if isinstance(model, Recommender):
            model._check_fitted()
    return {str(name): model for name, model in named.items()}


def _metric_names(metrics: Any) -> list[str]:
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    allowed = [*_METRICS, *BEYOND_ACCURACY_METRICS]
    unknown = [m for m in names if m not in allowed]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {allowed}")
    if not names:
        raise ValueError("metrics is empty: name at least one metric")
    if len(set(names)) != len(names):
        raise ValueError(f"metrics has duplicates: {names}")
    return names


def _cutoffs(k: Any) -> list[int]:
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        return [_check_k(k)]
    if isinstance(k, (str, bytes)) or not isinstance(k, Iterable):
        raise TypeError(f"k must be an int or a list of ints, got {type(k).__name__}")
    ks = [_check_k(v) for v in k]
    if not ks:
        raise ValueError("k is empty: give at least one cut-off")
    if len(set(ks)) != len(ks):
        raise ValueError(f"k has duplicates: {ks}")
    return ks


def _recommend(
    name: str, model: Recommender | RecommendFunction, users: np.ndarray, n: int, exclude_seen: bool
) -> pd.DataFrame:
    if isinstance(model, Recommender):
        return model.recommend(users, n=n, exclude_seen=exclude_seen)
    recs = model(users, n)
    if not isinstance(recs, pd.DataFrame):
        raise TypeError(
            f"model {name!r} returned {type(recs).__name__}; a callable must return a DataFrame "
            "with columns user, item and optionally rank"
        )
    require_columns(recs, ["user", "item"], f"recommendations of model {name!r}")
    extra = ~recs["user"].isin(users)
    if extra.any():
        bad = pd.unique(recs.loc[extra, "user"].to_numpy())
        raise ValueError(
            f"model {name!r} returned recommendations for {bad.size} user(s) it was not "
            f"asked for, e.g. {bad[:5].tolist()}: check that it returns the same IDs, "
            "of the same type, as test"
        )
    return recs


def evaluate(
    models: Mapping[str, Recommender | RecommendFunction] | Recommender | RecommendFunction,
    train: Interactions | pd.DataFrame | sp.spmatrix,
    test: pd.DataFrame,
    k: int | Iterable[int] = 10,
    metrics: Iterable[str] = DEFAULT_METRICS,
    users: ExternalIds | None = None,
    show_progress: bool = False,
    *,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = "weight",
    price_col: str = "price",
    unknown_users: str = "skip",
    exclude_seen: bool = True,
    batch_size: int = 16_384,
) -> pd.DataFrame:
    """Score several models on the same held-out data, in one call.

    Every model recommends ``max(k)`` items to the same evaluated users (in
    batches of ``batch_size``), and every metric is computed at every
    cut-off.  Which users are evaluated:

    * the test users — or, if ``users`` is given, those of ``users`` that have
      at least one row in ``test``.  Users of ``users`` with **no relevant
      item** are not scored: they are *skipped* and counted in
      ``n_users_skipped`` (their metrics would be undefined: recall divides
      by the number of relevant items);
    * test users the training data does not know (*unknown* users, e.g. new
      customers after a temporal split) are counted in ``n_users_unknown``
      and handled as ``unknown_users`` says.

    Parameters
    ----------
    models : dict of str -> Recommender or callable, or a single one
        Fitted :class:`~recsys.models.base.Recommender` objects (called as
        ``model.recommend(users, n=max(k), exclude_seen=exclude_seen)``),
        or functions ``f(users, n) -> DataFrame`` returning columns ``user,
        item`` and optionally ``rank`` (1 = best; without it the row order
        is the ranking), at most one row per (user, item) — e.g. a baseline,
        another library or a business rule.  A function must only return
        users it was given and handles seen items itself.  Include a baseline
        such as :class:`~recsys.models.Popularity` to read the others against.
    train : Interactions, scipy sparse matrix or pandas.DataFrame
        The data the models were fitted on.  It defines the known users (for
        ``unknown_users``), the catalogue (for ``"coverage"``) and the item
        popularity (for ``"novelty"``).  A DataFrame needs ``user_col`` and
        ``item_col``.
    test : pandas.DataFrame
        Held-out ``user_col, item_col`` pairs (the relevant items), optionally
        with ``weight_col`` (graded gains for nDCG) and ``price_col`` (for
        ``"revenue"``).  Test items the models do not know stay relevant:
        no model can find them (drop them with
        :func:`~recsys.evaluation.filter_to_known` if that is your protocol).
    k : int or list of int
        Cut-off(s); one result row per model and cut-off.
    metrics : iterable of str
        Among ``"precision"``, ``"recall"``, ``"hit_rate"``, ``"mrr"``,
        ``"map"``, ``"ndcg"``, ``"revenue"`` (the ``*_at_k`` functions) and
        ``"coverage"`` (share of the training catalogue recommended to at
        least one evaluated user, as :func:`~recsys.evaluation.coverage`),
        ``"novelty"`` (as :func:`~recsys.evaluation.novelty_at_k`, with the
        training popularity, over evaluated users with recommendations).
        Default: the accuracy metrics of
        :data:`~recsys.evaluation.DEFAULT_METRICS`.
    users : list-like, optional
        Evaluate only these users (duplicates ignored).
    show_progress : bool
        Show a tqdm progress bar (users × models).
    user_col, item_col : str
        ID columns of ``test`` (and of ``train`` if a DataFrame).
        Recommendations always use the recsys columns ``user, item, rank``.
    weight_col : str or None
        Graded relevance for nDCG, as in :func:`~recsys.evaluation.ndcg_at_k`.
    price_col : str
        Prices for ``"revenue"``, as in :func:`~recsys.evaluation.revenue_at_k`.
    unknown_users : {"skip", "include", "raise"}
        Test users not in ``train``.  ``"skip"`` (default): not evaluated
        (the usual offline protocol: no model can personalise for them).
        ``"include"``: evaluated like the others — a Recommender serves them
        its most-popular fallback, a function gets them as any other user.
        ``"raise"``: :class:`~recsys.exceptions.UnknownIdError`.
    exclude_seen : bool
        Passed to ``Recommender.recommend``: leave out training items.
    batch_size : int
        Users per call to a model (bounds memory; the progress bar moves per batch).

    Returns
    -------
    pandas.DataFrame
        One row per model (in the order given) and cut-off: ``model, k``,
        one column per metric (in the order given), then ``n_users`` (users
        scored; every metric is their mean), ``n_users_skipped`` (users
        without relevant items, not scored) and ``n_users_unknown`` (test
        users unknown to ``train``: scored with ``"include"``, left out with
        ``"skip"``).  An evaluated user a model returns nothing for scores 0.

    Raises
    ------
    ValueError, TypeError
        Bad arguments, no user left to evaluate, a function returning
        users it was not asked for, and everything the metrics raise.
    UnknownIdError
        With ``unknown_users="raise"``.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> log = pd.DataFrame(
    ...     {"user": [1, 1, 2, 2, 3, 3, 3], "item": ["a", "b", "a", "c", "a", "b", "c"]}
    ... )
    >>> train = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> test = pd.DataFrame({"user": [1, 2, 9], "item": ["c", "b", "a"]})  # user 9 is new
    >>> def always_b(users, n):
    ...     return pd.DataFrame({"user": users, "item": "b", "rank": 1})
    >>> results = evaluate({"popularity": recsys.Popularity().fit(train), "always b": always_b},
    ...                    train, test, k=1, metrics=["hit_rate", "coverage"])
    >>> results[["model", "hit_rate", "coverage", "n_users", "n_users_unknown"]]
            model  hit_rate  coverage  n_users  n_users_unknown
    0  popularity       1.0  0.666667        2                1
    1    always b       0.5  0.333333        2                1
    """
    named = _models(models)
    names = _metric_names(metrics)
    ks = _cutoffs(k)
    if unknown_users not in UNKNOWN_USERS:
        raise ValueError(f"unknown_users must be one of {UNKNOWN_USERS}, got {unknown_users!r}")
    batch_size = _check_k(batch_size, "batch_size")
    if not isinstance(test, pd.DataFrame):
        raise TypeError(f"test must be a pandas DataFrame, got {type(test).__name__}")
    if test.empty:
        raise ValueError("test is empty: there is nothing to evaluate against")
    require_columns(test, [user_col, item_col], "test")
    for col in (user_col, item_col):
        require_no_missing(test, col, "test")
    known = _Train(train, user_col, item_col)
    _check_models_match(named, known)

    # --- who is evaluated
    test_users = pd.Index(pd.unique(test[user_col].to_numpy()))
    if users is None:
        candidates = test_users
    else:
        if isinstance(users, (str, bytes)) or not isinstance(users, Iterable):
            raise TypeError(f"users must be a list-like of user IDs, got {type(users).__name__}")
        values = (
            users.to_numpy()
            if isinstance(users, (pd.Series, pd.Index))
            else np.asarray(list(users))
        )
        candidates = pd.Index(pd.unique(values))
    has_relevant = test_users.get_indexer(candidates) >= 0
    n_skipped = int((~has_relevant).sum())
    evaluated = candidates[has_relevant]
    is_known = known.users.get_indexer(evaluated) >= 0
    n_unknown = int((~is_known).sum())
    if n_unknown and unknown_users == "raise":
        bad = evaluated[~is_known][:10].tolist()
        raise UnknownIdError(
            f"{n_unknown} test user(s) are not in train, e.g. {bad}; "
            "pass unknown_users='skip' or 'include'"
        )
    if unknown_users == "skip":
        evaluated = evaluated[is_known]
    if len(evaluated) == 0:
        why = (
            f"all {n_unknown} are unknown to train (unknown_users='skip'; check that train "
            "and test hold the same IDs of the same type)"
            if n_unknown
            else f"none of the {len(candidates)} users has a row in test: "
            "check that the IDs have the same type"
        )
        raise ValueError(f"no user left to evaluate: {why}")

    # --- the relevant rows of each evaluated user, grouped by user in evaluation order
    extra = [
        c
        for c in (
            weight_col if "ndcg" in names else None,
            price_col if "revenue" in names else None,
        )
        if c is not None and c in test.columns
    ]
    if "revenue" in names and price_col not in test.columns:
        raise ValueError(f"metric 'revenue' needs the column {price_col!r} in test")
    relevant = test[[user_col, item_col, *extra]].rename(
        columns={user_col: "user", item_col: "item"}
    )
    code = evaluated.get_indexer(relevant["user"].to_numpy())
    keep = code >= 0
    order = np.argsort(code[keep], kind="stable")
    relevant = relevant.iloc[np.flatnonzero(keep)[order]]
    code_sorted = code[keep][order]
    eval_values = evaluated.to_numpy()
    batches = range(0, len(evaluated), batch_size)
    weight = weight_col if "ndcg" in names else None
    price = price_col if "revenue" in names else None

    rows = []
    with progress(len(evaluated) * len(named), "evaluate", show_progress, unit="user") as bar:
        for model_name, model in named.items():
            acc = _Accumulator(names, ks, len(known.items))
            for start in batches:
                stop = min(start + batch_size, len(evaluated))
                lo, hi = np.searchsorted(code_sorted, [start, stop])
                batch_users = eval_values[start:stop]
                recs = _recommend(model_name, model, batch_users, max(ks), exclude_seen)
                _score_batch(acc, recs, relevant.iloc[lo:hi], known, weight, price, model_name)
                bar.set_postfix(model=model_name, refresh=False)
                bar.update(stop - start)
            for cut in ks:
                row: dict[str, Any] = {"model": model_name, "k": cut}
                for name in names:
                    if name == "coverage":
                        row[name] = float(acc.covered[cut].sum() / len(known.items))
                    elif name == "novelty":
                        n = acc.novelty_users[cut]
                        row[name] = acc.sums[name, cut] / n if n else float("nan")
                    else:
                        row[name] = acc.sums[name, cut] / len(evaluated)
                row.update(
                    n_users=len(evaluated), n_users_skipped=n_skipped, n_users_unknown=n_unknown
                )
                rows.append(row)
    return pd.DataFrame(rows, columns=["model", "k", *names, *_COUNTS])


def _check_models_match(named: dict[str, Any], known: _Train) -> None:
    if known.interactions is None:
        return
    for name, model in named.items():
        if isinstance(model, Recommender) and model.user_ids_ != known.interactions.user_ids:
            warnings.warn(
                f"model {name!r} was fitted on other users than train ({len(model.user_ids_)} vs "
                f"{len(known.users)}): unknown users are counted against train",
                UserWarning,
                stacklevel=3,
            )


def _score_batch(
    acc: _Accumulator,
    recs: pd.DataFrame,
    relevant: pd.DataFrame,
    known: _Train,
    weight_col: str | None,
    price_col: str | None,
    model_name: str,
) -> None:
    """Add one batch of users' per-user metric values to ``acc``."""
    accuracy = [name for name in acc.names if name not in BEYOND_ACCURACY_METRICS]
    if accuracy:
        with warnings.catch_warnings():
            # a batch whose users all got nothing is legitimate; no ID-type hint needed here
            warnings.filterwarnings(
                "ignore", message="none of the .* recommended users is in relevant"
            )
            hits = _hits(
                recs,
                relevant,
                max(acc.ks),
                "user",
                "item",
                weight_col=weight_col,
                price_col=price_col,
            )
        for cut in acc.ks:
            for name in accuracy:
                acc.sums[name, cut] += float(_METRICS[name](hits, cut).sum())
    if not any(name in acc.names for name in BEYOND_ACCURACY_METRICS) or recs.empty:
        return
    top = _top_k(recs, max(acc.ks), "user", "item")
    item_row = known.items.get_indexer(top.item_ids)[top.item]
    if "novelty" in acc.names and (item_row < 0).any():
        missing = pd.unique(top.item_ids[top.item[item_row < 0]])[:10].tolist()
        raise ValueError(
            f"model {model_name!r} recommends item(s) not in train, e.g. {missing}: "
            "novelty needs their training popularity"
        )
    popularity = np.maximum(known.popularity[np.maximum(item_row, 0)], 1.0)
    information = -np.log2(popularity / len(known.users))
    for cut in acc.ks:
        within = top.position <= cut
        if "coverage" in acc.names:
            rows = item_row[within]
            acc.covered[cut][rows[rows >= 0]] = True
        if "novelty" in acc.names:
            user = top.user[within]
            per_user = np.bincount(user, weights=information[within]) / np.maximum(
                np.bincount(user), 1
            )
            has = np.bincount(user) > 0
            acc.sums["novelty", cut] += float(per_user[has].sum())
            acc.novelty_users[cut] += int(has.sum())
