"""recsys.models.repeats: repeat-purchase probabilities against references that count by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.models.basket_probability import (
    DURABLE_MIN_BUYERS,
    MIN_VALIDATION_BASKETS,
    PRIOR_GRID,
)
from recsys.models.ease import EASE
from recsys.models.repeats import (
    RepeatPurchases,
    fit_repeat_purchases,
    load_repeat_purchases,
    repeat_log_likelihood,
    save_repeat_purchases,
)


def repeat_orders(seed: int = 0, n_users: int = 30, n_orders: int = 600) -> pd.DataFrame:
    """Customers who re-buy their own few favourites, plus random items (dated orders)."""
    rng = np.random.default_rng(seed)
    rows = []
    for order in range(n_orders):
        user = int(rng.integers(n_users))
        favourites = [(user + k) % 12 for k in range(3)]
        items = {favourites[int(rng.integers(3))], int(12 + rng.integers(30))}
        if rng.random() < 0.5:
            items.add(favourites[int(rng.integers(3))])
        for item in items:
            rows.append((f"o{order}", f"u{user}", f"i{item:02d}", order))
    log = pd.DataFrame(rows, columns=["order", "user", "item", "day"])
    log["time"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(log["day"], unit="h")
    return log


def interactions(log: pd.DataFrame) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(
        log, user_col="user", item_col="item", basket_col="order", time_col="time"
    )


def reference_statistics(baskets: list[tuple[int, set[int]]], n_users: int, n_items: int):
    """Counts, orders, shares and durables of (user, items) baskets, by hand."""
    counts = np.zeros((n_users, n_items))
    orders = np.zeros(n_users, dtype=np.int64)
    support = np.zeros(n_items)
    for user, items in baskets:
        orders[user] += 1
        for j in items:
            counts[user, j] += 1
            support[j] += 1
    buyers = ((counts > 0) & (orders[:, None] >= 2)).sum(axis=0)
    durable = ((counts >= 2).sum(axis=0) == 0) & (buyers >= DURABLE_MIN_BUYERS)
    counts[:, durable] = 0
    return counts, orders, support / max(len(baskets), 1), durable


def reference_log_likelihood(counts, orders, share, held, a):
    """Mean log-likelihood of 'bought again' over every (held-out basket, owned item)."""
    total, n = 0.0, 0
    for user, items in held:
        for j in np.flatnonzero(counts[user] > 0):
            p = (counts[user, j] + a * share[j]) / (orders[user] + a)
            p = min(max(p, 1e-6), 1 - 1e-6)
            total += np.log(p) if j in items else np.log(1 - p)
            n += 1
    return total / n if n else np.nan


def baskets_of(data: recsys.Interactions) -> list[tuple[int, set[int]]]:
    X = data.basket_matrix.tocsr()
    return [
        (int(data.basket_users[b]), set(X.indices[X.indptr[b] : X.indptr[b + 1]].tolist()))
        for b in range(X.shape[0])
    ]


def test_fit_counts_and_chooses_the_prior_like_the_reference() -> None:
    data = interactions(repeat_orders())
    rp = fit_repeat_purchases(data)
    assert rp is not None
    baskets = baskets_of(data)
    counts, orders, share, durable = reference_statistics(baskets, data.n_users, data.n_items)
    np.testing.assert_array_equal(rp.counts.toarray(), counts)
    np.testing.assert_array_equal(rp.orders, orders)
    np.testing.assert_allclose(rp.share, share)
    np.testing.assert_array_equal(rp.durable, durable)
    # the prior: the newest sixth of the baskets held out, the rest counted
    order = np.argsort(data.basket_times, kind="stable")
    n_val = int(len(baskets) * (1 / 6))
    kept = [baskets[b] for b in np.sort(order[: len(baskets) - n_val])]
    held = [baskets[b] for b in np.sort(order[len(baskets) - n_val :])]
    c, o, s, _ = reference_statistics(kept, data.n_users, data.n_items)
    ll = np.array([reference_log_likelihood(c, o, s, held, a) for a in PRIOR_GRID])
    np.testing.assert_allclose(rp.calibration["log_likelihood"], ll, rtol=1e-9)
    best = int(np.flatnonzero(ll == ll.max())[-1])
    assert rp.prior == PRIOR_GRID[best]
    assert rp.calibration["chosen"].tolist() == [k == best for k in range(len(PRIOR_GRID))]


def test_no_repeat_term_without_baskets_or_evidence() -> None:
    log = repeat_orders()
    plain = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    assert fit_repeat_purchases(plain) is None
    assert EASE(l2=1.0).fit(plain).repeat_purchases_ is None
    # too few held-out baskets
    assert (
        fit_repeat_purchases(interactions(log[log["day"] < 6 * MIN_VALIDATION_BASKETS - 6])) is None
    )
    # nobody ever comes back: the history cannot beat the popularity limit
    once = log.drop_duplicates("user").assign(order=lambda d: d["user"] + "-only")
    many = pd.concat(
        [once.assign(user=once["user"] + f"-{k}", order=once["order"] + f"-{k}") for k in range(12)]
    )
    assert fit_repeat_purchases(interactions(many)) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_users=st.integers(1, 6),
    n_items=st.integers(1, 7),
    n_baskets=st.integers(1, 25),
    n_held=st.integers(0, 8),
)
def test_log_likelihood_matches_the_reference(seed, n_users, n_items, n_baskets, n_held) -> None:
    rng = np.random.default_rng(seed)

    def draw(n):
        return [
            (
                int(rng.integers(n_users)),
                set(rng.choice(n_items, rng.integers(1, n_items + 1), replace=False).tolist()),
            )
            for _ in range(n)
        ]

    kept, held = draw(n_baskets), draw(n_held)
    counts, orders, share, _ = reference_statistics(kept, n_users, n_items)
    H = sp.csr_matrix((len(held), n_items), dtype=np.float32).tolil()
    for b, (_, items) in enumerate(held):
        for j in items:
            H[b, j] = 1.0
    users = np.array([u for u, _ in held], dtype=np.int64)
    priors = (0.5, 3.0, 1000.0)
    ll, n_baskets_out, n_outcomes = repeat_log_likelihood(
        sp.csr_matrix(counts, dtype=np.float32), orders, share, H.tocsr(), users, priors
    )
    expected = [reference_log_likelihood(counts, orders, share, held, a) for a in priors]
    np.testing.assert_allclose(ll, expected, rtol=1e-9)
    assert n_outcomes == sum(int((counts[u] > 0).sum()) for u, _ in held)
    assert n_baskets_out == sum(bool((counts[u] > 0).any()) for u, _ in held)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_users=st.integers(1, 6), n_items=st.integers(1, 7))
def test_probability_and_entries_follow_the_formula(seed, n_users, n_items) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 3, size=(n_users, n_items)).astype(np.float32)
    orders = counts.max(axis=1).astype(np.int64) + rng.integers(0, 3, size=n_users)
    share = rng.random(n_items)
    rp = RepeatPurchases(sp.csr_matrix(counts), orders, share, np.zeros(n_items, bool), 2.5)
    users = rng.integers(-1, n_users + 1, size=9)  # -1 and n_users: unknown to the counts
    items = rng.integers(0, n_items, size=9)
    p, bought, n = rp.probability(users, items, scale=0.5)
    for k, (u, j) in enumerate(zip(users, items, strict=True)):
        if 0 <= u < n_users and counts[u, j] > 0:
            assert p[k] == pytest.approx(0.5 * (counts[u, j] + 2.5 * share[j]) / (orders[u] + 2.5))
            assert bought[k] == counts[u, j] and n[k] == orders[u]
        else:
            assert p[k] == 0 and bought[k] == 0
    q, item, prob, h = rp.entries(users)
    for qq, j, pp, hh in zip(q, item, prob, h, strict=True):
        u = users[qq]
        assert counts[u, j] == hh > 0
        assert pp == pytest.approx((hh + 2.5 * share[j]) / (orders[u] + 2.5))
    assert len(q) == sum(int((counts[u] > 0).sum()) for u in users if 0 <= u < n_users)


def test_save_load_round_trip_and_checks() -> None:
    rp = fit_repeat_purchases(interactions(repeat_orders()))
    assert rp is not None
    meta: dict = {}
    arrays: dict = {}
    save_repeat_purchases(meta, arrays, rp)
    back = load_repeat_purchases(meta, arrays, *rp.counts.shape)
    assert back is not None and back.prior == rp.prior
    np.testing.assert_array_equal(back.counts.toarray(), rp.counts.toarray())
    np.testing.assert_array_equal(back.orders, rp.orders)
    np.testing.assert_array_equal(back.share, rp.share)
    np.testing.assert_array_equal(back.durable, rp.durable)
    bad = dict(arrays)
    bad["repeat_purchases.orders"] = np.zeros_like(rp.orders)
    with pytest.raises(ValueError, match="more orders with an item than orders"):
        load_repeat_purchases(meta, bad, *rp.counts.shape)
    with pytest.raises(ValueError, match="prior"):
        load_repeat_purchases({"repeat_purchases": {"prior": -1.0}}, arrays, *rp.counts.shape)
    bad = dict(arrays)
    bad["repeat_purchases.share"] = rp.share + 2.0
    with pytest.raises(ValueError, match="share"):
        load_repeat_purchases(meta, bad, *rp.counts.shape)


@pytest.mark.parametrize("name", ["EASE", "ALS"])
def test_models_save_their_repeat_term_and_old_files_load(name, tmp_path) -> None:
    from tests.test_persistence_bad_input import read_raw, write_raw

    data = interactions(repeat_orders())
    model = (
        EASE(l2=5.0, num_threads=1)
        if name == "EASE"
        else recsys.ALS(factors=4, iterations=2, random_state=0, num_threads=1)
    ).fit(data)
    assert model.repeat_purchases_ is not None
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = recsys.load(path)
    np.testing.assert_array_equal(
        loaded.repeat_purchases_.counts.toarray(), model.repeat_purchases_.counts.toarray()
    )
    assert loaded.repeat_purchases_.prior == model.repeat_purchases_.prior
    cart = ["i00"]
    pd.testing.assert_frame_equal(
        recsys.recommend_cross_sell(loaded, cart, n=5, user="u0"),
        recsys.recommend_cross_sell(model, cart, n=5, user="u0"),
    )
    # a file from before models learned repeat purchases: loads, without a repeat term
    meta, arrays = read_raw(path)
    meta["state"].pop("repeat_purchases")
    arrays = {k: v for k, v in arrays.items() if not k.startswith("repeat_purchases.")}
    write_raw(path, meta, arrays)
    old = recsys.load(path)
    assert old.repeat_purchases_ is None
    owned = set(data.matrix[data.user_ids.to_rows(["u0"])].indices.tolist())
    recs = recsys.recommend_cross_sell(old, cart, n=8, user="u0")
    assert not owned & set(old.item_ids_.to_rows(recs["item"].to_numpy()).tolist())


def test_als_partial_fit_keeps_its_repeat_term_and_saves(tmp_path) -> None:
    log = repeat_orders()
    model = recsys.ALS(factors=4, iterations=2, random_state=0, num_threads=1).fit(
        interactions(log)
    )
    rp = model.repeat_purchases_
    assert rp is not None
    new = pd.DataFrame(
        {
            "order": ["n1", "n1", "n2"],
            "user": ["newbie", "newbie", "u0"],
            "item": ["brand-new", "i00", "i01"],
            "time": pd.Timestamp("2025-01-01"),
        }
    )
    model.partial_fit(interactions(new))
    assert model.repeat_purchases_ is rp  # as fitted, until the next fit
    for user in ["newbie", "u0"]:
        recs = recsys.recommend_cross_sell(model, ["brand-new"], n=5, user=user)
        assert len(recs) == 5
    path = tmp_path / "als.npz"
    model.save(path)
    loaded = recsys.load(path)
    assert loaded.repeat_purchases_.counts.shape == (len(model.user_ids_), len(model.item_ids_))
    pd.testing.assert_frame_equal(
        recsys.recommend_cross_sell(loaded, ["i00"], n=6, user="u0"),
        recsys.recommend_cross_sell(model, ["i00"], n=6, user="u0"),
    )
    with pytest.raises(ValueError, match="cannot shrink"):
        rp.resized(1, 1)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_items=st.integers(3, 14), durables=st.booleans())
def test_calibrate_scale_matches_a_reference_ranking(seed, n_items, durables) -> None:
    from recsys.models.repeats import SCALE_GRID, calibrate_scale

    rng = np.random.default_rng(seed)
    n_users, n_held = 5, 30
    counts = rng.integers(0, 3, size=(n_users, n_items)).astype(np.float32)
    orders = counts.max(axis=1).astype(np.int64) + 1
    durable = (rng.random(n_items) < 0.2) if durables else np.zeros(n_items, bool)
    counts[:, durable] = 0
    owned = sp.csr_matrix(counts + (rng.random((n_users, n_items)) < 0.2) * durable)
    rp = RepeatPurchases(sp.csr_matrix(counts), orders, rng.random(n_items) * 0.3, durable, 2.0)
    H = (rng.random((n_held, n_items)) < 0.4).astype(np.float32)
    users = rng.integers(0, n_users, size=n_held)
    W = rng.normal(size=(n_items, n_items)).astype(np.float32) * 0.3
    found = calibrate_scale(lambda X: np.asarray(X @ W), sp.csr_matrix(H), users, rp, owned, 7)
    sizes = H.sum(axis=1)
    usable = np.flatnonzero(sizes >= 2)
    if usable.size < MIN_VALIDATION_BASKETS:
        assert found is None
        return
    scale, table = found
    pick_rng = np.random.default_rng(7)
    picks = pick_rng.integers(0, sizes[usable].astype(np.int64))
    expected = np.zeros(len(SCALE_GRID))
    for q, b in enumerate(usable):
        items = np.flatnonzero(H[b])
        hidden = items[picks[q]]
        visible = np.zeros(n_items, np.float32)
        visible[items[items != hidden]] = 1.0
        basket = (visible @ W).astype(np.float64)
        u = users[b]
        for g, c in enumerate(SCALE_GRID):
            scores = basket.copy()
            for j in range(n_items):
                if counts[u, j] > 0:
                    r = (counts[u, j] + 2.0 * rp.share[j]) / (orders[u] + 2.0)
                    s = max(basket[j], 0.0) * c
                    scores[j] = (s + r * (1 - min(s, 1.0))) / c
            scores[visible > 0] = -np.inf
            scores[(owned.toarray()[u] > 0) & durable] = -np.inf
            top = np.lexsort((np.arange(n_items), -scores))[:10]
            expected[g] += hidden in top and np.isfinite(scores[hidden])
    np.testing.assert_allclose(table["hit_rate@10"], expected / usable.size)
    best = max(range(len(SCALE_GRID)), key=lambda g: (expected[g], -abs(np.log2(SCALE_GRID[g]))))
    assert scale == SCALE_GRID[best]


def test_the_scale_is_chosen_with_a_model_fitted_on_the_earlier_baskets() -> None:
    from recsys.models.repeats import SCALE_GRID

    data = interactions(repeat_orders())
    seen: dict = {}

    def refit(baskets, user_items):
        seen["baskets"], seen["user_items"] = baskets.shape, user_items.shape
        seen["orders"] = int(user_items.sum())
        model = EASE(l2=5.0, num_threads=1).fit(baskets)
        return lambda histories: model.score_history_rows(histories, np.arange(data.n_items))

    rp = fit_repeat_purchases(data, refit)
    n_b = data.basket_matrix.shape[0]
    kept = n_b - int(n_b * (1 / 6))
    assert seen["baskets"] == (kept, data.n_items)
    assert seen["user_items"] == (data.n_users, data.n_items)
    earlier = np.argsort(data.basket_times, kind="stable")[:kept]  # the newest sixth held out
    assert seen["orders"] == int(data.basket_matrix[earlier].sum())
    table = rp.calibration.dropna(subset=["scale"])
    assert table["scale"].tolist() == list(SCALE_GRID)
    assert rp.scale == table.loc[table["chosen"], "scale"].item()
    assert fit_repeat_purchases(data).scale == 1.0  # without a model: the scale stays 1
