"""Bundles ("complete the set"): items bought together with each other *and* with the anchor.

:func:`recommend_bundle` proposes sets of ``size`` items (the anchor
included) that customers bought together as a whole: frequent itemsets that
contain the anchor, counted in the model's training orders — not the top
pairwise neighbours glued together, which are often never bought with each
other.

Ranking
-------
A bundle ``S = {anchor} ∪ T`` must have been bought as a whole in at least
``min_support`` training orders; bundles rank by the probability that an
order with the anchor holds the rest of the set, shrunk towards what
independent purchases would give,

``score = (support + m · q(T)) / (n_anchor + m)``

with ``support`` the orders holding every item of ``S``, ``n_anchor`` those
holding the anchor, ``q(T) = Π_{j ∈ T} n_j / N`` and ``m`` the prior strength
— by default the one the :class:`~recsys.ItemItem` model calibrated for its
pairwise ``P(j | i)`` (``basket_prior_``), so rare anchors with a few lucky
sets do not outrank well-attested ones on data with weak co-purchase
signal, while on strong-signal data (small ``m``) the ranking is that of
the raw support (ties: the higher lift, then the items' order in the model).
The frame also gives

* ``score`` as above (with ``m = 0``: the share of the anchor's orders that
  hold the whole set, the confidence of the rule ``anchor → T``);
* ``lift`` — ``P(S) / Π P(i)``: how much more often the set is bought together
  than if its items were bought independently (``support · N^(k-1) / Π n_i``
  over ``N`` orders, ``n_i`` orders with item ``i``, ``k`` items);
* ``price`` — the set's total price where the catalog knows every item's
  price, and ``bundle_price`` — that total after an optional ``discount``.

Counting is exact: a set is never bought more often than any of its items
(Apriori), so only the items bought most often with the anchor can form the
best sets; the search widens that shortlist until no item outside it could
reach the ``n``-th best set found (up to :data:`MAX_SHORTLIST` items; past
that the result is the best among them — a limit reached only by anchors
with thousands of frequent co-purchases).

Where the orders come from: an :class:`~recsys.ItemItem` fitted on baskets
keeps them (``transactions_``); for other models the customers' histories
(``user_items_``) stand in, and the reasons say "customers" instead of
"orders".
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.core.itemsets import MAX_ITEMSET_SIZE, best_itemsets
from recsys.data.validation import require_columns, require_dataframe
from recsys.models.base import Recommender, check_n
from recsys.selling._common import (
    Columns,
    base_model,
    basket_rows,
    check_model,
    check_rules,
    check_unknown_items,
    item_lookup,
)
from recsys.selling.catalog import TierCatalogProtocol
from recsys.selling.rules import Rules
from recsys.selling.segments import SegmentedModel
from recsys.types import ExternalId, ExternalIds

__all__ = [
    "BUNDLE_COLUMNS",
    "MAX_SHORTLIST",
    "BundleResult",
    "OrderCounts",
    "order_counts",
    "recommend_bundle",
    "recommend_bundle_batch",
]

#: Columns of :func:`recommend_bundle` (``explain=True``).
BUNDLE_COLUMNS = [
    "bundle",
    "item",
    "anchor",
    "score",
    "support",
    "lift",
    "price",
    "bundle_price",
    "reason",
]

#: The most items bought with the anchor that the exact search considers (sets of 3; 96 for 4).
MAX_SHORTLIST = 512
_FIRST_SHORTLIST = 32
_MAX_CELLS = 1 << 22


@dataclass(frozen=True, eq=False)
class BundleResult(Columns):
    """Bundles as arrays (:func:`recommend_bundle` with ``return_frame=False``).

    One entry per item of each bundle, bundles best first and the anchor
    first within its bundle; the fields are the columns of the DataFrame the
    call returns otherwise (:meth:`to_pandas` builds it).

    Attributes
    ----------
    bundle : numpy.ndarray of int64
        The bundle's rank, 1 = best.
    item : numpy.ndarray
        The item (external ID).
    anchor : numpy.ndarray of bool
        True for the bundle's anchor (the item given, or one of the basket's).
    score : numpy.ndarray of float64
        The share of the anchor's orders that hold the whole set.
    support : numpy.ndarray of int64
        Orders holding the whole set.
    lift : numpy.ndarray of float64
        ``P(set) / Π P(item)``.
    price, bundle_price : numpy.ndarray of float64
        The set's total price (NaN unless the catalog prices every item) and
        that total after ``discount``.
    reason : numpy.ndarray of object, optional
        The explanation as a sentence; ``None`` (the field) without ``explain``.

    Examples
    --------
    >>> import recsys
    >>> orders = pd.DataFrame({"order": [1, 1, 1, 2, 2, 2, 3, 3],
    ...                        "item": ["pen", "ink", "pad", "pen", "ink", "pad", "pen", "ink"]})
    >>> model = recsys.ItemItem().fit(recsys.Interactions.from_pandas(
    ...     orders, user_col="order", item_col="item", basket_col="order"))
    >>> result = recommend_bundle(model, "pen", size=3, n=1, return_frame=False)
    >>> result.item.tolist(), result.support.tolist()
    (['pen', 'ink', 'pad'], [2, 2, 2])
    """

    bundle: np.ndarray
    item: np.ndarray
    anchor: np.ndarray
    score: np.ndarray
    support: np.ndarray
    lift: np.ndarray
    price: np.ndarray
    bundle_price: np.ndarray
    reason: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.bundle)

    def to_pandas(self) -> pd.DataFrame:
        """Return the bundles as the DataFrame :func:`recommend_bundle` returns by default.

        Examples
        --------
        >>> result = BundleResult(*(np.zeros(0) for _ in range(8)))
        >>> list(result.to_pandas().columns) == BUNDLE_COLUMNS[:-1]
        True
        """
        return pd.DataFrame(self.columns(), copy=False)


@dataclass(frozen=True, eq=False)
class _Orders:
    """The model's training orders, in the layouts the search needs (cached per model)."""

    indptr: np.ndarray  # orders x items, int64
    indices: np.ndarray  # int32
    by_item_indptr: np.ndarray  # items x orders (CSC of the same matrix)
    by_item_indices: np.ndarray
    item_count: np.ndarray  # orders holding each item, float64
    n_orders: int
    unit: str  # "orders" or "customers"
    matrix: sp.csr_matrix  # the matrix these were built from (to notice a partial_fit)


