"""Basket-completion probabilities: how likely an item is to join a basket.

``ItemItem(similarity="confidence")`` scores cross-sells as probabilities
that the item belongs in the basket, from two pieces of evidence:

* **co-purchase** — for each basket item ``i``, the smoothed conditional
  probability ``P(j | i) = (c(i, j) + m p_j) / (c(i) + m)`` (``c(i, j)``:
  training baskets holding both, ``c(i)``: holding ``i``, ``p_j``: share of
  baskets holding ``j``).  The prior strength ``m`` (``basket_prior``) pulls
  rarely seen items towards plain popularity; the strongest basket item
  counts: ``b_j = max_i P(j | i)``.  The neighbour table lists only the
  pairs seen together, but the prior holds for the others too
  (``c(i, j) = 0``): the :data:`POPULAR_PRIOR_ITEMS` most popular items that
  no basket item lists get ``m p_j / (c(i) + m)`` of the basket item with the
  fewest baskets (where it is largest).  With a strong prior the ranking is
  then exactly the best-seller list.
* **repeat purchase** — for a known customer who put ``j`` in ``h`` of their
  ``n`` past baskets, ``r_j = (h + a p_j) / (n + a)``, with prior strength
  ``a`` (``repeat_prior``).

The two combine as independent reasons to buy: ``1 - (1 - b_j)(1 - r_j)``.

Calibration
-----------
The best ``m`` and ``a`` differ a lot between shops (from 3-10 on Online
Retail to "plain popularity" on Groceries, where co-purchases carry no signal
beyond best-sellers).  With ``"auto"`` (the default) they are chosen on the
model's own training data: the last sixth of the baskets (by time when the
interactions have times, else in the order of the basket IDs) is held out,
one item is hidden from each held-out basket with at least two known items
(:data:`DRAWS` draws), and the hit rate at 10 of every grid value is measured
per held-out basket:

1. ``m`` without repeats: the strongest prior (the closest to the
   best-seller list) within one standard error of the best one (the
   one-standard-error rule);
2. ``a`` with that ``m``: the best one, or no repeats (ties go to the
   strongest repeat prior; without returning customers among the held-out
   baskets, no repeats);
3. the best-seller limit (the strongest ``m``, no repeats) unless the chosen
   pair beats it by more than one standard error of the paired difference.

The held-out baskets are few and noisy; the rule keeps the model at the
best-seller list unless the data show that co-purchases or repeats do better
(Groceries: they do not, and the calibrated model ranks like the best-seller
list; Online Retail and the Complete Journey: they do, by many standard
errors).  :func:`calibrate` returns the table of every value tried.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.sparse import row_positions
from recsys.core.constraints import Constraints
from recsys.core.cooccurrence import NeighbourTable
from recsys.core.topn_neighbours import constrained_topn_neighbours
from recsys.core.topn_shared import sort_scores

__all__ = [
    "DURABLE_MIN_BUYERS",
    "PRIOR_GRID",
    "Calibration",
    "calibrate",
    "conditional_probabilities",
    "durable_items",
    "popular_listing",
    "probability_queries",
    "unlisted_prior",
    "user_basket_counts",
    "without_durables",
]

#: Prior strengths tried by the calibration (for ``basket_prior`` and ``repeat_prior``).  The
#: largest make the probabilities plain popularity (where co-purchases carry no signal).
PRIOR_GRID: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 10000.0, 100000.0)
#: ``basket_prior`` when there is too little data to calibrate (the middle of the measured optima).
FALLBACK_BASKET_PRIOR = 10.0
#: Share of the baskets held out for calibration, and the minimum number of usable ones.
VALIDATION_SHARE = 1 / 6
MIN_VALIDATION_BASKETS = 20
#: Known customers get the repeat probability's prior for this many most popular items they
#: never bought (direct entries of the scoring kernel; the other items rank by popularity anyway).
POPULAR_PRIOR_ITEMS = 50
_POPULAR_CACHE: weakref.WeakKeyDictionary[NeighbourTable, tuple[np.ndarray, np.ndarray]] = (
    weakref.WeakKeyDictionary()
)
_LISTING_CACHE: weakref.WeakKeyDictionary[
    NeighbourTable, tuple[np.ndarray, np.ndarray, np.ndarray]
] = weakref.WeakKeyDictionary()
#: Hidden-item draws per held-out basket, and the list length scored.
DRAWS = 2
LIST_LENGTH = 10


def conditional_probabilities(table: NeighbourTable, basket_prior: float) -> np.ndarray:
    """Return the smoothed ``P(j | i)`` of every neighbour entry of ``table``.

    ``P(j | i) = (c(i, j) + m p_j) / (c(i) + m)``, with ``c`` the counts,
    ``p_j`` the share of baskets holding ``j`` and ``m`` the prior strength.

    Parameters
    ----------
    table : NeighbourTable
        Co-occurrence counts (``counts``), supports and the number of baskets.
    basket_prior : float
        ``m >= 0``.

    Returns
    -------
    numpy.ndarray of float32
        Aligned with ``table.indices``; every value is in ``[0, 1]``.

    Examples
    --------
    >>> t = NeighbourTable(indptr=np.array([0, 1, 2]), indices=np.array([1, 0], dtype=np.int32),
    ...                    scores=np.zeros(2, np.float32), counts=np.array([2, 2], dtype=np.int32),
    ...                    item_support=np.array([4, 2], dtype=np.int32), n_rows=8)
    >>> conditional_probabilities(t, 0.0).tolist()
    [0.5, 1.0]
    >>> [round(float(v), 3) for v in conditional_probabilities(t, 4.0)]
    [0.375, 0.667]
    """
    n_items = table.indptr.shape[0] - 1
    row = np.repeat(np.arange(n_items), np.diff(table.indptr))
    p = table.item_support.astype(np.float64) / max(table.n_rows, 1)
    m = float(basket_prior)
    prob = (table.counts + m * p[table.indices]) / np.maximum(table.item_support[row] + m, 1e-12)
    return np.clip(prob, 0.0, 1.0).astype(np.float32)


def user_basket_counts(
    baskets: sp.csr_matrix, basket_users: np.ndarray, n_users: int
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return, per user, in how many of their baskets each item was, and their basket count.

    Examples
    --------
    >>> b = sp.csr_matrix(np.array([[1, 1], [1, 0], [0, 1]], dtype=np.float32))
    >>> counts, n = user_basket_counts(b, np.array([0, 0, 1]), 2)
    >>> counts.toarray().tolist(), n.tolist()
    ([[2.0, 1.0], [0.0, 1.0]], [2, 1])
    """
    binary = sp.csr_matrix(
        (np.ones(baskets.nnz, dtype=np.float32), baskets.indices, baskets.indptr),
        shape=baskets.shape,
    )
    owner = sp.csr_matrix(
        (
            np.ones(basket_users.size, dtype=np.float32),
            (basket_users, np.arange(basket_users.size)),
        ),
        shape=(n_users, basket_users.size),
    )
    counts = (owner @ binary).tocsr()
    counts.sort_indices()
    return counts, np.bincount(basket_users, minlength=n_users).astype(np.int64)


