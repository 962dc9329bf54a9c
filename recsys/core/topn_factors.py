"""Exact top-n by dot product with norm-bound pruning (factor models: ALS).

Items are scanned in norm-descending order (:func:`build_factor_index`);
once ``n`` eligible items are held and ``||q|| * ||item||`` of the remaining
items (with a safety margin for float rounding) is below the current n-th
score, the scan stops.  The result equals the brute-force top-n: ranking
order score descending, ties by item id ascending, NaN never returned,
``-1`` / ``-inf`` in slots that cannot be filled.

The kernel keeps its top-n in a pair heap (:mod:`recsys.core.heap`) held in
the output row, honours the exclusions and allowed masks of
:class:`~recsys.core.constraints.Constraints` (not caps or fills: every item
is a candidate), and runs as :mod:`recsys.core.workers` describes.
"""

from __future__ import annotations

import math
import numbers
import weakref
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from recsys.core.checks import Outputs, check_n, outputs
from recsys.core.constraints import (
    Constraints,
    for_one_query,
    mark_excluded,
    unconstrained,
    with_allowed,
    with_exclusions,
)
from recsys.core.heap import better, pair_drain, pair_offer
from recsys.core.workers import Schedule, marks, next_chunk, plain, run

__all__ = [
    "FactorIndex",
    "build_factor_index",
    "topn_factor_scores",
    "topn_factor_scores_one",
]

# Only re-association and FMA contraction for the dot product: enough for LLVM
# to vectorise the reduction, while inf/NaN keep their IEEE meaning.
_DOT_FLAGS = {"reassoc", "contract"}


@dataclass(frozen=True, eq=False)
class FactorIndex:
    """Item factors prepared for pruned top-n scoring.

    Build it with :func:`build_factor_index`, which sorts the rows by L2 norm.

    Attributes
    ----------
    factors : ndarray of float32, shape (n_items, n_factors)
        C-contiguous item factor rows, sorted by L2 norm descending.
    norms : ndarray of float32, shape (n_items,)
        L2 norms of ``factors`` rows (non-increasing).
    order : ndarray of int32, shape (n_items,)
        ``order[j]`` is the original item id of sorted row ``j``.
    block_size : int
        Rows scanned between two checks of the pruning bound.

    Examples
    --------
    >>> import numpy as np
    >>> index = build_factor_index(np.array([[1.0, 0.0], [3.0, 4.0]]))
    >>> index.order.tolist(), index.norms.tolist()
    ([1, 0], [5.0, 1.0])
    """

    factors: np.ndarray
    norms: np.ndarray
    order: np.ndarray
    block_size: int = 256

    def __post_init__(self) -> None:
        f, norms, order = self.factors, self.norms, self.order
        if not isinstance(f, np.ndarray) or f.ndim != 2 or f.dtype != np.float32:
            raise ValueError("factors must be a 2-D float32 array")
        if not f.flags.c_contiguous:
            raise ValueError("factors must be C-contiguous")
        n_items = f.shape[0]
        if (
            not isinstance(norms, np.ndarray)
            or norms.dtype != np.float32
            or norms.shape != (n_items,)
        ):
            raise ValueError(f"norms must be a float32 array of shape ({n_items},)")
        if (
            not isinstance(order, np.ndarray)
            or order.dtype != np.int32
            or order.shape != (n_items,)
        ):
            raise ValueError(f"order must be an int32 array of shape ({n_items},)")
        if n_items > 1 and np.any(norms[1:] > norms[:-1]):
            raise ValueError("norms must be sorted in descending order")
        if (
            isinstance(self.block_size, bool)
            or not isinstance(self.block_size, numbers.Integral)
            or self.block_size < 1
        ):
            raise ValueError(f"block_size must be a positive integer, got {self.block_size!r}")

    @property
    def n_items(self) -> int:
        """Number of items in the index."""
        return int(self.factors.shape[0])

    @property
    def n_factors(self) -> int:
        """Number of latent factors."""
        return int(self.factors.shape[1])


def build_factor_index(item_factors: np.ndarray, block_size: int = 256) -> FactorIndex:
    """Sort item factor rows by L2 norm (descending) for pruned scoring.

    Parameters
    ----------
    item_factors : array_like, shape (n_items, n_factors)
        Item factors; converted to float32.  Must be finite.
    block_size : int, default 256
        Rows scanned between two checks of the pruning bound.

    Returns
    -------
    FactorIndex
        Rows with equal norm keep ascending item id order.

    Examples
    --------
    >>> import numpy as np
    >>> index = build_factor_index(np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 2.0]]))
    >>> index.order.tolist()
    [1, 2, 0]
    """
    arr = np.asarray(item_factors)
    if arr.ndim != 2:
        raise ValueError(f"item_factors must be 2-D (n_items, n_factors), got shape {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"item_factors must be numeric, got dtype {arr.dtype}")
    arr32 = np.asarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr32)):
        raise ValueError("item_factors must be finite (no NaN or inf)")
    norms = np.sqrt(np.einsum("ij,ij->i", arr32, arr32, dtype=np.float64)).astype(np.float32)
    order = np.argsort(-norms, kind="stable").astype(np.int32)
    return FactorIndex(
        factors=np.ascontiguousarray(arr32[order]),
        norms=np.ascontiguousarray(norms[order]),
        order=order,
        block_size=int(block_size),
    )


