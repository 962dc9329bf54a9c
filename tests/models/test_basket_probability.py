"""ItemItem(similarity="confidence"): the basket-completion probability against NumPy references."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.core.cooccurrence import item_neighbours
from recsys.models import basket_probability as bp
from recsys.selling import Rules, recommend_cross_sell, recommend_cross_sell_batch

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def basket_log(
    seed: int,
    n_users: int = 30,
    n_items: int = 12,
    n_baskets: int = 150,
    repeat: float = 0.0,
    start: str = "2024-01-01",
) -> pd.DataFrame:
    """Baskets of 1-5 items; with ``repeat`` > 0 each customer keeps re-buying a favourite item."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** 0.8
    p /= p.sum()
    favourites = rng.integers(0, n_items, size=(n_users, 1))
    rows = []
    for b in range(n_baskets):
        user = int(rng.integers(n_users))
        items = set(rng.choice(n_items, size=int(rng.integers(1, 6)), replace=False, p=p).tolist())
        if rng.random() < repeat:
            items |= set(favourites[user].tolist())
        when = pd.Timestamp(start) + pd.Timedelta(hours=b)
        rows += [(f"b{b}", f"u{user}", f"i{i:02d}", when) for i in sorted(items)]
    return pd.DataFrame(rows, columns=["basket", "user", "item", "time"])


def interactions(log: pd.DataFrame, time: bool = True) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(
        log,
        user_col="user",
        item_col="item",
        basket_col="basket",
        time_col="time" if time else None,
    )


# --------------------------------------------------------------------------- pieces
@SETTINGS
@given(seed=st.integers(0, 10_000), m=st.sampled_from([0.0, 1.0, 7.5, 300.0]))
def test_conditional_probabilities_match_dense_counts(seed: int, m: float) -> None:
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix((rng.random((40, 9)) < 0.3).astype(np.float32))
    table = item_neighbours(X, "confidence", k=8, min_count=1, num_threads=1)
    prob = bp.conditional_probabilities(table, m)
    dense = (X.T @ X).toarray().astype(np.float64)
    support, p = np.diag(dense), np.diag(dense) / X.shape[0]
    for i in range(9):
        for pos in range(table.indptr[i], table.indptr[i + 1]):
            j = table.indices[pos]
            expected = (dense[i, j] + m * p[j]) / (support[i] + m)
            assert prob[pos] == pytest.approx(expected, rel=1e-6)
    assert ((prob >= 0) & (prob <= 1)).all()


def test_user_basket_counts_and_repeat_probabilities() -> None:
    baskets = sp.csr_matrix(
        np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1]], dtype=np.float32)
    )
    counts, n = bp.user_basket_counts(baskets, np.array([0, 0, 1, 0]), 3)
    assert counts.toarray().tolist() == [[3, 1, 1], [0, 0, 1], [0, 0, 0]] and n.tolist() == [
        3,
        1,
        0,
    ]
    popularity = np.array([0.75, 0.25, 0.5])
    q = bp.probability_queries(
        np.array([0, 1, 1, 2]),
        np.array([1, 2]),
        np.array([0, -1, 1]),
        counts,
        n,
        popularity,
        repeat_prior=2.0,
        repeat_scale=0.5,
    )
    indptr, rows, weights, explain, direct = q
    assert indptr.tolist() == [0, 4, 4, 6]
    assert rows.tolist() == [1, 0, 1, 2, 2, 2]
    expected = [
        1.0,
        0.5 * (3 + 1.5) / 5,
        0.5 * (1 + 0.5) / 5,
        0.5 * (1 + 1.0) / 5,
        1.0,
        0.5 * (1 + 1.0) / 3,
    ]
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    assert explain.tolist() == [True, False, False, False, True, False]
    assert (direct == ~explain).all()
    # no repeat prior: the basket entries only
    plain = bp.probability_queries(
        np.array([0, 1, 1, 2]),
        np.array([1, 2]),
        np.array([0, -1, 1]),
        counts,
        n,
        popularity,
        repeat_prior=None,
    )
    assert plain[0].tolist() == [0, 1, 1, 2] and not plain[4].any()


