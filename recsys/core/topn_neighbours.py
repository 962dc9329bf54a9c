"""Constrained top-n by neighbour similarity (item-item models, baskets), with the explaining pair.

For every query, the items of its neighbour lists are scored (sum of
``weight * similarity``, or a noisy-or of probabilities), the items with a
score ``> 0`` are the candidates, and selection and fill follow
:mod:`recsys.core.selection` under the query's
:class:`~recsys.core.constraints.Constraints`.  The launch is
:mod:`recsys.core.workers`'.  :func:`~recsys.core.neighbour_scores.neighbour_item_scores`
computes the same scores for chosen items.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from recsys.core._scoring import combined
from recsys.core.checks import (
    ERR_SIM,
    Outputs,
    check_csr,
    check_n,
    check_similarity,
    float_array,
    int_array,
    outputs,
    raise_kernel_errors,
)
from recsys.core.constraints import Constraints, as_constraints, mark_excluded
from recsys.core.selection import select, select_items, select_scratch
from recsys.core.workers import Schedule, next_chunk, plain, reused, run

__all__ = ["NeighbourQueries", "Similarity", "constrained_topn_neighbours"]


class NeighbourQueries(NamedTuple):
    """The queries of :func:`constrained_topn_neighbours`, as a CSR with per-entry flags.

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_queries + 1,)
    indices : ndarray of int32
        The queries' items.
    weights : ndarray of float32
    explain : ndarray of bool
        Entries that may explain a result.
    direct : ndarray of bool
        Entries that score their own item instead of its neighbours.
    limit : ndarray of int64
        Neighbours read per entry: the first ``limit`` of its row (its
        strongest, in a table sorted by similarity); negative = the whole row.
    noisy_or : bool
        Combine contributions as probabilities (else sum them).
    track_best : bool
        Find the explaining entry of every result (``positions`` wanted).
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    explain: np.ndarray
    direct: np.ndarray
    limit: np.ndarray
    noisy_or: bool
    track_best: bool