class ScanPlan(NamedTuple):
    """A :class:`FactorIndex` as the kernel sees it, with the pruning margin.

    Attributes
    ----------
    factors, norms, order : ndarray
        As in :class:`FactorIndex`.
    block_size : int
    margin : float
        Relative slack on the Cauchy-Schwarz bound (float32 rounding).
    """

    factors: np.ndarray
    norms: np.ndarray
    order: np.ndarray
    block_size: int
    margin: float


def _plan(index: FactorIndex) -> ScanPlan:
    # relative slack on the Cauchy-Schwarz bound: covers float32 rounding of
    # any-order dot products (about n_factors * 2**-24) with a wide margin
    margin = 1e-4 + 4.0 * index.n_factors * 2.0**-24
    return ScanPlan(index.factors, index.norms, index.order, int(index.block_size), margin)


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plan_fields(index: FactorIndex) -> tuple:
    """``plain(_plan(index))``, remembered per index (the serving path asks for it every call)."""
    fields = _PLANS.get(index)
    if fields is None:
        fields = _PLANS[index] = tuple(_plan(index))
    return fields


@numba.njit(cache=True, nogil=True, fastmath=_DOT_FLAGS)
def _dot(q, factors, j):  # pragma: no cover - compiled
    acc = np.float32(0.0)
    for k in range(q.shape[0]):
        acc += q[k] * factors[j, k]
    return acc


@numba.njit(cache=True, nogil=True)
def _scan(q, plan, n, mark, c, a_row, hs, hi):  # pragma: no cover - compiled
    """Fill the pair heap (hs, hi) with the top-n of one query vector ``q``.

    Items marked in ``mark`` or not allowed by mask row ``a_row`` are skipped.
    Returns the heap size and the number of rows scored (for tests of pruning).
    """
    allowed = c.allowed
    has_allowed = c.has_allowed
    factors = plan.factors
    norms = plan.norms
    order = plan.order
    block_size = plan.block_size
    margin = plan.margin
    n_items = factors.shape[0]
    qn2 = 0.0
    for k in range(q.shape[0]):
        qn2 += np.float64(q[k]) * np.float64(q[k])
    qn = math.sqrt(qn2)
    size = np.int64(0)  # not a literal 0: Numba would compile pair_offer for it too
    end = 0
    for start in range(0, n_items, block_size):
        if size == n:
            bound = qn * np.float64(norms[start])
            if bound * (1.0 + margin) + 1e-6 < hs[0]:
                break  # no remaining item can reach the current n-th score
        end = min(start + block_size, n_items)
        for j in range(start, end):
            s = _dot(q, factors, j)
            iid = order[j]
            if size == n and not better(s, iid, hs[0], hi[0]):
                continue
            if s != s or mark[iid] or (has_allowed and not allowed[a_row, iid]):
                continue
            size = pair_offer(hs, hi, size, n, s, iid)
    return size, end