_ORDERS: weakref.WeakKeyDictionary[Recommender, _Orders] = weakref.WeakKeyDictionary()


def _orders(model: Recommender) -> _Orders:
    """Return ``model``'s training orders (its baskets, else its customers' histories)."""
    baskets = getattr(model, "transactions_", None)
    matrix = baskets if baskets is not None else model.user_items_
    cached = _ORDERS.get(model)
    if cached is not None and cached.matrix is matrix:
        return cached
    binary = sp.csr_matrix(matrix, copy=True)
    binary.sum_duplicates()
    binary.eliminate_zeros()
    binary.sort_indices()
    by_item = binary.tocsc()
    by_item.sort_indices()
    orders = _Orders(
        binary.indptr.astype(np.int64),
        binary.indices.astype(np.int32),
        by_item.indptr.astype(np.int64),
        by_item.indices.astype(np.int64),
        np.diff(by_item.indptr).astype(np.float64),
        binary.shape[0],
        "orders" if baskets is not None else "customers",
        matrix,
    )
    _ORDERS[model] = orders
    return orders


class OrderCounts:
    """How many of a model's training orders (or customers) hold each item.

    Built by :func:`order_counts`; ``unit`` says which ("orders" or "customers").

    Examples
    --------
    >>> import recsys
    >>> orders = pd.DataFrame({"order": [1, 1, 2], "item": ["pen", "ink", "pen"]})
    >>> model = recsys.ItemItem().fit(recsys.Interactions.from_pandas(
    ...     orders, user_col="order", item_col="item", basket_col="order"))
    >>> counts = order_counts(model)
    >>> counts.get("pen"), counts.get("ink"), counts.get("kayak"), counts.unit
    (2, 1, 0, 'orders')
    """

    def __init__(self, model: Recommender) -> None:
        orders = _orders(model)
        self.unit = orders.unit
        self._lookup, _ = item_lookup(model.item_ids_)
        self._count = orders.item_count

    def get(self, item: Any) -> int:
        """Return the number of orders holding ``item`` (0 for an item the model does not know)."""
        try:
            row = self._lookup.get(item, -1)
        except TypeError:  # unhashable
            return 0
        return int(self._count[row]) if row >= 0 else 0


