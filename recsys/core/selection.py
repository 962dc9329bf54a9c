"""Greedy constrained top-n of one query's candidates, then the fill: the heart of the kernels.

Per query, :func:`select`

1. takes candidates (item, score) in ranking order — score descending, ties
   by item id ascending (:func:`~recsys.core.heap.better`) — skipping an item
   when its score is NaN, it is excluded for the query (``mark``), not
   allowed, already taken, or its group already holds ``max_per_group`` items;
2. while fewer than ``n`` items are taken, walks the query's fill order
   under the same rules; filled items get the fill order's score;
3. pads the rest with id ``-1`` / score ``-inf``.

Every query therefore gets exactly ``n`` items whenever ``n`` items satisfy
the constraints and are candidates or in its fill order.

Unique candidates without group caps go through a bounded heap of ``n``
(most candidates are rejected by one comparison with its root); otherwise
all eligible candidates are heapified (a max-heap of their positions) and
popped until ``n`` are taken: ``O(c + t log c)`` for ``c`` candidates and
``t`` pops.

:func:`select` takes candidates as arrays of ids and scores;
:func:`select_items` takes ids and a score per *item* (an accumulator over
the catalog, as the neighbour kernel builds), which saves copying the
candidates out first.

The tuple of constraints is unpacked once per query into local arrays: the
loops read plain arrays (a helper taking the tuple, called per item, costs
several times the loop itself).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from recsys.core.heap import (
    better,
    pair_drain,
    pair_offer,
    sift_down_best,
    sift_down_worst,
)

__all__ = ["SelectScratch", "select", "select_items", "select_scratch"]


class SelectScratch(NamedTuple):
    """Per-worker scratch of :func:`select`: row ``w`` belongs to worker ``w``.

    Attributes
    ----------
    heaps : ndarray of int32, shape (n_workers, max candidates)
    marks : ndarray of bool, shape (n_workers, n_items)
        All False between queries.
    gcounts : ndarray of int32, shape (n_workers, max(n_groups, 1))
        All zero between queries.
    positions : ndarray of int64, shape (n_workers, n)
        Where :func:`select` writes positions the caller does not want.
    """

    heaps: np.ndarray
    marks: np.ndarray
    gcounts: np.ndarray
    positions: np.ndarray


def select_scratch(n_workers: int, n_items: int, n_groups: int, heap_size: int) -> SelectScratch:
    """Fresh scratch for :func:`select` (``positions`` left with ``n = 0``: set it per call).

    Examples
    --------
    >>> s = select_scratch(2, 5, 0, 5)
    >>> s.marks.shape, s.gcounts.shape, bool(s.marks.any())
    ((2, 5), (2, 1), False)
    """
    return SelectScratch(
        np.empty((n_workers, max(heap_size, 1)), dtype=np.int32),
        np.zeros((n_workers, max(n_items, 1)), dtype=np.bool_),
        np.zeros((n_workers, max(n_groups, 1)), dtype=np.int32),
        np.empty((n_workers, 0), dtype=np.int64),
    )


@numba.njit(cache=True, nogil=True)
def _take_bounded(
    ci, cs, m, heap, mark, allowed, a_row, has_allowed, out_ids, out_scores, out_pos
):  # pragma: no cover - compiled
    """Top-n of unique candidates without group caps: a bounded min-heap of ``n`` positions."""
    n = out_ids.shape[0]
    size = np.int64(0)  # not a literal 0: Numba would compile the callees for it too
    for k in range(m):
        s = cs[k]
        j = ci[k]
        if size == n and not better(s, j, cs[heap[0]], ci[heap[0]]):
            continue  # most candidates end here, after one comparison
        if s != s or mark[j]:
            continue
        if has_allowed and not allowed[a_row, j]:
            continue
        if size < n:  # sift up, written out: a call here slows the whole loop down
            pos = size
            size += 1
            while pos > 0:
                parent = (pos - 1) >> 1
                hp = heap[parent]
                if better(cs[hp], ci[hp], s, j):
                    heap[pos] = hp
                    pos = parent
                else:
                    break
            heap[pos] = k
        else:
            heap[0] = k
            sift_down_worst(heap, size, np.int64(0), ci, cs)
    # drain: pop the worst to the back
    for last in range(size - 1, 0, -1):
        worst = heap[0]
        heap[0] = heap[last]
        heap[last] = worst
        sift_down_worst(heap, last, np.int64(0), ci, cs)
    for t in range(size):
        k = heap[t]
        out_ids[t] = ci[k]
        out_scores[t] = cs[k]
        out_pos[t] = k
        mark[ci[k]] = True
    return size


@numba.njit(cache=True, nogil=True, inline="always")
def _take_items(
    items, score_of, m, mark, allowed, a_row, has_allowed, out_ids, out_scores
):  # pragma: no cover - compiled
    """Top-n of distinct ``items[:m]`` scoring ``score_of[item] > 0``: a pair heap in the output."""
    n = out_ids.shape[0]
    size = np.int64(0)  # not a literal 0: Numba would compile the callees for it too
    for k in range(m):
        j = items[k]
        s = score_of[j]
        if size == n and not better(s, j, out_scores[0], out_ids[0]):
            continue  # most candidates end here, after one comparison
        if not s > 0 or mark[j]:
            continue
        if has_allowed and not allowed[a_row, j]:
            continue
        size = pair_offer(out_scores, out_ids, size, n, s, j)
    pair_drain(out_scores, out_ids, size)
    for t in range(size):
        mark[out_ids[t]] = True
    return size


@numba.njit(cache=True, nogil=True)
def _take_capped(
    ci,
    cs,
    m,
    heap,
    mark,
    allowed,
    a_row,
    has_allowed,
    group_of,
    has_groups,
    cap,
    gcount,
    out_ids,
    out_scores,
    out_pos,
):  # pragma: no cover - compiled
    """Greedy top-n under group caps (or with duplicate candidates): heapify all, pop until n."""
    n = out_ids.shape[0]
    size = np.int64(0)  # not a literal 0: Numba would compile the callees for it too
    for k in range(m):
        s = cs[k]
        j = ci[k]
        if s != s or mark[j]:
            continue
        if has_allowed and not allowed[a_row, j]:
            continue
        heap[size] = k
        size += 1
    for pos in range(size // 2 - 1, -1, -1):
        sift_down_best(heap, size, pos, ci, cs)
    t = 0
    while t < n and size > 0:
        k = heap[0]
        size -= 1
        heap[0] = heap[size]
        sift_down_best(heap, size, np.int64(0), ci, cs)
        j = ci[k]
        if mark[j]:
            continue  # a duplicate candidate already taken
        if has_groups:
            g = group_of[j]
            if g >= 0:
                if gcount[g] >= cap:
                    continue
                gcount[g] += 1
        out_ids[t] = j
        out_scores[t] = cs[k]
        out_pos[t] = k
        mark[j] = True
        t += 1
    return t


@numba.njit(cache=True, nogil=True)
def _fill_and_finish(
    c, a_row, f_row, k, mark, gcount, out_ids, out_scores, out_pos
):  # pragma: no cover
    """Fill slots ``k:`` from fill row ``f_row``, pad, and restore ``mark`` / ``gcount``."""
    allowed = c.allowed
    has_allowed = c.has_allowed
    group_of = c.group_of
    has_groups = c.has_groups
    cap = c.max_per_group
    n = out_ids.shape[0]
    if f_row >= 0 and k < n:
        fill = c.fill_orders
        fill_scores = c.fill_scores
        for t in range(fill.shape[1]):
            if k == n:
                break
            j = fill[f_row, t]
            if j < 0 or mark[j]:
                continue
            if has_allowed and not allowed[a_row, j]:
                continue
            if has_groups:
                g = group_of[j]
                if g >= 0:
                    if gcount[g] >= cap:
                        continue
                    gcount[g] += 1
            out_ids[k] = j
            out_scores[k] = fill_scores[f_row, t]
            out_pos[k] = -1
            mark[j] = True
            k += 1
    for t in range(k):
        j = out_ids[t]
        mark[j] = False
        if has_groups:
            g = group_of[j]
            if g >= 0:
                gcount[g] = 0
    for t in range(k, n):
        out_ids[t] = -1
        out_scores[t] = -np.inf
        out_pos[t] = -1
    return k


@numba.njit(cache=True, nogil=True)
def select(
    ci, cs, m, unique, c, a_row, f_row, heap, mark, gcount, out_ids, out_scores, out_pos
):  # pragma: no cover - compiled
    """Greedy constrained top-n of candidates ``ci[:m]`` / ``cs[:m]``, then fill.

    Parameters
    ----------
    ci, cs : 1-D arrays
        Candidate item ids and scores; ``m`` of them are used.
    m : int
    unique : bool
        The candidates hold no item twice (enables the bounded heap).
    c : Constraints
    a_row, f_row : int
        The query's allowed-mask row and fill row (``-1`` = no fill).
    heap, mark, gcount : 1-D arrays
        The worker's scratch rows (``heap`` holds ``m`` positions).  ``mark``
        holds the query's exclusions on entry and is restored on exit;
        ``gcount`` is zero on entry and exit.
    out_ids, out_scores, out_pos : 1-D arrays of length n
        The query's results; ``out_pos`` is the candidate position (in
        ``ci``) of each taken candidate, ``-1`` for filled and empty slots.

    Returns
    -------
    k : int
        Number of items taken (candidates and fill).
    taken : int
        How many of them are candidates: slots ``0 .. taken - 1``.

    Examples
    --------
    >>> from recsys.core.constraints import Constraints
    >>> c = Constraints.make(1, 3, group_of=[0, 0, 1], max_per_group=1, fill_order=[1, 2, 0])
    >>> ids, scores, pos = np.empty(3, np.int32), np.empty(3, np.float32), np.empty(3, np.int64)
    >>> s = select_scratch(1, 3, c.n_groups, 3)
    >>> select(np.array([0, 1], np.int32), np.array([2.0, 1.0], np.float32), 2, False, c, 0, 0,
    ...        s.heaps[0], s.marks[0], s.gcounts[0], ids, scores, pos)
    (2, 1)
    >>> ids.tolist(), scores.tolist(), pos.tolist()
    ([0, 2, -1], [2.0, 0.0, -inf], [0, -1, -1])
    """
    if unique and not c.has_groups:
        taken = _take_bounded(
            ci, cs, m, heap, mark, c.allowed, a_row, c.has_allowed, out_ids, out_scores, out_pos
        )
    else:
        taken = _take_capped(
            ci,
            cs,
            m,
            heap,
            mark,
            c.allowed,
            a_row,
            c.has_allowed,
            c.group_of,
            c.has_groups,
            c.max_per_group,
            gcount,
            out_ids,
            out_scores,
            out_pos,
        )
    k = _fill_and_finish(c, a_row, f_row, taken, mark, gcount, out_ids, out_scores, out_pos)
    return k, taken


@numba.njit(cache=True, nogil=True)
def select_items(
    items, score_of, m, c, a_row, f_row, mark, gcount, out_ids, out_scores, out_pos
):  # pragma: no cover - compiled
    """As :func:`select` for distinct ``items[:m]`` scored ``score_of[item]``, without group caps.

    Only items scoring ``> 0`` are candidates (NaN never is).  ``c`` must
    have no group caps (use :func:`select` then).  Returns ``(k, taken)``
    as :func:`select`; ``out_pos`` is ``-1`` throughout.

    Examples
    --------
    >>> from recsys.core.constraints import Constraints
    >>> c = Constraints.make(1, 4, fill_order=[3, 2, 1, 0])
    >>> ids, scores, pos = np.empty(3, np.int32), np.empty(3, np.float32), np.empty(3, np.int64)
    >>> s = select_scratch(1, 4, 0, 0)
    >>> acc = np.array([0.0, 2.0, -1.0, 0.0], np.float32)
    >>> select_items(np.array([2, 1], np.int32), acc, 2, c, 0, 0, s.marks[0], s.gcounts[0],
    ...              ids, scores, pos)
    (3, 1)
    >>> ids.tolist(), scores.tolist()
    ([1, 3, 2], [2.0, 0.0, 0.0])
    """
    taken = _take_items(
        items, score_of, m, mark, c.allowed, a_row, c.has_allowed, out_ids, out_scores
    )
    for t in range(taken):
        out_pos[t] = -1
    k = _fill_and_finish(c, a_row, f_row, taken, mark, gcount, out_ids, out_scores, out_pos)
    return k, taken
