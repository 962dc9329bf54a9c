"""One slate of few offers per moment of the journey: what do we show now.

:func:`recommend_offers` answers the one question a shop asks at each
moment — a product page, the checkout, the thank-you page — with a single
short list that mixes the offer types of :mod:`recsys.selling`:

* ``"cross_sell"`` — complements of the basket
  (:func:`~recsys.selling.recommend_cross_sell`);
* ``"upgrade"`` — a strictly higher tier of a basket item
  (:func:`~recsys.selling.recommend_upgrade`);
* ``"bundle"`` — a set bought together with a basket item
  (:func:`~recsys.selling.bundle.recommend_bundle`);
* ``"buy_again"`` — what the customer is due to re-buy, when a
  :class:`~recsys.models.repurchase.Repurchase` model is given
  (:func:`~recsys.selling.repurchase.recommend_repurchase`).

Which types, in which order and how many of each, is an :class:`OfferPolicy`
— a documented, overridable object, one mix per moment:

``browse`` (an item viewed)
    upgrades of it first (up to 2), then complements (up to 2);
``checkout`` (a basket)
    complements (up to 2) and add-ons priced low relative to the basket
    (``max_addon_price_share`` of its value, where prices are known), one
    bundle, at most one upgrade, one item due to be bought again;
``post_purchase`` (what was just bought)
    accessories and consumables for it (complements, a bundle) and
    replenishment (up to 2 items due again).

Whatever the mix, the slate never repeats an item, never offers what is in
the basket or what the customer owns (a ``buy_again`` offer is the one
exception, and only when it is due), never an item the rules exclude
(declined in cool-down, out of stock, outside the segment), at most
``max_per_family`` offers per catalog family, and **few**: ``n`` is a
budget, not a target — offers whose evidence is below the policy's minimum
(see :class:`OfferPolicy`) are left out, so a weak moment gets fewer offers
or none.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.validation import require_columns, require_dataframe
from recsys.models.base import Recommender, check_n
from recsys.models.repurchase import Repurchase
from recsys.selling._common import (
    Columns,
    base_model,
    check_model,
    check_rules,
    frame,
    item_lookup,
    model_kind,
)
from recsys.selling.bundle import order_counts, recommend_bundle
from recsys.selling.catalog import TierCatalog, TierCatalogProtocol
from recsys.selling.catalog_alignment import CatalogView, catalog_view
from recsys.selling.cross_sell import recommend_cross_sell
from recsys.selling.repurchase import recommend_repurchase
from recsys.selling.rules import Rules
from recsys.selling.segments import SegmentedModel
from recsys.selling.upgrade import DEFAULT_AFFINITY_WEIGHT, _upgrade
from recsys.types import ExternalId, ExternalIds

__all__ = [
    "DEFAULT_POLICY",
    "MOMENTS",
    "OFFER_COLUMNS",
    "OFFER_TYPES",
    "OfferPolicy",
    "OfferResult",
    "recommend_offers",
    "recommend_offers_batch",
]

#: The moments a slate is asked for.
MOMENTS = ("browse", "checkout", "post_purchase")
#: The offer types a policy can mix.
OFFER_TYPES = ("cross_sell", "upgrade", "bundle", "buy_again")
#: Columns of :func:`recommend_offers`.
OFFER_COLUMNS = [
    "rank",
    "offer_type",
    "item",
    "items",
    "from_item",
    "score",
    "price",
    "price_step",
    "reason",
]


@dataclass(frozen=True)
class OfferPolicy:
    """Which offers a slate mixes at each moment, and the evidence each needs.

    Parameters
    ----------
    mix : mapping
        ``{moment: [(offer type, at most k), ...]}`` in slate order; the
        slate takes each type's best offers in turn.  Moments left out of a
        custom mix fall back to :data:`DEFAULT_MIX`.
    min_probability : float
        Cross-sells from a basket-probability model (the default
        :class:`~recsys.ItemItem`): the least probability that the item joins
        the basket.
    min_together : int
        Cross-sells from other models, and bundles: the fewest orders that
        bought the offer with the basket item it comes from.
    min_due_probability : float
        ``buy_again``: the least probability of buying the item in the next order.
    max_addon_price_share : float or None
        At checkout, complements and bundles cost at most this share of the
        basket's value (where the catalog prices both); ``None``: no cap.
    max_upgrade_price_ratio : float or None
        Upgrades cost at most this multiple of the item upgraded from.
    max_per_family : int
        Offers per catalog family (items outside the catalog count as their own family).
    bundle_size : int
        Items per bundle, the basket item included.
    social_proof : bool
        Add "bought by 38% of the customers who bought X" to cross-sell
        reasons (where the model's orders support it) and "popular in <segment>".

    Examples
    --------
    >>> policy = OfferPolicy(mix={"checkout": [("cross_sell", 3)]}, min_probability=0.05)
    >>> policy.slots("checkout"), policy.slots("browse")[0]
    ([('cross_sell', 3)], ('upgrade', 2))
    """

    mix: Mapping[str, Sequence[tuple[str, int]]] = field(default_factory=dict)
    min_probability: float = 0.02
    min_together: int = 2
    min_due_probability: float = 0.1
    max_addon_price_share: float | None = 0.5
    max_upgrade_price_ratio: float | None = None
    max_per_family: int = 1
    bundle_size: int = 2
    social_proof: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.mix, Mapping):
            raise TypeError(
                f"mix must be a mapping {{moment: [(offer type, k), ...]}}, got {self.mix!r}"
            )
        for moment, slots in self.mix.items():
            if moment not in MOMENTS:
                raise ValueError(f"mix: unknown moment {moment!r}; moments are {list(MOMENTS)}")
            for slot in slots:
                if (
                    not isinstance(slot, tuple)
                    or len(slot) != 2
                    or slot[0] not in OFFER_TYPES
                    or isinstance(slot[1], bool)
                    or not isinstance(slot[1], (int, np.integer))
                    or slot[1] < 1
                ):
                    raise ValueError(
                        f"mix[{moment!r}]: each entry is (offer type, count >= 1) with a type in "
                        f"{list(OFFER_TYPES)}, got {slot!r}"
                    )
        for name in ("min_probability", "min_due_probability"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        for name in ("min_together", "max_per_family", "bundle_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not 2 <= self.bundle_size <= 4:
            raise ValueError(f"bundle_size must be 2, 3 or 4, got {self.bundle_size}")
        for name in ("max_addon_price_share", "max_upgrade_price_ratio"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
            ):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")

    def slots(self, moment: str) -> list[tuple[str, int]]:
        """Return the ``(offer type, at most k)`` mix of ``moment``, in slate order.

        Examples
        --------
        >>> DEFAULT_POLICY.slots("browse")
        [('upgrade', 2), ('cross_sell', 2)]
        """
        if moment not in MOMENTS:
            raise ValueError(f"moment must be one of {list(MOMENTS)}, got {moment!r}")
        return list(self.mix.get(moment, DEFAULT_MIX[moment]))


#: The default mix per moment (see the module docstring).
DEFAULT_MIX: dict[str, list[tuple[str, int]]] = {
    "browse": [("upgrade", 2), ("cross_sell", 2)],
    "checkout": [("cross_sell", 2), ("bundle", 1), ("upgrade", 1), ("buy_again", 1)],
    "post_purchase": [("cross_sell", 2), ("bundle", 1), ("buy_again", 2)],
}
#: The policy :func:`recommend_offers` uses by default.
DEFAULT_POLICY = OfferPolicy()


@dataclass
class _Offer:
    offer_type: str
    items: tuple[Any, ...]
    from_item: Any
    score: float
    price: float
    price_step: float
    reason: str


class _Catalog:
    """Prices and families of items for one slate, from the catalog aligned with the model.

    A :class:`TierCatalog` is aligned with the model's item rows once
    (:func:`~recsys.selling.catalog_alignment.catalog_view`, cached on the
    catalog and rebuilt when the model's items change, e.g. after a re-fit), so
    a candidate's price and family are array look-ups; other catalogs, and
    items the model does not know, are asked through the catalog protocol.
    """

    __slots__ = ("catalog", "lookup", "view")

    def __init__(self, catalog: Any, base: Recommender) -> None:
        self.catalog = catalog
        self.lookup, _ = item_lookup(base.item_ids_)
        self.view: CatalogView | None = None
        if isinstance(catalog, TierCatalog):
            try:
                self.view = catalog_view(catalog, base)
            except KeyError:  # no item in common with the model: ask the catalog
                self.view = None

    def _rows(self, items: Sequence[Any]) -> np.ndarray:
        lookup = self.lookup
        try:
            return np.fromiter((lookup.get(v, -1) for v in items), dtype=np.int64, count=len(items))
        except TypeError:  # unhashable IDs: the catalog answers
            return np.full(len(items), -1, dtype=np.int64)

    def prices(self, items: Sequence[Any]) -> np.ndarray:
        """Return the price of each item (NaN where unknown)."""
        if self.catalog is None or not items:
            return np.full(len(items), np.nan)
        if self.view is not None:
            rows = self._rows(items)
            if (rows >= 0).all():
                return self.view.price[rows]
        return np.asarray(self.catalog.price_of(list(items)), dtype=np.float64)

    def family(self, item: Any) -> Any:
        """Return the key diversity counts ``item`` under: its family, else the item itself."""
        if self.catalog is None:
            return ("item", item)
        if self.view is not None:
            try:
                row = self.lookup.get(item, -1)
            except TypeError:  # unhashable: the catalog answers
                row = -1
            if row >= 0:
                code = self.view.family[row]
                return ("item", item) if code < 0 else ("family", self.view.family_names[code])
        family = self.catalog.family_of([item])[0]
        return ("item", item) if family is None or pd.isna(family) else ("family", family)

    def value(self, items: Sequence[Any]) -> float:
        """Return the total price of ``items`` (those with a known price)."""
        prices = self.prices(items)
        return float(prices[~np.isnan(prices)].sum())

    def upgradable(self, catalog: Any, items: list[Any]) -> list[Any]:
        """Return the ``items`` that may have upgrades in ``catalog`` (this catalog's known part).

        With the aligned view: the items whose family has a higher tier among
        the model's items (the others have none to offer, no need to ask);
        else every item in a family.
        """
        if self.view is not None:
            rows = self._rows(items)
            if (rows >= 0).all():
                top = _top_tiers(self.view)
                family, tier = self.view.family, self.view.tier
                return [
                    i
                    for i, r in zip(items, rows.tolist(), strict=True)
                    if family[r] >= 0 and top[family[r]] > tier[r]
                ]
        families = catalog.family_of(items)
        return [
            i
            for i, f in zip(items, families.tolist(), strict=True)
            if f is not None and not pd.isna(f)
        ]


_TOP_TIERS: weakref.WeakKeyDictionary[CatalogView, np.ndarray] = weakref.WeakKeyDictionary()


def _top_tiers(view: CatalogView) -> np.ndarray:
    """Return the highest tier of each family of ``view`` (cached per view).

    Examples
    --------
    >>> view = CatalogView(np.array([0, 0, 1], dtype=np.int32), np.array(["f", "g"], dtype=object),
    ...                    np.array([0, 2, 3]), np.array([0, 1, 2], dtype=np.int32),
    ...                    np.array([1.0, 2.0, 5.0]), np.array([0, 1, 0], dtype=np.int32),
    ...                    np.full(3, np.nan))
    >>> _top_tiers(view).tolist()
    [2.0, 5.0]
    """
    top = _TOP_TIERS.get(view)
    if top is None:
        top = np.full(len(view.family_names), -np.inf)
        np.maximum.at(top, view.family[view.members], view.tier[view.members])
        _TOP_TIERS[view] = top
    return top


def _cross_sells(
    model: Recommender | SegmentedModel,
    basket: list[Any],
    user: Any,
    segment: Any,
    rules: Rules,
    catalog: _Catalog,
    k: int,
    policy: OfferPolicy,
    cap: float | None,
) -> Iterator[_Offer]:
    """Yield the cross-sell offers, best first (each built when the slate asks for it).

    ``cap``: the highest price an add-on may have (at checkout), ``None`` for no cap.
    """
    if not basket:
        return
    recs = recommend_cross_sell(
        model, basket, n=k, user=user, segment=segment, rules=rules, return_frame=False
    )
    assert recs.because is not None and recs.together_count is not None
    assert recs.reason is not None
    base = base_model(model)
    if model_kind(base) == "probability":
        keep = recs.score >= policy.min_probability
    else:
        keep = recs.together_count >= policy.min_together
    prices = catalog.prices(recs.item.tolist())
    if cap is not None:
        keep &= ~(prices > cap)  # unknown prices pass
    counts = None
    for j in np.flatnonzero(keep).tolist():
        reason = str(recs.reason[j])
        because = recs.because[j]
        together = int(recs.together_count[j])
        if policy.social_proof and because is not None and together > 0:
            counts = order_counts(base) if counts is None else counts
            seen = counts.get(because)
            if seen:
                share = f"{min(together / seen, 1.0):.0%}"
                reason += (
                    f"; in {share} of the orders with {because}"
                    if counts.unit == "orders"
                    else f"; bought by {share} of the customers who bought {because}"
                )
        price = float(prices[j])
        yield _Offer(
            "cross_sell", (recs.item[j],), because, float(recs.score[j]), price, price, reason
        )


_RESTRICTED: dict[int, tuple[weakref.ref, weakref.ref, TierCatalog | None]] = {}


def _known_catalog(catalog: Any, base: Recommender) -> Any:
    """Return ``catalog`` without the items ``base`` does not know (``None`` if that is all).

    A catalog usually lists more products than a model has seen sold; upgrades need the
    ones it knows.  Cached per (catalog, model).
    """
    if not isinstance(catalog, TierCatalog):
        return catalog
    hit = _RESTRICTED.get(id(catalog))
    if hit is not None and hit[0]() is catalog and hit[1]() is base.item_ids_:
        return hit[2]
    known = np.asarray([item in base.item_ids_ for item in catalog.items.tolist()], dtype=bool)
    restricted = (
        catalog
        if known.all()
        else (catalog.restrict_to(catalog.items[known]) if known.any() else None)
    )
    if len(_RESTRICTED) > 16:
        _RESTRICTED.clear()
    _RESTRICTED[id(catalog)] = (weakref.ref(catalog), weakref.ref(base.item_ids_), restricted)
    return restricted


def _upgrades(
    model: Recommender | SegmentedModel,
    catalog: _Catalog,
    basket: list[Any],
    user: Any,
    segment: Any,
    rules: Rules,
    k: int,
    policy: OfferPolicy,
) -> list[_Offer]:
    if catalog.catalog is None or not basket:
        return []
    known = _known_catalog(catalog.catalog, base_model(model))
    if known is None:
        return []
    items = catalog.upgradable(known, basket)
    if not items:
        return []
    # every basket item with a higher tier above it, in one pass (as recommend_upgrade
    # would answer each, with the same rules; see _upgrade)
    columns, _ = _upgrade(
        model,
        known,
        _objects(items),
        _objects([user] * len(items)),
        None if segment is None else _objects([segment] * len(items)),
        min(k, max(1, len(known.items))),
        max_price_ratio=policy.max_upgrade_price_ratio,
        max_tier_jump=None,
        segment_price_caps=None,
        rules=rules,
        explain=True,
        affinity_weight=DEFAULT_AFFINITY_WEIGHT,
        now=None,
        num_threads=0,
    )
    offers = [
        _Offer("upgrade", (item,), source, score, price_to, price_diff, reason)
        for item, source, score, price_to, price_diff, reason in zip(
            columns["item"].tolist(),
            columns["from_item"].tolist(),
            columns["score"].tolist(),
            columns["price_to"].tolist(),
            columns["price_diff"].tolist(),
            list(columns["reason"]),
            strict=True,
        )
    ]
    # across the basket's items: the best upgrades first (stable: each item's own order kept)
    offers.sort(key=lambda o: -o.score)
    return offers


def _bundles(
    model: Recommender | SegmentedModel,
    catalog: _Catalog,
    basket: list[Any],
    user: Any,
    segment: Any,
    rules: Rules,
    k: int,
    policy: OfferPolicy,
    cap: float | None,
) -> Iterator[_Offer]:
    """Yield the bundle offers, best first (``cap``: the most the added items may cost)."""
    if not basket:
        return
    got = recommend_bundle(
        model,
        basket,
        size=policy.bundle_size,
        n=k,
        catalog=catalog.catalog,
        rules=rules,
        user=user,
        segment=segment,
        min_support=policy.min_together,
        return_frame=False,
    )
    if len(got) == 0:
        return
    assert got.reason is not None
    bounds = np.flatnonzero(np.diff(got.bundle)) + 1
    starts, stops = [0, *bounds.tolist()], [*bounds.tolist(), len(got)]
    prices = catalog.prices(got.item.tolist())  # every row's item, asked once
    for start, stop in zip(starts, stops, strict=True):
        added = got.item[start + 1 : stop].tolist()  # the anchor comes first
        step = float(prices[start + 1 : stop].sum())  # NaN when a price is unknown
        if cap is not None and step > cap:
            continue
        yield _Offer(
            "bundle",
            tuple(added),
            got.item[start],
            float(got.score[start]),
            float(got.price[start]),
            step,
            str(got.reason[start]),
        )


_OWNED_ALLOWED: dict[int, tuple[weakref.ref, Rules]] = {}


def _owned_allowed(rules: Rules) -> Rules:
    """Return ``rules`` without ``exclude_owned`` (cached: compiled rules are cached per object)."""
    if not rules.exclude_owned:
        return rules
    hit = _OWNED_ALLOWED.get(id(rules))
    if hit is not None and hit[0]() is rules:
        return hit[1]
    relaxed = dataclasses.replace(rules, exclude_owned=False)
    if len(_OWNED_ALLOWED) > 16:
        _OWNED_ALLOWED.clear()
    _OWNED_ALLOWED[id(rules)] = (weakref.ref(rules), relaxed)
    return relaxed


def _buy_again(
    model: Recommender | SegmentedModel,
    repurchase: Repurchase | None,
    catalog: _Catalog,
    user: Any,
    segment: Any,
    rules: Rules,
    at: Any,
    k: int,
    policy: OfferPolicy,
) -> list[_Offer]:
    if repurchase is None or user is None or user not in repurchase.user_ids_:
        return []
    due = recommend_repurchase(repurchase, user, at=at, n=k, return_frame=False)
    keep = due.score >= policy.min_due_probability
    items, scores = due.item[keep], due.score[keep]
    reasons = np.asarray(due.reason)[keep]
    # the rules still apply (declined in cool-down, stock, the segment's assortment); owning the
    # item is the point
    base = base_model(model)
    constraints = (
        _owned_allowed(rules)
        .compile(base)
        .constraints(
            1,
            users=np.array([user], dtype=object),
            segments=None if segment is None else np.array([segment], dtype=object),
            now=at,
        )
    )
    rows = base.item_ids_.to_rows(items, missing="ignore")
    blocked = np.zeros(len(base.item_ids_) + 1, dtype=bool)  # the last cell: unknown items
    blocked[constraints.exclude_indices[: constraints.exclude_indptr[1]]] = True
    if constraints.has_allowed:
        blocked[:-1] |= ~constraints.allowed[constraints.allowed_of_query[0]]
    allowed = ~blocked[np.where(rows >= 0, rows, len(base.item_ids_))]
    prices = catalog.prices(items.tolist())
    return [
        _Offer(
            "buy_again", (items[j],), None, float(scores[j]), prices[j], prices[j], str(reasons[j])
        )
        for j in np.flatnonzero(allowed).tolist()
    ]


def _slate(
    model: Recommender | SegmentedModel,
    *,
    user: Any,
    basket: list[Any],
    catalog: _Catalog,
    moment: str,
    n: int,
    at: Any,
    rules: Rules,
    repurchase: Repurchase | None,
    segment: Any,
    policy: OfferPolicy,
) -> list[_Offer]:
    slots = policy.slots(moment)
    cap = None  # at checkout, the most an add-on may cost: a share of the basket's value
    if (
        moment == "checkout"
        and policy.max_addon_price_share is not None
        and catalog.catalog is not None
    ):
        value = catalog.value(basket)
        cap = value * policy.max_addon_price_share if value > 0 else None
    taken: set[Any] = set(basket)
    families: dict[Any, int] = {}
    slate: list[_Offer] = []
    for offer_type, k in slots:
        if len(slate) >= n:
            break
        depth = k + n + len(basket)  # enough spares for the ones the slate's own rules drop
        if offer_type == "cross_sell":
            candidates: Iterable[_Offer] = _cross_sells(
                model, basket, user, segment, rules, catalog, depth, policy, cap
            )
        elif offer_type == "upgrade":
            candidates = _upgrades(model, catalog, basket, user, segment, rules, depth, policy)
        elif offer_type == "bundle":
            candidates = _bundles(model, catalog, basket, user, segment, rules, depth, policy, cap)
        else:
            candidates = _buy_again(
                model, repurchase, catalog, user, segment, rules, at, depth, policy
            )
        used = 0
        for offer in candidates:
            if used >= k or len(slate) >= n:
                break
            if any(item in taken for item in offer.items):
                continue
            offer_families = [catalog.family(item) for item in offer.items]
            if any(families.get(f, 0) >= policy.max_per_family for f in offer_families):
                continue
            slate.append(offer)
            used += 1
            taken.update(offer.items)
            for f in offer_families:
                families[f] = families.get(f, 0) + 1
    if policy.social_proof and isinstance(model, SegmentedModel) and segment is not None:
        _add_segment_proof(model, segment, slate)
    return slate


def _add_segment_proof(model: SegmentedModel, segment: Any, slate: list[_Offer]) -> None:
    scorer = model.model_for(segment)
    if scorer is model.default:
        return
    top = set(scorer.item_ids_.to_external(scorer.popular_item_rows()[:50]).tolist())
    for offer in slate:
        if offer.items[0] in top:
            offer.reason += f"; popular in {segment}"


@dataclass(frozen=True, eq=False)
class OfferResult(Columns):
    """One slate as arrays (:func:`recommend_offers` with ``return_frame=False``).

    One entry per offer, in slate order; the fields are the columns of the
    DataFrame the call returns otherwise (:meth:`to_pandas` builds it).

    Attributes
    ----------
    rank : numpy.ndarray of int64
        Position in the slate, 1 = first.
    offer_type : numpy.ndarray of object
        ``"cross_sell"``, ``"upgrade"``, ``"bundle"`` or ``"buy_again"``.
    item : numpy.ndarray of object
        The offer's (first) item.
    items : numpy.ndarray of object
        Tuples: every item of the offer (several for a bundle).
    from_item : numpy.ndarray of object
        The basket item the offer comes from (``None`` for ``buy_again``; the
        frame keeps it an ``object`` column, as ``items``).
    score, price, price_step : numpy.ndarray of float64
        The offer type's own score; the offer's price and what it adds to the bill.
    reason : numpy.ndarray of object
        The explanation.

    Examples
    --------
    >>> import recsys
    >>> orders = pd.DataFrame({"order": [1, 1, 2, 2], "customer": ["a", "a", "b", "b"],
    ...                        "item": ["tea", "cup", "tea", "cup"]})
    >>> model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(
    ...     recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
    ...                                     basket_col="order"))
    >>> result = recommend_offers(model, basket="tea", return_frame=False)
    >>> result.offer_type.tolist(), result.item.tolist(), len(result)
    (['cross_sell'], ['cup'], 1)
    """

    rank: np.ndarray
    offer_type: np.ndarray
    item: np.ndarray
    items: np.ndarray
    from_item: np.ndarray
    score: np.ndarray
    price: np.ndarray
    price_step: np.ndarray
    reason: np.ndarray

    def to_pandas(self) -> pd.DataFrame:
        """Return the slate as the DataFrame :func:`recommend_offers` returns by default.

        Examples
        --------
        >>> list(_result([]).to_pandas().columns) == OFFER_COLUMNS
        True
        """
        return _slate_frame(self.columns())


@functools.cache
def _empty_frame() -> pd.DataFrame:
    """Return the frame of an empty slate (built once; callers get copies)."""
    return pd.DataFrame({name: pd.Series(values) for name, values in _result([]).columns().items()})


def _slate_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """Return a slate's columns as a frame (built by :func:`~recsys.selling._common.frame`).

    ``items`` (tuples) and ``from_item`` stay ``object`` columns whatever they
    hold: ``from_item`` is ``None`` for ``buy_again``, as cross-sell's
    ``because`` (pandas would otherwise make a column of strings with NaN of
    one slate and keep ``None`` in another).

    Examples
    --------
    >>> _slate_frame(_result([]).columns())["from_item"].dtype
    dtype('O')
    """
    if len(columns["rank"]) == 0 and list(columns) == OFFER_COLUMNS:  # no offer: a common answer
        return _empty_frame().copy()
    return frame(columns, objects=("items", "from_item"))  # object arrays, kept as they are


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _result(slate: list[_Offer]) -> OfferResult:
    return OfferResult(
        rank=np.arange(1, len(slate) + 1, dtype=np.int64),
        offer_type=_objects([o.offer_type for o in slate]),
        item=_objects([o.items[0] for o in slate]),
        items=_objects([o.items for o in slate]),
        from_item=_objects([o.from_item for o in slate]),
        score=np.array([o.score for o in slate], dtype=np.float64),
        price=np.array([o.price for o in slate], dtype=np.float64),
        price_step=np.array([o.price_step for o in slate], dtype=np.float64),
        reason=_objects([o.reason for o in slate]),
    )


def _check_common(
    model: Any, n: Any, policy: Any, repurchase: Any, catalog: Any, moment: Any
) -> tuple[Recommender | SegmentedModel, int, OfferPolicy]:
    model = check_model(model)
    n = check_n(n)
    policy = DEFAULT_POLICY if policy is None else policy
    if not isinstance(policy, OfferPolicy):
        raise TypeError(f"policy must be an OfferPolicy, got {type(policy).__name__}")
    policy.slots(moment)  # a ValueError naming the moments
    if repurchase is not None and not isinstance(repurchase, Repurchase):
        raise TypeError(
            "repurchase must be a fitted recsys.models.repurchase.Repurchase, "
            f"got {type(repurchase).__name__}"
        )
    if (
        catalog is not None
        and not isinstance(catalog, TierCatalog)  # the concrete class first: cheaper
        and not isinstance(catalog, TierCatalogProtocol)
    ):
        raise TypeError(f"catalog must implement TierCatalogProtocol, got {type(catalog).__name__}")
    return model, n, policy


def _basket_list(basket: Any) -> list[Any]:
    if basket is None:
        return []
    if isinstance(basket, (str, bytes)) or np.isscalar(basket):
        return [basket]
    items = basket.tolist() if isinstance(basket, (np.ndarray, pd.Series)) else list(basket)
    if all(type(v) is str or type(v) is int for v in items):  # the usual IDs: none missing
        return list(dict.fromkeys(items))
    missing = pd.isna(np.asarray(items, dtype=object)) if items else np.zeros(0, dtype=bool)
    return list(
        dict.fromkeys(v for v, gone in zip(items, missing.tolist(), strict=True) if not gone)
    )


def recommend_offers(
    model: Recommender | SegmentedModel,
    *,
    user: ExternalId | None = None,
    basket: ExternalIds | ExternalId | None = None,
    catalog: TierCatalogProtocol | None = None,
    moment: str = "checkout",
    n: int = 3,
    at: Any = None,
    rules: Rules | None = None,
    repurchase: Repurchase | None = None,
    segment: Any = None,
    policy: OfferPolicy | None = None,
    return_frame: bool = True,
) -> pd.DataFrame | OfferResult:
    """Return one slate of at most ``n`` offers for this moment (see :mod:`recsys.selling.offers`).

    Parameters
    ----------
    model : Recommender or SegmentedModel
        A fitted model (the default :class:`~recsys.ItemItem` gives
        probabilities, bundles from its orders and explanations).
    user : optional
        The customer (their owned items, declines and due re-purchases).
    basket : item ID or sequence of item IDs, optional
        The cart (``checkout``), the item viewed (``browse``) or what was just
        bought (``post_purchase``).
    catalog : TierCatalog, optional
        Tiers (for upgrades), families (for diversity) and prices (price
        steps, the checkout's add-on cap).
    moment : {"browse", "checkout", "post_purchase"}
    n : int
        The budget: at most ``n`` offers, fewer when the evidence is weak.
    at : datetime-like, optional
        When: the ``buy_again`` offers' due dates.
    rules : Rules, optional
        Business rules for every offer; the default never offers what the
        customer owns (except ``buy_again``, which is about owned items).
    repurchase : Repurchase, optional
        A fitted buy-it-again model: enables ``buy_again`` offers.
    segment : optional
        The customer's segment (a :class:`SegmentedModel`'s model, segment rules).
    policy : OfferPolicy, optional
        The mix per moment and the evidence minimums (default :data:`DEFAULT_POLICY`).
    return_frame : bool
        A DataFrame (default) or an :class:`OfferResult` of arrays.

    Returns
    -------
    pandas.DataFrame or OfferResult
        One row per offer, in slate order: ``rank, offer_type, item, items``
        (all the items of the offer: several for a bundle), ``from_item`` (the
        basket item it comes from), ``score`` (the offer type's own score),
        ``price``, ``price_step`` (what it adds to the bill: an upgrade's price
        difference, an add-on's price) and ``reason``.

    Notes
    -----
    Built for a shop front's request: each offer type the moment's policy
    mixes is asked once, through its array form (upgrades once per basket
    item with a higher tier above it: an item at the top of its family is not
    asked about), and only while the slate has room (a full slate asks no
    further type).  Prices and families are read from
    the catalog aligned with the model's items, prepared once per catalog and
    model and again after a re-fit changes the model's items; the offers of
    each type are explained only as far as the slate takes them.
    ``return_frame=False`` saves the DataFrame (about 0.1 ms).  The batch
    form builds the same slates, row for row.

    Examples
    --------
    >>> import recsys
    >>> from recsys.selling import TierCatalog
    >>> orders = pd.DataFrame({
    ...     "order": [1, 1, 2, 2, 3, 3, 4, 4, 5],
    ...     "customer": ["a", "a", "b", "b", "c", "c", "d", "d", "e"],
    ...     "item": ["phone", "case", "phone", "case", "phone", "charger", "phone-pro", "case",
    ...              "phone"]})
    >>> model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(
    ...     recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
    ...                                     basket_col="order"))
    >>> catalog = TierCatalog.from_mapping({"phone": ["phone", "phone-pro"]},
    ...                                    prices={"phone": 500, "phone-pro": 800})
    >>> offers = recommend_offers(model, basket=["phone"], catalog=catalog, moment="browse")
    >>> offers[["rank", "offer_type", "item"]].values.tolist()
    [[1, 'upgrade', 'phone-pro'], [2, 'cross_sell', 'case'], [3, 'cross_sell', 'charger']]
    >>> offers["price_step"].iloc[0]
    np.float64(300.0)
    >>> print(offers["reason"].iloc[1])
    bought by 2 customers who also bought phone, lift 0.8; in 50% of the orders with phone

    """
    model, n, policy = _check_common(model, n, policy, repurchase, catalog, moment)
    rules = check_rules(rules)
    slate = _slate(
        model,
        user=user,
        basket=_basket_list(basket),
        catalog=_Catalog(catalog, base_model(model)),
        moment=moment,
        n=n,
        at=at,
        rules=rules,
        repurchase=repurchase,
        segment=segment,
        policy=policy,
    )
    result = _result(slate)
    return result.to_pandas() if return_frame else result


def recommend_offers_batch(
    model: Recommender | SegmentedModel,
    queries: pd.DataFrame,
    *,
    query_col: str = "query",
    item_col: str | None = "item",
    user_col: str | None = "user",
    moment_col: str | None = "moment",
    segment_col: str | None = None,
    catalog: TierCatalogProtocol | None = None,
    moment: str = "checkout",
    n: int = 3,
    at: Any = None,
    rules: Rules | None = None,
    repurchase: Repurchase | None = None,
    policy: OfferPolicy | None = None,
) -> pd.DataFrame:
    """Return one slate per query of ``queries`` (a campaign), as :func:`recommend_offers`.

    Parameters
    ----------
    queries : pandas.DataFrame
        One row per (query, basket item); a query without a basket has one row
        with a missing item.  The user, moment and segment are read from the
        query's first row.
    query_col, item_col, user_col, moment_col, segment_col : str or None
        Columns of ``queries`` (``None``: not given; ``moment_col=None`` uses ``moment``).
    catalog, moment, n, at, rules, repurchase, policy
        As in :func:`recommend_offers`.

    Returns
    -------
    pandas.DataFrame
        ``<query_col>`` followed by the columns of :func:`recommend_offers`,
        queries in order of first appearance.

    Examples
    --------
    >>> import recsys
    >>> orders = pd.DataFrame({"order": [1, 1, 2, 2, 3], "customer": ["a", "a", "b", "b", "c"],
    ...                        "item": ["tea", "cup", "tea", "cup", "tea"]})
    >>> model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(
    ...     recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
    ...                                     basket_col="order"))
    >>> campaign = pd.DataFrame({"query": [1, 2], "item": ["tea", "cup"], "user": ["c", None],
    ...                          "moment": ["post_purchase", "checkout"]})
    >>> recommend_offers_batch(model, campaign)[["query", "offer_type", "item"]].values.tolist()
    [[1, 'cross_sell', 'cup'], [2, 'cross_sell', 'tea']]
    """
    model, n, policy = _check_common(model, n, policy, repurchase, catalog, moment)
    rules = check_rules(rules)
    queries = require_dataframe(queries, "queries")
    wanted = [c for c in (query_col, item_col, user_col, moment_col, segment_col) if c is not None]
    require_columns(queries, wanted, "queries")
    if query_col in OFFER_COLUMNS:
        raise ValueError(
            f"query_col {query_col!r} is also a column of the slates ({OFFER_COLUMNS}): "
            "rename it in queries"
        )
    prices_and_families = _Catalog(catalog, base_model(model))
    keys: list[Any] = []
    slates: list[_Offer] = []
    sizes: list[int] = []
    for key, group in queries.groupby(query_col, sort=False, dropna=False):
        first = group.iloc[0]

        def value(col: str | None, default: Any = None, first: pd.Series = first) -> Any:
            if col is None:
                return default
            v = first[col]
            return default if pd.isna(v) else v

        when = value(moment_col, moment)
        policy.slots(when)
        slate = _slate(
            model,
            user=value(user_col),
            basket=_basket_list(group[item_col]) if item_col is not None else [],
            catalog=prices_and_families,
            moment=when,
            n=n,
            at=at,
            rules=rules,
            repurchase=repurchase,
            segment=value(segment_col),
            policy=policy,
        )
        keys.append(key)
        slates.extend(slate)
        sizes.append(len(slate))
    # one frame for the whole campaign: each column's dtype decided once, over every query
    labels = pd.Index(keys).repeat(sizes).to_numpy()
    columns = _result(slates).columns()
    counts = np.asarray(sizes, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    columns["rank"] = np.arange(1, len(slates) + 1, dtype=np.int64) - starts  # 1.. per query
    return _slate_frame({query_col: labels, **columns})
