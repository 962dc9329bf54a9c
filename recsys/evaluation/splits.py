"""Train/test splits of interaction logs that never leak test rows into train.

Every function takes the raw event log (one row per event) and returns new
DataFrames whose rows are taken unchanged from it, index included, so
``pd.concat(parts)`` gives the input back.  Random splits are reproducible for
a given ``random_state`` (an int seed or a :class:`numpy.random.Generator`).

* :func:`random_split` — per-user random hold-out of distinct (user, item) pairs.
* :func:`temporal_split` — everything before a cut-off time trains.
* :func:`leave_last_n` — each user's latest ``n`` distinct items are the test.
* :func:`basket_holdout` — the cross-sell protocol: hide one item of each test
  basket and ask the model to find it from the rest of the basket.
* :func:`filter_to_known` — drop test rows a model trained on ``train`` cannot
  score (users or items it never saw).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.validation import (
    datetime_column,
    require_columns,
    require_dataframe,
    require_no_missing,
)

RandomState = int | np.random.Generator | None

__all__ = [
    "basket_holdout",
    "filter_to_known",
    "leave_last_n",
    "random_split",
    "temporal_split",
]


# --------------------------------------------------------------------- checks
def _rng(random_state: Any) -> np.random.Generator:
    """Return a Generator from ``None``, a non-negative int seed or a Generator (used as is)."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    if isinstance(random_state, (int, np.integer)) and not isinstance(
        random_state, (bool, np.bool_)
    ):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int seed, got {random_state}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be None, an int seed or a numpy.random.Generator, "
        f"got {type(random_state).__name__}"
    )


def _check_fraction(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_int(value: Any, name: str, minimum: int, why: str = "") -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}{why}, got {value}")
    return int(value)


def _check_ids(df: pd.DataFrame, columns: list[str], what: str = "df") -> None:
    require_columns(df, columns, what)
    for col in columns:
        require_no_missing(df, col, what)


def _codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Dense int64 codes (in order of first appearance) and their count."""
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def _pair_codes(
    df: pd.DataFrame, first_col: str, second_col: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row: the code of its (first, second) pair; per pair: its first-column code.

    Returns ``(row_pair, pair_first, pair_first_row)``: the pair code of every
    row, the first-column code of every pair and the position of every pair's
    first row.  Pairs are numbered in order of first appearance.
    """
    first, _ = _codes(df[first_col])
    second, n_second = _codes(df[second_col])
    row_pair, _ = _codes(pd.Series(first * max(n_second, 1) + second))
    # codes are numbered by first appearance: a row is its pair's first one iff its code
    # beats all before it
    seen_max = np.maximum.accumulate(row_pair)
    first_row = (
        np.flatnonzero(np.r_[True, row_pair[1:] > seen_max[:-1]]) if row_pair.size else row_pair
    )
    return row_pair, first[first_row], first_row


