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
co-purchase signal), so ``fit`` validates it on the training data itself:

1. **Hold-out.**  With rows = baskets, the newest 10% of the baskets (by
   time when the interactions have ``time_col``, else a seeded random 10%)
   leave the training rows; each of them with at least two items becomes a
   query: one item, drawn at random, is hidden, the rest is the query (as a
   cart in a cross-sell).  With rows = users, a seeded random 30% of the users
   with at least two items hide 20% of their items (at least one); their other
   items stay in the training rows (as a known user in ``recommend``).  At most
   5,000 queries, and at most a quarter of the item count (but 1,000 in any
   case), are kept (a seeded sample).
2. **One eigendecomposition.**  The training Gramian ``G = VΛVᵀ`` gives
   ``P(λ) = V diag(1 / (Λ + λ)) Vᵀ`` for every λ; the queries' scores
   ``Q - (QV) diag(1 / (Λ + λ)) Vᵀ diag(1 / diag(P(λ)))`` cost one GEMM of
   ``queries × items × items`` per λ (plus one ``items²`` pass for all the
   ``diag(P(λ))`` at once).
3. **The grid.**  λ = ``m × 2^(k/2)``, ``k = -8 .. 12`` (21 values from
   ``m / 16`` to ``64 m``), ``m`` the mean diagonal of ``G`` (the mean item
   count on 0/1 data): the scale of the data.  Every other value (factor 2,
   11 of them) is tried, then the two neighbours (factor √2) of the best.
   The metric is NDCG@10 of the hidden items among the items not in the
   query; the smallest λ with the largest NDCG@10 wins.  Every λ tried is in
   ``validation_`` (``l2``, ``relative_l2``, ``ndcg@10``, ``hit_rate@10``).
4. **Refit.**  The final model is fitted on all rows with the chosen
   ``λ / m`` times the mean diagonal of the full Gramian (the same strength
   relative to the data, which grows with the rows).

Without any query (no row with two items), λ = 2 × the mean diagonal.

