"""recommend_offers: one slate per moment, and the slate's promises (hypothesis)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.models.repurchase import Repurchase
from recsys.selling import Rules, TierCatalog
from recsys.selling.offers import (
    OFFER_COLUMNS,
    OfferPolicy,
    recommend_offers,
    recommend_offers_batch,
)


def interactions(orders: pd.DataFrame) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(
        orders, user_col="customer", item_col="item", basket_col="order", time_col="time"
    )


@pytest.fixture(scope="module")
def shop():
    rows = []
    t0 = pd.Timestamp("2024-01-01")
    baskets = (
        [("ann", ["phone", "case", "charger"])] * 3
        + [("bob", ["phone", "case"])] * 3
        + [("cy", ["phone-pro", "case", "film"])] * 2
        + [("dee", ["coffee", "milk"])] * 6
        + [("ann", ["coffee", "milk"])] * 4
        + [("eve", ["phone", "film"])] * 2
    )
    for o, (customer, items) in enumerate(baskets):
        when = t0 + pd.Timedelta(days=7 * o)
        rows += [{"order": o, "customer": customer, "item": i, "time": when} for i in items]
    orders = pd.DataFrame(rows)
    data = interactions(orders)
    model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(data)
    catalog = TierCatalog.from_mapping(
        {"phone": ["phone", "phone-pro"], "case": ["case"], "coffee": ["coffee"]},
        prices={"phone": 500, "phone-pro": 800, "case": 20, "coffee": 5},
    )
    return orders, model, catalog, Repurchase().fit(data)


def test_browse_puts_upgrades_first(shop) -> None:
    _, model, catalog, _ = shop
    got = recommend_offers(model, basket="phone", catalog=catalog, moment="browse", n=3)
    assert list(got.columns) == OFFER_COLUMNS
    assert got["offer_type"].iloc[0] == "upgrade" and got["item"].iloc[0] == "phone-pro"
    assert got["price_step"].iloc[0] == 300.0
    assert set(got["offer_type"].iloc[1:]) <= {"cross_sell"}


def test_checkout_caps_add_on_prices_and_upgrades(shop) -> None:
    _, model, catalog, _ = shop
    got = recommend_offers(model, basket=["case"], catalog=catalog, moment="checkout", n=5)
    # the phone costs 25 times the basket: no add-on; at most one upgrade (none exist for case)
    assert "phone" not in set(got["item"])
    relaxed = OfferPolicy(max_addon_price_share=None)
    got = recommend_offers(model, basket=["case"], catalog=catalog, n=5, policy=relaxed)
    assert "phone" in set(got["item"])
    assert (got["offer_type"] == "upgrade").sum() <= 1


def test_buy_again_only_when_due_and_only_with_a_repurchase_model(shop) -> None:
    _, model, catalog, repurchase = shop
    kwargs = dict(user="ann", basket=["phone"], moment="post_purchase", n=5)
    without = recommend_offers(model, **kwargs)
    assert "buy_again" not in set(without["offer_type"])
    with_model = recommend_offers(model, repurchase=repurchase, at="2024-06-01", **kwargs)
    again = with_model[with_model["offer_type"] == "buy_again"]
    assert set(again["item"]) <= {"coffee", "milk"}
    assert len(again) >= 1
    # declined in its cool-down: not even as a re-purchase
    declines = pd.DataFrame(
        {"user": ["ann"] * 2, "item": ["coffee", "milk"], "time": ["2024-05-30"] * 2}
    )
    rules = Rules(declines=declines)
    got = recommend_offers(model, repurchase=repurchase, at="2024-06-01", rules=rules, **kwargs)
    assert not {"coffee", "milk"} & set(got["item"])


def test_few_offers_when_evidence_is_weak(shop) -> None:
    _, model, catalog, _ = shop
    strict = OfferPolicy(min_probability=0.99, min_together=100)
    assert recommend_offers(model, basket=["film"], n=3, policy=strict).empty
    assert len(recommend_offers(model, basket=["film"], n=3)) <= 3


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="unknown moment 'lunch'"):
        OfferPolicy(mix={"lunch": [("cross_sell", 1)]})
    with pytest.raises(ValueError, match="offer type, count >= 1"):
        OfferPolicy(mix={"browse": [("coupon", 1)]})
    with pytest.raises(ValueError, match="min_probability"):
        OfferPolicy(min_probability=2)
    with pytest.raises(ValueError, match="bundle_size"):
        OfferPolicy(bundle_size=7)
    with pytest.raises(ValueError, match="moment must be one of"):
        OfferPolicy().slots("lunch")


def test_bad_arguments(shop) -> None:
    _, model, catalog, _ = shop
    with pytest.raises(ValueError, match="moment must be one of"):
        recommend_offers(model, basket="phone", moment="lunch")
    with pytest.raises(TypeError, match="OfferPolicy"):
        recommend_offers(model, basket="phone", policy={"browse": []})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Repurchase"):
        recommend_offers(model, basket="phone", repurchase=model)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing column"):
        recommend_offers_batch(model, pd.DataFrame({"query": [1]}))


def test_batch_equals_single(shop) -> None:
    _, model, catalog, repurchase = shop
    queries = pd.DataFrame(
        {
            "query": [1, 1, 2, 3],
            "item": ["phone", "case", "phone", None],
            "user": ["bob", "bob", None, "ann"],
            "moment": ["checkout", "checkout", "browse", "post_purchase"],
        }
    )
    batch = recommend_offers_batch(
        model, queries, catalog=catalog, repurchase=repurchase, at="2024-06-01"
    )
    for q, user, basket, moment in (
        (1, "bob", ["phone", "case"], "checkout"),
        (2, None, ["phone"], "browse"),
        (3, "ann", [], "post_purchase"),
    ):
        single = recommend_offers(
            model,
            user=user,
            basket=basket,
            moment=moment,
            catalog=catalog,
            repurchase=repurchase,
            at="2024-06-01",
        )
        mine = batch[batch["query"] == q].drop(columns="query").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, single, check_dtype=False)


@st.composite
def worlds(draw):
    n_items = draw(st.integers(4, 9))
    items = [f"i{k}" for k in range(n_items)]
    n_orders = draw(st.integers(3, 25))
    rows = []
    t0 = pd.Timestamp("2024-01-01")
    for o in range(n_orders):
        basket = draw(st.lists(st.sampled_from(items), min_size=1, max_size=4, unique=True))
        customer = f"c{draw(st.integers(0, 4))}"
        when = t0 + pd.Timedelta(days=3 * o)
        rows += [{"order": o, "customer": customer, "item": i, "time": when} for i in basket]
    orders = pd.DataFrame(rows)
    # families of up to three items, tiers shared now and then
    families, k = {}, 0
    shuffled = draw(st.permutations(items))
    while k < len(shuffled):
        width = draw(st.integers(1, 3))
        members = list(shuffled[k : k + width])
        chain = [members[0], members[1:]] if len(members) == 3 and draw(st.booleans()) else members
        families[f"f{k}"] = [t for t in chain if t != []]
        k += width
    prices = {item: float(draw(st.integers(1, 100))) for item in items}
    return orders, families, prices


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), data=st.data())
def test_slate_promises(world, data) -> None:
    orders, families, prices = world
    data_ = interactions(orders)
    model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(data_)
    repurchase = Repurchase().fit(data_)
    catalog = TierCatalog.from_mapping(families, prices=prices, price_order="ignore")
    known = sorted(set(orders["item"]))
    basket = data.draw(st.lists(st.sampled_from(known), max_size=3, unique=True))
    user = data.draw(st.sampled_from([None, *sorted(set(orders["customer"]))]))
    moment = data.draw(st.sampled_from(["browse", "checkout", "post_purchase"]))
    n = data.draw(st.integers(1, 5))
    declined = data.draw(st.sampled_from([None, *known]))
    rules = Rules(
        declines=None
        if declined is None or user is None
        else pd.DataFrame({"user": [user], "item": [declined], "time": ["2024-12-30"]}),
        now="2025-01-01",
    )
    got = recommend_offers(
        model,
        user=user,
        basket=basket,
        catalog=catalog,
        moment=moment,
        n=n,
        rules=rules,
        repurchase=repurchase,
        at="2025-01-01",
    )
    assert len(got) <= n
    offered = [item for items in got["items"] for item in items]
    assert len(offered) == len(set(offered)), "an item offered twice"
    assert not set(offered) & set(basket), "an item of the basket offered"
    owned = set(orders.loc[orders["customer"] == user, "item"]) if user is not None else set()
    not_again = [
        i
        for items, t in zip(got["items"], got["offer_type"], strict=True)
        if t != "buy_again"
        for i in items
    ]
    assert not set(not_again) & owned, "an owned item offered (not as a re-purchase)"
    again = got.loc[got["offer_type"] == "buy_again", "item"]
    assert set(again) <= owned
    if declined is not None and user is not None:
        assert declined not in offered, "a declined item offered in its cool-down"
    for row in got[got["offer_type"] == "upgrade"].itertuples():
        assert catalog.family_of([row.item])[0] == catalog.family_of([row.from_item])[0]
        assert catalog.tier_of([row.item])[0] > catalog.tier_of([row.from_item])[0]
    fams = [catalog.family_of([i])[0] for i in offered]
    fams = [f for f in fams if f is not None]
    assert len(fams) == len(set(fams)), "two offers of one family"
    assert got["rank"].tolist() == list(range(1, len(got) + 1))