def _rank_within_groups(groups_sorted: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal values (input sorted by group)."""
    n = groups_sorted.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, groups_sorted[1:] != groups_sorted[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n, dtype=np.int64) - run_start


def _time_values(df: pd.DataFrame, time_col: str, what: str = "df") -> np.ndarray:
    """Return the time column as a sortable array.

    The array is float64 for numeric times, datetime64[ns] otherwise.
    """
    require_columns(df, [time_col], what)
    raw = df[time_col]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"{what} column {time_col!r} has {int(bad.sum())} missing or non-finite time(s) "
                f"in rows {list(df.index[bad][:10])}"
            )
        return values
    return datetime_column(df, time_col, what).to_numpy(dtype="datetime64[ns]")


def _cut_value(times: np.ndarray, split_time: Any, time_col: str) -> Any:
    """``split_time`` converted so that it compares with ``times`` from :func:`_time_values`."""
    if split_time is None:
        raise ValueError("split_time is required")
    numeric_cut = isinstance(split_time, (int, float, np.integer, np.floating)) and not isinstance(
        split_time, (bool, np.bool_)
    )
    if times.dtype.kind == "f":
        if not numeric_cut or not np.isfinite(split_time):
            raise ValueError(
                f"column {time_col!r} holds numbers, so split_time must be a finite number "
                f"on the same scale, got {split_time!r} (or convert the column first, "
                f"e.g. pd.to_datetime(df[{time_col!r}], unit='s'))"
            )
        return float(split_time)
    if numeric_cut:
        raise ValueError(
            f"column {time_col!r} holds datetimes, so split_time must be a datetime "
            f"or date string, got {split_time!r}"
        )
    try:
        cut = pd.Timestamp(split_time)
    except (TypeError, ValueError) as err:
        raise ValueError(f"split_time {split_time!r} is not a parseable datetime") from err
    if cut is pd.NaT:
        raise ValueError("split_time must not be NaT")
    if cut.tzinfo is not None:  # the column is compared in naive UTC, as datetime_column returns it
        cut = cut.tz_convert("UTC").tz_localize(None)
    return cut.to_datetime64().astype("datetime64[ns]")


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=3)


# --------------------------------------------------------------------- splits
def random_split(
    df: pd.DataFrame,
    *,
    user_col: str,
    item_col: str,
    test_fraction: float = 0.2,
    min_user_interactions: int = 2,
    random_state: RandomState = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random share of each user's distinct items.

    For every user with at least ``min_user_interactions`` distinct items,
    ``max(1, round(test_fraction * n_items))`` of them (at most
    ``n_items - 1``, so the user keeps at least one training item) are drawn
    uniformly at random, and *all* rows of those (user, item) pairs go to the
    test set: a held-out item never also appears in the same user's training
    rows.  Users with fewer distinct items stay entirely in train.

    Parameters
    ----------
    df : pandas.DataFrame
        Event log, one row per event.  It is not modified.
    user_col, item_col : str
        User and item ID columns (missing IDs are an error).
    test_fraction : float
        Share of each eligible user's distinct items to hold out, in (0, 1).
    min_user_interactions : int
        Users need at least this many distinct items (>= 2) to get test items.
    random_state : int, numpy.random.Generator or None
        Seed for a reproducible split.  The same seed and the same log (same
        row order) give the same split.

    Returns
    -------
    train_df, test_df : pandas.DataFrame
        Disjoint sets of rows of ``df`` (index kept) whose union is ``df``.

    Raises
    ------
    ValueError
        Missing columns or IDs, an empty frame, ``test_fraction`` outside
        (0, 1), ``min_user_interactions < 2``.

    Warns
    -----
    UserWarning
        If no user is eligible, so the test set is empty.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user": [1, 1, 1, 1, 2], "item": ["a", "b", "c", "a", "a"]})
    >>> train, test = random_split(log, user_col="user", item_col="item", random_state=0)
    >>> len(train) + len(test) == len(log), sorted(test["user"].unique().tolist())
    (True, [1])
    """
    df = require_dataframe(df, "df")
    _check_ids(df, [user_col, item_col])
    fraction = _check_fraction(test_fraction, "test_fraction")
    min_items = _check_int(
        min_user_interactions,
        "min_user_interactions",
        2,
        " (a user needs one training and one test item)",
    )
    rng = _rng(random_state)

    row_pair, pair_user, _ = _pair_codes(df, user_col, item_col)
    n_pairs = pair_user.size
    items_per_user = np.bincount(pair_user)
    n_test = np.clip(
        np.floor(fraction * items_per_user + 0.5), 1, np.maximum(items_per_user - 1, 0)
    )
    n_test[items_per_user < min_items] = 0

    # shuffle each user's pairs: sort by (user, random key), the first n_test go to test
    order = np.lexsort((rng.random(n_pairs), pair_user))
    position = _rank_within_groups(pair_user[order])
    pair_is_test = np.zeros(n_pairs, dtype=bool)
    pair_is_test[order] = position < n_test[pair_user[order]]
    if not pair_is_test.any():
        _warn(f"random_split: no user has >= {min_items} distinct items; the test set is empty")
    row_is_test = pair_is_test[row_pair]
    return df.loc[~row_is_test], df.loc[row_is_test]


def temporal_split(
    df: pd.DataFrame, *, time_col: str, split_time: Any
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a log at a point in time: rows before ``split_time`` train, the rest test.

    Parameters
    ----------
    df : pandas.DataFrame
        Event log.  It is not modified.
    time_col : str
        Event times: datetimes (or parseable strings; time-zone aware values
        are compared in UTC), or numbers (e.g. Unix seconds).
    split_time : datetime-like or number
        Rows with time ``< split_time`` go to train, ``>= split_time`` to
        test.  Must be a number if the column is numeric, a datetime (or
        string) otherwise.

    Returns
    -------
    train_df, test_df : pandas.DataFrame
        Disjoint sets of rows of ``df`` (index kept) whose union is ``df``.

    Raises
    ------
    ValueError
        Missing column, unparseable or missing times, a ``split_time`` of the
        wrong kind, an empty frame.

    Warns
    -----
    UserWarning
        If either side is empty.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user": [1, 2, 3],
    ...                     "time": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])})
    >>> train, test = temporal_split(log, time_col="time", split_time="2024-02-01")
    >>> train["user"].tolist(), test["user"].tolist()
    ([1], [2, 3])
    """
    df = require_dataframe(df, "df")
    times = _time_values(df, time_col)
    cut = _cut_value(times, split_time, time_col)
    is_test = times >= cut
    n_test = int(is_test.sum())
    if n_test == 0 or n_test == len(df):
        side = "test" if n_test == 0 else "train"
        _warn(f"temporal_split: the {side} set is empty (split_time={split_time!r})")
    return df.loc[~is_test], df.loc[is_test]


def leave_last_n(
    df: pd.DataFrame, *, user_col: str, item_col: str, time_col: str, n: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's ``n`` most recent distinct items.

    Each (user, item) pair is dated by its latest event; a user's ``n`` pairs
    with the latest dates go to the test set with *all* their rows (so a
    held-out item is not also in the user's training rows).  Ties in time are
    broken by log order: the pair whose latest event comes later in ``df`` is
    the more recent.  Users with ``n`` or fewer distinct items stay entirely
    in train.

    Parameters
    ----------
    df : pandas.DataFrame
        Event log.  It is not modified.
    user_col, item_col : str
        ID columns (missing IDs are an error).
    time_col : str
        Event times: datetimes (or parseable strings) or numbers.
    n : int
        Distinct items per user to hold out (>= 1).

    Returns
    -------
    train_df, test_df : pandas.DataFrame
        Disjoint sets of rows of ``df`` (index kept) whose union is ``df``.

    Raises
    ------
    ValueError
        Missing columns, IDs or times, an empty frame, ``n < 1``.

    Warns
    -----
    UserWarning
        If no user has more than ``n`` distinct items, so the test set is empty.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame(
    ...     {"user": [1, 1, 1, 2], "item": ["a", "b", "a", "c"], "time": [1, 2, 3, 1]}
    ... )
    >>> train, test = leave_last_n(log, user_col="user", item_col="item", time_col="time")
    >>> train["item"].tolist(), test["item"].tolist()
    (['b', 'c'], ['a', 'a'])
    """
    df = require_dataframe(df, "df")
    _check_ids(df, [user_col, item_col])
    n = _check_int(n, "n", 1)
    times = _time_values(df, time_col)
    if times.dtype.kind == "M":
        times = times.view(np.int64)

    row_pair, pair_user, _ = _pair_codes(df, user_col, item_col)
    n_pairs = pair_user.size
    # each pair's latest event: sort rows by (pair, time, position) and take the last per pair
    position = np.arange(len(df), dtype=np.int64)
    order = np.lexsort((position, times, row_pair))
    last = np.flatnonzero(np.r_[row_pair[order][1:] != row_pair[order][:-1], True])
    latest_row = order[last]  # one per pair, in pair order (pairs are sorted in `order`)
    pair_time, pair_pos = times[latest_row], position[latest_row]

    # newest first within each user
    by_recency = np.lexsort((-pair_pos, -pair_time, pair_user))
    rank = _rank_within_groups(pair_user[by_recency])
    items_per_user = np.bincount(pair_user)
    pair_is_test = np.zeros(n_pairs, dtype=bool)
    pair_is_test[by_recency] = (rank < n) & (items_per_user[pair_user[by_recency]] > n)
    if not pair_is_test.any():
        _warn(f"leave_last_n: no user has more than {n} distinct item(s); the test set is empty")
    row_is_test = pair_is_test[row_pair]
    return df.loc[~row_is_test], df.loc[row_is_test]