# --------------------------------------------------------------------------- the cross-sell score
def reference_scores(
    model: recsys.ItemItem, data: recsys.Interactions, basket_rows: list[int], user_row: int
) -> np.ndarray:
    """Dense ``1 - (1 - max_i P(j | i)) (1 - r_j)`` from the training baskets, in float64.

    ``P(j | i)`` over the pairs seen together; a popular item (one of the
    ``POPULAR_PRIOR_ITEMS`` in most baskets) that no basket item was bought with
    gets the prior ``m p_j / (c(i) + m)`` of the basket item with the fewest baskets.
    """
    X = data.basket_matrix.copy()
    X.data[:] = 1
    dense = (X.T @ X).toarray().astype(np.float64)
    support = np.diag(dense).copy()
    np.fill_diagonal(dense, 0)
    p = support / X.shape[0]
    m = model.basket_prior_
    cond = np.where(dense > 0, (dense + m * p[None, :]) / (support[:, None] + m), 0.0)
    b = cond[basket_rows].max(axis=0) if basket_rows else np.zeros(p.size)
    if basket_rows:
        popular = np.lexsort((np.arange(p.size), -support))[: bp.POPULAR_PRIOR_ITEMS]
        popular = popular[support[popular] > 0]
        unlisted = (dense[basket_rows] == 0).all(axis=0)
        unlisted[basket_rows] = False
        floor = m * p / (support[basket_rows].min() + m)
        b[popular] = np.where(unlisted[popular], floor[popular], b[popular])
    r = np.zeros(p.size)
    if user_row >= 0 and model.repeat_prior_ is not None:
        mine = np.flatnonzero(data.basket_users == user_row)
        h = np.asarray(X[mine].sum(axis=0)).ravel()
        a = model.repeat_prior_
        r = np.where(h > 0, (h + a * p) / (mine.size + a), 0.0)
        # items nobody re-buys (enough buyers with another order, none bought it twice): no repeat
        per_user = np.zeros((data.n_users, p.size))
        for u in range(data.n_users):
            theirs = np.flatnonzero(data.basket_users == u)
            per_user[u] = np.asarray(X[theirs].sum(axis=0)).ravel() if theirs.size else 0
        orders = np.bincount(data.basket_users, minlength=data.n_users)
        buyers = ((per_user > 0) & (orders[:, None] >= 2)).sum(axis=0)
        durable = ((per_user >= 2).sum(axis=0) == 0) & (buyers >= bp.DURABLE_MIN_BUYERS)
        r[durable] = 0.0
    return b + r - b * r


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    m=st.sampled_from([0.5, 4.0, 50.0]),
    a=st.sampled_from([None, 1.0, 20.0]),
    popular=st.sampled_from([3, 50]),
    data=st.data(),
)
def test_cross_sell_scores_match_the_dense_reference(
    seed: int, m: float, a: float | None, popular: int, data
) -> None:
    log = basket_log(seed, repeat=0.4)
    inter = interactions(log)
    with mock.patch.object(bp, "POPULAR_PRIOR_ITEMS", popular):
        model = recsys.ItemItem(k=50, basket_prior=m, repeat_prior=a, num_threads=1).fit(inter)
        assert model.calibration_ is None and model.basket_prior_ == m
        assert model.repeat_prior_ == a
        items = list(inter.item_ids.external_ids)
        basket = data.draw(st.lists(st.sampled_from(items), min_size=1, max_size=4, unique=True))
        user = data.draw(st.sampled_from([None, "u0", "u3", "u7", "nobody"]))
        out = recommend_cross_sell(
            model, basket, n=len(items), user=user, explain=False, return_frame=False
        )
        rows = inter.item_ids.to_rows(basket).tolist()
        user_row = (
            int(inter.user_ids.to_rows([user], missing="ignore")[0]) if user is not None else -1
        )
        expected = reference_scores(model, inter, rows, user_row)
    got_rows = inter.item_ids.to_rows(out.item).tolist()
    assert not set(got_rows) & set(rows)
    np.testing.assert_allclose(out.score, expected[got_rows], rtol=2e-6, atol=1e-7)
    # ranked by score; every positive-score item comes before the popularity fill
    assert (np.diff(out.score) <= 2e-7).all()
    positive = {j for j in range(len(items)) if expected[j] > 0 and j not in rows}
    assert set(got_rows[: len(positive)]) == positive


