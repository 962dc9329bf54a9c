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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from recsys._utils.sparse import row_positions
from recsys.data.ids import _as_1d_array, check_id_types
from recsys.data.validation import (
    numeric_column,
    require_columns,
    require_dataframe,
    require_no_missing,
)
from recsys.exceptions import UnknownIdError

__all__ = ["CatalogView", "TierCatalog", "TierCatalogProtocol", "catalog_view", "check_catalog"]

_MAX_SHOWN = 10
_PRICE_ORDER = ("error", "warn", "ignore")


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
    ...     def tier_of(self, items): return np.array([self.items.index(i) for i in items], dtype=float)
    ...     def price_of(self, items): return np.full(len(items), np.nan)
    ...     def features_of(self, item): return set()
    ...     def higher_tiers(self, item): return self.items[self.items.index(item) + 1:]
    >>> isinstance(Shelf(), TierCatalogProtocol)
    True
    """

    @property
    def items(self) -> Sequence[Any] | np.ndarray:
        """Every item of the catalog (external IDs)."""
        ...

    def family_of(self, items: Sequence[Any] | np.ndarray) -> np.ndarray:
        """The family of each item; ``None`` (or NaN) for items in no family."""
        ...

    def tier_of(self, items: Sequence[Any] | np.ndarray) -> np.ndarray:
        """The tier rank (float or int) of each item; NaN for items in no family."""
        ...

    def price_of(self, items: Sequence[Any] | np.ndarray) -> np.ndarray:
        """The price of each item as float; NaN when unknown."""
        ...

    def features_of(self, item: Any) -> Collection[Any] | Mapping[Any, Any]:
        """The features of one item (a set, or a dict whose keys are the features)."""
        ...

    def higher_tiers(self, item: Any) -> Sequence[Any]:
        """Items of the same family with a strictly higher tier, ascending by tier."""
        ...


def _shown(values: Iterable[Any]) -> list[Any]:
    values = list(values)
    return values[:_MAX_SHOWN] + (["..."] if len(values) > _MAX_SHOWN else [])


class TierCatalog:
    """A validated catalog of product families and their tiers.

    Build it with :meth:`from_pandas` (one row per item) or
    :meth:`from_mapping` (``{family: [lowest tier, ..., highest tier]}``).

    Validation (all raise ``ValueError`` naming the items, families or rows):
    an empty catalog; missing items or families; an item in two families, or
    twice in one; two items at the same tier of a family; missing (NaN) tiers
    or prices and negative prices; a family whose price *falls* as the tier
    rises (``price_order="error"``, the default — a cheaper "upgrade" is
    usually a data error; ``"warn"`` issues a ``UserWarning`` instead and
    ``"ignore"`` accepts it silently).  Equal prices at consecutive tiers are
    fine.

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
    ...     prices={"phone-64": 500, "phone-128": 600, "phone-256": 750, "case": 20, "case-pro": 35},
    ...     features={"phone-256": {"pro camera"}})
    >>> catalog.higher_tiers("phone-64")
    ['phone-128', 'phone-256']
    >>> catalog.tier_of(["phone-128", "case", "cable"]).tolist()
    [2.0, 1.0, nan]
    >>> catalog.family_of(["case-pro", "cable"]).tolist()
    ['case', None]
    """

    def __init__(
        self,
        items: Sequence[Any] | np.ndarray,
        families: Sequence[Any] | np.ndarray,
        tiers: Sequence[float] | np.ndarray,
        prices: Sequence[float] | np.ndarray | None = None,
        features: Sequence[Collection[Any]] | None = None,
        *,
        price_order: str = "error",
    ) -> None:
        if price_order not in _PRICE_ORDER:
            raise ValueError(f"price_order must be one of {_PRICE_ORDER}, got {price_order!r}")
        items_arr = _as_1d_array(items, "catalog items")
        if items_arr.size == 0:
            raise ValueError("catalog is empty: at least one item is needed")
        check_id_types(items_arr, "catalog items")
        families_arr = np.asarray(_as_1d_array(families, "catalog families"), dtype=object)
        tiers_arr = np.asarray(tiers, dtype=np.float64)
        n = items_arr.size
        if families_arr.shape != (n,) or tiers_arr.shape != (n,):
            raise ValueError(f"items, families and tiers must have the same length {n}")
        if pd.isna(families_arr).any():
            raise ValueError(
                f"catalog items {_shown(items_arr[pd.isna(families_arr)])} have no family"
            )
        bad = ~np.isfinite(tiers_arr)
        if bad.any():
            raise ValueError(
                f"catalog items {_shown(items_arr[bad])} have a missing or infinite tier"
            )
        prices_arr = np.full(n, np.nan) if prices is None else np.asarray(prices, dtype=np.float64)
        if prices_arr.shape != (n,):
            raise ValueError(f"prices must have length {n}, got shape {prices_arr.shape}")
        if np.isinf(prices_arr).any() or (prices_arr < 0).any():
            bad_p = np.isinf(prices_arr) | (prices_arr < 0)
            raise ValueError(
                f"catalog items {_shown(items_arr[bad_p])} have a negative or infinite price"
            )
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
            ranks = tiers_arr[order]
            same = np.flatnonzero(ranks[1:] == ranks[:-1])
            if same.size:
                a, b = order[same[0]], order[same[0] + 1]
                raise ValueError(
                    f"family {family!r} has items {items_arr[a]!r} and {items_arr[b]!r} at the same tier {ranks[same[0]]:g}"
                )
            self._members[family] = order
            self._check_price_order(family, order, price_order)
        self._view_cache: tuple[Any, CatalogView] | None = None

    def _check_price_order(self, family: Any, order: np.ndarray, price_order: str) -> None:
        if price_order == "ignore":
            return
        prices = self._price[order]
        known = order[~np.isnan(prices)]
        known_prices = self._price[known]
        falls = np.flatnonzero(known_prices[1:] < known_prices[:-1])
        if not falls.size:
            return
        lo, hi = known[falls[0]], known[falls[0] + 1]
        message = (
            f"family {family!r}: price falls as the tier rises: {self._index[hi]!r} (tier {self._tier[hi]:g}, "
            f"price {self._price[hi]:g}) costs less than {self._index[lo]!r} (tier {self._tier[lo]:g}, "
            f"price {self._price[lo]:g}); fix the data or pass price_order='warn' or 'ignore'"
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
        price_order: str = "error",
    ) -> TierCatalog:
        """Build a catalog from a frame with one row per item.

        Parameters
        ----------
        df : pandas.DataFrame
        item_col, family_col : str
            Item ID and family columns (no missing values).
        tier_col : str
            Numeric tier rank: higher is better; ranks need not be
            consecutive but must differ within a family.
        price_col : str, optional
            Non-negative prices (no missing values).
        feature_cols : sequence of str, optional
            Feature columns.  A boolean (or 0/1) column adds its *name* to the
            items where it is true; a column of lists/sets adds their
            elements; any other value adds ``"column=value"`` (missing values
            add nothing).
        price_order : {"error", "warn", "ignore"}
            What to do when a price falls as the tier rises.

        Returns
        -------
        TierCatalog

        Examples
        --------
        >>> df = pd.DataFrame({"sku": ["tv-hd", "tv-4k", "tv-oled"], "line": "tv", "rank": [1, 2, 3],
        ...                    "price": [300.0, 450.0, 900.0], "hdr": [False, True, True],
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
        tiers = numeric_column(df, tier_col, "catalog", allow_negative=True)
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
        families: Mapping[Any, Sequence[Any]],
        prices: Mapping[Any, float] | None = None,
        features: Mapping[Any, Iterable[Any]] | None = None,
        *,
        price_order: str = "error",
    ) -> TierCatalog:
        """Build a catalog from ``{family: [tier 1 item, tier 2 item, ...]}``.

        Parameters
        ----------
        families : mapping
            Each family's items from the lowest to the highest tier (tier
            ranks 1, 2, ...).  An item may appear once in one chain only.
        prices : mapping, optional
            ``{item: price}``; items left out have an unknown price.
        features : mapping, optional
            ``{item: iterable of features}`` (a string is one feature).
        price_order : {"error", "warn", "ignore"}

        Returns
        -------
        TierCatalog

        Examples
        --------
        >>> TierCatalog.from_mapping({"mug": ["small", "large", "small"]})
        Traceback (most recent call last):
        ...
        ValueError: family 'mug' lists item 'small' twice (a tier chain must not repeat an item or cycle)
        """
        if not isinstance(families, Mapping):
            raise TypeError(
                f"families must be a mapping {{family: [items by tier]}}, got {type(families).__name__}"
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
            for rank, item in enumerate(chain, start=1):
                if item in where:
                    if where[item] == family:
                        raise ValueError(
                            f"family {family!r} lists item {item!r} twice (a tier chain must not repeat an item or cycle)"
                        )
                    raise ValueError(
                        f"item {item!r} is in more than one family: {[where[item], family]}"
                    )
                where[item] = family
                items.append(item)
                fams.append(family)
                tiers.append(float(rank))
        price_arr = None
        if prices is not None:
            unknown = [k for k in prices if k not in where]
            if unknown:
                raise UnknownIdError(f"prices name item(s) not in any family: {_shown(unknown)}")
            price_arr = np.array([prices.get(i, np.nan) for i in items], dtype=np.float64)
            given = [i for i in items if i in prices]
            missing = [i for i in given if pd.isna(prices[i])]
            if missing:
                raise ValueError(
                    f"prices of item(s) {_shown(missing)} are missing (NaN); leave them out instead"
                )
        feats = None
        if features is not None:
            unknown = [k for k in features if k not in where]
            if unknown:
                raise UnknownIdError(f"features name item(s) not in any family: {_shown(unknown)}")
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
        values = _as_1d_array(items, "items")
        if values.size == 0:
            return np.empty(0, dtype=np.int64)
        try:
            return np.asarray(self._index.get_indexer(values), dtype=np.int64)
        except TypeError:
            return np.asarray(
                [self._index.get_loc(v) if v in self else -1 for v in values], dtype=np.int64
            )

    def _position(self, item: Any) -> int:
        # one item at a time (higher_tiers, features_of): a dict lookup, not a pandas index search
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = self.__dict__["_lookup"] = dict(
                zip(self._index.tolist(), range(len(self._index)), strict=True)
            )
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

    def family_of(self, items: Iterable[Any] | np.ndarray) -> np.ndarray:
        """The family of each item (object array; ``None`` for items not in the catalog).

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

    def tier_of(self, items: Iterable[Any] | np.ndarray) -> np.ndarray:
        """The tier rank of each item (float; NaN for items not in the catalog).

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a", "b"]}).tier_of(["b", "z"]).tolist()
        [2.0, nan]
        """
        pos = self._positions(items)
        return np.where(pos >= 0, self._tier[np.maximum(pos, 0)], np.nan)

    def price_of(self, items: Iterable[Any] | np.ndarray) -> np.ndarray:
        """The price of each item (float; NaN when unknown or not in the catalog).

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a", "b"]}, prices={"b": 9.5}).price_of(["a", "b"]).tolist()
        [nan, 9.5]
        """
        pos = self._positions(items)
        return np.where(pos >= 0, self._price[np.maximum(pos, 0)], np.nan)

    def features_of(self, item: Any) -> frozenset:
        """The features of ``item`` (a ``KeyError`` if it is not in the catalog).

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a"]}, features={"a": ["wifi"]}).features_of("a")
        frozenset({'wifi'})
        """
        return self._features[self._position(item)]

    def higher_tiers(self, item: Any) -> list[Any]:
        """Items of ``item``'s family with a strictly higher tier, lowest first.

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

    def family_members(self, family: Any) -> list[Any]:
        """All items of ``family``, lowest tier first (a ``KeyError`` if unknown).

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
        """Save the catalog to ``path`` (arrays and JSON, never pickle); read it back with :func:`recsys.load`.

        Items, families and features must be ints, floats, bools or strings
        (one type each); see :mod:`recsys.persistence` for the format.
        """
        from recsys.persistence import save

        save(self, path, compress=compress)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        from recsys import persistence

        meta: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        persistence.put_ids(
            meta, arrays, "items", self._index.to_numpy(), index_dtype=self._index.dtype
        )
        persistence.put_ids(meta, arrays, "families", self._family)
        arrays["tiers"], arrays["prices"] = (
            self._tier.astype(np.float64),
            self._price.astype(np.float64),
        )
        flat = [f for feats in self._features for f in feats]
        codes, vocabulary = (
            pd.factorize(np.array(flat, dtype=object)) if flat else (np.empty(0, np.int64), [])
        )
        persistence.put_ids(
            meta, arrays, "features.vocabulary", np.array(list(vocabulary), dtype=object)
        )
        arrays["features.indptr"] = np.concatenate(
            [[0], np.cumsum([len(f) for f in self._features])]
        ).astype(np.int64)
        arrays["features.indices"] = np.asarray(codes, dtype=np.int64)
        return meta, arrays

    @classmethod
    def _from_state(
        cls, params: dict[str, Any], meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> TierCatalog:
        from recsys import persistence

        items = persistence.get_ids(meta, arrays, "items")
        vocabulary = persistence.get_ids(meta, arrays, "features.vocabulary")
        indptr, indices = arrays["features.indptr"], arrays["features.indices"]
        persistence.check_csr_parts(indptr, indices, (items.size, vocabulary.size), "features")
        features = [
            frozenset(vocabulary[indices[a:b]].tolist())
            for a, b in zip(indptr[:-1], indptr[1:], strict=True)
        ]
        catalog = cls(
            items,
            persistence.get_ids(meta, arrays, "families"),
            arrays["tiers"],
            arrays["prices"],
            features,
            price_order="ignore",
        )
        wanted = meta["items"].get("index_dtype")
        if wanted is not None and str(catalog._index.dtype) != wanted:
            catalog._index = catalog._index.astype(wanted)
        return catalog

    # ----------------------------------------------------------------- helpers
    def to_pandas(self) -> pd.DataFrame:
        """One row per item: ``item, family, tier, price, features`` (sorted by family, tier).

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a", "b"]}).to_pandas()[["item", "tier"]].values.tolist()
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
        """``family, tier, price`` indexed by item, ready for ``Rules(item_attributes=...)``.

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a"]}, prices={"a": 2.0}).attributes().loc["a", "price"]
        np.float64(2.0)
        """
        frame = self.to_pandas().drop(columns="features")
        return frame.set_index("item")

    def restrict_to(self, items: Iterable[Any]) -> TierCatalog:
        """The catalog without the items not in ``items`` (e.g. those a model never saw).

        Families keep their order of tiers; families left empty are dropped.

        Examples
        --------
        >>> TierCatalog.from_mapping({"f": ["a", "b", "c"], "g": ["x"]}).restrict_to(["a", "c"]).higher_tiers("a")
        ['c']
        """
        keep_values = pd.Index(_as_1d_array(items, "items"))
        keep = np.asarray(self._index.isin(keep_values))
        if not keep.any():
            raise ValueError(
                "restrict_to would leave the catalog empty: none of its items are in `items`"
            )
        return TierCatalog(
            self._index.to_numpy()[keep],
            self._family[keep],
            self._tier[keep],
            self._price[keep],
            [f for f, k in zip(self._features, keep, strict=True) if k],
            price_order="ignore",
        )

    def check_against(self, model: Any, errors: str = "raise") -> list[Any]:
        """Check that every catalog item is known to ``model``; see :func:`check_catalog`.

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
        >>> model = recsys.Popularity().fit(recsys.Interactions.from_pandas(log, user_col="user", item_col="item"))
        >>> TierCatalog.from_mapping({"f": ["a", "b", "c"]}).check_against(model, errors="return")
        ['c']
        """
        return check_catalog(self, model, errors)


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


# ---------------------------------------------------------------------------
# aligning a catalog with a model
# ---------------------------------------------------------------------------


def check_catalog(catalog: TierCatalogProtocol, model: Any, errors: str = "raise") -> list[Any]:
    """Catalog items unknown to a fitted model.

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
    >>> model = recsys.Popularity().fit(recsys.Interactions.from_pandas(log, user_col="user", item_col="item"))
    >>> check_catalog(TierCatalog.from_mapping({"f": ["a", "b"]}), model)
    []
    """
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    if not isinstance(catalog, TierCatalogProtocol):
        raise TypeError(f"catalog must implement TierCatalogProtocol, got {type(catalog).__name__}")
    if not hasattr(model, "item_ids_"):
        raise TypeError(f"model must be a fitted recommender, got {type(model).__name__}")
    items = _as_1d_array(catalog.items, "catalog items")
    rows = (
        model.item_ids_.to_rows(items, missing="ignore")
        if items.size
        else np.empty(0, dtype=np.int32)
    )
    unknown = items[rows < 0].tolist()
    if unknown and errors == "raise":
        hint = (
            "none of the catalog items are known to the model: do the catalog and the model use the same item IDs "
            f"(catalog {type(items[0]).__name__} IDs like {items[0]!r}, model IDs like "
            f"{model.item_ids_.external_ids[0]!r})?"
            if len(unknown) == items.size
            else "drop them with catalog.restrict_to(model.item_ids_.external_ids)"
        )
        raise UnknownIdError(
            f"{len(unknown)} of {items.size} catalog item(s) are unknown to the model: {_shown(unknown)}; {hint}"
        )
    return unknown


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
        Position of the item within its family, 0 = lowest tier (``-1``
        outside the catalog); tier jumps are counted in these steps.
    unknown : tuple
        Catalog items the model does not know (left out).
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
        ...                    np.array([0, 2]), np.array([0, 1], dtype=np.int32), np.array([1.0, 2.0, np.nan]),
        ...                    np.array([0, 1, -1], dtype=np.int32), np.full(3, np.nan))
        >>> [a.tolist() for a in view.family_exclusions(np.array([0, 1, 2]), np.array([0, 2]))]
        [[0, 2, 2], [0, 1]]
        """
        # the member rows of every query entry's family, in entry order: entries are grouped by query,
        # so the query's CSR just sums its entries' lengths
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
    >>> model = recsys.Popularity().fit(recsys.Interactions.from_pandas(log, user_col="user", item_col="item"))
    >>> catalog_view(TierCatalog.from_mapping({"f": ["a", "b"]}), model).family.tolist()
    [0, 0, -1]
    """
    if not isinstance(catalog, (TierCatalog, TierCatalogProtocol)):
        raise TypeError(
            f"catalog must be a TierCatalog or implement TierCatalogProtocol "
            f"(items, family_of, tier_of, price_of, features_of, higher_tiers); got {type(catalog).__name__}"
        )
    if isinstance(catalog, TierCatalog):
        cached = catalog._view_cache
        if cached is not None and cached[0] is model.item_ids_:
            return cached[1]
    items = _as_1d_array(catalog.items, "catalog items")
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
        raise ValueError(f"catalog items {_shown(bad)} are in a family but have no tier")
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
    step = np.full(n_items, -1, dtype=np.int32)
    step[members] = np.arange(members.size) - np.repeat(indptr[:-1], np.diff(indptr))
    view = CatalogView(
        family, np.asarray(names, dtype=object), indptr, members, tier, step, price, unknown
    )
    if isinstance(catalog, TierCatalog):
        catalog._view_cache = (model.item_ids_, view)
    return view
