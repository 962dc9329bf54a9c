"""The base class every recommender derives from.

Its docstrings are the contract: every model in :mod:`recsys.models` passes the
shared test suite in ``tests/models/contract.py`` that checks it.

Conventions (scikit-learn's): hyper-parameters are set in ``__init__`` and
stored unchanged; ``fit`` returns ``self``; learned state lives in attributes
whose names end in ``_``; using a model before ``fit`` raises
:class:`~recsys.exceptions.NotFittedError`.

Every model learns, besides its own state:

``user_ids_``, ``item_ids_`` : :class:`~recsys.data.IdMap`
    The external ID ↔ row maps of the training data.
``user_items_`` : scipy.sparse.csr_matrix
    users × items, what each user interacted with (for ``exclude_seen``).
``item_popularity_`` : numpy.ndarray
    Number of distinct users per item: the fallback ranking for users the
    model has never seen, and the tie-breaker where scores run out.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._utils.sparse import select_csr_rows
from recsys.core.topn_shared import sort_scores, topn_shared_scores
from recsys.data.ids import IdMap, as_id_array
from recsys.data.interactions import Interactions, aggregate_pairs, as_interactions
from recsys.data.validation import numeric_column, require_columns, require_dataframe
from recsys.exceptions import NotFittedError
from recsys.io import codec
from recsys.types import ExternalIds

#: Users are scored in chunks of this many, so memory stays bounded for any batch.
USER_CHUNK = 65_536

RECOMMEND_COLUMNS = ["user", "item", "score", "rank"]
SIMILAR_COLUMNS = ["item", "similar_item", "score", "rank"]

Arrays = tuple[np.ndarray, np.ndarray]
_R = TypeVar("_R", bound="Recommender")


def check_n(n: Any) -> int:
    """Validate a result count ``n`` (a positive int).

    Examples
    --------
    >>> check_n(5)
    5
    >>> check_n(0)
    Traceback (most recent call last):
    ...
    ValueError: n must be a positive integer, got 0: ask for at least one item (e.g. n=10)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(
            f"n must be an int, got {type(n).__name__}: pass a whole number of items (e.g. n=10)"
        )
    if n < 1:
        raise ValueError(
            f"n must be a positive integer, got {n}: ask for at least one item (e.g. n=10)"
        )
    return int(n)


def check_fitted(model: Recommender) -> None:
    """Raise :class:`~recsys.exceptions.NotFittedError` unless ``model`` is fitted.

    Examples
    --------
    >>> import recsys
    >>> try:
    ...     check_fitted(recsys.Popularity())
    ... except NotFittedError as err:
    ...     print(err)
    this Popularity is not fitted yet: call fit(interactions) first
    """
    model._check_fitted()


def check_rows(rows: Any, size: int, what: str, *, unknown: str | None = None) -> np.ndarray:
    """Validate a 1-D array of row numbers in ``[0, size)``; returns it as int64.

    Parameters
    ----------
    rows : array-like of int
        Row numbers (any integer dtype; floats and bools are refused, so that
        1.7 or ``True`` never silently become a row).
    size : int
        The number of rows (e.g. ``len(model.item_ids_)``).
    what : str
        The argument's name, for the error messages.
    unknown : str, optional
        Allow ``-1`` too, meaning this (e.g. ``"unknown user"``).

    Raises
    ------
    ValueError
        ``rows`` is not 1-D.
    TypeError
        Not integers.
    IndexError
        A row out of range.

    Examples
    --------
    >>> check_rows([2, 0], 3, "item_rows").tolist()
    [2, 0]
    >>> check_rows([0, 3], 3, "item_rows")
    Traceback (most recent call last):
    ...
    IndexError: item_rows must be in [0, 3), got 3; rows come from the model's ID maps \
(model.item_ids_.to_rows(ids))
    """
    where = "user_ids_" if "user" in what else "item_ids_"
    arr = np.asarray(rows)
    if arr.ndim != 1:
        raise ValueError(
            f"{what} must be a 1-D array of rows, got shape {arr.shape}: flatten it (.ravel())"
        )
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{what} must be integers, got dtype {arr.dtype}; rows come from the model's ID maps "
            f"(model.{where}.to_rows(ids)), never from floats"
        )
    low = -1 if unknown is not None else 0
    lo, hi = arr.min(), arr.max()
    if lo < low or hi >= size:
        meaning = f" (-1 = {unknown})" if unknown is not None else ""
        raise IndexError(
            f"{what} must be in [{low}, {size}){meaning}, got {int(lo if lo < low else hi)}; "
            f"rows come from the model's ID maps (model.{where}.to_rows(ids))"
        )
    return arr.astype(np.int64, copy=False)


