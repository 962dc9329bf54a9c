"""Upgrades (upsell): a better version of what the customer is looking at or owns.

:func:`recommend_upgrade` proposes strictly higher tiers of a product family
(:mod:`recsys.selling.catalog`): for an item being viewed or in the cart, or —
given only a customer — for everything they own.  Never a lower or equal
tier, never another family, never above the price caps; business rules
(:class:`~recsys.selling.Rules`) apply inside the top-n, so lists have exactly
``n`` rows whenever ``n`` candidate upgrades remain.

Ranking
-------
Each candidate (``from`` → ``to``) gets

``score = affinity_weight * affinity_pct + (1 - affinity_weight) * value_pct``

where, within the query's candidates,

* ``affinity_pct`` is the percentile rank (1 = best) of the model's affinity
  for the upgrade, equal affinities ordered by the items' popularity (the
  customer's likely choice is then the one most customers choose): the
  customer's score for it (:meth:`~recsys.models.base.Recommender.score_rows`)
  when the model knows the customer, else its score for a history holding
  just the ``from`` item (item-item: how often they go together; ALS:
  fold-in);
* ``value_pct`` is the percentile rank of the value for money
  ``(1 + features gained) / (1 + price increase / price_from)`` (``1 +
  features gained`` when a price is unknown).

``affinity_weight`` is 1.0 by default: the customer's likely choice ranks
the upgrades, and value for money is a blend you ask for (``affinity_weight
< 1``; 0.7 gives it 30% of the score).  On real data the value term ranks
like "the cheapest higher tier", the weakest rule we measured, and halves the
hit rate (``python -m benchmarks upgrade``, section "Upgrade acceptance" of
``docs/benchmarks.md``, decided on a validation split carved from the
training half).  Several items may share a tier (colours, pack sizes, brands
in a price band, monthly and yearly plans): all of them are candidates,
ranked the same way.

What the affinity is.  For the default :class:`~recsys.models.item_item.ItemItem`
it is the probability that the item joins the customer's next basket: the
strongest ``P(j | i) = (c(i, j) + m p_j) / (c(i) + m)`` over the items ``i``
of their history, noisy-or their repeat probability
(:mod:`recsys.models.basket_probability`).  A candidate never bought with the
history has ``c(i, j) = 0`` and gets its prior ``m p_j / (c(i) + m)``, about
its popularity under a strong prior, so a rare item seen once with the history
does not outrank a best-seller that simply was not bought in the same basket.
Every candidate is a probability on the same scale, so a customer-wide
upgrade compares candidates across families directly: a likely purchase in a
family the customer buys in is offered before an unlikely one in another.
(Weighting families by how often the customer buys there, by how recently,
or by how loyal they are to their tier did not beat that on the validation
split: it is not part of the score.)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.sparse import row_positions, select_csr_rows
from recsys._utils.threads import resolve_num_threads
from recsys.core.topn_candidates import constrained_topn_candidates
from recsys.data.validation import require_columns, require_dataframe
from recsys.exceptions import UnknownIdError
from recsys.models.base import Recommender, check_n
from recsys.selling._common import (
    MAX_SHOWN,
    Columns,
    base_model,
    check_model,
    check_rules,
    item_lookup,
    popularity_places,
)
from recsys.selling.catalog import TierCatalog, TierCatalogProtocol
from recsys.selling.catalog_alignment import CatalogView, catalog_view, check_catalog
from recsys.selling.explain import upgrade_reasons
from recsys.selling.rules import Rules
from recsys.selling.segments import SegmentedModel
from recsys.types import ExternalId

__all__ = [
    "DEFAULT_AFFINITY_WEIGHT",
    "UPGRADE_COLUMNS",
    "UpgradeResult",
    "recommend_upgrade",
    "recommend_upgrade_batch",
]

#: Weight of the model's affinity against value for money in the upgrade score: 1.0, the
#: model's affinity alone (value for money is a blend to ask for; see the module docstring).
DEFAULT_AFFINITY_WEIGHT = 1.0

#: Columns of :func:`recommend_upgrade` (``explain=True``).
UPGRADE_COLUMNS = [
    "from_item",
    "item",
    "from_tier",
    "to_tier",
    "price_from",
    "price_to",
    "price_diff",
    "added_features",
    "score",
    "rank",
    "reason",
]

_SCORE_CELLS = 1 << 22


@dataclass(frozen=True, eq=False)
class UpgradeResult(Columns):
    """One list of upgrades as arrays (:func:`recommend_upgrade` with ``return_frame=False``).

    One entry per upgrade, best first; the fields are the columns of the
    DataFrame the call returns otherwise (:meth:`to_pandas` builds it).

    Attributes
    ----------
    from_item : numpy.ndarray
        The item upgraded from (the one given, or one the customer owns).
    item : numpy.ndarray
        The upgrade (external IDs).
    from_tier, to_tier : numpy.ndarray of float64
        Their tier ranks.
    price_from, price_to, price_diff : numpy.ndarray of float64
        Their prices and ``price_to - price_from`` (NaN when unknown).
    added_features : list of tuple
        The features the upgrade has and ``from_item`` lacks (sorted).
    score : numpy.ndarray of float32
        The upgrade score (see :mod:`recsys.selling.upgrade`).
    rank : numpy.ndarray of int64
        1 = best.
    reason : numpy.ndarray of object, optional
        The explanation as a sentence; ``None`` (the field) without ``explain``.

    Examples
    --------
    >>> import recsys
    >>> from recsys.selling.catalog import TierCatalog
    >>> log = pd.DataFrame({"user": [1, 2], "item": ["s", "m"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> model = recsys.Popularity().fit(data)
    >>> catalog = TierCatalog.from_mapping({"shirt": ["s", "m"]}, prices={"s": 10, "m": 12})
    >>> result = recommend_upgrade(model, catalog, item="s", return_frame=False)
    >>> result.item.tolist(), result.price_diff.tolist(), len(result)
    (['m'], [2.0], 1)
    """

    from_item: np.ndarray
    item: np.ndarray
    from_tier: np.ndarray
    to_tier: np.ndarray
    price_from: np.ndarray
    price_to: np.ndarray
    price_diff: np.ndarray
    added_features: list[tuple[Any, ...]]
    score: np.ndarray
    rank: np.ndarray
    reason: np.ndarray | None = None


def _positive(name: str, value: Any, integer: bool = False) -> Any:
    if value is None:
        return None
    kind = numbers.Integral if integer else numbers.Real
    if (
        isinstance(value, bool)
        or not isinstance(value, kind)
        or not np.isfinite(float(value))
        or value <= 0
    ):
        raise ValueError(
            f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}"
        )
    return value


def _feature_set(value: Any) -> frozenset:
    if value is None:
        return frozenset()
    if isinstance(value, Mapping):
        return frozenset(
            k if v is True else f"{k}={v}"
            for k, v in value.items()
            if v is not False and v is not None
        )
    if isinstance(value, (str, bytes)):
        return frozenset([value])
    if isinstance(value, Collection):
        return frozenset(value)
    raise TypeError(f"catalog.features_of must return a set or dict, got {type(value).__name__}")


class _Candidates:
    """Upgrade candidates of a batch of queries, as aligned arrays (query-sorted)."""

    def __init__(self, q: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
        order = np.argsort(q, kind="stable")
        self.q, self.src, self.dst = q[order], src[order], dst[order]


def _from_rows(
    base: Recommender, view: CatalogView, items: np.ndarray, user_rows: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Return (query, from row) pairs: the item given, else the top tier owned in each family."""
    if items.size == 1 and not pd.isna(items[0]):  # one item asked about (a shop-front call)
        lookup, _ = item_lookup(base.item_ids_)
        row = lookup.get(items[0], -1)
        if row < 0:
            base.item_ids_.to_rows(items)  # raises UnknownIdError naming it
        if view.family[row] < 0:
            raise UnknownIdError(
                f"item(s) {[items[0]]} are not in any family of the catalog: no upgrades are "
                "defined"
            )
        return np.zeros(1, dtype=np.int64), np.array([row], dtype=np.int64)
    has_item = ~pd.isna(items)
    q_parts, r_parts = [], []
    if has_item.any():
        lookup, _ = item_lookup(base.item_ids_)
        values = items[has_item]
        rows = np.fromiter(
            (lookup.get(v, -1) for v in values.tolist()), dtype=np.int64, count=values.size
        )
        if (rows < 0).any():
            base.item_ids_.to_rows(values)  # raises UnknownIdError naming them
        outside = view.family[rows] < 0
        if outside.any():
            bad = pd.unique(values[outside])
            raise UnknownIdError(
                f"item(s) {bad[:MAX_SHOWN].tolist()} are not in any family of the catalog: "
                "no upgrades are defined"
            )
        q_parts.append(np.flatnonzero(has_item))
        r_parts.append(rows)
    owners = np.flatnonzero(~has_item)
    if owners.size == 1 and user_rows[owners[0]] >= 0:  # one customer (a shop-front call)
        ui, u = base.user_items_, int(user_rows[owners[0]])
        owned = ui.indices[ui.indptr[u] : ui.indptr[u + 1]]
        owned = owned[view.family[owned] >= 0]
        owned = owned[np.lexsort((view.tier[owned], view.family[owned]))]
        fam = view.family[owned]
        last = np.ones(owned.size, dtype=bool)  # the top tier owned in each family
        last[:-1] = fam[1:] != fam[:-1]
        q_parts.append(np.full(int(last.sum()), owners[0], dtype=np.int64))
        r_parts.append(owned[last].astype(np.int64))
    elif owners.size:
        ui = base.user_items_
        indptr, owned = select_csr_rows(ui.indptr, ui.indices, user_rows[owners])
        q_of = owners[np.repeat(np.arange(owners.size), np.diff(indptr))]
        fam = view.family[owned]
        keep = fam >= 0
        q_of, owned, fam = q_of[keep], owned[keep], fam[keep]
        order = np.lexsort((view.tier[owned], fam, q_of))
        q_of, owned, fam = q_of[order], owned[order], fam[order]
        last = np.ones(q_of.size, dtype=bool)
        if q_of.size > 1:
            last[:-1] = (q_of[1:] != q_of[:-1]) | (fam[1:] != fam[:-1])
        q_parts.append(q_of[last])
        r_parts.append(owned[last].astype(np.int64))
    q = np.concatenate(q_parts) if q_parts else np.empty(0, dtype=np.int64)
    src = np.concatenate(r_parts) if r_parts else np.empty(0, dtype=np.int64)
    return q.astype(np.int64), src.astype(np.int64)


def _candidates(
    base: Recommender,
    catalog: TierCatalogProtocol,
    view: CatalogView,
    q: np.ndarray,
    src: np.ndarray,
) -> _Candidates:
    """Expand every (query, from row) into its higher tiers via ``catalog.higher_tiers``.

    A :class:`TierCatalog` is expanded from its aligned view in one go (the
    same items, lowest tier first); other catalogs are asked item by item,
    and their answers checked.
    """
    if isinstance(catalog, TierCatalog) and src.size == 1:  # one item: one family's members
        family = int(view.family[src[0]])
        dst = view.members[view.members_indptr[family] : view.members_indptr[family + 1]]
        dst = dst[view.tier[dst] > view.tier[src[0]]].astype(np.int64)
        return _Candidates(np.repeat(q, dst.size), np.repeat(src, dst.size), dst)
    if isinstance(catalog, TierCatalog):
        members_ip, take = row_positions(view.members_indptr, view.family[src])
        lengths = np.diff(members_ip)
        dst = view.members[take].astype(np.int64)
        from_rows = np.repeat(src, lengths)
        up = view.tier[dst] > view.tier[from_rows]
        return _Candidates(np.repeat(q, lengths)[up], from_rows[up], dst[up])
    lookup, external = item_lookup(base.item_ids_)
    higher: dict[int, np.ndarray] = {}
    for row in np.unique(src).tolist():
        item = external[row]
        tiers = list(catalog.higher_tiers(item))
        rows = np.fromiter((lookup.get(v, -1) for v in tiers), dtype=np.int64, count=len(tiers))
        if (rows < 0).any():
            raise UnknownIdError(
                f"catalog.higher_tiers({item!r}) returned items unknown to the model: "
                f"{[t for t, r in zip(tiers, rows.tolist(), strict=True) if r < 0][:MAX_SHOWN]}"
            )
        bad = (view.family[rows] != view.family[row]) | ~(view.tier[rows] > view.tier[row])
        if bad.any():
            raise ValueError(
                f"catalog.higher_tiers({item!r}) returned "
                f"{external[rows[bad]].tolist()[:MAX_SHOWN]}, which are not strictly higher tiers "
                "of its family"
            )
        higher[row] = rows
    counts = np.array([higher[r].size for r in src.tolist()], dtype=np.int64)
    dst = (
        np.concatenate([higher[r] for r in src.tolist()])
        if src.size
        else np.empty(0, dtype=np.int64)
    )
    return _Candidates(np.repeat(q, counts), np.repeat(src, counts), dst.astype(np.int64))


def _affinity(
    scorer: Recommender, user_rows: np.ndarray, cand: _Candidates, pos: np.ndarray
) -> np.ndarray:
    """Return the model's affinity for candidates ``pos``.

    That is the user's score when the model knows the user, else the score for
    a history holding just the ``from`` item.
    """
    out = np.zeros(pos.size, dtype=np.float64)
    if pos.size == 0:
        return out
    q, src, dst = cand.q[pos], cand.src[pos], cand.dst[pos]
    n_items = len(scorer.item_ids_)
    users = user_rows[q]
    if users[0] >= 0 and (
        user_rows.size == 1 or (users == users[0]).all()
    ):  # one known customer (a shop-front call, a slate's basket items): one scoring pass
        scores = scorer.score_rows(users[:1], dst)
        out[:] = np.asarray(scores, dtype=np.float64)[0]
        return np.where(np.isnan(out), -np.inf, out)
    for personal in (True, False):
        sel = np.flatnonzero((users >= 0) if personal else (users < 0))
        if sel.size == 0:
            continue
        keys = users[sel] if personal else src[sel]
        uniq_keys, key_idx = np.unique(keys, return_inverse=True)
        union, col = np.unique(dst[sel], return_inverse=True)
        step = max(1, _SCORE_CELLS // max(union.size, 1))
        for a in range(0, uniq_keys.size, step):
            chunk = uniq_keys[a : a + step]
            if personal:
                scores = scorer.score_rows(chunk, union)
            else:
                onehot = sp.csr_matrix(
                    (np.ones(chunk.size, dtype=np.float32), chunk, np.arange(chunk.size + 1)),
                    shape=(chunk.size, n_items),
                )
                scores = scorer.score_history_rows(onehot, union)
            inside = (key_idx >= a) & (key_idx < a + chunk.size)
            out[sel[inside]] = np.asarray(scores)[key_idx[inside] - a, col[inside]]
    return np.where(np.isnan(out), -np.inf, out)


def _with_popularity_ties(affinity: np.ndarray, items: np.ndarray, base: Recommender) -> np.ndarray:
    """Return a key ordered as ``affinity``, equal affinities ordered by the items' popularity.

    Where the model has no evidence that tells candidates apart (equal
    affinity, typically 0 for an item-item model and a household it knows
    little of), the customer's likely choice is the one most customers choose.

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "b"]})
    >>> model = recsys.Popularity().fit(
    ...     recsys.Interactions.from_pandas(log, user_col="user", item_col="item"))
    >>> _with_popularity_ties(np.array([0.0, 0.0, 1.0]), np.array([0, 1, 0]), model).tolist()
    [0.0, 1.0, 2.0]
    """
    if affinity.size == 0:
        return affinity
    place = popularity_places(base)  # most popular: the highest (cached per fit)
    finite = np.isfinite(affinity)
    levels, level = np.unique(affinity[finite], return_inverse=True)
    key = np.full(affinity.size, -np.inf)
    key[finite] = level * float(place.size) + place[items[finite]]
    return key


_FEW = 32  # one query with at most this many candidates is ranked in plain Python


def _one_query_rank(affinity: np.ndarray, items: np.ndarray, base: Recommender) -> np.ndarray:
    """Return ``_pct_rank(_with_popularity_ties(affinity, items, base), q)`` for one query.

    The same numbers, computed in plain Python (a handful of candidates: NumPy's
    ``unique`` and ``lexsort`` cost more than the work).  Candidates are
    distinct items, so only non-finite affinities tie.

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "b"]})
    >>> model = recsys.Popularity().fit(
    ...     recsys.Interactions.from_pandas(log, user_col="user", item_col="item"))
    >>> _one_query_rank(np.array([0.0, 0.0, -np.inf]), np.array([0, 1, 0]), model).tolist()
    [0.6666666666666666, 1.0, 0.3333333333333333]
    """
    size = affinity.size
    if size == 0:
        return np.empty(0, dtype=np.float64)
    place = popularity_places(base)
    values = affinity.tolist()
    places = place[items].tolist()
    finite = sorted({v for v in values if math.isfinite(v)})
    level = {v: k for k, v in enumerate(finite)}
    n_places = float(place.size)
    keys = [
        level[v] * n_places + p if math.isfinite(v) else -math.inf
        for v, p in zip(values, places, strict=True)
    ]
    ordered = sorted(keys)
    out = np.empty(size, dtype=np.float64)
    first: dict[float, int] = {}
    last: dict[float, int] = {}
    for k, key in enumerate(ordered, start=1):
        first.setdefault(key, k)
        last[key] = k
    for j, key in enumerate(keys):  # the average rank of the ties, over the group's size
        count = last[key] - first[key] + 1
        out[j] = (last[key] - (count - 1) / 2.0) / size
    return out


def _pct_rank(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Average rank of each value within its group, divided by the group's size (NaN stays NaN).

    The same as ``pandas`` ``groupby(groups).rank(method="average", pct=True)``, in NumPy.

    Examples
    --------
    >>> _pct_rank(np.array([3.0, 1.0, 3.0, 5.0, np.nan]), np.array([0, 0, 0, 1, 1])).tolist()
    [0.8333333333333334, 0.3333333333333333, 0.8333333333333334, 1.0, nan]
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.size, np.nan)
    ok = np.flatnonzero(~np.isnan(values))
    if ok.size == 0:
        return out
    if (
        groups.size and groups[0] == groups[-1] and (groups == groups[0]).all()
    ):  # one group (one query)
        unique, inverse, counts = np.unique(values[ok], return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        out[ok] = (ends - (counts - 1) / 2.0)[inverse] / ok.size
        return out
    order = ok[np.lexsort((values[ok], groups[ok]))]
    g, v = groups[order], values[order]
    new_group = np.ones(order.size, dtype=bool)
    new_group[1:] = g[1:] != g[:-1]
    new_run = new_group.copy()
    new_run[1:] |= v[1:] != v[:-1]
    idx = np.arange(order.size)
    rank = idx - np.maximum.accumulate(np.where(new_group, idx, 0)) + 1.0
    run = np.cumsum(new_run) - 1
    average = np.bincount(run, weights=rank) / np.bincount(run)
    group = np.cumsum(new_group) - 1
    out[order] = average[run] / np.bincount(group)[group]
    return out


def _missing(values: np.ndarray) -> np.ndarray:
    """Return ``pandas.isna(values)``, for one value without the array machinery.

    Examples
    --------
    >>> _missing(np.array([None], dtype=object)).tolist()
    [True]
    >>> _missing(np.array(["a", None], dtype=object)).tolist()
    [False, True]
    """
    if values.size == 1:
        flag = pd.isna(values[0])
        if isinstance(flag, (bool, np.bool_)):
            return np.array([flag], dtype=bool)
    return np.asarray(pd.isna(values), dtype=bool)


def _within_limits(
    cand: _Candidates,
    view: CatalogView,
    n_q: int,
    segments: np.ndarray | None,
    max_price_ratio: float | None,
    max_tier_jump: int | None,
    segment_price_caps: Mapping[Any, float] | None,
) -> _Candidates:
    """Return the candidates within the tier jump and the price caps (query's and segment's)."""
    keep = np.ones(cand.q.size, dtype=bool)
    if max_tier_jump is not None:
        keep &= (view.step[cand.dst] - view.step[cand.src]) <= max_tier_jump
    caps = np.full(n_q, np.inf if max_price_ratio is None else float(max_price_ratio))
    if segment_price_caps:
        seg_values = segments if segments is not None else np.full(n_q, None, dtype=object)
        for i, seg in enumerate(seg_values.tolist()):
            cap = segment_price_caps.get(seg) if seg is not None else None
            if cap is not None:
                caps[i] = min(caps[i], cap)
    capped = np.isfinite(caps[cand.q])
    if capped.any():
        p_from, p_to = view.price[cand.src], view.price[cand.dst]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(p_to == p_from, 1.0, p_to / p_from)
        keep &= ~capped | (np.isfinite(ratio) & (ratio <= caps[cand.q]))
    return _Candidates(cand.q[keep], cand.src[keep], cand.dst[keep])


def _upgrade(
    model: Recommender | SegmentedModel,
    catalog: TierCatalogProtocol,
    items: np.ndarray,
    users: np.ndarray,
    segments: np.ndarray | None,
    n: int,
    *,
    max_price_ratio: float | None,
    max_tier_jump: int | None,
    segment_price_caps: Mapping[Any, float] | None,
    rules: Rules,
    explain: bool,
    affinity_weight: float,
    now: Any,
    num_threads: int,
) -> tuple[dict[str, Any], np.ndarray]:
    base = base_model(model)
    view = catalog_view(catalog, base)
    if view.unknown:
        check_catalog(catalog, base)  # raises, listing them
    n_q = items.size
    user_rows = np.full(n_q, -1, dtype=np.int32)
    has_user = ~_missing(users)
    if has_user.any():
        known = users[has_user]
        if known.size > 1 and (known == known[0]).all():  # one customer's items (a slate)
            known = known[:1]  # a single look-up
        user_rows[has_user] = base.user_ids_.to_rows(known)  # unknown users: KeyError naming them
    missing = _missing(items) & ~has_user
    if missing.any():
        raise ValueError(
            f"upgrade queries {np.flatnonzero(missing)[:MAX_SHOWN].tolist()} have neither an item "
            "nor a user"
        )

    q, src = _from_rows(base, view, items, user_rows)
    cand = _candidates(base, catalog, view, q, src)

    # ---- hard limits: tier jump and price caps
    if max_tier_jump is not None or max_price_ratio is not None or segment_price_caps:
        cand = _within_limits(
            cand, view, n_q, segments, max_price_ratio, max_tier_jump, segment_price_caps
        )

    # ---- scores
    _, external = item_lookup(base.item_ids_)
    feature_cache: dict[int, frozenset] = {}

    def features(row: int) -> frozenset:
        if row not in feature_cache:
            feature_cache[row] = _feature_set(catalog.features_of(external[row]))
        return feature_cache[row]

    affinity = np.zeros(cand.q.size)
    if isinstance(model, SegmentedModel):
        seg_values = segments if segments is not None else np.full(n_q, None, dtype=object)
        scorer_of = [model.model_for(s) for s in seg_values.tolist()]
        for scorer in {id(s): s for s in scorer_of}.values():
            mine = np.flatnonzero(np.array([s is scorer for s in scorer_of])[cand.q])
            rows = user_rows.copy()
            if scorer is not base and has_user.any():
                rows[has_user] = scorer.user_ids_.to_rows(users[has_user], missing="ignore")
            affinity[mine] = _affinity(scorer, rows, cand, mine)
    else:
        affinity = _affinity(base, user_rows, cand, np.arange(cand.q.size))
    if n_q == 1 and cand.q.size <= _FEW:  # a shop-front call: a handful of candidates
        score = _one_query_rank(affinity, cand.dst, base)
    elif cand.q.size <= _FEW:  # a few queries (a slate's basket items): ranked query by query
        score = np.empty(cand.q.size, dtype=np.float64)
        bounds = np.flatnonzero(np.diff(cand.q)) + 1  # the candidates are query-sorted
        for start, stop in zip([0, *bounds.tolist()], [*bounds.tolist(), cand.q.size], strict=True):
            score[start:stop] = _one_query_rank(affinity[start:stop], cand.dst[start:stop], base)
    else:
        score = _pct_rank(_with_popularity_ties(affinity, cand.dst, base), cand.q)
    if affinity_weight < 1.0:  # the value-for-money blend (features of every candidate)
        n_added = np.array(
            [
                len(features(d) - features(s))
                for s, d in zip(cand.src.tolist(), cand.dst.tolist(), strict=True)
            ],
            dtype=np.float64,
        )
        p_from, p_to = view.price[cand.src], view.price[cand.dst]
        with np.errstate(divide="ignore", invalid="ignore"):
            rise = np.maximum(p_to - p_from, 0.0) / p_from
        rise = np.where(np.isfinite(rise), rise, 0.0)
        value = (1.0 + n_added) / (1.0 + rise)
        score = affinity_weight * score + (1 - affinity_weight) * _pct_rank(value, cand.q)

    # ---- constrained top-n (rules inside the selection)
    compiled = rules.compile(base)
    constraints = compiled.constraints(
        n_q, user_rows=user_rows, users=users, segments=segments, now=now
    )
    if n_q == 1:  # one query: its candidates
        c_ip = np.array([0, cand.q.size], dtype=np.int64)
    else:
        c_ip = np.zeros(n_q + 1, dtype=np.int64)
        np.cumsum(np.bincount(cand.q, minlength=n_q), out=c_ip[1:])
    ids, top, taken = constrained_topn_candidates(
        c_ip,
        cand.dst.astype(np.int32),
        score.astype(np.float32),
        n,
        len(base.item_ids_),
        constraints,
        num_threads=num_threads,
    )
    valid = ids >= 0
    per_query = valid.sum(axis=1)
    take = taken[valid]
    src_rows, dst_rows = cand.src[take], cand.dst[take]
    price_from, price_to = view.price[src_rows], view.price[dst_rows]
    added_taken = [
        tuple(sorted(features(d) - features(s), key=str))
        for s, d in zip(src_rows.tolist(), dst_rows.tolist(), strict=True)
    ]
    columns: dict[str, Any] = {
        "from_item": external[src_rows],
        "item": external[dst_rows],
        "from_tier": view.tier[src_rows],
        "to_tier": view.tier[dst_rows],
        "price_from": price_from,
        "price_to": price_to,
        "price_diff": price_to - price_from,
        "added_features": added_taken,
        "score": top[valid],
        "rank": np.nonzero(valid)[1].astype(np.int64) + 1,  # row-major, as the other columns
    }
    if explain:
        columns["reason"] = upgrade_reasons(
            columns["from_item"],
            columns["from_tier"],
            columns["to_tier"],
            price_from,
            price_to,
            added_taken,
        )
    return columns, per_query


def _check_common(
    model: Any,
    n: Any,
    rules: Any,
    catalog: Any,
    affinity_weight: float,
    segment_price_caps: Any,
    max_price_ratio: Any,
    max_tier_jump: Any,
    num_threads: Any,
) -> tuple[Any, int, Rules]:
    """Check the arguments both upgrade calls share; return the model, ``n`` and the rules.

    ``n`` is capped at the catalog's size: never more offers than items.
    """
    model = check_model(model)
    n = check_n(n)
    rules = check_rules(rules)
    resolve_num_threads(num_threads)
    if not isinstance(
        catalog, (TierCatalog, TierCatalogProtocol)
    ):  # the concrete class first: cheaper
        raise TypeError(
            "catalog must implement TierCatalogProtocol (e.g. a TierCatalog), "
            f"got {type(catalog).__name__}"
        )
    n = min(n, max(1, len(catalog.items)))
    if (
        isinstance(affinity_weight, bool)
        or not isinstance(affinity_weight, numbers.Real)
        or not (0.0 <= affinity_weight <= 1.0)
    ):
        raise ValueError(f"affinity_weight must be a number in [0, 1], got {affinity_weight!r}")
    _positive("max_price_ratio", max_price_ratio)
    _positive("max_tier_jump", max_tier_jump, integer=True)
    if segment_price_caps is not None:
        if not isinstance(segment_price_caps, Mapping):
            raise TypeError(
                f"segment_price_caps must be a dict {{segment: max price ratio}}, got "
                f"{type(segment_price_caps).__name__}"
            )
        for seg, cap in segment_price_caps.items():
            _positive(f"segment_price_caps[{seg!r}]", cap)
    return model, n, rules


@overload
def recommend_upgrade(
    model: Recommender | SegmentedModel,
    catalog: TierCatalogProtocol,
    *,
    item: ExternalId | None = ...,
    user: ExternalId | None = ...,
    n: int = ...,
    max_price_ratio: float | None = ...,
    max_tier_jump: int | None = ...,
    segment: Any = ...,
    segment_price_caps: Mapping[Any, float] | None = ...,
    rules: Rules | None = ...,
    explain: bool = ...,
    affinity_weight: float = ...,
    now: Any = ...,
    return_frame: Literal[True] = ...,
    num_threads: int = ...,
) -> pd.DataFrame: ...


@overload
def recommend_upgrade(
    model: Recommender | SegmentedModel,
    catalog: TierCatalogProtocol,
    *,
    item: ExternalId | None = ...,
    user: ExternalId | None = ...,
    n: int = ...,
    max_price_ratio: float | None = ...,
    max_tier_jump: int | None = ...,
    segment: Any = ...,
    segment_price_caps: Mapping[Any, float] | None = ...,
    rules: Rules | None = ...,
    explain: bool = ...,
    affinity_weight: float = ...,
    now: Any = ...,
    return_frame: Literal[False],
    num_threads: int = ...,
) -> UpgradeResult: ...


@overload
def recommend_upgrade(
    model: Recommender | SegmentedModel,
    catalog: TierCatalogProtocol,
    *,
    item: ExternalId | None = ...,
    user: ExternalId | None = ...,
    n: int = ...,
    max_price_ratio: float | None = ...,
    max_tier_jump: int | None = ...,
    segment: Any = ...,
    segment_price_caps: Mapping[Any, float] | None = ...,
    rules: Rules | None = ...,
    explain: bool = ...,
    affinity_weight: float = ...,
    now: Any = ...,
    return_frame: bool = ...,
    num_threads: int = ...,
) -> pd.DataFrame | UpgradeResult: ...


def recommend_upgrade(
    model: Recommender | SegmentedModel,
    catalog: TierCatalogProtocol,
    *,
    item: ExternalId | None = None,
    user: ExternalId | None = None,
    n: int = 3,
    max_price_ratio: float | None = None,
    max_tier_jump: int | None = None,
    segment: Any = None,
    segment_price_caps: Mapping[Any, float] | None = None,
    rules: Rules | None = None,
    explain: bool = True,
    affinity_weight: float = DEFAULT_AFFINITY_WEIGHT,
    now: Any = None,
    return_frame: bool = True,
    num_threads: int = 0,
) -> pd.DataFrame | UpgradeResult:
    """Return the ``n`` best upgrades of an item, or of everything a customer owns.

    Parameters
    ----------
    model : Recommender or SegmentedModel
        Fitted; every catalog item must be one of its items (see
        :meth:`TierCatalog.check_against` / :meth:`TierCatalog.restrict_to`).
    catalog : TierCatalogProtocol
        Product families and tiers (a :class:`TierCatalog` or your own class).
    item : optional
        The item viewed or in the cart: its strictly higher tiers are the
        candidates.  A ``KeyError`` if the model does not know it or it is in
        no family.
    user : optional
        The customer (a ``KeyError`` if the model does not know them).  With
        ``item``: ranks by their affinity and excludes what they own.  Alone:
        for each family they own, the tiers above the highest one they own.
    n : int
        Exactly ``n`` rows whenever ``n`` candidate upgrades remain.
    max_price_ratio : float, optional
        Only upgrades with ``price_to / price_from`` at most this (upgrades
        with an unknown price are left out when a cap applies).
    max_tier_jump : int, optional
        Only upgrades at most this many tiers up (distinct tiers of the
        family: 1 = any item of the next tier only).
    segment : optional
        The customer's market: its ``segment_price_caps``, model (for a
        :class:`SegmentedModel`) and ``rules.segment_items``.
    segment_price_caps : dict, optional
        ``{segment: max price ratio}`` — price sensitivity per market; the
        stricter of it and ``max_price_ratio`` applies.  Segments not listed
        get only ``max_price_ratio``.
    rules : Rules, optional
        Business rules (default ``Rules()``: exclude what the user owns).
        ``Rules(max_per_group=1, group_col="family",
        item_attributes=catalog.attributes())`` gives at most one upgrade per
        family.
    explain : bool
        Add the ``reason`` column.
    affinity_weight : float
        Weight of the model's affinity against value for money, in ``[0, 1]``
        (module docstring): 1.0 (the default) ranks by the affinity alone;
        0.7 blends in value for money at 30%.
    now : datetime-like, optional
        For the declines cooldown.
    return_frame : bool
        ``False`` returns an :class:`UpgradeResult` (the same columns as NumPy
        arrays and a list) without building a DataFrame — the fastest path
        for online serving.
    num_threads : int

    Returns
    -------
    pandas.DataFrame or UpgradeResult
        ``from_item, item, from_tier, to_tier, price_from, price_to,
        price_diff, added_features, score, rank[, reason]``.

    Raises
    ------
    KeyError
        Unknown item or user; item in no family; catalog items unknown to
        the model.
    ValueError, TypeError
        Bad arguments (neither ``item`` nor ``user``, bad caps).

    Examples
    --------
    >>> import recsys
    >>> from recsys.selling.catalog import TierCatalog
    >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3, 3],
    ...                     "item": ["64gb", "case", "128gb", "case", "256gb", "case"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> model = recsys.ItemItem().fit(data)
    >>> catalog = TierCatalog.from_mapping({"phone": ["64gb", "128gb", "256gb"]},
    ...                                    prices={"64gb": 500, "128gb": 600, "256gb": 800})
    >>> offers = recommend_upgrade(model, catalog, item="64gb", max_price_ratio=1.5)
    >>> offers[["item", "price_diff", "reason"]].values.tolist()
    [['128gb', 100.0, 'upgrade from 64gb (tier 1 to 2): for +100.00 (+20%)']]
    >>> recommend_upgrade(model, catalog, user=2)["item"].tolist()
    ['256gb']
    """
    model, n, rules = _check_common(
        model,
        n,
        rules,
        catalog,
        affinity_weight,
        segment_price_caps,
        max_price_ratio,
        max_tier_jump,
        num_threads,
    )
    if item is None and user is None:
        raise ValueError("recommend_upgrade needs an item, a user, or both")
    columns, _ = _upgrade(
        model,
        catalog,
        np.array([item], dtype=object),
        np.array([user], dtype=object),
        None if segment is None else np.array([segment], dtype=object),
        n,
        max_price_ratio=max_price_ratio,
        max_tier_jump=max_tier_jump,
        segment_price_caps=segment_price_caps,
        rules=rules,
        explain=explain,
        affinity_weight=float(affinity_weight),
        now=now,
        num_threads=num_threads,
    )
    result = UpgradeResult(**columns)
    return result.to_pandas() if return_frame else result


def _none_for_missing(values: np.ndarray) -> np.ndarray:
    """Return ``values`` as a new object array, with ``None`` for every missing value."""
    out = np.array(values, dtype=object)  # a copy: never write into the caller's frame
    out[pd.isna(out)] = None
    return out


def recommend_upgrade_batch(
    model: Recommender | SegmentedModel,
    catalog: TierCatalogProtocol,
    queries: pd.DataFrame,
    n: int = 3,
    *,
    item_col: str | None = "item",
    user_col: str | None = None,
    segment_col: str | None = None,
    query_col: str | None = None,
    max_price_ratio: float | None = None,
    max_tier_jump: int | None = None,
    segment_price_caps: Mapping[Any, float] | None = None,
    rules: Rules | None = None,
    explain: bool = True,
    affinity_weight: float = DEFAULT_AFFINITY_WEIGHT,
    now: Any = None,
    num_threads: int = 0,
) -> pd.DataFrame:
    """Upgrades for many queries (one row of ``queries`` each), as :func:`recommend_upgrade`.

    Parameters
    ----------
    queries : pandas.DataFrame
        One row per query, with an item (``item_col``), a user
        (``user_col``) or both; missing values mean "not given".
    item_col, user_col, segment_col : str, optional
        Columns of ``queries``; at least one of ``item_col``/``user_col``.
    query_col : str, optional
        Column identifying each query in the output (default: the index of
        ``queries``, as column ``query``).
    n, max_price_ratio, max_tier_jump, segment_price_caps, rules, explain
        As in :func:`recommend_upgrade`.
    affinity_weight, now, num_threads
        As in :func:`recommend_upgrade`.

    Returns
    -------
    pandas.DataFrame
        ``<query_col or "query">`` followed by the columns of
        :func:`recommend_upgrade`, queries in order, then rank.

    Examples
    --------
    >>> import recsys
    >>> from recsys.selling.catalog import TierCatalog
    >>> log = pd.DataFrame({"user": [1, 1, 2, 3, 4], "item": ["s", "mug", "m", "l", "m"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> model = recsys.Popularity().fit(data)
    >>> catalog = TierCatalog.from_mapping({"shirt": ["s", "m", "l"]})
    >>> queries = pd.DataFrame({"item": ["s", None], "user": [None, 2]})
    >>> offers = recommend_upgrade_batch(model, catalog, queries, n=2, user_col="user")
    >>> offers[["query", "item"]].values.tolist()
    [[0, 'm'], [0, 'l'], [1, 'l']]
    """
    model, n, rules = _check_common(
        model,
        n,
        rules,
        catalog,
        affinity_weight,
        segment_price_caps,
        max_price_ratio,
        max_tier_jump,
        num_threads,
    )
    queries = require_dataframe(queries, "queries")
    if item_col is None and user_col is None:
        raise ValueError("recommend_upgrade_batch needs item_col, user_col or both")
    require_columns(queries, [item_col, user_col, segment_col, query_col], "queries")
    n_q = len(queries)
    items = (
        queries[item_col].to_numpy(dtype=object)
        if item_col is not None
        else np.full(n_q, None, dtype=object)
    )
    users = (
        queries[user_col].to_numpy(dtype=object)
        if user_col is not None
        else np.full(n_q, None, dtype=object)
    )
    items, users = _none_for_missing(items), _none_for_missing(users)
    segments = queries[segment_col].to_numpy(dtype=object) if segment_col is not None else None
    columns, per_query = _upgrade(
        model,
        catalog,
        items,
        users,
        segments,
        n,
        max_price_ratio=max_price_ratio,
        max_tier_jump=max_tier_jump,
        segment_price_caps=segment_price_caps,
        rules=rules,
        explain=explain,
        affinity_weight=float(affinity_weight),
        now=now,
        num_threads=num_threads,
    )
    labels = queries[query_col].to_numpy() if query_col is not None else queries.index.to_numpy()
    return pd.DataFrame({query_col or "query": np.repeat(labels, per_query), **columns})
