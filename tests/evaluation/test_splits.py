"""Tests of recsys.evaluation.splits: no leakage, reproducibility, the documented sizes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from recsys.evaluation import (
    basket_holdout,
    filter_to_known,
    leave_last_n,
    random_split,
    temporal_split,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ----------------------------------------------------------------- helpers
def assert_partition(df: pd.DataFrame, *parts: pd.DataFrame) -> None:
    """The parts are disjoint sets of rows of ``df`` whose union is ``df`` (rows unchanged)."""
    labels = [label for part in parts for label in part.index]
    assert len(labels) == len(set(labels)), "a row is in more than one part"
    together = pd.concat(parts).sort_index() if parts else df.iloc[:0]
    pd.testing.assert_frame_equal(together, df.sort_index(), check_index_type=False)


def pairs(df: pd.DataFrame, a: str = "user", b: str = "item") -> set[tuple]:
    return set(zip(df[a], df[b], strict=True))


def log_frames(min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[pd.DataFrame]:
    """Event logs with few users/items (so pairs repeat) and integer times."""
    return data_frames(
        [
            column("user", elements=st.integers(0, 9)),
            column("item", elements=st.sampled_from(list("abcdefgh"))),
            column("time", elements=st.integers(0, 20)),
            column("basket", elements=st.integers(0, 14)),
        ],
        index=range_indexes(min_size=min_size, max_size=max_size),
    )


def big_log(n_users: int = 500, per_user: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    return pd.DataFrame(
        {
            "user": users,
            "item": rng.integers(0, 200, users.size),
            "time": rng.integers(0, 1000, users.size),
            "basket": users * 3 + rng.integers(0, 3, users.size),
        }
    )


# ------------------------------------------------------------ random_split
@settings(max_examples=80, deadline=None)
@given(
    log_frames(),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.1, 0.2, 0.5, 0.9]),
    st.integers(2, 4),
)
def test_random_split_properties(
    df: pd.DataFrame, seed: int, fraction: float, min_items: int
) -> None:
    kwargs = dict(
        user_col="user", item_col="item", test_fraction=fraction, min_user_interactions=min_items
    )
    train, test = random_split(df, random_state=seed, **kwargs)
    assert_partition(df, train, test)

    # reproducible, for an int seed and for a Generator seeded alike
    again_train, again_test = random_split(df, random_state=seed, **kwargs)
    pd.testing.assert_frame_equal(test, again_test)
    _, gen_test = random_split(df, random_state=np.random.default_rng(seed), **kwargs)
    pd.testing.assert_frame_equal(
        gen_test, random_split(df, random_state=np.random.default_rng(seed), **kwargs)[1]
    )

    # a held-out item never also trains for the same user
    assert not pairs(train) & pairs(test)

    distinct = df.groupby("user")["item"].nunique()
    test_counts = test.groupby("user")["item"].nunique()
    train_counts = train.groupby("user")["item"].nunique()
    for user, n in distinct.items():
        n_test = int(test_counts.get(user, 0))
        if n < min_items:
            assert n_test == 0  # too few items: entirely in train
        else:
            assert n_test == min(max(1, int(np.floor(fraction * n + 0.5))), n - 1)
            assert train_counts[user] == n - n_test >= 1


def test_random_split_seeds_differ() -> None:
    df = big_log()
    _, test_a = random_split(df, user_col="user", item_col="item", random_state=1)
    _, test_b = random_split(df, user_col="user", item_col="item", random_state=2)
    assert not test_a.index.equals(test_b.index)


def test_random_split_keeps_index_and_columns() -> None:
    df = big_log(50).assign(price=1.5)
    df.index = [f"row{i}" for i in range(len(df))][::-1]
    train, test = random_split(df, user_col="user", item_col="item", random_state=0)
    assert_partition(df, train, test)
    assert list(test.columns) == list(df.columns)


def test_random_split_all_rows_of_a_pair_move_together() -> None:
    df = pd.DataFrame({"u": [1] * 6, "i": ["a", "a", "a", "b", "c", "d"]})
    train, test = random_split(df, user_col="u", item_col="i", test_fraction=0.25, random_state=3)
    # 4 distinct items -> round(0.25 * 4) = 1 held out, with all of its rows
    assert test["i"].nunique() == 1
    assert len(test) == (df["i"] == test["i"].iloc[0]).sum()


def test_random_split_small_users_stay_in_train() -> None:
    df = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "a", "b"]})
    with pytest.warns(UserWarning, match="test set is empty"):
        train, test = random_split(df, user_col="user", item_col="item", random_state=0)
    assert len(test) == 0 and len(train) == 3


def test_random_split_bad_input() -> None:
    df = big_log(5)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['product'\]"):
        random_split(df, user_col="user", item_col="product")
    with pytest.raises(ValueError, match="test_fraction"):
        random_split(df, user_col="user", item_col="item", test_fraction=1.0)
    with pytest.raises(ValueError, match="min_user_interactions"):
        random_split(df, user_col="user", item_col="item", min_user_interactions=1)
    with pytest.raises(TypeError, match="random_state"):
        random_split(df, user_col="user", item_col="item", random_state=1.5)
    with pytest.raises(ValueError, match="empty"):
        random_split(df.iloc[:0], user_col="user", item_col="item")
    with pytest.raises(ValueError, match="missing value"):
        random_split(df.assign(user=np.nan), user_col="user", item_col="item")


# ---------------------------------------------------------- temporal_split
@settings(max_examples=50, deadline=None)
@given(log_frames(), st.integers(-1, 22))
def test_temporal_split_properties(df: pd.DataFrame, cut: int) -> None:
    train, test = temporal_split(df, time_col="time", split_time=cut)
    assert_partition(df, train, test)
    assert (train["time"] < cut).all() and (test["time"] >= cut).all()


def test_temporal_split_datetimes() -> None:
    df = pd.DataFrame(
        {
            "user": [1, 2, 3, 4],
            "time": ["2024-01-01", "2024-01-31 23:59", "2024-02-01", "2024-03-01"],
        }
    )
    train, test = temporal_split(df, time_col="time", split_time="2024-02-01")
    assert train["user"].tolist() == [1, 2]
    assert test["user"].tolist() == [3, 4]  # at split_time goes to test
    assert test["time"].tolist() == ["2024-02-01", "2024-03-01"]  # rows unchanged
    # datetime dtype and a Timestamp cut
    typed = df.assign(time=pd.to_datetime(df["time"], format="mixed"))
    _, test2 = temporal_split(typed, time_col="time", split_time=pd.Timestamp("2024-02-01"))
    assert test2["user"].tolist() == [3, 4]


def test_temporal_split_time_zones() -> None:
    times = pd.to_datetime(["2024-01-01 10:00", "2024-01-01 12:00"]).tz_localize("Europe/Berlin")
    df = pd.DataFrame({"user": [1, 2], "time": times})
    # 11:00 Berlin = 10:00 UTC
    train, test = temporal_split(
        df, time_col="time", split_time=pd.Timestamp("2024-01-01 10:00", tz="UTC")
    )
    assert train["user"].tolist() == [1] and test["user"].tolist() == [2]


def test_temporal_split_bad_input() -> None:
    df = pd.DataFrame({"user": [1, 2], "time": [10, 20]})
    with pytest.raises(ValueError, match="number"):
        temporal_split(df, time_col="time", split_time="2024-01-01")
    dated = df.assign(time=pd.to_datetime(["2024-01-01", "2024-01-02"]))
    with pytest.raises(ValueError, match="datetime"):
        temporal_split(dated, time_col="time", split_time=15)
    with pytest.raises(ValueError, match=r"\['when'\]"):
        temporal_split(df, time_col="when", split_time=15)
    with pytest.raises(ValueError, match="unparseable"):
        temporal_split(
            df.assign(time=["2024-01-01", "soon"]), time_col="time", split_time="2024-01-01"
        )
    with pytest.warns(UserWarning, match="test set is empty"):
        temporal_split(df, time_col="time", split_time=100)


# ------------------------------------------------------------ leave_last_n
def test_leave_last_n_example() -> None:
    df = pd.DataFrame(
        {
            "user": [1, 1, 1, 1, 1, 2, 2, 3],
            "item": ["a", "b", "c", "a", "d", "x", "y", "z"],
            "time": [1, 2, 3, 9, 5, 1, 1, 4],
        }
    )
    train, test = leave_last_n(df, user_col="user", item_col="item", time_col="time", n=2)
    # user 1: latest per item a=9, d=5, c=3, b=2 -> a (both rows) and d go to test
    # user 2 has only 2 distinct items (<= n) and user 3 one: they stay in train
    assert sorted(test.index.tolist()) == [0, 3, 4]
    assert_partition(df, train, test)


def test_leave_last_n_ties_follow_log_order() -> None:
    df = pd.DataFrame({"user": [1, 1, 1], "item": ["a", "b", "c"], "time": [5, 5, 5]})
    _, test = leave_last_n(df, user_col="user", item_col="item", time_col="time")
    assert test["item"].tolist() == ["c"]  # the later row wins a tie


@settings(max_examples=80, deadline=None)
@given(log_frames(), st.integers(1, 3))
def test_leave_last_n_properties(df: pd.DataFrame, n: int) -> None:
    train, test = leave_last_n(df, user_col="user", item_col="item", time_col="time", n=n)
    assert_partition(df, train, test)
    assert not pairs(train) & pairs(test)
    latest = df.groupby(["user", "item"])["time"].max()
    for user, group in latest.groupby(level="user"):
        held = set(test.loc[test["user"] == user, "item"])
        if len(group) <= n:
            assert not held
            continue
        assert len(held) == n
        held_times = group[group.index.get_level_values("item").isin(held)]
        kept_times = group[~group.index.get_level_values("item").isin(held)]
        assert held_times.min() >= kept_times.max()  # nothing kept is newer than what is held out


def test_leave_last_n_bad_input() -> None:
    df = big_log(3)
    with pytest.raises(ValueError, match="n must be >= 1"):
        leave_last_n(df, user_col="user", item_col="item", time_col="time", n=0)
    with pytest.raises(ValueError, match=r"\['ts'\]"):
        leave_last_n(df, user_col="user", item_col="item", time_col="ts")


# ----------------------------------------------------------- basket_holdout
def check_holdout(
    df: pd.DataFrame,
    train: pd.DataFrame,
    queries: pd.DataFrame,
    hidden: pd.DataFrame,
    min_size: int,
) -> None:
    train_baskets = set(train["basket"])
    test_baskets = set(df["basket"]) - train_baskets
    assert set(queries["basket"]) <= test_baskets
    # one hidden row per kept test basket: the baskets of the queries, each with >= min_size items
    assert hidden.columns.tolist() == ["basket", "item"]
    assert not hidden["basket"].duplicated().any()
    assert set(hidden["basket"]) == set(queries["basket"])
    size = df.groupby("basket")["item"].nunique()
    kept = set(hidden["basket"])
    assert kept == {b for b in test_baskets if size[b] >= min_size}
    # the hidden item is in the basket but not among its visible rows
    assert pairs(hidden, "basket", "item") <= pairs(df, "basket", "item")
    assert not pairs(hidden, "basket", "item") & pairs(queries, "basket", "item")
    # train, queries, the hidden pairs' rows and the dropped baskets' rows partition the log
    hidden_rows = df[
        pd.MultiIndex.from_frame(df[["basket", "item"]]).isin(pd.MultiIndex.from_frame(hidden))
    ]
    dropped_rows = df[df["basket"].isin(test_baskets - kept)]
    assert_partition(df, train, queries, hidden_rows, dropped_rows)


@settings(max_examples=80, deadline=None)
@given(log_frames(min_size=2), st.integers(0, 2**32 - 1), st.integers(2, 3))
def test_basket_holdout_random_properties(df: pd.DataFrame, seed: int, min_size: int) -> None:
    if df["basket"].nunique() < 2:
        df = df.assign(basket=np.arange(len(df)) % 2)
    kwargs = dict(basket_col="basket", item_col="item", test_fraction=0.3, min_basket_size=min_size)
    train, queries, hidden = basket_holdout(df, random_state=seed, **kwargs)
    check_holdout(df, train, queries, hidden, min_size)
    n_baskets = df["basket"].nunique()
    n_test = n_baskets - train["basket"].nunique()
    assert n_test == min(max(1, int(np.floor(0.3 * n_baskets + 0.5))), n_baskets - 1)
    # reproducible
    again = basket_holdout(df, random_state=seed, **kwargs)
    pd.testing.assert_frame_equal(again[1], queries)
    pd.testing.assert_frame_equal(again[2], hidden)


@settings(max_examples=50, deadline=None)
@given(log_frames(), st.integers(0, 21))
def test_basket_holdout_by_time_properties(df: pd.DataFrame, cut: int) -> None:
    train, queries, hidden = basket_holdout(
        df, basket_col="basket", item_col="item", time_col="time", split_time=cut, random_state=0
    )
    check_holdout(df, train, queries, hidden, 2)
    start = df.groupby("basket")["time"].min()
    assert set(train["basket"]) == set(start[start < cut].index)


def test_basket_holdout_example_and_warning() -> None:
    df = pd.DataFrame(
        {
            "order": [1, 1, 2, 2, 2, 3, 4, 4],
            "item": ["tea", "cup", "tea", "pot", "tea", "pot", "cup", "pot"],
            "day": [1, 1, 2, 2, 2, 3, 4, 5],
        }
    )
    with pytest.warns(UserWarning, match="dropped 1 test basket"):  # order 3 has a single item
        train, queries, hidden = basket_holdout(
            df, basket_col="order", item_col="item", time_col="day", split_time=2, random_state=0
        )
    assert train.index.tolist() == [0, 1]
    assert hidden["order"].tolist() == [2, 4]
    # order 2 = {tea (2 rows), pot}: whichever is hidden, all its rows leave the query
    assert (
        len(queries)
        + (df.set_index(["order", "item"]).index.isin(list(pairs(hidden, "order", "item")))).sum()
        == 5
    )


def test_basket_holdout_seeds_differ() -> None:
    df = big_log()
    a = basket_holdout(df, basket_col="basket", item_col="item", random_state=1)
    b = basket_holdout(df, basket_col="basket", item_col="item", random_state=2)
    assert not a[0].index.equals(b[0].index)
    # same test baskets but different hidden items, too
    c = basket_holdout(
        df, basket_col="basket", item_col="item", time_col="time", split_time=500, random_state=1
    )
    d = basket_holdout(
        df, basket_col="basket", item_col="item", time_col="time", split_time=500, random_state=2
    )
    assert c[0].index.equals(d[0].index)
    assert not c[2].equals(d[2])


def test_basket_holdout_bad_input() -> None:
    df = big_log(5)
    kwargs = dict(basket_col="basket", item_col="item")
    with pytest.raises(ValueError, match="needs time_col"):
        basket_holdout(df, split_time=5, **kwargs)
    with pytest.raises(ValueError, match="needs split_time"):
        basket_holdout(df, time_col="time", **kwargs)
    with pytest.raises(ValueError, match="min_basket_size"):
        basket_holdout(df, min_basket_size=1, **kwargs)
    with pytest.raises(ValueError, match="at least 2"):
        basket_holdout(df.assign(basket=7), **kwargs)
    with pytest.raises(ValueError, match=r"\['order'\]"):
        basket_holdout(df, basket_col="order", item_col="item")
    with pytest.raises(ValueError, match="test_fraction"):
        basket_holdout(df, test_fraction=0.0, **kwargs)


# ----------------------------------------------------------- filter_to_known
def test_filter_to_known() -> None:
    train = pd.DataFrame({"user": [1, 2], "item": ["a", "b"]})
    test = pd.DataFrame(
        {"user": [1, 3, 2, 2], "item": ["b", "a", "c", "a"]}, index=[10, 11, 12, 13]
    )
    with pytest.warns(UserWarning, match="dropped 2 of 4"):
        kept = filter_to_known(test, train, user_col="user", item_col="item")
    assert kept.index.tolist() == [10, 13]
    with pytest.warns(UserWarning, match="dropped 1 of 4"):
        items_only = filter_to_known(test, train, user_col=None, item_col="item")
    assert items_only.index.tolist() == [10, 11, 13]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped: no warning
        assert len(filter_to_known(kept, train, user_col="user", item_col="item")) == 2
        assert len(filter_to_known(test.iloc[:0], train, user_col="user", item_col="item")) == 0
    with pytest.raises(ValueError, match=r"train_df is missing column\(s\) \['user'\]"):
        filter_to_known(test, train.drop(columns="user"), user_col="user", item_col="item")