#: An item counts as a durable (nobody re-buys it) once at least this many customers who placed
#: another order bought it, and none of them bought it twice.
DURABLE_MIN_BUYERS = 10


def durable_items(
    counts: sp.csr_matrix, n_baskets: np.ndarray, min_buyers: int = DURABLE_MIN_BUYERS
) -> np.ndarray:
    """Return a mask of the items nobody re-buys (a cake stand, a laptop): never a repeat offer.

    The rate at which an item is re-bought is learned per item: an item is a
    durable when at least ``min_buyers`` of its buyers placed more than one
    order (so had the chance to buy it again) and none of its buyers bought it
    in two orders.  An item seen with fewer such buyers is not judged (a few
    customers are no evidence).

    Parameters
    ----------
    counts : scipy.sparse.csr_matrix
        Users × items: in how many of the user's orders each item was
        (:func:`user_basket_counts`).
    n_baskets : numpy.ndarray
        Orders per user.
    min_buyers : int

    Returns
    -------
    numpy.ndarray of bool, shape (n_items,)

    Examples
    --------
    >>> counts = sp.csr_matrix(np.array([[1, 2], [1, 1], [1, 0]], dtype=np.float32))
    >>> durable_items(counts, np.array([3, 2, 4]), min_buyers=3).tolist()
    [True, False]
    """
    coo = counts.tocoo()
    could_rebuy = n_baskets[coo.row] >= 2
    buyers = np.bincount(coo.col[could_rebuy], minlength=counts.shape[1])
    repeaters = np.bincount(coo.col[coo.data >= 2], minlength=counts.shape[1])
    return (repeaters == 0) & (buyers >= min_buyers)


