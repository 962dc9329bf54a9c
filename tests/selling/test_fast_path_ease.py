"""A sparse EASE served through the neighbour kernel: its table, its answers, its cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import recsys.models.weight_neighbours as wn
from recsys import Interactions
from recsys.models.ease import EASE
from recsys.models.repeats import combine
from recsys.selling import recommend_cross_sell, recommend_cross_sell_batch
from recsys.selling._common import model_kind
from tests.selling.test_fast_path import interactions, make_orders, same_frame


def reference_table(B: np.ndarray, X: np.ndarray) -> list[list[tuple[int, float, int]]]:
    """Per item: (neighbour, weight, customers with both), weight descending then neighbour."""
    present = (X != 0).astype(np.int64)
    both = present.T @ present
    out = []
    for a in range(B.shape[0]):
        row = [
            (b, float(np.float32(B[a, b])), int(both[a, b]))
            for b in range(B.shape[1])
            if b != a and np.float32(B[a, b]) != 0
        ]
        out.append(sorted(row, key=lambda t: (-t[1], t[0])))
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    n_users=st.integers(1, 12),
    n_items=st.integers(1, 9),
    chunk=st.sampled_from([1, 7, 1 << 24]),
)
def test_weight_table_is_the_matrix(seed, n_users, n_items, chunk, monkeypatch) -> None:
    rng = np.random.default_rng(seed)
    B = np.where(rng.random((n_items, n_items)) < 0.4, rng.normal(size=(n_items, n_items)), 0.0)
    X = np.where(rng.random((n_users, n_items)) < 0.4, rng.integers(1, 4, (n_users, n_items)), 0)
    with monkeypatch.context() as patch:  # small chunks: the counts of many chunks
        patch.setattr(wn, "_CHUNK_WORK", chunk)
        table = wn.weight_neighbours(sp.csr_matrix(B), sp.csr_matrix(X))
    want = reference_table(B, X)
    assert table.indptr.tolist() == np.cumsum([0] + [len(r) for r in want]).tolist()
    got = list(
        zip(table.indices.tolist(), table.scores.tolist(), table.counts.tolist(), strict=True)
    )
    assert got == [t for row in want for t in row]
    assert table.item_support.tolist() == (X != 0).sum(axis=0).tolist()
    assert table.n_rows == n_users
    assert table.indices.dtype == np.int32 and table.scores.dtype == np.float32


@pytest.fixture(scope="module")
def data() -> Interactions:
    return interactions(make_orders(0))


@pytest.fixture(scope="module")
def sparse(data) -> EASE:
    return EASE(l2=5.0, density=0.3, num_threads=1).fit(data)


def test_a_sparse_ease_is_served_by_its_neighbour_table(data, sparse) -> None:
    assert model_kind(sparse) == "neighbours"
    assert model_kind(EASE(l2=5.0, num_threads=1).fit(data)) == "dense"
    assert sparse.neighbours_ is sparse.neighbours_  # built once per fit


@settings(max_examples=40, deadline=None)
@given(
    basket=st.lists(st.integers(0, 23), min_size=1, max_size=4, unique=True), n=st.integers(1, 8)
)
def test_anonymous_cross_sell_ranks_as_the_model(sparse, basket, n) -> None:
    """Without a customer, the list is the model's own for the basket: the sum of its rows."""
    items = [f"i{i:02d}" for i in basket]
    recs = recommend_cross_sell(sparse, items, n=n)
    cart = pd.DataFrame({"cart": ["c"] * len(items), "item": items})
    direct = sparse.recommend_for_history(cart, n=n, query_col="cart")
    assert recs["item"].tolist() == direct["item"].tolist()
    np.testing.assert_allclose(recs["score"], direct["score"], rtol=1e-5, atol=1e-6)


def reference_with_repeats(model: EASE, basket: list[int], user: int, n: int) -> list[float]:
    """Top-n scores by hand: the basket's summed rows of B, each owned item's repeat probability
    combined with it (noisy-or); the items scoring > 0 are the candidates (the neighbour
    kernels' rule), owned durables and the basket out, then the best sellers as the fill."""
    B = model.weights_.toarray().astype(np.float64)
    rp = model.repeat_purchases_
    rows = np.asarray(basket, dtype=np.int64)
    score = B[rows].sum(axis=0) if rows.size else np.zeros(B.shape[0])
    _, items, p, _ = rp.entries(np.array([user]))
    score[items] = combine(score[items], p, rp.scale)
    candidate = score > 0
    owned = model.user_items_[user].indices
    out = np.zeros(B.shape[0], bool)
    out[rows] = True
    out[owned[rp.durable[owned]]] = True
    chosen = sorted(np.flatnonzero(candidate & ~out), key=lambda j: (-score[j], j))[:n]
    top = [float(score[j]) for j in chosen]
    fill = [j for j in model.popular_item_rows() if not out[j] and j not in chosen]
    return top + [0.0] * min(n - len(top), len(fill))


