"""Serving from many threads at once, and reproducible training.

One fitted model is shared by 8 threads making 50 calls each (``recommend``,
``recommend_rows``, ``recommend_cross_sell``, mixed); every call must return
exactly what the same call returns when run alone.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recsys import (
    ALS,
    Interactions,
    ItemItem,
    Popularity,
    Recommender,
    TierCatalog,
    recommend_cross_sell,
    recommend_upgrade,
)
from recsys.selling import Rules
from tests.models.contract import DATA_KWARGS, make_log

THREADS = 8
CALLS = 50
#: One Rules object shared by every thread (its compiled form is cached per model).
RULES = Rules(available_items=[f"item{i:03d}" for i in range(5, 80)])


@pytest.fixture(scope="module")
def data() -> Interactions:
    return Interactions.from_pandas(
        make_log(seed=11, n_users=200, n_items=80, n_orders=900), **DATA_KWARGS
    )


@pytest.fixture(scope="module")
def catalog(data: Interactions) -> TierCatalog:
    items = data.item_ids.external_ids
    return TierCatalog.from_mapping({"a": list(items[:3]), "b": list(items[10:14])})


def make_call(
    model: Recommender, data: Interactions, catalog: TierCatalog, i: int
) -> tuple[str, Any]:
    """Call number ``i``: a different kind and different arguments for different ``i``."""
    rng = np.random.default_rng(i)
    users = data.user_ids.external_ids
    items = data.item_ids.external_ids
    kind = ("recommend", "rows", "cross_sell")[i % 3]
    if kind == "recommend":
        some = [*rng.choice(users, size=int(rng.integers(1, 40))).tolist(), "new customer"]
        return kind, (
            some,
            int(rng.integers(1, 12)),
            rng.choice(items, size=3, replace=False).tolist(),
        )
    if kind == "rows":
        rows = rng.integers(-1, len(users), size=int(rng.integers(1, 300)))
        return kind, (rows, int(rng.integers(1, 20)))
    basket = rng.choice(items, size=int(rng.integers(1, 4)), replace=False).tolist()
    return kind, (basket, int(rng.integers(1, 8)), users[i % len(users)] if i % 2 else None)


def run(model: Recommender, catalog: TierCatalog, call: tuple[str, Any]) -> Any:
    kind, args = call
    if kind == "recommend":
        users, n, excluded = args
        return model.recommend(users, n=n, exclude_items=excluded)
    if kind == "rows":
        rows, n = args
        return model.recommend_rows(rows, n)
    basket, n, user = args
    return recommend_cross_sell(model, basket, n=n, user=user, catalog=catalog, rules=RULES)


def same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    else:
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: ALS(factors=16, iterations=3, random_state=0, num_threads=2),
        lambda: ItemItem(similarity="cosine", k=20, num_threads=2),
        lambda: Popularity(segment_col="country", num_threads=2),
    ],
    ids=["ALS", "ItemItem", "Popularity"],
)
def test_threads_get_the_same_results_as_serial_calls(
    make_model, data: Interactions, catalog: TierCatalog
) -> None:
    model = make_model().fit(data)
    calls = [make_call(model, data, catalog, i) for i in range(THREADS * CALLS)]
    expected = [run(model, catalog, call) for call in calls]
    start = threading.Barrier(THREADS)

    def worker(t: int) -> list[tuple[int, Any]]:
        start.wait()  # all threads hit the model at once
        return [(i, run(model, catalog, calls[i])) for i in range(t, len(calls), THREADS)]

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for chunk in pool.map(worker, range(THREADS)) for r in chunk]
    assert len(results) == len(calls)
    for i, got in results:
        same(got, expected[i])


def test_threads_share_a_freshly_loaded_model(
    data: Interactions, catalog: TierCatalog, tmp_path
) -> None:
    """Lazily built state is safe to build from several threads.

    That is ALS's cosine index for similar_items.
    """
    import recsys

    ALS(factors=8, iterations=2, random_state=0, num_threads=1).fit(data).save(tmp_path / "m.npz")
    reference = recsys.load(tmp_path / "m.npz")
    items = data.item_ids.external_ids
    expected = reference.similar_items(items, n=5)
    model = recsys.load(tmp_path / "m.npz")
    start = threading.Barrier(THREADS)

    def worker(_: int) -> pd.DataFrame:
        start.wait()
        return model.similar_items(items, n=5)

    with ThreadPoolExecutor(THREADS) as pool:
        for got in pool.map(worker, range(THREADS)):
            pd.testing.assert_frame_equal(got, expected)


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("num_threads", [1, 2])
def test_als_is_deterministic(data: Interactions, num_threads: int) -> None:
    """Same data, seed and thread count: bit-identical factors and recommendations."""
    users = data.user_ids.external_ids
    fits = [
        ALS(factors=12, iterations=4, random_state=42, num_threads=num_threads).fit(data)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].user_factors_, fits[1].user_factors_)
    np.testing.assert_array_equal(fits[0].item_factors_, fits[1].item_factors_)
    pd.testing.assert_frame_equal(fits[0].recommend(users, n=10), fits[1].recommend(users, n=10))
    other_seed = ALS(factors=12, iterations=4, random_state=43, num_threads=num_threads).fit(data)
    assert not np.array_equal(other_seed.item_factors_, fits[0].item_factors_)


def test_als_factors_do_not_depend_on_the_thread_count(data: Interactions) -> None:
    """As the ALS docstring promises: every row is solved independently."""
    one = ALS(factors=12, iterations=4, random_state=42, num_threads=1).fit(data)
    two = ALS(factors=12, iterations=4, random_state=42, num_threads=2).fit(data)
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)


# ---------------------------------------------------------------------------
# the default Numba thread pool (issue 16, section 4)
# ---------------------------------------------------------------------------

#: Calls per model in the default-pool test: recommend, recommend_cross_sell, recommend_upgrade.
POOL_CALLS = 600


def pool_call(data: Interactions, catalog: TierCatalog, i: int) -> tuple[str, Any]:
    """Call number ``i`` of the default-pool test: the three public serving calls in turn."""
    rng = np.random.default_rng(1000 + i)
    users = data.user_ids.external_ids
    kind = ("recommend", "cross_sell", "upgrade")[i % 3]
    if kind == "recommend":
        some = [*rng.choice(users, size=int(rng.integers(1, 60))).tolist(), "new customer"]
        return kind, (some, int(rng.integers(1, 15)))
    if kind == "cross_sell":
        items = data.item_ids.external_ids
        basket = rng.choice(items, size=int(rng.integers(1, 5)), replace=False).tolist()
        return kind, (basket, int(rng.integers(1, 8)), users[i % len(users)] if i % 2 else None)
    family_items = [*catalog.higher_tiers(catalog.items[0]), *catalog.items[3:5].tolist()]
    item = family_items[i % len(family_items)] if i % 4 else None
    return kind, (item, users[(7 * i) % len(users)], int(rng.integers(1, 4)))


def pool_run(model: Recommender, catalog: TierCatalog, call: tuple[str, Any]) -> Any:
    kind, args = call
    if kind == "recommend":
        users, n = args
        return model.recommend(users, n=n)
    if kind == "cross_sell":
        basket, n, user = args
        return recommend_cross_sell(model, basket, n=n, user=user, catalog=catalog)
    item, user, n = args
    return recommend_upgrade(model, catalog, item=item, user=user, n=n)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: ALS(factors=16, iterations=3, random_state=0),
        lambda: ItemItem(similarity="cosine", k=20),
        lambda: Popularity(segment_col="country"),
    ],
    ids=["ALS", "ItemItem", "Popularity"],
)
def test_threads_with_the_default_numba_pool_match_serial_calls(
    make_model, data: Interactions, catalog: TierCatalog
) -> None:
    """8 Python threads on one model, every kernel on the default Numba pool (num_threads=0)."""
    model = make_model().fit(data)
    assert model.get_params()["num_threads"] == 0  # the default: all of Numba's threads
    calls = [pool_call(data, catalog, i) for i in range(POOL_CALLS)]
    expected = [pool_run(model, catalog, call) for call in calls]
    start = threading.Barrier(THREADS)

    def worker(t: int) -> list[tuple[int, Any]]:
        start.wait()
        return [(i, pool_run(model, catalog, calls[i])) for i in range(t, len(calls), THREADS)]

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for chunk in pool.map(worker, range(THREADS)) for r in chunk]
    assert sorted(i for i, _ in results) == list(range(POOL_CALLS))
    assert sum(len(e) > 0 for e in expected[2::3]) > POOL_CALLS // 6  # upgrades do answer
    mismatches = 0
    for i, got in results:
        try:
            same(got, expected[i])
        except AssertionError:
            mismatches += 1
    assert mismatches == 0, f"{mismatches} of {POOL_CALLS} calls differ from serial"
