"""The file codec: fitted models and catalogs as plain arrays and JSON, never pickle.

::

    model.save("model.npz")
    model = recsys.ALS.load("model.npz")    # this class only, or a ValueError
    model = recsys.load("model.npz")        # any saveable class

:class:`~recsys.ALS`, :class:`~recsys.ItemItem`, :class:`~recsys.Popularity`
and :class:`~recsys.TierCatalog` have a ``save(path)`` method and a
``load(path)`` classmethod; :func:`recsys.load` reads any of them back.

Where this module sits
----------------------
Below the models.  It imports :mod:`recsys.data` (for
:class:`~recsys.data.IdMap`) and nothing above it, so the models and the
catalog import it at module top.  Each saveable class:

* turns itself into metadata and arrays in ``_state()`` and back in the
  ``_from_state(params, state, arrays)`` classmethod, with the helpers here
  (:func:`put_idmap`, :func:`get_csr`, :func:`check_array`, ...);
* registers itself with the :func:`saveable` class decorator, under its class
  name, the ``"class"`` field of its files;
* implements ``save(path)`` as :func:`save_object` and the ``load(path)``
  classmethod as :func:`load_object` with ``expected=cls``.

:mod:`recsys.persistence` stands on top of every saveable class: it imports them
all, so the registry is complete whichever module was imported first, and gives
:func:`recsys.load`.  The registry is the one piece of shared state: only the
classes add to it, and a file names its class by a string, so no import points
up and there is no import circle.

File format (``format_version`` 2)
----------------------------------
One NumPy ``.npz`` archive: a ZIP file with one ``.npy`` member per array,
written by :func:`numpy.savez` (or :func:`numpy.savez_compressed` with
``compress=True``) and read with ``numpy.load(allow_pickle=False)``.  Every
member has a fixed dtype (integer, float, bool, datetime, fixed-width bytes or
unicode); none is an object array, so loading a file never runs code.  ZIP
keeps a CRC-32 of every member, which is checked on reading.

``__recsys__``
    A 0-d unicode array holding a JSON object::

        {"format": "recsys",                 # identifies the file
         "format_version": 2,                # this layout; see "Compatibility"
         "class": "ALS",                     # ALS | ItemItem | Popularity | TierCatalog
         "recsys_version": "0.1.0",          # the library that wrote it
         "created": "2024-05-01T12:00:00+00:00",
         "params": {"factors": 64, ...},     # hyper-parameters, get_params(deep=False)
         "state": {...},                     # scalars of the fitted state (below)
         "arrays": {"item_factors": ["<f4", [500, 64]], ...},   # inventory
         "digest": "sha256:..."}             # of everything above but the first 4 keys

    ``arrays`` lists every other member with its dtype and shape; a file
    whose members do not match it is rejected.  ``digest`` (:func:`digest`)
    covers ``class``, ``params``, ``state``, the inventory and every array's
    bytes: a file edited or rewritten without recomputing it is rejected.
    Recommenders keep in ``state.fit_params`` the hyper-parameters their
    state was fitted with; they must equal ``params`` (a model whose
    hyper-parameters changed since ``fit`` cannot be saved).

The other members, named ``<field>`` or ``<group>.<field>``:

* every recommender: ``user_ids``, ``item_ids`` (the external IDs in row
  order) and ``user_items.indptr`` / ``.indices`` / ``.data`` (the
  users × items training matrix as CSR; ``.shape`` is implied by the IDs);
* ``ALS``: ``user_factors`` (n_users, f) and ``item_factors`` (n_items, f),
  float32;
* ``ItemItem``: ``neighbours.indptr`` / ``.indices`` / ``.scores`` /
  ``.counts`` / ``.item_support`` (the
  :class:`~recsys.core.cooccurrence.NeighbourTable`; ``state.n_rows`` its
  number of transactions) and, for models fitted on baskets,
  ``transactions.indptr`` / ``.indices`` / ``.data`` (baskets × items),
  ``basket_ids`` and ``basket_users`` — what ``partial_fit`` needs;
* ``Popularity``: ``item_scores``, with segments ``segment_ids``,
  ``user_segments`` and ``segment_scores``, with ``half_life_days``
  ``pair_times`` (``state.reference_time`` in ns);
* ``TierCatalog``: ``items``, ``families``, ``tiers``, ``prices`` and the
  features as a CSR ``features.indptr`` / ``.indices`` over the vocabulary
  ``features.vocabulary``.

ID arrays (users, items, baskets, segments, families, features) keep a
numeric, bool, datetime or string dtype as is; object arrays are stored
typed: Python/NumPy ints as int64, floats as float64, bools as bool,
strings as unicode (``<U``), bytes as ``S``.  ``state.<name>`` records the
original array and index dtypes so that loading restores the IDs exactly (an
ID read back is the same value and type as the one saved).  IDs that cannot be
stored that way — tuples, IDs mixing ints and floats, ints beyond int64,
strings ending in a NUL character — are a ``TypeError`` at save time, before
anything is written.

Derived state is not stored but rebuilt on load: the ALS top-n index,
Gramian and cosine index, the ItemItem similarity matrix and scoring
histories, the popularity orders, the catalog's family index.

Hyper-parameters must be JSON scalars.  An ALS ``random_state`` that is a
``numpy.random.Generator`` is saved as ``None`` (``state.random_state_dropped``
is then true): the factors are saved, so this only affects a later refit.

Reliability
-----------
* Writes are atomic: the file is written to a temporary file in the target's
  directory, flushed and fsynced, then renamed over ``path``
  (:func:`os.replace`) and the directory fsynced.  A crash mid-save leaves the
  previous file (or none) — never a half-written one.  The temporary file is
  removed if the write fails.
* A save removes the temporary files of earlier saves to the same path that
  were killed mid-write (a live save holds an ``flock`` on its temporary
  file, so a concurrent save's is left alone).
* Loading raises a ``ValueError`` naming the file and the problem for a
  truncated or corrupted file, a file that is not a recsys file, a file of
  another class than expected, a file written by a newer format version,
  a file whose digest does not match, and a file whose contents are not
  what a fitted object can be: hyper-parameters that ``fit`` would refuse
  or that disagree with the arrays, non-canonical CSR matrices (unsorted or
  repeated columns), neighbour tables listing an item twice or as its own
  neighbour, negative counts or popularity scores, non-finite values, ALS
  factors beyond :func:`recsys.models.als.max_factor` (scores and Gramians
  would overflow float32); catalogs are rebuilt through
  :class:`~recsys.TierCatalog`'s constructor.  A missing file is a
  ``FileNotFoundError``.
* Loading memory is bounded by the sizes the file declares: the ZIP
  directory is read first, and a member missing from the inventory, or
  whose uncompressed size is not what its inventory entry (dtype × shape,
  plus the ``.npy`` header) implies, is refused before anything is
  inflated; ``__recsys__`` may inflate to :data:`MAX_META_BYTES` at most.
  Members are inflated 1 MiB at a time straight into their arrays, and the
  file is closed on every path.  ``docs/reliability.md`` has the figures.

Compatibility
-------------
``format_version`` is raised whenever the layout changes.  A reader accepts
every version up to its own (older files are migrated when read) and
rejects newer files with a ``ValueError`` asking to upgrade recsys.  The
``recsys_version`` that wrote a file is informational only.  Version 1
files (no ``digest``, no ``state.fit_params``) load with every check but
those two.

Examples
--------
>>> import os, tempfile, recsys
>>> catalog = recsys.TierCatalog.from_mapping({"mug": ["small", "large"]})
>>> path = os.path.join(tempfile.mkdtemp(), "catalog.npz")
>>> save_object(catalog, path)
>>> meta, arrays = read_file(path)
>>> meta["class"], sorted(arrays)[:2]
('TierCatalog', ['families', 'features.indices'])
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import math
import numbers
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._version import __version__
from recsys.data.ids import IdMap

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT_NAME",
    "FLOAT32_MAX",
    "FORMAT_VERSION",
    "MAX_META_BYTES",
    "META_KEY",
    "as_path",
    "atomic_write",
    "check_array",
    "check_csr_parts",
    "check_distinct_rows",
    "check_floats",
    "decode_ids",
    "digest",
    "encode_ids",
    "get_csr",
    "get_idmap",
    "get_ids",
    "json_params",
    "load_object",
    "put_csr",
    "put_idmap",
    "put_ids",
    "read_file",
    "save_object",
    "saveable",
    "saveable_classes",
    "timestamp_from_ns",
    "timestamp_to_ns",
]

#: Value of ``"format"`` in every file.
FORMAT_NAME = "recsys"
#: The layout written by this version (and the newest one it reads).
FORMAT_VERSION = 2
#: The archive member holding the JSON metadata.
META_KEY = "__recsys__"
#: The largest ``__recsys__`` member read (bytes once inflated): the metadata is small JSON.
MAX_META_BYTES = 64 << 20
#: Float arrays of a file must fit float32 with room to add them up: see :func:`check_floats`.
FLOAT32_MAX = float(np.finfo(np.float32).max)

_ARRAY_KINDS = "biufMmUS"  # the dtype kinds a member may have (never object or structured)
_CHUNK = 1 << 20  # members are inflated this many bytes at a time

_PARAM_TYPES = (type(None), bool, int, float, str)

Meta = dict[str, Any]
Arrays = dict[str, np.ndarray]
_C = TypeVar("_C", bound=type)

# ---------------------------------------------------------------------------
# the registry of saveable classes
# ---------------------------------------------------------------------------

_REGISTRY: dict[str, Any] = {}  # class name -> class (Any: the classes share no base)


def saveable(cls: _C) -> _C:
    """Register ``cls`` as a class whose objects can be saved (a class decorator).

    A file names its class by ``cls.__name__``; :func:`load_object` finds the
    class again here.  ``cls`` must implement ``_state()`` and the
    ``_from_state(params, state, arrays)`` classmethod.  Subclasses are not
    registered with it: saving one is a ``TypeError`` (it would load back as
    another class).

    Parameters
    ----------
    cls : type

    Returns
    -------
    type
        ``cls`` itself.

    Examples
    --------
    >>> import recsys
    >>> saveable_classes()["ALS"] is recsys.ALS
    True
    """
    if not (hasattr(cls, "_state") and hasattr(cls, "_from_state")):
        raise TypeError(f"{cls.__name__} needs _state() and _from_state() to be saveable")
    name = cls.__name__
    known = _REGISTRY.get(name)
    if known is not None and (known.__module__, known.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise TypeError(
            f"two saveable classes are named {name}: {known.__module__} and {cls.__module__}"
        )
    _REGISTRY[name] = cls  # a reloaded module replaces its own class
    return cls


def saveable_classes() -> dict[str, type]:
    """Return the registered classes by the name their files carry (a sorted copy).

    Examples
    --------
    >>> import recsys
    >>> list(saveable_classes())
    ['ALS', 'EASE', 'ItemItem', 'Popularity', 'Repurchase', 'TierCatalog']
    """
    return dict(sorted(_REGISTRY.items()))


# ---------------------------------------------------------------------------
# IDs
# ---------------------------------------------------------------------------


def _family(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes):
        return "bytes"
    return type(value).__name__


def _check_no_trailing_nul(values: list[Any], what: str) -> None:
    # fixed-width numpy strings drop trailing NULs: "a\x00" would come back as "a"
    bad = [v for v in values if v.endswith("\x00" if isinstance(v, str) else b"\x00")]
    if bad:
        raise TypeError(f"{what}: {bad[:3]} end with a NUL character and cannot be saved")


def encode_ids(values: np.ndarray, what: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Give ``values`` as a typed (never object) array, and what :func:`decode_ids` needs.

    Parameters
    ----------
    values : numpy.ndarray
        One-dimensional IDs.
    what : str
        Their name, for error messages.

    Returns
    -------
    stored : numpy.ndarray
        A typed array, safe to save without pickle.
    info : dict
        JSON-able: the original dtype.

    Raises
    ------
    TypeError
        IDs that cannot be stored without pickle (tuples, mixed types, ...).

    Examples
    --------
    >>> stored, info = encode_ids(np.array(["a", "bc"], dtype=object), "items")
    >>> stored.dtype.kind, info["dtype"]
    ('U', '|O')
    >>> decode_ids(stored, info, "items").tolist()
    ['a', 'bc']
    >>> tuples = np.empty(1, dtype=object)
    >>> tuples[0] = (1, 2)
    >>> encode_ids(tuples, "items")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: items: IDs of type tuple cannot be saved without pickle; ...
    """
    values = np.asarray(values)
    info: dict[str, Any] = {"dtype": values.dtype.str}
    if values.ndim != 1:
        raise TypeError(f"{what} must be one-dimensional, got shape {values.shape}")
    if values.dtype.kind in "biufMmUS":  # numpy strings cannot hold trailing NULs anyway
        return values, info
    if values.dtype.kind != "O":
        raise TypeError(f"{what}: IDs of dtype {values.dtype} cannot be saved without pickle")
    families = {_family(v) for v in values.tolist()}
    if not families:
        return np.empty(0, dtype="<U1"), info
    if len(families) > 1:
        raise TypeError(
            f"{what} mix types ({', '.join(sorted(families))}) and cannot be saved without "
            "pickle; convert them to one type first"
        )
    (family,) = families
    if family == "str":
        _check_no_trailing_nul(values.tolist(), what)
        stored = np.array(values.tolist(), dtype=str)
    elif family == "bytes":
        _check_no_trailing_nul(values.tolist(), what)
        stored = np.array(values.tolist(), dtype=bytes)
    elif family == "int":
        try:
            stored = np.array(values.tolist(), dtype=np.int64)
        except OverflowError as err:
            raise TypeError(f"{what}: integer IDs beyond the int64 range cannot be saved") from err
    elif family == "float":
        stored = np.array(values.tolist(), dtype=np.float64)
    elif family == "bool":
        stored = np.array(values.tolist(), dtype=bool)
    else:
        raise TypeError(
            f"{what}: IDs of type {family} cannot be saved without pickle; "
            "use ints, floats, bools or strings"
        )
    return stored, info


