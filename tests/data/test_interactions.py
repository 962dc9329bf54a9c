"""Interactions.from_pandas: aggregation, weighting, decay, ID maps and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import IdMap, Interactions, UnknownIdError
from recsys.data import as_interactions


def test_duplicates_are_summed_and_ids_round_trip() -> None:
    df = pd.DataFrame({"u": ["a", "a", "b", "a"], "i": [10, 10, 20, 20], "w": [1.0, 2.0, 4.0, 0.5]})
    data = Interactions.from_pandas(df, user_col="u", item_col="i", weight_col="w")
    assert data.shape == (2, 2)
    assert data.matrix.dtype == np.float32
    dense = pd.DataFrame(
        data.matrix.toarray(), index=data.user_ids.external_ids, columns=data.item_ids.external_ids
    )
    assert dense.loc["a", 10] == 3.0 and dense.loc["a", 20] == 0.5 and dense.loc["b", 20] == 4.0
    back = data.to_pandas().sort_values(["user", "item"]).reset_index(drop=True)
    assert back.values.tolist() == [["a", 10, 3.0], ["a", 20, 0.5], ["b", 20, 4.0]]


def test_event_weights_multiply_weights() -> None:
    df = pd.DataFrame(
        {"u": [1, 1, 1], "i": ["x", "x", "y"], "e": ["view", "purchase", "cart"], "q": [1, 2, 1]}
    )
    data = Interactions.from_pandas(
        df,
        user_col="u",
        item_col="i",
        weight_col="q",
        event_col="e",
        event_weights={"view": 1, "cart": 3, "purchase": 5},
    )
    got = dict(zip(data.to_pandas()["item"], data.to_pandas()["weight"], strict=True))
    assert got == {"x": 1 * 1 + 2 * 5, "y": 3}


def test_half_life_decay_relative_to_newest_event() -> None:
    df = pd.DataFrame({"u": [1, 2], "i": ["x", "x"], "t": ["2024-01-31", "2024-01-01"]})
    data = Interactions.from_pandas(df, user_col="u", item_col="i", time_col="t", half_life_days=30)
    weights = dict(zip(data.to_pandas()["user"], data.to_pandas()["weight"], strict=True))
    assert weights[1] == pytest.approx(1.0)
    assert weights[2] == pytest.approx(0.5, rel=1e-6)
    assert data.reference_time == pd.Timestamp("2024-01-31")
    assert data.times is not None and data.times.shape == data.matrix.data.shape


def test_baskets_and_user_attributes() -> None:
    df = pd.DataFrame(
        {
            "order": ["o1", "o1", "o2", "o3"],
            "cust": [1, 1, 2, 1],
            "item": ["a", "b", "a", "c"],
            "country": ["DE", "DE", "FR", "AT"],
            "t": pd.to_datetime(["2024-01-01"] * 3 + ["2024-02-01"]),
        }
    )
    data = Interactions.from_pandas(
        df,
        user_col="cust",
        item_col="item",
        basket_col="order",
        time_col="t",
        user_attribute_cols=["country"],
    )
    assert data.basket_matrix is not None and data.basket_matrix.shape == (3, 3)
    assert data.basket_users is not None
    assert data.user_ids.to_external(data.basket_users).tolist() == [1, 2, 1]
    assert data.transactions is data.basket_matrix
    assert data.user_attributes is not None
    assert data.user_attributes.loc[1, "country"] == "AT"  # the latest value


def test_basket_times_are_each_baskets_first_event() -> None:
    df = pd.DataFrame(
        {
            "order": ["o1", "o2", "o1", "o2"],
            "cust": [1, 2, 1, 2],
            "item": ["a", "a", "b", "c"],
            "t": pd.to_datetime(["2024-01-05", "2024-01-03", "2024-01-02", "2024-01-04"]),
        }
    )
    data = Interactions.from_pandas(
        df, user_col="cust", item_col="item", basket_col="order", time_col="t"
    )
    expected = (
        pd.to_datetime(["2024-01-02", "2024-01-03"])
        .to_numpy(dtype="datetime64[ns]")
        .astype(np.int64)
        / 1e9
    )
    assert data.basket_times is not None and data.basket_times.tolist() == expected.tolist()
    assert (
        Interactions.from_pandas(
            df, user_col="cust", item_col="item", basket_col="order"
        ).basket_times
        is None
    )
    with pytest.raises(ValueError, match="basket_times"):
        Interactions(
            matrix=data.matrix,
            user_ids=data.user_ids,
            item_ids=data.item_ids,
            basket_times=np.zeros(2),
        )


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (pd.DataFrame({"u": [], "i": []}), {}, "empty"),
        (pd.DataFrame({"u": [1]}), {}, r"missing column\(s\) \['i'\]"),
        (pd.DataFrame({"u": [1, None], "i": [1, 2]}), {}, "'u' has 1 missing"),
        (
            pd.DataFrame({"u": [1, 2], "i": [1, 2], "w": [1.0, np.nan]}),
            {"weight_col": "w"},
            r"NaN or infinite .* rows \[1\]",
        ),
        (
            pd.DataFrame({"u": [1, 2], "i": [1, 2], "w": [1.0, np.inf]}),
            {"weight_col": "w"},
            "NaN or infinite",
        ),
        (
            pd.DataFrame({"u": [1, 2], "i": [1, 2], "w": [1.0, -3]}),
            {"weight_col": "w"},
            r"negative .* rows \[1\]",
        ),
        (
            pd.DataFrame({"u": [1, 2], "i": [1, 2], "w": ["1", "x"]}),
            {"weight_col": "w"},
            "non-numeric",
        ),
        (
            pd.DataFrame({"u": [1], "i": [1], "e": ["buy"]}),
            {"event_col": "e", "event_weights": {"view": 1}},
            "event types not in",
        ),
        (
            pd.DataFrame({"u": [1], "i": [1], "e": ["buy"]}),
            {"event_col": "e"},
            "needs event_weights",
        ),
        (pd.DataFrame({"u": [1], "i": [1], "t": ["not a date"]}), {"time_col": "t"}, "unparseable"),
        (pd.DataFrame({"u": [1], "i": [1]}), {"half_life_days": 7}, "needs time_col"),
        (
            pd.DataFrame({"u": [1], "i": [1], "t": ["2024-01-01"]}),
            {"time_col": "t", "half_life_days": -1},
            "positive",
        ),
        (pd.DataFrame({"u": [1, "1"], "i": [1, 2]}), {}, "mix types"),
        (
            pd.DataFrame({"u": [1, 2], "i": [1, 1], "b": [7, 7]}),
            {"basket_col": "b"},
            "more than one user",
        ),
    ],
)
def test_bad_input_is_a_clear_value_error(frame: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Interactions.from_pandas(frame, user_col="u", item_col="i", **kwargs)


def test_zero_weights_are_dropped_with_a_count() -> None:
    df = pd.DataFrame({"u": [1, 2, 3], "i": [1, 2, 3], "w": [1.0, 0.0, 0.0]})
    with pytest.warns(UserWarning, match="dropped 2 row"):
        data = Interactions.from_pandas(df, user_col="u", item_col="i", weight_col="w")
    assert data.shape == (1, 1)


def test_input_frame_is_not_modified() -> None:
    df = pd.DataFrame({"u": [1, 1], "i": ["a", "a"], "w": [1, 2]})
    before = df.copy()
    Interactions.from_pandas(df, user_col="u", item_col="i", weight_col="w")
    pd.testing.assert_frame_equal(df, before)


def test_not_a_dataframe() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        Interactions.from_pandas([[1, 2]], user_col="u", item_col="i")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Interactions.from_pandas"):
        as_interactions(pd.DataFrame({"u": [1]}))


def test_from_csr_validates() -> None:
    with pytest.raises(ValueError, match="negative"):
        Interactions.from_csr(sp.csr_matrix(np.array([[1.0, -1.0]])))
    with pytest.raises(ValueError, match="NaN"):
        Interactions.from_csr(sp.csr_matrix(np.array([[1.0, np.nan]])))
    with pytest.raises(ValueError, match="does not match"):
        Interactions.from_csr(sp.csr_matrix(np.eye(2)), user_ids=[1, 2, 3])


def test_id_lookup_fast_paths_agree_with_pandas() -> None:
    ints = IdMap(np.array([7, 3, 11]), name="user")
    assert ints.to_rows([3]).tolist() == [1] and ints.to_rows(
        np.array([np.int32(11)])
    ).tolist() == [2]
    assert ints.to_rows(np.array([3, 7], dtype=object)).tolist() == [1, 0]
    assert ints.to_rows([5], missing="ignore").tolist() == [-1]
    with pytest.raises(UnknownIdError, match="5"):
        ints.to_rows([5])
    assert ints.to_rows(["3"], missing="ignore").tolist() == [-1]  # a string is not the number
    assert ints.to_rows(np.array([3.0, 7.5], dtype=object), missing="ignore").tolist() == [1, -1]
    assert ints.to_rows(np.array([3, "7"], dtype=object), missing="ignore").tolist() == [1, -1]
    strs = IdMap(["x", "y"], name="item")
    assert strs.to_rows(np.array(["y"], dtype=object)).tolist() == [1]


def test_id_map() -> None:
    ids = IdMap(["x", "y"], name="item")
    with pytest.raises(UnknownIdError, match=r"1 unknown item\(s\): \['z'\]"):
        ids.to_rows(["x", "z"])
    with pytest.raises(KeyError):
        ids.to_rows(["z"])
    with pytest.raises(ValueError, match="unique"):
        IdMap([1, 1])
    with pytest.raises(TypeError, match="single"):
        ids.to_rows("x")
    with pytest.raises(IndexError):
        ids.to_external([5])


events = st.lists(
    st.tuples(
        st.integers(0, 6), st.sampled_from(["a", "b", "c", "d"]), st.floats(0, 100, allow_nan=False)
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(events)
def test_matrix_equals_groupby_sum(rows: list[tuple[int, str, float]]) -> None:
    """Property: the matrix holds exactly the per-pair sums of positive weights, nothing lost."""
    df = pd.DataFrame(rows, columns=["u", "i", "w"])
    kept = df[df.w.astype(np.float32) > 0]
    expected = kept.groupby(["u", "i"])["w"].sum()
    if expected.empty:
        with pytest.raises(ValueError):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Interactions.from_pandas(df, user_col="u", item_col="i", weight_col="w")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = Interactions.from_pandas(df, user_col="u", item_col="i", weight_col="w")
    got = data.to_pandas().set_index(["user", "item"])["weight"].sort_index()
    # the matrix is float32: each pair holds the float32 nearest to its (float64) sum
    want = expected[expected > 0].sort_index().to_numpy().astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-6)
    assert data.matrix.has_sorted_indices
    assert data.nnz == int((expected > 0).sum())
