"""Product tiers: which items are better versions of which (for upgrades).

A *family* is a set of items that replace each other — the same product in
good / better / best versions, a phone in 64, 128 and 256 GB, a private-label
and a national-brand coffee.  Every item of a family has a *tier rank*; a
higher rank is an upgrade.  Items in no family have no upgrades and are never
offered as one.

The selling code only needs what :class:`TierCatalogProtocol` lists, so any
object with those methods works (a database-backed catalog, say);
:class:`TierCatalog` is the ready, validated, in-memory implementation.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from recsys.data.ids import as_id_array, check_id_types
from recsys.data.validation import (
    numeric_column,
    require_columns,
    require_dataframe,
    require_no_missing,
)
from recsys.exceptions import UnknownIdError
from recsys.io import codec
from recsys.selling._common import shown, unknown_catalog_items
from recsys.types import ExternalId, ExternalIds

__all__ = ["TierCatalog", "TierCatalogProtocol"]

_PRICE_ORDER = ("error", "warn", "ignore")
#: Up to this many items, catalog lookups go through a dict (microseconds, not a pandas search).
_FEW = 32


@runtime_checkable
class TierCatalogProtocol(Protocol):
    """What the selling APIs need from a catalog of product tiers.

    Implement these six members on your own class (no base class needed) to
    use it with :func:`~recsys.selling.recommend_upgrade` and
    :func:`~recsys.selling.recommend_cross_sell`.

    Examples
    --------
    >>> class Shelf:
    ...     items = ["s", "m", "l"]
    ...     def family_of(self, items): return np.array(["size" for _ in items], dtype=object)
    ...     def tier_of(self, items): return np.array([self.items.index(i) for i in items], float)
    ...     def price_of(self, items): return np.full(len(items), np.nan)
    ...     def features_of(self, item): return set()
    ...     def higher_tiers(self, item): return self.items[self.items.index(item) + 1:]
    >>> isinstance(Shelf(), TierCatalogProtocol)
    True
    """

    @property
    def items(self) -> Sequence[ExternalId] | np.ndarray:
        """Every item of the catalog (external IDs)."""
        ...

    def family_of(self, items: Sequence[ExternalId] | np.ndarray) -> np.ndarray:
        """Return the family of each item; ``None`` (or NaN) for items in no family."""
        ...

    def tier_of(self, items: Sequence[ExternalId] | np.ndarray) -> np.ndarray:
        """Return the tier rank (float or int) of each item; NaN for items in no family."""
        ...

    def price_of(self, items: Sequence[ExternalId] | np.ndarray) -> np.ndarray:
        """Return the price of each item as float; NaN when unknown."""
        ...

    def features_of(self, item: ExternalId) -> Collection[Any] | Mapping[Any, Any]:
        """Return the features of one item (a set, or a dict whose keys are the features)."""
        ...

    def higher_tiers(self, item: ExternalId) -> Sequence[ExternalId]:
        """Return the items of the same family with a strictly higher tier, lowest first."""
        ...


@codec.saveable
class TierCatalog:
    """A validated catalog of product families and their tiers.

    Build it with :meth:`from_pandas` (one row per item) or
    :meth:`from_mapping` (``{family: [lowest tier, ..., highest tier]}``).

    Tiers are ranks: higher is better, and several items of a family may
    share one (a laptop line with several "pro" models, a grocery family
    with several brands per price band, a plan sold monthly and yearly).  An
    upgrade of an item is any item of a strictly higher tier of its family;
    items of the same tier are never upgrades of each other.

    Validation (all raise ``ValueError`` naming the items, families or rows):
    an empty catalog; missing items or families; an item in two families, or
    twice in one; missing (NaN) or non-numeric tiers, an unknown tier label
    (:meth:`from_pandas` with ``tier_order``); non-numeric, missing (NaN) or
    negative prices.  A tier that is *cheaper* than a lower tier of its
    family (every price of the higher tier below every price of the lower
    one — usually a data error) warns by default (``price_order="warn"``, a
    ``UserWarning``); ``"error"`` raises instead and ``"ignore"`` accepts it
    silently.  Overlapping price ranges of neighbouring tiers are fine.

    Prices follow one rule in every constructor: a price is a finite number
    ``>= 0`` or *unknown*, and a NaN price is a ``ValueError`` (NaN is what
    :meth:`price_of` answers for an unknown price, never an input).  An
    unknown price is ``None`` in the ``prices`` sequence of ``TierCatalog(...)``
    (``prices=None``: all unknown), an item left out of the ``prices`` mapping
    of :meth:`from_mapping`; the price column of :meth:`from_pandas` must be
    complete.

    Attributes
    ----------
    items : numpy.ndarray
        All items, in the order given.
    families : numpy.ndarray
        The distinct families.

    Examples
    --------
    >>> catalog = TierCatalog.from_mapping(
    ...     {"phone": ["phone-64", "phone-128", "phone-256"], "case": ["case", "case-pro"]},
    ...     prices={"phone-64": 500, "phone-128": 600, "phone-256": 750,
    ...             "case": 20, "case-pro": 35},
    ...     features={"phone-256": {"pro camera"}})
    >>> catalog.higher_tiers("phone-64")
    ['phone-128', 'phone-256']
    >>> catalog.tier_of(["phone-128", "case", "cable"]).tolist()
    [2.0, 1.0, nan]
    >>> catalog.family_of(["case-pro", "cable"]).tolist()
    ['case', None]

    Several items may share a tier; an upgrade is a strictly higher tier:

    >>> laptops = TierCatalog.from_mapping(
    ...     {"laptop": ["air", ["pro-silver", "pro-grey"], "max"]})
    >>> laptops.higher_tiers("pro-silver")
    ['max']
    >>> laptops.higher_tiers("air")
    ['pro-silver', 'pro-grey', 'max']
    """

    def __init__(
        self,
        items: Sequence[ExternalId] | np.ndarray,
        families: Sequence[Any] | np.ndarray,
        tiers: Sequence[float] | np.ndarray,
        prices: Sequence[float | None] | np.ndarray | None = None,
        features: Sequence[Collection[Any]] | None = None,
        *,
        price_order: str = "warn",
    ) -> None:
        if price_order not in _PRICE_ORDER:
            raise ValueError(f"price_order must be one of {_PRICE_ORDER}, got {price_order!r}")
        items_arr = as_id_array(items, "catalog items")
        if items_arr.size == 0:
            raise ValueError("catalog is empty: at least one item is needed")
        check_id_types(items_arr, "catalog items")
        families_arr = np.asarray(as_id_array(families, "catalog families"), dtype=object)
        tiers_arr = np.asarray(tiers, dtype=np.float64)
        n = items_arr.size
        if families_arr.shape != (n,) or tiers_arr.shape != (n,):
            raise ValueError(f"items, families and tiers must have the same length {n}")
        if pd.isna(families_arr).any():
            raise ValueError(
                f"catalog items {shown(items_arr[pd.isna(families_arr)])} have no family"
            )
        bad = ~np.isfinite(tiers_arr)
        if bad.any():
            raise ValueError(
                f"catalog items {shown(items_arr[bad])} have a missing or infinite tier"
            )
        prices_arr = _price_array(prices, n, items_arr)
        feats = [frozenset()] * n if features is None else [frozenset(f) for f in features]
        if len(feats) != n:
            raise ValueError(f"features must have length {n}, got {len(feats)}")

        index = pd.Index(items_arr)
        if not index.is_unique:
            frame = pd.DataFrame({"item": items_arr, "family": families_arr})
            dup = frame[frame["item"].duplicated(keep=False)]
            for item, fams in dup.groupby("item", sort=False)["family"]:
                distinct = pd.unique(fams.to_numpy())
                if len(distinct) > 1:
                    raise ValueError(f"item {item!r} is in more than one family: {list(distinct)}")
                raise ValueError(f"item {item!r} is listed twice in family {distinct[0]!r}")
        self._index = index
        self._family = families_arr
        self._tier = tiers_arr
        self._price = prices_arr
        self._features = feats
        self._members: dict[Any, np.ndarray] = {}
        for family, pos in pd.Series(np.arange(n)).groupby(families_arr, sort=False):
            positions = pos.to_numpy()
            order = positions[np.argsort(tiers_arr[positions], kind="stable")]
            self._members[family] = order
            self._check_price_order(family, order, price_order)

    def _check_price_order(self, family: Any, order: np.ndarray, price_order: str) -> None:
        """Flag a tier whose every known price is below every known price of a lower tier."""
        if price_order == "ignore":
            return
        known = order[~np.isnan(self._price[order])]  # lowest tier first
        if known.size < 2:
            return
        prices, tiers = self._price[known], self._tier[known]
        starts = np.flatnonzero(np.r_[True, tiers[1:] != tiers[:-1]])
        cheapest = np.minimum.reduceat(prices, starts)  # per tier, lowest tier first
        dearest = np.maximum.reduceat(prices, starts)
        # the dearest item of a tier below a lower tier's cheapest one: the whole tier is cheaper
        floor = np.maximum.accumulate(cheapest)
        falls = np.flatnonzero(dearest[1:] < floor[:-1])
        if not falls.size:
            return
        t_hi = falls[0] + 1
        t_lo = int(np.flatnonzero(cheapest[:t_hi] == floor[t_hi - 1])[0])
        hi_items = known[starts[t_hi] : np.r_[starts, known.size][t_hi + 1]]
        lo_items = known[starts[t_lo] : np.r_[starts, known.size][t_lo + 1]]
        hi = hi_items[np.argmax(self._price[hi_items])]
        lo = lo_items[np.argmin(self._price[lo_items])]
        message = (
            f"family {family!r}: price falls as the tier rises: "
            f"{self._index[hi]!r} (tier {self._tier[hi]:g}, price {self._price[hi]:g}) costs less "
            f"than {self._index[lo]!r} (tier {self._tier[lo]:g}, price {self._price[lo]:g})"
            + (", and so does every item of its tier" if hi_items.size > 1 else "")
            + "; fix the data, or pass price_order='ignore' if it is intended"
        )
        if price_order == "error":
            raise ValueError(message)
        warnings.warn(message, UserWarning, stacklevel=4)

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_pandas(
        cls,
        df: pd.DataFrame,
        item_col: str,
        family_col: str,
        tier_col: str,
        price_col: str | None = None,
        feature_cols: Sequence[str] | None = None,
        *,
        tier_order: Sequence[Any] | None = None,
        price_order: str = "warn",
    ) -> TierCatalog:
        """Build a catalog from a frame with one row per item.

        Parameters
        ----------
        df : pandas.DataFrame
        item_col, family_col : str
            Item ID and family columns (no missing values).
        tier_col : str
            Numeric tier rank (higher is better; ranks need not be
            consecutive, and several items of a family may share one), or a
            tier label when ``tier_order`` is given.
        price_col : str, optional
            Non-negative prices (no missing values).
        feature_cols : sequence of str, optional
            Feature columns.  A boolean (or 0/1) column adds its *name* to the
            items where it is true; a column of lists/sets adds their
            elements; any other value adds ``"column=value"`` (missing values
            add nothing).
        tier_order : sequence, optional
            The tier labels from the lowest to the highest (``["free",
            "premium", "platinum"]``): ``tier_col`` then holds labels, ranked
            1, 2, ... in this order; a label not in it is a ``ValueError``.
        price_order : {"warn", "error", "ignore"}
            What to do when a whole tier is cheaper than a lower one.

        Returns
        -------
        TierCatalog

        Examples
        --------
        >>> plans = pd.DataFrame({"plan": ["free", "pro-m", "pro-y", "team"], "line": "saas",
        ...                       "level": ["free", "pro", "pro", "team"],
        ...                       "price": [0.0, 12.0, 10.0, 30.0]})
        >>> catalog = TierCatalog.from_pandas(plans, "plan", "line", "level", "price",
        ...                                   tier_order=["free", "pro", "team"])
        >>> catalog.higher_tiers("free"), catalog.tier_of(["pro-y"]).tolist()
        (['pro-m', 'pro-y', 'team'], [2.0])

        >>> df = pd.DataFrame({"sku": ["tv-hd", "tv-4k", "tv-oled"], "line": "tv",
        ...                    "rank": [1, 2, 3], "price": [300.0, 450.0, 900.0],
        ...                    "hdr": [False, True, True],
        ...                    "panel": ["lcd", "lcd", "oled"]})
        >>> catalog = TierCatalog.from_pandas(df, "sku", "line", "rank", "price", ["hdr", "panel"])
        >>> sorted(catalog.features_of("tv-oled"))
        ['hdr', 'panel=oled']
        """
        df = require_dataframe(df, "catalog")
        feature_cols = list(feature_cols or [])
        require_columns(df, [item_col, family_col, tier_col, price_col, *feature_cols], "catalog")
        require_no_missing(df, item_col, "catalog")
        require_no_missing(df, family_col, "catalog")
        tiers = (
            _tier_ranks(df, tier_col, tier_order)
            if tier_order is not None
            else _numeric_tiers(df, tier_col)
        )
        prices = numeric_column(df, price_col, "catalog") if price_col is not None else None
        features = _feature_sets(df, feature_cols) if feature_cols else None
        return cls(
            df[item_col].to_numpy(),
            df[family_col].to_numpy(),
            tiers,
            prices,
            features,
            price_order=price_order,
        )

    @classmethod
    def from_mapping(
        cls,
        families: Mapping[Any, Sequence[ExternalId]],
        prices: Mapping[ExternalId, float] | None = None,
        features: Mapping[ExternalId, Iterable[Any]] | None = None,
        *,
        price_order: str = "warn",
    ) -> TierCatalog:
        """Build a catalog from ``{family: [tier 1 item, tier 2 item, ...]}``.

        Parameters
        ----------
        families : mapping
            Each family's tiers from the lowest to the highest (tier ranks 1,
            2, ...).  A tier is one item, or a list or set of the items that
            share it (``["air", ["pro-silver", "pro-grey"], "max"]``; a tuple is
            one item ID).
            An item may appear once in one chain only.
        prices : mapping, optional
            ``{item: price}``; items left out have an unknown price.
        features : mapping, optional
            ``{item: iterable of features}`` (a string is one feature).
        price_order : {"warn", "error", "ignore"}

        Returns
        -------
        TierCatalog

        Examples
        --------
        >>> TierCatalog.from_mapping({"mug": ["small", "large", "small"]})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: family 'mug' lists item 'small' twice (a tier chain must not repeat an ...)
        """
        if not isinstance(families, Mapping):
            raise TypeError(
                "families must be a mapping {family: [items by tier]}, "
                f"got {type(families).__name__}"
            )
        if not families:
            raise ValueError("catalog is empty: at least one family is needed")
        items: list[Any] = []
        fams: list[Any] = []
        tiers: list[float] = []
        where: dict[Any, Any] = {}
        for family, chain in families.items():
            if isinstance(chain, (str, bytes)) or not isinstance(chain, Iterable):
                raise TypeError(
                    f"family {family!r} must map to a list of items by tier, got {chain!r}"
                )
            chain = list(chain)
            if not chain:
                raise ValueError(f"family {family!r} has no items")
            for rank, item in _chain_entries(family, chain):
                if item in where:
                    if where[item] == family:
                        raise ValueError(
                            f"family {family!r} lists item {item!r} twice "
                            "(a tier chain must not repeat an item or cycle)"
                        )
                    raise ValueError(
                        f"item {item!r} is in more than one family: {[where[item], family]}"
                    )
                where[item] = family
                items.append(item)
                fams.append(family)
                tiers.append(float(rank))
        price_arr: list[Any] | None = None
        if prices is not None:
            unknown = [k for k in prices if k not in where]
            if unknown:
                raise UnknownIdError(f"prices name item(s) not in any family: {shown(unknown)}")
            given = [i for i in items if i in prices]
            missing = [i for i in given if prices[i] is None or pd.isna(prices[i])]
            if missing:
                raise ValueError(
                    f"prices of item(s) {shown(missing)} are missing (NaN); leave them out instead"
                )
            price_arr = [prices.get(i) for i in items]  # None: unknown
        feats = None
        if features is not None:
            unknown = [k for k in features if k not in where]
            if unknown:
                raise UnknownIdError(f"features name item(s) not in any family: {shown(unknown)}")
            feats = [_as_feature_set(features.get(i, ())) for i in items]
        return cls(
            np.array(items, dtype=object) if _mixed(items) else np.array(items),
            np.array(fams, dtype=object),
            tiers,
            price_arr,
            feats,
            price_order=price_order,
        )

    # ----------------------------------------------------------------- queries
    @property
    def items(self) -> np.ndarray:
        """All catalog items, in the order given."""
        return self._index.to_numpy()

    @property
    def families(self) -> np.ndarray:
        """The distinct families, in order of first appearance."""
        return np.array(list(self._members), dtype=object)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, item: Any) -> bool:
        try:
            return bool(self._index.get_indexer([item])[0] >= 0)
        except TypeError:
            return False

    def __repr__(self) -> str:
        return f"TierCatalog({len(self)} items in {len(self._members)} families)"

    def _positions(self, items: Iterable[Any] | np.ndarray) -> np.ndarray:
        values = as_id_array(items, "items")
        if values.size == 0:
            return np.empty(0, dtype=np.int64)
        if values.size <= _FEW:  # a shop-front call: dict lookups, not a pandas index search
            lookup = self._lookup_table()
            try:
                return np.fromiter(
                    (lookup.get(v, -1) for v in values.tolist()), dtype=np.int64, count=values.size
                )
            except TypeError:  # unhashable values: the index search below explains
                pass
        try:
            return np.asarray(self._index.get_indexer(values), dtype=np.int64)
        except TypeError:
            return np.asarray(
                [self._index.get_loc(v) if v in self else -1 for v in values], dtype=np.int64
            )

    def _lookup_table(self) -> dict[Any, int]:
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = self.__dict__["_lookup"] = dict(
                zip(self._index.tolist(), range(len(self._index)), strict=True)
            )
        return lookup

    def _position(self, item: Any) -> int:
        # one item at a time (higher_tiers, features_of): a dict lookup, not a pandas index search
        lookup = self._lookup_table()
        try:
            pos = lookup.get(item, -1)
        except TypeError:  # unhashable
            pos = -1
        if (
            pos < 0 and item in self
        ):  # e.g. a NumPy scalar that hashes differently from its Python twin
            pos = int(self._positions([item])[0])
        if pos < 0:
            raise UnknownIdError(f"item {item!r} is not in the catalog")
        return int(pos)

    def family_of(self, items: ExternalIds) -> np.ndarray:
        """Return the family of each item (object array; ``None`` for items not in the catalog).

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a", "b"]}).family_of(["b", "z"]).tolist()
        ['f', None]
        """
        pos = self._positions(items)
        out = np.full(pos.size, None, dtype=object)
        known = pos >= 0
        out[known] = self._family[pos[known]]
        return out

    def tier_of(self, items: ExternalIds) -> np.ndarray:
        """Return the tier rank of each item (float; NaN for items not in the catalog).

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a", "b"]}).tier_of(["b", "z"]).tolist()
        [2.0, nan]
        """
        pos = self._positions(items)
        return np.where(pos >= 0, self._tier[np.maximum(pos, 0)], np.nan)

    def price_of(self, items: ExternalIds) -> np.ndarray:
        """Return the price of each item (float; NaN when unknown or not in the catalog).

        Examples
        --------
        >>> catalog = TierCatalog.from_mapping({"f": ["a", "b"]}, prices={"b": 9.5})
        >>> catalog.price_of(["a", "b"]).tolist()
        [nan, 9.5]
        """
        pos = self._positions(items)
        return np.where(pos >= 0, self._price[np.maximum(pos, 0)], np.nan)

    def features_of(self, item: ExternalId) -> frozenset:
        """Return the features of ``item`` (a ``KeyError`` if it is not in the catalog).

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a"]}, features={"a": ["wifi"]}).features_of("a")
        frozenset({'wifi'})
        """
        return self._features[self._position(item)]

    def higher_tiers(self, item: ExternalId) -> list[ExternalId]:
        """Return the items of ``item``'s family with a strictly higher tier, lowest first.

        A ``KeyError`` if ``item`` is not in the catalog.

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a", "b", "c"]}).higher_tiers("a")
        ['b', 'c']
        """
        pos = self._position(item)
        members = self._members[self._family[pos]]
        above = members[self._tier[members] > self._tier[pos]]
        return self._index[above].tolist()

    def family_members(self, family: Any) -> list[ExternalId]:
        """Return all items of ``family``, lowest tier first (a ``KeyError`` if unknown).

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a", "b"]}).family_members("f")
        ['a', 'b']
        """
        if family not in self._members:
            raise UnknownIdError(f"family {family!r} is not in the catalog")
        return self._index[self._members[family]].tolist()

    # ------------------------------------------------------------- persistence
    def save(self, path: Any, *, compress: bool = False) -> None:
        """Save the catalog to ``path``: arrays and JSON, never pickle, written atomically.

        Items, families and features must be ints, floats, bools or strings
        (one type each); see :mod:`recsys.io.codec` for the format.  Read it
        back with :meth:`load` or :func:`recsys.load`.

        Parameters
        ----------
        path : str or os.PathLike
            Written exactly there (no extension is added; ``.npz`` is customary).
        compress : bool
            Deflate the arrays.

        Examples
        --------
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "tiers.npz")
        >>> TierCatalog.from_mapping({"mug": ["small", "large"]}).save(path)
        >>> TierCatalog.load(path).higher_tiers("small")
        ['large']
        """
        codec.save_object(self, path, compress=compress)

    @classmethod
    def load(cls, path: Any) -> TierCatalog:
        """Load a catalog saved with :meth:`save`; the file must hold a ``TierCatalog``.

        ``TierCatalog.load(path)`` is ``recsys.load(path, expected=TierCatalog)``.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        TierCatalog

        Raises
        ------
        FileNotFoundError
            No such file.
        ValueError
            Naming the file and the problem: it holds a model, it is not a
            recsys file, it is truncated, corrupted or inconsistent, or a newer
            recsys wrote it.

        Examples
        --------
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "tiers.npz")
        >>> TierCatalog.from_mapping({"mug": ["small", "large"]}).save(path)
        >>> TierCatalog.load(path).family_members("mug")
        ['small', 'large']
        """
        return codec.load_object(path, expected=cls)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        codec.put_ids(meta, arrays, "items", self._index.to_numpy(), index_dtype=self._index.dtype)
        codec.put_ids(meta, arrays, "families", self._family)
        arrays["tiers"], arrays["prices"] = (
            self._tier.astype(np.float64),
            self._price.astype(np.float64),
        )
        flat = [f for feats in self._features for f in feats]
        codes, vocabulary = (
            pd.factorize(np.array(flat, dtype=object)) if flat else (np.empty(0, np.int64), [])
        )
        codec.put_ids(meta, arrays, "features.vocabulary", np.array(list(vocabulary), dtype=object))
        arrays["features.indptr"] = np.concatenate(
            [[0], np.cumsum([len(f) for f in self._features])]
        ).astype(np.int64)
        arrays["features.indices"] = np.asarray(codes, dtype=np.int64)
        return meta, arrays

    @classmethod
    def _from_state(
        cls, params: dict[str, Any], meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> TierCatalog:
        items = codec.get_ids(meta, arrays, "items")
        vocabulary = codec.get_ids(meta, arrays, "features.vocabulary")
        indptr, indices = arrays["features.indptr"], arrays["features.indices"]
        codec.check_csr_parts(indptr, indices, (items.size, vocabulary.size), "features")
        features = [
            frozenset(vocabulary[indices[a:b]].tolist())
            for a, b in zip(indptr[:-1], indptr[1:], strict=True)
        ]
        catalog = cls(
            items,
            codec.get_ids(meta, arrays, "families"),
            arrays["tiers"],
            _unknown_as_none(arrays["prices"]),  # saved with NaN for an unknown price
            features,
            price_order="ignore",
        )
        wanted = meta["items"].get("index_dtype")
        if wanted is not None and str(catalog._index.dtype) != wanted:
            try:  # the dtype the items' index had: it must hold the same items
                index = catalog._index.astype(wanted)
            except Exception as err:  # pandas raises TypeError, ValueError, NotImplementedError
                raise ValueError(f"items: bad index_dtype {wanted!r}") from err
            if not (index.equals(catalog._index) and index.is_unique):
                raise ValueError(f"items: index_dtype {wanted!r} changes the items")
            catalog._index = index
        return catalog

    # ----------------------------------------------------------------- helpers
    def to_pandas(self) -> pd.DataFrame:
        """Return one row per item: ``item, family, tier, price, features`` (by family, tier).

        Examples
        --------
        >>> catalog = TierCatalog.from_mapping({"f": ["a", "b"]})
        >>> catalog.to_pandas()[["item", "tier"]].values.tolist()
        [['a', 1.0], ['b', 2.0]]
        """
        order = np.concatenate(list(self._members.values()))
        return pd.DataFrame(
            {
                "item": self._index.to_numpy()[order],
                "family": self._family[order],
                "tier": self._tier[order],
                "price": self._price[order],
                "features": [self._features[i] for i in order],
            }
        )

    def attributes(self) -> pd.DataFrame:
        """Return ``family, tier, price`` indexed by item, for ``Rules(item_attributes=...)``.

        Examples
        --------
        >>> catalog = TierCatalog.from_mapping({"f": ["a"]}, prices={"a": 2.0})
        >>> catalog.attributes().loc["a", "price"]
        np.float64(2.0)
        """
        frame = self.to_pandas().drop(columns="features")
        return frame.set_index("item")

    def restrict_to(self, items: ExternalIds) -> TierCatalog:
        """Return the catalog without the items not in ``items`` (e.g. those a model never saw).

        Families keep their order of tiers; families left empty are dropped.

        Examples
        --------
        >>> catalog = TierCatalog.from_mapping({"f": ["a", "b", "c"], "g": ["x"]})
        >>> catalog.restrict_to(["a", "c"]).higher_tiers("a")
        ['c']
        """
        keep_values = pd.Index(as_id_array(items, "items"))
        keep = np.asarray(self._index.isin(keep_values))
        if not keep.any():
            raise ValueError(
                "restrict_to would leave the catalog empty: none of its items are in `items`"
            )
        return TierCatalog(
            self._index.to_numpy()[keep],
            self._family[keep],
            self._tier[keep],
            _unknown_as_none(self._price[keep]),
            [f for f, k in zip(self._features, keep, strict=True) if k],
            price_order="ignore",
        )

    def check_against(self, model: Any, errors: str = "raise") -> list[ExternalId]:
        """Check that every catalog item is known to ``model``; see :func:`check_catalog`.

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.Popularity().fit(data)
        >>> TierCatalog.from_mapping({"f": ["a", "b", "c"]}).check_against(model, errors="return")
        ['c']
        """
        return unknown_catalog_items(self.items, model, errors)


def _chain_entries(family: Any, chain: list[Any]) -> Iterator[tuple[int, Any]]:
    """Yield ``(tier rank, item)`` of a family's chain; a list or set is one shared tier."""
    for rank, tier in enumerate(chain, start=1):
        if isinstance(tier, (list, set, frozenset)):
            if not tier:
                raise ValueError(f"family {family!r} has an empty tier at position {rank}")
            shared = sorted(tier, key=repr) if isinstance(tier, (set, frozenset)) else tier
            for item in shared:
                yield rank, item
        else:
            yield rank, tier