def order_counts(model: Recommender | SegmentedModel) -> OrderCounts:
    """Return how many training orders hold each item (see :class:`OrderCounts`).

    The orders are an :class:`~recsys.ItemItem`'s baskets, else the customers' histories.
    """
    return OrderCounts(base_model(check_model(model)))


def _check_prior(prior: Any) -> float | str:
    """Return ``prior`` if it is "auto" or a finite number >= 0, else raise a ``ValueError``."""
    if isinstance(prior, str) and prior == "auto":
        return prior
    if (
        isinstance(prior, (bool, np.bool_, str))
        or not isinstance(prior, (int, float, np.integer, np.floating))
        or not np.isfinite(prior)
        or prior < 0
    ):
        raise ValueError(f"prior must be 'auto' or a number >= 0, got {prior!r}")
    return float(prior)


def _prior_strength(model: Recommender, prior: float | str) -> float:
    """Return the shrinkage strength: the number given, or the model's calibrated prior."""
    if prior == "auto":
        value = getattr(model, "basket_prior_", None)
        return float(value) if value is not None else 0.0
    return float(prior)


def _check_size(size: Any) -> int:
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)):
        raise TypeError(
            f"size must be an int (items per bundle, the anchor included), got {size!r}"
        )
    if not 2 <= size <= MAX_ITEMSET_SIZE:
        raise ValueError(
            f"size must be between 2 and {MAX_ITEMSET_SIZE} (items per bundle, the anchor "
            f"included), got {size}"
        )
    return int(size)


def _check_min_support(min_support: Any) -> int:
    if (
        isinstance(min_support, (bool, np.bool_))
        or not isinstance(min_support, (int, np.integer))
        or min_support < 1
    ):
        raise ValueError(
            f"min_support must be an int >= 1 (orders holding the whole set), got {min_support!r}"
        )
    return int(min_support)


def _check_discount(discount: Any) -> float | None:
    if discount is None:
        return None
    if (
        isinstance(discount, (bool, np.bool_))
        or not isinstance(discount, (int, float, np.integer, np.floating))
        or not 0.0 <= float(discount) < 1.0
    ):
        raise ValueError(
            f"discount must be a fraction in [0, 1) (0.1 = 10% off the set), got {discount!r}"
        )
    return float(discount)


def _prices(catalog: Any, external: np.ndarray, rows: np.ndarray) -> np.ndarray:
    if catalog is None or rows.size == 0:
        return np.full(rows.size, np.nan)
    if not hasattr(catalog, "price_of"):
        raise TypeError(
            "catalog must have price_of(items) (a TierCatalog or a TierCatalogProtocol), "
            f"got {type(catalog).__name__}"
        )
    prices = np.asarray(catalog.price_of(external[rows]), dtype=np.float64)
    if prices.shape != rows.shape:
        raise ValueError("catalog.price_of must return one price per item")
    return prices


def _blocked(
    base: Recommender,
    basket: np.ndarray,
    user: Any,
    segment: Any,
    rules: Rules | None,
    now: Any,
) -> np.ndarray:
    """Return the items no bundle may add: the basket's, and what the rules exclude."""
    n_items = len(base.item_ids_)
    blocked = np.zeros(n_items, dtype=bool)
    blocked[basket] = True
    compiled = check_rules(rules).compile(base)  # the default: never what the customer owns
    if user is not None:
        users = np.array([user], dtype=object)
        user_rows = base.user_ids_.to_rows(users)  # an unknown customer: UnknownIdError
        _, excluded = compiled.exclusions(1, user_rows=user_rows, users=users, now=now)
        blocked[excluded] = True
    masks, mask_of = compiled.segment_masks(
        1, None if segment is None else np.array([segment], dtype=object)
    )
    if masks is not None and mask_of is not None:
        blocked |= ~masks[mask_of[0]]
    return blocked


