"""Ranking metrics for top-k recommendations, vectorised over users.

Every accuracy metric has the signature
``metric(recommendations, relevant, k=10, *, user_col="user", item_col="item")``:

``recommendations``
    One row per recommended (user, item), e.g. the output of
    :meth:`recsys.models.base.Recommender.recommend`.  A ``rank`` column
    (1 = best) orders each user's list; without it the row order within each
    user is the ranking.  Ranks only order the list: after sorting, a user's
    items sit at positions 1, 2, 3, ... even if the ranks have gaps (e.g.
    after filtering).  The same (user, item) twice, or two items with the same
    rank for one user, is an error.
``relevant``
    One row per relevant (user, item) — the held-out test interactions.
    Duplicate rows collapse into one relevant pair (their ``weight`` or
    ``price`` values are summed).

Scores are computed per *evaluated user* — every user with at least one
relevant item — and averaged with equal weight per user.  Evaluated users
without any recommendation score 0.  Recommended users with no relevant items
are skipped (:func:`evaluate_ranking` reports how many).  Position ``i`` is
1-based; ``rel_i`` is 1 if the item at position ``i`` is relevant, else 0;
``rec@k`` are a user's first ``k`` recommendations and ``rel`` their relevant
items.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.validation import (
    numeric_column,
    require_columns,
    require_dataframe,
    require_no_missing,
)

#: The column that orders each user's recommendations (1 = best).
RANK_COL = "rank"
#: Metrics :func:`evaluate_ranking` computes by default.
DEFAULT_METRICS = ("precision", "recall", "hit_rate", "mrr", "map", "ndcg")
_DEFAULT_WEIGHT = "weight"

__all__ = [
    "DEFAULT_METRICS",
    "coverage",
    "evaluate_ranking",
    "hit_rate_at_k",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty_at_k",
    "precision_at_k",
    "recall_at_k",
    "revenue_at_k",
]


# ------------------------------------------------------------------ plumbing
def _check_k(k: Any, name: str = "k") -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k}")
    return int(k)


def _check_frame(
    df: Any, what: str, columns: Sequence[str | None], *, allow_empty: bool
) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    if not allow_empty:
        require_dataframe(df, what)
    require_columns(df, columns, what)
    for col in columns[:2]:
        if col is not None:
            require_no_missing(df, col, what)
    return df


def _group_starts(groups_sorted: np.ndarray) -> np.ndarray:
    """Boolean mask of the first element of each run of equal values."""
    if groups_sorted.size == 0:
        return np.empty(0, dtype=bool)
    return np.r_[True, groups_sorted[1:] != groups_sorted[:-1]]


def _rank_within_groups(groups_sorted: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal values."""
    n = groups_sorted.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(_group_starts(groups_sorted))
    return np.arange(n, dtype=np.int64) - np.repeat(starts, np.diff(np.r_[starts, n]))


@dataclass(frozen=True)
class _TopK:
    """Each user's first ``k`` recommendations, as codes, grouped by user in position order."""

    rows: np.ndarray  # positions in the recommendations frame
    user: np.ndarray  # user code (into user_ids)
    item: np.ndarray  # item code (into item_ids)
    position: np.ndarray  # 1-based
    user_ids: pd.Index
    item_ids: pd.Index


