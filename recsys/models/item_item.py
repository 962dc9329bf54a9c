"""ItemItem: neighbourhood model built from item co-occurrence in baskets or user histories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.sparse import row_positions
from recsys._utils.threads import resolve_num_threads
from recsys.core.constraints import Constraints
from recsys.core.cooccurrence import (
    SIMILARITIES,
    NeighbourTable,
    item_neighbours,
    join_row_parts,
    rp3beta_rows,
    top_k_per_row,
)
from recsys.core.neighbour_scores import history_item_probabilities, neighbour_item_scores
from recsys.core.topn_neighbours import constrained_topn_neighbours
from recsys.data.ids import IdMap
from recsys.data.interactions import Interactions, as_interactions
from recsys.data.time_decay import check_half_life_days, decay_matrix
from recsys.io import codec
from recsys.models.base import (
    Arrays,
    Recommender,
    check_rows,
    csr_parts,
    merge_ids,
    union_pairs,
)
from recsys.models.basket_probability import (
    FALLBACK_BASKET_PRIOR,
    calibrate,
    conditional_probabilities,
    popular_listing,
    probability_queries,
    unlisted_prior,
    user_basket_counts,
    without_durables,
)

#: partial_fit recomputes every item's neighbours (with the parallel kernel) when more than this
#: share of the items would need recomputing anyway.
_PARTIAL_SHARE = 0.5
#: Score cells (items x candidate neighbours) handled per block by _neighbour_rows.
_BLOCK_CELLS = 1 << 22


@codec.saveable
class ItemItem(Recommender):
    """Item-item recommender: "customers who bought X also bought Y".

    Co-occurrence is counted over baskets when the interactions have them
    (``basket_col``), else over users, by a parallel Numba kernel that keeps
    only the top-``k`` neighbours of each item (memory bounded by the output,
    never a dense items × items matrix).  A user's (or basket's) score for an
    item is the sum of its similarities to the items in their history, except
    for ``similarity="confidence"``: there ``recommend`` and ``score_items``
    rank by the same basket-completion probability as cross-sells, with the
    history as the basket (the strongest ``P(j | i)`` of its items,
    noisy-or the user's repeat probability).  When
    fewer than ``n`` items have a positive score, the most popular remaining
    items fill the list (score 0), so results are exactly ``n`` whenever
    ``n`` candidates remain.  ``score_items`` / ``score_rows`` of chosen
    items give every item without evidence its prior probability instead of
    that 0 (see :func:`~recsys.models.basket_probability.unlisted_prior`).

    Parameters
    ----------
    similarity : {"confidence", "jaccard", "cosine", "lift", "bm25", "rp3beta"}
        ``confidence``: P(b | a) = C_ab / n_a (asymmetric); ``cosine``:
        C_ab / (|a| |b|); ``jaccard``: C_ab / (n_a + n_b - C_ab); ``lift``:
        C_ab N / (n_a n_b); ``bm25``: as implicit's ``BM25Recommender``;
        ``rp3beta``: the three-step random walk item -> transaction -> item of
        Paudel et al. (2017), transition probabilities raised to ``alpha``,
        divided by the target's popularity to the power ``beta``, top-``k``
        rows L1-normalised (see :mod:`recsys.core.cooccurrence`).
    k : int
        Neighbours kept per item.
    min_count : int
        Ignore pairs seen together in fewer transactions than this.
    basket_prior : float or "auto"
        ``confidence`` only: strength ``m`` of the popularity prior in the
        basket-completion probability ``P(j | i) = (C_ij + m p_j) / (n_i + m)``
        that :func:`~recsys.recommend_cross_sell` ranks by (see
        :mod:`recsys.models.basket_probability`).  ``"auto"`` chooses it on a
        time hold-out of the training baskets.
    repeat_prior : float, "auto" or None
        ``confidence`` only: strength ``a`` of the popularity prior in a
        customer's repeat-purchase probability ``(h + a p_j) / (n + a)`` (item
        in ``h`` of their ``n`` baskets).  ``None``: cross-sells never use the
        customer's past baskets as evidence.  ``"auto"``: chosen with
        ``basket_prior`` (``None`` included).

        The defaults (confidence over baskets, both priors calibrated) are the
        best cross-sell configuration we measured across Online Retail,
        Groceries and the Complete Journey sample (``python -m benchmarks
        cross-sell``); the calibration costs about one more fit on 5/6 of the
        baskets.
    shrinkage : float
        Added to every similarity's denominator (damps rare items).
    use_baskets : bool
        Count co-occurrence over baskets when available (else over users).
    binary : bool
        Count presence (True) or use the interaction weights (False) when
        computing similarities and scoring histories.
    bm25_k1, bm25_b : float
        BM25 parameters (``similarity="bm25"`` only).
    alpha, beta : float
        RP3beta parameters (``similarity="rp3beta"`` only, both ``>= 0``):
        the exponent of the transition probabilities, and of the popularity
        that divides a neighbour's score.  The defaults (0.75, 0.5) had the
        best cross-sell hit rate on the data sets with co-purchase signal
        (Online Retail and its sample) in a grid of alpha in {0.5, 0.75, 1,
        1.25} x beta in {0, 0.25, 0.5, 0.75}; where co-purchases carry little
        signal (Groceries, the Complete Journey) beta=0 (more popular
        neighbours) scores higher.
    half_life_days : float, optional
        Time decay of the co-occurrence rows: each basket (or, without
        baskets, each user-item pair) weighs ``0.5 ** (age / half_life_days)``,
        age measured from the data's reference time (needs ``time_col``; see
        :mod:`recsys.data.time_decay`, shared with ``ALS`` and
        ``Popularity``).  Only the weighted similarities use weights
        (``cosine``, ``bm25``, ``rp3beta``); with ``confidence``, ``jaccard``
        or ``lift``, which count baskets, it is an error.  ``None``: no decay.
    num_threads : int
        Threads for the Numba kernels (0 = all cores).

    Attributes
    ----------
    neighbours_ : NeighbourTable
        Top-k neighbours per item with similarity and co-occurrence counts.
    similarity_matrix_ : scipy.sparse.csr_matrix
        items × items similarities (top-k per row).
    basket_prior_, repeat_prior_ : float or None
        The prior strengths in use (``None`` for other similarities; ``repeat_prior_``
        is also ``None`` without baskets or when repeats did not help).
    calibration_ : pandas.DataFrame or None
        Every ``(basket_prior, repeat_prior)`` tried and its held-out hit rate at 10.
    conditional_probability_ : numpy.ndarray or None
        ``P(j | i)`` for every entry of ``neighbours_`` (``confidence`` only).
    item_durable_ : numpy.ndarray of bool or None
        The items nobody re-buys (see
        :func:`~recsys.models.basket_probability.durable_items`): never a
        customer's repeat purchase.  ``None`` when repeats are not used.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> orders = pd.DataFrame({
    ...     "order": [1, 1, 2, 2, 3, 3, 4],
    ...     "customer": ["a", "a", "b", "b", "c", "c", "d"],
    ...     "item": ["phone", "case", "phone", "case", "phone", "charger", "phone"],
    ... })
    >>> data = recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
    ...                                        basket_col="order")
    >>> model = recsys.ItemItem(similarity="confidence", min_count=1).fit(data)
    >>> model.similar_items(["phone"], n=2)[["similar_item", "score"]].values.tolist()
    [['case', 0.5], ['charger', 0.25]]
    """

    _state_params = (
        "similarity",
        "k",
        "min_count",
        "shrinkage",
        "use_baskets",
        "binary",
        "bm25_k1",
        "bm25_b",
        "alpha",
        "beta",
        "basket_prior",
        "repeat_prior",
        "half_life_days",
    )

    def __init__(
        self,
        similarity: str = "confidence",
        k: int = 100,
        *,
        min_count: int = 1,
        basket_prior: float | str = "auto",
        repeat_prior: float | str | None = "auto",
        shrinkage: float = 0.0,
        use_baskets: bool = True,
        binary: bool = True,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        alpha: float = 0.75,
        beta: float = 0.5,
        half_life_days: float | None = None,
        num_threads: int = 0,
    ) -> None:
        self.similarity = similarity
        self.k = k
        self.min_count = min_count
        self.basket_prior = basket_prior
        self.repeat_prior = repeat_prior
        self.shrinkage = shrinkage
        self.use_baskets = use_baskets
        self.binary = binary
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.alpha = alpha
        self.beta = beta
        self.half_life_days = half_life_days
        self.num_threads = num_threads

    def _fit(self, data: Interactions, show_progress: bool) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(
                f"similarity must be one of {list(SIMILARITIES)}, got {self.similarity!r}"
            )
        resolve_num_threads(self.num_threads)
        basket_prior, repeat_prior = _check_priors(self.basket_prior, self.repeat_prior)
        on_baskets = self.use_baskets and data.basket_matrix is not None
        transactions = data.transactions if self.use_baskets else data.matrix
        prepared = self._prepare(transactions)
        if check_half_life_days(self.half_life_days, "ItemItem(half_life_days=...)") is not None:
            if self.similarity in ("confidence", "jaccard", "lift"):
                raise ValueError(
                    f"ItemItem(half_life_days=...) needs a weighted similarity (cosine, bm25, "
                    f"rp3beta): {self.similarity!r} counts baskets and ignores weights"
                )
            on_rows = transactions is data.basket_matrix
            prepared = decay_matrix(
                prepared,
                data.basket_times if on_rows else data.times,
                data.reference_time,
                self.half_life_days,
                "ItemItem(half_life_days=...)",
                per_row=on_rows,
            )
        self.basket_prior_: float | None = None
        self.repeat_prior_: float | None = None
        self.calibration_: pd.DataFrame | None = None
        if self.similarity == "confidence":
            if on_baskets:
                assert data.basket_users is not None
                order = (
                    np.argsort(data.basket_times, kind="stable")
                    if data.basket_times is not None
                    else np.arange(prepared.shape[0])
                )
                found = calibrate(
                    prepared,
                    data.basket_users,
                    order,
                    data.n_users,
                    self._full_table,
                    basket_prior,
                    repeat_prior,
                    self.num_threads,
                )
            else:  # no baskets: nothing to hold out, and no repeat purchases to count
                found = calibrate(
                    prepared,
                    np.zeros(0, np.int32),
                    np.arange(0),
                    data.n_users,
                    self._full_table,
                    FALLBACK_BASKET_PRIOR if basket_prior == "auto" else basket_prior,
                    None,
                )
            self.basket_prior_, self.repeat_prior_, self.calibration_ = (
                found.basket_prior,
                found.repeat_prior,
                found.trials,
            )
        # kept for partial_fit: the baskets (when co-occurrence is counted over them; the user
        # rows are user_items_ anyway), their IDs and owners
        self._transactions: sp.csr_matrix | None = data.basket_matrix if on_baskets else None
        self._basket_ids: IdMap | None = data.basket_ids if on_baskets else None
        self._basket_users: np.ndarray | None = data.basket_users if on_baskets else None
        self._set_neighbours(self._full_table(prepared), data.matrix)

    def fit_from_tables(
        self,
        interactions: Interactions | sp.spmatrix,
        tables: Callable[[sp.csr_matrix], NeighbourTable],
        *,
        show_progress: bool = False,
    ) -> ItemItem:
        """Fit with neighbour tables counted elsewhere (e.g. on a Spark cluster).

        Exactly :meth:`fit`, except that each neighbour table ``fit`` needs
        (the full transactions and, when the priors are calibrated, the
        calibration's training split) comes from ``tables`` instead of the
        co-occurrence kernel: everything else (calibration, conditional
        probabilities, repeat counts, saved state) is the same code.

        Parameters
        ----------
        interactions : Interactions or scipy.sparse matrix
            The training data, as for :meth:`fit`.
        tables : callable
            Called with the (binarised when ``binary``) transactions x items
            matrix ``fit`` would count co-occurrence over; returns its
            :class:`~recsys.core.cooccurrence.NeighbourTable`, which must be what
            :func:`~recsys.core.cooccurrence.item_neighbours` gives with this
            model's parameters (``recsys.spark.fit_item_item`` checks this in its tests).
        show_progress : bool

        Returns
        -------
        self

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> from recsys.core.cooccurrence import item_neighbours
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.ItemItem("cosine").fit_from_tables(
        ...     data, lambda X: item_neighbours(X, "cosine", k=100))
        >>> model.similar_items(["b"], n=1)["similar_item"].tolist()
        ['a']
        """
        self._table_source: Callable[[sp.csr_matrix], NeighbourTable] | None = tables
        try:
            self.fit(interactions, show_progress=show_progress)
        finally:
            self._table_source = None
        return self

    def _full_table(self, transactions: sp.csr_matrix) -> NeighbourTable:
        source = getattr(self, "_table_source", None)
        if source is not None:
            table = source(transactions)
            if not isinstance(table, NeighbourTable) or table.n_items != transactions.shape[1]:
                raise ValueError(
                    f"tables must return a NeighbourTable over {transactions.shape[1]} items"
                )
            return table
        return item_neighbours(
            transactions,
            similarity=self.similarity,
            k=self.k,
            min_count=self.min_count,
            shrinkage=self.shrinkage,
            bm25_k1=self.bm25_k1,
            bm25_b=self.bm25_b,
            alpha=self.alpha,
            beta=self.beta,
            num_threads=self.num_threads,
        )

    def _set_neighbours(self, table: NeighbourTable, user_items: sp.csr_matrix) -> None:
        self.neighbours_: NeighbourTable = table
        self.similarity_matrix_: sp.csr_matrix = table.to_csr()
        self._history = self._prepare(user_items)
        self.conditional_probability_: np.ndarray | None = None
        # (user x item basket counts, baskets per user, item popularity) for repeat probabilities
        self._repeat_counts: tuple[sp.csr_matrix, np.ndarray, np.ndarray] | None = None
        self.item_durable_: np.ndarray | None = None
        if self.basket_prior_ is not None:
            self.conditional_probability_ = conditional_probabilities(table, self.basket_prior_)
            if (
                self.repeat_prior_ is not None
                and self._transactions is not None
                and self._basket_users is not None
            ):
                counts, n_baskets = user_basket_counts(
                    self._transactions, self._basket_users, user_items.shape[0]
                )
                # items nobody re-buys never come back as a customer's repeat purchase
                counts, self.item_durable_ = without_durables(counts, n_baskets)
                popularity = table.item_support.astype(np.float64) / max(table.n_rows, 1)
                self._repeat_counts = (counts, n_baskets, popularity)

    @property
    def transactions_(self) -> sp.csr_matrix | None:
        """The training baskets × items the co-occurrence was counted over (``None`` on users).

        Kept when the interactions had baskets and ``use_baskets`` is true
        (and updated by :meth:`partial_fit`); bundles count whole sets in it.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> orders = pd.DataFrame({"order": [1, 1, 2], "customer": ["a", "a", "b"],
        ...                        "item": ["pen", "ink", "pen"]})
        >>> model = recsys.ItemItem().fit(recsys.Interactions.from_pandas(
        ...     orders, user_col="customer", item_col="item", basket_col="order"))
        >>> model.transactions_.shape
        (2, 2)
        """
        self._check_fitted()
        return self._transactions

    def basket_probability_queries(
        self,
        basket_indptr: np.ndarray,
        basket_rows: np.ndarray,
        user_rows: np.ndarray,
        repeat_scale: float = 1.0,
    ) -> tuple[np.ndarray, ...] | None:
        """Build the queries of the ``noisy_or`` neighbour kernel.

        ``None`` unless ``similarity="confidence"``.  Basket entries bring
        their neighbours' ``conditional_probability_``; for known users
        (``user_rows >= 0``) the items of their past baskets come as direct
        entries with their repeat-purchase probability times ``repeat_scale``
        (see :func:`~recsys.models.basket_probability.probability_queries`).

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> orders = pd.DataFrame({"order": [1, 1, 2, 2], "customer": ["a", "a", "b", "b"],
        ...                        "item": ["tea", "cup", "tea", "cup"]})
        >>> model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(
        ...     recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
        ...                                     basket_col="order"))
        >>> queries = model.basket_probability_queries(
        ...     np.array([0, 1]), np.array([1]), np.array([-1], dtype=np.int32))
        >>> queries[0].tolist()  # one query (a basket holding "tea"), as CSR row pointers
        [0, 1]
        >>> cosine = recsys.ItemItem(similarity="cosine").fit(
        ...     recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item"))
        >>> cosine.basket_probability_queries(np.array([0, 1]), np.array([1]),
        ...                                   np.array([-1], dtype=np.int32)) is None
        True
        """
        self._check_fitted()
        if self.conditional_probability_ is None:
            return None
        table, prior = self.neighbours_, self.basket_prior_
        if self._repeat_counts is None:
            return probability_queries(
                basket_indptr,
                basket_rows,
                user_rows,
                None,
                None,
                None,
                None,
                table=table,
                basket_prior=prior,
            )
        counts, n_baskets, popularity = self._repeat_counts
        return probability_queries(
            basket_indptr,
            basket_rows,
            user_rows,
            counts,
            n_baskets,
            popularity,
            self.repeat_prior_,
            repeat_scale,
            table=table,
            basket_prior=prior,
        )

    def repeat_evidence(
        self, user_rows: Any, item_rows: Any, repeat_scale: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Return the repeat-purchase evidence of (user, item) pairs, as the probabilities use it.

        ``None`` unless the model scores repeats (``similarity="confidence"``,
        fitted on baskets, with a ``repeat_prior_``).

        Parameters
        ----------
        user_rows, item_rows : array-like of int, shape (n_pairs,)
            The pairs: rows of ``user_ids_`` (known users) and ``item_ids_``.
        repeat_scale : float
            Multiplies the probability (the selling APIs' ``user_weight``).

        Returns
        -------
        probability : numpy.ndarray of float64, shape (n_pairs,)
            ``repeat_scale * (orders_with_item + repeat_prior_ * share) /
            (orders + repeat_prior_)``, ``share`` being the item's share of
            all orders: the probability that the user buys the item again.
        orders_with_item : numpy.ndarray, shape (n_pairs,)
            The user's orders holding the item.
        orders : numpy.ndarray, shape (n_pairs,)
            The user's orders.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"order": [1, 2, 3, 4], "user": ["u", "u", "u", "v"],
        ...                     "item": ["tea", "tea", "cup", "tea"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item",
        ...                                        basket_col="order")
        >>> model = recsys.ItemItem(basket_prior=1.0, repeat_prior=1.0).fit(data)
        >>> p, with_item, orders = model.repeat_evidence([0], model.item_ids_.to_rows(["tea"]))
        >>> p.round(4).tolist(), with_item.tolist(), orders.tolist()
        ([0.6875], [2.0], [3])
        """
        self._check_fitted()
        if self._repeat_counts is None:
            return None
        counts, n_baskets, popularity = self._repeat_counts
        users = check_rows(user_rows, counts.shape[0], "user_rows")
        items = check_rows(item_rows, counts.shape[1], "item_rows")
        if users.shape != items.shape:
            raise ValueError(
                f"user_rows and item_rows must pair up, got {users.size} and {items.size} rows"
            )
        with_item = _csr_values(counts, users, items)
        orders = n_baskets[users]
        a = self.repeat_prior_
        probability = repeat_scale * (with_item + a * popularity[items]) / (orders + a)
        return probability, with_item, orders

    # -------------------------------------------------------- incremental
    def partial_fit(
        self, interactions: Interactions | sp.spmatrix, *, show_progress: bool = False
    ) -> ItemItem:
        """Add new transactions without recomputing every item's neighbours.

        ``interactions`` holds only the *new* events (known and new users,
        items and baskets may be mixed; a basket ID seen in training extends
        that basket).  The result equals a full :meth:`fit` on the union of the
        old and new logs — the same neighbours, counts and (up to float
        rounding of summed weights) similarities — provided the union of the
        logs is what ``fit`` would see, i.e. no time decay relative to a
        reference time (``Interactions(half_life_days=...)`` weights depend
        on the newest event of the log they are built from).  The calibrated
        ``basket_prior_`` and ``repeat_prior_`` are kept (the result equals a
        ``fit`` with them fixed); refit to calibrate them again.

        Only the items whose neighbour lists can change are recomputed, from
        the stored transactions: for ``confidence`` the items of the touched
        transactions; for ``cosine``, ``jaccard``, ``lift`` and ``rp3beta`` also every item
        co-occurring with an item that got new transactions (their
        similarities depend on its support).  Everything is recomputed (the
        same as ``fit``) when that is most items, for ``bm25`` (its weights
        depend on every item), for ``lift`` when the number of transactions
        changed (every lift depends on it), and when new items change the
        effective ``k`` (fewer than ``k + 1`` items).

        Memory: the model keeps the training transactions — ``user_items_``
        and, when fitted on baskets, the baskets × items matrix with the
        basket IDs and owners (about 12 bytes per basket line plus the IDs).
        The model is modified in place: do not serve from it while
        ``partial_fit`` runs.

        Parameters
        ----------
        interactions : Interactions or scipy.sparse matrix
            New events.  A model fitted on baskets needs baskets in them
            (``basket_col``); one fitted on user histories needs none.
        show_progress : bool
            Accepted for symmetry with :meth:`fit`.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Hyper-parameters the fitted state depends on were changed (``set_params``)
            since ``fit``; bad data, as for ``fit``.  A failed call leaves the model unchanged.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> def data(df):
        ...     return recsys.Interactions.from_pandas(df, user_col="user", item_col="item",
        ...                                            basket_col="order")
        >>> old = pd.DataFrame({"order": [1, 1, 2, 2], "user": [1, 1, 2, 2],
        ...                     "item": ["tea", "cup", "tea", "pot"]})
        >>> new = pd.DataFrame({"order": [3, 3], "user": [3, 3], "item": ["tea", "cup"]})
        >>> model = recsys.ItemItem(similarity="confidence", min_count=1).fit(data(old))
        >>> model = model.partial_fit(data(new))
        >>> model.similar_items(["tea"], n=2)[["similar_item", "score"]].values.tolist()
        [['cup', 0.6666666865348816], ['pot', 0.3333333432674408]]
        """
        self._check_fitted()
        self._check_state_params()
        if self.half_life_days is not None:
            raise ValueError(
                "ItemItem(half_life_days=...) cannot partial_fit: the decay is relative to the "
                "newest event of the whole log; call fit on it"
            )
        resolve_num_threads(self.num_threads)
        data = as_interactions(interactions)
        on_baskets = self._basket_ids is not None
        if on_baskets and data.basket_matrix is None:
            raise ValueError(
                "this ItemItem counts co-occurrence over baskets: build the new interactions with "
                "basket_col=... too"
            )
        merged = self._merge_training_data(data)
        if on_baskets:
            assert (
                self._transactions is not None
                and self._basket_ids is not None
                and self._basket_users is not None
            )
            assert (
                data.basket_ids is not None
                and data.basket_users is not None
                and data.basket_matrix is not None
            )
            basket_ids, basket_rows = merge_ids(self._basket_ids, data.basket_ids, "basket")
            owners = merged.user_rows[data.basket_users]
            n_old = len(self._basket_ids)
            known = basket_rows < n_old
            clash = known & (self._basket_users[np.minimum(basket_rows, n_old - 1)] != owners)
            if clash.any():
                bad = data.basket_ids.to_external(np.flatnonzero(clash)[:10]).tolist()
                raise ValueError(
                    f"basket(s) {bad} of the new interactions belong to another user in the "
                    "training data"
                )
            basket_users = np.concatenate([self._basket_users, owners[~known]]).astype(np.int32)
            raw, _ = union_pairs(
                self._transactions,
                data.basket_matrix,
                basket_rows,
                merged.item_rows,
                (len(basket_ids), len(merged.item_ids)),
            )
            touched_rows = np.unique(basket_rows)
        else:
            raw = merged.matrix
            touched_rows = merged.touched_users
        transactions = self._prepare(raw)
        table = self._updated_table(transactions, touched_rows, merged.touched_items)
        self._set_training_data(merged.user_ids, merged.item_ids, merged.matrix)
        if on_baskets:
            self._transactions, self._basket_ids, self._basket_users = raw, basket_ids, basket_users
        self._set_neighbours(table, merged.matrix)
        return self

    def _updated_table(
        self, X: sp.csr_matrix, touched_rows: np.ndarray, touched_items: np.ndarray
    ) -> NeighbourTable:
        """Return the neighbour table of ``X``, recomputing only the rows that can change.

        The other rows are taken from the current table.
        """
        old = self.neighbours_
        n_rows, n_items = X.shape
        k_eff = min(self.k, max(n_items - 1, 1))
        if (
            self.similarity == "bm25"
            or k_eff != min(self.k, max(old.n_items - 1, 1))
            or (self.similarity == "lift" and n_rows != old.n_rows)
        ):
            return self._full_table(X)
        X.sort_indices()
        if self.similarity == "confidence":
            rows = touched_rows  # P(b | a) changes only when a got new transactions
        else:  # also every item sharing a transaction with an item whose support changed
            rows = np.unique(X.tocsc()[:, touched_items].indices)
        items = np.unique(X[rows].indices)
        if items.size > _PARTIAL_SHARE * n_items:
            return self._full_table(X)
        if self.similarity == "rp3beta":
            part = rp3beta_rows(
                X,
                items,
                k_eff,
                alpha=self.alpha,
                beta=self.beta,
                min_count=self.min_count,
                shrinkage=self.shrinkage,
            )
        else:
            part = _neighbour_rows(X, items, self.similarity, k_eff, self.min_count, self.shrinkage)
        support = np.diff(X.tocsc().indptr).astype(np.int32)
        return _replace_rows(old, n_items, items, part, support, n_rows)

    # -------------------------------------------------------- persistence
    def _model_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        table = self.neighbours_
        arrays["neighbours.indptr"] = table.indptr.astype(np.int64)
        arrays["neighbours.indices"] = table.indices.astype(np.int32)
        arrays["neighbours.scores"] = table.scores.astype(np.float32)
        arrays["neighbours.counts"] = table.counts.astype(np.int32)
        arrays["neighbours.item_support"] = table.item_support.astype(np.int32)
        meta["n_rows"] = int(table.n_rows)
        meta["transactions"] = "users" if self._basket_ids is None else "baskets"
        meta["basket_prior_"] = self.basket_prior_
        meta["repeat_prior_"] = self.repeat_prior_
        meta["calibration_"] = (
            None if self.calibration_ is None else self.calibration_.to_dict(orient="list")
        )
        if self._basket_ids is not None:
            assert self._transactions is not None and self._basket_users is not None
            codec.put_csr(arrays, "transactions", self._transactions)
            codec.put_idmap(meta, arrays, "basket_ids", self._basket_ids)
            arrays["basket_users"] = self._basket_users.astype(np.int32)

    def _check_params(self) -> None:
        """Check the hyper-parameters as ``fit`` does (used by ``load``)."""

        def number(name: str, low: float, high: float = np.inf) -> None:
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not low <= value <= high
            ):
                raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")

        if not isinstance(self.similarity, str) or self.similarity not in SIMILARITIES:
            raise ValueError(
                f"similarity must be one of {list(SIMILARITIES)}, got {self.similarity!r}"
            )
        for name in ("k", "min_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        number("shrinkage", 0.0, float(np.finfo(np.float64).max))
        number("bm25_k1", 0.0, float(np.finfo(np.float64).max))
        number("bm25_b", 0.0, 1.0)
        number("alpha", 0.0, float(np.finfo(np.float64).max))
        number("beta", 0.0, float(np.finfo(np.float64).max))
        for name in ("use_baskets", "binary"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        _check_priors(self.basket_prior, self.repeat_prior)
        resolve_num_threads(self.num_threads)

    def _restore_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._check_params()
        n_items = len(self.item_ids_)
        indptr, indices = arrays["neighbours.indptr"], arrays["neighbours.indices"]
        codec.check_csr_parts(indptr, indices, (n_items, n_items), "neighbours")
        codec.check_distinct_rows(indptr, indices, "neighbours", no_diagonal=True)
        if n_items and np.diff(indptr).max() > self.k:
            raise ValueError(f"neighbours: an item has more than k={self.k} neighbours")
        nnz = indices.shape[0]
        n_rows = meta["n_rows"]
        if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 0:
            raise ValueError(f"bad n_rows {n_rows!r}")
        counts = codec.check_array(arrays, "neighbours.counts", (nnz,), "iu")
        support = codec.check_array(arrays, "neighbours.item_support", (n_items,), "iu")
        for key, values in (("neighbours.counts", counts), ("neighbours.item_support", support)):
            if values.size and (values.min() < 0 or values.max() > n_rows):
                raise ValueError(f"{key} must be in [0, n_rows={n_rows}]")
        self.basket_prior_ = _restored_prior(meta.get("basket_prior_"), "basket_prior_")
        self.repeat_prior_ = _restored_prior(meta.get("repeat_prior_"), "repeat_prior_")
        if (self.basket_prior_ is None) != (self.similarity != "confidence"):
            raise ValueError("basket_prior_ does not match the similarity")
        if self.basket_prior != "auto" and self.basket_prior_ not in (None, self.basket_prior):
            raise ValueError(f"basket_prior_ {self.basket_prior_} is not basket_prior")
        if self.repeat_prior_ is not None and (
            self.basket_prior_ is None or self.repeat_prior not in ("auto", self.repeat_prior_)
        ):
            raise ValueError(f"repeat_prior_ {self.repeat_prior_} does not match repeat_prior")
        trials = meta.get("calibration_")
        self.calibration_ = None if trials is None else pd.DataFrame(trials)
        self._transactions = self._basket_ids = self._basket_users = None
        if meta["transactions"] == "baskets":
            if not self.use_baskets:
                raise ValueError("a model with use_baskets=False has baskets")
            basket_ids = codec.get_idmap(meta, arrays, "basket_ids", name="basket")
            self._transactions = codec.get_csr(
                arrays, "transactions", (len(basket_ids), n_items), nonnegative=True
            )
            owners = codec.check_array(arrays, "basket_users", (len(basket_ids),), "iu")
            if owners.size and (owners.min() < 0 or owners.max() >= len(self.user_ids_)):
                raise ValueError("basket_users out of range")
            self._basket_ids, self._basket_users = basket_ids, owners.astype(np.int32)
        elif meta["transactions"] != "users":
            raise ValueError(f"bad transactions kind {meta['transactions']!r}")
        # a history's score adds up to n_items weights x similarities: keep that finite
        weight = 1.0
        if not self.binary and self.user_items_.nnz:
            weight = max(1.0, float(self.user_items_.data.max()))
        bound = codec.FLOAT32_MAX / (16.0 * max(n_items, 1) * weight)
        scores = codec.check_array(arrays, "neighbours.scores", (nnz,), "f")
        table = NeighbourTable(
            indptr=indptr.astype(np.int64),
            indices=indices.astype(np.int32),
            scores=codec.check_floats(scores, "neighbours.scores", bound=bound),
            counts=counts.astype(np.int32),
            item_support=support.astype(np.int32),
            n_rows=n_rows,
        )
        self._set_neighbours(table, self.user_items_)

    def _prepare(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        if self.binary:
            matrix = sp.csr_matrix(
                (np.ones_like(matrix.data), matrix.indices, matrix.indptr), shape=matrix.shape
            )
        return matrix

    # ---------------------------------------------------------------- hooks
    def _neighbour_topn(
        self,
        histories: sp.csr_matrix,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
        user_rows: np.ndarray | None = None,
        probability: bool = True,
    ) -> Arrays:
        if probability and self.conditional_probability_ is not None:
            return self._probability_topn(histories, n, exclude, item_allowed, user_rows)
        sim = self.similarity_matrix_
        q_indptr, q_indices = csr_parts(histories)
        constraints = self._topn_constraints(histories.shape[0], exclude, item_allowed)
        ids, scores, _ = constrained_topn_neighbours(
            q_indptr,
            q_indices,
            histories.data,
            sim.indptr,
            sim.indices,
            sim.data,
            n,
            constraints,
            num_threads=self.num_threads,
            positions=False,
        )
        return ids, scores

    def _topn_constraints(
        self,
        n_queries: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Constraints:
        """Return a recommend call's constraints: exclusions, allowed items, popularity fill."""
        return Constraints.make(
            n_queries,
            len(self.item_ids_),
            exclude_indptr=exclude[0],
            exclude_indices=exclude[1],
            item_allowed=item_allowed,
            fill_order=self._popular_order[0],
        )

    def _probability_topn(
        self,
        histories: sp.csr_matrix,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
        user_rows: np.ndarray | None,
    ) -> Arrays:
        """Rank by the probability of joining the history, as cross-sells are (``confidence``).

        The history plays the basket (the strongest ``P(j | i)`` of its items);
        known users add their repeat-purchase probabilities (which matter when
        seen items are not excluded).
        """
        q_indptr, q_rows = csr_parts(histories)
        users = (
            np.full(histories.shape[0], -1, dtype=np.int32)
            if user_rows is None
            else user_rows.astype(np.int32)
        )
        queries = self.basket_probability_queries(q_indptr, q_rows, users)
        # only called with similarity="confidence", so both are set
        assert queries is not None and self.conditional_probability_ is not None
        q_ip, q_ix, q_w, q_ex, q_dir = queries
        table = self.neighbours_
        constraints = self._topn_constraints(histories.shape[0], exclude, item_allowed)
        ids, scores, _ = constrained_topn_neighbours(
            q_ip,
            q_ix,
            q_w,
            table.indptr,
            table.indices,
            self.conditional_probability_,
            n,
            constraints,
            query_explain=q_ex,
            query_direct=q_dir,
            combine="noisy_or",
            num_threads=self.num_threads,
        )
        return ids, scores

    def _topn_users(
        self,
        user_rows: np.ndarray,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        return self._neighbour_topn(
            self._history[user_rows], n, exclude, item_allowed, user_rows=user_rows
        )

    def _topn_histories(
        self,
        histories: sp.csr_matrix,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        return self._neighbour_topn(self._prepare(histories), n, exclude, item_allowed)

    def _topn_similar(
        self, item_rows: np.ndarray, n: int, item_allowed: np.ndarray | None
    ) -> Arrays:
        m = item_rows.size
        one_hot = sp.csr_matrix(
            (np.ones(m, dtype=np.float32), item_rows, np.arange(m + 1)),
            shape=(m, len(self.item_ids_)),
        )
        exclude = (np.arange(m + 1, dtype=np.int64), item_rows.astype(np.int32))
        return self._neighbour_topn(
            one_hot, n, exclude, item_allowed, probability=False
        )  # the similarities

    def _score_users(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(user_rows, dtype=np.int64)
        h = self._history
        if rows.size == 1 and self.conditional_probability_ is not None:
            return self._one_customer_probabilities(int(rows[0]), item_rows)[None, :]
        indptr, take = row_positions(h.indptr, rows)
        return self._item_scores(indptr, h.indices[take], h.data[take], rows, item_rows)

    def _one_customer_probabilities(self, user: int, item_rows: np.ndarray) -> np.ndarray:
        """:meth:`_item_scores` of one known customer, in one kernel pass (an upgrade's call).

        The same numbers as the queries of :meth:`basket_probability_queries`
        scored by :func:`~recsys.core.neighbour_scores.neighbour_item_scores`
        and completed by :func:`~recsys.models.basket_probability.unlisted_prior`
        (tested to the bit), without building the queries.
        """
        h, table = self._history, self.neighbours_
        assert self.conditional_probability_ is not None and self.basket_prior_ is not None
        top, _, listed = popular_listing(table)
        repeat: dict[str, Any] = {}
        if self._repeat_counts is not None and self.repeat_prior_ is not None:
            counts, n_baskets, popularity = self._repeat_counts
            lo, hi = counts.indptr[user], counts.indptr[user + 1]
            repeat = dict(
                repeat_items=counts.indices[lo:hi],
                repeat_counts=counts.data[lo:hi],
                repeat_orders=float(n_baskets[user]),
                repeat_prior=float(self.repeat_prior_),
                popularity=popularity,
            )
        return history_item_probabilities(
            h.indices[h.indptr[user] : h.indptr[user + 1]],
            item_rows,
            sim_indptr=table.indptr,
            sim_indices=table.indices,
            sim_data=self.conditional_probability_,
            item_support=table.item_support,
            n_rows=table.n_rows,
            popular=top,
            listed=listed,
            basket_prior=self.basket_prior_,
            **repeat,
        )

    def _score_histories(self, histories: sp.csr_matrix, item_rows: np.ndarray) -> np.ndarray:
        H = self._prepare(histories)
        return self._item_scores(H.indptr, H.indices, H.data, np.full(H.shape[0], -1), item_rows)

    def _item_scores(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        weights: np.ndarray,
        user_rows: np.ndarray,
        item_rows: np.ndarray,
    ) -> np.ndarray:
        """Return what ``recommend`` ranks by, for the wanted items only.

        The same arithmetic as the top-n kernel, without the ranking.  With
        ``similarity="confidence"`` every wanted item without evidence (no
        history item lists it, no repeat purchase) gets the basket prior
        ``m p_j / (c(i) + m)`` (the history item with the fewest baskets), not
        only the most popular ones the top-n queries carry
        (:func:`~recsys.models.basket_probability.unlisted_prior`):
        chosen candidates (upgrade tiers) then compare by the model's full
        shrunk probability, and a rare item seen once with the history does not
        outrank a best-seller never seen with it.
        """
        table = self.neighbours_
        if self.conditional_probability_ is not None:
            b_ip = np.asarray(indptr, dtype=np.int64)
            b_rows = np.asarray(indices, dtype=np.int32)
            queries = self.basket_probability_queries(b_ip, b_rows, user_rows.astype(np.int32))
            assert queries is not None and self.basket_prior_ is not None  # confidence
            q_ip, q_ix, q_w, _, q_dir = queries
            scores = neighbour_item_scores(
                q_ip,
                q_ix,
                q_w,
                table.indptr,
                table.indices,
                self.conditional_probability_,
                item_rows,
                query_direct=q_dir,
                combine="noisy_or",
            )
            # the items without evidence (score 0): their prior probability
            return unlisted_prior(table, b_ip, b_rows, item_rows, self.basket_prior_, scores)
        return neighbour_item_scores(
            indptr, indices, weights, table.indptr, table.indices, table.scores, item_rows
        )


def _check_priors(
    basket_prior: object, repeat_prior: object
) -> tuple[float | str, float | str | None]:
    def ok(value: object) -> bool:
        return (
            not isinstance(value, bool)
            and isinstance(value, (int, float, np.integer, np.floating))
            and bool(np.isfinite(value))
            and float(value) >= 0
        )

    if not (basket_prior == "auto" or ok(basket_prior)):
        raise ValueError(
            f"basket_prior must be 'auto' or a finite number >= 0, got {basket_prior!r}"
        )
    if not (repeat_prior is None or repeat_prior == "auto" or ok(repeat_prior)):
        raise ValueError(
            f"repeat_prior must be 'auto', None or a finite number >= 0, got {repeat_prior!r}"
        )
    return basket_prior, repeat_prior  # type: ignore[return-value]


def _restored_prior(value: object, name: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not np.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"bad {name} {value!r}")
    return float(value)


def _neighbour_rows(
    X: sp.csr_matrix, items: np.ndarray, similarity: str, k: int, min_count: int, shrinkage: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the top-``k`` neighbour rows of ``items`` (sorted ids) in ``X``.

    The rows :func:`item_neighbours` computes: the same formulas (in float64,
    rounded once to float32), the same order (score descending, ties by item
    id) and the same ``min_count`` filter as the kernel, but for a subset of
    the items, with sparse products.  Returns CSR parts (indptr, indices,
    scores, counts) with one row per item of ``items``.
    """
    n_rows, n_items = X.shape
    binary = sp.csr_matrix((np.ones(X.nnz, dtype=np.float64), X.indices, X.indptr), shape=X.shape)
    weighted = similarity == "cosine" and not np.all(X.data == 1.0)
    support = np.diff(binary.tocsc().indptr).astype(np.float64)
    sumsq = np.bincount(X.indices, weights=X.data.astype(np.float64) ** 2, minlength=n_items)
    norms = np.sqrt(sumsq) if weighted else np.sqrt(support)
    binary_csc = binary.tocsc()
    weights = sp.csr_matrix(X, dtype=np.float64)
    weights_csc = weights.tocsc()
    block = max(1, _BLOCK_CELLS // max(n_items, 1))
    parts: list[tuple[np.ndarray, ...]] = []
    lengths = np.zeros(items.size, dtype=np.int64)
    for start in range(0, items.size, block):
        rows = items[start : start + block]
        counts = (binary_csc[:, rows].T @ binary).tocsr()
        counts.sort_indices()
        row_of = np.repeat(np.arange(rows.size), np.diff(counts.indptr))
        a = rows[row_of]
        b = counts.indices.astype(np.int64)
        c = np.rint(counts.data)
        if weighted:
            cab_matrix = (weights_csc[:, rows].T @ weights).tocsr()
            cab_matrix.sort_indices()
            if not np.array_equal(
                cab_matrix.indices, counts.indices
            ):  # pragma: no cover - weights are > 0
                raise RuntimeError("co-occurrence patterns differ")
            cab = cab_matrix.data.astype(np.float32).astype(np.float64)
        else:
            cab = c
        keep = (b != a) & (c >= min_count)
        a, b, c, cab, row_of = a[keep], b[keep], c[keep], cab[keep], row_of[keep]
        n_a, n_b = support[a], support[b]
        with np.errstate(divide="ignore", invalid="ignore"):
            if similarity == "cosine":
                score = cab / (norms[a] * norms[b] + shrinkage)
            elif similarity == "jaccard":
                score = c / (n_a + n_b - c + shrinkage)
            elif similarity == "lift":
                score = c * float(n_rows) / (n_a * n_b + shrinkage)
            elif similarity == "confidence":
                score = c / (n_a + shrinkage)
            else:  # pragma: no cover - bm25 is always recomputed in full
                raise ValueError(f"no partial update for similarity {similarity!r}")
        score32 = score.astype(np.float32) + np.float32(0.0)
        part, lengths[start : start + rows.size] = top_k_per_row(
            row_of, b, score32, c, rows.size, k
        )
        parts.append(part)
    return join_row_parts(parts, lengths)


def _replace_rows(
    old: NeighbourTable,
    n_items: int,
    items: np.ndarray,
    part: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    support: np.ndarray,
    n_rows: int,
) -> NeighbourTable:
    """Return ``old`` grown to ``n_items`` rows, with the rows of ``items`` replaced by ``part``."""
    part_indptr, part_indices, part_scores, part_counts = part
    n_old = old.n_items
    old_nnz = old.indices.shape[0]
    lengths = np.zeros(n_items, dtype=np.int64)
    lengths[:n_old] = np.diff(old.indptr)
    src = np.zeros(n_items, dtype=np.int64)
    src[:n_old] = old.indptr[:-1]
    lengths[items] = np.diff(part_indptr)
    src[items] = part_indptr[:-1] + old_nnz
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    take = np.repeat(src - indptr[:-1], lengths) + np.arange(indptr[-1])
    return NeighbourTable(
        indptr=indptr,
        indices=np.concatenate([old.indices, part_indices])[take].astype(np.int32),
        scores=np.concatenate([old.scores, part_scores])[take].astype(np.float32),
        counts=np.concatenate([old.counts, part_counts])[take].astype(np.int32),
        item_support=support.astype(np.int32),
        n_rows=int(n_rows),
    )


def _csr_values(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Return ``matrix[rows[i], cols[i]]`` for each i (a CSR matrix with sorted indices).

    A binary search per pair for a few pairs: scipy's fancy indexing costs more
    than a whole single-basket cross-sell.
    """
    if rows.size > 256:
        return np.asarray(matrix[rows, cols]).ravel()
    out = np.zeros(rows.size, dtype=matrix.dtype)
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for k, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        lo, hi = indptr[r], indptr[r + 1]
        p = lo + int(np.searchsorted(indices[lo:hi], c))
        if p < hi and indices[p] == c:
            out[k] = data[p]
    return out