def _bundles(
    model: Recommender | SegmentedModel,
    basket_or_item: Any,
    *,
    size: int,
    n: int,
    catalog: Any,
    rules: Rules | None,
    user: Any,
    segment: Any,
    discount: float | None,
    min_support: int,
    prior: Any,
    unknown_items: str,
    explain: bool,
    now: Any,
) -> BundleResult:
    base = base_model(model)
    _, external = item_lookup(base.item_ids_)
    anchors = basket_rows(base, basket_or_item, unknown_items)
    orders = _orders(base)
    blocked = _blocked(base, anchors, user, segment, rules, now)
    strength = _prior_strength(base, prior)
    sets, support, evidence, lift, anchor_of = best_itemsets(
        orders.indptr,
        orders.indices,
        orders.by_item_indptr,
        orders.by_item_indices,
        orders.item_count,
        anchors,
        blocked,
        size,
        n,
        min_support,
        strength,
        first_shortlist=_FIRST_SHORTLIST,
        max_shortlist=MAX_SHORTLIST,
    )
    n_anchor = orders.item_count[anchor_of]
    score = evidence / (n_anchor + strength)
    lift = lift * float(orders.n_orders) ** (size - 1) / np.maximum(n_anchor, 1.0)
    # T -> (score, lift, support, anchor): one entry per set, with its best anchor (ties: the
    # anchor found first, the lower row)
    found: dict[tuple[int, ...], tuple[float, float, int, int]] = {}
    for t, sc, lf, sup, a in zip(
        map(tuple, sets.tolist()),
        score.tolist(),
        lift.tolist(),
        support.tolist(),
        anchor_of.tolist(),
        strict=True,
    ):
        if t not in found or (sc, lf) > found[t][:2]:
            found[t] = (sc, lf, sup, a)
    ranked = sorted(found.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[1][3], kv[0]))[:n]
    item_rows: list[int] = []
    bundle, is_anchor, support_of, lift_of, score_of = [], [], [], [], []
    for rank, (t, (sc, lf, s, anchor)) in enumerate(ranked, start=1):
        members = [anchor, *t]
        item_rows.extend(members)
        bundle.extend([rank] * len(members))
        is_anchor.extend([True] + [False] * len(t))
        support_of.extend([s] * len(members))
        lift_of.extend([lf] * len(members))
        score_of.extend([sc] * len(members))
    rows = np.asarray(item_rows, dtype=np.int64)
    bundle_arr = np.asarray(bundle, dtype=np.int64)
    prices = _prices(catalog, external, rows)
    total = np.full(rows.size, np.nan)
    if rows.size:
        sums = np.bincount(bundle_arr - 1, weights=prices)  # NaN when a price is unknown
        total = sums[bundle_arr - 1]
    result = BundleResult(
        bundle=bundle_arr,
        item=external[rows],
        anchor=np.asarray(is_anchor, dtype=bool),
        score=np.asarray(score_of, dtype=np.float64),
        support=np.asarray(support_of, dtype=np.int64),
        lift=np.asarray(lift_of, dtype=np.float64),
        price=total,
        bundle_price=total * (1.0 - discount) if discount is not None else total.copy(),
        reason=_reasons(external, rows, bundle_arr, support_of, score_of, orders.unit)
        if explain
        else None,
    )
    return result


def _reasons(
    external: np.ndarray,
    rows: np.ndarray,
    bundle: np.ndarray,
    support: list[int],
    score: list[float],
    unit: str,
) -> np.ndarray:
    out = np.empty(rows.size, dtype=object)
    for start in np.flatnonzero(np.r_[True, bundle[1:] != bundle[:-1]]) if rows.size else []:
        stop = start + int((bundle == bundle[start]).sum())
        anchor = external[rows[start]]
        text = (
            f"bought together as a set in {support[start]} {unit} "
            f"({score[start]:.0%} of the {unit} with {anchor})"
        )
        out[start:stop] = text
    return out


@overload
def recommend_bundle(
    model: Recommender | SegmentedModel,
    basket_or_item: ExternalIds | ExternalId,
    *,
    size: int = ...,
    n: int = ...,
    catalog: TierCatalogProtocol | Any = ...,
    rules: Rules | None = ...,
    user: ExternalId | None = ...,
    segment: Any = ...,
    discount: float | None = ...,
    min_support: int = ...,
    prior: float | str = ...,
    unknown_items: str = ...,
    explain: bool = ...,
    now: Any = ...,
    return_frame: Literal[True] = ...,
) -> pd.DataFrame: ...


