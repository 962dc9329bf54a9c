"""Buy it again: the items each customer is due to re-buy, ranked by how due they are.

:func:`recommend_repurchase` asks a fitted
:class:`~recsys.models.repurchase.Repurchase` model for the probability that
each customer buys each item they bought before in their next order (their
own rhythm for that item, shrunk towards the item's typical rhythm, and the
item's learned repeat rate; see :mod:`recsys.models.repurchase`), keeps the
best ``n`` per customer and explains each one ("you buy it about every 12
days; last time 11 days ago").  Items nobody re-buys (durables) never appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from recsys.data.ids import as_id_array
from recsys.models.base import check_n
from recsys.models.repurchase import Repurchase, RepurchaseScores
from recsys.selling._common import Columns
from recsys.types import ExternalId, ExternalIds

__all__ = ["RepurchaseResult", "recommend_repurchase", "repurchase_reason"]

REPURCHASE_COLUMNS = [
    "user",
    "item",
    "score",
    "rank",
    "last_bought",
    "typical_interval_days",
    "due_in_days",
    "reason",
]


@dataclass(frozen=True, eq=False)
class RepurchaseResult(Columns):
    """Buy-it-again lists as NumPy arrays (:func:`recommend_repurchase`, ``return_frame=False``).

    One entry per recommended (customer, item), customers in the order asked,
    best first within a customer; the fields are the columns of the DataFrame
    the call returns otherwise.

    Attributes
    ----------
    user, item : numpy.ndarray
        External IDs.
    score : numpy.ndarray of float64
        The probability that the customer buys the item in their next order.
    rank : numpy.ndarray of int64
        1 = best, per customer.
    last_bought : numpy.ndarray of datetime64[ns]
        The customer's last purchase of the item (UTC).
    typical_interval_days : numpy.ndarray of float64
        The customer's typical days between two purchases of it.
    due_in_days : numpy.ndarray of float64
        ``last_bought + typical_interval - at``, in days (negative: overdue).
    reason : numpy.ndarray of object
        The explanation as a sentence.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> from recsys.models.repurchase import Repurchase
    >>> log = pd.DataFrame({"order": [1, 2, 3], "user": ["ann"] * 3, "item": ["tea"] * 3,
    ...                     "time": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-21"])})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
    ...                                        basket_col="order", time_col="time")
    >>> result = recommend_repurchase(Repurchase().fit(data), "ann", at="2024-01-30",
    ...                               return_frame=False)
    >>> result.item.tolist(), result.reason[0]
    (['tea'], 'you buy it about every 10 days; last time 9 days ago')
    """

    user: np.ndarray
    item: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    last_bought: np.ndarray
    typical_interval_days: np.ndarray
    due_in_days: np.ndarray
    reason: np.ndarray


def _days(value: float) -> str:
    days = int(round(value))
    return "1 day" if days == 1 else f"{days} days"


def repurchase_reason(typical_interval_days: float, days_since: float) -> str:
    """Return the sentence that explains a buy-it-again offer.

    Parameters
    ----------
    typical_interval_days : float
        The customer's typical days between purchases of the item.
    days_since : float
        Days from the last purchase to the time asked about.

    Examples
    --------
    >>> repurchase_reason(12.2, 11.4)
    'you buy it about every 12 days; last time 11 days ago'
    >>> repurchase_reason(30, 0.2)
    'you buy it about every 30 days; last time today'
    """
    since = "today" if days_since < 0.5 else f"{_days(days_since)} ago"
    return f"you buy it about every {_days(max(typical_interval_days, 1.0))}; last time {since}"


@overload
def recommend_repurchase(
    model: Repurchase,
    users: ExternalIds | ExternalId,
    *,
    at: Any = ...,
    n: int = ...,
    horizon: float | None = ...,
    return_frame: Literal[True] = ...,
) -> pd.DataFrame: ...


@overload
def recommend_repurchase(
    model: Repurchase,
    users: ExternalIds | ExternalId,
    *,
    at: Any = ...,
    n: int = ...,
    horizon: float | None = ...,
    return_frame: Literal[False],
) -> RepurchaseResult: ...


def recommend_repurchase(
    model: Repurchase,
    users: ExternalIds | ExternalId,
    *,
    at: Any = None,
    n: int = 10,
    horizon: float | None = None,
    return_frame: bool = True,
) -> pd.DataFrame | RepurchaseResult:
    """Recommend what each customer is due to buy again, with when and why.

    Only items the customer bought before, and only items with a positive
    repurchase probability (an item nobody ever re-bought has none), so a
    customer may get fewer than ``n`` rows, or none.

    Parameters
    ----------
    model : Repurchase
        Fitted on interactions with orders and times.
    users : external user ID or list-like of them
        One customer or a batch (duplicates allowed; rows come in this order).
        Unknown customers are a ``KeyError`` naming them.
    at : datetime-like, sequence of them (one per user), or None
        When the customers order; default the model's ``reference_time_``
        (its newest purchase).  Not before a customer's last order.
    n : int
        Items per customer at most.
    horizon : float, optional
        Days after ``at`` the next order may come; default: the next order is
        at ``at`` (or one typical order gap after the customer's last order,
        if that is later).
    return_frame : bool
        ``False`` returns a :class:`RepurchaseResult` of arrays instead of a
        DataFrame.

    Returns
    -------
    pandas.DataFrame or RepurchaseResult
        Columns ``user, item, score, rank, last_bought, typical_interval_days,
        due_in_days, reason``; ``score`` is the probability of buying the item
        in the next order.

    Raises
    ------
    TypeError
        ``model`` is not a :class:`~recsys.models.repurchase.Repurchase`.
    NotFittedError
        The model is not fitted.
    KeyError
        Unknown customers.
    ValueError
        Bad ``n``, ``at`` or ``horizon``; ``at`` before a customer's last order.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> from recsys.models.repurchase import Repurchase
    >>> days = [0, 7, 14, 0, 7, 14, 3, 10]
    >>> log = pd.DataFrame({
    ...     "order": ["a1", "a2", "a3", "b1", "b2", "b3", "a4", "b4"],
    ...     "user": ["ann", "ann", "ann", "bob", "bob", "bob", "ann", "bob"],
    ...     "item": ["milk", "milk", "milk", "milk", "milk", "milk", "cake stand", "cake stand"],
    ...     "time": pd.Timestamp("2024-03-01") + pd.to_timedelta(days, unit="D"),
    ... })
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
    ...                                        basket_col="order", time_col="time")
    >>> model = Repurchase(repeat_prior=1.0).fit(data)
    >>> recs = recommend_repurchase(model, ["ann", "bob"], at="2024-03-20")
    >>> recs[["user", "item", "rank"]].values.tolist()  # nobody re-buys the cake stand
    [['ann', 'milk', 1], ['bob', 'milk', 1]]
    >>> recs["reason"].iloc[0]
    'you buy it about every 7 days; last time 5 days ago'
    """
    if not isinstance(model, Repurchase):
        raise TypeError(
            "model must be a fitted recsys.models.repurchase.Repurchase (fit it on interactions "
            f"built with basket_col and time_col), got {type(model).__name__}"
        )
    n = check_n(n)
    batch: Any = users if pd.api.types.is_list_like(users) else [users]  # or one customer
    user_values = as_id_array(batch, "users")
    if user_values.dtype.kind in "US":  # as the model's own IDs: the same frame either way
        user_values = user_values.astype(object)
    scores = model.score_users(user_values, at=at, horizon=horizon)
    result = _top(model, user_values, scores, n)
    return result.to_pandas() if return_frame else result


def _top(
    model: Repurchase, user_values: np.ndarray, scores: RepurchaseScores, n: int
) -> RepurchaseResult:
    """Keep the best ``n`` entries with a positive probability per query, best first."""
    counts = np.diff(scores.indptr)
    q_of = np.repeat(np.arange(counts.size), counts)
    keep = scores.probability > 0
    order = np.lexsort((scores.item_rows[keep], -scores.probability[keep], q_of[keep]))
    pos = np.flatnonzero(keep)[order]
    q_sorted = q_of[pos]
    starts = np.searchsorted(q_sorted, np.arange(counts.size))
    rank = np.arange(pos.size) - starts[q_sorted] + 1
    top = rank <= n
    pos, q_sel, rank = pos[top], q_sorted[top], rank[top]
    at_s = scores.at[q_sel]
    last = scores.last_bought[pos]
    typical = scores.typical_interval_days[pos]
    since = (at_s - last) / 86_400.0
    reason = np.array(
        [repurchase_reason(t, s) for t, s in zip(typical.tolist(), since.tolist(), strict=True)],
        dtype=object,
    )
    return RepurchaseResult(
        user=user_values[q_sel],
        item=model.item_ids_.to_external(scores.item_rows[pos]),
        score=scores.probability[pos],
        rank=rank.astype(np.int64),
        last_bought=np.round(last * 1e9).astype(np.int64).astype("datetime64[ns]"),
        typical_interval_days=typical,
        due_in_days=scores.due_in_days[pos],
        reason=reason,
    )