def decode_ids(stored: np.ndarray, info: dict[str, Any], what: str) -> np.ndarray:
    """Undo :func:`encode_ids`: the IDs with their original dtype.

    Examples
    --------
    >>> decode_ids(np.array([1, 2]), {"dtype": "|O"}, "users").tolist()
    [1, 2]
    """
    dtype = np.dtype(info["dtype"])
    if stored.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {stored.shape}")
    if dtype.kind == "O":
        return np.array(stored.tolist() if stored.size else [], dtype=object)
    if stored.dtype != (dtype if dtype.isnative else dtype.newbyteorder("=")):
        raise ValueError(f"{what} are stored as {stored.dtype}, the metadata says {dtype}")
    return stored


def put_ids(
    meta: Meta,
    arrays: Arrays,
    key: str,
    values: np.ndarray,
    index_dtype: Any = None,
) -> None:
    """Store an ID array under ``key`` (its restore info in ``meta[key]``).

    Examples
    --------
    >>> meta, arrays = {}, {}
    >>> put_ids(meta, arrays, "items", np.array(["a"], dtype=object))
    >>> get_ids(meta, arrays, "items").tolist()
    ['a']
    """
    stored, info = encode_ids(np.asarray(values), key)
    if index_dtype is not None:
        info["index_dtype"] = str(index_dtype)
    arrays[key] = stored
    meta[key] = info