def _top_k(recommendations: pd.DataFrame, k: int, user_col: str, item_col: str) -> _TopK:
    """Order and validate ``recommendations``; keep every user's first ``k`` rows."""
    user, user_ids = pd.factorize(recommendations[user_col], sort=False)
    item, item_ids = pd.factorize(recommendations[item_col], sort=False)
    user = user.astype(np.int64, copy=False)
    item = item.astype(np.int64, copy=False)

    key = user * max(len(item_ids), 1) + item
    duplicated = pd.Series(key).duplicated().to_numpy()
    if duplicated.any():
        first = int(np.flatnonzero(duplicated)[0])
        raise ValueError(
            f"recommendations has {int(duplicated.sum())} duplicated ({user_col}, {item_col}) "
            f"row(s), e.g. ({user_ids[user[first]]!r}, {item_ids[item[first]]!r}); "
            "each item may be recommended once per user"
        )

    if RANK_COL in recommendations.columns:
        rank = numeric_column(recommendations, RANK_COL, "recommendations", allow_negative=True)
        order = np.lexsort((rank, user))
        same_user = user[order][1:] == user[order][:-1]
        tied = same_user & (rank[order][1:] == rank[order][:-1])
        if tied.any():
            at = order[1:][tied][0]
            raise ValueError(
                f"recommendations column {RANK_COL!r} has {int(tied.sum())} tie(s) within a "
                f"user, e.g. {user_col} {user_ids[user[at]]!r} at rank {rank[at]!r}; "
                "ranks must order each user's items"
            )
    else:
        order = np.argsort(user, kind="stable")
    position = _rank_within_groups(user[order]) + 1
    keep = position <= k
    rows = order[keep]
    return _TopK(
        rows, user[rows], item[rows], position[keep], pd.Index(user_ids), pd.Index(item_ids)
    )


