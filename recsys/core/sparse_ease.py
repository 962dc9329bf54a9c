"""Sparse EASE: item-item ridge weights at a prescribed density, without a dense items x items.

EASE (Steck, WWW 2019) learns ``B = argmin ||X - X B||^2 + l2 ||B||^2`` with a
zero diagonal; column ``j`` of ``B`` is the ridge regression of item ``j`` on
every other item::

    B[-j, j] = (G[-j, -j] + l2 I)^-1 G[-j, j],        G = X^T X (the Gramian)

and a history ``x`` (a user's or a basket's row) scores ``x B``.  The dense
solution needs ``n_items^2`` floats (40 GB at 100k items).  This module solves
the same regression for every item over a *support*: its strongest Gramian
neighbours only.

Algorithm
---------
1. **Pruned Gramian.**  :func:`recsys.core.cooccurrence.item_neighbours` keeps
   the top ``table_size`` neighbours of every item by cosine (never an
   ``n_items x n_items`` matrix: memory is its output plus one scratch row per
   thread).  Cosine times the two item norms gives back the Gramian entry
   ``G_ab``, so the table holds exact Gramian values, ranked by cosine.
2. **Per-item ridge.**  The support ``S_j`` of item ``j`` is its first
   ``support_size`` table neighbours.  A parallel Numba kernel (per-worker
   scratch, items pulled in chunks from a shared counter) builds
   ``A = G[S_j, S_j] + l2 I`` from the table (a pair absent from both items'
   table rows counts as 0; the diagonal is exact), factorises it by Cholesky
   in float64 and solves ``A b = G[S_j, j]``.  ``j`` is never in ``S_j``: the
   zero diagonal holds by construction.  Should the pruned ``A`` not be
   positive definite, the item is solved again with each diagonal entry raised
   by its row's off-diagonal absolute sum (diagonally dominant, so positive
   definite).
3. **Budget.**  When the weights exceed ``floor(density * n_items^2)``, only the
   largest in absolute value are kept (ties: the earlier column, then the
   earlier support position), and every item whose support lost entries is
   solved again on what it kept (the best weights on that support, not the
   truncated ones).

At ``density=1`` with every pair of items co-occurring, the supports are all
other items and the result is dense EASE (tests check it).  Items that never
co-occur get no weight (dense EASE may give them a small indirect one).

The result does not depend on the number of threads: every item is solved on
its own, in a fixed order of operations.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp
from numba import prange

from recsys._utils.threads import parallel_section
from recsys.core._intrinsics import fetch_add
from recsys.core.cooccurrence import item_neighbours

__all__ = [
    "MAX_SUPPORT",
    "MIN_SUPPORT",
    "TABLE_FACTOR",
    "keep_largest",
    "ridge_columns",
    "sparse_ease",
    "support_size",
]

#: Every item is regressed on at least this many neighbours (fewer when the catalog or its
#: co-occurrences are smaller), whatever the density: fitting wide and cutting to the budget
#: beats fitting on the budget's share alone (MovieLens-100k at density 0.005: 95.5% of dense
#: EASE's NDCG@10 against 82% with 8 neighbours per item; ``benchmarks/ease_scale.py``).
MIN_SUPPORT = 128
#: ... and on at most this many: the per-item Cholesky costs ``support^3 / 6`` multiply-adds
#: and reading the support's table rows ``TABLE_FACTOR * support^2`` entries, from memory on a
#: large catalog.  At 256 the 100k-item benchmark fit took 595 s (load 13-15 on 2 cores)
#: against 367 s at 128 (load 12-14); on MovieLens-100k 256 neighbours did no better after
#: the cut to density 0.005.
MAX_SUPPORT = 128
#: The pruned Gramian keeps ``TABLE_FACTOR * support`` neighbours per item, so that most pairs
#: within a support are found in one of the two items' rows.
TABLE_FACTOR = 4
_CHUNKS_PER_WORKER = 64
# reassociation lets LLVM vectorise the Cholesky's dot products; NaN and inf keep their meaning
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


# --------------------------------------------------------------------------
# Numba kernels
# --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _solve_item(j, t_indptr, t_indices, t_gram, diag, support, l2, pos, A, L, rhs, out, dominant):
    """Solve item ``j``'s ridge regression over ``support``; write the weights to ``out``.

    ``pos`` (n_items int32, all -1 on entry and on exit) marks the support.
    ``A`` and ``L`` are (>= m) x (>= m) float64 scratch, ``rhs`` (>= m,).
    Returns False when the Cholesky factorisation meets a non-positive pivot.
    """
    m = support.shape[0]
    for p in range(m):
        pos[support[p]] = p
        rhs[p] = 0.0
        for q in range(m):
            A[p, q] = 0.0
    # off-diagonal entries from the table rows of the support items; G_jS from row j
    for p in range(m):
        a = support[p]
        for t in range(t_indptr[a], t_indptr[a + 1]):
            b = t_indices[t]
            q = pos[b]
            if q >= 0:
                g = np.float64(t_gram[t])
                A[p, q] = g
                A[q, p] = g
            elif b == j:
                rhs[p] = np.float64(t_gram[t])
    for t in range(t_indptr[j], t_indptr[j + 1]):
        q = pos[t_indices[t]]
        if q >= 0:
            rhs[q] = np.float64(t_gram[t])
    for p in range(m):
        pos[support[p]] = -1
        d = diag[support[p]] + l2
        if dominant:
            for q in range(m):
                if q != p:
                    d += abs(A[p, q])
        A[p, p] = d
    # Cholesky A = L L^T (row by row, rows of L contiguous)
    for i in range(m):
        for k in range(i + 1):
            s = A[i, k]
            for r in range(k):
                s -= L[i, r] * L[k, r]
            if k == i:
                if not s > 0.0:
                    return False
                L[i, i] = math.sqrt(s)
            else:
                L[i, k] = s / L[k, k]
    # L y = rhs, then L^T b = y
    for i in range(m):
        s = rhs[i]
        for r in range(i):
            s -= L[i, r] * rhs[r]
        rhs[i] = s / L[i, i]
    for i in range(m - 1, -1, -1):
        s = rhs[i]
        for r in range(i + 1, m):
            s -= L[r, i] * rhs[r]
        rhs[i] = s / L[i, i]
    for p in range(m):
        out[p] = rhs[p]
    return True


@numba.njit(parallel=True, cache=True, nogil=True)
def _ridge_kernel(
    t_indptr,  # int64 (n_items+1): pruned Gramian table, rows by item
    t_indices,  # int32: neighbour ids
    t_gram,  # float32: Gramian value G_ab of each table entry
    diag,  # float64 (n_items,): G_aa
    s_indptr,  # int64 (n_items+1): support of each item (CSR)
    s_indices,  # int32: support items
    l2,  # float64
    work,  # int32: items to solve, most expensive first
    chunks_ptr,  # int64 (n_chunks+1): chunks of `work`
    next_chunk,  # int64 (1,) zero: shared counter of the dynamic schedule
    n_workers,
    max_m,  # largest support
    out,  # float32, aligned with s_indices: the weights
    failed,  # uint8 (n_items,): 1 where the item needed the diagonally dominant retry
):
    n_items = diag.shape[0]
    n_chunks = chunks_ptr.shape[0] - 1
    for _worker in prange(n_workers):
        pos = np.full(n_items, -1, dtype=np.int32)
        A = np.empty((max_m, max_m), dtype=np.float64)
        L = np.empty((max_m, max_m), dtype=np.float64)
        rhs = np.empty(max_m, dtype=np.float64)
        b = np.empty(max_m, dtype=np.float64)
        while True:
            chunk = fetch_add(next_chunk, 0, 1)
            if chunk >= n_chunks:
                break
            for w in range(chunks_ptr[chunk], chunks_ptr[chunk + 1]):
                j = work[w]
                lo = s_indptr[j]
                hi = s_indptr[j + 1]
                if hi == lo:
                    continue
                support = s_indices[lo:hi]
                ok = _solve_item(
                    j, t_indptr, t_indices, t_gram, diag, support, l2, pos, A, L, rhs, b, False
                )
                if not ok:
                    failed[j] = 1
                    _solve_item(
                        j, t_indptr, t_indices, t_gram, diag, support, l2, pos, A, L, rhs, b, True
                    )
                for p in range(hi - lo):
                    out[lo + p] = np.float32(b[p])


# --------------------------------------------------------------------------
# Python functions
# --------------------------------------------------------------------------


def support_size(n_items: int, density: float) -> int:
    """Return the number of neighbours each item is regressed on.

    ``density * n_items`` (the per-item share of the budget) clipped to
    ``[MIN_SUPPORT, MAX_SUPPORT]``, and never more than ``n_items - 1``.  At
    ``density=1`` it is ``n_items - 1`` (every other item: dense EASE).

    Examples
    --------
    >>> support_size(1_500, 0.005), support_size(100_000, 0.005), support_size(50, 1.0)
    (128, 128, 49)
    """
    if density >= 1.0:
        return max(n_items - 1, 0)
    share = math.ceil(density * n_items)
    return max(0, min(n_items - 1, max(MIN_SUPPORT, min(share, MAX_SUPPORT))))


def _schedule(cost: np.ndarray, n_workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Items by decreasing cost (ties by id), cut into about 64 chunks per worker."""
    work = np.argsort(-cost, kind="stable").astype(np.int32)
    n_chunks = min(max(1, work.size), _CHUNKS_PER_WORKER * n_workers)
    cuts = np.linspace(0, work.size, n_chunks + 1).round().astype(np.int64)
    return np.unique(cuts), work


