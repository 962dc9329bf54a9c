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
order with the anchor holds the rest of the set, shrunk towards what the
pairwise probabilities would give if the items were bought independently
*given the anchor*,

``score = (support + m · Π_{j ∈ T} P(j | anchor)) / (n_anchor + m)``

with ``support`` the orders holding every item of ``S``, ``n_anchor`` those
holding the anchor, ``P(j | anchor)`` the model's own calibrated pairwise
probability (the one :func:`~recsys.recommend_cross_sell` ranks by:
``(c_aj + m' p_j) / (n_anchor + m')`` with the model's ``basket_prior_`` as
``m'``; ``c_aj / n_anchor`` for models without one) and ``m`` the *set's*
prior strength.  ``m = 0`` ranks by the raw share of the anchor's orders that
hold the set; a large ``m`` by the product of the pairwise probabilities
among sets bought together (the pairwise top items, kept only where they were
bought as a set).  By default (``prior="auto"``) ``m`` is chosen per model by
:func:`bundle_prior` on a hold-out of the model's own training orders (one
in six, seeded): the strength whose best three sets of three, given one item
of a held-out order, most often lay wholly inside it (the strongest within
one standard error of the best).  Where baskets carry set signal (Online
Retail) it comes out small (100); where they carry none beyond popularity
(Groceries, random baskets) large (3,000 to 100,000).  Ties: the higher
lift, then the items' order in the model.  The frame also gives

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
with hundreds of items tied for the shortlist's last places).

Where the orders come from: an :class:`~recsys.ItemItem` fitted on baskets
keeps them (``transactions_``); for other models the customers' histories
(``user_items_``) stand in, and the reasons say "customers" instead of
"orders".

Preparation (the orders in the layouts the search needs, the calibrated
``m``, the co-purchase counts of the items whose orders are bulky, per-thread
work arrays) is cached per fitted model and redone when
the model is re-fitted or updated; the first call on a model pays for it
(:func:`bundle_prior` triggers it ahead of serving).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.core.itemsets import (
    MAX_ITEMSET_SIZE,
    CoPurchaseLists,
    ItemsetScratch,
    best_itemsets,
    co_purchase_lists,
    prior_hits,
)
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
from recsys.selling.catalog import TierCatalog, TierCatalogProtocol
from recsys.selling.catalog_alignment import catalog_view
from recsys.selling.rules import Rules
from recsys.selling.segments import SegmentedModel
from recsys.types import ExternalId, ExternalIds

__all__ = [
    "BUNDLE_COLUMNS",
    "MAX_SHORTLIST",
    "PRIOR_GRID",
    "BundlePrior",
    "BundleResult",
    "OrderCounts",
    "bundle_prior",
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
#: An item whose orders hold at least this many items (a best-seller's thousands of orders)
#: has its co-purchase counts kept per fit, not counted from its orders on every call (the
#: bulkiest first, as long as all the counts kept are no more than the orders' own entries).
CO_PURCHASE_LIST_ENTRIES = 4_096
#: ... for the items bought with it in at least this many orders (``min_support`` below it
#: counts from the orders).
_CO_PURCHASE_MIN_COUNT = 2
_CO_PURCHASE_MIN_BUDGET = 1 << 20  # entries the lists may hold on a small log
#: The set-prior strengths ``m`` that :func:`bundle_prior` tries.
PRIOR_GRID = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1_000.0, 3_000.0, 10_000.0, 100_000.0)
_HOLD_OUT = 6  # one order in six is held out to choose m
_MAX_BASKETS = 1_500  # held-out orders (with >= 3 known items) used to choose m
_ANCHORS_PER_BASKET = 3  # queries per held-out order (each a different item as the anchor)
_CALIBRATION_SIZE = 3  # m is chosen on sets of three
_CALIBRATION_TOP = 3  # ... by the hits among each query's best three sets
_CALIBRATION_MIN_SUPPORT = 1


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
        The share of the anchor's orders that hold the whole set, shrunk
        towards the product of the pairwise probabilities (module docstring).
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
    >>> list(result.to_pandas().columns) == BUNDLE_COLUMNS
    True
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


