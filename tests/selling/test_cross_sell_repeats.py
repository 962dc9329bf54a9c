"""Cross-sell on models with a repeat term (EASE, ALS: ``repeat_purchases_``), against a reference.

The reference scores every item as the selling layer documents it: the model's
basket scores (``score_history_rows``, the public scoring hook), and for a known
customer's owned items ``(s + r (1 - min(s, 1))) / c`` with ``s`` the basket score
clipped at 0 times the learned scale ``c`` and ``r`` the customer's repeat
probability; basket items and owned durables are excluded; ranked by score, ties
by item row.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.models.ease import EASE
from recsys.models.repeats import RepeatPurchases
from recsys.selling import Rules, recommend_cross_sell, recommend_cross_sell_batch
from tests.models.test_repeats import interactions, repeat_orders


@pytest.fixture(scope="module")
def data() -> recsys.Interactions:
    return interactions(repeat_orders())


@pytest.fixture(scope="module")
def models(data) -> dict[str, recsys.Recommender]:
    out = {
        "ease": EASE(l2=5.0, num_threads=1).fit(data),
        "als": recsys.ALS(factors=6, iterations=4, random_state=0, num_threads=1).fit(data),
    }
    for model in out.values():
        assert model.repeat_purchases_ is not None
    return out


def reference(
    model: recsys.Recommender,
    basket: list[str],
    user: str | None,
    n: int,
    *,
    scale: float = 1.0,
    exclude_owned: bool = False,
) -> tuple[list[str], np.ndarray]:
    n_items = len(model.item_ids_)
    rows = model.item_ids_.to_rows(basket)
    hist = sp.csr_matrix((np.ones(rows.size, np.float32), rows, [0, rows.size]), shape=(1, n_items))
    scores = model.score_history_rows(hist, np.arange(n_items))[0].astype(np.float64)
    excluded = np.zeros(n_items, dtype=bool)
    excluded[rows] = True
    rp = model.repeat_purchases_
    if user is not None:
        u = int(model.user_ids_.to_rows([user])[0])
        owned = model.user_items_[u].indices
        if exclude_owned:
            excluded[owned] = True
        else:
            excluded[owned[rp.durable[owned]]] = True
        r, _, _ = rp.probability(np.full(n_items, u), np.arange(n_items), scale)
        s = np.maximum(scores, 0.0) * rp.scale
        scores = np.where(r > 0, (s + r * (1.0 - np.minimum(s, 1.0))) / rp.scale, scores)
    scores = scores.astype(np.float32)
    order = np.lexsort((np.arange(n_items), -scores))
    order = order[~excluded[order]][:n]
    return model.item_ids_.to_external(order).tolist(), scores[order]


@pytest.mark.parametrize("name", ["ease", "als"])
def test_scores_are_the_basket_scores_noisy_or_the_repeat_probability(models, name) -> None:
    model = models[name]
    owned_any = 0
    for user, basket in [("u0", ["i00"]), ("u7", ["i20", "i08"]), ("u13", ["i13", "i30"])]:
        got = recommend_cross_sell(model, basket, n=10, user=user, return_frame=False)
        items, scores = reference(model, basket, user, 10)
        assert got.item.tolist() == items
        np.testing.assert_allclose(got.score, scores, rtol=1e-5, atol=1e-6)
        owned = set(model.user_items_[model.user_ids_.to_rows([user])[0]].indices.tolist())
        owned_any += len(owned & set(model.item_ids_.to_rows(got.item).tolist()))
    assert owned_any > 0  # owned items do come back, through their repeat term


@pytest.mark.parametrize("name", ["ease", "als"])
def test_anonymous_and_rules_and_user_weight(models, name) -> None:
    model = models[name]
    bare = copy.copy(model)
    bare.repeat_purchases_ = None
    basket = ["i03", "i25"]
    # anonymous: exactly the model without a repeat term
    pd.testing.assert_frame_equal(
        recommend_cross_sell(model, basket, n=8), recommend_cross_sell(bare, basket, n=8)
    )
    # Rules() keeps every owned item out, as for a model without repeats
    recs = recommend_cross_sell(model, basket, n=8, user="u3", rules=Rules())
    items, scores = reference(model, basket, "u3", 8, exclude_owned=True)
    assert recs["item"].tolist() == items
    # user_weight scales the repeat probability; 0 ignores the history
    half = recommend_cross_sell(model, basket, n=8, user="u3", user_weight=0.5)
    assert half["item"].tolist() == reference(model, basket, "u3", 8, scale=0.5)[0]
    zero = recommend_cross_sell(model, basket, n=8, user="u3", user_weight=0.0)
    items, scores = reference(model, basket, "u3", 8, scale=0.0)
    assert zero["item"].tolist() == items
    np.testing.assert_allclose(zero["score"], scores, rtol=1e-5, atol=1e-6)
    # the default rules of a model without repeats exclude owned items (as before)
    owned = set(bare.user_items_[bare.user_ids_.to_rows(["u3"])[0]].indices.tolist())
    plain = recommend_cross_sell(bare, basket, n=8, user="u3")
    assert not owned & set(bare.item_ids_.to_rows(plain["item"].to_numpy()).tolist())


@pytest.mark.parametrize("name", ["ease", "als"])
def test_repeat_rows_say_so(models, name) -> None:
    # at scale 1 (probabilities as they are) both kinds of rows occur on these data
    model = copy.copy(models[name])
    model.repeat_purchases_ = dataclasses.replace(model.repeat_purchases_, scale=1.0)
    rp = model.repeat_purchases_
    repeats_seen = 0
    for k in range(12):
        user, basket = f"u{k}", [f"i{30 + k:02d}"]
        u = int(model.user_ids_.to_rows([user])[0])
        recs = recommend_cross_sell(model, basket, n=10, user=user)
        repeat = recs["reason"].str.startswith("you bought it in")
        repeats_seen += int(repeat.sum())
        # a repeat row is one whose repeat probability is the larger piece of evidence
        rows = model.item_ids_.to_rows(recs["item"].to_numpy())
        hist = sp.csr_matrix(
            ([1.0], model.item_ids_.to_rows(basket), [0, 1]), shape=(1, len(model.item_ids_))
        )
        basket_score = np.maximum(model.score_history_rows(hist, rows)[0], 0.0) * rp.scale
        p_rows = rp.probability(np.full(rows.size, u), rows)[0]
        expected = (p_rows > 0) & (p_rows >= basket_score)
        assert repeat.tolist() == expected.tolist()
        for _, row in recs[repeat].iterrows():
            j = int(model.item_ids_.to_rows([row["item"]])[0])
            p, bought, orders = rp.probability([u], [j])
            assert p[0] > 0
            assert row["reason"] == f"you bought it in {bought[0]:g} of your {orders[0]:g} orders"
            assert row["because"] is None and row["together_count"] == 0 and np.isnan(row["lift"])
    assert repeats_seen > 0


def test_durables_never_come_back(data) -> None:
    # "i99" is bought by every customer in their first order with the favourites, never again:
    # a durable, and the basket strongly suggests it (it goes with i00)
    log = repeat_orders()
    first = log.drop_duplicates("user")
    extra = first.assign(item="i99")
    model = EASE(l2=1.0, num_threads=1).fit(interactions(pd.concat([log, extra])))
    rp = model.repeat_purchases_
    assert rp is not None
    j = int(model.item_ids_.to_rows(["i99"])[0])
    assert rp.durable[j]
    for user in ["u0", "u1", "u2"]:
        recs = recommend_cross_sell(model, ["i00", "i01"], n=len(model.item_ids_) - 2, user=user)
        assert "i99" not in recs["item"].tolist()
    # anonymous, and for a customer who does not own it, it may be offered
    anonymous = recommend_cross_sell(model, ["i00", "i01"], n=len(model.item_ids_) - 2)
    assert "i99" in anonymous["item"].tolist()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), which=st.sampled_from(["ease", "als"]))
def test_batch_matches_single_and_reference(models, seed, n, which) -> None:
    model = models[which]
    rng = np.random.default_rng(seed)
    items = model.item_ids_.to_list()
    users = model.user_ids_.to_list() + ["stranger"]
    rows = []
    for b in range(4):
        basket = rng.choice(items, size=int(rng.integers(0, 4)), replace=False).tolist()
        user = users[int(rng.integers(len(users)))]
        if not basket and user == "stranger":
            basket = [items[0]]
        rows += [(f"b{b}", item, user) for item in basket] or [(f"b{b}", None, user)]
    carts = pd.DataFrame(rows, columns=["cart", "item", "user"])
    full = carts.dropna(subset=["item"])
    if full.empty:  # every cart drawn empty: nothing to compare
        full = pd.DataFrame({"cart": ["b0"], "item": [items[0]], "user": [users[0]]})
    batch = recommend_cross_sell_batch(model, full, n=n, basket_col="cart", user_col="user")
    for cart, lines in full.groupby("cart", sort=False):
        basket, user = lines["item"].tolist(), lines["user"].iloc[0]
        single = recommend_cross_sell(model, basket, n=n, user=user)
        mine = batch[batch["cart"] == cart].drop(columns="cart").reset_index(drop=True)
        pd.testing.assert_frame_equal(single, mine)
        known = user if user != "stranger" else None
        expected, scores = reference(model, basket, known, n)
        assert single["item"].tolist() == expected
        np.testing.assert_allclose(single["score"], scores, rtol=1e-5, atol=1e-6)


def test_a_hand_made_repeat_term_on_any_dense_model(models) -> None:
    # the term is the model's public attribute: any model of the dense path uses it
    model = copy.copy(models["ease"])
    n_users, n_items = len(model.user_ids_), len(model.item_ids_)
    counts = sp.csr_matrix(
        (np.array([3.0], np.float32), (np.array([0]), np.array([n_items - 1]))),
        shape=(n_users, n_items),
    )
    model.repeat_purchases_ = RepeatPurchases(
        counts,
        np.full(n_users, 4, dtype=np.int64),
        np.full(n_items, 0.01),
        np.zeros(n_items, dtype=bool),
        prior=1.0,
    )
    user = model.user_ids_.to_list()[0]
    recs = recommend_cross_sell(model, ["i00"], n=1, user=user, return_frame=False)
    assert recs.item.tolist() == [model.item_ids_.to_list()[-1]]
    assert recs.score[0] >= (3 + 0.01) / 5 / model.repeat_purchases_.scale - 1e-6
    assert recs.reason.tolist() == ["you bought it in 3 of your 4 orders"]


@pytest.mark.parametrize("name", ["ease", "als"])
def test_empty_basket_gives_personal_picks_with_repeats(models, name) -> None:
    model = models[name]
    u = int(model.user_ids_.to_rows(["u4"])[0])
    n_items = len(model.item_ids_)
    own = model.score_rows([u], np.arange(n_items))[0].astype(np.float64)
    r, _, _ = model.repeat_purchases_.probability(np.full(n_items, u), np.arange(n_items))
    c = model.repeat_purchases_.scale
    s = np.maximum(own, 0.0) * c
    scores = np.where(r > 0, (s + r * (1.0 - np.minimum(s, 1.0))) / c, own).astype(np.float32)
    owned = model.user_items_[u].indices
    scores[owned[model.repeat_purchases_.durable[owned]]] = -np.inf
    order = np.lexsort((np.arange(n_items), -scores))[:6]
    got = recommend_cross_sell(model, [], n=6, user="u4", return_frame=False)
    assert got.item.tolist() == model.item_ids_.to_external(order).tolist()
    np.testing.assert_allclose(got.score, scores[order], rtol=1e-5, atol=1e-6)


def test_segmented_ease_uses_each_segments_repeat_term(data) -> None:
    log = repeat_orders()
    log["country"] = np.where(log["user"].str[1:].astype(int) % 2 == 0, "UK", "DE")
    segmented_data = recsys.Interactions.from_pandas(
        log,
        user_col="user",
        item_col="item",
        basket_col="order",
        time_col="time",
        user_attribute_cols=["country"],
    )
    model = recsys.SegmentedModel.fit(
        lambda: EASE(l2=5.0, num_threads=1), segmented_data, "country", min_users=5
    )
    carts = pd.DataFrame(
        {"cart": ["a", "b"], "item": ["i00", "i01"], "user": ["u2", "u3"], "seg": ["UK", "DE"]}
    )
    batch = recommend_cross_sell_batch(
        model, carts, n=5, basket_col="cart", user_col="user", segment_col="seg"
    )
    for cart, item, user, seg in carts.itertuples(index=False):
        single = recommend_cross_sell(model, [item], n=5, user=user, segment=seg)
        mine = batch[batch["cart"] == cart].drop(columns="cart").reset_index(drop=True)
        pd.testing.assert_frame_equal(single, mine)
        scorer = model.model_for(seg)
        if scorer.repeat_purchases_ is not None and user in scorer.user_ids_.to_list():
            expected, _ = reference(scorer, [item], user, 5)
            # the rules' owned items and durables come from the default model: same items here
            assert single["item"].tolist() == expected
