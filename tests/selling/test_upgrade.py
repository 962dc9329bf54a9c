"""recommend_upgrade / recommend_upgrade_batch: worked examples, errors and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.exceptions import UnknownIdError
from recsys.selling import (
    UPGRADE_COLUMNS,
    Rules,
    TierCatalog,
    recommend_upgrade,
    recommend_upgrade_batch,
)
from tests.selling.test_catalog import ListCatalog

PRICES = {"p64": 500, "p128": 600, "p256": 800, "c1": 20, "c2": 35, "c3": 60}


@pytest.fixture(scope="module")
def catalog() -> TierCatalog:
    return TierCatalog.from_mapping(
        {"phone": ["p64", "p128", "p256"], "case": ["c1", "c2", "c3"]},
        prices=PRICES,
        features={
            "p128": ["128GB"],
            "p256": ["256GB", "pro"],
            "c2": ["magsafe"],
            "c3": ["magsafe", "leather"],
        },
    )


@pytest.fixture(scope="module")
def model() -> recsys.ItemItem:
    log = pd.DataFrame(
        {
            "user": ["ann", "ann", "ann", "bob", "bob", "cy", "cy", "dee", "dee", "eve"],
            "item": ["p64", "p128", "c1", "p128", "c1", "p256", "c3", "p64", "cable", "c2"],
            "country": ["UK", "UK", "UK", "DE", "DE", "UK", "UK", "DE", "DE", "UK"],
        }
    )
    data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    return recsys.ItemItem(similarity="cosine", min_count=1, num_threads=1).fit(
        data
    )  # formula checks need every pair


def test_item_upgrade_worked_example(model, catalog) -> None:
    recs = recommend_upgrade(model, catalog, item="p64", n=5)
    assert recs.columns.tolist() == UPGRADE_COLUMNS
    assert set(recs["item"]) == {"p128", "p256"}
    row = recs.set_index("item").loc["p256"]
    assert row["from_item"] == "p64" and row["from_tier"] == 1 and row["to_tier"] == 3
    assert row["price_from"] == 500 and row["price_to"] == 800 and row["price_diff"] == 300
    assert row["added_features"] == ("256GB", "pro")
    assert row["reason"] == "upgrade from p64 (tier 1 to 3): adds 256GB, pro for +300.00 (+60%)"
    assert recs["rank"].tolist() == [1, 2]


def test_score_formula(model, catalog) -> None:
    # value for money: p128 (1 + 1) / (1 + 0.2) = 1.67 < p256 (1 + 2) / (1 + 0.6) = 1.875
    by_value = recommend_upgrade(model, catalog, item="p64", affinity_weight=0.0)
    assert by_value["item"].tolist() == ["p256", "p128"]
    assert by_value["score"].tolist() == pytest.approx([1.0, 0.5])
    # affinity: p64 is co-owned with p128 (ann), never with p256
    by_affinity = recommend_upgrade(model, catalog, item="p64", affinity_weight=1.0)
    assert by_affinity["item"].tolist() == ["p128", "p256"]
    blend = recommend_upgrade(model, catalog, item="p64", affinity_weight=0.7)
    assert blend["score"].tolist() == pytest.approx([0.7 * 1.0 + 0.3 * 0.5, 0.7 * 0.5 + 0.3 * 1.0])
    # the default: the affinity alone
    default = recommend_upgrade(model, catalog, item="p64")
    pd.testing.assert_frame_equal(default, by_affinity)
    assert default["score"].tolist() == pytest.approx([1.0, 0.5])


def test_caps(model, catalog) -> None:
    assert recommend_upgrade(model, catalog, item="p64", max_price_ratio=1.3)["item"].tolist() == [
        "p128"
    ]
    assert recommend_upgrade(model, catalog, item="p64", max_tier_jump=1)["item"].tolist() == [
        "p128"
    ]
    caps = {"DE": 1.1, "UK": 2.0}
    assert recommend_upgrade(
        model, catalog, item="p64", segment="DE", segment_price_caps=caps
    ).empty
    assert (
        len(recommend_upgrade(model, catalog, item="p64", segment="UK", segment_price_caps=caps))
        == 2
    )
    assert (
        len(recommend_upgrade(model, catalog, item="p64", segment="FR", segment_price_caps=caps))
        == 2
    )
    # the stricter of the global and the segment cap
    assert recommend_upgrade(
        model, catalog, item="p64", segment="UK", segment_price_caps=caps, max_price_ratio=1.3
    )["item"].tolist() == ["p128"]


def test_user_upgrades(model, catalog) -> None:
    # ann owns p64, p128 (highest: p128) and c1: never p64/p128, only tiers above her best
    recs = recommend_upgrade(model, catalog, user="ann", n=10)
    assert sorted(recs["item"]) == ["c2", "c3", "p256"]
    assert recs.set_index("item").loc["p256", "from_item"] == "p128"
    assert recs.set_index("item").loc["c3", "from_item"] == "c1"
    one_per_family = Rules(
        max_per_group=1, group_col="family", item_attributes=catalog.attributes()
    )
    capped = recommend_upgrade(model, catalog, user="ann", n=10, rules=one_per_family)
    assert len(capped) == 2 and set(catalog.family_of(capped["item"])) == {"phone", "case"}
    # cy owns the top tiers: nothing to offer
    assert recommend_upgrade(model, catalog, user="cy").empty
    # item + user: ranks for the user, never what they own
    assert recommend_upgrade(model, catalog, item="p64", user="bob")["item"].tolist() == ["p256"]
    kept = recommend_upgrade(
        model, catalog, item="p64", user="bob", rules=Rules(exclude_owned=False)
    )
    assert set(kept["item"]) == {"p128", "p256"}


def test_declines_and_rules(model, catalog) -> None:
    declines = pd.DataFrame({"user": ["ann"], "item": ["c2"], "time": ["2024-05-20"]})
    recs = recommend_upgrade(
        model, catalog, user="ann", rules=Rules(declines=declines, now="2024-06-01")
    )
    assert "c2" not in recs["item"].tolist() and len(recs) == 2
    cheap = Rules(max_price=100, item_attributes=catalog.attributes())
    assert sorted(recommend_upgrade(model, catalog, user="ann", rules=cheap)["item"]) == [
        "c2",
        "c3",
    ]


def test_errors(model, catalog) -> None:
    with pytest.raises(UnknownIdError, match="p512"):
        recommend_upgrade(model, catalog, item="p512")
    with pytest.raises(KeyError, match=r"\['cable'\] are not in any family"):
        recommend_upgrade(model, catalog, item="cable")
    with pytest.raises(UnknownIdError, match="zed"):
        recommend_upgrade(model, catalog, user="zed")
    with pytest.raises(ValueError, match="item, a user"):
        recommend_upgrade(model, catalog)
    with pytest.raises(ValueError, match="max_price_ratio"):
        recommend_upgrade(model, catalog, item="p64", max_price_ratio=0)
    with pytest.raises(ValueError, match="max_tier_jump"):
        recommend_upgrade(model, catalog, item="p64", max_tier_jump=1.5)
    with pytest.raises(ValueError, match=r"segment_price_caps\['DE'\]"):
        recommend_upgrade(model, catalog, item="p64", segment_price_caps={"DE": -1})
    with pytest.raises(ValueError, match="affinity_weight"):
        recommend_upgrade(model, catalog, item="p64", affinity_weight=2)
    with pytest.raises(TypeError, match="TierCatalogProtocol"):
        recommend_upgrade(model, {"phone": ["p64"]}, item="p64")  # type: ignore[arg-type]
    bigger = TierCatalog.from_mapping({"phone": ["p64", "p128", "p256", "p512"]})
    with pytest.raises(UnknownIdError, match=r"\['p512'\].*restrict_to"):
        recommend_upgrade(model, bigger, item="p64")
    assert (
        recommend_upgrade(model, bigger.restrict_to(model.item_ids_.external_ids), item="p64")[
            "item"
        ].size
        == 2
    )
    with pytest.raises(KeyError, match="none of the catalog items"):
        recommend_upgrade(model, TierCatalog.from_mapping({"f": [1, 2]}), item="p64")


class BadCatalog(ListCatalog):
    def higher_tiers(self, item):
        return ["c1"]  # another family


def test_user_protocol_class(model, catalog) -> None:
    mine = ListCatalog({"phone": ["p64", "p128", "p256"], "case": ["c1", "c2", "c3"]})
    got = recommend_upgrade(model, mine, item="p64", affinity_weight=1.0)
    ref = recommend_upgrade(model, catalog, item="p64", affinity_weight=1.0)
    assert got["item"].tolist() == ref["item"].tolist()
    assert got["to_tier"].tolist() == [1.0, 2.0]  # the class's own tier ranks (0-based)
    assert got["added_features"].tolist() == [("size=1",), ("size=2",)]
    assert sorted(recommend_upgrade(model, mine, user="ann", n=5)["item"]) == ["c2", "c3", "p256"]
    with pytest.raises(ValueError, match="not strictly higher tiers of its family"):
        recommend_upgrade(model, BadCatalog({"phone": ["p64", "p128"], "case": ["c1"]}), item="p64")


def test_batch(model, catalog) -> None:
    queries = pd.DataFrame(
        {
            "qid": ["q1", "q2", "q3"],
            "item": ["p64", None, "c1"],
            "user": [None, "ann", "bob"],
            "country": ["UK", "DE", "DE"],
        }
    )
    out = recommend_upgrade_batch(
        model,
        catalog,
        queries,
        n=2,
        user_col="user",
        segment_col="country",
        query_col="qid",
        segment_price_caps={"DE": 1.9},
    )
    assert out.columns.tolist() == ["qid", *UPGRADE_COLUMNS]
    for _, q in queries.iterrows():
        single = recommend_upgrade(
            model,
            catalog,
            item=q["item"],
            user=q["user"],
            segment=q["country"],
            n=2,
            segment_price_caps={"DE": 1.9},
        )
        got = out[out["qid"] == q["qid"]].drop(columns="qid").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, single, check_dtype=False)
    default_ids = recommend_upgrade_batch(model, catalog, queries, user_col="user")
    assert set(default_ids["query"]) <= {0, 1, 2}
    with pytest.raises(ValueError, match="neither an item nor a user"):
        recommend_upgrade_batch(model, catalog, pd.DataFrame({"item": [None]}))
    with pytest.raises(ValueError, match="item_col, user_col"):
        recommend_upgrade_batch(model, catalog, queries, item_col=None)


def test_other_models(catalog) -> None:
    log = pd.DataFrame(
        {
            "user": np.repeat(np.arange(8), 2),
            "item": [
                "p64",
                "c1",
                "p128",
                "c2",
                "p64",
                "c1",
                "p256",
                "c3",
                "p64",
                "c2",
                "p128",
                "c1",
                "p64",
                "c1",
                "p128",
                "c3",
            ],
        }
    )
    data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    for model in (
        recsys.ALS(factors=4, iterations=3, random_state=0, num_threads=1).fit(data),
        recsys.Popularity(num_threads=1).fit(data),
    ):
        recs = recommend_upgrade(model, catalog, item="p64")
        assert set(recs["item"]) == {"p128", "p256"}
        assert set(recommend_upgrade(model, catalog, user=0, n=5)["item"]) == {
            "p128",
            "p256",
            "c2",
            "c3",
        }


# --------------------------------------------------------------------------- properties
class Delegating:
    """A user's own catalog class giving a TierCatalog's answers through the protocol only."""

    def __init__(self, catalog: TierCatalog) -> None:
        self.catalog = catalog

    @property
    def items(self):
        return self.catalog.items

    def family_of(self, items):
        return self.catalog.family_of(items)

    def tier_of(self, items):
        return self.catalog.tier_of(items)

    def price_of(self, items):
        return self.catalog.price_of(items)

    def features_of(self, item):
        return self.catalog.features_of(item)

    def higher_tiers(self, item):
        return self.catalog.higher_tiers(item)


@st.composite
def worlds(draw):
    n_items = draw(st.integers(4, 14))
    items = [f"x{i}" for i in range(n_items)]
    order = draw(st.permutations(items))
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    families, start = {}, 0
    for f, size in enumerate(sizes):
        if start < len(order):
            members = list(order[start : start + size])
            # tiers of one or two items: several items may share a tier
            chain, i = [], 0
            while i < len(members):
                width = draw(st.integers(1, 2))
                tier = members[i : i + width]
                chain.append(tier[0] if len(tier) == 1 and draw(st.booleans()) else tier)
                i += width
            families[f"f{f}"] = chain
        start += size
    prices = {}
    for chain in families.values():
        price = 0.0
        for tier in chain:
            price += draw(st.integers(0, 50))
            for item in tier if isinstance(tier, list) else [tier]:
                if draw(st.integers(0, 5)):
                    prices[item] = price
    pairs = draw(
        st.lists(st.tuples(st.integers(0, 5), st.sampled_from(items)), min_size=1, max_size=25)
    )
    return items, families, prices, pairs


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), data=st.data())
def test_upgrade_properties(world, data) -> None:
    items, families, prices, pairs = world
    log = pd.DataFrame(pairs, columns=["user", "item"])
    model = recsys.ItemItem(num_threads=1).fit(
        recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    )
    full = TierCatalog.from_mapping(families, prices=prices)
    if not set(full.items.tolist()) & set(log["item"]):
        return
    catalog = full.restrict_to(model.item_ids_.external_ids)
    known_in_catalog = [i for i in model.item_ids_.external_ids.tolist() if i in catalog]
    user = data.draw(st.sampled_from([None, *sorted(set(log["user"]))]))
    item = data.draw(st.sampled_from([None, *known_in_catalog])) if known_in_catalog else None
    if item is None and user is None:
        return
    n = data.draw(st.integers(1, 6))
    ratio = data.draw(st.sampled_from([None, 1.0, 1.5, 3.0]))
    jump = data.draw(st.sampled_from([None, 1, 2]))
    exclude_owned = data.draw(st.booleans())
    recs = recommend_upgrade(
        model,
        catalog,
        item=item,
        user=user,
        n=n,
        max_price_ratio=ratio,
        max_tier_jump=jump,
        rules=Rules(exclude_owned=exclude_owned),
    )
    # a TierCatalog takes a vectorised path; the protocol path must give the same offers
    through_protocol = recommend_upgrade(
        model,
        Delegating(catalog),
        item=item,
        user=user,
        n=n,
        max_price_ratio=ratio,
        max_tier_jump=jump,
        rules=Rules(exclude_owned=exclude_owned),
    )
    pd.testing.assert_frame_equal(through_protocol, recs)
    # one call takes single-customer shortcuts; the batch form the general path: the same offers
    batch = recommend_upgrade_batch(
        model,
        catalog,
        pd.DataFrame({"item": [item], "user": [user]}),
        n=n,
        user_col="user",
        max_price_ratio=ratio,
        max_tier_jump=jump,
        rules=Rules(exclude_owned=exclude_owned),
    )
    pd.testing.assert_frame_equal(batch.drop(columns="query"), recs, check_dtype=False)
    owned = set(log.loc[log["user"] == user, "item"]) if user is not None else set()

    def higher(x):
        """(tiers up, item) for every item of a strictly higher tier of x's family."""
        members = catalog.family_members(catalog.family_of([x])[0])
        ranks = sorted(set(catalog.tier_of(members).tolist()))
        mine = ranks.index(catalog.tier_of([x])[0])
        return [
            (ranks.index(t) - mine, m)
            for m, t in zip(members, catalog.tier_of(members).tolist(), strict=True)
            if ranks.index(t) > mine
        ]

    candidates = []
    if item is not None:
        froms = [item]
    else:
        # the top tier owned in each family (any of its items, when several share it)
        top = {}
        for x in owned & set(catalog.items.tolist()):
            fam = catalog.family_of([x])[0]
            top[fam] = max(top.get(fam, -np.inf), catalog.tier_of([x])[0])
        froms = [
            x
            for x in owned & set(catalog.items.tolist())
            if catalog.tier_of([x])[0] == top[catalog.family_of([x])[0]]
        ]
    for f in froms:
        for step, to in higher(f):
            if jump is not None and step > jump:
                continue
            if ratio is not None:
                pf, pt = catalog.price_of([f])[0], catalog.price_of([to])[0]
                if not (np.isfinite(pf) and np.isfinite(pt)) or (pt != pf and not pt / pf <= ratio):
                    continue
            if exclude_owned and user is not None and to in owned:
                continue
            candidates.append((f, to))

    got = list(zip(recs["from_item"], recs["item"], strict=True))
    assert set(got) <= set(candidates)
    for f, to in got:
        assert catalog.family_of([f])[0] == catalog.family_of([to])[0]
        assert catalog.tier_of([to])[0] > catalog.tier_of([f])[0]
    assert len(recs["item"].unique()) == len(recs)
    targets = {to for _, to in candidates}
    assert len(recs) == min(n, len(targets)), "not exactly n although enough candidates remain"
    if ratio is not None:
        assert (recs["price_to"] <= recs["price_from"] * ratio + 1e-9).all()


