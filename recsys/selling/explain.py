"""Why an item is offered: evidence (co-purchase counts, lift) and readable reasons.

Cross-sell rows carry the basket item that contributed most to the score
(``because``), how often the two were bought together (``together_count``),
their lift (how much more often than if bought independently:
``count * N / (support_a * support_b)``) and a sentence for the shop front.
Upgrade rows carry the features gained and the price step.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.types import ExternalId

__all__ = [
    "FROM_BASKET",
    "FROM_HISTORY",
    "FROM_POPULARITY",
    "FROM_REPEAT",
    "cooccurrence_evidence",
    "cross_sell_reasons",
    "neighbour_evidence",
    "upgrade_reasons",
]

#: Where a cross-sell came from: a basket item, customers like this one, popularity, or the
#: customer's own past orders (a repeat purchase).
FROM_BASKET, FROM_HISTORY, FROM_POPULARITY, FROM_REPEAT = 0, 1, 2, 3

_item_user_cache: dict[int, tuple[weakref.ref, Any]] = {}
#: At most this many explaining rows are searched directly in :func:`neighbour_evidence`.
_FEW_SOURCES = 64


def neighbour_evidence(
    table: Any, sim_positions: np.ndarray, ids: np.ndarray, sources: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``because`` rows, co-purchase counts and lift from a neighbour table.

    Parameters
    ----------
    table : NeighbourTable
        The item-item model's ``neighbours_``
        (:class:`~recsys.core.cooccurrence.NeighbourTable`).
    sim_positions : numpy.ndarray of int
        Position in ``table.indices`` of each result's explaining pair (``-1``: none).
    ids : numpy.ndarray of int
        The result items (rows), same shape.
    sources : numpy.ndarray of int, optional
        The rows whose neighbours may explain a result (a basket's items):
        each position is then looked up among these few rows instead of the
        whole table (a catalog-sized search).  Positions outside them are
        looked up in the table as without.

    Returns
    -------
    because : numpy.ndarray of int32
        The explaining item's row, ``-1`` where none.
    together_count : numpy.ndarray of int64
        Transactions (baskets, or users) holding both items; 0 where none.
    lift : numpy.ndarray of float64
        NaN where none.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> table = SimpleNamespace(indptr=np.array([0, 1, 2]), indices=np.array([1, 0]),
    ...                         counts=np.array([3, 3]), item_support=np.array([4, 5]), n_rows=10)
    >>> [a.tolist() for a in neighbour_evidence(table, np.array([1, -1]), np.array([0, 1]))]
    [[1, -1], [3, 0], [1.5, nan]]
    >>> neighbour_evidence(table, np.array([1, -1]), np.array([0, 1]), sources=np.array([1]))[0]
    array([ 1, -1], dtype=int32)
    """
    pos = np.asarray(sim_positions, dtype=np.int64)
    has = pos >= 0
    safe = np.where(has, pos, 0)
    row = None
    if sources is not None and 0 < sources.size <= _FEW_SOURCES:
        rows = np.unique(np.asarray(sources, dtype=np.int64))  # rows in order: starts in order
        starts, stops = table.indptr[rows], table.indptr[rows + 1]
        k = np.maximum(np.searchsorted(starts, safe, side="right") - 1, 0)
        inside = (safe >= starts[k]) & (safe < stops[k])
        if inside[has].all():  # else a position outside them: the whole table is searched
            row = rows[k]
    if row is None:
        row = np.searchsorted(table.indptr, safe, side="right") - 1
    because = np.where(has, row, -1).astype(np.int32)
    counts = np.where(has, table.counts[safe] if len(table.counts) else 0, 0).astype(np.int64)
    support = table.item_support
    a = support[np.where(has, because, 0)].astype(np.float64)
    b = support[np.where(ids >= 0, ids, 0)].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(has, counts * float(table.n_rows) / (a * b), np.nan)
    return because, counts, lift


