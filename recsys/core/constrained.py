"""Constrained top-n: exclusions, allowed masks, per-group caps and an exact-n fill.

The selling APIs (:mod:`recsys.selling`) need more than a plain top-n: at most
``m`` items per family or category (diversity), a different allowed item set
per market, and still exactly ``n`` results whenever ``n`` eligible items
exist.  The kernels here apply all of that *inside* the selection, so no
result is ever dropped after the fact.

Selection, per query
--------------------
1. Candidates are (item, score) pairs: the neighbour sums of the query's items
   (:func:`constrained_topn_neighbours`), a dense score row
   (:func:`constrained_topn_dense`) or an explicit list
   (:func:`constrained_topn_candidates`).  NaN scores are never returned.
2. Candidates are taken greedily in ranking order — score descending, ties by
   item id ascending — skipping an item when it is excluded for the query, not
   allowed, already taken, or when its group already holds ``max_per_group``
   items.  The candidates sit in a binary max-heap, so a query costs
   ``O(c + t log c)`` for ``c`` candidates and ``t`` items popped.
3. While fewer than ``n`` items are taken, the query's fill order (e.g.
   popularity) is walked under the same constraints; filled items get the fill
   order's score.

Every query therefore gets exactly ``n`` items whenever ``n`` items satisfy
the constraints and are candidates or in its fill order.

Constraint arrays (:class:`Constraints`)
----------------------------------------
``exclude_indptr`` / ``exclude_indices``
    CSR of item ids each query must not get (owned, declined, in the basket).
``allowed`` / ``allowed_of_query``
    ``(n_masks, n_items)`` bool masks and the mask row of every query (one row
    shared by all queries in the common case; one per market with
    market-specific assortments).
``group_of`` / ``max_per_group``
    Group id of every item (``-1`` = in no group, never capped) and the cap.
``fill_orders`` / ``fill_scores`` / ``fill_of_query``
    ``(n_fills, length)`` item ids (``-1`` = padding, skipped), their scores,
    and the fill row of every query (``-1`` = no fill for that query).

Queries are processed in chunks of :data:`CHUNK_SIZE`, spread over threads
with ``numba.prange``; every parallel launch goes through
:func:`~recsys._utils.threads.parallel_section`.  Up to
:data:`SERIAL_MAX_QUERIES` queries (a single basket at the checkout) run in a
serial twin of the kernel in the calling thread instead, which avoids the
cost of entering a parallel section.
"""

from __future__ import annotations

import numbers
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from recsys._utils.threads import parallel_section
from recsys.core._scoring import combined

__all__ = [
    "CHUNK_SIZE",
    "Constraints",
    "constrained_topn_candidates",
    "constrained_topn_dense",
    "constrained_topn_neighbours",
]

#: Number of queries handed to one kernel launch.
CHUNK_SIZE = 2048

#: Up to this many queries, the kernels run serially in the calling thread: entering a
#: parallel section (thread pools, BLAS limits) costs more than scoring a few baskets.
SERIAL_MAX_QUERIES = 4

_ERR_THREAD = 1
_ERR_SIM = 2

_I32 = np.int32
_I64 = np.int64


# ---------------------------------------------------------------------------
# compiled helpers
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _better(s1, i1, s2, i2):  # pragma: no cover - compiled
    """True if (s1, i1) ranks before (s2, i2): higher score, then lower id."""
    return s1 > s2 or (s1 == s2 and i1 < i2)