def test_repeat_purchases_are_offered_and_explained() -> None:
    log = basket_log(0, repeat=0.9, n_baskets=300)
    inter = interactions(log)
    model = recsys.ItemItem(basket_prior=5.0, repeat_prior=2.0, num_threads=1).fit(inter)
    user = "u3"
    row = inter.user_ids.to_rows([user])[0]
    owned = set(inter.item_ids.to_external(inter.matrix[row].indices))
    recs = recommend_cross_sell(model, ["i11"], n=5, user=user)
    repeats = recs[recs["reason"].str.startswith("you bought it in")]
    assert not repeats.empty and set(repeats["item"]) <= owned
    n_orders = int((inter.basket_users == row).sum())
    assert repeats["reason"].str.endswith(f"of your {n_orders} orders").all()
    # owned items stay out with Rules(); user_weight=0 ignores the history
    assert (
        not set(recommend_cross_sell(model, ["i11"], n=5, user=user, rules=Rules())["item"]) & owned
    )
    anonymous = recommend_cross_sell(model, ["i11"], n=5)
    pd.testing.assert_frame_equal(
        recommend_cross_sell(model, ["i11"], n=5, user=user, user_weight=0.0), anonymous
    )


def test_batch_equals_single_calls() -> None:
    log = basket_log(1, repeat=0.5)
    model = recsys.ItemItem(num_threads=2).fit(interactions(log))
    carts = log[log["basket"].isin([f"b{i}" for i in range(0, 150, 7)])]
    batch = recommend_cross_sell_batch(model, carts, n=4, basket_col="basket", user_col="user")
    for basket, lines in carts.groupby("basket", sort=False):
        single = recommend_cross_sell(
            model, lines["item"].tolist(), n=4, user=lines["user"].iloc[0]
        )
        theirs = batch[batch["basket"] == basket].drop(columns="basket").reset_index(drop=True)
        pd.testing.assert_frame_equal(single, theirs)


# --------------------------------------------------------------------------- calibration
def test_calibration_trials_and_choice() -> None:
    model = recsys.ItemItem(num_threads=1).fit(
        interactions(basket_log(2, n_items=80, repeat=0.9, n_baskets=800))
    )
    trials = model.calibration_
    assert trials is not None and list(trials.columns) == [
        "basket_prior",
        "repeat_prior",
        "hit_rate@10",
        "chosen",
    ]
    first = trials[trials["repeat_prior"].isna()].head(len(bp.PRIOR_GRID))
    assert sorted(first["basket_prior"]) == sorted(bp.PRIOR_GRID)
    chosen = trials[trials["chosen"]]
    assert len(chosen) >= 1 and (chosen["basket_prior"] == model.basket_prior_).all()
    # the chosen prior is the best of the first stage or a stronger one (towards popularity)
    best = first.loc[first["hit_rate@10"].idxmax()]
    assert model.basket_prior_ >= best["basket_prior"]
    # customers who keep re-buying their favourites: repeats help
    assert model.repeat_prior_ is not None


