"""Popularity: the fallback for customers with no history, optionally per segment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.threads import resolve_num_threads
from recsys.core.topn_shared import sort_scores, topn_shared_scores
from recsys.data.ids import IdMap, as_id_array
from recsys.data.interactions import Interactions, as_interactions
from recsys.data.time_decay import check_half_life_days, decay_weights
from recsys.io import codec
from recsys.models.base import (
    RECOMMEND_COLUMNS,
    Arrays,
    Recommender,
    check_n,
    empty_exclusions,
    select_csr_rows,
    union_pairs,
)
from recsys.types import ExternalIds

#: The seasons ``Popularity(season=...)`` knows, and how many of each a year has.
SEASONS = {"month": 12, "week": 53}


@codec.saveable
class Popularity(Recommender):
    """Most popular items, overall or within the customer's segment.

    An item's popularity is the number of distinct customers who interacted
    with it, each customer-item pair optionally decayed by the age of its
    latest event.  With a segment column (country, region, customer type)
    every customer is ranked by their own segment's popularity; items no one in
    the segment took follow in overall order, so results stay exactly ``n``.

    Parameters
    ----------
    segment_col : str, optional
        A per-user attribute kept by
        ``Interactions.from_pandas(..., user_attribute_cols=[segment_col])``.
    half_life_days : float, optional
        Decay each customer-item pair by ``0.5 ** (age / half_life_days)``,
        age measured from the data's reference time to the pair's latest event
        (needs ``time_col`` in the interactions; the decay function is
        :func:`recsys.data.time_decay.decay_weights`, shared with ``ALS`` and
        ``ItemItem``).
    num_threads : int
        Threads for the top-n kernel (0 = all cores).
    season : {"month", "week"} or None
        Seasonal popularity: with it, a query that gives ``at`` (e.g.
        ``recommend(users, at="2011-12-01")``) ranks by the item's popularity
        times its *seasonal lift* in ``at``'s calendar month (or ISO week),
        learned over all years of the data.  A purchase is a distinct
        (customer, item, month-of-a-year) triple (or week-of-a-year).  The lift
        of item ``i`` in season ``s`` is ``f_is / b_is``: ``b_is`` is the share
        of the shop's purchases *during the item's life* (from its first to
        its last sale, so that a product launched or dropped mid-year is not
        mistaken for a seasonal one) that fall in season ``s``, and ``f_is``
        the share of item ``i``'s own purchases that do, shrunk with a Beta
        prior of strength ``m`` (``season_prior``) towards ``b_is``:
        ``f_is = (c_is + m b_is) / (c_i + m)``.  An item bought by few
        customers keeps a lift near 1 (it does not swing on a handful of
        sales), and so does an item sold in one season only; a well-sold item
        that sells three times the shop's share in December gets a lift near 3
        there.  Seasons outside an item's life have lift 1.  Needs
        ``time_col``; purchases are dated by their basket when the
        interactions have baskets, else by the pair's latest event.
    season_prior : float
        ``m`` above, in purchases (``>= 0``).

    Attributes
    ----------
    item_scores_ : numpy.ndarray
        Overall popularity of every item (float32).
    segment_ids_ : IdMap or None
        The segments, when ``segment_col`` is given.
    segment_scores_ : numpy.ndarray or None
        segments × items popularity.
    user_segments_ : numpy.ndarray or None
        The segment row of every training user.
    season_counts_ : numpy.ndarray or None
        seasons × items: the item's purchases in each month (or week) of the
        year, all years together (``season`` only).
    season_exposure_ : numpy.ndarray or None
        seasons × items: the shop's purchases in each season during the
        item's life (``season`` only).
    season_lift_ : numpy.ndarray or None
        seasons × items: the shrunk seasonal lifts (``season`` only).

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> log = pd.DataFrame({
    ...     "user": [1, 2, 3, 4, 5],
    ...     "item": ["scarf", "scarf", "sunglasses", "sunglasses", "sunglasses"],
    ...     "country": ["DE", "DE", "SG", "SG", "SG"],
    ... })
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
    ...                                        user_attribute_cols=["country"])
    >>> model = recsys.Popularity(segment_col="country").fit(data)
    >>> model.recommend_for_segment("DE", n=1)["item"].tolist()
    ['scarf']
    >>> model.recommend([1], n=1, exclude_seen=False)["item"].tolist()
    ['scarf']
    """

    _state_params = ("segment_col", "half_life_days", "season", "season_prior")

    def __init__(
        self,
        segment_col: str | None = None,
        half_life_days: float | None = None,
        num_threads: int = 0,
        season: str | None = None,
        season_prior: float = 30.0,
    ):
        self.segment_col = segment_col
        self.half_life_days = half_life_days
        self.num_threads = num_threads
        self.season = season
        self.season_prior = season_prior

    def _fit(self, data: Interactions, show_progress: bool) -> None:
        self._check_half_life(data.times, data.reference_time)
        self._check_season()
        segments = self._segment_values(data) if self.segment_col is not None else None
        seasons = self._season_counts(data) if self.season is not None else (None, None)
        self._learn(data.matrix, data.times, data.reference_time, segments)
        self.season_counts_: np.ndarray | None = seasons[0]
        self.season_exposure_: np.ndarray | None = seasons[1]
        self._build_seasons()

    def _check_season(self) -> None:
        if self.season is not None and self.season not in SEASONS:
            raise ValueError(f"season must be None, 'month' or 'week', got {self.season!r}")
        m = self.season_prior
        if (
            isinstance(m, bool)
            or not isinstance(m, (int, float, np.integer, np.floating))
            or not (np.isfinite(m) and m >= 0)
        ):
            raise ValueError(f"season_prior must be a finite number >= 0, got {m!r}")

    def season_of(self, at: Any) -> int:
        """Return the season row of time ``at``: its month - 1, or ISO week - 1.

        Examples
        --------
        >>> Popularity(season="month").season_of("2011-12-24")
        11
        >>> Popularity(season="week").season_of("2011-01-03")
        0
        """
        self._check_season()
        if self.season is None:
            raise ValueError("this Popularity has no season: set season='month' or 'week'")
        try:
            stamp = pd.Timestamp(at)
        except (ValueError, TypeError) as err:
            raise ValueError(f"at must be a datetime, got {at!r}: {err}") from err
        if stamp is pd.NaT:
            raise ValueError("at must be a datetime, got NaT")
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return int(_season_rows(np.array([stamp.value / 1e9]), self.season)[0])

    def _season_counts(self, data: Interactions) -> tuple[np.ndarray, np.ndarray]:
        """Purchases per (season, item), and the shop's purchases per season in each item's span.

        A purchase is a distinct (customer, item, period) — a period being a
        calendar month (or ISO week) of a given year — so a customer who buys
        an item in December of two years counts in both.
        """
        if data.times is None:
            raise ValueError(
                f"Popularity(season={self.season!r}) needs interactions built with time_col"
            )
        assert self.season is not None
        if data.basket_matrix is not None and data.basket_times is not None:
            assert data.basket_users is not None
            baskets = data.basket_matrix
            rows = np.repeat(np.arange(baskets.shape[0]), np.diff(baskets.indptr))
            users = data.basket_users[rows].astype(np.int64)
            items = baskets.indices.astype(np.int64)
            periods = _periods(data.basket_times[rows], self.season)
        else:
            coo = data.matrix.tocoo()  # in CSR order: aligned with data.times
            users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
            periods = _periods(data.times, self.season)
        n_seasons, n_items, n_users = SEASONS[self.season], data.n_items, data.n_users
        first_period = int(periods.min())
        t = periods - first_period  # 0 .. n_periods - 1
        n_periods = int(t.max()) + 1
        key = np.unique((t * n_items + items) * n_users + users) // n_users  # (period, item)
        t_of, item_of = key // n_items, key % n_items
        period_season = _period_seasons(np.arange(n_periods) + first_period, self.season)
        counts = np.zeros((n_seasons, n_items))
        np.add.at(counts, (period_season[t_of], item_of), 1.0)
        # the shop's purchases per period, by season, cumulated over the periods
        per_period = np.bincount(t_of, minlength=n_periods).astype(np.float64)
        by_season = np.zeros((n_periods + 1, n_seasons))
        by_season[np.arange(n_periods) + 1, period_season] = per_period
        cumulative = np.cumsum(by_season, axis=0)
        first = np.full(n_items, n_periods, dtype=np.int64)
        last = np.full(n_items, -1, dtype=np.int64)
        np.minimum.at(first, item_of, t_of)
        np.maximum.at(last, item_of, t_of)
        sold = last >= 0
        exposure = np.zeros((n_seasons, n_items))
        exposure[:, sold] = (cumulative[last[sold] + 1] - cumulative[first[sold]]).T
        return counts.astype(np.float32), exposure.astype(np.float32)

    def _build_seasons(self) -> None:
        """Derive the seasonal lifts from ``season_counts_`` and ``season_exposure_``."""
        self._season_cache: dict[int, tuple[Any, ...]] = {}
        self.season_lift_: np.ndarray | None = None
        if self.season_counts_ is None or self.season_exposure_ is None:
            return
        counts = self.season_counts_.astype(np.float64)
        exposure = self.season_exposure_.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            base = exposure / exposure.sum(axis=0, keepdims=True)  # b_is
            share = (counts + self.season_prior * base) / (
                counts.sum(axis=0, keepdims=True) + self.season_prior
            )
            lift = share / base
        self.season_lift_ = np.where(np.isfinite(lift) & (base > 0), lift, 1.0)

    def seasonal_lift(self, at: Any) -> np.ndarray:
        """Return every item's seasonal lift at time ``at`` (all 1 without ``season``).

        The hook for seasonal boosts elsewhere (cross-sell, offers): multiply
        an item's popularity prior by its lift.

        Returns
        -------
        numpy.ndarray of float64, shape (n_items,)

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({
        ...     "user": [1, 2, 3, 4, 5, 6],
        ...     "item": ["lights", "lights", "lights", "tea", "tea", "tea"],
        ...     "time": pd.to_datetime(["2010-12-01", "2011-12-02", "2011-12-05",
        ...                             "2011-06-01", "2011-07-01", "2011-12-09"]),
        ... })
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        time_col="time")
        >>> model = Popularity(season="month", season_prior=1.0).fit(data)
        >>> model.seasonal_lift("2011-12-15").round(2).tolist()  # lights, tea
        [1.38, 0.67]
        >>> model.recommend(["new"], n=2, at="2011-12-15")["item"].tolist()
        ['lights', 'tea']
        """
        self._check_fitted()
        if self.season_lift_ is None:
            return np.ones(len(self.item_ids_))
        return self.season_lift_[self.season_of(at)]

    def _seasonal(self, at: Any) -> tuple[Any, ...]:
        """(global order, segment orders, item scores) of the season of ``at``, cached."""
        season = self.season_of(at)
        cached = self._season_cache.get(season)
        if cached is None:
            assert self.season_lift_ is not None
            lift = self.season_lift_[season]
            scores = (self.item_scores_ * lift).astype(np.float32)
            ids = np.arange(scores.shape[0])
            global_order = sort_scores(scores)
            segment_orders = []
            if self.segment_scores_ is not None:
                for seg_scores in self.segment_scores_:
                    seasonal = (seg_scores * lift).astype(np.float32)
                    order = np.lexsort((ids, -scores, -seasonal)).astype(np.int32)
                    segment_orders.append((order, seasonal[order]))
            cached = (global_order, segment_orders, scores)
            self._season_cache[season] = cached
        return cached

    def _check_half_life(
        self, times: np.ndarray | None, reference_time: pd.Timestamp | None
    ) -> None:
        if check_half_life_days(self.half_life_days) is not None:
            if times is None or reference_time is None:
                raise ValueError(
                    "Popularity(half_life_days=...) needs interactions built with time_col"
                )

    def _segment_values(self, data: Interactions) -> np.ndarray:
        """Return the segment (external value) of every user of ``data``."""
        attrs = data.user_attributes
        if attrs is None or self.segment_col not in attrs.columns:
            have = [] if attrs is None else list(attrs.columns)
            raise ValueError(
                f"segment_col={self.segment_col!r} is not a user attribute of the interactions "
                f"(have {have}); build them with "
                f"Interactions.from_pandas(..., user_attribute_cols=[{self.segment_col!r}])"
            )
        segment_values = attrs[self.segment_col]
        if segment_values.isna().any():
            raise ValueError(f"user attribute {self.segment_col!r} has missing values")
        return segment_values.to_numpy()

    def _learn(
        self,
        matrix: sp.csr_matrix,
        times: np.ndarray | None,
        reference_time: pd.Timestamp | None,
        segments: np.ndarray | None,
    ) -> None:
        """Learn the popularity of every item (and segment) from the users x items pairs.

        With ``half_life_days`` each pair is decayed by the age of its latest
        time.  Everything is computed before anything is assigned, so a
        failure leaves the model as it was.
        """
        n_users, n_items = matrix.shape
        pair_weight = np.ones(matrix.nnz, dtype=np.float64)
        if self.half_life_days is not None:
            assert times is not None and reference_time is not None
            pair_weight = decay_weights(times, reference_time, self.half_life_days)
        binary = sp.csr_matrix((pair_weight, matrix.indices, matrix.indptr), shape=matrix.shape)
        item_scores = np.asarray(binary.sum(axis=0)).ravel().astype(np.float32)
        segment_ids = user_segments = segment_scores = None
        if segments is not None:
            segment_ids, user_segments = IdMap.from_values(segments, name="segment")
            membership = sp.csr_matrix(
                (np.ones(n_users), (user_segments, np.arange(n_users))),
                shape=(len(segment_ids), n_users),
            )
            segment_scores = np.asarray((membership @ binary).todense(), dtype=np.float32)
        self.item_scores_ = item_scores
        self.segment_ids_: IdMap | None = segment_ids
        self.segment_scores_: np.ndarray | None = segment_scores
        self.user_segments_: np.ndarray | None = user_segments
        # kept for partial_fit (a decayed popularity is recomputed from the pairs' latest times)
        self._pair_times = times if self.half_life_days is not None else None
        self._reference_time = reference_time if self.half_life_days is not None else None
        self._build_orders()

    def _build_orders(self) -> None:
        """Rebuild the rankings derived from the scores (after fit, partial_fit and load)."""
        self._global_order = sort_scores(self.item_scores_)
        self._segment_orders: list[tuple[np.ndarray, np.ndarray]] = []
        if self.segment_scores_ is not None:
            ids = np.arange(self.item_scores_.shape[0])
            for seg_scores in self.segment_scores_:
                order = np.lexsort((ids, -self.item_scores_, -seg_scores)).astype(np.int32)
                self._segment_orders.append((order, seg_scores[order]))

    # -------------------------------------------------------- incremental
    def partial_fit(
        self, interactions: Interactions | sp.spmatrix, *, show_progress: bool = False
    ) -> Popularity:
        """Add new interactions: the result is the same as a :meth:`fit` on the union of the logs.

        New pairs count their user once per item, as in ``fit``; users and
        items may be new.  With ``segment_col`` a user's segment becomes their
        value in the new data (the newest).  With ``half_life_days`` the new
        interactions need times; each pair keeps its latest time and the
        decay is relative to the later of the two reference times.  The
        scores are recomputed from the kept pairs (``user_items_``, plus their
        latest times with ``half_life_days``: 8 bytes per pair), which costs
        about as much as ``fit`` on the union — popularity is cheap.
        Changing ``segment_col`` or ``half_life_days`` since ``fit`` is a
        ``ValueError``; a failed call leaves the model unchanged.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> def data(df):
        ...     return recsys.Interactions.from_pandas(df, user_col="user", item_col="item")
        >>> old = pd.DataFrame({"user": [1, 2], "item": ["a", "a"]})
        >>> new = pd.DataFrame({"user": [3, 4, 5], "item": ["b", "b", "b"]})
        >>> model = recsys.Popularity().fit(data(old)).partial_fit(data(new))
        >>> model.recommend(["someone"], n=2)["item"].tolist()
        ['b', 'a']
        """
        self._check_fitted()
        self._check_state_params()
        if self.season is not None:
            raise ValueError(
                f"Popularity(season={self.season!r}) cannot partial_fit: a customer's purchases "
                "in a season would be counted twice across the logs; call fit on the union"
            )
        data = as_interactions(interactions)
        self._check_half_life(data.times, data.reference_time)
        segments = None
        if self.segment_col is not None:
            new_segments = self._segment_values(data)
        merged = self._merge_training_data(data)
        times = reference = None
        if self.half_life_days is not None:
            assert self._pair_times is not None and self._reference_time is not None
            _, times = union_pairs(
                self.user_items_,
                data.matrix,
                merged.user_rows,
                merged.item_rows,
                merged.matrix.shape,
                self._pair_times,
                data.times,
            )
            reference = max(self._reference_time, data.reference_time)
        if self.segment_col is not None:
            assert self.segment_ids_ is not None and self.user_segments_ is not None
            segments = np.empty(len(merged.user_ids), dtype=object)
            segments[: self.user_segments_.size] = self.segment_ids_.to_external(
                self.user_segments_
            )
            segments[merged.user_rows] = new_segments
            segments = pd.Series(
                segments.tolist()
            ).to_numpy()  # the dtype a user-attribute column would have
        self._learn(merged.matrix, times, reference, segments)
        self._set_training_data(merged.user_ids, merged.item_ids, merged.matrix)
        self._build_seasons()
        return self

    # -------------------------------------------------------- persistence
    def _model_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        arrays["item_scores"] = self.item_scores_.astype(np.float32)
        meta["segments"] = self.segment_ids_ is not None
        if self.segment_ids_ is not None:
            assert self.user_segments_ is not None and self.segment_scores_ is not None
            codec.put_idmap(meta, arrays, "segment_ids", self.segment_ids_)
            arrays["user_segments"] = self.user_segments_.astype(np.int32)
            arrays["segment_scores"] = self.segment_scores_.astype(np.float32)
        meta["reference_time"] = codec.timestamp_to_ns(self._reference_time)
        if self._pair_times is not None:
            arrays["pair_times"] = np.asarray(self._pair_times, dtype=np.float64)
        if self.season_counts_ is not None and self.season_exposure_ is not None:
            arrays["season_counts"] = self.season_counts_.astype(np.float32)
            arrays["season_exposure"] = self.season_exposure_.astype(np.float32)

    def _check_params(self) -> None:
        """Check the hyper-parameters as ``fit`` does (used by ``load``)."""
        if self.segment_col is not None and not isinstance(self.segment_col, str):
            raise ValueError(f"segment_col must be None or a str, got {self.segment_col!r}")
        check_half_life_days(self.half_life_days)
        self._check_season()
        resolve_num_threads(self.num_threads)

    def _restore_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._check_params()
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        # a popularity counts each user at most once (decay weights are <= 1)
        bound = n_users * (1 + 1e-6) + 1
        item_scores = codec.check_array(arrays, "item_scores", (n_items,), "f")
        self.item_scores_ = codec.check_floats(
            item_scores, "item_scores", bound=bound, nonnegative=True
        )
        self.segment_ids_ = self.user_segments_ = self.segment_scores_ = None
        if meta["segments"] is not (self.segment_col is not None):
            raise ValueError(f"segments={meta['segments']!r} but segment_col={self.segment_col!r}")
        if meta["segments"]:
            self.segment_ids_ = codec.get_idmap(meta, arrays, "segment_ids", name="segment")
            user_segments = codec.check_array(arrays, "user_segments", (n_users,), "iu")
            if user_segments.size and (
                user_segments.min() < 0 or user_segments.max() >= len(self.segment_ids_)
            ):
                raise ValueError("user_segments out of range")
            self.user_segments_ = user_segments.astype(np.int32)
            segment_scores = codec.check_array(
                arrays, "segment_scores", (len(self.segment_ids_), n_items), "f"
            )
            self.segment_scores_ = codec.check_floats(
                segment_scores, "segment_scores", bound=bound, nonnegative=True
            )
        self._reference_time = codec.timestamp_from_ns(meta["reference_time"])
        self._pair_times = None
        if "pair_times" in arrays:
            pair_times = codec.check_array(arrays, "pair_times", (self.user_items_.nnz,), "f")
            self._pair_times = pair_times.astype(np.float64)
        decayed = (self._pair_times is not None, self._reference_time is not None)
        if decayed != (self.half_life_days is not None,) * 2:
            raise ValueError(
                "pair_times and reference_time are saved with half_life_days, and only then"
            )
        self.season_counts_ = self.season_exposure_ = None
        for key in ("season_counts", "season_exposure"):
            if (key in arrays) != (self.season is not None):
                raise ValueError(f"{key} are saved with season, and only then")
        if self.season is not None:
            shape = (SEASONS[self.season], n_items)
            counts = codec.check_array(arrays, "season_counts", shape, "f")
            exposure = codec.check_array(arrays, "season_exposure", shape, "f")
            self.season_counts_ = codec.check_floats(counts, "season_counts", nonnegative=True)
            self.season_exposure_ = codec.check_floats(
                exposure, "season_exposure", nonnegative=True
            )
        self._build_orders()
        self._build_seasons()

    # ----------------------------------------------------------------- hooks
    def _topn_users(
        self,
        user_rows: np.ndarray,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        if self.user_segments_ is None:
            order, scores = self._global_order
            return topn_shared_scores(
                order,
                scores,
                user_rows.size,
                n,
                *exclude,
                item_allowed=item_allowed,
                num_threads=self.num_threads,
            )
        ids = np.full((user_rows.size, n), -1, dtype=np.int32)
        out = np.full((user_rows.size, n), -np.inf, dtype=np.float32)
        indptr, indices = exclude
        segments = self.user_segments_[user_rows]
        for seg in np.unique(segments):
            pos = np.flatnonzero(segments == seg)
            sub_indptr, sub_indices = select_csr_rows(indptr, indices, pos)
            order, scores = self._segment_orders[seg]
            ids[pos], out[pos] = topn_shared_scores(
                order,
                scores,
                pos.size,
                n,
                sub_indptr,
                sub_indices,
                item_allowed=item_allowed,
                num_threads=self.num_threads,
            )
        return ids, out

    def _topn_histories(
        self,
        histories: sp.csr_matrix,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        order, scores = self._global_order
        return topn_shared_scores(
            order,
            scores,
            histories.shape[0],
            n,
            *exclude,
            item_allowed=item_allowed,
            num_threads=self.num_threads,
        )

    def _topn_similar(
        self, item_rows: np.ndarray, n: int, item_allowed: np.ndarray | None
    ) -> Arrays:
        order, scores = self._global_order
        exclude = (np.arange(item_rows.size + 1, dtype=np.int64), item_rows.astype(np.int32))
        return topn_shared_scores(
            order,
            scores,
            item_rows.size,
            n,
            *exclude,
            item_allowed=item_allowed,
            num_threads=self.num_threads,
        )

    def _score_users(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        if self.segment_scores_ is None or self.user_segments_ is None:
            return np.tile(self.item_scores_[item_rows], (user_rows.size, 1))
        return self.segment_scores_[np.ix_(self.user_segments_[user_rows], item_rows)]

    def _score_histories(self, histories: sp.csr_matrix, item_rows: np.ndarray) -> np.ndarray:
        return np.tile(self.item_scores_[item_rows], (histories.shape[0], 1))

    # ------------------------------------------------------------ segments
    def ranked_item_rows(
        self, segment_row: int = -1, *, at: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return every item row by popularity, best first, and its score: the whole ranking.

        Parameters
        ----------
        segment_row : int
            A row of ``segment_ids_``: that segment's ranking (ties by overall
            popularity, then row); ``-1``: the overall ranking (ties by row).
        at : datetime-like, optional
            With ``season``: the ranking of ``at``'s season (popularity times
            the seasonal lift).  Ignored without ``season``.

        Returns
        -------
        item_rows : numpy.ndarray of int32, shape (n_items,)
        scores : numpy.ndarray of float32, shape (n_items,)
            ``item_scores_`` (or the segment's scores) in that order.  Both
            arrays are shared: do not modify them.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "b"],
        ...                     "country": ["UK", "DE", "DE"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        user_attribute_cols=["country"])
        >>> model = recsys.Popularity(segment_col="country").fit(data)
        >>> uk = int(model.segment_ids_.to_rows(["UK"])[0])
        >>> model.item_ids_.to_external(model.ranked_item_rows(uk)[0]).tolist()
        ['a', 'b']
        """
        self._check_fitted()
        if isinstance(segment_row, bool) or not isinstance(segment_row, (int, np.integer)):
            raise TypeError(f"segment_row must be an int, got {type(segment_row).__name__}")
        n_segments = 0 if self.segment_ids_ is None else len(self.segment_ids_)
        if not -1 <= segment_row < n_segments:
            raise IndexError(f"segment_row must be in [-1, {n_segments}), got {segment_row}")
        global_order, segment_orders = self._global_order, self._segment_orders
        if at is not None and self.season_lift_ is not None:
            global_order, segment_orders, _ = self._seasonal(at)
        return global_order if segment_row == -1 else segment_orders[int(segment_row)]

    def recommend(
        self,
        users: ExternalIds,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        exclude_items: ExternalIds | None = None,
        candidates: ExternalIds | None = None,
        at: Any = None,
    ) -> pd.DataFrame:
        """Top-``n`` items for each user; with ``season`` and ``at``, what sells in that season.

        As :meth:`Recommender.recommend <recsys.models.base.Recommender.recommend>`,
        plus ``at``: with ``season`` set, the ranking (and ``score``) is each
        item's popularity (in the user's segment) times its seasonal lift in
        ``at``'s month or week (see the class docstring); unknown users get
        the overall seasonal ranking.  Without ``season``, ``at`` changes
        nothing.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({
        ...     "user": [1, 2, 3, 4, 5, 6, 7],
        ...     "item": ["lights", "lights", "lights", "tea", "tea", "tea", "tea"],
        ...     "time": pd.to_datetime(["2010-12-01", "2010-12-03", "2011-06-01", "2010-12-02",
        ...                             "2011-05-01", "2011-06-01", "2011-07-01"]),
        ... })
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        time_col="time")
        >>> model = recsys.Popularity(season="month", season_prior=1.0).fit(data)
        >>> model.recommend(["new"], n=1)["item"].tolist()  # all year
        ['tea']
        >>> model.recommend(["new"], n=1, at="2011-12-01")["item"].tolist()  # in December
        ['lights']
        """
        if at is None or self.season is None:
            return super().recommend(
                users,
                n,
                exclude_seen=exclude_seen,
                exclude_items=exclude_items,
                candidates=candidates,
            )
        self._check_fitted()
        n = check_n(n)
        user_values = as_id_array(users, "users")
        rows = self.user_ids_.to_rows(user_values, missing="ignore").astype(np.int32)
        item_allowed = self._item_allowed(exclude_items, candidates)
        global_order, segment_orders, _ = self._seasonal(at)
        n_eff = min(n, len(self.item_ids_))
        ids = np.full((rows.size, n_eff), -1, dtype=np.int32)
        out = np.full((rows.size, n_eff), -np.inf, dtype=np.float32)
        known = rows >= 0
        if exclude_seen:
            indptr, indices = select_csr_rows(
                self.user_items_.indptr, self.user_items_.indices, np.where(known, rows, -1)
            )
        else:
            indptr, indices = empty_exclusions(rows.size)
        group = np.full(rows.size, -1, dtype=np.int64)  # -1: the overall seasonal ranking
        if self.user_segments_ is not None:
            group[known] = self.user_segments_[rows[known]]
        for g in np.unique(group):
            pos = np.flatnonzero(group == g)
            sub_indptr, sub_indices = select_csr_rows(indptr, indices, pos)
            order, scores = global_order if g < 0 else segment_orders[int(g)]
            ids[pos], out[pos] = topn_shared_scores(
                order,
                scores,
                pos.size,
                n_eff,
                sub_indptr,
                sub_indices,
                item_allowed=item_allowed,
                num_threads=self.num_threads,
            )
        return self._frame(user_values, ids, out, RECOMMEND_COLUMNS)

    def recommend_for_segment(
        self,
        segment: Any,
        n: int = 10,
        *,
        exclude_items: ExternalIds | None = None,
        candidates: ExternalIds | None = None,
    ) -> pd.DataFrame:
        """Return the top-``n`` items of a segment (e.g. a country), for customers with no history.

        Parameters
        ----------
        segment : hashable
            A value of ``segment_col`` seen in training; an unknown segment is
            a ``KeyError``.
        n : int
        exclude_items, candidates : list-like, optional
            As in :meth:`recommend`.

        Returns
        -------
        pandas.DataFrame
            Columns ``segment, item, score, rank``.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "b"],
        ...                     "country": ["UK", "DE", "DE"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        user_attribute_cols=["country"])
        >>> model = recsys.Popularity(segment_col="country").fit(data)
        >>> model.recommend_for_segment("UK", n=2)["item"].tolist()
        ['a', 'b']
        """
        self._check_fitted()
        n = check_n(n)
        if self.segment_ids_ is None:
            raise ValueError("this Popularity model has no segments: fit it with segment_col=...")
        seg = int(self.segment_ids_.to_rows([segment])[0])
        order, scores = self._segment_orders[seg]
        item_allowed = self._item_allowed(exclude_items, candidates)
        n_eff = min(n, len(self.item_ids_))
        ids, out = topn_shared_scores(
            order,
            scores,
            1,
            n_eff,
            *empty_exclusions(1),
            item_allowed=item_allowed,
            num_threads=self.num_threads,
        )
        return self._frame(
            np.array([segment], dtype=object), ids, out, ["segment", "item", "score", "rank"]
        )