@dataclass(frozen=True, eq=False)
class BundlePrior:
    """The set prior's strength ``m`` of a model's bundles, and how it was chosen.

    Returned by :func:`bundle_prior`.

    Attributes
    ----------
    strength : float
        ``m``: what ``recommend_bundle(..., prior="auto")`` uses.
    pair_strength : float
        ``m'`` of the pairwise probabilities ``P(j | anchor)`` (the model's
        ``basket_prior_``, 0 without one).
    trials : pandas.DataFrame
        One row per strength tried (:data:`PRIOR_GRID`): ``prior``, ``hits``
        (of the best three sets of three proposed per held-out query — an
        order and one of its items — those lying wholly inside the order),
        ``hit_rate`` (per set proposed), ``queries`` and ``chosen``.
        Empty when no held-out order had three items the rest knew (then
        ``strength`` is ``pair_strength``).

    Examples
    --------
    >>> trials = pd.DataFrame({"prior": [0.0, 100.0], "chosen": [False, True]})
    >>> found = BundlePrior(100.0, 10.0, trials)
    >>> found.strength, found.trials.loc[found.trials["chosen"], "prior"].item()
    (100.0, 100.0)
    """

    strength: float
    pair_strength: float
    trials: pd.DataFrame


class _Orders:
    """The model's training orders, in the layouts the search needs (cached per model)."""

    def __init__(self, matrix: sp.csr_matrix, unit: str, pair_prior: float) -> None:
        binary = sp.csr_matrix(matrix, copy=True)
        binary.sum_duplicates()
        binary.eliminate_zeros()
        binary.sort_indices()
        by_item = binary.tocsc()
        by_item.sort_indices()
        self.indptr = binary.indptr.astype(np.int64)  # orders x items
        self.indices = binary.indices.astype(np.int32)
        self.by_item_indptr = by_item.indptr.astype(np.int64)  # the same matrix by column
        self.by_item_indices = by_item.indices.astype(np.int64)
        self.item_count = np.diff(by_item.indptr).astype(np.float64)  # orders holding each item
        self.n_orders = int(binary.shape[0])
        self.n_items = int(binary.shape[1])
        self.unit = unit  # "orders" or "customers"
        self.pair_prior = pair_prior
        self.matrix = matrix  # what these were built from (a re-fit or partial_fit replaces it)
        self.prior: BundlePrior | None = None
        self.lock = threading.Lock()
        self._local = threading.local()
        self._co_purchases: CoPurchaseLists | None = None
        self._co_purchases_lock = threading.Lock()

    def co_purchases(self) -> CoPurchaseLists:
        """Return the best-sellers' co-purchase counts (built on first use, once per fit).

        A bulky item's orders are then read once per fit, not on every call (see
        :data:`CO_PURCHASE_LIST_ENTRIES`).
        """
        lists = self._co_purchases
        if lists is None:
            with self._co_purchases_lock:
                if self._co_purchases is None:
                    lengths = np.diff(self.indptr)
                    entries = np.bincount(
                        self.indices,
                        weights=np.repeat(lengths, lengths).astype(np.float64),
                        minlength=self.n_items,
                    )  # what reading each item's orders reads
                    bulky = np.flatnonzero(entries >= CO_PURCHASE_LIST_ENTRIES)
                    bulky = bulky[np.argsort(-entries[bulky], kind="stable")]  # bulkiest first
                    self._co_purchases = co_purchase_lists(
                        self.indptr,
                        self.indices,
                        self.by_item_indptr,
                        self.by_item_indices,
                        bulky,
                        min_count=_CO_PURCHASE_MIN_COUNT,
                        # no more entries than the orders hold: memory in step with the model's
                        max_entries=max(self.indices.size, _CO_PURCHASE_MIN_BUDGET),
                    )
                lists = self._co_purchases
        return lists

    def scratch(self) -> ItemsetScratch:
        """Return this thread's work arrays for :func:`best_itemsets`."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = ItemsetScratch(self.n_items)
        return scratch

    def search(
        self,
        anchors: np.ndarray,
        blocked: np.ndarray,
        size: int,
        n: int,
        min_support: int,
        prior: float,
    ) -> tuple[np.ndarray, ...]:
        """Run :func:`best_itemsets` over these orders."""
        return best_itemsets(
            self.indptr,
            self.indices,
            self.by_item_indptr,
            self.by_item_indices,
            self.item_count,
            anchors,
            blocked,
            size,
            n,
            min_support,
            prior,
            pair_prior=self.pair_prior,
            first_shortlist=_FIRST_SHORTLIST,
            max_shortlist=MAX_SHORTLIST,
            scratch=self.scratch(),
            co_purchases=self.co_purchases() if min_support >= _CO_PURCHASE_MIN_COUNT else None,
        )


_ORDERS: weakref.WeakKeyDictionary[Recommender, _Orders] = weakref.WeakKeyDictionary()
_ORDERS_LOCK = threading.Lock()


def _orders(model: Recommender) -> _Orders:
    """Return ``model``'s training orders (its baskets, else its customers' histories)."""
    baskets = getattr(model, "transactions_", None)
    matrix = baskets if baskets is not None else model.user_items_
    cached = _ORDERS.get(model)
    if cached is not None and cached.matrix is matrix:
        return cached
    pair_prior = getattr(model, "basket_prior_", None)
    orders = _Orders(
        matrix,
        "orders" if baskets is not None else "customers",
        float(pair_prior) if pair_prior is not None else 0.0,
    )
    with _ORDERS_LOCK:
        _ORDERS[model] = orders
    return orders


def _calibrate(orders: _Orders) -> BundlePrior:
    """Choose the set prior's strength on a seeded hold-out of the orders (see the module doc)."""
    rng = np.random.default_rng(0)
    held = rng.integers(0, _HOLD_OUT, size=orders.n_orders) == 0
    matrix = sp.csr_matrix(
        (np.ones(orders.indices.size, dtype=np.float32), orders.indices, orders.indptr),
        shape=(orders.n_orders, orders.n_items),
    )
    fit = _Orders(matrix[~held], orders.unit, orders.pair_prior)
    lengths = np.diff(orders.indptr)
    candidates = rng.permutation(np.flatnonzero(held & (lengths >= _CALIBRATION_SIZE)))
    anchors: list[int] = []
    baskets: list[np.ndarray] = []
    n_baskets = 0
    for r in candidates[: 2 * _MAX_BASKETS].tolist():
        items = orders.indices[orders.indptr[r] : orders.indptr[r + 1]]
        known = items[fit.item_count[items] > 0]
        if known.size >= _CALIBRATION_SIZE:
            for a in rng.permutation(known)[:_ANCHORS_PER_BASKET].tolist():
                anchors.append(a)
                baskets.append(known)
            n_baskets += 1
            if n_baskets == _MAX_BASKETS:
                break
    columns: dict[str, list[Any]] = {
        "prior": [],
        "hits": [],
        "hit_rate": [],
        "queries": [],
        "chosen": [],
    }
    if not anchors:
        return BundlePrior(orders.pair_prior, orders.pair_prior, pd.DataFrame(columns))
    hits = prior_hits(
        fit.indptr,
        fit.indices,
        fit.by_item_indptr,
        fit.by_item_indices,
        fit.item_count,
        np.asarray(anchors, dtype=np.int64),
        baskets,
        np.asarray(PRIOR_GRID),
        min_support=_CALIBRATION_MIN_SUPPORT,
        pair_prior=orders.pair_prior,
        top=_CALIBRATION_TOP,
    )
    pick = _one_standard_error(hits)
    total = hits.sum(axis=1)
    trials = pd.DataFrame(
        {
            "prior": list(PRIOR_GRID),
            "hits": total,
            "hit_rate": total / (len(anchors) * _CALIBRATION_TOP),
            "queries": len(anchors),
            "chosen": np.arange(len(PRIOR_GRID)) == pick,
        }
    )
    return BundlePrior(PRIOR_GRID[pick], orders.pair_prior, trials)