@dataclass(frozen=True)
class _Hits:
    """Hits of each evaluated user's top-``k`` list.

    Also holds what the metrics need to know about ``relevant``.
    """

    k: int
    n_users: int  # evaluated users (with at least one relevant item)
    n_skipped: int  # recommended users without relevant items
    n_relevant: np.ndarray  # (n_users,) distinct relevant items per evaluated user
    user: np.ndarray  # evaluated-user index of every hit, grouped by user, by position
    position: np.ndarray  # 1-based position of every hit
    gain: np.ndarray | None  # weight of every hit (weighted nDCG)
    price: np.ndarray | None  # price of every hit
    relevant_user: np.ndarray  # evaluated-user index of every distinct relevant pair
    relevant_gain: np.ndarray | None  # its weight

    def within(self, k: int) -> np.ndarray:
        """Mask of the hits at positions ``<= k``."""
        if k > self.k:
            raise ValueError(f"k={k} exceeds the prepared k={self.k}")
        return self.position <= k

    def per_user(self, mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(
            self.user[mask],
            weights=None if weights is None else weights[mask],
            minlength=self.n_users,
        ).astype(np.float64)


def _hits(
    recommendations: Any,
    relevant: Any,
    k: Any,
    user_col: str,
    item_col: str,
    *,
    weight_col: str | None = None,
    price_col: str | None = None,
) -> _Hits:
    """Validate the inputs and find every hit within each user's first ``k`` items."""
    k = _check_k(k)
    default_weight_absent = (
        isinstance(relevant, pd.DataFrame) and _DEFAULT_WEIGHT not in relevant.columns
    )
    if weight_col == _DEFAULT_WEIGHT and default_weight_absent:
        weight_col = None  # the default weight column is optional
    recommendations = _check_frame(
        recommendations, "recommendations", [user_col, item_col], allow_empty=True
    )
    relevant = _check_frame(
        relevant, "relevant", [user_col, item_col, weight_col, price_col], allow_empty=False
    )

    rel_user, rel_users = pd.factorize(relevant[user_col], sort=False)
    rel_item, rel_items = pd.factorize(relevant[item_col], sort=False)
    n_users, n_rel_items = len(rel_users), len(rel_items)
    pair_key = rel_user.astype(np.int64) * n_rel_items + rel_item
    keys, inverse = np.unique(pair_key, return_inverse=True)
    inverse = inverse.ravel()
    relevant_user = keys // n_rel_items
    n_relevant = np.bincount(relevant_user, minlength=n_users)

    def summed(col: str | None, positive: bool) -> np.ndarray | None:
        if col is None:
            return None
        values = numeric_column(relevant, col, "relevant")
        if positive and (values <= 0).any():
            bad = values <= 0
            raise ValueError(
                f"relevant column {col!r} has {int(bad.sum())} zero weight(s) in rows "
                f"{list(relevant.index[bad][:10])}; "
                "gains must be > 0 (drop rows that are not relevant)"
            )
        return np.bincount(inverse, weights=values, minlength=keys.size)

    pair_gain = summed(weight_col, positive=True)
    pair_price = summed(price_col, positive=False)

    top = _top_k(recommendations, k, user_col, item_col)
    user_to_eval = pd.Index(rel_users).get_indexer(top.user_ids)
    n_skipped = int((user_to_eval < 0).sum())
    if len(top.user_ids) and n_skipped == len(top.user_ids):
        warnings.warn(
            f"none of the {len(top.user_ids)} recommended users is in relevant: check that the "
            f"{user_col!r} columns hold the same IDs of the same type",
            UserWarning,
            stacklevel=3,
        )
    item_to_rel = pd.Index(rel_items).get_indexer(top.item_ids)
    eval_user = user_to_eval[top.user] if top.user.size else np.empty(0, dtype=np.int64)
    rel_item_of_row = item_to_rel[top.item] if top.item.size else np.empty(0, dtype=np.int64)
    candidate = (eval_user >= 0) & (rel_item_of_row >= 0)
    row_key = eval_user.astype(np.int64) * n_rel_items + rel_item_of_row
    where = np.minimum(np.searchsorted(keys, row_key), keys.size - 1)
    is_hit = candidate & (keys[where] == row_key)
    pair = where[is_hit]
    return _Hits(
        k=k,
        n_users=n_users,
        n_skipped=n_skipped,
        n_relevant=n_relevant,
        user=eval_user[is_hit].astype(np.int64),
        position=top.position[is_hit],
        gain=None if pair_gain is None else pair_gain[pair],
        price=None if pair_price is None else pair_price[pair],
        relevant_user=relevant_user,
        relevant_gain=pair_gain,
    )


# ------------------------------------------------------- per-user computations
def _precision(h: _Hits, k: int) -> np.ndarray:
    return h.per_user(h.within(k)) / k


def _recall(h: _Hits, k: int) -> np.ndarray:
    return h.per_user(h.within(k)) / h.n_relevant


def _hit_rate(h: _Hits, k: int) -> np.ndarray:
    return (h.per_user(h.within(k)) > 0).astype(np.float64)


def _mrr(h: _Hits, k: int) -> np.ndarray:
    mask = h.within(k)
    user, position = h.user[mask], h.position[mask]
    first = _group_starts(user)
    out = np.zeros(h.n_users)
    out[user[first]] = 1.0 / position[first]
    return out


def _map(h: _Hits, k: int) -> np.ndarray:
    mask = h.within(k)
    user, position = h.user[mask], h.position[mask]
    precision_at_hit = (_rank_within_groups(user) + 1) / position
    total = np.bincount(user, weights=precision_at_hit, minlength=h.n_users)
    return total / np.minimum(h.n_relevant, k)


def _ndcg(h: _Hits, k: int) -> np.ndarray:
    mask = h.within(k)
    discount = 1.0 / np.log2(h.position[mask] + 1.0)
    gains = discount if h.gain is None else h.gain[mask] * discount
    dcg = np.bincount(h.user[mask], weights=gains, minlength=h.n_users)
    if h.relevant_gain is None:
        ideal_cumulative = np.cumsum(1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64)))
        idcg = ideal_cumulative[np.minimum(h.n_relevant, k) - 1]
    else:  # the user's largest gains at the top positions
        order = np.lexsort((-h.relevant_gain, h.relevant_user))
        user = h.relevant_user[order]
        position = _rank_within_groups(user) + 1
        top = position <= k
        idcg = np.bincount(
            user[top],
            weights=h.relevant_gain[order][top] / np.log2(position[top] + 1.0),
            minlength=h.n_users,
        )
    return dcg / idcg


def _revenue(h: _Hits, k: int) -> np.ndarray:
    assert h.price is not None
    return h.per_user(h.within(k), h.price)


_METRICS: dict[str, Callable[[_Hits, int], np.ndarray]] = {
    "precision": _precision,
    "recall": _recall,
    "hit_rate": _hit_rate,
    "mrr": _mrr,
    "map": _map,
    "ndcg": _ndcg,
    "revenue": _revenue,
}


