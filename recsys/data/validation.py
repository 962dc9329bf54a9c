"""Input checks shared by everything that takes a user's DataFrame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

_MAX_SHOWN = 10


def _rows(labels: pd.Index | np.ndarray) -> str:
    labels = list(labels[:_MAX_SHOWN])
    more = " ..." if len(labels) == _MAX_SHOWN else ""
    return f"{labels}{more}"


def require_dataframe(df: object, what: str = "data") -> pd.DataFrame:
    """Check that ``df`` is a non-empty DataFrame.

    Examples
    --------
    >>> require_dataframe(pd.DataFrame({"a": [1]})).shape
    (1, 1)
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError(f"{what} is empty: at least one row is needed")
    return df


def require_columns(df: pd.DataFrame, columns: Sequence[str | None], what: str = "data") -> None:
    """Raise a ``ValueError`` naming every column of ``columns`` that ``df`` lacks.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a", "b"])
    Traceback (most recent call last):
    ...
    ValueError: data is missing column(s) ['b']; it has ['a']
    """
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}; it has {list(df.columns)}")


def require_no_missing(df: pd.DataFrame, column: str, what: str = "data") -> None:
    """Raise a ``ValueError`` naming the rows where ``column`` is missing."""
    missing = df[column].isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{what} column {column!r} has {int(missing.sum())} missing value(s) "
            f"in rows {_rows(df.index[missing])}"
        )


def numeric_column(
    df: pd.DataFrame, column: str, what: str = "data", *, allow_negative: bool = False
) -> np.ndarray:
    """Return the column as float64, rejecting non-numbers, NaN, inf and (by default) negatives.

    Examples
    --------
    >>> numeric_column(pd.DataFrame({"w": [1, 2.5]}), "w").tolist()
    [1.0, 2.5]
    >>> numeric_column(pd.DataFrame({"w": [1, -2]}), "w")
    Traceback (most recent call last):
    ...
    ValueError: data column 'w' has 1 negative value(s) in rows [1]
    """
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    not_numbers = np.isnan(values) & raw.notna().to_numpy()
    if not_numbers.any():
        raise ValueError(
            f"{what} column {column!r} has {int(not_numbers.sum())} non-numeric value(s) "
            f"in rows {_rows(df.index[not_numbers])}"
        )
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{what} column {column!r} has {int(bad.sum())} NaN or infinite value(s) "
            f"in rows {_rows(df.index[bad])}"
        )
    if not allow_negative:
        neg = values < 0
        if neg.any():
            raise ValueError(
                f"{what} column {column!r} has {int(neg.sum())} negative value(s) "
                f"in rows {_rows(df.index[neg])}"
            )
    return values


def datetime_column(df: pd.DataFrame, column: str, what: str = "data") -> pd.Series:
    """Return the column parsed as UTC-naive datetimes, rejecting unparseable or missing values."""
    raw = df[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise ValueError(
            f"{what} column {column!r} has {int(bad.sum())} missing or unparseable time(s) "
            f"in rows {_rows(df.index[bad])}"
        )
    return parsed