def _one_standard_error(hits: np.ndarray) -> int:
    """Return the strongest strength whose hits are within one standard error of the best's.

    ``hits`` is strengths × queries; the standard error is that of the paired
    difference with the best strength over the same queries (the
    one-standard-error rule: the simplest model the data cannot tell from
    the best — here the one closest to the pairwise probabilities).
    """
    total = hits.sum(axis=1)
    best = int(np.argmax(total))
    n_queries = hits.shape[1]
    for g in range(len(total) - 1, best, -1):
        diff = (hits[best] - hits[g]).astype(np.float64)
        se = float(np.std(diff, ddof=1)) * np.sqrt(n_queries) if n_queries > 1 else 0.0
        if total[best] - total[g] <= se:
            return g
    return best


def bundle_prior(model: Recommender | SegmentedModel) -> BundlePrior:
    """Return the set prior's strength ``m`` that ``recommend_bundle(prior="auto")`` uses.

    Chosen once per fitted model (and cached with its orders; a re-fit or
    ``partial_fit`` chooses again): one in six of the model's training orders
    (seeded) is held out; in up to 1,500 held-out orders with at least three
    items known to the rest, up to three items (seeded) are anchors in turn;
    each strength of :data:`PRIOR_GRID` proposes the anchor's best three sets
    of three, counted in the other orders (among a shortlist of 32 items bought
    most with the anchor and 32 most probable, :func:`~recsys.core.itemsets.prior_hits`),
    and a hit is a set wholly inside the held-out order.  The strongest
    strength whose hits are within one standard error (paired over the
    queries) of the best's wins: the data cannot tell it from the best, and it
    is the closest to the model's pairwise probabilities.  About a second on
    Online Retail, five on a 100k-item catalog of 600k orders; calling it
    ahead of serving takes that off the first request (it also counts the
    best-sellers' co-purchases the search reads instead of their orders:
    about a second and 25 MB on that catalog, :data:`CO_PURCHASE_LIST_ENTRIES`).

    Parameters
    ----------
    model : Recommender or SegmentedModel
        A fitted model (a :class:`SegmentedModel`: its default model).

    Returns
    -------
    BundlePrior

    Examples
    --------
    >>> import recsys
    >>> orders = pd.DataFrame({"order": [1, 1, 1, 2, 2, 2, 3, 3],
    ...                        "item": ["pen", "ink", "pad", "pen", "ink", "pad", "pen", "ink"]})
    >>> model = recsys.ItemItem().fit(recsys.Interactions.from_pandas(
    ...     orders, user_col="order", item_col="item", basket_col="order"))
    >>> found = bundle_prior(model)
    >>> found.strength in PRIOR_GRID, list(found.trials.columns)
    (True, ['prior', 'hits', 'hit_rate', 'queries', 'chosen'])
    """
    orders = _orders(base_model(check_model(model)))
    orders.co_purchases()  # the serving path's other per-fit preparation
    return _prior_of(orders)


