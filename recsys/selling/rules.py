"""Business rules for cross-sell and upgrade offers, applied inside the top-n.

A :class:`Rules` object says what may be offered: not what the customer owns,
not what they declined recently, only some categories, nothing above a price,
only the assortment of their market, at most ``m`` items per category, only
what is in stock.  Rules compose with ``&`` (the stricter of each).

Rules are *compiled* against a fitted model (:meth:`Rules.compile`) into
arrays over the model's items — a global allowed mask, per-segment masks,
item → group ids with a cap — and, for a batch of queries, a per-query
exclusion CSR (:meth:`CompiledRules.constraints`).  The constrained top-n
kernel (:mod:`recsys.core.selection`) applies them while selecting, so every
list still has exactly ``n`` items whenever ``n`` eligible items exist.

A rule naming a column or item that does not exist is an error, never a
silent no-op.
"""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
import pandas as pd

from recsys._utils.sparse import row_positions, select_csr_rows
from recsys.core.constraints import Constraints
from recsys.data.ids import IdMap, as_id_array
from recsys.data.validation import datetime_column, require_columns, require_dataframe
from recsys.exceptions import UnknownIdError
from recsys.types import ExternalId, ExternalIds

__all__ = ["CompiledRules", "Rules", "merge_csr"]

_MAX_SHOWN = 10
_SECONDS_PER_DAY = 86_400.0
DECLINE_COLUMNS = ("user", "item", "time")
SEGMENT_COLUMNS = ("segment", "item")


def _shown(values: Iterable[Any]) -> list[Any]:
    values = list(values)
    return values[:_MAX_SHOWN] + (["..."] if len(values) > _MAX_SHOWN else [])


def _as_values(value: Any, what: str) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    values = list(value)
    if not values:
        raise ValueError(f"{what} has an empty list of values")
    return values