def test_calibration_falls_back_to_best_sellers_without_co_purchase_signal() -> None:
    """Items bought independently of each other: the default ranks like the best-seller list."""
    rng = np.random.default_rng(12)
    n_items, p = 40, 0.5 / np.arange(1, 41) ** 0.7
    rows = []
    for b in range(1500):
        items = np.flatnonzero(rng.random(n_items) < p)
        user = int(rng.integers(500))
        rows += [
            (f"b{b}", f"u{user}", f"i{i:02d}", pd.Timestamp("2024-01-01") + pd.Timedelta(hours=b))
            for i in items
        ]
    log = pd.DataFrame(rows, columns=["basket", "user", "item", "time"])
    model = recsys.ItemItem(num_threads=1).fit(interactions(log))
    assert model.basket_prior_ == max(bp.PRIOR_GRID) and model.repeat_prior_ is None
    best_sellers = log.groupby("item")["basket"].nunique().sort_values(ascending=False)
    for basket in (["i30"], ["i05", "i39"], ["i00"]):
        recs = recommend_cross_sell(model, basket, n=8)
        expected = [i for i in best_sellers.index if i not in basket][:8]
        # equal counts may swap places; the sets of the top 8 agree
        assert set(recs["item"]) == set(expected), (basket, recs["item"].tolist(), expected)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    options=st.integers(2, 5),
    seed=st.integers(0, 10_000),
)
def test_one_standard_error_rule(n: int, options: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    hits = [rng.integers(0, 2, n).astype(float) for _ in range(options)]
    chosen = bp._one_standard_error(tuple(range(options)), hits)
    means = [h.mean() for h in hits]
    best = int(np.argmax(means))
    assert chosen <= best  # never a more complex option than the best
    d = hits[best] - hits[chosen]
    assert d.mean() <= d.std(ddof=1) / np.sqrt(n) + 1e-12
    for earlier in range(chosen):  # every simpler option is more than one SE worse
        d = hits[best] - hits[earlier]
        assert d.mean() > d.std(ddof=1) / np.sqrt(n)


def test_calibration_drops_repeats_when_nobody_rebuys() -> None:
    # every customer buys once: a "repeat" probability would only push owned items that never
    # come back
    log = basket_log(3, n_users=600, n_items=80, n_baskets=600)
    log["user"] = log["basket"].str.replace("b", "u")
    model = recsys.ItemItem(num_threads=1).fit(interactions(log))
    assert model.calibration_ is not None and model.repeat_prior_ is None


def test_fixed_priors_small_data_and_no_baskets() -> None:
    log = basket_log(4)
    fixed = recsys.ItemItem(basket_prior=3.0, repeat_prior=None).fit(interactions(log))
    assert fixed.calibration_ is None and (fixed.basket_prior_, fixed.repeat_prior_) == (3.0, None)
    tiny = recsys.ItemItem().fit(
        interactions(basket_log(5, n_baskets=40))
    )  # 6 held-out baskets: too few
    assert (
        tiny.calibration_ is None
        and tiny.basket_prior_ == bp.FALLBACK_BASKET_PRIOR
        and tiny.repeat_prior_ is None
    )
    users = recsys.Interactions.from_pandas(log, user_col="user", item_col="item")
    over_users = recsys.ItemItem().fit(users)
    assert over_users.basket_prior_ == bp.FALLBACK_BASKET_PRIOR and over_users.repeat_prior_ is None
    other = recsys.ItemItem(similarity="jaccard").fit(interactions(log))
    assert other.basket_prior_ is None and other.conditional_probability_ is None


def test_calibration_holds_out_the_latest_baskets(monkeypatch) -> None:
    log = basket_log(6)
    # the log lists baskets newest first: the hold-out must still be the newest by time
    log = log.iloc[::-1].reset_index(drop=True)
    seen = {}
    real = recsys.models.item_item.calibrate

    def spy(baskets, basket_users, order, *args, **kwargs):
        seen["order"] = order
        return real(baskets, basket_users, order, *args, **kwargs)

    monkeypatch.setattr(recsys.models.item_item, "calibrate", spy)
    inter = interactions(log)
    recsys.ItemItem().fit(inter)
    assert np.all(np.diff(inter.basket_times[seen["order"]]) >= 0)
    recsys.ItemItem().fit(interactions(log, time=False))
    assert seen["order"].tolist() == list(range(len(inter.basket_ids)))  # order of first appearance


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "big", True])
def test_bad_priors(bad: object) -> None:
    data = interactions(basket_log(7))
    with pytest.raises(ValueError, match="basket_prior"):
        recsys.ItemItem(basket_prior=bad).fit(data)
    with pytest.raises(ValueError, match="repeat_prior"):
        recsys.ItemItem(repeat_prior=bad).fit(data)


def test_save_load_and_partial_fit_keep_the_priors(tmp_path) -> None:
    log = basket_log(8, repeat=0.6, n_baskets=300)
    old, new = log[log["time"] < log["time"].iloc[-60]], log[log["time"] >= log["time"].iloc[-60]]
    model = recsys.ItemItem(num_threads=1).fit(interactions(old))
    model.save(tmp_path / "m.npz")
    loaded = recsys.load(tmp_path / "m.npz")
    assert (loaded.basket_prior_, loaded.repeat_prior_) == (
        model.basket_prior_,
        model.repeat_prior_,
    )
    pd.testing.assert_frame_equal(loaded.calibration_, model.calibration_)
    for user in ("u1", "u2", None):
        pd.testing.assert_frame_equal(
            recommend_cross_sell(loaded, ["i00", "i03"], n=6, user=user),
            recommend_cross_sell(model, ["i00", "i03"], n=6, user=user),
        )
    # partial_fit keeps the calibrated priors and equals a refit with them fixed
    model.partial_fit(interactions(new))
    refit = recsys.ItemItem(
        basket_prior=model.basket_prior_, repeat_prior=model.repeat_prior_, num_threads=1
    ).fit(interactions(pd.concat([old, new])))
    for user in ("u1", "u5"):
        pd.testing.assert_frame_equal(
            recommend_cross_sell(model, ["i01"], n=6, user=user),
            recommend_cross_sell(refit, ["i01"], n=6, user=user),
        )


