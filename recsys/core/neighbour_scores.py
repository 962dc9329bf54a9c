"""Scores of chosen items from neighbour lists: what the neighbour top-n kernels rank by.

:func:`neighbour_item_scores` computes, for every query and every wanted
item ``j``, the score :func:`~recsys.core.topn_neighbours.constrained_topn_neighbours`
gives ``j`` — the same float32 arithmetic in the same order, so a model's
``score_items`` agrees with its ``recommend`` to the last bit.  A query costs
``O(entries x k x log m)`` for ``m`` wanted items: upgrades score a handful of
tiers for one customer in a few microseconds, without touching the rest of
the catalog.
"""

from __future__ import annotations

import numba
import numpy as np

from recsys.core._scoring import combined, sorted_position

__all__ = ["history_item_probabilities", "neighbour_item_scores"]


#: Words of the wanted-id filter in :func:`_scores_kernel` (a power of two).
_FILTER_WORDS = 64


@numba.njit(cache=True, nogil=True)
def _scores_kernel(
    q_indptr,
    q_indices,
    q_weights,
    q_direct,
    noisy_or,
    sim_indptr,
    sim_indices,
    sim_data,
    wanted,
    out,
):  # pragma: no cover - compiled
    """Fill ``out``; return False when a neighbour row of ``sim_indptr`` is out of bounds."""
    m = wanted.shape[0]
    nnz = sim_indices.shape[0]
    basket = np.zeros(m, dtype=np.float32)
    direct = np.zeros(m, dtype=np.float32)
    # a 4096-bit filter of the wanted ids: a neighbour that is not wanted (nearly all of them)
    # is passed over by one predictable test instead of a mispredicted binary search
    seen = np.zeros(_FILTER_WORDS, dtype=np.uint64)
    for k in range(m):
        x = np.uint64(wanted[k])
        seen[(x >> np.uint64(6)) & np.uint64(_FILTER_WORDS - 1)] |= np.uint64(1) << (
            x & np.uint64(63)
        )
    for qi in range(q_indptr.shape[0] - 1):
        basket[:] = 0.0
        direct[:] = 0.0
        for p in range(q_indptr[qi], q_indptr[qi + 1]):
            i = q_indices[p]
            w = q_weights[p]
            if q_direct[p]:
                k = sorted_position(wanted, np.int64(i))  # one specialisation for both
                if k >= 0:
                    if noisy_or:
                        direct[k] = direct[k] + w - direct[k] * w
                    else:
                        basket[k] += w
                continue
            r0 = sim_indptr[i]
            r1 = sim_indptr[i + 1]
            if r0 < 0 or r1 < r0 or r1 > nnz:
                return False
            for r in range(r0, r1):
                x = np.uint64(sim_indices[r])
                if not (
                    seen[(x >> np.uint64(6)) & np.uint64(_FILTER_WORDS - 1)] >> (x & np.uint64(63))
                ) & np.uint64(1):
                    continue
                k = sorted_position(wanted, np.int64(sim_indices[r]))
                # the arithmetic of topn_neighbours._neighbour_worker, written out in both hot loops
                if k >= 0:
                    contribution = w * sim_data[r]
                    if noisy_or:
                        if contribution > basket[k]:
                            basket[k] = contribution
                    else:
                        basket[k] += contribution
        for k in range(m):
            out[qi, k] = combined(basket[k], direct[k], noisy_or)
    return True


