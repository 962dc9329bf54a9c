"""Sparse EASE (recsys.core.sparse_ease): kernels against NumPy references, the public function's
contract (budget, zero diagonal, dense EASE at full density, thread independence), bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.core import sparse_ease as se
from recsys.core.cooccurrence import item_neighbours
from recsys.core.sparse_ease import keep_largest, ridge_columns, sparse_ease, support_size

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# references
# ---------------------------------------------------------------------------


def dense_ease(X: sp.spmatrix, l2: float) -> np.ndarray:
    """Steck's closed form in float64."""
    G = (X.T @ X).toarray().astype(np.float64)
    P = np.linalg.inv(G + l2 * np.eye(G.shape[0]))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    return B


def table_lookup(t_indptr, t_indices, t_gram, n):
    """The pruned Gramian as a dense matrix: a pair is known from either item's row."""
    G = np.zeros((n, n))
    for a in range(n):
        for t in range(t_indptr[a], t_indptr[a + 1]):
            G[a, t_indices[t]] = t_gram[t]
            G[t_indices[t], a] = t_gram[t]
    return G


def reference_ridge(t_indptr, t_indices, t_gram, diag, s_indptr, s_indices, l2):
    """np.linalg.solve on each support; the diagonally dominant retry where Cholesky fails."""
    n = diag.shape[0]
    G = table_lookup(t_indptr, t_indices, t_gram, n)
    out = np.zeros(s_indices.shape[0])
    retried = np.zeros(n, dtype=bool)
    for j in range(n):
        S = s_indices[s_indptr[j] : s_indptr[j + 1]]
        if S.size == 0:
            continue
        A = G[np.ix_(S, S)].copy()
        np.fill_diagonal(A, diag[S] + l2)
        try:
            np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            retried[j] = True
            off = np.abs(A).sum(axis=1) - np.abs(np.diag(A))
            A[np.diag_indices_from(A)] += off
        out[s_indptr[j] : s_indptr[j + 1]] = np.linalg.solve(A, G[S, j])
    return out, retried


def reference_sparse_ease(X: sp.csr_matrix, l2: float, density: float) -> np.ndarray:
    """The whole pipeline in NumPy, from the cosine neighbour table on."""
    n = X.shape[1]
    m = support_size(n, density)
    budget = math.floor(density * n * n)
    table = item_neighbours(X, "cosine", k=min(n - 1, se.TABLE_FACTOR * m), num_threads=1)
    G = (X.T @ X).toarray().astype(np.float64)
    supports = [table.indices[table.indptr[j] : table.indptr[j + 1]][:m] for j in range(n)]
    B = np.zeros((n, n))
    pruned_table = np.zeros((n, n))
    for a in range(n):
        nb = table.indices[table.indptr[a] : table.indptr[a + 1]]
        pruned_table[a, nb] = G[a, nb]
        pruned_table[nb, a] = G[a, nb]

    def solve(supports):
        B = np.zeros((n, n))
        for j, S in enumerate(supports):
            if S.size:
                A = pruned_table[np.ix_(S, S)].copy()
                np.fill_diagonal(A, np.diag(G)[S] + l2)
                B[S, j] = np.linalg.solve(A, G[S, j])
        return B

    B = solve(supports)
    values = np.concatenate([B[S, j] for j, S in enumerate(supports)]).astype(np.float32)
    if values.size > budget:
        keep = keep_largest(values, budget)
        cuts = np.cumsum([0] + [S.size for S in supports])
        supports = [S[keep[cuts[j] : cuts[j + 1]]] for j, S in enumerate(supports)]
        B = solve(supports)
    return B


@st.composite
def matrices(draw, max_rows=30, max_items=12, weighted=None):
    n_rows = draw(st.integers(1, max_rows))
    n_items = draw(st.integers(2, max_items))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    fill = draw(st.floats(0.1, 0.7))
    dense = (rng.random((n_rows, n_items)) < fill).astype(np.float32)
    if weighted if weighted is not None else draw(st.booleans()):
        dense *= rng.integers(1, 6, size=dense.shape).astype(np.float32)
    if dense.sum() == 0:
        dense[0, 0] = 1.0
    return sp.csr_matrix(dense)


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------


