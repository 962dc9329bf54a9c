"""ItemItem's one-customer score (one kernel pass) against the queries it replaces, to the bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys._utils.sparse import row_positions


def _log(seed: int, n_items: int) -> recsys.Interactions:
    rng = np.random.default_rng(seed)
    rows = []
    for order in range(150):
        customer = int(rng.integers(0, 8))
        size = int(rng.integers(1, 5))
        # skewed items (some pairs recur, some items are popular) and a long tail beyond the
        # popular items the prior lists, where a wanted item may have no evidence at all
        skewed = np.minimum(rng.zipf(1.6, size) - 1, n_items - 1)
        items = np.unique(np.concatenate([skewed, rng.integers(0, n_items, 1)]))
        rows += [(order, customer, f"i{int(i)}") for i in items]
    frame = pd.DataFrame(rows, columns=["order", "customer", "item"])
    return recsys.Interactions.from_pandas(
        frame, user_col="customer", item_col="item", basket_col="order"
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_items=st.integers(3, 120),
    basket_prior=st.sampled_from([0.0, 1.0, 30.0, 1e5]),
    repeat_prior=st.sampled_from([None, 0.5, 10.0]),
    data=st.data(),
)
def test_one_customer_equals_the_queries(
    seed: int, n_items: int, basket_prior: float, repeat_prior, data
) -> None:
    model = recsys.ItemItem(basket_prior=basket_prior, repeat_prior=repeat_prior).fit(
        _log(seed, n_items)
    )
    n = len(model.item_ids_)
    wanted = np.array(
        data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=8)), dtype=np.int64
    )
    h = model._history
    everything = np.arange(n)[::-1]  # every cell, so the rare ones (no evidence at all) count
    for user in range(len(model.user_ids_)):
        rows = np.array([user], dtype=np.int64)
        indptr, take = row_positions(h.indptr, rows)
        for items in (wanted, everything):
            expected = model._item_scores(indptr, h.indices[take], h.data[take], rows, items)
            got = model._score_users(rows, items)  # one customer: the one-pass kernel
            np.testing.assert_array_equal(got, expected)
            assert got.dtype == np.float32 and got.shape == (1, items.size)


def test_the_customers_own_item_without_evidence_keeps_no_prior() -> None:
    # customer "solo" has one item, which no other item of theirs lists: score 0, and the
    # prior of items without evidence is not given to what is in the history
    frame = pd.DataFrame(
        {
            "order": [1, 1, 2, 2, 3, 4, 4] + [5 + k for k in range(60)],
            "customer": ["a", "a", "b", "b", "solo", "c", "c"] + ["d"] * 60,
            "item": ["x", "y", "x", "y", "z", "x", "w"] + [f"t{k}" for k in range(60)],
        }
    )
    data = recsys.Interactions.from_pandas(
        frame, user_col="customer", item_col="item", basket_col="order"
    )
    model = recsys.ItemItem(basket_prior=5.0, repeat_prior=None).fit(data)
    h = model._history
    wanted = np.arange(len(model.item_ids_))
    for user in range(len(model.user_ids_)):
        rows = np.array([user], dtype=np.int64)
        indptr, take = row_positions(h.indptr, rows)
        expected = model._item_scores(indptr, h.indices[take], h.data[take], rows, wanted)
        np.testing.assert_array_equal(model._score_users(rows, wanted), expected)
    solo = model.user_ids_.to_rows(["solo"])
    z = model.item_ids_.to_rows(["z"])
    assert model._score_users(solo.astype(np.int64), z.astype(np.int64))[0, 0] == 0.0