@overload
def recommend_bundle(
    model: Recommender | SegmentedModel,
    basket_or_item: ExternalIds | ExternalId,
    *,
    size: int = ...,
    n: int = ...,
    catalog: TierCatalogProtocol | Any = ...,
    rules: Rules | None = ...,
    user: ExternalId | None = ...,
    segment: Any = ...,
    discount: float | None = ...,
    min_support: int = ...,
    prior: float | str = ...,
    unknown_items: str = ...,
    explain: bool = ...,
    now: Any = ...,
    return_frame: Literal[False],
) -> BundleResult: ...


def recommend_bundle(
    model: Recommender | SegmentedModel,
    basket_or_item: ExternalIds | ExternalId,
    *,
    size: int = 2,
    n: int = 3,
    catalog: TierCatalogProtocol | Any = None,
    rules: Rules | None = None,
    user: ExternalId | None = None,
    segment: Any = None,
    discount: float | None = None,
    min_support: int = 2,
    prior: float | str = "auto",
    unknown_items: str = "raise",
    explain: bool = True,
    now: Any = None,
    return_frame: bool = True,
) -> pd.DataFrame | BundleResult:
    """Propose up to ``n`` sets of items bought together with the anchor ("complete the set").

    See :mod:`recsys.selling.bundle` for how sets are found and ranked.

    Parameters
    ----------
    model : Recommender or SegmentedModel
        A fitted model; an :class:`~recsys.ItemItem` fitted on baskets counts
        sets in its training orders, other models in their customers'
        histories.
    basket_or_item : item ID or sequence of item IDs
        The anchor: one item (viewed, just added), or a basket — then every
        basket item is an anchor in turn, no bundle adds an item already in
        the basket, and each set is kept once, with its best anchor.
    size : int
        Items per bundle, the anchor included (2 to 4): ``size=3`` is the
        anchor plus two items.
    n : int
        At most this many bundles; fewer when fewer sets were bought at least
        ``min_support`` times.
    catalog : TierCatalog or object with ``price_of(items)``, optional
        Prices for the set's total.
    rules : Rules, optional
        Business rules: items they exclude for ``user`` (owned, declined in
        cool-down) or do not allow (stock, the segment's assortment) never
        enter a bundle.  Default ``Rules()`` (never what the customer owns).
    user : optional
        The customer, for the rules.
    segment : optional
        The customer's segment, for ``rules.segment_items``.
    discount : float, optional
        A bundle discount in [0, 1): ``bundle_price = price * (1 - discount)``.
    min_support : int
        Only sets bought together in at least this many orders.
    prior : float or "auto"
        Strength ``m`` of the shrinkage of a set's probability towards
        independence (see the module docstring); ``"auto"`` takes the
        model's calibrated ``basket_prior_`` (0 for models without one).
    unknown_items : {"raise", "ignore"}
        Basket items the model does not know: an error, or left out (with a
        warning).
    explain : bool
        Add the ``reason`` column.
    now : datetime-like, optional
        The time the declines' cool-down is measured from (default: now).
    return_frame : bool
        A DataFrame (default) or a :class:`BundleResult` of arrays.

    Returns
    -------
    pandas.DataFrame or BundleResult
        One row per item of each bundle (the anchor first): ``bundle`` (the
        bundle's rank, 1 = best), ``item``, ``anchor``, ``score``,
        ``support``, ``lift``, ``price``, ``bundle_price`` and ``reason``.

    Raises
    ------
    UnknownIdError
        An unknown item (``unknown_items="raise"``) or customer.
    ValueError
        ``size``, ``n``, ``min_support`` or ``discount`` out of range.

    Examples
    --------
    >>> import recsys
    >>> orders = pd.DataFrame({
    ...     "order": [1, 1, 1, 2, 2, 2, 3, 3, 4, 4],
    ...     "item": ["tent", "mat", "stove", "tent", "mat", "stove", "tent", "lamp", "tent",
    ...              "mat"]})
    >>> model = recsys.ItemItem().fit(recsys.Interactions.from_pandas(
    ...     orders, user_col="order", item_col="item", basket_col="order"))
    >>> offer = recommend_bundle(model, "tent", size=3, prior=0)
    >>> offer[["bundle", "item", "anchor", "support", "score"]]
       bundle   item  anchor  support  score
    0       1   tent    True        2    0.5
    1       1    mat   False        2    0.5
    2       1  stove   False        2    0.5
    >>> offer["reason"].iloc[0]
    'bought together as a set in 2 orders (50% of the orders with tent)'
    """
    model = check_model(model)
    size = _check_size(size)
    n = check_n(n)
    min_support = _check_min_support(min_support)
    prior = _check_prior(prior)
    discount = _check_discount(discount)
    unknown_items = check_unknown_items(unknown_items)
    result = _bundles(
        model,
        basket_or_item,
        size=size,
        n=n,
        catalog=catalog,
        rules=rules,
        user=user,
        segment=segment,
        discount=discount,
        min_support=min_support,
        prior=prior,
        unknown_items=unknown_items,
        explain=explain,
        now=now,
    )
    return result.to_pandas() if return_frame else result


