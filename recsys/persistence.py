"""Saving and loading: :func:`save`, :func:`load` and the saveable classes, on top of them all.

::

    model.save("model.npz")
    model = recsys.load("model.npz")
    model = recsys.load("model.npz", expected=recsys.ALS)   # or a ValueError
    model = recsys.ALS.load("model.npz")                    # the same

The file format, and how the classes turn themselves into arrays, is in
:mod:`recsys.io.codec`, which sits below the models.  This module sits above
them: it imports every saveable class, so that :func:`load` knows them all
whichever module was imported first.  Nothing in the library imports it but
``recsys/__init__.py``.
"""

from __future__ import annotations

from typing import Any

from recsys.io import codec
from recsys.models import ALS, EASE, ItemItem, Popularity
from recsys.models.repurchase import Repurchase
from recsys.selling.catalog import TierCatalog

__all__ = ["SAVEABLE", "load", "save"]

#: The classes whose objects can be saved and loaded.
SAVEABLE: tuple[type, ...] = (ALS, EASE, ItemItem, Popularity, Repurchase, TierCatalog)


def save(obj: Any, path: Any, *, compress: bool = False) -> None:
    """Save a fitted model or a :class:`~recsys.TierCatalog` to ``path`` (same as ``obj.save``).

    Parameters
    ----------
    obj : ALS, EASE, ItemItem, Popularity, Repurchase or TierCatalog
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
    >>> path = os.path.join(tempfile.mkdtemp(), "catalog.npz")
    >>> save(recsys.TierCatalog.from_mapping({"mug": ["small", "large"]}), path)
    >>> load(path).higher_tiers("small")
    ['large']
    """
    codec.save_object(obj, path, compress=compress)


def load(path: Any, *, expected: type | None = None) -> Any:
    """Load a model or catalog saved with ``save`` (format: :mod:`recsys.io.codec`).

    Parameters
    ----------
    path : str or os.PathLike
    expected : type, optional
        The class the file must hold (e.g. ``recsys.ALS``, or
        ``recsys.Recommender`` for any model); another class is a ``ValueError``.
        ``recsys.load(path, expected=recsys.ALS)`` is ``recsys.ALS.load(path)``.

    Returns
    -------
    ALS, ItemItem, Popularity or TierCatalog
        Fitted, with its derived state rebuilt: it recommends exactly as the
        saved object did.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Naming the file and the problem: not a recsys file, truncated or
        corrupted, another class than ``expected``, written by a newer
        format version, inconsistent contents.

    Examples
    --------
    >>> import os, tempfile, recsys
    >>> catalog = recsys.TierCatalog.from_mapping(
    ...     {"mug": ["small", "large"]}, prices={"small": 4, "large": 6}
    ... )
    >>> path = os.path.join(tempfile.mkdtemp(), "catalog.npz")
    >>> catalog.save(path)
    >>> recsys.load(path).higher_tiers("small")
    ['large']
    >>> recsys.load(path, expected=recsys.ALS)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../catalog.npz holds a TierCatalog, not an ALS
    """
    return codec.load_object(path, expected=expected)
