"""Time decay of interaction weights: one definition shared by every model.

An event ``age`` days older than the reference time (the newest event of the
training data, unless given) weighs ``0.5 ** (age / half_life_days)``: an
event one half-life old counts half, two half-lives a quarter.  Events after
the reference time count fully (age 0).  ``Interactions.from_pandas(...,
half_life_days=...)`` decays every event before aggregation;
``Popularity(half_life_days=...)``, ``ALS(half_life_days=...)`` and
``ItemItem(half_life_days=...)`` decay the aggregated user-item pairs by the
age of each pair's *latest* event (``Interactions.times``), and ItemItem its
baskets by their time, all with :func:`decay_weights`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> ref = pd.Timestamp("2024-01-31")
>>> times = np.array([pd.Timestamp("2024-01-31").value, pd.Timestamp("2024-01-01").value]) / 1e9
>>> decay_weights(times, ref, half_life_days=30).tolist()
[1.0, 0.5]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["SECONDS_PER_DAY", "check_half_life_days", "decay_matrix", "decay_weights"]

#: Seconds in a day: the unit of ``half_life_days``.
SECONDS_PER_DAY = 86_400.0


def check_half_life_days(value: Any, owner: str = "half_life_days") -> float | None:
    """Return ``value`` as a float half-life in days (or ``None``), or raise a clear error.

    Parameters
    ----------
    value : float or None
        ``None`` (no decay) or a positive, finite number of days.
    owner : str
        How the error names the argument, e.g. ``"ALS(half_life_days=...)"``.

    Raises
    ------
    ValueError
        Not ``None`` and not a positive finite number (bools are refused).

    Examples
    --------
    >>> check_half_life_days(30)
    30.0
    >>> check_half_life_days(0)
    Traceback (most recent call last):
    ...
    ValueError: half_life_days must be a positive number of days, got 0
    """
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not (np.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{owner} must be a positive number of days, got {value!r}")
    return float(value)


def decay_weights(
    times: np.ndarray, reference_time: pd.Timestamp | Any, half_life_days: float
) -> np.ndarray:
    """Return ``0.5 ** (age / half_life_days)`` for events at ``times``.

    Parameters
    ----------
    times : numpy.ndarray of float
        Event times in seconds since the epoch (as ``Interactions.times`` and
        ``basket_times`` hold them).
    reference_time : pandas.Timestamp or datetime-like
        "Now": ages are measured back from it; later events weigh 1.
    half_life_days : float
        Positive.

    Returns
    -------
    numpy.ndarray of float64
        In ``(0, 1]``, the shape of ``times``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> ref = pd.Timestamp("1970-01-21")  # 20 days after the epoch
    >>> decay_weights(np.array([0.0, 10 * 86400.0, 30 * 86400.0]), ref, 10).tolist()
    [0.25, 0.5, 1.0]
    """
    half_life = check_half_life_days(half_life_days)
    if half_life is None:
        raise ValueError("half_life_days must be a positive number of days, got None")
    ref = pd.Timestamp(reference_time)
    if ref.tzinfo is not None:
        ref = ref.tz_convert("UTC").tz_localize(None)
    age = (ref.value / 1e9 - np.asarray(times, dtype=np.float64)) / SECONDS_PER_DAY
    return np.power(0.5, np.maximum(age, 0.0) / half_life)


def decay_matrix(
    matrix: sp.csr_matrix,
    times: np.ndarray | None,
    reference_time: pd.Timestamp | None,
    half_life_days: float | None,
    owner: str,
    *,
    per_row: bool = False,
) -> sp.csr_matrix:
    """Return ``matrix`` with each stored weight decayed by the age of its time.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix
        Users × items (or baskets × items) weights.
    times : numpy.ndarray or None
        One time per stored entry (aligned with ``matrix.data``), or with
        ``per_row`` one per row (basket times), in seconds since the epoch.
    reference_time : pandas.Timestamp or None
    half_life_days : float or None
        ``None`` returns ``matrix`` itself.
    owner : str
        Names the model in the error, e.g. ``"ALS(half_life_days=...)"``.
    per_row : bool
        ``times`` holds one time per row.

    Returns
    -------
    scipy.sparse.csr_matrix
        A new float32 matrix with the same structure (or ``matrix`` unchanged).

    Raises
    ------
    ValueError
        ``half_life_days`` is given but the interactions have no times.

    Examples
    --------
    >>> import numpy as np, pandas as pd, scipy.sparse as sp
    >>> m = sp.csr_matrix(np.array([[2.0, 2.0]], dtype=np.float32))
    >>> day = 86400.0
    >>> decay_matrix(m, np.array([0.0, day]), pd.Timestamp("1970-01-02"), 1.0, "x").toarray()
    array([[1., 2.]], dtype=float32)
    """
    half_life = check_half_life_days(half_life_days, owner)
    if half_life is None:
        return matrix
    if times is None or reference_time is None:
        raise ValueError(
            f"{owner} needs interactions with event times: build them with "
            "Interactions.from_pandas(..., time_col=...)"
        )
    times = np.asarray(times, dtype=np.float64)
    expected = (matrix.shape[0],) if per_row else matrix.data.shape
    if times.shape != expected:
        what = "row" if per_row else "stored entry"
        raise ValueError(f"times must hold one time per {what} {expected}, got {times.shape}")
    if per_row:
        times = np.repeat(times, np.diff(matrix.indptr))
    weights = matrix.data.astype(np.float64) * decay_weights(times, reference_time, half_life)
    out = sp.csr_matrix(
        (weights.astype(np.float32), matrix.indices.copy(), matrix.indptr.copy()),
        shape=matrix.shape,
    )
    out.has_sorted_indices = matrix.has_sorted_indices
    return out
