"""``Interactions``: purchase and browsing logs as sparse user × item matrices."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.ids import IdMap
from recsys.data.time_decay import decay_weights
from recsys.data.validation import (
    datetime_column,
    numeric_column,
    require_columns,
    require_dataframe,
    require_no_missing,
)
from recsys.types import ExternalIds


@dataclass(frozen=True, eq=False)
class Interactions:
    """Who interacted with what, as sparse matrices with explicit ID maps.

    Build it with :meth:`from_pandas` (or :meth:`from_csr`); models take it in
    ``fit``.  All matrices are ``float32`` CSR with sorted indices and no
    duplicate entries.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        users × items, the aggregated (and, if asked, event-weighted and
        time-decayed) weight of every user-item pair.
    user_ids, item_ids : IdMap
        External ID ↔ row/column maps.
    times : numpy.ndarray or None
        For each stored entry of ``matrix`` (aligned with ``matrix.data``), the
        time of the pair's latest event in seconds since the epoch.
    basket_matrix : scipy.sparse.csr_matrix or None
        baskets × items (orders, sessions), when a basket column was given.
    basket_ids : IdMap or None
    basket_users : numpy.ndarray or None
        The user row of every basket (int32).
    basket_times : numpy.ndarray or None
        The time of every basket's first event, in seconds since the epoch
        (float64), when a time column was given.
    user_attributes : pandas.DataFrame or None
        One row per user (index = external user ID, in row order), the latest
        value of each column named in ``user_attribute_cols``, e.g. the country.
    reference_time : pandas.Timestamp or None
        The time decay is relative to this (the newest event by default).
    weight_col : str or None
        The column the weights came from (``from_pandas``), named by models
        whose checks reject a weight.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user": ["ann", "ann", "bob"], "item": ["tea", "cup", "tea"]})
    >>> data = Interactions.from_pandas(df, user_col="user", item_col="item")
    >>> data.shape
    (2, 2)
    >>> data.item_ids.external_ids.tolist()  # IDs are sorted: the log's row order does not matter
    ['cup', 'tea']
    >>> data.matrix.toarray().tolist()
    [[1.0, 1.0], [0.0, 1.0]]
    """

    matrix: sp.csr_matrix
    user_ids: IdMap
    item_ids: IdMap
    times: np.ndarray | None = None
    basket_matrix: sp.csr_matrix | None = None
    basket_ids: IdMap | None = None
    basket_users: np.ndarray | None = None
    basket_times: np.ndarray | None = None
    user_attributes: pd.DataFrame | None = None
    reference_time: pd.Timestamp | None = None
    weight_col: str | None = None
    _item_user_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n_users, n_items = self.matrix.shape
        if n_users != len(self.user_ids) or n_items != len(self.item_ids):
            raise ValueError(
                f"matrix shape {self.matrix.shape} does not match "
                f"{len(self.user_ids)} user IDs x {len(self.item_ids)} item IDs"
            )
        if self.basket_matrix is not None:
            if self.basket_ids is None or self.basket_users is None:
                raise ValueError("basket_matrix needs basket_ids and basket_users")
            if self.basket_matrix.shape != (len(self.basket_ids), n_items):
                raise ValueError(
                    f"basket_matrix shape {self.basket_matrix.shape} does not match "
                    f"{len(self.basket_ids)} baskets x {n_items} items"
                )
        if self.basket_times is not None and (
            self.basket_matrix is None or self.basket_times.shape != (self.basket_matrix.shape[0],)
        ):
            raise ValueError("basket_times needs basket_matrix and one time per basket")
        if self.times is not None and self.times.shape != self.matrix.data.shape:
            raise ValueError("times must be aligned with matrix.data")

    # ------------------------------------------------------------------ build
    @classmethod
    def from_pandas(
        cls,
        df: pd.DataFrame,
        *,
        user_col: str,
        item_col: str,
        weight_col: str | None = None,
        time_col: str | None = None,
        basket_col: str | None = None,
        event_col: str | None = None,
        event_weights: Mapping[Any, float] | None = None,
        half_life_days: float | None = None,
        reference_time: Any = None,
        user_attribute_cols: Sequence[str] | None = None,
    ) -> Interactions:
        """Build interactions from a log with one row per event.

        Parameters
        ----------
        df : pandas.DataFrame
            The log.  It is not modified.
        user_col, item_col : str
            Columns with the external user and item IDs (any hashable of one
            type; missing IDs are an error).
        weight_col : str, optional
            Non-negative weight of each event (quantity, play count, revenue).
            Without it every event weighs 1.  NaN, inf and negative weights are
            an error — filter returns/cancellations out first.  Rows whose
            final weight is 0 are dropped with a warning giving their count.
        time_col : str, optional
            Event time (datetime or parseable strings).  Needed for
            ``half_life_days``; also stored per pair (latest event) in ``times``.
        basket_col : str, optional
            Order/session/basket ID: builds ``basket_matrix`` (baskets × items)
            for co-occurrence.  A basket must belong to a single user.
        event_col, event_weights : str, mapping, optional
            Event type column and its weights, e.g.
            ``{"view": 1, "cart": 3, "purchase": 5}``; multiplied with the
            weight column if both are given.  Unknown event types are an error.
        half_life_days : float, optional
            Exponential time decay: an event ``half_life_days`` older than the
            reference time counts half.
        reference_time : datetime-like, optional
            The "now" of the decay; default the newest event.
        user_attribute_cols : sequence of str, optional
            Per-user attributes to keep (latest value per user), e.g.
            ``["Country"]``, used by segment-aware models and rules.

        Returns
        -------
        Interactions
            Duplicated user-item pairs are summed.  Users, items and baskets get
            their rows in sorted ID order (see :func:`recsys.data.ids.canonical_order`),
            so the same events in any row order give the same interactions, and
            models fitted on them with the same seed are the same.

        Raises
        ------
        ValueError
            Naming the column and offending rows: missing columns, missing
            IDs, NaN/inf/negative weights, empty frames, unknown event types,
            unparseable times, a basket with several users.

        Examples
        --------
        >>> import pandas as pd
        >>> log = pd.DataFrame({
        ...     "customer": [1, 1, 2, 2],
        ...     "product": ["phone", "case", "phone", "phone"],
        ...     "event": ["purchase", "view", "cart", "purchase"],
        ... })
        >>> data = Interactions.from_pandas(
        ...     log, user_col="customer", item_col="product",
        ...     event_col="event", event_weights={"view": 1, "cart": 3, "purchase": 5})
        >>> data.to_pandas().values.tolist()
        [[1, 'case', 1.0], [1, 'phone', 5.0], [2, 'phone', 8.0]]
        """
        df = require_dataframe(df, "interactions")
        for name, col in (("user_col", user_col), ("item_col", item_col)):
            if not isinstance(col, str) and not isinstance(col, int):
                raise TypeError(f"{name} must be a column name, got {col!r}")
        attr_cols = list(user_attribute_cols or [])
        require_columns(
            df,
            [user_col, item_col, weight_col, time_col, basket_col, event_col, *attr_cols],
            "interactions",
        )
        require_no_missing(df, user_col, "interactions")
        require_no_missing(df, item_col, "interactions")

        weights = (
            numeric_column(df, weight_col, "interactions")
            if weight_col is not None
            else np.ones(len(df))
        )

        if event_col is not None:
            if event_weights is None:
                raise ValueError(
                    f"event_col={event_col!r} needs event_weights, "
                    "e.g. {'view': 1, 'purchase': 5}"
                )
            bad_w = {k: v for k, v in event_weights.items() if not (np.isfinite(v) and v >= 0)}
            if bad_w:
                raise ValueError(f"event_weights must be finite and >= 0; bad: {bad_w}")
            mapped = df[event_col].map(dict(event_weights))
            unknown = mapped.isna().to_numpy()
            if unknown.any():
                kinds = pd.unique(df[event_col].to_numpy()[unknown])[:10].tolist()
                raise ValueError(
                    f"interactions column {event_col!r} has {int(unknown.sum())} row(s) with "
                    f"event types not in event_weights: {kinds} "
                    f"(rows {list(df.index[unknown][:10])}); known types: {list(event_weights)}"
                )
            weights = weights * mapped.to_numpy(dtype=np.float64)
        elif event_weights is not None:
            raise ValueError("event_weights was given without event_col")

        times_s: np.ndarray | None = None
        ref: pd.Timestamp | None = None
        if time_col is not None:
            parsed = datetime_column(df, time_col, "interactions")
            times_s = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
            ref = pd.Timestamp(reference_time) if reference_time is not None else parsed.max()
        elif reference_time is not None:
            raise ValueError("reference_time needs time_col")
        if half_life_days is not None:
            if time_col is None:
                raise ValueError("half_life_days needs time_col (the event times to decay by)")
            if not (np.isfinite(half_life_days) and half_life_days > 0):
                raise ValueError(
                    f"half_life_days must be a positive number, got {half_life_days!r}"
                )
            assert times_s is not None and ref is not None
            weights = weights * decay_weights(times_s, ref, half_life_days)

        # matrices are float32: a weight beyond its range is an error, one too small for it
        # is zero
        with np.errstate(over="ignore"):
            weights32 = weights.astype(np.float32)
        overflow = ~np.isfinite(weights32)
        if overflow.any():
            raise ValueError(
                f"interactions: {int(overflow.sum())} weight(s) exceed the float32 range "
                f"(rows {list(df.index[overflow][:10])})"
            )
        keep = weights32 > 0
        dropped = int((~keep).sum())
        if dropped:
            warnings.warn(
                f"Interactions: dropped {dropped} row(s) whose weight is zero "
                "(or below float32 precision)",
                UserWarning,
                stacklevel=2,
            )
            if dropped == len(df):
                raise ValueError("interactions: every row has zero weight; nothing is left")

        kept = df.loc[keep] if dropped else df
        user_ids, user_rows = IdMap.from_values(
            kept[user_col].to_numpy(), name="user", order="sorted"
        )
        item_ids, item_rows = IdMap.from_values(
            kept[item_col].to_numpy(), name="item", order="sorted"
        )
        w = weights32[keep]
        t = times_s[keep] if times_s is not None else None

        matrix, pair_times = aggregate_pairs(
            user_rows, item_rows, w, t, (len(user_ids), len(item_ids))
        )

        basket_matrix = basket_ids = basket_users = basket_times = None
        if basket_col is not None:
            require_no_missing(kept, basket_col, "interactions")
            basket_ids, basket_rows = IdMap.from_values(
                kept[basket_col].to_numpy(), name="basket", order="sorted"
            )
            owners = pd.DataFrame({"b": basket_rows, "u": user_rows}).drop_duplicates()
            multi = owners["b"].duplicated(keep=False).to_numpy()
            if multi.any():
                bad = basket_ids.to_external(pd.unique(owners["b"].to_numpy()[multi])[:10])
                raise ValueError(
                    f"interactions column {basket_col!r}: basket(s) {bad.tolist()} "
                    "belong to more than one user"
                )
            basket_users = np.empty(len(basket_ids), dtype=np.int32)
            basket_users[owners["b"].to_numpy()] = owners["u"].to_numpy()
            basket_matrix, _ = aggregate_pairs(
                basket_rows, item_rows, w, None, (len(basket_ids), len(item_ids))
            )
            if t is not None:
                basket_times = np.full(len(basket_ids), np.inf)
                np.minimum.at(basket_times, basket_rows, t)

        user_attributes = None
        if attr_cols:
            order = (
                np.argsort(times_s[keep], kind="stable")
                if times_s is not None
                else np.arange(len(kept))
            )
            latest = (
                kept.iloc[order]
                .assign(_row=user_rows[order])
                .groupby("_row", sort=True)[attr_cols]
                .last()
            )
            user_attributes = latest.set_axis(
                pd.Index(user_ids.external_ids, name=user_col), axis=0
            )

        return cls(
            matrix=matrix,
            user_ids=user_ids,
            item_ids=item_ids,
            times=pair_times,
            basket_matrix=basket_matrix,
            basket_ids=basket_ids,
            basket_users=basket_users,
            basket_times=basket_times,
            user_attributes=user_attributes,
            reference_time=ref,
            weight_col=weight_col,
        )

    @classmethod
    def from_csr(
        cls,
        matrix: sp.spmatrix | sp.sparray,
        user_ids: ExternalIds | None = None,
        item_ids: ExternalIds | None = None,
    ) -> Interactions:
        """Wrap an existing users × items sparse matrix (IDs default to 0..n-1).

        Parameters
        ----------
        matrix : scipy.sparse matrix or array, shape (n_users, n_items)
            Non-negative, finite weights; duplicates are summed, zeros dropped.
        user_ids, item_ids : list-like, optional
            The external IDs of the rows and columns (distinct, in order);
            default ``0..n-1``.

        Returns
        -------
        Interactions

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> Interactions.from_csr(sp.csr_matrix([[1, 0], [0, 2]])).shape
        (2, 2)
        """
        if not sp.issparse(matrix):
            raise TypeError(f"matrix must be a scipy sparse matrix, got {type(matrix).__name__}")
        if not (
            np.issubdtype(matrix.dtype, np.integer)
            or np.issubdtype(matrix.dtype, np.floating)
            or matrix.dtype == np.bool_
        ):
            raise TypeError(f"matrix weights must be real numbers, got dtype {matrix.dtype}")
        csr = sp.csr_matrix(matrix, dtype=np.float32)
        if csr.shape[0] == 0 or csr.shape[1] == 0:
            raise ValueError(f"matrix is empty (shape {csr.shape})")
        csr.sum_duplicates()
        csr.sort_indices()
        if not np.isfinite(csr.data).all():
            raise ValueError("matrix has NaN or infinite weights")
        if (csr.data < 0).any():
            raise ValueError("matrix has negative weights")
        csr.eliminate_zeros()
        users = IdMap(np.arange(csr.shape[0]) if user_ids is None else user_ids, name="user")
        items = IdMap(np.arange(csr.shape[1]) if item_ids is None else item_ids, name="item")
        return cls(matrix=csr, user_ids=users, item_ids=items)

    # ------------------------------------------------------------------ views
    @property
    def shape(self) -> tuple[int, int]:
        """(number of users, number of items)."""
        return self.matrix.shape

    @property
    def n_users(self) -> int:
        """Number of users (rows of ``matrix``)."""
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        """Number of items (columns of ``matrix``)."""
        return self.matrix.shape[1]

    @property
    def nnz(self) -> int:
        """Number of distinct user-item pairs."""
        return int(self.matrix.nnz)

    @property
    def transactions(self) -> sp.csr_matrix:
        """The rows item co-occurrence is counted over: baskets if given, else users."""
        return self.basket_matrix if self.basket_matrix is not None else self.matrix

    def __repr__(self) -> str:
        baskets = f", {len(self.basket_ids)} baskets" if self.basket_ids is not None else ""
        return (
            f"Interactions({self.n_users} users x {self.n_items} items, {self.nnz} pairs{baskets})"
        )

    def to_pandas(self) -> pd.DataFrame:
        """Return the aggregated pairs as a DataFrame ``user, item, weight`` (external IDs).

        Returns
        -------
        pandas.DataFrame
            One row per stored (user, item) pair, duplicates summed.

        Examples
        --------
        >>> log = pd.DataFrame({"user": ["u1", "u1", "u2"], "item": ["a", "a", "b"]})
        >>> Interactions.from_pandas(log, user_col="user", item_col="item").to_pandas()
          user item  weight
        0   u1    a     2.0
        1   u2    b     1.0
        """
        coo = self.matrix.tocoo()
        return pd.DataFrame(
            {
                "user": self.user_ids.to_external(coo.row),
                "item": self.item_ids.to_external(coo.col),
                "weight": coo.data.astype(np.float64),
            }
        )


def aggregate_pairs(
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    times: np.ndarray | None,
    shape: tuple[int, int],
) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """Sum duplicate (row, col) pairs into a sorted CSR; keep each pair's latest time.

    Parameters
    ----------
    rows, cols : ndarray of int
        Row and column of every entry, within ``shape``.
    weights : ndarray of float
        Weight of every entry; duplicates are summed in float64.
    times : ndarray of datetime64, optional
        Time of every entry; a pair keeps its latest.
    shape : tuple of int
        ``(n_rows, n_cols)`` of the result.

    Returns
    -------
    matrix : scipy.sparse.csr_matrix of float32
        Canonical: sorted indices, no duplicates.
    pair_times : ndarray or None
        The latest time of every stored entry, in the matrix's order.

    Examples
    --------
    >>> import numpy as np
    >>> m, _ = aggregate_pairs(np.array([0, 0, 1]), np.array([1, 1, 0]),
    ...                        np.array([1.0, 2.0, 5.0]), None, (2, 2))
    >>> m.toarray().tolist()
    [[0.0, 3.0], [5.0, 0.0]]
    """
    key = rows.astype(np.int64) * shape[1] + cols
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    new_pair = np.r_[True, key_sorted[1:] != key_sorted[:-1]]
    starts = np.flatnonzero(new_pair)
    if starts.size < key.size:
        # the entries of a repeated pair are summed by weight, not by row order, so that the
        # same events in any order give bit-identical sums
        repeated = ~(new_pair & np.r_[new_pair[1:], True])
        sub = order[repeated]
        order[repeated] = sub[np.lexsort((weights[sub], key[sub]))]
    summed = np.add.reduceat(weights[order].astype(np.float64), starts)
    unique_keys = key_sorted[starts]
    r = (unique_keys // shape[1]).astype(np.int64)
    c = (unique_keys % shape[1]).astype(np.int32)
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.add.at(indptr, r + 1, 1)
    np.cumsum(indptr, out=indptr)
    with np.errstate(over="ignore"):
        summed32 = summed.astype(np.float32)
    if not np.isfinite(summed32).all():
        raise ValueError("interactions: a summed user-item weight exceeds the float32 range")
    matrix = sp.csr_matrix((summed32, c, indptr), shape=shape)
    matrix.has_sorted_indices = True
    pair_times = np.maximum.reduceat(times[order], starts) if times is not None else None
    return matrix, pair_times


def as_interactions(data: Any) -> Interactions:
    """Accept :class:`Interactions` or a scipy sparse users × items matrix.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> as_interactions(sp.csr_matrix([[1.0]])).shape
    (1, 1)
    """
    if isinstance(data, Interactions):
        return data
    if sp.issparse(data):
        return Interactions.from_csr(data)
    if isinstance(data, pd.DataFrame):
        raise TypeError(
            "fit() takes recsys.Interactions, not a DataFrame: build one with "
            "Interactions.from_pandas(df, user_col=..., item_col=...)"
        )
    raise TypeError(
        f"expected recsys.Interactions or a scipy sparse matrix, got {type(data).__name__}"
    )
