"""Popularity: the fallback for customers with no history, optionally per segment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.threads import resolve_num_threads
from recsys.core.topn_shared import sort_scores, topn_shared_scores
from recsys.data.ids import IdMap
from recsys.data.interactions import Interactions, as_interactions
from recsys.io import codec
from recsys.models.base import (
    Arrays,
    Recommender,
    check_n,
    empty_exclusions,
    select_csr_rows,
    union_pairs,
)
from recsys.types import ExternalIds

_SECONDS_PER_DAY = 86_400.0


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

    _state_params = ("segment_col", "half_life_days")

    def __init__(
        self,
        segment_col: str | None = None,
        half_life_days: float | None = None,
        num_threads: int = 0,
    ):
        self.segment_col = segment_col
        self.half_life_days = half_life_days
        self.num_threads = num_threads

    def _fit(self, data: Interactions, show_progress: bool) -> None:
        self._check_half_life(data.times, data.reference_time)
        segments = self._segment_values(data) if self.segment_col is not None else None
        self._learn(data.matrix, data.times, data.reference_time, segments)

    def _check_half_life(
        self, times: np.ndarray | None, reference_time: pd.Timestamp | None
    ) -> None:
        if self.half_life_days is not None:
            if not (np.isfinite(self.half_life_days) and self.half_life_days > 0):
                raise ValueError(
                    f"half_life_days must be a positive number, got {self.half_life_days!r}"
                )
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
            age = (reference_time.value / 1e9 - times) / _SECONDS_PER_DAY
            pair_weight = np.power(0.5, np.maximum(age, 0.0) / self.half_life_days)
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

    def _check_params(self) -> None:
        """Check the hyper-parameters as ``fit`` does (used by ``load``)."""
        if self.segment_col is not None and not isinstance(self.segment_col, str):
            raise ValueError(f"segment_col must be None or a str, got {self.segment_col!r}")
        half_life = self.half_life_days
        if half_life is not None and (
            isinstance(half_life, bool)
            or not isinstance(half_life, (int, float, np.integer, np.floating))
            or not (np.isfinite(half_life) and half_life > 0)
        ):
            raise ValueError(f"half_life_days must be a positive number, got {half_life!r}")
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
        self._build_orders()

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
    def ranked_item_rows(self, segment_row: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """Return every item row by popularity, best first, and its score: the whole ranking.

        Parameters
        ----------
        segment_row : int
            A row of ``segment_ids_``: that segment's ranking (ties by overall
            popularity, then row); ``-1``: the overall ranking (ties by row).

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
        if segment_row == -1:
            return self._global_order
        n_segments = 0 if self.segment_ids_ is None else len(self.segment_ids_)
        if not 0 <= segment_row < n_segments:
            raise IndexError(f"segment_row must be in [-1, {n_segments}), got {segment_row}")
        return self._segment_orders[int(segment_row)]

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
