"""Input checks shared by everything that takes a user's DataFrame.

Every message names the argument (``what``) and the column, says what is
wrong and where (the first row labels), and how to fix it.
"""

from __future__ import annotations

import difflib
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
    >>> require_dataframe([1, 2], "log")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    TypeError: log must be a pandas DataFrame, got list; build one first,
    e.g. pandas.DataFrame(records, columns=[...])
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{what} must be a pandas DataFrame, got {type(df).__name__}; "
            "build one first, e.g. pandas.DataFrame(records, columns=[...])"
        )
    if len(df) == 0:
        raise ValueError(
            f"{what} is empty: at least one row is needed (check the filter or query that made it)"
        )
    return df


def require_columns(df: pd.DataFrame, columns: Sequence[str | None], what: str = "data") -> None:
    """Raise a ``ValueError`` naming every column of ``columns`` that ``df`` lacks.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a", "b"])  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: data is missing column(s) ['b']; it has ['a']: pass the name of an existing
    column, or rename one (df.rename(columns={...}))
    >>> lines = pd.DataFrame({"CustomerID": [1]})
    >>> require_columns(lines, ["customerid"], "lines")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: lines is missing column(s) ['customerid']; it has ['CustomerID']:
    did you mean 'CustomerID'?
    """
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} is missing column(s) {missing}; it has {list(df.columns)}: "
            + _column_hint(missing, list(df.columns))
        )


def _column_hint(missing: list[str], present: list[object]) -> str:
    """Suggest the columns meant (case or spelling), or how to fix the names."""
    names = {str(c): c for c in present}
    lowered = {name.lower(): name for name in names}
    guesses = []
    for column in missing:
        text = str(column)
        match = lowered.get(text.lower()) or next(
            iter(difflib.get_close_matches(text, list(names), n=1, cutoff=0.75)), None
        )
        if match is not None:
            guesses.append(repr(names[match]))
    if guesses and len(guesses) == len(missing):
        return f"did you mean {', '.join(guesses)}?"
    return "pass the name of an existing column, or rename one (df.rename(columns={...}))"


def require_no_missing(df: pd.DataFrame, column: str, what: str = "data") -> None:
    """Raise a ``ValueError`` naming the rows where ``column`` is missing.

    Examples
    --------
    >>> log = pd.DataFrame({"user": [1, None]})
    >>> require_no_missing(log, "user", "log")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: log column 'user' has 1 missing value(s) in rows [1]: drop those rows
    (log.dropna(subset=['user'])) or fill them
    """
    missing = df[column].isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{what} column {column!r} has {int(missing.sum())} missing value(s) "
            f"in rows {_rows(df.index[missing])}: drop those rows "
            f"({what}.dropna(subset=[{column!r}])) or fill them"
        )


def numeric_column(
    df: pd.DataFrame, column: str, what: str = "data", *, allow_negative: bool = False
) -> np.ndarray:
    """Return the column as float64, rejecting non-numbers, NaN, inf and (by default) negatives.

    Examples
    --------
    >>> numeric_column(pd.DataFrame({"w": [1, 2.5]}), "w").tolist()
    [1.0, 2.5]
    >>> numeric_column(pd.DataFrame({"w": [1, -2]}), "w")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: data column 'w' has 1 negative value(s) in rows [1]: weights must be >= 0;
    drop those rows (returns, cancellations) or clip them at 0
    """
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    not_numbers = np.isnan(values) & raw.notna().to_numpy()
    if not_numbers.any():
        raise ValueError(
            f"{what} column {column!r} has {int(not_numbers.sum())} non-numeric value(s) "
            f"in rows {_rows(df.index[not_numbers])}: convert the column with "
            "pandas.to_numeric (errors='coerce' turns them into NaN), then drop those rows"
        )
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{what} column {column!r} has {int(bad.sum())} NaN or infinite value(s) "
            f"in rows {_rows(df.index[bad])}: drop those rows or fill them with a number"
        )
    if not allow_negative:
        neg = values < 0
        if neg.any():
            raise ValueError(
                f"{what} column {column!r} has {int(neg.sum())} negative value(s) "
                f"in rows {_rows(df.index[neg])}: weights must be >= 0; drop those rows "
                "(returns, cancellations) or clip them at 0"
            )
    return values


def datetime_column(df: pd.DataFrame, column: str, what: str = "data") -> pd.Series:
    """Return the column parsed as UTC-naive datetimes, rejecting unparseable or missing values.

    Examples
    --------
    >>> datetime_column(pd.DataFrame({"t": ["2011-01-02"]}), "t").dt.day.tolist()
    [2]
    >>> orders = pd.DataFrame({"t": ["2011-01-02", "soon"]})
    >>> datetime_column(orders, "t", "orders")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    ValueError: orders column 't' has 1 missing or unparseable time(s) in rows [1]:
    parse the column yourself (pandas.to_datetime with the format=) or drop those rows
    """
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
            f"in rows {_rows(df.index[bad])}: parse the column yourself "
            "(pandas.to_datetime with the format=) or drop those rows"
        )
    return parsed