def test_private_label_to_national_brand() -> None:
    """Complete Journey: per product type, the best-selling private label and national brand."""
    from recsys.datasets.loaders import (
        load_completejourney_products,
        load_completejourney_transactions,
    )

    try:
        products, tx = load_completejourney_products(), load_completejourney_transactions()
    except FileNotFoundError:  # pragma: no cover - data not installed
        pytest.skip("Complete Journey data not available")
    tx = tx[tx["quantity"].astype(float) > 0].assign(
        price=lambda d: d["sales_value"].astype(float) / d["quantity"].astype(float)
    )
    data = recsys.Interactions.from_pandas(
        tx, user_col="household_id", item_col="product_id", basket_col="basket_id"
    )
    model = recsys.ItemItem(k=30).fit(data)
    stats = (
        tx.merge(products, on="product_id")
        .groupby(["product_type", "brand", "product_id"])
        .agg(n=("basket_id", "nunique"), price=("price", "median"))
        .reset_index()
        .sort_values(["n", "product_id"], ascending=[False, True])
        .drop_duplicates(["product_type", "brand"])
    )
    pairs = stats.groupby("product_type").filter(lambda g: len(g) == 2)
    pairs = pairs.assign(tier=np.where(pairs["brand"] == "Private", 1, 2))
    catalog = TierCatalog.from_pandas(
        pairs, "product_id", "product_type", "tier", "price", price_order="ignore"
    )
    assert catalog.check_against(model) == []
    households = pd.DataFrame({"household": tx["household_id"].unique()[:300]})
    out = recommend_upgrade_batch(
        model, catalog, households, n=2, item_col=None, user_col="household", max_price_ratio=1.5
    )
    assert not out.empty
    assert (out["from_tier"] == 1).all() and (out["to_tier"] == 2).all()
    brand = products.set_index("product_id")["brand"]
    assert (brand[out["item"]].to_numpy() == "National").all()
    assert (catalog.family_of(out["from_item"]) == catalog.family_of(out["item"])).all()
    assert (out["price_to"] <= 1.5 * out["price_from"] + 1e-9).all()


