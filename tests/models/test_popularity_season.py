"""Popularity(season=...): what sells in December, shrunk so that rare items do not swing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys import Popularity

START = pd.Timestamp("2010-12-01")


@st.composite
def logs(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 60))
    rows = []
    for o in range(n):
        rows.append(
            (
                f"o{o}",
                f"u{draw(st.integers(0, 8))}",
                f"i{draw(st.integers(0, 5))}",
                START + pd.Timedelta(draw(st.integers(0, 500)), "D"),
                draw(st.sampled_from(["UK", "DE"])),
            )
        )
    return pd.DataFrame(rows, columns=["order", "user", "item", "time", "country"])


def reference_lift(log: pd.DataFrame, season: str, prior: float, items: list[str]) -> np.ndarray:
    """The shrunk, exposure-adjusted seasonal lift with plain pandas and loops."""
    if season == "month":
        period = log["time"].dt.year * 12 + log["time"].dt.month - 1
        n_seasons = 12

        def season_of_period(p: int) -> int:
            return p % 12

        periods = range(int(period.min()), int(period.max()) + 1)
    else:
        monday = log["time"].dt.normalize() - pd.to_timedelta(log["time"].dt.day_of_week, "D")
        period = (monday - pd.Timestamp("1970-01-05")).dt.days // 7
        n_seasons = 53

        def season_of_period(p: int) -> int:
            thursday = pd.Timestamp("1970-01-08") + pd.Timedelta(7 * p, "D")
            return int(thursday.isocalendar()[1]) - 1

        periods = range(int(period.min()), int(period.max()) + 1)
    purchases = log.assign(p=period)[["p", "item", "user"]].drop_duplicates()
    shop = purchases.groupby("p").size()
    lift = np.ones((n_seasons, len(items)))
    for j, item in enumerate(items):
        mine = purchases[purchases["item"] == item]
        counts = np.zeros(n_seasons)
        for p in mine["p"]:
            counts[season_of_period(int(p))] += 1
        exposure = np.zeros(n_seasons)
        for p in periods:
            if mine["p"].min() <= p <= mine["p"].max():
                exposure[season_of_period(p)] += shop.get(p, 0)
        base = exposure / exposure.sum()
        for row in range(n_seasons):
            if base[row] > 0:
                share = (counts[row] + prior * base[row]) / (counts.sum() + prior)
                lift[row, j] = share / base[row]
    return lift


def build(log: pd.DataFrame, baskets: bool = True) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(
        log,
        user_col="user",
        item_col="item",
        time_col="time",
        basket_col="order" if baskets else None,
        user_attribute_cols=["country"],
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=logs(),
    season=st.sampled_from(["month", "week"]),
    prior=st.sampled_from([0.0, 1.0, 30.0]),
    at_day=st.integers(0, 800),
    n=st.integers(1, 8),
)
def test_seasonal_popularity_matches_its_definition(
    log: pd.DataFrame, season: str, prior: float, at_day: int, n: int
) -> None:
    model = Popularity(season=season, season_prior=prior, segment_col="country").fit(build(log))
    items = model.item_ids_.external_ids.tolist()
    want = reference_lift(log, season, prior, items)
    np.testing.assert_allclose(model.season_lift_, want, rtol=1e-9)
    at = START + pd.Timedelta(at_day, "D")
    row = model.season_of(at)
    np.testing.assert_allclose(model.seasonal_lift(at), want[row], rtol=1e-9)
    # the ranking: popularity (in the user's segment) times the lift; exactly n unseen items
    users = [*model.user_ids_.external_ids.tolist(), "someone new"]
    recs = model.recommend(users, n=n, at=at)
    for user, group in recs.groupby("user", sort=False):
        if user == "someone new":
            scores = model.item_scores_ * want[row]
            seen: set[str] = set()
        else:
            u = int(model.user_ids_.to_rows([user])[0])
            scores = model.segment_scores_[model.user_segments_[u]] * want[row]
            seen = set(log.loc[log["user"] == user, "item"])
        assert not group["item"].isin(seen).any()
        assert len(group) == min(n, len(items) - len(seen))
        expected = sorted(
            (i for i in items if i not in seen), key=lambda i: -np.float32(scores[items.index(i)])
        )
        got_scores = group["score"].to_numpy()
        np.testing.assert_allclose(
            got_scores, [np.float32(scores[items.index(i)]) for i in group["item"]], rtol=1e-6
        )
        best = [np.float32(scores[items.index(i)]) for i in expected[: len(group)]]
        np.testing.assert_allclose(got_scores, best, rtol=1e-6)


def december_shop() -> pd.DataFrame:
    """Tea sells all year; fairy lights mostly in December; a rare ornament, twice in December."""
    rows = []
    rng = np.random.default_rng(0)
    order = 0
    for day in range(0, 390):
        t = START + pd.Timedelta(day, "D")
        for _ in range(3):
            rows.append((f"o{order}", f"u{rng.integers(200)}", "tea", t, "UK"))
            order += 1
        if t.month == 12:
            for _ in range(4):
                rows.append((f"o{order}", f"u{rng.integers(200)}", "lights", t, "UK"))
                order += 1
        elif rng.random() < 0.1:
            rows.append((f"o{order}", f"u{rng.integers(200)}", "lights", t, "UK"))
            order += 1
    rows.append((f"o{order}", "u1", "ornament", START + pd.Timedelta(5, "D"), "UK"))
    rows.append((f"o{order + 1}", "u2", "ornament", START + pd.Timedelta(6, "D"), "UK"))
    rows.append((f"o{order + 2}", "u3", "ornament", pd.Timestamp("2011-06-15"), "UK"))
    # an item sold only in one December: no evidence of a season (its lift stays 1)
    rows.append((f"o{order + 3}", "u4", "one-off", START + pd.Timedelta(9, "D"), "UK"))
    return pd.DataFrame(rows, columns=["order", "user", "item", "time", "country"])


def test_december_sells_lights_and_rare_items_do_not_swing() -> None:
    log = december_shop()
    model = Popularity(season="month").fit(build(log))
    all_year = model.recommend(["new"], n=2)["item"].tolist()
    december = model.recommend(["new"], n=2, at="2011-12-10")["item"].tolist()
    june = model.recommend(["new"], n=2, at="2011-06-10")["item"].tolist()
    assert all_year == ["tea", "lights"] and june == ["tea", "lights"]
    assert december == ["lights", "tea"]
    lift = dict(zip(model.item_ids_.external_ids, model.seasonal_lift("2011-12-10"), strict=True))
    assert lift["lights"] > 2
    assert 1 < lift["ornament"] < 1.3  # two of its three sales in December: raw lift ~2.4
    assert lift["one-off"] == 1.0  # sold in one December only: no evidence of a season
    raw = Popularity(season="month", season_prior=0).fit(build(log))
    raw_lift = dict(zip(raw.item_ids_.external_ids, raw.seasonal_lift("2011-12-10"), strict=True))
    assert raw_lift["ornament"] > 2
    huge = Popularity(season="month", season_prior=1e9).fit(build(log))
    np.testing.assert_allclose(huge.seasonal_lift("2011-12-10"), 1.0, atol=1e-6)
    # the ranking hook for other selling code
    order, scores = model.ranked_item_rows(at="2011-12-10")
    assert model.item_ids_.to_external(order[:2]).tolist() == ["lights", "tea"]
    assert (np.diff(scores) <= 0).all()
    assert model.ranked_item_rows()[0].tolist() != order.tolist()


def test_without_baskets_pairs_are_dated_by_their_latest_event() -> None:
    log = december_shop()
    model = Popularity(season="month").fit(build(log, baskets=False))
    assert model.recommend(["new"], n=1, at="2011-12-10")["item"].tolist() == ["lights"]


def test_at_without_season_changes_nothing_and_bad_arguments() -> None:
    log = december_shop()
    data = build(log)
    plain = Popularity().fit(data)
    pd.testing.assert_frame_equal(
        plain.recommend(["u1", "new"], n=3, at="2011-12-10"), plain.recommend(["u1", "new"], n=3)
    )
    np.testing.assert_array_equal(plain.seasonal_lift("2011-12-10"), 1.0)
    with pytest.raises(ValueError, match="season must be None, 'month' or 'week'"):
        Popularity(season="quarter").fit(data)
    with pytest.raises(ValueError, match="season_prior"):
        Popularity(season="month", season_prior=-1).fit(data)
    no_time = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    with pytest.raises(ValueError, match="needs interactions built with time_col"):
        Popularity(season="week").fit(no_time)
    model = Popularity(season="week").fit(data)
    with pytest.raises(ValueError, match="at must be a datetime"):
        model.recommend(["u1"], at="not a date")
    with pytest.raises(ValueError, match="cannot partial_fit"):
        model.partial_fit(data)
    with pytest.raises(ValueError, match="has no season"):
        plain.season_of("2011-12-01")


def test_seasonal_model_saves_and_loads(tmp_path) -> None:
    model = Popularity(season="week", segment_col="country").fit(build(december_shop()))
    model.save(tmp_path / "p.npz")
    loaded = recsys.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(loaded.season_counts_, model.season_counts_)
    for at in (None, "2011-12-20", "2011-07-01"):
        pd.testing.assert_frame_equal(
            loaded.recommend(["u1", "new"], n=3, at=at), model.recommend(["u1", "new"], n=3, at=at)
        )