def empty_exclusions(n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """Return a CSR (indptr, indices) that excludes nothing for ``n_queries`` queries."""
    return np.zeros(n_queries + 1, dtype=np.int64), np.empty(0, dtype=np.int32)


def csr_parts(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Return (indptr as int64, indices as int32) of a CSR matrix, for the core kernels."""
    return matrix.indptr.astype(np.int64, copy=False), matrix.indices.astype(np.int32, copy=False)


def merge_ids(old: IdMap, new: IdMap, what: str) -> tuple[IdMap, np.ndarray]:
    """Return the union of two ID maps and the union row of every row of ``new``.

    The union map (always a new object) has ``old``'s rows first, then
    ``new``'s unseen IDs in their order: known IDs keep their rows, so the
    fitted state is extended, not permuted.  (A full refit sorts the IDs
    instead; the two models agree up to that row order.)

    Examples
    --------
    >>> union, rows = merge_ids(IdMap(["a", "b"]), IdMap(["c", "a"]), "item")
    >>> union.external_ids.tolist(), rows.tolist()
    (['a', 'b', 'c'], [2, 0])
    """
    values = new.external_ids
    try:
        rows = old.to_rows(values, missing="ignore").astype(np.int64)
    except TypeError as err:
        raise TypeError(f"the new {what} IDs cannot be compared with the model's: {err}") from err
    fresh = rows < 0
    old_values = old.external_ids
    if fresh.any():
        added = values[fresh]
        numeric = old_values.dtype.kind in "iuf" and added.dtype.kind in "iuf"
        if old_values.dtype == added.dtype or numeric:
            combined = np.concatenate([old_values, added])
        else:
            combined = np.concatenate([old_values.astype(object), added.astype(object)])
        try:
            union = IdMap(combined, name=old.name)
        except ValueError as err:
            example = old_values[0] if old_values.size else None
            raise ValueError(
                f"the new {what} IDs do not have the model's ID type (the model's are like "
                f"{example!r}, new ones like {added[0]!r}): {err}"
            ) from err
        rows[fresh] = np.arange(len(old), len(old) + int(fresh.sum()))
    else:
        union = IdMap(old_values, name=old.name)
    return union, rows


def union_pairs(
    old: sp.csr_matrix,
    new: sp.csr_matrix,
    row_map: np.ndarray,
    col_map: np.ndarray,
    shape: tuple[int, int],
    old_times: np.ndarray | None = None,
    new_times: np.ndarray | None = None,
) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """Return ``old`` plus ``new`` as one canonical CSR (and the pairs' times).

    ``old`` keeps its rows and columns; ``new``'s go through ``row_map`` and
    ``col_map``.  Weights of pairs in both are summed (in float64, as ``Interactions`` does);
    with both ``times`` given, each pair keeps its latest time.

    Examples
    --------
    >>> old = sp.csr_matrix(np.array([[1.0, 0.0]], dtype=np.float32))
    >>> new = sp.csr_matrix(np.array([[2.0], [3.0]], dtype=np.float32))
    >>> union_pairs(old, new, np.array([0, 1]), np.array([0]), (2, 2))[0].toarray().tolist()
    [[3.0, 0.0], [3.0, 0.0]]
    """
    o = old.tocoo()
    n = new.tocoo()
    rows = np.concatenate([o.row.astype(np.int64), np.asarray(row_map, dtype=np.int64)[n.row]])
    cols = np.concatenate([o.col.astype(np.int64), np.asarray(col_map, dtype=np.int64)[n.col]])
    weights = np.concatenate([o.data.astype(np.float64), n.data.astype(np.float64)])
    times = None
    if old_times is not None and new_times is not None:
        # tocoo keeps the CSR entry order, so times stay aligned with the data
        times = np.concatenate(
            [np.asarray(old_times, dtype=np.float64), np.asarray(new_times, dtype=np.float64)]
        )
    return aggregate_pairs(rows, cols, weights, times, shape)


@dataclass(frozen=True, eq=False)
class _Merged:
    """The training data merged with new interactions (see ``Recommender._merge_training_data``)."""

    user_ids: IdMap
    item_ids: IdMap
    matrix: sp.csr_matrix  # union users x items, raw weights
    user_rows: np.ndarray  # union row of every user row of the new data
    item_rows: np.ndarray  # union column of every item column of the new data
    touched_users: np.ndarray  # union rows of the users with new interactions
    touched_items: np.ndarray  # union columns of the items with new interactions


class ParamsMixin:
    """``get_params``/``set_params``/``repr`` from the ``__init__`` signature, as in scikit-learn.

    The contract is scikit-learn's, so :func:`sklearn.base.clone` and its
    model-selection tools accept the models (scikit-learn is not needed
    otherwise): every ``__init__`` argument is stored unchanged under its own
    name, ``get_params(deep=True)`` adds ``<param>__<sub>`` entries for
    parameters that have ``get_params`` themselves, and ``set_params`` takes
    both forms.

    Examples
    --------
    >>> import recsys
    >>> model = recsys.Popularity()
    >>> model.set_params(segment_col="country")  # doctest: +NORMALIZE_WHITESPACE
    Popularity(segment_col='country', half_life_days=None, num_threads=0, season=None,
               season_prior=30.0)
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        """Names of the ``__init__`` arguments, in order (``*args``/``**kwargs`` excluded)."""
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get the hyper-parameters, as given to ``__init__``.

        Parameters
        ----------
        deep : bool
            Also list the parameters of parameters that have ``get_params``
            (an estimator inside an estimator), as ``<param>__<sub>``.

        Returns
        -------
        dict
            ``{name: value}`` in ``__init__`` order.

        Examples
        --------
        >>> import recsys
        >>> recsys.Popularity(segment_col="country").get_params()  # doctest: +NORMALIZE_WHITESPACE
        {'segment_col': 'country', 'half_life_days': None, 'num_threads': 0, 'season': None,
         'season_prior': 30.0}
        """
        out: dict[str, Any] = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{key}", sub) for key, sub in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Any:
        """Set hyper-parameters; ``<param>__<sub>`` sets one of a parameter's own.

        On a fitted model the learned state stays as it was fitted: call
        ``fit`` for new values to take effect (``partial_fit`` refuses when a
        parameter its state depends on has changed since ``fit``).
        Serving-only parameters such as ``num_threads`` apply at once.

        Parameters
        ----------
        **params
            ``name=value`` for names of :meth:`get_params`; all are checked
            before any is set.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            An unknown name, listing the valid ones.

        Examples
        --------
        >>> import recsys
        >>> recsys.ItemItem().set_params(k=20, similarity="cosine").k
        20
        >>> recsys.ItemItem().set_params(neighbours=20)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ItemItem has no parameter 'neighbours'; valid: ['similarity', 'k', ...]
        """
        if not params:
            return self
        valid = self._param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key in params:
            name, delim, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; valid: {valid}")
            if delim:  # the value set in this same call, else the current one
                inner = params[name] if name in params else getattr(self, name)
                if not hasattr(inner, "set_params") or isinstance(inner, type):
                    raise ValueError(
                        f"{type(self).__name__}.{name} is {inner!r}, which has no parameters: "
                        f"cannot set {key!r}"
                    )
                nested.setdefault(name, {})[sub] = params[key]
        for key, value in params.items():
            if "__" not in key:
                setattr(self, key, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"


class Recommender(ParamsMixin, ABC):
    """Base class of all recommenders.

    Subclasses implement ``_fit`` and the array-level hooks ``_topn_users``,
    ``_topn_histories``, ``_topn_similar``, ``_score_users`` and
    ``_score_histories``; this class turns external IDs into rows, applies
    exclusions and the unknown-user fallback, and returns DataFrames.  The
    public row-level methods (:meth:`recommend_rows`, :meth:`score_rows`,
    :meth:`score_history_rows`) check their arguments, then call the hooks:
    a hook may assume valid, in-range rows.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "b"]})
    >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    >>> model = recsys.Popularity().fit(data)
    >>> model.recommend([3], n=2)[["user", "item", "rank"]].values.tolist()
    [[3, 'a', 1], [3, 'c', 2]]

    The ``repr`` lists the hyper-parameters (scikit-learn style) and, once
    fitted, what the model learned:

    >>> recsys.ItemItem(k=2)  # doctest: +ELLIPSIS
    ItemItem(similarity='confidence', k=2, ...)
    >>> recsys.ItemItem(k=2).fit(data)  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    ItemItem(similarity='confidence', k=2, ...)  # fitted: 3 users x 3 items,
        4 neighbour pairs (2 per item at most)
    >>> recsys.ALS(factors=4, iterations=2, random_state=0).fit(data)  # doctest: +ELLIPSIS
    ALS(factors=4, ...)  # fitted: 3 users x 3 items, 4 factors
    """

    num_threads: int = 0

    def __repr__(self) -> str:
        params = super().__repr__()
        if not hasattr(self, "item_ids_"):
            return params
        learned = [f"{len(self.user_ids_)} users x {len(self.item_ids_)} items", *self._learned()]
        return f"{params}  # fitted: {', '.join(learned)}"

    def _learned(self) -> list[str]:
        """List what the fitted model learned besides its users and items, for ``repr`` (a hook).

        The base reads the public fitted attributes models share: factors
        (``item_factors_``), neighbour tables (``neighbours_``), segments
        (``segment_ids_``).  A model with other state extends the list.
        """
        parts: list[str] = []
        factors = getattr(self, "item_factors_", None)
        if isinstance(factors, np.ndarray) and factors.ndim == 2:
            parts.append(f"{factors.shape[1]} factors")
        table = getattr(self, "neighbours_", None)
        indptr = getattr(table, "indptr", None)
        if isinstance(indptr, np.ndarray) and indptr.size > 1:
            per_item = np.diff(indptr)
            parts.append(
                f"{int(per_item.sum()):,} neighbour pairs ({int(per_item.max())} per item at most)"
            )
        segments = getattr(self, "segment_ids_", None)
        if segments is not None and hasattr(segments, "__len__"):
            parts.append(f"{len(segments)} segments")
        return parts

    # ----------------------------------------------------------------- fitting
    def fit(
        self, interactions: Interactions | sp.spmatrix, *, show_progress: bool = False
    ) -> Recommender:
        """Learn from ``interactions``.

        Parameters
        ----------
        interactions : Interactions or scipy.sparse matrix
            users × items.  A sparse matrix gets IDs ``0..n-1``.
        show_progress : bool
            Show a progress bar on long fits.

        Returns
        -------
        self

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "b"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.ItemItem(similarity="cosine").fit(data)
        >>> model.item_ids_.to_list(), len(model.user_ids_)
        (['a', 'b', 'c'], 3)
        """
        data = as_interactions(interactions)
        self._fit(data, show_progress)
        self._set_training_data(data.user_ids, data.item_ids, data.matrix)
        self._fit_params = self.get_params(deep=False)
        return self

    #: Hyper-parameters that ``partial_fit`` needs unchanged since ``fit``
    #: (the learned state depends on them).
    _state_params: tuple[str, ...] = ()

    def _check_state_params(self, action: str = "partial_fit would mix them") -> None:
        """Refuse ``partial_fit`` if a hyper-parameter the fitted state depends on has changed.

        The values compared are those of the last ``fit`` (or ``load``);
        ``action`` says what would go wrong (``save`` passes its own).
        """
        fitted = getattr(self, "_fit_params", {})
        changed = [
            f"{name}: {fitted[name]!r} -> {getattr(self, name)!r}"
            for name in self._state_params
            if name in fitted and fitted[name] != getattr(self, name)
        ]
        if changed:
            raise ValueError(
                f"hyper-parameters changed since fit ({'; '.join(changed)}): {action}; "
                "call fit instead"
            )

    def _set_training_data(self, user_ids: IdMap, item_ids: IdMap, matrix: sp.csr_matrix) -> None:
        """Set the state every model learns: IDs, ``user_items_``, popularity.

        Used by ``fit``, ``partial_fit`` and ``load``.
        """
        self.user_ids_: IdMap = user_ids
        self.item_ids_: IdMap = item_ids
        self.user_items_: sp.csr_matrix = matrix
        counts = np.diff(matrix.tocsc().indptr).astype(np.float32)
        self.item_popularity_: np.ndarray = counts
        self._popular_order = sort_scores(counts)

    @abstractmethod
    def _fit(self, data: Interactions, show_progress: bool) -> None:
        """Learn the model's own state from ``data`` (IDs are set by ``fit``)."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_ids_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(interactions) first"
            )

    # ------------------------------------------------------------- persistence
    def save(self, path: Any, *, compress: bool = False) -> None:
        """Save the fitted model to ``path``: arrays and JSON in one ``.npz`` file, never pickle.

        The ID maps and hyper-parameters travel with the learned arrays; load
        the model back with :meth:`load` (``recsys.ALS.load(path)``) or
        :func:`recsys.load`.  The write is atomic (a temporary file in the same
        directory, fsynced, then renamed over ``path``), so a crash never
        leaves a half-written model in place.  The format is described in
        :mod:`recsys.io.codec`.

        Parameters
        ----------
        path : str or os.PathLike
            Written exactly there (no extension is added; ``.npz`` is customary).
        compress : bool
            Deflate the arrays (smaller, slower to write and read).

        Raises
        ------
        NotFittedError
            The model is not fitted.
        TypeError
            IDs (or hyper-parameters) that cannot be stored without pickle,
            e.g. tuples or IDs mixing ints and floats.

        Examples
        --------
        >>> import os, tempfile, pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.Popularity().fit(data)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> model.save(path)
        >>> recsys.load(path).recommend([2], n=1)["item"].tolist()
        ['b']
        """
        codec.save_object(self, path, compress=compress)

    @classmethod
    def load(cls: type[_R], path: Any) -> _R:
        """Load a model saved with :meth:`save`; the file must hold this class.

        ``recsys.ALS.load(path)`` is ``recsys.load(path, expected=recsys.ALS)``;
        on ``Recommender`` itself it loads any model.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        Recommender
            Fitted, of this class: it recommends exactly as the saved model did.

        Raises
        ------
        FileNotFoundError
            No such file.
        ValueError
            Naming the file and the problem: it holds another class (a
            catalog, another model), it is not a recsys file, it is truncated,
            corrupted or inconsistent, or a newer recsys wrote it.

        Examples
        --------
        >>> import os, tempfile, pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> recsys.Popularity().fit(data).save(path)
        >>> recsys.Popularity.load(path).recommend([2], n=1)["item"].tolist()
        ['b']
        >>> recsys.ALS.load(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: .../model.npz holds a Popularity, not an ALS
        """
        return codec.load_object(path, expected=cls)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return the fitted state: JSON-able metadata and typed arrays (:mod:`recsys.io.codec`)."""
        self._check_fitted()
        self._check_state_params("the file would not describe the fitted state")
        meta: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        # the values the state was fitted with: load refuses a file whose params disagree
        meta["fit_params"] = {name: getattr(self, name) for name in self._state_params}
        codec.put_idmap(meta, arrays, "user_ids", self.user_ids_)
        codec.put_idmap(meta, arrays, "item_ids", self.item_ids_)
        codec.put_csr(arrays, "user_items", self.user_items_)
        self._model_state(meta, arrays)
        return meta, arrays

    def _model_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Add the model's own learned state to ``meta`` and ``arrays``.

        Subclasses that can be saved override it; this one refuses.
        """
        raise TypeError(f"{type(self).__name__} does not support save()")

    @classmethod
    def _from_state(
        cls, params: dict[str, Any], meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> Recommender:
        """Rebuild a fitted model from :meth:`_state`'s output (derived state is recomputed)."""
        model = cls(**params)
        if hasattr(model, "_check_params"):
            model._check_params()
        state_params = {name: getattr(model, name) for name in cls._state_params}
        fit_params = meta.get("fit_params", state_params)  # format version 1 has none
        if isinstance(fit_params, dict):
            # a file written before a hyper-parameter existed names it nowhere: the state was
            # fitted without it, which is what its default means (the model above has it too)
            older = [k for k in state_params if k not in fit_params and k not in params]
            fit_params = {**fit_params, **{k: state_params[k] for k in older}}
        if not isinstance(fit_params, dict) or fit_params != state_params:
            raise ValueError(
                f"the hyper-parameters {params} disagree with those the state was fitted with "
                f"({fit_params})"
            )
        user_ids = codec.get_idmap(meta, arrays, "user_ids", name="user")
        item_ids = codec.get_idmap(meta, arrays, "item_ids", name="item")
        matrix = codec.get_csr(
            arrays, "user_items", (len(user_ids), len(item_ids)), nonnegative=True
        )
        model._set_training_data(user_ids, item_ids, matrix)
        model._restore_state(meta, arrays)
        model._fit_params = model.get_params(deep=False)
        return model

    def _restore_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Set the model's own state from ``meta`` and ``arrays``.

        The inverse of :meth:`_model_state`; this one refuses.
        """
        raise TypeError(f"{type(self).__name__} does not support load()")

    def _merge_training_data(self, data: Interactions) -> _Merged:
        """Return the union of the training data and ``data`` (for ``partial_fit``)."""
        self._check_fitted()
        self._check_state_params()
        user_ids, user_rows = merge_ids(self.user_ids_, data.user_ids, "user")
        item_ids, item_rows = merge_ids(self.item_ids_, data.item_ids, "item")
        shape = (len(user_ids), len(item_ids))
        matrix, _ = union_pairs(self.user_items_, data.matrix, user_rows, item_rows, shape)
        new = data.matrix.tocoo()
        return _Merged(
            user_ids=user_ids,
            item_ids=item_ids,
            matrix=matrix,
            user_rows=user_rows,
            item_rows=item_rows,
            touched_users=np.unique(user_rows[new.row]),
            touched_items=np.unique(item_rows[new.col]),
        )

    # ------------------------------------------------------------------- hooks
    @abstractmethod
    def _topn_users(
        self,
        user_rows: np.ndarray,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        """Return the top-n item rows and scores of known user rows.

        Both arrays have shape (len(user_rows), n); missing item rows are -1.
        """

    @abstractmethod
    def _topn_histories(
        self,
        histories: sp.csr_matrix,
        n: int,
        exclude: tuple[np.ndarray, np.ndarray],
        item_allowed: np.ndarray | None,
    ) -> Arrays:
        """Top-n for ad-hoc histories (queries × items CSR): new users, baskets."""

    @abstractmethod
    def _topn_similar(
        self, item_rows: np.ndarray, n: int, item_allowed: np.ndarray | None
    ) -> Arrays:
        """Top-n most similar items to each item row, never the item itself."""

    @abstractmethod
    def _score_users(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        """Scores (len(user_rows), len(item_rows)) float32 for known users."""

    @abstractmethod
    def _score_histories(self, histories: sp.csr_matrix, item_rows: np.ndarray) -> np.ndarray:
        """Scores (n_queries, len(item_rows)) float32 for ad-hoc histories."""

    # -------------------------------------------------------------- public API
    def recommend(
        self,
        users: ExternalIds,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        exclude_items: ExternalIds | None = None,
        candidates: ExternalIds | None = None,
    ) -> pd.DataFrame:
        """Top-``n`` items for each user.

        Parameters
        ----------
        users : list-like of external user IDs
            Duplicates are allowed; results come in this order.  Users the
            model has not seen get the fallback: the most popular items of the
            training data (their ``score`` is then the item's share of users).
        n : int
            Items per user.  Each user gets exactly ``n`` rows whenever ``n``
            candidate items remain after the exclusions, fewer only when fewer
            remain.
        exclude_seen : bool
            Leave out items the user interacted with in training.
        exclude_items : list-like, optional
            Items never to recommend (external IDs; unknown IDs are a ``KeyError``).
        candidates : list-like, optional
            Recommend only from these items (external IDs).

        Returns
        -------
        pandas.DataFrame
            Columns ``user, item, score, rank`` (rank 1 = best), external IDs,
            ordered by user (as given) then rank.

        Raises
        ------
        NotFittedError, KeyError, ValueError, TypeError

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "b"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.ItemItem(similarity="cosine").fit(data)
        >>> model.recommend([3, 99], n=2)[["user", "item", "rank"]].values.tolist()
        [[3, 'a', 1], [3, 'c', 2], [99, 'a', 1], [99, 'b', 2]]

        User 99 is unknown: the most popular items fill in.
        """
        self._check_fitted()
        n = check_n(n)
        user_values = as_id_array(users, "users")
        rows = self.user_ids_.to_rows(user_values, missing="ignore")
        item_allowed = self._item_allowed(exclude_items, candidates)
        ids, scores = self.recommend_rows(
            rows, n, exclude_seen=exclude_seen, item_allowed=item_allowed
        )
        return self._frame(user_values, ids, scores, RECOMMEND_COLUMNS)

    def recommend_rows(
        self,
        user_rows: np.ndarray,
        n: int,
        *,
        exclude_seen: bool = True,
        item_allowed: np.ndarray | None = None,
        exclude_rows: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Arrays:
        """Recommend for user rows: the array API behind :meth:`recommend`.

        For speed-sensitive callers: no ID lookups, no DataFrame.

        Parameters
        ----------
        user_rows : numpy.ndarray of int
            Rows of ``user_ids_``; ``-1`` marks an unknown user (gets the fallback).
        n : int
        exclude_seen : bool
        item_allowed : numpy.ndarray of bool, optional
            ``(n_items,)`` mask of items that may be recommended.
        exclude_rows : tuple of numpy.ndarray, optional
            ``(indptr, indices)``: the item rows to leave out for each query, as
            CSR parts over ``user_rows`` (``indptr`` of length ``len(user_rows) + 1``).
            Used instead of the training history (``exclude_seen`` is then
            ignored): e.g. seen items joined on a cluster by ``recsys.spark``.
            Unknown users (``-1``) get the fallback, without exclusions, as always.

        Returns
        -------
        item_rows : numpy.ndarray of int32, shape (len(user_rows), n)
            ``-1`` where fewer than ``n`` candidates remain.
        scores : numpy.ndarray of float32, shape (len(user_rows), n)

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "b"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.ItemItem(similarity="cosine").fit(data)
        >>> rows, scores = model.recommend_rows(model.user_ids_.to_rows([3]), 2)
        >>> model.item_ids_.to_external(rows[0]).tolist(), rows.dtype
        (['a', 'c'], dtype('int32'))
        """
        self._check_fitted()
        n = check_n(n)
        user_rows = np.asarray(user_rows).ravel()
        if user_rows.size:
            if (
                user_rows.dtype.kind not in "iu"
            ):  # 1.7 or 2**32 + 1 must not silently become another user
                raise TypeError(
                    f"user_rows must be integers, got dtype {user_rows.dtype}; rows come from "
                    "model.user_ids_.to_rows(ids, missing='ignore')"
                )
            if user_rows.max() >= len(self.user_ids_) or user_rows.min() < -1:
                raise IndexError(
                    f"user rows must be in [-1, {len(self.user_ids_)}) (-1 = unknown user); rows "
                    "come from model.user_ids_.to_rows(ids, missing='ignore')"
                )
        user_rows = user_rows.astype(np.int32, copy=False)
        self._check_mask(item_allowed)
        if exclude_rows is not None:
            ex_indptr = np.asarray(exclude_rows[0], dtype=np.int64)
            ex_indices = check_rows(exclude_rows[1], len(self.item_ids_), "exclude_rows indices")
            if (
                ex_indptr.shape != (user_rows.size + 1,)
                or ex_indptr[0] != 0
                or ex_indptr[-1] != ex_indices.size
                or np.any(np.diff(ex_indptr) < 0)
            ):
                raise ValueError(
                    "exclude_rows must be CSR parts (indptr, indices) with one row per user row"
                )
            ex_indices = ex_indices.astype(np.int32)
        n_eff = min(n, len(self.item_ids_))
        ids = np.full((user_rows.size, n_eff), -1, dtype=np.int32)
        scores = np.full((user_rows.size, n_eff), -np.inf, dtype=np.float32)
        known = np.flatnonzero(user_rows >= 0)
        unknown = np.flatnonzero(user_rows < 0)
        for start in range(0, known.size, USER_CHUNK):
            pos = known[start : start + USER_CHUNK]
            chunk_rows = user_rows[pos]
            if exclude_rows is not None:
                exclude = select_csr_rows(ex_indptr, ex_indices, pos)
            elif exclude_seen:
                exclude = select_csr_rows(
                    self.user_items_.indptr, self.user_items_.indices, chunk_rows
                )
            else:
                exclude = empty_exclusions(chunk_rows.size)
            ids[pos], scores[pos] = self._topn_users(chunk_rows, n_eff, exclude, item_allowed)
        if unknown.size:
            ids[unknown], scores[unknown] = self._fallback(unknown.size, n_eff, item_allowed)
        return ids, scores

    def recommend_for_history(
        self,
        history: pd.DataFrame,
        n: int = 10,
        *,
        query_col: str = "user",
        item_col: str = "item",
        weight_col: str | None = None,
        exclude_history: bool = True,
        exclude_items: ExternalIds | None = None,
        candidates: ExternalIds | None = None,
        unknown_items: str = "raise",
    ) -> pd.DataFrame:
        """Recommend for users or baskets the model was not trained on, without refitting.

        ALS folds the history in (exact least squares); item-item sums the
        neighbours of the history's items; popularity ranks what is not in it.

        Parameters
        ----------
        history : pandas.DataFrame
            One row per (query, item): ``query_col`` names a new customer,
            a cart or an order.
        n : int
        query_col, item_col, weight_col : str
        exclude_history : bool
            Leave out the query's own items.
        exclude_items, candidates : list-like, optional
            As in :meth:`recommend`.
        unknown_items : {"raise", "ignore"}
            Items the model does not know: a ``KeyError``, or dropped with a
            warning giving their count.

        Returns
        -------
        pandas.DataFrame
            Columns ``<query_col>, item, score, rank``.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.Popularity().fit(data)
        >>> cart = pd.DataFrame({"cart": ["c1"], "item": ["a"]})
        >>> recs = model.recommend_for_history(cart, n=1, query_col="cart")
        >>> recs[["cart", "item"]].values.tolist()
        [['c1', 'b']]
        """
        self._check_fitted()
        n = check_n(n)
        query_ids, matrix = self.histories_to_csr(
            history,
            query_col=query_col,
            item_col=item_col,
            weight_col=weight_col,
            unknown_items=unknown_items,
        )
        item_allowed = self._item_allowed(exclude_items, candidates)
        n_eff = min(n, len(self.item_ids_))
        exclude = csr_parts(matrix) if exclude_history else empty_exclusions(matrix.shape[0])
        ids, scores = self._topn_histories(matrix, n_eff, exclude, item_allowed)
        return self._frame(
            query_ids.external_ids, ids, scores, [query_col, "item", "score", "rank"]
        )

    def similar_items(
        self, items: ExternalIds, n: int = 10, *, candidates: ExternalIds | None = None
    ) -> pd.DataFrame:
        """Return the ``n`` items most similar to each of ``items`` (never the item itself).

        Parameters
        ----------
        items : list-like of external item IDs
            Unknown IDs are a ``KeyError``.
        n : int
        candidates : list-like, optional
            Only return items from this set.

        Returns
        -------
        pandas.DataFrame
            Columns ``item, similar_item, score, rank``.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "b"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.ItemItem(similarity="cosine").fit(data)
        >>> model.similar_items(["a"], n=2)[["item", "similar_item", "rank"]].values.tolist()
        [['a', 'c', 1], ['a', 'b', 2]]
        """
        self._check_fitted()
        n = check_n(n)
        values = as_id_array(items, "items")
        rows = self.item_ids_.to_rows(values)
        item_allowed = self._item_allowed(None, candidates)
        n_eff = min(n, max(len(self.item_ids_) - 1, 1))
        ids, scores = self._topn_similar(rows, n_eff, item_allowed)
        return self._frame(values, ids, scores, SIMILAR_COLUMNS)

    def score_items(self, users: ExternalIds, items: ExternalIds) -> np.ndarray:
        """Return the scores of ``items`` for each of ``users``, shape (n_users, n_items).

        Known users only.  Useful to rank a handful of candidates (e.g. upgrade tiers) without a
        full top-n.  Unknown users or items are a ``KeyError``; see
        :meth:`score_rows` for what a score means.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "b"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.ItemItem(similarity="cosine").fit(data)
        >>> model.score_items([1, 3], ["a", "c"]).astype(float).round(3).tolist()
        [[0.5, 0.707], [0.5, 0.0]]
        """
        self._check_fitted()
        user_rows = self.user_ids_.to_rows(as_id_array(users, "users"))
        item_rows = self.item_ids_.to_rows(as_id_array(items, "items"))
        return self.score_rows(user_rows, item_rows)

    def score_rows(self, user_rows: Any, item_rows: Any) -> np.ndarray:
        """Score chosen items for users given as rows: the row-level :meth:`score_items`.

        A score is the number :meth:`recommend_rows` ranks by, so
        ``score_rows(u, ids[k])`` equals the ``scores`` :meth:`recommend_rows`
        returns with ``ids`` (up to float rounding).  Higher is better; scores
        compare within one model only (ALS: dot products; item-item: neighbour
        sums, or the probability that the item joins the customer's basket;
        popularity: counts).  Exclusions do not apply: items the user has seen
        are scored too.

        Parameters
        ----------
        user_rows : array-like of int, shape (n_queries,)
            Rows of ``user_ids_``, duplicates allowed; ``-1`` marks an unknown
            user, who gets the fallback's scores (each item's share of the
            training users), as in :meth:`recommend_rows`.
        item_rows : array-like of int, shape (n_wanted,)
            Rows of ``item_ids_`` (no ``-1``), in any order, duplicates allowed.

        Returns
        -------
        numpy.ndarray of float32, shape (len(user_rows), len(item_rows))
            ``scores[q, j]``: user ``user_rows[q]``'s score of item ``item_rows[j]``.

        Raises
        ------
        NotFittedError
            The model is not fitted.
        TypeError
            Rows that are not integers (floats, bools).
        ValueError
            Rows that are not a 1-D array.
        IndexError
            A row out of range.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 3], "item": ["a", "b", "a", "c"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.Popularity().fit(data)
        >>> model.score_rows([0, -1], model.item_ids_.to_rows(["a", "c"])).tolist()
        [[2.0, 1.0], [0.6666666865348816, 0.3333333432674408]]
        """
        self._check_fitted()
        users = check_rows(user_rows, len(self.user_ids_), "user_rows", unknown="unknown user")
        items = check_rows(item_rows, len(self.item_ids_), "item_rows")
        if users.size == 0 or items.size == 0:
            return np.zeros((users.size, items.size), dtype=np.float32)
        users = users.astype(np.int32)
        known = users >= 0
        if known.all():  # the common case: no copies
            return np.asarray(self._score_users(users, items), dtype=np.float32)
        out = np.empty((users.size, items.size), dtype=np.float32)
        out[~known] = self.item_popularity_[items] / max(len(self.user_ids_), 1)
        if known.any():
            out[known] = self._score_users(users[known], items)
        return out

    def score_history_rows(self, histories: sp.spmatrix, item_rows: Any) -> np.ndarray:
        """Score chosen items for ad-hoc histories (new customers, carts, orders).

        The history counterpart of :meth:`score_rows`: a score is the number
        :meth:`recommend_for_history` ranks by (ALS folds the history in;
        item-item sums the neighbours of its items, or gives the probability
        that the item joins the basket; popularity ignores it).  The history's
        own items are scored too.

        Parameters
        ----------
        histories : scipy.sparse matrix, shape (n_queries, len(item_ids_))
            One row per query; column = item row, value = weight (as
            :meth:`histories_to_csr` builds it).  Any sparse format and real
            dtype: it is used as float32 CSR with duplicates summed.  A row
            without entries is an empty history (ALS and item-item score every
            item 0 for it).
        item_rows : array-like of int, shape (n_wanted,)
            Rows of ``item_ids_``, in any order, duplicates allowed.

        Returns
        -------
        numpy.ndarray of float32, shape (n_queries, len(item_rows))

        Raises
        ------
        NotFittedError
            The model is not fitted.
        TypeError
            ``histories`` not a scipy sparse matrix or not real numbers;
            ``item_rows`` not integers.
        ValueError
            ``histories`` without one column per item of the model, or with
            non-finite weights (or beyond float32); ``item_rows`` not 1-D.
        IndexError
            An item row out of range.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "b", "c"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.ItemItem(similarity="cosine", min_count=1).fit(data)
        >>> _, carts = model.histories_to_csr(pd.DataFrame({"cart": [7], "item": ["a"]}),
        ...                                   query_col="cart", item_col="item")
        >>> model.score_history_rows(carts, model.item_ids_.to_rows(["b", "c"])).round(3).tolist()
        [[1.0, 0.0]]
        """
        self._check_fitted()
        n_items = len(self.item_ids_)
        if not sp.issparse(histories):
            raise TypeError(
                "histories must be a scipy.sparse matrix (queries x items), got "
                f"{type(histories).__name__}"
            )
        if histories.ndim != 2 or histories.shape[1] != n_items:
            raise ValueError(
                f"histories must have one column per item of the model ({n_items}), "
                f"got shape {histories.shape}"
            )
        if histories.dtype.kind not in "biuf":
            raise TypeError(f"histories must hold real weights, got dtype {histories.dtype}")
        items = check_rows(item_rows, n_items, "item_rows")
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: inf, refused below
            matrix = sp.csr_matrix(histories).astype(np.float32, copy=False)
        if not np.isfinite(matrix.data).all():
            raise ValueError("histories: weights must be finite (and within the float32 range)")
        if not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()
        if matrix.shape[0] == 0 or items.size == 0:
            return np.zeros((matrix.shape[0], items.size), dtype=np.float32)
        return np.asarray(self._score_histories(matrix, items), dtype=np.float32)

    def popular_item_rows(self) -> np.ndarray:
        """Return every item row from the most to the least popular (ties: lower row first).

        The order unknown users get from :meth:`recommend_rows` (the fallback)
        and the fill after a model's own evidence runs out.  A shared array:
        do not modify it.

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 2, 2], "item": ["a", "b", "a"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.Popularity().fit(data)
        >>> model.item_ids_.to_external(model.popular_item_rows()).tolist()
        ['a', 'b']
        """
        self._check_fitted()
        return self._popular_order[0]

    # --------------------------------------------------------------- helpers
    def histories_to_csr(
        self,
        history: pd.DataFrame,
        *,
        query_col: str,
        item_col: str,
        weight_col: str | None = None,
        unknown_items: str = "raise",
    ) -> tuple[IdMap, sp.csr_matrix]:
        """Turn a ``query, item[, weight]`` frame into (query IdMap, queries × items CSR).

        Examples
        --------
        >>> import pandas as pd, recsys
        >>> log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "b"]})
        >>> data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
        >>> model = recsys.ItemItem(similarity="cosine").fit(data)
        >>> baskets = pd.DataFrame({"basket": ["x", "x", "y"], "item": ["a", "b", "c"]})
        >>> ids, matrix = model.histories_to_csr(baskets, query_col="basket", item_col="item")
        >>> ids.to_list(), matrix.toarray().tolist()
        (['x', 'y'], [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        """
        import warnings

        history = require_dataframe(history, "history")
        require_columns(history, [query_col, item_col, weight_col], "history")
        if unknown_items not in ("raise", "ignore"):
            raise ValueError(f"unknown_items must be 'raise' or 'ignore', got {unknown_items!r}")
        query_ids, query_rows = IdMap.from_values(history[query_col].to_numpy(), name=query_col)
        item_rows = self.item_ids_.to_rows(history[item_col].to_numpy(), missing=unknown_items)
        weights = (
            numeric_column(history, weight_col, "history")
            if weight_col is not None
            else np.ones(len(history))
        )
        known = item_rows >= 0
        if not known.all():
            warnings.warn(
                f"history: ignored {int((~known).sum())} row(s) with items unknown to the model",
                UserWarning,
                stacklevel=3,
            )
        matrix = sp.csr_matrix(
            (weights[known], (query_rows[known], item_rows[known])),
            shape=(len(query_ids), len(self.item_ids_)),
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        if matrix.nnz and np.abs(matrix.data).max() > np.finfo(np.float32).max:
            raise ValueError(
                "history: a (summed) weight exceeds the float32 range; scale the weights down "
                "(or pass none: every row then counts 1)"
            )
        return query_ids, matrix.astype(np.float32)

    def _item_allowed(
        self, exclude_items: ExternalIds | None, candidates: ExternalIds | None
    ) -> np.ndarray | None:
        if exclude_items is None and candidates is None:
            return None
        n_items = len(self.item_ids_)
        if candidates is not None:
            allowed = np.zeros(n_items, dtype=bool)
            allowed[self.item_ids_.to_rows(as_id_array(candidates, "candidates"))] = True
        else:
            allowed = np.ones(n_items, dtype=bool)
        if exclude_items is not None:
            allowed[self.item_ids_.to_rows(as_id_array(exclude_items, "exclude_items"))] = False
        return allowed

    def _check_mask(self, item_allowed: np.ndarray | None) -> None:
        if item_allowed is not None:
            if (
                not isinstance(item_allowed, np.ndarray)
                or item_allowed.dtype != np.bool_
                or item_allowed.shape != (len(self.item_ids_),)
            ):
                raise ValueError(
                    f"item_allowed must be a bool array of shape ({len(self.item_ids_)},): one "
                    "entry per item row of the model (rows: model.item_ids_.to_rows(ids))"
                )

    def _fallback(self, n_queries: int, n: int, item_allowed: np.ndarray | None) -> Arrays:
        order, sorted_scores = self._popular_order
        share = sorted_scores / max(len(self.user_ids_), 1)
        return topn_shared_scores(
            order,
            share.astype(np.float32),
            n_queries,
            n,
            item_allowed=item_allowed,
            num_threads=self.num_threads,
        )

    def _frame(
        self, queries: np.ndarray, ids: np.ndarray, scores: np.ndarray, columns: list[str]
    ) -> pd.DataFrame:
        valid = ids >= 0
        per_query = valid.sum(axis=1)
        rank = np.broadcast_to(np.arange(1, ids.shape[1] + 1, dtype=np.int64), ids.shape)
        frame = pd.DataFrame(
            {
                columns[0]: np.repeat(queries, per_query),
                columns[1]: self.item_ids_.to_external(ids[valid]),
                columns[2]: scores[valid].astype(np.float32),
                columns[3]: rank[valid],
            }
        )
        return frame
