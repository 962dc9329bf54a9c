"""ItemItem(similarity="confidence").score_rows / score_history_rows of chosen items.

Every item that no history item lists gets the basket prior ``m p_j / (c(i) + m)``
(the history item with the fewest baskets), not only the most popular ones the
top-n queries carry: checked against a dense NumPy reference with the popular
list cut to a few items, so that most items are beyond it.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import recsys
from recsys.core.cooccurrence import NeighbourTable
from recsys.models import basket_probability as bp
from tests.models.test_basket_probability import SETTINGS, basket_log, interactions


def reference(
    model: recsys.ItemItem, data: recsys.Interactions, basket_rows: list[int], user_row: int
) -> np.ndarray:
    """Dense ``1 - (1 - b_j)(1 - r_j)`` in float64, every unlisted item with the prior.

    ``b_j = max_i P(j | i)`` over the basket items that list ``j``; an item no
    basket item lists (and not in the basket) gets ``m p_j / (c_min + m)``.
    """
    X = data.basket_matrix.copy()
    X.data[:] = 1
    dense = (X.T @ X).toarray().astype(np.float64)
    support = np.diag(dense).copy()
    np.fill_diagonal(dense, 0)
    p = support / X.shape[0]
    m = model.basket_prior_
    cond = np.where(dense > 0, (dense + m * p[None, :]) / (support[:, None] + m), 0.0)
    b = np.zeros(p.size)
    if basket_rows:
        b = cond[basket_rows].max(axis=0)
        unlisted = (dense[basket_rows] == 0).all(axis=0)
        unlisted[basket_rows] = False
        floor = m * p / (support[basket_rows].min() + m)
        b = np.where(unlisted, floor, b)
    r = np.zeros(p.size)
    if user_row >= 0 and model.repeat_prior_ is not None:
        counts, n_baskets, popularity = model._repeat_counts
        h = counts[user_row].toarray().ravel()
        a = model.repeat_prior_
        r = np.where(h > 0, (h + a * popularity) / (n_baskets[user_row] + a), 0.0)
    return b + r - b * r


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    m=st.sampled_from([0.5, 4.0, 1000.0]),
    a=st.sampled_from([None, 2.0]),
    popular=st.sampled_from([1, 3, 50]),
)
def test_every_unlisted_item_gets_the_prior(
    seed: int, m: float, a: float | None, popular: int
) -> None:
    log = basket_log(seed, n_items=25, n_baskets=120, repeat=0.4)
    data = interactions(log)
    with mock.patch.object(bp, "POPULAR_PRIOR_ITEMS", popular):
        model = recsys.ItemItem(k=50, basket_prior=m, repeat_prior=a, num_threads=1).fit(data)
        rng = np.random.default_rng(seed)
        items = np.arange(data.n_items)
        users = rng.choice(data.n_users, size=3, replace=False)
        got = model.score_rows(users, items)
        for q, row in enumerate(users.tolist()):
            history = data.matrix[row].indices.tolist()
            np.testing.assert_allclose(
                got[q], reference(model, data, history, row), rtol=2e-6, atol=1e-7
            )
        # a cart (no customer): the same rule without repeats; an empty cart scores 0
        carts = sp.csr_matrix(
            (np.ones(3, np.float32), [0, 7, 3], [0, 2, 3, 3]), shape=(3, data.n_items)
        )
        scored = model.score_history_rows(carts, items)
        np.testing.assert_allclose(
            scored[0], reference(model, data, [0, 7], -1), rtol=2e-6, atol=1e-7
        )
        np.testing.assert_allclose(scored[1], reference(model, data, [3], -1), rtol=2e-6, atol=1e-7)
        assert not scored[2].any()
        # recommend's scores are the same numbers (its popular entries are those of the
        # prior), except the popularity fill's 0
        recs = model.recommend(data.user_ids.to_external(users[:1]), n=3, exclude_seen=False)
        scored = recs[recs["score"] > 0]
        np.testing.assert_allclose(
            scored["score"].to_numpy(),
            model.score_items(data.user_ids.to_external(users[:1]), scored["item"])[0],
            rtol=1e-6,
        )


def test_a_best_seller_outranks_a_rare_item_seen_once_with_the_history() -> None:
    # "milk" is in most baskets but never with "bread"; "caviar" once, with bread
    rows = [("b0", "u0", "bread"), ("b0", "u0", "caviar")]
    rows += [(f"m{b}", f"u{b % 7}", "milk") for b in range(40)]
    rows += [(f"w{b}", f"u{b % 5}", "water") for b in range(60)]  # the most popular item
    rows += [("b1", "u1", "bread")]
    log = pd.DataFrame(rows, columns=["basket", "user", "item"])
    data = recsys.Interactions.from_pandas(
        log, user_col="user", item_col="item", basket_col="basket"
    )
    with mock.patch.object(bp, "POPULAR_PRIOR_ITEMS", 1):  # milk is beyond the popular list
        model = recsys.ItemItem(basket_prior=1000.0, repeat_prior=None, num_threads=1).fit(data)
        milk, caviar = model.item_ids_.to_rows(["milk", "caviar"])
        scores = model.score_history_rows(
            sp.csr_matrix(
                ([1.0], [model.item_ids_.to_rows(["bread"])[0]], [0, 1]),
                shape=(1, len(model.item_ids_)),
            ),
            [milk, caviar],
        )[0]
    n = 102  # baskets
    p_milk, p_caviar = 40 / n, 1 / n
    assert scores[1] == pytest.approx((1 + 1000 * p_caviar) / (2 + 1000), rel=1e-5)
    assert scores[0] == pytest.approx(1000 * p_milk / (2 + 1000), rel=1e-5)
    assert scores[0] > scores[1]


def test_unlisted_prior_edge_cases() -> None:
    t = NeighbourTable(
        indptr=np.array([0, 1, 2, 2, 2]),
        indices=np.array([1, 0], np.int32),
        scores=np.ones(2, np.float32),
        counts=np.array([1, 1], np.int32),
        item_support=np.array([3, 1, 2, 0], np.int32),
        n_rows=4,
    )
    one = np.array([0, 1])

    def prior(indptr, rows, items, m=2.0, scores=None):
        n_q = len(indptr) - 1
        if scores is None:
            scores = np.zeros((n_q, len(items)), np.float32)
        before = scores.copy()
        out = bp.unlisted_prior(t, np.asarray(indptr), np.asarray(rows), items, m, scores)
        assert out is scores and out.dtype == np.float32
        return out, before

    def unchanged(*args, **kwargs) -> bool:
        out, before = prior(*args, **kwargs)
        return np.array_equal(out, before)

    # no basket, no prior strength, no wanted item, an item nobody bought: nothing
    assert unchanged([0, 0], np.array([], np.int32), [2])
    assert unchanged(one, [0], [2], m=0.0)
    assert unchanged(one, [0], [])
    assert unchanged(one, [0], [3])
    # in the basket, or with evidence (a score): nothing
    assert unchanged(one, [0], [0, 0])
    assert unchanged(one, [0], [1, 2], scores=np.array([[0.5, 1e-6]], np.float32))
    # item 2 scored 0: m p_2 / (c(0) + m) = 2 * 0.5 / 5, in each of its columns
    got, _ = prior(one, [0], [2, 1, 2], scores=np.array([[0, 0.5, 0]], np.float32))
    np.testing.assert_allclose(got, [[0.2, 0.5, 0.2]], rtol=1e-6)
    # the basket item with the fewest baskets sets the strength; an empty basket gets none
    for indptr in ([0, 2, 2], [0, 0, 2]):
        got, _ = prior(indptr, [1, 0], [2, 0])
        filled = 0 if indptr[1] == 2 else 1
        expected = np.zeros((2, 2))
        expected[filled, 0] = 2 * 0.5 / 3
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    # several queries: what each basket holds is its own
    got, _ = prior([0, 1, 2], [0, 2], [0, 2])
    np.testing.assert_allclose(got, [[0.0, 0.2], [2 * 0.75 / 4, 0.0]], rtol=1e-6)
    # one query and the same query among others: the same cells
    single, _ = prior([0, 2], [2, 0], [0, 1, 2, 3], scores=np.array([[0, 0.3, 0, 0]], np.float32))
    multi, _ = prior(
        [0, 2, 2], [2, 0], [0, 1, 2, 3], scores=np.array([[0, 0.3, 0, 0]] * 2, np.float32)
    )
    np.testing.assert_array_equal(multi[0], single[0])