# --------------------------------------------------------------------------- ItemItem item scores
@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    similarity=st.sampled_from(["cosine", "jaccard"]),
    binary=st.booleans(),
)
def test_item_scores_match_the_dense_product(seed: int, similarity: str, binary: bool) -> None:
    rng = np.random.default_rng(seed)
    log = basket_log(seed, n_items=25, n_baskets=120)
    log["qty"] = rng.integers(1, 4, size=len(log))
    inter = recsys.Interactions.from_pandas(
        log, user_col="user", item_col="item", basket_col="basket", weight_col="qty"
    )
    model = recsys.ItemItem(similarity=similarity, k=6, binary=binary, num_threads=1).fit(inter)
    users = rng.choice(model.user_ids_.external_ids, size=4, replace=False)
    items = rng.choice(model.item_ids_.external_ids, size=7, replace=True)
    user_rows, item_rows = model.user_ids_.to_rows(users), model.item_ids_.to_rows(items)
    expected = (model._history[user_rows] @ model.similarity_matrix_).toarray()[:, item_rows]
    np.testing.assert_allclose(model.score_items(users, items), expected, rtol=1e-5, atol=1e-7)
    # recommend's scores are the same numbers, to the last bit
    recs = model.recommend(users[:1], n=5)
    np.testing.assert_array_equal(
        model.score_items(users[:1], recs["item"])[0], recs["score"].to_numpy()
    )


@SETTINGS
@given(seed=st.integers(0, 10_000), a=st.sampled_from([None, 2.0]))
def test_user_recommendations_rank_by_the_same_probability(seed: int, a: float | None) -> None:
    """recommend / score_items of the probability model: the user's history is the basket."""
    log = basket_log(seed, n_items=25, n_baskets=150, repeat=0.5)
    inter = interactions(log)
    model = recsys.ItemItem(k=50, basket_prior=3.0, repeat_prior=a, num_threads=1).fit(inter)
    rng = np.random.default_rng(seed)
    users = rng.choice(inter.user_ids.external_ids, size=3, replace=False)
    items = inter.item_ids.external_ids
    for user in users:
        row = int(inter.user_ids.to_rows([user])[0])
        history = inter.matrix[row].indices.tolist()
        expected = reference_scores(model, inter, history, row)
        np.testing.assert_allclose(
            model.score_items([user], items)[0], expected, rtol=2e-6, atol=1e-7
        )
        recs = model.recommend([user], n=5, exclude_seen=False)
        got = inter.item_ids.to_rows(recs["item"])
        np.testing.assert_allclose(recs["score"], expected[got], rtol=2e-6, atol=1e-7)
        assert recs["score"].iloc[-1] >= np.sort(expected)[-5] - 1e-6  # the best five


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    a=st.sampled_from([None, 3.0]),
    m=st.sampled_from([None, 0.0, 5.0]),
    with_table=st.booleans(),
    k=st.integers(1, 9),
)
def test_one_basket_queries_equal_the_batch_ones(
    seed: int, a: float | None, m: float | None, with_table: bool, k: int
) -> None:
    """The single-basket fast path builds exactly the batch path's entries, in its order."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 5, 60
    X = sp.random(50, n_items, density=0.06, random_state=rng, format="csr", dtype=np.float32)
    X.data[:] = 1
    table = item_neighbours(X, "confidence", k=k, num_threads=1)
    counts = sp.random(n_users, n_items, density=0.2, random_state=rng, format="csr")
    counts.data = np.ceil(counts.data * 3).astype(np.float32)
    counts.sort_indices()
    n_baskets = counts.max(axis=1).toarray().ravel().astype(np.int64) + 1
    popularity = table.item_support / 50
    sizes = rng.integers(0, 4, 5)
    indptr = np.r_[0, np.cumsum(sizes)]
    rows = rng.integers(0, n_items, indptr[-1]).astype(np.int32)
    users = rng.integers(-1, n_users, 5).astype(np.int32)
    kw = {"table": table if with_table else None, "basket_prior": m}
    batch = bp.probability_queries(indptr, rows, users, counts, n_baskets, popularity, a, **kw)
    for i in range(5):
        one = bp.probability_queries(
            indptr[i : i + 2] - indptr[i],
            rows[indptr[i] : indptr[i + 1]],
            users[i : i + 1],
            counts,
            n_baskets,
            popularity,
            a,
            **kw,
        )
        part = slice(batch[0][i], batch[0][i + 1])
        for mine, theirs in zip(one[1:], batch[1:], strict=True):
            assert mine.dtype == theirs.dtype
            np.testing.assert_array_equal(mine, theirs[part])
