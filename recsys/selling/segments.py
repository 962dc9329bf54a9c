"""Markets (segments): one model per segment, with a default for the rest.

Buying habits differ by market: a coat buyer in one country wants a scarf, in
another an umbrella.  :class:`SegmentedModel` holds one model per segment (an
ItemItem per country, all on the same items) plus a global default for small or
unknown segments.  The selling APIs (:func:`~recsys.selling.recommend_cross_sell`,
:func:`~recsys.selling.recommend_upgrade`) take it with ``segment=``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.sparse import row_positions
from recsys.data.ids import IdMap
from recsys.data.interactions import Interactions
from recsys.models.base import Recommender, check_rows


class SegmentedModel:
    """One model per segment (market, country, store), with a global default.

    All models share the default's items (same ``item_ids_``), so rules,
    catalogs and exclusions are compiled once; the owned items and history
    of a customer come from the default model.

    Parameters
    ----------
    default : Recommender
        Fitted on all data: used for segments without their own model and
        for baskets the segment model has no evidence for.
    models : mapping
        ``{segment: fitted Recommender}`` on the same items as ``default``
        (build them with :meth:`fit`).

    Examples
    --------
    >>> import recsys
    >>> from recsys.selling import recommend_cross_sell
    >>> orders = pd.DataFrame({
    ...     "order": [1, 1, 2, 2, 3, 3, 4, 4],
    ...     "customer": ["a", "a", "b", "b", "c", "c", "d", "d"],
    ...     "country": ["UK", "UK", "UK", "UK", "DE", "DE", "DE", "DE"],
    ...     "item": ["coat", "scarf", "coat", "scarf", "coat", "gloves", "coat", "gloves"],
    ... })
    >>> data = recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
    ...                                        basket_col="order", user_attribute_cols=["country"])
    >>> model = SegmentedModel.fit(lambda: recsys.ItemItem(), data, "country", min_users=1)
    >>> for country in ["UK", "DE"]:
    ...     offers = recommend_cross_sell(model, ["coat"], n=1, segment=country)
    ...     print(country, offers["item"].tolist())
    UK ['scarf']
    DE ['gloves']
    """

    def __init__(self, default: Recommender, models: Mapping[Any, Recommender]) -> None:
        if not isinstance(default, Recommender) or not hasattr(default, "item_ids_"):
            raise TypeError(f"default must be a fitted Recommender, got {type(default).__name__}")
        if not isinstance(models, Mapping):
            raise TypeError(
                f"models must be a mapping {{segment: model}}, got {type(models).__name__}"
            )
        for segment, model in models.items():
            if not isinstance(model, Recommender) or not hasattr(model, "item_ids_"):
                raise TypeError(f"model of segment {segment!r} must be a fitted Recommender")
            if model.item_ids_ != default.item_ids_:
                raise ValueError(
                    f"model of segment {segment!r} has other items than the default model; "
                    "fit the segment models on the same items (SegmentedModel.fit does)"
                )
        self.default = default
        self.models = dict(models)
        self._fill: dict[Any, np.ndarray] = {}

    @classmethod
    def fit(
        cls,
        make_model: Callable[[], Recommender],
        interactions: Interactions,
        segment_col: str,
        *,
        min_users: int = 50,
    ) -> SegmentedModel:
        """Fit a default model on everything and one model per segment with ``min_users`` users.

        Parameters
        ----------
        make_model : callable
            Returns a new unfitted model, e.g. ``lambda: ItemItem(k=50)``.
        interactions : Interactions
            With ``user_attribute_cols=[segment_col]`` (and baskets, for
            item-item on orders).
        segment_col : str
            The user attribute holding the segment.
        min_users : int
            Smaller segments use the default model.

        Returns
        -------
        SegmentedModel

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "b"],
        ...                     "country": ["UK", "DE", "DE"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        user_attribute_cols=["country"])
        >>> model = SegmentedModel.fit(lambda: recsys.Popularity(), data, "country", min_users=2)
        >>> sorted(model.models)  # the UK has one customer: it uses the model of everyone
        ['DE']
        """
        if not isinstance(interactions, Interactions):
            raise TypeError(
                f"interactions must be recsys.Interactions, got {type(interactions).__name__}"
            )
        attrs = interactions.user_attributes
        if attrs is None or segment_col not in attrs.columns:
            have = [] if attrs is None else list(attrs.columns)
            raise ValueError(
                f"segment_col={segment_col!r} is not a user attribute of the interactions "
                f"(have {have}); build them with "
                f"Interactions.from_pandas(..., user_attribute_cols=[{segment_col!r}])"
            )
        default = make_model().fit(interactions)
        segments = attrs[segment_col].to_numpy()
        models: dict[Any, Recommender] = {}
        for segment in pd.unique(segments[~pd.isna(segments)]):
            rows = np.flatnonzero(segments == segment)
            if rows.size >= min_users:
                models[segment] = make_model().fit(_user_subset(interactions, rows))
        return cls(default, models)

    def model_for(self, segment: Any) -> Recommender:
        """Return the segment's model, or the default for segments without one (and ``None``).

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 2], "item": ["a", "b"], "country": ["UK", "DE"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        user_attribute_cols=["country"])
        >>> model = SegmentedModel.fit(lambda: recsys.Popularity(), data, "country", min_users=1)
        >>> model.model_for("UK") is model.models["UK"], model.model_for("FR") is model.default
        (True, True)
        """
        if segment is None or (np.isscalar(segment) and pd.isna(segment)):
            return self.default
        try:
            return self.models.get(segment, self.default)
        except TypeError:  # unhashable
            return self.default

    def fill_order(self, segment: Any) -> np.ndarray:
        """Return the item rows by the segment's popularity, ties by overall popularity.

        Items the segment never saw come last, also by overall popularity.

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "b"],
        ...                     "country": ["UK", "DE", "UK"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        user_attribute_cols=["country"])
        >>> model = SegmentedModel.fit(lambda: recsys.Popularity(), data, "country", min_users=1)
        >>> model.item_ids_.to_external(model.fill_order("DE")).tolist()
        ['b', 'a']
        """
        key = segment if segment in self.models else None
        if key not in self._fill:
            model = self.model_for(key)
            overall = self.default.item_popularity_
            own = model.item_popularity_
            ids = np.arange(overall.size)
            self._fill[key] = np.lexsort((ids, -overall, -own)).astype(np.int32)
        return self._fill[key]

    def score_rows(self, user_rows: Any, item_rows: Any, *, segment: Any = None) -> np.ndarray:
        """Score items for users given as rows, by the segment's model.

        :meth:`Recommender.score_rows <recsys.models.base.Recommender.score_rows>`
        of :meth:`model_for` ``(segment)``, with the users given as rows of
        this model's ``user_ids_`` (the default's): a segment's model has its
        own users, and a customer it does not know gets its unknown-user
        scores (the item's share of the segment's customers).

        Parameters
        ----------
        user_rows : array-like of int, shape (n_queries,)
            Rows of ``user_ids_``; ``-1`` for an unknown user.
        item_rows : array-like of int, shape (n_wanted,)
            Rows of ``item_ids_`` (shared by every model).
        segment : optional
            The market; ``None`` or a segment without its own model: the default.

        Returns
        -------
        numpy.ndarray of float32, shape (len(user_rows), len(item_rows))

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "b"],
        ...                     "country": ["UK", "DE", "DE"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        user_attribute_cols=["country"])
        >>> model = SegmentedModel.fit(lambda: recsys.Popularity(), data, "country", min_users=1)
        >>> items = model.item_ids_.to_rows(["a", "b"])
        >>> model.score_rows([0], items).tolist()
        [[1.0, 2.0]]
        >>> model.score_rows([0], items, segment="UK").tolist()
        [[1.0, 0.0]]
        """
        scorer = self.model_for(segment)
        if scorer is self.default:
            return scorer.score_rows(user_rows, item_rows)
        users = check_rows(user_rows, len(self.user_ids_), "user_rows", unknown="unknown user")
        own = np.full(users.size, -1, dtype=np.int64)
        known = users >= 0
        if known.any():
            external = self.user_ids_.to_external(users[known])
            own[known] = scorer.user_ids_.to_rows(external, missing="ignore")
        return scorer.score_rows(own, item_rows)

    def score_history_rows(
        self, histories: sp.spmatrix, item_rows: Any, *, segment: Any = None
    ) -> np.ndarray:
        """Score items for ad-hoc histories (carts, new customers), by the segment's model.

        :meth:`Recommender.score_history_rows
        <recsys.models.base.Recommender.score_history_rows>` of
        :meth:`model_for` ``(segment)`` (every model has the same items, so
        ``histories`` has one column per item of ``item_ids_``).

        Examples
        --------
        >>> import recsys
        >>> log = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "b"],
        ...                     "country": ["UK", "DE", "DE"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        user_attribute_cols=["country"])
        >>> model = SegmentedModel.fit(lambda: recsys.Popularity(), data, "country", min_users=1)
        >>> cart = sp.csr_matrix(([1.0], [0], [0, 1]), shape=(1, 2))
        >>> model.score_history_rows(cart, [0, 1], segment="DE").tolist()
        [[0.0, 2.0]]
        """
        return self.model_for(segment).score_history_rows(histories, item_rows)

    @property
    def item_ids_(self) -> IdMap:
        """The items of every model (the default's)."""
        return self.default.item_ids_

    @property
    def user_ids_(self) -> IdMap:
        """The default model's users."""
        return self.default.user_ids_

    @property
    def user_items_(self) -> sp.csr_matrix:
        """The default model's users × items."""
        return self.default.user_items_

    def __repr__(self) -> str:
        return f"SegmentedModel(default={self.default!r}, segments={list(self.models)})"


def _user_subset(data: Interactions, rows: np.ndarray) -> Interactions:
    """Return the interactions of some users, on all items (same item IdMap)."""
    rows = np.asarray(rows, dtype=np.int64)
    matrix = data.matrix[rows]
    times = None
    if data.times is not None:
        _, take = row_positions(data.matrix.indptr, rows)
        times = data.times[take]
    basket_matrix = basket_ids = basket_users = basket_times = None
    if (
        data.basket_matrix is not None
        and data.basket_users is not None
        and data.basket_ids is not None
    ):
        new_row = np.full(data.n_users, -1, dtype=np.int32)
        new_row[rows] = np.arange(rows.size, dtype=np.int32)
        keep = np.flatnonzero(new_row[data.basket_users] >= 0)
        basket_matrix = data.basket_matrix[keep]
        basket_ids = IdMap(data.basket_ids.external_ids[keep], name="basket")
        basket_users = new_row[data.basket_users[keep]]
        basket_times = None if data.basket_times is None else data.basket_times[keep]
    attrs = data.user_attributes.iloc[rows] if data.user_attributes is not None else None
    return Interactions(
        matrix=matrix,
        user_ids=IdMap(data.user_ids.external_ids[rows], name="user"),
        item_ids=data.item_ids,
        times=times,
        basket_matrix=basket_matrix,
        basket_ids=basket_ids,
        basket_users=basket_users,
        basket_times=basket_times,
        user_attributes=attrs,
        reference_time=data.reference_time,
    )