def basket_holdout(
    df: pd.DataFrame,
    *,
    basket_col: str,
    item_col: str,
    time_col: str | None = None,
    split_time: Any = None,
    test_fraction: float = 0.2,
    min_basket_size: int = 2,
    random_state: RandomState = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split baskets for the cross-sell protocol: hide one item of each test basket.

    1. Baskets (orders, sessions) are split into train and test baskets: by
       time if ``split_time`` is given (a basket is dated by its *earliest*
       event, so a basket is never cut in two; baskets starting at or after
       ``split_time`` are test), otherwise ``round(test_fraction * n_baskets)``
       baskets (at least one, and at least one left for training) are drawn at
       random.
    2. From every test basket with at least ``min_basket_size`` distinct items,
       one distinct item is drawn uniformly at random and hidden: all rows of
       that (basket, item) pair leave the visible part.
    3. Test baskets with fewer than ``min_basket_size`` distinct items are
       dropped (with a warning giving their count).

    The model then sees each test basket's visible rows as the query (e.g.
    ``model.recommend_for_history(test_queries, query_col=basket_col)``) and
    is scored on finding the hidden item, e.g. with
    ``hit_rate_at_k(recs, hidden, user_col=basket_col)``.

    Parameters
    ----------
    df : pandas.DataFrame
        Event log with one row per basket line.  It is not modified.
    basket_col, item_col : str
        Basket and item ID columns (missing IDs are an error).
    time_col : str, optional
        Event times (datetimes or numbers); needed with ``split_time``.
    split_time : datetime-like or number, optional
        Split by time instead of at random.
    test_fraction : float
        Share of baskets drawn as test baskets when not splitting by time, in (0, 1).
    min_basket_size : int
        Distinct items a test basket needs (>= 2: one hidden, at least one visible).
    random_state : int, numpy.random.Generator or None
        Seed for the basket draw and the hidden items.

    Returns
    -------
    train_df : pandas.DataFrame
        All rows of the train baskets (index kept).
    test_queries_df : pandas.DataFrame
        The visible rows of the kept test baskets (index kept).
    hidden_df : pandas.DataFrame
        One row per kept test basket, columns ``basket_col, item_col``: the
        hidden item, in order of the baskets' first appearance (new index).

    Raises
    ------
    ValueError
        Missing columns or IDs, an empty frame, fewer than two baskets in the
        random split, ``time_col``/``split_time`` without the other,
        ``min_basket_size < 2``, ``test_fraction`` outside (0, 1).

    Warns
    -----
    UserWarning
        Counting test baskets dropped for being too small, or if no test
        basket is left.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"order": [1, 1, 2, 2, 2, 3, 3],
    ...                     "item": ["tea", "cup", "tea", "pot", "cup", "pot", "tea"],
    ...                     "day": [1, 1, 2, 2, 2, 3, 3]})
    >>> train, queries, hidden = basket_holdout(log, basket_col="order", item_col="item",
    ...                                         time_col="day", split_time=2, random_state=0)
    >>> train["order"].tolist(), queries["order"].unique().tolist(), hidden["order"].tolist()
    ([1, 1], [2, 3], [2, 3])
    >>> len(queries) + len(hidden)
    5
    """
    df = require_dataframe(df, "df")
    _check_ids(df, [basket_col, item_col])
    min_size = _check_int(
        min_basket_size,
        "min_basket_size",
        2,
        " (one item is hidden and at least one stays visible)",
    )
    rng = _rng(random_state)

    row_pair, pair_basket, pair_first_row = _pair_codes(df, basket_col, item_col)
    basket_of_row, n_baskets = _codes(df[basket_col])
    if split_time is not None or time_col is not None:
        if time_col is None:
            raise ValueError("split_time needs time_col (the column to split on)")
        if split_time is None:
            raise ValueError(
                f"time_col={time_col!r} needs split_time; omit both for a random basket split"
            )
        times = _time_values(df, time_col)
        cut = _cut_value(times, split_time, time_col)
        basket_start = pd.Series(times).groupby(basket_of_row, sort=True).min().to_numpy()
        basket_is_test = basket_start >= cut
    else:
        fraction = _check_fraction(test_fraction, "test_fraction")
        if n_baskets < 2:
            raise ValueError(
                f"df column {basket_col!r} has {n_baskets} basket(s); "
                "a random holdout needs at least 2"
            )
        n_test = int(np.clip(np.floor(fraction * n_baskets + 0.5), 1, n_baskets - 1))
        basket_is_test = np.zeros(n_baskets, dtype=bool)
        basket_is_test[rng.permutation(n_baskets)[:n_test]] = True

    size = np.bincount(pair_basket, minlength=n_baskets)
    eligible = basket_is_test & (size >= min_size)
    n_dropped = int((basket_is_test & ~eligible).sum())
    if n_dropped:
        _warn(
            f"basket_holdout: dropped {n_dropped} test basket(s) with fewer than {min_size} "
            f"distinct items ({int(eligible.sum())} test basket(s) kept)"
        )
    if not eligible.any():
        _warn("basket_holdout: no test basket is left; test_queries and hidden are empty")

    # hide one random distinct item per eligible basket: the pair with the smallest random key
    candidate = np.flatnonzero(eligible[pair_basket])
    order = candidate[np.lexsort((rng.random(candidate.size), pair_basket[candidate]))]
    first = (
        np.r_[True, pair_basket[order][1:] != pair_basket[order][:-1]]
        if order.size
        else np.empty(0, bool)
    )
    hidden_pairs = order[first]  # sorted by basket code, i.e. by the baskets' first appearance
    pair_is_hidden = np.zeros(pair_basket.size, dtype=bool)
    pair_is_hidden[hidden_pairs] = True

    row_basket_test = basket_is_test[basket_of_row]
    row_visible_query = eligible[basket_of_row] & ~pair_is_hidden[row_pair]
    hidden = df.iloc[pair_first_row[hidden_pairs]][[basket_col, item_col]].reset_index(drop=True)
    return df.loc[~row_basket_test], df.loc[row_visible_query], hidden


def filter_to_known(
    test_df: pd.DataFrame, train_df: pd.DataFrame, *, user_col: str | None, item_col: str
) -> pd.DataFrame:
    """Drop test rows whose user or item never occurs in the training data.

    A model fitted on ``train_df`` cannot score such rows (it knows neither
    the user nor the item), so keeping them only measures the fallback.
    Whether to filter is a protocol choice: report it with the results.

    Parameters
    ----------
    test_df, train_df : pandas.DataFrame
        The two sides of a split.  ``test_df`` may be empty.
    user_col : str or None
        User ID column; ``None`` filters on items only (e.g. basket queries,
        whose basket IDs are new by design).
    item_col : str
        Item ID column.

    Returns
    -------
    pandas.DataFrame
        The rows of ``test_df`` (index kept) whose user and item are in ``train_df``.

    Raises
    ------
    ValueError
        Missing columns in either frame.

    Warns
    -----
    UserWarning
        Giving the number of dropped rows, if any.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user": [1, 2], "item": ["a", "b"]})
    >>> test = pd.DataFrame({"user": [1, 3, 2], "item": ["b", "a", "c"]})
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     filter_to_known(test, train, user_col="user", item_col="item").values.tolist()
    [[1, 'b']]
    """
    for name, frame in (("test_df", test_df), ("train_df", train_df)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    columns = [c for c in (user_col, item_col) if c is not None]
    require_columns(test_df, columns, "test_df")
    require_columns(train_df, columns, "train_df")
    known = test_df[item_col].isin(pd.unique(train_df[item_col].to_numpy())).to_numpy()
    if user_col is not None:
        known = known & test_df[user_col].isin(pd.unique(train_df[user_col].to_numpy())).to_numpy()
    n_dropped = int((~known).sum())
    if n_dropped:
        what = "user or item" if user_col is not None else "item"
        warnings.warn(
            f"filter_to_known: dropped {n_dropped} of {len(test_df)} test row(s) "
            f"whose {what} is not in train_df",
            UserWarning,
            stacklevel=2,
        )
    return test_df.loc[known]
