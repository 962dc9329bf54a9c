"""Shared helpers of the bad-input catalogue (the ``test_*_bad_input.py`` modules).

The catalogue feeds every public entry point bad input and checks that it fails
clearly. "Clearly" means a ``ValueError``, ``KeyError`` or ``TypeError`` (recsys's
own errors subclass these) with a message naming the problem — never a crash
inside Numba, an ``AttributeError``/``IndexError``/``MemoryError`` from deep
inside, a wrong answer or a silent drop.  (Two documented exceptions:
``recommend_rows``, the array API, raises ``IndexError`` for rows out of
range, and :func:`recsys.load` a ``FileNotFoundError`` for a missing file.)

Each section has a table of explicit cases (expected type and message) and a
Hypothesis fuzz that mutates one argument of a valid call at a time, or
several at once, and checks that the outcome is a result that honours the
contract or a clear error.  Bugs found in modules of other owners are kept as
regression tests at the end of each module.  The fitted models and catalog the
sections share are the ``ctx`` fixture in ``tests/conftest.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CLEAR = (ValueError, KeyError, TypeError)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


MODELS = ["ALS", "ItemItem", "Popularity"]


def outcome(fn: Callable[[], Any], quiet: bool = True) -> Any:
    """Call ``fn``: its result, or the clear error it raised (anything else fails the test)."""
    try:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
            return fn()
    except CLEAR as err:
        message = str(err)
        assert message.strip(), f"{type(err).__name__} without a message"
        assert "numba" not in type(err).__module__, f"error from inside Numba: {err!r}"
        return err


def expect(
    fn: Callable[[], Any], exc: type[BaseException] | tuple, match: str | None = None
) -> BaseException:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc, match=match) as err:
            fn()
    assert str(err.value).strip()
    return err.value


#: n values: (value, expected error or None for fine)
BAD_N: list[tuple[Any, type[BaseException]]] = [
    (0, ValueError),
    (-1, ValueError),
    (-(10**30), ValueError),
    (2.5, TypeError),
    (3.0, TypeError),
    ("3", TypeError),
    (None, TypeError),
    (True, TypeError),
    ([3], TypeError),
    (np.float64(3), TypeError),
    (np.nan, TypeError),
]
HUGE_N = [10**9, 10**18, 10**40, np.int64(2**62), np.uint64(2**64 - 1)]

junk_values = st.sampled_from(
    [
        None,
        np.nan,
        math.inf,
        -1,
        0,
        2.5,
        10**20,
        "",
        "x",
        b"x",
        (1, 2),
        [1],
        {"a": 1},
        True,
        np.int64(3),
        np.float32(np.nan),
        pd.NaT,
        object(),
        "item000",
    ]
)
n_values = st.one_of(st.integers(-5, 40), st.sampled_from([v for v, _ in BAD_N] + HUGE_N))


def check_recommendations(frame: pd.DataFrame, n: Any, query_col: str = "user") -> None:
    """What every successful top-n frame must satisfy.

    Queries may repeat: each occurrence gets its own list.
    """
    assert list(frame.columns[:4]) == [query_col, "item", "score", "rank"]
    assert frame["score"].notna().all() and np.isfinite(frame["score"].to_numpy()).all()
    assert (frame["rank"] <= int(n)).all() and (frame["rank"] >= 1).all()
    lists = (frame["rank"] == 1).cumsum()  # one list per query occurrence, ranks 1, 2, ...
    assert not frame.assign(_list=lists).duplicated(["_list", "item"]).any()
    assert (
        frame.groupby(lists)["rank"].apply(lambda r: r.tolist() == list(range(1, len(r) + 1)))
    ).all()