def get_ids(meta: Meta, arrays: Arrays, key: str) -> np.ndarray:
    """Read the ID array stored by :func:`put_ids`.

    Examples
    --------
    >>> get_ids({"k": {"dtype": "<i8"}}, {"k": np.array([7])}, "k").tolist()
    [7]
    """
    return decode_ids(arrays[key], meta[key], key)


def put_idmap(meta: Meta, arrays: Arrays, key: str, ids: IdMap) -> None:
    """Store an :class:`~recsys.data.IdMap` (its IDs, name and index dtype).

    Examples
    --------
    >>> meta, arrays = {}, {}
    >>> put_idmap(meta, arrays, "item_ids", IdMap(["a", "b"], name="item"))
    >>> get_idmap(meta, arrays, "item_ids", name="item") == IdMap(["a", "b"])
    True
    """
    put_ids(meta, arrays, key, ids.external_ids, index_dtype=ids.index_dtype)
    meta[key]["name"] = ids.name


def get_idmap(meta: Meta, arrays: Arrays, key: str, *, name: str) -> IdMap:
    """Read the :class:`~recsys.data.IdMap` stored by :func:`put_idmap`, index dtype and all.

    Examples
    --------
    >>> meta, arrays = {}, {}
    >>> put_idmap(meta, arrays, "users", IdMap([3, 1], name="user"))
    >>> get_idmap(meta, arrays, "users", name="user").to_rows([1]).tolist()
    [1]
    """
    values = get_ids(meta, arrays, key)
    ids = IdMap(values, name=meta[key].get("name", name))
    wanted = meta[key].get("index_dtype")
    if wanted is not None and not isinstance(wanted, str):
        raise ValueError(f"{key}: bad index_dtype {wanted!r}")
    if wanted is not None and str(ids.index_dtype) != wanted:
        with contextlib.suppress(TypeError, ValueError, NotImplementedError):
            ids = ids.with_index_dtype(wanted)
    return ids


