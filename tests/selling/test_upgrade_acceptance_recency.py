"""The recency and trend helpers of ``python -m benchmarks upgrade --recency``.

Checked on small random logs against a brute-force NumPy reference and against
the library's own ``ItemItem`` scores (no data set needed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recsys
from benchmarks import upgrade_acceptance as ua
from recsys.data.time_decay import decay_weights

START = pd.Timestamp("2017-01-01", tz="America/New_York")


def _lines(seed: int, n_baskets: int, n_items: int, n_users: int) -> pd.DataFrame:
    """A random basket log in the benchmark's columns (one timestamp per basket)."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_baskets):
        user = f"h{rng.integers(n_users)}"
        day = int(rng.integers(0, 90))
        size = int(rng.integers(1, min(5, n_items) + 1))
        for item in rng.choice(n_items, size=size, replace=False):
            rows.append(
                {
                    "household_id": user,
                    "basket_id": f"b{b}",
                    "product_id": f"p{item}",
                    "week": day // 7 + 1,
                    "transaction_timestamp": START + pd.Timedelta(days=day, hours=b % 24),
                }
            )
    return pd.DataFrame(rows)


def _data(lines: pd.DataFrame) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(
        lines,
        user_col="household_id",
        item_col="product_id",
        basket_col="basket_id",
        time_col="transaction_timestamp",
    )


def _unowned_pairs(lines: pd.DataFrame) -> pd.DataFrame:
    """Every (household, item it never bought) pair, as the benchmark's candidates are."""
    owned = set(zip(lines["household_id"], lines["product_id"], strict=True))
    pairs = [
        (u, i)
        for u in sorted(lines["household_id"].unique())
        for i in sorted(lines["product_id"].unique())
        if (u, i) not in owned
    ]
    return pd.DataFrame(pairs, columns=["household_id", "item"])


def _brute_force(lines: pd.DataFrame, pairs: pd.DataFrame, weight: dict, m: float) -> np.ndarray:
    """``decayed_confidence`` by its definition, one pair at a time, in plain Python."""
    baskets = lines.groupby("basket_id")["product_id"].agg(set).to_dict()
    total = sum(weight.values())

    def c(*items: str) -> float:
        return sum(weight[b] for b, held in baskets.items() if set(items) <= held)

    def n_together(i: str, j: str) -> int:
        return sum(1 for held in baskets.values() if {i, j} <= held)

    out = []
    for u, j in zip(pairs["household_id"], pairs["item"], strict=True):
        mine = sorted(set(lines.loc[lines["household_id"] == u, "product_id"]))
        p_j = c(j) / total
        listed = [i for i in mine if n_together(i, j) > 0]
        if listed:
            out.append(max((c(i, j) + m * p_j) / (c(i) + m) for i in listed))
        else:
            out.append(max(m * p_j / (c(i) + m) for i in mine))
    return np.array(out)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_baskets=st.integers(2, 25),
    n_items=st.integers(2, 8),
    m=st.sampled_from([0.0, 0.5, 3.0, 1e5]),
    half_life=st.sampled_from([None, 1.0, 30.0]),
)
def test_decayed_confidence_matches_its_definition(
    seed: int, n_baskets: int, n_items: int, m: float, half_life: float | None
) -> None:
    lines = _lines(seed, n_baskets, n_items, n_users=4)
    pairs = _unowned_pairs(lines)
    if pairs.empty:
        return
    data = _data(lines)
    weights = ua.basket_weights(data, half_life)
    got = ua.decayed_confidence(data, pairs, weights, m)
    assert data.basket_ids is not None
    weight = dict(zip(data.basket_ids.external_ids, weights, strict=True))
    np.testing.assert_allclose(got, _brute_force(lines, pairs, weight, m), rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_baskets=st.integers(3, 25),
    n_items=st.integers(2, 8),
    m=st.sampled_from([0.5, 3.0, 100.0]),
)
def test_undecayed_confidence_is_what_item_item_scores(
    seed: int, n_baskets: int, n_items: int, m: float
) -> None:
    lines = _lines(seed, n_baskets, n_items, n_users=4)
    pairs = _unowned_pairs(lines)
    if pairs.empty:
        return
    data = _data(lines)
    model = recsys.ItemItem(basket_prior=m, repeat_prior=None).fit(data)
    users = model.user_ids_.to_rows(pairs["household_id"].to_numpy())
    items = model.item_ids_.to_rows(pairs["item"].to_numpy())
    want = np.array(
        [
            model.score_rows(np.array([u]), np.array([i]))[0, 0]
            for u, i in zip(users, items, strict=True)
        ]
    )
    got = ua.decayed_confidence(data, pairs, ua.basket_weights(data, None), m)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_basket_weights_and_counts_decay_by_basket_age() -> None:
    lines = _lines(3, 30, 6, n_users=3)
    data = _data(lines)
    assert data.basket_ids is not None and data.basket_times is not None
    weights = ua.basket_weights(data, 14.0)
    np.testing.assert_allclose(weights, decay_weights(data.basket_times, data.reference_time, 14.0))
    newest = lines["transaction_timestamp"].max()
    per_basket = lines.groupby("basket_id")["transaction_timestamp"].first()
    age = (newest - per_basket).dt.total_seconds() / 86_400
    items = np.array(sorted(lines["product_id"].unique()))
    want = [
        sum(
            0.5 ** (age[b] / 14.0)
            for b in lines.loc[lines["product_id"] == item, "basket_id"].unique()
        )
        for item in items
    ]
    np.testing.assert_allclose(ua.item_basket_counts(data, items, weights), want, rtol=1e-9)
    undecayed = ua.item_basket_counts(data, items, ua.basket_weights(data, None))
    assert undecayed.tolist() == [
        lines.loc[lines["product_id"] == i, "basket_id"].nunique() for i in items
    ]


