r"""Implicit-feedback ALS solver kernels (Hu, Koren & Volinsky 2008).

The model minimises, over user factors ``X`` and item factors ``Y``,

.. math::

    \sum_{u,i} c_{ui} (p_{ui} - x_u^\top y_i)^2
    + \lambda (\lVert X \rVert^2 + \lVert Y \rVert^2)

where the sparse confidence matrix ``Cui`` holds ``c_ui`` (``alpha`` times the
interaction weight) for observed pairs, ``p_ui = 1`` for a positive and ``0``
for a negative (stored as a negative confidence), and ``c = 1, p = 0`` for every
unobserved pair.

Every half-step solves, for each row ``u`` independently, the ``f x f`` system

.. math::

    (Y^\top Y + \lambda I + Y_u^\top (C_u - I) Y_u)\, x_u = Y_u^\top C_u p_u

either with a few warm-started conjugate-gradient steps
(:func:`least_squares_cg`, the same algorithm as ``implicit`` 0.7's CPU
``least_squares_cg``) or exactly with a Cholesky factorisation
(:func:`least_squares_exact`, :func:`fold_in`).  Rows are independent and each
is computed by the same instruction sequence, so results are bit-identical for
any ``num_threads``.

The compiled kernels work on ``float32`` factors and confidences.  Each
public function checks its arguments, converts what can safely be converted
(confidences, read-only factor matrices, index arrays) and refuses what cannot
(the factor matrix updated in place must already be ``float32``, C-contiguous
and writeable).

Implementation notes (the CG half-step is the hot loop of every fit):

* rows are split into chunks of similar estimated cost, and each thread pulls
  chunks from a shared atomic counter (dynamic scheduling, like implicit's
  ``schedule='guided'``); per-thread scratch is allocated once per call;
* a call of at most ``_SERIAL_MAX_FLOPS`` multiply-adds (a small data set, a
  fold-in of a few baskets) runs the kernel's serial twin in the calling
  thread — the same code compiled without ``parallel``, with the same results
  — so that it never pays the first compilation of the parallel kernel;
* the sparse part of ``A v`` is accumulated four item rows at a time (four dot
  products in one pass over ``v``, then one fused four-row axpy while the rows
  are still in L1);
* on the first (residual) pass a row's item factors are gathered into a
  contiguous per-thread buffer while the item rows two blocks ahead are
  software-prefetched (``llvm.prefetch``); the CG steps then stream the buffer;
* ``(Y^T Y + reg I) v`` is a plain dense loop over the symmetric matrix;
* every floating-point reduction sits in a loop that only *loads*: LLVM
  versions loops that also store on runtime pointer-overlap checks, and the
  scalar fallback sums in a different order, which would make results depend
  on heap addresses (and so on the thread that ran the row).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeAlias, TypedDict

import numba
import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike

from recsys._utils.threads import parallel_section, resolve_num_threads
from recsys.core._intrinsics import fetch_add, prefetch2
from recsys.core.workers import serial_twin

__all__ = [
    "als_loss",
    "fold_in",
    "gramian",
    "least_squares_cg",
    "least_squares_exact",
]

# "fast" maths without the no-NaN / no-inf assumptions: reassociation lets LLVM
# vectorise the reductions, contraction gives FMAs.  Results stay deterministic:
# the same compiled code runs on every row whatever the thread count.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


class _JitOptions(TypedDict):
    """Keyword arguments of ``numba.njit`` shared by every kernel of this module."""

    nogil: bool
    cache: bool
    fastmath: set[str]


_JIT: _JitOptions = {"nogil": True, "cache": True, "fastmath": _FASTMATH}

# A scipy.sparse matrix or array (converted to CSR when needed).
_SparseMatrix: TypeAlias = scipy.sparse.spmatrix | scipy.sparse.sparray

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_CG_EPS = np.float32(1e-20)

# Rows are split into this many cost-balanced chunks per thread; the threads
# take chunks from a shared atomic counter (dynamic scheduling).
_CHUNKS_PER_THREAD = 32
# Item rows prefetched this many entries ahead in the gathering passes.
_PREFETCH_AHEAD = 8
# Upper bound on the per-thread gather buffer (bytes); longer rows are not packed.
_PACK_BYTES = 1 << 25
# Calls of at most this many multiply-adds (tens of milliseconds) run the serial twin of their
# kernel in the calling thread: the parallel kernel is compiled only when a call is big
# enough to gain from threads (its first compilation, with a cold cache, costs seconds).
_SERIAL_MAX_FLOPS = 1 << 26


# --------------------------------------------------------------------------
# Software prefetch (llvm.prefetch): a hint only, it never changes results
# --------------------------------------------------------------------------


@numba.njit(**_JIT)
def _prefetch_rows4(Y, idx, j):
    """Prefetch the four rows ``Y[idx[j]] .. Y[idx[j + 3]]`` (64-byte lines)."""
    f = Y.shape[1]
    for q in range(4):
        i = idx[j + q]
        for k in range(0, f, 16):
            prefetch2(Y, i, k)


# --------------------------------------------------------------------------
# Dense building blocks (inlined by LLVM into the row loops)
# --------------------------------------------------------------------------


@numba.njit(**_JIT)
def _dot(a, b):
    s = _ZERO
    for k in range(a.shape[0]):
        s += a[k] * b[k]
    return s


@numba.njit(**_JIT)
def _symv(G, v, out):
    """``out = G @ v`` for a dense f x f float32 matrix, four rows per pass over ``v``."""
    f = v.shape[0]
    j = 0
    while j + 4 <= f:
        g0 = G[j]
        g1 = G[j + 1]
        g2 = G[j + 2]
        g3 = G[j + 3]
        d0 = _ZERO
        d1 = _ZERO
        d2 = _ZERO
        d3 = _ZERO
        for k in range(f):
            vk = v[k]
            d0 += g0[k] * vk
            d1 += g1[k] * vk
            d2 += g2[k] * vk
            d3 += g3[k] * vk
        out[j] = d0
        out[j + 1] = d1
        out[j + 2] = d2
        out[j + 3] = d3
        j += 4
    while j < f:
        out[j] = _dot(G[j], v)
        j += 1


@numba.njit(**_JIT)
def _rhs_coef(c, d):
    """Residual weight of one stored entry: ``c - (c - 1) d`` or ``-(|c| - 1) d``."""
    if c > _ZERO:
        return c - (c - _ONE) * d
    return (c + _ONE) * d  # = -(|c| - 1) d for c <= 0


@numba.njit(**_JIT)
def _residual_pass(Y, idx, off, data, n, v, out, buf, pack):
    """``out += sum_t rhs_coef(c_t, y_t . v) y_t`` over the row's ``n`` entries.

    ``y_t = Y[idx[off + t]]``, ``c_t = data[off + t]``.  With ``pack`` the rows
    are also copied to ``buf[:n]`` for the later passes.
    """
    f = v.shape[0]
    t = 0
    while t + 4 <= n:
        if t + _PREFETCH_AHEAD + 4 <= n:
            _prefetch_rows4(Y, idx, off + t + _PREFETCH_AHEAD)
        y0 = Y[idx[off + t]]
        y1 = Y[idx[off + t + 1]]
        y2 = Y[idx[off + t + 2]]
        y3 = Y[idx[off + t + 3]]
        d0 = _ZERO
        d1 = _ZERO
        d2 = _ZERO
        d3 = _ZERO
        for k in range(f):
            vk = v[k]
            d0 += y0[k] * vk
            d1 += y1[k] * vk
            d2 += y2[k] * vk
            d3 += y3[k] * vk
        s0 = _rhs_coef(data[off + t], d0)
        s1 = _rhs_coef(data[off + t + 1], d1)
        s2 = _rhs_coef(data[off + t + 2], d2)
        s3 = _rhs_coef(data[off + t + 3], d3)
        for k in range(f):
            out[k] += s0 * y0[k] + s1 * y1[k] + s2 * y2[k] + s3 * y3[k]
        if pack:
            b0 = buf[t]
            b1 = buf[t + 1]
            b2 = buf[t + 2]
            b3 = buf[t + 3]
            for k in range(f):
                b0[k] = y0[k]
                b1[k] = y1[k]
                b2[k] = y2[k]
                b3[k] = y3[k]
        t += 4
    while t < n:
        y0 = Y[idx[off + t]]
        s0 = _rhs_coef(data[off + t], _dot(y0, v))
        for k in range(f):
            out[k] += s0 * y0[k]
        if pack:
            b0 = buf[t]
            for k in range(f):
                b0[k] = y0[k]
        t += 1


@numba.njit(**_JIT)
def _hessian_pass_gather(Y, idx, off, data, n, v, out):
    """``out += sum_t (|c_t| - 1) (y_t . v) y_t`` reading ``y_t = Y[idx[off + t]]``."""
    f = v.shape[0]
    t = 0
    while t + 4 <= n:
        if t + _PREFETCH_AHEAD + 4 <= n:
            _prefetch_rows4(Y, idx, off + t + _PREFETCH_AHEAD)
        y0 = Y[idx[off + t]]
        y1 = Y[idx[off + t + 1]]
        y2 = Y[idx[off + t + 2]]
        y3 = Y[idx[off + t + 3]]
        d0 = _ZERO
        d1 = _ZERO
        d2 = _ZERO
        d3 = _ZERO
        for k in range(f):
            vk = v[k]
            d0 += y0[k] * vk
            d1 += y1[k] * vk
            d2 += y2[k] * vk
            d3 += y3[k] * vk
        s0 = (abs(data[off + t]) - _ONE) * d0
        s1 = (abs(data[off + t + 1]) - _ONE) * d1
        s2 = (abs(data[off + t + 2]) - _ONE) * d2
        s3 = (abs(data[off + t + 3]) - _ONE) * d3
        for k in range(f):
            out[k] += s0 * y0[k] + s1 * y1[k] + s2 * y2[k] + s3 * y3[k]
        t += 4
    while t < n:
        y0 = Y[idx[off + t]]
        s0 = (abs(data[off + t]) - _ONE) * _dot(y0, v)
        for k in range(f):
            out[k] += s0 * y0[k]
        t += 1


@numba.njit(**_JIT)
def _hessian_pass_packed(B, off, data, n, v, out):
    """As :func:`_hessian_pass_gather` with the rows already packed in ``B[:n]``.

    Same operations in the same order, so packed and unpacked rows give
    bit-identical results.
    """
    f = v.shape[0]
    t = 0
    while t + 4 <= n:
        y0 = B[t]
        y1 = B[t + 1]
        y2 = B[t + 2]
        y3 = B[t + 3]
        d0 = _ZERO
        d1 = _ZERO
        d2 = _ZERO
        d3 = _ZERO
        for k in range(f):
            vk = v[k]
            d0 += y0[k] * vk
            d1 += y1[k] * vk
            d2 += y2[k] * vk
            d3 += y3[k] * vk
        s0 = (abs(data[off + t]) - _ONE) * d0
        s1 = (abs(data[off + t + 1]) - _ONE) * d1
        s2 = (abs(data[off + t + 2]) - _ONE) * d2
        s3 = (abs(data[off + t + 3]) - _ONE) * d3
        for k in range(f):
            out[k] += s0 * y0[k] + s1 * y1[k] + s2 * y2[k] + s3 * y3[k]
        t += 4
    while t < n:
        y0 = B[t]
        s0 = (abs(data[off + t]) - _ONE) * _dot(y0, v)
        for k in range(f):
            out[k] += s0 * y0[k]
        t += 1


# --------------------------------------------------------------------------
# Conjugate gradient half-step
# --------------------------------------------------------------------------


@numba.njit(**_JIT)
def _cg_row(start, end, indices, data, x, Y, G, r, p, Ap, buf, cg_steps):
    f = x.shape[0]
    n = end - start
    if n == 0:
        for k in range(f):
            x[k] = _ZERO
        return
    pack = n <= buf.shape[0]
    # r = b - A x
    _symv(G, x, r)
    for k in range(f):
        r[k] = -r[k]
    _residual_pass(Y, indices, start, data, n, x, r, buf, pack)
    for k in range(f):
        p[k] = r[k]
    rsold = _dot(r, r)
    if rsold < _CG_EPS:
        return
    for _ in range(cg_steps):
        _symv(G, p, Ap)
        if pack:
            _hessian_pass_packed(buf, start, data, n, p, Ap)
        else:
            _hessian_pass_gather(Y, indices, start, data, n, p, Ap)
        alpha = rsold / _dot(p, Ap)
        for k in range(f):
            x[k] += alpha * p[k]
            r[k] -= alpha * Ap[k]
        rsnew = _dot(r, r)
        if rsnew < _CG_EPS:
            break
        beta = rsnew / rsold
        for k in range(f):
            p[k] = r[k] + beta * p[k]
        rsold = rsnew


@numba.njit(parallel=True, **_JIT)
def _cg_kernel(indptr, indices, data, X, Y, G, chunks, counter, n_workers, cg_steps, pack_rows):
    """CG half-step over all rows.

    ``n_workers`` threads pull row chunks ``chunks[c]:chunks[c + 1]`` by
    atomically incrementing ``counter[0]`` (zero on entry; allocated by the
    caller, because Numba may privatise or reorder an allocation made inside a
    parallel function).
    """
    f = X.shape[1]
    n_chunks = chunks.shape[0] - 1
    longest = 0
    for u in range(X.shape[0]):
        longest = max(longest, indptr[u + 1] - indptr[u])
    for _w in numba.prange(n_workers):
        r = np.empty(f, dtype=np.float32)
        p = np.empty(f, dtype=np.float32)
        Ap = np.empty(f, dtype=np.float32)
        buf = np.empty((min(longest, pack_rows), f), dtype=np.float32)
        while True:
            c = fetch_add(counter, 0, 1)
            if c >= n_chunks:
                break
            for u in range(chunks[c], chunks[c + 1]):
                _cg_row(
                    indptr[u], indptr[u + 1], indices, data, X[u], Y, G, r, p, Ap, buf, cg_steps
                )


# --------------------------------------------------------------------------
# Exact (Cholesky) solve
# --------------------------------------------------------------------------


@numba.njit(**_JIT)
def _cholesky_solve(A, b, x):
    """Solve ``A x = b`` for symmetric positive definite ``A``.

    ``A`` is overwritten by its lower Cholesky factor and ``b`` by the
    solution, which is copied to ``x``.  Returns False (``x`` untouched) if
    ``A`` is not numerically positive definite.
    """
    f = b.shape[0]
    for j in range(f):
        Lj = A[j]
        s = Lj[j]
        for k in range(j):
            s -= Lj[k] * Lj[k]
        if not s > _ZERO:  # also catches NaN
            return False
        d = np.float32(np.sqrt(s))
        Lj[j] = d
        inv = _ONE / d
        for i in range(j + 1, f):
            Li = A[i]
            t = Li[j]
            for k in range(j):
                t -= Li[k] * Lj[k]
            Li[j] = t * inv
    # forward substitution L z = b (z stored in b)
    for i in range(f):
        Li = A[i]
        t = b[i]
        for k in range(i):
            t -= Li[k] * b[k]
        b[i] = t / Li[i]
    # back substitution L^T x = z, column-oriented so rows of L are read
    for i in range(f - 1, -1, -1):
        xi = b[i] / A[i, i]
        b[i] = xi
        Li = A[i]
        for k in range(i):
            b[k] -= xi * Li[k]
    for k in range(f):
        x[k] = b[k]
    return True


@numba.njit(**_JIT)
def _exact_row(start, end, indices, data, x, Y, G, A, b):
    """Build and solve one row's normal equations; False if not SPD."""
    f = x.shape[0]
    if start == end:
        for k in range(f):
            x[k] = _ZERO
        return True
    for a in range(f):
        b[a] = _ZERO
        Aa = A[a]
        Ga = G[a]
        for k in range(f):
            Aa[k] = Ga[k]
    j = start
    while j < end:
        m = min(4, end - j)
        # b += c y for positives
        for q in range(m):
            c = data[j + q]
            if c > _ZERO:
                y = Y[indices[j + q]]
                for k in range(f):
                    b[k] += c * y[k]
        # A += sum_q (|c_q| - 1) y_q y_q^T, four items per pass over A
        if m == 4:
            y0 = Y[indices[j]]
            y1 = Y[indices[j + 1]]
            y2 = Y[indices[j + 2]]
            y3 = Y[indices[j + 3]]
            w0 = abs(data[j]) - _ONE
            w1 = abs(data[j + 1]) - _ONE
            w2 = abs(data[j + 2]) - _ONE
            w3 = abs(data[j + 3]) - _ONE
            for a in range(f):
                Aa = A[a]
                s0 = w0 * y0[a]
                s1 = w1 * y1[a]
                s2 = w2 * y2[a]
                s3 = w3 * y3[a]
                for k in range(f):
                    Aa[k] += s0 * y0[k] + s1 * y1[k] + s2 * y2[k] + s3 * y3[k]
        else:
            for q in range(m):
                y = Y[indices[j + q]]
                w = abs(data[j + q]) - _ONE
                for a in range(f):
                    Aa = A[a]
                    s0 = w * y[a]
                    for k in range(f):
                        Aa[k] += s0 * y[k]
        j += m
    return _cholesky_solve(A, b, x)


