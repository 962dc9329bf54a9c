"""Popularity: the fallback for customers with no history, optionally per segment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.core.topn import sort_scores, topn_shared_scores
from recsys.data.ids import IdMap
from recsys.data.interactions import Interactions
from recsys.models.base import Arrays, Recommender, check_n, empty_exclusions, select_csr_rows

_SECONDS_PER_DAY = 86_400.0


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
        (needs ``time_col`` in the interactions).
    num_threads : int
        Threads for the top-n kernel (0 = all cores).

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

    def __init__(self, segment_col: str | None = None, half_life_days: float | None = None, num_threads: int = 0):
        self.segment_col = segment_col
        self.half_life_days = half_life_days
        self.num_threads = num_threads

    def _fit(self, data: Interactions, show_progress: bool) -> None:
        pair_weight = np.ones(data.nnz, dtype=np.float64)
        if self.half_life_days is not None:
            if not (np.isfinite(self.half_life_days) and self.half_life_days > 0):
                raise ValueError(f"half_life_days must be a positive number, got {self.half_life_days!r}")
            if data.times is None or data.reference_time is None:
                raise ValueError("Popularity(half_life_days=...) needs interactions built with time_col")
            age = (data.reference_time.value / 1e9 - data.times) / _SECONDS_PER_DAY
            pair_weight = np.power(0.5, np.maximum(age, 0.0) / self.half_life_days)
        binary = sp.csr_matrix((pair_weight, data.matrix.indices, data.matrix.indptr), shape=data.shape)
        self.item_scores_ = np.asarray(binary.sum(axis=0)).ravel().astype(np.float32)
        self._global_order = sort_scores(self.item_scores_)

        self.segment_ids_: IdMap | None = None
        self.segment_scores_: np.ndarray | None = None
        self.user_segments_: np.ndarray | None = None
        self._segment_orders: list[tuple[np.ndarray, np.ndarray]] = []
        if self.segment_col is not None:
            attrs = data.user_attributes
            if attrs is None or self.segment_col not in attrs.columns:
                have = [] if attrs is None else list(attrs.columns)
                raise ValueError(
                    f"segment_col={self.segment_col!r} is not a user attribute of the interactions (have {have}); "
                    f"build them with Interactions.from_pandas(..., user_attribute_cols=[{self.segment_col!r}])"
                )
            segment_values = attrs[self.segment_col]
            if segment_values.isna().any():
                raise ValueError(f"user attribute {self.segment_col!r} has missing values")
            self.segment_ids_, self.user_segments_ = IdMap.from_values(segment_values.to_numpy(), name="segment")
            membership = sp.csr_matrix(
                (np.ones(data.n_users), (self.user_segments_, np.arange(data.n_users))),
                shape=(len(self.segment_ids_), data.n_users),
            )
            self.segment_scores_ = np.asarray((membership @ binary).todense(), dtype=np.float32)
            ids = np.arange(data.n_items)
            for seg_scores in self.segment_scores_:
                order = np.lexsort((ids, -self.item_scores_, -seg_scores)).astype(np.int32)
                self._segment_orders.append((order, seg_scores[order]))

    # ----------------------------------------------------------------- hooks
    def _topn_users(self, user_rows: np.ndarray, n: int, exclude: tuple[np.ndarray, np.ndarray],
                    item_allowed: np.ndarray | None) -> Arrays:
        if self.user_segments_ is None:
            order, scores = self._global_order
            return topn_shared_scores(order, scores, user_rows.size, n, *exclude, item_allowed=item_allowed,
                                      num_threads=self.num_threads)
        ids = np.full((user_rows.size, n), -1, dtype=np.int32)
        out = np.full((user_rows.size, n), -np.inf, dtype=np.float32)
        indptr, indices = exclude
        segments = self.user_segments_[user_rows]
        for seg in np.unique(segments):
            pos = np.flatnonzero(segments == seg)
            sub_indptr, sub_indices = select_csr_rows(indptr, indices, pos)
            order, scores = self._segment_orders[seg]
            ids[pos], out[pos] = topn_shared_scores(order, scores, pos.size, n, sub_indptr, sub_indices,
                                                    item_allowed=item_allowed, num_threads=self.num_threads)
        return ids, out

    def _topn_histories(self, histories: sp.csr_matrix, n: int, exclude: tuple[np.ndarray, np.ndarray],
                        item_allowed: np.ndarray | None) -> Arrays:
        order, scores = self._global_order
        return topn_shared_scores(order, scores, histories.shape[0], n, *exclude, item_allowed=item_allowed,
                                  num_threads=self.num_threads)

    def _topn_similar(self, item_rows: np.ndarray, n: int, item_allowed: np.ndarray | None) -> Arrays:
        order, scores = self._global_order
        exclude = (np.arange(item_rows.size + 1, dtype=np.int64), item_rows.astype(np.int32))
        return topn_shared_scores(order, scores, item_rows.size, n, *exclude, item_allowed=item_allowed,
                                  num_threads=self.num_threads)

    def _score_users(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        if self.segment_scores_ is None or self.user_segments_ is None:
            return np.tile(self.item_scores_[item_rows], (user_rows.size, 1))
        return self.segment_scores_[np.ix_(self.user_segments_[user_rows], item_rows)]

    def _score_histories(self, histories: sp.csr_matrix, item_rows: np.ndarray) -> np.ndarray:
        return np.tile(self.item_scores_[item_rows], (histories.shape[0], 1))

    # ------------------------------------------------------------ segments
    def recommend_for_segment(
        self,
        segment: Any,
        n: int = 10,
        *,
        exclude_items: Iterable[Any] | None = None,
        candidates: Iterable[Any] | None = None,
    ) -> pd.DataFrame:
        """Top-``n`` items of a segment (e.g. a country), for customers with no history.

        Returns a DataFrame ``segment, item, score, rank``.  An unknown segment
        is a ``KeyError``.
        """
        self._check_fitted()
        n = check_n(n)
        if self.segment_ids_ is None:
            raise ValueError("this Popularity model has no segments: fit it with segment_col=...")
        seg = int(self.segment_ids_.to_rows([segment])[0])
        order, scores = self._segment_orders[seg]
        item_allowed = self._item_allowed(exclude_items, candidates)
        n_eff = min(n, len(self.item_ids_))
        ids, out = topn_shared_scores(order, scores, 1, n_eff, *empty_exclusions(1), item_allowed=item_allowed,
                                      num_threads=self.num_threads)
        return self._frame(np.array([segment], dtype=object), ids, out, ["segment", "item", "score", "rank"])
