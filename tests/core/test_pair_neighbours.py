"""neighbours_from_pairs (counted pairs -> table) equals the co-occurrence kernel's table."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.core.cooccurrence import item_neighbours
from recsys.core.pair_neighbours import PAIR_SIMILARITIES, neighbours_from_pairs


def all_pairs(X: sp.csr_matrix) -> tuple[np.ndarray, ...]:
    """Every ordered co-occurring pair (a != b) with its binary count, and the supports."""
    B = sp.csr_matrix((np.ones(X.nnz), X.indices, X.indptr), shape=X.shape)
    C = (B.T @ B).tocoo()
    off = C.row != C.col
    support = np.diff(B.tocsc().indptr)
    return C.row[off], C.col[off], np.rint(C.data[off]).astype(np.int64), support


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_rows=st.integers(1, 40),
    n_items=st.integers(2, 25),
    density=st.floats(0.05, 0.6),
    similarity=st.sampled_from(PAIR_SIMILARITIES),
    k=st.integers(1, 30),
    min_count=st.integers(1, 3),
    shrinkage=st.sampled_from([0.0, 0.5, 3.0]),
)
def test_equals_the_kernel(
    seed: int,
    n_rows: int,
    n_items: int,
    density: float,
    similarity: str,
    k: int,
    min_count: int,
    shrinkage: float,
) -> None:
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_rows, n_items)) < density).astype(np.float32)
    dense[0, 0] = 1.0  # never empty
    X = sp.csr_matrix(dense)
    ref = item_neighbours(
        X, similarity, k, min_count=min_count, shrinkage=shrinkage, binary=True, num_threads=1
    )
    rows, cols, counts, support = all_pairs(X)
    perm = rng.permutation(rows.size)  # the order pairs arrive in does not matter
    got = neighbours_from_pairs(
        rows[perm],
        cols[perm],
        counts[perm],
        support,
        n_rows,
        similarity,
        k,
        min_count=min_count,
        shrinkage=shrinkage,
    )
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.scores, ref.scores)
    np.testing.assert_array_equal(got.counts, ref.counts)
    np.testing.assert_array_equal(got.item_support, ref.item_support)
    assert got.n_rows == ref.n_rows


def test_bad_pairs_are_refused() -> None:
    support = np.array([2, 2])
    with pytest.raises(ValueError, match="two different items"):
        neighbours_from_pairs(np.array([0]), np.array([0]), np.array([1]), support, 2)
    with pytest.raises(IndexError, match=r"in \[0, 2\)"):
        neighbours_from_pairs(np.array([0]), np.array([2]), np.array([1]), support, 2)
    with pytest.raises(ValueError, match="similarity must be one of"):
        neighbours_from_pairs(np.array([0]), np.array([1]), np.array([1]), support, 2, "bm25")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        neighbours_from_pairs(np.array([0]), np.array([1]), np.array([1]), support, 2, k=0)