def test_recent_counts_split_the_weeks() -> None:
    lines = pd.DataFrame(
        {
            "basket_id": ["a", "a", "b", "c", "d", "d"],
            "product_id": ["x", "x", "x", "y", "x", "y"],
            "week": [1, 1, 3, 4, 5, 5],
        }
    )
    items = np.array(["x", "y", "z"])
    assert ua.recent_basket_counts(lines, items, 2).tolist() == [1.0, 2.0, 0.0]
    assert ua.recent_basket_counts(lines, items, 2, before=True).tolist() == [2.0, 0.0, 0.0]


def test_future_popularity_leaves_the_household_out() -> None:
    test = pd.DataFrame(
        {
            "household_id": ["u", "u", "v", "w", "w"],
            "basket_id": ["1", "1", "2", "3", "4"],
            "product_id": ["x", "x", "x", "x", "y"],
        }
    )
    pairs = pd.DataFrame({"household_id": ["u", "v", "z", "u"], "item": ["x", "x", "x", "y"]})
    # x is in baskets 1 (u), 2 (v), 3 (w): u sees 2, v sees 2, an outsider 3; y only w's
    assert ua.future_popularity(test, pairs).tolist() == [2.0, 2.0, 3.0, 1.0]


def test_key_offers_rank_by_key_then_popularity_then_item() -> None:
    pairs = pd.DataFrame(
        {
            "household_id": ["u"] * 5,
            "item": ["a", "b", "c", "d", "e"],
            "popularity": [1.0, 5.0, 5.0, 9.0, 0.0],
        }
    )
    assert ua.key_offers(pairs, np.array([1.0, 1.0, 1.0, 0.0, 2.0])) == {"u": ["e", "b", "c"]}


def test_cut_needs_the_validation_split() -> None:
    with pytest.raises(ValueError, match="cut must be in"):
        ua.make_split(3, validation=False, cut=0.5)
    with pytest.raises(ValueError, match="cut must be in"):
        ua.make_split(3, validation=True, cut=1.5)
    with pytest.raises(SystemExit):
        ua.main(["--cut", "0.4"])