@st.composite
def ridge_problems(draw):
    """A random Gramian, a random pruned table of it and random supports."""
    n = draw(st.integers(1, 14))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = (rng.random((draw(st.integers(1, 25)), n)) < 0.5) * rng.integers(1, 4, size=(1, n))
    G = (X.T @ X).astype(np.float64)
    keep_pair = rng.random((n, n)) < draw(st.floats(0.2, 1.0))
    np.fill_diagonal(keep_pair, False)
    table = sp.csr_matrix(np.where(keep_pair, G, 0.0))
    table.eliminate_zeros()
    t_indices = table.indices.astype(np.int32)
    t_gram = table.data.astype(np.float32)
    # supports: random distinct other items, in random order
    s_lists = []
    for j in range(n):
        others = rng.permutation(np.delete(np.arange(n), j))
        s_lists.append(others[: draw(st.integers(0, n - 1))])
    s_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([s.size for s in s_lists], out=s_indptr[1:])
    s_indices = np.concatenate(s_lists).astype(np.int32) if n > 1 else np.zeros(0, np.int32)
    l2 = draw(st.sampled_from([0.01, 1.0, 10.0]))
    t_indptr = table.indptr.astype(np.int64)
    return t_indptr, t_indices, t_gram, np.diag(G).copy(), s_indptr, s_indices, l2


@SETTINGS
@given(ridge_problems(), st.sampled_from([1, 2]))
def test_ridge_kernel_matches_numpy_solve(problem, threads):
    got, retried = ridge_columns(*problem, num_threads=threads)
    want, want_retried = reference_ridge(*problem)
    assert got.dtype == np.float32
    np.testing.assert_allclose(
        got, want, rtol=2e-4, atol=2e-4 * max(1.0, np.abs(want).max(initial=0.0))
    )
    assert np.array_equal(retried, want_retried)


def test_ridge_kernel_retries_an_indefinite_pruned_gramian():
    # G of three items where the pair (1, 2) is missing from the table: with l2 small the
    # pruned G[S, S] for item 0's... use a hand-made indefinite block directly
    diag = np.array([1.0, 1.0, 1.0, 1.0])
    dense = np.array(
        [[0, 5, 5, 1], [5, 0, 0, 1], [5, 0, 0, 1], [1, 1, 1, 0]], dtype=np.float64
    )  # supports of item 3 = {0, 1, 2}: [[1, 5, 5], [5, 1, 0], [5, 0, 1]] is indefinite
    table = sp.csr_matrix(dense)
    s = sp.csr_matrix(np.array([[0, 0, 0, 0]] * 3 + [[1, 1, 1, 0]], dtype=np.float64))
    problem = (
        table.indptr.astype(np.int64),
        table.indices.astype(np.int32),
        table.data.astype(np.float32),
        diag,
        s.indptr.astype(np.int64),
        s.indices.astype(np.int32),
        0.01,
    )
    got, retried = ridge_columns(*problem, num_threads=1)
    want, want_retried = reference_ridge(*problem)
    assert retried.tolist() == [False, False, False, True] == want_retried.tolist()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.all(np.isfinite(got))


@SETTINGS
@given(
    st.lists(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0]), max_size=40),
    st.integers(-1, 45),
)
def test_keep_largest_matches_a_stable_sort(values, budget):
    values = np.asarray(values, dtype=np.float32)
    got = keep_largest(values, budget)
    order = np.argsort(-np.abs(values), kind="stable")
    want = np.zeros(values.size, dtype=bool)
    want[order[: max(budget, 0)]] = True
    assert np.array_equal(got, want)


def test_support_size():
    assert support_size(1_000, 0.005) == se.MIN_SUPPORT
    assert support_size(100_000, 0.005) == se.MAX_SUPPORT
    assert support_size(40_000, 0.005) == min(max(200, se.MIN_SUPPORT), se.MAX_SUPPORT)
    assert support_size(30, 0.001) == 29
    assert support_size(1, 1.0) == 0


# ---------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------


@SETTINGS
@given(matrices(), st.sampled_from([0.5, 10.0, 100.0]))
def test_full_density_with_every_pair_together_is_dense_ease(X, l2):
    X = sp.vstack([X, sp.csr_matrix(np.ones((1, X.shape[1]), dtype=np.float32))]).tocsr()
    B = sparse_ease(X, l2, 1.0, num_threads=1)
    want = dense_ease(X, l2)
    np.testing.assert_allclose(
        B.toarray(), want, atol=2e-5 * max(1.0, np.abs(want).max(initial=0.0))
    )


@SETTINGS
@given(matrices(), st.floats(0.01, 1.0), st.sampled_from([1.0, 50.0]))
def test_contract_budget_diagonal_canonical(X, density, l2):
    B = sparse_ease(X, l2, density, num_threads=1)
    n = X.shape[1]
    assert isinstance(B, sp.csr_matrix) and B.shape == (n, n) and B.dtype == np.float32
    assert B.nnz <= math.floor(density * n * n)
    assert np.all(B.diagonal() == 0)
    assert B.has_canonical_format and B.has_sorted_indices
    assert np.all(B.data != 0) and np.all(np.isfinite(B.data))
    # only co-occurring pairs carry weights
    together = (X.T @ X).toarray() > 0
    rows, cols = B.nonzero()
    assert np.all(together[rows, cols])


