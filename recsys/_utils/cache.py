"""Where Numba keeps the compiled kernels of recsys, and what happens when nowhere is writable.

Every kernel of :mod:`recsys.core` is compiled with ``cache=True``: the first
call on a machine compiles it (seconds), and Numba writes the machine code to
a cache directory that every later process loads from (milliseconds).
Numba picks the first writable one of

1. ``NUMBA_CACHE_DIR``, when set (the place to choose one: a CI cache, a
   volume of a container, a shared directory of Spark executors);
2. ``__pycache__`` next to the package's sources (an editable install, a
   virtual environment the user owns);
3. the user's cache directory, ``$XDG_CACHE_HOME/numba`` or
   ``~/.cache/numba`` (a read-only ``site-packages``: a system install, a
   container image).

When none is writable (a read-only image run with a ``HOME`` that does not
exist or cannot be written), Numba refuses to define cached functions at all
and ``import recsys`` would fail: :func:`ensure_cache_dir` then points Numba
at a folder of the system's temporary directory and warns once.  Kernels
still compile once per machine (per boot, if the temporary directory is
cleared), not once per process.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numba

__all__ = ["cache_dir", "ensure_cache_dir"]


def _probe() -> None:  # the function whose cache locations are tried (never compiled)
    pass


def _locators() -> list[Any]:
    """Numba's locator classes for the in-tree and user-wide caches (names differ by version)."""
    from numba.core import caching

    found: list[Any] = []
    for name in ("InTreeCacheLocator", "UserWideCacheLocator"):
        cls = getattr(caching, name, None) or getattr(caching, f"_{name}", None)
        if cls is not None:
            found.append(cls)
    return found


def cache_dir(source: str | os.PathLike[str] | None = None) -> str | None:
    """Return the directory Numba caches the kernels of ``source`` in (``None``: none works).

    Parameters
    ----------
    source : path, optional
        A source file of the package (default: a module of :mod:`recsys.core`).

    Examples
    --------
    >>> import os
    >>> location = cache_dir()
    >>> location is None or os.path.isdir(location)
    True
    """
    source = str(source or Path(__file__).resolve().parents[1] / "core" / "__init__.py")
    if numba.config.CACHE_DIR:  # type: ignore[attr-defined]
        from numba.core.caching import UserProvidedCacheLocator

        locator = UserProvidedCacheLocator.from_function(_probe, source)
        return None if locator is None else str(locator.get_cache_path())
    for cls in _locators():
        locator = cls.from_function(_probe, source)
        if locator is not None:
            return str(locator.get_cache_path())
    return None


def ensure_cache_dir() -> str | None:
    """Make sure Numba can cache the kernels; fall back to a temporary folder if it cannot.

    Called once when :mod:`recsys.core` is imported, before any kernel is
    defined.  Does nothing when ``NUMBA_CACHE_DIR`` is set or when the
    package's ``__pycache__`` or the user's cache directory is writable.

    Returns
    -------
    str or None
        The fallback directory now in ``numba.config.CACHE_DIR``, or ``None``
        when Numba's own choice stands.

    Examples
    --------
    >>> ensure_cache_dir() is None or bool(numba.config.CACHE_DIR)
    True
    """
    if numba.config.CACHE_DIR or not _locators():  # type: ignore[attr-defined]
        return None  # the user chose (or an unknown Numba: leave it alone)
    if cache_dir() is not None:
        return None
    uid = os.getuid() if hasattr(os, "getuid") else 0
    fallback = os.path.join(tempfile.gettempdir(), f"recsys-numba-cache-{uid}")
    try:
        os.makedirs(fallback, mode=0o700, exist_ok=True)
    except OSError:
        return None  # nowhere at all: Numba will say so when the kernels are defined
    numba.config.CACHE_DIR = fallback  # type: ignore[attr-defined]
    warnings.warn(
        "Numba cannot cache recsys's compiled kernels next to the package or in the user's "
        f"cache directory (both read-only); caching them in {fallback} instead. Set "
        "NUMBA_CACHE_DIR to a writable, persistent directory to keep them across restarts.",
        RuntimeWarning,
        stacklevel=2,
    )
    return fallback