def _mean(values: np.ndarray) -> float:
    return float(values.mean())


# ---------------------------------------------------------- accuracy metrics
def precision_at_k(
    recommendations: pd.DataFrame,
    relevant: pd.DataFrame,
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
) -> float:
    """Mean share of the ``k`` recommendation slots that hold a relevant item.

    ``precision@k = |rec@k ∩ rel| / k``, averaged over evaluated users.

    The denominator is always ``k``, not the number of items actually
    recommended: a user given 3 items with 2 hits scores ``2/10`` at
    ``k=10``, and a user with 2 relevant items can score at most ``2/k``.
    (Libraries differ here — implicit's ``precision_at_k`` divides by
    ``min(k, |rel|)``, see implicit issue #713 — so compare numbers across
    libraries with care.)

    Parameters
    ----------
    recommendations : pandas.DataFrame
        ``user_col, item_col`` and optionally ``rank`` (see the module docs).
    relevant : pandas.DataFrame
        ``user_col, item_col``: the held-out items (must not be empty).
    k : int
        Cut-off (>= 1).
    user_col, item_col : str
        ID columns of both frames.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        Missing columns or IDs (naming them), empty ``relevant``, ``k < 1``,
        duplicated recommendations or tied ranks.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame(
    ...     {"user": [1, 1, 2, 2], "item": ["a", "b", "c", "d"], "rank": [1, 2, 1, 2]}
    ... )
    >>> test = pd.DataFrame({"user": [1, 2], "item": ["b", "x"]})
    >>> precision_at_k(recs, test, k=2)  # user 1: 1/2, user 2: 0/2
    0.25
    """
    return _mean(_precision(_hits(recommendations, relevant, k, user_col, item_col), k))


def recall_at_k(
    recommendations: pd.DataFrame,
    relevant: pd.DataFrame,
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
) -> float:
    """Mean share of each user's relevant items found in the top ``k``.

    ``recall@k = |rec@k ∩ rel| / |rel|``, averaged over evaluated users.  A
    user with more than ``k`` relevant items cannot reach 1.

    Parameters
    ----------
    recommendations, relevant : pandas.DataFrame
        As in :func:`precision_at_k`.
    k : int
    user_col, item_col : str

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
    >>> test = pd.DataFrame({"user": [1, 1, 1, 1], "item": ["a", "c", "d", "e"]})
    >>> recall_at_k(recs, test, k=2)  # 1 of 4 relevant items found
    0.25
    """
    return _mean(_recall(_hits(recommendations, relevant, k, user_col, item_col), k))


def hit_rate_at_k(
    recommendations: pd.DataFrame,
    relevant: pd.DataFrame,
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
) -> float:
    """Share of users with at least one relevant item in their top ``k``.

    ``hit@k = 1 if |rec@k ∩ rel| > 0 else 0``, averaged over evaluated users.
    With one hidden item per query (:func:`~recsys.evaluation.basket_holdout`)
    this equals recall@k.

    Parameters
    ----------
    recommendations, relevant : pandas.DataFrame
        As in :func:`precision_at_k`.
    k : int
    user_col, item_col : str

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "a", "b"]})
    >>> test = pd.DataFrame({"user": [1, 2], "item": ["b", "c"]})
    >>> hit_rate_at_k(recs, test, k=2)
    0.5
    """
    return _mean(_hit_rate(_hits(recommendations, relevant, k, user_col, item_col), k))


def mrr_at_k(
    recommendations: pd.DataFrame,
    relevant: pd.DataFrame,
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
) -> float:
    """Mean reciprocal rank of the first hit within the top ``k``.

    ``RR@k = 1 / i`` where ``i`` is the position of the first relevant item
    among the first ``k``, or 0 if there is none; averaged over evaluated users.

    Parameters
    ----------
    recommendations, relevant : pandas.DataFrame
        As in :func:`precision_at_k`.
    k : int
    user_col, item_col : str

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user": [1, 1, 1], "item": ["a", "b", "c"], "rank": [1, 2, 3]})
    >>> test = pd.DataFrame({"user": [1, 1], "item": ["c", "b"]})
    >>> mrr_at_k(recs, test, k=3)  # first hit at position 2
    0.5
    """
    return _mean(_mrr(_hits(recommendations, relevant, k, user_col, item_col), k))


