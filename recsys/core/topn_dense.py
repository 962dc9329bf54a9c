"""Constrained top-n of each row of a dense score matrix (factor models' score rows).

Every item is a candidate (NaN scores excepted); selection and fill follow
:mod:`recsys.core.selection`, constraints :mod:`recsys.core.constraints`,
the launch :mod:`recsys.core.workers`.
"""

from __future__ import annotations

import numba
import numpy as np

from recsys.core.checks import Outputs, check_n, outputs, writable
from recsys.core.constraints import Constraints, as_constraints, mark_excluded
from recsys.core.selection import SelectScratch, select, select_scratch
from recsys.core.workers import Schedule, next_chunk, plain, reused, run

__all__ = ["constrained_topn_dense"]


@numba.njit(cache=True, nogil=True)
def _dense_worker(
    w, scores, item_range, c_fields, scratch_fields, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Worker ``w``: select the rows of the chunks it pulls (``w = 0`` from Python: serially)."""
    # named tuples arrive as plain tuples (see recsys.core.workers) and are named again here
    c = Constraints(*c_fields)
    scratch = SelectScratch(*scratch_fields)
    out = Outputs(*out_fields)
    chunks = Schedule(*chunk_fields)
    heap = scratch.heaps[w]
    mark = scratch.marks[w]
    gcount = scratch.gcounts[w]
    n_queries, n_items = scores.shape
    while True:
        lo, hi = next_chunk(chunks, n_queries)
        if lo >= hi:
            break
        for qi in range(lo, hi):
            mark_excluded(mark, c, qi, True)
            select(
                item_range,
                scores[qi],
                n_items,
                np.bool_(True),  # not a literal: one specialisation of select
                c,
                c.allowed_of_query[qi],
                c.fill_of_query[qi],
                heap,
                mark,
                gcount,
                out.ids[qi],
                out.scores[qi],
                scratch.positions[w],
            )
            mark_excluded(mark, c, qi, False)


@numba.njit(cache=True, nogil=True, parallel=True)
def _dense_kernel(
    scores, item_range, c_fields, scratch_fields, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Run a batch: one worker per thread, in ``prange``."""
    n_workers = Schedule(*chunk_fields).n_workers
    for w in numba.prange(n_workers):
        _dense_worker(
            np.int64(w), scores, item_range, c_fields, scratch_fields, out_fields, chunk_fields
        )


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
        Converted to float32.  NaN entries are never returned.
    n : int
        Items per query.
    constraints : Constraints, optional
        From :meth:`~recsys.core.constraints.Constraints.make` for
        ``n_queries`` queries and ``n_items`` items.
    num_threads : int
        Numba threads (0 = all cores).

    Returns
    -------
    ids : ndarray of int32, shape (n_queries, n)
        ``-1`` where fewer than ``n`` items qualify.
    scores : ndarray of float32, shape (n_queries, n)
        ``-inf`` in unfilled slots.

    Examples
    --------
    >>> ids, top = constrained_topn_dense([[0.1, 0.9, 0.5], [2.0, 2.0, 1.0]], n=2)
    >>> ids.tolist()
    [[1, 2], [0, 1]]
    >>> c = Constraints.make(1, 4, exclude_indptr=[0, 1], exclude_indices=[0],
    ...                      group_of=[0, 1, 1, 2], max_per_group=1)
    >>> ids, top = constrained_topn_dense([[4.0, 3.0, 2.0, 1.0]], n=3, constraints=c)
    >>> ids.tolist(), top.tolist()
    ([[1, 3, -1]], [[3.0, 1.0, -inf]])
    """
    n = check_n(n)
    sc = writable(np.ascontiguousarray(scores, dtype=np.float32))
    if sc.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_queries, n_items), got shape {sc.shape}")
    n_queries, n_items = sc.shape
    c = as_constraints(constraints, n_queries, n_items)
    out = outputs(n_queries, n)
    item_range = np.arange(n_items, dtype=np.int32)

    def make_scratch(workers: int) -> SelectScratch:
        key = ("dense", n_items, c.n_groups)
        scratch = reused(key, workers, lambda w: select_scratch(w, n_items, c.n_groups, n_items))
        return scratch._replace(positions=np.empty((workers, n), dtype=np.int64))

    def launch(scratch: SelectScratch, chunks: Schedule) -> None:
        fields = plain(c, scratch, out, chunks)
        if chunks.in_caller:
            _dense_worker(0, sc, item_range, *fields)
        else:
            _dense_kernel(sc, item_range, *fields)

    run(n_queries, num_threads, make_scratch, launch, n_queries * (n_items + n))
    return out.ids, out.scores