@settings(max_examples=60, deadline=None)
@given(
    basket=st.lists(st.integers(0, 23), min_size=0, max_size=4, unique=True),
    user=st.integers(0, 29),
    n=st.integers(1, 12),
)
@example(basket=[7], user=0, n=11)  # an item the basket reaches with a negative weight
def test_a_customer_gets_the_exact_repeat_term_on_the_neighbour_path(
    sparse, basket, user, n
) -> None:
    """The neighbour path with the customer's repeat probabilities ranks as the dense formula
    (every item scored) would: the top n + R neighbours and the repeat items are enough."""
    rows = sparse.item_ids_.to_rows([f"i{i:02d}" for i in basket]).tolist()
    u = f"u{user}"
    if not basket:
        return  # an empty basket scores the customer's own history: covered elsewhere
    recs = recommend_cross_sell(sparse, [f"i{i:02d}" for i in basket], n=n, user=u)
    want = reference_with_repeats(sparse, rows, int(sparse.user_ids_.to_rows([u])[0]), n)
    np.testing.assert_allclose(recs["score"].to_numpy(), want, rtol=1e-4, atol=1e-5)
    B = sparse.weights_.toarray()
    got_rows = sparse.item_ids_.to_rows(recs["item"].tolist())
    for row, reason, score in zip(got_rows, recs["reason"], recs["score"], strict=True):
        if score > 0 and "you bought" not in str(reason).lower():
            assert (B[rows, row] != 0).any()  # explained by the basket: it reaches the item


def test_repeat_rows_say_so_and_owned_items_may_return(sparse) -> None:
    rp = sparse.repeat_purchases_
    user = int(np.argmax(rp.orders))
    u = sparse.user_ids_.to_external([user])[0]
    recs = recommend_cross_sell(sparse, ["i00"], n=20, user=u)
    owned = set(sparse.item_ids_.to_external(sparse.user_items_[user].indices).tolist())
    back = recs[recs["item"].isin(owned)]
    assert len(back) > 0
    assert back["reason"].str.contains("bought it in").any()


def test_explanations_count_customers(data, sparse) -> None:
    recs = recommend_cross_sell(sparse, ["i00", "i03"], n=8, user="u1")
    X = (data.matrix.toarray() != 0).astype(int)
    rows = sparse.item_ids_.to_rows
    for because, item, count in recs[["because", "item", "together_count"]].itertuples(index=False):
        if because is not None:
            a, b = rows([because])[0], rows([item])[0]
            assert count == int((X[:, a] & X[:, b]).sum())
    single = recommend_cross_sell(sparse, ["i00", "i03"], n=8, user="u1", return_frame=False)
    same_frame(single.to_pandas(), recs)
    batch = recommend_cross_sell_batch(
        sparse,
        pd.DataFrame(
            {
                "basket_id": ["q", "q", "r"],
                "item": ["i00", "i03", "i01"],
                "user": ["u1", "u1", None],
            }
        ),
        n=8,
        user_col="user",
    )
    mine = batch[batch["basket_id"] == "q"].drop(columns="basket_id").reset_index(drop=True)
    same_frame(recs, mine)


def test_the_table_follows_a_refit(sparse) -> None:
    model = EASE(l2=5.0, density=0.3, num_threads=1).fit(interactions(make_orders(1)))
    first = model.neighbours_
    model.fit(interactions(make_orders(5)))
    second = model.neighbours_
    assert second is not first
    B = model.weights_.toarray()
    want = reference_table(B, model.user_items_.toarray())
    got = list(
        zip(second.indices.tolist(), second.scores.tolist(), second.counts.tolist(), strict=True)
    )
    assert got == [t for row in want for t in row]
    fresh = EASE(l2=5.0, density=0.3, num_threads=1).fit(interactions(make_orders(5)))
    same_frame(recommend_cross_sell(model, ["i02"], n=6), recommend_cross_sell(fresh, ["i02"], n=6))