def neighbour_item_scores(
    query_indptr: np.ndarray,
    query_indices: np.ndarray,
    query_weights: np.ndarray,
    sim_indptr: np.ndarray,
    sim_indices: np.ndarray,
    sim_data: np.ndarray,
    items: np.ndarray,
    *,
    query_direct: np.ndarray | None = None,
    combine: str = "sum",
) -> np.ndarray:
    """Each query's score of each of ``items``, as the neighbour top-n kernels compute it.

    Parameters
    ----------
    query_indptr, query_indices, query_weights : array_like
        CSR ``(n_queries, n_items)`` of the queries' entries.
    sim_indptr, sim_indices, sim_data : array_like
        CSR ``(n_items, n_items)`` of neighbours and similarities (or probabilities).
    items : array_like of int
        The wanted item ids (any order, repeats allowed).
    query_direct : array_like of bool, optional
        Entries that score their own item (see ``constrained_topn_neighbours``).
    combine : {"sum", "noisy_or"}
        ``sum``: ``sum_i w_i sim(i, j)``; ``noisy_or``: ``1 - (1 - max_i w_i sim(i, j)) (1 - d_j)``.

    Returns
    -------
    numpy.ndarray of float32, shape (n_queries, len(items))
        0 where nothing links a query to an item.

    Examples
    --------
    >>> sim = ([0, 2, 3, 3], [1, 2, 2], [0.5, 0.25, 1.0])
    >>> neighbour_item_scores([0, 2], [0, 1], [1.0, 1.0], *sim, [2, 1]).tolist()
    [[1.25, 0.5]]
    >>> neighbour_item_scores([0, 3], [0, 1, 0], [1.0, 1.0, 0.5], *sim, [2, 0],
    ...                       query_direct=[False, False, True], combine="noisy_or").tolist()
    [[1.0, 0.5]]
    """
    if combine not in ("sum", "noisy_or"):
        raise ValueError(f"combine must be 'sum' or 'noisy_or', got {combine!r}")
    # the similarity arrays are a model's (millions of entries): used as they are, checked row
    # by row in the kernel; the queries are small and checked here
    q_ip = np.ascontiguousarray(query_indptr, dtype=np.int64)
    q_ix = np.ascontiguousarray(query_indices, dtype=np.int64)
    q_w = np.ascontiguousarray(query_weights, dtype=np.float32)
    s_ip = _integers(sim_indptr)
    s_ix = _integers(sim_indices)
    s_data = np.ascontiguousarray(sim_data, dtype=np.float32)
    n_items = s_ip.shape[0] - 1
    if (
        q_ip.ndim != 1
        or q_ip.shape[0] < 1
        or q_ip[0] != 0
        or q_ip[-1] != q_ix.shape[0]
        or (q_ip.shape[0] > 2 and (np.diff(q_ip) < 0).any())  # one query: the ends say it all
    ):
        raise ValueError("query_indptr must start at 0, not decrease and end at len(query_indices)")
    if q_w.shape != q_ix.shape:
        raise ValueError(
            f"query_weights must have the shape of query_indices {q_ix.shape}, got {q_w.shape}"
        )
    if s_ip.ndim != 1 or s_ip.shape[0] < 1 or s_data.shape != s_ix.shape:
        raise ValueError("sim_indptr / sim_indices / sim_data are not a valid CSR matrix")
    if q_ix.size and (q_ix.min() < 0 or q_ix.max() >= n_items):
        raise ValueError(f"query_indices must be item ids in [0, {n_items})")
    direct = (
        np.zeros(q_ix.shape, dtype=np.bool_)
        if query_direct is None
        else np.ascontiguousarray(query_direct, dtype=np.bool_)
    )
    if direct.shape != q_ix.shape:
        raise ValueError(
            f"query_direct must have the shape of query_indices {q_ix.shape}, got {direct.shape}"
        )
    wanted, column = _sorted_unique(np.asarray(items, dtype=np.int64).ravel())
    out = np.zeros((q_ip.shape[0] - 1, wanted.size), dtype=np.float32)
    if wanted.size and out.shape[0]:
        if not _scores_kernel(
            q_ip, q_ix, q_w, direct, combine == "noisy_or", s_ip, s_ix, s_data, wanted, out
        ):
            raise ValueError("sim_indptr / sim_indices are not a valid CSR matrix over the items")
    return out[:, column.ravel()]


