"""Fused "score, exclude, select top-n" kernels.

Every recommender in recsys ends the same way: score the items for a batch of
queries (users, baskets), drop the items a query must not get, and keep the
``n`` best.  The kernels here do all three in one pass over plain arrays, so
the full ``(n_queries, n_items)`` score matrix is never materialised.

Conventions shared by every function in this module
---------------------------------------------------
* **Ranking order**: score descending, ties broken by item id ascending, i.e.
  the order of ``np.lexsort((ids, -scores))``.  Results are exactly
  reproducible.
* **Output**: ``ids`` int32 and ``scores`` float32, both ``(n_queries, n)``.
  Filled slots come first; slots that cannot be filled (fewer than ``n``
  eligible items) hold id ``-1`` and score ``-inf``.
* **Exclusions**: ``exclude_indptr`` (int64, ``n_queries + 1``) and
  ``exclude_indices`` (int32) form a CSR matrix of item ids each query must not
  get (e.g. items already bought).  ``item_allowed`` is a global boolean mask
  (``False`` = never recommend) or ``None`` (everything allowed).
* **NaN scores** are never recommended.

Selection uses a fixed-size min-heap of ``n`` entries per query, keyed on
``(score, -id)``; exclusions are marked in a per-thread scratch array (set,
used, unset: ``O(nnz)`` per query).  Batches are processed in chunks of
:data:`CHUNK_SIZE` queries, with queries of a chunk spread over threads by
``numba.prange``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numba
import numpy as np

from recsys._utils.threads import parallel_section
from recsys.core._scoring import sorted_position

__all__ = [
    "CHUNK_SIZE",
    "FactorIndex",
    "build_factor_index",
    "sort_scores",
    "topn_dense_scores",
    "topn_factor_scores",
    "topn_factor_scores_one",
    "topn_neighbour_scores",
    "topn_shared_scores",
]

#: Number of queries handed to one kernel launch.
CHUNK_SIZE = 2048

# Only re-association and FMA contraction for the dot product: enough for LLVM
# to vectorise the reduction, while inf/NaN keep their IEEE meaning.
_DOT_FLAGS = {"reassoc", "contract"}

_NO_MASK = np.ones(1, dtype=np.bool_)
_EMPTY_I32 = np.empty(0, dtype=np.int32)
_EMPTY_F32 = np.empty(0, dtype=np.float32)

# error codes reported by kernels through a per-query int8 array
_ERR_THREAD = 1
_ERR_SIM = 2
_ERR_ORDER = 3


# ---------------------------------------------------------------------------
# heap helpers (min-heap whose root is the *worst* kept entry)
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _better(s1, i1, s2, i2):  # pragma: no cover - compiled
    """True if (s1, i1) ranks before (s2, i2): higher score, then lower id."""
    return s1 > s2 or (s1 == s2 and i1 < i2)


@numba.njit(cache=True, nogil=True)
def _sift_down(hs, hi, size, pos):  # pragma: no cover - compiled
    s = hs[pos]
    i = hi[pos]
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        r = c + 1
        if r < size and _better(hs[c], hi[c], hs[r], hi[r]):
            c = r  # the worse child
        if _better(s, i, hs[c], hi[c]):
            hs[pos] = hs[c]
            hi[pos] = hi[c]
            pos = c
        else:
            break
    hs[pos] = s
    hi[pos] = i


@numba.njit(cache=True, nogil=True)
def _heap_offer(hs, hi, size, n, s, i):  # pragma: no cover - compiled
    """Offer (s, i) to a heap holding ``size`` of at most ``n`` entries; return new size."""
    if size < n:
        pos = size
        while pos > 0:
            p = (pos - 1) // 2
            if _better(hs[p], hi[p], s, i):
                hs[pos] = hs[p]
                hi[pos] = hi[p]
                pos = p
            else:
                break
        hs[pos] = s
        hi[pos] = i
        return size + 1
    if _better(s, i, hs[0], hi[0]):
        hs[0] = s
        hi[0] = i
        _sift_down(hs, hi, n, 0)
    return size


@numba.njit(cache=True, nogil=True)
def _heap_drain(hs, hi, size):  # pragma: no cover - compiled
    """Sort a heap in place into ranking order; pad slots ``size:`` with -inf / -1."""
    for k in range(size, hs.shape[0]):
        hs[k] = -np.inf
        hi[k] = -1
    while size > 1:
        s0 = hs[0]
        i0 = hi[0]
        size -= 1
        hs[0] = hs[size]
        hi[0] = hi[size]
        _sift_down(hs, hi, size, 0)
        hs[size] = s0
        hi[size] = i0


@numba.njit(cache=True, nogil=True)
def _mark(mark, indices, lo, hi, value):  # pragma: no cover - compiled
    for k in range(lo, hi):
        mark[indices[k]] = value


# ---------------------------------------------------------------------------
# kernel 1: factor models with norm-bound pruning
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, fastmath=_DOT_FLAGS)
def _dot(q, factors, j):  # pragma: no cover - compiled
    acc = np.float32(0.0)
    for k in range(q.shape[0]):
        acc += q[k] * factors[j, k]
    return acc


@numba.njit(cache=True, nogil=True)
def _scan_factors(
    q,
    factors,
    norms,
    order,
    block_size,
    n,
    margin,
    mark,
    use_mark,
    ex_sorted,
    allowed,
    has_allowed,
    hs,
    hi,
):  # pragma: no cover - compiled
    """Fill heap (hs, hi) with the top-n of one query.

    Returns the heap size and the number of rows scored (for tests of pruning).
    """
    n_items = factors.shape[0]
    qn2 = 0.0
    for k in range(q.shape[0]):
        qn2 += np.float64(q[k]) * np.float64(q[k])
    qn = math.sqrt(qn2)
    check_ex = ex_sorted.shape[0] > 0
    size = 0
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
            if size == n and not _better(s, iid, hs[0], hi[0]):
                continue
            if s != s:
                continue
            if use_mark and mark[iid]:
                continue
            if check_ex and sorted_position(ex_sorted, iid) >= 0:
                continue
            if has_allowed and not allowed[iid]:
                continue
            size = _heap_offer(hs, hi, size, n, s, iid)
    return size, end


@numba.njit(cache=True, nogil=True, parallel=True)
def _topn_factor_kernel(
    queries,
    factors,
    norms,
    order,
    block_size,
    margin,
    ex_indptr,
    ex_indices,
    allowed,
    has_allowed,
    marks,
    out_ids,
    out_scores,
    err,
):  # pragma: no cover - compiled
    n = out_ids.shape[1]
    for qi in numba.prange(queries.shape[0]):
        tid = numba.get_thread_id()
        if tid >= marks.shape[0]:
            err[qi] = _ERR_THREAD
            continue
        mark = marks[tid]
        lo = ex_indptr[qi]
        hi = ex_indptr[qi + 1]
        _mark(mark, ex_indices, lo, hi, True)
        hs = out_scores[qi]
        hid = out_ids[qi]
        size, _ = _scan_factors(
            queries[qi],
            factors,
            norms,
            order,
            block_size,
            n,
            margin,
            mark,
            True,
            _EMPTY_I32,
            allowed,
            has_allowed,
            hs,
            hid,
        )
        _mark(mark, ex_indices, lo, hi, False)
        _heap_drain(hs, hid, size)


@numba.njit(cache=True, nogil=True)
def _topn_factor_one_kernel(
    q,
    factors,
    norms,
    order,
    block_size,
    margin,
    ex_sorted,
    allowed,
    has_allowed,
    out_ids,
    out_scores,
):  # pragma: no cover - compiled
    n = out_ids.shape[0]
    size, _ = _scan_factors(
        q,
        factors,
        norms,
        order,
        block_size,
        n,
        margin,
        allowed,
        False,
        ex_sorted,
        allowed,
        has_allowed,
        out_scores,
        out_ids,
    )
    _heap_drain(out_scores, out_ids, size)


# ---------------------------------------------------------------------------
# kernel 2: sparse neighbour scores
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, parallel=True)
def _topn_neighbour_kernel(
    q_indptr,
    q_indices,
    q_weights,
    sim_indptr,
    sim_indices,
    sim_data,
    ex_indptr,
    ex_indices,
    allowed,
    has_allowed,
    fill_order,
    has_fill,
    acc_all,
    touched_all,
    flag_all,
    marks,
    out_ids,
    out_scores,
    err,
):  # pragma: no cover - compiled
    n = out_ids.shape[1]
    n_items = sim_indptr.shape[0] - 1
    nnz_sim = sim_indices.shape[0]
    for qi in numba.prange(q_indptr.shape[0] - 1):
        tid = numba.get_thread_id()
        if tid >= marks.shape[0]:
            err[qi] = _ERR_THREAD
            continue
        acc = acc_all[tid]
        touched = touched_all[tid]
        flag = flag_all[tid]
        mark = marks[tid]
        hs = out_scores[qi]
        hid = out_ids[qi]
        # accumulate weight * similarity over the query's items
        nt = 0
        bad = False
        for p in range(q_indptr[qi], q_indptr[qi + 1]):
            i = q_indices[p]
            w = q_weights[p]
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
                if not flag[j]:
                    flag[j] = True
                    touched[nt] = j
                    nt += 1
                acc[j] += w * sim_data[r]
            if bad:
                break
        lo = ex_indptr[qi]
        hi = ex_indptr[qi + 1]
        _mark(mark, ex_indices, lo, hi, True)
        size = 0
        if not bad:
            for t in range(nt):
                j = touched[t]
                s = acc[j]
                if not s > 0:
                    continue
                if size == n and not _better(s, j, hs[0], hid[0]):
                    continue
                if mark[j] or (has_allowed and not allowed[j]):
                    continue
                size = _heap_offer(hs, hid, size, n, s, j)
        _heap_drain(hs, hid, size)
        # pad with the fill order (every candidate is in the heap when size < n)
        pos = size
        if has_fill and not bad and size < n:
            for k in range(fill_order.shape[0]):
                if pos == n:
                    break
                j = fill_order[k]
                if j < 0 or j >= n_items:
                    err[qi] = _ERR_ORDER
                    break
                if mark[j] or (has_allowed and not allowed[j]):
                    continue
                if flag[j] and acc[j] > 0:
                    continue  # already chosen as a scored candidate
                hid[pos] = j
                hs[pos] = 0.0
                mark[j] = True
                pos += 1
            for k in range(size, pos):
                mark[hid[k]] = False
        _mark(mark, ex_indices, lo, hi, False)
        for t in range(nt):
            j = touched[t]
            acc[j] = 0.0
            flag[j] = False
        if bad:
            err[qi] = _ERR_SIM


# ---------------------------------------------------------------------------
# kernel 3: one shared ranking (popularity)
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, parallel=True)
def _topn_shared_kernel(
    order,
    scores_sorted,
    ex_indptr,
    ex_indices,
    allowed,
    has_allowed,
    marks,
    out_ids,
    out_scores,
    err,
):  # pragma: no cover - compiled
    n = out_ids.shape[1]
    n_items = order.shape[0]
    for qi in numba.prange(out_ids.shape[0]):
        tid = numba.get_thread_id()
        if tid >= marks.shape[0]:
            err[qi] = _ERR_THREAD
            continue
        mark = marks[tid]
        lo = ex_indptr[qi]
        hi = ex_indptr[qi + 1]
        _mark(mark, ex_indices, lo, hi, True)
        pos = 0
        for k in range(n_items):
            if pos == n:
                break
            j = order[k]
            if j < 0 or j >= n_items:
                err[qi] = _ERR_ORDER
                break
            if mark[j] or (has_allowed and not allowed[j]):
                continue
            out_ids[qi, pos] = j
            out_scores[qi, pos] = scores_sorted[k]
            mark[j] = True  # guards against duplicates in ``order``
            pos += 1
        for k in range(pos):
            mark[out_ids[qi, k]] = False
        for k in range(pos, n):
            out_ids[qi, k] = -1
            out_scores[qi, k] = -np.inf
        _mark(mark, ex_indices, lo, hi, False)


# ---------------------------------------------------------------------------
# kernel 4: dense score rows
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, parallel=True)
def _topn_dense_kernel(
    scores,
    ex_indptr,
    ex_indices,
    allowed,
    has_allowed,
    marks,
    out_ids,
    out_scores,
    err,
):  # pragma: no cover - compiled
    n = out_ids.shape[1]
    n_items = scores.shape[1]
    for qi in numba.prange(scores.shape[0]):
        tid = numba.get_thread_id()
        if tid >= marks.shape[0]:
            err[qi] = _ERR_THREAD
            continue
        mark = marks[tid]
        lo = ex_indptr[qi]
        hi = ex_indptr[qi + 1]
        _mark(mark, ex_indices, lo, hi, True)
        hs = out_scores[qi]
        hid = out_ids[qi]
        row = scores[qi]
        size = 0
        for j in range(n_items):
            s = row[j]
            if size == n and not _better(s, j, hs[0], hid[0]):
                continue
            if s != s or mark[j] or (has_allowed and not allowed[j]):
                continue
            size = _heap_offer(hs, hid, size, n, s, j)
        _mark(mark, ex_indices, lo, hi, False)
        _heap_drain(hs, hid, size)


# ---------------------------------------------------------------------------
# argument checking
# ---------------------------------------------------------------------------


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    return int(n)


def _check_ids(ids: np.ndarray, n_items: int, name: str) -> None:
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n_items):
        raise ValueError(
            f"{name} must hold item ids in [0, {n_items}), got values in "
            f"[{int(ids.min())}, {int(ids.max())}]"
        )


def _as_int_array(x: object, dtype: type, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _check_csr(
    indptr: object, indices: object, n_rows: int, n_cols: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a CSR pattern (rows x cols); return (indptr int64, indices int32)."""
    ip = _as_int_array(indptr, np.int64, f"{name}_indptr")
    ix = _as_int_array(indices, np.int32, f"{name}_indices")
    if ip.shape[0] != n_rows + 1:
        raise ValueError(
            f"{name}_indptr must have length n_queries + 1 = {n_rows + 1}, got {ip.shape[0]}"
        )
    if ip[0] != 0 or ip[-1] != ix.shape[0]:
        raise ValueError(
            f"{name}_indptr must start at 0 and end at len({name}_indices) = {ix.shape[0]}, "
            f"got {int(ip[0])} and {int(ip[-1])}"
        )
    if n_rows and np.any(np.diff(ip) < 0):
        raise ValueError(f"{name}_indptr must be non-decreasing")
    _check_ids(ix, n_cols, f"{name}_indices")
    return ip, ix


