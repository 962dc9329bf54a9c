"""What a query's top-n must respect, as one :class:`Constraints` tuple of plain arrays.

Every top-n kernel of :mod:`recsys.core` takes its constraints as this one
named tuple (Numba compiles one specialisation for it: the builders below
always produce the same dtypes, layouts and scalar types).  The rules:

``exclude_indptr`` / ``exclude_indices``
    CSR of item ids each query must not get (owned, declined, in the
    basket).  Builder: :func:`with_exclusions`.
``allowed`` / ``allowed_of_query`` / ``has_allowed``
    ``(n_masks, n_items)`` bool masks and the mask row of every query (one
    row shared by all queries in the common case; one per market with
    market-specific assortments).  Builder: :func:`with_allowed`.
``group_of`` / ``max_per_group`` / ``has_groups`` / ``n_groups``
    Group id of every item (``-1`` = in no group, never capped) and the cap
    per group.  Builder: :func:`with_group_caps`.
``fill_orders`` / ``fill_scores`` / ``fill_of_query``
    ``(n_fills, length)`` item ids (``-1`` = padding, skipped) that fill
    short lists, the scores reported for filled items, and the fill row of
    every query (``-1`` = no fill for that query).  Builder: :func:`with_fill`.

Start from :func:`unconstrained` and apply the builders you need, or use
:meth:`Constraints.make`, which applies them all.  Each builder validates its
arrays and returns a new tuple.

Kernels mark a query's exclusions with :func:`mark_excluded` and read the
other fields once per query into local variables: a compiled helper taking
the whole tuple, called per item in a hot loop, costs several times the loop.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numba
import numpy as np

from recsys.core.checks import (
    check_count,
    check_csr,
    check_ids,
    int_array,
    min_max_once,
    writable,
)

__all__ = [
    "Constraints",
    "as_constraints",
    "for_one_query",
    "mark_excluded",
    "unconstrained",
    "with_allowed",
    "with_exclusions",
    "with_fill",
    "with_group_caps",
]

_I32 = np.int32
_I64 = np.int64

# what "no rule" holds, shared by every unconstrained tuple (kernels never write constraints)
_NO_IDS = np.empty(0, dtype=_I32)
_NO_MASK = np.ones((1, 1), dtype=np.bool_)
_NO_GROUPS = np.full(1, -1, dtype=_I32)
_NO_FILL = np.full((1, 0), -1, dtype=_I32)
_NO_FILL_SCORES = np.zeros((1, 0), dtype=np.float32)
_ROW_ZERO = np.zeros(1, dtype=_I64)  # allowed_of_query of a single query
_NO_FILL_ROW = np.full(1, -1, dtype=_I64)  # fill_of_query of a single query


class Constraints(NamedTuple):
    """What every query must respect, as plain arrays (see the module docstring).

    Build it with :func:`unconstrained` and the ``with_*`` builders, or with
    :meth:`make`; kernels take it as one argument.

    Attributes
    ----------
    exclude_indptr : ndarray of int64, shape (n_queries + 1,)
    exclude_indices : ndarray of int32
    allowed : ndarray of bool, shape (n_masks, n_items)
        ``(1, 1)`` and ignored when :attr:`has_allowed` is false.
    allowed_of_query : ndarray of int64, shape (n_queries,)
    has_allowed : bool
    group_of : ndarray of int32, shape (n_items,)
        ``-1`` = no group.  ``(1,)`` and ignored when :attr:`has_groups` is false.
    max_per_group : int
    has_groups : bool
    n_groups : int
    fill_orders : ndarray of int32, shape (n_fills, length)
    fill_scores : ndarray of float32, shape (n_fills, length)
    fill_of_query : ndarray of int64, shape (n_queries,)
        ``-1`` = no fill.
    n_items : int
        Number of items the constraints were made for.

    Examples
    --------
    >>> c = Constraints.make(2, 4, exclude_indptr=[0, 1, 1], exclude_indices=[3],
    ...                      group_of=[0, 0, 1, -1], max_per_group=1, fill_order=[0, 1, 2, 3])
    >>> c.has_groups, c.n_groups, c.fill_of_query.tolist()
    (True, 2, [0, 0])
    """

    exclude_indptr: np.ndarray
    exclude_indices: np.ndarray
    allowed: np.ndarray
    allowed_of_query: np.ndarray
    has_allowed: bool
    group_of: np.ndarray
    max_per_group: int
    has_groups: bool
    n_groups: int
    fill_orders: np.ndarray
    fill_scores: np.ndarray
    fill_of_query: np.ndarray
    n_items: int

    @classmethod
    def make(
        cls,
        n_queries: int,
        n_items: int,
        *,
        exclude_indptr: object = None,
        exclude_indices: object = None,
        item_allowed: object = None,
        allowed_of_query: object = None,
        group_of: object = None,
        max_per_group: int | None = None,
        fill_order: object = None,
        fill_scores: object = None,
        fill_of_query: object = None,
    ) -> Constraints:
        """Validate constraint arrays for ``n_queries`` queries over ``n_items`` items.

        Applies every builder in turn; arguments left at ``None`` add no rule.

        Parameters
        ----------
        n_queries, n_items : int
        exclude_indptr, exclude_indices : array_like, optional
            See :func:`with_exclusions`.
        item_allowed, allowed_of_query : array_like, optional
            See :func:`with_allowed`.
        group_of, max_per_group : optional
            See :func:`with_group_caps`.
        fill_order, fill_scores, fill_of_query : array_like, optional
            See :func:`with_fill`.

        Returns
        -------
        Constraints

        Raises
        ------
        ValueError, TypeError
            Naming the bad argument.

        Examples
        --------
        >>> c = Constraints.make(1, 3, item_allowed=[True, False, True])
        >>> c.has_allowed, c.allowed.shape, c.n_queries
        (True, (1, 3), 1)
        """
        c = unconstrained(n_queries, n_items)
        c = with_exclusions(c, exclude_indptr, exclude_indices)
        c = with_allowed(c, item_allowed, allowed_of_query)
        c = with_group_caps(c, group_of, max_per_group)
        return with_fill(c, fill_order, fill_scores, fill_of_query)

    @property
    def n_queries(self) -> int:
        """Number of queries the constraints were made for."""
        return int(self.exclude_indptr.shape[0] - 1)


# ---------------------------------------------------------------------------
# builders: one per rule
# ---------------------------------------------------------------------------


def unconstrained(n_queries: int, n_items: int) -> Constraints:
    """No rule at all: every item allowed, nothing excluded, no caps, no fill.

    Examples
    --------
    >>> c = unconstrained(2, 5)
    >>> c.n_queries, c.n_items, c.has_allowed, c.has_groups, c.fill_of_query.tolist()
    (2, 5, False, False, [-1, -1])
    """
    n_queries = check_count(n_queries, "n_queries")
    n_items = check_count(n_items, "n_items")
    no_fill = np.empty(n_queries, dtype=_I64)
    no_fill.fill(-1)
    # positional, and the arrays no rule depends on shared: this runs on every serving call
    return Constraints(
        np.zeros(n_queries + 1, dtype=_I64),  # exclude_indptr
        _NO_IDS,  # exclude_indices
        _NO_MASK,  # allowed
        np.zeros(n_queries, dtype=_I64),  # allowed_of_query
        False,  # has_allowed
        _NO_GROUPS,  # group_of
        0,  # max_per_group
        False,  # has_groups
        0,  # n_groups
        _NO_FILL,  # fill_orders
        _NO_FILL_SCORES,  # fill_scores
        no_fill,  # fill_of_query
        n_items,
    )


def for_one_query(
    n_items: int, exclude_items: object = None, item_allowed: object = None
) -> Constraints:
    """Exclusions and a global mask for a single query, built in one go (the serving path).

    The same tuple as ``with_allowed(with_exclusions(unconstrained(1, n_items), ...), ...)``
    (``item_allowed`` may be of any dtype castable to bool), at a fraction of
    the cost: a single-user top-n takes about fifteen microseconds.

    Examples
    --------
    >>> c = for_one_query(4, exclude_items=[3], item_allowed=[True, True, False, True])
    >>> c.exclude_indptr.tolist(), c.exclude_indices.tolist(), c.allowed.shape
    ([0, 1], [3], (1, 4))
    """
    n_items = check_count(n_items, "n_items")
    if exclude_items is None:
        ex_ip, ex = np.zeros(2, dtype=_I64), _NO_IDS
    else:
        ex = int_array(exclude_items, _I32, "exclude_items")
        check_ids(ex, n_items, "exclude_items")
        ex_ip = np.array([0, ex.shape[0]], dtype=_I64)
    if item_allowed is None:
        allowed, has_allowed = _NO_MASK, False
    else:
        mask = writable(np.ascontiguousarray(item_allowed, dtype=np.bool_))
        if mask.shape != (n_items,):
            raise ValueError(f"item_allowed must have shape ({n_items},), got {mask.shape}")
        allowed, has_allowed = mask[None, :], True
    return Constraints(
        ex_ip,
        ex,
        allowed,
        _ROW_ZERO,
        has_allowed,
        _NO_GROUPS,
        0,
        False,
        0,
        _NO_FILL,
        _NO_FILL_SCORES,
        _NO_FILL_ROW,
        n_items,
    )


def with_exclusions(c: Constraints, exclude_indptr: object, exclude_indices: object) -> Constraints:
    """Exclude items per query: a CSR of item ids (both arrays, or neither for no rule).

    Examples
    --------
    >>> c = with_exclusions(unconstrained(2, 4), [0, 2, 2], [3, 1])
    >>> c.exclude_indptr.tolist(), c.exclude_indices.tolist()
    ([0, 2, 2], [3, 1])
    """
    if exclude_indptr is None and exclude_indices is None:
        return c
    if exclude_indptr is None or exclude_indices is None:
        raise ValueError("exclude_indptr and exclude_indices must be given together")
    ip, ix = check_csr(exclude_indptr, exclude_indices, c.n_queries, c.n_items, "exclude")
    return c._replace(exclude_indptr=ip, exclude_indices=ix)


def with_allowed(
    c: Constraints, item_allowed: object, allowed_of_query: object = None
) -> Constraints:
    """Allow only some items: one bool mask for all queries, or a mask row per query.

    Parameters
    ----------
    c : Constraints
    item_allowed : array_like of bool or None
        ``(n_items,)`` global mask, or ``(n_masks, n_items)`` masks chosen per
        query by ``allowed_of_query``; ``None`` = no rule.
    allowed_of_query : array_like of int, shape (n_queries,), optional
        Mask row of every query (default row 0 for all).

    Returns
    -------
    Constraints

    Examples
    --------
    >>> c = with_allowed(unconstrained(2, 3), [[True, False, True], [False, True, True]], [1, 0])
    >>> c.allowed.shape, c.allowed_of_query.tolist()
    ((2, 3), [1, 0])
    """
    if item_allowed is None:
        if allowed_of_query is not None:
            raise ValueError("allowed_of_query needs item_allowed")
        return c
    allowed = np.asarray(item_allowed)
    if (
        allowed.ndim == 1
        and allowed.dtype == np.bool_
        and allowed.shape[0] == c.n_items
        and allowed.flags.c_contiguous
        and allowed.flags.writeable
        and allowed_of_query is None
    ):  # the common case (one global mask), without the checks below
        rows = np.zeros(c.n_queries, dtype=_I64)
        return c._replace(allowed=allowed[None, :], allowed_of_query=rows, has_allowed=True)
    if allowed.dtype != np.bool_:
        raise TypeError(f"item_allowed must be a bool array, got dtype {allowed.dtype}")
    if allowed.ndim == 1:
        allowed = allowed[None, :]
    if allowed.ndim != 2 or allowed.shape[1] != c.n_items or allowed.shape[0] < 1:
        raise ValueError(
            f"item_allowed must have shape ({c.n_items},) or (n_masks, {c.n_items}), "
            f"got {np.asarray(item_allowed).shape}"
        )
    allowed = writable(np.ascontiguousarray(allowed))
    rows = _query_rows(allowed_of_query, c.n_queries, allowed.shape[0], "allowed_of_query", 0)
    return c._replace(allowed=allowed, allowed_of_query=rows, has_allowed=True)


def with_group_caps(c: Constraints, group_of: object, max_per_group: object) -> Constraints:
    """Take at most ``max_per_group`` items of each group (both arguments, or neither).

    Parameters
    ----------
    c : Constraints
    group_of : array_like of int, shape (n_items,) or None
        Group of every item, ``-1`` for none (never capped).
    max_per_group : int or None
        Cap per group (>= 1).

    Returns
    -------
    Constraints

    Examples
    --------
    >>> c = with_group_caps(unconstrained(1, 3), [0, 0, -1], 1)
    >>> c.has_groups, c.n_groups, c.max_per_group
    (True, 1, 1)
    """
    if group_of is None:
        if max_per_group is not None:
            raise ValueError("max_per_group needs group_of (the group of every item)")
        return c
    groups = int_array(group_of, _I32, "group_of")
    if groups.shape != (c.n_items,):
        raise ValueError(f"group_of must have shape ({c.n_items},), got {groups.shape}")
    low, high = min_max_once(group_of, groups)
    if low < -1:
        raise ValueError("group_of must hold group ids >= 0, or -1 for no group")
    if max_per_group is None:
        raise ValueError("group_of needs max_per_group (the cap per group)")
    if (
        isinstance(max_per_group, bool)
        or not isinstance(max_per_group, numbers.Integral)
        or max_per_group < 1
    ):
        raise ValueError(f"max_per_group must be a positive integer, got {max_per_group!r}")
    return c._replace(
        group_of=groups,
        max_per_group=int(max_per_group),
        has_groups=True,
        n_groups=max(high, -1) + 1,
    )


def with_fill(
    c: Constraints,
    fill_order: object,
    fill_scores: object = None,
    fill_of_query: object = None,
    *,
    name: str = "fill_order",
) -> Constraints:
    """Fill short lists from fill orders (e.g. popularity), under the same rules.

    Parameters
    ----------
    c : Constraints
    fill_order : array_like of int or None
        ``(length,)`` or ``(n_fills, length)`` item ids, best first (``-1`` =
        padding, skipped); ``None`` = no fill.
    fill_scores : array_like of float, optional
        Scores reported for filled items, shaped as ``fill_order`` (default 0).
    fill_of_query : array_like of int, shape (n_queries,), optional
        Fill row of every query (default 0; ``-1`` = no fill).
    name : str
        What to call ``fill_order`` in error messages.

    Returns
    -------
    Constraints

    Examples
    --------
    >>> c = with_fill(unconstrained(2, 3), [2, 0, 1], [3.0, 2.0, 1.0], [0, -1])
    >>> c.fill_orders.tolist(), c.fill_of_query.tolist()
    ([[2, 0, 1]], [0, -1])
    """
    if fill_order is None:
        if fill_scores is not None or fill_of_query is not None:
            raise ValueError("fill_scores / fill_of_query need fill_order")
        return c
    fill = np.asarray(fill_order)
    if fill.ndim == 1:
        fill = fill[None, :]
    fill = int_array(fill, _I32, name, ndim=2)
    if fill.shape[0] < 1:
        raise ValueError(f"{name} must have at least one row")
    low, high = min_max_once(fill_order, fill)
    if fill.size and (low < -1 or high >= c.n_items):
        raise ValueError(
            f"{name} must hold item ids in [-1, {c.n_items}), got values in [{low}, {high}]"
        )
    if fill_scores is None:
        fill_sc = _zeros(fill.shape)
    else:
        fill_sc = np.asarray(fill_scores, dtype=np.float32)
        if fill_sc.ndim == 1:
            fill_sc = fill_sc[None, :]
        if fill_sc.shape != fill.shape:
            raise ValueError(
                f"fill_scores must have the shape of {name} {fill.shape}, got {fill_sc.shape}"
            )
        fill_sc = writable(np.ascontiguousarray(fill_sc))
    rows = _query_rows(fill_of_query, c.n_queries, fill.shape[0], "fill_of_query", -1)
    return c._replace(fill_orders=fill, fill_scores=fill_sc, fill_of_query=rows)


def as_constraints(constraints: Constraints | None, n_queries: int, n_items: int) -> Constraints:
    """Check ``constraints`` against a kernel's queries and items (``None``: no rule).

    ``None`` gives :func:`unconstrained`.

    Examples
    --------
    >>> as_constraints(None, 2, 3).n_queries
    2
    """
    if constraints is None:
        return unconstrained(n_queries, n_items)
    if not isinstance(constraints, Constraints):
        raise TypeError(
            "constraints must be a Constraints (see Constraints.make), "
            f"got {type(constraints).__name__}"
        )
    if constraints.n_queries != n_queries:
        raise ValueError(
            f"constraints were made for {constraints.n_queries} queries, got {n_queries}"
        )
    if constraints.n_items != n_items:
        raise ValueError(f"constraints were made for {constraints.n_items} items, got {n_items}")
    return constraints


# ---------------------------------------------------------------------------
# helpers of the builders
# ---------------------------------------------------------------------------

_ZEROS: dict[tuple[int, ...], np.ndarray] = {}


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    """Return a shared float32 zeros array (default fill scores; the kernels only read it).

    Kept writeable: a read-only array would make Numba compile every kernel twice.
    """
    zeros = _ZEROS.get(shape)
    if zeros is None:
        if len(_ZEROS) > 16:
            _ZEROS.clear()
        zeros = _ZEROS[shape] = np.zeros(shape, dtype=np.float32)
    return zeros


def _query_rows(x: object, n_queries: int, n_rows: int, name: str, low: int) -> np.ndarray:
    """Check a row per query in ``[low, n_rows)``; row 0 for all when ``x`` is None."""
    if x is None:
        return np.zeros(n_queries, dtype=_I64)
    arr = int_array(x, _I64, name)
    if arr.shape != (n_queries,):
        raise ValueError(f"{name} must have shape ({n_queries},), got {arr.shape}")
    if arr.size and (int(arr.min()) < low or int(arr.max()) >= n_rows):
        raise ValueError(
            f"{name} must be in [{low}, {n_rows}), got values in "
            f"[{int(arr.min())}, {int(arr.max())}]"
        )
    return arr


# ---------------------------------------------------------------------------
# compiled readers of the tuple
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def mark_excluded(mark, c, qi, value):  # pragma: no cover - compiled
    """Set ``mark[j] = value`` for every item ``j`` query ``qi`` excludes.

    Examples
    --------
    >>> mark = np.zeros(4, dtype=bool)
    >>> mark_excluded(mark, Constraints.make(1, 4, exclude_indptr=[0, 2],
    ...                                      exclude_indices=[3, 1]), 0, True)
    >>> mark.tolist()
    [False, True, False, True]
    """
    indices = c.exclude_indices
    for k in range(c.exclude_indptr[qi], c.exclude_indptr[qi + 1]):
        mark[indices[k]] = value