def test_return_frame_false_gives_the_same_columns() -> None:
    import recsys
    from recsys.selling import TierCatalog, UpgradeResult, recommend_upgrade

    log = pd.DataFrame(
        {"user": [1, 1, 2, 2, 3, 3], "item": ["64gb", "case", "128gb", "case", "256gb", "case"]}
    )
    model = recsys.ItemItem().fit(
        recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    )
    catalog = TierCatalog.from_mapping(
        {"phone": ["64gb", "128gb", "256gb"]}, prices={"64gb": 500, "128gb": 600, "256gb": 800}
    )
    frame = recommend_upgrade(model, catalog, item="64gb", user=2)
    arrays = recommend_upgrade(model, catalog, item="64gb", user=2, return_frame=False)
    assert isinstance(arrays, UpgradeResult) and list(arrays.columns()) == frame.columns.tolist()
    assert len(arrays) == len(frame) and arrays.item.tolist() == frame["item"].tolist()
    pd.testing.assert_frame_equal(pd.DataFrame(arrays.columns()), frame)
    pd.testing.assert_frame_equal(arrays.to_pandas(), frame)
    lean = recommend_upgrade(model, catalog, item="64gb", explain=False, return_frame=False)
    assert lean.reason is None and "reason" not in lean.to_pandas().columns


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, np.nan, -np.inf]), max_size=12),
    data=st.data(),
)
def test_group_percentile_ranks_match_pandas(values, data) -> None:
    from recsys.selling.upgrade import _pct_rank

    groups = np.array([data.draw(st.integers(0, 2)) for _ in values], dtype=np.int64)
    values = np.array(values, dtype=np.float64)
    expected = (
        pd.Series(values)
        .groupby(groups)
        .rank(method="average", pct=True)
        .to_numpy(dtype=np.float64)
    )
    np.testing.assert_allclose(_pct_rank(values, groups), expected, rtol=1e-12)
