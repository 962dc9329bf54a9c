"""Single-call latency of the selling APIs on a large catalog, next to implicit's item-item.

Usage::

    python -m benchmarks selling-latency                      # 100k items, ~5 min on 2 cores
    python -m benchmarks selling-latency --items 20000 --queries 500

Data: a generated basket log (:func:`benchmarks.data.power_law_matrix`: 600k
baskets of Zipf-distributed items over the catalog, log-normal basket sizes)
owned by 200k customers, one basket per hour; a tier catalog that groups
random items into families of 2-4 tiers with rising prices.  Models: the
default ``recsys.ItemItem()`` (so the timed calls are the recommended calls,
with the calibrated basket-completion probabilities) and implicit's
``CosineRecommender`` (K=100) on the same baskets.

Timed calls (``queries`` random baskets of 1-5 items and random known
customers, every call in turn, after 50 untimed warm-up calls each):

* ``recommend_cross_sell(model, basket, n=5, user=customer)`` — a DataFrame
  with explanations, as a shop front gets it — and the same call with
  ``return_frame=False`` (a ``CrossSellResult`` of NumPy arrays, the serving
  fast path);
* the DataFrame call again with ``ItemItem(repeat_prior=10)``: random
  baskets carry no repeat signal, so the calibrated model drops repeats; this
  row times the customer's history entries too;
* ``recommend_upgrade(model, catalog, item=..., user=customer, n=3)`` and
  ``recommend_upgrade(model, catalog, user=customer, n=3)`` (across what the
  customer owns), each also with ``return_frame=False``;
* ``recommend_bundle(model, basket, size=2 or 3, user=customer)`` (and size 3
  with ``return_frame=False``);
* ``recommend_offers(model, user=customer, basket=..., catalog=catalog)`` at
  checkout (the basket) and browsing (a tiered item);
* ``recommend_cross_sell(ease, basket, n=5, user=customer)`` with a sparse
  ``EASE(l2=100, density=0.005)`` fitted on the same baskets (DataFrame and
  ``return_frame=False``), and the DataFrame call without a customer: the
  sparse ``B`` is served through its neighbour table (``EASE.neighbours_``,
  the neighbour kernel), and a customer's history adds their items' rows of
  ``B``;
* implicit: ``CosineRecommender.recommend(0, basket_row, N=5)`` — plain
  item-item scores of the basket, no rules, no explanations: the reference.

Every call kind takes its turn on every query, so machine load hits them
alike: read the ratios to implicit (``p50 vs implicit``, ``p99 vs
implicit``) first.  The 1-minute load average is printed before and after
the timed loop.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

import recsys
from benchmarks.data import power_law_matrix
from benchmarks.report import show
from recsys.selling import TierCatalog, recommend_cross_sell, recommend_upgrade
from recsys.selling.bundle import recommend_bundle
from recsys.selling.offers import recommend_offers

warnings.filterwarnings("ignore", message=".*OpenBLAS.*")


def basket_log(n_items: int, n_baskets: int, n_users: int, seed: int = 2) -> recsys.Interactions:
    """Generate baskets × items from a power-law matrix, one basket per hour.

    Each basket belongs to a random customer.
    """
    baskets = power_law_matrix(n_baskets, n_items, n_baskets * 5, seed=seed)
    rng = np.random.default_rng(seed)
    owner = rng.integers(0, n_users, size=n_baskets)
    coo = baskets.tocoo()
    log = pd.DataFrame(
        {
            "basket": coo.row,
            "item": coo.col,
            "user": owner[coo.row],
            "time": pd.Timestamp("2024-01-01") + pd.to_timedelta(coo.row, unit="h"),
        }
    )
    return recsys.Interactions.from_pandas(
        log, user_col="user", item_col="item", basket_col="basket", time_col="time"
    )


def tier_catalog(items: np.ndarray, seed: int = 3) -> TierCatalog:
    """Random families of 2-4 tiers over a third of the items, prices rising with the tier."""
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(items)[: items.size // 3]
    families: dict[str, list[Any]] = {}
    prices: dict[Any, float] = {}
    start = 0
    while start < chosen.size - 1:
        size = int(rng.integers(2, 5))
        members = chosen[start : start + size].tolist()
        families[f"f{len(families)}"] = members
        base = float(rng.uniform(2, 50))
        for tier, item in enumerate(members):
            prices[item] = round(base * (1 + 0.4 * tier), 2)
        start += size
    return TierCatalog.from_mapping(families, prices=prices)


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def run(
    n_items: int = 100_000,
    *,
    n_baskets: int = 600_000,
    n_users: int = 200_000,
    queries: int = 2000,
    threads: int = 2,
    markdown: str | None = None,
    progress: Any = print,
    ease_density: float | None = 0.005,
) -> pd.DataFrame:
    """Time single calls of the selling APIs and implicit's recommend; return the table.

    ``ease_density=None`` leaves out the sparse EASE rows (and their fit).
    """
    from implicit.nearest_neighbours import CosineRecommender

    from recsys.models.ease import EASE

    t0 = time.perf_counter()
    data = basket_log(n_items, n_baskets, n_users)
    if progress:
        progress(
            f"log: {data.basket_matrix.shape[0]:,} baskets, {data.n_users:,} customers, "
            f"{data.n_items:,} items ({time.perf_counter() - t0:.1f} s)"
        )
    t0 = time.perf_counter()
    model = recsys.ItemItem(num_threads=threads).fit(data)
    fit_s = time.perf_counter() - t0
    if progress:
        progress(
            f"ItemItem() fit with calibration: {fit_s:.1f} s; basket_prior_={model.basket_prior_}, "
            f"repeat_prior_={model.repeat_prior_}"
        )
    with_repeats = recsys.ItemItem(
        num_threads=threads, basket_prior=model.basket_prior_, repeat_prior=10.0
    ).fit(data)
    ease = None
    if ease_density is not None:
        t0 = time.perf_counter()
        ease = EASE(l2=100.0, density=ease_density, num_threads=threads).fit(data)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        table = ease.neighbours_  # built once per fit, on first use: not part of a call
        if progress:
            progress(
                f"EASE(l2=100, density={ease_density}) fit: {fit_s:.1f} s, "
                f"{ease.weights_.nnz:,} weights; neighbour table {time.perf_counter() - t0:.1f} s "
                f"(longest row {int(np.diff(table.indptr).max()):,})"
            )
    baskets = data.basket_matrix.astype(np.float32).tocsr()
    baskets.data[:] = 1.0
    theirs = CosineRecommender(K=100, num_threads=threads)
    theirs.fit(baskets, show_progress=False)
    catalog = tier_catalog(data.item_ids.external_ids)
    tiered = np.asarray([i for i in data.item_ids.external_ids if i in catalog])

    rng = np.random.default_rng(4)
    sold = np.flatnonzero(np.diff(baskets.tocsc().indptr) > 0)
    users = data.user_ids.external_ids
    calls = []
    for _ in range(queries + 50):
        rows = rng.choice(sold, size=int(rng.integers(1, 6)), replace=False)
        calls.append(
            (
                data.item_ids.to_external(rows).tolist(),
                np.sort(rows),
                users[rng.integers(users.size)],
                tiered[rng.integers(tiered.size)],
            )
        )
    n_items_total = data.n_items

    def implicit_call(rows: np.ndarray) -> None:
        row = sp.csr_matrix(
            (np.ones(rows.size, dtype=np.float32), rows, [0, rows.size]), shape=(1, n_items_total)
        )
        theirs.recommend(0, row, N=5, filter_already_liked_items=True)

    timed = {
        "recommend_cross_sell (DataFrame, explain)": lambda c: recommend_cross_sell(
            model, c[0], n=5, user=c[2]
        ),
        "recommend_cross_sell (return_frame=False)": lambda c: recommend_cross_sell(
            model, c[0], n=5, user=c[2], return_frame=False
        ),
        "recommend_cross_sell (DataFrame), ItemItem(repeat_prior=10)": lambda c: (
            recommend_cross_sell(with_repeats, c[0], n=5, user=c[2])
        ),
        "recommend_upgrade (item + user)": lambda c: recommend_upgrade(
            model, catalog, item=c[3], user=c[2], n=3
        ),
        "recommend_upgrade (item + user, return_frame=False)": lambda c: recommend_upgrade(
            model, catalog, item=c[3], user=c[2], n=3, return_frame=False
        ),
        "recommend_upgrade (user: what they own)": lambda c: recommend_upgrade(
            model, catalog, user=c[2], n=3
        ),
        "recommend_upgrade (user, return_frame=False)": lambda c: recommend_upgrade(
            model, catalog, user=c[2], n=3, return_frame=False
        ),
        "recommend_bundle (size=2)": lambda c: recommend_bundle(model, c[0], size=2, user=c[2]),
        "recommend_bundle (size=3)": lambda c: recommend_bundle(model, c[0], size=3, user=c[2]),
        "recommend_bundle (size=3, return_frame=False)": lambda c: recommend_bundle(
            model, c[0], size=3, user=c[2], return_frame=False
        ),
        "recommend_offers (checkout)": lambda c: recommend_offers(
            model, user=c[2], basket=c[0], catalog=catalog, moment="checkout"
        ),
        "recommend_offers (browse)": lambda c: recommend_offers(
            model, user=c[2], basket=c[3], catalog=catalog, moment="browse"
        ),
        "recommend_offers (checkout, return_frame=False)": lambda c: recommend_offers(
            model, user=c[2], basket=c[0], catalog=catalog, moment="checkout", return_frame=False
        ),
        "recommend_offers (browse, return_frame=False)": lambda c: recommend_offers(
            model, user=c[2], basket=c[3], catalog=catalog, moment="browse", return_frame=False
        ),
        "implicit CosineRecommender.recommend (basket row)": lambda c: implicit_call(c[1]),
    }
    if ease is not None:
        timed["recommend_cross_sell (DataFrame), sparse EASE"] = lambda c: recommend_cross_sell(
            ease, c[0], n=5, user=c[2]
        )
        timed["recommend_cross_sell (return_frame=False), sparse EASE"] = lambda c: (
            recommend_cross_sell(ease, c[0], n=5, user=c[2], return_frame=False)
        )
        timed["recommend_cross_sell (DataFrame), sparse EASE, no customer"] = lambda c: (
            recommend_cross_sell(ease, c[0], n=5)
        )
    seconds: dict[str, list[float]] = {name: [] for name in timed}
    load_before = os.getloadavg()[0]
    for i, c in enumerate(calls):
        for name, call in timed.items():
            t = time.perf_counter()
            call(c)
            if i >= 50:
                seconds[name].append(time.perf_counter() - t)
    load_after = os.getloadavg()[0]
    rows_out = []
    ref_p50, ref_p99 = _percentiles(seconds["implicit CosineRecommender.recommend (basket row)"])
    for name, values in seconds.items():
        p50, p99 = _percentiles(values)
        rows_out.append(
            {
                "call": name,
                "items": n_items_total,
                "queries": len(values),
                "p50 ms": p50,
                "p99 ms": p99,
                "p99 under 1 ms": p99 < 1.0,
                "p50 vs implicit": p50 / ref_p50,
                "p99 vs implicit": p99 / ref_p99,
            }
        )
    table = pd.DataFrame(rows_out)
    show(
        f"Selling API latency ({n_items_total:,}-item catalog, {threads} threads; "
        f"1-min load average {load_before:.1f} before, {load_after:.1f} after the timed loop)",
        table,
        markdown,
    )
    return table


def main(*, items: int, queries: int, threads: int, markdown: str | None) -> None:
    """Run the latency benchmark (``python -m benchmarks selling-latency``)."""
    run(items, queries=queries, threads=threads, markdown=markdown)