@numba.njit(parallel=True, **_JIT)
def _exact_kernel(indptr, indices, data, X, Y, G, chunks, counter, n_workers, failed):
    f = X.shape[1]
    n_chunks = chunks.shape[0] - 1
    for _w in numba.prange(n_workers):
        A = np.empty((f, f), dtype=np.float32)
        b = np.empty(f, dtype=np.float32)
        while True:
            c = fetch_add(counter, 0, 1)
            if c >= n_chunks:
                break
            for u in range(chunks[c], chunks[c + 1]):
                ok = _exact_row(indptr[u], indptr[u + 1], indices, data, X[u], Y, G, A, b)
                failed[u] = not ok


# --------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------


@numba.njit(parallel=True, **_JIT)
def _loss_kernel(indptr, indices, data, X, Y, YtY, chunks, counter, n_workers, row_loss, row_norm):
    """Per-row terms of implicit's training loss (summed afterwards, in row order).

    ``x^T YtY x`` is the loss of the row with every ``c = 1, p = 0``; each stored
    entry then adds ``(|c| - 1) d^2 - 2 c d [c > 0] + |c|`` with ``d = x . y``,
    which for a positive is ``c (1 - d)^2 - d^2`` (as in ``implicit``).
    """
    f = X.shape[1]
    n_chunks = chunks.shape[0] - 1
    for _w in numba.prange(n_workers):
        r = np.empty(f, dtype=np.float32)
        while True:
            c = fetch_add(counter, 0, 1)
            if c >= n_chunks:
                break
            for u in range(chunks[c], chunks[c + 1]):
                x = X[u]
                _symv(YtY, x, r)
                loss = 0.0
                for j in range(indptr[u], indptr[u + 1]):
                    cu = np.float64(data[j])
                    d = np.float64(_dot(Y[indices[j]], x))
                    if cu > 0.0:
                        t = -2.0 * cu
                    else:
                        t = 0.0
                        cu = -cu
                    loss += (t + (cu - 1.0) * d) * d + cu
                xtr = 0.0
                xx = 0.0
                for k in range(f):
                    xtr += np.float64(x[k]) * np.float64(r[k])
                    xx += np.float64(x[k]) * np.float64(x[k])
                row_loss[u] = loss + xtr
                row_norm[u] = xx