def without_durables(
    counts: sp.csr_matrix, n_baskets: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return ``counts`` with the durables' columns emptied, and the :func:`durable_items` mask.

    What the repeat-purchase probabilities are computed from, in the fit and
    in its calibration alike.

    Examples
    --------
    >>> counts = sp.csr_matrix(np.array([[1, 2]] * 10, dtype=np.float32))
    >>> kept, durable = without_durables(counts, np.full(10, 3))
    >>> kept.toarray()[0].tolist(), durable.tolist()
    ([0.0, 2.0], [True, False])
    """
    durable = durable_items(counts, n_baskets)
    if durable.any():
        counts = counts.copy()
        counts.data[durable[counts.indices]] = 0.0
        counts.eliminate_zeros()
    return counts, durable


def most_popular_rows(table: NeighbourTable) -> tuple[np.ndarray, np.ndarray]:
    """Return the :data:`POPULAR_PRIOR_ITEMS` most popular items of a table, and their ranks.

    The items are those in most rows (``table.item_support``), ties by item
    row; ``rank[j]`` is the position of item ``j`` among them, ``-1`` for
    the others.  Cached per table (a single cross-sell does not sort the
    catalogue).

    Examples
    --------
    >>> t = NeighbourTable(indptr=np.zeros(5, np.int64), indices=np.zeros(0, np.int32),
    ...                    scores=np.zeros(0, np.float32), counts=np.zeros(0, np.int32),
    ...                    item_support=np.array([1, 5, 1, 0], np.int32), n_rows=6)
    >>> top, rank = most_popular_rows(t)
    >>> top.tolist(), rank.tolist()
    ([1, 0, 2], [1, 0, 2, -1])
    """
    hit = _POPULAR_CACHE.get(table)
    if hit is not None:
        return hit
    support = np.asarray(table.item_support)
    m = min(POPULAR_PRIOR_ITEMS, support.size)
    candidates = np.arange(support.size)
    if m < support.size:  # every item at the cut's level competes, by row
        cut = support[np.argpartition(-support, m - 1)[:m]].min()
        candidates = np.flatnonzero(support >= cut)
    top = candidates[np.lexsort((candidates, -support[candidates]))][:m]
    top = top[support[top] > 0].astype(np.int32)
    rank = np.full(support.size, -1, dtype=np.int32)
    rank[top] = np.arange(top.size, dtype=np.int32)
    _POPULAR_CACHE[table] = (top, rank)
    return top, rank


def probability_queries(
    basket_indptr: np.ndarray,
    basket_rows: np.ndarray,
    user_rows: np.ndarray,
    counts: sp.csr_matrix | None,
    n_baskets: np.ndarray | None,
    popularity: np.ndarray | None,
    repeat_prior: float | None,
    repeat_scale: float = 1.0,
    *,
    table: NeighbourTable | None = None,
    basket_prior: float | None = None,
) -> tuple[np.ndarray, ...]:
    """Build the query CSR for ``constrained_topn_neighbours(..., combine="noisy_or")``.

    Basket entries (weight 1) bring their neighbours' ``P(j | i)`` (the
    kernel keeps the largest).  The neighbour table lists only pairs seen
    together, but the prior gives every other pair ``P(j | i) = m p_j /
    (c(i) + m)`` too; for the :data:`POPULAR_PRIOR_ITEMS` most popular items
    that no basket item lists, that value (at the basket item with the
    fewest baskets, where it is largest) comes as a direct entry (given
    ``table`` and ``basket_prior``).

    Beyond the most popular items that prior is left out: those items rank
    by popularity anyway (the fill), below the ones with evidence.

    For known users (``user_rows >= 0``) every item of their past baskets is
    a direct entry with ``repeat_scale * (h + a p_j) / (n + a)``.  (The
    repeat prior is not extended to items a customer never bought: it is a
    shrinkage device for the owned ones, and on Online Retail and the
    Complete Journey a popular item the customer never bought is a worse
    guess than a weak co-purchase; measured in ``python -m benchmarks
    cross-sell``.)

    Returns
    -------
    indptr, rows, weights, explain, direct : numpy.ndarray
        ``explain`` marks the basket entries, ``direct`` the others.

    Examples
    --------
    >>> counts = sp.csr_matrix(np.array([[0, 2, 0]], dtype=np.float32))
    >>> q = probability_queries(np.array([0, 1]), np.array([0]), np.array([0]), counts,
    ...                         np.array([2]), np.array([0.5, 0.5, 0.5]), repeat_prior=2.0)
    >>> [a.tolist() for a in q]  # basket item 0; owned item 1
    [[0, 2], [0, 1], [1.0, 0.75], [True, False], [False, True]]

    With the table, the popular items no basket item lists get the basket
    prior (item 2, never bought with item 0: ``m p_2 / (c(0) + m)``):

    >>> t = NeighbourTable(indptr=np.array([0, 1, 2, 2]), indices=np.array([1, 0], np.int32),
    ...                    scores=np.ones(2, np.float32), counts=np.array([1, 1], np.int32),
    ...                    item_support=np.array([2, 1, 2], np.int32), n_rows=4)
    >>> q = probability_queries(np.array([0, 1]), np.array([0]), np.array([-1]), None, None,
    ...                         None, None, table=t, basket_prior=2.0)
    >>> [a.tolist() for a in q]
    [[0, 2], [0, 2], [1.0, 0.25], [True, False], [False, True]]
    """
    n_q = basket_indptr.shape[0] - 1
    basket_rows = np.asarray(basket_rows, dtype=np.int32)
    if n_q == 1:  # one basket at the checkout: the same entries with fewer array operations
        return _single_query(
            basket_rows,
            int(user_rows[0]),
            counts,
            n_baskets,
            popularity,
            repeat_prior,
            repeat_scale,
            table,
            basket_prior,
        )
    b_len = np.diff(basket_indptr)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (query, item, weight)
    if table is not None and basket_prior is not None and basket_rows.size:
        parts.append(_basket_prior_entries(basket_indptr, basket_rows, table, basket_prior))
    known = user_rows >= 0
    if not (repeat_prior is None or counts is None or repeat_scale <= 0 or not known.any()):
        assert n_baskets is not None and popularity is not None
        parts.append(
            _repeat_entries(
                user_rows, counts, n_baskets, popularity, float(repeat_prior), repeat_scale
            )
        )
    if not parts:
        ones = np.ones(basket_rows.size, dtype=bool)
        return (
            basket_indptr.astype(np.int64),
            basket_rows,
            np.ones(basket_rows.size, np.float32),
            ones,
            ~ones,
        )
    d_q = np.concatenate([p[0] for p in parts])
    d_ix = np.concatenate([p[1] for p in parts])
    d_w = np.clip(np.concatenate([p[2] for p in parts]), 0.0, 1.0)
    d_len = np.bincount(d_q, minlength=n_q) if d_q.size else np.zeros(n_q, np.int64)
    indptr = np.zeros(n_q + 1, dtype=np.int64)
    np.cumsum(b_len + d_len, out=indptr[1:])
    explain = np.concatenate([np.ones(basket_rows.size, bool), np.zeros(d_q.size, bool)])
    rows = np.concatenate([basket_rows, d_ix.astype(np.int32)])
    weights = np.concatenate([np.ones(basket_rows.size), d_w]).astype(np.float32)
    if n_q > 1:  # group the entries by query, basket entries first
        q_of = np.concatenate([np.repeat(np.arange(n_q), b_len), d_q])
        order = np.argsort(q_of, kind="stable")
        rows, weights, explain = rows[order], weights[order], explain[order]
    return indptr, rows, weights, explain, ~explain


def unlisted_prior(
    table: NeighbourTable,
    basket_indptr: np.ndarray,
    basket_rows: np.ndarray,
    items: np.ndarray,
    basket_prior: float,
    scores: np.ndarray,
) -> np.ndarray:
    """Give the chosen items the queries hold no evidence for their basket prior (in place).

    The queries of :func:`probability_queries` give the prior ``m p_j /
    (c(i) + m)`` (at the basket item with the fewest baskets) only to the
    :data:`POPULAR_PRIOR_ITEMS` most popular items no basket item lists: a
    top-n needs no more.  Scoring *chosen* items (``score_rows``: upgrade
    tiers, a family's items) needs it for every one of them, or an item seen
    once with the basket (``P(j | i) = (1 + m p_j) / (c(i) + m)``) outranks a
    best-seller never seen with it (0 instead of about ``p_j`` under a strong
    prior).

    ``scores`` are the kernel's scores of ``items`` for the queries: 0 means
    no evidence at all (no basket item lists the item, it is no repeat
    purchase and not one of the popular items with their prior already).
    Those cells, for items sold at least once and not in the basket, become
    the prior: what the kernel computes with the prior among the query's
    direct entries, as for the popular items.  Every other cell is unchanged.

    Parameters
    ----------
    table : NeighbourTable
    basket_indptr, basket_rows : numpy.ndarray
        The queries' baskets as CSR (item rows).
    items : numpy.ndarray of int
        The wanted item rows (any order, repeats allowed).
    basket_prior : float
        ``m``.
    scores : numpy.ndarray of float32, shape (n_queries, len(items))
        The kernel's scores of ``items``; updated in place.

    Returns
    -------
    numpy.ndarray
        ``scores``.

    Examples
    --------
    Item 2 is never bought with item 0 (score 0); item 1 is (score 0.5):

    >>> t = NeighbourTable(indptr=np.array([0, 1, 2, 2]), indices=np.array([1, 0], np.int32),
    ...                    scores=np.ones(2, np.float32), counts=np.array([1, 1], np.int32),
    ...                    item_support=np.array([3, 1, 2], np.int32), n_rows=4)
    >>> scores = np.array([[0.5, 0.0]], np.float32)
    >>> _ = unlisted_prior(t, np.array([0, 1]), np.array([0]), np.array([1, 2]), 2.0, scores)
    >>> [round(float(v), 6) for v in scores[0]]  # item 2: m p_2 / (c(0) + m) = 2 * 0.5 / 5
    [0.5, 0.2]
    """
    n_q = basket_indptr.shape[0] - 1
    items = np.asarray(items, dtype=np.int64)
    if n_q == 0 or items.size == 0 or basket_prior <= 0:
        return scores
    support = table.item_support
    share = 1.0 / max(table.n_rows, 1)
    if n_q == 1:  # a shop-front call: the fewest array operations
        if basket_indptr[1] == basket_indptr[0]:
            return scores
        k = np.flatnonzero((scores[0] == 0) & (support[items] > 0))
        if k.size == 0:
            return scores
        rows = np.sort(basket_rows)
        cols = items[k]
        at = np.minimum(np.searchsorted(rows, cols), rows.size - 1)
        k = k[rows[at] != cols]  # not in the basket
        at_fewest = basket_prior / max(float(support[rows].min()) + basket_prior, 1e-12)
        scores[0, k] = (at_fewest * share) * support[items[k]]  # in [0, 1]
        return scores
    b_len = np.diff(basket_indptr)
    none = (scores == 0) & (support[items] > 0)[None, :] & (b_len > 0)[:, None]
    q, k = np.nonzero(none)
    if q.size == 0:
        return scores
    n_items = support.shape[0]
    basket_rows = np.asarray(basket_rows, dtype=np.int64)
    b_query = np.repeat(np.arange(n_q, dtype=np.int64), b_len)
    keep = ~np.isin(q * n_items + items[k], b_query * n_items + basket_rows)
    q, k = q[keep], k[keep]
    nonempty = np.flatnonzero(b_len > 0)
    fewest = np.zeros(n_q)
    fewest[nonempty] = np.minimum.reduceat(
        support[basket_rows].astype(np.float64), basket_indptr[:-1][nonempty]
    )
    strength = basket_prior / np.maximum(fewest + basket_prior, 1e-12)
    scores[q, k] = (strength[q] * share) * support[items[k]]
    return scores


def _single_query(
    basket_rows: np.ndarray,
    user: int,
    counts: sp.csr_matrix | None,
    n_baskets: np.ndarray | None,
    popularity: np.ndarray | None,
    repeat_prior: float | None,
    repeat_scale: float,
    table: NeighbourTable | None,
    basket_prior: float | None,
) -> tuple[np.ndarray, ...]:
    """Return :func:`probability_queries` of one basket (the same entries, in the same order)."""
    n_b = basket_rows.size
    rows, weights = [basket_rows], [np.ones(n_b)]
    if table is not None and basket_prior is not None and n_b:
        top, _, listed = popular_listing(table)
        fewest = float(table.item_support[basket_rows].min())
        strength = basket_prior / max(fewest + basket_prior, 1e-12)
        if strength > 0:
            items = top[~listed[basket_rows].any(axis=0)]
            rows.append(items)
            weights.append(strength * table.item_support[items] / max(table.n_rows, 1))
    if repeat_prior is not None and counts is not None and repeat_scale > 0 and user >= 0:
        assert n_baskets is not None and popularity is not None
        lo, hi = counts.indptr[user], counts.indptr[user + 1]
        owned = counts.indices[lo:hi]
        a = float(repeat_prior)
        rows.append(owned)
        weights.append(
            repeat_scale * (counts.data[lo:hi] + a * popularity[owned]) / (n_baskets[user] + a)
        )
    out_rows = np.concatenate(rows).astype(np.int32) if len(rows) > 1 else basket_rows
    out_w = np.concatenate(weights) if len(weights) > 1 else weights[0]
    explain = np.zeros(out_rows.size, dtype=bool)
    explain[:n_b] = True
    return (
        np.array([0, out_rows.size], dtype=np.int64),
        out_rows,
        np.minimum(np.maximum(out_w, 0.0), 1.0).astype(np.float32),  # np.clip, cheaper
        explain,
        ~explain,
    )


def _basket_prior_entries(
    basket_indptr: np.ndarray, basket_rows: np.ndarray, table: NeighbourTable, m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the basket prior of the popular items no basket item lists (query, item, p)."""
    top, _, listed = popular_listing(table)
    starts = basket_indptr[:-1][np.diff(basket_indptr) > 0]
    queries = np.flatnonzero(np.diff(basket_indptr) > 0)
    # per query: the basket item with the fewest baskets, and the popular items some item lists
    fewest = np.minimum.reduceat(table.item_support[basket_rows].astype(np.float64), starts)
    covered = np.logical_or.reduceat(listed[basket_rows], starts, axis=0)
    strength = m / np.maximum(fewest + m, 1e-12)
    covered[strength <= 0] = True
    q, pos = np.nonzero(~covered)
    items = top[pos]
    share = table.item_support[items].astype(np.float64) / max(table.n_rows, 1)
    return queries[q], items, strength[q] * share


def popular_listing(table: NeighbourTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the popular items, their ranks, and which of them each item lists (or is).

    ``listed[i, r]`` tells whether the ``r``-th most popular item is item ``i``
    or one of its neighbours; cached per table (``n_items x``
    :data:`POPULAR_PRIOR_ITEMS` booleans).

    Examples
    --------
    >>> t = NeighbourTable(indptr=np.array([0, 1, 1, 1]), indices=np.array([1], np.int32),
    ...                    scores=np.ones(1, np.float32), counts=np.ones(1, np.int32),
    ...                    item_support=np.array([1, 3, 2], np.int32), n_rows=4)
    >>> top, rank, listed = popular_listing(t)
    >>> top.tolist(), listed.astype(int).tolist()  # item 0 lists item 1 and is itself
    ([1, 2, 0], [[1, 0, 1], [1, 0, 0], [0, 1, 0]])
    """
    hit = _LISTING_CACHE.get(table)
    if hit is not None:
        return hit
    top, rank = most_popular_rows(table)
    n_items = table.item_support.shape[0]
    listed = np.zeros((n_items, top.size), dtype=bool)
    rows = np.repeat(np.arange(n_items), np.diff(table.indptr))
    r = rank[table.indices]
    keep = r >= 0
    listed[rows[keep], r[keep]] = True
    listed[top, np.arange(top.size)] = True
    _LISTING_CACHE[table] = (top, rank, listed)
    return top, rank, listed


def _repeat_entries(
    user_rows: np.ndarray,
    counts: sp.csr_matrix,
    n_baskets: np.ndarray,
    popularity: np.ndarray,
    a: float,
    repeat_scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Known users' repeat probabilities of the items they bought: (query, item, probability)."""
    known = user_rows >= 0
    h_ip, take = row_positions(counts.indptr, np.where(known, user_rows, -1))
    q = np.repeat(np.arange(user_rows.size), np.diff(h_ip))
    items = counts.indices[take].astype(np.int32)
    h = counts.data[take].astype(np.float64)
    return q, items, repeat_scale * (h + a * popularity[items]) / (n_baskets[user_rows[q]] + a)


@dataclass(frozen=True)
class Calibration:
    """The chosen prior strengths and every value tried (``None`` when not calibrated)."""

    basket_prior: float
    repeat_prior: float | None
    trials: pd.DataFrame | None


def calibrate(
    baskets: sp.csr_matrix,
    basket_users: np.ndarray,
    basket_order: np.ndarray,
    n_users: int,
    fit_table: Callable[[sp.csr_matrix], NeighbourTable],
    basket_prior: float | str,
    repeat_prior: float | str | None,
    num_threads: int = 0,
) -> Calibration:
    """Choose ``basket_prior`` / ``repeat_prior`` (those set to ``"auto"``) on held-out baskets.

    Parameters
    ----------
    baskets : scipy.sparse.csr_matrix
        Training baskets × items (presence).
    basket_users : numpy.ndarray
        Owner row of every basket.
    basket_order : numpy.ndarray
        Basket rows from oldest to newest: the newest :data:`VALIDATION_SHARE` are held out.
    n_users : int
    fit_table : callable
        Builds the neighbour table of a baskets × items matrix (the model's own settings).
    basket_prior, repeat_prior : float, "auto" or None
        Fixed values are kept; ``repeat_prior=None`` means no repeat scoring.
    num_threads : int

    Returns
    -------
    Calibration
        With too few held-out baskets (fewer than :data:`MIN_VALIDATION_BASKETS`
        usable), ``"auto"`` falls back to :data:`FALLBACK_BASKET_PRIOR` and to no
        repeat scoring, and ``trials`` is ``None``.
    """
    auto_m, auto_a = basket_prior == "auto", repeat_prior == "auto"
    fixed_m = FALLBACK_BASKET_PRIOR if auto_m else float(basket_prior)
    fixed_a = None if auto_a or repeat_prior is None else float(repeat_prior)
    if not (auto_m or auto_a):
        return Calibration(fixed_m, fixed_a, None)
    n_b = baskets.shape[0]
    n_val = int(n_b * VALIDATION_SHARE)
    if n_val < MIN_VALIDATION_BASKETS:
        return Calibration(fixed_m, fixed_a, None)
    held, kept = basket_order[n_b - n_val :], basket_order[: n_b - n_val]
    train = baskets[np.sort(kept)]
    table = fit_table(train)
    support = table.item_support
    popularity = support.astype(np.float64) / max(train.shape[0], 1)
    counts, n_baskets = user_basket_counts(train, basket_users[np.sort(kept)], n_users)
    counts, _ = without_durables(counts, n_baskets)
    queries = _held_out_queries(baskets[held], basket_users[held], support)
    if queries is None:
        return Calibration(fixed_m, fixed_a, None)
    fill = sort_scores(support.astype(np.float32))[0]
    rows: list[dict[str, object]] = []
    results: dict[tuple[float, float | None], np.ndarray] = {}

    def hit_rate(m: float, a: float | None) -> np.ndarray:
        """Per held-out basket: the share of the draws whose hidden item is in the top 10."""
        probs = conditional_probabilities(table, m)
        hits = []
        for vis_ip, vis_rows, hidden, users in queries:
            q = probability_queries(
                vis_ip,
                vis_rows,
                users,
                counts,
                n_baskets,
                popularity,
                a,
                table=table,
                basket_prior=m,
            )
            c = Constraints.make(
                hidden.size,
                support.size,
                exclude_indptr=vis_ip,
                exclude_indices=vis_rows,
                fill_order=fill,
            )
            ids, _, _ = constrained_topn_neighbours(
                q[0],
                q[1],
                q[2],
                table.indptr,
                table.indices,
                probs,
                LIST_LENGTH,
                c,
                query_explain=q[3],
                query_direct=q[4],
                combine="noisy_or",
                num_threads=num_threads,
            )
            hits.append((ids == hidden[:, None]).any(axis=1))
        per_basket = np.mean(hits, axis=0)
        rows.append({"basket_prior": m, "repeat_prior": a, "hit_rate@10": float(per_basket.mean())})
        results[(m, a)] = per_basket
        return per_basket

    # simplest first: the strongest pull towards popularity
    m_grid = tuple(sorted(PRIOR_GRID, reverse=True)) if auto_m else (fixed_m,)
    first_a = None if auto_a else fixed_a
    best_m = _one_standard_error(m_grid, [hit_rate(m, first_a) for m in m_grid])
    best_a = fixed_a
    returning = any(bool((n_baskets[users] > 0).any()) for _, _, _, users in queries)
    if auto_a and returning:  # (without returning customers, repeats cannot be judged: none)
        # ties go to the customer's history, with the strongest prior (the most cautious use)
        a_grid: tuple[float | None, ...] = (*sorted(PRIOR_GRID, reverse=True), None)
        scored = [hit_rate(best_m, a) for a in a_grid[:-1]] + [results[(best_m, None)]]
        best_a = a_grid[int(np.argmax([h.mean() for h in scored]))]
    if auto_m:  # the best-seller list (the strongest prior, no repeats) unless measurably beaten
        simplest = (m_grid[0], first_a)
        best_m, best_a = _one_standard_error(
            (simplest, (best_m, best_a)), [results[simplest], results[(best_m, best_a)]]
        )
    trials = pd.DataFrame(rows).astype({"basket_prior": float})
    trials["chosen"] = (trials["basket_prior"] == best_m) & (
        trials["repeat_prior"].isna() if best_a is None else trials["repeat_prior"] == best_a
    )
    return Calibration(float(best_m), best_a, trials)


def _one_standard_error(options: tuple[Any, ...], hits: list[np.ndarray]) -> Any:
    """Return the first (simplest) option within one standard error of the best one.

    ``hits[i]`` holds, per held-out basket, the hit rate of ``options[i]``; the
    standard error is that of the paired per-basket difference to the best
    option (the "one-standard-error rule", Hastie, Tibshirani & Friedman, *The Elements of
    Statistical Learning*, 2nd ed., §7.10:
    prefer the simpler model unless a more complex one is measurably better).

    Examples
    --------
    >>> same = np.array([1.0, 0.0, 1.0, 0.0])
    >>> _one_standard_error(("simple", "complex"), [same, np.array([1.0, 0.0, 1.0, 0.5])])
    'simple'
    >>> _one_standard_error(("simple", "complex"), [np.zeros(4), np.ones(4)])
    'complex'
    """
    means = [float(h.mean()) for h in hits]
    best = int(np.argmax(means))  # the first of equal best: the simplest
    for i, h in enumerate(hits[:best]):
        diff = hits[best] - h
        se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
        if diff.mean() <= se:
            return options[i]
    return options[best]


def _held_out_queries(
    held: sp.csr_matrix, users: np.ndarray, support: np.ndarray
) -> list[tuple[np.ndarray, ...]] | None:
    """Return the held-out queries of every draw (``None`` if too few baskets are usable).

    A draw is the visible CSR (indptr, rows), the hidden item and the user of
    every usable held-out basket.
    """
    held = held.tocsr()
    held.sort_indices()
    known = support[held.indices] > 0
    q_of = np.repeat(np.arange(held.shape[0]), np.diff(held.indptr))[known]
    items = held.indices[known].astype(np.int32)
    sizes = np.bincount(q_of, minlength=held.shape[0])
    usable = sizes >= 2
    if usable.sum() < MIN_VALIDATION_BASKETS:
        return None
    keep = usable[q_of]
    q_of, items = q_of[keep], items[keep]
    remap = np.cumsum(usable) - 1
    q_of = remap[q_of]
    sizes = sizes[usable]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rng = np.random.default_rng(0)
    out: list[tuple[np.ndarray, ...]] = []
    for _ in range(DRAWS):
        pick = starts + rng.integers(0, sizes)
        hidden = items[pick]
        mask = np.ones(items.size, dtype=bool)
        mask[pick] = False
        indptr = np.zeros(sizes.size + 1, dtype=np.int64)
        np.cumsum(sizes - 1, out=indptr[1:])
        out.append((indptr, items[mask], hidden, users[usable].astype(np.int32)))
    return out
