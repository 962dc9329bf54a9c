"""ALS: implicit-feedback matrix factorisation with our own Numba conjugate-gradient solver."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys._utils.progress import get_logger, progress
from recsys._utils.threads import blas_threads, resolve_num_threads
from recsys.core.als import fold_in, gramian, least_squares_cg
from recsys.core.topn_factors import (
    FactorIndex,
    build_factor_index,
    topn_factor_scores,
    topn_factor_scores_one,
)
from recsys.data.interactions import Interactions, as_interactions
from recsys.io import codec
from recsys.models.base import Arrays, Recommender

_log = get_logger("models.als")
_BACKENDS = ("numba", "implicit")
#: The largest confidence ``alpha * weight`` the float32 solver handles: beyond it the
#: Gramian terms overflow, or swamp every other weight, and the factors become NaN/inf.
MAX_CONFIDENCE = 1e10


@codec.saveable
class ALS(Recommender):
    """Implicit-feedback matrix factorisation (Hu, Koren & Volinsky, 2008).

    Every observed user-item weight ``w`` becomes a confidence
    ``c = alpha * w`` that the user prefers the item; unobserved pairs have
    confidence 1 in a preference of 0.  User and item factors are found by
    alternating least squares, each half-step solved with a few
    conjugate-gradient steps per row (warm-started), as in ``implicit``.

    Parameters
    ----------
    factors : int
        Latent dimensions.
    regularization : float
        L2 penalty on the factors.
    alpha : float
        Confidence scale of the observed weights.
    iterations : int
        ALS sweeps (users, then items).
    cg_steps : int
        Conjugate-gradient steps per row and half-step.
    random_state : int, numpy.random.Generator or None
        Seed of the initial factors.  With the same data, seed and
        ``num_threads`` the factors are bit-for-bit identical (each row is
        solved independently, so the thread count does not change them either).
    num_threads : int
        Threads for the Numba kernels (0 = all cores).
    backend : {"numba", "implicit"}
        ``"implicit"`` trains with the ``implicit`` package instead (its GPU
        build when CUDA is available); serving always uses our core.

    Attributes
    ----------
    user_factors_ : numpy.ndarray
        (n_users, factors) float32.
    item_factors_ : numpy.ndarray
        (n_items, factors) float32.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3, 3], "item": ["a", "b", "a", "b", "a", "c"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> model = recsys.ALS(factors=4, iterations=5, random_state=0).fit(data)
    >>> model.recommend([3], n=1)["item"].tolist()
    ['b']
    """

    _state_params = ("factors", "regularization", "alpha")

    def __init__(
        self,
        factors: int = 100,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        cg_steps: int = 3,
        random_state: int | np.random.Generator | None = None,
        num_threads: int = 0,
        backend: str = "numba",
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.random_state = random_state
        self.num_threads = num_threads
        self.backend = backend

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        def positive_int(name: str, value: object) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

        positive_int("factors", self.factors)
        positive_int("iterations", self.iterations)
        positive_int("cg_steps", self.cg_steps)
        for name in ("regularization", "alpha"):
            value = getattr(self, name)
            if (
                not isinstance(value, (int, float, np.floating, np.integer))
                or not np.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha!r}")
        if self.backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {self.backend!r}")
        seed = self.random_state
        if not (
            seed is None
            or isinstance(seed, np.random.Generator)
            or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0)
        ):
            raise ValueError(
                f"random_state must be None, an int >= 0 or a numpy.random.Generator, got {seed!r}"
            )
        resolve_num_threads(self.num_threads)

    def _fit(self, data: Interactions, show_progress: bool) -> None:
        self._check_params()
        self._check_weights(data, data.matrix, data.user_ids, data.item_ids)
        if self.backend == "implicit":
            user_factors, item_factors = self._fit_implicit(data.matrix, show_progress)
        else:
            user_factors, item_factors = self._fit_numba(data.matrix, show_progress)
        if not (np.isfinite(user_factors).all() and np.isfinite(item_factors).all()):
            raise ValueError(
                "ALS: the fit diverged (NaN or infinite factors); "
                + self._largest_weight(data, data.matrix, data.user_ids, data.item_ids)
                + ": scale the weights down (e.g. numpy.log1p) or lower alpha"
            )
        self._set_factors(user_factors, item_factors)

    def _largest_weight(
        self, data: Interactions, matrix: sp.csr_matrix, user_ids: Any, item_ids: Any
    ) -> str:
        """Describe the largest weight of ``matrix``: column, value, user, item, confidence."""
        pos = int(np.argmax(matrix.data))
        row = int(np.searchsorted(matrix.indptr, pos, side="right")) - 1
        user = user_ids.to_external([row]).tolist()[0]
        item = item_ids.to_external([int(matrix.indices[pos])]).tolist()[0]
        weight = float(matrix.data[pos])
        source = f"column {data.weight_col!r}" if data.weight_col is not None else "the weights"
        return (
            f"the largest weight in {source} is {weight:g} (user {user!r}, item {item!r}), "
            f"confidence alpha * weight = {float(self.alpha) * weight:g}"
        )

    def _check_weights(
        self, data: Interactions, matrix: sp.csr_matrix, user_ids: Any, item_ids: Any
    ) -> None:
        """Reject weights whose confidence ``alpha * w`` the float32 solver cannot handle."""
        if matrix.nnz and float(self.alpha) * float(matrix.data.max()) > MAX_CONFIDENCE:
            raise ValueError(
                "ALS: " + self._largest_weight(data, matrix, user_ids, item_ids) + ", above "
                f"{MAX_CONFIDENCE:g}: the float32 solver would overflow (1 + alpha * weight "
                "swamps every other weight); scale the weights down (e.g. numpy.log1p) "
                "or lower alpha"
            )

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        """Set the factors and rebuild what is derived from them (top-n index, Gramian)."""
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors
        self._index: FactorIndex = build_factor_index(item_factors)
        self._item_gramian = gramian(item_factors, self.regularization)
        self._cosine_index: FactorIndex | None = None

    def _fit_numba(
        self, matrix: sp.csr_matrix, show_progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        confidence = matrix.astype(np.float32, copy=True).tocsr()  # one copy, scaled in place
        confidence.data *= np.float32(self.alpha)
        confidence_t = confidence.T.tocsr()
        rng = np.random.default_rng(self.random_state)
        user_factors = rng.random((confidence.shape[0], self.factors), dtype=np.float32) * 0.01
        item_factors = rng.random((confidence.shape[1], self.factors), dtype=np.float32) * 0.01
        # one BLAS thread for the Gramians: the Numba kernels own the cores during a fit
        with progress(self.iterations, "ALS", show_progress) as bar, blas_threads(1):
            for _ in range(self.iterations):
                least_squares_cg(
                    confidence,
                    user_factors,
                    item_factors,
                    self.regularization,
                    cg_steps=self.cg_steps,
                    num_threads=self.num_threads,
                )
                least_squares_cg(
                    confidence_t,
                    item_factors,
                    user_factors,
                    self.regularization,
                    cg_steps=self.cg_steps,
                    num_threads=self.num_threads,
                )
                bar.update(1)
        return user_factors, item_factors

    def _fit_implicit(
        self, matrix: sp.csr_matrix, show_progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        import implicit.gpu
        from implicit.als import AlternatingLeastSquares

        seed = self.random_state
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2**31 - 1))
        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=seed,
            num_threads=self.num_threads,
            use_gpu=bool(implicit.gpu.HAS_CUDA),
        )
        _log.info("training with implicit (%s)", "GPU" if implicit.gpu.HAS_CUDA else "CPU")
        with blas_threads(1):
            model.fit(matrix.astype(np.float32), show_progress=show_progress)
        if hasattr(model, "to_cpu"):
            model = model.to_cpu()
        return (
            np.ascontiguousarray(model.user_factors, dtype=np.float32),
            np.ascontiguousarray(model.item_factors, dtype=np.float32),
        )

    # -------------------------------------------------------- incremental
    def partial_fit(
        self, interactions: Interactions | sp.spmatrix, *, show_progress: bool = False
    ) -> ALS:
        """Add new interactions without a full refit: new orders, new users, new items.

        ``interactions`` holds only the *new* events (external IDs; known and
        new users and items may be mixed).  They are added to the training
        matrix (weights of repeated pairs are summed, as a refit on the union
        of the logs would), then one alternating sweep restricted to what the
        new data touches is solved *exactly* (Cholesky, no CG approximation):

        1. the rows of every user with new interactions, against the fixed
           item factors (new items start at zero, so they do not count yet);
        2. the rows of every item with new interactions — new items are added
           here — against the user factors;
        3. the same user rows again, against the updated item factors.

        Afterwards a user with new interactions has exactly the factors
        :meth:`fold_in_rows` gives their whole history.

        Limits: the factors of users and items the new data does not touch are
        not refreshed, although the touched rows moved (the model drifts from
        what a full fit would learn as updates pile up), and new items bought
        only by new users who bought nothing known get no signal (zero
        factors) until the next :meth:`fit`.  Call ``fit`` periodically (e.g.
        nightly) and ``partial_fit`` in between.  The model is modified in
        place: do not serve from it while ``partial_fit`` runs (serve from a
        copy, or swap in the updated model when done).  Memory: nothing beyond
        ``fit`` (the training matrix ``user_items_`` is kept anyway).

        Parameters
        ----------
        interactions : Interactions or scipy.sparse matrix
            The new events (a sparse matrix gets IDs ``0..n-1``).
        show_progress : bool
            Accepted for symmetry with :meth:`fit`; the update is not staged.

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
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "b", "a"]})
        >>> model = recsys.ALS(factors=4, iterations=5, random_state=0).fit(
        ...     recsys.Interactions.from_pandas(log, user_col="user", item_col="item"))
        >>> new = pd.DataFrame({"user": [4, 4], "item": ["b", "c"]})
        >>> new_data = recsys.Interactions.from_pandas(new, user_col="user", item_col="item")
        >>> model = model.partial_fit(new_data)
        >>> model.user_factors_.shape, model.item_factors_.shape
        ((4, 4), (3, 4))
        """
        self._check_fitted()
        self._check_state_params()
        self._check_params()
        data = as_interactions(interactions)
        merged = self._merge_training_data(data)
        self._check_weights(data, merged.matrix, merged.user_ids, merged.item_ids)
        n_users, n_items = merged.matrix.shape
        n_factors = self.item_factors_.shape[1]
        user_factors = np.zeros((n_users, n_factors), dtype=np.float32)
        user_factors[: self.user_factors_.shape[0]] = self.user_factors_
        item_factors = np.zeros((n_items, n_factors), dtype=np.float32)
        item_factors[: self.item_factors_.shape[0]] = self.item_factors_
        confidence = sp.csr_matrix(merged.matrix, dtype=np.float32)
        user_part = confidence[merged.touched_users]
        item_part = confidence[:, merged.touched_items].T.tocsr()
        with blas_threads(1):
            user_factors[merged.touched_users] = self._solve_rows(user_part, item_factors)
            item_factors[merged.touched_items] = self._solve_rows(item_part, user_factors)
            user_factors[merged.touched_users] = self._solve_rows(user_part, item_factors)
        self._set_training_data(merged.user_ids, merged.item_ids, merged.matrix)
        self._set_factors(user_factors, item_factors)
        return self

    def _solve_rows(self, weights: sp.csr_matrix, fixed: np.ndarray) -> np.ndarray:
        """Exact least-squares factors of the rows of ``weights`` against the ``fixed`` factors."""
        weights.sort_indices()
        return fold_in(
            weights.indptr.astype(np.int64),
            weights.indices.astype(np.int32),
            weights.data * np.float32(self.alpha),
            fixed,
            gramian(fixed, self.regularization),
            num_threads=self.num_threads,
        )

    # -------------------------------------------------------- persistence
    def _model_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        arrays["user_factors"] = np.ascontiguousarray(self.user_factors_, dtype=np.float32)
        arrays["item_factors"] = np.ascontiguousarray(self.item_factors_, dtype=np.float32)

    def _restore_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._check_params()
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        item_factors = codec.check_array(arrays, "item_factors", (n_items, self.factors), "f")
        user_factors = codec.check_array(arrays, "user_factors", (n_users, self.factors), "f")
        bound = max_factor(n_users, n_items, self.factors)
        self._set_factors(
            codec.check_floats(user_factors, "user_factors", bound=bound),
            codec.check_floats(item_factors, "item_factors", bound=bound),
        )

    # ------------------------------------------------------------- fold-in
    def fold_in_rows(self, histories: sp.csr_matrix) -> np.ndarray:
        """Return the factors of users or baskets not in training, from their items.

        Exact least squares against the fixed item factors (the same equation
        a user-half-step solves, without the CG approximation).

        Parameters
        ----------
        histories : scipy.sparse.csr_matrix
            queries × items weights (items as columns of ``item_ids_``).

        Returns
        -------
        numpy.ndarray
            (n_queries, factors) float32; a query without items gets zeros.
        """
        self._check_fitted()
        if histories.shape[1] != len(self.item_ids_):
            raise ValueError(
                f"histories must have {len(self.item_ids_)} item columns, got {histories.shape[1]}"
            )
        histories = sp.csr_matrix(histories, dtype=np.float32)
        return fold_in(
            histories.indptr.astype(np.int64),
            histories.indices.astype(np.int32),
            histories.data * np.float32(self.alpha),
            self.item_factors_,
            self._item_gramian,
            num_threads=self.num_threads,
        )

    # ---------------------------------------------------------------- hooks
    def _topn_users(
        self,
        user_rows: np.ndarray,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        if user_rows.size == 1:  # serving path: no parallel launch
            indptr, indices = exclude
            ids, scores = topn_factor_scores_one(
                self.user_factors_[user_rows[0]],
                self._index,
                n,
                exclude_items=indices[indptr[0] : indptr[1]],
                item_allowed=item_allowed,
            )
            return ids[None, :], scores[None, :]
        return topn_factor_scores(
            self.user_factors_[user_rows],
            self._index,
            n,
            *exclude,
            item_allowed=item_allowed,
            num_threads=self.num_threads,
        )

    def _topn_histories(
        self,
        histories: sp.csr_matrix,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        return topn_factor_scores(
            self.fold_in_rows(histories),
            self._index,
            n,
            *exclude,
            item_allowed=item_allowed,
            num_threads=self.num_threads,
        )

    def _topn_similar(
        self, item_rows: np.ndarray, n: int, item_allowed: np.ndarray | None
    ) -> Arrays:
        if self._cosine_index is None:
            norms = np.linalg.norm(self.item_factors_, axis=1, keepdims=True)
            unit = np.divide(
                self.item_factors_, norms, out=np.zeros_like(self.item_factors_), where=norms > 0
            )
            self._cosine_index = build_factor_index(unit.astype(np.float32))
        queries = self._cosine_index.factors[np.argsort(self._cosine_index.order)[item_rows]]
        exclude = (np.arange(item_rows.size + 1, dtype=np.int64), item_rows.astype(np.int32))
        return topn_factor_scores(
            queries,
            self._cosine_index,
            n,
            *exclude,
            item_allowed=item_allowed,
            num_threads=self.num_threads,
        )

    def _score_users(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return (self.user_factors_[user_rows] @ self.item_factors_[item_rows].T).astype(np.float32)

    def _score_histories(self, histories: sp.csr_matrix, item_rows: np.ndarray) -> np.ndarray:
        return (self.fold_in_rows(histories) @ self.item_factors_[item_rows].T).astype(np.float32)


def max_factor(n_users: int, n_items: int, n_factors: int) -> float:
    """Give the largest factor magnitude a loaded ALS may have: scoring then stays finite.

    ``sqrt(float32_max / (max(n_users, n_items) * n_factors)) / 16``: every
    dot product of two factor rows, every squared norm and every entry of the
    Gramian ``Y^T Y`` is then at most ``float32_max / 256``.  Fitted factors
    are many orders of magnitude smaller.

    Parameters
    ----------
    n_users, n_items, n_factors : int
        The model's dimensions.

    Returns
    -------
    float
        The bound.

    Examples
    --------
    >>> f"{max_factor(1_000_000, 50_000, 100):.2g}"
    '1.2e+14'
    """
    return float(np.sqrt(codec.FLOAT32_MAX / (max(n_users, n_items, 1) * max(n_factors, 1))) / 16)
