"""recommend_offers' single-query path against the batch path, the catalog protocol and pandas.

The single-query path reads prices and families from the catalog aligned with
the model (cached), skips upgrade look-ups for items at the top of their
family and builds its frame without pandas' constructor; each of these is
checked here against the slower way it replaces.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.models.repurchase import Repurchase
from recsys.selling import Rules, TierCatalog
from recsys.selling.offers import (
    OFFER_COLUMNS,
    _Offer,
    _result,
    _slate_frame,
    recommend_offers,
    recommend_offers_batch,
)
from tests.selling.test_offers import interactions, worlds

MOMENTS = ["browse", "checkout", "post_purchase"]


class Shelf:
    """A catalog through the protocol only (no aligned view): every look-up asks it."""

    def __init__(self, catalog: TierCatalog) -> None:
        self._catalog = catalog
        self.items = catalog.items

    def family_of(self, items):
        return self._catalog.family_of(items)

    def tier_of(self, items):
        return self._catalog.tier_of(items)

    def price_of(self, items):
        return self._catalog.price_of(items)

    def features_of(self, item):
        return self._catalog.features_of(item)

    def higher_tiers(self, item):
        return self._catalog.higher_tiers(item)


def fitted(world):
    orders, families, prices = world
    data = interactions(orders)
    model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(data)
    catalog = TierCatalog.from_mapping(families, prices=prices, price_order="ignore")
    return orders, model, catalog, Repurchase().fit(data)


@st.composite
def query(draw, orders: pd.DataFrame):
    known = sorted(set(orders["item"]))
    basket = draw(st.lists(st.sampled_from(known), max_size=3, unique=True))
    user = draw(st.sampled_from([None, *sorted(set(orders["customer"]))]))
    if not basket and user is None:
        user = orders["customer"].iloc[0]
    return user, basket, draw(st.sampled_from(MOMENTS))


def declines(orders: pd.DataFrame, data) -> Rules:
    items = data.draw(st.lists(st.sampled_from(sorted(set(orders["item"]))), max_size=2))
    users = sorted(set(orders["customer"]))
    if not items:
        return Rules(now="2025-01-01")
    table = pd.DataFrame(
        {
            "user": [data.draw(st.sampled_from(users)) for _ in items],
            "item": items,
            "time": "2024-12-30",
        }
    )
    return Rules(declines=table, now="2025-01-01")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), data=st.data())
def test_single_query_path_equals_batch_row_for_row(world, data) -> None:
    orders, model, catalog, repurchase = fitted(world)
    queries = data.draw(st.lists(query(orders), min_size=1, max_size=4))
    n = data.draw(st.integers(1, 5))
    rules = declines(orders, data)
    kwargs = dict(catalog=catalog, n=n, rules=rules, repurchase=repurchase, at="2025-01-01")
    rows = []
    for q, (user, basket, moment) in enumerate(queries):
        for item in basket or [None]:
            rows.append({"query": q, "item": item, "user": user, "moment": moment})
    batch = recommend_offers_batch(model, pd.DataFrame(rows), **kwargs)
    assert list(batch.columns) == ["query", *OFFER_COLUMNS]
    for q, (user, basket, moment) in enumerate(queries):
        single = recommend_offers(model, user=user, basket=basket, moment=moment, **kwargs)
        mine = batch[batch["query"] == q].drop(columns="query").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, single, check_dtype=False)
        arrays = recommend_offers(
            model, user=user, basket=basket, moment=moment, return_frame=False, **kwargs
        )
        assert len(arrays) == len(single)
        for column in OFFER_COLUMNS:
            assert list(getattr(arrays, column)) == single[column].tolist(), column


def test_segmented_model_single_equals_batch() -> None:
    from recsys.selling.segments import SegmentedModel

    orders = pd.DataFrame(
        {
            "order": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
            "customer": ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"],
            "country": ["UK", "UK", "UK", "UK", "DE", "DE", "DE", "DE", "DE", "DE"],
            "item": ["coat", "scarf", "coat", "scarf", "coat", "gloves", "coat", "gloves",
                     "coat-pro", "gloves"],
        }
    )  # fmt: skip
    data = recsys.Interactions.from_pandas(
        orders, user_col="customer", item_col="item", basket_col="order",
        user_attribute_cols=["country"],
    )  # fmt: skip
    model = SegmentedModel.fit(lambda: recsys.ItemItem(), data, "country", min_users=1)
    catalog = TierCatalog.from_mapping({"coat": ["coat", "coat-pro"]}, prices={"coat": 50})
    queries = pd.DataFrame(
        {"query": [1, 2, 3], "item": ["coat", "coat", "gloves"], "user": [None, None, "a"],
         "moment": ["browse", "checkout", "checkout"], "country": ["UK", "DE", "UK"]}
    )  # fmt: skip
    batch = recommend_offers_batch(model, queries, catalog=catalog, segment_col="country")
    assert set(batch["query"]) >= {1, 2}
    for row in queries.itertuples():
        single = recommend_offers(
            model,
            user=None if pd.isna(row.user) else row.user,
            basket=[row.item],
            moment=row.moment,
            segment=row.country,
            catalog=catalog,
        )
        mine = batch[batch["query"] == row.query].drop(columns="query").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, single, check_dtype=False)
    uk = recommend_offers(model, basket="coat", segment="UK", moment="checkout", n=1)
    assert uk["item"].tolist() == ["scarf"]


def test_batch_of_no_queries_and_a_clashing_query_column() -> None:
    orders = pd.DataFrame(
        {"order": [1, 1], "customer": ["a", "a"], "item": ["s", "case"], "time": "2024-01-01"}
    )
    model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(interactions(orders))
    none = pd.DataFrame({"query": [], "item": [], "user": [], "moment": []})
    with pytest.raises(ValueError, match="queries is empty"):
        recommend_offers_batch(model, none)
    weak = pd.DataFrame({"query": ["q1"], "item": ["case"], "user": ["a"], "moment": "checkout"})
    got = recommend_offers_batch(model, weak)  # "a" owns everything: an empty slate
    assert list(got.columns) == ["query", *OFFER_COLUMNS] and got.empty
    assert got["rank"].dtype == np.int64
    with pytest.raises(ValueError, match="query_col 'item' is also a column"):
        recommend_offers_batch(model, pd.DataFrame({"item": ["s"]}), query_col="item",
                               user_col=None, moment_col=None)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), data=st.data())
def test_aligned_catalog_equals_asking_the_catalog(world, data) -> None:
    # the view (prices, families, top tiers as arrays) against the protocol's item-by-item answers
    orders, model, catalog, repurchase = fitted(world)
    user, basket, moment = data.draw(query(orders))
    n = data.draw(st.integers(1, 5))
    rules = declines(orders, data)
    kwargs = dict(user=user, basket=basket, moment=moment, n=n, rules=rules)
    kwargs.update(repurchase=repurchase, at="2025-01-01")
    fast = recommend_offers(model, catalog=catalog, **kwargs)
    shelf = Shelf(catalog.restrict_to(model.item_ids_.external_ids))
    slow = recommend_offers(model, catalog=shelf, **kwargs)
    pd.testing.assert_frame_equal(fast, slow)


def test_a_refit_model_gets_a_new_alignment() -> None:
    first = pd.DataFrame(
        {"order": [1, 1, 2, 2, 3, 3], "customer": ["a", "a", "b", "b", "c", "c"],
         "item": ["s", "case", "s", "case", "m", "case"], "time": "2024-01-01"}
    )  # fmt: skip
    # new items in front of the old ones: every item row moves
    second = pd.concat(
        [
            pd.DataFrame(
                {
                    "order": [0, 0],
                    "customer": ["z", "z"],
                    "item": ["a0", "a1"],
                    "time": "2024-01-01",
                }
            ),
            first.assign(item=first["item"].replace({"case": "l"})),
        ]
    )
    catalog = TierCatalog.from_mapping(
        {"shirt": ["s", "m", "l"], "x": ["a0", "a1"]},
        prices={"s": 10, "m": 12, "l": 15, "a0": 1, "a1": 2},
    )
    model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(interactions(first))
    before = recommend_offers(model, basket="s", catalog=catalog, moment="browse", n=3)
    assert before["item"].tolist()[0] == "m"
    model.fit(interactions(second))
    after = recommend_offers(model, basket="s", catalog=catalog, moment="browse", n=3)
    fresh = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(interactions(second))
    expected = recommend_offers(fresh, basket="s", catalog=catalog, moment="browse", n=3)
    pd.testing.assert_frame_equal(after, expected)
    assert "l" in after["item"].tolist() and "case" not in after["item"].tolist()


def test_no_upgrade_look_up_for_the_top_tier(monkeypatch) -> None:
    orders = pd.DataFrame(
        {"order": [1, 1, 2, 2], "customer": ["a", "a", "b", "b"],
         "item": ["s", "case", "l", "case"], "time": "2024-01-01"}
    )  # fmt: skip
    model = recsys.ItemItem(basket_prior=1.0, repeat_prior=None).fit(interactions(orders))
    catalog = TierCatalog.from_mapping({"shirt": ["s", "m", "l"]}, prices={"s": 1, "l": 3})
    asked = []
    import recsys.selling.offers as offers

    real = offers._upgrade  # every upgradable basket item is asked about in one pass

    def spy(model, catalog, items, *args, **kwargs):
        asked.extend(items.tolist())
        return real(model, catalog, items, *args, **kwargs)

    monkeypatch.setattr(offers, "_upgrade", spy)
    top = recommend_offers(model, basket="l", catalog=catalog, moment="browse")
    assert asked == [] and "upgrade" not in set(top["offer_type"])
    low = recommend_offers(model, basket="s", catalog=catalog, moment="browse")
    assert asked == ["s"] and low["item"].iloc[0] == "l"  # "m" is unknown to the model


ids = st.one_of(st.text(min_size=1, max_size=3), st.integers(0, 99))


@st.composite
def slates(draw):
    """Slate columns as _result makes them: random offers, string or integer item IDs."""
    size = draw(st.integers(0, 4))
    kind = draw(st.sampled_from(["str", "int"]))
    item_ids = st.text(min_size=1, max_size=3) if kind == "str" else st.integers(0, 99)
    offers = []
    for _ in range(size):
        items = tuple(draw(st.lists(item_ids, min_size=1, max_size=3, unique=True)))
        offer_type = draw(st.sampled_from(["cross_sell", "upgrade", "bundle", "buy_again"]))
        from_item = None if offer_type == "buy_again" else draw(item_ids)
        price = draw(st.one_of(st.just(float("nan")), st.floats(0, 100)))
        offers.append(_Offer(offer_type, items, from_item, 0.5, price, price, "why"))
    return _result(offers).columns()


@settings(max_examples=100, deadline=None)
@given(cols=slates())
def test_slate_frame_is_what_pandas_builds(cols) -> None:
    expected = pd.DataFrame(
        {
            name: pd.Series(values, dtype=object) if name in ("items", "from_item") else values
            for name, values in cols.items()
        }
    )
    got = _slate_frame(cols)
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.columns) == OFFER_COLUMNS


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), data=st.data())
def test_upgrades_of_a_basket_equal_one_recommend_upgrade_per_item(world, data) -> None:
    """The slate asks about every upgradable basket item in one pass: the same offers, in the
    same order, as one ``recommend_upgrade`` per item merged best first."""
    from recsys.selling import recommend_upgrade
    from recsys.selling.offers import DEFAULT_POLICY, _Catalog, _known_catalog, _upgrades

    orders, model, catalog, _ = fitted(world)
    user, basket, _ = data.draw(query(orders))
    rules = declines(orders, data)
    k = data.draw(st.integers(1, 4))
    ratio = data.draw(st.sampled_from([None, 1.5]))
    policy = dataclasses.replace(DEFAULT_POLICY, max_upgrade_price_ratio=ratio)
    got = _upgrades(model, _Catalog(catalog, model), basket, user, None, rules, k, policy)
    known = _known_catalog(catalog, model)
    expected = []
    for item in basket if known is not None else []:
        if catalog.family_of([item])[0] is None:
            continue
        one = recommend_upgrade(
            model, known, item=item, user=user, n=k, max_price_ratio=ratio, rules=rules,
            return_frame=False,
        )  # fmt: skip
        expected += [
            ((one.item[j],), one.from_item[j], float(one.score[j]), float(one.price_to[j]),
             float(one.price_diff[j]), str(one.reason[j]))
            for j in range(len(one))
        ]  # fmt: skip
    expected.sort(key=lambda o: -o[2])
    assert [
        (o.items, o.from_item, o.score, o.price, o.price_step, o.reason) for o in got
    ] == expected