def _numeric_tiers(df: pd.DataFrame, tier_col: str) -> np.ndarray:
    """Return the tier column as float ranks; labels need ``tier_order`` (said in the error)."""
    try:
        return numeric_column(df, tier_col, "catalog", allow_negative=True)
    except ValueError as err:
        if "non-numeric" in str(err):
            raise ValueError(
                f"{err}; tiers are numeric ranks (higher is better), or labels ranked by "
                "tier_order=[lowest, ..., highest]"
            ) from None
        raise


def _tier_ranks(df: pd.DataFrame, tier_col: str, tier_order: Sequence[Any]) -> np.ndarray:
    """Return the rank (1, 2, ...) of each row's tier label in ``tier_order``."""
    if isinstance(tier_order, (str, bytes)) or not isinstance(tier_order, Iterable):
        raise TypeError(
            f"tier_order must be a list of tier labels, lowest first, got {tier_order!r}"
        )
    order = list(tier_order)
    if not order:
        raise ValueError("tier_order is empty: list the tier labels from the lowest to the highest")
    if len(set(order)) != len(order):
        raise ValueError(f"tier_order lists a label twice: {order}")
    require_no_missing(df, tier_col, "catalog")
    ranks = df[tier_col].map({label: float(r) for r, label in enumerate(order, start=1)})
    unknown = ranks.isna().to_numpy()
    if unknown.any():
        labels = pd.unique(df[tier_col].to_numpy()[unknown])
        raise ValueError(
            f"catalog column {tier_col!r} has tier label(s) {shown(labels.tolist())} "
            f"not in tier_order {order}"
        )
    return ranks.to_numpy(dtype=np.float64)


