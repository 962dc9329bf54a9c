"""How recommend_upgrade ranks by default: the model's affinity, across families."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.models import basket_probability as bp
from recsys.selling import TierCatalog, recommend_upgrade
from recsys.selling.upgrade import DEFAULT_AFFINITY_WEIGHT


def test_a_best_seller_tier_outranks_a_rare_one_seen_once_with_the_history() -> None:
    # "artisan" bread was bought once, with cheap bread and jam; "organic" bread is the
    # best-seller of the same higher tier but was never in a basket with cheap bread
    rows = [("b0", "h", "bread-cheap"), ("b0", "h", "jam"), ("b0", "h", "bread-artisan")]
    rows += [("b1", "h", "bread-cheap")]
    rows += [(f"o{b}", f"u{b % 9}", "bread-organic") for b in range(30)]
    rows += [(f"w{b}", f"u{b % 9}", "water") for b in range(50)]
    log = pd.DataFrame(rows, columns=["basket", "user", "item"])
    data = recsys.Interactions.from_pandas(
        log, user_col="user", item_col="item", basket_col="basket"
    )
    catalog = TierCatalog.from_mapping(
        {"bread": [["bread-cheap"], ["bread-organic", "bread-artisan"]]}
    )
    with mock.patch.object(bp, "POPULAR_PRIOR_ITEMS", 1):  # as in a large catalog
        model = recsys.ItemItem(basket_prior=1000.0, repeat_prior=None, num_threads=1).fit(data)
        scores = model.score_items(["h"], ["bread-organic", "bread-artisan"])[0]
        assert scores[0] > scores[1] > 0
        # someone looking at the cheap bread: the best-seller first
        offers = recommend_upgrade(model, catalog, item="bread-cheap", n=2)
    assert offers["item"].tolist() == ["bread-organic", "bread-artisan"]


def random_world(seed: int) -> tuple[recsys.ItemItem, TierCatalog, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_items = 18
    p = 1.0 / np.arange(1, n_items + 1) ** 0.7
    p /= p.sum()
    rows = []
    for b in range(120):
        user = f"u{rng.integers(15)}"
        for i in rng.choice(n_items, size=int(rng.integers(1, 5)), replace=False, p=p):
            rows.append((f"b{b}", user, f"i{i:02d}"))
    log = pd.DataFrame(rows, columns=["basket", "user", "item"])
    data = recsys.Interactions.from_pandas(
        log, user_col="user", item_col="item", basket_col="basket"
    )
    model = recsys.ItemItem(basket_prior=float(rng.choice([1.0, 30.0, 1e4])), num_threads=1)
    model.fit(data)
    items = [f"i{i:02d}" for i in rng.permutation(n_items)]
    families = {}
    for f, start in enumerate(range(0, n_items, 6)):  # three families of three tiers of two
        members = items[start : start + 6]
        families[f"f{f}"] = [members[0:2], members[2:4], members[4:6]]
    # a rare item may never have sold in 120 baskets: the catalog holds what the model knows
    catalog = TierCatalog.from_mapping(families).restrict_to(model.item_ids_.external_ids)
    return model, catalog, log


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6))
def test_customer_wide_upgrades_rank_by_the_models_probability(seed: int, n: int) -> None:
    """The default list is the top-n of every family's higher tiers by ``score_rows``."""
    assert DEFAULT_AFFINITY_WEIGHT == 1.0
    model, catalog, log = random_world(seed)
    info = catalog.to_pandas().set_index("item")
    popular_place = np.empty(len(model.item_ids_))
    popular_place[model.popular_item_rows()] = np.arange(len(model.item_ids_))
    for user in sorted(set(log["user"]))[:5]:
        owned = set(log.loc[log["user"] == user, "item"])
        top = info.loc[sorted(owned)].groupby("family")["tier"].max()
        cands = [
            item
            for item, row in info.iterrows()
            if row["family"] in top.index and row["tier"] > top[row["family"]]
        ]
        got = recommend_upgrade(model, catalog, user=user, n=n, explain=False)
        if not cands:
            assert got.empty
            continue
        rows = model.item_ids_.to_rows(cands)
        scores = model.score_rows(model.user_ids_.to_rows([user]), rows)[0]
        order = np.lexsort((popular_place[rows], -scores.astype(np.float64)))
        expected = [cands[k] for k in order[:n]]
        assert got["item"].tolist() == expected
        assert (got["to_tier"].to_numpy() > got["from_tier"].to_numpy()).all()


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    affinity=st.lists(
        st.sampled_from([0.0, 0.25, 0.5, 1.0, -np.inf, np.nan, 1e-9]), min_size=0, max_size=12
    ),
)
def test_one_query_rank_equals_the_batch_rank(seed: int, affinity: list[float]) -> None:
    """The shop-front shortcut gives the batch path's numbers (ties, -inf and NaN included)."""
    from recsys.selling.upgrade import _one_query_rank, _pct_rank, _with_popularity_ties

    model, _, _ = random_world(seed)
    rng = np.random.default_rng(seed)
    values = np.array(affinity, dtype=np.float64)
    items = rng.choice(len(model.item_ids_), size=values.size, replace=False)
    values = np.where(np.isnan(values), -np.inf, values)  # what _affinity hands on
    expected = _pct_rank(
        _with_popularity_ties(values, items, model), np.zeros(values.size, dtype=np.int64)
    )
    np.testing.assert_array_equal(_one_query_rank(values, items, model), expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4))
def test_a_few_queries_rank_as_the_batch_path(seed: int, n: int) -> None:
    """Several items of one customer (a slate's basket) with few candidates are ranked query by
    query and scored in one pass; the numbers are the general batch path's."""
    import recsys.selling.upgrade as upgrade_module
    from recsys.selling.rules import Rules

    model, catalog, log = random_world(seed)
    user = log["user"].iloc[0]
    items = [i for i in dict.fromkeys(log["item"]) if i in catalog][:3]
    if not items:
        return
    args = (
        model,
        catalog,
        np.array(items, dtype=object),
        np.array([user] * len(items), dtype=object),
        None,
        n,
    )
    kwargs = dict(
        max_price_ratio=None,
        max_tier_jump=None,
        segment_price_caps=None,
        rules=Rules(),
        explain=True,
        affinity_weight=1.0,
        now=None,
        num_threads=0,
    )
    fast, per_query = upgrade_module._upgrade(*args, **kwargs)
    with mock.patch.object(upgrade_module, "_FEW", -1):  # every query count: the batch rank
        general, general_per_query = upgrade_module._upgrade(*args, **kwargs)
    np.testing.assert_array_equal(per_query, general_per_query)
    for name in ("from_item", "item", "rank", "score", "reason"):
        assert list(fast[name]) == list(general[name]), name
