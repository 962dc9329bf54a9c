"""Model-level checks against implicit on the same data (where both compute the same thing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recsys
from recsys.core.als import als_loss
from tests.models.contract import make_log


def _power_law(
    seed: int = 0, users: int = 400, items: int = 120, draws: int = 6000
) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, items + 1) ** 0.9
    m = sp.csr_matrix(
        (
            np.ones(draws, np.float32),
            (rng.integers(0, users, draws), rng.choice(items, draws, p=p / p.sum())),
        ),
        shape=(users, items),
    )
    m.sum_duplicates()
    return m


def _hit_rate(model: recsys.Recommender, test: sp.csr_matrix) -> float:
    users = np.flatnonzero(np.diff(test.indptr))
    ids, _ = model.recommend_rows(users, 10)
    hits = [
        np.isin(ids[i], test.indices[test.indptr[u] : test.indptr[u + 1]]).any()
        for i, u in enumerate(users)
    ]
    return float(np.mean(hits))


def test_numba_als_matches_implicit_als_in_loss_and_quality() -> None:
    full = _power_law()
    rng = np.random.default_rng(1)
    coo = full.tocoo()
    held = rng.random(coo.nnz) < 0.2
    train = sp.csr_matrix((coo.data[~held], (coo.row[~held], coo.col[~held])), shape=full.shape)
    test = sp.csr_matrix((coo.data[held], (coo.row[held], coo.col[held])), shape=full.shape)
    data = recsys.Interactions.from_csr(train)
    params = dict(factors=16, regularization=0.05, iterations=10, random_state=0, num_threads=1)
    ours = recsys.ALS(**params).fit(data)
    theirs = recsys.ALS(**params, backend="implicit").fit(data)
    loss_ours = als_loss(train, ours.user_factors_, ours.item_factors_, 0.05)
    loss_theirs = als_loss(train, theirs.user_factors_, theirs.item_factors_, 0.05)
    assert loss_ours == pytest.approx(loss_theirs, rel=0.05)
    # same model family, same data: held-out hit rates agree closely
    assert abs(_hit_rate(ours, test) - _hit_rate(theirs, test)) < 0.05


def test_fold_in_solves_the_user_normal_equations_exactly() -> None:
    """fold_in_rows = argmin_x sum_i c_i (p_i - x.y_i)^2 + reg |x|^2 for the final item factors."""
    data = recsys.Interactions.from_csr(_power_law(seed=2))
    model = recsys.ALS(factors=8, regularization=0.1, alpha=2.0, iterations=5, random_state=0).fit(
        data
    )
    rows = np.arange(20)
    folded = model.fold_in_rows(data.matrix[rows])
    Y = model.item_factors_.astype(np.float64)
    for k, u in enumerate(rows):
        items = data.matrix[u].indices
        conf = 2.0 * data.matrix[u].data.astype(np.float64)
        A = Y.T @ Y + 0.1 * np.eye(8) + (Y[items].T * (conf - 1.0)) @ Y[items]
        b = Y[items].T @ conf
        np.testing.assert_allclose(folded[k], np.linalg.solve(A, b), rtol=1e-3, atol=1e-4)
    # a training user's history, folded in, is close to their trained factors and ranks alike
    history = data.to_pandas()
    history = history[history["user"].isin(rows)]
    a = model.recommend(rows, n=5)
    b = model.recommend_for_history(history, n=5)
    overlap = [
        len(set(a.loc[a["user"] == u, "item"]) & set(b.loc[b["user"] == u, "item"])) / 5
        for u in rows
    ]
    assert np.mean(overlap) > 0.7


def test_item_item_cosine_ranks_like_implicit() -> None:
    from implicit.nearest_neighbours import CosineRecommender

    log = make_log(seed=3, n_users=80, n_items=50, n_orders=500)
    data = recsys.Interactions.from_pandas(log, user_col="user", item_col="item", weight_col="qty")
    ours = recsys.ItemItem(
        similarity="cosine", k=20, min_count=1, use_baskets=False, binary=False, num_threads=1
    ).fit(data)
    theirs = CosineRecommender(K=21, num_threads=1)  # implicit's K counts the item itself
    theirs.fit(data.matrix, show_progress=False)
    users = np.arange(data.n_users)
    ids_theirs, scores_theirs = theirs.recommend(
        users, data.matrix, N=5, filter_already_liked_items=True
    )
    ids_ours, scores_ours = ours.recommend_rows(users, 5)
    # compare scores (ids may differ only among exact ties)
    positive = scores_theirs > 0
    np.testing.assert_allclose(scores_ours[positive], scores_theirs[positive], rtol=1e-4)


def test_show_progress_draws_a_bar(capsys: pytest.CaptureFixture[str]) -> None:
    data = recsys.Interactions.from_csr(_power_law(seed=4, users=50, items=20, draws=300))
    recsys.ALS(factors=4, iterations=3, random_state=0).fit(data, show_progress=True)
    assert "ALS" in capsys.readouterr().err


def test_als_rejects_bad_hyper_parameters() -> None:
    data = recsys.Interactions.from_csr(_power_law(seed=5, users=30, items=10, draws=100))
    for params in (
        {"factors": 0},
        {"iterations": -1},
        {"regularization": np.nan},
        {"alpha": 0},
        {"backend": "gpu"},
        {"num_threads": -2},
        {"factors": 2.5},
    ):
        with pytest.raises((ValueError, TypeError)):
            recsys.ALS(**params).fit(data)


def test_als_is_reproducible_across_thread_counts() -> None:
    data = recsys.Interactions.from_csr(_power_law(seed=6))
    a = recsys.ALS(factors=8, iterations=3, random_state=7, num_threads=1).fit(data)
    b = recsys.ALS(factors=8, iterations=3, random_state=7, num_threads=2).fit(data)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    pd.testing.assert_frame_equal(a.recommend(np.arange(10), n=5), b.recommend(np.arange(10), n=5))