def cooccurrence_evidence(
    user_items: sp.csr_matrix, because: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Count the customers who have both items, and the lift, without a co-occurrence table.

    Parameters
    ----------
    user_items : scipy.sparse.csr_matrix
        users × items (a model's ``user_items_``).
    because, ids : numpy.ndarray of int
        Item row pairs (``because`` ``-1`` = no pair).

    Returns
    -------
    together_count : numpy.ndarray of int64
    lift : numpy.ndarray of float64

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float32))
    >>> [a.tolist() for a in cooccurrence_evidence(X, np.array([0, -1]), np.array([1, 2]))]
    [[2, 0], [1.5, nan]]
    """
    because = np.asarray(because, dtype=np.int64).ravel()
    ids = np.asarray(ids, dtype=np.int64).ravel()
    has = (because >= 0) & (ids >= 0)
    counts = np.zeros(because.size, dtype=np.int64)
    lift = np.full(because.size, np.nan)
    if not has.any():
        return counts, lift
    cached = _item_user_cache.get(id(user_items))
    if cached is not None and cached[0]() is user_items:
        item_users, support = cached[1]
    else:
        item_users = sp.csr_matrix(user_items.T, dtype=np.float32)
        item_users.data[:] = 1.0
        support = np.diff(item_users.indptr).astype(np.float64)
        if len(_item_user_cache) > 16:
            _item_user_cache.clear()
        _item_user_cache[id(user_items)] = (weakref.ref(user_items), (item_users, support))
    a, b = because[has], ids[has]
    both = np.asarray(item_users[a].multiply(item_users[b]).sum(axis=1)).ravel()
    counts[has] = both.astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift[has] = both * float(user_items.shape[0]) / (support[a] * support[b])
    return counts, lift


def cross_sell_reasons(
    kind: np.ndarray,
    because: Sequence[ExternalId | None] | np.ndarray,
    together_count: np.ndarray,
    lift: np.ndarray,
    *,
    unit: str = "orders",
    segment: Any = None,
    repeat_count: np.ndarray | None = None,
    order_count: np.ndarray | None = None,
) -> list[str]:
    """Return one sentence per cross-sell row.

    Parameters
    ----------
    kind : numpy.ndarray of int
        :data:`FROM_BASKET`, :data:`FROM_HISTORY`, :data:`FROM_POPULARITY` or
        :data:`FROM_REPEAT`.
    because : sequence
        The explaining basket item (external ID) of every row, ``None`` where none.
    together_count, lift : numpy.ndarray
    unit : {"orders", "customers"}
        What ``together_count`` counts.
    segment : optional
        Named in popularity reasons (a scalar, or a sequence with one per row).
    repeat_count, order_count : numpy.ndarray, optional
        For :data:`FROM_REPEAT` rows: in how many of the customer's orders
        the item was, out of how many.

    Examples
    --------
    >>> reasons = cross_sell_reasons(
    ...     np.array([0, 1, 2, 3]), ["coat", None, None, None], np.array([312, 0, 0, 0]),
    ...     np.array([4.06, np.nan, np.nan, np.nan]), segment="Germany",
    ...     repeat_count=np.array([0, 0, 0, 3]), order_count=np.array([0, 0, 0, 5]))
    >>> reasons  # doctest: +NORMALIZE_WHITESPACE
    ['bought together with coat in 312 orders, lift 4.1', 'customers like you bought it',
     'popular in Germany', 'you bought it in 3 of your 5 orders']
    """
    kind = np.asarray(kind)
    if kind.size <= _SMALL:  # one shop-front list: a plain loop beats the masks below
        return _few_cross_sell_reasons(
            kind, because, together_count, lift, unit, segment, repeat_count, order_count
        )
    out = np.empty(kind.size, dtype=object)
    basket = np.flatnonzero(kind == FROM_BASKET)
    if basket.size:
        items = np.asarray(because, dtype=object)[basket].tolist()
        counts = np.asarray(together_count)[basket].tolist()
        lifts = np.asarray(lift, dtype=np.float64)[basket].tolist()
        if unit == "customers":
            text = [
                f"bought by {c} customer{'s' if c != 1 else ''} who also bought {b}, lift {f:.1f}"
                if c > 0
                else f"customers who like {b} like it too"
                for b, c, f in zip(items, counts, lifts, strict=True)
            ]
        else:
            single = unit[:-1] if unit.endswith("s") else unit
            text = [
                f"bought together with {b} in {c} {unit if c != 1 else single}, lift {f:.1f}"
                if c > 0
                else f"customers who like {b} like it too"
                for b, c, f in zip(items, counts, lifts, strict=True)
            ]
        out[basket] = text
    out[kind == FROM_HISTORY] = "customers like you bought it"
    repeat = np.flatnonzero(kind == FROM_REPEAT)
    if repeat.size:
        if repeat_count is None or order_count is None:
            raise ValueError("FROM_REPEAT rows need repeat_count and order_count")
        h, n = np.asarray(repeat_count)[repeat].tolist(), np.asarray(order_count)[repeat].tolist()
        out[repeat] = [
            f"you bought it in {a:g} of your {b:g} order{'s' if b != 1 else ''}"
            for a, b in zip(h, n, strict=True)
        ]
    popular = np.flatnonzero((kind != FROM_BASKET) & (kind != FROM_HISTORY) & (kind != FROM_REPEAT))
    if popular.size:
        if isinstance(segment, (list, np.ndarray)):
            segs = np.asarray(segment, dtype=object)[popular].tolist()
            out[popular] = [
                f"popular in {g}" if g is not None else "popular with customers" for g in segs
            ]
        else:
            out[popular] = (
                f"popular in {segment}" if segment is not None else "popular with customers"
            )
    return out.tolist()


#: Up to this many rows, reasons are written in a plain loop (a single call's list).
_SMALL = 32


def _basket_reason(b: Any, c: Any, f: float, unit: str) -> str:
    if c <= 0:
        return f"customers who like {b} like it too"
    if unit == "customers":
        return f"bought by {c} customer{'s' if c != 1 else ''} who also bought {b}, lift {f:.1f}"
    single = unit[:-1] if unit.endswith("s") else unit
    return f"bought together with {b} in {c} {unit if c != 1 else single}, lift {f:.1f}"


def _few_cross_sell_reasons(
    kind: np.ndarray,
    because: Sequence[ExternalId | None] | np.ndarray,
    together_count: np.ndarray,
    lift: np.ndarray,
    unit: str,
    segment: Any,
    repeat_count: np.ndarray | None,
    order_count: np.ndarray | None,
) -> list[str]:
    """:func:`cross_sell_reasons` for a few rows, row by row (the same sentences)."""
    kinds = kind.tolist()
    if FROM_REPEAT in kinds and (repeat_count is None or order_count is None):
        raise ValueError("FROM_REPEAT rows need repeat_count and order_count")
    per_row = isinstance(segment, (list, np.ndarray))
    segs = np.asarray(segment, dtype=object).tolist() if per_row else None
    items = np.asarray(because, dtype=object).tolist() if FROM_BASKET in kinds else []
    counts = np.asarray(together_count).tolist()
    lifts = np.asarray(lift, dtype=np.float64).tolist()
    out: list[str] = []
    for r, k in enumerate(kinds):
        if k == FROM_BASKET:
            out.append(_basket_reason(items[r], counts[r], lifts[r], unit))
        elif k == FROM_HISTORY:
            out.append("customers like you bought it")
        elif k == FROM_REPEAT:
            assert repeat_count is not None and order_count is not None
            a, b = np.asarray(repeat_count)[r].item(), np.asarray(order_count)[r].item()
            out.append(f"you bought it in {a:g} of your {b:g} order{'s' if b != 1 else ''}")
        else:
            g = segs[r] if segs is not None else segment
            out.append(f"popular in {g}" if g is not None else "popular with customers")
    return out


def upgrade_reasons(
    from_items: Sequence[ExternalId] | np.ndarray,
    from_tiers: np.ndarray,
    to_tiers: np.ndarray,
    price_from: np.ndarray,
    price_to: np.ndarray,
    added_features: Sequence[Collection[Any]],
) -> list[str]:
    """Return one sentence per upgrade row.

    Examples
    --------
    >>> reasons = upgrade_reasons(["phone-64", "tea"], np.array([1.0, 1.0]), np.array([2.0, 2.0]),
    ...                           np.array([500.0, 3.0]), np.array([600.0, 2.4]), [["128 GB"], []])
    >>> reasons  # doctest: +NORMALIZE_WHITESPACE
    ['upgrade from phone-64 (tier 1 to 2): adds 128 GB for +100.00 (+20%)',
     'upgrade from tea (tier 1 to 2): saves 0.60 (-20%)']
    """
    out = []
    # Python floats: a NumPy scalar costs a microsecond per operation
    p_from = np.asarray(price_from, dtype=np.float64).tolist()
    p_to = np.asarray(price_to, dtype=np.float64).tolist()
    t_from = np.asarray(from_tiers, dtype=np.float64).tolist()
    t_to = np.asarray(to_tiers, dtype=np.float64).tolist()
    for r in range(len(from_items)):
        text = f"upgrade from {from_items[r]} (tier {t_from[r]:g} to {t_to[r]:g})"
        feats = sorted(map(str, added_features[r]))
        if feats:
            text += ": adds " + ", ".join(feats[:5]) + (" and more" if len(feats) > 5 else "")
        a, b = p_from[r], p_to[r]
        if math.isfinite(a) and math.isfinite(b):
            diff = b - a
            joiner = " " if feats else ": "
            pct = f" ({diff / a:+.0%})" if a > 0 else ""
            if diff > 0:
                text += f"{joiner}for {diff:+.2f}{pct}"
            elif diff < 0:
                text += f"{joiner}{'and ' if feats else ''}saves {-diff:.2f}{pct}"
            else:
                text += f"{joiner}at the same price"
        out.append(text)
    return out
