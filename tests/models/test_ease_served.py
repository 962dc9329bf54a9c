"""EASE's λ search on the served score: basket score and the customer's repeat term together."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.models import ease as ease_module
from recsys.models.ease import EASE, L2_GRID
from recsys.models.repeats import (
    SCALE_GRID,
    RepeatPurchases,
    fit_repeat_purchases,
    repeat_statistics,
    served_cells,
)
from tests.models.test_repeats import (
    baskets_of,
    interactions,
    reference_statistics,
    repeat_orders,
)


def reference_served_metrics(
    scores: np.ndarray,
    queries: np.ndarray,
    hidden: np.ndarray,
    repeats: RepeatPurchases,
    owned: np.ndarray,
    users: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """NDCG@10 and HR@10 per scale of the served score, and of the basket score, by loops."""
    m, n = scores.shape
    counts = repeats.counts.toarray()
    ndcg = np.zeros(len(SCALE_GRID))
    hit = np.zeros(len(SCALE_GRID))
    basket_ndcg = basket_hit = 0.0

    def metrics(row: np.ndarray, wanted: set[int]) -> tuple[float, float]:
        top = [j for j in sorted(range(n), key=lambda j: (-row[j], j))[:10] if row[j] > -np.inf]
        gains = [1.0 / math.log2(i + 2) for i, j in enumerate(top) if j in wanted]
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(wanted), 10)))
        return sum(gains) / ideal, float(bool(gains))

    for r in range(m):
        wanted = set(np.flatnonzero(hidden[r]).tolist())
        plain = scores[r].astype(np.float64).copy()
        plain[queries[r] > 0] = -np.inf
        nd, ht = metrics(plain, wanted)
        basket_ndcg += nd
        basket_hit += ht
        u = int(users[r])
        for g, c in enumerate(SCALE_GRID):
            row = scores[r].astype(np.float64).copy()
            for j in range(n):
                if u >= 0 and counts[u, j] > 0:
                    p = (counts[u, j] + repeats.prior * repeats.share[j]) / (
                        repeats.orders[u] + repeats.prior
                    )
                    s = max(row[j], 0.0) * c
                    row[j] = (s + p * (1.0 - min(s, 1.0))) / c
            row[queries[r] > 0] = -np.inf
            if u >= 0:
                row[(owned[u] > 0) & repeats.durable] = -np.inf
            nd, ht = metrics(row, wanted)
            ndcg[g] += nd
            hit[g] += ht
    return ndcg / m, hit / m, basket_ndcg / m, basket_hit / m


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    l2=st.sampled_from([0.5, 5.0, 50.0]),
    durables=st.booleans(),
)
def test_served_metrics_match_loops_on_the_heldout_scores(
    seed: int, l2: float, durables: bool
) -> None:
    # the held-out queries' scores (checked against a direct solve in test_ease.py), combined
    # with the customer's repeat probabilities at every scale, against the served score by loops
    rng = np.random.default_rng(seed)
    n_rows, n_items, n_users = 240, 14, 6
    # continuous weights: no tied scores, so the rankings must agree exactly
    X = sp.csr_matrix((rng.random((n_rows, n_items)) < 0.3) * rng.random((n_rows, n_items)))
    X = X.astype(np.float32)
    split = ease_module._split_rows(X, "baskets", None, seed)
    assert split.queries.shape[0] >= 15
    counts = rng.integers(0, 3, size=(n_users, n_items)).astype(np.float32)
    orders = counts.max(axis=1).astype(np.int64) + rng.integers(0, 3, size=n_users)
    durable = (rng.random(n_items) < 0.25) if durables else np.zeros(n_items, bool)
    counts[:, durable] = 0
    counts[0] = 0  # a customer with owned durables only: their queries change by exclusions alone
    owned = counts + (rng.random((n_users, n_items)) < 0.3) * durable
    owned[0, durable] = 1.0
    repeats = RepeatPurchases(
        sp.csr_matrix(counts),
        orders,
        rng.random(n_items) * 0.4,
        durable,
        float(rng.choice([1, 10])),
    )
    users = rng.integers(-1, n_users, size=split.queries.shape[0])
    served = ease_module._Served(repeats, sp.csr_matrix(owned), users)
    diagonal = np.empty(n_items, dtype=np.float32)
    weights = EASE(l2=l2, num_threads=1)._dense_fit(X, l2, diagonal)
    U, signs = ease_module._heldout_update(X, split.train)
    got = ease_module._heldout_metrics(
        weights, diagonal, U, signs, split.queries, split.hidden, served
    )
    scores = ease_module._heldout_scores(weights, diagonal, U, signs, split.queries)
    ndcg, hit, basket_ndcg, basket_hit = reference_served_metrics(
        scores, split.queries.toarray(), split.hidden.toarray(), repeats, owned, users
    )
    tol = 1e-9
    assert got.basket_ndcg == pytest.approx(basket_ndcg, abs=tol)
    assert got.basket_hit == pytest.approx(basket_hit, abs=tol)
    table = got.scales
    assert table is not None and table["scale"].tolist() == list(SCALE_GRID)
    np.testing.assert_allclose(table["ndcg@10"], ndcg, atol=tol)
    np.testing.assert_allclose(table["hit_rate@10"], hit, atol=tol)
    # the served metrics are those of the scale with the best NDCG@10 (ties: closest to 1)
    best = max(
        range(len(SCALE_GRID)),
        key=lambda g: (table["ndcg@10"].iloc[g], -abs(math.log2(SCALE_GRID[g]))),
    )
    assert got.scale == SCALE_GRID[best] and table["chosen"].tolist() == [
        g == best for g in range(len(SCALE_GRID))
    ]
    assert (got.ndcg, got.hit) == (table["ndcg@10"].iloc[best], table["hit_rate@10"].iloc[best])
    # without the repeat term: the basket score's metrics, as before
    plain = ease_module._heldout_metrics(weights, diagonal, U, signs, split.queries, split.hidden)
    assert (plain.ndcg, plain.hit) == pytest.approx((got.basket_ndcg, got.basket_hit))
    assert plain.scales is None and math.isnan(plain.scale)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_items=st.integers(10, 30))
def test_hidden_item_metrics_rank_as_the_general_metrics(seed: int, n_items: int) -> None:
    # one hidden item per row, ties broken by item row: as _ranking_metrics ranks
    rng = np.random.default_rng(seed)
    m = 12
    scores = rng.integers(0, 4, size=(m, n_items)).astype(np.float32)  # many ties
    queries = sp.csr_matrix(rng.random((m, n_items)) < 0.2)
    target = rng.integers(0, n_items, size=m)
    hidden = sp.csr_matrix((np.ones(m), (np.arange(m), target)), shape=(m, n_items))
    masked = scores.copy()
    masked[queries.toarray()] = -np.inf
    ndcg, hit = ease_module._hidden_item_metrics(masked, target)
    for r in range(m):
        order = sorted(range(n_items), key=lambda j: (-masked[r, j], j))
        rank = order.index(target[r])
        found = rank < 10 and masked[r, target[r]] > -np.inf
        assert hit[r] == found
        assert ndcg[r] == pytest.approx(1.0 / math.log2(rank + 2) if found else 0.0)
    if (
        n_items > 10
        and not (np.sort(masked, axis=1)[:, -10] == np.sort(masked, axis=1)[:, -11]).any()
    ):
        # no tie at the cut-off: the general metrics (argpartition) agree exactly
        assert (ndcg.sum(), hit.sum()) == pytest.approx(
            ease_module._ranking_metrics(scores.copy(), queries, hidden)
        )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_users=st.integers(1, 6), n_items=st.integers(1, 8))
def test_served_cells_are_the_owned_items_not_excluded(seed, n_users, n_items) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 3, size=(n_users, n_items)).astype(np.float32)
    durable = rng.random(n_items) < 0.3
    counts[:, durable] = 0
    owned = counts + (rng.random((n_users, n_items)) < 0.4) * durable
    orders = counts.max(axis=1).astype(np.int64) + 1
    rp = RepeatPurchases(sp.csr_matrix(counts), orders, rng.random(n_items) * 0.5, durable, 3.0)
    users = rng.integers(-1, n_users + 2, size=5)  # -1 and rows beyond the counts: no customer
    excluded = rng.random((5, n_items)) < 0.3
    before = excluded.copy()
    q, items, p = served_cells(rp, users, sp.csr_matrix(owned), excluded)
    want_cells, want_excluded = [], before.copy()
    for r, u in enumerate(users):
        if not 0 <= u < n_users:
            continue
        want_excluded[r, (owned[u] > 0) & durable] = True
        for j in range(n_items):
            if counts[u, j] > 0 and not want_excluded[r, j]:
                want_cells.append((r, j, (counts[u, j] + 3.0 * rp.share[j]) / (orders[u] + 3.0)))
    np.testing.assert_array_equal(excluded, want_excluded)
    assert list(zip(q.tolist(), items.tolist(), strict=True)) == [(r, j) for r, j, _ in want_cells]
    np.testing.assert_allclose(p, [w for _, _, w in want_cells])


def test_repeat_statistics_count_the_baskets_given() -> None:
    data = interactions(repeat_orders())
    X = data.basket_matrix.tocsr()
    keep = np.arange(X.shape[0]) % 3 != 0
    rp, owned = repeat_statistics(X[keep], data.basket_users[keep], data.n_users, prior=10.0)
    kept = [b for b, k in zip(baskets_of(data), keep, strict=True) if k]
    counts, orders, share, durable = reference_statistics(kept, data.n_users, data.n_items)
    np.testing.assert_array_equal(rp.counts.toarray(), counts)
    np.testing.assert_array_equal(rp.orders, orders)
    np.testing.assert_allclose(rp.share, share)
    np.testing.assert_array_equal(rp.durable, durable)
    assert (rp.prior, rp.scale) == (10.0, 1.0)
    by_hand = np.zeros((data.n_users, data.n_items))
    for user, items in kept:
        by_hand[user, list(items)] += 1
    np.testing.assert_array_equal(owned.toarray(), by_hand)


def test_auto_l2_validates_the_served_score_and_chooses_the_scale_with_it() -> None:
    data = interactions(repeat_orders())
    model = EASE(num_threads=1).fit(data)
    table = model.validation_
    assert table is not None and list(table.columns) == [
        "l2",
        "relative_l2",
        "ndcg@10",
        "hit_rate@10",
        "scale",
        "basket_ndcg@10",
        "basket_hit_rate@10",
    ]
    assert not table.attrs  # the per-scale table went to the repeat term's calibration
    best = int(np.argmax(table["ndcg@10"].to_numpy()))  # served NDCG@10; ties: smallest λ
    X = EASE()._prepare(data.basket_matrix)
    mean = float(X.multiply(X).sum()) / X.shape[1]
    assert model.l2_ == pytest.approx(table["relative_l2"].iloc[best] * mean)
    assert np.isin(table["relative_l2"], L2_GRID).all()
    rp = model.repeat_purchases_
    assert rp is not None and rp.scale == table["scale"].iloc[best]
    scales = rp.calibration.dropna(subset=["scale"])
    assert scales["scale"].tolist() == list(SCALE_GRID)
    assert scales.loc[scales["chosen"], "scale"].item() == rp.scale
    assert scales.loc[scales["chosen"], "ndcg@10"].item() == pytest.approx(
        table["ndcg@10"].iloc[best]
    )
    # the counts and the prior are fit_repeat_purchases' on all the baskets; no refit was needed
    plain = fit_repeat_purchases(data)
    assert plain is not None and rp.prior == plain.prior
    np.testing.assert_array_equal(rp.counts.toarray(), plain.counts.toarray())
    # on these customers, who re-buy their favourites, the served score finds more
    assert (table["ndcg@10"] > table["basket_ndcg@10"]).all()
    # the model is the fixed-λ fit at the chosen λ, and cross-sell serves it the chosen scale
    np.testing.assert_array_equal(
        EASE(l2=model.l2_, num_threads=1).fit(data).weights_, model.weights_
    )
    again = EASE(num_threads=1).fit(data)
    pd.testing.assert_frame_equal(again.validation_, table)
    assert again.repeat_purchases_.scale == rp.scale


def test_the_served_queries_repeat_term_comes_from_the_earlier_baskets() -> None:
    data = interactions(repeat_orders())
    X = EASE()._prepare(data.basket_matrix)
    split = ease_module._split_rows(X, "baskets", data.basket_times, 0)
    rp = fit_repeat_purchases(data)
    served = ease_module._served_context(X, data, split, rp)
    assert served is not None
    newest = np.argsort(-data.basket_times, kind="stable")[: split.held.size]
    np.testing.assert_array_equal(np.sort(newest), split.held)
    assert np.isin(split.picked, split.held).all()
    earlier = np.setdiff1d(np.arange(X.shape[0]), split.held)
    want, _ = repeat_statistics(X[earlier], data.basket_users[earlier], data.n_users, rp.prior)
    np.testing.assert_array_equal(served.repeats.counts.toarray(), want.counts.toarray())
    np.testing.assert_array_equal(served.users, data.basket_users[split.picked])
    # without a repeat term, or with rows = users: the basket score alone, as before
    assert ease_module._served_context(X, data, split, None) is None
    users_model = EASE(rows="users", num_threads=1).fit(data)
    assert "scale" not in users_model.validation_.columns


def test_served_model_saves_and_loads_its_scale(tmp_path) -> None:
    data = interactions(repeat_orders())
    model = EASE(num_threads=1).fit(data)
    path = tmp_path / "ease.npz"
    model.save(path)
    loaded = recsys.load(path)
    assert loaded.repeat_purchases_.scale == model.repeat_purchases_.scale
    pd.testing.assert_frame_equal(loaded.validation_, model.validation_, check_dtype=False)
    cart = ["i00", "i13"]
    pd.testing.assert_frame_equal(
        recsys.recommend_cross_sell(loaded, cart, n=5, user="u3"),
        recsys.recommend_cross_sell(model, cart, n=5, user="u3"),
    )


@pytest.mark.parametrize("repeating", [True, False])
def test_the_repeat_term_is_learned_once(repeating: bool, monkeypatch) -> None:
    # the served validation replaces the refit that calibrated the scale: no second model fit,
    # and fit_repeat_purchases runs once when it finds no repeat term
    log = repeat_orders()
    if not repeating:  # every order by a new customer: no history to repeat
        log["user"] = log["order"]
    data = interactions(log)
    calls: list[bool] = []
    real = ease_module.fit_repeat_purchases

    def counting(data, refit=None, random_state=0):
        calls.append(refit is not None)
        return real(data, refit, random_state)

    monkeypatch.setattr(ease_module, "fit_repeat_purchases", counting)
    model = EASE(num_threads=1).fit(data)
    assert calls == [False]
    assert (model.repeat_purchases_ is not None) == repeating
    assert ("scale" in model.validation_.columns) == repeating


@settings(max_examples=40, deadline=None)
@given(
    prior=st.one_of(st.floats(allow_nan=True), st.booleans(), st.none(), st.text(max_size=2)),
    shift=st.integers(-3, 3),
)
def test_repeat_statistics_and_served_cells_refuse_bad_input(prior, shift) -> None:
    b = sp.csr_matrix(np.array([[1, 1], [1, 0], [0, 1]], dtype=np.float32))
    good_prior = isinstance(prior, float) and math.isfinite(prior) and prior > 0
    if good_prior:
        repeat_statistics(b, np.array([0, 0, 1]), 2, prior)
    else:
        with pytest.raises(ValueError, match="prior and scale"):
            repeat_statistics(b, np.array([0, 0, 1]), 2, prior)
    users = np.array([0, 0, 1 + shift])
    if 0 <= 1 + shift < 2:
        repeat_statistics(b, users, 2, 1.0)
    else:
        with pytest.raises(ValueError, match="users must be rows"):
            repeat_statistics(b, users, 2, 1.0)
    with pytest.raises(ValueError, match="one int row per basket"):
        repeat_statistics(b, np.array([0, 1]), 2, 1.0)
    rp, owned = repeat_statistics(b, np.array([0, 0, 1]), 2, 1.0)
    n = 2 + max(shift, 0)
    if n == 2:
        assert served_cells(rp, np.array([0]), owned, np.zeros((1, 2), bool))[0].tolist() == [0, 0]
    else:
        with pytest.raises(ValueError, match="excluded must be a bool array"):
            served_cells(rp, np.array([0]), owned, np.zeros((1, n), bool))
    with pytest.raises(ValueError, match="owned must be users x items"):
        served_cells(rp, np.array([0]), owned[:1], np.zeros((1, 2), bool))
