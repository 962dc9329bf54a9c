"""Repurchase: when will a customer buy an item again ("buy it again", replenishment).

The model follows the decomposition of Bhagat et al. (2018), *Buy It Again:
Modeling Repeat Purchase Recommendations* (KDD): the probability that a
customer buys an item again at a given time is the probability that they buy
it again *at all* times the probability that the next purchase falls *then*.

**Whether** (per item, learned): a customer who bought item ``i`` on ``k``
distinct days buys it once more with probability

    ``Q_i(k) = (N_i(>=k+1) + a Q(k)) / (N_i(>=k) + a)``

— Bhagat et al.'s repeat customer probability, extended to every ``k`` (the
share of the item's customers with ``k`` purchases who went on to a
``k+1``-th), shrunk with a Beta prior of strength ``a`` (``repeat_prior``)
towards the same ratio over all items, ``Q(k)``; ``k`` is capped at
``max_purchases``.  An item that no customer ever bought on two different
days (a durable: a cake stand, a laptop) has ``Q_i = 0``: it never comes back.

**When** (per customer and item): the days between two purchases of ``i`` by
``u`` are log-normal (the aggregate time distribution of Bhagat et al. is
log-normal too), ``log(interval) ~ Normal(mu_ui, sigma_i**2)``, with a normal
prior on the customer's own ``mu_ui`` centred on the item's typical
(log-)interval ``m_i``: the posterior mean

    ``mu_ui = (w m_i + sum of the customer's log intervals) / (w + k - 1)``

shrinks a customer with few purchases towards the item's typical interval,
and follows the customer's own rhythm once they have many.  ``m_i`` and
``sigma_i`` are the item's pooled estimates, themselves shrunk towards all
items' with ``interval_prior`` pseudo-intervals; ``w = sigma**2 / tau**2``
(within- over between-customer variance of the log intervals) is estimated
from the data by the method of moments (empirical Bayes), unless
``personal_prior`` fixes it.  The predictive spread adds the posterior
uncertainty: ``sigma_i * sqrt(1 + 1 / (w + k - 1))``.

**Due** (at time ``at``): purchases happen at orders, so an item not bought at
the customer's last order ``t_prev`` was not needed by then.  With ``s`` the
days since the item was last bought and ``F`` the log-normal CDF, the
probability that the need arises in the window ``(t_prev, t_end]`` — the
customer's next order — is a mixture-cure (split-population) hazard:

    ``P = Q (F(s_end) - F(s_prev)) / (Q (1 - F(s_prev)) + 1 - Q)``

which rises as the item becomes due and falls again when the customer is
long overdue (they may have stopped buying it).  ``t_end`` is ``at +
horizon`` when a horizon is given; by default it is ``at``, or one typical
gap between the customer's orders after their last order if that is later
(so that asking right after an order still ranks by what comes next).

Purchases are counted per calendar day (UTC): buying an item twice on the
same day is one purchase, never a repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.sparse import row_positions
from recsys.data.ids import IdMap
from recsys.data.interactions import Interactions, as_interactions
from recsys.exceptions import NotFittedError
from recsys.io import codec
from recsys.models.base import ParamsMixin, check_rows

__all__ = ["Repurchase", "RepurchaseScores", "DAY_SECONDS"]

#: Seconds in a day: the unit of intervals, horizons and ``due_in_days``.
DAY_SECONDS = 86_400.0
#: The spread of the log intervals when the data hold no customer with three purchases.
_FALLBACK_LOG_SD = 0.8
#: The smallest variance of log intervals used (a spread of 10%): perfectly regular toy data
#: would otherwise make the timing a step function.
_MIN_LOG_VAR = 0.01
#: Bounds of the estimated personal prior strength ``w`` (in pseudo-intervals).
_W_BOUNDS = (0.25, 100.0)


@dataclass(frozen=True, eq=False)
class RepurchaseScores:
    """Every item each queried customer bought, with its repurchase probability and timing.

    One entry per (customer, item) pair, grouped by query in CSR form: the
    entries of query ``q`` are ``indptr[q]:indptr[q + 1]``, in item-row order.

    Attributes
    ----------
    indptr : numpy.ndarray of int64, shape (n_queries + 1,)
    item_rows : numpy.ndarray of int32
    probability : numpy.ndarray of float64
        The probability that the customer buys the item in their next order
        (see :mod:`recsys.models.repurchase`); 0 for items nobody re-buys.
    last_bought : numpy.ndarray of float64
        Seconds since the epoch of the customer's last purchase of the item.
    purchases : numpy.ndarray of int64
        The customer's purchase days of the item.
    typical_interval_days : numpy.ndarray of float64
        The customer's typical days between two purchases of the item (the
        median of the shrunk log-normal).
    due_in_days : numpy.ndarray of float64
        ``(last_bought + typical_interval - at)`` in days: negative when overdue.
    at : numpy.ndarray of float64, shape (n_queries,)
        The time of each query, seconds since the epoch.
    """

    indptr: np.ndarray
    item_rows: np.ndarray
    probability: np.ndarray
    last_bought: np.ndarray
    purchases: np.ndarray
    typical_interval_days: np.ndarray
    due_in_days: np.ndarray
    at: np.ndarray


@codec.saveable
class Repurchase(ParamsMixin):
    """Repeat-purchase timing model: which items a customer will buy again, and when.

    Fit it on interactions with baskets (orders) and times; ask it, at any
    time ``at`` after a customer's last order, for the probability that they
    buy each item they bought before in their next order
    (:func:`recsys.selling.recommend_repurchase` ranks by it).  The model is
    described in :mod:`recsys.models.repurchase`.

    Parameters
    ----------
    repeat_prior : float
        Strength ``a`` (in customers) of the Beta prior that pulls an item's
        repeat probability towards all items' (``>= 0``).
    interval_prior : float
        Strength (in intervals) of the prior that pulls an item's typical
        interval and spread towards all items' (``>= 0``).
    personal_prior : float or "auto"
        Strength ``w`` (in intervals) of the item's typical interval in a
        customer's own: ``"auto"`` estimates it from the data (empirical
        Bayes), a number fixes it (``> 0``).
    max_purchases : int
        Purchase counts above this share one repeat probability (``>= 1``).

    Attributes
    ----------
    user_ids_, item_ids_ : IdMap
    reference_time_ : pandas.Timestamp
        The newest purchase of the training data: the default ``at``.
    item_repeat_customers_ : numpy.ndarray of int64
        Customers who bought each item on at least two days.
    item_repeat_probability_ : numpy.ndarray of float64
        ``Q_i(1)``: the probability that a customer who bought the item once
        buys it again (0 for items nobody re-buys).
    item_typical_interval_days_ : numpy.ndarray of float64
        ``exp(m_i)``: the item's typical days between purchases.
    personal_prior_ : float
        The ``w`` in use.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> from recsys.models.repurchase import Repurchase
    >>> days = [0, 7, 15, 21, 0, 10, 20, 3, 20]
    >>> log = pd.DataFrame({
    ...     "order": ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "a0", "b4"],
    ...     "user": ["ann"] * 4 + ["bob"] * 3 + ["ann", "bob"],
    ...     "item": ["milk"] * 7 + ["cake stand"] * 2,
    ...     "time": pd.Timestamp("2024-03-01") + pd.to_timedelta(days, unit="D"),
    ... })
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
    ...                                        basket_col="order", time_col="time")
    >>> model = Repurchase(repeat_prior=1.0).fit(data)
    >>> model.item_ids_.external_ids.tolist(), model.item_durable_.tolist()
    (['cake stand', 'milk'], [True, False])
    >>> model.item_repeat_probability_.round(2).tolist()  # milk is re-bought, the stand is not
    [0.0, 0.89]
    >>> scores = model.score_users(["ann"], at="2024-03-26")
    >>> scores.typical_interval_days.round(1).tolist(), scores.due_in_days.round(1).tolist()
    ([8.0, 7.1], [-14.0, 3.1])
    """

    def __init__(
        self,
        repeat_prior: float = 10.0,
        interval_prior: float = 20.0,
        personal_prior: float | str = "auto",
        max_purchases: int = 10,
    ) -> None:
        self.repeat_prior = repeat_prior
        self.interval_prior = interval_prior
        self.personal_prior = personal_prior
        self.max_purchases = max_purchases

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        for name in ("repeat_prior", "interval_prior"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not (np.isfinite(value) and value >= 0)
            ):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        w = self.personal_prior
        if not (
            (isinstance(w, str) and w == "auto")
            or (
                not isinstance(w, bool)
                and isinstance(w, (int, float, np.integer, np.floating))
                and np.isfinite(w)
                and w > 0
            )
        ):
            raise ValueError(f"personal_prior must be 'auto' or a number > 0, got {w!r}")
        k = self.max_purchases
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"max_purchases must be an int >= 1, got {k!r}")

    def fit(self, interactions: Interactions) -> Repurchase:
        """Learn every customer's purchase days of every item, and the items' rhythms.

        Parameters
        ----------
        interactions : Interactions
            Built with ``basket_col`` (orders) and ``time_col``
            (``Interactions.from_pandas(..., basket_col=..., time_col=...)``).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Interactions without baskets or times, or bad hyper-parameters.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"order": [1, 2, 3], "user": ["u", "u", "v"],
        ...                     "item": ["tea", "tea", "tea"],
        ...                     "time": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-03"])})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        basket_col="order", time_col="time")
        >>> model = Repurchase().fit(data)
        >>> model.item_repeat_customers_.tolist(), str(model.reference_time_)
        ([1], '2024-01-08 00:00:00')
        """
        self._check_params()
        data = as_interactions(interactions)
        if data.basket_matrix is None or data.basket_users is None:
            raise ValueError(
                "Repurchase needs orders: build the interactions with basket_col "
                "(Interactions.from_pandas(..., basket_col='order', time_col='time'))"
            )
        if data.basket_times is None or data.reference_time is None:
            raise ValueError(
                "Repurchase needs purchase times: build the interactions with time_col "
                "(Interactions.from_pandas(..., basket_col='order', time_col='time'))"
            )
        baskets = data.basket_matrix
        entry_basket = np.repeat(np.arange(baskets.shape[0]), np.diff(baskets.indptr))
        users = data.basket_users[entry_basket].astype(np.int64)
        items = baskets.indices.astype(np.int64)
        times = data.basket_times[entry_basket].astype(np.float64)
        pairs, user_stats = _purchase_statistics(
            users, items, times, data.basket_users, data.basket_times, data.shape
        )
        self.user_ids_: IdMap = data.user_ids
        self.item_ids_: IdMap = data.item_ids
        self.reference_time_: pd.Timestamp = pd.Timestamp(data.reference_time)
        self._pairs = pairs
        self._user_last_order, self._user_gap_days = user_stats
        self._derive()
        self._fit_params = self.get_params(deep=False)
        return self

    def _derive(self) -> None:
        """Compute the item-level estimates from the pair statistics (fit and load)."""
        k_matrix, last, first_day, s1, s2 = self._pairs
        n_items = k_matrix.shape[1]
        k = k_matrix.data.astype(np.int64)
        item = k_matrix.indices.astype(np.int64)
        cap = int(self.max_purchases)
        # when: log-normal intervals, item means and spreads shrunk towards all items'
        n_int = (k - 1).astype(np.float64)
        item_n = np.bincount(item, weights=n_int, minlength=n_items)
        item_s1 = np.bincount(item, weights=s1, minlength=n_items)
        total_n = float(item_n.sum())
        global_mean = float(item_s1.sum() / total_n) if total_n else np.log(30.0)
        df = np.maximum(n_int - 1.0, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ss = np.where(n_int > 1, s2 - s1 * s1 / np.maximum(n_int, 1.0), 0.0)
        ss = np.maximum(ss, 0.0)
        item_df = np.bincount(item, weights=df, minlength=n_items)
        item_ss = np.bincount(item, weights=ss, minlength=n_items)
        global_var = (
            float(item_ss.sum() / item_df.sum()) if item_df.sum() > 0 else _FALLBACK_LOG_SD**2
        )
        global_var = max(global_var, _MIN_LOG_VAR)
        v = float(self.interval_prior)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.where(item_n + v > 0, (v * global_mean + item_s1) / (item_n + v), global_mean)
            var = np.where(item_df + v > 0, (v * global_var + item_ss) / (item_df + v), global_var)
        self._item_log_mean = m
        self._item_log_sd = np.sqrt(np.maximum(var, _MIN_LOG_VAR))
        # whether: of the customers who bought the item on j days (j = 1..cap), the share who
        # bought it on a (j+1)-th.  A customer whose last purchase is too recent to tell (less
        # than the item's 90th-percentile interval before the end of the data) is censored:
        # counted neither way at their last level.
        ref = self.reference_time_.value / 1e9
        patience = np.exp(m + 1.2816 * np.sqrt(np.maximum(var, _MIN_LOG_VAR))) * DAY_SECONDS
        level = np.minimum(k, cap + 1)
        stopped = (ref - last) > patience[item]
        reached = np.zeros((n_items, cap + 2), dtype=np.float64)
        np.add.at(reached, (item, level), 1.0)
        reached = np.cumsum(reached[:, ::-1], axis=1)[:, ::-1]  # column j: N_i(>= j)
        continued = reached[:, 2:]  # (n_items, cap): customers past level j = 1..cap
        ended = np.zeros((n_items, cap + 2), dtype=np.float64)
        np.add.at(ended, (item[stopped], level[stopped]), 1.0)
        at_risk = continued + ended[:, 1:-1]
        total = at_risk.sum(axis=0)
        overall = continued.sum(axis=0) / np.maximum(total, 1.0)
        for j in range(1, cap):  # a level nobody could be judged at yet: the level below's
            if total[j] == 0:
                overall[j] = overall[j - 1]
        a = float(self.repeat_prior)
        with np.errstate(invalid="ignore", divide="ignore"):
            q = (continued + a * overall) / (at_risk + a)
        q = np.where(at_risk + a > 0, q, overall)
        repeaters = reached[:, 2].astype(np.int64)
        # a durable: at least `a` customers had the time to buy it again, and none did
        self.item_durable_: np.ndarray = (repeaters == 0) & (ended[:, 1] >= max(a, 1.0))
        q[self.item_durable_] = 0.0
        self._q = np.clip(q, 0.0, 1.0)
        self.item_repeat_customers_: np.ndarray = repeaters
        self.item_repeat_probability_: np.ndarray = self._q[:, 0].copy()

        self.item_typical_interval_days_: np.ndarray = np.exp(m)
        if self.personal_prior == "auto":
            has = n_int > 0
            if has.sum() >= 2:
                d = s1[has] / n_int[has] - m[item[has]]
                noise = var[item[has]] / n_int[has]
                tau2 = float(np.mean(d * d) - np.mean(noise))
                w = global_var / tau2 if tau2 > 0 else _W_BOUNDS[1]
            else:
                w = 1.0
            self.personal_prior_: float = float(np.clip(w, *_W_BOUNDS))
        else:
            self.personal_prior_ = float(self.personal_prior)

    # ------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "item_ids_"):
            raise NotFittedError("this Repurchase is not fitted yet: call fit(interactions) first")

    def at_seconds(self, at: Any, n_queries: int) -> np.ndarray:
        """Return ``at`` as seconds since the epoch, one per query.

        Parameters
        ----------
        at : datetime-like, sequence of them, or None
            One time for every query, or one per query; ``None``: the
            model's ``reference_time_``.  Timezone-aware times are converted
            to UTC; naive times are read as UTC, as the training times were.
        n_queries : int

        Returns
        -------
        numpy.ndarray of float64, shape (n_queries,)

        Raises
        ------
        ValueError
            Times that cannot be parsed, missing times, or a sequence of the
            wrong length.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"order": [1, 2], "user": [1, 1], "item": ["a", "a"],
        ...                     "time": pd.to_datetime(["1970-01-01", "1970-01-03"])})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        basket_col="order", time_col="time")
        >>> Repurchase().fit(data).at_seconds("1970-01-04", 2).tolist()
        [259200.0, 259200.0]
        """
        self._check_fitted()
        if at is None:  # the common case, without parsing
            return np.full(n_queries, self.reference_time_.value / 1e9)
        scalar = isinstance(at, (str, pd.Timestamp, np.datetime64)) or not np.iterable(at)
        try:
            if scalar:
                stamps = pd.DatetimeIndex([pd.Timestamp(at)])
            else:
                stamps = pd.DatetimeIndex(pd.to_datetime(list(at)))
        except (ValueError, TypeError, OverflowError) as err:
            raise ValueError(f"at must be a datetime (or one per user), got {at!r}: {err}") from err
        if stamps.tz is not None:
            stamps = stamps.tz_convert("UTC").tz_localize(None)
        if stamps.isna().any():
            raise ValueError("at has missing times (NaT)")
        seconds = stamps.as_unit("ns").asi8.astype(np.float64) / 1e9
        if seconds.size == 1:
            return np.full(n_queries, seconds[0])
        if seconds.size != n_queries:
            raise ValueError(
                f"at must be one time or one per user: got {seconds.size} times for "
                f"{n_queries} users"
            )
        return seconds

    def score_rows(
        self, user_rows: Any, *, at: Any = None, horizon: float | None = None
    ) -> RepurchaseScores:
        """Score every item the customers (given as rows) bought: the array API.

        Parameters
        ----------
        user_rows : array-like of int, shape (n_queries,)
            Rows of ``user_ids_`` (duplicates allowed).
        at : datetime-like, sequence of them, or None
            When the customers order (one time, or one per query); default
            ``reference_time_``.  It may not be before a customer's last order
            (the model would use purchases from the future).
        horizon : float, optional
            Days after ``at`` the next order may come (``>= 0``); see
            :mod:`recsys.models.repurchase` for the default.

        Returns
        -------
        RepurchaseScores

        Raises
        ------
        NotFittedError, IndexError, TypeError, ValueError
            Unfitted model, rows out of range or not integers, a bad ``at``
            or ``horizon``, ``at`` before a customer's last order.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"order": [1, 2, 3], "user": ["u", "u", "u"],
        ...                     "item": ["tea", "tea", "cup"],
        ...                     "time": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-08"])})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        basket_col="order", time_col="time")
        >>> scores = Repurchase().fit(data).score_rows([0], at="2024-01-12")
        >>> scores.indptr.tolist(), scores.purchases.tolist(), scores.due_in_days.round(1).tolist()
        ([0, 2], [1, 2], [3.0, 3.0])
        """
        self._check_fitted()
        users = check_rows(user_rows, len(self.user_ids_), "user_rows")
        horizon_s = _check_horizon(horizon)
        at_s = self.at_seconds(at, users.size)
        last_order = self._user_last_order[users]
        early = at_s < last_order - 1e-6
        if early.any():
            bad = np.flatnonzero(early)[:5]
            shown = [
                f"{self.user_ids_.to_external(users[[q]])[0]!r} (last order "
                f"{pd.Timestamp(last_order[q], unit='s')}, at {pd.Timestamp(at_s[q], unit='s')})"
                for q in bad
            ]
            raise ValueError(
                f"at is before the last order of {int(early.sum())} customer(s): "
                f"{', '.join(shown)}; the model knows their purchases up to then — ask at or "
                "after it, or fit on the log up to at"
            )
        k_matrix, last, first_day, s1, s2 = self._pairs
        indptr, take = row_positions(k_matrix.indptr, users)
        q_of = np.repeat(np.arange(users.size), np.diff(indptr))
        items = k_matrix.indices[take].astype(np.int32)
        k = k_matrix.data[take].astype(np.int64)
        last_t = last[take]
        n_int = (k - 1).astype(np.float64)
        w = self.personal_prior_
        mu = (w * self._item_log_mean[items] + s1[take]) / (w + n_int)
        sd = self._item_log_sd[items] * np.sqrt(1.0 + 1.0 / (w + n_int))
        q = self._q[items, np.minimum(k, int(self.max_purchases)) - 1]
        prev = last_order[q_of]
        if horizon_s is None:
            end = np.maximum(at_s, last_order + self._user_gap_days[users] * DAY_SECONDS)[q_of]
        else:
            end = at_s[q_of] + horizon_s
        f_prev = _lognormal_cdf((prev - last_t) / DAY_SECONDS, mu, sd)
        f_end = _lognormal_cdf((end - last_t) / DAY_SECONDS, mu, sd)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = q * (f_end - f_prev) / (q * (1.0 - f_prev) + 1.0 - q)
        p = np.where(q > 0, np.clip(np.nan_to_num(p, nan=0.0), 0.0, 1.0), 0.0)
        typical = np.exp(mu)
        due = (last_t - at_s[q_of]) / DAY_SECONDS + typical
        return RepurchaseScores(
            indptr=indptr,
            item_rows=items,
            probability=p,
            last_bought=last_t,
            purchases=k,
            typical_interval_days=typical,
            due_in_days=due,
            at=at_s,
        )

    def score_users(
        self, users: Any, *, at: Any = None, horizon: float | None = None
    ) -> RepurchaseScores:
        """:meth:`score_rows` for customers given by their external IDs.

        Unknown customers are a ``KeyError`` (:class:`~recsys.exceptions.UnknownIdError`)
        naming them.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"order": [1, 2], "user": ["u", "u"], "item": ["tea", "tea"],
        ...                     "time": pd.to_datetime(["2024-01-01", "2024-01-08"])})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        basket_col="order", time_col="time")
        >>> Repurchase().fit(data).score_users(["u"]).typical_interval_days.round(1).tolist()
        [7.0]
        """
        self._check_fitted()
        rows = self.user_ids_.to_rows(users)
        return self.score_rows(rows, at=at, horizon=horizon)

    def repeat_probability_rows(
        self, user_rows: Any, item_rows: Any, *, at: Any = None, horizon: float | None = None
    ) -> np.ndarray:
        """Return the probability that each (customer, item) pair is bought in the next order.

        The hook for the repeat side of cross-sell and the "buy it again"
        offers: the same number :func:`~recsys.selling.recommend_repurchase`
        ranks by, for chosen pairs.  A pair the customer never bought is 0.

        Parameters
        ----------
        user_rows, item_rows : array-like of int, shape (n_pairs,)
            Rows of ``user_ids_`` and ``item_ids_``.
        at : datetime-like, sequence of them (one per pair), or None
        horizon : float, optional
            As in :meth:`score_rows`.

        Returns
        -------
        numpy.ndarray of float64, shape (n_pairs,)

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"order": [1, 2, 3, 4], "user": ["u", "u", "u", "v"],
        ...                     "item": ["tea", "tea", "tea", "tea"],
        ...                     "time": pd.to_datetime(["2024-01-01", "2024-01-08",
        ...                                             "2024-01-15", "2024-01-10"])})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        basket_col="order", time_col="time")
        >>> model = Repurchase().fit(data)
        >>> soon = model.repeat_probability_rows([0], [0], at="2024-01-16", horizon=0)
        >>> due = model.repeat_probability_rows([0], [0], at="2024-01-22", horizon=0)
        >>> bool(due[0] > soon[0])
        True
        """
        self._check_fitted()
        users = check_rows(user_rows, len(self.user_ids_), "user_rows")
        items = check_rows(item_rows, len(self.item_ids_), "item_rows")
        if users.shape != items.shape:
            raise ValueError(
                f"user_rows and item_rows must pair up, got {users.size} and {items.size} rows"
            )
        scores = self.score_rows(users, at=at, horizon=horizon)
        q_of = np.repeat(np.arange(users.size), np.diff(scores.indptr))
        key = q_of * len(self.item_ids_) + scores.item_rows  # sorted: items ascend per query
        wanted = np.arange(users.size, dtype=np.int64) * len(self.item_ids_) + items
        pos = np.searchsorted(key, wanted)
        found = pos < key.size
        found[found] = key[pos[found]] == wanted[found]
        out = np.zeros(users.size, dtype=np.float64)
        out[found] = scores.probability[pos[found]]
        return out

    # --------------------------------------------------------- persistence
    def save(self, path: Any, *, compress: bool = False) -> None:
        """Save the fitted model to ``path``: arrays and JSON in one ``.npz`` file.

        The format is :mod:`recsys.io.codec`'s; the write is atomic.

        Examples
        --------
        >>> import os, tempfile, pandas as pd, recsys
        >>> log = pd.DataFrame({"order": [1, 2], "user": [1, 1], "item": ["a", "a"],
        ...                     "time": pd.to_datetime(["2024-01-01", "2024-01-05"])})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        basket_col="order", time_col="time")
        >>> path = os.path.join(tempfile.mkdtemp(), "r.npz")
        >>> Repurchase().fit(data).save(path)
        >>> Repurchase.load(path).item_repeat_customers_.tolist()
        [1]
        """
        codec.save_object(self, path, compress=compress)

    @classmethod
    def load(cls, path: Any) -> Repurchase:
        """Load a model saved with :meth:`save` (the file must hold a ``Repurchase``).

        Examples
        --------
        >>> import os, tempfile, pandas as pd, recsys
        >>> log = pd.DataFrame({"order": [1, 2], "user": [1, 1], "item": ["a", "a"],
        ...                     "time": pd.to_datetime(["2024-01-01", "2024-01-05"])})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        basket_col="order", time_col="time")
        >>> path = os.path.join(tempfile.mkdtemp(), "r.npz")
        >>> Repurchase().fit(data).save(path)
        >>> Repurchase.load(path).user_ids_.external_ids.tolist()
        [1]
        """
        return codec.load_object(path, expected=cls)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        if getattr(self, "_fit_params", None) != self.get_params(deep=False):
            raise ValueError(
                "hyper-parameters changed since fit: the file would not describe the fitted "
                "state; call fit instead"
            )
        meta: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        codec.put_idmap(meta, arrays, "user_ids", self.user_ids_)
        codec.put_idmap(meta, arrays, "item_ids", self.item_ids_)
        meta["reference_time"] = codec.timestamp_to_ns(self.reference_time_)
        k_matrix, last, first_day, s1, s2 = self._pairs
        codec.put_csr(arrays, "purchases", k_matrix)
        arrays["last"] = last.astype(np.float64)
        arrays["first_day"] = first_day.astype(np.float64)
        arrays["s1"] = s1.astype(np.float64)
        arrays["s2"] = s2.astype(np.float64)
        arrays["user_last_order"] = self._user_last_order.astype(np.float64)
        arrays["user_gap_days"] = self._user_gap_days.astype(np.float64)
        return meta, arrays

    @classmethod
    def _from_state(
        cls, params: dict[str, Any], meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> Repurchase:
        model = cls(**params)
        model._check_params()
        user_ids = codec.get_idmap(meta, arrays, "user_ids", name="user")
        item_ids = codec.get_idmap(meta, arrays, "item_ids", name="item")
        shape = (len(user_ids), len(item_ids))
        k_matrix = codec.get_csr(arrays, "purchases", shape, nonnegative=True)
        k = k_matrix.data
        if k.size and (k.min() < 1 or not np.array_equal(k, np.round(k))):
            raise ValueError("purchases: counts must be whole numbers >= 1")
        nnz = k_matrix.nnz
        last = codec.check_array(arrays, "last", (nnz,), "f").astype(np.float64)
        first_day = codec.check_array(arrays, "first_day", (nnz,), "f").astype(np.float64)
        s1 = codec.check_array(arrays, "s1", (nnz,), "f").astype(np.float64)
        s2 = codec.check_array(arrays, "s2", (nnz,), "f").astype(np.float64)
        if (s2 < -1e-9).any() or (np.abs(s1) > 1e9).any() or (s2 > 1e12).any():
            raise ValueError("s1/s2: sums of log intervals out of range")
        last_order = codec.check_array(arrays, "user_last_order", (shape[0],), "f")
        gaps = codec.check_array(arrays, "user_gap_days", (shape[0],), "f")
        if (gaps <= 0).any():
            raise ValueError("user_gap_days must be > 0")
        reference = codec.timestamp_from_ns(meta["reference_time"])
        if reference is None:
            raise ValueError("reference_time is missing")
        model.user_ids_ = user_ids
        model.item_ids_ = item_ids
        model.reference_time_ = reference
        model._pairs = (k_matrix, last, first_day, s1, s2)
        model._user_last_order = last_order.astype(np.float64)
        model._user_gap_days = gaps.astype(np.float64)
        model._derive()
        model._fit_params = model.get_params(deep=False)
        return model


def _check_horizon(horizon: Any) -> float | None:
    """Return ``horizon`` (days) in seconds, or ``None``."""
    if horizon is None:
        return None
    if (
        isinstance(horizon, bool)
        or not isinstance(horizon, (int, float, np.integer, np.floating))
        or not (np.isfinite(horizon) and horizon >= 0)
    ):
        raise ValueError(f"horizon must be a number of days >= 0, got {horizon!r}")
    return float(horizon) * DAY_SECONDS


def _lognormal_cdf(days: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``P(interval <= days)`` for log-normal intervals; 0 for ``days <= 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(np.maximum(days, 1e-300)) - mu) / sd
    from scipy.special import ndtr  # on first use: keeps `import recsys` fast

    return np.where(days > 0, ndtr(z), 0.0)


def _purchase_statistics(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    basket_users: np.ndarray,
    basket_times: np.ndarray,
    shape: tuple[int, int],
) -> tuple[tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[Any, Any]]:
    """Return the purchase statistics of every (user, item) pair and of every user.

    Per pair: purchase days, last purchase time, first day, sums of the log
    intervals and of their squares; per user: the last order's time and the
    median gap between order days.
    """
    n_users, n_items = shape
    day = np.floor(times / DAY_SECONDS)
    # one purchase per (user, item, day), at its latest time that day
    order = np.lexsort((times, day, items, users))
    u, i, d, t = users[order], items[order], day[order], times[order]
    new_day = np.r_[True, (u[1:] != u[:-1]) | (i[1:] != i[:-1]) | (d[1:] != d[:-1])]
    last_of_day = np.r_[new_day[1:], True]
    u, i, d, t = u[last_of_day], i[last_of_day], d[last_of_day], t[last_of_day]
    new_pair = np.r_[True, (u[1:] != u[:-1]) | (i[1:] != i[:-1])]
    starts = np.flatnonzero(new_pair)
    pair_id = np.cumsum(new_pair) - 1
    k = np.diff(np.r_[starts, u.size])
    gap = np.where(new_pair, np.nan, np.r_[np.nan, np.diff(d)])
    log_gap = np.log(np.where(np.isnan(gap), 1.0, gap))
    log_gap[new_pair] = 0.0
    s1 = np.bincount(pair_id, weights=log_gap, minlength=starts.size)
    s2 = np.bincount(pair_id, weights=log_gap * log_gap, minlength=starts.size)
    ends = np.r_[starts[1:], u.size] - 1
    pu, pi = u[starts], i[starts]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(pu, minlength=n_users), out=indptr[1:])
    k_matrix = sp.csr_matrix(
        (k.astype(np.float32), pi.astype(np.int32), indptr), shape=(n_users, n_items)
    )
    k_matrix.has_sorted_indices = True
    pairs = (k_matrix, t[ends], d[starts], s1, s2)

    # per user: the last order and the median gap between order days
    last_order = np.full(n_users, -np.inf)
    np.maximum.at(last_order, basket_users, basket_times)
    order_days = np.unique(
        basket_users.astype(np.int64) * (1 << 32)
        + np.floor(basket_times / DAY_SECONDS).astype(np.int64)
        + (1 << 31)
    )
    ou = order_days >> 32
    od = (order_days & ((1 << 32) - 1)) - (1 << 31)
    same = np.r_[False, ou[1:] == ou[:-1]]
    gaps = pd.Series(np.diff(od, prepend=od[:1]).astype(np.float64)[same]).groupby(ou[same])
    median = gaps.median()
    overall = float(np.median(median.to_numpy())) if len(median) else 7.0
    user_gap = np.full(n_users, overall if overall > 0 else 7.0)
    user_gap[median.index.to_numpy()] = median.to_numpy()
    return pairs, (last_order, user_gap)
