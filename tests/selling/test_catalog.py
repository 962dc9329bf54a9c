"""TierCatalog: building, validation, queries, and alignment with a model."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recsys
from recsys.exceptions import UnknownIdError
from recsys.selling import TierCatalog, TierCatalogProtocol, check_catalog
from recsys.selling.catalog_alignment import catalog_view


@pytest.fixture(scope="module")
def catalog() -> TierCatalog:
    return TierCatalog.from_mapping(
        {"phone": ["p64", "p128", "p256"], "case": ["case", "case-pro"]},
        prices={"p64": 500, "p128": 600, "p256": 750, "case": 20, "case-pro": 35},
        features={"p128": ["128 GB"], "p256": ["256 GB", "pro camera"], "case-pro": "magsafe"},
    )


@pytest.fixture(scope="module")
def model() -> recsys.Popularity:
    log = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["p64", "case", "p128", "cable", "p256"]})
    return recsys.Popularity().fit(
        recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    )


# --------------------------------------------------------------------------- queries
def test_queries(catalog: TierCatalog) -> None:
    assert len(catalog) == 5 and "p64" in catalog and "cable" not in catalog
    assert catalog.higher_tiers("p64") == ["p128", "p256"]
    assert catalog.higher_tiers("p256") == []
    assert catalog.family_of(["case-pro", "p64", "cable"]).tolist() == ["case", "phone", None]
    np.testing.assert_array_equal(catalog.tier_of(["p256", "cable"]), [3.0, np.nan])
    np.testing.assert_array_equal(catalog.price_of(["case-pro", "cable"]), [35.0, np.nan])
    assert catalog.features_of("p256") == {"256 GB", "pro camera"}
    assert catalog.features_of("case-pro") == {"magsafe"}
    assert catalog.family_members("phone") == ["p64", "p128", "p256"]
    assert set(catalog.families) == {"phone", "case"}
    assert "5 items in 2 families" in repr(catalog)
    with pytest.raises(KeyError, match="not in the catalog"):
        catalog.higher_tiers("cable")
    with pytest.raises(KeyError, match="not in the catalog"):
        catalog.features_of("cable")
    with pytest.raises(KeyError, match="family 'tv'"):
        catalog.family_members("tv")


def test_to_pandas_and_attributes(catalog: TierCatalog) -> None:
    frame = catalog.to_pandas()
    assert frame.columns.tolist() == ["item", "family", "tier", "price", "features"]
    assert frame["item"].tolist() == ["p64", "p128", "p256", "case", "case-pro"]
    attrs = catalog.attributes()
    assert attrs.loc["p128", "family"] == "phone" and attrs.loc["p128", "price"] == 600


def test_restrict_to(catalog: TierCatalog) -> None:
    small = catalog.restrict_to(["p64", "p256", "unrelated"])
    assert small.higher_tiers("p64") == ["p256"]
    assert len(small) == 2
    with pytest.raises(ValueError, match="empty"):
        catalog.restrict_to(["nothing"])


def test_from_pandas_features_and_tiers() -> None:
    df = pd.DataFrame(
        {
            "sku": ["a", "b", "c", "x"],
            "line": ["tv", "tv", "tv", "radio"],
            "rank": [10, 20, 35, 1],
            "price": [100.0, 100.0, 300.0, 5.0],
            "hdr": [0, 1, 1, 0],
            "tags": [["slim"], ["slim", "smart"], set(), None],
            "panel": ["lcd", "lcd", "oled", np.nan],
        }
    )
    catalog = TierCatalog.from_pandas(df, "sku", "line", "rank", "price", ["hdr", "tags", "panel"])
    assert catalog.higher_tiers("a") == [
        "b",
        "c",
    ]  # non-consecutive ranks are fine; equal prices too
    assert catalog.features_of("b") == {"hdr", "slim", "smart", "panel=lcd"}
    assert catalog.features_of("x") == set()


# --------------------------------------------------------------------------- validation
def frame(**overrides) -> pd.DataFrame:
    base = {
        "item": ["a", "b", "c"],
        "family": ["f", "f", "g"],
        "tier": [1, 2, 1],
        "price": [1.0, 2.0, 3.0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


@pytest.mark.parametrize(
    ("df", "message"),
    [
        (frame().iloc[:0], "empty"),
        (
            frame(item=["a", "a", "c"], family=["f", "g", "g"], tier=[1, 2, 3]),
            "item 'a' is in more than one family",
        ),
        (frame(item=["a", "a", "c"]), "item 'a' is listed twice in family 'f'"),
        (frame(tier=[1, np.nan, 1]), "column 'tier' has 1 NaN"),
        (frame(price=[1.0, np.nan, 1.0]), "column 'price' has 1 NaN"),
        (frame(price=[1.0, -2.0, 1.0]), "negative"),
        (frame(tier=["x", 2, 1]), "non-numeric .*tier_order"),
        (frame(family=["f", None, "g"]), "column 'family' has 1 missing"),
        (frame(item=["a", None, "c"]), "column 'item' has 1 missing"),
    ],
)
def test_from_pandas_validation(df: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TierCatalog.from_pandas(df, "item", "family", "tier", "price")


def test_price_falls_warns_by_default_and_errors_on_request() -> None:
    falling = frame(price=[5.0, 2.0, 1.0])
    with pytest.warns(
        UserWarning, match="price falls as the tier rises: 'b' .* costs less than 'a'"
    ):
        TierCatalog.from_pandas(falling, "item", "family", "tier", "price")
    with pytest.raises(ValueError, match="price falls as the tier rises: 'b' .* less than 'a'"):
        TierCatalog.from_pandas(falling, "item", "family", "tier", "price", price_order="error")


def test_items_may_share_a_tier() -> None:
    df = pd.DataFrame(
        {
            "item": ["std", "pro-silver", "pro-grey", "max", "x"],
            "family": ["laptop"] * 4 + ["other"],
            "tier": [1, 2, 2, 3, 1],
            "price": [900.0, 1500.0, 1600.0, 2500.0, 5.0],
        }
    )
    catalog = TierCatalog.from_pandas(df, "item", "family", "tier", "price")
    assert catalog.higher_tiers("std") == ["pro-silver", "pro-grey", "max"]
    assert catalog.higher_tiers("pro-grey") == ["max"]  # never its tier-mate
    assert catalog.higher_tiers("max") == []
    assert catalog.tier_of(["pro-silver", "pro-grey"]).tolist() == [2.0, 2.0]
    same = TierCatalog.from_mapping(
        {"laptop": ["std", ["pro-silver", "pro-grey"], "max"], "other": ["x"]},
        prices=dict(zip(df["item"], df["price"], strict=True)),
    )
    assert same.to_pandas()[["item", "tier"]].values.tolist() == [
        ["std", 1.0],
        ["pro-silver", 2.0],
        ["pro-grey", 2.0],
        ["max", 3.0],
        ["x", 1.0],
    ]


@pytest.mark.parametrize(
    ("prices", "falls"),
    [
        ([1.0, 5.0, 2.0, 6.0], False),  # tier 2 spans 2..5: overlaps tier 1 (1) -> fine
        ([3.0, 2.0, 2.5, 6.0], True),  # all of tier 2 (2, 2.5) below tier 1 (3)
        ([1.0, 2.0, 8.0, 6.0], False),  # tier 3 (6) below a tier-2 item (8) but not all of it
        ([1.0, 7.0, 8.0, 6.5], True),  # tier 3 (6.5) below every tier-2 item (7, 8)
        ([4.0, 5.0, 6.0, 3.0], True),  # tier 3 below tier 1
    ],
)
def test_price_order_compares_whole_tiers(prices: list[float], falls: bool) -> None:
    df = pd.DataFrame({"item": list("abcd"), "family": "f", "tier": [1, 2, 2, 3], "price": prices})
    if falls:
        with pytest.raises(ValueError, match="price falls"):
            TierCatalog.from_pandas(df, "item", "family", "tier", "price", price_order="error")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            TierCatalog.from_pandas(df, "item", "family", "tier", "price", price_order="error")


def test_tier_labels_ranked_by_tier_order() -> None:
    plans = pd.DataFrame(
        {
            "plan": ["free", "pro-monthly", "pro-yearly", "team"],
            "line": "saas",
            "level": ["free", "pro", "pro", "team"],
        }
    )
    catalog = TierCatalog.from_pandas(
        plans, "plan", "line", "level", tier_order=["free", "pro", "team"]
    )
    assert catalog.higher_tiers("pro-yearly") == ["team"]
    assert catalog.tier_of(["free", "pro-monthly", "team"]).tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match=r"tier label\(s\) \['team'\] not in tier_order"):
        TierCatalog.from_pandas(plans, "plan", "line", "level", tier_order=["free", "pro"])
    with pytest.raises(ValueError, match="twice"):
        TierCatalog.from_pandas(plans, "plan", "line", "level", tier_order=["free", "pro", "pro"])
    with pytest.raises(ValueError, match="empty"):
        TierCatalog.from_pandas(plans, "plan", "line", "level", tier_order=[])
    with pytest.raises(TypeError, match="list of tier labels"):
        TierCatalog.from_pandas(plans, "plan", "line", "level", tier_order="free")
    with pytest.raises(ValueError, match="non-numeric .*tier_order"):
        TierCatalog.from_pandas(plans, "plan", "line", "level")


def test_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['colour'\]"):
        TierCatalog.from_pandas(frame(), "item", "family", "tier", "price", ["colour"])
    with pytest.raises(TypeError, match="DataFrame"):
        TierCatalog.from_pandas({"item": []}, "item", "family", "tier")  # type: ignore[arg-type]


def test_price_order_warn_and_ignore() -> None:
    falling = frame(price=[5.0, 2.0, 1.0])
    with pytest.warns(UserWarning, match="price falls"):
        catalog = TierCatalog.from_pandas(
            falling, "item", "family", "tier", "price", price_order="warn"
        )
    assert catalog.higher_tiers("a") == ["b"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TierCatalog.from_pandas(falling, "item", "family", "tier", "price", price_order="ignore")
    with pytest.raises(ValueError, match="price_order"):
        TierCatalog.from_pandas(falling, "item", "family", "tier", "price", price_order="maybe")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(families={"f": ["a", "b", "a"]}), ValueError, "lists item 'a' twice .*cycle"),
        (
            dict(families={"f": ["a"], "g": ["b", "a"]}),
            ValueError,
            r"item 'a' is in more than one family: \['f', 'g'\]",
        ),
        (dict(families={}), ValueError, "empty"),
        (dict(families={"f": []}), ValueError, "family 'f' has no items"),
        (dict(families={"f": "ab"}), TypeError, "list of items"),
        (dict(families=[("f", ["a"])]), TypeError, "mapping"),
        (dict(families={"f": ["a", "b"]}, prices={"z": 1.0}), KeyError, "not in any family"),
        (dict(families={"f": ["a", "b"]}, prices={"a": np.nan}), ValueError, "missing"),
        (
            dict(families={"f": ["a", "b"]}, prices={"a": 3.0, "b": 1.0}, price_order="error"),
            ValueError,
            "price falls",
        ),
        (dict(families={"f": ["a", []]}), ValueError, "family 'f' has an empty tier at position 2"),
        (dict(families={"f": ["a", ["b", "a"]]}), ValueError, "lists item 'a' twice"),
        (dict(families={"f": ["a", "b"]}, features={"z": ["x"]}), KeyError, "not in any family"),
    ],
)
def test_from_mapping_validation(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        TierCatalog.from_mapping(**kwargs)


def test_partial_prices_are_unknown() -> None:
    catalog = TierCatalog.from_mapping(
        {"f": ["a", "b", "c"]}, prices={"a": 3.0, "c": 2.0}, price_order="ignore"
    )
    np.testing.assert_array_equal(catalog.price_of(["a", "b"]), [3.0, np.nan])
    # unknown prices do not take part in the price-order check
    TierCatalog.from_mapping({"f": ["a", "b", "c"]}, prices={"a": 3.0, "c": 4.0})


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 30), min_size=1, max_size=5, unique=True), min_size=1, max_size=5
    )
)
def test_higher_tiers_property(chains) -> None:
    seen: set[int] = set()
    families = {}
    for f, chain in enumerate(chains):
        chain = [i for i in chain if i not in seen]
        seen.update(chain)
        if chain:
            families[f"f{f}"] = [f"i{i}" for i in chain]
    if not families:
        return
    catalog = TierCatalog.from_mapping(families)
    for family, chain in families.items():
        for pos, item in enumerate(chain):
            higher = catalog.higher_tiers(item)
            assert higher == chain[pos + 1 :]
            assert all(catalog.family_of(higher) == family)
            assert (catalog.tier_of(higher) > catalog.tier_of([item])[0]).all()


# --------------------------------------------------------------------------- model alignment
def test_check_against(catalog: TierCatalog, model: recsys.Popularity) -> None:
    assert catalog.check_against(model, errors="return") == ["case-pro"]
    with pytest.raises(
        UnknownIdError,
        match=r"1 of 5 catalog item\(s\) are unknown to the model: \['case-pro'\].*restrict_to",
    ):
        catalog.check_against(model)
    assert catalog.restrict_to(model.item_ids_.external_ids).check_against(model) == []
    other_ids = TierCatalog.from_mapping({"f": [1, 2]})
    with pytest.raises(KeyError, match="none of the catalog items are known.*same item IDs"):
        check_catalog(other_ids, model)
    with pytest.raises(ValueError, match="errors"):
        check_catalog(catalog, model, errors="ignore")
    with pytest.raises(TypeError, match="fitted"):
        check_catalog(catalog, recsys.Popularity())
    with pytest.raises(TypeError, match="TierCatalogProtocol"):
        check_catalog({"f": ["a"]}, model)  # type: ignore[arg-type]


def test_catalog_view(catalog: TierCatalog, model: recsys.Popularity) -> None:
    view = catalog_view(catalog, model)
    rows = model.item_ids_.to_rows(["p64", "case", "p128", "cable", "p256"])
    assert view.family[rows[3]] == -1
    assert (
        view.family[rows[0]] == view.family[rows[2]] == view.family[rows[4]] != view.family[rows[1]]
    )
    assert view.step[rows].tolist() == [0, 0, 1, -1, 2]
    assert view.unknown == ("case-pro",)
    assert catalog_view(catalog, model) is view  # cached per model
    with pytest.raises(KeyError, match="none of the catalog items"):
        catalog_view(TierCatalog.from_mapping({"f": [1, 2]}), model)


class ListCatalog:
    """A user's own catalog: plain lists, no base class."""

    def __init__(self, chains: dict[str, list[str]]) -> None:
        self.chains = chains

    @property
    def items(self) -> list[str]:
        return [i for chain in self.chains.values() for i in chain]

    def _where(self, item):
        for family, chain in self.chains.items():
            if item in chain:
                return family, chain.index(item)
        return None, None

    def family_of(self, items):
        return np.array([self._where(i)[0] for i in items], dtype=object)

    def tier_of(self, items):
        return np.array(
            [np.nan if self._where(i)[1] is None else self._where(i)[1] for i in items], dtype=float
        )

    def price_of(self, items):
        return np.full(len(items), np.nan)

    def features_of(self, item):
        return {"size": self._where(item)[1]}

    def higher_tiers(self, item):
        family, pos = self._where(item)
        return self.chains[family][pos + 1 :]


