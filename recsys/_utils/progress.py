"""Progress bars and logging used across the library."""

from __future__ import annotations

import importlib.util
import logging
import warnings
from typing import Any

from tqdm import TqdmWarning
from tqdm import tqdm as _console_tqdm

logger = logging.getLogger("recsys")


def _bar_class() -> Any:
    """Return the notebook-aware ``tqdm.auto`` bar when ipywidgets is installed, else console tqdm.

    Without ipywidgets ``tqdm.auto`` would warn "IProgress not found" in Jupyter and fall back to
    the console bar anyway; the console bar works everywhere, notebooks included.
    """
    if importlib.util.find_spec("ipywidgets") is None:
        return _console_tqdm
    with warnings.catch_warnings():  # an ipywidgets too old for tqdm: the console bar, silently
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm as auto_tqdm
    return auto_tqdm


_tqdm = _bar_class()


def progress(total: int, desc: str, show_progress: bool, unit: str = "it") -> Any:
    """Return a tqdm bar that is a silent no-op when ``show_progress`` is False.

    Examples
    --------
    >>> with progress(3, "fit", show_progress=False) as bar:
    ...     bar.update(3)
    """
    return _tqdm(total=total, desc=desc, unit=unit, disable=not show_progress, leave=False)


def get_logger(name: str) -> logging.Logger:
    """Return the library's logger for a module (``recsys.<name>``)."""
    return logger.getChild(name)
