"""EASE: the closed-form item-item autoencoder of Steck (WWW 2019), dense or sparse.

A row ``x`` of the training matrix ``X`` (a user's items, or a basket's) is
reconstructed as ``x B`` by an items × items weight matrix ``B`` with a zero
diagonal, the ridge solution of ``min ||X - XB||² + λ||B||²`` s.t. ``diag(B) = 0``:

    ``B = I - P diag(1 / diag(P))``,  ``P = (XᵀX + λI)⁻¹``.

A history's (user's, cart's, basket's) score of item ``j`` is ``sum_i x_i B_ij``:
the sum of its items' rows of ``B``, clipped at 0; the items at 0 are ranked by
popularity.

How λ is chosen (``l2="auto"``)
-------------------------------
The best λ differs by data set (about 25 on Online Retail invoices, 250 on
MovieLens-100k ratings, thousands on Groceries, whose baskets carry almost no
co-purchase signal), so ``fit`` validates it on the training data itself, for
the price of a few dense fits (typically 4 or 5; the last one tried that
wins is the model, no refit):

1. **Hold-out.**  With rows = baskets, the newest 10% of the baskets (by
   time when the interactions have ``time_col``, else a seeded random 10%)
   with at least two items are the candidate queries: one item, drawn at
   random, is hidden, the rest is the query (as a cart in a cross-sell), and
   the query baskets leave the training rows.  With rows = users, a seeded
   random 30% of the users with at least two items hide 20% of their items
   (at least one); their other items stay in the training rows (as a known
   user in ``recommend``).  At most 2,000 queries, and at most a quarter of
   the item count (but 1,000 in any case), are kept (a seeded sample).
2. **A fit per λ, validated without another fit.**  Every λ tried is one
   dense fit on *all* the rows (the Gramian, LAPACK's Cholesky
   factor-and-invert), which gives ``P = (G + λI)⁻¹`` (``P = (I - B)
   diag(P)``).  The held-out rows change ``G`` by a term of rank ``k`` (the
   query baskets; a held-out user's row before and after hiding), so the
   Woodbury identity gives the held-out model's ``P`` on the queries, its
   diagonal included, in ``O(k³ + k² items + queries × k × items)``: a
   small share of the fit's ``items³`` while the queries are few next to
   the items.  On a smaller catalog (``k`` above about an eighth of the
   items; :func:`_woodbury_pays`) that costs more than a fit, and each λ is
   instead fitted on the training rows themselves (their Gramian is the full
   one corrected by the same rank-``k`` term), the chosen λ once more on all
   rows: the same numbers, 6.6× a fixed fit on MovieLens instead of 13.5×.
3. **The search.**  λ = ``m × 2^k``, ``k = -4 .. 6`` (``L2_GRID``: 11 values
   from ``m / 16`` to ``64 m``), ``m`` the mean diagonal of ``G`` (the mean
   item count on 0/1 data): the scale of the data.  The search starts at
   ``k = 0``, tries ``k = 2`` (and ``k = -2`` unless that was better), walks
   on by factor 4 while the metric improves, then makes one more fit halfway
   (factor 2) between the best and the better of its two tried neighbours.
   The metric is NDCG@10 of the hidden items among the items not in the
   query; the smallest λ with the largest NDCG@10 wins, and its fit on all
   rows is the model.  Every λ tried is in ``validation_`` (``l2``,
   ``relative_l2``, ``ndcg@10``, ``hit_rate@10``).
4. **What is validated: the score served.**  With rows = baskets and
   customers whose repeat purchases the model learns (``repeat_purchases_``,
   :mod:`recsys.models.repeats`), a known customer's cross-sell is not the
   basket score alone but its noisy-or with their repeat probabilities
   (:func:`recsys.models.repeats.combine`, at the scale ``c`` that puts the
   basket score on the probability scale).  So each query of a customer with
   baskets *before* the held-out ones (the repeat counts come from those
   older baskets only, with the prior ``a`` that
   :func:`~recsys.models.repeats.fit_repeat_purchases` chooses) is scored as
   cross-sell serves it, at every ``c`` of
   :data:`~recsys.models.repeats.SCALE_GRID` (their owned durables left
   out); the other queries keep the basket score.  For each λ the ``c`` with
   the best NDCG@10 (ties: the closest to 1) gives its metric, so λ and ``c``
   are chosen together, on the same held-out baskets, by the quality of what
   the model serves; the chosen ``c`` is the repeat term's ``scale``, and no
   extra fit calibrates it.  ``validation_`` then also has ``scale`` and the
   basket score's own ``basket_ndcg@10`` and ``basket_hit_rate@10`` (what
   anonymous calls get); the repeat term's ``calibration`` lists every ``c``
   at the chosen λ.  With fewer than 20 such queries, without customers, or
   with rows = users, the basket score alone is validated (and ``c`` is
   chosen afterwards by :func:`~recsys.models.repeats.calibrate_scale`).

Without any query (no row with two items), λ = 2 × the mean diagonal.

With ``half_life_days`` (rows = baskets with times) every Gramian above is
``Xᵀ W X``, each basket weighted by ``0.5 ** (age / half_life_days)``: the
fits, the held-out rows' correction (their rows weighted too) and the mean
diagonal that scales the λ grid; the queries and hidden items stay 0/1.

Memory and the sparse form
--------------------------
The dense fit holds one float32 ``items²`` array (the Gramian, factorised and
inverted in place into ``B``); ``l2="auto"`` needs two of them (the best fit
so far and the one being validated).  ``fit`` estimates this before allocating anything and
refuses, naming the item count, the bytes needed and the budget
(``max_memory``), instead of swapping or being killed.  ``density=0.005``
trains the sparse form (:func:`recsys.core.sparse_ease.sparse_ease`: at most
``density × items²`` weights, memory proportional to them), for catalogs a
dense ``B`` cannot hold (100k items: 40 GB).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.threads import blas_threads, resolve_num_threads
from recsys.core.constraints import Constraints
from recsys.core.cooccurrence import NeighbourTable
from recsys.core.gramian import dense_gramian, ease_solve
from recsys.core.topn_dense import constrained_topn_dense
from recsys.data.interactions import Interactions
from recsys.data.time_decay import check_half_life_days, decay_matrix
from recsys.io import codec
from recsys.models.base import Arrays, Recommender
from recsys.models.basket_probability import MIN_VALIDATION_BASKETS
from recsys.models.repeats import (
    SCALE_GRID,
    RepeatPurchases,
    combine,
    fit_repeat_purchases,
    load_repeat_purchases,
    repeat_statistics,
    save_repeat_purchases,
    served_cells,
)
from recsys.models.weight_neighbours import cached_weight_neighbours

__all__ = ["EASE", "L2_GRID", "available_memory", "dense_fit_bytes"]

#: ``l2="auto"`` tries λ = some of these factors × the mean diagonal of the Gramian (1/16 .. 64).
L2_GRID = 2.0 ** np.arange(-4, 7).astype(np.float64)
#: Index in ``L2_GRID`` where the search starts (factor 1) and its first step (factor 4).
_SEARCH_START = 4
_SEARCH_STEP = 2
#: λ relative to the mean diagonal when there is nothing to validate on.
FALLBACK_RELATIVE_L2 = 2.0
#: Share of the baskets held out to choose λ (rows = baskets).
VALIDATION_SHARE = 0.1
#: Share of the users (with two items or more) who hide items to choose λ (rows = users).
USER_VALIDATION_SHARE = 0.3
#: Share of a held-out user's items hidden (rows = users; baskets hide one item).
HIDDEN_SHARE = 0.2
#: At most this many validation queries, and at most a quarter of the item count when that
#: is more than MIN_VALIDATION_ROWS: the Woodbury correction of each λ costs
#: O(k² items + queries × k × items), k <= 2 × queries.
MAX_VALIDATION_ROWS = 2_000
MIN_VALIDATION_ROWS = 1_000
#: The metric's cut-off.
VALIDATION_K = 10
#: Share of the available memory ``max_memory="auto"`` allows a dense fit.
MEMORY_SHARE = 0.8
#: Score cells (queries x items) per block when scoring many histories.
_BLOCK_CELLS = 1 << 22
_ROWS = ("auto", "users", "baskets")


def available_memory() -> int:
    """Return the bytes this process may still allocate: free RAM, within any cgroup limit.

    ``MemAvailable`` of ``/proc/meminfo`` (physical memory where it is missing),
    lowered to the cgroup's limit minus its usage when one is set.

    Examples
    --------
    >>> available_memory() > 0
    True
    """
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if available is None:
        try:
            available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
            available = 1 << 40
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            with open(limit_file) as f:
                text = f.read().strip()
            if text == "max":
                continue
            limit = int(text)
            with open(usage_file) as f:
                usage = int(f.read().strip())
            if limit < 1 << 60:
                available = min(available, max(limit - usage, 0))
        except (OSError, ValueError):
            continue
    return int(available)


def dense_fit_bytes(n_items: int, auto_l2: bool, n_queries: int = 0) -> tuple[int, str]:
    """Estimate the peak bytes of a dense EASE fit, and what they hold.

    Fixed λ: the float32 ``n²`` Gramian, inverted in place into ``B``.
    ``l2="auto"``: two of them (the best fit so far and the one being
    validated), plus the validation's ``k × n`` arrays (``k`` up to twice the
    queries) and score blocks.

    Parameters
    ----------
    n_items : int
    auto_l2 : bool
        ``l2="auto"`` (the λ search) or a fixed λ.
    n_queries : int
        Validation queries (``l2="auto"``).

    Returns
    -------
    bytes : int
    what : str
        A description for error messages.

    Examples
    --------
    >>> dense_fit_bytes(20_000, False)
    (1600320000, 'the items x items Gramian, inverted in place (float32)')
    """
    square = 4 * n_items * n_items
    vectors = 16 * n_items
    if not auto_l2:
        return square + vectors, "the items x items Gramian, inverted in place (float32)"
    queries = 24 * n_items * max(min(n_queries, MAX_VALIDATION_ROWS), 1) + 32 * _BLOCK_CELLS
    return (
        2 * square + vectors + queries,
        "two items x items arrays for l2='auto' (float32: the best fit so far and the one "
        "being validated), with the validation's arrays",
    )


@codec.saveable
class EASE(Recommender):
    """EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019): learned item-item weights.

    The strongest classic recommender on most public benchmarks (Dacrema et
    al., 2019): an items × items matrix ``B`` with a zero diagonal, the ridge
    regression of every item on all the others, in closed form.  A history's
    score of item ``j`` is ``sum_i x_i B_ij`` (the sum of its items' rows of
    ``B``): ``recommend`` scores a user's training history, a cart or a new
    customer (``recommend_for_history``) is one more row of ``X``, and
    :func:`~recsys.recommend_cross_sell` ranks by the basket's scores (through
    :meth:`score_history_rows`).  Scores are clipped at 0 (an item the history
    argues against ranks with the items it says nothing about), and the
    items at 0 follow by popularity, so lists are exactly ``n`` long and a
    sparse ``B`` falls back on best sellers, not on item IDs.  :meth:`similar_items` ranks
    row ``i`` of ``B``: what item ``i`` alone adds to a history's scores (its
    "bought with" list).  There is no ``partial_fit``: every weight depends on
    the whole Gramian, so new data means a new ``fit`` (pass the chosen
    ``l2_`` as ``l2`` to skip the search).  See the module docstring for how λ
    is chosen and what the memory check does.

    Parameters
    ----------
    l2 : float or "auto"
        The ridge λ (> 0).  ``"auto"`` (default) chooses it on held-out rows
        of the training data (module docstring); ``l2_`` and ``validation_``
        show the choice.
    rows : {"auto", "users", "baskets"}
        What a row of ``X`` is: a user's history, or a basket (an order, an
        invoice; interactions built with ``basket_col``).  ``"auto"``: baskets
        when the interactions have them (on Online Retail invoices beat
        customers by 0.02 HR@10 in cross-sell), else users.
    density : float or None
        ``None`` (default): the exact dense ``B`` (float32 LAPACK Cholesky).
        A share of ``items²`` in ``(0, 1]``, e.g. ``0.005``: the sparse form
        (:func:`recsys.core.sparse_ease.sparse_ease`), at most
        ``density × items²`` weights, for catalogs a dense ``B`` cannot hold.
    binary : bool
        Use 0/1 presence (default) rather than the interaction weights
        (quantities, ratings) in ``X`` and in the histories scored.
    max_memory : "auto", int or None
        Bytes a dense fit may use: ``"auto"`` is 80% of the memory available
        when ``fit`` starts (RAM, within any cgroup limit); ``None`` skips the
        check.  Beyond it, ``fit`` raises a ``MemoryError`` naming the item
        count, the bytes needed and the sparse option, before allocating.
    random_state : int
        Seed of the λ validation's hold-out (``l2="auto"``).
    num_threads : int
        Threads for BLAS/LAPACK in ``fit`` and for the Numba kernels (0 = all
        cores).
    half_life_days : float or None
        Weigh each basket (a row of ``X``, rows = baskets) by its age: the
        Gramian is ``Xᵀ W X`` with ``w = 0.5 ** (age / half_life_days)``, the
        age measured back from the newest event of the training data
        (:mod:`recsys.data.time_decay`, as ``ALS`` and ``ItemItem``), so a
        basket one half-life old counts half in the co-purchase structure.
        Needs interactions with baskets and times (``basket_col``,
        ``time_col``); ``rows="users"`` refuses it (a user's row has no one
        age).  The histories scored and the λ validation's queries stay 0/1
        (or their weights); the repeat counts are not decayed.  ``None``
        (default): every basket counts fully.  On Online Retail (three
        windows inside the training period: ``python -m benchmarks ease
        --part recency``) half-lives of 30-90 days lost up to 0.035 HR@10 in
        cross-sell and 180-730 days moved it by -0.003 to +0.003 at a fixed
        λ: its co-purchase structure barely drifts within a year, so the
        decay is off by default (on the test invoices 365 days gave 0.346
        against 0.347 with the customer).

    Attributes
    ----------
    weights_ : numpy.ndarray or scipy.sparse.csr_matrix
        ``B``, items × items float32 with a zero diagonal: dense (``density=None``)
        or CSR (the sparse form, or a model saved with ``top_k``).
    l2_ : float
        The λ of ``weights_``.
    rows_ : str
        ``"users"`` or ``"baskets"``: what the rows of ``X`` were.
    validation_ : pandas.DataFrame or None
        ``l2="auto"``: every λ tried, with ``relative_l2`` (λ / mean diagonal),
        ``ndcg@10`` and ``hit_rate@10`` on the held-out rows; ``None`` otherwise.
        When the served score was validated (baskets with returning customers,
        module docstring), also the repeat term's best ``scale`` at each λ and
        the basket score's own ``basket_ndcg@10`` and ``basket_hit_rate@10``.
    repeat_purchases_ : RepeatPurchases or None
        The customers' calibrated repeat-purchase probabilities
        (:mod:`recsys.models.repeats`), learned when the interactions have
        baskets: :func:`~recsys.recommend_cross_sell` adds them to the basket's
        scores for a known customer.  ``None`` without baskets.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> from recsys.models.ease import EASE
    >>> orders = pd.DataFrame({
    ...     "order": [1, 1, 2, 2, 3, 3, 4, 4, 5],
    ...     "customer": ["a", "a", "b", "b", "c", "c", "d", "d", "e"],
    ...     "item": ["tea", "cup", "tea", "cup", "tea", "pot", "cup", "saucer", "pot"],
    ... })
    >>> data = recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
    ...                                        basket_col="order")
    >>> model = EASE(l2=1.0).fit(data)
    >>> model.rows_, model.weights_.shape
    ('baskets', (4, 4))
    >>> cart = pd.DataFrame({"cart": [1], "item": ["tea"]})
    >>> model.recommend_for_history(cart, n=2, query_col="cart")["item"].tolist()
    ['cup', 'pot']

    Older baskets count less with a half-life (here the 2024 orders weigh
    about a quarter of the 2026 ones):

    >>> orders["day"] = pd.to_datetime(["2024-01-01"] * 4 + ["2026-01-01"] * 5)
    >>> timed = recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
    ...                                         basket_col="order", time_col="day")
    >>> decayed = EASE(l2=1.0, half_life_days=365).fit(timed)
    >>> decayed.recommend_for_history(cart, n=2, query_col="cart")["item"].tolist()
    ['pot', 'cup']
    """

    _state_params = ("l2", "rows", "density", "binary", "random_state", "half_life_days")

    def __init__(
        self,
        l2: float | str = "auto",
        rows: str = "auto",
        density: float | None = None,
        *,
        binary: bool = True,
        max_memory: int | str | None = "auto",
        random_state: int = 0,
        num_threads: int = 0,
        half_life_days: float | None = None,
    ) -> None:
        self.l2 = l2
        self.rows = rows
        self.density = density
        self.binary = binary
        self.max_memory = max_memory
        self.random_state = random_state
        self.num_threads = num_threads
        self.half_life_days = half_life_days

    # ------------------------------------------------------------------ params
    def _check_params(self) -> None:
        """Check the hyper-parameters as ``fit`` does (used by ``load`` too)."""
        if not (isinstance(self.l2, str) and self.l2 == "auto") and not _positive(self.l2):
            raise ValueError(f"l2 must be 'auto' or a finite number > 0, got {self.l2!r}")
        if not isinstance(self.rows, str) or self.rows not in _ROWS:
            raise ValueError(f"rows must be one of {list(_ROWS)}, got {self.rows!r}")
        if self.density is not None and not (_positive(self.density) and self.density <= 1):
            raise ValueError(
                f"density must be None (dense) or a share of items² in (0, 1], e.g. 0.005, "
                f"got {self.density!r}"
            )
        if not isinstance(self.binary, (bool, np.bool_)):
            raise ValueError(f"binary must be a bool, got {self.binary!r}")
        mm = self.max_memory
        if not (mm is None or (isinstance(mm, str) and mm == "auto") or _positive(mm)):
            raise ValueError(
                f"max_memory must be 'auto', None or a number of bytes > 0, got {mm!r}"
            )
        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"random_state must be an int >= 0, got {seed!r}")
        resolve_num_threads(self.num_threads)
        if self.half_life_days is not None and not _positive(self.half_life_days):
            raise ValueError(  # an int beyond the float range, too (no numpy TypeError)
                "EASE(half_life_days=...) must be a positive number of days, got "
                f"{self.half_life_days!r}"
            )
        check_half_life_days(self.half_life_days, "EASE(half_life_days=...)")

    def _memory_budget(self) -> tuple[float, str]:
        if self.max_memory is None:
            return float("inf"), "max_memory=None"
        if isinstance(self.max_memory, str):
            budget = MEMORY_SHARE * available_memory()
            return budget, f"max_memory='auto': {MEMORY_SHARE:.0%} of the memory available now"
        return float(self.max_memory), f"max_memory={self.max_memory!r}"

    # --------------------------------------------------------------------- fit
    def _fit(self, data: Interactions, show_progress: bool) -> None:
        self._check_params()
        rows = self.rows
        if rows == "auto":
            rows = "baskets" if data.basket_matrix is not None else "users"
        if rows == "baskets" and data.basket_matrix is None:
            raise ValueError(
                "rows='baskets' needs interactions with baskets: build them with "
                "Interactions.from_pandas(..., basket_col=...), or use rows='users'"
            )
        X = self._prepare(data.basket_matrix if rows == "baskets" else data.matrix)
        times = data.basket_times if rows == "baskets" else None
        # the rows the Gramian sums: X itself, or its baskets weighted by their age
        gram_rows = self._decayed_rows(X, data, rows)
        n_items = X.shape[1]
        auto = isinstance(self.l2, str)
        validation: pd.DataFrame | None = None
        repeats: RepeatPurchases | None = None
        known_none = False  # fit_repeat_purchases already found no repeat term
        served_scale: float | None = None
        if self.density is None:
            split = _split_rows(X, rows, times, self.random_state) if auto else None
            self._check_memory(n_items, auto, 0 if split is None else split.queries.shape[0])
            chosen: np.ndarray | None = None
            if split is not None:
                served = None
                if rows == "baskets":
                    # customers' repeat purchases: λ is validated on the score served to them
                    repeats = fit_repeat_purchases(data, None, self.random_state)
                    known_none = repeats is None
                    served = _served_context(X, data, split, repeats)
                l2, validation, chosen, served_scale = self._choose_l2(
                    X, split.train, split.queries, split.hidden, served, gram_rows
                )
                scales = validation.attrs.pop("scales", None)
                if served_scale is not None and repeats is not None:
                    repeats = _with_scale(repeats, scales, served_scale)
            else:
                l2 = float(self.l2)
            if chosen is None:
                chosen = self._dense_fit(gram_rows, l2)
            weights: np.ndarray | sp.csr_matrix = chosen
        else:
            if auto:
                l2, validation = self._sparse_l2(X, rows, times, gram_rows)
            else:
                l2 = float(self.l2)
            weights = self._fit_sparse(gram_rows, l2)
        self.rows_: str = rows
        self.l2_: float = float(l2)
        self.validation_: pd.DataFrame | None = validation
        self._set_weights(weights, data.matrix)
        # the customers' repeat purchases: cross-sell's second term (recsys.models.repeats),
        # its scale next to the basket scores chosen on held-out baskets: with λ when the λ
        # search validated the served score, else by _refit_scorer
        if served_scale is None and not known_none:
            repeats = fit_repeat_purchases(
                data, self._refit_scorer if self.density is None else None, self.random_state
            )
        self.repeat_purchases_: RepeatPurchases | None = repeats

    def _decayed_rows(self, X: sp.csr_matrix, data: Interactions, rows: str) -> sp.csr_matrix:
        """Return the rows whose Gramian is solved: ``X``, or with ``half_life_days`` ``W^½ X``.

        Each basket's entries are multiplied by ``sqrt(w)``, ``w = 0.5 ** (age
        / half_life_days)`` (:func:`~recsys.data.time_decay.decay_matrix` at
        twice the half-life), so ``(W^½ X)ᵀ(W^½ X) = Xᵀ W X``.
        """
        half_life = check_half_life_days(self.half_life_days, "EASE(half_life_days=...)")
        if half_life is None:
            return X
        if rows != "baskets":
            raise ValueError(
                "EASE(half_life_days=...) weighs baskets by their age: it needs rows='baskets' "
                "(a user's row has no one age); use rows='auto' or 'baskets' on interactions "
                "with basket_col and time_col, or half_life_days=None"
            )
        return decay_matrix(
            X,
            data.basket_times,
            data.reference_time,
            2.0 * half_life,
            "EASE(half_life_days=...)",
            per_row=True,
        )

    def _refit_scorer(
        self, baskets: sp.csr_matrix, user_items: sp.csr_matrix
    ) -> Any:  # Callable[[sp.csr_matrix], np.ndarray]
        """Return the basket scores the repeat term's scale is chosen with (every item).

        Used when the λ search did not validate the served score (module
        docstring, step 4: there the scale is chosen with λ).  With
        ``l2="auto"`` (a search of several dense fits) a copy is fitted at
        the chosen λ on the earlier rows only, so the held-out baskets are
        scored by a model that never saw them.  With a fixed λ that one more
        fit would double the cost of ``fit``: the held-out baskets are scored
        by this model, which saw them (the zero diagonal keeps a hidden item
        out of its own score, but its pairs with the visible items were
        counted; on Online Retail this picks the scale 2 instead of 1).  The
        sparse form has none (it is served by the neighbour kernel).  The
        copy weighs its baskets equally (``half_life_days`` is not applied:
        the rows it is given carry no times).
        """
        if not isinstance(self.l2, str):
            return lambda histories: self._scores(self._prepare(histories))
        copy_ = EASE(
            l2=self.l2_,
            density=None,
            binary=self.binary,
            max_memory=self.max_memory,
            random_state=self.random_state,
            num_threads=self.num_threads,
        )
        copy_.fit(baskets if self.rows_ == "baskets" else user_items)
        return lambda histories: copy_._scores(copy_._prepare(histories))

    def _prepare(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """Return ``matrix`` as float32 CSR: 0/1 when ``binary``, else the weights."""
        out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        out.sum_duplicates()
        out.sort_indices()
        if self.binary:
            out.data[:] = 1.0
        elif out.nnz and float(np.abs(out.data).max()) > 1e15:
            raise ValueError(
                f"EASE: weights up to {float(np.abs(out.data).max()):g} overflow the float32 "
                "Gramian: scale them down (e.g. numpy.log1p) or use binary=True"
            )
        return out

    def _check_memory(self, n_items: int, auto: bool, n_queries: int) -> None:
        need, what = dense_fit_bytes(n_items, auto, n_queries)
        budget, source = self._memory_budget()
        if need > budget:
            hint = ""
            if auto and dense_fit_bytes(n_items, False)[0] <= budget:
                hint = "; a fixed l2 (e.g. l2=100.0) needs half of it"
            raise MemoryError(
                f"EASE: a dense fit on {n_items:,} items needs about {_gb(need)} ({what}), above "
                f"the memory budget of {_gb(budget)} ({source}){hint}; use the sparse form, "
                "EASE(density=0.005), whose memory grows with its non-zeros, or raise max_memory"
            )

    def _dense_fit(
        self, X: sp.csr_matrix, l2: float, diagonal: np.ndarray | None = None
    ) -> np.ndarray:
        """Return dense ``B`` of ``X`` at ``l2``; ``diagonal`` receives ``diag(P)``."""
        gram = self._gramian(X)
        return ease_solve(gram, l2, num_threads=self.num_threads, out_diagonal=diagonal)

    def _gramian(self, X: sp.csr_matrix) -> np.ndarray:
        """Return ``XᵀX`` as a new float32 array: every dense fit's Gramian comes from here.

        From :func:`~recsys.core.gramian.dense_gramian`, or, inside
        :meth:`fit_from_gramian`, from its ``gramian`` (checked: shape, dtype,
        and a diagonal equal to the column sums of squares of ``X``, so a
        Gramian of other rows is refused, never solved).
        """
        source = self.__dict__.get("_gramian_source")
        if source is None:
            return dense_gramian(
                X.indptr, X.indices, X.data, X.shape[1], num_threads=self.num_threads
            )
        given = source(X)
        n = X.shape[1]
        if (
            not isinstance(given, np.ndarray)
            or given.dtype.kind not in "fiu"
            or given.shape != (n, n)
            or not np.isfinite(given).all()
        ):
            raise ValueError(
                f"gramian must return a finite real array of shape ({n}, {n}), got "
                f"{type(given).__name__} {getattr(given, 'dtype', '')} "
                f"{getattr(given, 'shape', '')}"
            )
        gram = np.require(given, dtype=np.float32, requirements=["C", "W"])  # copies if needed
        squares = np.bincount(X.indices, weights=np.square(X.data, dtype=np.float64), minlength=n)
        if not np.allclose(np.diagonal(gram), squares, rtol=1e-4, atol=1e-6):
            raise ValueError(
                "gramian returned the Gramian of other rows: its diagonal is not the sum of "
                f"squares of each item's column of the {X.shape[0]} x {n} rows fit solves on"
            )
        return gram

    def fit_from_gramian(
        self,
        interactions: Interactions | sp.spmatrix,
        gramian: Callable[[sp.csr_matrix], np.ndarray],
        *,
        show_progress: bool = False,
    ) -> EASE:
        """Fit with the Gramian ``XᵀX`` computed elsewhere (e.g. summed on a Spark cluster).

        Exactly :meth:`fit` (dense form), except that every Gramian of the
        rows the fit solves on — once with a fixed ``l2``, once per λ tried
        with ``l2="auto"`` (its validation corrects the full Gramian's
        solution for the held-out rows, it needs no other Gramian) — comes
        from ``gramian`` instead of :func:`~recsys.core.gramian.dense_gramian`.
        Everything else (the rows, the λ search, the repeat purchases) is the
        same code.  The one fit of other rows, ``l2="auto"``'s refit on the
        earlier baskets when the served score was not validated (module
        docstring), computes its own Gramian as :meth:`fit` does.

        Parameters
        ----------
        interactions : Interactions or scipy.sparse matrix
            The training data, as for :meth:`fit`.
        gramian : callable
            Called with the rows × items float32 matrix ``X`` the fit solves on
            (``binary``: 0/1; the rows of ``rows_``; with ``half_life_days``,
            each basket's entries times the square root of its decay weight,
            so ``XᵀX = Xᵀ W X``); returns ``XᵀX`` as a new
            ``items × items`` array, which the fit overwrites (a writeable,
            C-contiguous float32 one is used as it is, others are copied).  A
            Gramian whose diagonal is not the column sums of squares of ``X``
            (another row set) is refused.
        show_progress : bool

        Returns
        -------
        self

        Raises
        ------
        ValueError
            ``density`` is set (the sparse form never forms the Gramian), or
            ``gramian`` returned a bad array or the Gramian of other rows.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from recsys.models.ease import EASE
        >>> X = sp.csr_matrix([[1, 1, 0], [1, 1, 1], [0, 1, 1]])
        >>> model = EASE(l2=1.0).fit_from_gramian(
        ...     X, lambda rows: (rows.T @ rows).toarray().astype(np.float32))
        >>> bool(np.allclose(model.weights_, EASE(l2=1.0).fit(X).weights_))
        True
        """
        if self.density is not None:
            raise ValueError(
                f"fit_from_gramian fits the dense form: density must be None, got "
                f"{self.density!r} (the sparse form never forms the full Gramian; use fit)"
            )
        self._gramian_source: Callable[[sp.csr_matrix], np.ndarray] | None = gramian
        try:
            self.fit(interactions, show_progress=show_progress)
        finally:
            del self._gramian_source
        return self

    def _choose_l2(
        self,
        X: sp.csr_matrix,
        train: sp.csr_matrix,
        queries: sp.csr_matrix,
        hidden: sp.csr_matrix,
        served: _Served | None = None,
        gram_rows: sp.csr_matrix | None = None,
    ) -> tuple[float, pd.DataFrame, np.ndarray | None, float | None]:
        """Choose λ on the held-out queries, one dense fit per λ tried (module docstring).

        Returns λ, the table of every λ tried, the chosen λ's fit on all of
        ``X`` (``None`` without queries: λ is then the fallback) and, with
        ``served`` (the customers' repeat term), the repeat term's scale
        chosen with λ (else ``None``).  ``gram_rows`` (``X`` with its rows
        weighted, same structure: ``half_life_days``) replaces ``X`` in every
        Gramian — the fits, the held-out rows' correction and the λ scale —
        while the queries stay rows of ``X``.
        """
        n_items = X.shape[1]
        if gram_rows is not None and gram_rows is not X:
            # the training rows as weighted rows: the same entries, kept where train keeps them
            train = sp.csr_matrix(gram_rows.multiply(train != 0), dtype=np.float32)
            X = gram_rows
        mean = max(_mean_diagonal(X), 1e-6)
        if queries.shape[0] == 0:
            return (
                FALLBACK_RELATIVE_L2 * mean,
                pd.DataFrame({"l2": [], "relative_l2": [], "ndcg@10": [], "hit_rate@10": []}),
                None,
                None,
            )
        update = _heldout_update(X, train)
        tried: dict[int, _Metrics] = {}
        best: list[Any] = [-1, None]  # grid index and weights of the best fit so far
        # Many changed rows next to few items (a small catalog): the held-out rows' Woodbury
        # correction costs more than solving the training rows' Gramian itself, so each λ
        # is validated by a fit on the training rows, and the chosen one is fitted on all rows
        # once at the end (the result is the same; see _woodbury_pays)
        train_gram = None
        if not _woodbury_pays(update[0].shape[0], n_items):
            train_gram = self._gramian(X)
            change = (update[0].T @ sp.diags(update[1].astype(np.float32)) @ update[0]).tocoo()
            change.sum_duplicates()
            train_gram[change.row, change.col] += change.data.astype(np.float32)

        def ndcg_at(g: int) -> float:
            if g not in tried and train_gram is not None:
                b_train = ease_solve(
                    train_gram.copy(), float(L2_GRID[g] * mean), num_threads=self.num_threads
                )
                with blas_threads(self.num_threads):
                    tried[g] = _heldout_metrics(
                        None,
                        None,
                        *update,
                        queries,
                        hidden,
                        served,
                        scores_of=lambda rows: np.asarray(rows @ b_train, dtype=np.float32),
                    )
                del b_train
                b = best[0]
                if b < 0 or tried[g][0] > tried[b][0] or (tried[g][0] == tried[b][0] and g < b):
                    best[0] = g
            if g not in tried:
                diagonal = np.empty(n_items, dtype=np.float32)
                weights = self._dense_fit(X, float(L2_GRID[g] * mean), diagonal)
                with blas_threads(self.num_threads):
                    tried[g] = _heldout_metrics(weights, diagonal, *update, queries, hidden, served)
                b = best[0]
                if b < 0 or tried[g][0] > tried[b][0] or (tried[g][0] == tried[b][0] and g < b):
                    best[:] = [g, weights]
                del weights
            return tried[g][0]

        size = L2_GRID.size
        g = _SEARCH_START
        ndcg_at(g)
        direction = 0
        for step in (_SEARCH_STEP, -_SEARCH_STEP):  # factor 4 up, else down
            if 0 <= g + step < size and ndcg_at(g + step) > tried[g][0]:
                direction, g = step, g + step
                break
        while direction and 0 <= g + direction < size and ndcg_at(g + direction) > tried[g][0]:
            g += direction
        # one fit halfway (factor 2) towards the better of the best's tried neighbours
        sides = [h for h in (g - _SEARCH_STEP, g + _SEARCH_STEP) if h in tried]
        if sides:
            side = max(sides, key=lambda h: (tried[h][0], -h))
            ndcg_at((g + side) // 2)
        order = sorted(tried)
        table = pd.DataFrame(
            {
                "l2": L2_GRID[order] * mean,
                "relative_l2": L2_GRID[order],
                "ndcg@10": [tried[h][0] for h in order],
                "hit_rate@10": [tried[h][1] for h in order],
            }
        )
        scale = None
        if served is not None:
            table["scale"] = [tried[h].scale for h in order]
            table["basket_ndcg@10"] = [tried[h].basket_ndcg for h in order]
            table["basket_hit_rate@10"] = [tried[h].basket_hit for h in order]
            table.attrs["scales"] = tried[best[0]].scales
            scale = float(tried[best[0]].scale)
        return float(L2_GRID[best[0]] * mean), table, best[1], scale

    def _sparse_l2(
        self,
        X: sp.csr_matrix,
        rows: str,
        times: np.ndarray | None,
        gram_rows: sp.csr_matrix | None = None,
    ) -> tuple[float, pd.DataFrame]:
        """λ for the sparse form: the dense validation on the most popular items that fit.

        A dense fit of the full catalog is what the sparse form
        avoids, so ``l2="auto"`` runs the dense validation on ``X`` restricted
        to its most popular items (at most 3,000, fewer when the memory budget
        says so) and keeps the chosen λ *relative* to the mean diagonal,
        applied to the full Gramian's (``gram_rows``: the weighted rows, as in
        :meth:`_choose_l2`).
        """
        if gram_rows is None:
            gram_rows = X
        support = np.diff(X.tocsc().indptr)
        budget, _ = self._memory_budget()
        keep = min(X.shape[1], 3_000)
        while keep > 50 and dense_fit_bytes(keep, True, MAX_VALIDATION_ROWS)[0] > budget:
            keep //= 2
        top = np.sort(np.argsort(-support, kind="stable")[:keep])
        sub = X[:, top].tocsr()
        split = _validation_split(sub, rows, times, self.random_state)
        sub_rows = None if gram_rows is X else gram_rows[:, top].tocsr()
        _, table, _, _ = self._choose_l2(sub, *split, gram_rows=sub_rows)
        relative = (
            FALLBACK_RELATIVE_L2
            if table.empty
            else float(table["relative_l2"].iloc[int(np.argmax(table["ndcg@10"].to_numpy()))])
        )
        return relative * max(_mean_diagonal(gram_rows), 1e-6), table

    def _fit_sparse(self, X: sp.csr_matrix, l2: float) -> sp.csr_matrix:
        from recsys.core.sparse_ease import sparse_ease

        assert self.density is not None
        weights = sparse_ease(X, l2, float(self.density), num_threads=self.num_threads)
        weights = sp.csr_matrix(weights, dtype=np.float32)
        weights.sum_duplicates()
        weights.sort_indices()
        rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
        keep = (weights.indices != rows) & (weights.data != 0)
        if not keep.all():  # a zero diagonal, and no stored zeros
            weights = sp.csr_matrix(
                (weights.data[keep], (rows[keep], weights.indices[keep])), shape=weights.shape
            )
            weights.sort_indices()
        return weights

    def _set_weights(self, weights: np.ndarray | sp.csr_matrix, user_items: sp.csr_matrix) -> None:
        """Set ``weights_`` and what serving derives from it and the training histories."""
        self.weights_: np.ndarray | sp.csr_matrix = weights
        self._history = self._prepare(user_items)
        n_items = user_items.shape[1]
        self._all_items = np.arange(n_items, dtype=np.int64)
        self._fill = self._popular_order_of(user_items)

    @staticmethod
    def _popular_order_of(user_items: sp.csr_matrix) -> np.ndarray:
        counts = np.diff(user_items.tocsc().indptr)
        return np.lexsort((np.arange(counts.size), -counts)).astype(np.int32)

    # ------------------------------------------------------------- serving
    @property
    def neighbours_(self) -> NeighbourTable:
        """A sparse ``B`` as a neighbour table: how cross-sell serves a sparse EASE.

        Each item's row of ``B`` (its weighted neighbours, by weight) with the
        customers who have both items, so :func:`~recsys.recommend_cross_sell`
        scores a basket with the Numba neighbour kernel, reading only the
        basket items' rows, like an :class:`~recsys.ItemItem`
        (:mod:`recsys.models.weight_neighbours`).  Built on first use, once
        per fit.  Only a sparse ``B`` has one (``density=...``, or a model
        saved with ``top_k``): a dense ``B`` raises ``AttributeError``, and is
        served by scoring every item.

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> from recsys.models.ease import EASE
        >>> X = sp.csr_matrix([[1, 1, 0], [1, 1, 1], [0, 1, 1]])
        >>> hasattr(EASE(l2=1.0).fit(X), "neighbours_")
        False
        >>> EASE(l2=1.0).fit(X).pruned(1).neighbours_.indices.tolist()
        [1, 0, 1]
        """
        weights = self.__dict__.get("weights_")
        if weights is None or not sp.issparse(weights):
            raise AttributeError("neighbours_: only a fitted sparse EASE (density=...) has one")
        return cached_weight_neighbours(self, weights, self.user_items_)

    # ------------------------------------------------------------- pruning
    def pruned(self, top_k: int) -> EASE:
        """Return a copy whose weights keep only each item's ``top_k`` largest weights (CSR).

        Row ``i`` of ``B`` keeps its ``top_k`` largest entries (ties by item
        id), and only positive ones: what item ``i`` adds to a history's
        strongest scores.  A 20k-item dense ``B`` is 1.6 GB; with
        ``top_k=100`` it is 16 MB, and top-10 lists barely change (scores do:
        the dropped weights no longer subtract).  ``save(path, top_k=...)``
        stores this copy.

        Parameters
        ----------
        top_k : int
            Weights kept per item (>= 1).

        Returns
        -------
        EASE
            A new fitted model sharing everything else with this one.

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> from recsys.models.ease import EASE
        >>> X = sp.csr_matrix([[1, 1, 0], [1, 1, 1], [0, 1, 1]])
        >>> small = EASE(l2=1.0).fit(X).pruned(1)
        >>> small.weights_.getnnz(axis=1).tolist()
        [1, 1, 1]
        """
        self._check_fitted()
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k must be an int >= 1, got {top_k!r}")
        out = copy.copy(self)
        out._set_weights(_top_k_rows(self.weights_, int(top_k)), self.user_items_)
        return out

    def save(self, path: Any, *, compress: bool = False, top_k: int | None = None) -> None:
        """Save the fitted model (see :meth:`Recommender.save`); ``top_k`` prunes ``B`` first.

        Parameters
        ----------
        path : str or os.PathLike
        compress : bool
            Deflate the arrays.
        top_k : int, optional
            Store :meth:`pruned` ``(top_k)`` instead: a CSR ``B`` with at most
            ``top_k`` weights per item.  The loaded model scores with those
            (its recommendations may differ from this model's at the tail).
            Default: ``B`` as it is (dense: ``4 items²`` bytes).

        Examples
        --------
        >>> import os, tempfile, scipy.sparse as sp, recsys
        >>> from recsys.models.ease import EASE
        >>> model = EASE(l2=1.0).fit(sp.csr_matrix([[1, 1, 0], [1, 1, 1], [0, 1, 1]]))
        >>> path = os.path.join(tempfile.mkdtemp(), "ease.npz")
        >>> model.save(path, top_k=2)
        >>> sp.issparse(EASE.load(path).weights_)
        True
        """
        model = self if top_k is None else self.pruned(top_k)
        codec.save_object(model, path, compress=compress)

    # -------------------------------------------------------- persistence
    def _model_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        meta["l2_"] = float(self.l2_)
        meta["rows_"] = self.rows_
        meta["validation_"] = (
            None if self.validation_ is None else self.validation_.to_dict(orient="list")
        )
        if sp.issparse(self.weights_):
            meta["weights"] = "sparse"
            codec.put_csr(arrays, "weights", self.weights_)
        else:
            meta["weights"] = "dense"
            arrays["weights"] = np.ascontiguousarray(self.weights_, dtype=np.float32)
        save_repeat_purchases(meta, arrays, self.repeat_purchases_)

    def _restore_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._check_params()
        n_items = len(self.item_ids_)
        stored = meta.get("l2_")
        if not _positive(stored):
            raise ValueError(f"bad l2_ {stored!r}")
        l2 = float(stored)  # type: ignore[arg-type]  # _positive checked it is a number
        if not isinstance(self.l2, str) and float(self.l2) != float(l2):
            raise ValueError(f"l2_ {l2!r} is not l2 {self.l2!r}")
        rows = meta.get("rows_")
        if rows not in ("users", "baskets") or self.rows not in ("auto", rows):
            raise ValueError(f"bad rows_ {rows!r} for rows={self.rows!r}")
        weight = 1.0
        if not self.binary and self.user_items_.nnz:
            weight = max(1.0, float(self.user_items_.data.max()))
        # a history's score adds up to n_items weights x B entries: keep that finite
        bound = codec.FLOAT32_MAX / (16.0 * max(n_items, 1) * weight)
        kind = meta.get("weights")
        weights: np.ndarray | sp.csr_matrix
        if kind == "dense":
            dense = codec.check_array(arrays, "weights", (n_items, n_items), "f")
            weights = codec.check_floats(dense, "weights", bound=bound)
            if n_items and np.any(np.diagonal(weights) != 0):
                raise ValueError("weights: the diagonal must be 0")
        elif kind == "sparse":
            weights = codec.get_csr(arrays, "weights", (n_items, n_items))
            codec.check_distinct_rows(weights.indptr, weights.indices, "weights", no_diagonal=True)
            codec.check_floats(weights.data, "weights", bound=bound)
        else:
            raise ValueError(f"bad weights kind {kind!r}")
        table = meta.get("validation_")
        self.l2_ = float(l2)
        self.rows_ = rows
        self.validation_ = None if table is None else pd.DataFrame(table)
        # files from before repeat purchases were learned have none (no repeat term)
        self.repeat_purchases_ = load_repeat_purchases(meta, arrays, len(self.user_ids_), n_items)
        self._set_weights(weights, self.user_items_)

    # ---------------------------------------------------------------- scoring
    def _scores(self, histories: sp.csr_matrix, item_rows: np.ndarray | None = None) -> np.ndarray:
        """Return ``max(histories @ B, 0)`` (queries × items, or × ``item_rows``) as float32."""
        W = self.weights_
        # a few columns of a dense B: slice them first; a sparse B's column slice scans every
        # weight, while the product only touches the history's rows
        if item_rows is not None and item_rows.size * 4 < W.shape[1] and not sp.issparse(W):
            part = W[:, item_rows]
            out = histories @ part
        else:
            out = histories @ W
            if item_rows is not None:
                out = out[:, item_rows]
        if sp.issparse(out):
            out = out.toarray()
        out = np.asarray(out, dtype=np.float32)
        np.maximum(out, 0.0, out=out)  # what the history argues against ties with "no link"
        return out

    def _topn_scores(
        self,
        scores: np.ndarray,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        """Top-n of clipped score rows: the positive scores, then the popularity fill (score 0)."""
        scores[scores <= 0] = np.nan  # not candidates: the fill ranks them by popularity
        constraints = Constraints.make(
            scores.shape[0],
            scores.shape[1],
            exclude_indptr=exclude[0],
            exclude_indices=exclude[1],
            item_allowed=item_allowed,
            fill_order=self._fill,
        )
        return constrained_topn_dense(scores, n, constraints, num_threads=self.num_threads)

    def _topn_rows(
        self,
        histories: sp.csr_matrix,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        n_queries, n_items = histories.shape
        step = max(1, _BLOCK_CELLS // max(n_items, 1))
        if n_queries <= step:
            return self._topn_scores(self._scores(histories), n, exclude, item_allowed)
        ids = np.empty((n_queries, n), dtype=np.int32)
        top = np.empty((n_queries, n), dtype=np.float32)
        indptr, indices = exclude
        for a in range(0, n_queries, step):
            b = min(a + step, n_queries)
            part = (indptr[a : b + 1] - indptr[a], indices[indptr[a] : indptr[b]])
            ids[a:b], top[a:b] = self._topn_scores(
                self._scores(histories[a:b]), n, part, item_allowed
            )
        return ids, top

    def _topn_users(
        self,
        user_rows: np.ndarray,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        return self._topn_rows(self._history[user_rows], n, exclude, item_allowed)

    def _topn_histories(
        self,
        histories: sp.csr_matrix,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        return self._topn_rows(self._prepare(histories), n, exclude, item_allowed)

    def _topn_similar(
        self, item_rows: np.ndarray, n: int, item_allowed: np.ndarray | None
    ) -> Arrays:
        # item i's row of B: what i alone adds to a history's scores (its "bought with" list)
        m = item_rows.size
        W = self.weights_
        rows = W[item_rows].toarray() if sp.issparse(W) else np.array(W[item_rows])
        exclude = (np.arange(m + 1, dtype=np.int64), item_rows.astype(np.int32))
        rows = np.maximum(rows.astype(np.float32, copy=False), 0.0)
        return self._topn_scores(rows, n, exclude, item_allowed)

    def _score_users(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return self._scores(self._history[np.asarray(user_rows, dtype=np.int64)], item_rows)

    def _score_histories(self, histories: sp.csr_matrix, item_rows: np.ndarray) -> np.ndarray:
        return self._scores(self._prepare(histories), item_rows)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _positive(value: object) -> bool:
    """Tell whether ``value`` is a real number (not a bool), finite as a float, and > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond the float range
        return False
    return math.isfinite(as_float) and as_float > 0


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes < float("inf") else "unlimited"


def _mean_diagonal(X: sp.csr_matrix) -> float:
    """Mean diagonal of ``XᵀX`` (the mean item count on 0/1 data)."""
    if X.shape[1] == 0:
        return 0.0
    return float(np.dot(X.data.astype(np.float64), X.data.astype(np.float64))) / X.shape[1]


class _Split(NamedTuple):
    """The λ validation's hold-out (module docstring)."""

    train: sp.csr_matrix  # X without the query baskets / the hidden items
    queries: sp.csr_matrix  # the query rows (hidden items removed)
    hidden: sp.csr_matrix  # the hidden items of each query
    picked: np.ndarray  # the query rows' positions in X
    held: np.ndarray  # rows = baskets: every held-out basket (queries, and the newest too short)


def _validation_split(
    X: sp.csr_matrix, rows: str, times: np.ndarray | None, seed: int
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """Return (training rows, query rows, hidden items) for choosing λ (module docstring)."""
    split = _split_rows(X, rows, times, seed)
    return split.train, split.queries, split.hidden


def _split_rows(X: sp.csr_matrix, rows: str, times: np.ndarray | None, seed: int) -> _Split:
    """Return the hold-out of :func:`_validation_split`, with its rows."""
    rng = np.random.default_rng(seed)
    n_rows, n_items = X.shape
    lengths = np.diff(X.indptr)
    n_out = int(round(VALIDATION_SHARE * n_rows))
    if rows == "baskets":
        if times is not None:
            order = np.lexsort((np.arange(n_rows), -np.asarray(times, dtype=np.float64)))
        else:
            order = rng.permutation(n_rows)
        out = np.sort(order[:n_out])
        picked = out[lengths[out] >= 2]
    else:
        eligible = np.flatnonzero(lengths >= 2)
        n_pick = min(eligible.size, max(int(round(USER_VALIDATION_SHARE * eligible.size)), 1))
        picked = np.sort(rng.choice(eligible, size=n_pick, replace=False)) if n_pick else eligible
        out = np.empty(0, dtype=np.int64)
    cap = min(MAX_VALIDATION_ROWS, max(MIN_VALIDATION_ROWS, n_items // 4))
    if picked.size > cap:
        picked = np.sort(rng.choice(picked, size=cap, replace=False))
    # hidden entries: one per basket; HIDDEN_SHARE of a user's items (>= 1, <= len - 1)
    hide = np.zeros(X.nnz, dtype=bool)
    for r in picked.tolist():
        lo, hi = int(X.indptr[r]), int(X.indptr[r + 1])
        k = (
            1
            if rows == "baskets"
            else min(max(int(round(HIDDEN_SHARE * (hi - lo))), 1), hi - lo - 1)
        )
        hide[lo + rng.choice(hi - lo, size=k, replace=False)] = True
    coo = X.tocoo()
    keep_row = np.ones(n_rows, dtype=bool)
    if rows == "baskets":
        keep_row[picked] = False  # the query baskets leave training (the others stay)
    train_mask = keep_row[coo.row] & ~hide
    train = sp.csr_matrix(
        (coo.data[train_mask], (coo.row[train_mask], coo.col[train_mask])), shape=X.shape
    )
    sub = X[picked]
    sub_hide = (
        hide[np.concatenate([np.arange(X.indptr[r], X.indptr[r + 1]) for r in picked])]
        if (picked.size)
        else np.zeros(0, dtype=bool)
    )
    sub_coo = sub.tocoo()
    queries = sp.csr_matrix(
        (sub_coo.data[~sub_hide], (sub_coo.row[~sub_hide], sub_coo.col[~sub_hide])),
        shape=(picked.size, n_items),
        dtype=np.float32,
    )
    hidden = sp.csr_matrix(
        (
            np.ones(int(sub_hide.sum()), dtype=np.float32),
            (sub_coo.row[sub_hide], sub_coo.col[sub_hide]),
        ),
        shape=(picked.size, n_items),
    )
    return _Split(train.astype(np.float32), queries, hidden, picked, out)


def _heldout_update(X: sp.csr_matrix, train: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return ``U`` and signs ``c`` with ``trainᵀtrain = XᵀX + Uᵀ diag(c) U``.

    ``U`` stacks the rows that differ, as in ``X`` (sign -1) and as in
    ``train`` (sign +1, non-empty ones only).
    """
    changed = np.flatnonzero(
        (np.diff(X.indptr) != np.diff(train.indptr))
        | np.asarray(abs(X - train).sum(axis=1)).ravel().astype(bool)
    )
    before = X[changed]
    after = train[changed]
    after = after[np.flatnonzero(np.diff(after.indptr) > 0)]
    U = sp.vstack([before, after], format="csr", dtype=np.float32)
    signs = np.concatenate([-np.ones(before.shape[0]), np.ones(after.shape[0])])
    return U, signs


def _times_p(rows: sp.csr_matrix, weights: np.ndarray, diagonal: np.ndarray) -> np.ndarray:
    """Return ``rows @ P`` from ``B`` and ``diag(P)``: ``P = (I - B) diag(P)`` (float32)."""
    out = np.asarray(rows @ weights, dtype=np.float32)
    np.subtract(rows.toarray(), out, out=out)
    out *= diagonal.astype(np.float32)[None, :]
    return out


def _heldout_setup(
    weights: np.ndarray, diagonal: np.ndarray, U: sp.csr_matrix, signs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``U P``, the eigenpairs of ``M = diag(1 / c) + U P Uᵀ`` and ``diag(P_train)``.

    ``M`` is symmetric (indefinite, never singular: ``G_train + λI`` is
    positive definite), so ``M⁻¹ = Q diag(1 / values) Qᵀ`` and
    ``diag(P Uᵀ M⁻¹ U P)`` is the column sums of ``(Qᵀ U P)² / values``: one GEMM.
    """
    up = _times_p(U, weights, diagonal)  # (k, n)
    M = np.diag(1.0 / signs) + np.asarray(U @ up.T, dtype=np.float64)
    values, vectors = np.linalg.eigh(0.5 * (M + M.T))
    d_train = diagonal.astype(np.float64)
    step = max(1, _BLOCK_CELLS // max(U.shape[0], 1))
    for a in range(0, up.shape[1], step):
        projected = vectors.T @ up[:, a : a + step].astype(np.float64)
        d_train[a : a + step] -= (projected * projected / values[:, None]).sum(axis=0)
    return up, values, vectors, d_train


def _heldout_scores(
    weights: np.ndarray,
    diagonal: np.ndarray,
    U: sp.csr_matrix,
    signs: np.ndarray,
    queries: sp.csr_matrix,
    setup: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Return ``queries @ B_train``, ``B_train`` the EASE weights of ``XᵀX + Uᵀ diag(c) U``.

    ``weights`` and ``diagonal`` are ``B`` and ``diag(P)`` of ``XᵀX`` (same λ).
    Woodbury: ``P_train = P - P Uᵀ M⁻¹ U P`` with ``M = diag(1 / c) + U P Uᵀ``,
    so only ``k × items`` products are formed (``k`` = rows of ``U``), never
    another ``items²`` array.  ``setup`` is :func:`_heldout_setup`'s result.
    """
    qp = _times_p(queries, weights, diagonal)
    if U.shape[0] == 0:
        d_train = diagonal.astype(np.float64)
    else:
        up, values, vectors, d_train = (
            setup if setup is not None else _heldout_setup(weights, diagonal, U, signs)
        )
        qpu = np.asarray(U @ qp.T, dtype=np.float64).T  # (m, k) = Q P Uᵀ
        correction = ((qpu @ vectors) / values[None, :]) @ vectors.T  # Q P Uᵀ M⁻¹
        qp -= correction.astype(np.float32) @ up
    return np.asarray(queries.toarray() - qp / d_train[None, :], dtype=np.float32)


class _Served(NamedTuple):
    """What the λ validation needs to score the queries as cross-sell serves their customers."""

    repeats: RepeatPurchases  # statistics of the baskets before the held-out ones, prior a
    owned: sp.csr_matrix  # users x items of the same baskets, durables included
    users: np.ndarray  # the customer (row) of every query, -1 for none


class _Metrics(NamedTuple):
    """One λ's validation: NDCG@10 and HR@10 of the served score (the search's metric)."""

    ndcg: float
    hit: float
    scale: float = float("nan")  # the repeat term's best scale at this λ (served)
    basket_ndcg: float = float("nan")  # the basket score alone (as anonymous calls)
    basket_hit: float = float("nan")
    scales: pd.DataFrame | None = None  # every scale tried (served)


def _served_context(
    X: sp.csr_matrix, data: Interactions, split: _Split, repeats: RepeatPurchases | None
) -> _Served | None:
    """Return the queries' repeat term, from the baskets before the held-out ones (or ``None``).

    ``None`` without a repeat term, or with fewer than ``MIN_VALIDATION_BASKETS``
    queries of customers with earlier baskets: λ is then validated on the
    basket score alone.
    """
    if repeats is None or data.basket_users is None or split.picked.size == 0:
        return None
    earlier = np.ones(X.shape[0], dtype=bool)
    earlier[split.held] = False
    users = np.asarray(data.basket_users, dtype=np.int64)
    stats, owned = repeat_statistics(X[earlier], users[earlier], data.n_users, repeats.prior)
    query_users = users[split.picked]
    if int((stats.orders[query_users] > 0).sum()) < MIN_VALIDATION_BASKETS:
        return None
    return _Served(stats, owned, query_users)


def _with_scale(
    repeats: RepeatPurchases, scales: pd.DataFrame | None, scale: float
) -> RepeatPurchases:
    """Return ``repeats`` with the scale chosen with λ, and the scales tried in its calibration."""
    calibration = repeats.calibration
    if scales is not None:
        calibration = pd.concat([calibration, scales], ignore_index=True)
    return dataclasses.replace(repeats, scale=scale, calibration=calibration)


def _woodbury_pays(changed_rows: int, n_items: int, fits: int = 5) -> bool:
    """Tell whether validating λ by the Woodbury correction costs less than refitting.

    Per λ the correction costs about ``9 k³`` flops (the eigendecomposition of
    the ``k × k`` matrix of the ``k`` changed rows) plus ``2 k² n`` (their
    projections) on top of the fit on all rows that it then keeps, and runs at
    about a third of the speed per flop of the ``n³`` Cholesky solve; fitting
    the training rows instead costs one more solve at the end, shared by the
    ``fits`` values of λ a search tries.  Measured (one thread): MovieLens'
    1,404 items, ``k`` = 566: 13.5× a fixed fit by Woodbury, 6.6× by refits;
    10,000 items, ``k`` = 2,000: 6.0× and 4.8×.  Break-even is near 15,000
    items with ``k`` at its cap of 2,000 (:data:`MAX_VALIDATION_ROWS`).

    Examples
    --------
    >>> _woodbury_pays(2_000, 30_000), _woodbury_pays(2_000, 10_000), _woodbury_pays(566, 1_404)
    (True, False, False)
    """
    k, n = float(changed_rows), float(n_items)
    return fits * 3.0 * (9.0 * k**3 + 2.0 * k * k * n) < n**3


def _heldout_metrics(
    weights: np.ndarray | None,
    diagonal: np.ndarray | None,
    U: sp.csr_matrix,
    signs: np.ndarray,
    queries: sp.csr_matrix,
    hidden: sp.csr_matrix,
    served: _Served | None = None,
    *,
    scores_of: Callable[[sp.csr_matrix], np.ndarray] | None = None,
) -> _Metrics:
    """Mean NDCG@10 and HR@10 of the held-out queries under :func:`_heldout_scores`.

    ``scores_of`` (rows of ``queries`` -> their scores) replaces the Woodbury
    scores when the training rows were fitted themselves (``weights`` and
    ``diagonal`` are then unused).

    With ``served``, a query whose customer has earlier baskets is scored as
    cross-sell serves it: the basket score combined with the customer's repeat
    probabilities (:func:`recsys.models.repeats.combine`), their owned
    durables left out, at every scale of ``SCALE_GRID``; the scale with the
    largest NDCG@10 (ties: the closest to 1) gives the metrics.  Other queries
    keep the basket score.
    """
    m, n_items = queries.shape
    if scores_of is None:
        assert weights is not None and diagonal is not None
        setup = _heldout_setup(weights, diagonal, U, signs) if U.shape[0] else None
    step = max(1, _BLOCK_CELLS // max(n_items, 1))
    total_ndcg = total_hit = 0.0
    scale_ndcg = np.zeros(len(SCALE_GRID))
    scale_hit = np.zeros(len(SCALE_GRID))
    for a in range(0, m, step):
        part = slice(a, min(a + step, m))
        if scores_of is not None:
            scores = scores_of(queries[part])
        else:
            assert weights is not None and diagonal is not None
            scores = _heldout_scores(weights, diagonal, U, signs, queries[part], setup)
        if served is None:
            n_part, h_part = _ranking_metrics(scores, queries[part], hidden[part])
            total_ndcg += n_part
            total_hit += h_part
            continue
        # baskets: one hidden item per query, so its rank gives both metrics
        assert (np.diff(hidden[part].indptr) == 1).all(), "served: one hidden item per query"
        target = hidden[part].indices
        excluded = queries[part].toarray() > 0
        scores[excluded] = -np.inf
        n_rows, h_rows = _hidden_item_metrics(scores, target)
        total_ndcg += float(n_rows.sum())
        total_hit += float(h_rows.sum())
        q, items, p = served_cells(served.repeats, served.users[part], served.owned, excluded)
        # only the queries with repeat entries (or owned durables) change with the scale
        changed = np.union1d(q, np.flatnonzero(excluded.sum(axis=1) > queries[part].getnnz(axis=1)))
        fixed_ndcg = float(n_rows.sum() - n_rows[changed].sum())
        fixed_hit = float(h_rows.sum() - h_rows[changed].sum())
        local = np.searchsorted(changed, q)
        sub = scores[changed]
        sub[excluded[changed]] = -np.inf
        basket = sub[local, items].astype(np.float64)
        for g, c in enumerate(SCALE_GRID):
            sub[local, items] = combine(basket, p, c)  # the same cells every time
            n_sub, h_sub = _hidden_item_metrics(sub, target[changed])
            scale_ndcg[g] += fixed_ndcg + float(n_sub.sum())
            scale_hit[g] += fixed_hit + float(h_sub.sum())
    if served is None:
        return _Metrics(total_ndcg / m, total_hit / m)
    distance = np.abs(np.log2(np.asarray(SCALE_GRID)))
    best = int(np.lexsort((distance, -scale_ndcg))[0])
    scales = pd.DataFrame(
        {"scale": SCALE_GRID, "ndcg@10": scale_ndcg / m, "hit_rate@10": scale_hit / m}
    )
    scales["chosen"] = np.arange(len(SCALE_GRID)) == best
    return _Metrics(
        float(scale_ndcg[best] / m),
        float(scale_hit[best] / m),
        float(SCALE_GRID[best]),
        total_ndcg / m,
        total_hit / m,
        scales,
    )


def _hidden_item_metrics(scores: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, NDCG@10 and HR@10 of its one hidden item ``target`` (excluded items: -inf).

    The item's rank is the number of items ahead of it: scored higher, or
    equal with a smaller row (the order of :func:`_ranking_metrics`); an
    excluded (``-inf``) hidden item is never found.
    """
    m, n_items = scores.shape
    k = min(VALIDATION_K, n_items)
    score = scores[np.arange(m), target]
    ahead = (scores > score[:, None]).sum(axis=1) + (
        (scores == score[:, None]) & (np.arange(n_items)[None, :] < target[:, None])
    ).sum(axis=1)
    found = (ahead < k) & np.isfinite(score)
    return np.where(found, 1.0 / np.log2(ahead + 2.0), 0.0), found.astype(np.float64)


def _ranking_metrics(
    scores: np.ndarray, queries: sp.csr_matrix, hidden: sp.csr_matrix
) -> tuple[float, float]:
    """Sum over queries of NDCG@10 and HR@10 of the hidden items (query items excluded)."""
    k = min(VALIDATION_K, scores.shape[1])
    q = queries.tocoo()
    scores[q.row, q.col] = -np.inf
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    hid = sp.csr_matrix(hidden, dtype=np.float64)
    hid.data[:] = 1.0
    m = scores.shape[0]
    found = np.asarray(hid[np.repeat(np.arange(m), k), top.ravel()]).reshape(m, k) > 0
    found &= np.isfinite(np.take_along_axis(scores, top, axis=1))  # excluded: never listed
    wanted = np.diff(hid.indptr)
    some = wanted > 0
    ideal = np.cumsum(discount)[np.minimum(wanted[some], k) - 1]
    ndcg = float(((found[some] * discount[None, :]).sum(axis=1) / ideal).sum())
    hit = float(found[some].any(axis=1).sum())
    return ndcg, hit


def _top_k_rows(weights: np.ndarray | sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's ``k`` largest positive entries (ties by column) as a canonical CSR."""
    n_rows, n_cols = weights.shape
    parts_c: list[np.ndarray] = []
    parts_v: list[np.ndarray] = []
    lengths = np.zeros(n_rows, dtype=np.int64)
    if isinstance(weights, sp.spmatrix):
        W = weights.tocsr()
        for i in range(n_rows):
            c = W.indices[W.indptr[i] : W.indptr[i + 1]]
            v = W.data[W.indptr[i] : W.indptr[i + 1]]
            best = np.lexsort((c, -v))[:k]
            c, v = c[best], v[best]
            pos = v > 0
            order = np.argsort(c[pos])
            parts_c.append(c[pos][order].astype(np.int32))
            parts_v.append(v[pos][order].astype(np.float32))
            lengths[i] = order.size
    else:
        kk = min(k, n_cols)
        step = max(1, _BLOCK_CELLS // max(n_cols, 1))
        for a in range(0, n_rows, step):
            block = np.asarray(weights[a : a + step], dtype=np.float32)
            if kk < n_cols:
                cand = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
            else:
                cand = np.broadcast_to(np.arange(n_cols), block.shape)
            vals = np.take_along_axis(block, cand, axis=1)
            for r in range(block.shape[0]):
                c, v = cand[r], vals[r]
                # argpartition breaks ties at the k-th value arbitrarily: settle them by column
                kth = np.sort(v)[0] if v.size else 0.0
                if v.size and (block[r] == kth).sum() > (v == kth).sum():
                    above = np.flatnonzero(block[r] > kth)
                    tied = np.flatnonzero(block[r] == kth)[: kk - above.size]
                    c = np.concatenate([above, tied])
                    v = block[r, c]
                pos = v > 0
                order = np.argsort(c[pos])
                parts_c.append(c[pos][order].astype(np.int32))
                parts_v.append(v[pos][order].astype(np.float32))
                lengths[a + r] = order.size
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return sp.csr_matrix(
        (
            np.concatenate(parts_v) if parts_v else np.empty(0, np.float32),
            np.concatenate(parts_c) if parts_c else np.empty(0, np.int32),
            indptr,
        ),
        shape=(n_rows, n_cols),
    )
