"""Constrained top-n from an explicit candidate list per query (upgrade tiers, fill-only lists).

Selection and fill follow :mod:`recsys.core.selection`, constraints
:mod:`recsys.core.constraints`, the launch :mod:`recsys.core.workers`.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from recsys.core.checks import Outputs, check_count, check_csr, check_n, float_array, outputs
from recsys.core.constraints import Constraints, as_constraints, mark_excluded
from recsys.core.selection import SelectScratch, select, select_scratch
from recsys.core.workers import Schedule, next_chunk, plain, reused, run

__all__ = ["CandidateLists", "constrained_topn_candidates"]


class CandidateLists(NamedTuple):
    """Candidates of every query as a CSR ``(n_queries, n_items)``.

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_queries + 1,)
    items : ndarray of int32
    scores : ndarray of float32
    """

    indptr: np.ndarray
    items: np.ndarray
    scores: np.ndarray


@numba.njit(cache=True, nogil=True)
def _candidates_worker(
    w, cand_fields, c_fields, scratch_fields, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Worker ``w``: select the queries of the chunks it pulls (``w = 0`` from Python: serially)."""
    # named tuples arrive as plain tuples (see recsys.core.workers) and are named again here
    cand = CandidateLists(*cand_fields)
    c = Constraints(*c_fields)
    scratch = SelectScratch(*scratch_fields)
    out = Outputs(*out_fields)
    chunks = Schedule(*chunk_fields)
    heap = scratch.heaps[w]
    mark = scratch.marks[w]
    gcount = scratch.gcounts[w]
    n_queries = cand.indptr.shape[0] - 1
    while True:
        lo, hi = next_chunk(chunks, n_queries)
        if lo >= hi:
            break
        for qi in range(lo, hi):
            mark_excluded(mark, c, qi, True)
            c0 = cand.indptr[qi]
            c1 = cand.indptr[qi + 1]
            positions = out.positions[qi]
            select(
                cand.items[c0:c1],
                cand.scores[c0:c1],
                c1 - c0,
                np.bool_(False),  # not a literal: one specialisation of select
                c,
                c.allowed_of_query[qi],
                c.fill_of_query[qi],
                heap,
                mark,
                gcount,
                out.ids[qi],
                out.scores[qi],
                positions,
            )
            for t in range(positions.shape[0]):  # positions in the query's list -> in cand.items
                if positions[t] >= 0:
                    positions[t] += c0
            mark_excluded(mark, c, qi, False)


@numba.njit(cache=True, nogil=True, parallel=True)
def _candidates_kernel(
    cand_fields, c_fields, scratch_fields, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Run a batch: one worker per thread, in ``prange``."""
    n_workers = Schedule(*chunk_fields).n_workers
    for w in numba.prange(n_workers):
        _candidates_worker(
            np.int64(w), cand_fields, c_fields, scratch_fields, out_fields, chunk_fields
        )


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
        From :meth:`~recsys.core.constraints.Constraints.make` for
        ``n_queries`` queries.
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
    n = check_n(n)
    n_items = check_count(n_items, "n_items")
    c_ip = np.asarray(cand_indptr)
    if c_ip.ndim != 1 or c_ip.shape[0] < 1:
        raise ValueError("cand_indptr must have length n_queries + 1 >= 1")
    n_queries = c_ip.shape[0] - 1
    c_ip, c_ix = check_csr(c_ip, cand_items, n_queries, n_items, "cand")
    c_sc = float_array(cand_scores, c_ix.shape, "cand_scores", "cand_items")
    c = as_constraints(constraints, n_queries, n_items)
    cand = CandidateLists(c_ip, c_ix, c_sc)
    out = outputs(n_queries, n, positions=True)
    max_len = max(int(np.diff(c_ip).max(initial=0)), 1)  # the longest candidate list

    def make_scratch(workers: int) -> SelectScratch:
        kept = reused(
            ("candidates", n_items, c.n_groups),
            workers,
            lambda w: select_scratch(w, n_items, c.n_groups, 0),
        )
        heaps = np.empty((workers, max_len), dtype=np.int32)  # as long as the longest list
        return SelectScratch(heaps, kept.marks, kept.gcounts, kept.positions)

    def launch(scratch: SelectScratch, chunks: Schedule) -> None:
        fields = plain(cand, c, scratch, out, chunks)
        if chunks.in_caller:
            _candidates_worker(0, *fields)
        else:
            _candidates_kernel(*fields)

    run(n_queries, num_threads, make_scratch, launch, c_ix.shape[0] + n_queries * n)
    return out.ids, out.scores, out.positions
