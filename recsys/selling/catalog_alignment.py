"""Aligning a tier catalog with a model: :func:`check_catalog`, :func:`catalog_view`.

The selling APIs work on a model's item rows; :func:`catalog_view` turns a
catalog (:mod:`recsys.selling.catalog`) into arrays over those rows (a
:class:`CatalogView`), and :func:`check_catalog` catches a catalog built on
other IDs than the model's.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys._utils.sparse import row_positions
from recsys.data.ids import as_id_array
from recsys.selling._common import shown, unknown_catalog_items
from recsys.selling.catalog import TierCatalog, TierCatalogProtocol
from recsys.types import ExternalId

__all__ = ["CatalogView", "catalog_view", "check_catalog"]

#: The view of each TierCatalog for the last model item IDs it was aligned with (catalogs are
#: immutable; the entry goes with the catalog).
_VIEWS: weakref.WeakKeyDictionary[TierCatalog, tuple[Any, CatalogView]] = (
    weakref.WeakKeyDictionary()
)


def check_catalog(
    catalog: TierCatalogProtocol, model: Any, errors: str = "raise"
) -> list[ExternalId]:
    """Return the catalog items unknown to a fitted model.

    The selling APIs work on the model's items, so a catalog built on other
    IDs (product names instead of SKUs, ints instead of strings) is caught
    here rather than silently giving no upgrades.

    Parameters
    ----------
    catalog : TierCatalogProtocol
    model : Recommender
        A fitted model (``item_ids_``).
    errors : {"raise", "return"}
        ``"raise"``: a :class:`~recsys.exceptions.UnknownIdError` (a
        ``KeyError``) listing the unknown items, if any; ``"return"``: return
        them.

    Returns
    -------
    list
        The unknown items (empty when all are known).

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> model = recsys.Popularity().fit(data)
    >>> check_catalog(TierCatalog.from_mapping({"f": ["a", "b"]}), model)
    []
    """
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    if not isinstance(catalog, TierCatalogProtocol):
        raise TypeError(f"catalog must implement TierCatalogProtocol, got {type(catalog).__name__}")
    return unknown_catalog_items(as_id_array(catalog.items, "catalog items"), model, errors)


@dataclass(frozen=True, eq=False)
class CatalogView:
    """A catalog aligned with a model's item rows (built by :func:`catalog_view`).

    Attributes
    ----------
    family : numpy.ndarray of int32, shape (n_model_items,)
        Family code of every model item row, ``-1`` when in no family.
    family_names : numpy.ndarray
        The family of every code.
    members_indptr, members : numpy.ndarray
        CSR family code → model rows of its items, lowest tier first.
    tier, price : numpy.ndarray of float64, shape (n_model_items,)
        Tier rank and price of every model item row (NaN outside the catalog).
    step : numpy.ndarray of int32, shape (n_model_items,)
        Rank of the item's tier within its family, 0 = lowest tier (``-1``
        outside the catalog); items sharing a tier share a step, and tier
        jumps are counted in these steps.
    unknown : tuple
        Catalog items the model does not know (left out).

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "x"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> catalog = TierCatalog.from_mapping({"f": ["a", "b"]}, prices={"a": 5.0, "b": 8.0})
    >>> view = catalog_view(catalog, recsys.Popularity().fit(data))
    >>> view.step.tolist(), view.price.tolist()
    ([0, 1, -1], [5.0, 8.0, nan])
    """

    family: np.ndarray
    family_names: np.ndarray
    members_indptr: np.ndarray
    members: np.ndarray
    tier: np.ndarray
    step: np.ndarray
    price: np.ndarray
    unknown: tuple = ()

    def family_exclusions(
        self, query_indptr: np.ndarray, query_rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """CSR of every item sharing a family with any item of each query (the query's own tiers).

        Examples
        --------
        >>> view = CatalogView(np.array([0, 0, -1], dtype=np.int32), np.array(["f"], dtype=object),
        ...                    np.array([0, 2]), np.array([0, 1], dtype=np.int32),
        ...                    np.array([1.0, 2.0, np.nan]), np.array([0, 1, -1], dtype=np.int32),
        ...                    np.full(3, np.nan))
        >>> [a.tolist() for a in view.family_exclusions(np.array([0, 1, 2]), np.array([0, 2]))]
        [[0, 2, 2], [0, 1]]
        """
        # the member rows of every query entry's family, in entry order: entries are grouped by
        # query, so the query's CSR just sums its entries' lengths
        entry_ip, take = row_positions(self.members_indptr, self.family[query_rows])
        indptr = entry_ip[query_indptr]
        return indptr, self.members[take].astype(np.int32, copy=False)


def catalog_view(catalog: TierCatalogProtocol, model: Any) -> CatalogView:
    """Align ``catalog`` with ``model``'s item rows (cached on a :class:`TierCatalog`).

    Catalog items the model does not know are left out (listed in
    ``unknown``); a catalog sharing *no* item with the model raises the
    :func:`check_catalog` error.

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "x"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> model = recsys.Popularity().fit(data)
    >>> catalog_view(TierCatalog.from_mapping({"f": ["a", "b"]}), model).family.tolist()
    [0, 0, -1]
    """
    if not isinstance(catalog, (TierCatalog, TierCatalogProtocol)):
        raise TypeError(
            f"catalog must be a TierCatalog or implement TierCatalogProtocol "
            "(items, family_of, tier_of, price_of, features_of, higher_tiers); "
            f"got {type(catalog).__name__}"
        )
    if isinstance(catalog, TierCatalog):
        cached = _VIEWS.get(catalog)
        if cached is not None and cached[0] is model.item_ids_:
            return cached[1]
    items = as_id_array(catalog.items, "catalog items")
    rows = (
        model.item_ids_.to_rows(items, missing="ignore")
        if items.size
        else np.empty(0, dtype=np.int32)
    )
    known = rows >= 0
    if items.size and not known.any():
        check_catalog(catalog, model)  # raises, explaining the ID mismatch
    unknown = tuple(items[~known].tolist())
    items, rows = items[known], rows[known]
    n_items = len(model.item_ids_)
    fams = np.asarray(catalog.family_of(items), dtype=object)
    tiers = np.asarray(catalog.tier_of(items), dtype=np.float64)
    prices = np.asarray(catalog.price_of(items), dtype=np.float64)
    if fams.shape != items.shape or tiers.shape != items.shape or prices.shape != items.shape:
        raise ValueError("catalog.family_of / tier_of / price_of must return one value per item")
    in_family = ~pd.isna(fams)
    if np.isnan(tiers[in_family]).any():
        bad = items[in_family][np.isnan(tiers[in_family])]
        raise ValueError(f"catalog items {shown(bad)} are in a family but have no tier")
    codes, names = pd.factorize(fams[in_family])
    family = np.full(n_items, -1, dtype=np.int32)
    family[rows[in_family]] = codes
    tier = np.full(n_items, np.nan)
    tier[rows[in_family]] = tiers[in_family]
    price = np.full(n_items, np.nan)
    price[rows] = prices
    member_rows = rows[in_family]
    order = np.lexsort((tiers[in_family], codes))
    indptr = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=len(names)), out=indptr[1:])
    members = member_rows[order].astype(np.int32)
    # the rank of each member's tier within its family (items sharing a tier share a step)
    sorted_codes, sorted_tiers = codes[order], tiers[in_family][order]
    new_tier = np.ones(members.size, dtype=bool)
    new_tier[1:] = (sorted_codes[1:] != sorted_codes[:-1]) | (sorted_tiers[1:] != sorted_tiers[:-1])
    distinct = np.cumsum(new_tier) - 1
    step = np.full(n_items, -1, dtype=np.int32)
    step[members] = distinct - distinct[indptr[:-1]][sorted_codes]
    view = CatalogView(
        family, np.asarray(names, dtype=object), indptr, members, tier, step, price, unknown
    )
    if isinstance(catalog, TierCatalog):
        _VIEWS[catalog] = (model.item_ids_, view)
    return view
