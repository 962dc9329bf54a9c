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

File format (``format_version`` 1)
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
         "format_version": 1,                # this layout; see "Compatibility"
         "class": "ALS",                     # ALS | ItemItem | Popularity | TierCatalog
         "recsys_version": "0.1.0",          # the library that wrote it
         "created": "2024-05-01T12:00:00+00:00",
         "params": {"factors": 64, ...},     # hyper-parameters, get_params(deep=False)
         "state": {...},                     # scalars of the fitted state (below)
         "arrays": {"item_factors": ["<f4", [500, 64]], ...}}   # inventory

    ``arrays`` lists every other member with its dtype and shape; a file
    whose members do not match it is rejected.

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
* Loading raises a ``ValueError`` naming the file and the problem for a
  truncated or corrupted file, a file that is not a recsys file, a file of
  another class than expected, a file written by a newer format version,
  and a file whose arrays are inconsistent (wrong shapes, indices out of
  range, non-finite factors).  A missing file is a ``FileNotFoundError``.

Compatibility
-------------
``format_version`` is raised whenever the layout changes.  A reader accepts
every version up to its own (older files are migrated when read) and
rejects newer files with a ``ValueError`` asking to upgrade recsys.  The
``recsys_version`` that wrote a file is informational only.

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
import json
import numbers
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._version import __version__
from recsys.data.ids import IdMap

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "META_KEY",
    "as_path",
    "atomic_write",
    "check_array",
    "check_csr_parts",
    "decode_ids",
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
FORMAT_VERSION = 1
#: The archive member holding the JSON metadata.
META_KEY = "__recsys__"

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
    ['ALS', 'ItemItem', 'Popularity', 'TierCatalog']
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
    if stored.dtype != dtype:
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
    if wanted is not None and str(ids.index_dtype) != wanted:
        with contextlib.suppress(TypeError, ValueError):
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
    arrays[f"{key}.indptr"] = matrix.indptr.astype(np.int64)
    arrays[f"{key}.indices"] = matrix.indices.astype(np.int32)
    arrays[f"{key}.data"] = np.asarray(matrix.data)


def check_csr_parts(
    indptr: np.ndarray,
    indices: np.ndarray,
    shape: tuple[int, int],
    key: str,
    n_data: int | None = None,
) -> None:
    """Raise a ``ValueError`` unless (indptr, indices) is a valid CSR structure of ``shape``.

    Examples
    --------
    >>> check_csr_parts(np.array([0, 1]), np.array([5]), (1, 2), "m")
    Traceback (most recent call last):
    ...
    ValueError: m: column indices out of range [0, 2)
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


def get_csr(
    arrays: Arrays, key: str, shape: tuple[int, int], *, nonnegative: bool = False
) -> sp.csr_matrix:
    """Read the CSR matrix stored by :func:`put_csr`, checked against ``shape``.

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
    check_csr_parts(indptr, indices, shape, key, data.shape[0] if data.ndim == 1 else -1)
    if data.dtype.kind not in "fiu":
        raise ValueError(f"{key}: values must be numbers, got dtype {data.dtype}")
    if not np.isfinite(data).all() or (nonnegative and (data < 0).any()):
        raise ValueError(f"{key}: values must be finite" + (" and >= 0" if nonnegative else ""))
    return sp.csr_matrix((data, indices, indptr), shape=shape)


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


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, fsync it, rename it over ``path``.

    The file keeps the permissions of the one it replaces; if ``write``
    fails the temporary file is removed and ``path`` is untouched.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.bin"
    >>> atomic_write(target, lambda f: f.write(b"abc"))
    >>> target.read_bytes()
    b'abc'
    """
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
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
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def save_object(obj: Any, path: Any, *, compress: bool = False) -> None:
    """Save a fitted model or a catalog to ``path``, in the format of this module's docstring.

    Parameters
    ----------
    obj : object of a :func:`saveable` class
        ALS, ItemItem, Popularity or TierCatalog.
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
    text = json.dumps(meta, allow_nan=True)
    writer = np.savez_compressed if compress else np.savez
    members = {META_KEY: np.array(text), **arrays}
    # numpy's stubs type **kwds as its own keyword arguments (allow_pickle: bool)
    atomic_write(path, lambda f: writer(f, **members))  # type: ignore[arg-type]


def _read_archive(path: Path) -> tuple[Meta, Arrays]:
    """Metadata and arrays of a file, or a ``ValueError`` saying why they cannot be read."""
    with open(path, "rb") as f:  # FileNotFoundError / IsADirectoryError as they are
        head = f.read(4)
    if head[:2] != b"PK":
        raise ValueError(f"{path}: not a recsys model file (not a ZIP/.npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if META_KEY not in names:
                raise ValueError(f"{path}: not a recsys model file (no {META_KEY} metadata)")
            raw = archive[META_KEY]
            arrays = {key: archive[key] for key in names if key != META_KEY}
    except ValueError as err:
        if str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: corrupted or truncated model file ({err})") from err
    except Exception as err:  # BadZipFile, zlib.error, OSError, EOFError, KeyError, MemoryError
        raise ValueError(
            f"{path}: corrupted or truncated model file ({type(err).__name__}: {err})"
        ) from err
    if raw.shape != () or raw.dtype.kind != "U":
        raise ValueError(f"{path}: corrupted model file (bad {META_KEY} member)")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: corrupted model file (metadata is not valid JSON: {err})"
        ) from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path}: not a recsys model file (format is {found!r})")
    return meta, arrays


def _check_meta(path: Path, meta: Meta, arrays: Arrays) -> None:
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
    inventory = meta["arrays"]
    missing = sorted(set(inventory) - set(arrays))
    extra = sorted(set(arrays) - set(inventory))
    if missing or extra:
        raise ValueError(
            f"{path}: corrupted model file (missing arrays {missing}, unexpected arrays {extra})"
        )
    for key, arr in arrays.items():
        entry = inventory[key]
        if (
            not (isinstance(entry, list) and len(entry) == 2)
            or arr.dtype.str != entry[0]
            or list(arr.shape) != entry[1]
        ):
            raise ValueError(
                f"{path}: corrupted model file (array {key!r} is {arr.dtype.str} "
                f"{list(arr.shape)}, the metadata says {entry})"
            )


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
    meta, arrays = _read_archive(path)
    _check_meta(path, meta, arrays)
    return meta, arrays


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
    if hasattr(cls, "_param_names"):
        unknown = sorted(set(params) - set(cls._param_names()))
        if unknown:
            raise ValueError(
                f"{path}: {name} has no hyper-parameter(s) {unknown} "
                "(file from another recsys version?)"
            )
    try:
        return cls._from_state(params, meta["state"], arrays)
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"{path}: inconsistent {name} file ({type(err).__name__}: {err})") from err
