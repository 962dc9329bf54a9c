"""Bad-input catalogue of recsys.evaluation: metrics and splits fail clearly.

"Clearly": a ``ValueError``, ``KeyError`` or ``TypeError`` with a message naming
the problem, never a crash deep inside, a wrong answer or a silent drop (the full
rule, and the shared helpers, are in ``tests/bad_input.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from recsys.evaluation import (
    basket_holdout,
    coverage,
    evaluate_ranking,
    filter_to_known,
    hit_rate_at_k,
    leave_last_n,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty_at_k,
    precision_at_k,
    random_split,
    recall_at_k,
    revenue_at_k,
    temporal_split,
)
from tests.bad_input import expect

METRICS = [precision_at_k, recall_at_k, hit_rate_at_k, mrr_at_k, map_at_k, ndcg_at_k]


@pytest.mark.parametrize("metric", METRICS, ids=lambda f: f.__name__)
def test_metrics_table(metric: Callable) -> None:
    recs = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"], "rank": [1, 2, 1]})
    relevant = pd.DataFrame({"user": [1, 2], "item": ["a", "c"]})
    assert 0.0 <= metric(recs, relevant, k=2) <= 1.0
    for k, exc in [
        (0, ValueError),
        (-1, ValueError),
        (2.5, TypeError),
        ("2", TypeError),
        (None, TypeError),
        (True, TypeError),
    ]:
        expect(lambda k=k: metric(recs, relevant, k=k), exc, "k must be")
    expect(lambda: metric(recs.values, relevant, k=2), TypeError, "DataFrame")
    expect(lambda: metric(recs.drop(columns="item"), relevant, k=2), ValueError, "missing column")
    expect(
        lambda: metric(recs, relevant.rename(columns={"user": "customer"}), k=2),
        ValueError,
        "missing column",
    )
    expect(lambda: metric(pd.concat([recs, recs]), relevant, k=2), ValueError, "duplicated")
    expect(lambda: metric(recs.assign(user=[1, None, 2]), relevant, k=2), ValueError, "missing")


def test_other_metrics_and_splits_table() -> None:
    recs = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"], "rank": [1, 2, 1]})
    relevant = pd.DataFrame({"user": [1, 2], "item": ["a", "c"], "price": [2.0, 3.0]})
    expect(
        lambda: revenue_at_k(recs, relevant.assign(price=[np.nan, 1.0]), k=2), ValueError, "price"
    )
    expect(lambda: coverage(recs, 0, k=2), ValueError, "n_items")
    expect(lambda: coverage(recs, 2.5, k=2), TypeError, "n_items")
    expect(lambda: novelty_at_k(recs, pd.Series({"a": 1, "b": 0}), 0, k=2), ValueError, "n_users")
    expect(
        lambda: evaluate_ranking(recs, relevant, k=2, metrics=["accuracy"]), ValueError, "accuracy"
    )
    log = pd.DataFrame(
        {
            "user": [1, 1, 1, 2, 2],
            "item": list("abcab"),
            "order": ["o1", "o1", "o2", "o3", "o3"],
            "time": pd.date_range("2024-01-01", periods=5),
        }
    )
    for bad in (0.0, 1.0, 1.5, -0.1, np.nan):
        expect(
            lambda bad=bad: random_split(log, user_col="user", item_col="item", test_fraction=bad),
            ValueError,
            "test_fraction",
        )
    expect(
        lambda: random_split(log.iloc[:0], user_col="user", item_col="item"), ValueError, "empty"
    )
    expect(
        lambda: random_split(log, user_col="customer", item_col="item"),
        ValueError,
        "missing column",
    )
    expect(
        lambda: temporal_split(log, time_col="time", split_time="not a date"),
        ValueError,
        "split_time",
    )
    expect(
        lambda: leave_last_n(log, user_col="user", item_col="item", time_col="time", n=0),
        ValueError,
        "n",
    )
    expect(
        lambda: leave_last_n(log, user_col="user", item_col="item", time_col="time", n=1.5),
        TypeError,
        "n",
    )
    expect(
        lambda: basket_holdout(log, basket_col="order", item_col="item", min_basket_size=0),
        ValueError,
        "min_basket_size",
    )
    expect(
        lambda: filter_to_known(log, log[["user"]], user_col="user", item_col="item"),
        ValueError,
        "missing column",
    )
    with pytest.warns(UserWarning, match="dropped 5 of 5"):  # dropping is announced, never silent
        assert filter_to_known(log, log.iloc[:0], user_col="user", item_col="item").empty
