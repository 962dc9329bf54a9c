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
from recsys.core.topn_shared import sort_scores
from recsys.data.ids import IdMap
from recsys.data.interactions import Interactions, as_interactions
from recsys.data.time_decay import check_half_life_days, decay_matrix
from recsys.io import codec
from recsys.models.base import Arrays, Recommender
from recsys.models.repeats import (
    RepeatPurchases,
    fit_repeat_purchases,
    load_repeat_purchases,
    save_repeat_purchases,
)

_log = get_logger("models.als")
_BACKENDS = ("numba", "implicit")
#: The largest confidence ``alpha * weight`` the float32 solver handles: beyond it the
#: Gramian terms overflow, or swamp every other weight, and the factors become NaN/inf.
MAX_CONFIDENCE = 1e10
#: ``alpha="auto"``: the confidence of a median observed weight (an unobserved pair has 1).
AUTO_CONFIDENCE = 3.0
#: ``regularization="auto"``: the penalty over (median confidence x mean items per user).
AUTO_REGULARIZATION = 0.15


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
    regularization : float or "auto"
        L2 penalty on the factors.  ``"auto"`` (default) resolves at fit time
        to ``AUTO_REGULARIZATION * alpha_ * median weight * mean items per
        user``: 0.15 times the confidence of a typical interaction times the
        number of items of a typical user (0.45 times the mean number of
        items per user with the default alpha), stored in ``regularization_``.
    alpha : float or "auto"
        Confidence scale of the observed weights.  ``"auto"`` (default)
        resolves at fit time to ``AUTO_CONFIDENCE / median weight`` (3 for
        0/1 data), stored in ``alpha_``: a typical interaction counts three
        times an unobserved pair whatever the unit of the weights (counts,
        play counts, quantities, spend).
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
    half_life_days : float, optional
        Time decay: each user-item weight is multiplied by ``0.5 ** (age /
        half_life_days)``, age measured from the data's reference time to the
        pair's latest event (needs interactions built with ``time_col``; see
        :mod:`recsys.data.time_decay`, shared with ``ItemItem`` and
        ``Popularity``).  ``None``: no decay.

    Attributes
    ----------
    user_factors_ : numpy.ndarray
        (n_users, factors) float32.
    item_factors_ : numpy.ndarray
        (n_items, factors) float32.
    alpha_ : float
        The confidence scale used: ``alpha``, or what ``"auto"`` resolved to.
    regularization_ : float
        The L2 penalty used: ``regularization``, or what ``"auto"`` resolved to.
    repeat_purchases_ : RepeatPurchases or None
        The customers' calibrated repeat-purchase probabilities
        (:mod:`recsys.models.repeats`), learned by ``fit`` when the
        interactions have baskets (kept as they are by ``partial_fit``):
        :func:`~recsys.recommend_cross_sell` adds them to the basket's scores
        for a known customer.  ``None`` without baskets.

    Notes
    -----
    The penalty a factorisation needs grows with the data term of a user's
    least-squares problem, a sum of confidences over their items, and the
    confidence with the unit of the weights, so fixed values suit one data
    set only: implicit's ``regularization=0.01, alpha=1.0`` (the defaults here
    before the ``"auto"`` rule) give NDCG@10 0.19 on MovieLens-100k and 0.13
    on raw Last.fm play counts.  The rule uses the median weight, not the
    mean, so that a heavy tail (a few huge play counts or wholesale
    quantities) inflates neither value.  Its two constants were chosen on
    MovieLens-100k, Last.fm, UCI Online Retail and Complete Journey (random
    80/20 split of each user's items): the table and the command are in
    ``docs/benchmarks.md`` ("ALS defaults").  Too large a penalty shrinks
    every factor to zero (the model falls back to popularity);
    :func:`recsys.evaluation.tune` searches both values for one data set.
    ``partial_fit`` keeps the values resolved by ``fit``.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3, 3], "item": ["a", "b", "a", "b", "a", "c"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> model = recsys.ALS(factors=4, iterations=5, random_state=0).fit(data)
    >>> model.recommend([3], n=1)["item"].tolist()
    ['b']
    >>> model.alpha_, round(model.regularization_, 3)  # "auto": 3 / median weight 1; 0.15 * 3 * 2
    (3.0, 0.9)
    """

    _state_params = ("factors", "regularization", "alpha", "half_life_days")

    def __init__(
        self,
        factors: int = 100,
        regularization: float | str = "auto",
        alpha: float | str = "auto",
        iterations: int = 15,
        cg_steps: int = 3,
        random_state: int | np.random.Generator | None = None,
        num_threads: int = 0,
        backend: str = "numba",
        half_life_days: float | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.random_state = random_state
        self.num_threads = num_threads
        self.backend = backend
        self.half_life_days = half_life_days

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
            if isinstance(value, str) and value == "auto":
                continue
            if (
                not isinstance(value, (int, float, np.floating, np.integer))
                or not np.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"{name} must be a finite number >= 0 or 'auto', got {value!r}")
        if not isinstance(self.alpha, str) and self.alpha <= 0:
            raise ValueError(f"alpha must be > 0 or 'auto', got {self.alpha!r}")
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
        check_half_life_days(self.half_life_days, "ALS(half_life_days=...)")

    def _fit(self, data: Interactions, show_progress: bool) -> None:
        self._check_params()
        weights = decay_matrix(
            data.matrix,
            data.times,
            data.reference_time,
            self.half_life_days,
            "ALS(half_life_days=...)",
        )
        # "auto" follows the weights actually fitted (after the time decay)
        alpha, regularization = self.resolve_scale(weights)
        self._check_weights(data, data.matrix, data.user_ids, data.item_ids, alpha)
        if self.backend == "implicit":
            user_factors, item_factors = self._fit_implicit(
                weights, show_progress, alpha, regularization
            )
        else:
            user_factors, item_factors = self._fit_numba(
                weights, show_progress, alpha, regularization
            )
        if not (np.isfinite(user_factors).all() and np.isfinite(item_factors).all()):
            raise ValueError(
                "ALS: the fit diverged (NaN or infinite factors); "
                + self._largest_weight(data, data.matrix, data.user_ids, data.item_ids, alpha)
                + ": scale the weights down (e.g. numpy.log1p) or lower alpha"
            )
        self.alpha_: float = alpha
        self.regularization_: float = regularization
        self._set_factors(user_factors, item_factors)
        # the customers' repeat purchases: cross-sell's second term (recsys.models.repeats),
        # its scale next to the basket scores chosen on held-out baskets (one more fit)
        self.repeat_purchases_: RepeatPurchases | None = fit_repeat_purchases(
            data, self._refit_scorer
        )

    def resolve_scale(self, matrix: sp.spmatrix) -> tuple[float, float]:
        """Return the ``(alpha, regularization)`` a fit on ``matrix`` uses.

        A number is used as given; ``"auto"`` follows the rule of the class
        docstring: ``alpha = AUTO_CONFIDENCE / median positive weight`` and
        ``regularization = AUTO_REGULARIZATION * alpha * median positive
        weight * mean items per user`` (positive weights per row, over the
        rows that have one).  Without positive weights the median and the
        mean count as 1.

        Parameters
        ----------
        matrix : scipy.sparse matrix
            users × items weights, as given to :meth:`fit`.

        Returns
        -------
        tuple of float

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> plays = sp.csr_matrix([[10.0, 100.0, 0.0], [20.0, 0.0, 0.0]])  # median 20
        >>> alpha, regularization = ALS().resolve_scale(plays)  # 3 / 20; 0.15 * 3 * 1.5 items
        >>> round(alpha, 6), round(regularization, 6)
        (0.15, 0.675)
        >>> ALS(alpha=1.0).resolve_scale(plays)  # 0.15 * (1 * 20) * 1.5
        (1.0, 4.5)
        """
        csr = sp.csr_matrix(matrix)
        positive = csr.data > 0
        weights = csr.data[positive]
        median = float(np.median(weights)) if weights.size else 1.0
        alpha = AUTO_CONFIDENCE / median if isinstance(self.alpha, str) else float(self.alpha)
        if isinstance(self.regularization, str):
            entry_rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))[positive]
            rows = np.unique(entry_rows).size
            items_per_user = weights.size / rows if rows else 1.0
            regularization = AUTO_REGULARIZATION * alpha * median * items_per_user
        else:
            regularization = float(self.regularization)
        return float(alpha), float(regularization)

    def _largest_weight(
        self,
        data: Interactions,
        matrix: sp.csr_matrix,
        user_ids: Any,
        item_ids: Any,
        alpha: float,
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
            f"confidence alpha * weight = {alpha * weight:g}"
            + (
                f" (alpha='auto': {AUTO_CONFIDENCE:g} / the median weight)"
                if self.alpha == "auto"
                else ""
            )
        )

    def _check_weights(
        self,
        data: Interactions,
        matrix: sp.csr_matrix,
        user_ids: Any,
        item_ids: Any,
        alpha: float,
    ) -> None:
        """Reject weights whose confidence ``alpha * w`` the float32 solver cannot handle."""
        if matrix.nnz and alpha * float(matrix.data.max()) > MAX_CONFIDENCE:
            raise ValueError(
                "ALS: " + self._largest_weight(data, matrix, user_ids, item_ids, alpha) + ", above "
                f"{MAX_CONFIDENCE:g}: the float32 solver would overflow (1 + alpha * weight "
                "swamps every other weight); scale the weights down (e.g. numpy.log1p) "
                "or lower alpha"
            )

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        """Set the factors and rebuild what is derived from them (top-n index, Gramian).

        ``alpha_`` and ``regularization_`` are set first by ``fit`` and ``load``;
        factors from elsewhere (:meth:`from_factors`) get them from
        :meth:`resolve_scale` on the training data.
        """
        if not hasattr(self, "regularization_"):
            self.alpha_, self.regularization_ = self.resolve_scale(self.user_items_)
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors
        self._index: FactorIndex = build_factor_index(item_factors)
        self._item_gramian = gramian(item_factors, self.regularization_)
        self._cosine_index: FactorIndex | None = None

    @classmethod
    def from_factors(
        cls,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        user_ids: IdMap,
        item_ids: IdMap,
        user_items: sp.csr_matrix | None = None,
        *,
        item_popularity: np.ndarray | None = None,
        **params: Any,
    ) -> ALS:
        """Build a fitted ALS from factors learned elsewhere (e.g. Spark MLlib's ALS).

        The result is the same kind of object as a local :meth:`fit`: it
        recommends, folds in, explains, saves and loads.

        Parameters
        ----------
        user_factors, item_factors : numpy.ndarray
            ``(len(user_ids), f)`` and ``(len(item_ids), f)``, finite; stored as float32.
        user_ids, item_ids : IdMap
            The external IDs of the factor rows.
        user_items : scipy.sparse matrix, optional
            users x items training weights (``exclude_seen``, popularity,
            ``partial_fit``); default none (nothing is excluded locally).
        item_popularity : numpy.ndarray, optional
            Users per item (the fallback ranking) when ``user_items`` is not
            given; default: counted from ``user_items``.
        **params
            Hyper-parameters (``regularization``, ``alpha``, ...); ``factors``
            is taken from the arrays.

        Returns
        -------
        ALS

        Examples
        --------
        >>> import numpy as np
        >>> from recsys.data.ids import IdMap
        >>> model = ALS.from_factors(np.ones((2, 3)), np.eye(2, 3), IdMap(["u", "v"]),
        ...                          IdMap(["a", "b"]))
        >>> model.recommend(["u"], n=1)["item"].tolist()
        ['a']
        """
        if not isinstance(user_ids, IdMap) or not isinstance(item_ids, IdMap):
            raise TypeError("user_ids and item_ids must be recsys.data.IdMap")
        uf = np.ascontiguousarray(user_factors, dtype=np.float32)
        itf = np.ascontiguousarray(item_factors, dtype=np.float32)
        if uf.ndim != 2 or itf.ndim != 2 or uf.shape[1] != itf.shape[1] or itf.shape[1] < 1:
            raise ValueError(
                f"factors must be 2-D with the same columns, got {uf.shape} and {itf.shape}"
            )
        if uf.shape[0] != len(user_ids) or itf.shape[0] != len(item_ids):
            raise ValueError(
                f"factor rows {uf.shape[0]} x {itf.shape[0]} do not match "
                f"{len(user_ids)} user IDs x {len(item_ids)} item IDs"
            )
        if not (np.isfinite(uf).all() and np.isfinite(itf).all()):
            raise ValueError("factors must be finite")
        model = cls(factors=int(itf.shape[1]), **params)
        model._check_params()
        shape = (len(user_ids), len(item_ids))
        if user_items is None:
            matrix = sp.csr_matrix(shape, dtype=np.float32)
        else:
            matrix = sp.csr_matrix(user_items, dtype=np.float32)
            if matrix.shape != shape:
                raise ValueError(f"user_items must have shape {shape}, got {matrix.shape}")
            matrix.sum_duplicates()
            matrix.sort_indices()
        model._set_training_data(user_ids, item_ids, matrix)
        if item_popularity is not None:
            counts = np.asarray(item_popularity, dtype=np.float32)
            if counts.shape != (shape[1],) or not np.isfinite(counts).all():
                raise ValueError(f"item_popularity must be {shape[1]} finite counts")
            model.item_popularity_ = counts
            model._popular_order = sort_scores(counts)
        model.repeat_purchases_ = None  # no baskets seen here: no repeat term
        model._set_factors(uf, itf)
        model._fit_params = model.get_params(deep=False)
        return model

    def _fit_numba(
        self, matrix: sp.csr_matrix, show_progress: bool, alpha: float, regularization: float
    ) -> tuple[np.ndarray, np.ndarray]:
        confidence = matrix.astype(np.float32, copy=True).tocsr()  # one copy, scaled in place
        confidence.data *= np.float32(alpha)
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
                    regularization,
                    cg_steps=self.cg_steps,
                    num_threads=self.num_threads,
                )
                least_squares_cg(
                    confidence_t,
                    item_factors,
                    user_factors,
                    regularization,
                    cg_steps=self.cg_steps,
                    num_threads=self.num_threads,
                )
                bar.update(1)
        return user_factors, item_factors

    def _fit_implicit(
        self, matrix: sp.csr_matrix, show_progress: bool, alpha: float, regularization: float
    ) -> tuple[np.ndarray, np.ndarray]:
        import implicit.gpu
        from implicit.als import AlternatingLeastSquares

        seed = self.random_state
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2**31 - 1))
        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=regularization,
            alpha=alpha,
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
        if self.half_life_days is not None:
            raise ValueError(
                "ALS(half_life_days=...) cannot partial_fit: the decay is relative to the newest "
                "event of the whole log; call fit on it"
            )
        data = as_interactions(interactions)
        merged = self._merge_training_data(data)
        self._check_weights(data, merged.matrix, merged.user_ids, merged.item_ids, self.alpha_)
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
            weights.data * np.float32(self.alpha_),
            fixed,
            gramian(fixed, self.regularization_),
            num_threads=self.num_threads,
        )

    # -------------------------------------------------------- persistence
    def _model_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        arrays["user_factors"] = np.ascontiguousarray(self.user_factors_, dtype=np.float32)
        arrays["item_factors"] = np.ascontiguousarray(self.item_factors_, dtype=np.float32)
        meta["alpha_"] = float(self.alpha_)
        meta["regularization_"] = float(self.regularization_)
        save_repeat_purchases(
            meta,
            arrays,
            getattr(self, "repeat_purchases_", None),
            (len(self.user_ids_), len(self.item_ids_)),  # partial_fit may have added some
        )

    def _restore_scale(self, meta: dict[str, Any]) -> None:
        """Set ``alpha_`` and ``regularization_`` from a file (older files: the parameters)."""
        for name, minimum in (("alpha", 0.0), ("regularization", 0.0)):
            param = getattr(self, name)
            value = meta.get(name + "_", None if isinstance(param, str) else param)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not minimum <= value <= codec.FLOAT32_MAX / 16
                or (name == "alpha" and value == 0)
            ):
                raise ValueError(f"bad {name}_ {value!r} for {name}={param!r}")
            if not isinstance(param, str) and float(param) != float(value):
                raise ValueError(f"{name}_ {value!r} is not {name} {param!r}")
            setattr(self, name + "_", float(value))

    def _restore_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._check_params()
        self._restore_scale(meta)
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        item_factors = codec.check_array(arrays, "item_factors", (n_items, self.factors), "f")
        user_factors = codec.check_array(arrays, "user_factors", (n_users, self.factors), "f")
        bound = max_factor(n_users, n_items, self.factors)
        # files from before repeat purchases were learned have none (no repeat term)
        self.repeat_purchases_ = load_repeat_purchases(meta, arrays, n_users, n_items)
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
            The weights are scaled by the fitted ``alpha_``, the penalty is
            ``regularization_``.

        Examples
        --------
        >>> import numpy as np, pandas as pd, scipy.sparse as sp, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "b", "c"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.ALS(factors=4, iterations=5, random_state=0).fit(data)
        >>> basket = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))  # a, b; nothing
        >>> factors = model.fold_in_rows(basket)
        >>> factors.shape, bool(np.abs(factors[1]).max() == 0)
        ((2, 4), True)
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
            histories.data * np.float32(self.alpha_),
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

    def _refit_scorer(self, baskets: sp.csr_matrix, user_items: sp.csr_matrix) -> Any:
        """Fit a copy (the resolved alpha and penalty) on other rows; return its basket scores."""
        params = self.get_params(deep=False)
        params.update(alpha=self.alpha_, regularization=self.regularization_, half_life_days=None)
        copy_ = ALS(**params).fit(user_items)
        every = np.arange(user_items.shape[1])
        return lambda histories: copy_.score_history_rows(histories, every)


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
