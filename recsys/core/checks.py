"""Argument checks shared by the top-n kernels, their output arrays and error codes.

The kernels trust their inputs (no bounds checks in compiled code), so every
public function of :mod:`recsys.core` validates its arrays here first and
converts them to the dtypes the kernels are compiled for: ids ``int32``, row
pointers ``int64``, scores ``float32``.  Errors name the offending argument.

A kernel reports what only it can see (a similarity row pointer out of range)
through the per-query ``err`` array of :class:`Outputs`;
:func:`raise_kernel_errors` turns it into an exception.
"""

from __future__ import annotations

import numbers
import weakref
from typing import NamedTuple

import numpy as np

__all__ = [
    "ERR_SIM",
    "NO_POSITIONS",
    "Outputs",
    "check_count",
    "check_csr",
    "check_ids",
    "check_n",
    "check_similarity",
    "float_array",
    "int_array",
    "min_max_once",
    "outputs",
    "raise_kernel_errors",
]

#: Error code of a query whose similarity rows are not a valid CSR matrix.
ERR_SIM = 1

# Up to this many values, checks run in Python: NumPy calls cost microseconds each, and a
# single-basket serving call checks a handful of ids.
_SMALL = 32

#: Positions nobody asked for: an empty array of the type kernels expect.
NO_POSITIONS = np.empty((0, 0), dtype=np.int64)


def check_n(n: object) -> int:
    """Check the list length ``n``: a positive int.

    Examples
    --------
    >>> check_n(5)
    5
    """
    if type(n) is int and n > 0:  # the common case, without the slower ABC check
        return n
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    return int(n)


def check_count(value: object, name: str) -> int:
    """Check a count (``n_queries``, ``n_items``): a non-negative int.

    Examples
    --------
    >>> check_count(0, "n_queries")
    0
    """
    if type(value) is int and value >= 0:  # the common case, without the slower ABC check
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def writable(arr: np.ndarray) -> np.ndarray:
    """``arr``, copied if read-only: Numba compiles every kernel again for read-only arrays.

    Examples
    --------
    >>> a = np.zeros(2)
    >>> a.setflags(write=False)
    >>> writable(a).flags.writeable
    True
    """
    return arr if arr.flags.writeable else arr.copy()


def int_array(x: object, dtype: type, name: str, ndim: int = 1) -> np.ndarray:
    """``x`` as a C-contiguous, writeable integer array of ``dtype`` with ``ndim`` dimensions.

    Empty float or bool arrays (``np.array([])``) count as integer.

    Examples
    --------
    >>> int_array([3, 1], np.int32, "ids").dtype
    dtype('int32')
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind in "fb"):
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return writable(np.ascontiguousarray(arr, dtype=dtype))


def float_array(x: object, shape: tuple[int, ...], name: str, like: str) -> np.ndarray:
    """``x`` as a C-contiguous float32 array of ``shape`` (the shape of argument ``like``).

    Examples
    --------
    >>> float_array([1, 2], (2,), "weights", "indices").dtype
    dtype('float32')
    """
    arr = writable(np.ascontiguousarray(x, dtype=np.float32))
    if arr.shape != shape:
        raise ValueError(f"{name} must have the shape of {like} {shape}, got {arr.shape}")
    return arr


def check_ids(ids: np.ndarray, n_items: int, name: str, low: int = 0) -> None:
    """Check that ``ids`` lie in ``[low, n_items)``.

    Examples
    --------
    >>> check_ids(np.array([0, 2]), 3, "ids")
    """
    if not ids.size:
        return
    if ids.size <= _SMALL:  # a basket: Python's min / max beat two NumPy reductions
        values = ids.tolist()
        lo, hi = min(values), max(values)
    else:
        lo, hi = int(ids.min()), int(ids.max())
    if lo < low or hi >= n_items:
        raise ValueError(
            f"{name} must hold item ids in [{low}, {n_items}), got values in [{lo}, {hi}]"
        )


def check_csr(
    indptr: object, indices: object, n_rows: int, n_cols: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Check a CSR pattern of ``n_rows`` rows over ``n_cols`` columns.

    Returns
    -------
    indptr : ndarray of int64, shape (n_rows + 1,)
    indices : ndarray of int32

    Examples
    --------
    >>> ip, ix = check_csr([0, 1, 1], [2], 2, 3, "exclude")
    >>> ip.dtype, ix.dtype
    (dtype('int64'), dtype('int32'))
    """
    ip = int_array(indptr, np.int64, f"{name}_indptr")
    ix = int_array(indices, np.int32, f"{name}_indices")
    if ip.shape[0] != n_rows + 1:
        raise ValueError(
            f"{name}_indptr must have length n_queries + 1 = {n_rows + 1}, got {ip.shape[0]}"
        )
    if ip[0] != 0 or ip[-1] != ix.shape[0]:
        raise ValueError(
            f"{name}_indptr must start at 0 and end at len({name}_indices) = {ix.shape[0]}, "
            f"got {int(ip[0])} and {int(ip[-1])}"
        )
    if n_rows <= _SMALL:
        pointers = ip.tolist()
        decreasing = any(b < a for a, b in zip(pointers[:-1], pointers[1:], strict=True))
    else:
        decreasing = bool(np.any(ip[1:] < ip[:-1]))
    if decreasing:
        raise ValueError(f"{name}_indptr must be non-decreasing")
    check_ids(ix, n_cols, f"{name}_indices")
    return ip, ix


