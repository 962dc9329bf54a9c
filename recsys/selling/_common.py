"""What the selling modules share: argument checks, item lookups and result framing.

Internal to :mod:`recsys.selling` (hence the module's leading underscore; its
names have none so that the sibling modules import them openly).  Nothing
here reaches into a model's private state: the models are used through their
public API (``score_rows``, ``popular_item_rows``, ...).
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from recsys.data.ids import IdMap, as_id_array
from recsys.exceptions import UnknownIdError
from recsys.models.base import Recommender, check_fitted
from recsys.models.popularity import Popularity
from recsys.selling.rules import Rules
from recsys.selling.segments import SegmentedModel
from recsys.types import ExternalId

#: Error messages list at most this many offending values.
MAX_SHOWN = 10

DEFAULT_RULES = Rules()
#: The default for a basket-probability model: its repeat probability decides whether owned items
#: come back.
REPEAT_RULES = Rules(exclude_owned=False)


def shown(values: Iterable[Any]) -> list[Any]:
    """List the first :data:`MAX_SHOWN` values, and ``"..."`` when there are more (for messages).

    Examples
    --------
    >>> shown(range(12))
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, '...']
    """
    values = list(values)
    return values[:MAX_SHOWN] + (["..."] if len(values) > MAX_SHOWN else [])


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------


def check_model(model: Any) -> Recommender | SegmentedModel:
    """Return ``model`` if it is a fitted recommender or a :class:`SegmentedModel`, else raise.

    Examples
    --------
    >>> check_model("model")
    Traceback (most recent call last):
    ...
    TypeError: model must be a recsys Recommender or SegmentedModel, got str
    """
    if isinstance(model, SegmentedModel):
        return model
    if not isinstance(model, Recommender):
        raise TypeError(
            f"model must be a recsys Recommender or SegmentedModel, got {type(model).__name__}"
        )
    check_fitted(model)
    return model


def base_model(model: Recommender | SegmentedModel) -> Recommender:
    """Return the model whose items, users and histories the selling APIs use.

    That is ``model`` itself, or the default model of a :class:`SegmentedModel`.
    """
    return model.default if isinstance(model, SegmentedModel) else model


def model_kind(scorer: Recommender) -> str:
    """Name how cross-sell scores with ``scorer``.

    One of "probability", "neighbours", "popularity" and "dense".

    Examples
    --------
    >>> import recsys
    >>> model_kind(recsys.ALS())
    'dense'
    """
    if getattr(scorer, "conditional_probability_", None) is not None:
        return "probability"
    if hasattr(scorer, "neighbours_"):
        return "neighbours"
    if isinstance(scorer, Popularity):
        return "popularity"
    return "dense"


def check_rules(rules: Rules | None, model: Recommender | SegmentedModel | None = None) -> Rules:
    """Return ``rules``, or the default ones.

    By default owned items come back only as the repeats of a probability model.

    Examples
    --------
    >>> check_rules(None).exclude_owned
    True
    """
    if rules is None:
        if model is None:
            return DEFAULT_RULES
        probability = model_kind(base_model(model)) == "probability"
        return REPEAT_RULES if probability else DEFAULT_RULES
    if not isinstance(rules, Rules):
        raise TypeError(f"rules must be a recsys.selling.Rules, got {type(rules).__name__}")
    return rules


def check_unknown_items(value: str) -> str:
    """Validate an ``unknown_items`` argument ("raise" or "ignore").

    Examples
    --------
    >>> check_unknown_items("drop")
    Traceback (most recent call last):
    ...
    ValueError: unknown_items must be 'raise' or 'ignore', got 'drop'
    """
    if value not in ("raise", "ignore"):
        raise ValueError(f"unknown_items must be 'raise' or 'ignore', got {value!r}")
    return value


def unknown_catalog_items(items: np.ndarray, model: Any, errors: str = "raise") -> list[ExternalId]:
    """Return the catalog ``items`` unknown to ``model`` (or raise, naming them).

    The work of :func:`~recsys.selling.check_catalog` and
    :meth:`~recsys.selling.TierCatalog.check_against`.

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> unknown_catalog_items(np.array(["a", "z"]), recsys.Popularity().fit(data), "return")
    ['z']
    """
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    if not hasattr(model, "item_ids_"):
        raise TypeError(f"model must be a fitted recommender, got {type(model).__name__}")
    rows = (
        model.item_ids_.to_rows(items, missing="ignore")
        if items.size
        else np.empty(0, dtype=np.int32)
    )
    unknown = items[rows < 0].tolist()
    if unknown and errors == "raise":
        hint = (
            "none of the catalog items are known to the model: do the catalog and the model use "
            "the same item IDs "
            f"(catalog {type(items[0]).__name__} IDs like {items[0]!r}, model IDs like "
            f"{model.item_ids_.external_ids[0]!r})?"
            if len(unknown) == items.size
            else "drop them with catalog.restrict_to(model.item_ids_.external_ids)"
        )
        raise UnknownIdError(
            f"{len(unknown)} of {items.size} catalog item(s) are unknown to the model: "
            f"{shown(unknown)}; {hint}"
        )
    return unknown


# ---------------------------------------------------------------------------
# item lookups
# ---------------------------------------------------------------------------

_LOOKUPS: dict[int, tuple[weakref.ref, dict[Any, int], np.ndarray]] = {}


def item_lookup(ids: IdMap) -> tuple[dict[Any, int], np.ndarray]:
    """Return a dict external ID → row and the external IDs of an IdMap (cached per IdMap).

    Looking up a handful of IDs in a dict takes a microsecond; through
    ``pandas.Index.get_indexer`` about a hundred — it matters for one basket.

    Examples
    --------
    >>> lookup, external = item_lookup(IdMap(["a", "b"]))
    >>> lookup["b"], external.tolist()
    (1, ['a', 'b'])
    """
    hit = _LOOKUPS.get(id(ids))
    if hit is not None and hit[0]() is ids:
        return hit[1], hit[2]
    external = ids.external_ids
    lookup = dict(zip(external.tolist(), range(len(external)), strict=True))
    if len(_LOOKUPS) > 16:
        _LOOKUPS.clear()
    _LOOKUPS[id(ids)] = (weakref.ref(ids), lookup, external)
    return lookup, external


_PLACES: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def popularity_places(base: Recommender) -> np.ndarray:
    """Return every item row's place in the model's popularity order, most popular the highest.

    ``places[popular_item_rows()[k]] = n_items - 1 - k``: a look-up that
    orders any items by popularity (ties as :meth:`~recsys.Recommender.popular_item_rows`).
    Cached per popularity order, which ``fit``, ``partial_fit`` and ``load``
    replace: a re-fitted model gets new places.

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "b"]})
    >>> model = recsys.Popularity().fit(
    ...     recsys.Interactions.from_pandas(log, user_col="user", item_col="item"))
    >>> popularity_places(model).tolist()
    [0.0, 1.0]
    """
    popular = base.popular_item_rows()
    hit = _PLACES.get(id(popular))
    if hit is not None and hit[0]() is popular:
        return hit[1]
    places = np.empty(popular.size, dtype=np.float64)
    places[popular] = np.arange(popular.size, 0, -1) - 1
    places.setflags(write=False)
    if len(_PLACES) > 16:
        _PLACES.clear()
    _PLACES[id(popular)] = (weakref.ref(popular), places)
    return places


def basket_rows(base: Recommender, basket: Any, unknown_items: str) -> np.ndarray:
    """Return the model rows of a basket's items (one ID or a sequence), sorted and unique.

    Unknown items raise :class:`~recsys.UnknownIdError` (``unknown_items="raise"``)
    or are left out with a warning (``"ignore"``).

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"user": [1, 1], "item": ["tea", "cup"]})
    >>> model = recsys.Popularity().fit(
    ...     recsys.Interactions.from_pandas(log, user_col="user", item_col="item"))
    >>> basket_rows(model, ["tea", "cup", "tea"], "raise").tolist()
    [0, 1]
    """
    if isinstance(basket, (str, bytes)) or np.isscalar(basket):
        basket = [basket]
    if not isinstance(basket, (list, tuple)):
        basket = as_id_array(basket, "basket").tolist()
    if len(basket) == 0:
        return np.empty(0, dtype=np.int32)
    lookup, _ = item_lookup(base.item_ids_)
    try:
        rows = np.fromiter((lookup.get(v, -1) for v in basket), dtype=np.int32, count=len(basket))
    except TypeError:  # unhashable values: let IdMap explain
        rows = np.full(len(basket), -1, dtype=np.int32)
    if (rows < 0).any() and unknown_items == "raise":
        base.item_ids_.to_rows(as_id_array(basket, "basket"))  # raises UnknownIdError naming them
    if (rows < 0).any():
        warnings.warn(
            f"basket: ignored {int((rows < 0).sum())} item(s) unknown to the model",
            UserWarning,
            stacklevel=3,
        )
        rows = rows[rows >= 0]
    return np.unique(rows) if rows.size > 1 else rows


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


class Columns:
    """Base of the selling results: a frozen dataclass of aligned columns, one entry per row.

    Fields that are ``None`` (explanations not asked for) are left out of
    :meth:`to_pandas`.
    """

    def columns(self) -> dict[str, Any]:
        """Return the fields that are not ``None``, in order: the columns of :meth:`to_pandas`."""
        out = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def to_pandas(self) -> pd.DataFrame:
        """Return the rows as a DataFrame: what the call returns with ``return_frame=True``.

        The frame is ``pandas.DataFrame(self.columns())`` (built by :func:`frame`).
        """
        return frame(self.columns())

    def __len__(self) -> int:
        return len(self.rank)  # type: ignore[attr-defined]


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        _FIELD_NAMES[cls] = names
    return names


# ---------------------------------------------------------------------------
# building small DataFrames fast
# ---------------------------------------------------------------------------

#: The dtype pandas gives a column of Python strings (``str`` since pandas 3).
_STR_DTYPE: Any = pd.Series(np.array(["a"], dtype=object)).dtype
#: Inferred kinds (``pandas.api.types.infer_dtype``) an object ndarray keeps in a frame.
_KEPT_OBJECT = frozenset(["integer", "floating", "mixed-integer-float", "boolean", "decimal"])
try:  # pandas internals: a frame from ready-made columns, and pyarrow-backed strings
    import pyarrow as _pa
    from pandas.core.arrays.string_arrow import ArrowStringArray as _ArrowStrings
    from pandas.core.internals.managers import (
        create_block_manager_from_column_arrays as _column_manager,
    )
except ImportError:  # pragma: no cover - another pandas: the plain constructor
    _column_manager = None
    _ArrowStrings = None
_ARROW_STRINGS = _ArrowStrings is not None and getattr(_STR_DTYPE, "storage", None) == "pyarrow"
_COLUMN_INDEX: dict[tuple[str, ...], pd.Index] = {}
#: The dtype of an empty list in a frame (float64 in pandas 3), when it is a NumPy one.
_EMPTY_LIST_DTYPE: Any = pd.DataFrame({"a": []})["a"].dtype
if not isinstance(_EMPTY_LIST_DTYPE, np.dtype):  # pragma: no cover - another pandas
    _EMPTY_LIST_DTYPE = None


def _strings(values: list[str]) -> Any:
    """Return Python strings as the array pandas would infer for them (``str`` dtype)."""
    if _ARROW_STRINGS:
        return _ArrowStrings(_pa.array(values, type=_pa.large_string()), dtype=_STR_DTYPE)
    return pd.array(values, dtype=_STR_DTYPE)  # pragma: no cover - pandas without pyarrow


def _object_array(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # never let NumPy unpack tuples into a second axis
        out[i] = v
    return out


def _frame_column(value: Any) -> Any:
    """Return ``value`` as the array ``pandas.DataFrame`` would store, or ``None`` if unsure."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            return None
        if value.dtype != object:
            return value if value.dtype.kind in "biuf" else None
        if value.size == 0:
            return value  # pandas keeps an empty object array as it is
        kind = infer_dtype(value, skipna=False)
        if kind == "string":
            return _strings(value.tolist())
        return value if kind in _KEPT_OBJECT else None
    if isinstance(value, pd.Series):  # an explicit dtype (object: None stays None)
        index = value.index  # pandas would align a Series on its index: only 0..n-1 is plain
        plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
        return value.to_numpy() if plain and value.dtype == object else None
    if isinstance(value, list) and not value:  # an empty list: what pandas makes of one
        return np.empty(0, dtype=_EMPTY_LIST_DTYPE) if _EMPTY_LIST_DTYPE is not None else None
    if isinstance(value, list):
        first = value[0]
        if isinstance(first, str):
            return _strings(value) if infer_dtype(value, skipna=False) == "string" else None
        if isinstance(first, tuple) and all(type(v) is tuple for v in value):
            return _object_array(value)
    return None


