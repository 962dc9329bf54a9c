"""Item-item similarity: the top-k most similar items of every item.

Input is a sparse "transactions x items" matrix ``X`` (rows are baskets,
invoices or users; values are weights such as quantities or ratings).  The
output is, for every item ``a``, its ``k`` most similar *other* items ``b``
under one of several similarities, as a :class:`NeighbourTable` (a CSR with
rows sorted by similarity, descending, ties by item id ascending).

Notation (``w_ra`` is the weight of item ``a`` in row ``r`` of ``X``):

* ``C_ab = sum_r w_ra * w_rb``, the (weighted) co-occurrence,
* ``c_ab`` = number of rows that contain both ``a`` and ``b`` (binary count),
* ``n_a`` = number of rows containing ``a`` (the item's *support*),
* ``N`` = number of rows of ``X`` (``X.shape[0]``, empty rows included),
* ``s`` = ``shrinkage`` (>= 0), added to the denominators.

Similarities:

``cosine``
    ``C_ab / (||a|| * ||b|| + s)`` with ``||a|| = sqrt(sum_r w_ra**2)``.  With
    ``s = 0`` this equals implicit's ``CosineRecommender`` (which also lists
    the item itself; we never do).
``jaccard``
    ``c_ab / (n_a + n_b - c_ab + s)``.
``lift``
    ``c_ab * N / (n_a * n_b + s)``.
``confidence``
    ``P(b | a) = c_ab / (n_a + s)``; asymmetric: row ``a`` of the table holds
    the items most often bought *given* ``a``.
``bm25``
    ``sum_r W_ra * W_rb`` with ``W`` the BM25 weighting of ``X`` exactly as in
    implicit's ``BM25Recommender`` (symmetric: both sides weighted, as implicit
    does).  Following implicit's ``bm25_weight(X.T, K1, B)``, the *items* are
    the BM25 "documents" and the *rows* the "terms"::

        idf_r  = log(n_items) - log1p(|r|)          # |r| = items in row r
        len_a  = (1 - B) + B * sum_r w_ra / mean_b(sum_r w_rb)
        W_ra   = w_ra * (K1 + 1) / (K1 * len_a + w_ra) * idf_r

    so large baskets count less and popular items are length-normalised.
    ``shrinkage`` has no effect (there is no denominator).  A row holding
    every item gets a negative idf, so BM25 scores can be <= 0.

``rp3beta``
    The random walk "item -> row -> item" of Paudel et al. (2017), as in the
    reproducibility study of Dacrema et al. (2019)::

        P_ui[r, b] = w_rb / sum_c w_rc          # row r -> item b (rows of X, L1)
        P_iu[a, r] = w_ra / sum_q w_qa          # item a -> row r (columns of X, L1)
        W_ab       = sum_r P_iu[a, r]**alpha * P_ui[r, b]**alpha / (n_b**beta + s)

    i.e. a weighted co-occurrence in which row ``r`` contributes
    ``(w_rb / |r|_1)**alpha`` and the source item ``(w_ra / |a|_1)**alpha``,
    divided by the target's support to the power ``beta`` (which demotes
    best-sellers).  The top-``k`` of each row are then divided by their sum
    (rows L1-normalised, so every row sums to 1).  On binary data (the
    usual case, and ItemItem's default) ``P_iu`` is Dacrema et al.'s binary
    ``X^T`` normalised; with weights both walks use them.

``cosine``, ``bm25`` and ``rp3beta`` use the weights (``binary=True`` replaces
every weight by 1 first); ``jaccard``, ``lift`` and ``confidence`` always use
binary counts.
Only pairs that co-occur in at least ``min_count`` rows (binary count, also for
the weighted similarities) are kept.  Every kept pair also carries its binary
count ``c_ab`` (``NeighbourTable.counts``), for explanations ("bought together
in 37 baskets").

Algorithm
---------
Items are processed in parallel, most expensive first, in chunks that the
threads take from a shared atomic counter (dynamic scheduling: the cost of an
item, ``sum over rows r containing a of |r|``, is very uneven for power-law
data, and the machine may be shared).  For an item ``a`` the kernel walks the rows that contain
``a`` (CSC of ``X``) and, for every item ``b`` of those rows (CSR of ``X``),
accumulates ``C_ab`` and ``c_ab`` into a per-thread dense scratch array with a
list of touched entries (only those are reset).  The touched items are then
scored; the candidates are packed into sortable 64-bit keys (score, then item
id) and the best ``k`` kept by threshold filtering plus quickselect, written to
a fixed ``(n_items, k)`` output and compacted to CSR at the end.  Memory is the
output (``n_items * k``) plus ``O(n_items)`` scratch per thread; neither
``X^T X`` nor a dense items x items matrix is ever built.

The walk is bound by memory latency (fetching the rows of ``a``), so the rows
a few steps ahead are prefetched; items are relabelled by descending support
so that the accumulator entries of popular items share cache lines, and with
fewer than 65,536 items the labels are stored as ``uint16`` (less memory
traffic).  The result does not depend on the number of threads.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp
from numba import prange

from recsys._utils.threads import parallel_section
from recsys.core._intrinsics import fetch_add, prefetch1
from recsys.core.heap import sort_ascending
from recsys.core.workers import serial_twin

__all__ = [
    "SIMILARITIES",
    "NeighbourTable",
    "item_neighbours",
    "join_row_parts",
    "l1_normalise_rows",
    "rp3beta_rows",
    "rp3beta_weights",
    "top_k_per_row",
]

#: Names accepted by :func:`item_neighbours`.
SIMILARITIES: tuple[str, ...] = ("cosine", "jaccard", "lift", "confidence", "bm25", "rp3beta")

_COSINE, _JACCARD, _LIFT, _CONFIDENCE, _BM25, _RP3BETA = range(6)
_PREFETCH_DISTANCE = 6  # rows of the walk fetched ahead
_MIN_CANDIDATES = 512  # candidate buffer: max(2 * k, this) keys per thread
_MAX_UINT16_ITEMS = 65536  # up to this many items, labels are stored as uint16
_SERIAL_MAX_WALK = 1 << 22  # walks this short run serially: no parallel kernel to compile
_SIM_CODES = {name: code for code, name in enumerate(SIMILARITIES)}


@dataclass(frozen=True, eq=False)
class NeighbourTable:
    """The top-k neighbours of every item, as the parts of a CSR matrix.

    Row ``a`` (``indices[indptr[a]:indptr[a + 1]]``) lists the neighbours of
    item ``a`` sorted by ``scores`` descending, ties by item id ascending.

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_items + 1,)
    indices : ndarray of int32
        Neighbour item ids (never the item itself).
    scores : ndarray of float32
        Similarity of each pair.
    counts : ndarray of int32
        Number of rows in which the two items occur together (binary count),
        aligned with ``indices``.
    item_support : ndarray of int32, shape (n_items,)
        Number of rows containing each item.
    n_rows : int
        Number of rows of the input matrix.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float32))
    >>> table = item_neighbours(X, "jaccard", k=2, num_threads=1)
    >>> table.indices[table.indptr[0]:table.indptr[1]].tolist()
    [1, 2]
    >>> table.counts[table.indptr[0]:table.indptr[1]].tolist()
    [2, 1]
    >>> table.to_csr().shape
    (3, 3)
    """

    indptr: np.ndarray
    indices: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    item_support: np.ndarray
    n_rows: int

    @property
    def n_items(self) -> int:
        """Number of items (rows and columns of :meth:`to_csr`)."""
        return int(self.indptr.shape[0] - 1)

    def to_csr(self) -> sp.csr_matrix:
        """Return the similarities as an ``n_items x n_items`` CSR matrix (``scores`` as data).

        Rows keep the table's order (by score), so the indices are *not* sorted
        by column; scipy handles that, and ``.sort_indices()`` sorts them.
        """
        n = self.n_items
        return sp.csr_matrix((self.scores, self.indices, self.indptr), shape=(n, n))


# --------------------------------------------------------------------------
# Numba kernels
# --------------------------------------------------------------------------

_ID_MASK = np.uint64(0xFFFFFFFF)
_SIGN = np.uint32(0x80000000)


@numba.njit(inline="always")
def _score(sim_code, c, cab, n_a, n_b, norm_a, norm_b, n_rows, shrinkage):
    """Similarity of a -> b (row a of the table), computed in float64, rounded once."""
    if sim_code == _COSINE:
        s = np.float32(cab / (norm_a * norm_b + shrinkage))
    elif sim_code == _BM25:
        s = np.float32(cab)
    elif sim_code == _RP3BETA:  # norm_b holds n_b ** beta
        s = np.float32(cab / (norm_b + shrinkage))
    elif sim_code == _JACCARD:
        s = np.float32(c / (n_a + n_b - c + shrinkage))
    elif sim_code == _LIFT:
        s = np.float32(c * n_rows / (n_a * n_b + shrinkage))
    else:  # confidence P(b | a)
        s = np.float32(c / (n_a + shrinkage))
    return s + np.float32(0.0)  # -0.0 -> +0.0, so equal scores get equal keys


@numba.njit(inline="always")
def _ordered(u):
    """float32 bit pattern -> uint32 with the same order as the floats."""
    if u & _SIGN:
        return ~u
    return u | _SIGN


@numba.njit(inline="always")
def _unordered(o):
    """Inverse of :func:`_ordered`."""
    if o & _SIGN:
        return o & ~_SIGN
    return ~o


@numba.njit(cache=True, nogil=True)
def _select_top(keys, n, k):
    """Move the k largest of the distinct ``keys[:n]`` to ``keys[:k]`` (any order)."""
    lo = 0
    hi = n - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        x, y, z = keys[lo], keys[mid], keys[hi]  # median of three
        if x < y:
            x, y = y, x
        if y < z:
            y, z = z, y
            if x < y:
                x, y = y, x
        pivot = y
        i = lo
        j = hi
        while i <= j:
            while keys[i] > pivot:
                i += 1
            while keys[j] < pivot:
                j -= 1
            if i <= j:
                keys[i], keys[j] = keys[j], keys[i]
                i += 1
                j -= 1
        # keys[lo..j] >= pivot >= keys[i..hi]
        if k - 1 <= j:
            hi = j
        elif k - 1 >= i:
            lo = i
        else:
            break


@numba.njit(cache=True, nogil=True)
def _item_stats(indptr, indices, data, n_items, support, sumsq, cost):
    """Per item: number of rows, sum of squared weights, walk cost (sum of its row lengths)."""
    n_rows = indptr.shape[0] - 1
    for r in range(n_rows):
        length = indptr[r + 1] - indptr[r]
        for ii in range(indptr[r], indptr[r + 1]):
            a = indices[ii]
            w = np.float64(data[ii])
            support[a] += 1
            sumsq[a] += w * w
            cost[a] += length


@numba.njit(cache=True, nogil=True)
def _bm25_weights(indptr, indices, data, n_items, k1, b, out):
    """Compute implicit's ``bm25_weight(X.T, k1, b).T`` on the entries of X (CSR order)."""
    n_rows = indptr.shape[0] - 1
    item_sum = np.zeros(n_items, dtype=np.float64)
    for ii in range(indices.shape[0]):
        item_sum[indices[ii]] += data[ii]
    mean = item_sum.sum() / n_items
    log_n = np.log(np.float64(n_items))
    for r in range(n_rows):
        idf = log_n - np.log1p(np.float64(indptr[r + 1] - indptr[r]))
        for ii in range(indptr[r], indptr[r + 1]):
            w = np.float64(data[ii])
            length_norm = (1.0 - b) + b * item_sum[indices[ii]] / mean
            out[ii] = w * (k1 + 1.0) / (k1 * length_norm + w) * idf


