"""topn_shared: one ranking shared by all queries, against the brute-force NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.core.topn_shared import sort_scores, topn_shared_scores
from tests.core.reference import (
    SETTINGS,
    assert_same,
    random_allowed,
    random_exclusions,
    reference_topn,
)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(0, 50),
    n_queries=st.integers(0, 8),
    n=st.integers(1, 60),
)
def test_shared_matches_reference(seed, n_items, n_queries, n):
    rng = np.random.default_rng(seed)
    scores = rng.integers(-3, 4, n_items).astype(np.float32)  # many ties
    if n_items:
        scores[rng.integers(0, n_items)] = -np.inf
    order, scores_sorted = sort_scores(scores)
    ex_ip, ex_ix = random_exclusions(rng, n_queries, n_items)
    allowed = random_allowed(rng, n_items)
    want = reference_topn(np.tile(scores, (n_queries, 1)), n, ex_ip, ex_ix, allowed)
    got = topn_shared_scores(
        order, scores_sorted, n_queries, n, ex_ip, ex_ix, allowed, num_threads=2
    )
    assert_same(got, want)


def test_sort_scores_order():
    scores = np.array([2.0, 5.0, 2.0, -np.inf, 5.0, 0.0])
    order, s = sort_scores(scores)
    assert order.dtype == np.int32 and s.dtype == np.float32
    assert order.tolist() == [1, 4, 0, 2, 5, 3]
    assert s.tolist() == [5.0, 5.0, 2.0, 2.0, 0.0, -np.inf]


def test_shared_skips_duplicates_in_order():
    ids, _ = topn_shared_scores(np.array([2, 2, 0, 1]), np.array([3.0, 3.0, 2.0, 1.0]), 1, 3)
    assert ids.tolist() == [[2, 0, 1]]


@pytest.mark.parametrize("n", [0, -1])
def test_n_must_be_positive(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        topn_shared_scores(np.arange(3), np.ones(3), 1, n)


def test_shared_errors():
    with pytest.raises(ValueError, match="scores_sorted must have the shape"):
        topn_shared_scores(np.arange(3), np.ones(2), 1, 1)
    with pytest.raises(ValueError, match="n_queries must be a non-negative integer"):
        topn_shared_scores(np.arange(3), np.ones(3), -1, 1)
    with pytest.raises(ValueError, match="order must hold item ids"):
        topn_shared_scores(np.array([0, 5]), np.ones(2), 1, 2)
    with pytest.raises(ValueError, match=r"item_allowed must have shape \(3,\)"):
        topn_shared_scores(np.arange(3), np.ones(3), 1, 1, item_allowed=np.ones(4, bool))
    with pytest.raises(ValueError, match="must not contain NaN"):
        sort_scores(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="scores must be 1-D"):
        sort_scores(np.ones((2, 2)))
