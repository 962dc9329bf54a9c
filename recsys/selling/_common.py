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
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

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
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if value is not None:
                out[field.name] = value
        return out

    def to_pandas(self) -> pd.DataFrame:
        """Return the rows as a DataFrame: what the call returns with ``return_frame=True``."""
        return pd.DataFrame(self.columns())

    def __len__(self) -> int:
        return len(self.rank)  # type: ignore[attr-defined]