@numba.njit(cache=True, nogil=True)
def _relabel_transpose(indptr, indices, data, label, rel_indices, cindptr, crows, cdata):
    """Relabel the CSR's items and build its CSC (columns by label) by counting sort."""
    n_rows = indptr.shape[0] - 1
    fill = cindptr[:-1].copy()
    for r in range(n_rows):
        for ii in range(indptr[r], indptr[r + 1]):
            x = label[indices[ii]]
            rel_indices[ii] = x
            dst = fill[x]
            fill[x] = dst + 1
            crows[dst] = r
            cdata[dst] = data[ii]


@numba.njit(parallel=True, cache=True, nogil=True)
def _neighbours_kernel(
    indptr,  # int64 (n_rows+1): CSR of X
    indices,  # uint16 or int32: item *labels* of the CSR entries
    data,  # float32: weights of the CSR entries (unused when `weighted` is False)
    cindptr,  # int64 (n_items+1): CSC of X, columns by label
    crows,  # int32: row of each CSC entry
    cdata,  # float32: weight of each CSC entry
    item_of,  # int32 (n_items,): label -> original item id
    label,  # int32 (n_items,): original item id -> label
    chunks_ptr,  # int64 (n_chunks+1): chunks of `work`, handed out dynamically
    work,  # int32: item labels, most expensive first
    next_chunk,  # int64 (1,) zero: shared counter of the dynamic schedule
    n_workers,
    sim_code,
    weighted,
    k,
    min_count,
    shrinkage,
    n_rows,
    params,  # float64 (n_items, 2), by label: support n_a, norm ||a|| (rp3beta: n_a ** beta)
    prefetch_distance,
    cap,  # candidate buffer size, > k
    out_idx,  # int32 (n_items, k), by label: neighbour ids (original), best first
    out_score,  # float32 (n_items, k)
    out_cnt,  # int32 (n_items, k)
    out_len,  # int32 (n_items,)
):
    n_items = cindptr.shape[0] - 1
    n_chunks = chunks_ptr.shape[0] - 1
    line_i = max(1, 64 // indices.itemsize)
    line_d = max(1, 64 // data.itemsize)
    for _worker in prange(n_workers):
        # per-thread scratch: [C_ab, c_ab] side by side (one cache line per b)
        acc = np.zeros((n_items, 2), dtype=np.float32)
        cnt = acc.view(np.int32)
        touched = np.empty(n_items, dtype=np.int32)
        keys = np.empty(cap, dtype=np.uint64)
        fbuf = np.empty(1, dtype=np.float32)
        ubuf = fbuf.view(np.uint32)
        while True:
            chunk = fetch_add(next_chunk, 0, 1)
            if chunk >= n_chunks:
                break
            for q in range(chunks_ptr[chunk], chunks_ptr[chunk + 1]):
                a = work[q]
                nt = 0
                # ---- accumulate the co-occurrences of a with every item of its rows
                end_a = cindptr[a + 1]
                for jj in range(cindptr[a], end_a):
                    r = crows[jj]
                    if jj + prefetch_distance < end_a:
                        ahead = indptr[crows[jj + prefetch_distance]]
                        prefetch1(indices, ahead)
                        prefetch1(indices, ahead + line_i)
                        if weighted:
                            prefetch1(data, ahead)
                            prefetch1(data, ahead + line_d)
                    if weighted:
                        wa = cdata[jj]
                        for ii in range(indptr[r], indptr[r + 1]):
                            b = indices[ii]
                            touched[nt] = b
                            nt += cnt[b, 1] == 0
                            cnt[b, 1] += 1
                            acc[b, 0] += wa * data[ii]
                    else:
                        for ii in range(indptr[r], indptr[r + 1]):
                            b = indices[ii]
                            touched[nt] = b
                            nt += cnt[b, 1] == 0
                            cnt[b, 1] += 1
                # ---- score; keep the best k keys (score, then smaller id) by threshold + select
                n_a = params[a, 0]
                norm_a = params[a, 1]
                m = 0
                thr = np.uint64(0)
                thr_s = np.float32(-np.inf)
                for t in range(nt):
                    b = touched[t]
                    c = cnt[b, 1]
                    if b == a or c < min_count:
                        continue
                    cab = acc[b, 0] if weighted else np.float32(c)
                    s = _score(
                        sim_code, c, cab, n_a, params[b, 0], norm_a, params[b, 1], n_rows, shrinkage
                    )
                    if s >= thr_s:
                        fbuf[0] = s
                        key = (np.uint64(_ordered(ubuf[0])) << np.uint64(32)) | (
                            _ID_MASK - np.uint64(item_of[b])
                        )
                        if key > thr:
                            keys[m] = key
                            m += 1
                            if m == cap:
                                _select_top(keys, m, k)
                                m = k
                                thr = keys[0]
                                for j in range(1, k):
                                    if keys[j] < thr:
                                        thr = keys[j]
                                ubuf[0] = _unordered(np.uint32(thr >> np.uint64(32)))
                                thr_s = fbuf[0]
                if m > k:
                    _select_top(keys, m, k)
                    m = k
                sort_ascending(keys, m)  # in place, ascending: best last
                best = keys
                out_len[a] = m
                for j in range(m):
                    key = best[m - 1 - j]
                    item = np.int64(_ID_MASK - (key & _ID_MASK))
                    ubuf[0] = _unordered(np.uint32(key >> np.uint64(32)))
                    out_idx[a, j] = item
                    out_score[a, j] = fbuf[0]
                    out_cnt[a, j] = cnt[label[item], 1]
                # ---- reset the touched scratch
                for t in range(nt):
                    b = touched[t]
                    acc[b, 0] = 0.0
                    cnt[b, 1] = 0


@numba.njit(parallel=True, cache=True, nogil=True)
def _compact(label, out_idx, out_score, out_cnt, indptr, indices, scores, counts):
    """Copy the (n_items, k) rows (by label) into the CSR arrays (by original id)."""
    n_items = label.shape[0]
    for a in prange(n_items):
        x = label[a]
        start = indptr[a]
        for j in range(indptr[a + 1] - start):
            indices[start + j] = out_idx[x, j]
            scores[start + j] = out_score[x, j]
            counts[start + j] = out_cnt[x, j]


# the same kernels without `parallel`, for inputs too small to gain from threads
_neighbours_serial = serial_twin(_neighbours_kernel)
_compact_serial = serial_twin(_compact)


# --------------------------------------------------------------------------
# Python wrapper
# --------------------------------------------------------------------------


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _prepare_matrix(X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Return indptr (int64), indices (int32), data (float32) of X as a canonical CSR.

    Duplicates are summed and explicit zeros dropped; X itself is never
    modified and its arrays are reused when they already fit.
    """
    if not sp.issparse(X):
        raise TypeError(
            f"X must be a scipy.sparse matrix (transactions x items), got {type(X).__name__}"
        )
    n_rows, n_items = X.shape
    if n_rows == 0 or n_items == 0 or X.nnz == 0:
        raise ValueError(f"X is empty (shape {X.shape}, {X.nnz} stored values)")
    if n_items >= np.iinfo(np.int32).max or n_rows >= np.iinfo(np.int32).max:
        raise ValueError("X has too many rows or items for int32 ids")
    if X.dtype == np.bool_:
        X = X.astype(np.float32)
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.format != "csr":
        X = X.tocsr()
    if np.any(np.isnan(X.data)):
        raise ValueError("X contains NaN weights")
    if np.any(X.data < 0):
        raise ValueError("X contains negative weights; weights must be >= 0")
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    data = X.data.astype(np.float32, copy=False)
    if not np.all(np.isfinite(data)):
        raise ValueError("X contains infinite weights (or weights too large for float32)")
    indptr = X.indptr.astype(np.int64, copy=False)
    indices = X.indices.astype(np.int32, copy=False)
    if not np.all(data):  # explicit zeros: drop them
        Z = sp.csr_matrix((data, indices, indptr), shape=X.shape, copy=True)
        Z.eliminate_zeros()
        if Z.nnz == 0:
            raise ValueError("X is empty (all stored values are zero)")
        data = Z.data
        indptr = Z.indptr.astype(np.int64, copy=False)
        indices = Z.indices.astype(np.int32, copy=False)
    return indptr, indices, data, n_rows, n_items


def _schedule(cost: np.ndarray, n_workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Items by decreasing cost, cut into chunks handed out dynamically to the workers.

    Expensive items go first (longest-processing-time order), in chunks of about
    ``total / (64 * n_workers)`` cost (at least one item), so the threads stay
    balanced even when one of them is slowed down by other processes.
    """
    work = np.argsort(-cost, kind="stable").astype(np.int32)
    cum = np.cumsum(cost[work], dtype=np.float64)
    total = float(cum[-1]) if cum.size else 0.0
    n_chunks = 64 * n_workers
    if total <= 0:
        cuts = np.array([work.size], dtype=np.int64)
    else:
        targets = total * np.arange(1, n_chunks + 1) / n_chunks
        cuts = np.searchsorted(cum, targets, side="left") + 1
        cuts = np.unique(np.minimum(cuts, work.size))
    chunks_ptr = np.concatenate(([0], cuts)).astype(np.int64)
    chunks_ptr[-1] = work.size
    return chunks_ptr, work


def rp3beta_weights(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_items: int, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the two random-walk weights of RP3beta on the entries of a CSR matrix.

    Parameters
    ----------
    indptr, indices, data : numpy.ndarray
        A canonical CSR ``X`` (rows x items) with positive weights.
    n_items : int
        Number of columns of ``X``.
    alpha : float
        Exponent applied to both transition probabilities (``>= 0``).

    Returns
    -------
    source, target : numpy.ndarray of float32
        Aligned with ``data``: ``(w_ra / sum_q w_qa) ** alpha`` (item ``a`` walks to
        row ``r``) and ``(w_ra / sum_c w_rc) ** alpha`` (row ``r`` walks to item ``a``),
        each computed in float64 and rounded once.

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1, 1], [1, 0]], dtype=np.float32))
    >>> src, dst = rp3beta_weights(X.indptr, X.indices, X.data, 2, 1.0)
    >>> src.tolist(), dst.tolist()
    ([0.5, 1.0, 0.5], [0.5, 0.5, 1.0])
    """
    w = data.astype(np.float64)
    rows = np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))
    row_sum = np.bincount(rows, weights=w, minlength=indptr.shape[0] - 1)
    col_sum = np.bincount(indices, weights=w, minlength=n_items)
    with np.errstate(divide="ignore", invalid="ignore"):
        source = np.power(w / col_sum[indices], alpha).astype(np.float32)
        target = np.power(w / row_sum[rows], alpha).astype(np.float32)
    return source, target


def l1_normalise_rows(
    indptr: np.ndarray, indices: np.ndarray, scores: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Divide every row of a neighbour CSR by its sum and restore the table order.

    Rows are then sorted by score descending, ties by item id ascending (the
    division can make two neighbours equal in float32).  Rows summing to 0
    are left as they are.

    Returns
    -------
    indices, scores, counts : numpy.ndarray
        int32, float32 (each row sums to 1 up to rounding) and int32.

    Examples
    --------
    >>> ix, sc, ct = l1_normalise_rows(np.array([0, 2]), np.array([3, 1], np.int32),
    ...                                np.array([3.0, 1.0], np.float32), np.array([1, 1]))
    >>> ix.tolist(), sc.tolist()
    ([3, 1], [0.75, 0.25])
    """
    n = indptr.shape[0] - 1
    row = np.repeat(np.arange(n), np.diff(indptr))
    total = np.bincount(row, weights=scores.astype(np.float64), minlength=n)
    total[total == 0] = 1.0
    normalised = (scores / total[row]).astype(np.float32) + np.float32(0.0)
    order = np.lexsort((indices, -normalised, row))
    return (
        indices[order].astype(np.int32),
        normalised[order],
        counts[order].astype(np.int32),
    )


