"""Cross-sell: what goes with the basket ("customers who bought this also bought").

:func:`recommend_cross_sell` ranks complements of the items in a cart, an
order or a product page; :func:`recommend_cross_sell_batch` does the same for
many baskets at once.  Business rules (:class:`~recsys.selling.Rules`) and
the catalog's product families are applied inside the top-n, so every list
has exactly ``n`` items whenever ``n`` eligible items remain.

How each model scores a basket ``B``
------------------------------------
* :class:`~recsys.ItemItem` with ``similarity="confidence"`` (the default):
  the probability that the item joins the basket,
  ``1 - (1 - max_{i in B} P(j | i)) (1 - r_j)``, where ``P(j | i)`` is the
  smoothed share of baskets with ``i`` that also hold ``j`` and ``r_j`` the
  known customer's repeat-purchase probability (both priors calibrated at
  fit time; see :mod:`recsys.models.basket_probability`).  Popular items no
  basket item was bought with keep the prior share of ``P(j | i)``, so they
  compete with weak co-purchases; where co-purchases carry no signal the
  calibration keeps the ranking at the best-seller list.  What the customer
  bought before may come back — as a repeat, when their history says they
  re-buy it — unless ``rules`` exclude owned items.
* :class:`~recsys.ItemItem` with another similarity: the mean similarity of
  an item to the basket's items, ``mean_{b in B} sim(b, j)``.  Any model
  with a neighbour table (``neighbours_``) is scored this way: a sparse
  :class:`~recsys.models.ease.EASE` (``density=...``) exposes its ``B`` as
  one (:mod:`recsys.models.weight_neighbours`), so a basket reads only its
  items' rows of ``B``: EASE's sum ``x B``, with the repeat term below.
* :class:`~recsys.ALS`, :class:`~recsys.models.ease.EASE` (and any other
  model): the basket's scores through the public scoring hook
  (``score_history_rows``; ALS folds the basket in as a new user), every item
  scored.
* :class:`~recsys.Popularity`: the (segment's) popularity.

Items with no evidence are filled in by popularity (score 0).

The customer's history as a second term
---------------------------------------
A model fitted on baskets that learned its customers' repeat purchases
(``repeat_purchases_``, :mod:`recsys.models.repeats`: EASE and ALS do) scores
a known customer's owned items with their calibrated repeat probability
``r_j = (h + a p_j) / (n + a)`` (item in ``h`` of their ``n`` orders, ``a``
chosen on held-out orders of the training data) combined with the basket's
score ``s_j`` as two independent reasons to buy::

    score_j = (s + r_j (1 - min(s, 1))) / c,   s = c max(s_j, 0)

— on the probability scale, the noisy-or ``1 - (1 - s)(1 - r_j)`` of two
probabilities wherever ``s <= 1``; divided by ``c`` again so that the items
without a repeat term keep their basket score exactly.  One scale: ``c``
(``repeat_purchases_.scale``) is chosen at fit time on held-out training
baskets (:func:`recsys.models.repeats.calibrate_scale`).  EASE's score of a 0/1
basket row is the ridge regression estimate of ``P(j | basket)``, and ALS's
predicted preference estimates the same 0/1 target: on Online Retail ``c`` is
about 1; where a strong ridge shrinks EASE's scores (Groceries, λ in the
thousands) it is much larger.  Items the customer never
bought keep the basket's score exactly (so anonymous calls are unchanged), and
an owned item comes back only when its repeat term earns it: by default
(``Rules(exclude_owned=False)`` for these models) owned items compete, owned
durables (``RepeatPurchases.durable``) are excluded, and the reason of a row
whose repeat probability is the larger piece of evidence says so ("you bought
it in 4 of your 9 orders").  ``user_weight`` scales ``r_j`` (``None`` = 1).
On Online Retail this lifts ``recommend_cross_sell(EASE().fit(...), basket,
user=...)`` from HR@10 0.198 to 0.347 and ``ALS()`` from 0.128 to 0.268
(``python -m benchmarks ease --part online-retail``).

A sparse EASE, served through its neighbour table, gets the same repeat term
without scoring every item: the basket's top ``n + R`` neighbours (``R``
repeat entries; only they can move ahead of a neighbour) and the customer's
repeat items, each with its own basket score, are the candidates of a second
constrained top-n — the list the dense formula gives.

For the other models (and models without a repeat term), a known ``user``'s
own history is blended in: ``(1 - user_weight) * basket + user_weight *
history`` (item-item: mean similarity to their past items; factor models:
their own score), with ``user_weight = 0.1`` by default — the cart says what
they are doing now, the history who they are.  What they own is not offered
(the default ``Rules()``).

On a neighbour table (a sparse EASE without a repeat term, an ``ItemItem``
with long rows) the blend is served without walking a best-seller's whole
row (70k weights of a 100k-item EASE ``B``): each past item first gives its
strongest neighbours (the first of its row), the candidates' exact scores
are read from the table's columns, and a bound on the unread weights proves
that no other item beats them — else the query reads more, then whole rows.
The list and its scores are those of the whole rows, to the bit
(:func:`recsys.core.neighbour_lookup.prefix_topn`).

Markets (segments)
------------------
Buying habits differ by market: a coat buyer in one country wants a scarf, in
another an umbrella.  :class:`SegmentedModel` holds one model per segment (an
ItemItem per country, all on the same items) plus a global default for small
segments; pass it with ``segment=`` and each basket is scored by its market's
co-purchases and filled by its market's best sellers.  A ``Popularity`` model
fitted with ``segment_col`` ranks by the segment's best sellers instead, and
``Rules(segment_items=...)`` restricts each market to its assortment.

On Online Retail, with one ItemItem per country of at least 20 customers
(United Kingdom, France, Germany, Spain, Belgium), the "REGENCY CAKESTAND 3
TIER" (22423) gets the matching teacups and saucers in the UK, and ribbons,
snack boxes, plasters and a jam-making set in Germany::

    from recsys.datasets.loaders import load_online_retail

    df = load_online_retail()
    data = recsys.Interactions.from_pandas(df, user_col="CustomerID", item_col="StockCode",
                                           basket_col="InvoiceNo", time_col="InvoiceDate",
                                           user_attribute_cols=["Country"])
    model = SegmentedModel.fit(lambda: recsys.ItemItem(), data, "Country", min_users=20)
    recommend_cross_sell(model, ["22423"], n=3, segment="Germany")

Countries without their own model (and ``segment=None``) use the default.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.sparse import row_positions, select_csr_rows
from recsys._utils.threads import resolve_num_threads
from recsys.core.constraints import Constraints
from recsys.core.neighbour_lookup import prefix_topn
from recsys.core.neighbour_scores import neighbour_item_scores
from recsys.core.topn_candidates import constrained_topn_candidates
from recsys.core.topn_dense import constrained_topn_dense
from recsys.core.topn_neighbours import constrained_topn_neighbours
from recsys.data.validation import require_columns, require_dataframe, require_no_missing
from recsys.models.base import Recommender, check_n
from recsys.models.item_item import ItemItem
from recsys.models.popularity import Popularity
from recsys.models.repeats import RepeatPurchases, combine
from recsys.models.weight_neighbours import table_columns
from recsys.selling._common import (
    REPEAT_RULES,
    Columns,
    base_model,
    basket_rows,
    check_model,
    check_rules,
    check_unknown_items,
    frame,
    item_lookup,
    model_kind,
)
from recsys.selling.catalog import TierCatalogProtocol
from recsys.selling.catalog_alignment import catalog_view
from recsys.selling.explain import (
    FROM_BASKET,
    FROM_HISTORY,
    FROM_POPULARITY,
    FROM_REPEAT,
    cooccurrence_evidence,
    cross_sell_reasons,
    neighbour_evidence,
)
from recsys.selling.rules import Rules
from recsys.selling.segments import SegmentedModel
from recsys.types import ExternalId, ExternalIds

__all__ = [
    "CROSS_SELL_COLUMNS",
    "DEFAULT_USER_WEIGHT",
    "CrossSellResult",
    "SegmentedModel",
    "recommend_cross_sell",
    "recommend_cross_sell_batch",
]

#: Share of the customer's own history in a personalised cross-sell score (models other than
#: the basket-probability ItemItem, whose repeat probability is used as is).
DEFAULT_USER_WEIGHT = 0.1

#: Columns of :func:`recommend_cross_sell` (``explain=True``).
CROSS_SELL_COLUMNS = ["item", "score", "rank", "because", "together_count", "lift", "reason"]

#: Columns of a cross-sell frame kept as ``object`` whatever they hold: ``None`` where an
#: explanation is missing, whatever else the batch holds (pandas would otherwise infer a string
#: column with NaN in some frames and keep None in others).
_OBJECT_COLUMNS = ("because",)

#: Dense scoring (factor models) handles this many score cells per chunk.
_DENSE_CELLS = 1 << 23


@dataclass(frozen=True, eq=False)
class CrossSellResult(Columns):
    """One cross-sell list as NumPy arrays (:func:`recommend_cross_sell`, ``return_frame=False``).

    One entry per recommended item, best first; the fields are the columns of
    the DataFrame the call returns otherwise (:meth:`to_pandas` builds it).

    Attributes
    ----------
    item : numpy.ndarray
        The recommended items (external IDs).
    score : numpy.ndarray of float32
        Their scores (see :mod:`recsys.selling.cross_sell`).
    rank : numpy.ndarray of int64
        1 = best.
    because : numpy.ndarray of object, optional
        The basket item contributing most; ``None`` for history and
        popularity picks.  ``None`` (the field) without ``explain``.
    together_count : numpy.ndarray of int64, optional
        Orders (or customers, for user-level models) holding both the item
        and ``because``.
    lift : numpy.ndarray of float64, optional
        Lift of the pair (NaN without ``because``).
    reason : numpy.ndarray of object, optional
        The explanation as a sentence.

    Examples
    --------
    >>> import recsys
    >>> log = pd.DataFrame({"order": [1, 1, 2, 2], "item": ["tea", "cup", "tea", "cup"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="order", item_col="item",
    ...                                        basket_col="order")
    >>> model = recsys.ItemItem(min_count=1).fit(data)
    >>> result = recommend_cross_sell(model, ["tea"], n=1, return_frame=False)
    >>> result.item.tolist(), result.because.tolist(), len(result)
    (['cup'], ['tea'], 1)
    """

    item: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    because: np.ndarray | None = None
    together_count: np.ndarray | None = None
    lift: np.ndarray | None = None
    reason: np.ndarray | None = None

    def to_pandas(self) -> pd.DataFrame:
        """Return the list as the DataFrame :func:`recommend_cross_sell` returns by default.

        Examples
        --------
        >>> result = CrossSellResult(np.array(["cup"]), np.array([0.5], np.float32),
        ...                          np.array([1]))
        >>> result.to_pandas().values.tolist()
        [['cup', 0.5, 1]]
        """
        # object dtype: a missing explanation is None, as in frames
        return frame(self.columns(), objects=_OBJECT_COLUMNS)


# ---------------------------------------------------------------------------
# argument checks and per-query arrays
# ---------------------------------------------------------------------------


def _check_weight(user_weight: float | None) -> float | None:
    if user_weight is None:
        return None
    if (
        isinstance(user_weight, bool)
        or not isinstance(user_weight, (int, float, np.floating))
        or not (0.0 <= float(user_weight) <= 1.0)
    ):
        raise ValueError(f"user_weight must be None or a number in [0, 1], got {user_weight!r}")
    return float(user_weight)


class _Batch:
    """Queries as arrays: basket CSR over the base model's item rows, users, segments."""

    def __init__(
        self,
        indptr: np.ndarray,
        rows: np.ndarray,
        users: np.ndarray,
        user_rows: np.ndarray,
        segments: np.ndarray | None,
    ) -> None:
        self.indptr = indptr
        self.rows = rows
        self.users = users
        self.user_rows = user_rows
        self.segments = segments

    @property
    def size(self) -> int:
        return self.indptr.size - 1

    def take(self, positions: np.ndarray) -> _Batch:
        indptr, take = row_positions(self.indptr, positions)
        return _Batch(
            indptr,
            self.rows[take],
            self.users[positions],
            self.user_rows[positions],
            None if self.segments is None else self.segments[positions],
        )


class _Result:
    """Per-query result arrays (item rows, scores and, with explanations, their evidence)."""

    def __init__(self, n_queries: int, n: int, explain: bool) -> None:
        self.ids = np.full((n_queries, n), -1, dtype=np.int32)
        self.scores = np.full((n_queries, n), -np.inf, dtype=np.float32)
        self.unit = np.full(n_queries, "orders", dtype=object)
        self.segment_label = np.full(n_queries, None, dtype=object)
        if explain:
            self.because = np.full((n_queries, n), -1, dtype=np.int32)
            self.together = np.zeros((n_queries, n), dtype=np.int64)
            self.lift = np.full((n_queries, n), np.nan)
            self.kind = np.full((n_queries, n), FROM_POPULARITY, dtype=np.int8)
            self.repeat_count = np.zeros(
                (n_queries, n), dtype=np.int64
            )  # FROM_REPEAT rows: orders with the item
            self.order_count = np.zeros(
                (n_queries, n), dtype=np.int64
            )  # ... out of the customer's orders


# ---------------------------------------------------------------------------
# scoring paths
# ---------------------------------------------------------------------------


#: The history blend on a neighbour table (:func:`_neighbour_path`) first reads this many of each
#: past item's neighbours (the first of its row: its strongest), fewer for a long history (this
#: many in all, at least ``_HISTORY_PREFIX_MIN`` each) ...
_HISTORY_PREFIX = 150
_HISTORY_BUDGET = 2048
_HISTORY_PREFIX_MIN = 32
#: ... keeps this many candidates beyond ``n`` with their exact scores (looked up in the whole
#: rows), reads 4 times more where the bound cannot prove those hold the top n, up to this many
#: passes, then the whole rows.
_HISTORY_CANDIDATES = 400
_HISTORY_ROUNDS = 3
#: A query whose history rows hold fewer weights than this beyond their prefixes reads them whole.
_HISTORY_WALK = 1 << 15
#: A batch goes through in chunks of this many queries (each keeps ``n + _HISTORY_CANDIDATES``).
_HISTORY_CHUNK = 4096


def _history_queries(
    base: Recommender,
    batch: _Batch,
    user_weight: float,
    history_neighbours: int | None = None,
) -> tuple[np.ndarray, ...]:
    """Query CSR (indptr, rows, weights, explain, limit) of basket means blended with history means.

    A basket entry reads its item's whole row (``limit`` -1); a history
    entry its first ``history_neighbours`` (-1: all; default
    :func:`_history_prefix` of the history's length).
    """
    b_len = np.diff(batch.indptr)
    if user_weight == 0 or (batch.user_rows < 0).all():
        weights = np.repeat((1.0 / np.maximum(b_len, 1)).astype(np.float32), b_len)
        return _basket_only(batch, weights)
    ui = base.user_items_
    if batch.size == 1:  # a shop-front call: the same entries without the batch's bookkeeping
        u = int(batch.user_rows[0])
        h_ix = ui.indices[ui.indptr[u] : ui.indptr[u + 1]].astype(np.int32)
        b, h = batch.rows.size, h_ix.size
        k = _history_prefix(h) if history_neighbours is None else history_neighbours
        if h == 0:
            return _basket_only(batch, np.full(b, 1.0 / max(b, 1), dtype=np.float32))
        weights = np.empty(b + h, dtype=np.float32)
        weights[:b] = (1.0 - user_weight) / max(b, 1)
        weights[b:] = (user_weight if b else 1.0) / h
        explain = np.zeros(b + h, dtype=bool)
        explain[:b] = True
        limit = np.full(b + h, k, dtype=np.int64)
        limit[:b] = -1
        indptr = np.array([0, b + h], dtype=np.int64)
        return indptr, np.concatenate([batch.rows, h_ix]), weights, explain, limit
    h_ip, h_ix = select_csr_rows(ui.indptr, ui.indices, batch.user_rows)
    h_len = np.diff(h_ip)
    basket_share = np.where(h_len > 0, 1.0 - user_weight, 1.0) / np.maximum(b_len, 1)
    history_share = np.where(b_len > 0, user_weight, 1.0) / np.maximum(h_len, 1)
    if h_ix.size == 0:
        return _basket_only(batch, np.repeat(basket_share, b_len).astype(np.float32))
    q_ip, q_rows, q_w, q_ex = _join_entries(batch, h_ip, h_ix, basket_share, history_share)
    k = _history_prefix(h_len) if history_neighbours is None else history_neighbours
    per_entry = np.repeat(np.broadcast_to(k, h_len.shape), np.diff(q_ip))
    limit = np.where(q_ex, -1, per_entry).astype(np.int64)  # the history entries: not explained
    return q_ip, q_rows, q_w, q_ex, limit


def _history_prefix(h_len: Any) -> Any:
    """Neighbours read first per past item, for histories of ``h_len`` items (int or array)."""
    if isinstance(h_len, int):  # one query: plain integers (numpy's scalar calls cost more)
        return max(_HISTORY_PREFIX_MIN, min(_HISTORY_PREFIX, _HISTORY_BUDGET // max(h_len, 1)))
    return np.clip(_HISTORY_BUDGET // np.maximum(h_len, 1), _HISTORY_PREFIX_MIN, _HISTORY_PREFIX)


def _basket_only(batch: _Batch, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`_history_queries` of baskets alone: every entry explains, reads its whole row."""
    n = batch.rows.size
    return batch.indptr, batch.rows, weights, np.ones(n, dtype=bool), np.full(n, -1, np.int64)


def _join_entries(
    batch: _Batch,
    h_ip: np.ndarray,
    h_ix: np.ndarray,
    basket_share: np.ndarray,
    history_share: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Query CSR of each query's basket entries, then its history entries (not explained).

    ``basket_share``/``history_share`` (one per query) weigh every entry of the part.
    """
    n_q = batch.size
    b_len, h_len = np.diff(batch.indptr), np.diff(h_ip)
    q_of = np.concatenate([np.repeat(np.arange(n_q), b_len), np.repeat(np.arange(n_q), h_len)])
    rows = np.concatenate([batch.rows, h_ix])
    weights = np.concatenate(
        [np.repeat(basket_share, b_len), np.repeat(history_share, h_len)]
    ).astype(np.float32)
    explain = np.concatenate(
        [np.ones(batch.rows.size, dtype=bool), np.zeros(h_ix.size, dtype=bool)]
    )
    order = np.argsort(q_of, kind="stable")
    indptr = np.zeros(n_q + 1, dtype=np.int64)
    np.cumsum(b_len + h_len, out=indptr[1:])
    return indptr, rows[order], weights[order], explain[order]


def _neighbour_path(
    scorer: ItemItem,
    base: Recommender,
    batch: _Batch,
    n: int,
    constraints: Constraints,
    user_weight: float,
    explain: bool,
    num_threads: int,
    out: _Result,
    pos: np.ndarray,
) -> None:
    """Cross-sell from a neighbour table: the basket's mean rows, blended with the history's.

    The exact top n of ``(1 - w) mean_basket B[b] + w mean_history B[h]``
    (:func:`_history_top_n`), without walking a best-seller's whole row.
    """
    table = scorer.neighbours_
    queries = _history_queries(base, batch, user_weight)
    ids, scores, sim_pos = _history_top_n(table, queries, n, constraints, num_threads)
    out.ids[pos], out.scores[pos] = ids, scores
    if explain:
        because, together, lift = neighbour_evidence(table, sim_pos, ids)
        out.because[pos], out.together[pos], out.lift[pos] = because, together, lift
        out.kind[pos] = np.where(
            sim_pos >= 0, FROM_BASKET, np.where(scores > 0, FROM_HISTORY, FROM_POPULARITY)
        )
        out.unit[pos] = _co_purchase_unit(scorer, table)


def _history_top_n(
    table: Any,
    queries: tuple[np.ndarray, ...],
    n: int,
    constraints: Constraints,
    num_threads: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the neighbour kernel's top n of whole rows, reading the history rows' prefixes.

    The table's rows are sorted by weight, so an item outside the first
    ``limit`` entries of a history row gets at most ``w max(t, 0)`` from it,
    ``t`` the first weight not read.  (A query whose rows hold fewer than
    ``_HISTORY_WALK`` weights beyond the prefixes walks them whole: the
    lookups would cost more.)  One pass over the basket's whole rows
    and the history rows' prefixes gives ``n + _HISTORY_CANDIDATES``
    candidates; their exact scores are looked up in the whole rows, and
    every other item scores at most the last candidate's prefix score plus
    the bounds of the unread tails
    (:func:`~recsys.core.neighbour_lookup.prefix_topn`): where the n-th
    exact score is above that, the candidates' exact top n is the kernel's
    answer over whole rows, to the bit.  The queries it does not prove read
    prefixes 4 times longer, up to ``_HISTORY_ROUNDS`` passes, then the
    whole rows (as group caps do at once: a capped item may leave the
    candidates).
    """
    q_ip, q_rows, q_w, q_ex, limit = queries
    n_q = q_ip.size - 1
    if n_q > _HISTORY_CHUNK:  # a batch: chunks of queries (the candidates' arrays stay small)
        parts = []
        for lo in range(0, n_q, _HISTORY_CHUNK):
            hi = min(lo + _HISTORY_CHUNK, n_q)
            a, b = q_ip[lo], q_ip[hi]
            chunk = (q_ip[lo : hi + 1] - a, q_rows[a:b], q_w[a:b], q_ex[a:b], limit[a:b])
            parts.append(
                _history_top_n(table, chunk, n, _constraints_of(constraints, lo, hi), num_threads)
            )
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )
    lengths = table.indptr[q_rows + 1] - table.indptr[q_rows]

    def walk(
        limit: np.ndarray | None, width: int, c: Constraints
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids, scores, sim_pos = constrained_topn_neighbours(
            q_ip,
            q_rows,
            q_w,
            table.indptr,
            table.indices,
            table.scores,
            width,
            c,
            query_explain=q_ex,
            num_threads=num_threads,
            query_limit=limit,
        )
        assert sim_pos is not None  # positions=True (the default) returns them
        return ids, scores, sim_pos

    # the weights beyond the prefixes: a query whose unread tails are short walks them (cheaper
    # than the lookups), as every query does under group caps (no bound)
    excess = np.where(limit >= 0, lengths - limit, 0)
    if n_q == 1:  # a shop-front call: no per-query bookkeeping
        if int(excess[excess > 0].sum()) < _HISTORY_WALK or constraints.has_groups:
            return walk(None, n, constraints)
        q_of = np.zeros(q_rows.size, dtype=np.int64)
    else:
        q_of = np.repeat(np.arange(n_q), np.diff(q_ip))
        tails = np.bincount(q_of, weights=np.maximum(excess, 0), minlength=n_q)
        short = tails < _HISTORY_WALK
        if short.all() or constraints.has_groups:
            return walk(None, n, constraints)
        limit = np.where(short[q_of], -1, limit)
    if bool((q_w < 0).any()):
        return walk(None, n, constraints)  # the bound needs weights >= 0
    cut = (limit >= 0) & (lengths > limit)
    wide = min(n + _HISTORY_CANDIDATES, table.indptr.size - 1)
    no_fill = constraints._replace(fill_of_query=np.full(n_q, -1, dtype=np.int64))
    out: tuple[np.ndarray, ...] = ()
    proven = np.zeros(n_q, dtype=bool)
    for _ in range(_HISTORY_ROUNDS):
        found = prefix_topn(
            q_ip,
            q_rows,
            q_w,
            limit,
            table.indptr,
            table.scores,
            table_columns(table),
            walk(limit, wide, no_fill),
            n,
            query_explain=q_ex,
        )
        if not out:
            out, proven = found[:3], found[3]
        else:
            new = found[3] & ~proven
            for mine, theirs in zip(out, found[:3], strict=True):
                mine[new] = theirs[new]
            proven |= new
        if proven.all():
            return out[0], out[1], out[2]
        # the queries not proven read 4 times more of their cut rows (the others, as before)
        longer = ~proven[q_of] & cut
        limit = np.where(longer, limit * 4, limit)
        cut = (limit >= 0) & (lengths > limit)
        if not (cut & ~proven[q_of]).any():
            break
    again = walk(np.where(proven[q_of], limit, -1), n, constraints)  # the rest: whole rows
    for mine, theirs in zip(out, again, strict=True):
        mine[~proven] = theirs[~proven]
    return out[0], out[1], out[2]


def _constraints_of(c: Constraints, lo: int, hi: int) -> Constraints:
    """Return the constraints of queries ``lo:hi`` (their exclusions, masks and fills)."""
    ip = c.exclude_indptr[lo : hi + 1]
    return c._replace(
        exclude_indptr=ip - ip[0],
        exclude_indices=c.exclude_indices[ip[0] : ip[-1]],
        allowed_of_query=c.allowed_of_query[lo:hi],
        fill_of_query=c.fill_of_query[lo:hi],
    )


def _summed_queries(
    scorer: Recommender, batch: _Batch, user_rows: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Query CSR (indptr, rows, weights, explain): each basket's items, summed.

    A model with a repeat term scores a basket as the sum of its items' rows
    (EASE's ``X B``); a known customer with an empty basket is scored by their
    own history instead (personal picks), as on the dense path.
    """
    b_len = np.diff(batch.indptr)
    personal = (b_len == 0) & (user_rows >= 0)
    if not personal.any():
        weights = np.ones(batch.rows.size, dtype=np.float32)
        return batch.indptr, batch.rows, weights, np.ones(batch.rows.size, dtype=bool)
    ui = scorer.user_items_
    h_ip, h_ix = select_csr_rows(ui.indptr, ui.indices, np.where(personal, user_rows, -1))
    ones = np.ones(batch.size)
    return _join_entries(batch, h_ip, h_ix, ones, ones)


def _entry_lookup(
    keys: np.ndarray, values: np.ndarray, wanted: np.ndarray, missing: int
) -> np.ndarray:
    """Return ``values`` at each of ``wanted`` among ``keys`` (unique), ``missing`` elsewhere."""
    if keys.size == 0:
        return np.full(wanted.shape, missing, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    return np.where(keys[at] == wanted, values[at], missing).astype(np.int64)


def _neighbour_repeat_path(
    scorer: Recommender,
    base: Recommender,
    batch: _Batch,
    n: int,
    make_constraints: Callable,
    repeats: RepeatPurchases,
    repeat_scale: float,
    explain: bool,
    num_threads: int,
    out: _Result,
    pos: np.ndarray,
) -> None:
    """Cross-sell with a neighbour table and a repeat term (a sparse EASE served by its ``B``).

    Exact top-n of the basket score combined with the customer's repeat
    probabilities (:func:`recsys.models.repeats.combine`), as the dense path
    computes it, without scoring every item: the basket's top ``n + R``
    neighbours (``R``: the query's repeat entries; only they can outrank a
    neighbour) and the repeat items with their own basket scores are the
    candidates of one more constrained top-n, which also fills to ``n``.
    """
    table = scorer.neighbours_  # type: ignore[attr-defined]
    n_items = len(base.item_ids_)
    user_rows = _scorer_user_rows(scorer, base, batch)
    r_q, r_item, r_p, r_h = repeats.entries(user_rows, repeat_scale)
    per_query = np.bincount(r_q, minlength=batch.size)
    q_ip, q_rows, q_w, q_ex = _summed_queries(scorer, batch, user_rows)
    wide = n + (int(per_query.max()) if per_query.size else 0)
    ids1, scores1, sim1 = constrained_topn_neighbours(
        q_ip,
        q_rows,
        q_w,
        table.indptr,
        table.indices,
        table.scores,
        wide,
        make_constraints(),  # no fill: only items the basket's rows reach
        query_explain=q_ex,
        num_threads=num_threads,
    )
    assert sim1 is not None
    # the repeat items' own basket scores, read from the same rows of B (chunks of queries)
    basket_score = np.zeros(r_q.size, dtype=np.float32)
    if r_q.size:
        starts = np.searchsorted(r_q, np.arange(0, batch.size, 256))
        ends = np.append(starts[1:], r_q.size)
        for a, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            if lo == hi:
                continue
            first, last = a * 256, min((a + 1) * 256, batch.size)
            union, col = np.unique(r_item[lo:hi], return_inverse=True)
            block = neighbour_item_scores(
                q_ip[first : last + 1] - q_ip[first],
                q_rows[q_ip[first] : q_ip[last]],
                q_w[q_ip[first] : q_ip[last]],
                table.indptr,
                table.indices,
                table.scores,
                union,
            )
            basket_score[lo:hi] = block[r_q[lo:hi] - first, col]
    combined = combine(basket_score, r_p, repeats.scale).astype(np.float32)
    # candidates: the neighbours found, then the repeat items (an item listed twice counts once,
    # at its best score: its combined one, never below its basket score)
    taken = ids1 >= 0
    c_q = np.concatenate([np.nonzero(taken)[0], r_q]).astype(np.int64)
    c_item = np.concatenate([ids1[taken], r_item]).astype(np.int32)
    c_score = np.concatenate([scores1[taken], combined]).astype(np.float32)
    order = np.argsort(c_q, kind="stable")
    c_ip = np.zeros(batch.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(c_q, minlength=batch.size), out=c_ip[1:])
    ids, scores, _ = constrained_topn_candidates(
        c_ip,
        c_item[order],
        c_score[order],
        n,
        n_items,
        make_constraints(fill=(scorer.popular_item_rows(), None, np.zeros(batch.size, np.int32))),
        num_threads=num_threads,
    )
    out.ids[pos], out.scores[pos] = ids, scores
    if not explain:
        return
    # where each result came from: its neighbour entry (the evidence), its repeat entry
    wanted = np.arange(batch.size, dtype=np.int64)[:, None] * n_items + ids
    sim_pos = _entry_lookup(
        np.nonzero(taken)[0].astype(np.int64) * n_items + ids1[taken], sim1[taken], wanted, -1
    )
    key = r_q.astype(np.int64) * n_items + r_item  # sorted (query, then item)
    hit_at = _entry_lookup(key, np.arange(key.size), wanted, -1)
    repeat = (ids >= 0) & (hit_at >= 0)
    if repeat.any():
        h = hit_at[repeat]
        repeat[repeat] = r_p[h] >= np.maximum(basket_score[h], 0.0) * repeats.scale
    because, together, lift = neighbour_evidence(table, sim_pos, ids)
    kind = np.where(
        sim_pos >= 0, FROM_BASKET, np.where(scores > 0, FROM_HISTORY, FROM_POPULARITY)
    ).astype(np.int8)
    kind[repeat] = FROM_REPEAT
    known = repeats.known(user_rows)
    orders = np.where(known >= 0, repeats.orders[np.maximum(known, 0)], 0)
    rq, rs = np.nonzero(repeat)
    out.repeat_count[pos[rq], rs] = r_h[hit_at[rq, rs]]
    out.order_count[pos[rq], rs] = orders[rq]
    out.because[pos] = np.where(repeat, -1, because)
    out.together[pos] = np.where(repeat, 0, together)
    out.lift[pos] = np.where(repeat, np.nan, lift)
    out.kind[pos] = kind
    out.unit[pos] = _co_purchase_unit(scorer, table)


def _scorer_user_rows(scorer: Recommender, base: Recommender, batch: _Batch) -> np.ndarray:
    """Return the batch's users as rows of ``scorer``, ``-1`` where it does not know them.

    A segment's model has its own users.
    """
    if scorer is base:
        return batch.user_rows
    rows = np.full(batch.size, -1, dtype=np.int32)
    known = batch.user_rows >= 0
    if known.any():
        rows[known] = scorer.user_ids_.to_rows(batch.users[known], missing="ignore")
    return rows


def _probability_path(
    scorer: Any,
    base: Recommender,
    batch: _Batch,
    n: int,
    constraints: Constraints,
    user_weight: float | None,
    explain: bool,
    num_threads: int,
    out: _Result,
    pos: np.ndarray,
) -> None:
    """ItemItem(similarity="confidence"): rank by the probability of joining the basket."""
    table = scorer.neighbours_
    user_rows = _scorer_user_rows(scorer, base, batch)
    q_ip, q_rows, q_w, q_ex, q_dir = scorer.basket_probability_queries(
        batch.indptr, batch.rows, user_rows, 1.0 if user_weight is None else user_weight
    )
    ids, scores, sim_pos = constrained_topn_neighbours(
        q_ip,
        q_rows,
        q_w,
        table.indptr,
        table.indices,
        scorer.conditional_probability_,
        n,
        constraints,
        query_explain=q_ex,
        query_direct=q_dir,
        combine="noisy_or",
        num_threads=num_threads,
    )
    assert sim_pos is not None  # positions=True (the default) returns them
    out.ids[pos], out.scores[pos] = ids, scores
    if not explain:
        return
    # the main reason of each row: its best basket item, or the customer's repeat purchases when
    # their repeat probability is the larger piece of evidence
    cond = scorer.conditional_probability_
    basket_p = (  # no pair was ever bought together: no basket evidence at all
        np.where(sim_pos >= 0, cond[np.maximum(sim_pos, 0)], 0.0)
        if cond.size
        else np.zeros(sim_pos.shape)
    )
    kind = np.where(sim_pos >= 0, FROM_BASKET, FROM_POPULARITY).astype(np.int8)
    repeat_count = np.zeros(ids.shape, dtype=np.int64)
    order_count = np.zeros(ids.shape, dtype=np.int64)
    if scorer.repeat_prior_ is not None and user_weight != 0:
        q, slot = np.nonzero((ids >= 0) & (user_rows[:, None] >= 0))
        evidence = (
            scorer.repeat_evidence(
                user_rows[q], ids[q, slot], 1.0 if user_weight is None else user_weight
            )
            if q.size
            else None
        )
        if evidence is not None:
            r, h, n_orders = evidence
            repeat = (h > 0) & (r >= basket_p[q, slot])
            q, slot = q[repeat], slot[repeat]
            repeat_count[q, slot], order_count[q, slot] = h[repeat], n_orders[repeat]
            kind[q, slot] = FROM_REPEAT
            sim_pos = sim_pos.copy()
            sim_pos[q, slot] = -1
    # the explaining entries are the basket's items: their rows hold every explaining position
    because, together, lift = neighbour_evidence(table, sim_pos, ids, sources=batch.rows)
    out.because[pos], out.together[pos], out.lift[pos] = because, together, lift
    out.kind[pos], out.repeat_count[pos], out.order_count[pos] = kind, repeat_count, order_count
    out.unit[pos] = _co_purchase_unit(scorer, table)


def _co_purchase_unit(scorer: Recommender, table: Any) -> str:
    """Name what the neighbour table counted: "orders" (baskets) or "customers" (histories).

    The answer is kept per (table, popularity) pair: comparing two catalog-sized
    arrays on every call would cost more than scoring a basket.
    """
    if not getattr(scorer, "use_baskets", True):
        return "customers"
    support, popularity = table.item_support, scorer.item_popularity_
    key = (id(support), id(popularity), table.n_rows, len(scorer.user_ids_))
    hit = _UNITS.get(key)
    if hit is not None and hit[0]() is support and hit[1]() is popularity:
        return hit[2]
    if table.n_rows != len(scorer.user_ids_) or not np.array_equal(support, popularity):
        unit = "orders"
    else:
        unit = "customers"  # one order per customer: both words are right
    if len(_UNITS) > 16:
        _UNITS.clear()
    try:
        _UNITS[key] = (weakref.ref(support), weakref.ref(popularity), unit)
    except TypeError:  # pragma: no cover - not arrays: nothing to keep
        pass
    return unit


_UNITS: dict[tuple[int, int, int, int], tuple[weakref.ref, weakref.ref, str]] = {}


def _popularity_fill(
    scorer: Popularity, batch: _Batch, segments: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Fill orders/scores per query for a Popularity model: the segment's if known, else overall."""
    order, scores = scorer.ranked_item_rows()
    fills, fill_scores, labels = [order], [scores], [None]
    row_of = np.zeros(batch.size, dtype=np.int32)
    label_of = np.full(batch.size, None, dtype=object)
    seg_ids = getattr(scorer, "segment_ids_", None)
    if seg_ids is not None:
        seg_rows = np.full(batch.size, -1, dtype=np.int64)
        given = ~pd.isna(segments)
        if given.any():
            seg_rows[given] = seg_ids.to_rows(segments[given], missing="ignore")
        known_user = (batch.user_rows >= 0) & (seg_rows < 0) & ~given
        if known_user.any() and scorer is not None and scorer.user_segments_ is not None:
            seg_rows[known_user] = scorer.user_segments_[batch.user_rows[known_user]]
        for seg in np.unique(seg_rows[seg_rows >= 0]):
            o, s = scorer.ranked_item_rows(int(seg))
            fills.append(o)
            fill_scores.append(s)
            labels.append(seg_ids.to_external([seg])[0])
            hit = seg_rows == seg
            row_of[hit] = len(fills) - 1
            label_of[hit] = labels[-1]
    return np.vstack(fills), np.vstack(fill_scores), row_of, label_of


class _FactorModel(Protocol):
    """A matrix-factorisation model (ALS): user and item factors, and a fold-in."""

    user_factors_: np.ndarray
    item_factors_: np.ndarray

    def fold_in_rows(self, histories: sp.csr_matrix) -> np.ndarray:
        """Return the user factors of ad-hoc histories (one row each)."""
        ...


def _factor_model(scorer: Recommender) -> _FactorModel | None:
    """Return ``scorer`` as a factor model if it is one (ALS and the like), else ``None``."""
    if all(hasattr(scorer, a) for a in ("fold_in_rows", "item_factors_", "user_factors_")):
        return cast(_FactorModel, scorer)
    return None


def _basket_csr(batch: _Batch, n_items: int) -> sp.csr_matrix:
    return sp.csr_matrix(
        (np.ones(batch.rows.size, dtype=np.float32), batch.rows, batch.indptr),
        shape=(batch.size, n_items),
    )


def _entry_csr(batch: _Batch, n_items: int) -> sp.csr_matrix:
    """One row per basket entry holding just that item (what each item alone would recommend)."""
    return sp.csr_matrix(
        (np.ones(batch.rows.size, dtype=np.float32), batch.rows, np.arange(batch.rows.size + 1)),
        shape=(batch.rows.size, n_items),
    )


def _blend_users(
    scorer: Recommender,
    batch: _Batch,
    scores: np.ndarray,
    has_basket: np.ndarray,
    user_weight: float,
    personal_scores: Callable[[np.ndarray], np.ndarray],
    basket_weight: float | None = None,
) -> None:
    """Blend a known user's own scores in: ``user_weight`` of an empty basket's (all) scores.

    Queries with a basket take ``basket_weight`` of them (default
    ``user_weight``); an empty basket takes all of them unless ``user_weight`` is 0.
    """
    share = np.where(
        has_basket,
        user_weight if basket_weight is None else basket_weight,
        1.0 if user_weight > 0 else 0.0,
    )
    users = (batch.user_rows >= 0) & (share > 0)
    if not users.any():
        return
    scorer_rows = scorer.user_ids_.to_rows(batch.users[users], missing="ignore")
    known = np.flatnonzero(users)[scorer_rows >= 0]
    if known.size:
        personal = personal_scores(scorer_rows[scorer_rows >= 0])
        w = share[known].astype(np.float32)[:, None]
        scores[known] = (1 - w) * scores[known] + w * personal


class _Repeats:
    """The repeat term of one chunk of queries: its entries, and the basket scores it joined."""

    def __init__(
        self,
        query: np.ndarray,
        item: np.ndarray,
        probability: np.ndarray,
        bought: np.ndarray,
        basket: np.ndarray,
        orders: np.ndarray,
        n_items: int,
    ) -> None:
        self.query, self.item, self.probability = query, item, probability
        self.bought, self.basket, self.orders = bought, basket, orders
        self.key = query.astype(np.int64) * n_items + item  # sorted: query, then item
        self.n_items = n_items

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return, for each result cell, its entry position and whether it has one."""
        wanted = np.arange(ids.shape[0], dtype=np.int64)[:, None] * self.n_items + ids
        if self.key.size == 0:
            return np.zeros(ids.shape, np.int64), np.zeros(ids.shape, bool)
        pos = np.minimum(np.searchsorted(self.key, wanted), self.key.size - 1)
        return pos, (self.key[pos] == wanted) & (ids >= 0)


def _add_repeats(
    scores: np.ndarray, repeats: RepeatPurchases, user_rows: np.ndarray, scale: float
) -> _Repeats:
    """Combine each known customer's repeat probabilities with the basket scores, in place.

    :func:`recsys.models.repeats.combine`: the noisy-or of the repeat
    probability and the basket score on the probability scale (the basket
    score times ``repeats.scale``, clipped at 0), never below the basket score.
    Items the customer never bought keep their score exactly.  The returned
    entries keep the basket's side on the probability scale (for the reasons).
    """
    q, items, p, h = repeats.entries(user_rows, scale)
    known = repeats.known(user_rows)
    basket = scores[q, items]
    scores[q, items] = combine(basket, p, repeats.scale)
    orders = np.where(known >= 0, repeats.orders[np.maximum(known, 0)], 0)[q]
    on_scale = np.maximum(basket, 0.0) * repeats.scale
    return _Repeats(q, items, p, h, on_scale, orders, scores.shape[1])


def _dense_scores(
    scorer: Recommender,
    batch: _Batch,
    user_weight: float,
    explain: bool,
    basket_weight: float | None = None,
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Return every item's score for each query, and the scores of single basket entries.

    The second value is a function giving each basket entry's own scores
    (what that item alone would recommend) for some items.  Factor models
    (ALS) fold the baskets and the single-item entries in with one call;
    other models go through ``score_history_rows``/``score_rows``.  A known
    user's own scores are blended in (:func:`_blend_users`).
    """
    n_items = len(scorer.item_ids_)
    has_basket = np.diff(batch.indptr) > 0
    scores = np.zeros((batch.size, n_items), dtype=np.float32)
    factors = _factor_model(scorer)
    if factors is not None:
        item_factors = factors.item_factors_
        user_factors = factors.user_factors_
        parts = [_basket_csr(batch, n_items)[has_basket]]
        if explain:
            parts.append(_entry_csr(batch, n_items))
        vectors = (
            factors.fold_in_rows(sp.vstack(parts, format="csr"))
            if batch.rows.size
            else np.empty((0, item_factors.shape[1]), dtype=item_factors.dtype)
        )
        k = int(has_basket.sum())
        if k:
            scores[has_basket] = vectors[:k] @ item_factors.T
        _blend_users(
            scorer,
            batch,
            scores,
            has_basket,
            user_weight,
            lambda rows: user_factors[rows] @ item_factors.T,
            basket_weight,
        )

        def entry_scores(items: np.ndarray) -> np.ndarray:
            return vectors[k:] @ item_factors[items].T

        return scores, entry_scores
    all_rows = np.arange(n_items)
    if has_basket.any():
        scores[has_basket] = scorer.score_history_rows(
            _basket_csr(batch, n_items)[has_basket], all_rows
        )
    _blend_users(
        scorer,
        batch,
        scores,
        has_basket,
        user_weight,
        lambda rows: scorer.score_rows(rows, all_rows),
        basket_weight,
    )

    def generic_entry_scores(items: np.ndarray) -> np.ndarray:
        return scorer.score_history_rows(_entry_csr(batch, n_items), items)

    return scores, generic_entry_scores


def _dense_because(
    batch: _Batch, ids: np.ndarray, entry_scores: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Basket item whose own score for each result is highest, and that score."""
    n_q, n = ids.shape
    b_len = np.diff(batch.indptr)
    if batch.rows.size == 0:
        return np.full((n_q, n), -1, dtype=np.int32), np.full((n_q, n), -np.inf, dtype=np.float32)
    union, col = np.unique(np.maximum(ids, 0), return_inverse=True)
    col = col.reshape(ids.shape)
    single = entry_scores(union)  # (entries, |union|)
    width = int(b_len.max())
    contrib = np.full((n_q, width, n), -np.inf, dtype=np.float32)
    q_of = np.repeat(np.arange(n_q), b_len)
    slot = np.arange(batch.rows.size) - batch.indptr[q_of]
    contrib[q_of, slot, :] = single[np.arange(batch.rows.size)[:, None], col[q_of]]
    arg = contrib.argmax(axis=1)
    best = np.take_along_axis(contrib, arg[:, None, :], axis=1)[:, 0, :]
    entry = batch.indptr[:-1, None] + arg
    because = np.where(
        (b_len[:, None] > 0) & (ids >= 0), batch.rows[np.minimum(entry, batch.rows.size - 1)], -1
    )
    return because.astype(np.int32), best


def _repeat_purchases(scorer: Recommender) -> RepeatPurchases | None:
    """Return the repeat term of a model that cross-sell scores through its scoring hook.

    A model's ``repeat_purchases_`` (:mod:`recsys.models.repeats`; EASE and
    ALS learn it from baskets), for the models of the dense path and a
    sparse EASE on the neighbour path;
    ``None`` for the others (the basket-probability ItemItem has its own
    repeat probability) and for models without one.

    Examples
    --------
    >>> import recsys
    >>> _repeat_purchases(recsys.Popularity()) is None
    True
    """
    if model_kind(scorer) not in ("dense", "neighbours"):
        return None
    found = getattr(scorer, "repeat_purchases_", None)
    return found if isinstance(found, RepeatPurchases) else None


def _owned_durables(
    base: Recommender, rules: Rules, user_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the durables each query's customer owns, as exclusions (CSR), if owned may return.

    Owned items come back only through their repeat term, which durables
    never have (``None``: nothing to exclude).
    """
    repeats = _repeat_purchases(base)
    if repeats is None or rules.exclude_owned or not repeats.durable.any():
        return None
    ui = base.user_items_
    indptr, items = select_csr_rows(ui.indptr, ui.indices, user_rows)
    keep = np.zeros(items.size, dtype=bool)  # items added after the repeat counts: not durables
    inside = items < repeats.durable.size
    keep[inside] = repeats.durable[items[inside]]
    row_of = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    lengths = np.bincount(row_of[keep], minlength=indptr.size - 1)
    out = np.zeros(indptr.size, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out, items[keep]


def _cross_sell_rules(rules: Rules | None, model: Recommender | SegmentedModel) -> Rules:
    """Return ``rules``, or cross-sell's default rules for ``model``.

    Owned items may come back (``Rules(exclude_owned=False)``) for a model
    with a repeat term — the basket-probability ItemItem, or a model with
    ``repeat_purchases_`` — since the customer's repeat probability decides
    whether they do; every other model excludes what the customer owns
    (``Rules()``).

    Examples
    --------
    >>> import recsys
    >>> _cross_sell_rules(None, recsys.ALS()).exclude_owned
    True
    """
    if rules is None and _repeat_purchases(base_model(model)) is not None:
        return REPEAT_RULES
    return check_rules(rules, model)


def _dense_path(
    scorer: Recommender,
    base: Recommender,
    batch: _Batch,
    n: int,
    make_constraints: Callable,
    user_weight: float,
    explain: bool,
    num_threads: int,
    out: _Result,
    pos: np.ndarray,
    repeat_scale: float = 1.0,
) -> None:
    """Score every item (the model's public scoring hook), then the constrained top-n.

    With a repeat term (``_repeat_purchases(scorer)``, ``repeat_scale > 0``)
    a known customer's history enters as their repeat probabilities, combined
    with the basket's scores (:func:`_add_repeats`), instead of the
    ``user_weight`` blend of their own scores (an empty basket still gets
    their own scores: personal picks).
    """
    n_items = len(base.item_ids_)
    step = max(1, _DENSE_CELLS // max(n_items, 1))
    repeats = _repeat_purchases(scorer) if repeat_scale > 0 else None
    for a in range(0, batch.size, step):
        part = np.arange(a, min(a + step, batch.size))
        sub = batch.take(part) if a > 0 or part.size < batch.size else batch
        added: _Repeats | None = None
        if repeats is None:
            scores, entry_scores = _dense_scores(scorer, sub, user_weight, explain)
        else:
            scores, entry_scores = _dense_scores(scorer, sub, repeat_scale, explain, 0.0)
            user_rows = _scorer_user_rows(scorer, base, sub)
            added = _add_repeats(scores, repeats, user_rows, repeat_scale)
        ids, top = constrained_topn_dense(
            scores, n, make_constraints(part), num_threads=num_threads
        )
        where = pos[part]
        out.ids[where], out.scores[where] = ids, top
        if explain:
            because, contribution = _dense_because(sub, ids, entry_scores)
            together, lift = cooccurrence_evidence(base.user_items_, because.ravel(), ids.ravel())
            out.because[where] = because
            out.together[where] = together.reshape(ids.shape)
            out.lift[where] = np.where(because >= 0, lift.reshape(ids.shape), np.nan)
            blended = user_weight > 0 if added is None else False  # queries with a basket
            personal = (sub.user_rows >= 0)[:, None] & blended
            kind = np.where(
                (because >= 0) & ~(personal & (contribution <= 0)),
                FROM_BASKET,
                np.where(ids >= 0, FROM_HISTORY, FROM_POPULARITY),
            ).astype(np.int8)
            if added is not None:
                # a repeat row: the customer's repeat probability is the larger piece of evidence
                at, repeat = added.lookup(ids)
                if repeat.any():
                    repeat[repeat] = added.probability[at[repeat]] >= added.basket[at[repeat]]
                kind[repeat] = FROM_REPEAT
                rq, rs = np.nonzero(repeat)
                out.repeat_count[where[rq], rs] = added.bought[at[rq, rs]]
                out.order_count[where[rq], rs] = added.orders[at[rq, rs]]
                out.because[where] = np.where(repeat, -1, because)
                out.together[where] = np.where(repeat, 0, out.together[where])
                out.lift[where] = np.where(repeat, np.nan, out.lift[where])
            out.kind[where] = kind
            out.unit[where] = "customers"


def _cross_sell(
    model: Recommender | SegmentedModel,
    batch: _Batch,
    n: int,
    catalog: TierCatalogProtocol | None,
    rules: Rules,
    explain: bool,
    user_weight: float | None,
    now: Any,
    num_threads: int,
) -> _Result:
    base = base_model(model)
    blend = DEFAULT_USER_WEIGHT if user_weight is None else user_weight  # the sum and dense paths
    compiled = rules.compile(base)
    extra = [(batch.indptr, batch.rows)]
    if catalog is not None:
        extra.append(catalog_view(catalog, base).family_exclusions(batch.indptr, batch.rows))
    durables = _owned_durables(base, rules, batch.user_rows)
    if durables is not None:
        extra.append(durables)
    out = _Result(batch.size, n, explain)
    segments = (
        batch.segments if batch.segments is not None else np.full(batch.size, None, dtype=object)
    )
    if isinstance(model, SegmentedModel):
        scorer_ids = [id(model.model_for(s)) for s in segments]
        groups = (
            pd.factorize(np.asarray(scorer_ids, dtype=np.int64))[0]
            if batch.size
            else np.empty(0, dtype=np.int64)
        )
        scorers = {
            g: model.model_for(segments[np.flatnonzero(groups == g)[0]]) for g in np.unique(groups)
        }
    else:
        groups = np.zeros(batch.size, dtype=np.int64)
        scorers = {0: model}
    for g, scorer in scorers.items():
        pos = np.flatnonzero(groups == g) if len(scorers) > 1 else np.arange(batch.size)
        sub = batch.take(pos) if len(scorers) > 1 else batch
        sub_segments = segments[pos]

        def make_constraints(
            part: np.ndarray | None = None,
            *,
            fill: tuple = (None, None, None),
            _sub: _Batch = sub,
            _pos: np.ndarray = pos,
        ) -> Constraints:
            local = _sub if part is None else _sub.take(part)
            rows = _pos if part is None else _pos[part]
            local_extra = (
                [_take_csr(e, rows) for e in extra]
                if len(scorers) > 1 or part is not None
                else extra
            )
            return compiled.constraints(
                local.size,
                user_rows=local.user_rows,
                users=local.users,
                segments=None if batch.segments is None else segments[rows],
                now=now,
                extra_exclusions=local_extra,
                fill_order=fill[0],
                fill_scores=fill[1],
                fill_of_query=fill[2],
            )

        kind = model_kind(scorer)
        if kind == "probability":
            order = (
                model.fill_order(segments[pos[0]] if pos.size else None)
                if isinstance(model, SegmentedModel)
                else scorer.popular_item_rows()
            )
            constraints = make_constraints(fill=(order, None, np.zeros(sub.size, dtype=np.int32)))
            _probability_path(
                scorer, base, sub, n, constraints, user_weight, explain, num_threads, out, pos
            )
            if isinstance(model, SegmentedModel) and scorer is not model.default:
                out.segment_label[pos] = sub_segments
        elif kind == "neighbours":
            if isinstance(model, SegmentedModel):
                order = model.fill_order(segments[pos[0]] if pos.size else None)
            else:
                order = scorer.popular_item_rows()
            fill_rows = np.zeros(sub.size, dtype=np.int32)
            repeats = _repeat_purchases(scorer)
            repeat_scale = 1.0 if user_weight is None else user_weight
            if repeats is not None and repeat_scale > 0:
                _neighbour_repeat_path(
                    scorer,
                    base,
                    sub,
                    n,
                    make_constraints,
                    repeats,
                    repeat_scale,
                    explain,
                    num_threads,
                    out,
                    pos,
                )
            else:
                constraints = make_constraints(fill=(order, None, fill_rows))
                item_item = cast(ItemItem, scorer)  # model_kind found its neighbour table
                _neighbour_path(
                    item_item, base, sub, n, constraints, blend, explain, num_threads, out, pos
                )
            if isinstance(model, SegmentedModel) and scorer is not model.default:
                out.segment_label[pos] = sub_segments
        elif kind == "popularity":
            assert isinstance(scorer, Popularity)  # what model_kind checked
            fills, fill_scores, fill_rows, labels = _popularity_fill(scorer, sub, sub_segments)
            constraints = make_constraints(fill=(fills, fill_scores, fill_rows))
            empty = np.zeros(sub.size + 1, dtype=np.int64)
            ids, scores, _ = constrained_topn_candidates(
                empty,
                np.empty(0, dtype=np.int32),
                np.empty(0, np.float32),
                n,
                len(base.item_ids_),
                constraints,
                num_threads=num_threads,
            )
            out.ids[pos], out.scores[pos] = ids, scores
            out.segment_label[pos] = labels
        else:
            _dense_path(
                scorer,
                base,
                sub,
                n,
                make_constraints,
                blend,
                explain,
                num_threads,
                out,
                pos,
                1.0 if user_weight is None else user_weight,
            )
    return out


def _take_csr(
    csr: tuple[np.ndarray, np.ndarray], rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return select_csr_rows(csr[0], csr[1], rows)


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


@overload
def recommend_cross_sell(
    model: Recommender | SegmentedModel,
    basket: ExternalIds | ExternalId,
    n: int = ...,
    *,
    user: ExternalId | None = ...,
    catalog: TierCatalogProtocol | None = ...,
    rules: Rules | None = ...,
    segment: Any = ...,
    explain: bool = ...,
    user_weight: float | None = ...,
    now: Any = ...,
    unknown_items: str = ...,
    return_frame: Literal[True] = ...,
    num_threads: int = ...,
) -> pd.DataFrame: ...


@overload
def recommend_cross_sell(
    model: Recommender | SegmentedModel,
    basket: ExternalIds | ExternalId,
    n: int = ...,
    *,
    user: ExternalId | None = ...,
    catalog: TierCatalogProtocol | None = ...,
    rules: Rules | None = ...,
    segment: Any = ...,
    explain: bool = ...,
    user_weight: float | None = ...,
    now: Any = ...,
    unknown_items: str = ...,
    return_frame: Literal[False],
    num_threads: int = ...,
) -> CrossSellResult: ...


@overload
def recommend_cross_sell(
    model: Recommender | SegmentedModel,
    basket: ExternalIds | ExternalId,
    n: int = ...,
    *,
    user: ExternalId | None = ...,
    catalog: TierCatalogProtocol | None = ...,
    rules: Rules | None = ...,
    segment: Any = ...,
    explain: bool = ...,
    user_weight: float | None = ...,
    now: Any = ...,
    unknown_items: str = ...,
    return_frame: bool = ...,
    num_threads: int = ...,
) -> pd.DataFrame | CrossSellResult: ...


def recommend_cross_sell(
    model: Recommender | SegmentedModel,
    basket: ExternalIds | ExternalId,
    n: int = 5,
    *,
    user: ExternalId | None = None,
    catalog: TierCatalogProtocol | None = None,
    rules: Rules | None = None,
    segment: Any = None,
    explain: bool = True,
    user_weight: float | None = None,
    now: Any = None,
    unknown_items: str = "raise",
    return_frame: bool = True,
    num_threads: int = 0,
) -> pd.DataFrame | CrossSellResult:
    """Return the ``n`` best complements of a basket (cart, order, product page).

    Parameters
    ----------
    model : Recommender or SegmentedModel
        A fitted ItemItem, ALS, Popularity (or any recommender).
    basket : list-like of item IDs, or one item ID
        What is in the cart.  Its items are never recommended.
    n : int
        Exactly ``n`` rows whenever ``n`` eligible items remain.
    user : optional
        The customer.  If the model knows them, their history counts: as the
        repeat-purchase probability of each item they bought (the default
        ItemItem, and models with ``repeat_purchases_`` such as EASE and ALS
        fitted on baskets), or blended in with ``user_weight`` (other models,
        which by default never offer what the customer owns).  Unknown customers are
        served anonymously.  An empty basket with a known user gives personal
        picks.
    catalog : TierCatalogProtocol, optional
        Other tiers of a basket item's family are upgrades, not cross-sells:
        they are left out.  Catalog items the model does not know are
        ignored (but a catalog sharing no item with the model is an error).
    rules : Rules, optional
        Business rules.  Default: ``Rules(exclude_owned=False)`` for an
        ItemItem with ``similarity="confidence"`` and for models with a
        repeat term (``repeat_purchases_``; their owned durables stay out)
        — the customer's repeat probability decides whether an owned item
        comes back: right for consumables; pass ``Rules()`` for durables —
        and ``Rules()`` — exclude what the customer owns — for every other model.
    segment : optional
        The customer's market: picks the segment's model of a
        :class:`SegmentedModel` (and its best sellers as the fill), a
        Popularity model's segment ranking, and ``rules.segment_items``.
    explain : bool
        Add ``because, together_count, lift, reason``.
    user_weight : float, optional
        Weight of the customer's history (0..1).  For the default ItemItem and
        models with a repeat term it scales the repeat-purchase probability
        (``None`` = 1: as calibrated; 0 ignores the history); for other models
        it is the history's share of the score (``None`` =
        :data:`DEFAULT_USER_WEIGHT`).
    now : datetime-like, optional
        For the declines cooldown (default ``rules.now``, else the current time).
    unknown_items : {"raise", "ignore"}
        Basket items the model does not know: a ``KeyError`` naming them, or
        dropped with a warning.
    return_frame : bool
        ``False`` returns a :class:`CrossSellResult` (the same columns as
        NumPy arrays) and skips building a DataFrame — the fastest path for
        online serving.
    num_threads : int
        Threads for the kernels (0 = all cores).

    Returns
    -------
    pandas.DataFrame or CrossSellResult
        ``item, score, rank`` and, with ``explain``, ``because`` (the basket
        item contributing most; missing — NaN in a string column — for
        history or popularity picks),
        ``together_count`` (orders — or customers for user-level models —
        holding both), ``lift`` and ``reason``.

    Raises
    ------
    KeyError
        Unknown basket items (``unknown_items="raise"``), unknown items in rules.
    ValueError, TypeError
        Bad arguments; an empty basket without a known user.

    Examples
    --------
    >>> import recsys
    >>> orders = pd.DataFrame({
    ...     "order": [1, 1, 2, 2, 3, 3, 3, 4],
    ...     "customer": ["a", "a", "b", "b", "a", "a", "a", "d"],
    ...     "item": ["phone", "case", "phone", "case", "phone", "charger", "case", "cable"],
    ... })
    >>> data = recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
    ...                                        basket_col="order")
    >>> model = recsys.ItemItem(similarity="cosine", min_count=1).fit(data)
    >>> recs = recommend_cross_sell(model, ["phone"], n=3)
    >>> recs[["item", "rank", "because", "together_count"]].values.tolist()
    [['case', 1, 'phone', 3], ['charger', 2, 'phone', 1], ['cable', 3, None, 0]]
    >>> recs["reason"].tolist()[0]
    'bought together with phone in 3 orders, lift 1.3'
    """
    model = check_model(model)
    n = check_n(n)
    resolve_num_threads(num_threads)
    rules = _cross_sell_rules(rules, model)
    user_weight = _check_weight(user_weight)
    base = base_model(model)
    rows = basket_rows(base, basket, check_unknown_items(unknown_items))
    user_row = -1
    if user is not None:
        user_row = int(base.user_ids_.to_rows([user], missing="ignore")[0])
    if rows.size == 0 and user_row < 0:
        raise ValueError(
            "basket is empty and the user is unknown: there is nothing to recommend from"
        )
    batch = _Batch(
        np.array([0, rows.size], dtype=np.int64),
        rows.astype(np.int32),
        np.array([user], dtype=object),
        np.array([user_row], dtype=np.int32),
        None if segment is None else np.array([segment], dtype=object),
    )
    result = _cross_sell(
        model,
        batch,
        min(n, len(base.item_ids_)),
        catalog,
        rules,
        explain,
        user_weight,
        now,
        num_threads,
    )
    return _output(base, result, explain, None, None, return_frame)


def recommend_cross_sell_batch(
    model: Recommender | SegmentedModel,
    baskets: pd.DataFrame,
    n: int = 5,
    *,
    basket_col: str = "basket_id",
    item_col: str = "item",
    user_col: str | None = None,
    segment_col: str | None = None,
    catalog: TierCatalogProtocol | None = None,
    rules: Rules | None = None,
    explain: bool = True,
    user_weight: float | None = None,
    now: Any = None,
    unknown_items: str = "raise",
    num_threads: int = 0,
) -> pd.DataFrame:
    """Cross-sells for many baskets at once (one ranked list per basket).

    Parameters
    ----------
    model : Recommender or SegmentedModel
    baskets : pandas.DataFrame
        One row per (basket, item).
    n : int
    basket_col, item_col : str
    user_col : str, optional
        The customer of each basket (one per basket).
    segment_col : str, optional
        The market of each basket (one per basket), see
        :func:`recommend_cross_sell`.
    catalog, rules, explain, user_weight, now, unknown_items, num_threads
        As in :func:`recommend_cross_sell`.

    Returns
    -------
    pandas.DataFrame
        ``<basket_col>, item, score, rank`` (+ ``because, together_count,
        lift, reason`` with ``explain``), baskets in order of first
        appearance, then rank.

    Examples
    --------
    >>> import recsys
    >>> orders = pd.DataFrame({"order": [1, 1, 2, 2, 3], "customer": ["a", "a", "a", "a", "b"],
    ...                        "item": ["tea", "cup", "tea", "cup", "pot"]})
    >>> data = recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
    ...                                        basket_col="order")
    >>> model = recsys.ItemItem(min_count=1).fit(data)
    >>> carts = pd.DataFrame({"cart": ["x", "y"], "item": ["tea", "pot"]})
    >>> recs = recommend_cross_sell_batch(model, carts, n=1, basket_col="cart")
    >>> recs[["cart", "item", "reason"]].values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['x', 'cup', 'bought together with tea in 2 orders, lift 1.5'],
     ['y', 'cup', 'popular with customers']]
    """
    model = check_model(model)
    n = check_n(n)
    resolve_num_threads(num_threads)
    rules = _cross_sell_rules(rules, model)
    user_weight = _check_weight(user_weight)
    unknown_items = check_unknown_items(unknown_items)
    base = base_model(model)
    baskets = require_dataframe(baskets, "baskets")
    require_columns(baskets, [basket_col, item_col, user_col, segment_col], "baskets")
    require_no_missing(baskets, basket_col, "baskets")
    require_no_missing(baskets, item_col, "baskets")
    q_of, basket_ids = pd.factorize(baskets[basket_col].to_numpy())
    n_q = len(basket_ids)
    rows = base.item_ids_.to_rows(baskets[item_col].to_numpy(), missing=unknown_items)
    keep = rows >= 0
    if not keep.all():
        warnings.warn(
            f"baskets: ignored {int((~keep).sum())} row(s) with items unknown to the model",
            UserWarning,
            stacklevel=2,
        )
    key = np.sort(q_of[keep].astype(np.int64) * len(base.item_ids_) + rows[keep])
    if key.size > 1:
        key = key[np.concatenate([[True], key[1:] != key[:-1]])]
    q_sorted = (key // len(base.item_ids_)).astype(np.int64)
    item_sorted = (key % len(base.item_ids_)).astype(np.int32)
    indptr = np.zeros(n_q + 1, dtype=np.int64)
    np.cumsum(np.bincount(q_sorted, minlength=n_q), out=indptr[1:])
    users = _per_basket(baskets, user_col, q_of, n_q, basket_col)
    segments = (
        _per_basket(baskets, segment_col, q_of, n_q, basket_col)
        if segment_col is not None
        else None
    )
    user_rows = np.full(n_q, -1, dtype=np.int32)
    if user_col is not None:
        present = ~pd.isna(users)
        if present.any():
            user_rows[present] = base.user_ids_.to_rows(users[present], missing="ignore")
    batch = _Batch(indptr, item_sorted, users, user_rows, segments)
    result = _cross_sell(
        model,
        batch,
        min(n, len(base.item_ids_)),
        catalog,
        rules,
        explain,
        user_weight,
        now,
        num_threads,
    )
    return _output(base, result, explain, basket_col, np.asarray(basket_ids), True)


def _per_basket(
    df: pd.DataFrame, col: str | None, q_of: np.ndarray, n_q: int, basket_col: str
) -> np.ndarray:
    out = np.full(n_q, None, dtype=object)
    if col is None:
        return out
    values = df[col].to_numpy()
    pairs = pd.DataFrame({"q": q_of, "v": values}).drop_duplicates()
    multi = pairs["q"].duplicated(keep=False).to_numpy()
    if multi.any():
        bad = pd.unique(df[basket_col].to_numpy()[np.isin(q_of, pairs["q"].to_numpy()[multi])])
        raise ValueError(
            f"baskets column {col!r} must have one value per basket; "
            f"baskets {bad[:10].tolist()} have several"
        )
    out[pairs["q"].to_numpy()] = pairs["v"].to_numpy()
    return out


def _output(
    base: Recommender,
    result: _Result,
    explain: bool,
    query_col: str | None,
    query_ids: np.ndarray | None,
    as_frame: bool,
) -> pd.DataFrame | CrossSellResult:
    if query_col is None and result.ids.shape[0] == 1:
        return _single_output(base, result, explain, as_frame)
    valid = result.ids >= 0
    per_query = valid.sum(axis=1)
    ids = result.ids[valid]
    columns: dict[str, Any] = {}
    if query_col is not None and query_ids is not None:
        columns[query_col] = np.repeat(query_ids, per_query)
    _, external = item_lookup(base.item_ids_)
    columns["item"] = external[ids]
    columns["score"] = result.scores[valid]
    columns["rank"] = (
        np.nonzero(valid)[1].astype(np.int64) + 1
    )  # filled slots are a prefix of each row
    if explain:
        because_rows = result.because[valid]
        has = because_rows >= 0
        because = np.full(ids.size, None, dtype=object)
        if has.any():
            because[has] = external[because_rows[has]]
        kind = result.kind[valid]
        together = result.together[valid]
        lift = result.lift[valid]
        units = np.repeat(result.unit, per_query)
        labels = np.repeat(result.segment_label, per_query)
        repeat_count, order_count = result.repeat_count[valid], result.order_count[valid]
        reasons = np.empty(ids.size, dtype=object)
        unit_set = set(result.unit.tolist()) if ids.size else set()
        if len(unit_set) == 1:  # the common case (and every single call): no masks
            reasons[:] = cross_sell_reasons(
                kind,
                because,
                together,
                lift,
                unit=unit_set.pop(),
                segment=labels,
                repeat_count=repeat_count,
                order_count=order_count,
            )
        for unit in unit_set:
            hit = units == unit
            reasons[hit] = cross_sell_reasons(
                kind[hit],
                because[hit],
                together[hit],
                lift[hit],
                unit=unit,
                segment=labels[hit],
                repeat_count=repeat_count[hit],
                order_count=order_count[hit],
            )
        columns["because"] = because  # object in a frame too (_OBJECT_COLUMNS)
        columns["together_count"] = together
        columns["lift"] = lift
        columns["reason"] = reasons
    if not as_frame:
        return CrossSellResult(**columns)
    return frame(columns, objects=_OBJECT_COLUMNS)


def _single_output(
    base: Recommender, result: _Result, explain: bool, as_frame: bool
) -> pd.DataFrame | CrossSellResult:
    """:func:`_output` of one query (a shop-front call): the same columns, without the masks."""
    row = result.ids[0]
    k = int(np.count_nonzero(row >= 0))  # filled slots are a prefix of the row
    ids = row[:k]
    _, external = item_lookup(base.item_ids_)
    columns: dict[str, Any] = {
        "item": external[ids],
        "score": result.scores[0, :k],
        "rank": np.arange(1, k + 1, dtype=np.int64),
    }
    if explain:
        because_rows = result.because[0, :k]
        because = np.full(k, None, dtype=object)
        has = because_rows >= 0
        if has.any():
            because[has] = external[because_rows[has]]
        together = result.together[0, :k]
        lift = result.lift[0, :k]
        reasons = np.empty(k, dtype=object)
        if k:
            reasons[:] = cross_sell_reasons(
                result.kind[0, :k],
                because,
                together,
                lift,
                unit=result.unit[0],
                segment=np.repeat(result.segment_label, k),
                repeat_count=result.repeat_count[0, :k],
                order_count=result.order_count[0, :k],
            )
        columns["because"] = because
        columns["together_count"] = together
        columns["lift"] = lift
        columns["reason"] = reasons
    if not as_frame:
        return CrossSellResult(**columns)
    return frame(columns, objects=_OBJECT_COLUMNS)