# ---------------------------------------------------------------------------
# sparse matrices and arrays
# ---------------------------------------------------------------------------


def put_csr(arrays: Arrays, key: str, matrix: sp.csr_matrix) -> None:
    """Store a CSR matrix as ``key.indptr`` (int64), ``key.indices`` (int32) and ``key.data``.

    Examples
    --------
    >>> arrays = {}
    >>> put_csr(arrays, "m", sp.csr_matrix(np.eye(2)))
    >>> get_csr(arrays, "m", (2, 2)).toarray().tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    matrix = sp.csr_matrix(matrix)
    if not matrix.has_canonical_format:  # files hold canonical CSR only (duplicates summed)
        matrix = matrix.copy()
        matrix.sum_duplicates()
    arrays[f"{key}.indptr"] = matrix.indptr.astype(np.int64)
    arrays[f"{key}.indices"] = matrix.indices.astype(np.int32)
    arrays[f"{key}.data"] = np.asarray(matrix.data)


def check_csr_parts(
    indptr: np.ndarray,
    indices: np.ndarray,
    shape: tuple[int, int],
    key: str,
    n_data: int | None = None,
    *,
    canonical: bool = False,
) -> None:
    """Raise a ``ValueError`` unless (indptr, indices) is a valid CSR structure of ``shape``.

    Parameters
    ----------
    indptr, indices : numpy.ndarray
        The row pointers and column indices.
    shape : tuple of int
        ``(n_rows, n_cols)``.
    key : str
        The matrix's name, for error messages.
    n_data : int, optional
        The number of stored values, which must equal that of indices.
    canonical : bool
        Also require the column indices of every row to be strictly increasing
        (sorted, no column twice), as scipy's canonical format.

    Examples
    --------
    >>> check_csr_parts(np.array([0, 1]), np.array([5]), (1, 2), "m")
    Traceback (most recent call last):
    ...
    ValueError: m: column indices out of range [0, 2)
    >>> check_csr_parts(np.array([0, 2]), np.array([1, 1]), (1, 2), "m", canonical=True)
    Traceback (most recent call last):
    ...
    ValueError: m: row 0 repeats or does not sort its column indices (canonical CSR needed)
    """
    n_rows, n_cols = shape
    if (
        indptr.ndim != 1
        or indptr.dtype.kind not in "iu"
        or indices.ndim != 1
        or indices.dtype.kind not in "iu"
    ):
        raise ValueError(f"{key}: indptr and indices must be 1-D integer arrays")
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"{key}: indptr has {indptr.shape[0]} entries, expected {n_rows + 1}")
    if indptr[0] != 0 or (np.diff(indptr) < 0).any() or indptr[-1] != indices.shape[0]:
        raise ValueError(f"{key}: indptr is not a valid CSR index pointer")
    if n_data is not None and n_data != indices.shape[0]:
        raise ValueError(f"{key}: {indices.shape[0]} indices but {n_data} values")
    if indices.size and (indices.min() < 0 or indices.max() >= n_cols):
        raise ValueError(f"{key}: column indices out of range [0, {n_cols})")
    if canonical and indices.size > 1:
        rising = np.diff(indices.astype(np.int64)) > 0
        row_start = np.zeros(indices.size, dtype=bool)
        starts = indptr[1:-1]
        row_start[starts[starts < indices.size]] = True
        bad = np.flatnonzero(~rising & ~row_start[1:])
        if bad.size:
            row = int(np.searchsorted(indptr, bad[0] + 1, side="right")) - 1
            raise ValueError(
                f"{key}: row {row} repeats or does not sort its column indices "
                "(canonical CSR needed)"
            )


def check_distinct_rows(
    indptr: np.ndarray, indices: np.ndarray, key: str, *, no_diagonal: bool = False
) -> None:
    """Raise a ``ValueError`` if a CSR row lists a column twice (or, optionally, its own index).

    For CSR structures whose rows are in another order than by column (e.g.
    neighbours by score); check them first with :func:`check_csr_parts`.

    Parameters
    ----------
    indptr, indices : numpy.ndarray
        A valid CSR structure.
    key : str
        Its name, for error messages.
    no_diagonal : bool
        Also refuse row ``i`` listing column ``i`` (an item its own neighbour).

    Examples
    --------
    >>> check_distinct_rows(np.array([0, 2, 3]), np.array([1, 2, 1]), "n", no_diagonal=True)
    Traceback (most recent call last):
    ...
    ValueError: n: row 1 lists itself
    """
    rows = np.repeat(np.arange(indptr.shape[0] - 1, dtype=np.int64), np.diff(indptr))
    if no_diagonal:
        own = np.flatnonzero(indices == rows)
        if own.size:
            raise ValueError(f"{key}: row {rows[own[0]]} lists itself")
    order = np.lexsort((indices, rows))
    same = (np.diff(rows[order]) == 0) & (np.diff(indices[order].astype(np.int64)) == 0)
    if same.any():
        at = order[np.flatnonzero(same)[0]]
        raise ValueError(f"{key}: row {rows[at]} lists column {indices[at]} twice")


def check_floats(
    arr: np.ndarray, key: str, *, bound: float = FLOAT32_MAX, nonnegative: bool = False
) -> np.ndarray:
    """Give ``arr`` as float32, or a ``ValueError`` unless it is finite and ``|x| <= bound``.

    The default bound is the largest float32: the values survive the cast.
    Callers that add values up pass a bound that keeps the sums finite.

    Parameters
    ----------
    arr : numpy.ndarray
        Numbers (any int or float dtype).
    key : str
        Its name, for error messages.
    bound : float
        The largest magnitude allowed.
    nonnegative : bool
        Also refuse negative values.

    Returns
    -------
    numpy.ndarray
        ``arr`` as a float32 array.

    Examples
    --------
    >>> check_floats(np.array([1.0, -2.0]), "s", nonnegative=True)
    Traceback (most recent call last):
    ...
    ValueError: s: values must be finite and >= 0 (found -2)
    >>> check_floats(np.array([1e30]), "f", bound=1e6)
    Traceback (most recent call last):
    ...
    ValueError: f: values must be finite with magnitude <= 1e+06 (found 1e+30)
    """
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{key}: values must be numbers, got dtype {arr.dtype}")
    if arr.size:
        values = arr if arr.dtype.kind == "f" else arr.astype(np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"{key}: values must be finite (found NaN or infinite values)")
        if nonnegative and values.min() < 0:
            raise ValueError(f"{key}: values must be finite and >= 0 (found {values.min():g})")
        largest = float(np.abs(values).max())
        if largest > bound:
            raise ValueError(
                f"{key}: values must be finite with magnitude <= {bound:g} (found {largest:g})"
            )
    return np.ascontiguousarray(arr, dtype=np.float32)


def get_csr(
    arrays: Arrays, key: str, shape: tuple[int, int], *, nonnegative: bool = False
) -> sp.csr_matrix:
    """Read the CSR matrix stored by :func:`put_csr`, checked against ``shape``.

    The structure must be canonical (columns sorted and distinct in every
    row) and the values finite numbers that fit float32.  The matrix has
    int64 ``indptr``, int32 ``indices`` and float32 values, whatever the file's dtypes.

    Examples
    --------
    >>> arrays = {}
    >>> put_csr(arrays, "m", sp.csr_matrix(np.array([[-1.0]])))
    >>> get_csr(arrays, "m", (1, 1), nonnegative=True)
    Traceback (most recent call last):
    ...
    ValueError: m: values must be finite and >= 0
    """
    indptr, indices, data = arrays[f"{key}.indptr"], arrays[f"{key}.indices"], arrays[f"{key}.data"]
    check_csr_parts(
        indptr, indices, shape, key, data.shape[0] if data.ndim == 1 else -1, canonical=True
    )
    if data.dtype.kind not in "fiu":
        raise ValueError(f"{key}: values must be numbers, got dtype {data.dtype}")
    if not np.isfinite(data).all() or (nonnegative and (data < 0).any()):
        raise ValueError(f"{key}: values must be finite" + (" and >= 0" if nonnegative else ""))
    if data.size and np.abs(data.astype(np.float64, copy=False)).max() > FLOAT32_MAX:
        raise ValueError(f"{key}: values must fit float32")
    # the dtypes put_csr writes (and fitted models hold), whatever the file's
    return sp.csr_matrix(
        (data.astype(np.float32), indices.astype(np.int32), indptr.astype(np.int64)), shape=shape
    )


def check_array(
    arrays: Arrays,
    key: str,
    shape: tuple[int, ...],
    kinds: str = "f",
    finite: bool = True,
) -> np.ndarray:
    """Give ``arrays[key]``, checked for ``shape``, a dtype kind in ``kinds`` and finite floats.

    Examples
    --------
    >>> check_array({"x": np.zeros(3)}, "x", (2,))
    Traceback (most recent call last):
    ...
    ValueError: x has shape (3,), expected (2,)
    """
    arr = arrays[key]
    if arr.shape != tuple(shape):
        raise ValueError(f"{key} has shape {arr.shape}, expected {tuple(shape)}")
    if arr.dtype.kind not in kinds:
        raise ValueError(f"{key} has dtype {arr.dtype}")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{key} has NaN or infinite values")
    return arr


# ---------------------------------------------------------------------------
# scalars: timestamps and hyper-parameters
# ---------------------------------------------------------------------------


def timestamp_to_ns(value: pd.Timestamp | None) -> int | None:
    """Give a timestamp as JSON-able nanoseconds since the epoch (``None`` stays ``None``).

    Examples
    --------
    >>> timestamp_to_ns(pd.Timestamp("1970-01-01 00:00:01"))
    1000000000
    """
    return None if value is None else int(pd.Timestamp(value).value)


def timestamp_from_ns(value: Any) -> pd.Timestamp | None:
    """Undo :func:`timestamp_to_ns` (anything but an int or ``None`` is a ``ValueError``).

    Examples
    --------
    >>> timestamp_from_ns(1_000_000_000)
    Timestamp('1970-01-01 00:00:01')
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"bad timestamp {value!r}")
    return pd.Timestamp(int(value))