def _price_array(prices: Any, n: int, items: np.ndarray) -> np.ndarray:
    """Return the constructor's ``prices`` as float64, NaN where ``None`` (unknown).

    A NaN given as a price, a negative or an infinite price is a ``ValueError``.
    """
    if prices is None:
        return np.full(n, np.nan)
    if isinstance(prices, np.ndarray) and prices.dtype.kind in "iufb":
        raw = prices
        unknown = np.zeros(raw.shape, dtype=bool)
    else:
        raw = np.empty(len(prices), dtype=object)
        raw[:] = list(prices)
        unknown = np.array([v is None for v in raw], dtype=bool)
        missing = np.array([pd.api.types.is_scalar(v) and bool(pd.isna(v)) for v in raw])
        raw[missing.astype(bool)] = np.nan  # None, NaN, pd.NA
    if raw.shape != (n,):
        raise ValueError(f"prices must have length {n}, got shape {raw.shape}")
    out = raw.astype(np.float64)
    nan_given = np.isnan(out) & ~unknown
    if nan_given.any():
        raise ValueError(
            f"catalog items {shown(items[nan_given].tolist())} have a missing (NaN) price; "
            "pass None for a price that is unknown"
        )
    bad = np.isinf(out) | (out < 0)
    if bad.any():
        raise ValueError(
            f"catalog items {shown(items[bad].tolist())} have a negative or infinite price"
        )
    return out


