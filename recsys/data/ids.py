"""Explicit, reversible maps between external IDs and matrix rows/columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from recsys.exceptions import UnknownIdError
from recsys.types import ExternalId, ExternalIds

_MAX_SHOWN = 10


def _as_1d_array(ids: Any, what: str) -> np.ndarray:
    if isinstance(ids, (str, bytes)) or np.isscalar(ids):
        raise TypeError(
            f"{what} must be a list, array or Series of IDs, "
            f"not a single {type(ids).__name__}; wrap it in a list"
        )
    if isinstance(ids, (pd.Series, pd.Index)):
        arr = ids.to_numpy()
    elif isinstance(ids, np.ndarray):
        arr = ids
    else:
        values = list(ids)
        arr = np.asarray(values)
        # numpy turns [1, "x"] into the strings ["1", "x"]: keep each ID's own type instead
        if arr.dtype.kind in "US" and not all(isinstance(v, (str, bytes)) for v in values):
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    return arr


def check_id_types(values: np.ndarray, what: str) -> None:
    """Reject missing IDs and IDs that mix types (``1`` and ``"1"``).

    Mixed types almost always mean a column was read inconsistently, and would
    otherwise silently map the "same" customer to two rows.

    Examples
    --------
    >>> check_id_types(np.array([1, 2, 3]), "user IDs")
    >>> check_id_types(np.array([1, "1"], dtype=object), "user IDs")
    Traceback (most recent call last):
    ...
    ValueError: user IDs mix types (int, str): convert them to one type first
    """
    if values.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(
                f"{what} contain {bad.size} missing or non-finite values "
                f"(positions {bad[:_MAX_SHOWN].tolist()})"
            )
        return
    if values.dtype.kind != "O":
        return
    missing = pd.isna(values)
    if missing.any():
        bad = np.flatnonzero(missing)
        raise ValueError(
            f"{what} contain {bad.size} missing values (positions {bad[:_MAX_SHOWN].tolist()})"
        )
    kinds = {type(v) for v in values}
    # numpy scalars and Python scalars of the same family count as one type
    families = set()
    for k in kinds:
        if issubclass(k, (bool, np.bool_)):
            families.add("bool")
        elif issubclass(k, (int, np.integer)):
            families.add("int")
        elif issubclass(k, (float, np.floating)):
            families.add("float")
        elif issubclass(k, str):
            families.add("str")
        else:
            families.add(k.__name__)
    if families <= {"int", "float"}:
        return
    if len(families) > 1:
        raise ValueError(
            f"{what} mix types ({', '.join(sorted(families))}): convert them to one type first"
        )


class IdMap:
    """A bijection between external IDs (any hashable of one type) and rows ``0..n-1``.

    Parameters
    ----------
    external_ids : array-like
        The distinct external IDs, in row order.  Duplicates are an error.

    Examples
    --------
    >>> ids = IdMap(["apple", "pear", "plum"])
    >>> ids.to_rows(["plum", "apple"]).tolist()
    [2, 0]
    >>> ids.to_external([1]).tolist()
    ['pear']
    >>> "kiwi" in ids
    False
    """

    def __init__(self, external_ids: ExternalIds, *, name: str = "ID") -> None:
        values = _as_1d_array(external_ids, f"{name}s")
        check_id_types(values, f"{name}s")
        index = pd.Index(values)
        if not index.is_unique:
            dup = index[index.duplicated()].unique()[:_MAX_SHOWN].tolist()
            raise ValueError(f"{name}s must be unique; duplicated: {dup}")
        self._index = index
        self.name = name

    @classmethod
    def from_values(cls, values: ExternalIds, *, name: str = "ID") -> tuple[IdMap, np.ndarray]:
        """Build a map from a column of (repeated) IDs, in order of first appearance.

        Returns the map and the row of every value.

        Examples
        --------
        >>> ids, rows = IdMap.from_values(["b", "a", "b"])
        >>> ids.external_ids.tolist(), rows.tolist()
        (['b', 'a'], [0, 1, 0])
        """
        values = _as_1d_array(values, f"{name}s")
        check_id_types(values, f"{name}s")
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return cls(np.asarray(uniques), name=name), codes.astype(np.int32)

    @property
    def external_ids(self) -> np.ndarray:
        """The external IDs in row order."""
        return self._index.to_numpy()

    @property
    def index_dtype(self) -> Any:
        """The dtype of the lookup index (``external_ids`` may be plainer: object for ``string``).

        Examples
        --------
        >>> IdMap([3, 1]).index_dtype
        dtype('int64')
        """
        return self._index.dtype

    def with_index_dtype(self, dtype: Any) -> IdMap:
        """Return the same IDs, in the same rows, looked up through an index of ``dtype``.

        Used to restore a saved map exactly.  IDs that do not convert, or that
        would stop being distinct, are a ``TypeError``/``ValueError``.

        Examples
        --------
        >>> ids = IdMap(["a", "b"]).with_index_dtype("string")
        >>> str(ids.index_dtype), ids.to_rows(["b"]).tolist()
        ('string', [1])
        """
        index = self._index.astype(dtype)
        if len(index) != len(self._index) or not index.is_unique:
            raise ValueError(f"{self.name}s are not distinct as {dtype}")
        out = IdMap.__new__(IdMap)
        out._index, out.name = index, self.name
        return out

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, external_id: ExternalId) -> bool:
        try:
            return bool(self._index.get_indexer([external_id])[0] >= 0)
        except TypeError:
            return False

    def __repr__(self) -> str:
        return f"IdMap({len(self)} {self.name}s)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._index.equals(other._index)

    __hash__ = None  # type: ignore[assignment]

    def to_rows(self, external_ids: ExternalIds, *, missing: str = "raise") -> np.ndarray:
        """Return the rows of ``external_ids``.

        Parameters
        ----------
        external_ids : array-like
        missing : {"raise", "ignore"}
            ``"raise"`` raises :class:`~recsys.exceptions.UnknownIdError` (a
            ``KeyError``) listing unknown IDs; ``"ignore"`` returns -1 for them.

        Examples
        --------
        >>> IdMap([10, 20]).to_rows([20, 30], missing="ignore").tolist()
        [1, -1]
        """
        values = _as_1d_array(external_ids, f"{self.name}s")
        if values.size == 0:
            return np.empty(0, dtype=np.int32)
        if (
            values.size == 1 and self._index.dtype.kind in "iu"
        ):  # one customer at the checkout: a hash lookup
            value = values[0]
            if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
                try:
                    return np.array([self._index.get_loc(value)], dtype=np.int32)
                except KeyError:
                    if missing == "ignore":
                        return np.array([-1], dtype=np.int32)
        if values.dtype == object and self._index.dtype != object:
            # Python objects (e.g. a column of ints in an object array): looked up as they are,
            # pandas would cast the whole index to object and hash it again on every call
            kind = pd.api.types.infer_dtype(values, skipna=False)
            if kind == "integer" and self._index.dtype.kind in "iu":
                values = values.astype(np.int64)
            elif kind == "floating" and self._index.dtype.kind == "f":
                values = values.astype(np.float64)
            else:
                inferred = pd.Index(values)
                if inferred.dtype == self._index.dtype:
                    values = inferred.to_numpy()
        try:
            rows = self._index.get_indexer(values)
        except TypeError as err:  # unorderable / unhashable
            raise TypeError(
                f"cannot look up {self.name}s {values[:_MAX_SHOWN].tolist()}: {err}"
            ) from err
        rows = np.asarray(rows, dtype=np.int32)
        if missing == "raise":
            unknown = rows < 0
            if unknown.any():
                bad = pd.unique(values[unknown])
                raise UnknownIdError(
                    f"{bad.size} unknown {self.name}(s): {bad[:_MAX_SHOWN].tolist()}"
                    + (" ..." if bad.size > _MAX_SHOWN else "")
                )
        elif missing != "ignore":
            raise ValueError(f"missing must be 'raise' or 'ignore', got {missing!r}")
        return rows

    def to_external(self, rows: Iterable[int] | np.ndarray) -> np.ndarray:
        """Return the external IDs of ``rows``.

        Examples
        --------
        >>> IdMap(["x", "y"]).to_external([1, 0]).tolist()
        ['y', 'x']
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            bad = rows[(rows < 0) | (rows >= len(self))][:_MAX_SHOWN].tolist()
            raise IndexError(f"{self.name} rows must be in [0, {len(self)}), got {bad}")
        return self._index.to_numpy()[rows]