def _timestamp(value: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be a time, got {value!r}") from err
    if ts is pd.NaT:
        raise ValueError(f"{what} must be a time, got {value!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def merge_csr(
    n_queries: int, parts: Iterable[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate several ``(indptr, indices)`` CSRs over the same queries, row by row.

    Examples
    --------
    >>> a = (np.array([0, 1, 1]), np.array([5]))
    >>> b = (np.array([0, 1, 2]), np.array([6, 7]))
    >>> [x.tolist() for x in merge_csr(2, [a, b])]
    [[0, 2, 3], [5, 6, 7]]
    """
    parts = [p for p in parts if p is not None and len(p[1])]
    if not parts:
        return np.zeros(n_queries + 1, dtype=np.int64), np.empty(0, dtype=np.int32)
    if len(parts) == 1:
        return np.asarray(parts[0][0], dtype=np.int64), np.asarray(parts[0][1], dtype=np.int32)
    if n_queries == 1:  # one query (a serving call): its entries one after the other
        indices = np.concatenate(
            [np.asarray(ix[int(ip[0]) : int(ip[1])], dtype=np.int32) for ip, ix in parts]
        )
        return np.array([0, indices.size], dtype=np.int64), indices
    rows = np.concatenate([np.repeat(np.arange(n_queries), np.diff(ip)) for ip, _ in parts])
    indices = np.concatenate([np.asarray(ix, dtype=np.int32) for _, ix in parts])
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n_queries + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_queries), out=indptr[1:])
    return indptr, indices[order]


@dataclass(frozen=True, eq=False)
class Rules:
    """What may be offered: a composable, typed set of business rules.

    Parameters
    ----------
    exclude_owned : bool
        Never offer what the customer already has (their row of the model's
        ``user_items_``).  Only for queries naming a user the model knows.
    declines : pandas.DataFrame, optional
        Offers the customer turned down, columns ``user, item, time``.  An
        item declined within ``cooldown_days`` before ``now`` is not offered to
        that user again; declines after ``now`` are ignored (they have not
        happened yet in a backtest).  Log *impressions* here as well to stop
        showing the same offer to someone who ignored it.  Items must be known
        to the model.
    cooldown_days : float
        How long a decline suppresses the item (days, >= 0).
    now : datetime-like, optional
        The moment of the recommendation; default: the current time at each
        call (pass it explicitly for backtests on historical data).
    include : dict, optional
        ``{column: values}``: only items whose ``item_attributes[column]`` is
        one of ``values`` (items without attributes are left out).
    exclude : dict, optional
        ``{column: values}``: never items whose attribute is one of ``values``.
    max_price : float, optional
        Only items whose ``item_attributes[price_col]`` is at most this (items
        with an unknown price are left out).
    price_col : str
        The price column of ``item_attributes``.
    segment_items : pandas.DataFrame or dict, optional
        The assortment of every segment (market, country, store): a frame with
        columns ``segment, item`` or ``{segment: items}``.  A query must then
        name a segment listed here.
    max_per_group : int, optional
        Diversity: at most this many items of one ``group_col`` value per list
        (e.g. one per product family).  Items whose group is missing are not
        capped.
    group_col : str, optional
        The ``item_attributes`` column of the groups (``"family"`` with
        ``TierCatalog.attributes()``).
    available_items : list-like, optional
        Only these items (in stock, sellable).  Every one must be known to
        the model.
    item_attributes : pandas.DataFrame, optional
        Item attributes indexed by item ID (category, price, brand, ...),
        used by ``include``, ``exclude``, ``max_price`` and ``group_col``.
        Rows of items the model does not know are ignored.

    Examples
    --------
    >>> attrs = pd.DataFrame({"category": ["tea", "tea", "cups"], "price": [3.0, 9.0, 5.0]},
    ...                      index=["green", "oolong", "mug"])
    >>> rules = Rules(include={"category": ["tea"]}, item_attributes=attrs) & Rules(max_price=5.0)
    >>> rules.max_price, rules.include
    (5.0, {'category': ['tea']})
    """

    exclude_owned: bool = True
    declines: pd.DataFrame | None = None
    cooldown_days: float = 30.0
    now: Any = None
    include: Mapping[str, Any] | None = None
    exclude: Mapping[str, Any] | None = None
    max_price: float | None = None
    price_col: str = "price"
    segment_items: pd.DataFrame | Mapping[Any, ExternalIds] | None = None
    max_per_group: int | None = None
    group_col: str | None = None
    available_items: Collection[ExternalId] | None = None
    item_attributes: pd.DataFrame | None = None
    _cache: list[Any] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.exclude_owned, (bool, np.bool_)):
            raise TypeError(f"exclude_owned must be a bool, got {self.exclude_owned!r}")
        if (
            isinstance(self.cooldown_days, bool)
            or not isinstance(self.cooldown_days, numbers.Real)
            or not np.isfinite(self.cooldown_days)
            or self.cooldown_days < 0
        ):
            raise ValueError(
                f"cooldown_days must be a finite number >= 0, got {self.cooldown_days!r}"
            )
        if self.now is not None:
            object.__setattr__(self, "now", _timestamp(self.now, "now"))
        if self.declines is not None:
            if not isinstance(self.declines, pd.DataFrame):
                raise TypeError(
                    "declines must be a DataFrame (user, item, time), "
                    f"got {type(self.declines).__name__}"
                )
            require_columns(self.declines, DECLINE_COLUMNS, "declines")
            if len(self.declines):
                datetime_column(self.declines, "time", "declines")
            else:  # nobody declined anything yet
                object.__setattr__(self, "declines", None)
        for name in ("include", "exclude"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, Mapping) or not value:
                raise TypeError(
                    f"{name} must be a non-empty dict {{column: values}}, got {value!r}"
                )
            object.__setattr__(
                self, name, {col: _as_values(v, f"{name}[{col!r}]") for col, v in value.items()}
            )
        if self.max_price is not None and (
            isinstance(self.max_price, bool)
            or not isinstance(self.max_price, numbers.Real)
            or np.isnan(self.max_price)
        ):
            raise ValueError(f"max_price must be a number, got {self.max_price!r}")
        if self.max_per_group is not None:
            if (
                isinstance(self.max_per_group, bool)
                or not isinstance(self.max_per_group, numbers.Integral)
                or self.max_per_group < 1
            ):
                raise ValueError(
                    f"max_per_group must be a positive integer, got {self.max_per_group!r}"
                )
            if self.group_col is None:
                raise ValueError(
                    "max_per_group needs group_col (the item_attributes column of the groups)"
                )
        elif self.group_col is not None:
            raise ValueError("group_col needs max_per_group (the cap per group)")
        if self.item_attributes is not None:
            attrs = self.item_attributes
            if not isinstance(attrs, pd.DataFrame):
                raise TypeError(
                    "item_attributes must be a DataFrame indexed by item, "
                    f"got {type(attrs).__name__}"
                )
            if not attrs.index.is_unique:
                dup = attrs.index[attrs.index.duplicated()].unique()
                raise ValueError(
                    f"item_attributes must have one row per item; duplicated: {_shown(dup)}"
                )
        if self.segment_items is not None:
            object.__setattr__(self, "segment_items", _segment_frame(self.segment_items))
        if self.available_items is not None:
            object.__setattr__(
                self,
                "available_items",
                as_id_array(self.available_items, "available_items").tolist(),
            )

    # -------------------------------------------------------------- composing
    def __and__(self, other: Rules) -> Rules:
        if not isinstance(other, Rules):
            return NotImplemented
        return Rules.combine(self, other)

    @staticmethod
    def combine(*rules: Rules) -> Rules:
        """Return the stricter of each rule: ``Rules.combine(a, b) == a & b``.

        ``exclude_owned`` if either says so; declines of both, with the longer
        cooldown; ``include`` values intersected per column, ``exclude``
        values united; the lower ``max_price`` and ``max_per_group``; the
        intersection of ``available_items`` and of each segment's assortment;
        ``item_attributes`` joined column-wise.  Conflicting ``now``,
        ``price_col`` or ``group_col`` settings are a ``ValueError``.

        Examples
        --------
        >>> a = Rules(max_price=10, available_items=["x", "y"], cooldown_days=7)
        >>> b = Rules(max_price=5, available_items=["y", "z"], exclude_owned=False)
        >>> c = Rules.combine(a, b)
        >>> c.max_price, c.available_items, c.cooldown_days, c.exclude_owned
        (5, ['y'], 30.0, True)
        """
        if not rules:
            return Rules()
        for r in rules:
            if not isinstance(r, Rules):
                raise TypeError(f"can only combine Rules, got {type(r).__name__}")
        out = rules[0]
        for r in rules[1:]:
            out = _combine_two(out, r)
        return out

    # -------------------------------------------------------------- compiling
    def compile(self, model: Any) -> CompiledRules:
        """Compile the item-level parts of the rules into arrays over ``model``'s items.

        The result is cached per fitted model.

        Raises
        ------
        ValueError
            A rule names a column ``item_attributes`` lacks, or values that
            match no item; rules need ``item_attributes`` that are missing.
        KeyError
            Declines, ``available_items`` or ``segment_items`` name items the
            model does not know.

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2], "item": ["green", "mug", "oolong"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.Popularity().fit(data)
        >>> attrs = pd.DataFrame({"price": [3.0, 9.0, 5.0]}, index=["green", "oolong", "mug"])
        >>> Rules(max_price=5, item_attributes=attrs).compile(model).item_allowed.tolist()
        [True, True, False]
        """
        if not hasattr(model, "item_ids_"):
            raise TypeError(f"model must be a fitted recommender, got {type(model).__name__}")
        for key, compiled in self._cache:
            if key() is model.item_ids_ and compiled._model() is model:
                return compiled
        compiled = CompiledRules(self, model)
        live = [(k, c) for k, c in self._cache if k() is not None and c._model() is not None]
        self._cache[:] = [*live[-7:], (weakref.ref(model.item_ids_), compiled)]
        return compiled


def _segment_frame(value: Any) -> pd.DataFrame:
    if isinstance(value, pd.DataFrame):
        frame = require_dataframe(value, "segment_items")
        require_columns(frame, SEGMENT_COLUMNS, "segment_items")
        return frame[list(SEGMENT_COLUMNS)].reset_index(drop=True)
    if isinstance(value, Mapping):
        if not value:
            raise ValueError("segment_items is empty")
        rows = [
            (seg, item)
            for seg, items in value.items()
            for item in _as_values(items, f"segment_items[{seg!r}]")
        ]
        return pd.DataFrame(rows, columns=list(SEGMENT_COLUMNS))
    raise TypeError(
        f"segment_items must be a DataFrame (segment, item) or a dict, got {type(value).__name__}"
    )


def _segment_table(rules: Rules) -> pd.DataFrame | None:
    """Return ``rules.segment_items``, which ``__post_init__`` made a ``segment, item`` frame."""
    return cast("pd.DataFrame | None", rules.segment_items)


def _combine_two(a: Rules, b: Rules) -> Rules:
    def same(name: str) -> Any:
        va, vb = getattr(a, name), getattr(b, name)
        if va is not None and vb is not None and va != vb:
            raise ValueError(f"cannot combine rules with different {name}: {va!r} and {vb!r}")
        return va if va is not None else vb

    def min_of(name: str) -> Any:
        values = [v for v in (getattr(a, name), getattr(b, name)) if v is not None]
        return min(values) if values else None

    declines = [d for d in (a.declines, b.declines) if d is not None]
    include: dict[str, list[Any]] = {k: list(v) for k, v in (a.include or {}).items()}
    for col, values in (b.include or {}).items():
        include[col] = (
            [v for v in include[col] if v in set(values)] if col in include else list(values)
        )
        if not include[col]:
            raise ValueError(f"combined include rules for column {col!r} allow no value")
    exclude: dict[str, list[Any]] = {k: list(v) for k, v in (a.exclude or {}).items()}
    for col, values in (b.exclude or {}).items():
        exclude[col] = list(dict.fromkeys([*exclude.get(col, []), *values]))
    price_col = a.price_col
    if a.max_price is not None and b.max_price is not None and a.price_col != b.price_col:
        raise ValueError(
            "cannot combine max_price rules on different price columns "
            f"{a.price_col!r} and {b.price_col!r}"
        )
    if a.max_price is None and b.max_price is not None:
        price_col = b.price_col
    available: Collection[ExternalId] | None = None
    if a.available_items is not None and b.available_items is not None:
        keep = set(b.available_items)
        available = [i for i in a.available_items if i in keep]
    else:
        available = a.available_items if a.available_items is not None else b.available_items
    segments = None
    sa, sb = _segment_table(a), _segment_table(b)
    if sa is not None and sb is not None:
        both = set(sa["segment"]) & set(sb["segment"])
        inner = sa[sa["segment"].isin(both)].merge(
            sb[sb["segment"].isin(both)], on=list(SEGMENT_COLUMNS)
        )
        segments = pd.concat(
            [inner, sa[~sa["segment"].isin(both)], sb[~sb["segment"].isin(both)]], ignore_index=True
        )
    else:
        segments = sa if sa is not None else sb
    attrs = a.item_attributes
    if attrs is None:
        attrs = b.item_attributes
    elif b.item_attributes is not None and b.item_attributes is not attrs:
        overlap = [c for c in b.item_attributes.columns if c in attrs.columns]
        for col in overlap:
            left, right = attrs[col].align(b.item_attributes[col], join="inner")
            if not left.equals(right):
                raise ValueError(f"cannot combine item_attributes that disagree on column {col!r}")
        extra = b.item_attributes.drop(columns=overlap)
        attrs = attrs.join(extra, how="outer") if len(extra.columns) else attrs
    return replace(
        Rules(),
        exclude_owned=bool(a.exclude_owned or b.exclude_owned),
        declines=pd.concat([d[list(DECLINE_COLUMNS)] for d in declines], ignore_index=True)
        if declines
        else None,
        cooldown_days=max(a.cooldown_days, b.cooldown_days),
        now=same("now"),
        include=include or None,
        exclude=exclude or None,
        max_price=min_of("max_price"),
        price_col=price_col,
        segment_items=segments,
        max_per_group=min_of("max_per_group"),
        group_col=same("group_col"),
        available_items=available,
        item_attributes=attrs,
    )


class CompiledRules:
    """:class:`Rules` as arrays over one fitted model's items (from :meth:`Rules.compile`).

    Attributes
    ----------
    item_allowed : numpy.ndarray of bool or None
        Items every query may get (``None``: all).
    group_of : numpy.ndarray of int32 or None
        Group code of every item (``-1`` = no group) when ``max_per_group``
        is set; ``group_names`` holds the group of every code.
    max_per_group : int or None

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "c"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> model = recsys.Popularity().fit(data)
    >>> compiled = Rules(available_items=["a", "c"]).compile(model)
    >>> c = compiled.constraints(2, users=[1, "someone new"])
    >>> c.exclude_indices.tolist(), c.exclude_indptr.tolist()
    ([0, 1], [0, 2, 2])
    """

    def __init__(self, rules: Rules, model: Any) -> None:
        self.rules = rules
        self._model = weakref.ref(model)  # the rules' cache must not keep a model alive
        self.n_items = n_items = len(model.item_ids_)
        ids: IdMap = model.item_ids_
        attrs = self._attributes(rules, ids)

        allowed = np.ones(n_items, dtype=bool)
        restricted = False
        for name, keep in (("include", True), ("exclude", False)):
            for col, values in (getattr(rules, name) or {}).items():
                column = self._column(attrs, col, name)
                present = set(pd.unique(column.dropna().to_numpy()).tolist())
                absent = [v for v in values if v not in present]
                if absent:
                    raise ValueError(
                        f"{name}[{col!r}] names value(s) {_shown(absent)} that no item has; "
                        f"values present: {_shown(sorted(present, key=str))}"
                    )
                hit = column.isin(values).to_numpy()
                allowed &= hit if keep else ~hit
                restricted = True
        if rules.max_price is not None:
            column = self._column(attrs, rules.price_col, "max_price (price_col)")
            prices = pd.to_numeric(column, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            if np.isnan(prices).all():
                raise ValueError(
                    f"max_price: item_attributes column {rules.price_col!r} has no numeric price"
                )
            allowed &= prices <= rules.max_price
            restricted = True
        if rules.available_items is not None:
            rows = (
                ids.to_rows(rules.available_items)
                if len(rules.available_items)
                else np.empty(0, dtype=np.int32)
            )
            mask = np.zeros(n_items, dtype=bool)
            mask[rows] = True
            allowed &= mask
            restricted = True
        self.item_allowed: np.ndarray | None = allowed if restricted else None

        self.group_of: np.ndarray | None = None
        self.group_names: np.ndarray | None = None
        self.max_per_group: int | None = rules.max_per_group
        if rules.max_per_group is not None:
            assert rules.group_col is not None
            column = self._column(attrs, rules.group_col, "group_col")
            codes, names = pd.factorize(column.to_numpy(), use_na_sentinel=True)
            if not len(names):
                raise ValueError(
                    f"group_col {rules.group_col!r} has no value for any item of the model"
                )
            self.group_of = codes.astype(np.int32)
            self.group_names = np.asarray(names, dtype=object)

        self._segments: IdMap | None = None
        self._segment_masks: np.ndarray | None = None
        frame = _segment_table(rules)
        if frame is not None:
            self._segments, seg_rows = IdMap.from_values(
                frame["segment"].to_numpy(), name="segment"
            )
            item_rows = ids.to_rows(frame["item"].to_numpy())
            masks = np.zeros((len(self._segments), n_items), dtype=bool)
            masks[seg_rows, item_rows] = True
            self._segment_masks = masks

        self._declines: tuple[IdMap, np.ndarray, np.ndarray, np.ndarray] | None = None
        if rules.declines is not None:
            self._declines = self._compile_declines(rules.declines, model)

    @property
    def model(self) -> Any:
        """The model the rules were compiled for."""
        model = self._model()
        if model is None:  # pragma: no cover - only if the caller dropped the model mid-call
            raise RuntimeError("the model these rules were compiled for no longer exists")
        return model

    # ------------------------------------------------------------ compile parts
    @staticmethod
    def _attributes(rules: Rules, ids: IdMap) -> pd.DataFrame | None:
        needs = [
            name
            for name in ("include", "exclude", "max_price", "group_col")
            if getattr(rules, name) is not None
        ]
        if not needs:
            return None
        if rules.item_attributes is None:
            raise ValueError(f"rules {needs} need item_attributes (a DataFrame indexed by item ID)")
        attrs = rules.item_attributes
        known = attrs.index.isin(ids.external_ids)
        if not known.any():
            raise UnknownIdError(
                f"none of the {len(attrs)} item_attributes rows is an item the model knows "
                f"(attribute index like {attrs.index[0]!r}, "
                f"model items like {ids.external_ids[0]!r})"
            )
        return attrs.reindex(pd.Index(ids.external_ids))

    @staticmethod
    def _column(attrs: pd.DataFrame | None, col: str, rule: str) -> pd.Series:
        assert attrs is not None
        if col not in attrs.columns:
            raise ValueError(
                f"rule {rule} names column {col!r}, which item_attributes lacks; "
                f"it has {list(attrs.columns)}"
            )
        return attrs[col]

    @staticmethod
    def _compile_declines(
        declines: pd.DataFrame, model: Any
    ) -> tuple[IdMap, np.ndarray, np.ndarray, np.ndarray]:
        users = declines["user"]
        if users.isna().any():
            raise ValueError("declines column 'user' has missing values")
        item_rows = model.item_ids_.to_rows(declines["item"].to_numpy())
        times = (
            datetime_column(declines, "time", "declines")
            .to_numpy(dtype="datetime64[ns]")
            .astype(np.int64)
        )
        model_users = model.user_ids_.external_ids
        if len(model_users) and _id_kind(model_users[0]) != _id_kind(users.iloc[0]):
            raise TypeError(
                f"declines 'user' IDs like {users.iloc[0]!r} do not match the model's user IDs "
                f"like {model_users[0]!r}"
            )
        user_ids, user_rows = IdMap.from_values(users.to_numpy(), name="declining user")
        order = np.lexsort((times, user_rows))
        indptr = np.zeros(len(user_ids) + 1, dtype=np.int64)
        np.cumsum(np.bincount(user_rows, minlength=len(user_ids)), out=indptr[1:])
        return user_ids, indptr, item_rows[order].astype(np.int32), times[order]

    # ------------------------------------------------------------ per query
    def exclusions(
        self,
        n_queries: int,
        *,
        user_rows: np.ndarray | None = None,
        users: ExternalIds | None = None,
        now: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-query exclusion CSR: owned items (``exclude_owned``) and declines in cooldown.

        Parameters
        ----------
        n_queries : int
        user_rows : numpy.ndarray of int, optional
            Model user row of every query (``-1`` = unknown or no user).
        users : array-like, optional
            External user ID of every query (``None`` entries allowed); needed
            for declines, and to derive ``user_rows`` when not given.
        now : datetime-like, optional
            Overrides ``Rules.now`` (default: the current time).

        Returns
        -------
        indptr, indices : numpy.ndarray
            CSR of excluded item rows per query.

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": ["ann", "ann", "bob"], "item": ["tea", "cup", "pot"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.Popularity().fit(data)
        >>> declines = pd.DataFrame({"user": ["bob"], "item": ["cup"], "time": ["2024-05-30"]})
        >>> compiled = Rules(declines=declines, now="2024-06-01").compile(model)
        >>> ip, ix = compiled.exclusions(2, users=np.array(["ann", "bob"], dtype=object))
        >>> ip.tolist(), model.item_ids_.to_external(ix).tolist()
        ([0, 2, 4], ['cup', 'tea', 'pot', 'cup'])
        """
        if users is not None:
            users = np.asarray(users, dtype=object) if not isinstance(users, np.ndarray) else users
            if users.shape != (n_queries,):
                raise ValueError(f"users must have length {n_queries}, got shape {users.shape}")
        if user_rows is None and users is not None:
            user_rows = self._user_rows(users, self.model.user_ids_)
        parts = []
        if self.rules.exclude_owned and user_rows is not None and (user_rows >= 0).any():
            ui = self.model.user_items_
            parts.append(select_csr_rows(ui.indptr, ui.indices, user_rows))
        if self._declines is not None and users is not None and not pd.isna(users).all():
            parts.append(self._declined(users, now))
        return merge_csr(n_queries, parts)

    @staticmethod
    def _user_rows(users: np.ndarray, ids: IdMap) -> np.ndarray:
        present = ~pd.isna(users)
        rows = np.full(users.shape[0], -1, dtype=np.int32)
        if present.any():
            rows[present] = ids.to_rows(users[present], missing="ignore")
        return rows

    def _declined(self, users: np.ndarray, now: Any) -> tuple[np.ndarray, np.ndarray]:
        assert self._declines is not None
        user_ids, indptr, item_rows, times = self._declines
        when = now if now is not None else self.rules.now
        when = _timestamp(when, "now") if when is not None else pd.Timestamp.now()
        hi = when.value
        lo = hi - int(self.rules.cooldown_days * _SECONDS_PER_DAY * 1e9)
        rows = self._user_rows(users, user_ids)
        sub_ip, take = row_positions(indptr, rows)
        keep = (times[take] > lo) & (times[take] <= hi)
        query_of = np.repeat(np.arange(rows.size), np.diff(sub_ip))[keep]
        out = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(query_of, minlength=rows.size), out=out[1:])
        return out, item_rows[take[keep]]

    def segment_masks(
        self, n_queries: int, segments: Any = None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Return the allowed masks ``(n_masks, n_items)`` and the mask row of every query.

        Combines ``item_allowed`` with each query's segment assortment;
        ``(None, None)`` when no rule restricts the items.

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2], "item": ["tea", "cup", "pot"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.Popularity().fit(data)
        >>> compiled = Rules(segment_items={"UK": ["tea", "pot"], "FR": ["cup"]}).compile(model)
        >>> masks, row = compiled.segment_masks(2, np.array(["FR", "UK"], dtype=object))
        >>> masks[row].tolist()
        [[True, False, False], [False, True, True]]
        """
        if self._segment_masks is None:
            if self.item_allowed is None:
                return None, None
            return self.item_allowed[None, :], np.zeros(n_queries, dtype=np.int32)
        if segments is None:
            raise ValueError(
                "rules.segment_items restricts items per segment: pass the query's segment"
            )
        values = np.asarray(segments, dtype=object)
        if values.ndim == 0:
            values = np.full(n_queries, values.item(), dtype=object)
        if values.shape != (n_queries,):
            raise ValueError(f"segments must have length {n_queries}, got shape {values.shape}")
        if pd.isna(values).any():
            raise ValueError(
                "rules.segment_items restricts items per segment: every query needs a segment"
            )
        assert self._segments is not None
        rows = self._segments.to_rows(values, missing="ignore")
        if (rows < 0).any():
            bad = pd.unique(values[rows < 0])
            raise UnknownIdError(f"segment(s) {_shown(bad)} are not in rules.segment_items")
        used, of_query = np.unique(rows, return_inverse=True)
        masks = self._segment_masks[used]
        if self.item_allowed is not None:
            masks = masks & self.item_allowed[None, :]
        return np.ascontiguousarray(masks), of_query.astype(np.int32)

    def constraints(
        self,
        n_queries: int,
        *,
        user_rows: np.ndarray | None = None,
        users: Any = None,
        segments: Any = None,
        now: Any = None,
        extra_exclusions: Iterable[tuple[np.ndarray, np.ndarray]] = (),
        fill_order: np.ndarray | None = None,
        fill_scores: np.ndarray | None = None,
        fill_of_query: np.ndarray | None = None,
    ) -> Constraints:
        """All rules for a batch of queries, ready for the constrained top-n kernels.

        ``extra_exclusions`` (e.g. the basket's own items, other tiers of its
        families) are merged into the per-query exclusions; the fill arguments
        are passed to :meth:`Constraints.make`.

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2], "item": ["tea", "cup", "pot"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.Popularity().fit(data)
        >>> extra = [(np.array([0, 1]), np.array([0]))]
        >>> c = Rules(available_items=["tea", "pot"]).compile(model).constraints(
        ...     1, users=np.array([2], dtype=object), extra_exclusions=extra)
        >>> c.exclude_indices.tolist(), c.allowed.tolist()
        ([1, 0], [[False, True, True]])
        """
        ex_ip, ex_ix = merge_csr(
            n_queries,
            [
                self.exclusions(n_queries, user_rows=user_rows, users=users, now=now),
                *extra_exclusions,
            ],
        )
        masks, mask_of = self.segment_masks(n_queries, segments)
        return Constraints.make(
            n_queries,
            self.n_items,
            exclude_indptr=ex_ip,
            exclude_indices=ex_ix,
            item_allowed=masks,
            allowed_of_query=mask_of,
            group_of=self.group_of,
            max_per_group=self.max_per_group,
            fill_order=fill_order,
            fill_scores=fill_scores,
            fill_of_query=fill_of_query,
        )


def _id_kind(value: Any) -> str:
    if isinstance(value, (str, np.str_)):
        return "str"
    if isinstance(value, (numbers.Number, np.number)):
        return "number"
    return type(value).__name__