# The same kernels compiled without `parallel` (one worker, in the calling thread) for small
# calls; the code per row is the same, so are the results.
_cg_kernel_serial = serial_twin(_cg_kernel)
_exact_kernel_serial = serial_twin(_exact_kernel)
_loss_kernel_serial = serial_twin(_loss_kernel)


@contextlib.contextmanager
def _threads(num_threads: int, flops: int) -> Iterator[int]:
    """Threads for a call of ``flops`` multiply-adds: 1 (serial twin, no parallel section) or all.

    Only the size of the call decides, never ``num_threads``: a given input
    always runs the same compiled code.
    """
    if flops <= _SERIAL_MAX_FLOPS:
        yield 1
        return
    with parallel_section(num_threads) as threads:
        yield threads


# --------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------


def _check_csr(
    Cui: Any, name: str = "Cui"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """Return the CSR arrays of ``Cui``: float32 data and matching int32/int64 index arrays."""
    if not scipy.sparse.issparse(Cui):
        raise TypeError(f"{name} must be a scipy.sparse CSR matrix, got {type(Cui).__name__}")
    if Cui.format != "csr":
        Cui = Cui.tocsr()
    data = np.ascontiguousarray(Cui.data, dtype=np.float32)
    indptr, indices = _check_index_arrays(
        Cui.indptr, Cui.indices, Cui.shape[1], f"{name}.indptr", f"{name}.indices"
    )
    if indptr.shape[0] != Cui.shape[0] + 1:
        raise ValueError(
            f"{name}.indptr has length {indptr.shape[0]}, expected {name}.shape[0] + 1 = "
            f"{Cui.shape[0] + 1}"
        )
    if data.shape[0] != indices.shape[0]:
        raise ValueError(
            f"{name}.data has {data.shape[0]} entries but {name}.indices has {indices.shape[0]}"
        )
    _check_finite(data, f"{name}.data")
    return indptr, indices, data, Cui.shape


def _check_index_arrays(
    indptr: ArrayLike, indices: ArrayLike, n_cols: int, indptr_name: str, indices_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate CSR-style ``indptr``/``indices``; return them as one contiguous int type.

    Values are range-checked before any cast, so no out-of-range index can
    wrap around into range.
    """
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    for arr, name in ((indptr, indptr_name), (indices, indices_name)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if indptr.shape[0] < 1:
        raise ValueError(f"{indptr_name} must have at least one entry")
    nnz = indices.shape[0]
    if int(indptr[0]) != 0 or int(indptr[-1]) != nnz:
        raise ValueError(
            f"{indptr_name} must start at 0 and end at len({indices_name}) = {nnz}, "
            f"got {indptr[0]} .. {indptr[-1]}"
        )
    if indptr.shape[0] > 1 and np.any(indptr[1:] < indptr[:-1]):
        raise ValueError(f"{indptr_name} must be non-decreasing")
    if nnz:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= n_cols:
            raise ValueError(
                f"{indices_name} must lie in [0, {n_cols}) (the rows of the item factors), "
                f"found values in [{lo}, {hi}]"
            )
    # int32 whenever the values fit (one kernel specialisation in practice; int64
    # only for more than 2**31 - 1 entries or columns)
    int32_max = np.iinfo(np.int32).max
    itype = np.int32 if nnz <= int32_max and n_cols <= int32_max else np.int64
    return (
        np.ascontiguousarray(indptr, dtype=itype),
        np.ascontiguousarray(indices, dtype=itype),
    )


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")


def _check_factors_in(Y: ArrayLike, name: str) -> np.ndarray:
    """Check a read-only factor matrix; convert it to C-contiguous float32 if needed."""
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x factors), got shape {Y.shape}")
    if not (np.issubdtype(Y.dtype, np.floating) or np.issubdtype(Y.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {Y.dtype}")
    return np.ascontiguousarray(Y, dtype=np.float32)


def _check_factors_out(X: object, name: str) -> np.ndarray:
    """Check the factor matrix updated in place: already float32, C-contiguous, writeable."""
    if not isinstance(X, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray (it is updated in place)")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x factors), got shape {X.shape}")
    if X.dtype != np.float32:
        raise TypeError(
            f"{name} must have dtype float32 because it is updated in place, got {X.dtype}; "
            f"convert it first with np.ascontiguousarray({name}, dtype=np.float32)"
        )
    if not X.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous because it is updated in place")
    if not X.flags.writeable:
        raise ValueError(f"{name} must be writeable because it is updated in place")
    return X


def _check_regularization(regularization: float) -> float:
    try:
        reg = float(regularization)
    except (TypeError, ValueError):
        raise TypeError(
            f"regularization must be a number, got {type(regularization).__name__}"
        ) from None
    if not np.isfinite(reg) or reg < 0:
        raise ValueError(f"regularization must be finite and >= 0, got {regularization}")
    return reg


def _check_system(
    shape: tuple[int, int],
    X: np.ndarray,
    Y: np.ndarray,
    x_name: str = "X",
    y_name: str = "Y",
    c_name: str = "Cui",
    allow_shared: bool = False,
) -> None:
    n_rows, n_cols = shape
    if X.shape[0] != n_rows:
        raise ValueError(
            f"{c_name} has {n_rows} rows but {x_name} has {X.shape[0]} rows "
            f"({c_name}.shape={shape}, {x_name}.shape={X.shape})"
        )
    if Y.shape[0] != n_cols:
        raise ValueError(
            f"{c_name} has {n_cols} columns but {y_name} has {Y.shape[0]} rows "
            f"({c_name}.shape={shape}, {y_name}.shape={Y.shape})"
        )
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of factors, got "
            f"{x_name}.shape={X.shape} and {y_name}.shape={Y.shape}"
        )
    if not allow_shared and np.may_share_memory(X, Y):
        raise ValueError(f"{x_name} and {y_name} must not share memory")


def _counter() -> np.ndarray:
    """Return a fresh work counter for the dynamically scheduled kernels."""
    return np.zeros(1, dtype=np.int64)


def _chunks(indptr: np.ndarray, n_factors: int, n_threads: int) -> np.ndarray:
    """Return the row boundaries of cost-balanced chunks.

    Chunks are contiguous, ``_CHUNKS_PER_THREAD`` per thread.  The cost of
    a row is about ``(2 nnz + f) * f`` per CG step, so rows are weighted by
    ``nnz + f / 2 + 1``.
    """
    n_rows = indptr.shape[0] - 1
    n_chunks = max(1, min(n_rows, n_threads * _CHUNKS_PER_THREAD))
    if n_rows == 0:
        return np.zeros(1, dtype=np.int64)
    cost = np.diff(indptr).astype(np.float64) + (0.5 * n_factors + 1.0)
    cum = np.cumsum(cost)
    targets = cum[-1] * np.arange(1, n_chunks) / n_chunks
    inner = np.searchsorted(cum, targets, side="left") + 1
    bounds = np.concatenate(([0], inner, [n_rows])).astype(np.int64)
    return np.unique(bounds)


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def gramian(Y: ArrayLike, regularization: float) -> np.ndarray:
    """Return ``Y^T Y + regularization * I`` as a C-contiguous ``float32`` (f x f) matrix.

    Computed with NumPy's BLAS (deterministic for a given library and thread
    count) and symmetrised exactly.

    Parameters
    ----------
    Y : array_like, shape (n, f)
        Factor matrix.
    regularization : float
        Added to the diagonal (``>= 0``).

    Returns
    -------
    ndarray, float32, shape (f, f)
        The symmetric regularised Gram matrix.

    Examples
    --------
    >>> gramian(np.eye(2, dtype=np.float32), 0.5)
    array([[1.5, 0. ],
           [0. , 1.5]], dtype=float32)
    """
    Y = _check_factors_in(Y, "Y")
    reg = _check_regularization(regularization)
    G = Y.T @ Y
    G = 0.5 * (G + G.T)
    G[np.diag_indices_from(G)] += np.float32(reg)
    return np.ascontiguousarray(G, dtype=np.float32)


def least_squares_cg(
    Cui: _SparseMatrix,
    X: np.ndarray,
    Y: ArrayLike,
    regularization: float,
    cg_steps: int = 3,
    num_threads: int = 0,
) -> None:
    """Run one ALS half-step with warm-started conjugate gradient, updating ``X`` in place.

    For every row ``u`` of ``Cui`` (shape ``n_rows x n_cols``), runs ``cg_steps``
    conjugate-gradient steps on ``(Y^T Y + reg I + Y_u^T (C_u - I) Y_u) x_u =
    Y_u^T C_u p_u`` starting from the current ``X[u]``.  Rows with no stored
    entries are set to zero.  Same algorithm as ``implicit``'s CPU
    ``least_squares_cg``.

    Parameters
    ----------
    Cui : scipy.sparse CSR matrix, shape (n_rows, n_cols)
        Confidences (``alpha * weight``); negative values mark negatives.
        Converted to ``float32`` data if needed.
    X : ndarray, float32, C-contiguous, shape (n_rows, f)
        Factors to update (in place).
    Y : array_like, shape (n_cols, f)
        Fixed factors of the other side.
    regularization : float
        L2 weight ``lambda >= 0``.
    cg_steps : int
        Conjugate-gradient steps per row (>= 1).
    num_threads : int
        0 = all cores.

    Examples
    --------
    >>> import scipy.sparse
    >>> Y = np.eye(2, dtype=np.float32)
    >>> X = np.zeros((1, 2), dtype=np.float32)
    >>> least_squares_cg(scipy.sparse.csr_matrix([[3.0, 0.0]]), X, Y, 0.0, num_threads=1)
    >>> np.round(X, 5)  # CG solves the 2 x 2 system diag(3, 1) x = (3, 0) exactly
    array([[1., 0.]], dtype=float32)
    """
    resolve_num_threads(num_threads)  # validate early, even when there is no work
    indptr, indices, data, shape = _check_csr(Cui)
    X = _check_factors_out(X, "X")
    Y = _check_factors_in(Y, "Y")
    _check_system(shape, X, Y)
    if isinstance(cg_steps, bool) or not isinstance(cg_steps, (int, np.integer)):
        raise TypeError(f"cg_steps must be an int, got {type(cg_steps).__name__}")
    if cg_steps < 1:
        raise ValueError(f"cg_steps must be >= 1, got {cg_steps}")
    G = gramian(Y, regularization)
    if X.shape[0] == 0 or X.shape[1] == 0:
        return
    f = X.shape[1]
    # per CG step: two passes over the row's item factors and one product with G
    flops = (2 * indices.shape[0] + X.shape[0] * f) * f * (int(cg_steps) + 1)
    with _threads(num_threads, flops) as threads:
        chunks = _chunks(indptr, f, threads)
        pack_rows = max(4, _PACK_BYTES // (4 * f))
        kernel = _cg_kernel if flops > _SERIAL_MAX_FLOPS else _cg_kernel_serial
        kernel(
            indptr, indices, data, X, Y, G, chunks, _counter(), threads, int(cg_steps), pack_rows
        )


def _solve_exact(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    G: np.ndarray,
    num_threads: int,
) -> None:
    """Solve every row exactly; rows that are not positive definite fall back to lstsq."""
    if X.shape[0] == 0:
        return
    failed = np.zeros(X.shape[0], dtype=np.bool_)
    f = X.shape[1]
    # per row: a rank-one update of the f x f system per entry, then its Cholesky factorisation
    flops = (indices.shape[0] * (f + 1) + X.shape[0] * (f + 3) * f // 3) * f
    with _threads(num_threads, flops) as threads:
        chunks = _chunks(indptr, f, threads)
        kernel = _exact_kernel if flops > _SERIAL_MAX_FLOPS else _exact_kernel_serial
        kernel(indptr, indices, data, X, Y, G, chunks, _counter(), threads, failed)
    # Rows whose system is not numerically positive definite (possible only with
    # regularization 0 or confidences below 1): least-squares solution in NumPy.
    for u in np.flatnonzero(failed):
        sl = slice(indptr[u], indptr[u + 1])
        Yu = Y[indices[sl]].astype(np.float64)
        c = data[sl].astype(np.float64)
        A = G.astype(np.float64) + (Yu.T * (np.abs(c) - 1.0)) @ Yu
        b = Yu.T @ np.where(c > 0, c, 0.0)
        X[u] = np.linalg.lstsq(A, b, rcond=None)[0].astype(np.float32)


def least_squares_exact(
    Cui: _SparseMatrix, X: np.ndarray, Y: ArrayLike, regularization: float, num_threads: int = 0
) -> None:
    """Run one ALS half-step solved exactly (Cholesky per row), updating ``X`` in place.

    Solves ``(Y^T Y + reg I + Y_u^T (C_u - I) Y_u) x_u = Y_u^T C_u p_u`` for
    every row ``u`` of ``Cui``.

    Parameters
    ----------
    Cui : scipy.sparse CSR matrix, shape (n_rows, n_cols)
        Confidences, as for :func:`least_squares_cg`.
    X : ndarray, float32, C-contiguous, shape (n_rows, f)
        Factors to update (in place).
    Y : array_like, shape (n_cols, f)
        Fixed factors of the other side.
    regularization : float
        L2 weight ``lambda >= 0``.
    num_threads : int
        0 = all cores.

    Examples
    --------
    >>> import scipy.sparse
    >>> Y = np.eye(2, dtype=np.float32)
    >>> X = np.zeros((1, 2), dtype=np.float32)
    >>> least_squares_exact(scipy.sparse.csr_matrix([[3.0, 0.0]]), X, Y, 0.0, num_threads=1)
    >>> np.round(X, 5)
    array([[1., 0.]], dtype=float32)
    """
    resolve_num_threads(num_threads)  # validate early, even when there is no work
    indptr, indices, data, shape = _check_csr(Cui)
    X = _check_factors_out(X, "X")
    Y = _check_factors_in(Y, "Y")
    _check_system(shape, X, Y)
    G = gramian(Y, regularization)
    _solve_exact(indptr, indices, data, X, Y, G, num_threads)


def fold_in(
    item_indptr: ArrayLike,
    item_indices: ArrayLike,
    confidences: ArrayLike,
    Y: ArrayLike,
    YtY_reg: ArrayLike,
    num_threads: int = 0,
) -> np.ndarray:
    """Compute exact factors for rows (new users, baskets) that were not in training.

    Each query ``q`` is described by its items
    ``item_indices[item_indptr[q]:item_indptr[q + 1]]`` with the matching
    ``confidences`` (already multiplied by ``alpha``; negative = disliked).
    With the item factors ``Y`` held fixed, returns the exact least-squares
    factors, i.e. what one ALS half-step would give these rows.

    Parameters
    ----------
    item_indptr : array_like of int, shape (n_queries + 1,)
    item_indices : array_like of int, shape (nnz,)
        Row numbers into ``Y``.
    confidences : array_like of float, shape (nnz,)
    Y : array_like, shape (n_items, f)
    YtY_reg : array_like, shape (f, f)
        ``gramian(Y, regularization)`` (cache it between calls).
    num_threads : int

    Returns
    -------
    ndarray, float32, shape (n_queries, f)
        Queries with no items get zero factors.

    Examples
    --------
    >>> Y = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> X = fold_in([0, 1], [0], [3.0], Y, gramian(Y, 0.0), num_threads=1)
    >>> X.shape, X.dtype
    ((1, 2), dtype('float32'))
    >>> np.round(X, 5)  # solves diag(3, 1) x = (3, 0)
    array([[1., 0.]], dtype=float32)
    """
    resolve_num_threads(num_threads)  # validate early, even when there is no work
    Y = _check_factors_in(Y, "Y")
    G = _check_factors_in(YtY_reg, "YtY_reg")
    f = Y.shape[1]
    if G.shape != (f, f):
        raise ValueError(
            f"YtY_reg must have shape (f, f) = ({f}, {f}) to match Y.shape={Y.shape}, "
            f"got YtY_reg.shape={G.shape}"
        )
    indptr, indices = _check_index_arrays(
        item_indptr, item_indices, Y.shape[0], "item_indptr", "item_indices"
    )
    data = np.asarray(confidences)
    if data.ndim != 1 or data.shape[0] != indices.shape[0]:
        raise ValueError(
            f"confidences must be 1-D with one value per entry of item_indices "
            f"({indices.shape[0]}), got shape {data.shape}"
        )
    data = np.ascontiguousarray(data, dtype=np.float32)
    _check_finite(data, "confidences")
    X = np.zeros((indptr.shape[0] - 1, f), dtype=np.float32)
    if f:
        _solve_exact(indptr, indices, data, X, Y, G, num_threads)
    return X


def als_loss(
    Cui: _SparseMatrix, X: ArrayLike, Y: ArrayLike, regularization: float, num_threads: int = 0
) -> float:
    r"""Compute the training loss, normalised exactly as ``implicit``'s ``calculate_loss``.

    .. math::

        \frac{\sum_{u,i} c_{ui} (p_{ui} - x_u^\top y_i)^2
               + \lambda (\lVert X \rVert^2 + \lVert Y \rVert^2)}
              {\sum |c_{ui}|_{\text{observed}} + n_{rows} n_{cols} - \text{nnz}}

    with ``c = 1, p = 0`` for unobserved pairs.  As in ``implicit``, a negative
    stored confidence ``c`` contributes ``|c| (x_u^\top y_i)^2 + |c|``.
    Accumulated in float64 (``implicit`` accumulates in float32, so the two
    agree to about float32 precision).

    Parameters
    ----------
    Cui : scipy.sparse CSR matrix, shape (n_rows, n_cols)
        Confidences, as for :func:`least_squares_cg`.
    X : array_like, shape (n_rows, f)
        Row factors.
    Y : array_like, shape (n_cols, f)
        Column factors.
    regularization : float
        L2 weight ``lambda >= 0``.
    num_threads : int
        0 = all cores.

    Returns
    -------
    float
        The normalised loss; NaN when the denominator is zero (an empty matrix).

    Examples
    --------
    >>> import scipy.sparse
    >>> Y = np.eye(2, dtype=np.float32)
    >>> X = np.array([[1.0, 0.0]], dtype=np.float32)
    >>> als_loss(scipy.sparse.csr_matrix([[3.0, 0.0]]), X, Y, 0.0, num_threads=1)
    0.0
    """
    resolve_num_threads(num_threads)  # validate early, even when there is no work
    indptr, indices, data, shape = _check_csr(Cui)
    X = _check_factors_in(X, "X")
    Y = _check_factors_in(Y, "Y")
    _check_system(shape, X, Y, allow_shared=True)
    reg = _check_regularization(regularization)
    n_rows, n_cols = shape
    denom = float(np.abs(data, dtype=np.float64).sum()) + n_rows * n_cols - data.shape[0]
    YtY = gramian(Y, 0.0)
    row_loss = np.zeros(n_rows, dtype=np.float64)
    row_norm = np.zeros(n_rows, dtype=np.float64)
    if n_rows and X.shape[1]:
        f = X.shape[1]
        flops = (indices.shape[0] + n_rows * f) * f
        with _threads(num_threads, flops) as threads:
            chunks = _chunks(indptr, f, threads)
            kernel = _loss_kernel if flops > _SERIAL_MAX_FLOPS else _loss_kernel_serial
            kernel(
                indptr, indices, data, X, Y, YtY, chunks, _counter(), threads, row_loss, row_norm
            )
    y_norm = float(np.einsum("ij,ij->", Y, Y, dtype=np.float64))
    loss = row_loss.sum() + reg * (row_norm.sum() + y_norm)
    if denom == 0:
        return float("nan")
    return float(loss / denom)