def json_params(obj: Any, state: Meta) -> dict[str, Any]:
    """Give ``obj``'s hyper-parameters (``get_params(deep=False)``) as JSON scalars.

    A ``numpy.random.Generator`` ``random_state`` becomes ``None`` (and
    ``state["random_state_dropped"]`` is set); any other value that is not a
    JSON scalar is a ``TypeError``.

    Examples
    --------
    >>> import recsys
    >>> state = {}
    >>> json_params(recsys.ALS(factors=8, random_state=np.random.default_rng()), state)["factors"]
    8
    >>> state
    {'random_state_dropped': True}
    """
    if not hasattr(obj, "get_params"):
        return {}
    params = {}
    for name, value in obj.get_params(deep=False).items():
        if isinstance(value, np.generic):
            value = value.item()
        if name == "random_state" and isinstance(value, np.random.Generator):
            state["random_state_dropped"] = True
            value = None
        if not isinstance(value, _PARAM_TYPES):
            raise TypeError(
                f"cannot save {type(obj).__name__}: hyper-parameter {name}={value!r} is not a "
                "JSON scalar (None, bool, int, float or str)"
            )
        params[name] = value
    return params


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------


def as_path(path: Any) -> Path:
    """Give ``path`` (str, bytes or os.PathLike) as a :class:`~pathlib.Path`, else a ``TypeError``.

    Examples
    --------
    >>> as_path("model.npz").name
    'model.npz'
    """
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened for fsync on Windows
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _lock(fd: int, blocking: bool) -> bool:
    """Take an exclusive advisory lock on ``fd`` (True), or say it is held (False)."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def _remove_leftovers(path: Path) -> None:
    """Remove temporary files of earlier saves to ``path`` that were killed mid-write.

    A save holds a lock on its temporary file until it is renamed; a file
    nobody holds a lock on belongs to a dead save.  (Without ``fcntl``, on
    Windows, only leftovers older than a day are removed.)
    """
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    prefix = f".{path.name}."
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        leftover = path.parent / name
        with contextlib.suppress(OSError):
            if fcntl is None:  # pragma: no cover - Windows
                if os.stat(leftover).st_mtime < _dt.datetime.now().timestamp() - 86_400:
                    os.unlink(leftover)
                continue
            fd = os.open(leftover, os.O_RDONLY)
            try:
                if _lock(fd, blocking=False):  # no live save holds it
                    os.unlink(leftover)
            finally:
                os.close(fd)


def _locked_temp_file(path: Path) -> tuple[int, str]:
    """Create and lock a temporary file next to ``path`` (a new one if a cleanup removed it)."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        _lock(fd, blocking=True)
        if os.fstat(fd).st_nlink > 0:
            return fd, tmp
        os.close(fd)  # removed as a leftover between mkstemp and the lock: try again


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, fsync it, rename it over ``path``.

    The file keeps the permissions of the one it replaces; if ``write``
    fails the temporary file is removed and ``path`` is untouched.  A save
    killed mid-write leaves its temporary file behind: the next save to the
    same ``path`` removes it.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.bin"
    >>> atomic_write(target, lambda f: f.write(b"abc"))
    >>> target.read_bytes()
    b'abc'
    """
    directory = path.parent
    _remove_leftovers(path)
    fd, tmp = _locked_temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            try:
                mode = os.stat(path).st_mode & 0o777
            except OSError:
                mode = 0o644
            os.chmod(tmp, mode)
            if fcntl is not None:
                os.replace(tmp, path)  # still locked: a concurrent cleanup leaves it alone
        if fcntl is None:  # pragma: no cover - Windows cannot rename an open file
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def digest(meta: Meta, arrays: Arrays) -> str:
    """Give the digest of a file's contents: its ``"digest"`` field (format version 2).

    SHA-256 of the canonical JSON of ``class``, ``params``, ``state`` and the
    ``arrays`` inventory, then of every array (name, dtype, shape and bytes in
    C order, by name).  Loading refuses a file whose digest differs: an array
    or a value edited without it.  It guards against accidents (a member
    rewritten by another tool, an edited value), not against forgery: the
    recipe is public.  A file written by hand computes it with this function.

    Parameters
    ----------
    meta : dict
        The metadata (only the four fields above are read).
    arrays : dict of numpy.ndarray
        Every member but ``__recsys__``.

    Returns
    -------
    str
        ``"sha256:<hex>"``.

    Examples
    --------
    >>> digest({"class": "X", "params": {}, "state": {}, "arrays": {}}, {})[:7]
    'sha256:'
    """
    h = hashlib.sha256()
    head = {key: meta.get(key) for key in ("class", "params", "state", "arrays")}
    h.update(json.dumps(head, sort_keys=True, allow_nan=True).encode())
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])
        h.update(json.dumps([key, arr.dtype.str, list(arr.shape)]).encode())
        if arr.size and arr.dtype.itemsize:
            h.update(arr.reshape(-1).view(np.uint8).data)
    return f"sha256:{h.hexdigest()}"


def save_object(obj: Any, path: Any, *, compress: bool = False) -> None:
    """Save a fitted model or a catalog to ``path``, in the format of this module's docstring.

    Parameters
    ----------
    obj : object of a :func:`saveable` class
        A fitted model (ALS, EASE, ItemItem, Popularity, Repurchase) or a TierCatalog.
    path : str or os.PathLike
        Written exactly there (no extension is added), atomically.
    compress : bool
        Use :func:`numpy.savez_compressed`.

    Raises
    ------
    NotFittedError
        An unfitted model.
    TypeError
        An object of another class, IDs or hyper-parameters that cannot be
        stored without pickle.

    Examples
    --------
    >>> import os, tempfile, recsys
    >>> path = os.path.join(tempfile.mkdtemp(), "c.npz")
    >>> save_object(recsys.TierCatalog.from_mapping({"f": ["a", "b"]}), path)
    >>> load_object(path).higher_tiers("a")
    ['b']
    """
    path = as_path(path)
    name = type(obj).__name__
    if _REGISTRY.get(name) is not type(obj):
        raise TypeError(f"cannot save a {name}: only {', '.join(saveable_classes())} can be saved")
    if not isinstance(compress, (bool, np.bool_)):
        raise TypeError(f"compress must be a bool, got {type(compress).__name__}")
    state, arrays = obj._state()
    params = json_params(obj, state)
    for key, arr in arrays.items():
        if not isinstance(arr, np.ndarray) or arr.dtype.hasobject:
            raise TypeError(f"internal error: {key} is not a typed array")  # pragma: no cover
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "class": name,
        "recsys_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "params": params,
        "state": state,
        "arrays": {key: [arr.dtype.str, list(arr.shape)] for key, arr in arrays.items()},
    }
    meta["digest"] = digest(meta, arrays)
    text = json.dumps(meta, allow_nan=True)
    writer = np.savez_compressed if compress else np.savez
    members = {META_KEY: np.array(text), **arrays}
    # numpy's stubs type **kwds as its own keyword arguments (allow_pickle: bool)
    atomic_write(path, lambda f: writer(f, **members))


def _npy_header_sizes(dtype: np.dtype, shape: tuple[int, ...]) -> set[int]:
    """Give the sizes an ``.npy`` header of ``dtype`` and ``shape`` has, as NumPy writes it.

    One size per ``fortran_order`` (NumPy writes Fortran-ordered arrays as they are).
    """
    sizes = set()
    for fortran in (False, True):
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": fortran,
            "shape": tuple(shape),
        }
        buf = io.BytesIO()
        try:
            np.lib.format.write_array_header_1_0(buf, header)
        except ValueError:  # too long for format 1.0
            buf = io.BytesIO()
            np.lib.format.write_array_header_2_0(buf, header)
        sizes.add(buf.tell())
    return sizes


def _inventory_entry(path: Path, key: str, entry: Any) -> tuple[np.dtype, tuple[int, ...]]:
    """Give the dtype and shape an inventory entry ``[dtype, shape]`` declares, or refuse it."""
    dtype: np.dtype | None = None
    if (
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and isinstance(entry[1], list)
        and len(entry[1]) <= 32
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in entry[1])
    ):
        with contextlib.suppress(Exception):  # np.dtype raises TypeError, ValueError, ...
            dtype = np.dtype(entry[0])
    if (
        dtype is None
        or dtype.kind not in _ARRAY_KINDS
        or dtype.fields is not None
        or dtype.subdtype is not None
    ):
        raise ValueError(f"{path}: corrupted model file (bad inventory entry {key!r}: {entry!r})")
    return dtype, tuple(entry[1])


def _read_member(
    path: Path,
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    key: str,
    expected: tuple[np.dtype, tuple[int, ...]] | None,
) -> np.ndarray:
    """Read one ``.npy`` member; its header must match ``expected`` (dtype, shape).

    Memory: the array itself plus a 1 MiB buffer, whatever the member inflates to.
    """
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{path}: corrupted model file (array {key!r}: npy format {version})")
        if expected is not None and (dtype != expected[0] or shape != expected[1]):
            raise ValueError(
                f"{path}: corrupted model file (array {key!r} is {dtype.str} {list(shape)}, "
                f"the metadata says {[expected[0].str, list(expected[1])]})"
            )
        if dtype.hasobject:
            raise ValueError(f"{path}: array {key!r} is an object array, which needs pickle")
        nbytes = dtype.itemsize * math.prod(shape)
        if nbytes > info.file_size:
            raise ValueError(f"{path}: corrupted model file (array {key!r} is too short)")
        buf = bytearray(nbytes)
        view, got = memoryview(buf), 0
        while got < nbytes:
            chunk = f.read(min(nbytes - got, _CHUNK))
            if not chunk:
                raise ValueError(f"{path}: corrupted or truncated model file (array {key!r})")
            view[got : got + len(chunk)] = chunk
            got += len(chunk)
        if f.read(1):  # also makes zipfile check the CRC-32 of the whole member
            raise ValueError(f"{path}: corrupted model file (array {key!r} has trailing bytes)")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _read_zip(path: Path, archive: zipfile.ZipFile) -> tuple[Meta, Arrays]:
    """Read a file's metadata, then check its ZIP directory against it, then read the arrays."""
    infos = archive.infolist()
    if f"{META_KEY}.npy" not in {info.filename for info in infos}:
        raise ValueError(f"{path}: not a recsys model file (no {META_KEY} metadata)")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        key = info.filename[:-4]
        if not info.filename.endswith(".npy") or key in members:
            raise ValueError(
                f"{path}: corrupted model file (unexpected or repeated member {info.filename!r})"
            )
        members[key] = info
    if members[META_KEY].file_size > MAX_META_BYTES:
        raise ValueError(
            f"{path}: corrupted model file ({META_KEY} inflates to "
            f"{members[META_KEY].file_size} bytes, more than {MAX_META_BYTES})"
        )
    raw = _read_member(path, archive, members[META_KEY], META_KEY, None)
    if raw.shape != () or raw.dtype.kind != "U":
        raise ValueError(f"{path}: corrupted model file (bad {META_KEY} member)")
    try:
        meta = json.loads(str(raw))
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(
            f"{path}: corrupted model file (metadata is not valid JSON: {err})"
        ) from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path}: not a recsys model file (format is {found!r})")
    _check_meta(path, meta)
    inventory = meta["arrays"]
    missing = sorted(set(inventory) - set(members) - {META_KEY})
    extra = sorted(set(members) - set(inventory) - {META_KEY})
    if missing or extra or META_KEY in inventory:
        raise ValueError(
            f"{path}: corrupted model file (missing arrays {missing}, unexpected arrays {extra})"
        )
    # every member's size is checked before any is inflated: memory is bounded by the inventory
    specs = {key: _inventory_entry(path, key, entry) for key, entry in inventory.items()}
    for key, (dtype, shape) in specs.items():
        nbytes = dtype.itemsize * math.prod(shape)
        size = members[key].file_size
        if size - nbytes not in _npy_header_sizes(dtype, shape):
            raise ValueError(
                f"{path}: corrupted model file (array {key!r} inflates to {size} bytes; its "
                f"inventory entry {inventory[key]} implies {nbytes} plus the npy header)"
            )
    arrays = {
        key: _read_member(path, archive, members[key], key, spec) for key, spec in specs.items()
    }
    if meta["format_version"] >= 2 and meta.get("digest") != digest(meta, arrays):
        raise ValueError(
            f"{path}: corrupted or edited model file (its contents do not match its digest; "
            "a file written by hand needs recsys.io.codec.digest)"
        )
    for key, arr in arrays.items():
        if not arr.dtype.isnative:
            arrays[key] = arr.astype(arr.dtype.newbyteorder("="))
    return meta, arrays


