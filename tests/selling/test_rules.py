"""Rules: validation, composition, compilation to arrays, per-query exclusions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recsys
from recsys.selling import Rules
from recsys.selling.rules import merge_csr

ITEMS = ["green", "oolong", "mug", "pot", "spoon"]


@pytest.fixture(scope="module")
def model() -> recsys.Popularity:
    log = pd.DataFrame({"user": ["ann", "ann", "bob", "bob", "cy"], "item": ITEMS})
    return recsys.Popularity().fit(
        recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    )


@pytest.fixture(scope="module")
def attrs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "category": ["tea", "tea", "ware", "ware", None],
            "price": [3.0, 9.0, 5.0, np.nan, 1.0],
            "brand": ["x", "y", "x", "x", "y"],
        },
        index=["green", "oolong", "mug", "pot", "spoon"],
    ).iloc[::-1]  # row order must not matter


def allowed_items(model, compiled) -> list[str]:
    mask = compiled.item_allowed
    return (
        sorted(model.item_ids_.external_ids[mask].tolist()) if mask is not None else sorted(ITEMS)
    )


def test_item_masks(model, attrs) -> None:
    assert allowed_items(model, Rules().compile(model)) == sorted(ITEMS)
    assert allowed_items(
        model, Rules(include={"category": "tea"}, item_attributes=attrs).compile(model)
    ) == ["green", "oolong"]
    assert allowed_items(
        model, Rules(exclude={"category": ["tea"]}, item_attributes=attrs).compile(model)
    ) == ["mug", "pot", "spoon"]
    # unknown price: not allowed under a max_price
    assert allowed_items(model, Rules(max_price=5, item_attributes=attrs).compile(model)) == [
        "green",
        "mug",
        "spoon",
    ]
    assert allowed_items(model, Rules(available_items=["pot", "mug"]).compile(model)) == [
        "mug",
        "pot",
    ]
    combined = Rules(include={"category": ["tea", "ware"]}, item_attributes=attrs) & Rules(
        max_price=4
    )
    assert allowed_items(model, combined.compile(model)) == ["green"]


def test_groups(model, attrs) -> None:
    compiled = Rules(max_per_group=1, group_col="category", item_attributes=attrs).compile(model)
    groups = dict(zip(model.item_ids_.external_ids, compiled.group_of.tolist(), strict=True))
    assert groups["green"] == groups["oolong"] != groups["mug"] == groups["pot"]
    assert groups["spoon"] == -1  # missing group: not capped
    assert compiled.max_per_group == 1


@pytest.mark.parametrize(
    ("rules", "error", "message"),
    [
        (
            dict(include={"colour": ["red"]}),
            ValueError,
            "names column 'colour', which item_attributes lacks",
        ),
        (
            dict(exclude={"category": ["toys"]}),
            ValueError,
            r"exclude\['category'\] names value\(s\) \['toys'\]",
        ),
        (dict(max_price=3, price_col="cost"), ValueError, "column 'cost'"),
        (dict(max_per_group=2, group_col="shelf"), ValueError, "column 'shelf'"),
        (dict(available_items=["mug", "kettle"]), KeyError, "kettle"),
        (dict(segment_items={"UK": ["mug", "kettle"]}), KeyError, "kettle"),
        (
            dict(
                declines=pd.DataFrame({"user": ["ann"], "item": ["kettle"], "time": ["2024-01-01"]})
            ),
            KeyError,
            "kettle",
        ),
    ],
)
def test_unknown_columns_and_items_are_errors(model, attrs, rules, error, message) -> None:
    with pytest.raises(error, match=message):
        Rules(item_attributes=attrs, **rules).compile(model)


def test_attribute_problems(model, attrs) -> None:
    with pytest.raises(ValueError, match="group_col 'empty' has no value"):
        Rules(max_per_group=1, group_col="empty", item_attributes=attrs.assign(empty=None)).compile(
            model
        )
    with pytest.raises(ValueError, match="need item_attributes"):
        Rules(include={"category": ["tea"]}).compile(model)
    with pytest.raises(KeyError, match="none of the 2 item_attributes rows"):
        Rules(max_price=1, item_attributes=pd.DataFrame({"price": [1, 2]}, index=[10, 11])).compile(
            model
        )
    with pytest.raises(ValueError, match="one row per item"):
        Rules(item_attributes=pd.DataFrame({"price": [1, 2]}, index=["mug", "mug"]))
    with pytest.raises(TypeError, match="DataFrame"):
        Rules(item_attributes={"mug": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(cooldown_days=-1), "cooldown_days"),
        (dict(max_per_group=2), "needs group_col"),
        (dict(group_col="category"), "needs max_per_group"),
        (dict(max_per_group=0, group_col="category"), "positive"),
        (dict(max_price="cheap"), "max_price"),
        (dict(include=["tea"]), "dict"),
        (dict(include={"category": []}), "empty"),
        (
            dict(declines=pd.DataFrame({"user": [1], "item": ["a"]})),
            r"missing column\(s\) \['time'\]",
        ),
        (
            dict(declines=pd.DataFrame({"user": [1], "item": ["a"], "time": ["not a time"]})),
            "unparseable",
        ),
        (dict(now="never"), "now must be a time"),
        (dict(segment_items=pd.DataFrame({"market": ["UK"], "item": ["a"]})), "segment"),
        (dict(exclude_owned="yes"), "exclude_owned"),
    ],
)
def test_rules_validation(kwargs, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Rules(**kwargs)


def test_combine_is_stricter(attrs) -> None:
    declines_a = pd.DataFrame({"user": ["ann"], "item": ["mug"], "time": ["2024-01-01"]})
    declines_b = pd.DataFrame({"user": ["bob"], "item": ["pot"], "time": ["2024-01-02"]})
    a = Rules(
        exclude_owned=False,
        declines=declines_a,
        cooldown_days=7,
        include={"category": ["tea", "ware"]},
        exclude={"brand": ["x"]},
        max_price=10,
        available_items=["mug", "pot", "green"],
        segment_items={"UK": ["mug", "pot"], "DE": ["mug"]},
        max_per_group=3,
        group_col="category",
        item_attributes=attrs,
    )
    b = Rules(
        declines=declines_b,
        cooldown_days=14,
        include={"category": ["ware"]},
        exclude={"brand": ["y"]},
        max_price=6,
        available_items=["pot", "green", "spoon"],
        segment_items={"UK": ["pot"], "FR": ["mug"]},
        max_per_group=2,
        group_col="category",
    )
    c = a & b
    assert c is not a and c.exclude_owned is True
    assert len(c.declines) == 2 and c.cooldown_days == 14
    assert c.include == {"category": ["ware"]}
    assert c.exclude == {"brand": ["x", "y"]}
    assert c.max_price == 6 and c.max_per_group == 2 and c.group_col == "category"
    assert c.available_items == ["pot", "green"]
    seg = c.segment_items.groupby("segment")["item"].apply(sorted).to_dict()
    assert seg == {"UK": ["pot"], "DE": ["mug"], "FR": ["mug"]}
    assert c.item_attributes is attrs
    assert Rules.combine(a, b, Rules()).max_price == 6
    assert Rules.combine() is not None


def test_combine_conflicts(attrs) -> None:
    with pytest.raises(ValueError, match="different now"):
        Rules(now="2024-01-01") & Rules(now="2024-02-01")
    with pytest.raises(ValueError, match="different group_col"):
        Rules(max_per_group=1, group_col="a") & Rules(max_per_group=1, group_col="b")
    with pytest.raises(ValueError, match="different price columns"):
        Rules(max_price=1, price_col="a") & Rules(max_price=1, price_col="b")
    with pytest.raises(ValueError, match="allow no value"):
        Rules(include={"c": ["x"]}) & Rules(include={"c": ["y"]})
    other = pd.DataFrame({"category": ["bowls"]}, index=["mug"])
    with pytest.raises(ValueError, match="disagree on column 'category'"):
        Rules(item_attributes=attrs) & Rules(item_attributes=other)
    joined = Rules(item_attributes=attrs) & Rules(
        item_attributes=pd.DataFrame({"stock": [1]}, index=["mug"])
    )
    assert {"category", "stock"} <= set(joined.item_attributes.columns)
    with pytest.raises(TypeError):
        Rules() & 3  # type: ignore[operator]


def test_owned_and_declines(model) -> None:
    declines = pd.DataFrame(
        {
            "user": ["ann", "ann", "ann", "dora"],
            "item": ["pot", "spoon", "mug", "mug"],
            "time": ["2024-03-01", "2024-01-01", "2024-03-20", "2024-03-05"],
        }
    )
    compiled = Rules(declines=declines, cooldown_days=30, now="2024-03-10").compile(model)
    ip, ix = compiled.exclusions(4, users=np.array(["ann", "bob", "dora", None], dtype=object))
    ext = model.item_ids_.external_ids
    per_query = [sorted(ext[ix[ip[q] : ip[q + 1]]].tolist()) for q in range(4)]
    # ann: owns green+oolong; declined pot 9 days ago (suppressed), spoon 69 days ago (expired),
    # mug after `now` (ignored).  dora is new to the model: only her declines.
    assert per_query == [["green", "oolong", "pot"], ["mug", "pot"], ["mug"], []]
    # `now` per call overrides; default = the current time
    ip, ix = compiled.exclusions(1, users=np.array(["ann"], dtype=object), now="2024-03-25")
    assert sorted(ext[ix].tolist()) == ["green", "mug", "oolong", "pot"]
    recent = pd.DataFrame(
        {"user": ["ann"], "item": ["pot"], "time": [pd.Timestamp.now() - pd.Timedelta(days=2)]}
    )
    ip, ix = (
        Rules(declines=recent, exclude_owned=False)
        .compile(model)
        .exclusions(1, users=np.array(["ann"]))
    )
    assert ext[ix].tolist() == ["pot"]
    no_owned = Rules(exclude_owned=False).compile(model)
    assert no_owned.exclusions(1, users=np.array(["ann"]))[1].size == 0


def test_declines_user_type_mismatch(model) -> None:
    declines = pd.DataFrame({"user": [1], "item": ["mug"], "time": ["2024-01-01"]})
    with pytest.raises(TypeError, match="do not match the model's user IDs"):
        Rules(declines=declines).compile(model)


def test_segment_masks(model, attrs) -> None:
    rules = Rules(
        segment_items=pd.DataFrame(
            {"segment": ["UK", "UK", "DE"], "item": ["mug", "green", "mug"]}
        ),
        max_price=8,
        item_attributes=attrs,
    )
    compiled = rules.compile(model)
    masks, of_query = compiled.segment_masks(3, np.array(["DE", "UK", "DE"], dtype=object))
    ext = model.item_ids_.external_ids
    assert [sorted(ext[masks[r]].tolist()) for r in of_query] == [
        ["mug"],
        ["green", "mug"],
        ["mug"],
    ]
    with pytest.raises(KeyError, match="FR"):
        compiled.segment_masks(1, np.array(["FR"], dtype=object))
    with pytest.raises(ValueError, match="pass the query's segment"):
        compiled.segment_masks(1, None)
    with pytest.raises(ValueError, match="every query needs a segment"):
        compiled.segment_masks(2, np.array(["UK", None], dtype=object))


def test_compile_is_cached(model) -> None:
    rules = Rules(available_items=["mug"])
    assert rules.compile(model) is rules.compile(model)
    with pytest.raises(TypeError, match="fitted"):
        rules.compile(object())


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(st.lists(st.integers(0, 9), max_size=3), min_size=3, max_size=3),
        min_size=1,
        max_size=3,
    )
)
def test_merge_csr(parts) -> None:
    csrs = []
    for part in parts:
        indptr = np.cumsum([0] + [len(r) for r in part])
        indices = np.array([i for r in part for i in r], dtype=np.int32)
        csrs.append((indptr, indices))
    ip, ix = merge_csr(3, csrs)
    for q in range(3):
        expected = [i for part in parts for i in part[q]]
        assert ix[ip[q] : ip[q + 1]].tolist() == expected
