"""Explicit, reversible maps between external IDs and matrix rows/columns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from recsys.exceptions import UnknownIdError
from recsys.types import ExternalId, ExternalIds

_MAX_SHOWN = 10
_FLOAT_EXACT = 2**53  # integers up to this size are exact in float64
_UINT64_MAX = 2**64 - 1


def as_id_array(ids: ExternalIds, what: str) -> np.ndarray:
    """Return a list, array or Series of external IDs as a 1-D NumPy array.

    Each ID keeps its own type and exact value: ``[1, "x"]`` becomes an object
    array, not the strings ``["1", "x"]``, and integers never pass through
    float64 (``[2**64 - 2, 5]`` is uint64, integers beyond 64 bits stay Python
    ints in an object array).  A single ID is refused, so that ``"abc"`` is
    never read as three IDs.

    Parameters
    ----------
    ids : list, tuple, ndarray, Series or Index
        The IDs.
    what : str
        How error messages name the argument (``"users"``, ``"basket"``).

    Returns
    -------
    ndarray
        One-dimensional; the input array itself when it already is one.

    Raises
    ------
    TypeError
        For a single ID (a string, bytes or a scalar).
    ValueError
        For an array of more than one dimension.

    Examples
    --------
    >>> as_id_array(["a", 1], "items").tolist()
    ['a', 1]
    >>> as_id_array([2**64 - 2, 5], "users").tolist()
    [18446744073709551614, 5]
    >>> as_id_array("a", "items")
    Traceback (most recent call last):
    ...
    TypeError: items must be a list, array or Series of IDs, not a single str; wrap it in a list
    """
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
        # numpy turns [1, "x"] into the strings ["1", "x"]: keep each ID's own type instead;
        # and its fixed-width strings drop trailing NULs ("a\x00" would become "a")
        if arr.dtype.kind in "US" and (
            not all(isinstance(v, (str, bytes)) for v in values)
            or any(v[-1:] in ("\x00", b"\x00") for v in values)
        ):
            arr = _object_array(values)
        elif arr.dtype.kind == "f" and _has_inexact_int(values):
            # numpy turns [2**64 - 2, 5] into float64, where 2**64 - 2 == 2**64 - 1
            arr = _exact_int_array(values)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    return arr


def _object_array(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _has_inexact_int(values: list[Any]) -> bool:
    """Tell whether an integer in ``values`` would change value as a float64."""
    return any(_is_int(v) and abs(int(v)) > _FLOAT_EXACT for v in values)


def _exact_int_array(values: list[Any]) -> np.ndarray:
    """Return ``values`` as uint64 when they are all integers in its range, else as objects."""
    if all(_is_int(v) and 0 <= int(v) <= _UINT64_MAX for v in values):
        return np.array([int(v) for v in values], dtype=np.uint64)
    return _object_array(values)


def _as_index_ints(values: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert integer IDs to the integer ``dtype`` of an index, exactly.

    Returns the converted values and a mask of those that fit (``None``: all
    fit).  An ID outside the range of ``dtype`` cannot be in the index: its
    stand-in value 0 is looked up and then ignored through the mask.
    """
    if values.dtype == dtype:
        return values, None
    info = np.iinfo(dtype)
    if values.dtype.kind in "iu":
        fits = (values >= 0) if info.min == 0 else (values <= info.max)
        if fits.all():
            return values.astype(dtype), None
        return np.where(fits, values, 0).astype(dtype), fits
    ints = values.tolist()  # an object array of Python/NumPy integers of any size
    if info.min <= min(ints) and max(ints) <= info.max:
        return np.array(ints, dtype=dtype), None
    fits = np.array([info.min <= v <= info.max for v in ints], dtype=bool)
    return np.array([v if ok else 0 for v, ok in zip(ints, fits, strict=True)], dtype=dtype), fits


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