def _unknown_as_none(prices: np.ndarray) -> list[float | None]:
    """Return float prices as the constructor takes them: ``None`` where NaN (unknown)."""
    return [None if np.isnan(p) else float(p) for p in prices]


def _mixed(values: list[Any]) -> bool:
    return len({type(v) for v in values}) > 1 or any(isinstance(v, tuple) for v in values)


def _as_feature_set(value: Any) -> frozenset:
    if isinstance(value, (str, bytes)):
        return frozenset([value])
    if isinstance(value, Mapping):
        return frozenset(value)
    if isinstance(value, Iterable):
        return frozenset(value)
    if value is None or (np.isscalar(value) and pd.isna(value)):
        return frozenset()
    return frozenset([value])


def _feature_sets(df: pd.DataFrame, feature_cols: Sequence[str]) -> list[frozenset]:
    per_col: list[list[frozenset]] = []
    for col in feature_cols:
        series = df[col]
        values = series.to_numpy()
        if pd.api.types.is_bool_dtype(series) or (
            pd.api.types.is_numeric_dtype(series) and series.dropna().isin([0, 1]).all()
        ):
            truthy = series.fillna(False).astype(bool).to_numpy()
            per_col.append([frozenset([col]) if t else frozenset() for t in truthy])
            continue
        sets = []
        for v in values:
            if isinstance(v, (list, tuple, set, frozenset, np.ndarray)):
                sets.append(frozenset(v))
            elif v is None or (np.isscalar(v) and pd.isna(v)):
                sets.append(frozenset())
            else:
                sets.append(frozenset([f"{col}={v}"]))
        per_col.append(sets)
    return [frozenset().union(*row) for row in zip(*per_col, strict=True)]
