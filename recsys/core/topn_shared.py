"""Top-n from one ranking shared by all queries (popularity): each query's first eligible items.

Each query walks the shared ranking and takes the first ``n`` items it does
not exclude and its mask allows — the fill of :mod:`recsys.core.selection`
with nothing to rank before it, in a kernel of its own: a query costs a few
dozen nanoseconds, so a call per query to the general selection would double
it.  Exclusions and masks come as :class:`~recsys.core.constraints.Constraints`,
the launch is :mod:`recsys.core.workers`'.
"""

from __future__ import annotations

import numba
import numpy as np

from recsys.core.checks import (
    Outputs,
    check_count,
    check_n,
    float_array,
    int_array,
    min_max_once,
    outputs,
)
from recsys.core.constraints import (
    Constraints,
    mark_excluded,
    unconstrained,
    with_allowed,
    with_exclusions,
)
from recsys.core.workers import Schedule, marks, next_chunk, plain, run

__all__ = ["sort_scores", "topn_shared_scores"]


@numba.njit(cache=True, nogil=True)
def _shared_worker(
    w, order, scores_sorted, c_fields, mark_rows, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Worker ``w``: the queries of the chunks it pulls (``w = 0`` from Python: serially)."""
    # named tuples arrive as plain tuples (see recsys.core.workers) and are named again here
    c = Constraints(*c_fields)
    out = Outputs(*out_fields)
    chunks = Schedule(*chunk_fields)
    mark = mark_rows[w]
    allowed = c.allowed
    has_allowed = c.has_allowed
    a_of_q = c.allowed_of_query
    all_ids = out.ids
    all_scores = out.scores
    n = all_ids.shape[1]
    n_queries = all_ids.shape[0]
    while True:
        lo, hi = next_chunk(chunks, n_queries)
        if lo >= hi:
            break
        for qi in range(lo, hi):
            ids = all_ids[qi]
            top = all_scores[qi]
            a_row = a_of_q[qi]
            mark_excluded(mark, c, qi, True)
            k = 0
            for t in range(order.shape[0]):
                if k == n:
                    break
                j = order[t]
                if j < 0 or mark[j]:
                    continue
                if has_allowed and not allowed[a_row, j]:
                    continue
                ids[k] = j
                top[k] = scores_sorted[t]
                mark[j] = True  # guards against an item listed twice
                k += 1
            for t in range(k):
                mark[ids[t]] = False
            for t in range(k, n):
                ids[t] = -1
                top[t] = -np.inf
            mark_excluded(mark, c, qi, False)


@numba.njit(cache=True, nogil=True, parallel=True)
def _shared_kernel(
    order, scores_sorted, c_fields, mark_rows, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Run a batch: one worker per thread, in ``prange``."""
    n_workers = Schedule(*chunk_fields).n_workers
    for w in numba.prange(n_workers):
        _shared_worker(
            np.int64(w), order, scores_sorted, c_fields, mark_rows, out_fields, chunk_fields
        )


def sort_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort one score per item by (score descending, item id ascending).

    Parameters
    ----------
    scores : array_like, shape (n_items,)
        One score per item (e.g. popularity); must not contain NaN.

    Returns
    -------
    order : ndarray of int32, shape (n_items,)
        Item ids in ranking order.
    scores_sorted : ndarray of float32, shape (n_items,)
        ``scores[order]`` as float32.

    Examples
    --------
    >>> import numpy as np
    >>> order, s = sort_scores(np.array([1.0, 3.0, 3.0, 2.0]))
    >>> order.tolist(), s.tolist()
    ([1, 2, 3, 0], [3.0, 3.0, 2.0, 1.0])
    """
    s = np.ascontiguousarray(scores, dtype=np.float32)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores must not contain NaN")
    order = np.lexsort((np.arange(s.shape[0]), -s)).astype(np.int32)
    return order, s[order]


def topn_shared_scores(
    order: np.ndarray,
    scores_sorted: np.ndarray,
    n_queries: int,
    n: int,
    exclude_indptr: np.ndarray | None = None,
    exclude_indices: np.ndarray | None = None,
    item_allowed: np.ndarray | None = None,
    num_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n items from one ranking shared by all queries (e.g. popularity).

    Each query gets the first ``n`` allowed, non-excluded items of ``order``
    (an item listed twice is taken once; ``-1`` entries are skipped).

    Parameters
    ----------
    order : array_like of int, shape (n_items,)
        Item ids ranked by (score descending, id ascending), from
        :func:`sort_scores`.  ``n_items`` is ``len(order)``.
    scores_sorted : array_like, shape (n_items,)
        Scores matching ``order``.
    n_queries : int
        Number of queries.
    n : int
        Number of items per query.
    exclude_indptr, exclude_indices : array_like, optional
        CSR of item ids excluded per query.
    item_allowed : array_like of bool, shape (n_items,), optional
        Global mask; ``False`` items are never returned.
    num_threads : int, default 0
        Numba threads (0 = all cores).

    Returns
    -------
    ids : ndarray of int32, shape (n_queries, n)
        ``-1`` in slots that cannot be filled.
    scores : ndarray of float32, shape (n_queries, n)
        ``-inf`` in slots that cannot be filled.

    Examples
    --------
    >>> import numpy as np
    >>> order, s = sort_scores(np.array([5.0, 9.0, 7.0]))
    >>> ids, scores = topn_shared_scores(order, s, n_queries=2, n=2,
    ...     exclude_indptr=np.array([0, 0, 1]), exclude_indices=np.array([1]))
    >>> ids.tolist()
    [[1, 2], [2, 0]]
    """
    n = check_n(n)
    n_queries = check_count(n_queries, "n_queries")
    o = int_array(order, np.int32, "order")
    s = float_array(scores_sorted, o.shape, "scores_sorted", "order")
    n_items = o.shape[0]
    low, high = min_max_once(order, o)  # a model's ranking: its id range is checked once
    if o.size and (low < -1 or high >= n_items):
        raise ValueError(
            f"order must hold item ids in [-1, {n_items}), got values in [{low}, {high}]"
        )
    c = with_exclusions(unconstrained(n_queries, n_items), exclude_indptr, exclude_indices)
    if item_allowed is not None:
        mask = np.asarray(item_allowed)
        if mask.shape != (n_items,):
            raise ValueError(f"item_allowed must have shape ({n_items},), got {mask.shape}")
        c = with_allowed(c, mask.astype(np.bool_, copy=False))
    out = outputs(n_queries, n)

    def launch(mark_rows: np.ndarray, chunks: Schedule) -> None:
        if chunks.in_caller:
            _shared_worker(0, o, s, tuple(c), mark_rows, *plain(out, chunks))
        else:
            _shared_kernel(o, s, tuple(c), mark_rows, *plain(out, chunks))

    # marks set and cleared, and the ranking walked (at worst all of it under a mask)
    walk = n_items if c.has_allowed else n
    work = 2 * c.exclude_indices.shape[0] + n_queries * (walk + n)
    run(n_queries, num_threads, lambda workers: marks(workers, n_items), launch, work)
    return out.ids, out.scores