def recommend_bundle_batch(
    model: Recommender | SegmentedModel,
    baskets: pd.DataFrame,
    *,
    basket_col: str = "basket_id",
    item_col: str = "item",
    user_col: str | None = None,
    segment_col: str | None = None,
    size: int = 2,
    n: int = 3,
    catalog: TierCatalogProtocol | Any = None,
    rules: Rules | None = None,
    discount: float | None = None,
    min_support: int = 2,
    prior: float | str = "auto",
    unknown_items: str = "raise",
    explain: bool = True,
    now: Any = None,
) -> pd.DataFrame:
    """Bundles for many baskets (a group of rows of ``baskets`` each), as :func:`recommend_bundle`.

    Parameters
    ----------
    baskets : pandas.DataFrame
        One row per (basket, item); a one-row basket is a single anchor item.
    basket_col, item_col : str
        Columns of ``baskets``.
    user_col, segment_col : str, optional
        The customer and segment of each basket (the first row's value).
    size, n, catalog, rules, discount, min_support, prior, unknown_items, explain, now
        As in :func:`recommend_bundle`.

    Returns
    -------
    pandas.DataFrame
        ``<basket_col>`` followed by the columns of :func:`recommend_bundle`,
        baskets in order of first appearance.

    Examples
    --------
    >>> import recsys
    >>> orders = pd.DataFrame({"order": [1, 1, 1, 2, 2, 2, 3, 3],
    ...                        "item": ["pen", "ink", "pad", "pen", "ink", "pad", "pen", "ink"]})
    >>> model = recsys.ItemItem().fit(recsys.Interactions.from_pandas(
    ...     orders, user_col="order", item_col="item", basket_col="order"))
    >>> carts = pd.DataFrame({"basket_id": ["a", "b"], "item": ["pen", "pad"]})
    >>> recommend_bundle_batch(model, carts, n=1)[["basket_id", "bundle", "item"]].values.tolist()
    [['a', 1, 'pen'], ['a', 1, 'ink'], ['b', 1, 'pad'], ['b', 1, 'ink']]
    """
    model = check_model(model)
    size = _check_size(size)
    n = check_n(n)
    min_support = _check_min_support(min_support)
    prior = _check_prior(prior)
    discount = _check_discount(discount)
    unknown_items = check_unknown_items(unknown_items)
    baskets = require_dataframe(baskets, "baskets")
    extra = [c for c in (user_col, segment_col) if c is not None]
    require_columns(baskets, [basket_col, item_col, *extra], "baskets")
    frames = []
    for key, group in baskets.groupby(basket_col, sort=False, dropna=False):
        first = group.iloc[0]
        result = _bundles(
            model,
            group[item_col].tolist(),
            size=size,
            n=n,
            catalog=catalog,
            rules=rules,
            user=_value(first, user_col),
            segment=_value(first, segment_col),
            discount=discount,
            min_support=min_support,
            prior=prior,
            unknown_items=unknown_items,
            explain=explain,
            now=now,
        ).to_pandas()
        result.insert(0, basket_col, key)
        frames.append(result)
    if not frames:
        empty = BundleResult(*(np.empty(0) for _ in range(8))).to_pandas()
        empty.insert(0, basket_col, pd.Series(dtype=object))
        return empty
    return pd.concat(frames, ignore_index=True)


def _value(row: pd.Series, col: str | None) -> Any:
    if col is None:
        return None
    value = row[col]
    return None if pd.isna(value) else value
