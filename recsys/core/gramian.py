"""Dense item Gramians and the closed-form EASE solve on them (Steck, WWW 2019).

:func:`dense_gramian` accumulates ``G = XᵀX`` of a sparse rows × items
matrix straight into a dense float32 array (one Numba pass over the
co-occurring pairs, ``sum_r |r|²`` work, never a sparse intermediate);
:func:`ease_solve` turns it, in place, into the EASE weights

    ``B = I - P diag(1 / diag(P))``,  ``P = (G + λI)⁻¹``,

through LAPACK's float32 Cholesky factorisation and inversion (``spotrf``,
``spotri``) and one Numba pass that mirrors the triangle LAPACK leaves and
scales its columns.  Memory: the one ``n_items²`` float32 array, nothing else
of that size.  :func:`ease_weights_from_inverse` is that last pass alone.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from recsys._utils.threads import blas_threads, parallel_section

__all__ = ["dense_gramian", "ease_solve", "ease_weights_from_inverse"]


@numba.njit(cache=True, nogil=True, parallel=True)
def _gramian_kernel(
    indptr, indices, data, col_indptr, col_rows, col_data, order, n_workers, out
):  # pragma: no cover - compiled
    # worker w owns the rows order[w], order[w + n_workers], ... of out: no two workers write
    # the same row; order lists the items by cost, so the round robin balances the work
    n_items = order.shape[0]
    for w in numba.prange(n_workers):
        for k in range(w, n_items, n_workers):
            a = order[k]
            row = out[a]
            for p in range(col_indptr[a], col_indptr[a + 1]):
                r = col_rows[p]
                wa = col_data[p]
                for q in range(indptr[r], indptr[r + 1]):
                    row[indices[q]] += wa * data[q]


def dense_gramian(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    n_items: int,
    *,
    num_threads: int = 0,
) -> np.ndarray:
    """Return ``XᵀX`` of a CSR rows × items matrix as a dense float32 array.

    Parameters
    ----------
    indptr, indices, data : array_like
        The CSR parts of ``X`` (rows × ``n_items``); duplicates in a row are
        summed as scipy would.
    n_items : int
        Columns of ``X``.
    num_threads : int
        Numba threads (0 = all cores).

    Returns
    -------
    numpy.ndarray of float32, shape (n_items, n_items)
        Symmetric, C-contiguous.  Entries are accumulated in float32 (exact
        for 0/1 data up to 2**24 co-occurrences).

    Raises
    ------
    ValueError
        Inconsistent CSR parts, or column indices outside ``[0, n_items)``.

    Examples
    --------
    >>> g = dense_gramian([0, 2, 3], [0, 1, 1], [1.0, 1.0, 2.0], 3)
    >>> g.tolist()
    [[1.0, 1.0, 0.0], [1.0, 5.0, 0.0], [0.0, 0.0, 0.0]]
    """
    ip = np.ascontiguousarray(indptr, dtype=np.int64)
    ix = np.ascontiguousarray(indices, dtype=np.int32)
    dt = np.ascontiguousarray(data, dtype=np.float32)
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 0:
        raise ValueError(f"n_items must be an int >= 0, got {n_items!r}")
    n_items = int(n_items)
    if (
        ip.ndim != 1
        or ip.size < 1
        or ip[0] != 0
        or ip[-1] != ix.size
        or dt.shape != ix.shape
        or (np.diff(ip) < 0).any()
    ):
        raise ValueError("indptr / indices / data are not the parts of a CSR matrix")
    if ix.size and (ix.min() < 0 or ix.max() >= n_items):
        raise ValueError(f"indices must be item columns in [0, {n_items})")
    out = np.zeros((n_items, n_items), dtype=np.float32)
    if ix.size == 0:
        return out
    n_rows = ip.size - 1
    row_of = np.repeat(np.arange(n_rows, dtype=np.int32), np.diff(ip))
    by_item = np.argsort(ix, kind="stable")
    col_indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(ix, minlength=n_items), out=col_indptr[1:])
    col_rows = np.ascontiguousarray(row_of[by_item])
    col_data = np.ascontiguousarray(dt[by_item])
    # cost of item a: the lengths of its rows; the dearest first, dealt round robin
    lengths = np.diff(ip)
    cost = np.bincount(ix, weights=lengths[row_of].astype(np.float64), minlength=n_items)
    order = np.argsort(-cost, kind="stable").astype(np.int64)
    with parallel_section(num_threads) as threads:
        _gramian_kernel(ip, ix, dt, col_indptr, col_rows, col_data, order, threads, out)
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def _weights_kernel(m, diag):  # pragma: no cover - compiled
    # reads the lower triangle (i > j) only; row i writes m[i, j] (read just before, by this
    # row alone) and m[j, i] (upper triangle, never read): no conflicts between rows
    n = m.shape[0]
    for i in numba.prange(n):
        di = diag[i]
        for j in range(i):
            p = m[i, j]
            m[i, j] = -p / diag[j]
            m[j, i] = -p / di
        m[i, i] = 0.0


def ease_weights_from_inverse(
    inverse: np.ndarray, *, num_threads: int = 0, out_diagonal: np.ndarray | None = None
) -> np.ndarray:
    """Turn ``P = (G + λI)⁻¹`` into the EASE weights ``B = I - P diag(1 / diag(P))``, in place.

    Only the lower triangle (``i >= j``, C order) of ``inverse`` is read: it
    may hold garbage above the diagonal, as LAPACK's ``spotri`` leaves it.

    Parameters
    ----------
    inverse : numpy.ndarray of float32, shape (n, n), C-contiguous
        Overwritten with ``B``: ``B[i, j] = -P[i, j] / P[j, j]`` off the
        diagonal, ``0`` on it.
    num_threads : int
        Numba threads (0 = all cores).
    out_diagonal : numpy.ndarray of shape (n,), optional
        Receives ``diag(P)`` (``P = (I - B) diag(diag(P))`` then gives ``P``
        back from ``B``: what :class:`recsys.models.ease.EASE` validates with).

    Returns
    -------
    numpy.ndarray
        ``inverse`` itself.

    Raises
    ------
    ValueError
        Not a C-contiguous square float32 array, or a diagonal entry of ``P``
        that is not finite and positive (``G + λI`` was not positive definite).

    Examples
    --------
    >>> p = np.array([[2.0, 0.0], [1.0, 4.0]], dtype=np.float32)  # lower triangle of P
    >>> ease_weights_from_inverse(p).tolist()
    [[0.0, -0.25], [-0.5, 0.0]]
    """
    m = inverse
    if (
        not isinstance(m, np.ndarray)
        or m.dtype != np.float32
        or m.ndim != 2
        or m.shape[0] != m.shape[1]
        or not m.flags.c_contiguous
        or not m.flags.writeable
    ):
        raise ValueError("inverse must be a writeable, C-contiguous, square float32 array")
    diag = np.ascontiguousarray(np.diagonal(m), dtype=np.float32).copy()
    if diag.size and not (np.isfinite(diag).all() and diag.min() > 0):
        raise ValueError(
            "the inverse has a diagonal entry that is not finite and positive: the Gramian plus "
            "l2 on its diagonal is not positive definite (raise l2)"
        )
    if out_diagonal is not None:
        if out_diagonal.shape != diag.shape:
            raise ValueError(f"out_diagonal must have shape {diag.shape}, got {out_diagonal.shape}")
        out_diagonal[...] = diag
    if m.shape[0]:
        with parallel_section(num_threads):
            _weights_kernel(m, diag)
    return m


def ease_solve(
    gramian: np.ndarray,
    l2: float,
    *,
    num_threads: int = 0,
    out_diagonal: np.ndarray | None = None,
) -> np.ndarray:
    """Return the EASE weights of a Gramian, computed in place: the Gramian is overwritten.

    ``B = I - P diag(1 / diag(P))`` with ``P = (gramian + l2 I)⁻¹``, by
    LAPACK's float32 Cholesky factorisation and inversion (``spotrf``,
    ``spotri``: about ``n³`` flops, no second ``n × n`` array), then
    :func:`ease_weights_from_inverse`.

    Parameters
    ----------
    gramian : numpy.ndarray of float32, shape (n, n), C-contiguous, writeable
        A symmetric positive semi-definite matrix (``XᵀX``).  Only its lower
        triangle is read.
    l2 : float
        The ridge ``λ > 0`` added to the diagonal.
    num_threads : int
        BLAS and Numba threads (0 = leave BLAS as configured, all cores for Numba).
    out_diagonal : numpy.ndarray of shape (n,), optional
        Receives ``diag(P)`` (see :func:`ease_weights_from_inverse`).

    Returns
    -------
    numpy.ndarray of float32, shape (n, n)
        ``gramian`` itself, now holding ``B`` (zero diagonal).

    Raises
    ------
    ValueError
        A bad array, ``l2`` not a finite number > 0, or a matrix that is not
        positive definite even with ``l2`` on its diagonal.

    Examples
    --------
    >>> g = np.array([[2.0, 1.0], [1.0, 2.0]], dtype=np.float32)
    >>> d = np.empty(2, dtype=np.float32)
    >>> ease_solve(g, 1.0, out_diagonal=d).astype(float).round(4).tolist()
    [[0.0, 0.3333], [0.3333, 0.0]]
    >>> d.round(4).tolist()  # diag((G + I)^-1)
    [0.375, 0.375]
    """
    m = gramian
    if (
        not isinstance(m, np.ndarray)
        or m.dtype != np.float32
        or m.ndim != 2
        or m.shape[0] != m.shape[1]
        or not m.flags.c_contiguous
        or not m.flags.writeable
    ):
        raise ValueError("gramian must be a writeable, C-contiguous, square float32 array")
    try:
        good = (
            not isinstance(l2, bool)
            and isinstance(l2, (int, float, np.integer, np.floating))
            and math.isfinite(float(l2))
            and l2 > 0
        )
    except OverflowError:  # an int beyond the float range
        good = False
    if not good:
        raise ValueError(f"l2 must be a finite number > 0, got {l2!r}")
    n = m.shape[0]
    if n == 0:
        return m
    m[np.diag_indices(n)] += np.float32(l2)
    # m's lower triangle in C order is the upper triangle of m.T in Fortran order: LAPACK works
    # on m.T (no copy) with lower=0 and leaves P in that triangle, i.e. in m's lower triangle
    ft = m.T
    with blas_threads(num_threads):
        from scipy.linalg import lapack  # on first use: keeps `import recsys` fast

        factor, info = lapack.spotrf(ft, lower=0, clean=0, overwrite_a=1)
        if info == 0:
            factor, info = lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise ValueError(
            f"the Gramian plus l2={l2:g} on its diagonal is not positive definite in float32 "
            f"(LAPACK info {info}): raise l2"
        )
    if factor.ctypes.data != ft.ctypes.data:  # pragma: no cover - LAPACK copied after all
        ft[...] = factor
    return ease_weights_from_inverse(m, num_threads=num_threads, out_diagonal=out_diagonal)