@SETTINGS
@given(matrices(max_items=10), st.floats(0.02, 1.0))
def test_matches_the_numpy_pipeline(X, density):
    B = sparse_ease(X, 5.0, density, num_threads=1)
    want = reference_sparse_ease(X, 5.0, density)
    np.testing.assert_allclose(
        B.toarray(), want, atol=1e-4 * max(1.0, np.abs(want).max(initial=0.0))
    )


def test_matches_the_numpy_pipeline_with_narrow_supports(monkeypatch):
    """Supports and table narrower than the catalog (as on large catalogs)."""
    monkeypatch.setattr(se, "MIN_SUPPORT", 4)
    monkeypatch.setattr(se, "MAX_SUPPORT", 4)
    monkeypatch.setattr(se, "TABLE_FACTOR", 2)
    rng = np.random.default_rng(7)
    X = sp.csr_matrix((rng.random((80, 25)) < 0.3).astype(np.float32))
    for density in (0.05, 0.12, 0.5):
        assert support_size(25, density) == 4
        B = sparse_ease(X, 3.0, density, num_threads=1)
        want = reference_sparse_ease(X, 3.0, density)
        np.testing.assert_allclose(
            B.toarray(), want, atol=1e-4 * max(1.0, np.abs(want).max(initial=0.0))
        )
        assert B.nnz <= math.floor(density * 25 * 25)
        assert np.all(np.diff(B.tocsc().indptr) <= 4)


def test_same_result_for_one_and_two_threads():
    rng = np.random.default_rng(3)
    X = sp.random(400, 60, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    X.data = np.ceil(X.data * 4)
    for density in (0.02, 0.2):
        one = sparse_ease(X, 20.0, density, num_threads=1)
        two = sparse_ease(X, 20.0, density, num_threads=2)
        assert np.array_equal(one.indptr, two.indptr)
        assert np.array_equal(one.indices, two.indices)
        assert np.array_equal(one.data, two.data)


def test_float64_and_float32_inputs_agree():
    rng = np.random.default_rng(4)
    X = sp.random(100, 20, density=0.2, format="csr", random_state=rng, dtype=np.float64)
    a = sparse_ease(X, 5.0, 0.3, num_threads=1)
    b = sparse_ease(X.astype(np.float32), 5.0, 0.3, num_threads=1)
    np.testing.assert_allclose(a.toarray(), b.toarray(), rtol=1e-4, atol=1e-6)


def test_tiny_budget_gives_an_empty_model():
    X = sp.csr_matrix(np.ones((3, 4), dtype=np.float32))
    B = sparse_ease(X, 1.0, 0.01, num_threads=1)  # floor(0.01 * 16) = 0 weights
    assert B.shape == (4, 4) and B.nnz == 0


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

GOOD = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))


@pytest.mark.parametrize("density", [0.0, -0.1, 1.5, float("nan"), float("inf")])
def test_bad_density(density):
    with pytest.raises(ValueError, match="density must be in"):
        sparse_ease(GOOD, 1.0, density)


@pytest.mark.parametrize("density", ["0.1", None, True])
def test_density_of_the_wrong_type(density):
    with pytest.raises(TypeError, match="density must be a number"):
        sparse_ease(GOOD, 1.0, density)


@pytest.mark.parametrize("l2", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_l2(l2):
    with pytest.raises(ValueError, match="l2 must be a finite number > 0"):
        sparse_ease(GOOD, l2, 0.5)


@pytest.mark.parametrize("l2", ["auto", None, False])
def test_l2_of_the_wrong_type(l2):
    with pytest.raises(TypeError, match="l2 must be a number"):
        sparse_ease(GOOD, l2, 0.5)


@pytest.mark.parametrize(
    "X",
    [
        sp.csr_matrix((0, 3), dtype=np.float32),
        sp.csr_matrix((3, 0), dtype=np.float32),
        sp.csr_matrix((3, 3), dtype=np.float32),
        sp.csr_matrix((np.zeros(2, np.float32), ([0, 1], [0, 1])), shape=(2, 2)),
    ],
)
def test_empty_X(X):
    with pytest.raises(ValueError, match="empty"):
        sparse_ease(X, 1.0, 0.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(bad):
    X = GOOD.copy()
    X.data[1] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        sparse_ease(X, 1.0, 0.5)


def test_negative_weights():
    X = GOOD.copy()
    X.data[1] = -1.0
    with pytest.raises(ValueError, match="negative"):
        sparse_ease(X, 1.0, 0.5)


def test_not_sparse():
    with pytest.raises(TypeError, match="scipy.sparse"):
        sparse_ease(GOOD.toarray(), 1.0, 0.5)


def test_complex_weights():
    with pytest.raises(TypeError, match="real weights"):
        sparse_ease(GOOD.astype(np.complex64), 1.0, 0.5)