def _read_archive(path: Path) -> tuple[Meta, Arrays]:
    """Metadata and arrays of a file, or a ``ValueError`` saying why they cannot be read.

    The file is closed on every path, errors included.
    """
    with open(path, "rb") as f:  # FileNotFoundError / IsADirectoryError as they are
        if f.read(2) != b"PK":
            raise ValueError(f"{path}: not a recsys model file (not a ZIP/.npz archive)")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as archive:
                return _read_zip(path, archive)
        except ValueError as err:
            if str(err).startswith(str(path)):
                raise
            raise ValueError(f"{path}: corrupted or truncated model file ({err})") from err
        except Exception as err:  # BadZipFile, zlib.error, OSError, EOFError, MemoryError, ...
            raise ValueError(
                f"{path}: corrupted or truncated model file ({type(err).__name__}: {err})"
            ) from err


def _check_meta(path: Path, meta: Meta) -> None:
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: corrupted model file (bad format_version {version!r})")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: written in format version {version} (recsys "
            f"{meta.get('recsys_version', '?')}); this is recsys {__version__}, which reads "
            f"format versions up to {FORMAT_VERSION}: upgrade recsys to load it"
        )
    for key in ("class", "params", "state", "arrays"):
        if key not in meta:
            raise ValueError(f"{path}: corrupted model file (metadata lacks {key!r})")
    if (
        not isinstance(meta["params"], dict)
        or not isinstance(meta["state"], dict)
        or not isinstance(meta["arrays"], dict)
    ):
        raise ValueError(f"{path}: corrupted model file (bad metadata)")


