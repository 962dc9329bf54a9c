"""Repeat purchases: how likely a customer is to buy an item they bought before, again.

Any model fitted on baskets (orders, invoices) can carry this second piece of
evidence next to its own scores: :class:`~recsys.models.ease.EASE` and
:class:`~recsys.ALS` learn it at fit time (``repeat_purchases_``), and
:func:`~recsys.recommend_cross_sell` combines it with the model's basket
scores (see :mod:`recsys.selling.cross_sell`).  The default
:class:`~recsys.ItemItem` has the same probability built into its basket
probabilities (``repeat_prior_``); both use the counting code of
:mod:`recsys.models.basket_probability`.

The probability
---------------
A customer who put item ``j`` in ``h`` of their ``n`` past orders buys it in
their next order with probability

    ``r_j = (h + a p_j) / (n + a)``

— the share of their orders holding ``j``, shrunk towards ``p_j``, the share
of all orders holding it, with the strength ``a`` of a Beta prior (a customer
with few orders is mostly the average customer).  Items nobody re-buys
(durables, :func:`~recsys.models.basket_probability.durable_items`) get no
repeat probability.

How ``a`` is chosen
-------------------
On the model's own training data, as ItemItem's repeat prior: the newest
:data:`~recsys.models.basket_probability.VALIDATION_SHARE` of the baskets (by
time when the interactions have times, else in the order of the basket IDs)
are held out; the counts come from the others.  For every held-out basket of
a customer with earlier orders, every item they bought before (durables
excepted) is an outcome: bought again in that basket or not.  ``a`` is the
value of :data:`~recsys.models.basket_probability.PRIOR_GRID` with the
largest mean Bernoulli log-likelihood of those outcomes (ties: the larger
``a``) — the probabilities are *calibrated*, which is what lets a caller put
them on one scale with another probability.  When the best value is the
grid's largest (the probability is then the item's share of orders, whoever
the customer: their history adds nothing), or fewer than
:data:`~recsys.models.basket_probability.MIN_VALIDATION_BASKETS` held-out
baskets have returning customers, there is no repeat term (``None``).

One scale with the model's basket scores
----------------------------------------
Cross-sell adds the repeat probability to a basket score ``s_j`` of the model
(:func:`combine`: the noisy-or of ``r_j`` and ``c s_j`` on the probability
scale).  EASE's score of a 0/1 basket row is the ridge estimate of
``P(j | basket)`` and ALS's predicted preference estimates the same 0/1
target, but a strong ridge shrinks them (EASE on Groceries chooses λ in the
thousands, and its scores are a hundredth of a probability).  So ``c`` is
chosen with ``a``, on the same held-out baskets (:func:`calibrate_scale`): a
copy of the model with its hyper-parameters fixed (ALS's resolved ``alpha_``
and ``regularization_``; EASE's chosen λ when ``l2="auto"``) is fitted on the
earlier baskets, one item of each held-out basket of a returning customer is
hidden, and the value of :data:`SCALE_GRID` whose combined ranking finds the
most hidden items in the top 10 wins (ties: the closest to 1).  (An EASE with
a fixed λ scores the held-out baskets itself instead of fitting twice; see
``EASE._refit_scorer``.  An EASE with ``l2="auto"`` on baskets chooses ``c``
together with λ instead, on its own held-out baskets scored as cross-sell
serves them: :func:`served_cells`, :func:`repeat_statistics` and the module
docstring of :mod:`recsys.models.ease`.)

On Online Retail (invoices before 2011-10-01) the chosen ``a`` is 10: also
the value of the grid whose probabilities, combined with EASE's basket scores,
ranked the hidden items of the held-out invoices best (HR@10 0.387 at λ = 25,
against 0.378 for ``a = 3`` and 0.385 for ``a = 30``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.sparse import row_positions
from recsys.data.interactions import Interactions
from recsys.io import codec
from recsys.models.basket_probability import (
    MIN_VALIDATION_BASKETS,
    PRIOR_GRID,
    VALIDATION_SHARE,
    _repeat_entries,
    user_basket_counts,
    without_durables,
)

__all__ = [
    "SCALE_GRID",
    "RepeatPurchases",
    "calibrate_scale",
    "combine",
    "fit_repeat_purchases",
    "load_repeat_purchases",
    "repeat_log_likelihood",
    "repeat_statistics",
    "save_repeat_purchases",
    "served_cells",
]

#: Probabilities are clipped to ``[EPS, 1 - EPS]`` in the log-likelihood.
_EPS = 1e-6


@dataclass(frozen=True, eq=False)
class RepeatPurchases:
    """A customer's probability of buying again what they bought before (learned at fit time).

    Built by :func:`fit_repeat_purchases`; models keep it as ``repeat_purchases_``.

    Attributes
    ----------
    counts : scipy.sparse.csr_matrix
        Users × items: in how many of the user's orders each item was
        (float32; durables' columns empty).
    orders : numpy.ndarray of int64
        Orders per user.
    share : numpy.ndarray of float64
        Per item, the share of all training orders holding it (``p_j``).
    durable : numpy.ndarray of bool
        The items nobody re-buys: never a repeat.
    prior : float
        ``a``, chosen on held-out orders (module docstring).
    calibration : pandas.DataFrame or None
        Every ``a`` tried (``repeat_prior``) and its held-out
        ``log_likelihood``, then every ``scale`` tried and its held-out
        ``hit_rate@10`` (``None`` for a loaded model).
    scale : float
        What the model's basket scores are multiplied by to be read as
        probabilities next to the repeat probability (module docstring).

    Examples
    --------
    >>> counts = sp.csr_matrix(np.array([[2.0, 0.0]], dtype=np.float32))
    >>> rp = RepeatPurchases(counts, np.array([4]), np.array([0.5, 0.25]),
    ...                      np.zeros(2, bool), prior=2.0)
    >>> p, bought, orders = rp.probability([0], [0])
    >>> round(float(p[0]), 4), bought.tolist(), orders.tolist()  # (2 + 2 x 0.5) / (4 + 2)
    (0.5, [2.0], [4])
    """

    counts: sp.csr_matrix
    orders: np.ndarray
    share: np.ndarray
    durable: np.ndarray
    prior: float
    calibration: pd.DataFrame | None = None
    scale: float = 1.0

    @property
    def n_users(self) -> int:
        """Users the counts cover (rows of the model's ``user_ids_`` at fit time)."""
        return int(self.counts.shape[0])

    def resized(self, n_users: int, n_items: int) -> RepeatPurchases:
        """Return the same statistics over more users and items (added after the fit: none).

        A model updated by ``partial_fit`` knows users and items its repeat
        counts never saw: they get no orders, a share of 0 and no repeat
        probability (until the next ``fit``).

        Examples
        --------
        >>> rp = RepeatPurchases(sp.csr_matrix(np.ones((1, 1), np.float32)), np.array([2]),
        ...                      np.array([0.5]), np.zeros(1, bool), 1.0)
        >>> bigger = rp.resized(2, 3)
        >>> bigger.counts.shape, bigger.orders.tolist(), bigger.share.tolist()
        ((2, 3), [2, 0], [0.5, 0.0, 0.0])
        """
        old_users, old_items = self.counts.shape
        if n_users < old_users or n_items < old_items:
            raise ValueError(
                f"cannot shrink repeat purchases of {old_users} users x {old_items} items "
                f"to {n_users} x {n_items}"
            )
        if (n_users, n_items) == (old_users, old_items):
            return self
        counts = self.counts.copy()
        counts.resize((n_users, n_items))
        grow = n_items - old_items
        return RepeatPurchases(
            counts,
            np.concatenate([self.orders, np.zeros(n_users - old_users, dtype=np.int64)]),
            np.concatenate([self.share, np.zeros(grow)]),
            np.concatenate([self.durable, np.zeros(grow, dtype=bool)]),
            self.prior,
            self.calibration,
            self.scale,
        )

    def known(self, user_rows: np.ndarray) -> np.ndarray:
        """Return ``user_rows`` with ``-1`` for the users the counts do not cover.

        (A model updated by ``partial_fit`` may know users its repeat counts
        never saw.)

        Examples
        --------
        >>> rp = RepeatPurchases(sp.csr_matrix((2, 1), dtype=np.float32), np.zeros(2, np.int64),
        ...                      np.zeros(1), np.zeros(1, bool), 1.0)
        >>> rp.known(np.array([1, 2, -1])).tolist()
        [1, -1, -1]
        """
        rows = np.asarray(user_rows, dtype=np.int64)
        return np.where((rows >= 0) & (rows < self.n_users), rows, -1)

    def entries(
        self, user_rows: np.ndarray, scale: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return the repeat probability of every item each user bought before.

        Parameters
        ----------
        user_rows : numpy.ndarray of int
            One per query; ``-1`` (or a row the counts do not cover): none.
        scale : float
            Multiplies the probabilities (the selling APIs' ``user_weight``).

        Returns
        -------
        query, item : numpy.ndarray
            The query (position in ``user_rows``) and item row of every entry.
        probability : numpy.ndarray of float64
            ``scale * (h + a p_j) / (n + a)``.
        bought : numpy.ndarray
            ``h``: the user's orders holding the item.

        Examples
        --------
        >>> counts = sp.csr_matrix(np.array([[2.0, 0.0], [0.0, 1.0]], dtype=np.float32))
        >>> rp = RepeatPurchases(counts, np.array([4, 1]), np.array([0.5, 0.25]),
        ...                      np.zeros(2, bool), prior=2.0)
        >>> q, item, p, h = rp.entries(np.array([-1, 0, 1]))
        >>> q.tolist(), item.tolist(), p.round(3).tolist(), h.tolist()
        ([1, 2], [0, 1], [0.5, 0.5], [2.0, 1.0])
        """
        rows = self.known(user_rows)
        q, items, probability = _repeat_entries(
            rows, self.counts, self.orders, self.share, float(self.prior), float(scale)
        )
        bought = self.counts.data[row_positions(self.counts.indptr, rows)[1]]
        return q, items, probability, bought

    def probability(
        self, user_rows: Any, item_rows: Any, scale: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the repeat probability of (user, item) pairs, with the counts behind it.

        Parameters
        ----------
        user_rows, item_rows : array-like of int, shape (n_pairs,)
            Rows of the model's users (``-1``: unknown, probability 0) and items.
        scale : float

        Returns
        -------
        probability : numpy.ndarray of float64
            0 for items the user never bought (and durables).
        bought, orders : numpy.ndarray
            The user's orders holding the item, and all their orders.

        Examples
        --------
        >>> counts = sp.csr_matrix(np.array([[2.0, 0.0]], dtype=np.float32))
        >>> rp = RepeatPurchases(counts, np.array([4]), np.array([0.5, 0.25]),
        ...                      np.zeros(2, bool), prior=2.0)
        >>> [a.tolist() for a in rp.probability([0, 0], [0, 1])]
        [[0.5, 0.0], [2.0, 0.0], [4, 4]]
        """
        users = self.known(np.asarray(user_rows, dtype=np.int64).ravel())
        items = np.asarray(item_rows, dtype=np.int64).ravel()
        if users.shape != items.shape:
            raise ValueError(
                f"user_rows and item_rows must pair up, got {users.size} and {items.size} rows"
            )
        q, owned, p, h = self.entries(users, scale)
        out_p = np.zeros(users.size)
        out_h = np.zeros(users.size, dtype=self.counts.dtype)
        if q.size:
            n_items = max(int(self.counts.shape[1]), 1)
            key = q.astype(np.int64) * n_items + owned
            wanted = np.arange(users.size, dtype=np.int64) * n_items + items
            pos = np.minimum(np.searchsorted(key, wanted), key.size - 1)
            hit = key[pos] == wanted
            out_p[hit], out_h[hit] = p[pos[hit]], h[pos[hit]]
        orders = np.where(users >= 0, self.orders[np.maximum(users, 0)], 0)
        return out_p, out_h, orders


def repeat_log_likelihood(
    counts: sp.csr_matrix,
    orders: np.ndarray,
    share: np.ndarray,
    held: sp.csr_matrix,
    held_users: np.ndarray,
    priors: tuple[float, ...],
) -> tuple[np.ndarray, int, int]:
    """Return the mean held-out log-likelihood of the repeat probability for every prior.

    Every held-out basket of a customer with earlier orders contributes one
    outcome per item in ``counts``' row of that customer: the item is in the
    basket (bought again) or not.

    Parameters
    ----------
    counts, orders, share
        The statistics of the earlier baskets (as in :class:`RepeatPurchases`).
    held : scipy.sparse.csr_matrix
        Held-out baskets × items.
    held_users : numpy.ndarray
        The customer (row of ``counts``) of every held-out basket.
    priors : tuple of float
        The values of ``a`` tried.

    Returns
    -------
    log_likelihood : numpy.ndarray, shape (len(priors),)
        Mean over the outcomes (``nan`` without outcomes).
    baskets, outcomes : int
        Held-out baskets with a returning customer, and outcomes.

    Examples
    --------
    >>> counts = sp.csr_matrix(np.array([[1.0, 1.0]], dtype=np.float32))
    >>> held = sp.csr_matrix(np.array([[1.0, 0.0]], dtype=np.float32))
    >>> ll, baskets, outcomes = repeat_log_likelihood(
    ...     counts, np.array([2]), np.array([0.5, 0.5]), held, np.array([0]), (1.0, 100.0))
    >>> (baskets, outcomes), bool(ll[0] == ll[1])  # p = 0.5 for both items, whatever a
    ((1, 2), True)
    """
    entry_q, items, _ = _repeat_entries(
        held_users.astype(np.int64), counts, orders, share, 1.0, 1.0
    )
    if entry_q.size == 0:
        return np.full(len(priors), np.nan), 0, 0
    h = counts.data[row_positions(counts.indptr, held_users.astype(np.int64))[1]].astype(np.float64)
    n = orders[held_users[entry_q]].astype(np.float64)
    held = held.tocsr()
    held.sort_indices()
    n_items = max(int(held.shape[1]), 1)
    present = np.repeat(np.arange(held.shape[0], dtype=np.int64), np.diff(held.indptr))
    present = present * n_items + held.indices
    bought = np.isin(entry_q.astype(np.int64) * n_items + items, present)
    p_share = share[items]
    out = np.empty(len(priors))
    for k, a in enumerate(priors):
        p = np.clip((h + a * p_share) / (n + a), _EPS, 1.0 - _EPS)
        out[k] = float(np.mean(np.where(bought, np.log(p), np.log1p(-p))))
    return out, int(np.unique(entry_q).size), int(entry_q.size)


def _statistics(
    baskets: sp.csr_matrix, users: np.ndarray, n_users: int
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Return the counts (durables removed), orders per user, item shares and durable mask."""
    counts, orders = user_basket_counts(baskets, users, n_users)
    counts, durable = without_durables(counts, orders)
    support = np.bincount(baskets.indices, minlength=baskets.shape[1]).astype(np.float64)
    return counts, orders, support / max(baskets.shape[0], 1), durable


def combine(basket: np.ndarray, repeat: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Return the cross-sell score of items with a basket score and a repeat probability.

    ``(c s + r (1 - min(c s, 1))) / c`` with ``s`` the basket score clipped at 0
    and ``c`` the :attr:`RepeatPurchases.scale`: on the probability scale
    (``c s``), the noisy-or ``1 - (1 - c s)(1 - r)`` of two independent
    reasons to buy, divided by ``c`` again so that items without a repeat
    probability keep their basket score exactly.  Never below ``s``.

    Examples
    --------
    >>> combine(np.array([0.2, -1.0, 2.0]), np.array([0.5, 0.5, 0.5])).round(3).tolist()
    [0.6, 0.5, 2.0]
    >>> combine(np.array([0.02]), np.array([0.5]), scale=10.0).round(3).tolist()  # 0.2 x 10
    [0.06]
    """
    s = np.maximum(basket, 0.0) * scale
    return (s + repeat * (1.0 - np.minimum(s, 1.0))) / scale


def _finite_positive(value: object) -> bool:
    """Tell whether ``value`` is a real number (not a bool), finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return bool(np.isfinite(float(value)) and float(value) > 0)


def served_cells(
    repeats: RepeatPurchases,
    user_rows: np.ndarray,
    owned: sp.csr_matrix,
    excluded: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the repeat entries cross-sell combines for some queries; mark owned durables.

    What the dense cross-sell path does for a known customer with the default
    rules: every item they bought before (durables excepted) gets its repeat
    probability, unless the query excludes it; an owned durable never comes
    back.  Used to validate the model's served score at fit time (the repeat
    term's scale, and EASE's λ).

    Parameters
    ----------
    repeats : RepeatPurchases
    user_rows : numpy.ndarray of int
        The customer of each query (row of ``repeats``; ``-1``: none).
    owned : scipy.sparse.csr_matrix
        Users × items, what each customer bought before (durables included).
    excluded : numpy.ndarray of bool, shape (queries, items)
        The items each query leaves out (its basket's); the customers' owned
        durables are set ``True`` in place.

    Returns
    -------
    query, item : numpy.ndarray
        The entries that are not excluded.
    probability : numpy.ndarray of float64

    Examples
    --------
    >>> counts = sp.csr_matrix(np.array([[2.0, 0.0, 1.0]], dtype=np.float32))
    >>> rp = RepeatPurchases(counts, np.array([4]), np.array([0.5, 0.5, 0.25]),
    ...                      np.array([False, True, False]), prior=2.0)
    >>> owned = sp.csr_matrix(np.array([[2.0, 1.0, 1.0]], dtype=np.float32))
    >>> excluded = np.array([[False, False, True]])  # item 2 is in the basket
    >>> q, item, p = served_cells(rp, np.array([0]), owned, excluded)
    >>> item.tolist(), p.round(3).tolist(), excluded.tolist()  # item 1: an owned durable
    ([0], [0.5], [[False, True, True]])
    """
    users = np.asarray(user_rows, dtype=np.int64).ravel()
    want = (users.size, repeats.counts.shape[1])
    if excluded.shape != want or excluded.dtype != bool:
        raise ValueError(
            f"excluded must be a bool array of queries x items, {want}, "
            f"got {excluded.dtype} {excluded.shape}"
        )
    if owned.shape != repeats.counts.shape:
        raise ValueError(
            f"owned must be users x items like the repeat counts, {repeats.counts.shape}, "
            f"got {owned.shape}"
        )
    q, items, p, _ = repeats.entries(users)
    known = repeats.known(users)
    o_ip, o_take = row_positions(owned.indptr, np.where(known < owned.shape[0], known, -1))
    o_q = np.repeat(np.arange(users.size), np.diff(o_ip))
    o_items = owned.indices[o_take]
    durable = repeats.durable[o_items]
    excluded[o_q[durable], o_items[durable]] = True
    live = ~excluded[q, items]
    return q[live], items[live], p[live]


def repeat_statistics(
    baskets: sp.csr_matrix,
    users: np.ndarray,
    n_users: int,
    prior: float,
    scale: float = 1.0,
) -> tuple[RepeatPurchases, sp.csr_matrix]:
    """Return the repeat probabilities of some baskets' customers at a given prior.

    The statistics :func:`fit_repeat_purchases` learns (counts without the
    durables, orders per customer, item shares, the durable mask), here from
    the baskets given, with ``a = prior`` and the scale given: what a model
    validates its served score with on baskets held out after these.

    Parameters
    ----------
    baskets : scipy.sparse.csr_matrix
        Baskets × items.
    users : numpy.ndarray of int
        The customer (row) of every basket.
    n_users : int
    prior, scale : float
        ``a`` and :attr:`RepeatPurchases.scale`.

    Returns
    -------
    repeats : RepeatPurchases
    owned : scipy.sparse.csr_matrix
        Users × items: in how many baskets each customer had each item,
        durables included (for :func:`served_cells`).

    Examples
    --------
    >>> b = sp.csr_matrix(np.array([[1, 1], [1, 0], [0, 1]], dtype=np.float32))
    >>> rp, owned = repeat_statistics(b, np.array([0, 0, 1]), 2, prior=1.0)
    >>> rp.orders.tolist(), rp.share.round(3).tolist(), owned.toarray().tolist()
    ([2, 1], [0.667, 0.667], [[2.0, 1.0], [0.0, 1.0]])
    """
    baskets = sp.csr_matrix(baskets)
    users = np.asarray(users).ravel()
    if users.shape != (baskets.shape[0],) or users.dtype.kind not in "iu":
        raise ValueError(
            f"users must hold one int row per basket ({baskets.shape[0]}), got "
            f"{users.dtype} {users.shape}"
        )
    if users.size and (users.min() < 0 or users.max() >= n_users):
        raise ValueError(
            f"users must be rows in [0, n_users={n_users}), got {users.min()}..{users.max()}"
        )
    if not _finite_positive(prior) or not _finite_positive(scale):
        raise ValueError(f"prior and scale must be finite numbers > 0, got {prior!r} and {scale!r}")
    baskets.sum_duplicates()
    owned, _ = user_basket_counts(baskets, users, n_users)
    counts, orders, share, durable = _statistics(baskets, users, n_users)
    return RepeatPurchases(counts, orders, share, durable, float(prior), None, float(scale)), owned


#: Scales tried for the model's basket scores: a power-of-two grid around 1.
SCALE_GRID: tuple[float, ...] = tuple(float(2.0**k) for k in range(-3, 11))
#: Held-out baskets (of returning customers, with two items or more) used to choose the scale.
MAX_SCALE_QUERIES = 500
#: The list length of the hit rate.
_K = 10
#: Score cells (queries x items) per block.
_BLOCK_CELLS = 1 << 22


def calibrate_scale(
    score_histories: Callable[[sp.csr_matrix], np.ndarray],
    held: sp.csr_matrix,
    held_users: np.ndarray,
    repeats: RepeatPurchases,
    owned: sp.csr_matrix,
    random_state: int = 0,
) -> tuple[float, pd.DataFrame] | None:
    """Choose the scale of a model's basket scores next to the repeat probability.

    One item, drawn at random, is hidden from each held-out basket (of a
    customer with earlier orders, with two items or more; at most
    :data:`MAX_SCALE_QUERIES`); the rest is scored by ``score_histories``; the
    customer's repeat probabilities come from ``repeats`` (the earlier
    baskets' statistics).  Every scale of :data:`SCALE_GRID` ranks the items
    by :func:`combine` (the visible items and the customer's owned durables
    left out, as cross-sell does), and the one with the largest hit rate at
    10 wins (ties: the closest to 1).

    Parameters
    ----------
    score_histories : callable
        baskets × items CSR -> dense scores of every item: the model's scoring
        hook, of a model fitted without the held-out baskets.
    held : scipy.sparse.csr_matrix
        Held-out baskets × items.
    held_users : numpy.ndarray
        Their customers (rows of ``repeats``).
    repeats : RepeatPurchases
        Fitted on the baskets before the held-out ones.
    owned : scipy.sparse.csr_matrix
        Users × items, what each customer bought before (for the durables).
    random_state : int

    Returns
    -------
    (scale, table) or None
        ``None`` with fewer than ``MIN_VALIDATION_BASKETS`` usable baskets.
    """
    held = held.tocsr()
    held.sort_indices()
    sizes = np.diff(held.indptr)
    usable = np.flatnonzero((sizes >= 2) & (repeats.orders[held_users] > 0))
    if usable.size < MIN_VALIDATION_BASKETS:
        return None
    rng = np.random.default_rng(random_state)
    if usable.size > MAX_SCALE_QUERIES:
        usable = np.sort(rng.choice(usable, size=MAX_SCALE_QUERIES, replace=False))
    pick = held.indptr[usable] + rng.integers(0, sizes[usable])
    hidden = held.indices[pick]
    keep = np.ones(held.nnz, dtype=bool)
    keep[pick] = False
    rows = np.repeat(np.arange(held.shape[0]), sizes)
    mask = keep & np.isin(rows, usable)
    remap = np.full(held.shape[0], -1, dtype=np.int64)
    remap[usable] = np.arange(usable.size)
    visible = sp.csr_matrix(
        (np.ones(int(mask.sum()), np.float32), (remap[rows[mask]], held.indices[mask])),
        shape=(usable.size, held.shape[1]),
    )
    users = held_users[usable].astype(np.int64)
    n_items = held.shape[1]
    hits = np.zeros((len(SCALE_GRID), usable.size))
    step = max(1, _BLOCK_CELLS // max(n_items, 1))
    for a in range(0, usable.size, step):
        b = min(a + step, usable.size)
        scores = np.asarray(score_histories(visible[a:b]), dtype=np.float32)
        excluded = visible[a:b].toarray() > 0
        q, items, p = served_cells(repeats, users[a:b], owned, excluded)
        basket = scores[q, items].astype(np.float64)
        scores[excluded] = -np.inf
        target = hidden[a:b]
        before_target = np.arange(n_items)[None, :] < target[:, None]
        for g, c in enumerate(SCALE_GRID):
            scores[q, items] = combine(basket, p, c)  # the same cells every time: no copy
            hidden_score = scores[np.arange(b - a), target]
            # rank of the hidden item: items scored higher, then equal ones with a smaller row
            ahead = (scores > hidden_score[:, None]) | (
                (scores == hidden_score[:, None]) & before_target
            )
            hits[g, a:b] = (ahead.sum(axis=1) < _K) & np.isfinite(hidden_score)
    rates = hits.mean(axis=1)
    distance = np.abs(np.log2(np.asarray(SCALE_GRID)))
    best = int(np.lexsort((distance, -rates))[0])
    table = pd.DataFrame({"scale": SCALE_GRID, "hit_rate@10": rates})
    table["chosen"] = np.arange(len(SCALE_GRID)) == best
    return SCALE_GRID[best], table


def fit_repeat_purchases(
    data: Interactions,
    refit: Callable[[sp.csr_matrix, sp.csr_matrix], Callable[[sp.csr_matrix], np.ndarray]]
    | None = None,
    random_state: int = 0,
) -> RepeatPurchases | None:
    """Learn the repeat-purchase probabilities of ``data``'s customers (module docstring).

    Parameters
    ----------
    data : Interactions
        With baskets (``basket_col``); their times, when present, order the
        held-out split.
    refit : callable, optional
        ``refit(baskets, user_items)`` fits the model again (its
        hyper-parameters fixed) on the baskets before the held-out ones
        (baskets × items, and the users × items counts of the same baskets)
        and returns its basket scores (baskets × items CSR -> dense scores of
        every item): the scale of those scores next to the repeat
        probability is then chosen on the held-out baskets
        (:func:`calibrate_scale`) — about one more fit on 5/6 of the data.
        Without it the scale is 1.
    random_state : int
        Seed of the hidden items of the scale's calibration.

    Returns
    -------
    RepeatPurchases or None
        ``None`` without baskets, or when the held-out baskets do not show
        that a customer's history tells more than the item's popularity.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> rng = np.random.default_rng(0)
    >>> rows = [(o, f"c{o % 30}", f"i{(o % 30 + k) % 12 if k < 2 else rng.integers(40)}")
    ...         for o in range(600) for k in range(3)]
    >>> log = pd.DataFrame(rows, columns=["order", "customer", "item"])
    >>> data = recsys.Interactions.from_pandas(log, user_col="customer", item_col="item",
    ...                                        basket_col="order")
    >>> rp = fit_repeat_purchases(data)
    >>> rp.prior, rp.scale, rp.calibration["repeat_prior"].size
    (1.0, 1.0, 9)
    """
    if data.basket_matrix is None or data.basket_users is None:
        return None
    baskets = sp.csr_matrix(data.basket_matrix)
    baskets.sum_duplicates()
    users = np.asarray(data.basket_users)
    n_b = baskets.shape[0]
    order = (
        np.argsort(data.basket_times, kind="stable")
        if data.basket_times is not None
        else np.arange(n_b)
    )
    n_val = int(n_b * VALIDATION_SHARE)
    if n_val < MIN_VALIDATION_BASKETS:
        return None
    held, kept = np.sort(order[n_b - n_val :]), np.sort(order[: n_b - n_val])
    counts, orders, share, durable = _statistics(baskets[kept], users[kept], data.n_users)
    priors = tuple(float(a) for a in PRIOR_GRID)
    ll, returning, _ = repeat_log_likelihood(
        counts, orders, share, baskets[held], users[held], priors
    )
    if returning < MIN_VALIDATION_BASKETS:
        return None
    best = int(np.flatnonzero(ll == np.nanmax(ll))[-1])  # ties: the stronger prior
    if best == len(priors) - 1:  # only the popularity limit: the history adds nothing
        return None
    table = pd.DataFrame({"repeat_prior": priors, "log_likelihood": ll})
    table["chosen"] = np.arange(len(priors)) == best
    scale = 1.0
    if refit is not None:
        earlier = RepeatPurchases(counts, orders, share, durable, priors[best])
        owned, _ = user_basket_counts(baskets[kept], users[kept], data.n_users)
        score_histories = refit(baskets[kept], owned)
        found = calibrate_scale(
            score_histories, baskets[held], users[held], earlier, owned, random_state
        )
        if found is not None:
            scale, scales = found
            table = pd.concat([table, scales], ignore_index=True)
    counts, orders, share, durable = _statistics(baskets, users, data.n_users)
    return RepeatPurchases(counts, orders, share, durable, priors[best], table, scale)


def save_repeat_purchases(
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
    repeats: RepeatPurchases | None,
    shape: tuple[int, int] | None = None,
) -> None:
    """Write ``repeats`` into a model's saved state (:mod:`recsys.io.codec`); ``None`` writes none.

    ``shape`` (the model's users × items, when ``partial_fit`` added some
    since the fit) resizes the statistics first (:meth:`RepeatPurchases.resized`).

    Examples
    --------
    >>> meta, arrays = {}, {}
    >>> counts = sp.csr_matrix(np.array([[1.0]], dtype=np.float32))
    >>> rp = RepeatPurchases(counts, np.array([2]), np.array([0.5]), np.zeros(1, bool), 3.0)
    >>> save_repeat_purchases(meta, arrays, rp)
    >>> load_repeat_purchases(meta, arrays, 1, 1).prior
    3.0
    """
    if repeats is None:
        return
    if shape is not None:
        repeats = repeats.resized(*shape)
    meta["repeat_purchases"] = {"prior": float(repeats.prior), "scale": float(repeats.scale)}
    codec.put_csr(arrays, "repeat_purchases.counts", repeats.counts)
    arrays["repeat_purchases.orders"] = np.asarray(repeats.orders, dtype=np.int64)
    arrays["repeat_purchases.share"] = np.asarray(repeats.share, dtype=np.float64)
    arrays["repeat_purchases.durable"] = np.asarray(repeats.durable, dtype=bool)


def load_repeat_purchases(
    meta: dict[str, Any], arrays: dict[str, np.ndarray], n_users: int, n_items: int
) -> RepeatPurchases | None:
    """Read what :func:`save_repeat_purchases` wrote, checked; ``None`` when the file has none.

    Files written before models learned repeat purchases have none: they
    load, and serve as they did (no repeat term).

    Examples
    --------
    >>> load_repeat_purchases({}, {}, 3, 2) is None
    True
    """
    info = meta.get("repeat_purchases")
    if info is None:
        return None
    prior = info.get("prior") if isinstance(info, dict) else None
    if (
        isinstance(prior, bool)
        or not isinstance(prior, (int, float))
        or not (0 < float(prior) < float("inf"))
    ):
        raise ValueError(f"bad repeat_purchases prior {prior!r}")
    scale = info.get("scale", 1.0)
    if (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float))
        or not (0 < float(scale) < float("inf"))
    ):
        raise ValueError(f"bad repeat_purchases scale {scale!r}")
    counts = codec.get_csr(arrays, "repeat_purchases.counts", (n_users, n_items), nonnegative=True)
    orders = codec.check_array(arrays, "repeat_purchases.orders", (n_users,), "iu")
    share = codec.check_array(arrays, "repeat_purchases.share", (n_items,), "f")
    durable = codec.check_array(arrays, "repeat_purchases.durable", (n_items,), "b")
    if (share < 0).any() or (share > 1).any():
        raise ValueError("repeat_purchases.share: values must be in [0, 1]")
    orders = orders.astype(np.int64)
    if (orders < 0).any():
        raise ValueError("repeat_purchases.orders: values must be >= 0")
    row_of = np.repeat(np.arange(n_users), np.diff(counts.indptr))
    if (counts.data > orders[row_of]).any():
        raise ValueError("repeat_purchases.counts: more orders with an item than orders")
    if durable[counts.indices].any():
        raise ValueError("repeat_purchases.counts: a durable item has repeat counts")
    return RepeatPurchases(
        counts,
        orders,
        share.astype(np.float64),
        durable.astype(bool),
        float(prior),
        None,
        float(scale),
    )