def frame(columns: dict[str, Any], *, objects: Collection[str] = ()) -> pd.DataFrame:
    """Return ``pandas.DataFrame(columns)``, built faster for the columns the selling APIs return.

    pandas spends about 0.1 ms inferring the type of every column of even a
    five-row frame; a selling call returns one on every request.  Columns
    whose stored form is known — NumPy numbers, an object ``Series``, Python
    strings (stored as ``str``), tuples (``object``) — are handed to pandas
    ready-made; anything else (and any surprise) goes through the plain
    constructor, so the frame is always the one ``pandas.DataFrame`` builds:
    the same columns, dtypes and ``RangeIndex``, holding copies of the arrays
    (one pandas block per column: consolidating five-row columns would cost
    more than it saves).

    Parameters
    ----------
    columns : dict
        Column name -> 1-d array, list or Series, all of one length.
    objects : collection of str
        Columns kept as ``object`` dtype whatever they hold (as
        ``pandas.Series(values, dtype=object)`` would be): explanations with
        ``None`` where there is none.  Their values must be 1-d object arrays.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> out = frame({"item": np.array(["cup", "pot"], dtype=object), "rank": np.array([1, 2])})
    >>> out.equals(pd.DataFrame({"item": ["cup", "pot"], "rank": [1, 2]})), str(out["item"].dtype)
    (True, 'str')
    >>> because = np.array(["cup", None], dtype=object)
    >>> str(frame({"because": because}, objects=["because"])["because"].dtype)
    'object'
    """
    arrays = []
    length = -1
    for name, value in columns.items():
        if name in objects:
            plain = isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype == object
            array = value if plain else None
        else:
            array = _frame_column(value)
        if array is None or (length >= 0 and len(array) != length):
            return _plain_frame(columns, objects)
        length = len(array)
        # a copy, as pandas makes of a dict's arrays: editing the frame never writes through
        arrays.append(array.copy() if isinstance(array, np.ndarray) else array)
    if length < 0 or _column_manager is None:
        return _plain_frame(columns, objects)
    key = tuple(columns)
    names = _COLUMN_INDEX.get(key)
    if names is None:
        names = _COLUMN_INDEX.setdefault(key, pd.Index(list(key)))
    try:  # one block per column: consolidating five-row columns costs more than it saves
        manager = _column_manager(
            arrays, [names, pd.RangeIndex(length)], consolidate=False, refs=[None] * len(arrays)
        )
        return pd.DataFrame._from_mgr(manager, axes=manager.axes)
    except Exception:  # pragma: no cover - pandas internals changed: the plain constructor
        return _plain_frame(columns, objects)


def _plain_frame(columns: dict[str, Any], objects: Collection[str]) -> pd.DataFrame:
    """Build :func:`frame`'s answer with the pandas constructor."""
    if objects:
        columns = {k: pd.Series(v, dtype=object) if k in objects else v for k, v in columns.items()}
    return pd.DataFrame(columns, copy=False)