def ridge_columns(
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    t_gram: np.ndarray,
    diag: np.ndarray,
    s_indptr: np.ndarray,
    s_indices: np.ndarray,
    l2: float,
    *,
    num_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve every item's ridge regression over its support, from a pruned Gramian table.

    For item ``j`` with support ``S = s_indices[s_indptr[j]:s_indptr[j + 1]]``
    (distinct items, ``j`` not among them) this solves
    ``(G[S, S] + l2 I) b = G[S, j]`` where ``G[a, b]`` is read from the table:
    row ``a`` (``t_indices[t_indptr[a]:t_indptr[a + 1]]``, values ``t_gram``)
    or row ``b``, 0 when the pair is in neither; the diagonal is ``diag``.

    Parameters
    ----------
    t_indptr, t_indices, t_gram : ndarray
        The pruned Gramian as CSR parts (int64, int32, float32); a pair listed
        in both rows must carry the same value.
    diag : ndarray of float64, shape (n_items,)
        ``G[a, a]``.
    s_indptr, s_indices : ndarray
        The supports as CSR parts (int64, int32).
    l2 : float
        The ridge penalty (> 0).
    num_threads : int
        Numba threads; 0 = all cores.  The result does not depend on it.

    Returns
    -------
    weights : ndarray of float32, aligned with ``s_indices``
        ``B[s_indices[t], j]`` for ``t`` in item ``j``'s support.
    retried : ndarray of bool, shape (n_items,)
        Items whose pruned ``G[S, S] + l2 I`` was not positive definite, solved
        with each diagonal entry raised by its row's off-diagonal absolute sum.

    Examples
    --------
    >>> G = np.array([[2.0, 1.0, 1.0], [1.0, 2.0, 0.0], [1.0, 0.0, 1.0]])
    >>> table = sp.csr_matrix(G - np.diag(np.diag(G)))
    >>> supports = sp.csr_matrix(np.ones((3, 3)) - np.eye(3))
    >>> w, _ = ridge_columns(
    ...     table.indptr.astype(np.int64), table.indices, table.data.astype(np.float32),
    ...     np.diag(G).copy(), supports.indptr.astype(np.int64), supports.indices, 1.0,
    ...     num_threads=1)
    >>> S = [1, 2]
    >>> expected = np.linalg.solve(G[np.ix_(S, S)] + np.eye(2), G[S, 0])
    >>> bool(np.allclose(w[:2], expected))
    True
    """
    n_items = diag.shape[0]
    lengths = np.diff(s_indptr)
    out = np.zeros(s_indices.shape[0], dtype=np.float32)
    failed = np.zeros(n_items, dtype=np.uint8)
    max_m = int(lengths.max()) if n_items else 0
    if max_m == 0:
        return out, failed.astype(bool)
    with parallel_section(num_threads) as threads:
        chunks_ptr, work = _schedule(lengths.astype(np.float64) ** 3, threads)
        _ridge_kernel(
            t_indptr,
            t_indices,
            t_gram,
            diag,
            s_indptr,
            s_indices,
            float(l2),
            work,
            chunks_ptr,
            np.zeros(1, dtype=np.int64),
            threads,
            max_m,
            out,
            failed,
        )
    return out, failed.astype(bool)


def keep_largest(values: np.ndarray, budget: int) -> np.ndarray:
    """Return a mask of the ``budget`` values largest in absolute value.

    Ties at the threshold go to the earlier positions, so the mask is
    deterministic.

    Examples
    --------
    >>> keep_largest(np.array([0.5, -2.0, 1.0, -1.0, 0.1], dtype=np.float32), 3).tolist()
    [False, True, True, True, False]
    """
    size = values.shape[0]
    if budget >= size:
        return np.ones(size, dtype=bool)
    if budget <= 0:
        return np.zeros(size, dtype=bool)
    magnitude = np.abs(values)
    threshold = np.partition(magnitude, size - budget)[size - budget]
    keep = magnitude > threshold
    ties = np.flatnonzero(magnitude == threshold)
    keep[ties[: budget - int(keep.sum())]] = True
    return keep


def _check_params(l2: Any, density: Any) -> tuple[float, float]:
    for name, value in (("l2", l2), ("density", density)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    l2, density = float(l2), float(density)
    if not (math.isfinite(l2) and l2 > 0):
        raise ValueError(f"l2 must be a finite number > 0 (e.g. 100), got {l2}")
    if not (math.isfinite(density) and 0.0 < density <= 1.0):
        raise ValueError(
            "density must be in (0, 1]: the share of n_items**2 weights to keep "
            f"(e.g. 0.005), got {density}"
        )
    return l2, density


def _check_matrix(X: Any) -> sp.csr_matrix:
    if not sp.issparse(X):
        raise TypeError(
            f"X must be a scipy.sparse matrix (rows x items), got {type(X).__name__}; "
            "wrap a dense array in scipy.sparse.csr_matrix"
        )
    n_rows, n_items = X.shape
    if n_rows == 0 or n_items == 0 or X.nnz == 0:
        raise ValueError(f"X is empty (shape {X.shape}, {X.nnz} stored values): nothing to learn")
    if X.dtype == np.bool_:
        X = X.astype(np.float32)
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise TypeError(f"X must hold real weights, got dtype {X.dtype}")
    X = X.tocsr()
    if not np.all(np.isfinite(X.data)):
        raise ValueError("X contains NaN or infinite weights; drop or fill them first")
    if np.any(X.data < 0):
        raise ValueError("X contains negative weights; weights must be >= 0")
    return X


def sparse_ease(
    X: sp.csr_matrix, l2: float, density: float, *, num_threads: int = 0
) -> sp.csr_matrix:
    """Learn EASE's item-item weights as a sparse matrix with at most ``density * n_items**2``.

    Parameters
    ----------
    X : scipy.sparse matrix, shape (n_rows, n_items)
        Rows are users or baskets, values non-negative weights (float32 or
        float64; other real types are converted).
    l2 : float
        EASE's ridge penalty ``lambda`` (> 0).
    density : float
        The largest share of the ``n_items**2`` weights to keep, in (0, 1]
        (``0.005`` keeps 0.5%).
    num_threads : int
        Numba threads; 0 = all cores.  The result does not depend on it.

    Returns
    -------
    scipy.sparse.csr_matrix of float32, shape (n_items, n_items)
        ``B``: a history ``x`` scores ``x @ B`` (the sum of its items' rows).
        Canonical (sorted indices, no duplicates, no explicit zeros), zero
        diagonal, at most ``floor(density * n_items**2)`` stored values.

    Raises
    ------
    TypeError
        If ``X`` is not a real-valued scipy.sparse matrix, or ``l2`` /
        ``density`` are not numbers.
    ValueError
        If ``X`` is empty or holds NaN, infinite or negative weights, ``l2`` is
        not finite and positive, or ``density`` is not in (0, 1].

    See Also
    --------
    recsys.core.cooccurrence.item_neighbours : the pruned Gramian.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = sp.random(200, 30, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    >>> X.data[:] = 1.0
    >>> B = sparse_ease(X, l2=10.0, density=0.1, num_threads=1)
    >>> B.shape, B.nnz <= 0.1 * 30**2, bool(np.all(B.diagonal() == 0))
    ((30, 30), True, True)
    >>> G = (X.T @ X).toarray().astype(np.float64)
    >>> P = np.linalg.inv(G + 10.0 * np.eye(30))
    >>> dense = np.eye(30) - P / np.diag(P)
    >>> full = sparse_ease(X, l2=10.0, density=1.0, num_threads=1).toarray()
    >>> bool(np.allclose(full, dense, atol=1e-5))
    True
    """
    l2, density = _check_params(l2, density)
    X = _check_matrix(X)
    n_items = X.shape[1]
    budget = math.floor(density * n_items * n_items)
    m = support_size(n_items, density)
    if m == 0 or budget == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)

    # 1. the pruned Gramian, ranked by cosine, holding G_ab = cosine * |a| * |b|
    data = X.data.astype(np.float64)
    sumsq = np.bincount(X.indices, weights=data * data, minlength=n_items)
    table = item_neighbours(
        X, "cosine", k=min(n_items - 1, TABLE_FACTOR * m), num_threads=num_threads
    )
    norms = np.sqrt(sumsq)
    rows = np.repeat(np.arange(n_items), np.diff(table.indptr))
    gram = table.scores.astype(np.float64) * norms[rows] * norms[table.indices]
    if np.all(X.data == 1):  # binary: the Gramian holds counts
        gram = np.rint(gram)
    t_gram = gram.astype(np.float32)
    del rows, gram

    # 2. the supports: the first m neighbours of each item's table row
    s_lengths = np.minimum(np.diff(table.indptr), m)
    s_indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(s_lengths, out=s_indptr[1:])
    offset = np.repeat(table.indptr[:-1] - s_indptr[:-1], s_lengths)
    s_indices = table.indices[np.arange(s_indptr[-1], dtype=np.int64) + offset]
    del offset
    gramian = (table.indptr, table.indices, t_gram, sumsq)
    weights, _ = ridge_columns(*gramian, s_indptr, s_indices, l2, num_threads=num_threads)

    # 3. the budget: keep the largest weights, solve the pruned items again on what they kept
    if weights.shape[0] > budget:
        keep = keep_largest(weights, budget)
        kept_before = np.zeros(keep.shape[0] + 1, dtype=np.int64)
        np.cumsum(keep, out=kept_before[1:])
        s_indptr = kept_before[s_indptr]
        s_indices = s_indices[keep]
        weights, _ = ridge_columns(*gramian, s_indptr, s_indices, l2, num_threads=num_threads)

    # column j of B is item j's regression: assemble as CSC, hand back as CSR
    B = sp.csc_matrix((weights, s_indices, s_indptr), shape=(n_items, n_items)).tocsr()
    B.sum_duplicates()
    B.sort_indices()
    B.eliminate_zeros()
    return B
