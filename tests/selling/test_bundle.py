"""recommend_bundle: whole sets bought together, exact supports, rules and the batch form."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.exceptions import UnknownIdError
from recsys.selling import Rules, TierCatalog
from recsys.selling import bundle as bundle_module
from recsys.selling.bundle import (
    PRIOR_GRID,
    bundle_prior,
    recommend_bundle,
    recommend_bundle_batch,
)


def fit(orders: pd.DataFrame, **kwargs) -> recsys.ItemItem:
    data = recsys.Interactions.from_pandas(
        orders, user_col="customer", item_col="item", basket_col="order"
    )
    return recsys.ItemItem(**kwargs).fit(data)


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    rows = []
    sets = (
        [["tent", "mat", "stove"]] * 4
        + [["tent", "lamp", "rope"]] * 3
        + [["tent", "mat"]] * 3
        + [["tent", "lamp"]] * 2
        + [["mat", "stove", "pot"]] * 2
        + [["tent", "stove", "rope"]]
    )
    for o, items in enumerate(sets):
        rows += [{"order": o, "customer": f"c{o % 5}", "item": i} for i in items]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def model(orders) -> recsys.ItemItem:
    return fit(orders)


def brute_force(
    orders: pd.DataFrame, anchors, size, blocked=(), min_support=2, prior=0.0, pair_prior=0.0
):
    """Every set {anchor} ∪ T by shrunk probability, lift, anchor row, then the items' rows.

    The prior of T is the product of the pairwise P(j | anchor), each shrunk towards j's share
    of the orders with strength ``pair_prior``.
    """
    baskets = orders.groupby("order")["item"].agg(frozenset).tolist()
    items = sorted(set(orders["item"]))
    count = {i: sum(i in b for b in baskets) for i in items}
    best = {}
    for anchor in sorted(anchors):  # model rows follow the IDs' order; ties keep the lower row
        others = [i for i in items if i not in anchors and i not in blocked]
        for t in itertools.combinations(others, size - 1):
            s = sum(anchor in b and set(t) <= b for b in baskets)
            if s < min_support:
                continue
            pairs = [
                (
                    sum(anchor in b and x in b for b in baskets)
                    + pair_prior * count[x] / len(baskets)
                )
                / (count[anchor] + pair_prior)
                for x in t
            ]
            q = np.prod(pairs)
            score = (s + prior * q) / (count[anchor] + prior)
            lift = s * len(baskets) ** (size - 1) / np.prod([count[x] for x in (anchor, *t)])
            key = tuple(sorted(t))
            if key not in best or (score, lift) > best[key][:2]:
                best[key] = (score, lift, anchor, s)
    return sorted(best.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[1][2], kv[0]))


def as_sets(frame: pd.DataFrame):
    out = []
    for _, group in frame.groupby("bundle", sort=True):
        anchor = group.loc[group["anchor"], "item"].item()
        out.append((anchor, tuple(sorted(group.loc[~group["anchor"], "item"]))))
    return out


def test_worked_example(model) -> None:
    got = recommend_bundle(model, "tent", size=3, n=2, prior=0)
    assert got["bundle"].tolist() == [1, 1, 1, 2, 2, 2]
    assert got["item"].tolist() == ["tent", "mat", "stove", "tent", "lamp", "rope"]
    assert got["anchor"].tolist() == [True, False, False] * 2
    assert got["support"].tolist() == [4] * 3 + [3] * 3
    assert got["score"].iloc[0] == pytest.approx(4 / 13)
    # lift: 4 orders of 15 hold the set; tent in 13, mat in 9, stove in 7
    assert got["lift"].iloc[0] == pytest.approx(4 * 15**2 / (13 * 9 * 7))
    assert got["reason"].iloc[0] == (
        "bought together as a set in 4 orders (31% of the orders with tent)"
    )
    assert list(got.columns) == bundle_module.BUNDLE_COLUMNS


def test_sets_are_bought_as_a_whole_not_glued_pairs(model) -> None:
    # pairwise, tent's strongest neighbours are mat (7) and lamp (5); but mat and lamp were never
    # bought together, so the glued pair is not a bundle
    sets = as_sets(recommend_bundle(model, "tent", size=3, n=5))
    assert ("tent", ("lamp", "mat")) not in sets
    assert sets[0] == ("tent", ("mat", "stove"))


def test_prices_and_discount(model) -> None:
    catalog = TierCatalog.from_pandas(
        pd.DataFrame(
            {
                "item": ["tent", "mat", "stove", "lamp", "rope", "pot"],
                "family": ["t", "m", "s", "l", "r", "p"],
                "tier": 1,
                "price": [200.0, 30.0, 50.0, 20.0, 10.0, 15.0],
            }
        ),
        "item",
        "family",
        "tier",
        "price",
    )
    got = recommend_bundle(model, "tent", size=3, n=1, catalog=catalog, discount=0.1)
    assert got["price"].tolist() == [280.0] * 3
    assert got["bundle_price"].tolist() == pytest.approx([252.0] * 3)
    partial = TierCatalog.from_mapping({"t": ["tent"]}, prices={"tent": 200.0})
    got = recommend_bundle(model, "tent", size=3, n=1, catalog=partial)
    assert got["price"].isna().all()  # a set is priced only when every item is


def test_basket_anchors_and_exclusions(model, orders) -> None:
    got = recommend_bundle(model, ["tent", "mat"], size=2, n=10, prior=3.0)
    assert not set(got.loc[~got["anchor"], "item"]) & {"tent", "mat"}
    expected = brute_force(orders, ["mat", "tent"], 2, prior=3.0, pair_prior=model.basket_prior_)
    assert as_sets(got) == [(a, t) for t, (_, _, a, _) in expected][:10]
    assert got.groupby("bundle")["score"].first().tolist() == pytest.approx(
        [sc for _, (sc, _, _, _) in expected][:10]
    )


def test_prior_auto_is_the_strength_chosen_on_held_out_orders(model) -> None:
    found = bundle_prior(model)
    assert found.strength in PRIOR_GRID and found.pair_strength == model.basket_prior_
    assert bundle_prior(model) is found  # cached per model
    auto = recommend_bundle(model, "tent", size=3, n=3)
    fixed = recommend_bundle(model, "tent", size=3, n=3, prior=found.strength)
    pd.testing.assert_frame_equal(auto, fixed)
    with pytest.raises(ValueError, match="prior must be 'auto' or a number >= 0"):
        recommend_bundle(model, "tent", prior=-1)
    with pytest.raises(ValueError, match="prior must be 'auto'"):
        recommend_bundle(model, "tent", prior="calibrated")


def test_rules_owned_and_declined(model, orders) -> None:
    owner = orders.loc[orders["item"] == "stove", "customer"].iloc[0]
    got = recommend_bundle(model, "tent", size=3, n=5, user=owner)
    assert "stove" not in set(got["item"])  # owned: never offered
    everything = recommend_bundle(
        model, "tent", size=3, n=5, user=owner, rules=Rules(exclude_owned=False)
    )
    assert "stove" in set(everything["item"])
    declines = pd.DataFrame({"user": ["c9"], "item": ["mat"], "time": ["2024-05-30"]})
    rules = Rules(declines=declines, now="2024-06-01")
    got = recommend_bundle(model, "tent", size=3, n=5, rules=rules)
    assert "mat" in set(got["item"])  # declined by someone else
    with pytest.raises(UnknownIdError):
        recommend_bundle(model, "tent", user="c9", rules=rules)
    stock = Rules(available_items=["tent", "lamp", "rope", "pot"])
    got = recommend_bundle(model, "tent", size=3, rules=stock)
    assert set(got["item"]) <= {"tent", "lamp", "rope", "pot"}


def test_shortlist_widens_until_exact(orders, monkeypatch) -> None:
    # a set of two rarely-paired-with-the-anchor items beats every set among the top items
    rows = []
    for o in range(6):  # x and y: bought with the anchor in 6 orders, always together
        rows += [(f"a{o}", "anchor"), (f"a{o}", "x"), (f"a{o}", "y")]
    for k in range(10):  # ten items bought with the anchor more often, but never two together
        for o in range(7):
            rows += [(f"b{k}{o}", "anchor"), (f"b{k}{o}", f"top{k}")]
    frame = pd.DataFrame(rows, columns=["order", "item"]).assign(customer=lambda d: d["order"])
    model = fit(frame)
    monkeypatch.setattr(bundle_module, "_FIRST_SHORTLIST", 2)
    got = recommend_bundle(model, "anchor", size=3, n=1)
    assert as_sets(got) == [("anchor", ("x", "y"))]


def test_nothing_frequent_enough(model) -> None:
    assert recommend_bundle(model, "pot", size=4, n=3).empty
    assert recommend_bundle(model, "pot", size=2, min_support=100).empty


def test_bad_arguments(model) -> None:
    with pytest.raises(ValueError, match="size must be between 2 and 4"):
        recommend_bundle(model, "tent", size=1)
    with pytest.raises(TypeError, match="size must be an int"):
        recommend_bundle(model, "tent", size=2.5)
    with pytest.raises(ValueError, match="min_support"):
        recommend_bundle(model, "tent", min_support=0)
    with pytest.raises(ValueError, match="discount"):
        recommend_bundle(model, "tent", discount=1.0)
    with pytest.raises(UnknownIdError, match="kayak"):
        recommend_bundle(model, ["tent", "kayak"])
    with pytest.warns(UserWarning, match="ignored 1 item"):
        recommend_bundle(model, ["tent", "kayak"], unknown_items="ignore")
    with pytest.raises(TypeError, match="Recommender"):
        recommend_bundle("model", "tent")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing column"):
        recommend_bundle_batch(model, pd.DataFrame({"basket_id": [1]}))


def test_batch_equals_single_calls(model) -> None:
    carts = pd.DataFrame(
        {"basket_id": ["a", "a", "b"], "item": ["tent", "mat", "lamp"], "user": ["c1", "c1", None]}
    )
    batch = recommend_bundle_batch(model, carts, user_col="user", size=3)
    for key, user, basket in (("a", "c1", ["tent", "mat"]), ("b", None, ["lamp"])):
        single = recommend_bundle(model, basket, user=user, size=3)
        mine = batch[batch["basket_id"] == key].drop(columns="basket_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, single, check_dtype=False)


def test_arrays_form_and_customer_histories(orders) -> None:
    model = fit(orders)
    result = recommend_bundle(model, "tent", size=3, return_frame=False)
    pd.testing.assert_frame_equal(result.to_pandas(), recommend_bundle(model, "tent", size=3))
    # a model without baskets: the customers' histories stand in for orders
    users_only = recsys.Popularity().fit(
        recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item")
    )
    got = recommend_bundle(users_only, "tent", size=2, n=1, rules=Rules(exclude_owned=False))
    assert "customers" in got["reason"].iloc[0]


@st.composite
def worlds(draw):
    n_items = draw(st.integers(3, 8))
    items = [f"i{k}" for k in range(n_items)]
    baskets = draw(
        st.lists(
            st.lists(st.sampled_from(items), min_size=1, max_size=5, unique=True),
            min_size=2,
            max_size=25,
        )
    )
    rows = [
        {"order": o, "customer": f"c{o % 4}", "item": i} for o, b in enumerate(baskets) for i in b
    ]
    return pd.DataFrame(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=worlds(), data=st.data())
def test_bundle_properties(orders, data) -> None:
    model = fit(orders, basket_prior=1.0, repeat_prior=None)
    known = sorted(set(orders["item"]))
    basket = data.draw(st.lists(st.sampled_from(known), min_size=1, max_size=2, unique=True))
    size = data.draw(st.integers(2, 4))
    n = data.draw(st.integers(1, 4))
    min_support = data.draw(st.integers(1, 3))
    user = data.draw(st.sampled_from([None, *sorted(set(orders["customer"]))]))
    declined = data.draw(st.sampled_from([None, *known]))
    rules = Rules(
        declines=None
        if declined is None or user is None
        else pd.DataFrame({"user": [user], "item": [declined], "time": ["2024-05-30"]}),
        now="2024-06-01",
    )
    prior = data.draw(st.sampled_from([0.0, 1.0, 5.0]))
    got = recommend_bundle(
        model, basket, size=size, n=n, user=user, rules=rules, min_support=min_support, prior=prior
    )
    owned = set(orders.loc[orders["customer"] == user, "item"]) if user is not None else set()
    added = got.loc[~got["anchor"], "item"]
    assert not set(added) & set(basket), "a bundle adds an item already in the basket"
    assert not set(added) & owned, "a bundle adds an item the customer owns"
    if declined is not None and user is not None:
        assert declined not in set(added), "a declined item came back in its cool-down"
    assert got["bundle"].nunique() <= n
    sets = as_sets(got)
    assert len(set(s[1] for s in sets)) == len(sets), "the same set twice"
    assert all(len(t) == size - 1 for _, t in sets)
    assert set(got.loc[got["anchor"], "item"]) <= set(basket)
    blocked = owned | ({declined} - {None} if user else set())
    expected = brute_force(
        orders, basket, size, blocked=blocked, min_support=min_support, prior=prior, pair_prior=1.0
    )
    assert [(a, t) for t, (_, _, a, _) in expected][:n] == sets
    assert (
        got.groupby("bundle")["support"].first().tolist() == [s for _, (_, _, _, s) in expected][:n]
    )


def test_bundle_prior_trials_and_one_standard_error(model) -> None:
    found = bundle_prior(model)
    trials = found.trials
    assert trials["prior"].tolist() == list(PRIOR_GRID)
    assert trials["chosen"].sum() == 1
    assert trials.loc[trials["chosen"], "prior"].item() == found.strength
    # the rule: the strongest shrinkage whose hits are within one paired standard error
    hits = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    assert bundle_module._one_standard_error(hits) == 1  # 2 vs 3 hits: within one error
    hits = np.array([[1] * 40, [1] * 20 + [0] * 20, [0] * 40])
    assert bundle_module._one_standard_error(hits) == 0


def test_bundle_prior_without_held_out_sets_of_three() -> None:
    pairs = pd.DataFrame(
        {"order": [0, 0, 1, 1, 2, 2], "customer": "c", "item": ["a", "b", "a", "b", "a", "c"]}
    )
    model = fit(pairs)
    found = bundle_prior(model)
    assert found.trials.empty and found.strength == found.pair_strength == model.basket_prior_


def test_preparation_is_redone_after_a_refit(orders) -> None:
    model = fit(orders)
    first = bundle_prior(model)
    assert bundle_prior(model) is first
    model.fit(
        recsys.Interactions.from_pandas(
            orders[orders["item"] != "pot"],
            user_col="customer",
            item_col="item",
            basket_col="order",
        )
    )
    assert bundle_prior(model) is not first
    got = recommend_bundle(model, "mat", size=2, n=5, rules=Rules(exclude_owned=False))
    assert "pot" not in set(got["item"])  # counted in the new orders, not the cached ones


def test_concurrent_calls_agree_with_sequential_ones(model) -> None:
    from concurrent.futures import ThreadPoolExecutor

    queries = [(b, s) for b in (["tent"], ["mat"], ["tent", "lamp"], ["stove"]) for s in (2, 3)] * 8
    expected = [recommend_bundle(model, b, size=s, n=3) for b, s in queries]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda q: recommend_bundle(model, q[0], size=q[1], n=3), queries))
    for g, e in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(g, e)