def canonical_order(ids: np.ndarray) -> np.ndarray:
    """Return the permutation that puts distinct IDs in their canonical order.

    IDs that can be compared (numbers, strings, dates, tuples of these) are
    sorted.  IDs that cannot (objects without an order) are sorted by type
    name and then ``repr``, a deterministic order; only distinct IDs with the
    same ``repr`` keep the order they were given in.

    Parameters
    ----------
    ids : ndarray
        Distinct IDs.

    Returns
    -------
    ndarray of int64
        Indices into ``ids``, in canonical order.

    Examples
    --------
    >>> canonical_order(np.array(["b", "c", "a"])).tolist()
    [2, 0, 1]
    >>> ids = np.array([2**70, -1, 5], dtype=object)
    >>> ids[canonical_order(ids)].tolist()
    [-1, 5, 1180591620717411303424]
    """
    try:
        return np.argsort(ids, kind="stable").astype(np.int64)
    except TypeError:  # not comparable: a deterministic order by type and repr
        keys = [(type(v).__module__, type(v).__qualname__, repr(v)) for v in ids]
        return np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)


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

    It is a sequence of the IDs in row order: iterate it, or take them as a
    list or an array.

    >>> list(ids), len(ids)
    (['apple', 'pear', 'plum'], 3)
    >>> ids.to_list() == list(ids), ids.to_numpy().tolist()
    (True, ['apple', 'pear', 'plum'])
    >>> {row: item for row, item in enumerate(ids)}[2]
    'plum'
    """

    def __init__(self, external_ids: ExternalIds, *, name: str = "ID") -> None:
        values = as_id_array(external_ids, f"{name}s")
        check_id_types(values, f"{name}s")
        index = pd.Index(values)
        if not index.is_unique:
            dup = index[index.duplicated()].unique()[:_MAX_SHOWN].tolist()
            raise ValueError(f"{name}s must be unique; duplicated: {dup}")
        self._index = index
        self.name = name

    @classmethod
    def from_values(
        cls, values: ExternalIds, *, name: str = "ID", order: str = "appearance"
    ) -> tuple[IdMap, np.ndarray]:
        """Build a map from a column of (repeated) IDs.

        Parameters
        ----------
        values : array-like
            The IDs, repeated as they occur (e.g. a log's user column).
        name : str
            How messages name an ID (``"user"``).
        order : {"appearance", "sorted"}
            The row order: of first appearance, or the canonical order of
            :func:`canonical_order` (sorted IDs), which does not depend on the
            order of ``values``, so that the same set of rows in any order
            gives the same map.

        Returns
        -------
        ids : IdMap
            The map.
        rows : ndarray of int32
            The row of every value.

        Examples
        --------
        >>> ids, rows = IdMap.from_values(["b", "a", "b"])
        >>> ids.external_ids.tolist(), rows.tolist()
        (['b', 'a'], [0, 1, 0])
        >>> ids, rows = IdMap.from_values(["b", "a", "b"], order="sorted")
        >>> ids.external_ids.tolist(), rows.tolist()
        (['a', 'b'], [1, 0, 1])
        """
        if order not in ("appearance", "sorted"):
            raise ValueError(f"order must be 'appearance' or 'sorted', got {order!r}")
        values = as_id_array(values, f"{name}s")
        check_id_types(values, f"{name}s")
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        uniques = np.asarray(uniques)
        if order == "sorted" and uniques.size > 1:
            perm = canonical_order(uniques)
            rank = np.empty(perm.size, dtype=np.int64)
            rank[perm] = np.arange(perm.size)
            uniques, codes = uniques[perm], rank[codes]
        return cls(uniques, name=name), codes.astype(np.int32)

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

    def __iter__(self) -> Iterator[ExternalId]:
        """Iterate over the external IDs in row order, as :meth:`to_list` gives them.

        Examples
        --------
        >>> [user for user in IdMap([2**64 - 1, 7], name="user")]
        [18446744073709551615, 7]
        """
        return iter(self.to_list())

    def to_list(self) -> list[ExternalId]:
        """Return the external IDs in row order as a list of Python scalars.

        NumPy scalars become their Python equivalents (``int``, ``float``,
        ``str``), with their exact values: integer IDs of any size keep every
        digit.  Other objects (dates, tuples) are returned as they are stored.

        Returns
        -------
        list
            ``to_list()[row]`` is the ID of ``row``.

        Examples
        --------
        >>> IdMap(["b", "a"]).to_list()
        ['b', 'a']
        >>> IdMap([2**64 - 2, 2**63]).to_list()
        [18446744073709551614, 9223372036854775808]
        >>> IdMap([2**70, -1]).to_list()
        [1180591620717411303424, -1]
        """
        return self._index.tolist()

    def to_numpy(self) -> np.ndarray:
        """Return the external IDs in row order as a new NumPy array.

        The array is a copy (changing it does not change the map) with the
        dtype of :attr:`external_ids`: ``int64`` or ``uint64`` for integer
        IDs that fit, ``object`` for strings and for integers beyond 64 bits
        (Python ints, exact).

        Examples
        --------
        >>> IdMap([10, 20]).to_numpy()
        array([10, 20])
        >>> ids = IdMap([2**64 - 1, 5])
        >>> ids.to_numpy().dtype, int(ids.to_numpy()[0])
        (dtype('uint64'), 18446744073709551615)
        """
        return np.array(self._index.to_numpy(), copy=True)

    def __contains__(self, external_id: ExternalId) -> bool:
        try:
            return bool(self.to_rows([external_id], missing="ignore")[0] >= 0)
        except TypeError:  # unhashable, or not comparable with the IDs
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
        values = as_id_array(external_ids, f"{self.name}s")
        if values.size == 0:
            return np.empty(0, dtype=np.int32)
        if (
            values.size == 1 and self._index.dtype.kind in "iu"
        ):  # one customer at the checkout: a hash lookup
            value = values[0]
            if _is_int(value):
                try:
                    return np.array([self._index.get_loc(value)], dtype=np.int32)
                except (KeyError, OverflowError):  # unknown, or outside the index's integer type
                    if missing == "ignore":
                        return np.array([-1], dtype=np.int32)
        lookup, fits = values, None
        if self._index.dtype.kind in "iu" and (
            values.dtype.kind in "iu"
            or (
                values.dtype == object
                and pd.api.types.infer_dtype(values, skipna=False) == "integer"
            )
        ):
            # integers of any size are compared exactly: one outside the index's type is unknown
            lookup, fits = _as_index_ints(values, self._index.dtype)
        elif values.dtype == object and self._index.dtype != object:
            # Python objects (e.g. a column of floats in an object array): looked up as they are,
            # pandas would cast the whole index to object and hash it again on every call
            kind = pd.api.types.infer_dtype(values, skipna=False)
            if kind == "floating" and self._index.dtype.kind == "f":
                lookup = values.astype(np.float64)
            else:
                inferred = pd.Index(values)
                if inferred.dtype == self._index.dtype:
                    lookup = inferred.to_numpy()
        try:
            rows = self._index.get_indexer(lookup)
        except TypeError as err:  # unorderable / unhashable
            raise TypeError(
                f"cannot look up {self.name}s {values[:_MAX_SHOWN].tolist()}: {err}"
            ) from err
        rows = np.asarray(rows, dtype=np.int32)
        if fits is not None:
            rows[~fits] = -1
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
