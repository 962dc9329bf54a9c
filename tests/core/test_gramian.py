"""The dense Gramian kernel and the EASE solve against plain NumPy (float64) references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.core.gramian import dense_gramian, ease_solve, ease_weights_from_inverse


def reference_ease(X: np.ndarray, l2: float) -> np.ndarray:
    """B = I - P diag(1 / diag(P)), P = (XᵀX + λI)⁻¹, in float64."""
    X = np.asarray(X, dtype=np.float64)
    P = np.linalg.inv(X.T @ X + l2 * np.eye(X.shape[1]))
    B = np.eye(X.shape[1]) - P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


def random_matrix(seed: int, n_rows: int, n_items: int, density: float, binary: bool):
    rng = np.random.default_rng(seed)
    X = sp.random(n_rows, n_items, density=density, format="csr", random_state=rng)
    X.data = np.ones_like(X.data) if binary else np.round(X.data * 4 + 1)
    return X.astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_rows=st.integers(0, 40),
    n_items=st.integers(1, 30),
    density=st.floats(0.0, 0.6),
    binary=st.booleans(),
    threads=st.sampled_from([1, 2]),
)
def test_gramian_matches_numpy(seed, n_rows, n_items, density, binary, threads) -> None:
    X = random_matrix(seed, n_rows, n_items, density, binary)
    got = dense_gramian(X.indptr, X.indices, X.data, n_items, num_threads=threads)
    want = X.toarray().astype(np.float64).T @ X.toarray().astype(np.float64)
    assert got.dtype == np.float32 and got.shape == (n_items, n_items)
    np.testing.assert_array_equal(got, want.astype(np.float32))  # small integers: exact


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_rows=st.integers(1, 50),
    n_items=st.integers(1, 25),
    density=st.floats(0.05, 0.6),
    l2=st.floats(0.5, 100.0),
    binary=st.booleans(),
)
def test_ease_solve_matches_numpy(seed, n_rows, n_items, density, l2, binary) -> None:
    X = random_matrix(seed, n_rows, n_items, density, binary)
    gram = dense_gramian(X.indptr, X.indices, X.data, n_items)
    got = ease_solve(gram, l2)
    want = reference_ease(X.toarray(), l2)
    assert got is gram  # in place
    assert np.all(np.diagonal(got) == 0)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, atol=2e-4 * scale, rtol=1e-3)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 20))
def test_weights_from_inverse_reads_the_lower_triangle(seed, n) -> None:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    P = A @ A.T + n * np.eye(n)
    lower = np.tril(P).astype(np.float32)
    lower[np.triu_indices(n, 1)] = rng.normal(size=n * (n - 1) // 2)  # garbage above
    got = ease_weights_from_inverse(lower)
    want = np.eye(n) - P / np.diag(P)[None, :]
    np.fill_diagonal(want, 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="l2 must be a finite number > 0"):
        ease_solve(np.eye(2, dtype=np.float32), 0.0)
    with pytest.raises(ValueError, match="l2 must be a finite number > 0"):
        ease_solve(np.eye(2, dtype=np.float32), float("nan"))
    with pytest.raises(ValueError, match="l2 must be a finite number > 0"):
        ease_solve(np.eye(2, dtype=np.float32), 10**400)
    with pytest.raises(ValueError, match="C-contiguous, square float32"):
        ease_solve(np.eye(2), 1.0)  # float64
    with pytest.raises(ValueError, match="C-contiguous, square float32"):
        ease_solve(np.asfortranarray(np.ones((2, 3), dtype=np.float32)), 1.0)
    not_pd = np.array([[1.0, 3.0], [3.0, 1.0]], dtype=np.float32)
    with pytest.raises(ValueError, match="not positive definite"):
        ease_solve(not_pd, 0.5)
    with pytest.raises(ValueError, match="finite and positive"):
        ease_weights_from_inverse(np.array([[0.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    with pytest.raises(ValueError, match="indices must be item columns"):
        dense_gramian([0, 1], [5], [1.0], 3)
    with pytest.raises(ValueError, match="not the parts of a CSR"):
        dense_gramian([0, 2], [0], [1.0], 3)
    assert dense_gramian([0], [], [], 0).shape == (0, 0)
    assert ease_solve(np.zeros((0, 0), dtype=np.float32), 1.0).shape == (0, 0)