Memory and the sparse form
--------------------------
The dense fit holds one float32 ``items²`` array (the Gramian, factorised and
inverted in place into ``B``); ``l2="auto"`` needs two or three of them for
the eigendecomposition.  ``fit`` estimates this before allocating anything and
refuses, naming the item count, the bytes needed and the budget
(``max_memory``), instead of swapping or being killed.  ``density=0.005``
trains the sparse form (:func:`recsys.core.sparse_ease.sparse_ease`: at most
``density × items²`` weights, memory proportional to them), for catalogs a
dense ``B`` cannot hold (100k items: 40 GB).
"""

from __future__ import annotations

import copy
import math
import os
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.threads import blas_threads, resolve_num_threads
from recsys.core.constraints import Constraints
from recsys.core.gramian import dense_gramian, ease_solve
from recsys.core.topn_dense import constrained_topn_dense
from recsys.data.interactions import Interactions
from recsys.io import codec
from recsys.models.base import Arrays, Recommender

__all__ = ["EASE", "L2_GRID", "available_memory", "dense_fit_bytes"]

#: ``l2="auto"`` tries λ = these factors × the mean diagonal of the Gramian (1/16 .. 64).
L2_GRID = 2.0 ** (np.arange(-8, 13) / 2.0)
#: λ relative to the mean diagonal when there is nothing to validate on.
FALLBACK_RELATIVE_L2 = 2.0
#: Share of the baskets held out to choose λ (rows = baskets).
VALIDATION_SHARE = 0.1
#: Share of the users (with two items or more) who hide items to choose λ (rows = users).
USER_VALIDATION_SHARE = 0.3
#: Share of a held-out user's items hidden (rows = users; baskets hide one item).
HIDDEN_SHARE = 0.2
#: At most this many validation queries, and at most a quarter of the item count when that
#: is more than MIN_VALIDATION_ROWS: each λ costs a GEMM of queries x items x items.
MAX_VALIDATION_ROWS = 5_000
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
    ``l2="auto"``: the Gramian overwritten by its eigenvectors and LAPACK's
    workspace (``syevd``: two more ``n²``; the smaller ``syevr`` path needs one
    more when that does not fit, see :class:`EASE`), plus the validation
    queries' score blocks.

    Parameters
    ----------
    n_items : int
    auto_l2 : bool
        ``l2="auto"`` (the eigendecomposition) or a fixed λ.
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
    queries = 3 * 4 * n_items * max(min(n_queries, MAX_VALIDATION_ROWS), 1)
    return (
        2 * square + vectors + queries,
        "the items x items Gramian and its eigenvectors for l2='auto' (float32), "
        "with the validation scores",
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
    """

    _state_params = ("l2", "rows", "density", "binary", "random_state")

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
    ) -> None:
        self.l2 = l2
        self.rows = rows
        self.density = density
        self.binary = binary
        self.max_memory = max_memory
        self.random_state = random_state
        self.num_threads = num_threads

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
        n_items = X.shape[1]
        auto = isinstance(self.l2, str)
        validation: pd.DataFrame | None = None
        if self.density is None:
            split = _validation_split(X, rows, times, self.random_state) if auto else None
            self._check_memory(n_items, auto, 0 if split is None else split[1].shape[0])
            if split is not None:
                l2, validation = self._choose_l2(X, *split)
            else:
                l2 = float(self.l2)
            gram = dense_gramian(X.indptr, X.indices, X.data, n_items, num_threads=self.num_threads)
            weights: np.ndarray | sp.csr_matrix = ease_solve(gram, l2, num_threads=self.num_threads)
        else:
            if auto:
                l2, validation = self._sparse_l2(X, rows, times)
            else:
                l2 = float(self.l2)
            weights = self._fit_sparse(X, l2)
        self.rows_: str = rows
        self.l2_: float = float(l2)
        self.validation_: pd.DataFrame | None = validation
        self._set_weights(weights, data.matrix)

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

    def _choose_l2(
        self, X: sp.csr_matrix, train: sp.csr_matrix, queries: sp.csr_matrix, hidden: sp.csr_matrix
    ) -> tuple[float, pd.DataFrame]:
        """Choose λ on the held-out queries with one eigendecomposition (module docstring)."""
        n_items = X.shape[1]
        full_mean = _mean_diagonal(X)
        if queries.shape[0] == 0:
            return FALLBACK_RELATIVE_L2 * max(full_mean, 1e-6), pd.DataFrame(
                {"l2": [], "relative_l2": [], "ndcg@10": [], "hit_rate@10": []}
            )
        gram = dense_gramian(
            train.indptr, train.indices, train.data, n_items, num_threads=self.num_threads
        )
        mean = max(float(np.trace(gram, dtype=np.float64)) / max(n_items, 1), 1e-6)
        grid = L2_GRID * mean
        budget, _ = self._memory_budget()
        driver = "evd" if 3 * 4 * n_items * n_items + (1 << 20) <= budget else "evr"
        with blas_threads(self.num_threads):
            # gram.T is gram (symmetric) in Fortran order: eigh overwrites it with the vectors
            import scipy.linalg  # on first use: keeps `import recsys` fast

            values, vectors = scipy.linalg.eigh(
                gram.T, overwrite_a=True, check_finite=False, driver=driver
            )
            del gram
            values = np.maximum(values, 0.0).astype(np.float64)
            inv = 1.0 / (values[:, None] + grid[None, :])  # (n, grid)
            diag = np.empty((n_items, grid.size), dtype=np.float64)  # diag(P(λ)) for every λ
            step = max(1, _BLOCK_CELLS // max(n_items, 1))
            for a in range(0, n_items, step):
                block = vectors[a : a + step].astype(np.float64)
                diag[a : a + step] = (block * block) @ inv
            projected = np.asarray(queries @ vectors, dtype=np.float32)  # (m, n) = QV
            m = queries.shape[0]
            ndcg = np.full(grid.size, np.nan)
            hit = np.full(grid.size, np.nan)

            def evaluate(g: int) -> None:
                scale = inv[:, g].astype(np.float32)
                d = diag[:, g].astype(np.float32)
                total_ndcg = total_hit = 0.0
                for a in range(0, m, step):
                    part = slice(a, min(a + step, m))
                    scores = _eigen_scores(queries[part], projected[part], vectors, scale, d)
                    n_part, h_part = _ranking_metrics(scores, queries[part], hidden[part])
                    total_ndcg += n_part
                    total_hit += h_part
                ndcg[g], hit[g] = total_ndcg / m, total_hit / m

            # every other grid point (factor 2), then the two neighbours (factor √2) of the best
            for g in range(0, grid.size, 2):
                evaluate(g)
            best = int(np.nanargmax(ndcg))
            for g in (best - 1, best + 1):
                if 0 <= g < grid.size:
                    evaluate(g)
        tried = np.flatnonzero(~np.isnan(ndcg))
        best = int(tried[np.argmax(ndcg[tried])])  # the first (smallest λ) of the best
        table = pd.DataFrame(
            {
                "l2": grid[tried],
                "relative_l2": L2_GRID[tried],
                "ndcg@10": ndcg[tried],
                "hit_rate@10": hit[tried],
            }
        )
        return float(L2_GRID[best] * max(full_mean, 1e-6)), table

    def _sparse_l2(
        self, X: sp.csr_matrix, rows: str, times: np.ndarray | None
    ) -> tuple[float, pd.DataFrame]:
        """λ for the sparse form: the dense validation on the most popular items that fit.

        The eigendecomposition of the full catalog is what the sparse form
        avoids, so ``l2="auto"`` runs the dense validation on ``X`` restricted
        to its most popular items (at most 3,000, fewer when the memory budget
        says so) and keeps the chosen λ *relative* to the mean diagonal,
        applied to the full Gramian's.
        """
        support = np.diff(X.tocsc().indptr)
        budget, _ = self._memory_budget()
        keep = min(X.shape[1], 3_000)
        while keep > 50 and dense_fit_bytes(keep, True, MAX_VALIDATION_ROWS)[0] > budget:
            keep //= 2
        top = np.sort(np.argsort(-support, kind="stable")[:keep])
        sub = X[:, top].tocsr()
        split = _validation_split(sub, rows, times, self.random_state)
        _, table = self._choose_l2(sub, *split)
        relative = (
            FALLBACK_RELATIVE_L2
            if table.empty
            else float(table["relative_l2"].iloc[int(np.argmax(table["ndcg@10"].to_numpy()))])
        )
        return relative * max(_mean_diagonal(X), 1e-6), table

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


def _validation_split(
    X: sp.csr_matrix, rows: str, times: np.ndarray | None, seed: int
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """Return (training rows, query rows, hidden items) for choosing λ (module docstring)."""
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
    keep_row[out] = False
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
    return train.astype(np.float32), queries, hidden


def _eigen_scores(
    queries: sp.csr_matrix,
    projected: np.ndarray,
    vectors: np.ndarray,
    scale: np.ndarray,
    diag: np.ndarray,
) -> np.ndarray:
    """Return ``queries @ B(λ)`` from the eigendecomposition ``G = V diag(values) Vᵀ``.

    ``projected = queries @ V``, ``scale = 1 / (values + λ)``, ``diag = diag(P(λ))``:
    ``x B = x - (x P) / diag(P)`` with ``x P = (x V) diag(scale) Vᵀ``.
    """
    xp = (projected * scale[None, :]) @ vectors.T
    return np.asarray(queries.toarray() - xp / diag[None, :], dtype=np.float32)


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
    hid = hidden.tocsr()
    ndcg = hit = 0.0
    for r in range(scores.shape[0]):
        wanted = hid.indices[hid.indptr[r] : hid.indptr[r + 1]]
        if wanted.size == 0:
            continue
        found = np.isin(top[r], wanted)
        ideal = discount[: min(wanted.size, k)].sum()
        ndcg += float(discount[found].sum() / ideal)
        hit += float(found.any())
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
