"""Bad-input catalogue of recsys.selling: cross-sell, upgrades and TierCatalog fail clearly.

"Clearly": a ``ValueError``, ``KeyError`` or ``TypeError`` with a message naming
the problem, never a crash deep inside, a wrong answer or a silent drop (the full
rule, and the shared helpers, are in ``tests/bad_input.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys import ItemItem, TierCatalog
from recsys.selling import (
    Rules,
    recommend_cross_sell,
    recommend_cross_sell_batch,
    recommend_upgrade,
    recommend_upgrade_batch,
)
from tests.bad_input import (
    BAD_N,
    CLEAR,
    FUZZ,
    HUGE_N,
    MODELS,
    expect,
    junk_values,
    n_values,
    outcome,
)


@pytest.mark.parametrize("name", MODELS)
def test_selling_table(ctx, name: str) -> None:
    model, catalog = ctx.models[name], ctx.catalog
    item, user = ctx.items[0], ctx.users[0]
    baskets = pd.DataFrame(
        {"basket_id": [1, 1, 2], "item": [item, ctx.items[3], ctx.items[4]], "user": [user] * 3}
    )
    for n, exc in BAD_N:
        expect(lambda n=n: recommend_cross_sell(model, [item], n=n), exc, "n must be")
        expect(lambda n=n: recommend_cross_sell_batch(model, baskets, n=n), exc, "n must be")
        expect(lambda n=n: recommend_upgrade(model, catalog, item=item, n=n), exc, "n must be")
    for n in HUGE_N:
        assert len(recommend_cross_sell(model, [item], n=n)) == len(ctx.items) - 1
        assert len(recommend_cross_sell_batch(model, baskets, n=n)) > 0
    # cross-sell
    expect(lambda: recommend_cross_sell(ItemItem(), [item]), ValueError, "not fitted")
    expect(lambda: recommend_cross_sell(object(), [item]), TypeError, "Recommender")
    expect(lambda: recommend_cross_sell(model, ["nope"]), KeyError, r"\['nope'\]")
    expect(lambda: recommend_cross_sell(model, [item, np.nan]), KeyError, "unknown item")
    expect(
        lambda: recommend_cross_sell(model, []),
        ValueError,
        "basket is empty and the user is unknown",
    )
    expect(lambda: recommend_cross_sell(model, [], user="nobody"), ValueError, "basket is empty")
    expect(lambda: recommend_cross_sell(model, [item], user_weight=1.5), ValueError, "user_weight")
    expect(
        lambda: recommend_cross_sell(model, [item], user_weight=np.nan), ValueError, "user_weight"
    )
    expect(lambda: recommend_cross_sell(model, [item], user_weight=True), ValueError, "user_weight")
    expect(
        lambda: recommend_cross_sell(model, [item], unknown_items="skip"),
        ValueError,
        "unknown_items",
    )
    expect(lambda: recommend_cross_sell(model, [item], rules={"max_price": 3}), TypeError, "Rules")
    with pytest.warns(UserWarning, match="ignored 1 item"):
        recs = recommend_cross_sell(model, [item, "nope"], n=3, unknown_items="ignore")
    assert len(recs) == 3
    foreign = TierCatalog.from_mapping({"x": ["q", "r"]})  # a catalog on other items
    expect(lambda: recommend_cross_sell(model, [item], catalog=foreign), KeyError, "same item IDs")
    ints = TierCatalog.from_mapping({"x": [0, 1]})  # ints where the model has strings
    expect(lambda: recommend_cross_sell(model, [item], catalog=ints), KeyError, "catalog int64 IDs")
    # batch
    expect(lambda: recommend_cross_sell_batch(model, baskets.iloc[:0]), ValueError, "empty")
    expect(
        lambda: recommend_cross_sell_batch(model, baskets, basket_col="order"),
        ValueError,
        "missing column",
    )
    expect(
        lambda: recommend_cross_sell_batch(model, baskets.assign(basket_id=[1, None, 2])),
        ValueError,
        "missing",
    )
    expect(
        lambda: recommend_cross_sell_batch(model, baskets.assign(item=["zzz", item, item])),
        KeyError,
        "zzz",
    )
    expect(
        lambda: recommend_cross_sell_batch(
            model, baskets.assign(user=[user, "x", user]), user_col="user"
        ),
        ValueError,
        "one value per basket",
    )
    # upgrades
    expect(lambda: recommend_upgrade(model, object(), item=item), TypeError, "TierCatalogProtocol")
    expect(lambda: recommend_upgrade(model, catalog), ValueError, "needs an item, a user, or both")
    expect(lambda: recommend_upgrade(model, catalog, item="nope"), KeyError, "nope")
    expect(
        lambda: recommend_upgrade(model, catalog, item=ctx.items[15]), KeyError, "not in any family"
    )
    expect(lambda: recommend_upgrade(model, catalog, user="nobody"), KeyError, "nobody")
    expect(lambda: recommend_upgrade(model, foreign, item=item), KeyError, "unknown to the model")
    for bad in (0, -1, np.nan, "x"):
        expect(
            lambda bad=bad: recommend_upgrade(model, catalog, item=item, max_price_ratio=bad),
            CLEAR,
            "max_price_ratio",
        )
    for bad in (0, 1.5, True):
        expect(
            lambda bad=bad: recommend_upgrade(model, catalog, item=item, max_tier_jump=bad),
            CLEAR,
            "max_tier_jump",
        )
    for bad in (-0.1, 1.5, np.nan, "x", True):
        expect(
            lambda bad=bad: recommend_upgrade(model, catalog, item=item, affinity_weight=bad),
            ValueError,
            "affinity_weight",
        )
    expect(
        lambda: recommend_upgrade(model, catalog, item=item, segment_price_caps=[1.2]),
        TypeError,
        "dict",
    )
    expect(
        lambda: recommend_upgrade(model, catalog, item=item, segment_price_caps={"DE": -1}),
        ValueError,
        r"segment_price_caps\['DE'\]",
    )
    queries = pd.DataFrame({"item": [item, None], "user": [None, user]})
    expect(lambda: recommend_upgrade_batch(model, catalog, queries.iloc[:0]), ValueError, "empty")
    expect(
        lambda: recommend_upgrade_batch(model, catalog, queries, item_col=None),
        ValueError,
        "item_col, user_col",
    )
    expect(
        lambda: recommend_upgrade_batch(model, catalog, queries, user_col="customer"),
        ValueError,
        "missing column",
    )
    expect(
        lambda: recommend_upgrade_batch(model, catalog, queries.assign(user=None)),
        ValueError,
        "neither an item",
    )


@pytest.mark.parametrize("name", MODELS)
@FUZZ
@given(
    basket=st.one_of(
        st.lists(st.sampled_from(["item000", "item001", "item006", "zzz", None, 3]), max_size=4),
        junk_values,
    ),
    n=n_values,
    user=st.sampled_from([None, 0, 1, "nobody", np.nan]),
    user_weight=st.sampled_from([0.3, 0.0, 1.0, -0.5, 2.0, np.nan, "x"]),
    with_catalog=st.booleans(),
    unknown=st.sampled_from(["raise", "ignore"]),
    segment=st.sampled_from([None, "DE", "FR", "nowhere"]),
    explain=st.booleans(),
    rules=st.sampled_from(
        [None, Rules(max_per_group=1, group_col="family"), Rules(available_items=["item001"])]
    ),
)
def test_cross_sell_fuzz(
    ctx,
    name: str,
    basket: Any,
    n: Any,
    user: Any,
    user_weight: Any,
    with_catalog: bool,
    unknown: str,
    segment: Any,
    explain: bool,
    rules: Rules | None,
) -> None:
    if rules is not None and rules.group_col == "family":
        rules = Rules(max_per_group=1, group_col="family", item_attributes=ctx.catalog.attributes())
    result = outcome(
        lambda: recommend_cross_sell(
            ctx.models[name],
            basket,
            n=n,
            user=user,
            user_weight=user_weight,
            catalog=ctx.catalog if with_catalog else None,
            unknown_items=unknown,
            segment=segment,
            explain=explain,
            rules=rules,
        )
    )
    if isinstance(result, pd.DataFrame):
        assert len(result) <= int(n) and not result["item"].duplicated().any()
        assert np.isfinite(result["score"].to_numpy()).all()
        in_basket = [
            b for b in (basket if isinstance(basket, list) else [basket]) if isinstance(b, str)
        ]
        assert not result["item"].isin(in_basket).any()


@pytest.mark.parametrize("name", MODELS)
@FUZZ
@given(
    item=st.sampled_from([None, "item000", "item001", "item002", "item015", "nope", np.nan, 4]),
    user=st.sampled_from([None, 0, 1, "nobody"]),
    n=n_values,
    max_price_ratio=st.sampled_from([None, 1.5, 1.0, 0, -1, np.nan, math.inf]),
    max_tier_jump=st.sampled_from([None, 1, 2, 0, -1, 1.5]),
    caps=st.sampled_from([None, {"DE": 1.1}, {"DE": 0}, {"DE": np.nan}]),
    affinity_weight=st.sampled_from([0.7, 0.0, 1.0, 1.2]),
    segment=st.sampled_from([None, "DE"]),
)
def test_upgrade_fuzz(
    ctx,
    name: str,
    item: Any,
    user: Any,
    n: Any,
    max_price_ratio: Any,
    max_tier_jump: Any,
    caps: Any,
    affinity_weight: Any,
    segment: Any,
) -> None:
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 10**6:
        n = 3  # huge n: a known bug of recommend_upgrade, see test_upgrade_huge_n below
    model, catalog = ctx.models[name], ctx.catalog
    result = outcome(
        lambda: recommend_upgrade(
            model,
            catalog,
            item=item,
            user=user,
            n=n,
            max_price_ratio=max_price_ratio,
            max_tier_jump=max_tier_jump,
            segment_price_caps=caps,
            affinity_weight=affinity_weight,
            segment=segment,
        )
    )
    if isinstance(result, pd.DataFrame) and len(result):
        assert len(result) <= int(n)
        assert (result["to_tier"] > result["from_tier"]).all()  # never a downgrade
        assert (catalog.family_of(result["item"]) == catalog.family_of(result["from_item"])).all()
        if max_price_ratio is not None:
            assert (result["price_to"] <= max_price_ratio * result["price_from"] + 1e-9).all()


# ---------------------------------------------------------------------------
# TierCatalog
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, exc, match",
    [
        (lambda: TierCatalog.from_mapping({}), ValueError, "empty"),
        (lambda: TierCatalog.from_mapping([("f", ["a"])]), TypeError, "mapping"),
        (lambda: TierCatalog.from_mapping({"f": "abc"}), TypeError, "list of items"),
        (lambda: TierCatalog.from_mapping({"f": []}), ValueError, "no items"),
        (
            lambda: TierCatalog.from_mapping({"f": ["a", "b", "a"]}),
            ValueError,
            "twice.*cycle",
        ),  # a cycle
        (
            lambda: TierCatalog.from_mapping({"f": ["a", "b"], "g": ["b", "c"]}),
            ValueError,
            "more than one family",
        ),
        (lambda: TierCatalog.from_mapping({"f": ["a", 1]}), ValueError, "mix types"),
        (lambda: TierCatalog.from_mapping({"f": ["a", None]}), ValueError, "missing"),
        (
            lambda: TierCatalog.from_mapping({"f": ["a", "b"]}, prices={"z": 1}),
            KeyError,
            "not in any family",
        ),
        (
            lambda: TierCatalog.from_mapping({"f": ["a", "b"]}, prices={"a": np.nan}),
            ValueError,
            "missing",
        ),
        (
            lambda: TierCatalog.from_mapping({"f": ["a", "b"]}, prices={"a": -1}),
            ValueError,
            "negative",
        ),
        (
            lambda: TierCatalog.from_mapping(
                {"f": ["a", "b"]}, prices={"a": 5, "b": 3}, price_order="error"
            ),
            ValueError,
            "price falls",
        ),
        (
            lambda: TierCatalog.from_mapping({"f": ["a"]}, features={"z": ["x"]}),
            KeyError,
            "not in any family",
        ),
        (
            lambda: TierCatalog.from_mapping({"f": ["a"]}, price_order="sometimes"),
            ValueError,
            "price_order",
        ),
        (
            lambda: TierCatalog.from_pandas(
                pd.DataFrame({"i": [], "f": [], "t": []}), "i", "f", "t"
            ),
            ValueError,
            "empty",
        ),
        (
            lambda: TierCatalog.from_pandas(
                pd.DataFrame({"i": ["a", "b"], "f": ["x", "x"], "t": ["low", "top"]}),
                "i",
                "f",
                "t",
                tier_order=["low", "high"],
            ),
            ValueError,
            "tier label",
        ),
        (
            lambda: TierCatalog.from_pandas(
                pd.DataFrame({"i": ["a", "a"], "f": ["x", "x"], "t": [1, 2]}), "i", "f", "t"
            ),
            ValueError,
            "listed twice",
        ),
        (
            lambda: TierCatalog.from_pandas(
                pd.DataFrame({"i": ["a", "a"], "f": ["x", "y"], "t": [1, 2]}), "i", "f", "t"
            ),
            ValueError,
            "more than one family",
        ),
        (
            lambda: TierCatalog.from_pandas(
                pd.DataFrame({"i": ["a", "b"], "f": ["x", None], "t": [1, 2]}), "i", "f", "t"
            ),
            ValueError,
            "missing",
        ),
        (
            lambda: TierCatalog.from_pandas(
                pd.DataFrame({"i": ["a", "b"], "f": ["x", "x"], "t": [1, np.nan]}), "i", "f", "t"
            ),
            ValueError,
            "NaN",
        ),
        (
            lambda: TierCatalog.from_pandas(
                pd.DataFrame({"i": ["a", "b"], "f": ["x", "x"], "t": [1, "high"]}), "i", "f", "t"
            ),
            ValueError,
            "non-numeric",
        ),
        (
            lambda: TierCatalog.from_pandas(
                pd.DataFrame({"i": ["a"], "f": ["x"], "t": [1], "p": [np.inf]}), "i", "f", "t", "p"
            ),
            ValueError,
            "NaN or infinite",
        ),
        (
            lambda: TierCatalog.from_pandas(
                pd.DataFrame({"i": ["a"], "f": ["x"], "t": [1]}), "i", "f", "rank"
            ),
            ValueError,
            "missing column",
        ),
        (lambda: TierCatalog.from_pandas([["a", "x", 1]], "i", "f", "t"), TypeError, "DataFrame"),
    ],
)
def test_catalog_table(build: Callable, exc: type, match: str) -> None:
    expect(build, exc, match)


@FUZZ
@given(
    families=st.dictionaries(
        st.sampled_from(["f", "g", "h"]),
        st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=4),
        min_size=1,
        max_size=3,
    ),
    prices=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.sampled_from([1.0, 2.0, 5.0, -1.0]),
        max_size=5,
    ),
)
def test_catalog_chains_fuzz(families: dict, prices: dict) -> None:
    """Duplicated and cyclic chains are refused; accepted catalogs are exactly the chains given."""
    result = outcome(
        lambda: TierCatalog.from_mapping(families, prices=prices, price_order="ignore")
    )
    flat = [i for chain in families.values() for i in chain]
    known = set(flat)
    if len(flat) != len(known) or not set(prices) <= known or any(p < 0 for p in prices.values()):
        assert isinstance(result, BaseException)
    else:
        assert isinstance(result, TierCatalog)
        for family, chain in families.items():
            assert result.family_members(family) == chain
            assert result.higher_tiers(chain[0]) == chain[1:]


# ---------------------------------------------------------------------------
# bugs found while writing this catalogue, fixed; kept as regression tests
# ---------------------------------------------------------------------------


def test_cross_sell_rejects_a_non_catalog(ctx) -> None:
    with pytest.raises(TypeError):
        recommend_cross_sell(ctx.models["ItemItem"], [ctx.items[0]], catalog=object())


@pytest.mark.parametrize("n", [10**18, 10**40])
def test_upgrade_huge_n(ctx, n: int) -> None:
    recs = recommend_upgrade(ctx.models["Popularity"], ctx.catalog, item=ctx.items[0], n=n)
    assert len(recs) == 2


@pytest.mark.parametrize("num_threads", [-1, 1.5, "x"])
def test_selling_validates_num_threads(ctx, num_threads: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        recommend_cross_sell(ctx.models["ItemItem"], [ctx.items[0]], num_threads=num_threads)