def top_k_per_row(
    row_of: np.ndarray,
    neighbour: np.ndarray,
    score: np.ndarray,
    count: np.ndarray,
    n_rows: int,
    k: int,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Keep each row's ``k`` best entries (highest float32 score, ties: the lower neighbour).

    The entries of a block of rows come as parallel arrays (``row_of`` the
    row within the block, ``0..n_rows-1``); the result is the block's part of
    a neighbour table, sorted by row, and the number kept per row (for
    :func:`join_row_parts`).

    Examples
    --------
    >>> part, lengths = top_k_per_row(np.array([0, 0, 1]), np.array([5, 3, 4]),
    ...                               np.array([0.5, 0.5, 0.1], np.float32),
    ...                               np.array([2, 2, 1]), 2, 1)
    >>> part[0].tolist(), lengths.tolist()
    ([3, 4], [1, 1])
    """
    order = np.lexsort((neighbour, -score, row_of))
    row_sorted = row_of[order]
    starts = np.searchsorted(row_sorted, np.arange(n_rows))
    rank = np.arange(row_sorted.size) - starts[row_sorted]
    top = order[rank < k]  # sorted by row
    part = (neighbour[top].astype(np.int32), score[top], count[top].astype(np.int32))
    return part, np.bincount(row_of[top], minlength=n_rows)


def join_row_parts(
    parts: list[tuple[np.ndarray, ...]], lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Join the parts of :func:`top_k_per_row` into ``(indptr, indices, scores, counts)``.

    Examples
    --------
    >>> part, lengths = top_k_per_row(np.array([0, 1]), np.array([1, 0]),
    ...                               np.ones(2, np.float32), np.ones(2), 2, 5)
    >>> [a.tolist() for a in join_row_parts([part], lengths)]
    [[0, 1, 2], [1, 0], [1.0, 1.0], [1, 1]]
    """
    indptr = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    if parts:
        indices, scores, counts = (np.concatenate(p) for p in zip(*parts, strict=True))
    else:
        indices, scores, counts = (
            np.empty(0, np.int32),
            np.empty(0, np.float32),
            np.empty(0, np.int32),
        )
    return indptr, indices, scores, counts


def rp3beta_rows(
    X: sp.csr_matrix,
    items: np.ndarray,
    k: int,
    *,
    alpha: float,
    beta: float,
    min_count: int = 1,
    shrinkage: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the RP3beta neighbour rows of some items, exactly as :func:`item_neighbours`.

    For incremental updates: the same weights, the same float32 sums in the
    same order (a sparse product of the float32 walk weights, rows of ``X``
    ascending), the same rounding, top-``k`` rule and L1 normalisation as
    the kernel, but only for ``items``.

    Parameters
    ----------
    X : scipy.sparse.csr_matrix
        Canonical CSR (sorted indices, no duplicates, positive float32 weights).
    items : numpy.ndarray of int
        The items whose rows are wanted, ascending.
    k, alpha, beta, min_count, shrinkage
        As :func:`item_neighbours` (``k`` already capped at ``n_items - 1``).

    Returns
    -------
    indptr, indices, scores, counts : numpy.ndarray
        CSR parts with one row per item of ``items`` (int64, int32, float32, int32).

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float32))
    >>> ip, ix, sc, ct = rp3beta_rows(X, np.array([0]), 2, alpha=1.0, beta=0.0)
    >>> ix.tolist(), [round(float(v), 3) for v in sc], ct.tolist()
    ([1, 2], [0.714, 0.286], [2, 1])
    >>> full = item_neighbours(X, "rp3beta", 2, alpha=1.0, beta=0.0, num_threads=1)
    >>> bool(np.array_equal(full.scores[:2], sc))
    True
    """
    n_rows, n_items = X.shape
    data = X.data.astype(np.float32, copy=False)
    source, target = rp3beta_weights(X.indptr, X.indices, data, n_items, alpha)
    walk_in = sp.csr_matrix((source, X.indices, X.indptr), shape=X.shape).tocsc()
    walk_in.sort_indices()
    walk_out = sp.csr_matrix((target, X.indices, X.indptr), shape=X.shape)
    ones = np.ones(X.nnz, dtype=np.float64)
    present = sp.csr_matrix((ones, X.indices, X.indptr), shape=X.shape)
    present_csc = present.tocsc()
    support = np.diff(present_csc.indptr)
    denominator = np.power(support.astype(np.float64), beta) + shrinkage
    block = max(1, (1 << 22) // max(n_items, 1))
    parts: list[tuple[np.ndarray, ...]] = []
    lengths = np.zeros(items.size, dtype=np.int64)
    for start in range(0, items.size, block):
        rows = np.asarray(items[start : start + block], dtype=np.int64)
        counts = (present_csc[:, rows].T @ present).tocsr()
        counts.sort_indices()
        sums = (walk_in[:, rows].T.tocsr() @ walk_out).tocsr()  # float32, rows r ascending
        sums.sort_indices()
        if not np.array_equal(sums.indices, counts.indices):  # pragma: no cover - weights > 0
            raise RuntimeError("co-occurrence patterns differ")
        row_of = np.repeat(np.arange(rows.size), np.diff(counts.indptr))
        a = rows[row_of]
        b = counts.indices.astype(np.int64)
        c = np.rint(counts.data)
        cab = sums.data.astype(np.float32).astype(np.float64)
        keep = (b != a) & (c >= min_count)
        b, c, cab, row_of = b[keep], c[keep], cab[keep], row_of[keep]
        score = (cab / denominator[b]).astype(np.float32) + np.float32(0.0)
        part, lengths[start : start + rows.size] = top_k_per_row(row_of, b, score, c, rows.size, k)
        parts.append(part)
    indptr, indices, scores, counts_out = join_row_parts(parts, lengths)
    indices, scores, counts_out = l1_normalise_rows(indptr, indices, scores, counts_out)
    return indptr, indices, scores, counts_out


def item_neighbours(
    X: sp.csr_matrix,
    similarity: str = "cosine",
    k: int = 100,
    *,
    min_count: int = 1,
    shrinkage: float = 0.0,
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
    alpha: float = 1.0,
    beta: float = 0.0,
    binary: bool = False,
    num_threads: int = 0,
) -> NeighbourTable:
    """Find the top-``k`` most similar items of every item of a transactions x items matrix.

    Parameters
    ----------
    X : scipy.sparse matrix, shape (n_rows, n_items)
        Rows are transactions (baskets, invoices, users), columns items,
        values non-negative weights (CSR preferred; other formats are
        converted).  Duplicate entries are summed, explicit zeros ignored.
    similarity : {"cosine", "jaccard", "lift", "confidence", "bm25", "rp3beta"}
        See the module docstring for the formulas.
    k : int
        Maximum number of neighbours per item (>= 1).
    min_count : int
        Keep only pairs that occur together in at least this many rows.
    shrinkage : float
        Added to the similarity's denominator (>= 0); damps pairs of rare items.
    bm25_k1, bm25_b : float
        BM25 parameters (``similarity="bm25"`` only).
    alpha, beta : float
        RP3beta parameters (``similarity="rp3beta"`` only, both ``>= 0``): the
        exponent of the transition probabilities and of the popularity that
        divides the target item's score.
    binary : bool
        Replace every weight by 1 before computing ``cosine`` / ``bm25`` / ``rp3beta``.
    num_threads : int
        Numba threads; 0 = all cores.

    Returns
    -------
    NeighbourTable

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 0]], dtype=np.float32))
    >>> t = item_neighbours(X, "confidence", k=5, num_threads=1)
    >>> t.to_csr().toarray().astype(np.float64).round(3).tolist()
    [[0.0, 0.667, 0.333], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    >>> t.item_support.tolist(), t.n_rows
    ([3, 2, 1], 3)
    """
    if not isinstance(similarity, str) or similarity not in _SIM_CODES:
        raise ValueError(
            f"unknown similarity {similarity!r}; valid similarities: {', '.join(SIMILARITIES)}"
        )
    k = _check_int("k", k, 1)
    min_count = _check_int("min_count", min_count, 1)
    shrinkage = _check_float("shrinkage", shrinkage)
    if shrinkage < 0:
        raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
    bm25_k1 = _check_float("bm25_k1", bm25_k1)
    bm25_b = _check_float("bm25_b", bm25_b)
    if bm25_k1 < 0:
        raise ValueError(f"bm25_k1 must be >= 0, got {bm25_k1}")
    if not 0.0 <= bm25_b <= 1.0:
        raise ValueError(f"bm25_b must be in [0, 1], got {bm25_b}")
    alpha = _check_float("alpha", alpha)
    beta = _check_float("beta", beta)
    if alpha < 0 or beta < 0:
        raise ValueError(f"alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
    if not isinstance(binary, (bool, np.bool_)):
        raise TypeError(f"binary must be a bool, got {type(binary).__name__}")

    sim_code = _SIM_CODES[similarity]
    indptr, indices, data, n_rows, n_items = _prepare_matrix(X)
    nnz = indices.shape[0]
    k = min(k, max(n_items - 1, 1))

    if binary or (sim_code != _BM25 and np.all(data == 1.0)):
        data = np.ones(nnz, dtype=np.float32)
        binary = True
    # walk with the weights only where they matter (binary cosine: C_ab = c_ab)
    weighted = sim_code in (_BM25, _RP3BETA) or (sim_code == _COSINE and not binary)

    with parallel_section(num_threads) as threads:
        if sim_code == _BM25:
            weights = np.empty(nnz, dtype=np.float32)
            _bm25_weights(indptr, indices, data, n_items, bm25_k1, bm25_b, weights)
            data = weights
        source = data  # the weights of the walk's first step (CSC side)
        if sim_code == _RP3BETA:  # into the rows (CSC side) and out of them (CSR side)
            source, data = rp3beta_weights(indptr, indices, data, n_items, alpha)
        support = np.zeros(n_items, dtype=np.int64)
        sumsq = np.zeros(n_items, dtype=np.float64)
        cost = np.zeros(n_items, dtype=np.int64)
        _item_stats(indptr, indices, data, n_items, support, sumsq, cost)

        # Relabel items by descending support (ties by id): the accumulator entries
        # of popular items, touched most often, share cache lines.
        item_of = np.argsort(-support, kind="stable").astype(np.int32)
        label = np.empty(n_items, dtype=np.int32)
        label[item_of] = np.arange(n_items, dtype=np.int32)
        cindptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(support[item_of], out=cindptr[1:])
        rel_indices = np.empty(nnz, dtype=np.uint16 if n_items <= _MAX_UINT16_ITEMS else np.int32)
        crows = np.empty(nnz, dtype=np.int32)
        cdata = np.empty(nnz, dtype=np.float32)
        _relabel_transpose(indptr, indices, source, label, rel_indices, cindptr, crows, cdata)

        params = np.empty((n_items, 2), dtype=np.float64)
        params[:, 0] = support[item_of]
        if sim_code == _RP3BETA:
            params[:, 1] = np.power(support[item_of].astype(np.float64), beta)
        else:
            params[:, 1] = np.sqrt(sumsq[item_of])
        small = int(cost.sum()) <= _SERIAL_MAX_WALK  # milliseconds: the serial twins
        workers = 1 if small else threads
        chunks_ptr, work = _schedule(cost[item_of], workers)

        out_idx = np.empty((n_items, k), dtype=np.int32)
        out_score = np.empty((n_items, k), dtype=np.float32)
        out_cnt = np.empty((n_items, k), dtype=np.int32)
        out_len = np.zeros(n_items, dtype=np.int32)
        (_neighbours_serial if small else _neighbours_kernel)(
            indptr,
            rel_indices,
            data,
            cindptr,
            crows,
            cdata,
            item_of,
            label,
            chunks_ptr,
            work,
            np.zeros(1, dtype=np.int64),
            workers,
            sim_code,
            weighted,
            k,
            min_count,
            shrinkage,
            float(n_rows),
            params,
            _PREFETCH_DISTANCE,
            max(2 * k, _MIN_CANDIDATES),
            out_idx,
            out_score,
            out_cnt,
            out_len,
        )
        del rel_indices, crows, cdata
        out_indptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(out_len[label], out=out_indptr[1:])
        n_out = int(out_indptr[-1])
        out_indices = np.empty(n_out, dtype=np.int32)
        out_scores = np.empty(n_out, dtype=np.float32)
        out_counts = np.empty(n_out, dtype=np.int32)
        (_compact_serial if small else _compact)(
            label, out_idx, out_score, out_cnt, out_indptr, out_indices, out_scores, out_counts
        )
    if sim_code == _RP3BETA:
        out_indices, out_scores, out_counts = l1_normalise_rows(
            out_indptr, out_indices, out_scores, out_counts
        )

    return NeighbourTable(
        indptr=out_indptr,
        indices=out_indices,
        scores=out_scores,
        counts=out_counts,
        item_support=support.astype(np.int32),
        n_rows=int(n_rows),
    )