def map_at_k(
    recommendations: pd.DataFrame,
    relevant: pd.DataFrame,
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
) -> float:
    """Mean average precision at ``k``.

    ``AP@k = (1 / min(|rel|, k)) * sum_{i=1..k} P@i * rel_i`` where ``P@i``
    is the precision of the first ``i`` items; averaged over evaluated users.
    Normalising by ``min(|rel|, k)`` makes a perfect list score 1 even when
    the user has more than ``k`` relevant items.

    Parameters
    ----------
    recommendations, relevant : pandas.DataFrame
        As in :func:`precision_at_k`.
    k : int
    user_col, item_col : str

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user": [1, 1, 1], "item": ["a", "b", "c"]})
    >>> test = pd.DataFrame({"user": [1, 1], "item": ["a", "c"]})
    >>> map_at_k(recs, test, k=3)  # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    return _mean(_map(_hits(recommendations, relevant, k, user_col, item_col), k))


def ndcg_at_k(
    recommendations: pd.DataFrame,
    relevant: pd.DataFrame,
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = "weight",
) -> float:
    """Mean normalised discounted cumulative gain at ``k``.

    ``nDCG@k = DCG@k / IDCG@k`` with ``DCG@k = sum_{i=1..k} g_i / log2(i + 1)``,
    averaged over evaluated users.  The gain ``g_i`` of the item at position
    ``i`` is 0 if it is not relevant; otherwise 1 (binary relevance), or its
    ``weight`` if ``relevant`` has a weight column (graded relevance, e.g.
    quantity bought; duplicate rows' weights are summed; weights must be
    > 0).  ``IDCG@k`` is the DCG of the ideal list: the user's
    ``min(|rel|, k)`` relevant items with the largest gains, in decreasing
    order of gain — so with binary relevance
    ``IDCG@k = sum_{i=1..min(|rel|, k)} 1 / log2(i + 1)``.

    Parameters
    ----------
    recommendations, relevant : pandas.DataFrame
        As in :func:`precision_at_k`.
    k : int
    user_col, item_col : str
    weight_col : str or None
        Column of ``relevant`` with graded gains.  With the default
        ``"weight"``, a missing column simply means binary relevance; another
        name must exist.  ``None`` forces binary relevance.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user": [1, 1], "item": ["a", "b"], "rank": [1, 2]})
    >>> test = pd.DataFrame({"user": [1], "item": ["b"]})
    >>> round(ndcg_at_k(recs, test, k=2), 4)  # (1 / log2(3)) / (1 / log2(2))
    0.6309
    """
    hits = _hits(recommendations, relevant, k, user_col, item_col, weight_col=weight_col)
    return _mean(_ndcg(hits, k))


def revenue_at_k(
    recommendations: pd.DataFrame,
    relevant: pd.DataFrame,
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
    price_col: str = "price",
) -> float:
    """Mean revenue of the relevant items found in the top ``k``.

    ``revenue@k = sum_{i=1..k} price_i * rel_i``, averaged over evaluated
    users: the value of the test purchases the list would have surfaced.
    ``price`` is the value of the (user, item) pair in ``relevant``
    (duplicate rows are summed, so put unit price × quantity per row).

    Parameters
    ----------
    recommendations, relevant : pandas.DataFrame
        As in :func:`precision_at_k`; ``relevant`` must have ``price_col``
        (non-negative, finite).
    k : int
    user_col, item_col : str
    price_col : str

    Returns
    -------
    float
        In the currency of ``price_col``, >= 0.

    Raises
    ------
    ValueError
        As :func:`precision_at_k`, and if ``relevant`` lacks ``price_col`` or
        has missing, negative or non-numeric prices.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user": [1, 1, 2], "item": ["case", "cable", "case"]})
    >>> test = pd.DataFrame({"user": [1, 2], "item": ["case", "charger"], "price": [20.0, 35.0]})
    >>> revenue_at_k(recs, test, k=2)  # user 1 found 20, user 2 nothing
    10.0
    """
    hits = _hits(recommendations, relevant, k, user_col, item_col, price_col=price_col)
    return _mean(_revenue(hits, k))


# -------------------------------------------------------- beyond-accuracy
def coverage(
    recommendations: pd.DataFrame,
    n_items: int,
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
) -> float:
    """Catalogue coverage: the share of all items recommended to anyone in a top ``k``.

    ``coverage@k = |union over users of rec@k| / n_items``.

    Parameters
    ----------
    recommendations : pandas.DataFrame
        As in :func:`precision_at_k`; may be empty (coverage 0).
    n_items : int
        Size of the catalogue (e.g. ``len(model.item_ids_)``).
    k : int
    user_col, item_col : str

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        Missing columns, ``k < 1`` or ``n_items < 1``, duplicated
        recommendations, or more distinct items than ``n_items``.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"]})
    >>> coverage(recs, n_items=10, k=2)
    0.3
    """
    k = _check_k(k)
    n_items = _check_k(n_items, "n_items")
    recommendations = _check_frame(
        recommendations, "recommendations", [user_col, item_col], allow_empty=True
    )
    top = _top_k(recommendations, k, user_col, item_col)
    n_distinct = np.unique(top.item).size
    if n_distinct > n_items:
        raise ValueError(
            f"recommendations hold {n_distinct} distinct items in their top {k}, "
            f"more than n_items={n_items}"
        )
    return n_distinct / n_items


def novelty_at_k(
    recommendations: pd.DataFrame,
    item_popularity: pd.Series,
    n_users: int,
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
) -> float:
    """Mean self-information of the recommended items: how unexpected they are.

    ``novelty@k = mean over users of (1/|rec@k|) * sum_{i in rec@k} -log2(pop_i / n_users)``
    where ``pop_i`` is the number of (training) users who interacted with
    item ``i``.  An item everyone has scores 0; one held by a single user of
    1024 scores 10 bits.  Averaged over users with recommendations.

    Parameters
    ----------
    recommendations : pandas.DataFrame
        As in :func:`precision_at_k`; must not be empty.
    item_popularity : pandas.Series
        Index: item IDs; values: the number of users per item, in
        ``[1, n_users]``, e.g. ``pd.Series(model.item_popularity_,
        index=model.item_ids_.external_ids)``.  Every recommended item must
        be in it.
    n_users : int
        Number of users the popularity was counted over.
    k : int
    user_col, item_col : str

    Returns
    -------
    float
        In bits, >= 0.

    Raises
    ------
    ValueError
        Missing columns, empty ``recommendations``, ``k < 1``, recommended
        items missing from ``item_popularity``, popularities outside
        ``[1, n_users]``, a duplicated popularity index.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
    >>> popularity = pd.Series({"a": 8, "b": 1})
    >>> novelty_at_k(recs, popularity, n_users=8, k=2)  # (0 + 3) / 2
    1.5
    """
    k = _check_k(k)
    n_users = _check_k(n_users, "n_users")
    recommendations = _check_frame(
        recommendations, "recommendations", [user_col, item_col], allow_empty=False
    )
    if not isinstance(item_popularity, pd.Series):
        raise TypeError(
            "item_popularity must be a pandas Series indexed by item, "
            f"got {type(item_popularity).__name__}"
        )
    if item_popularity.index.has_duplicates:
        dup = item_popularity.index[item_popularity.index.duplicated()].unique()[:10].tolist()
        raise ValueError(f"item_popularity has duplicated item(s) in its index: {dup}")
    popularity = numeric_column(
        item_popularity.to_frame("popularity"), "popularity", "item_popularity"
    )
    out_of_range = (popularity < 1) | (popularity > n_users)
    if out_of_range.any():
        bad = item_popularity.index[out_of_range][:10].tolist()
        raise ValueError(
            f"item_popularity must lie in [1, n_users={n_users}]; "
            f"{int(out_of_range.sum())} item(s) do not, e.g. {bad}"
        )

    top = _top_k(recommendations, k, user_col, item_col)
    where = item_popularity.index.get_indexer(top.item_ids)
    if (where < 0).any():
        missing = top.item_ids[where < 0]
        raise ValueError(
            f"{len(missing)} recommended item(s) are missing from item_popularity, "
            f"e.g. {missing[:10].tolist()}"
        )
    information = -np.log2(popularity[where] / n_users)[top.item]
    per_user = np.bincount(top.user, weights=information) / np.bincount(top.user)
    return float(per_user.mean())


# ------------------------------------------------------------------ together
def evaluate_ranking(
    recommendations: pd.DataFrame,
    relevant: pd.DataFrame,
    k: int | Iterable[int] = 10,
    metrics: Iterable[str] = DEFAULT_METRICS,
    *,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = "weight",
    price_col: str = "price",
) -> dict[str, float] | pd.DataFrame:
    """Several ranking metrics at once, from one pass over the data.

    Parameters
    ----------
    recommendations, relevant : pandas.DataFrame
        As in :func:`precision_at_k`.
    k : int or iterable of int
        One cut-off, or several (the result is then a DataFrame).
    metrics : iterable of str
        Names among ``"precision"``, ``"recall"``, ``"hit_rate"``, ``"mrr"``,
        ``"map"``, ``"ndcg"`` and ``"revenue"`` (needs ``price_col``); each is
        computed exactly as the function of the same name ``*_at_k``.
    user_col, item_col : str
    weight_col : str or None
        Graded gains for nDCG, as in :func:`ndcg_at_k`.
    price_col : str
        Prices for ``"revenue"``, as in :func:`revenue_at_k`.

    Returns
    -------
    dict or pandas.DataFrame
        For one ``k``: ``{metric: value, ..., "n_users": evaluated users,
        "n_users_skipped": recommended users without relevant items}``.  For
        several: a DataFrame with one row per ``k`` (index ``k``) and those
        keys as columns.

    Raises
    ------
    ValueError
        Unknown metric names, and everything the metrics raise.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "a"]})
    >>> test = pd.DataFrame({"user": [1, 2], "item": ["b", "d"]})
    >>> evaluate_ranking(recs, test, k=2, metrics=["precision", "hit_rate", "mrr"])
    {'precision': 0.25, 'hit_rate': 0.5, 'mrr': 0.25, 'n_users': 2, 'n_users_skipped': 1}
    >>> evaluate_ranking(
    ...     recs, test, k=[1, 2], metrics=["hit_rate"]
    ... )  # doctest: +NORMALIZE_WHITESPACE
       hit_rate  n_users  n_users_skipped
    k
    1       0.0        2                1
    2       0.5        2                1
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    names = list(metrics)
    unknown = [m for m in names if m not in _METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(_METRICS)}")
    if not names:
        raise ValueError("metrics is empty: name at least one metric")
    if len(set(names)) != len(names):
        raise ValueError(f"metrics has duplicates: {names}")
    several = not isinstance(k, (int, np.integer))
    ks = [_check_k(v) for v in k] if several else [_check_k(k)]  # type: ignore[union-attr]
    if not ks:
        raise ValueError("k is empty: give at least one cut-off")
    if len(set(ks)) != len(ks):
        raise ValueError(f"k has duplicates: {ks}")

    hits = _hits(
        recommendations,
        relevant,
        max(ks),
        user_col,
        item_col,
        weight_col=weight_col if "ndcg" in names else None,
        price_col=price_col if "revenue" in names else None,
    )
    rows = []
    for cut in ks:
        row: dict[str, Any] = {name: _mean(_METRICS[name](hits, cut)) for name in names}
        row["n_users"] = hits.n_users
        row["n_users_skipped"] = hits.n_skipped
        rows.append(row)
    if not several:
        return rows[0]
    return pd.DataFrame(rows, index=pd.Index(ks, name="k"))