def _sorted_unique(items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``np.unique(items, return_inverse=True)``, without its cost for a few items.

    Upgrades ask for a handful of tiers: a Python sort of a few values costs a
    tenth of NumPy's ``unique``.

    Examples
    --------
    >>> [a.tolist() for a in _sorted_unique(np.array([7, 3, 7]))]
    [[3, 7], [1, 0, 1]]
    """
    if items.size > 16:
        return np.unique(items, return_inverse=True)
    values = items.tolist()
    wanted = sorted(set(values))
    where = {v: k for k, v in enumerate(wanted)}
    return (
        np.array(wanted, dtype=np.int64),
        np.array([where[v] for v in values], dtype=np.int64),
    )


def _integers(values: object) -> np.ndarray:
    """Return an int32 or int64 array as it is (no copy of a model's arrays), else as int64."""
    arr = np.asarray(values)
    if arr.dtype in (np.int32, np.int64) and arr.flags.c_contiguous:
        return arr
    return np.ascontiguousarray(arr, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _history_kernel(
    history,
    support,
    n_rows,
    popular,
    listed,
    basket_prior,
    repeat_items,
    repeat_counts,
    repeat_orders,
    repeat_prior,
    popularity,
    repeat_scale,
    sim_indptr,
    sim_indices,
    sim_data,
    wanted,
    out,
):  # pragma: no cover - compiled
    """Fill ``out`` (see :func:`history_item_probabilities`); False on a bad neighbour row."""
    m = wanted.shape[0]
    nnz = sim_indices.shape[0]
    n_b = history.shape[0]
    basket = np.zeros(m, dtype=np.float32)
    direct = np.zeros(m, dtype=np.float32)
    # the filter of _scores_kernel, written out again: as a shared @njit helper (inlined or not)
    # the scan measured about ten times slower
    seen = np.zeros(_FILTER_WORDS, dtype=np.uint64)
    for k in range(m):
        x = np.uint64(wanted[k])
        seen[(x >> np.uint64(6)) & np.uint64(_FILTER_WORDS - 1)] |= np.uint64(1) << (
            x & np.uint64(63)
        )
    one = np.float32(1.0)
    # the history's items (weight 1): the largest P(j | i) over them
    for p in range(n_b):
        i = history[p]
        r0 = sim_indptr[i]
        r1 = sim_indptr[i + 1]
        if r0 < 0 or r1 < r0 or r1 > nnz:
            return False
        for r in range(r0, r1):
            x = np.uint64(sim_indices[r])
            if not (
                seen[(x >> np.uint64(6)) & np.uint64(_FILTER_WORDS - 1)] >> (x & np.uint64(63))
            ) & np.uint64(1):
                continue
            k = sorted_position(wanted, np.int64(sim_indices[r]))
            if k >= 0:
                contribution = one * sim_data[r]
                if contribution > basket[k]:
                    basket[k] = contribution
    fewest = 0.0
    if n_b > 0:
        fewest = np.inf
        for p in range(n_b):
            fewest = min(fewest, np.float64(support[history[p]]))
    denominator = np.float64(max(n_rows, 1))
    # the popular items no history item lists: the basket prior, as direct entries
    if n_b > 0 and basket_prior >= 0:
        strength = basket_prior / max(fewest + basket_prior, 1e-12)
        if strength > 0:
            for t in range(popular.shape[0]):
                covered = False
                for p in range(n_b):
                    if listed[history[p], t]:
                        covered = True
                        break
                if covered:
                    continue
                item = popular[t]
                w = np.float32(min(max(strength * support[item] / denominator, 0.0), 1.0))
                k = sorted_position(wanted, np.int64(item))
                if k >= 0:
                    direct[k] = direct[k] + w - direct[k] * w
    # the customer's own items: their repeat probability, as direct entries
    for p in range(repeat_items.shape[0]):
        j = repeat_items[p]
        h = np.float64(repeat_counts[p])
        w64 = repeat_scale * (h + repeat_prior * popularity[j]) / (repeat_orders + repeat_prior)
        w = np.float32(min(max(w64, 0.0), 1.0))
        k = sorted_position(wanted, np.int64(j))
        if k >= 0:
            direct[k] = direct[k] + w - direct[k] * w
    for k in range(m):
        out[k] = combined(basket[k], direct[k], True)
    # wanted items without evidence, outside the history: their basket prior m p_j / (c(i) + m)
    if n_b > 0 and basket_prior > 0:
        at_fewest = basket_prior / max(fewest + basket_prior, 1e-12)
        share = 1.0 / denominator
        for k in range(m):
            j = wanted[k]
            if out[k] != 0 or support[j] <= 0:
                continue
            inside = False
            for p in range(n_b):
                if history[p] == j:
                    inside = True
                    break
            if not inside:
                out[k] = (at_fewest * share) * support[j]
    return True


def history_item_probabilities(
    history: np.ndarray,
    items: np.ndarray,
    *,
    sim_indptr: np.ndarray,
    sim_indices: np.ndarray,
    sim_data: np.ndarray,
    item_support: np.ndarray,
    n_rows: int,
    popular: np.ndarray,
    listed: np.ndarray,
    basket_prior: float | None,
    repeat_items: np.ndarray | None = None,
    repeat_counts: np.ndarray | None = None,
    repeat_orders: float = 0.0,
    repeat_prior: float = 0.0,
    popularity: np.ndarray | None = None,
    repeat_scale: float = 1.0,
) -> np.ndarray:
    """One customer's probability of each wanted item joining their basket, in one pass.

    The numbers of the basket-probability model's single-customer score (its
    ``noisy_or`` neighbour queries through :func:`neighbour_item_scores`, then
    the prior of the items without evidence), computed without building the
    queries: the history's items bring ``max_i P(j | i)``; the popular items
    no history item lists, the basket prior ``m p_j / (c + m)`` at the
    history item with the fewest baskets ``c``; the customer's own items,
    their repeat probability ``s (h + a p_j) / (n + a)``; the direct entries
    combine by noisy-or with the neighbour evidence, in that order and in the
    same float32 arithmetic; a wanted item with no evidence outside the
    history gets its basket prior.

    Parameters
    ----------
    history : numpy.ndarray of int
        The customer's item rows (the "basket").
    items : numpy.ndarray of int
        The wanted item rows (any order, repeats allowed).
    sim_indptr, sim_indices, sim_data : numpy.ndarray
        The neighbour table and its conditional probabilities ``P(j | i)``.
    item_support : numpy.ndarray of int
        Baskets holding each item; ``n_rows`` baskets in all.
    popular, listed : numpy.ndarray
        The most popular items, and which of them each item lists (or is):
        ``listed[i, t]``.
    basket_prior : float or None
        ``m`` (``None``: no prior).
    repeat_items, repeat_counts : numpy.ndarray, optional
        The customer's items and in how many of their ``repeat_orders``
        orders each was; ``repeat_prior`` is ``a``, ``popularity`` the items'
        ``p_j``, ``repeat_scale`` ``s`` (no repeat term without them).

    Returns
    -------
    numpy.ndarray of float32, shape (len(items),)

    Examples
    --------
    Item 0's neighbours are 1 (0.5) and 2 (0.25); a customer who bought item 0
    once in two orders (``a = 1``, ``p_0 = 0.5``):

    >>> sim = dict(sim_indptr=np.array([0, 2, 2, 2]), sim_indices=np.array([1, 2], np.int32),
    ...            sim_data=np.array([0.5, 0.25], np.float32))
    >>> history_item_probabilities(
    ...     np.array([0]), np.array([2, 1, 0]), **sim, item_support=np.array([2, 2, 1]),
    ...     n_rows=4, popular=np.zeros(0, np.int64), listed=np.zeros((3, 0), bool),
    ...     basket_prior=None, repeat_items=np.array([0]), repeat_counts=np.array([1.0]),
    ...     repeat_orders=2.0, repeat_prior=1.0, popularity=np.array([0.5, 0.5, 0.25])).tolist()
    [0.25, 0.5, 0.5]
    """
    history = np.ascontiguousarray(history, dtype=np.int64)
    wanted, column = _sorted_unique(np.asarray(items, dtype=np.int64).ravel())
    n_items = np.asarray(sim_indptr).shape[0] - 1
    if history.size and (history.min() < 0 or history.max() >= n_items):
        raise ValueError(f"history must hold item rows in [0, {n_items})")
    if wanted.size and (wanted[0] < 0 or wanted[-1] >= n_items):
        raise ValueError(f"items must be item rows in [0, {n_items})")
    if repeat_items is None or popularity is None or repeat_counts is None:
        repeat_items = np.zeros(0, dtype=np.int64)
        repeat_counts = np.zeros(0, dtype=np.float64)
        popularity = np.zeros(1, dtype=np.float64)
    out = np.zeros(wanted.size, dtype=np.float32)
    if wanted.size and not _history_kernel(
        history,
        item_support,
        int(n_rows),
        np.asarray(popular, dtype=np.int64),
        listed,
        -1.0 if basket_prior is None else float(basket_prior),
        np.asarray(repeat_items, dtype=np.int64),
        repeat_counts,
        float(repeat_orders),
        float(repeat_prior),
        np.asarray(popularity, dtype=np.float64),
        float(repeat_scale),
        _integers(sim_indptr),
        _integers(sim_indices),
        np.ascontiguousarray(sim_data, dtype=np.float32),
        wanted,
        out,
    ):
        raise ValueError("sim_indptr / sim_indices are not a valid CSR matrix over the items")
    return out[column]