def _periods(seconds: np.ndarray, season: str) -> np.ndarray:
    """Return the absolute period of times in seconds: months since year 0, or weeks."""
    stamps = pd.DatetimeIndex(
        pd.to_datetime(np.round(np.asarray(seconds, dtype=np.float64) * 1e9), unit="ns")
    )
    if season == "month":
        return (stamps.year.to_numpy() * 12 + stamps.month.to_numpy() - 1).astype(np.int64)
    monday = stamps.normalize() - pd.to_timedelta(stamps.day_of_week, unit="D")
    return (monday.as_unit("ns").asi8 // (7 * 86_400 * 10**9)).astype(np.int64)


def _period_seasons(periods: np.ndarray, season: str) -> np.ndarray:
    """Return the season row (month - 1, or ISO week - 1) of periods from :func:`_periods`."""
    if season == "month":
        return (periods % 12).astype(np.int64)
    # a week's ISO week number is the one of its Thursday
    thursdays = pd.to_datetime((periods * 7 + 7) * 86_400, unit="s")  # epoch + 4 days: Monday
    return (pd.DatetimeIndex(thursdays).isocalendar()["week"].to_numpy() - 1).astype(np.int64)


def _season_rows(seconds: np.ndarray, season: str) -> np.ndarray:
    """Return the season row (month - 1, or ISO week - 1) of times in seconds since the epoch."""
    stamps = pd.to_datetime(np.round(np.asarray(seconds, dtype=np.float64) * 1e9), unit="ns")
    index = pd.DatetimeIndex(stamps)
    if season == "month":
        return (index.month.to_numpy() - 1).astype(np.int64)
    return (index.isocalendar()["week"].to_numpy() - 1).astype(np.int64)
