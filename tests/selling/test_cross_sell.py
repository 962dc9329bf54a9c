"""recommend_cross_sell and recommend_cross_sell_batch: worked examples, random-rule properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.exceptions import UnknownIdError
from recsys.selling import (
    CROSS_SELL_COLUMNS,
    CrossSellResult,
    Rules,
    SegmentedModel,
    TierCatalog,
    recommend_cross_sell,
    recommend_cross_sell_batch,
)

N_ITEMS = 30
NOW = pd.Timestamp("2024-06-01")


def make_orders(seed: int = 0, n_users: int = 50, n_orders: int = 260) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.7
    p /= p.sum()
    rows = []
    for order in range(n_orders):
        user = int(rng.integers(n_users))
        for item in rng.choice(N_ITEMS, size=int(rng.integers(1, 6)), replace=False, p=p):
            rows.append((f"o{order}", f"u{user}", f"i{item:02d}", "UK" if user % 3 else "DE"))
    return pd.DataFrame(rows, columns=["order", "user", "item", "country"])


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return make_orders()


@pytest.fixture(scope="module")
def data(orders) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(
        orders,
        user_col="user",
        item_col="item",
        basket_col="order",
        user_attribute_cols=["country"],
    )


@pytest.fixture(scope="module")
def models(data) -> dict[str, object]:
    return {
        "itemitem": recsys.ItemItem(k=10, num_threads=1).fit(data),
        "als": recsys.ALS(factors=8, iterations=4, random_state=0, num_threads=1).fit(data),
        "popularity": recsys.Popularity(segment_col="country", num_threads=1).fit(data),
        "segmented": SegmentedModel.fit(
            lambda: recsys.ItemItem(k=10, num_threads=1), data, "country", min_users=5
        ),
    }


@pytest.fixture(scope="module")
def attributes() -> pd.DataFrame:
    items = [f"i{i:02d}" for i in range(N_ITEMS)]
    return pd.DataFrame(
        {
            "category": [f"c{i % 4}" for i in range(N_ITEMS)],
            "price": [float(1 + (i * 7) % 20) for i in range(N_ITEMS)],
        },
        index=items,
    )


# --------------------------------------------------------------------------- worked examples
@pytest.fixture(scope="module")
def phones() -> recsys.ItemItem:
    orders = pd.DataFrame(
        {
            "order": [1, 1, 2, 2, 3, 3, 3, 4, 5, 5],
            "customer": ["a", "a", "b", "b", "a", "a", "a", "d", "e", "e"],
            "item": [
                "phone",
                "case",
                "phone",
                "case",
                "phone",
                "charger",
                "case",
                "cable",
                "phone-pro",
                "case",
            ],
        }
    )
    data = recsys.Interactions.from_pandas(
        orders, user_col="customer", item_col="item", basket_col="order"
    )
    return recsys.ItemItem(similarity="cosine", min_count=1).fit(
        data
    )  # worked example: every pair counts


def test_worked_example(phones) -> None:
    recs = recommend_cross_sell(phones, ["phone"], n=4)
    assert recs.columns.tolist() == CROSS_SELL_COLUMNS
    assert recs["item"].tolist() == [
        "case",
        "charger",
        "cable",
        "phone-pro",
    ]  # ties: first seen first
    assert recs["rank"].tolist() == [1, 2, 3, 4]
    # phone is in orders 1, 2, 3; case in 1, 2, 3, 5: together 3 of 5 orders
    # -> lift 3 * 5 / (3 * 4) = 1.25
    first = recs.iloc[0]
    assert first["because"] == "phone" and first["together_count"] == 3
    assert first["lift"] == pytest.approx(1.25)
    assert first["reason"] == "bought together with phone in 3 orders, lift 1.2"
    assert first["score"] == pytest.approx(3 / np.sqrt(3 * 4), rel=1e-6)
    assert recs.iloc[1]["reason"] == "bought together with phone in 1 order, lift 1.7"
    # no co-purchase evidence: filled by popularity, score 0
    tail = recs.iloc[2:]
    assert (
        (tail["score"] == 0).all()
        and tail["because"].isna().all()
        and (tail["together_count"] == 0).all()
    )
    assert set(tail["reason"]) == {"popular with customers"}


def test_catalog_keeps_other_tiers_out(phones) -> None:
    catalog = TierCatalog.from_mapping({"phone": ["phone", "phone-pro"]})
    recs = recommend_cross_sell(phones, ["phone"], n=10, catalog=catalog)
    assert "phone-pro" not in recs["item"].tolist() and "phone" not in recs["item"].tolist()
    assert len(recs) == 3  # case, charger, cable: all that is left
    # catalog items the model does not know are ignored
    bigger = TierCatalog.from_mapping({"phone": ["phone", "phone-pro", "phone-max"]})
    assert (
        recommend_cross_sell(phones, ["phone"], n=10, catalog=bigger)["item"].tolist()
        == recs["item"].tolist()
    )
    with pytest.raises(KeyError, match="none of the catalog items"):
        recommend_cross_sell(phones, ["phone"], catalog=TierCatalog.from_mapping({"f": [1, 2]}))


def test_user_personalisation(phones) -> None:
    anonymous = recommend_cross_sell(phones, ["cable"], n=3, rules=Rules(exclude_owned=False))
    # customer "a" owns phone, case and charger: excluded by default
    personal = recommend_cross_sell(phones, ["cable"], n=3, user="a")
    assert not {"phone", "case", "charger"} & set(personal["item"])
    kept = recommend_cross_sell(phones, ["cable"], n=3, user="a", rules=Rules(exclude_owned=False))
    assert kept["score"].iloc[0] > 0 and kept["because"].isna().iloc[0]
    assert kept["reason"].iloc[0] == "customers like you bought it"
    same = recommend_cross_sell(
        phones, ["cable"], n=3, user="a", user_weight=0.0, rules=Rules(exclude_owned=False)
    )
    pd.testing.assert_frame_equal(same, anonymous)
    # an unknown customer is served anonymously; an empty basket needs a known one
    pd.testing.assert_frame_equal(
        recommend_cross_sell(phones, ["cable"], n=3, user="zed", rules=Rules(exclude_owned=False)),
        anonymous,
    )
    assert len(recommend_cross_sell(phones, [], n=2, user="d")) == 2
    with pytest.raises(ValueError, match="basket is empty"):
        recommend_cross_sell(phones, [], n=2, user="zed")


def test_single_item_basket_and_arrays(phones) -> None:
    frame = recommend_cross_sell(phones, "phone", n=2)
    arrays = recommend_cross_sell(phones, ["phone", "phone"], n=2, return_frame=False)
    assert isinstance(arrays, CrossSellResult) and list(arrays.columns()) == CROSS_SELL_COLUMNS
    assert arrays.item.tolist() == frame["item"].tolist() and len(arrays) == 2
    assert arrays.score.dtype == np.float32 and arrays.rank.dtype == np.int64
    pd.testing.assert_frame_equal(arrays.to_pandas(), frame)
    with pytest.raises(AttributeError):
        arrays.item = None  # type: ignore[misc]  # frozen
    lean = recommend_cross_sell(phones, ["phone"], n=2, explain=False)
    assert lean.columns.tolist() == ["item", "score", "rank"]
    lean_arrays = recommend_cross_sell(phones, ["phone"], n=2, explain=False, return_frame=False)
    assert lean_arrays.because is None and lean_arrays.reason is None
    pd.testing.assert_frame_equal(lean_arrays.to_pandas(), lean)


def test_errors(phones) -> None:
    with pytest.raises(UnknownIdError, match="tablet"):
        recommend_cross_sell(phones, ["phone", "tablet"])
    with pytest.warns(UserWarning, match="ignored 1 item"):
        recs = recommend_cross_sell(phones, ["phone", "tablet"], unknown_items="ignore")
    assert len(recs) == 4
    with pytest.raises(ValueError, match="unknown_items"):
        recommend_cross_sell(phones, ["phone"], unknown_items="drop")
    with pytest.raises(TypeError, match="Recommender"):
        recommend_cross_sell("model", ["phone"])  # type: ignore[arg-type]
    with pytest.raises(recsys.NotFittedError):
        recommend_cross_sell(recsys.ItemItem(), ["phone"])
    with pytest.raises(ValueError, match="user_weight"):
        recommend_cross_sell(phones, ["phone"], user_weight=1.5)
    with pytest.raises(ValueError, match="positive"):
        recommend_cross_sell(phones, ["phone"], n=0)
    with pytest.raises(TypeError, match="Rules"):
        recommend_cross_sell(phones, ["phone"], rules={"max_price": 3})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="item_attributes lacks"):
        attrs = pd.DataFrame({"price": [1.0]}, index=["case"])
        recommend_cross_sell(
            phones, ["phone"], rules=Rules(include={"colour": "red"}, item_attributes=attrs)
        )


def test_batch_matches_single(models, orders) -> None:
    baskets = orders[orders["order"].isin(["o1", "o2", "o3", "o7"])].rename(
        columns={"order": "basket_id"}
    )
    for name, model in models.items():
        kwargs = dict(segment="UK") if name in ("segmented", "popularity") else {}
        batch = recommend_cross_sell_batch(
            model, baskets, n=4, user_col="user", segment_col="country" if kwargs else None
        )
        assert batch.columns.tolist() == ["basket_id", *CROSS_SELL_COLUMNS]
        assert batch["basket_id"].unique().tolist() == ["o1", "o2", "o3", "o7"]
        for basket_id, group in baskets.groupby("basket_id", sort=False):
            single = recommend_cross_sell(
                model,
                group["item"].tolist(),
                n=4,
                user=group["user"].iloc[0],
                segment=group["country"].iloc[0] if kwargs else None,
            )
            got = (
                batch[batch["basket_id"] == basket_id]
                .drop(columns="basket_id")
                .reset_index(drop=True)
            )
            pd.testing.assert_frame_equal(got, single, check_dtype=False)


def test_batch_errors(phones) -> None:
    carts = pd.DataFrame({"cart": ["x", "x"], "item": ["phone", "case"], "who": ["a", "b"]})
    with pytest.raises(ValueError, match="one value per basket"):
        recommend_cross_sell_batch(phones, carts, basket_col="cart", user_col="who")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['basket_id'\]"):
        recommend_cross_sell_batch(phones, carts)
    with pytest.raises(ValueError, match="empty"):
        recommend_cross_sell_batch(phones, carts.iloc[:0], basket_col="cart")


def test_segments(models) -> None:
    seg = models["segmented"]
    assert set(seg.models) == {"UK", "DE"}
    uk = recommend_cross_sell(seg, ["i00"], n=5, segment="UK")
    de = recommend_cross_sell(seg, ["i00"], n=5, segment="DE")
    default = recommend_cross_sell(seg, ["i00"], n=5, segment="FR")  # no model: the default
    assert (
        default["item"].tolist() == recommend_cross_sell(seg.default, ["i00"], n=5)["item"].tolist()
    )
    assert uk["item"].tolist() != de["item"].tolist()
    pop = models["popularity"]
    de_pop = recommend_cross_sell(pop, ["i00"], n=3, segment="DE")
    assert set(de_pop["reason"]) == {"popular in DE"}
    assert (
        de_pop["item"].tolist()
        == pop.recommend_for_segment("DE", n=4, exclude_items=["i00"])["item"].tolist()[:3]
    )
    with pytest.raises(ValueError, match="other items"):
        SegmentedModel(
            seg.default,
            {
                "XX": recsys.ItemItem().fit(
                    recsys.Interactions.from_pandas(
                        pd.DataFrame({"user": [1], "item": ["zz"]}),
                        user_col="user",
                        item_col="item",
                    )
                )
            },
        )


def test_coat_pattern() -> None:
    orders = pd.DataFrame(
        {
            "order": [1, 1, 2, 2, 3, 3, 4, 4, 5],
            "customer": ["a", "a", "b", "b", "c", "c", "d", "d", "e"],
            "country": ["UK", "UK", "UK", "UK", "SG", "SG", "SG", "SG", "UK"],
            "item": [
                "coat",
                "scarf",
                "coat",
                "scarf",
                "coat",
                "umbrella",
                "coat",
                "umbrella",
                "gloves",
            ],
        }
    )
    data = recsys.Interactions.from_pandas(
        orders,
        user_col="customer",
        item_col="item",
        basket_col="order",
        user_attribute_cols=["country"],
    )
    model = SegmentedModel.fit(lambda: recsys.ItemItem(), data, "country", min_users=1)
    assert recommend_cross_sell(model, ["coat"], n=1, segment="UK")["item"].tolist() == ["scarf"]
    assert recommend_cross_sell(model, ["coat"], n=1, segment="SG")["item"].tolist() == ["umbrella"]


def test_real_sample() -> None:
    from recsys.datasets.loaders import load_online_retail_sample

    df = load_online_retail_sample()
    data = recsys.Interactions.from_pandas(
        df,
        user_col="CustomerID",
        item_col="StockCode",
        basket_col="InvoiceNo",
        user_attribute_cols=["Country"],
    )
    model = recsys.ItemItem(k=30).fit(data)
    baskets = df[df["InvoiceNo"].isin(df["InvoiceNo"].unique()[:300])]
    out = recommend_cross_sell_batch(
        model,
        baskets,
        n=5,
        basket_col="InvoiceNo",
        item_col="StockCode",
        user_col="CustomerID",
        segment_col="Country",
    )
    assert (out.groupby("InvoiceNo").size() == 5).all()
    merged = out.merge(
        baskets[["InvoiceNo", "StockCode"]],
        left_on=["InvoiceNo", "item"],
        right_on=["InvoiceNo", "StockCode"],
    )
    assert merged.empty
    assert out["reason"].str.len().gt(0).all()


# --------------------------------------------------------------------------- properties
@st.composite
def scenarios(draw):
    items = [f"i{i:02d}" for i in range(N_ITEMS)]
    model = draw(st.sampled_from(["itemitem", "als", "popularity", "segmented"]))
    user = draw(st.sampled_from([None, "u1", "u4", "u7", "nobody"]))
    basket = draw(st.lists(st.sampled_from(items), max_size=4, unique=True))
    if not basket and user in (None, "nobody"):
        basket = [items[0]]
    n = draw(st.integers(1, 12))
    kw = {}
    if draw(st.booleans()):
        kw["exclude_owned"] = draw(st.booleans())
    if draw(st.booleans()):
        declined = draw(st.lists(st.sampled_from(items), max_size=6))
        ages = [draw(st.integers(-5, 60)) for _ in declined]
        kw["declines"] = pd.DataFrame(
            {
                "user": [user or "u1"] * len(declined),
                "item": declined,
                "time": pd.to_datetime([NOW - pd.Timedelta(days=a) for a in ages]),
            },
            columns=["user", "item", "time"],
        )
        kw["cooldown_days"] = draw(st.sampled_from([0, 7, 30]))
    if draw(st.booleans()):
        kw["include"] = {
            "category": draw(
                st.lists(
                    st.sampled_from(["c0", "c1", "c2", "c3"]), min_size=1, max_size=3, unique=True
                )
            )
        }
    elif draw(st.booleans()):
        kw["exclude"] = {"category": [draw(st.sampled_from(["c0", "c1", "c2", "c3"]))]}
    if draw(st.booleans()):
        kw["max_price"] = draw(st.sampled_from([5.0, 12.0, 30.0]))
    if draw(st.booleans()):
        kw["available_items"] = draw(st.lists(st.sampled_from(items), min_size=1, unique=True))
    if draw(st.booleans()):
        kw["max_per_group"] = draw(st.integers(1, 3))
        kw["group_col"] = "category"
    segment = draw(st.sampled_from([None, "UK", "DE"]))
    if segment is not None and draw(st.booleans()):
        kw["segment_items"] = {
            segment: draw(st.lists(st.sampled_from(items), min_size=1, unique=True))
        }
    chains = None
    if draw(st.booleans()):
        shuffled = draw(st.permutations(items))
        sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))
        chains, start = {}, 0
        for f, size in enumerate(sizes):
            chains[f"f{f}"] = list(shuffled[start : start + size])
            start += size
    return model, user, basket, n, kw, segment, chains


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_rules_always_hold(models, data, attributes, scenario) -> None:
    name, user, basket, n, kw, segment, chains = scenario
    model = models[name]
    rules = Rules(now=NOW, item_attributes=attributes, **kw)
    catalog = TierCatalog.from_mapping(chains) if chains else None
    recs = recommend_cross_sell(
        model, basket, n=n, user=user, rules=rules, catalog=catalog, segment=segment
    )
    got = recs["item"].tolist()

    items = list(attributes.index)
    banned = set(basket)
    if user in data.user_ids and rules.exclude_owned:
        row = data.user_ids.to_rows([user])[0]
        banned |= set(data.item_ids.to_external(data.matrix[row].indices))
    repeats = getattr(model, "repeat_purchases_", None)
    if user in data.user_ids and not rules.exclude_owned and repeats is not None:
        # owned items come back only through their repeat term, which durables never have
        owned = data.matrix[data.user_ids.to_rows([user])[0]].indices
        banned |= set(data.item_ids.to_external(owned[repeats.durable[owned]]))
    if "declines" in kw:
        d = kw["declines"]
        recent = (d["time"] > NOW - pd.Timedelta(days=kw["cooldown_days"])) & (d["time"] <= NOW)
        if user is not None:
            banned |= set(d.loc[recent & (d["user"] == user), "item"])
    if catalog is not None:
        for item in basket:
            if item in catalog:
                banned |= set(catalog.family_members(catalog.family_of([item])[0]))
    allowed = set(items)
    cats = attributes["category"]
    if "include" in kw:
        allowed &= set(cats.index[cats.isin(kw["include"]["category"])])
    if "exclude" in kw:
        allowed -= set(cats.index[cats.isin(kw["exclude"]["category"])])
    if "max_price" in kw:
        allowed &= set(attributes.index[attributes["price"] <= kw["max_price"]])
    if "available_items" in kw:
        allowed &= set(kw["available_items"])
    if "segment_items" in kw:
        allowed &= set(kw["segment_items"][segment])
    eligible = [i for i in items if i in allowed and i not in banned]

    assert len(set(got)) == len(got)
    assert not set(got) & banned, "a banned item was recommended"
    assert set(got) <= allowed, "an item outside the rules was recommended"
    assert recs["rank"].tolist() == list(range(1, len(got) + 1))
    assert (np.diff(recs["score"].to_numpy(dtype=float)) <= 1e-6).all()
    if "max_per_group" in kw:
        counts = cats[got].value_counts()
        assert (counts <= kw["max_per_group"]).all()
        capacity = sum(min(kw["max_per_group"], c) for c in cats[eligible].value_counts())
        assert len(got) == min(n, capacity)
    else:
        assert len(got) == min(n, len(eligible)), "not exactly n although enough candidates remain"


# --------------------------------------------------------------------------- public model API
def test_segmented_model_scores_rows_like_its_models(models, data) -> None:
    model = models["segmented"]
    assert model.models  # at least one segment has its own model
    items = np.arange(data.n_items)
    users = data.user_ids.external_ids[:12]
    rows = np.r_[data.user_ids.to_rows(users), -1]
    baskets = sp.csr_matrix(([1.0, 1.0, 1.0], [0, 3, 5], [0, 2, 3]), shape=(2, data.n_items))
    np.testing.assert_array_equal(
        model.score_rows(rows, items), model.default.score_rows(rows, items)
    )
    for segment, scorer in model.models.items():
        own = scorer.user_ids_.to_rows(users, missing="ignore")  # other markets' customers: -1
        assert (own < 0).any() and (own >= 0).any()
        np.testing.assert_array_equal(
            model.score_rows(rows, items, segment=segment), scorer.score_rows(np.r_[own, -1], items)
        )
        np.testing.assert_array_equal(
            model.score_history_rows(baskets, items, segment=segment),
            scorer.score_history_rows(baskets, items),
        )
    with pytest.raises(IndexError, match="user_rows"):
        model.score_rows([len(data.user_ids)], items, segment=next(iter(model.models)))


def test_model_rankings_and_repeat_evidence(models, data) -> None:
    pop = models["popularity"]
    ids = np.arange(data.n_items)
    order, scores = pop.ranked_item_rows()
    np.testing.assert_array_equal(order, np.lexsort((ids, -pop.item_scores_)))
    np.testing.assert_array_equal(scores, pop.item_scores_[order])
    seg = int(pop.segment_ids_.to_rows(["DE"])[0])
    order, scores = pop.ranked_item_rows(seg)
    expected = np.lexsort((ids, -pop.item_scores_, -pop.segment_scores_[seg]))
    np.testing.assert_array_equal(order, expected)
    for bad, error in [(len(pop.segment_ids_), IndexError), (-2, IndexError), (True, TypeError)]:
        with pytest.raises(error, match="segment_row"):
            pop.ranked_item_rows(bad)
    for model in models.values():
        base = getattr(model, "default", model)
        popular = np.lexsort((ids, -base.item_popularity_))
        np.testing.assert_array_equal(base.popular_item_rows(), popular)

    model = recsys.ItemItem(k=10, basket_prior=5.0, repeat_prior=2.0, num_threads=1).fit(data)
    users, items = np.array([0, 0, 4, 7]), np.array([0, 3, 1, 2])
    p, with_item, orders = model.repeat_evidence(users, items, 0.5)
    baskets = data.basket_matrix.tocsr()
    for k, (u, i) in enumerate(zip(users, items, strict=True)):
        mine = baskets[np.flatnonzero(data.basket_users == u)]
        assert orders[k] == mine.shape[0] and with_item[k] == (mine[:, i].toarray() > 0).sum()
    share = np.diff(baskets.tocsc().indptr)[items] / baskets.shape[0]
    np.testing.assert_allclose(p, 0.5 * (with_item + 2.0 * share) / (orders + 2.0), rtol=1e-12)
    with pytest.raises(ValueError, match="pair up"):
        model.repeat_evidence([0, 1], [0])
    with pytest.raises(IndexError, match="item_rows"):
        model.repeat_evidence([0], [data.n_items])
    assert recsys.ItemItem(similarity="cosine").fit(data).repeat_evidence([0], [0]) is None


def test_explains_a_model_in_which_no_pair_was_ever_bought_together() -> None:
    # one item only: no neighbour table at all; explaining used to index an empty array
    orders = pd.DataFrame({"order": [0, 1, 2], "customer": ["c0"] * 3, "item": ["i0"] * 3})
    data = recsys.Interactions.from_pandas(
        orders, user_col="customer", item_col="item", basket_col="order"
    )
    model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(data)
    assert recommend_cross_sell(model, ["i0"], n=3, explain=True).empty


def durable_shop() -> pd.DataFrame:
    """Twelve customers with three orders each: a cake stand once, milk in every order."""
    rows = []
    for c in range(12):
        orders = [["stand", "milk", "doily"], ["milk", "flour"], ["milk", "doily", "flour"]]
        for o, items in enumerate(orders):
            rows += [{"order": f"{c}-{o}", "customer": f"c{c}", "item": i} for i in items]
    return pd.DataFrame(rows)


def test_durables_never_come_back_as_repeats() -> None:
    orders = durable_shop()
    data = recsys.Interactions.from_pandas(
        orders, user_col="customer", item_col="item", basket_col="order"
    )
    model = recsys.ItemItem(basket_prior=1.0, repeat_prior=2.0).fit(data)
    durable = model.item_ids_.to_external(np.flatnonzero(model.item_durable_)).tolist()
    assert durable == ["stand"]  # twelve buyers with other orders, none bought it twice
    stand, milk = model.item_ids_.to_rows(["stand", "milk"])
    c0 = model.user_ids_.to_rows(["c0"])[0]
    probability, with_item, _ = model.repeat_evidence([c0, c0], [stand, milk])
    assert with_item.tolist() == [0, 3]  # the durable's purchase is no repeat evidence
    assert probability[1] > probability[0]
    recs = recommend_cross_sell(model, ["flour"], n=10, user="c0")
    repeats = recs[recs["reason"].str.startswith("you bought it")]
    assert "milk" in set(repeats["item"])  # a consumable comes back as a repeat
    assert "stand" not in set(repeats["item"]), "a durable came back as a repeat"
    from recsys.models.repurchase import Repurchase
    from recsys.selling.offers import recommend_offers

    timed = orders.assign(
        time=pd.Timestamp("2024-01-01")
        + pd.to_timedelta(orders["order"].str.split("-").str[1].astype(int) * 7, unit="D")
    )
    timed_data = recsys.Interactions.from_pandas(
        timed, user_col="customer", item_col="item", basket_col="order", time_col="time"
    )
    offers = recommend_offers(
        model,
        user="c0",
        basket=["doily"],
        moment="post_purchase",
        n=5,
        repurchase=Repurchase().fit(timed_data),
        at="2024-02-01",
    )
    assert "stand" not in {i for items in offers["items"] for i in items}