@numba.njit(cache=True, nogil=True)
def _factor_worker(
    w, queries, plan_fields, c_fields, mark_rows, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Worker ``w``: scan for the queries of the chunks it pulls (``w = 0`` from Python: serial)."""
    # named tuples arrive as plain tuples (see recsys.core.workers) and are named again here
    plan = ScanPlan(*plan_fields)
    c = Constraints(*c_fields)
    out = Outputs(*out_fields)
    chunks = Schedule(*chunk_fields)
    n = out.ids.shape[1]
    mark = mark_rows[w]
    n_queries = queries.shape[0]
    while True:
        lo, hi = next_chunk(chunks, n_queries)
        if lo >= hi:
            break
        for qi in range(lo, hi):
            mark_excluded(mark, c, qi, True)
            hs = out.scores[qi]
            hid = out.ids[qi]
            size, _ = _scan(queries[qi], plan, n, mark, c, c.allowed_of_query[qi], hs, hid)
            mark_excluded(mark, c, qi, False)
            pair_drain(hs, hid, size)


@numba.njit(cache=True, nogil=True, parallel=True)
def _factor_kernel(
    queries, plan_fields, c_fields, mark_rows, out_fields, chunk_fields
):  # pragma: no cover - compiled
    """Run a batch: one worker per thread, in ``prange``."""
    n_workers = Schedule(*chunk_fields).n_workers
    for w in numba.prange(n_workers):
        _factor_worker(
            np.int64(w), queries, plan_fields, c_fields, mark_rows, out_fields, chunk_fields
        )


@numba.njit(cache=True, nogil=True)
def _factor_one(q, plan_fields, c_fields, mark, ids, scores):  # pragma: no cover - compiled
    """Top-n of the one query of ``c_fields`` (the serving path of ``topn_factor_scores_one``)."""
    plan = ScanPlan(*plan_fields)
    c = Constraints(*c_fields)
    qi = np.int64(0)
    mark_excluded(mark, c, qi, True)
    size, _ = _scan(q, plan, ids.shape[0], mark, c, c.allowed_of_query[qi], scores, ids)
    mark_excluded(mark, c, qi, False)
    pair_drain(scores, ids, size)


def _check_index(index: object) -> FactorIndex:
    if not isinstance(index, FactorIndex):
        raise TypeError(f"index must be a FactorIndex, got {type(index).__name__}")
    return index


def _topn(q: np.ndarray, index: FactorIndex, n: int, c: Constraints, num_threads: int) -> Outputs:
    n_items = index.n_items
    out = outputs(q.shape[0], n)
    plan = _plan_fields(index)

    def make_scratch(workers: int) -> np.ndarray:
        return marks(workers, n_items)

    def launch(mark_rows: np.ndarray, chunks: Schedule) -> None:
        if chunks.in_caller:
            _factor_worker(0, q, plan, tuple(c), mark_rows, *plain(out, chunks))
        else:
            _factor_kernel(q, plan, tuple(c), mark_rows, *plain(out, chunks))

    # an upper bound (pruning stops most scans early): every item's dot product, every query
    run(q.shape[0], num_threads, make_scratch, launch, q.shape[0] * (n_items * q.shape[1] + n))
    return out


def _allowed(c: Constraints, item_allowed: object, n_items: int) -> Constraints:
    """Add a global ``item_allowed`` mask (any dtype castable to bool) as a constraint."""
    if item_allowed is None:
        return c
    mask = np.asarray(item_allowed)
    if mask.shape != (n_items,):
        raise ValueError(f"item_allowed must have shape ({n_items},), got {mask.shape}")
    return with_allowed(c, mask.astype(np.bool_, copy=False))


def topn_factor_scores(
    query_factors: np.ndarray,
    index: FactorIndex,
    n: int,
    exclude_indptr: np.ndarray | None = None,
    exclude_indices: np.ndarray | None = None,
    item_allowed: np.ndarray | None = None,
    num_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-n items by dot product, for a batch of query vectors.

    Parameters
    ----------
    query_factors : array_like, shape (n_queries, n_factors)
        Query (user) vectors; converted to float32.
    index : FactorIndex
        Item factors from :func:`build_factor_index`.
    n : int
        Number of items per query (may exceed ``n_items``; padded).
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
    >>> index = build_factor_index(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> ids, scores = topn_factor_scores(np.array([[1.0, 2.0]]), index, n=2)
    >>> ids.tolist(), scores.tolist()
    ([[2, 1]], [[3.0, 2.0]])
    """
    index = _check_index(index)
    n = check_n(n)
    q = np.ascontiguousarray(query_factors, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != index.n_factors:
        raise ValueError(
            f"query_factors must have shape (n_queries, {index.n_factors}), got {q.shape}"
        )
    c = unconstrained(q.shape[0], index.n_items)
    c = with_exclusions(c, exclude_indptr, exclude_indices)
    c = _allowed(c, item_allowed, index.n_items)
    out = _topn(q, index, n, c, num_threads)
    return out.ids, out.scores


def topn_factor_scores_one(
    query_vector: np.ndarray,
    index: FactorIndex,
    n: int,
    exclude_items: np.ndarray | None = None,
    item_allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n items for a single query vector, in the calling thread.

    Same result as one row of :func:`topn_factor_scores`, without entering a
    parallel section (the serving path; the GIL is released).

    Parameters
    ----------
    query_vector : array_like, shape (n_factors,)
        Query (user) vector; converted to float32.
    index : FactorIndex
        Item factors from :func:`build_factor_index`.
    n : int
        Number of items to return.
    exclude_items : array_like of int, optional
        Item ids not to return.
    item_allowed : array_like of bool, shape (n_items,), optional
        Global mask; ``False`` items are never returned.

    Returns
    -------
    ids : ndarray of int32, shape (n,)
    scores : ndarray of float32, shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> index = build_factor_index(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> ids, scores = topn_factor_scores_one(np.array([1.0, 2.0]), index, n=2, exclude_items=[2])
    >>> ids.tolist(), scores.tolist()
    ([1, 0], [2.0, 1.0])
    """
    index = _check_index(index)
    n = check_n(n)
    q = np.ascontiguousarray(query_vector, dtype=np.float32)
    if q.shape != (index.n_factors,):
        raise ValueError(f"query_vector must have shape ({index.n_factors},), got {q.shape}")
    n_items = index.n_items
    # The serving path (one user): the same scan as the batch kernel, called straight in the
    # calling thread -- no schedule, no parallel region, the cheapest call to dispatch.
    c = for_one_query(n_items, exclude_items, item_allowed)
    ids = np.empty(n, dtype=np.int32)
    scores = np.empty(n, dtype=np.float32)
    _factor_one(q, _plan_fields(index), tuple(c), marks(1, n_items)[0], ids, scores)
    return ids, scores
