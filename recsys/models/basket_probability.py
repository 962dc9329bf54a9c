"""Basket-completion probabilities: how likely an item is to join a basket.

``ItemItem(similarity="confidence")`` scores cross-sells as probabilities
that the item belongs in the basket, from two pieces of evidence:

* **co-purchase** — for each basket item ``i``, the smoothed conditional
  probability ``P(j | i) = (c(i, j) + m p_j) / (c(i) + m)`` (``c(i, j)``:
  training baskets holding both, ``c(i)``: holding ``i``, ``p_j``: share of
  baskets holding ``j``).  The prior strength ``m`` (``basket_prior``) pulls
  rarely seen items towards plain popularity; the strongest basket item
  counts: ``b_j = max_i P(j | i)``.
* **repeat purchase** — for a known customer who put ``j`` in ``h`` of their
  ``n`` past baskets, ``r_j = (h + a p_j) / (n + a)``, with prior strength
  ``a`` (``repeat_prior``).

The two combine as independent reasons to buy: ``1 - (1 - b_j)(1 - r_j)``.

Calibration
-----------
The best ``m`` and ``a`` differ a lot between shops (measured optima from 5
on Online Retail to several hundred on Groceries, where co-purchases carry
almost no signal beyond best-sellers).  With ``"auto"`` (the default) they are
chosen on the model's own training data: the last sixth of the baskets (by
time when the interactions have times, else in the order of the basket IDs) is
held out, one item is hidden from each held-out basket with at least two
known items, and the grid values with the best hit rate at 10 win — first
``m`` without repeats, then ``a`` (or no repeats at all) with that ``m``.
:func:`calibrate` returns the table of every value tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.sparse import row_positions
from recsys.core.constraints import Constraints
from recsys.core.cooccurrence import NeighbourTable
from recsys.core.topn_neighbours import constrained_topn_neighbours
from recsys.core.topn_shared import sort_scores

__all__ = [
    "PRIOR_GRID",
    "Calibration",
    "calibrate",
    "conditional_probabilities",
    "probability_queries",
    "user_basket_counts",
]

#: Prior strengths tried by the calibration (for ``basket_prior`` and ``repeat_prior``).
PRIOR_GRID: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
#: ``basket_prior`` when there is too little data to calibrate (the middle of the measured optima).
FALLBACK_BASKET_PRIOR = 10.0
#: Share of the baskets held out for calibration, and the minimum number of usable ones.
VALIDATION_SHARE = 1 / 6
MIN_VALIDATION_BASKETS = 20
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


def probability_queries(
    basket_indptr: np.ndarray,
    basket_rows: np.ndarray,
    user_rows: np.ndarray,
    counts: sp.csr_matrix | None,
    n_baskets: np.ndarray | None,
    popularity: np.ndarray | None,
    repeat_prior: float | None,
    repeat_scale: float = 1.0,
) -> tuple[np.ndarray, ...]:
    """Build the query CSR for ``constrained_topn_neighbours(..., combine="noisy_or")``.

    Basket entries (weight 1) bring their neighbours' ``P(j | i)``; for known
    users (``user_rows >= 0``) every item of their past baskets is a direct
    entry with ``repeat_scale * (h + a p_j) / (n + a)``.

    Returns
    -------
    indptr, rows, weights, explain, direct : numpy.ndarray
        ``explain`` marks the basket entries, ``direct`` the history entries.

    Examples
    --------
    >>> counts = sp.csr_matrix(np.array([[0, 2, 0]], dtype=np.float32))
    >>> q = probability_queries(np.array([0, 1]), np.array([0]), np.array([0]), counts,
    ...                         np.array([4]), np.array([0.5, 0.5, 0.5]), repeat_prior=2.0)
    >>> [a.tolist() for a in q]
    [[0, 2], [0, 1], [1.0, 0.5], [True, False], [False, True]]
    """
    n_q = basket_indptr.shape[0] - 1
    b_len = np.diff(basket_indptr)
    ones = np.ones(basket_rows.size, dtype=bool)
    known = user_rows >= 0
    if repeat_prior is None or counts is None or repeat_scale <= 0 or not known.any():
        return (
            basket_indptr.astype(np.int64),
            basket_rows.astype(np.int32),
            np.ones(basket_rows.size, np.float32),
            ones,
            ~ones,
        )
    assert n_baskets is not None and popularity is not None
    a = float(repeat_prior)
    if n_q == 1:  # one basket at the checkout: the same entries with fewer array operations
        u = int(user_rows[0])
        lo, hi = counts.indptr[u], counts.indptr[u + 1]
        h_ix = counts.indices[lo:hi].astype(np.int32)
        r = repeat_scale * (counts.data[lo:hi] + a * popularity[h_ix]) / (n_baskets[u] + a)
        weights = np.empty(basket_rows.size + h_ix.size, dtype=np.float32)
        weights[: basket_rows.size] = 1.0
        weights[basket_rows.size :] = np.clip(r, 0.0, 1.0)
        explain = np.zeros(weights.size, dtype=bool)
        explain[: basket_rows.size] = True
        return (
            np.array([0, weights.size], dtype=np.int64),
            np.concatenate([basket_rows, h_ix]).astype(np.int32),
            weights,
            explain,
            ~explain,
        )
    h_ip, take = row_positions(counts.indptr, np.where(known, user_rows, -1))
    h_len = np.diff(h_ip)
    h_ix, h_count = counts.indices[take].astype(np.int32), counts.data[take].astype(np.float64)
    h_user = np.repeat(np.where(known, user_rows, 0), h_len)
    r = repeat_scale * (h_count + a * popularity[h_ix]) / (n_baskets[h_user] + a)
    q_of = np.concatenate([np.repeat(np.arange(n_q), b_len), np.repeat(np.arange(n_q), h_len)])
    order = np.argsort(q_of, kind="stable")
    indptr = np.zeros(n_q + 1, dtype=np.int64)
    np.cumsum(b_len + h_len, out=indptr[1:])
    rows = np.concatenate([basket_rows, h_ix])[order].astype(np.int32)
    weights = np.clip(np.concatenate([np.ones(basket_rows.size), r]), 0.0, 1.0)[order].astype(
        np.float32
    )
    explain = np.concatenate([ones, np.zeros(h_ix.size, dtype=bool)])[order]
    return indptr, rows, weights, explain, ~explain


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
    queries = _held_out_queries(baskets[held], basket_users[held], support)
    if queries is None:
        return Calibration(fixed_m, fixed_a, None)
    fill = sort_scores(support.astype(np.float32))[0]
    rows: list[dict[str, object]] = []
    results: dict[tuple[float, float | None], float] = {}

    def hit_rate(m: float, a: float | None) -> float:
        probs = conditional_probabilities(table, m)
        hits = []
        for vis_ip, vis_rows, hidden, users in queries:
            q = probability_queries(vis_ip, vis_rows, users, counts, n_baskets, popularity, a)
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
            hits.append((ids == hidden[:, None]).any(axis=1).mean())
        rate = float(np.mean(hits))
        rows.append({"basket_prior": m, "repeat_prior": a, "hit_rate@10": rate})
        results[(m, a)] = rate
        return rate

    m_grid = PRIOR_GRID if auto_m else (fixed_m,)
    best_m = max(m_grid, key=lambda m: (hit_rate(m, None if auto_a else fixed_a), -m_grid.index(m)))
    best_a = fixed_a
    if auto_a:
        a_grid: tuple[float | None, ...] = (None, *PRIOR_GRID)
        scored: dict[float | None, float] = {None: results[(best_m, None)]}
        for a in PRIOR_GRID:
            scored[a] = hit_rate(best_m, a)
        best_a = max(a_grid, key=lambda a: (scored[a], -a_grid.index(a)))
    trials = pd.DataFrame(rows).astype({"basket_prior": float})
    return Calibration(float(best_m), best_a, trials)


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
