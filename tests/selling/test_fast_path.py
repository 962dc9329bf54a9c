"""The single-query serving path gives the batch path's answers; its caches follow re-fits.

``recommend_cross_sell`` / ``recommend_upgrade`` build one list without the
batch machinery (no masks, frames built from typed columns, look-ups cached
per fitted model); everything here checks that this changes nothing: the same
rows, columns, dtypes and index as the batch calls and as ``pandas.DataFrame``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
import recsys.selling.explain as explain
from recsys.selling import (
    Rules,
    SegmentedModel,
    TierCatalog,
    recommend_cross_sell,
    recommend_cross_sell_batch,
    recommend_upgrade,
    recommend_upgrade_batch,
)
from recsys.selling._common import frame, popularity_places

N_ITEMS = 24
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def make_orders(seed: int, n_users: int = 30, n_orders: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    p /= p.sum()
    rows = []
    for order in range(n_orders):
        user = int(rng.integers(n_users))
        for item in rng.choice(N_ITEMS, size=int(rng.integers(1, 5)), replace=False, p=p):
            rows.append((f"o{order}", f"u{user}", f"i{item:02d}", "UK" if user % 3 else "DE"))
    return pd.DataFrame(rows, columns=["order", "user", "item", "country"])


def interactions(orders: pd.DataFrame) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(
        orders,
        user_col="user",
        item_col="item",
        basket_col="order",
        user_attribute_cols=["country"],
    )


@pytest.fixture(scope="module")
def data() -> recsys.Interactions:
    return interactions(make_orders(0))


@pytest.fixture(scope="module")
def models(data) -> dict[str, object]:
    return {
        "probability": recsys.ItemItem(k=8, num_threads=1).fit(data),
        "repeats": recsys.ItemItem(k=8, repeat_prior=5.0, num_threads=1).fit(data),
        "cosine": recsys.ItemItem(similarity="cosine", k=8, num_threads=1).fit(data),
        "als": recsys.ALS(factors=4, iterations=3, random_state=0, num_threads=1).fit(data),
        "popularity": recsys.Popularity(segment_col="country", num_threads=1).fit(data),
        "segmented": SegmentedModel.fit(
            lambda: recsys.ItemItem(k=8, num_threads=1), data, "country", min_users=5
        ),
    }


@pytest.fixture(scope="module")
def catalog() -> TierCatalog:
    families = {
        "a": ["i00", "i05", "i09", "i13"],
        "b": ["i01", "i07", "i11"],
        "c": ["i02", "i03", "i15", "i20"],
    }
    prices = {
        item: 5.0 + 3 * k + len(fam)
        for fam, items in families.items()
        for k, item in enumerate(items)
    }
    features = {"i05": {"pro"}, "i09": {"pro", "xl"}, "i07": {"gold"}, "i15": ("fast",)}
    return TierCatalog.from_mapping(families, prices=prices, features=features)


def same_frame(left: pd.DataFrame, right: pd.DataFrame, exact: bool = True) -> None:
    """Equal values, columns, dtypes and index (types included).

    ``exact=False`` for factor models: BLAS sums a batch of two queries in
    another order than one query, so scores may differ in the last bits.
    """
    pd.testing.assert_frame_equal(
        left,
        right,
        check_exact=exact,
        rtol=1e-5,
        atol=1e-6,
        check_column_type=True,
        check_index_type=True,
    )
    assert list(left.dtypes) == list(right.dtypes)
    assert type(left.index) is type(right.index)


# --------------------------------------------------------------------------- frame()


_ids = st.one_of(
    st.text(alphabet="abcxyz01", min_size=0, max_size=4),
    st.integers(-5, 5),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=False, width=32),
)


@st.composite
def column_sets(draw):
    length = draw(st.integers(0, 6))
    columns: dict[str, object] = {}
    for name in draw(st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=5, unique=True)):
        kind = draw(
            st.sampled_from(
                ["int", "float32", "bool", "obj", "str", "series", "strlist", "tuples", "ids"]
            )
        )
        if kind == "int":
            value: object = np.array(
                draw(st.lists(st.integers(-9, 9), min_size=length, max_size=length)), dtype=np.int64
            )
        elif kind == "float32":
            value = np.arange(length, dtype=np.float32) / 3
        elif kind == "bool":
            value = np.arange(length) % 2 == 0
        elif kind == "obj":
            value = np.array(
                draw(st.lists(_ids, min_size=length, max_size=length)) + [object()], dtype=object
            )[:length]
        elif kind == "str":
            value = np.array(
                draw(st.lists(st.text(max_size=3), min_size=length, max_size=length)) + [None],
                dtype=object,
            )[:length]
        elif kind == "series":
            value = pd.Series(
                np.array(
                    draw(st.lists(_ids, min_size=length, max_size=length)) + [None], dtype=object
                )[:length],
                dtype=object,
            )
        elif kind == "strlist":
            value = draw(st.lists(st.text(max_size=3), min_size=length, max_size=length))
        elif kind == "tuples":
            value = [tuple(draw(st.lists(st.text(max_size=2), max_size=2))) for _ in range(length)]
        else:
            value = np.array([f"i{k}" for k in range(length)] + [None], dtype=object)[:length]
        columns[name] = value
    return columns


@FAST
@given(columns=column_sets())
def test_frame_is_the_pandas_constructor(columns) -> None:
    same_frame(frame(columns), pd.DataFrame(columns))


@FAST
@given(columns=column_sets(), data=st.data())
def test_frame_objects_are_object_series(columns, data) -> None:
    kept = [k for k, v in columns.items() if isinstance(v, np.ndarray) and v.dtype == object]
    objects = data.draw(st.lists(st.sampled_from(kept), unique=True)) if kept else []
    want = pd.DataFrame(
        {k: pd.Series(v, dtype=object) if k in objects else v for k, v in columns.items()}
    )
    same_frame(frame(columns, objects=objects), want)


def test_frame_of_no_rows_is_the_pandas_constructor() -> None:
    """An empty result (no upgrade left): empty lists, object and number arrays."""
    columns = {
        "item": np.array([], dtype=object),
        "added_features": [],
        "reason": [],
        "score": np.array([], dtype=np.float32),
        "rank": np.array([], dtype=np.int64),
    }
    same_frame(frame(columns), pd.DataFrame(columns))


def test_frame_of_a_series_with_its_own_index_aligns_like_pandas() -> None:
    columns = {"a": np.array([1, 2]), "b": pd.Series(["x", "y"], index=[1, 0], dtype=object)}
    same_frame(frame(columns), pd.DataFrame(columns))


# --------------------------------------------------------------------------- reasons


@FAST
@given(
    kinds=st.lists(st.sampled_from([0, 1, 2, 3]), min_size=0, max_size=8),
    unit=st.sampled_from(["orders", "customers", "visits"]),
    per_row=st.booleans(),
)
def test_few_reasons_are_the_vectorised_ones(kinds, unit, per_row, monkeypatch) -> None:
    k = len(kinds)
    rng = np.random.default_rng(k)
    args = (
        np.array(kinds, dtype=np.int8),
        np.array([f"b{i}" if i % 3 else None for i in range(k)], dtype=object),
        rng.integers(0, 3, size=k),
        rng.random(k) * 4,
    )
    segment = (
        np.array([None if i % 2 else "DE" for i in range(k)], dtype=object) if per_row else "UK"
    )
    kwargs = dict(
        unit=unit,
        segment=segment,
        repeat_count=rng.integers(0, 4, size=k),
        order_count=rng.integers(1, 6, size=k),
    )
    few = explain.cross_sell_reasons(*args, **kwargs)
    monkeypatch.setattr(explain, "_SMALL", -1)
    assert few == explain.cross_sell_reasons(*args, **kwargs)


# --------------------------------------------------------------------------- cross-sell


@FAST
@given(
    name=st.sampled_from(["probability", "repeats", "cosine", "als", "popularity", "segmented"]),
    basket=st.lists(st.integers(0, N_ITEMS - 1), min_size=0, max_size=4, unique=True),
    user=st.one_of(st.none(), st.integers(0, 33)),
    country=st.sampled_from([None, "UK", "DE"]),
    n=st.integers(1, 7),
    explain_it=st.booleans(),
    with_catalog=st.booleans(),
)
def test_single_cross_sell_is_the_batch_answer(
    models, catalog, name, basket, user, country, n, explain_it, with_catalog
) -> None:
    model = models[name]
    items = [f"i{i:02d}" for i in basket]
    who = None if user is None else f"u{user}"  # u30..u33 are unknown
    known = who is not None and who in set(model_users(model))
    if not items and not known:
        return
    kwargs = dict(
        n=n,
        catalog=catalog if with_catalog else None,
        rules=Rules(now="2024-06-01"),
        explain=explain_it,
    )
    single = recommend_cross_sell(model, items, user=who, segment=country, **kwargs)
    arrays = recommend_cross_sell(
        model, items, user=who, segment=country, return_frame=False, **kwargs
    )
    same_frame(arrays.to_pandas(), single)
    if not items:  # an empty basket has no batch row: compared in the next test
        return
    # the batch path: this basket next to another one, so its output is the general one
    rows = [("q", item, who, country) for item in items]
    rows.append(("other", "i01", None, country))
    baskets = pd.DataFrame(rows, columns=["basket_id", "item", "user", "country"])
    batch = recommend_cross_sell_batch(
        model, baskets, user_col="user", segment_col="country", **kwargs
    )
    mine = batch[batch["basket_id"] == "q"].drop(columns="basket_id").reset_index(drop=True)
    same_frame(single, mine, exact=name != "als")


def model_users(model) -> np.ndarray:
    base = model.default if isinstance(model, SegmentedModel) else model
    return base.user_ids_.external_ids


def test_empty_basket_with_a_known_user_arrays_and_frame_agree(models) -> None:
    for model in models.values():
        single = recommend_cross_sell(model, [], user="u1", n=4)
        same_frame(
            recommend_cross_sell(model, [], user="u1", n=4, return_frame=False).to_pandas(), single
        )
        assert len(single) == 4


# --------------------------------------------------------------------------- upgrade


@FAST
@given(
    name=st.sampled_from(["probability", "cosine", "als", "popularity", "segmented"]),
    item=st.one_of(st.none(), st.sampled_from(["i00", "i05", "i01", "i02", "i03", "i15"])),
    user=st.one_of(st.none(), st.integers(0, 29)),
    n=st.integers(1, 4),
    explain_it=st.booleans(),
    cap=st.sampled_from([None, 1.3, 3.0]),
)
def test_single_upgrade_is_the_batch_answer(
    models, catalog, name, item, user, n, explain_it, cap
) -> None:
    if item is None and user is None:
        return
    model = models[name]
    who = None if user is None else f"u{user}"
    kwargs = dict(n=n, explain=explain_it, max_price_ratio=cap)
    single = recommend_upgrade(model, catalog, item=item, user=who, **kwargs)
    arrays = recommend_upgrade(model, catalog, item=item, user=who, return_frame=False, **kwargs)
    queries = pd.DataFrame({"item": [item, "i01"], "user": [who, None]})
    batch = recommend_upgrade_batch(model, catalog, queries, user_col="user", **kwargs)
    mine = batch[batch["query"] == 0].drop(columns="query").reset_index(drop=True)
    if len(single):
        same_frame(single, mine, exact=name != "als")
    else:
        assert mine.empty and list(mine.columns) == list(single.columns)
    same_frame(arrays.to_pandas(), single)


# --------------------------------------------------------------------------- caches


def test_caches_follow_a_refit(catalog) -> None:
    """The cached look-ups are per fit: a model re-fitted on other data answers as a new one."""
    first, second = interactions(make_orders(1)), interactions(make_orders(7, n_users=12))
    model = recsys.ItemItem(k=8, num_threads=1).fit(first)
    before = popularity_places(model).copy()
    up_before = recommend_upgrade(model, catalog, user="u3", n=3)
    cross_before = recommend_cross_sell(model, ["i00", "i02"], user="u3", n=5)
    model.fit(second)
    fresh = recsys.ItemItem(k=8, num_threads=1).fit(second)
    assert not np.array_equal(before, popularity_places(model))
    np.testing.assert_array_equal(popularity_places(model), popularity_places(fresh))
    same_frame(
        recommend_upgrade(model, catalog, user="u3", n=3),
        recommend_upgrade(fresh, catalog, user="u3", n=3),
    )
    same_frame(
        recommend_cross_sell(model, ["i00", "i02"], user="u3", n=5),
        recommend_cross_sell(fresh, ["i00", "i02"], user="u3", n=5),
    )
    assert len(up_before) and len(cross_before)


def test_caches_follow_partial_fit(catalog) -> None:
    orders = make_orders(3)
    early, late = orders.iloc[: len(orders) // 2], orders.iloc[len(orders) // 2 :]
    model = recsys.ItemItem(k=8, num_threads=1).fit(interactions(early))
    places = popularity_places(model)
    recommend_upgrade(model, catalog, user="u2", n=3)
    model.partial_fit(interactions(late))
    assert popularity_places(model) is not places
    counts = model.item_popularity_
    order = np.lexsort((np.arange(counts.size), -counts))
    expected = np.empty(counts.size)
    expected[order] = np.arange(counts.size, 0, -1) - 1
    np.testing.assert_array_equal(popularity_places(model), expected)


def test_the_co_purchase_unit_follows_a_refit() -> None:
    """What the neighbour table counted (orders or customers) is kept per fit, not per model."""
    orders = make_orders(4)
    model = recsys.ItemItem(similarity="cosine", k=8, num_threads=1).fit(interactions(orders))
    reasons = recommend_cross_sell(model, ["i00"], n=8)["reason"].tolist()
    assert any(" orders, lift" in r or " order, lift" in r for r in reasons)
    one_per_customer = orders.assign(order=orders["user"])  # every customer's one order
    model.fit(interactions(one_per_customer))
    reasons = recommend_cross_sell(model, ["i00"], n=8)["reason"].tolist()
    assert any("customer" in r and "who also bought" in r for r in reasons)
    assert not any(" orders, lift" in r for r in reasons)


def test_a_frame_holds_copies() -> None:
    """As ``pandas.DataFrame(dict)``: editing the frame leaves the result's arrays alone."""
    score = np.array([0.5, 0.25], dtype=np.float32)
    because = np.array(["a", None], dtype=object)
    out = frame({"score": score, "because": because}, objects=["because"])
    out.loc[0, "score"] = 9.0
    out.loc[0, "because"] = "z"
    assert score.tolist() == [0.5, 0.25] and because.tolist() == ["a", None]