class Similarity(NamedTuple):
    """A neighbour CSR ``(n_items, n_items)``: each item's neighbours and similarities.

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_items + 1,)
    indices : ndarray of int32
    data : ndarray of float32
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


class NeighbourScratch(NamedTuple):
    """Per-worker scratch of the neighbour kernel (row ``w`` for worker ``w``).

    The first four fields are a :class:`~recsys.core.selection.SelectScratch`
    (flat: Numba's ``prange`` does not take nested tuples).  ``flags`` is all
    False between queries; the other accumulators are set for every item a
    query touches before they are read.
    """

    heaps: np.ndarray
    marks: np.ndarray
    gcounts: np.ndarray
    positions: np.ndarray
    acc: np.ndarray
    direct: np.ndarray
    flags: np.ndarray
    touched: np.ndarray
    best_contribution: np.ndarray
    best_position: np.ndarray
    cand_items: np.ndarray
    cand_scores: np.ndarray


def _neighbour_scratch(n_workers: int, n_items: int, n_groups: int) -> NeighbourScratch:
    size = max(n_items, 1)
    return NeighbourScratch(
        *select_scratch(n_workers, n_items, n_groups, n_items),
        np.empty((n_workers, size), dtype=np.float32),
        np.empty((n_workers, size), dtype=np.float32),
        np.zeros((n_workers, size), dtype=np.bool_),
        np.empty((n_workers, size), dtype=np.int32),
        np.empty((n_workers, size), dtype=np.float32),
        np.empty((n_workers, size), dtype=np.int64),
        np.empty((n_workers, size), dtype=np.int32),
        np.empty((n_workers, size), dtype=np.float32),
    )


@numba.njit(cache=True, nogil=True)
def _neighbour_worker(
    w, q_fields, sim_fields, c_fields, scratch_fields, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Worker ``w``: score the queries of the chunks it pulls; a bad similarity row sets ERR_SIM.

    Called with ``w = 0`` straight from Python, it is the serial path (a
    handful of queries, or a small batch); :func:`_neighbour_kernel` runs one
    per thread.  The per-query code sits in the loop, not in a function of
    its own: every compiled level a kernel calls is optimised and compiled to
    machine code again inside each caller, which costs seconds on first use.
    """
    # named tuples arrive as plain tuples (see recsys.core.workers) and are named again here
    q = NeighbourQueries(*q_fields)
    sim = Similarity(*sim_fields)
    c = Constraints(*c_fields)
    scratch = NeighbourScratch(*scratch_fields)
    out = Outputs(*out_fields)
    chunks = Schedule(*chunk_fields)
    acc = scratch.acc[w]
    direct = scratch.direct[w]
    flag = scratch.flags[w]
    touched = scratch.touched[w]
    best_c = scratch.best_contribution[w]
    best_pos = scratch.best_position[w]
    ci = scratch.cand_items[w]
    cs = scratch.cand_scores[w]
    mark = scratch.marks[w]
    heap = scratch.heaps[w]
    gcount = scratch.gcounts[w]
    noisy_or = q.noisy_or
    track = q.track_best
    q_indptr = q.indptr
    q_indices = q.indices
    q_weights = q.weights
    q_explain = q.explain
    q_direct = q.direct
    q_limit = q.limit
    sim_indptr = sim.indptr
    sim_indices = sim.indices
    sim_data = sim.data
    n_items = sim_indptr.shape[0] - 1
    nnz_sim = sim_indices.shape[0]
    n_queries = q_indptr.shape[0] - 1
    while True:
        lo, hi = next_chunk(chunks, n_queries)
        if lo >= hi:
            break
        for qi in range(lo, hi):
            # ---- accumulate weight * similarity (sum, or max with noisy_or); direct entries
            # score their own item; remember the best explaining entry.  Written out on plain
            # arrays, not in helpers or through the tuples: a call per entry costs 3x here.
            nt = np.int64(0)  # not a literal 0: Numba would compile the callees for it too
            bad = False
            for p in range(q_indptr[qi], q_indptr[qi + 1]):
                i = q_indices[p]
                wt = q_weights[p]
                if q_direct[p]:
                    if not flag[i]:
                        flag[i] = True
                        touched[nt] = i
                        nt += 1
                        acc[i] = 0.0
                        direct[i] = 0.0
                        if track:
                            best_c[i] = -np.inf
                            best_pos[i] = -1
                    if noisy_or:
                        direct[i] = direct[i] + wt - direct[i] * wt
                    else:
                        acc[i] += wt
                    continue
                explain = track and q_explain[p]
                r0 = sim_indptr[i]
                r1 = sim_indptr[i + 1]
                if r0 < 0 or r1 < r0 or r1 > nnz_sim:
                    bad = True
                    break
                if q_limit[p] >= 0 and r1 - r0 > q_limit[p]:  # the row's first limit entries
                    r1 = r0 + q_limit[p]
                if not (noisy_or or track):  # plain sums (item-item recommend): the lean loop
                    for r in range(r0, r1):
                        j = sim_indices[r]
                        if j < 0 or j >= n_items:
                            bad = True
                            break
                        if not flag[j]:
                            flag[j] = True
                            touched[nt] = j
                            nt += 1
                            acc[j] = 0.0
                        acc[j] += wt * sim_data[r]
                    if bad:
                        break
                    continue
                for r in range(r0, r1):
                    j = sim_indices[r]
                    if j < 0 or j >= n_items:
                        bad = True
                        break
                    contribution = wt * sim_data[r]
                    if not flag[j]:
                        flag[j] = True
                        touched[nt] = j
                        nt += 1
                        acc[j] = 0.0
                        if noisy_or:
                            direct[j] = 0.0
                        if track:
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
            m = 0 if bad else nt  # a bad query has no candidate and no fill: it reports an error
            positions = out.positions[qi] if track else scratch.positions[w]
            ids = out.ids[qi]
            a_row = c.allowed_of_query[qi]
            f_row = c.fill_of_query[qi] if not bad else -1
            mark_excluded(mark, c, qi, True)
            if not c.has_groups:  # rank the touched items by their accumulated score, as they are
                if noisy_or:  # the final probabilities, in place
                    for t in range(m):
                        j = touched[t]
                        acc[j] = combined(acc[j], direct[j], True)
                _, taken = select_items(
                    touched, acc, m, c, a_row, f_row, mark, gcount, ids, out.scores[qi], positions
                )
            else:  # group caps: candidates with a score > 0, copied out for the position heap
                n_cand = np.int64(0)
                for t in range(m):
                    j = touched[t]
                    score = combined(acc[j], direct[j], noisy_or)
                    if score > 0:
                        ci[n_cand] = j
                        cs[n_cand] = score
                        n_cand += 1
                _, taken = select(
                    ci,
                    cs,
                    n_cand,
                    np.bool_(True),
                    c,
                    a_row,
                    f_row,
                    heap,
                    mark,
                    gcount,
                    ids,
                    out.scores[qi],
                    positions,
                )
            mark_excluded(mark, c, qi, False)
            if track:  # the explaining entry of every candidate taken; -1 for filled / empty slots
                for t in range(positions.shape[0]):
                    positions[t] = best_pos[ids[t]] if t < taken else -1
            for t in range(nt):
                flag[touched[t]] = False
            if bad:
                out.err[qi] = ERR_SIM


@numba.njit(cache=True, nogil=True, parallel=True)
def _neighbour_kernel(
    q_fields, sim_fields, c_fields, scratch_fields, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Run a batch: one worker per thread, in ``prange``."""
    n_workers = Schedule(*chunk_fields).n_workers
    for w in numba.prange(n_workers):
        _neighbour_worker(
            np.int64(w), q_fields, sim_fields, c_fields, scratch_fields, out_fields, chunk_fields
        )


def _probabilities(weights: np.ndarray) -> bool:
    """Tell whether every weight lies in [0, 1] (NaN does not); a basket's few in Python."""
    if weights.size <= 32:
        return all(0.0 <= w <= 1.0 for w in weights.tolist())
    return bool(np.all((weights >= 0) & (weights <= 1)))


def _entry_flags(flags: object, shape: tuple[int, ...], name: str, *, default: bool) -> np.ndarray:
    """Check a bool array aligned with the query entries (``default`` everywhere if not given)."""
    if flags is None:
        return (np.ones if default else np.zeros)(shape, dtype=np.bool_)
    out = np.ascontiguousarray(flags, dtype=np.bool_)
    if out.shape != shape:
        raise ValueError(f"{name} must have the shape of query_indices {shape}, got {out.shape}")
    return out


def _entry_limits(limits: object, shape: tuple[int, ...]) -> np.ndarray:
    """Check ``query_limit`` (aligned with the query entries; -1, all, everywhere if not given)."""
    if limits is None:
        return np.full(shape, -1, dtype=np.int64)
    out = int_array(limits, np.int64, "query_limit")
    if out.shape != shape:
        raise ValueError(
            f"query_limit must have the shape of query_indices {shape}, got {out.shape}"
        )
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
    *,
    positions: bool = True,
    query_limit: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Constrained top-n by neighbour similarity, with the best explaining pair.

    ``combine="sum"``: ``score(q, j) = sum_i weight(q, i) * sim(i, j)`` over
    the query's items.  ``combine="noisy_or"`` treats each ``weight * sim`` as
    a probability that ``j`` belongs in the basket: the neighbour evidence is
    its maximum over the query's items, ``b = max_i weight(q, i) * sim(i, j)``,
    and it is combined with the query's *direct* entries (``query_direct``:
    the entry scores its own item, with probability ``weight``; several
    direct entries of one item combine by noisy-or too) as
    ``1 - (1 - b) (1 - d)``.  With ``sum``, a direct entry adds its weight.

    Items with a score ``> 0`` are the candidates; the fill order (of the
    constraints) pads short lists.  For every returned candidate the kernel
    also reports the similarity entry with the largest contribution among the
    query entries flagged in ``query_explain`` — the basket item "because" of
    which it is recommended.

    Parameters
    ----------
    query_indptr, query_indices, query_weights : array_like
        CSR ``(n_queries, n_items)`` of the queries' items and weights.
    sim_indptr, sim_indices, sim_data : array_like
        CSR ``(n_items, n_items)`` of neighbours and similarities.
        ``n_items`` is ``len(sim_indptr) - 1``.
    n : int
        Items per query.
    constraints : Constraints, optional
        Exclusions, allowed masks, group caps and fill orders.
    query_explain : array_like of bool, optional
        Aligned with ``query_indices``: which entries may explain a result
        (default all).
    query_direct : array_like of bool, optional
        Aligned with ``query_indices``: entries that score their own item
        instead of its neighbours (default none).
    combine : {"sum", "noisy_or"}
        How contributions combine (see above).
    num_threads : int
        Numba threads (0 = all cores).
    positions : bool, default True
        Find the explaining entries; ``False`` skips that work and returns
        ``None`` as ``sim_positions``.
    query_limit : array_like of int, optional
        Aligned with ``query_indices``: how many neighbours of each entry's
        row count, the first ``limit`` (its strongest when the rows are
        sorted by similarity, as a
        :class:`~recsys.core.cooccurrence.NeighbourTable`'s are); negative
        means the whole row (default: every entry reads its whole row).

    Returns
    -------
    ids : ndarray of int32, shape (n_queries, n)
        ``-1`` where fewer than ``n`` items qualify.
    scores : ndarray of float32, shape (n_queries, n)
        ``-inf`` in unfilled slots; filled items get the fill scores.
    sim_positions : ndarray of int64, shape (n_queries, n), or None
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

    A fill order pads short lists (score 0 by default):

    >>> c = Constraints.make(1, 3, exclude_indptr=[0, 1], exclude_indices=[0], fill_order=[0, 1, 2])
    >>> ids, scores, _ = constrained_topn_neighbours([0, 1], [0], [2.0], [0, 1, 1, 1], [2], [0.5],
    ...                                              n=3, constraints=c, positions=False)
    >>> ids.tolist(), scores.tolist()
    ([[2, 1, -1]], [[1.0, 0.0, -inf]])

    As probabilities: item 2 is 1.0 likely after item 1 alone (the maximum),
    and a direct entry gives item 0 a 0.5 chance:

    >>> ids, scores, _ = constrained_topn_neighbours([0, 3], [0, 1, 0], [1.0, 1.0, 0.5], *sim, n=3,
    ...     query_direct=[False, False, True], combine="noisy_or")
    >>> ids.tolist(), scores.tolist()
    ([[2, 0, 1]], [[1.0, 0.5, 0.5]])

    A limit of 1 reads only the first neighbour of item 0's row:

    >>> ids, scores, _ = constrained_topn_neighbours([0, 1], [0], [1.0], *sim, n=2,
    ...                                              query_limit=[1], positions=False)
    >>> ids.tolist(), scores.tolist()
    ([[1, -1]], [[0.5, -inf]])
    """
    n = check_n(n)
    if combine not in ("sum", "noisy_or"):
        raise ValueError(f"combine must be 'sum' or 'noisy_or', got {combine!r}")
    sim = Similarity(*check_similarity(sim_indptr, sim_indices, sim_data))
    n_items = sim.indptr.shape[0] - 1
    q_ip = int_array(query_indptr, np.int64, "query_indptr")
    if q_ip.shape[0] < 1:
        raise ValueError("query_indptr must have length n_queries + 1 >= 1")
    n_queries = q_ip.shape[0] - 1
    q_ip, q_ix = check_csr(q_ip, query_indices, n_queries, n_items, "query")
    q_w = float_array(query_weights, q_ix.shape, "query_weights", "query_indices")
    noisy_or = combine == "noisy_or"
    if noisy_or and not _probabilities(q_w):
        raise ValueError("combine='noisy_or' needs query_weights in [0, 1] (probabilities)")
    q = NeighbourQueries(
        q_ip,
        q_ix,
        q_w,
        _entry_flags(query_explain, q_ix.shape, "query_explain", default=True),
        _entry_flags(query_direct, q_ix.shape, "query_direct", default=False),
        _entry_limits(query_limit, q_ix.shape),
        noisy_or,
        bool(positions),
    )
    c = as_constraints(constraints, n_queries, n_items)
    out = outputs(n_queries, n, positions=bool(positions))

    def make_scratch(workers: int) -> NeighbourScratch:
        key = ("neighbours", n_items, c.n_groups)
        scratch = reused(key, workers, lambda w: _neighbour_scratch(w, n_items, c.n_groups))
        return scratch._replace(
            positions=np.empty((workers, 0 if positions else n), dtype=np.int64)
        )

    def launch(scratch: NeighbourScratch, chunks: Schedule) -> None:
        fields = plain(q, sim, c, scratch, out, chunks)
        if chunks.in_caller:
            _neighbour_worker(0, *fields)
        else:
            _neighbour_kernel(*fields)

    def work() -> int:  # neighbour entries walked (direct entries walk none), entries, results
        walks = ~q.direct
        lengths = sim.indptr[q_ix + 1] - sim.indptr[q_ix]
        lengths = np.where(q.limit >= 0, np.minimum(lengths, q.limit), lengths)
        walked = int(lengths[walks].sum())
        return walked + q_ix.shape[0] + n_queries * n

    run(n_queries, num_threads, make_scratch, launch, work)
    raise_kernel_errors(out.err)
    return out.ids, out.scores, (out.positions if positions else None)