def read_file(path: Any) -> tuple[Meta, Arrays]:
    """Read a recsys file: its checked metadata and its arrays, without building the object.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    meta : dict
        The ``__recsys__`` JSON object (``class``, ``params``, ``state``, ...).
    arrays : dict of numpy.ndarray
        Every other member, matching the metadata's inventory.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Naming the file: not a recsys file, truncated or corrupted, written
        by a newer format version.

    Examples
    --------
    >>> import os, tempfile, recsys
    >>> path = os.path.join(tempfile.mkdtemp(), "c.npz")
    >>> recsys.TierCatalog.from_mapping({"f": ["a", "b"]}).save(path)
    >>> read_file(path)[0]["format_version"] == FORMAT_VERSION
    True
    """
    path = as_path(path)
    return _read_archive(path)


def _a(name: str) -> str:
    return f"{'an' if name[:1] in 'AEIOU' else 'a'} {name}"


def load_object(path: Any, *, expected: type | None = None) -> Any:
    """Load an object saved with :func:`save_object`.

    Parameters
    ----------
    path : str or os.PathLike
    expected : type, optional
        The class the file must hold, or a base class of it (e.g.
        ``recsys.Recommender`` for any model); another class is a
        ``ValueError``.  The ``load`` classmethods pass their own class.

    Returns
    -------
    object
        Of the class the file names, with its derived state rebuilt: it
        behaves exactly as the saved object did.

    Raises
    ------
    FileNotFoundError
        No such file.
    TypeError
        ``expected`` is not a saveable class or a base class of one.
    ValueError
        Naming the file and the problem: not a recsys file, truncated or
        corrupted, another class than ``expected``, written by a newer
        format version, inconsistent contents.

    Examples
    --------
    >>> import os, tempfile, recsys
    >>> path = os.path.join(tempfile.mkdtemp(), "c.npz")
    >>> recsys.TierCatalog.from_mapping({"f": ["a", "b"]}).save(path)
    >>> load_object(path, expected=recsys.ALS)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../c.npz holds a TierCatalog, not an ALS
    """
    path = as_path(path)
    registry = saveable_classes()
    if expected is not None and (
        not isinstance(expected, type)
        or not any(issubclass(c, expected) for c in registry.values())
    ):
        what = expected.__name__ if isinstance(expected, type) else repr(expected)
        raise TypeError(
            f"expected={what}: recsys files hold only {', '.join(registry)}; expected must be "
            "one of them or a base class of one"
        )
    meta, arrays = read_file(path)
    name = meta["class"]
    cls: Any = registry.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{path}: holds an unknown class {name!r} (this recsys loads {', '.join(registry)})"
        )
    if expected is not None and not issubclass(cls, expected):
        raise ValueError(f"{path} holds {_a(name)}, not {_a(expected.__name__)}")
    params = meta["params"]
    unknown = sorted(set(params) - set(getattr(cls, "_param_names", list)()))
    if unknown:
        raise ValueError(
            f"{path}: {name} has no hyper-parameter(s) {unknown} "
            "(file from another recsys version?)"
        )
    try:
        return cls._from_state(params, meta["state"], arrays)
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"{path}: inconsistent {name} file ({type(err).__name__}: {err})") from err
