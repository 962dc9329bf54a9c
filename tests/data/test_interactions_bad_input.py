"""Bad-input catalogue of Interactions.from_pandas: bad logs fail clearly.

"Clearly": a ``ValueError``, ``KeyError`` or ``TypeError`` with a message naming
the problem, never a crash deep inside, a wrong answer or a silent drop (the full
rule, and the shared helpers, are in ``tests/bad_input.py``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys import Interactions
from tests.bad_input import FUZZ, expect, outcome


def frame(**columns: Any) -> pd.DataFrame:
    base = {"user": [1, 1, 2], "item": ["a", "b", "a"]}
    base.update(columns)
    return pd.DataFrame(base)


@pytest.mark.parametrize(
    "df, kwargs, exc, match",
    [
        (pd.DataFrame({"user": [], "item": []}), {}, ValueError, "empty"),
        ([[1, "a"]], {}, TypeError, "DataFrame"),
        (frame(), {"user_col": "customer"}, ValueError, r"missing column\(s\) \['customer'\]"),
        (frame(user=[1, None, 2]), {}, ValueError, "'user' has 1 missing value"),
        (frame(item=["a", np.nan, "b"]), {}, ValueError, "'item' has 1 missing value"),
        (frame(user=[1, "1", 2]), {}, ValueError, "mix types"),
        (frame(item=["a", 2, "a"]), {}, ValueError, "mix types"),
        (frame(user=[True, 1, 2]), {}, ValueError, "mix types"),
        (frame(w=[1.0, np.nan, 1.0]), {"weight_col": "w"}, ValueError, "NaN or infinite"),
        (frame(w=[1.0, np.inf, 1.0]), {"weight_col": "w"}, ValueError, "NaN or infinite"),
        (frame(w=[1.0, -2.0, 1.0]), {"weight_col": "w"}, ValueError, "negative"),
        (frame(w=[1.0, "x", 1.0]), {"weight_col": "w"}, ValueError, "non-numeric"),
        (frame(w=[1e39, 1.0, 1.0]), {"weight_col": "w"}, ValueError, "float32 range"),
        (
            frame(w=[3e38, 3e38, 1.0], item=["a", "a", "a"], user=[1, 1, 2]),
            {"weight_col": "w"},
            ValueError,
            "summed user-item weight exceeds",
        ),
        (frame(w=[0.0, 0.0, 0.0]), {"weight_col": "w"}, ValueError, "every row has zero weight"),
        (frame(b=["o1", "o1", "o1"]), {"basket_col": "b"}, ValueError, "more than one user"),
        (
            frame(e=["view", "zap", "view"]),
            {"event_col": "e", "event_weights": {"view": 1}},
            ValueError,
            r"not in event_weights: \['zap'\]",
        ),
        (
            frame(e=["view"] * 3),
            {"event_col": "e", "event_weights": {"view": -1}},
            ValueError,
            "finite and >= 0",
        ),
        (frame(e=["view"] * 3), {"event_col": "e"}, ValueError, "needs event_weights"),
        (frame(), {"event_weights": {"view": 1}}, ValueError, "without event_col"),
        (frame(), {"half_life_days": 3}, ValueError, "needs time_col"),
        (
            frame(t=["2024-01-01"] * 3),
            {"time_col": "t", "half_life_days": -3},
            ValueError,
            "positive number",
        ),
        (
            frame(t=["2024-01-01", "yesterday-ish", "2024-01-02"]),
            {"time_col": "t"},
            ValueError,
            "unparseable",
        ),
        (frame(), {"reference_time": "2024-01-01"}, ValueError, "needs time_col"),
        (frame(), {"user_attribute_cols": ["country"]}, ValueError, "missing column"),
    ],
)
def test_interactions_from_pandas_table(df: Any, kwargs: dict, exc: type, match: str) -> None:
    expect(
        lambda: Interactions.from_pandas(df, **{"user_col": "user", "item_col": "item", **kwargs}),
        exc,
        match,
    )


def test_zero_weights_are_dropped_loudly() -> None:
    with pytest.warns(UserWarning, match="dropped 1 row"):
        data = Interactions.from_pandas(
            frame(w=[0.0, 1.0, 2.0]), user_col="user", item_col="item", weight_col="w"
        )
    assert data.nnz == 2 and data.matrix.sum() == pytest.approx(3.0)


@FUZZ
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3, "u", None, np.nan, 2.5]),
            st.sampled_from(["a", "b", "c", 7, None, np.nan]),
            st.sampled_from([1.0, 2, 0, -1, np.nan, np.inf, 1e39, "x", None, "3"]),
            st.sampled_from(["o1", "o2", "o3", None]),
        ),
        max_size=8,
    ),
    weight_col=st.sampled_from([None, "w"]),
    basket_col=st.sampled_from([None, "b"]),
)
def test_interactions_from_pandas_fuzz(
    rows: list, weight_col: str | None, basket_col: str | None
) -> None:
    df = pd.DataFrame(rows, columns=["u", "i", "w", "b"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = outcome(
            lambda: Interactions.from_pandas(
                df, user_col="u", item_col="i", weight_col=weight_col, basket_col=basket_col
            ),
            quiet=False,
        )
    if isinstance(
        result, Interactions
    ):  # every weight accounted for: kept, or dropped with a warning
        weights = pd.to_numeric(df["w"]).to_numpy(dtype=float) if weight_col else np.ones(len(df))
        assert result.matrix.sum() == pytest.approx(weights.sum(), rel=1e-5)
        assert np.isfinite(result.matrix.data).all() and (result.matrix.data > 0).all()
        dropped = int((weights == 0).sum())
        assert bool(dropped) == any("dropped" in str(w.message) for w in caught)
        assert result.n_users == df["u"].nunique() or dropped