def _exclusions(
    exclude_indptr: object, exclude_indices: object, n_queries: int, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    if exclude_indptr is None and exclude_indices is None:
        return np.zeros(n_queries + 1, dtype=np.int64), _EMPTY_I32
    if exclude_indptr is None or exclude_indices is None:
        raise ValueError("exclude_indptr and exclude_indices must be given together")
    return _check_csr(exclude_indptr, exclude_indices, n_queries, n_items, "exclude")


def _allowed_mask(item_allowed: object, n_items: int) -> tuple[np.ndarray, bool]:
    if item_allowed is None:
        return _NO_MASK, False
    mask = np.ascontiguousarray(item_allowed, dtype=np.bool_)
    if mask.shape != (n_items,):
        raise ValueError(f"item_allowed must have shape ({n_items},), got {mask.shape}")
    return mask, True


def _outputs(n_queries: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.empty((n_queries, n), dtype=np.int32),
        np.empty((n_queries, n), dtype=np.float32),
        np.zeros(n_queries, dtype=np.int8),
    )


def _raise_kernel_errors(err: np.ndarray) -> None:
    if not err.any():
        return
    codes = set(np.unique(err[err != 0]).tolist())
    if _ERR_SIM in codes:
        raise ValueError(
            "sim_indptr / sim_indices are not a valid CSR matrix over n_items items "
            "(row pointer out of range or column id outside [0, n_items))"
        )
    if _ERR_ORDER in codes:
        raise ValueError("order / fill_order must hold item ids in [0, n_items)")
    raise RuntimeError("numba ran more threads than the scratch space was sized for")


def _chunks(n_queries: int) -> range:
    return range(0, n_queries, CHUNK_SIZE)


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
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


def _margin(n_factors: int) -> float:
    # relative slack on the Cauchy-Schwarz bound: covers float32 rounding of
    # any-order dot products (about n_factors * 2**-24) with a wide margin
    return 1e-4 + 4.0 * n_factors * 2.0**-24


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

    Items are scanned in norm-descending order; once ``n`` eligible items are
    held and ``||q|| * ||item||`` of the remaining items (with a safety margin
    for float rounding) is below the current n-th score, the scan stops.  The
    result equals the brute-force top-n.

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
    scores : ndarray of float32, shape (n_queries, n)

    Examples
    --------
    >>> import numpy as np
    >>> index = build_factor_index(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> ids, scores = topn_factor_scores(np.array([[1.0, 2.0]]), index, n=2)
    >>> ids.tolist(), scores.tolist()
    ([[2, 1]], [[3.0, 2.0]])
    """
    if not isinstance(index, FactorIndex):
        raise TypeError(f"index must be a FactorIndex, got {type(index).__name__}")
    n = _check_n(n)
    q = np.ascontiguousarray(query_factors, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != index.n_factors:
        raise ValueError(
            f"query_factors must have shape (n_queries, {index.n_factors}), got {q.shape}"
        )
    n_queries, n_items = q.shape[0], index.n_items
    ex_ip, ex_ix = _exclusions(exclude_indptr, exclude_indices, n_queries, n_items)
    allowed, has_allowed = _allowed_mask(item_allowed, n_items)
    out_ids, out_scores, err = _outputs(n_queries, n)
    margin = _margin(index.n_factors)
    with parallel_section(num_threads) as threads:
        marks = np.zeros((threads, n_items), dtype=np.bool_)
        for a in _chunks(n_queries):
            b = min(a + CHUNK_SIZE, n_queries)
            _topn_factor_kernel(
                q[a:b],
                index.factors,
                index.norms,
                index.order,
                int(index.block_size),
                margin,
                ex_ip[a : b + 1],
                ex_ix,
                allowed,
                has_allowed,
                marks,
                out_ids[a:b],
                out_scores[a:b],
                err[a:b],
            )
    _raise_kernel_errors(err)
    return out_ids, out_scores


def topn_factor_scores_one(
    query_vector: np.ndarray,
    index: FactorIndex,
    n: int,
    exclude_items: np.ndarray | None = None,
    item_allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n items for a single query vector, without parallel overhead.

    Same result as one row of :func:`topn_factor_scores`; runs single-threaded
    in the calling thread (the GIL is released).

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
    if not isinstance(index, FactorIndex):
        raise TypeError(f"index must be a FactorIndex, got {type(index).__name__}")
    n = _check_n(n)
    q = np.ascontiguousarray(query_vector, dtype=np.float32)
    if q.shape != (index.n_factors,):
        raise ValueError(f"query_vector must have shape ({index.n_factors},), got {q.shape}")
    n_items = index.n_items
    if exclude_items is None:
        ex = _EMPTY_I32
    else:
        ex = _as_int_array(exclude_items, np.int32, "exclude_items")
        _check_ids(ex, n_items, "exclude_items")
        ex = np.sort(ex)
    allowed, has_allowed = _allowed_mask(item_allowed, n_items)
    out_ids = np.empty(n, dtype=np.int32)
    out_scores = np.empty(n, dtype=np.float32)
    _topn_factor_one_kernel(
        q,
        index.factors,
        index.norms,
        index.order,
        int(index.block_size),
        _margin(index.n_factors),
        ex,
        allowed,
        has_allowed,
        out_ids,
        out_scores,
    )
    return out_ids, out_scores


def topn_neighbour_scores(
    query_indptr: np.ndarray,
    query_indices: np.ndarray,
    query_weights: np.ndarray,
    sim_indptr: np.ndarray,
    sim_indices: np.ndarray,
    sim_data: np.ndarray,
    n: int,
    exclude_indptr: np.ndarray | None = None,
    exclude_indices: np.ndarray | None = None,
    item_allowed: np.ndarray | None = None,
    fill_order: np.ndarray | None = None,
    num_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n items by summed neighbour similarity (item-item models, baskets).

    ``score(q, j) = sum_i weight(q, i) * sim(i, j)`` over the items ``i`` of
    query ``q``.  Candidates are items with a score ``> 0`` that are allowed
    and not excluded.  When fewer than ``n`` remain, the free slots are filled
    from ``fill_order`` (allowed, not excluded, not already chosen items, score
    reported as ``0.0``, in ``fill_order`` order) so every query gets exactly
    ``n`` items whenever ``n`` eligible items exist.

    Parameters
    ----------
    query_indptr, query_indices, query_weights : array_like
        CSR ``(n_queries, n_items)``: each query's items and weights.
    sim_indptr, sim_indices, sim_data : array_like
        CSR ``(n_items, n_items)``: each item's neighbours and similarities.
        ``n_items`` is ``len(sim_indptr) - 1``.
    n : int
        Number of items per query.
    exclude_indptr, exclude_indices : array_like, optional
        CSR of item ids excluded per query.
    item_allowed : array_like of bool, shape (n_items,), optional
        Global mask; ``False`` items are never returned.
    fill_order : array_like of int, optional
        Item ids, most popular first, used to fill short rows.
    num_threads : int, default 0
        Numba threads (0 = all cores).

    Returns
    -------
    ids : ndarray of int32, shape (n_queries, n)
    scores : ndarray of float32, shape (n_queries, n)

    Examples
    --------
    >>> import numpy as np
    >>> # 3 items; item 0 is similar to item 1 (0.5) and item 2 (0.25)
    >>> sim = (np.array([0, 2, 2, 2]), np.array([1, 2]), np.array([0.5, 0.25]))
    >>> ids, scores = topn_neighbour_scores(
    ...     np.array([0, 1]), np.array([0]), np.array([2.0]), *sim, n=3,
    ...     exclude_indptr=np.array([0, 1]), exclude_indices=np.array([0]),
    ...     fill_order=np.array([0, 1, 2]))
    >>> ids.tolist(), scores.tolist()
    ([[1, 2, -1]], [[1.0, 0.5, -inf]])
    """
    n = _check_n(n)
    s_ip = _as_int_array(sim_indptr, np.int64, "sim_indptr")
    s_ix = _as_int_array(sim_indices, np.int32, "sim_indices")
    s_data = np.ascontiguousarray(sim_data, dtype=np.float32)
    if s_ip.shape[0] < 1:
        raise ValueError("sim_indptr must have length n_items + 1 >= 1")
    n_items = s_ip.shape[0] - 1
    if s_data.shape != s_ix.shape:
        raise ValueError(
            f"sim_data must have the shape of sim_indices {s_ix.shape}, got {s_data.shape}"
        )
    if s_ip[0] != 0 or s_ip[-1] != s_ix.shape[0]:
        raise ValueError("sim_indptr must start at 0 and end at len(sim_indices)")
    q_ip = _as_int_array(query_indptr, np.int64, "query_indptr")
    if q_ip.shape[0] < 1:
        raise ValueError("query_indptr must have length n_queries + 1 >= 1")
    n_queries = q_ip.shape[0] - 1
    q_ip, q_ix = _check_csr(q_ip, query_indices, n_queries, n_items, "query")
    q_w = np.ascontiguousarray(query_weights, dtype=np.float32)
    if q_w.shape != q_ix.shape:
        raise ValueError(
            f"query_weights must have the shape of query_indices {q_ix.shape}, got {q_w.shape}"
        )
    ex_ip, ex_ix = _exclusions(exclude_indptr, exclude_indices, n_queries, n_items)
    allowed, has_allowed = _allowed_mask(item_allowed, n_items)
    if fill_order is None:
        fill, has_fill = _EMPTY_I32, False
    else:
        fill, has_fill = _as_int_array(fill_order, np.int32, "fill_order"), True
    out_ids, out_scores, err = _outputs(n_queries, n)
    with parallel_section(num_threads) as threads:
        acc = np.zeros((threads, n_items), dtype=np.float32)
        touched = np.empty((threads, n_items), dtype=np.int32)
        flags = np.zeros((threads, n_items), dtype=np.bool_)
        marks = np.zeros((threads, n_items), dtype=np.bool_)
        for a in _chunks(n_queries):
            b = min(a + CHUNK_SIZE, n_queries)
            _topn_neighbour_kernel(
                q_ip[a : b + 1],
                q_ix,
                q_w,
                s_ip,
                s_ix,
                s_data,
                ex_ip[a : b + 1],
                ex_ix,
                allowed,
                has_allowed,
                fill,
                has_fill,
                acc,
                touched,
                flags,
                marks,
                out_ids[a:b],
                out_scores[a:b],
                err[a:b],
            )
    _raise_kernel_errors(err)
    return out_ids, out_scores


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

    Each query gets the first ``n`` allowed, non-excluded items of ``order``.

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
    scores : ndarray of float32, shape (n_queries, n)

    Examples
    --------
    >>> import numpy as np
    >>> order, s = sort_scores(np.array([5.0, 9.0, 7.0]))
    >>> ids, scores = topn_shared_scores(order, s, n_queries=2, n=2,
    ...     exclude_indptr=np.array([0, 0, 1]), exclude_indices=np.array([1]))
    >>> ids.tolist()
    [[1, 2], [2, 0]]
    """
    n = _check_n(n)
    if isinstance(n_queries, bool) or not isinstance(n_queries, numbers.Integral) or n_queries < 0:
        raise ValueError(f"n_queries must be a non-negative integer, got {n_queries!r}")
    n_queries = int(n_queries)
    o = _as_int_array(order, np.int32, "order")
    s = np.ascontiguousarray(scores_sorted, dtype=np.float32)
    if s.shape != o.shape:
        raise ValueError(f"scores_sorted must have the shape of order {o.shape}, got {s.shape}")
    n_items = o.shape[0]
    ex_ip, ex_ix = _exclusions(exclude_indptr, exclude_indices, n_queries, n_items)
    allowed, has_allowed = _allowed_mask(item_allowed, n_items)
    out_ids, out_scores, err = _outputs(n_queries, n)
    with parallel_section(num_threads) as threads:
        marks = np.zeros((threads, n_items), dtype=np.bool_)
        for a in _chunks(n_queries):
            b = min(a + CHUNK_SIZE, n_queries)
            _topn_shared_kernel(
                o,
                s,
                ex_ip[a : b + 1],
                ex_ix,
                allowed,
                has_allowed,
                marks,
                out_ids[a:b],
                out_scores[a:b],
                err[a:b],
            )
    _raise_kernel_errors(err)
    return out_ids, out_scores


def topn_dense_scores(
    scores: np.ndarray,
    n: int,
    exclude_indptr: np.ndarray | None = None,
    exclude_indices: np.ndarray | None = None,
    item_allowed: np.ndarray | None = None,
    num_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n items of each row of a dense score matrix.

    Parameters
    ----------
    scores : array_like, shape (n_queries, n_items)
        Scores; converted to float32.  NaN entries are never returned.
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
    scores : ndarray of float32, shape (n_queries, n)

    Examples
    --------
    >>> import numpy as np
    >>> ids, top = topn_dense_scores(np.array([[0.1, 0.9, 0.5], [2.0, 2.0, 1.0]]), n=2)
    >>> ids.tolist()
    [[1, 2], [0, 1]]
    """
    n = _check_n(n)
    sc = np.ascontiguousarray(scores, dtype=np.float32)
    if sc.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_queries, n_items), got shape {sc.shape}")
    n_queries, n_items = sc.shape
    ex_ip, ex_ix = _exclusions(exclude_indptr, exclude_indices, n_queries, n_items)
    allowed, has_allowed = _allowed_mask(item_allowed, n_items)
    out_ids, out_scores, err = _outputs(n_queries, n)
    with parallel_section(num_threads) as threads:
        marks = np.zeros((threads, n_items), dtype=np.bool_)
        for a in _chunks(n_queries):
            b = min(a + CHUNK_SIZE, n_queries)
            _topn_dense_kernel(
                sc[a:b],
                ex_ip[a : b + 1],
                ex_ix,
                allowed,
                has_allowed,
                marks,
                out_ids[a:b],
                out_scores[a:b],
                err[a:b],
            )
    _raise_kernel_errors(err)
    return out_ids, out_scores