def test_user_protocol_class(model: recsys.Popularity) -> None:
    mine = ListCatalog({"phone": ["p64", "p128", "p256"]})
    assert isinstance(mine, TierCatalogProtocol)
    assert not isinstance(object(), TierCatalogProtocol)
    assert check_catalog(mine, model) == []
    view = catalog_view(mine, model)
    assert view.members.size == 3


# one price rule for both constructors (issue 16, section 4): NaN is an error, unknown is
# None (constructor) or left out (from_mapping)
@pytest.mark.parametrize(
    "prices",
    [
        [1.0, np.nan, 3.0],
        np.array([1.0, np.nan, 3.0]),
        pd.Series([1.0, np.nan, 3.0]),
        [1, pd.NA, 3],
    ],
)
def test_constructor_rejects_a_nan_price_like_from_mapping(prices: object) -> None:
    with pytest.raises(ValueError, match=r"\['b'\] have a missing \(NaN\) price"):
        TierCatalog(["a", "b", "c"], ["f", "f", "f"], [1, 2, 3], prices)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing"):
        TierCatalog.from_mapping({"f": ["a", "b", "c"]}, prices={"a": 1.0, "b": np.nan})


def test_unknown_prices_are_none_or_left_out_and_survive_restrict_and_save(tmp_path) -> None:
    built = TierCatalog(["a", "b", "c"], ["f", "f", "f"], [1, 2, 3], [1.0, None, 3.0])
    mapped = TierCatalog.from_mapping({"f": ["a", "b", "c"]}, prices={"a": 1.0, "c": 3.0})
    for catalog in (built, mapped):
        np.testing.assert_array_equal(catalog.price_of(["a", "b", "c"]), [1.0, np.nan, 3.0])
        np.testing.assert_array_equal(
            catalog.restrict_to(["b", "c"]).price_of(["b", "c"]), [np.nan, 3.0]
        )
        catalog.save(tmp_path / "catalog")
        loaded = TierCatalog.load(tmp_path / "catalog")
        np.testing.assert_array_equal(loaded.price_of(["a", "b", "c"]), [1.0, np.nan, 3.0])
    all_unknown = TierCatalog(["a", "b"], ["f", "f"], [1, 2])
    assert np.isnan(all_unknown.price_of(["a", "b"])).all()