def check_similarity(
    sim_indptr: object, sim_indices: object, sim_data: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the outline of a similarity CSR ``(n_items, n_items)``; ``n_items = len(indptr) - 1``.

    Only the ends and the shapes are checked here (the arrays are a model's,
    with millions of entries): the kernels check every row they read and
    report a bad one with :data:`ERR_SIM`.

    Returns
    -------
    indptr : ndarray of int64
    indices : ndarray of int32
    data : ndarray of float32

    Examples
    --------
    >>> ip, ix, data = check_similarity([0, 1, 1], [1], [0.5])
    >>> ip.shape[0] - 1
    2
    """
    ip = int_array(sim_indptr, np.int64, "sim_indptr")
    ix = int_array(sim_indices, np.int32, "sim_indices")
    data = float_array(sim_data, ix.shape, "sim_data", "sim_indices")
    if ip.shape[0] < 1:
        raise ValueError("sim_indptr must have length n_items + 1 >= 1")
    if ip[0] != 0 or ip[-1] != ix.shape[0]:
        raise ValueError("sim_indptr must start at 0 and end at len(sim_indices)")
    return ip, ix, data


_MIN_MAX: dict[int, tuple[weakref.ref, tuple[int, ...], tuple[int, int]]] = {}


def min_max_once(original: object, arr: np.ndarray) -> tuple[int, int]:
    """Return ``(min, max)`` of ``arr``, remembered per input array object ``original``.

    Fill orders and group ids are the same large arrays call after call (a
    model's popularity order); scanning 100k ids each time would cost more
    than scoring a basket.  Arrays are assumed not to change in place.

    Examples
    --------
    >>> min_max_once(None, np.array([3, -1, 7]))
    (-1, 7)
    """
    if arr.size == 0:
        return 0, -1
    if arr.size < 4096 or not isinstance(original, np.ndarray):
        return int(arr.min()), int(arr.max())
    hit = _MIN_MAX.get(id(original))
    if hit is not None and hit[1] == original.shape and hit[0]() is original:
        return hit[2]
    result = (int(arr.min()), int(arr.max()))
    if len(_MIN_MAX) > 64:
        _MIN_MAX.clear()
    _MIN_MAX[id(original)] = (weakref.ref(original), original.shape, result)
    return result


class Outputs(NamedTuple):
    """Output arrays of a top-n kernel, passed to it as one argument.

    Attributes
    ----------
    ids : ndarray of int32, shape (n_queries, n)
        ``-1`` in slots that could not be filled.
    scores : ndarray of float32, shape (n_queries, n)
        ``-inf`` in slots that could not be filled.
    positions : ndarray of int64, shape (n_queries, n) or (0, 0)
        Where each result came from (kernel specific); empty when the caller
        does not want them (the kernel then uses per-worker scratch).
    err : ndarray of int8, shape (n_queries,)
        Error code per query, 0 = fine.
    """

    ids: np.ndarray
    scores: np.ndarray
    positions: np.ndarray
    err: np.ndarray


def outputs(n_queries: int, n: int, *, positions: bool = False) -> Outputs:
    """Allocate the outputs of ``n_queries`` top-``n`` lists.

    Examples
    --------
    >>> out = outputs(3, 2, positions=True)
    >>> out.ids.shape, out.positions.shape, out.err.tolist()
    ((3, 2), (3, 2), [0, 0, 0])
    """
    return Outputs(
        np.empty((n_queries, n), dtype=np.int32),
        np.empty((n_queries, n), dtype=np.float32),
        np.empty((n_queries, n), dtype=np.int64) if positions else NO_POSITIONS,
        np.zeros(n_queries, dtype=np.int8),
    )


def raise_kernel_errors(err: np.ndarray) -> None:
    """Raise the error a kernel reported in ``err``, if any.

    Examples
    --------
    >>> raise_kernel_errors(np.zeros(2, np.int8))
    """
    if not err.any():
        return
    raise ValueError(
        "sim_indptr / sim_indices are not a valid CSR matrix over n_items items "
        "(row pointer out of range or column id outside [0, n_items))"
    )