@numba.njit(cache=True, nogil=True)
def _sift_down(heap, size, pos, ci, cs):  # pragma: no cover - compiled
    """Max-heap of candidate positions: the root is the best candidate."""
    c0 = heap[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _better(
            cs[heap[right]], ci[heap[right]], cs[heap[child]], ci[heap[child]]
        ):
            child = right
        if _better(cs[heap[child]], ci[heap[child]], cs[c0], ci[c0]):
            heap[pos] = heap[child]
            pos = child
        else:
            break
    heap[pos] = c0


@numba.njit(cache=True, nogil=True)
def _mark(mark, indices, lo, hi, value):  # pragma: no cover - compiled
    for k in range(lo, hi):
        mark[indices[k]] = value


@numba.njit(cache=True, nogil=True)
def _sift_down_worst(heap, size, pos, ci, cs):  # pragma: no cover - compiled
    """Min-heap of candidate positions: the root is the worst kept candidate."""
    c0 = heap[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _better(
            cs[heap[child]], ci[heap[child]], cs[heap[right]], ci[heap[right]]
        ):
            child = right
        if _better(cs[c0], ci[c0], cs[heap[child]], ci[heap[child]]):
            heap[pos] = heap[child]
            pos = child
        else:
            break
    heap[pos] = c0


@numba.njit(cache=True, nogil=True)
def _take_bounded(
    ci, cs, m, heap, mark, allowed, a_row, has_allowed, out_ids, out_scores, out_pos
):  # pragma: no cover
    """Top-n of unique candidates without group caps: one bounded heap, most rejected by one comparison."""
    n = out_ids.shape[0]
    size = 0
    for c in range(m):
        s = cs[c]
        j = ci[c]
        if size == n and not _better(s, j, cs[heap[0]], ci[heap[0]]):
            continue
        if s != s or mark[j]:
            continue
        if has_allowed and not allowed[a_row, j]:
            continue
        if size < n:
            pos = size
            size += 1
            while pos > 0:  # sift up: parents are worse than children
                parent = (pos - 1) >> 1
                hp = heap[parent]
                if _better(cs[hp], ci[hp], s, j):
                    heap[pos] = hp
                    pos = parent
                else:
                    break
            heap[pos] = c
        else:
            heap[0] = c
            _sift_down_worst(heap, size, 0, ci, cs)
    # drain: pop the worst to the back
    for last in range(size - 1, 0, -1):
        worst = heap[0]
        heap[0] = heap[last]
        heap[last] = worst
        _sift_down_worst(heap, last, 0, ci, cs)
    for k in range(size):
        c = heap[k]
        out_ids[k] = ci[c]
        out_scores[k] = cs[c]
        out_pos[k] = c
        mark[ci[c]] = True
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
    """Greedy top-n under group caps (or with duplicate candidates): heapify all, pop until n taken."""
    n = out_ids.shape[0]
    size = 0
    for c in range(m):
        s = cs[c]
        j = ci[c]
        if s != s or mark[j]:
            continue
        if has_allowed and not allowed[a_row, j]:
            continue
        heap[size] = c
        size += 1
    for pos in range(size // 2 - 1, -1, -1):
        _sift_down(heap, size, pos, ci, cs)
    k = 0
    while k < n and size > 0:
        c = heap[0]
        size -= 1
        heap[0] = heap[size]
        _sift_down(heap, size, 0, ci, cs)
        j = ci[c]
        if mark[j]:
            continue  # a duplicate candidate already taken
        if has_groups:
            g = group_of[j]
            if g >= 0:
                if gcount[g] >= cap:
                    continue
                gcount[g] += 1
        out_ids[k] = j
        out_scores[k] = cs[c]
        out_pos[k] = c
        mark[j] = True
        k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _select(
    ci,
    cs,
    m,
    unique,
    heap,
    mark,
    allowed,
    a_row,
    has_allowed,
    group_of,
    has_groups,
    cap,
    gcount,
    fill,
    fill_sc,
    f_row,
    out_ids,
    out_scores,
    out_pos,
):  # pragma: no cover - compiled
    """Greedy constrained top-n of candidates ``ci[:m]`` / ``cs[:m]``, then fill.

    ``unique``: the candidates hold no item twice.  ``mark`` holds the
    query's exclusions on entry and is restored on exit; ``gcount`` is all
    zeros on entry and on exit.  Returns the number taken.
    """
    n = out_ids.shape[0]
    if unique and not has_groups:
        k = _take_bounded(
            ci, cs, m, heap, mark, allowed, a_row, has_allowed, out_ids, out_scores, out_pos
        )
    else:
        k = _take_capped(
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
        )
    if f_row >= 0 and k < n:
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
            out_scores[k] = fill_sc[f_row, t]
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
def _candidates_query(
    qi,
    c_indptr,
    c_items,
    c_scores,
    ex_indptr,
    ex_indices,
    allowed,
    a_of_q,
    has_allowed,
    group_of,
    has_groups,
    cap,
    fill,
    fill_sc,
    f_of_q,
    heap,
    mark,
    gcount,
    out_ids,
    out_scores,
    out_pos,
):  # pragma: no cover - compiled
    lo = ex_indptr[qi]
    hi = ex_indptr[qi + 1]
    _mark(mark, ex_indices, lo, hi, True)
    c0 = c_indptr[qi]
    c1 = c_indptr[qi + 1]
    _select(
        c_items[c0:c1],
        c_scores[c0:c1],
        c1 - c0,
        False,
        heap,
        mark,
        allowed,
        a_of_q[qi],
        has_allowed,
        group_of,
        has_groups,
        cap,
        gcount,
        fill,
        fill_sc,
        f_of_q[qi],
        out_ids,
        out_scores,
        out_pos,
    )
    for t in range(out_pos.shape[0]):
        if out_pos[t] >= 0:
            out_pos[t] += c0
    _mark(mark, ex_indices, lo, hi, False)


@numba.njit(cache=True, nogil=True, parallel=True)
def _candidates_kernel(
    c_indptr,
    c_items,
    c_scores,
    ex_indptr,
    ex_indices,
    allowed,
    a_of_q,
    has_allowed,
    group_of,
    has_groups,
    cap,
    fill,
    fill_sc,
    f_of_q,
    heaps,
    marks,
    gcounts,
    out_ids,
    out_scores,
    out_pos,
    err,
):  # pragma: no cover - compiled
    for qi in numba.prange(out_ids.shape[0]):
        tid = numba.get_thread_id()
        if tid >= marks.shape[0]:
            err[qi] = _ERR_THREAD
            continue
        _candidates_query(
            qi,
            c_indptr,
            c_items,
            c_scores,
            ex_indptr,
            ex_indices,
            allowed,
            a_of_q,
            has_allowed,
            group_of,
            has_groups,
            cap,
            fill,
            fill_sc,
            f_of_q,
            heaps[tid],
            marks[tid],
            gcounts[tid],
            out_ids[qi],
            out_scores[qi],
            out_pos[qi],
        )


@numba.njit(cache=True, nogil=True)
def _candidates_serial_kernel(
    c_indptr,
    c_items,
    c_scores,
    ex_indptr,
    ex_indices,
    allowed,
    a_of_q,
    has_allowed,
    group_of,
    has_groups,
    cap,
    fill,
    fill_sc,
    f_of_q,
    heaps,
    marks,
    gcounts,
    out_ids,
    out_scores,
    out_pos,
    err,
):  # pragma: no cover - compiled
    for qi in range(out_ids.shape[0]):
        _candidates_query(
            qi,
            c_indptr,
            c_items,
            c_scores,
            ex_indptr,
            ex_indices,
            allowed,
            a_of_q,
            has_allowed,
            group_of,
            has_groups,
            cap,
            fill,
            fill_sc,
            f_of_q,
            heaps[0],
            marks[0],
            gcounts[0],
            out_ids[qi],
            out_scores[qi],
            out_pos[qi],
        )


@numba.njit(cache=True, nogil=True)
def _dense_query(
    qi,
    scores,
    item_range,
    ex_indptr,
    ex_indices,
    allowed,
    a_of_q,
    has_allowed,
    group_of,
    has_groups,
    cap,
    fill,
    fill_sc,
    f_of_q,
    heap,
    mark,
    gcount,
    out_ids,
    out_scores,
    out_pos,
):  # pragma: no cover - compiled
    lo = ex_indptr[qi]
    hi = ex_indptr[qi + 1]
    _mark(mark, ex_indices, lo, hi, True)
    _select(
        item_range,
        scores[qi],
        scores.shape[1],
        True,
        heap,
        mark,
        allowed,
        a_of_q[qi],
        has_allowed,
        group_of,
        has_groups,
        cap,
        gcount,
        fill,
        fill_sc,
        f_of_q[qi],
        out_ids,
        out_scores,
        out_pos,
    )
    _mark(mark, ex_indices, lo, hi, False)


@numba.njit(cache=True, nogil=True, parallel=True)
def _dense_kernel(
    scores,
    item_range,
    ex_indptr,
    ex_indices,
    allowed,
    a_of_q,
    has_allowed,
    group_of,
    has_groups,
    cap,
    fill,
    fill_sc,
    f_of_q,
    heaps,
    marks,
    gcounts,
    out_ids,
    out_scores,
    out_pos,
    err,
):  # pragma: no cover - compiled
    for qi in numba.prange(scores.shape[0]):
        tid = numba.get_thread_id()
        if tid >= marks.shape[0]:
            err[qi] = _ERR_THREAD
            continue
        _dense_query(
            qi,
            scores,
            item_range,
            ex_indptr,
            ex_indices,
            allowed,
            a_of_q,
            has_allowed,
            group_of,
            has_groups,
            cap,
            fill,
            fill_sc,
            f_of_q,
            heaps[tid],
            marks[tid],
            gcounts[tid],
            out_ids[qi],
            out_scores[qi],
            out_pos[qi],
        )


@numba.njit(cache=True, nogil=True)
def _dense_serial_kernel(
    scores,
    item_range,
    ex_indptr,
    ex_indices,
    allowed,
    a_of_q,
    has_allowed,
    group_of,
    has_groups,
    cap,
    fill,
    fill_sc,
    f_of_q,
    heaps,
    marks,
    gcounts,
    out_ids,
    out_scores,
    out_pos,
    err,
):  # pragma: no cover - compiled
    for qi in range(scores.shape[0]):
        _dense_query(
            qi,
            scores,
            item_range,
            ex_indptr,
            ex_indices,
            allowed,
            a_of_q,
            has_allowed,
            group_of,
            has_groups,
            cap,
            fill,
            fill_sc,
            f_of_q,
            heaps[0],
            marks[0],
            gcounts[0],
            out_ids[qi],
            out_scores[qi],
            out_pos[qi],
        )


@numba.njit(cache=True, nogil=True)
def _neighbour_query(
    qi,
    q_indptr,
    q_indices,
    q_weights,
    q_explain,
    q_direct,
    noisy_or,
    sim_indptr,
    sim_indices,
    sim_data,
    ex_indptr,
    ex_indices,
    allowed,
    a_of_q,
    has_allowed,
    group_of,
    has_groups,
    cap,
    fill,
    fill_sc,
    f_of_q,
    acc,
    direct,
    flag,
    touched,
    best_c,
    best_pos,
    ci,
    cs,
    heap,
    mark,
    gcount,
    out_ids,
    out_scores,
    out_srcpos,
):  # pragma: no cover - compiled
    """One query of :func:`constrained_topn_neighbours`; returns False on a bad similarity CSR."""
    n = out_ids.shape[0]
    n_items = sim_indptr.shape[0] - 1
    nnz_sim = sim_indices.shape[0]
    # ---- accumulate weight * similarity (sum, or max with noisy_or); direct entries score their
    # own item; remember the best explaining entry
    nt = 0
    bad = False
    for p in range(q_indptr[qi], q_indptr[qi + 1]):
        i = q_indices[p]
        w = q_weights[p]
        if q_direct[p]:
            if not flag[i]:
                flag[i] = True
                touched[nt] = i
                nt += 1
                acc[i] = 0.0
                direct[i] = 0.0
                best_c[i] = -np.inf
                best_pos[i] = -1
            if noisy_or:
                direct[i] = direct[i] + w - direct[i] * w
            else:
                acc[i] += w
            continue
        explain = q_explain[p]
        r0 = sim_indptr[i]
        r1 = sim_indptr[i + 1]
        if r0 < 0 or r1 < r0 or r1 > nnz_sim:
            bad = True
            break
        for r in range(r0, r1):
            j = sim_indices[r]
            if j < 0 or j >= n_items:
                bad = True
                break
            contribution = w * sim_data[r]
            if not flag[j]:  # (written out, not a helper: a call per entry costs 3x in this loop)
                flag[j] = True
                touched[nt] = j
                nt += 1
                acc[j] = 0.0
                direct[j] = 0.0
                best_c[j] = -np.inf
                best_pos[j] = -1
            if noisy_or:
                if contribution > acc[j]:
                    acc[j] = contribution
            else:
                acc[j] += contribution
            if explain and contribution > best_c[j]:
                best_c[j] = contribution
                best_pos[j] = r
        if bad:
            break
    m = 0
    if not bad:
        for t in range(nt):
            j = touched[t]
            score = combined(acc[j], direct[j], noisy_or)
            if score > 0:
                ci[m] = j
                cs[m] = score
                m += 1
    lo = ex_indptr[qi]
    hi = ex_indptr[qi + 1]
    _mark(mark, ex_indices, lo, hi, True)
    k = _select(
        ci,
        cs,
        m,
        True,
        heap,
        mark,
        allowed,
        a_of_q[qi],
        has_allowed,
        group_of,
        has_groups,
        cap,
        gcount,
        fill,
        fill_sc,
        f_of_q[qi] if not bad else -1,
        out_ids,
        out_scores,
        out_srcpos,
    )
    _mark(mark, ex_indices, lo, hi, False)
    for t in range(n):
        if t < k and out_srcpos[t] >= 0:
            out_srcpos[t] = best_pos[out_ids[t]]
        else:
            out_srcpos[t] = -1
    for t in range(nt):
        flag[touched[t]] = False
    return not bad


@numba.njit(cache=True, nogil=True, parallel=True)
def _neighbour_kernel(
    q_indptr,
    q_indices,
    q_weights,
    q_explain,
    q_direct,
    noisy_or,
    sim_indptr,
    sim_indices,
    sim_data,
    ex_indptr,
    ex_indices,
    allowed,
    a_of_q,
    has_allowed,
    group_of,
    has_groups,
    cap,
    fill,
    fill_sc,
    f_of_q,
    accs,
    directs,
    flags,
    toucheds,
    best_cs,
    best_poss,
    cand_is,
    cand_ss,
    heaps,
    marks,
    gcounts,
    out_ids,
    out_scores,
    out_srcpos,
    err,
):  # pragma: no cover - compiled
    for qi in numba.prange(q_indptr.shape[0] - 1):
        tid = numba.get_thread_id()
        if tid >= marks.shape[0]:
            err[qi] = _ERR_THREAD
            continue
        ok = _neighbour_query(
            qi,
            q_indptr,
            q_indices,
            q_weights,
            q_explain,
            q_direct,
            noisy_or,
            sim_indptr,
            sim_indices,
            sim_data,
            ex_indptr,
            ex_indices,
            allowed,
            a_of_q,
            has_allowed,
            group_of,
            has_groups,
            cap,
            fill,
            fill_sc,
            f_of_q,
            accs[tid],
            directs[tid],
            flags[tid],
            toucheds[tid],
            best_cs[tid],
            best_poss[tid],
            cand_is[tid],
            cand_ss[tid],
            heaps[tid],
            marks[tid],
            gcounts[tid],
            out_ids[qi],
            out_scores[qi],
            out_srcpos[qi],
        )
        if not ok:
            err[qi] = _ERR_SIM


@numba.njit(cache=True, nogil=True)
def _neighbour_serial_kernel(
    q_indptr,
    q_indices,
    q_weights,
    q_explain,
    q_direct,
    noisy_or,
    sim_indptr,
    sim_indices,
    sim_data,
    ex_indptr,
    ex_indices,
    allowed,
    a_of_q,
    has_allowed,
    group_of,
    has_groups,
    cap,
    fill,
    fill_sc,
    f_of_q,
    accs,
    directs,
    flags,
    toucheds,
    best_cs,
    best_poss,
    cand_is,
    cand_ss,
    heaps,
    marks,
    gcounts,
    out_ids,
    out_scores,
    out_srcpos,
    err,
):  # pragma: no cover - compiled
    for qi in range(q_indptr.shape[0] - 1):
        ok = _neighbour_query(
            qi,
            q_indptr,
            q_indices,
            q_weights,
            q_explain,
            q_direct,
            noisy_or,
            sim_indptr,
            sim_indices,
            sim_data,
            ex_indptr,
            ex_indices,
            allowed,
            a_of_q,
            has_allowed,
            group_of,
            has_groups,
            cap,
            fill,
            fill_sc,
            f_of_q,
            accs[0],
            directs[0],
            flags[0],
            toucheds[0],
            best_cs[0],
            best_poss[0],
            cand_is[0],
            cand_ss[0],
            heaps[0],
            marks[0],
            gcounts[0],
            out_ids[qi],
            out_scores[qi],
            out_srcpos[qi],
        )
        if not ok:
            err[qi] = _ERR_SIM


# ---------------------------------------------------------------------------
# argument checking
# ---------------------------------------------------------------------------


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    return int(n)


def _int_array(x: object, dtype: type, name: str, ndim: int = 1) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind in "fb"):
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _check_ids(ids: np.ndarray, low: int, n_items: int, name: str) -> None:
    if ids.size and (int(ids.min()) < low or int(ids.max()) >= n_items):
        raise ValueError(
            f"{name} must hold item ids in [{low}, {n_items}), got values in [{int(ids.min())}, {int(ids.max())}]"
        )


def _check_csr(
    indptr: object, indices: object, n_rows: int, n_cols: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    ip = _int_array(indptr, _I64, f"{name}_indptr")
    ix = _int_array(indices, _I32, f"{name}_indices")
    if ip.shape[0] != n_rows + 1:
        raise ValueError(
            f"{name}_indptr must have length n_queries + 1 = {n_rows + 1}, got {ip.shape[0]}"
        )
    if ip[0] != 0 or ip[-1] != ix.shape[0] or (n_rows and np.any(ip[1:] < ip[:-1])):
        raise ValueError(f"{name}_indptr must rise from 0 to len({name}_indices) = {ix.shape[0]}")
    _check_ids(ix, 0, n_cols, f"{name}_indices")
    return ip, ix


_MIN_MAX: dict[int, tuple[weakref.ref, tuple[int, ...], tuple[int, int]]] = {}
_ZEROS: dict[tuple[int, ...], np.ndarray] = {}


def _min_max_once(original: object, arr: np.ndarray) -> tuple[int, int]:
    """``(min, max)`` of ``arr``, remembered per input array object.

    Fill orders and group ids are the same large arrays call after call (a
    model's popularity order); scanning 100k ids each time would cost more
    than scoring a basket.  Arrays are assumed not to change in place.
    """
    if arr.size == 0:
        return 0, -1
    if arr.size < 4096 or not isinstance(original, np.ndarray):
        return int(arr.min()), int(arr.max())
    hit = _MIN_MAX.get(id(original))
    if hit is not None and hit[0]() is original and hit[1] == original.shape:
        return hit[2]
    result = (int(arr.min()), int(arr.max()))
    if len(_MIN_MAX) > 64:
        _MIN_MAX.clear()
    _MIN_MAX[id(original)] = (weakref.ref(original), original.shape, result)
    return result


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    """A shared float32 zeros array (default fill scores; the kernels only read it).

    Kept writeable: a read-only array would make Numba compile every kernel twice.
    """
    zeros = _ZEROS.get(shape)
    if zeros is None:
        if len(_ZEROS) > 16:
            _ZEROS.clear()
        zeros = _ZEROS[shape] = np.zeros(shape, dtype=np.float32)
    return zeros


def _query_rows(x: object, n_queries: int, n_rows: int, name: str, low: int) -> np.ndarray:
    if x is None:
        return np.zeros(n_queries, dtype=_I32)
    arr = _int_array(x, _I32, name)
    if arr.shape != (n_queries,):
        raise ValueError(f"{name} must have shape ({n_queries},), got {arr.shape}")
    if arr.size and (int(arr.min()) < low or int(arr.max()) >= n_rows):
        raise ValueError(
            f"{name} must be in [{low}, {n_rows}), got values in [{int(arr.min())}, {int(arr.max())}]"
        )
    return arr


@dataclass(frozen=True)
class Constraints:
    """What every query must respect, as plain arrays (see the module docstring).

    Build it with :meth:`make`, which validates and normalises the arrays for a
    given number of queries and items; the ``constrained_topn_*`` functions
    take it as ``constraints``.

    Attributes
    ----------
    exclude_indptr : ndarray of int64, shape (n_queries + 1,)
    exclude_indices : ndarray of int32
    allowed : ndarray of bool, shape (n_masks, n_items)
        ``(1, 1)`` and ignored when :attr:`has_allowed` is false.
    allowed_of_query : ndarray of int32, shape (n_queries,)
    has_allowed : bool
    group_of : ndarray of int32, shape (n_items,)
        ``-1`` = no group.  ``(1,)`` and ignored when :attr:`has_groups` is false.
    max_per_group : int
    has_groups : bool
    n_groups : int
    fill_orders : ndarray of int32, shape (n_fills, length)
    fill_scores : ndarray of float32, shape (n_fills, length)
    fill_of_query : ndarray of int32, shape (n_queries,)
        ``-1`` = no fill.

    Examples
    --------
    >>> c = Constraints.make(2, 4, exclude_indptr=[0, 1, 1], exclude_indices=[3],
    ...                      group_of=[0, 0, 1, -1], max_per_group=1, fill_order=[0, 1, 2, 3])
    >>> c.has_groups, c.n_groups, c.fill_of_query.tolist()
    (True, 2, [0, 0])
    """

    exclude_indptr: np.ndarray
    exclude_indices: np.ndarray
    allowed: np.ndarray
    allowed_of_query: np.ndarray
    has_allowed: bool
    group_of: np.ndarray
    max_per_group: int
    has_groups: bool
    n_groups: int
    fill_orders: np.ndarray
    fill_scores: np.ndarray
    fill_of_query: np.ndarray

    @classmethod
    def make(
        cls,
        n_queries: int,
        n_items: int,
        *,
        exclude_indptr: object = None,
        exclude_indices: object = None,
        item_allowed: object = None,
        allowed_of_query: object = None,
        group_of: object = None,
        max_per_group: int | None = None,
        fill_order: object = None,
        fill_scores: object = None,
        fill_of_query: object = None,
    ) -> Constraints:
        """Validate constraint arrays for ``n_queries`` queries over ``n_items`` items.

        Parameters
        ----------
        n_queries, n_items : int
        exclude_indptr, exclude_indices : array_like, optional
            CSR of excluded item ids per query (both or neither).
        item_allowed : array_like of bool, optional
            ``(n_items,)`` global mask, or ``(n_masks, n_items)`` masks chosen
            per query by ``allowed_of_query`` (default row 0 for all).
        group_of : array_like of int, optional
            ``(n_items,)`` group of every item, ``-1`` for none.
        max_per_group : int, optional
            Cap per group (>= 1); needs ``group_of``.
        fill_order : array_like of int, optional
            ``(length,)`` or ``(n_fills, length)`` item ids to fill short lists
            from (``-1`` = padding); rows chosen by ``fill_of_query`` (default 0;
            ``-1`` = no fill).
        fill_scores : array_like of float, optional
            Scores reported for filled items, shaped as ``fill_order`` (default 0).

        Returns
        -------
        Constraints

        Raises
        ------
        ValueError, TypeError
            Naming the bad argument.
        """
        for name, value in (("n_queries", n_queries), ("n_items", n_items)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        n_queries, n_items = int(n_queries), int(n_items)
        if exclude_indptr is None and exclude_indices is None:
            ex_ip, ex_ix = np.zeros(n_queries + 1, dtype=_I64), np.empty(0, dtype=_I32)
        elif exclude_indptr is None or exclude_indices is None:
            raise ValueError("exclude_indptr and exclude_indices must be given together")
        else:
            ex_ip, ex_ix = _check_csr(
                exclude_indptr, exclude_indices, n_queries, n_items, "exclude"
            )

        if item_allowed is None:
            if allowed_of_query is not None:
                raise ValueError("allowed_of_query needs item_allowed")
            allowed, has_allowed = np.ones((1, 1), dtype=np.bool_), False
            a_of_q = np.zeros(n_queries, dtype=_I32)
        else:
            allowed = np.asarray(item_allowed)
            if allowed.dtype != np.bool_:
                raise TypeError(f"item_allowed must be a bool array, got dtype {allowed.dtype}")
            if allowed.ndim == 1:
                allowed = allowed[None, :]
            if allowed.ndim != 2 or allowed.shape[1] != n_items or allowed.shape[0] < 1:
                raise ValueError(
                    f"item_allowed must have shape ({n_items},) or (n_masks, {n_items}), got {np.shape(item_allowed)}"
                )
            allowed = np.ascontiguousarray(allowed)
            has_allowed = True
            a_of_q = _query_rows(
                allowed_of_query, n_queries, allowed.shape[0], "allowed_of_query", 0
            )

        if group_of is None:
            if max_per_group is not None:
                raise ValueError("max_per_group needs group_of (the group of every item)")
            groups, has_groups, n_groups, cap = np.full(1, -1, dtype=_I32), False, 0, 0
        else:
            groups = _int_array(group_of, _I32, "group_of")
            if groups.shape != (n_items,):
                raise ValueError(f"group_of must have shape ({n_items},), got {groups.shape}")
            low, high = _min_max_once(group_of, groups)
            if low < -1:
                raise ValueError("group_of must hold group ids >= 0, or -1 for no group")
            if max_per_group is None:
                raise ValueError("group_of needs max_per_group (the cap per group)")
            if (
                isinstance(max_per_group, bool)
                or not isinstance(max_per_group, numbers.Integral)
                or max_per_group < 1
            ):
                raise ValueError(f"max_per_group must be a positive integer, got {max_per_group!r}")
            has_groups, cap = True, int(max_per_group)
            n_groups = max(high, -1) + 1

        if fill_order is None:
            if fill_scores is not None or fill_of_query is not None:
                raise ValueError("fill_scores / fill_of_query need fill_order")
            fill = np.full((1, 0), -1, dtype=_I32)
            fill_sc = np.zeros((1, 0), dtype=np.float32)
            f_of_q = np.full(n_queries, -1, dtype=_I32)
        else:
            fill = np.asarray(fill_order)
            if fill.ndim == 1:
                fill = fill[None, :]
            fill = _int_array(fill, _I32, "fill_order", ndim=2)
            if fill.shape[0] < 1:
                raise ValueError("fill_order must have at least one row")
            low, high = _min_max_once(fill_order, fill)
            if fill.size and (low < -1 or high >= n_items):
                raise ValueError(
                    f"fill_order must hold item ids in [-1, {n_items}), got values in [{low}, {high}]"
                )
            if fill_scores is None:
                fill_sc = _zeros(fill.shape)
            else:
                fill_sc = np.asarray(fill_scores, dtype=np.float32)
                if fill_sc.ndim == 1:
                    fill_sc = fill_sc[None, :]
                if fill_sc.shape != fill.shape:
                    raise ValueError(
                        f"fill_scores must have the shape of fill_order {fill.shape}, got {fill_sc.shape}"
                    )
                fill_sc = np.ascontiguousarray(fill_sc)
            f_of_q = _query_rows(fill_of_query, n_queries, fill.shape[0], "fill_of_query", -1)
        return cls(
            ex_ip,
            ex_ix,
            allowed,
            a_of_q,
            has_allowed,
            groups,
            cap,
            has_groups,
            n_groups,
            fill,
            fill_sc,
            f_of_q,
        )

    @property
    def n_queries(self) -> int:
        """Number of queries the constraints were made for."""
        return int(self.exclude_indptr.shape[0] - 1)

    def _check(self, n_queries: int, n_items: int) -> None:
        if not isinstance(self, Constraints):  # pragma: no cover - defensive
            raise TypeError("constraints must be a Constraints")
        if self.n_queries != n_queries:
            raise ValueError(f"constraints were made for {self.n_queries} queries, got {n_queries}")
        if self.has_allowed and self.allowed.shape[1] != n_items:
            raise ValueError(
                f"constraints were made for {self.allowed.shape[1]} items, got {n_items}"
            )
        if self.has_groups and self.group_of.shape[0] != n_items:
            raise ValueError(
                f"constraints were made for {self.group_of.shape[0]} items, got {n_items}"
            )

    def _args(self, a: int, b: int) -> tuple:
        return (
            self.exclude_indptr[a : b + 1],
            self.exclude_indices,
            self.allowed,
            self.allowed_of_query[a:b],
            self.has_allowed,
            self.group_of,
            self.has_groups,
            self.max_per_group,
            self.fill_orders,
            self.fill_scores,
            self.fill_of_query[a:b],
        )


def _constraints(constraints: Constraints | None, n_queries: int, n_items: int) -> Constraints:
    if constraints is None:
        return Constraints.make(n_queries, n_items)
    if not isinstance(constraints, Constraints):
        raise TypeError(
            f"constraints must be a Constraints (see Constraints.make), got {type(constraints).__name__}"
        )
    constraints._check(n_queries, n_items)
    return constraints


def _outputs(n_queries: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.empty((n_queries, n), dtype=_I32),
        np.empty((n_queries, n), dtype=np.float32),
        np.empty((n_queries, n), dtype=_I64),
        np.zeros(n_queries, dtype=np.int8),
    )


def _raise_kernel_errors(err: np.ndarray) -> None:
    if not err.any():
        return
    if (err == _ERR_SIM).any():
        raise ValueError("sim_indptr / sim_indices are not a valid CSR matrix over n_items items")
    raise RuntimeError("numba ran more threads than the scratch space was sized for")


_SERIAL_SCRATCH = threading.local()


def _reused(
    kind: str, threads: int, n_items: int, c: Constraints, build: Callable[[], tuple]
) -> tuple:
    """Scratch for a serial launch, kept per thread and reused.

    A single-basket call would otherwise allocate (and zero) a dozen arrays of
    ``n_items`` each time: tens of microseconds on a 100k-item catalog.  The
    kernels leave their scratch as they found it (marks and flags cleared,
    group counts back at zero), which is what makes reuse safe; each thread
    has its own copy.
    """
    if threads != 1:
        return build()
    cache = getattr(_SERIAL_SCRATCH, "buffers", None)
    if cache is None:
        cache = _SERIAL_SCRATCH.buffers = {}
    key = (kind, n_items, c.n_groups)
    hit = cache.get(key)
    if hit is None:
        if len(cache) > 8:
            cache.clear()
        hit = cache[key] = build()
    return hit


def _scratch(
    threads: int, n_items: int, c: Constraints
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _reused(
        "select",
        threads,
        n_items,
        c,
        lambda: (
            np.empty((threads, max(n_items, 1)), dtype=_I32),
            np.zeros((threads, max(n_items, 1)), dtype=np.bool_),
            np.zeros((threads, max(c.n_groups, 1)), dtype=_I32),
        ),
    )


def _neighbour_scratch(threads: int, n_items: int, c: Constraints) -> tuple[np.ndarray, ...]:
    return _reused(
        "neighbours", threads, n_items, c, lambda: _new_neighbour_scratch(threads, n_items, c)
    )


def _new_neighbour_scratch(threads: int, n_items: int, c: Constraints) -> tuple[np.ndarray, ...]:
    size = max(n_items, 1)
    heaps, marks, gcounts = (
        np.empty((threads, size), dtype=_I32),
        np.zeros((threads, size), dtype=np.bool_),
        np.zeros((threads, max(c.n_groups, 1)), dtype=_I32),
    )
    return (
        np.empty((threads, size), dtype=np.float32),  # acc
        np.empty((threads, size), dtype=np.float32),  # direct
        np.zeros((threads, size), dtype=np.bool_),  # flags
        np.empty((threads, size), dtype=_I32),  # touched
        np.empty((threads, size), dtype=np.float32),  # best contribution
        np.empty((threads, size), dtype=_I64),  # its position
        np.empty((threads, size), dtype=_I32),  # candidate items
        np.empty((threads, size), dtype=np.float32),  # candidate scores
        heaps,
        marks,
        gcounts,
    )


def _launch(
    parallel_kernel: Callable,
    serial_kernel: Callable,
    n_queries: int,
    num_threads: int,
    scratch: Callable[[int], tuple],
    args: Callable[[int, int, tuple], tuple],
) -> None:
    """Run a kernel over all queries: serially for a handful, else in parallel chunks.

    ``scratch(threads)`` builds the per-thread scratch arrays; ``args(a, b,
    scratch)`` returns the kernel arguments for queries ``a:b``.
    """
    if n_queries <= SERIAL_MAX_QUERIES:
        # one basket at the checkout: no parallel region (and no thread-pool setup) to start
        serial_kernel(*args(0, n_queries, scratch(1)))
        return
    with parallel_section(num_threads) as threads:
        buffers = scratch(threads)
        for a in range(0, n_queries, CHUNK_SIZE):
            parallel_kernel(*args(a, min(a + CHUNK_SIZE, n_queries), buffers))


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def constrained_topn_candidates(
    cand_indptr: np.ndarray,
    cand_items: np.ndarray,
    cand_scores: np.ndarray,
    n: int,
    n_items: int,
    constraints: Constraints | None = None,
    num_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constrained top-n from an explicit candidate list per query.

    Parameters
    ----------
    cand_indptr, cand_items, cand_scores : array_like
        CSR ``(n_queries, n_items)``: each query's candidate items and scores
        (an item listed twice is taken at most once, at its best score).
    n : int
        Items per query.
    n_items : int
        Number of items (ids are ``0..n_items-1``).
    constraints : Constraints, optional
        From :meth:`Constraints.make` for ``n_queries`` queries.
    num_threads : int
        Numba threads (0 = all cores).

    Returns
    -------
    ids : ndarray of int32, shape (n_queries, n)
        ``-1`` where fewer than ``n`` items qualify.
    scores : ndarray of float32, shape (n_queries, n)
        ``-inf`` in unfilled slots.
    positions : ndarray of int64, shape (n_queries, n)
        Index into ``cand_items`` of each taken candidate; ``-1`` for filled
        and unfilled slots.

    Examples
    --------
    >>> c = Constraints.make(1, 4, group_of=[0, 0, 1, 1], max_per_group=1)
    >>> ids, scores, pos = constrained_topn_candidates(
    ...     [0, 4], [0, 1, 2, 3], [0.9, 0.8, 0.7, 0.6], n=3, n_items=4, constraints=c)
    >>> ids.tolist(), pos.tolist()
    ([[0, 2, -1]], [[0, 2, -1]])
    """
    n = _check_n(n)
    if isinstance(n_items, bool) or not isinstance(n_items, numbers.Integral) or n_items < 0:
        raise ValueError(f"n_items must be a non-negative integer, got {n_items!r}")
    c_ip = _int_array(cand_indptr, _I64, "cand_indptr")
    if c_ip.shape[0] < 1:
        raise ValueError("cand_indptr must have length n_queries + 1 >= 1")
    n_queries = c_ip.shape[0] - 1
    c_ip, c_ix = _check_csr(c_ip, cand_items, n_queries, n_items, "cand")
    c_sc = np.ascontiguousarray(cand_scores, dtype=np.float32)
    if c_sc.shape != c_ix.shape:
        raise ValueError(
            f"cand_scores must have the shape of cand_items {c_ix.shape}, got {c_sc.shape}"
        )
    c = _constraints(constraints, n_queries, int(n_items))
    out_ids, out_scores, out_pos, err = _outputs(n_queries, n)
    max_len = max(int(np.diff(c_ip).max(initial=0)), 1)

    def scratch(threads: int) -> tuple:
        _, marks, gcounts = _scratch(threads, int(n_items), c)
        return np.empty((threads, max_len), dtype=_I32), marks, gcounts

    def args(a: int, b: int, buffers: tuple) -> tuple:
        return (
            c_ip[a : b + 1],
            c_ix,
            c_sc,
            *c._args(a, b),
            *buffers,
            out_ids[a:b],
            out_scores[a:b],
            out_pos[a:b],
            err[a:b],
        )

    _launch(_candidates_kernel, _candidates_serial_kernel, n_queries, num_threads, scratch, args)
    _raise_kernel_errors(err)
    return out_ids, out_scores, out_pos


def constrained_topn_dense(
    scores: np.ndarray,
    n: int,
    constraints: Constraints | None = None,
    num_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Constrained top-n of each row of a dense score matrix (factor models).

    Every item is a candidate (NaN scores excepted), so the fill only matters
    when constraints remove candidates it would list again: it never adds new
    ones.  Cost per query is ``O(n_items + t log n_items)``.

    Parameters
    ----------
    scores : array_like, shape (n_queries, n_items)
    n : int
    constraints : Constraints, optional
    num_threads : int

    Returns
    -------
    ids : ndarray of int32, shape (n_queries, n)
    scores : ndarray of float32, shape (n_queries, n)

    Examples
    --------
    >>> c = Constraints.make(1, 4, exclude_indptr=[0, 1], exclude_indices=[0],
    ...                      group_of=[0, 1, 1, 2], max_per_group=1)
    >>> ids, top = constrained_topn_dense([[4.0, 3.0, 2.0, 1.0]], n=3, constraints=c)
    >>> ids.tolist(), top.tolist()
    ([[1, 3, -1]], [[3.0, 1.0, -inf]])
    """
    n = _check_n(n)
    sc = np.ascontiguousarray(scores, dtype=np.float32)
    if sc.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_queries, n_items), got shape {sc.shape}")
    n_queries, n_items = sc.shape
    c = _constraints(constraints, n_queries, n_items)
    out_ids, out_scores, out_pos, err = _outputs(n_queries, n)
    item_range = np.arange(n_items, dtype=_I32)

    def args(a: int, b: int, buffers: tuple) -> tuple:
        return (
            sc[a:b],
            item_range,
            *c._args(a, b),
            *buffers,
            out_ids[a:b],
            out_scores[a:b],
            out_pos[a:b],
            err[a:b],
        )

    _launch(
        _dense_kernel,
        _dense_serial_kernel,
        n_queries,
        num_threads,
        lambda t: _scratch(t, n_items, c),
        args,
    )
    _raise_kernel_errors(err)
    return out_ids, out_scores


def _entry_flags(flags: object, shape: tuple[int, ...], name: str, *, default: bool) -> np.ndarray:
    """A bool array aligned with the query entries (``default`` everywhere when not given)."""
    if flags is None:
        return np.full(shape, default, dtype=np.bool_)
    out = np.ascontiguousarray(flags, dtype=np.bool_)
    if out.shape != shape:
        raise ValueError(f"{name} must have the shape of query_indices {shape}, got {out.shape}")
    return out


def constrained_topn_neighbours(
    query_indptr: np.ndarray,
    query_indices: np.ndarray,
    query_weights: np.ndarray,
    sim_indptr: np.ndarray,
    sim_indices: np.ndarray,
    sim_data: np.ndarray,
    n: int,
    constraints: Constraints | None = None,
    query_explain: np.ndarray | None = None,
    query_direct: np.ndarray | None = None,
    combine: str = "sum",
    num_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constrained top-n by neighbour similarity, with the best explaining pair.

    ``combine="sum"``: ``score(q, j) = sum_i weight(q, i) * sim(i, j)`` over
    the query's items.  ``combine="noisy_or"`` treats each ``weight * sim`` as
    a probability that ``j`` belongs in the basket: the neighbour evidence is
    its maximum over the query's items, ``b = max_i weight(q, i) * sim(i, j)``,
    and it is combined with the query's *direct* entries (``query_direct``:
    the entry scores its own item, with probability ``weight``; several
    direct entries of one item combine by noisy-or too) as
    ``1 - (1 - b) (1 - d)``.  With ``sum``, a direct entry adds its weight.

    Items with a score ``> 0`` are the candidates, the fill order pads short
    lists.  For every returned candidate the kernel also reports the
    similarity entry with the largest contribution among the query entries
    flagged in ``query_explain`` — the basket item "because" of which it is
    recommended.

    Parameters
    ----------
    query_indptr, query_indices, query_weights : array_like
        CSR ``(n_queries, n_items)`` of the queries' items and weights.
    sim_indptr, sim_indices, sim_data : array_like
        CSR ``(n_items, n_items)`` of neighbours and similarities.
    n : int
    constraints : Constraints, optional
    query_explain : array_like of bool, optional
        Aligned with ``query_indices``: which entries may explain a result
        (default all).
    query_direct : array_like of bool, optional
        Aligned with ``query_indices``: entries that score their own item
        instead of its neighbours (default none).
    combine : {"sum", "noisy_or"}
        How contributions combine (see above).
    num_threads : int

    Returns
    -------
    ids : ndarray of int32, shape (n_queries, n)
    scores : ndarray of float32, shape (n_queries, n)
    sim_positions : ndarray of int64, shape (n_queries, n)
        Index into ``sim_indices`` of the largest flagged contribution to each
        result (its row is the explaining item); ``-1`` when there is none
        (filled slots, or only unflagged entries contributed).

    Examples
    --------
    >>> sim = ([0, 2, 3, 3], [1, 2, 2], [0.5, 0.25, 1.0])
    >>> ids, scores, pos = constrained_topn_neighbours([0, 2], [0, 1], [1.0, 1.0], *sim, n=2,
    ...     constraints=Constraints.make(1, 3, exclude_indptr=[0, 2], exclude_indices=[0, 1]))
    >>> ids.tolist(), scores.tolist(), pos.tolist()
    ([[2, -1]], [[1.25, -inf]], [[2, -1]])

    As probabilities: item 2 is 1.0 likely after item 1 alone (the maximum),
    and a direct entry gives item 0 a 0.5 chance:

    >>> ids, scores, _ = constrained_topn_neighbours([0, 3], [0, 1, 0], [1.0, 1.0, 0.5], *sim, n=3,
    ...     query_direct=[False, False, True], combine="noisy_or")
    >>> ids.tolist(), scores.tolist()
    ([[2, 0, 1]], [[1.0, 0.5, 0.5]])
    """
    n = _check_n(n)
    if combine not in ("sum", "noisy_or"):
        raise ValueError(f"combine must be 'sum' or 'noisy_or', got {combine!r}")
    s_ip = _int_array(sim_indptr, _I64, "sim_indptr")
    s_ix = _int_array(sim_indices, _I32, "sim_indices")
    s_data = np.ascontiguousarray(sim_data, dtype=np.float32)
    if s_ip.shape[0] < 1 or s_ip[0] != 0 or s_ip[-1] != s_ix.shape[0]:
        raise ValueError(
            "sim_indptr must have length n_items + 1, start at 0 and end at len(sim_indices)"
        )
    if s_data.shape != s_ix.shape:
        raise ValueError(
            f"sim_data must have the shape of sim_indices {s_ix.shape}, got {s_data.shape}"
        )
    n_items = s_ip.shape[0] - 1
    q_ip = _int_array(query_indptr, _I64, "query_indptr")
    if q_ip.shape[0] < 1:
        raise ValueError("query_indptr must have length n_queries + 1 >= 1")
    n_queries = q_ip.shape[0] - 1
    q_ip, q_ix = _check_csr(q_ip, query_indices, n_queries, n_items, "query")
    q_w = np.ascontiguousarray(query_weights, dtype=np.float32)
    if q_w.shape != q_ix.shape:
        raise ValueError(
            f"query_weights must have the shape of query_indices {q_ix.shape}, got {q_w.shape}"
        )
    q_ex = _entry_flags(query_explain, q_ix.shape, "query_explain", default=True)
    q_dir = _entry_flags(query_direct, q_ix.shape, "query_direct", default=False)
    noisy_or = combine == "noisy_or"
    if noisy_or and q_w.size and not (np.all(q_w >= 0) and np.all(q_w <= 1)):
        raise ValueError("combine='noisy_or' needs query_weights in [0, 1] (probabilities)")
    c = _constraints(constraints, n_queries, n_items)
    out_ids, out_scores, out_pos, err = _outputs(n_queries, n)

    def args(a: int, b: int, buffers: tuple) -> tuple:
        return (
            q_ip[a : b + 1],
            q_ix,
            q_w,
            q_ex,
            q_dir,
            noisy_or,
            s_ip,
            s_ix,
            s_data,
            *c._args(a, b),
            *buffers,
            out_ids[a:b],
            out_scores[a:b],
            out_pos[a:b],
            err[a:b],
        )

    _launch(
        _neighbour_kernel,
        _neighbour_serial_kernel,
        n_queries,
        num_threads,
        lambda t: _neighbour_scratch(t, n_items, c),
        args,
    )
    _raise_kernel_errors(err)
    return out_ids, out_scores, out_pos
