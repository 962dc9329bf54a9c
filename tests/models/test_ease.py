"""EASE: the dense weights against NumPy, the λ search, memory refusal, rows, bad input, saving."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys import Interactions
from recsys.models import ease as ease_module
from recsys.models.ease import EASE, L2_GRID, available_memory, dense_fit_bytes
from recsys.selling import Rules, recommend_cross_sell
from tests.core.test_gramian import reference_ease


def binary(matrix: sp.spmatrix) -> np.ndarray:
    return (sp.csr_matrix(matrix).toarray() != 0).astype(np.float64)


# ------------------------------------------------------------------- the weights
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_rows=st.integers(2, 40),
    n_items=st.integers(2, 20),
    l2=st.floats(0.5, 200.0),
)
def test_dense_weights_match_numpy(seed, n_rows, n_items, l2) -> None:
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix((rng.random((n_rows, n_items)) < 0.3) * rng.integers(1, 5, (n_rows, n_items)))
    model = EASE(l2=l2, num_threads=1).fit(X)
    want = reference_ease(binary(X), l2)  # binary=True: presence, not the weights
    B = model.weights_
    assert isinstance(B, np.ndarray) and B.dtype == np.float32 and B.shape == (n_items, n_items)
    assert np.all(np.diagonal(B) == 0)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(B, want, atol=2e-4 * scale, rtol=1e-3)
    assert model.l2_ == l2 and model.validation_ is None and model.rows_ == "users"
    # a history's scores are the sum of its items' rows of B, clipped at 0
    hist = sp.csr_matrix(binary(X)[:3])
    np.testing.assert_allclose(
        model.score_history_rows(hist, np.arange(n_items)),
        np.maximum(binary(X)[:3] @ want, 0),
        atol=1e-3 * scale * n_items,
    )


def test_binary_false_uses_the_weights() -> None:
    rng = np.random.default_rng(1)
    X = sp.csr_matrix((rng.random((30, 8)) < 0.4) * rng.integers(1, 5, (30, 8)).astype(float))
    model = EASE(l2=3.0, binary=False).fit(X)
    np.testing.assert_allclose(model.weights_, reference_ease(X.toarray(), 3.0), atol=1e-3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    rows=st.sampled_from(["users", "baskets"]),
    l2=st.sampled_from([0.5, 5.0, 50.0, 500.0]),
)
def test_heldout_scores_equal_the_direct_solve(seed: int, rows: str, l2: float) -> None:
    # the Woodbury update of the full fit scores the queries as a fit on the training rows does
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix((rng.random((60, 15)) < 0.3).astype(np.float32))
    train, queries, hidden = ease_module._validation_split(X, rows, None, seed)
    U, signs = ease_module._heldout_update(X, train)
    want_gram = train.T @ train
    got_gram = X.T @ X + U.T @ sp.diags(signs) @ U
    np.testing.assert_allclose(got_gram.toarray(), want_gram.toarray(), atol=1e-6)
    diagonal = np.empty(15, dtype=np.float32)
    weights = EASE(l2=l2, num_threads=1)._dense_fit(X, l2, diagonal)
    P = np.linalg.inv((X.T @ X).toarray().astype(np.float64) + l2 * np.eye(15))
    np.testing.assert_allclose(diagonal, np.diag(P), rtol=1e-4)
    got = ease_module._heldout_scores(weights, diagonal, U, signs, queries)
    want = queries.toarray() @ reference_ease(train.toarray().astype(np.float64), l2)
    np.testing.assert_allclose(got, want, atol=2e-4 * max(1.0, float(np.abs(want).max())))
    # the metrics: NDCG@10 / HR@10 of the hidden items, the query's items excluded
    if queries.shape[0]:
        ndcg, hit = ease_module._heldout_metrics(weights, diagonal, U, signs, queries, hidden)[:2]
        ref_ndcg = ref_hit = 0.0
        for r in range(queries.shape[0]):
            s = want[r].copy()
            s[queries[r].indices] = -np.inf
            top = sorted(range(15), key=lambda j: (-s[j], j))[:10]
            wanted = set(hidden[r].indices.tolist())
            gains = [1.0 / math.log2(i + 2) for i, j in enumerate(top) if j in wanted]
            ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(wanted), 10)))
            ref_ndcg += sum(gains) / ideal
            ref_hit += float(bool(gains))
        assert ndcg == pytest.approx(ref_ndcg / queries.shape[0], abs=0.05)
        assert hit == pytest.approx(ref_hit / queries.shape[0], abs=0.05)


# ------------------------------------------------------------------- auto λ
def reference_search(ndcg: dict[int, float]) -> list[int]:
    """The grid indices the search of the module docstring tries, given NDCG@10 by index."""
    tried: list[int] = []

    def at(g: int) -> float:
        assert g in ndcg, f"the search needs grid point {g}, which the table lacks"
        if g not in tried:
            tried.append(g)
        return ndcg[g]

    size, g = L2_GRID.size, 4  # start at factor 1 (L2_GRID[4] == 1)
    at(g)
    direction = 0
    for step in (2, -2):
        if 0 <= g + step < size and at(g + step) > ndcg[g]:
            direction, g = step, g + step
            break
    while direction and 0 <= g + direction < size and at(g + direction) > ndcg[g]:
        g += direction
    sides = [h for h in (g - 2, g + 2) if h in tried]
    if sides:
        side = max(sides, key=lambda h: (ndcg[h], -h))
        at((g + side) // 2)
    return sorted(tried)


def test_auto_l2_picks_the_best_tried_and_is_deterministic(data: Interactions) -> None:
    a = EASE(num_threads=1).fit(data)
    b = EASE(num_threads=1).fit(data)
    table = a.validation_
    assert table is not None and list(table.columns) == [
        "l2",
        "relative_l2",
        "ndcg@10",
        "hit_rate@10",
    ]
    assert L2_GRID[4] == 1.0 and np.all(np.diff(np.log2(L2_GRID)) == 1)
    assert 3 <= len(table) <= 7 and np.isin(table["relative_l2"], L2_GRID).all()
    assert (table["l2"].diff().dropna() > 0).all()
    best = int(np.argmax(table["ndcg@10"].to_numpy()))  # the first (smallest λ) of the best
    X = EASE()._prepare(data.basket_matrix)
    mean = float(X.multiply(X).sum()) / X.shape[1]
    assert a.l2_ == pytest.approx(table["relative_l2"].iloc[best] * mean)
    np.testing.assert_allclose(table["l2"], table["relative_l2"] * mean)
    # the points tried are the search's: start at 1, walk by 4, one more halfway
    index = {
        int(np.flatnonzero(L2_GRID == r)[0]): v
        for r, v in zip(table["relative_l2"], table["ndcg@10"], strict=True)
    }
    assert reference_search(index) == sorted(index)
    assert a.l2_ == b.l2_
    pd.testing.assert_frame_equal(a.validation_, b.validation_)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    # the chosen fit is the model: the fixed-λ fit at the chosen λ, on all rows
    np.testing.assert_array_equal(EASE(l2=a.l2_, num_threads=1).fit(data).weights_, a.weights_)
    # another seed holds out other rows
    other = EASE(random_state=5, num_threads=1).fit(data)
    assert not np.array_equal(other.validation_["ndcg@10"], table["ndcg@10"])


@pytest.mark.parametrize(
    "curve, tried",
    [
        ({4: 0.5, 6: 0.4, 2: 0.6, 0: 0.55, 1: 0.7, 3: 0.1}, [0, 1, 2, 4, 6]),  # down, then halfway
        ({4: 0.5, 6: 0.6, 8: 0.7, 10: 0.8, 9: 0.9}, [4, 6, 8, 9, 10]),  # up to the top edge
        ({4: 0.5, 6: 0.4, 2: 0.4, 3: 0.6, 5: 0.9}, [2, 3, 4, 6]),  # tie between the sides: lower
    ],
)
def test_reference_search_on_known_curves(curve: dict[int, float], tried: list[int]) -> None:
    # the reference the model's search is checked against, on curves worked out by hand
    assert reference_search(curve) == tried


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.sampled_from(["users", "baskets"]))
def test_auto_l2_refit_and_woodbury_validate_alike(seed: int, rows: str) -> None:
    """Small catalogs validate λ by fitting the training rows, large ones by the Woodbury
    correction of the full fit (_woodbury_pays): the same numbers, the same λ and weights."""
    rng = np.random.default_rng(seed)
    n_rows, n_items = 60, 12
    log = pd.DataFrame(
        [
            (f"b{b}", f"u{b % 20}", f"i{i}")
            for b in range(n_rows)
            for i in rng.choice(n_items, size=int(rng.integers(2, 6)), replace=False)
        ],
        columns=["basket", "user", "item"],
    )
    data = Interactions.from_pandas(log, user_col="user", item_col="item", basket_col="basket")
    fits = {}
    for woodbury in (True, False):
        original = ease_module._woodbury_pays
        ease_module._woodbury_pays = lambda k, n, fits=5, _w=woodbury: _w
        try:
            fits[woodbury] = EASE(rows=rows, num_threads=1).fit(data)
        finally:
            ease_module._woodbury_pays = original
    a, b = fits[True], fits[False]
    assert a.l2_ == b.l2_
    pd.testing.assert_frame_equal(a.validation_, b.validation_, atol=1e-5, rtol=1e-4)
    np.testing.assert_array_equal(a.weights_, b.weights_)


def test_training_gramian_is_the_full_one_corrected_by_the_changed_rows() -> None:
    rng = np.random.default_rng(3)
    X = sp.csr_matrix((rng.random((50, 9)) < 0.4).astype(np.float32))
    split = ease_module._split_rows(X, "users", None, 0)
    U, signs = ease_module._heldout_update(X, split.train)
    corrected = (X.T @ X).toarray() + (U.T @ sp.diags(signs) @ U).toarray()
    np.testing.assert_allclose(corrected, (split.train.T @ split.train).toarray())
    assert ease_module._woodbury_pays(2_000, 30_000)
    assert not ease_module._woodbury_pays(2_000, 10_000)
    assert not ease_module._woodbury_pays(566, 1_404)


def test_auto_l2_validation_split() -> None:
    rng = np.random.default_rng(3)
    X = sp.csr_matrix((rng.random((200, 30)) < 0.2).astype(np.float32))
    # users: 30% of the users with >= 2 items hide 20% of their items; the rest stays in training
    train, queries, hidden = ease_module._validation_split(X, "users", None, 0)
    assert train.shape == X.shape and queries.shape[0] == hidden.shape[0] > 0
    assert (queries.multiply(hidden)).nnz == 0
    assert train.nnz + hidden.nnz == X.nnz
    assert queries.shape[0] == round(0.3 * int((np.diff(X.indptr) >= 2).sum()))
    # baskets with times: the newest 10% with >= 2 items are the queries and leave training;
    # one hidden item each; the newest with fewer items stay
    times = np.arange(200, dtype=np.float64)
    X = X.tolil()
    for r in range(180, 186):  # a few of the newest baskets hold one item
        X.rows[r], X.data[r] = [r % 30], [1.0]
    X = X.tocsr()
    train, queries, hidden = ease_module._validation_split(X, "baskets", times, 0)
    newest = np.arange(180, 200)
    long = newest[np.diff(X[newest].indptr) >= 2]
    short = newest[np.diff(X[newest].indptr) < 2]
    assert short.size and long.size  # the seed exercises both
    assert train[long].nnz == 0 and train[short].nnz == X[short].nnz
    assert train[:180].nnz == X[:180].nnz
    assert (np.diff(hidden.indptr) == 1).all()
    assert queries.shape[0] == long.size
    np.testing.assert_array_equal((queries + hidden).toarray(), X[long].toarray())


def test_auto_l2_without_validation_rows_falls_back() -> None:
    X = sp.identity(6, format="csr", dtype=np.float32)  # every row has one item
    model = EASE().fit(X)
    assert model.l2_ == pytest.approx(ease_module.FALLBACK_RELATIVE_L2 * 1.0)
    assert model.validation_ is not None and model.validation_.empty


# ------------------------------------------------------------------- memory
def test_memory_refusal_names_items_bytes_budget_and_the_sparse_form() -> None:
    X = sp.csr_matrix(np.eye(50, dtype=np.float32))
    with pytest.raises(MemoryError) as err:
        EASE(l2=1.0, max_memory=1000).fit(X)
    text = str(err.value)
    assert "50 items" in text and "density=0.005" in text and "max_memory=1000" in text
    assert "GB" in text
    with pytest.raises(MemoryError, match="a fixed l2"):  # auto needs twice as much
        EASE(max_memory=dense_fit_bytes(50, False)[0] + 1).fit(X)
    assert EASE(l2=1.0, max_memory=None).fit(X).weights_.shape == (50, 50)
    assert available_memory() > 0
    need, _ = dense_fit_bytes(100_000, False)
    assert need >= 4 * 100_000**2  # 40 GB for a 100k-item catalog


# ------------------------------------------------------------------- rows
def test_rows_baskets_and_users(log: pd.DataFrame, data: Interactions) -> None:
    auto = EASE(l2=2.0).fit(data)
    baskets = EASE(l2=2.0, rows="baskets").fit(data)
    users = EASE(l2=2.0, rows="users").fit(data)
    assert auto.rows_ == baskets.rows_ == "baskets" and users.rows_ == "users"
    np.testing.assert_array_equal(auto.weights_, baskets.weights_)
    scale = float(np.abs(baskets.weights_).max())
    np.testing.assert_allclose(
        baskets.weights_, reference_ease(binary(data.basket_matrix), 2.0), atol=2e-4 * scale
    )
    np.testing.assert_allclose(
        users.weights_, reference_ease(binary(data.matrix), 2.0), atol=2e-4 * scale
    )
    no_baskets = Interactions.from_pandas(log, user_col="user", item_col="item")
    assert EASE(l2=2.0).fit(no_baskets).rows_ == "users"
    with pytest.raises(ValueError, match="rows='baskets' needs interactions with baskets"):
        EASE(l2=2.0, rows="baskets").fit(no_baskets)


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"l2": -1.0}, "l2 must be 'auto' or a finite number > 0"),
        ({"l2": 0}, "l2 must be"),
        ({"l2": float("nan")}, "l2 must be"),
        ({"l2": float("inf")}, "l2 must be"),
        ({"l2": True}, "l2 must be"),
        ({"l2": "big"}, "l2 must be"),
        ({"rows": "orders"}, "rows must be one of"),
        ({"density": 0.0}, "density must be None"),
        ({"density": 1.5}, "density must be None"),
        ({"density": float("nan")}, "density must be None"),
        ({"density": "0.005"}, "density must be None"),
        ({"binary": "yes"}, "binary must be a bool"),
        ({"max_memory": -5}, "max_memory must be"),
        ({"max_memory": "lots"}, "max_memory must be"),
        ({"random_state": -1}, "random_state must be an int >= 0"),
    ],
)
def test_bad_parameters(params: dict, message: str, data: Interactions) -> None:
    with pytest.raises(ValueError, match=message):
        EASE(**params).fit(data)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    l2=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not v > 0 or math.isinf(v)),
        st.integers(max_value=0),
        st.text(max_size=4).filter(lambda v: v != "auto"),
        st.none(),
    )
)
def test_bad_l2_is_refused_never_fitted(l2: object) -> None:
    X = sp.csr_matrix(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="l2 must be 'auto' or a finite number > 0"):
        EASE(l2=l2).fit(X)  # type: ignore[arg-type]


def test_huge_weights_are_refused() -> None:
    X = sp.csr_matrix(np.array([[1e20, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="overflow the float32 Gramian"):
        EASE(l2=1.0, binary=False).fit(X)


# ------------------------------------------------------------------- serving
def test_similar_items_are_rows_of_b(data: Interactions) -> None:
    model = EASE(l2=2.0).fit(data)
    for row_id in range(6):
        item = data.item_ids.external_ids[row_id]
        sims = model.similar_items([item], n=12)
        row = model.weights_[row_id].copy()
        row[row_id] = 0.0
        positive = np.flatnonzero(row > 0)
        first = positive[np.lexsort((positive, -row[positive]))]
        rest = [i for i in model.popular_item_rows() if i != row_id and row[i] <= 0]
        want = np.r_[first, rest][:12]
        assert sims["similar_item"].tolist() == data.item_ids.to_external(want).tolist()
        np.testing.assert_allclose(sims["score"], np.maximum(row[want], 0))


def test_scores_are_clipped_and_zeros_ranked_by_popularity() -> None:
    # item 0 and 1 together, 2 and 3 together; 4 the best seller, never with 0
    X = sp.csr_matrix(
        np.array(
            [[1, 1, 0, 0, 1], [1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1]],
            dtype=np.float32,
        )
    )
    model = EASE(l2=0.5).fit(X)
    cart = sp.csr_matrix(np.array([[1, 0, 0, 0, 0]], dtype=np.float32))
    raw = cart.toarray() @ model.weights_
    assert (raw < 0).any()  # the history argues against some item
    scores = model.score_history_rows(cart, np.arange(5))
    np.testing.assert_array_equal(scores, np.maximum(raw, 0))
    ids, top = model._topn_histories(cart, 4, (np.array([0, 1]), np.array([0], np.int32)), None)
    positive = [i for i in np.argsort(-raw[0]) if raw[0, i] > 0 and i != 0]
    rest = [i for i in model.popular_item_rows() if i != 0 and i not in positive]
    assert ids[0].tolist() == (positive + rest)[:4]


def test_empty_history_gets_popularity(data: Interactions) -> None:
    model = EASE(l2=2.0).fit(data)
    empty = sp.csr_matrix((1, data.n_items), dtype=np.float32)
    assert not model.score_history_rows(empty, np.arange(data.n_items)).any()
    ids, scores = model._topn_histories(empty, 3, (np.array([0, 0]), np.empty(0, np.int32)), None)
    assert ids[0].tolist() == model.popular_item_rows()[:3].tolist()
    assert scores[0].tolist() == [0.0, 0.0, 0.0]


def test_cross_sell_goes_through_the_scoring_hook(data: Interactions) -> None:
    model = EASE(l2=2.0).fit(data)
    items = data.item_ids.external_ids
    basket = [items[0], items[3]]
    anonymous = recommend_cross_sell(model, basket, n=5, explain=False)
    cart = pd.DataFrame({"cart": ["c"] * 2, "item": basket})
    direct = model.recommend_for_history(cart, n=5, query_col="cart")
    assert anonymous["item"].tolist() == direct["item"].tolist()
    np.testing.assert_allclose(anonymous["score"], direct["score"], rtol=1e-6)
    user = data.user_ids.external_ids[0]
    personal = recommend_cross_sell(model, basket, n=5, user=user)
    owned = set(data.item_ids.to_external(data.matrix[0].indices))
    assert not personal["item"].isin(owned | set(basket)).any()  # default Rules(): never owned
    assert personal["because"].notna().any()
    repeats = recommend_cross_sell(model, basket, n=5, user=user, rules=Rules(exclude_owned=False))
    assert len(repeats) == 5


def test_sparse_form(data: Interactions) -> None:
    density = 0.1
    model = EASE(l2=2.0, density=density).fit(data)
    W = model.weights_
    assert sp.issparse(W) and W.dtype == np.float32
    assert W.nnz <= density * data.n_items**2
    assert W.diagonal().tolist() == [0.0] * data.n_items
    recs = model.recommend(data.user_ids.external_ids[:5], n=4)
    assert recs.groupby("user").size().eq(4).all()
    auto = EASE(density=density).fit(data)
    assert auto.l2_ > 0 and auto.validation_ is not None


# ------------------------------------------------------------------- saving
def test_save_dense_and_top_k(data: Interactions, tmp_path) -> None:
    model = EASE(l2=2.0).fit(data)
    model.save(tmp_path / "dense.npz")
    loaded = recsys.load(tmp_path / "dense.npz")
    assert isinstance(loaded, EASE) and loaded.l2_ == model.l2_ and loaded.rows_ == "baskets"
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    model.save(tmp_path / "small.npz", top_k=3)
    small = EASE.load(tmp_path / "small.npz")
    assert sp.issparse(small.weights_) and small.weights_.getnnz(axis=1).max() <= 3
    pruned = model.pruned(3)
    assert (small.weights_ != pruned.weights_).nnz == 0
    assert (pruned.weights_.data > 0).all()
    users = data.user_ids.external_ids[:10]
    pd.testing.assert_frame_equal(small.recommend(users, n=5), pruned.recommend(users, n=5))
    # each row keeps its largest positive weights
    row = model.weights_[2]
    kept = np.sort(pruned.weights_[2].indices)
    want = np.sort(np.lexsort((np.arange(row.size), -row))[:3])
    want = want[row[want] > 0]
    assert kept.tolist() == want.tolist()
    with pytest.raises(ValueError, match="top_k must be an int >= 1"):
        model.save(tmp_path / "bad.npz", top_k=0)


def test_load_refuses_a_tampered_state(data: Interactions, tmp_path) -> None:
    from recsys.io import codec

    model = EASE(l2=2.0).fit(data)
    meta, arrays = model._state()
    arrays["weights"] = arrays["weights"].copy()
    arrays["weights"][1, 1] = 0.5
    params = codec.json_params(model, meta)
    with pytest.raises(ValueError, match="diagonal must be 0"):
        EASE._from_state(params, meta, arrays)
    meta2, arrays2 = model._state()
    meta2["l2_"] = -1.0
    with pytest.raises(ValueError, match="bad l2_"):
        EASE._from_state(params, meta2, arrays2)
