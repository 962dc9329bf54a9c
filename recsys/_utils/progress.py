"""Progress bars and logging used across the library."""

from __future__ import annotations

import logging
from typing import Any

from tqdm.auto import tqdm

logger = logging.getLogger("recsys")


def progress(total: int, desc: str, show_progress: bool, unit: str = "it") -> Any:
    """Return a tqdm bar that is a silent no-op when ``show_progress`` is False.

    Examples
    --------
    >>> with progress(3, "fit", show_progress=False) as bar:
    ...     bar.update(3)
    """
    return tqdm(total=total, desc=desc, unit=unit, disable=not show_progress, leave=False)


def get_logger(name: str) -> logging.Logger:
    """Return the library's logger for a module (``recsys.<name>``)."""
    return logger.getChild(name)