def _prior_of(orders: _Orders) -> BundlePrior:
    prior = orders.prior
    if prior is None:
        with orders.lock:  # one calibration per model, even under concurrent first calls
            prior = orders.prior
            if prior is None:
                prior = orders.prior = _calibrate(orders)
    return prior


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


def _prices(catalog: Any, base: Recommender, external: np.ndarray, rows: np.ndarray) -> np.ndarray:
    if catalog is None or rows.size == 0:
        return np.full(rows.size, np.nan)
    if isinstance(catalog, TierCatalog):  # the catalog aligned with the model: array look-ups
        try:
            return catalog_view(catalog, base).price[rows]
        except KeyError:  # no item in common with the model: the catalog answers
            pass
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
        lookup, _ = item_lookup(base.user_ids_)  # a dict look-up, not a pandas index
        try:
            row = lookup.get(user, -1)
        except TypeError:  # unhashable: let the IdMap explain
            row = -1
        if row < 0:
            base.user_ids_.to_rows(users)  # an unknown customer: UnknownIdError
        _, excluded = compiled.exclusions(
            1, user_rows=np.array([row], dtype=np.int32), users=users, now=now
        )
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
    strength = _prior_of(orders).strength if prior == "auto" else float(prior)
    sets, support, evidence, lift, anchor_of = orders.search(
        anchors, blocked, size, n, min_support, strength
    )
    n_anchor = orders.item_count[anchor_of]
    score = evidence / (n_anchor + strength)
    lift = lift * float(orders.n_orders) ** (size - 1) / np.maximum(n_anchor, 1.0)
    if anchors.size > 1:  # one entry per set, with its best anchor (ties: the lower row)
        found: dict[tuple[int, ...], tuple[float, float, int]] = {}
        for k, (t, sc, lf) in enumerate(
            zip(map(tuple, sets.tolist()), score.tolist(), lift.tolist(), strict=True)
        ):
            if t not in found or (sc, lf) > found[t][:2]:  # anchors come in row order
                found[t] = (sc, lf, k)
        ranked = sorted(
            found.items(), key=lambda kv: (-kv[1][0], -kv[1][1], anchor_of[kv[1][2]], kv[0])
        )
        keep = np.fromiter((k for _, (_, _, k) in ranked[:n]), dtype=np.int64)
        sets, support, score, lift, anchor_of = (
            sets[keep],
            support[keep],
            score[keep],
            lift[keep],
            anchor_of[keep],
        )
    k = len(anchor_of)  # bundles, best first
    width = size - 1
    grid = np.empty((k, size), dtype=np.int64)
    grid[:, 0] = anchor_of
    grid[:, 1:] = sets
    rows = grid.ravel()
    bundle = np.repeat(np.arange(1, k + 1, dtype=np.int64), size)
    is_anchor = np.zeros((k, size), dtype=bool)
    is_anchor[:, 0] = True
    prices = _prices(catalog, base, external, rows)
    total = np.repeat(prices.reshape(k, size).sum(axis=1), size)  # NaN when a price is unknown
    support_of = np.repeat(support, size)
    score_of = np.repeat(score, size)
    return BundleResult(
        bundle=bundle,
        item=external[rows],
        anchor=is_anchor.ravel(),
        score=score_of,
        support=support_of,
        lift=np.repeat(lift, size),
        price=total,
        bundle_price=total * (1.0 - discount) if discount is not None else total.copy(),
        reason=_reasons(external, anchor_of, support, score, width, orders.unit)
        if explain
        else None,
    )


def _reasons(
    external: np.ndarray,
    anchor_of: np.ndarray,
    support: np.ndarray,
    score: np.ndarray,
    width: int,
    unit: str,
) -> np.ndarray:
    """Return the explanation of every row: one sentence per bundle, repeated over its items."""
    out = np.empty(anchor_of.size * (width + 1), dtype=object)
    anchors = external[anchor_of].tolist()
    for b, (anchor, s, sc) in enumerate(
        zip(anchors, support.tolist(), score.tolist(), strict=True)
    ):
        out[b * (width + 1) : (b + 1) * (width + 1)] = (
            f"bought together as a set in {s} {unit} ({sc:.0%} of the {unit} with {anchor})"
        )
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
        Strength ``m`` of the shrinkage of a set's probability towards the
        product of its items' pairwise probabilities given the anchor (see
        the module docstring); ``"auto"``: the strength :func:`bundle_prior`
        chose for this model on a hold-out of its training orders.
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
