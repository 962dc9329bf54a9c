"""Tests for the ALS solver kernels in :mod:`recsys.core.als`.

Every kernel is checked against a plain NumPy (float64) transcription of the
algorithm on small random inputs, and against ``implicit``'s compiled CPU
routines where their signatures allow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.core import als

implicit_als = pytest.importorskip("implicit.cpu._als")

SETTINGS = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------
# Random problems and NumPy references
# --------------------------------------------------------------------------


def make_problem(seed, n_rows, n_cols, f, density, neg_frac=0.0, empty_rows=True):
    """Random confidences (|c| in [0.5, 20]), factors and regularisation."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_cols)) < density
    if not empty_rows:
        mask[np.arange(n_rows), rng.integers(0, n_cols, n_rows)] = True
    conf = rng.uniform(0.5, 20.0, (n_rows, n_cols))
    conf *= np.where(rng.random((n_rows, n_cols)) < neg_frac, -1.0, 1.0)
    C = sp.csr_matrix(np.where(mask, conf, 0.0).astype(np.float32))
    X = (0.1 * rng.standard_normal((n_rows, f))).astype(np.float32)
    Y = (rng.standard_normal((n_cols, f)) / np.sqrt(f)).astype(np.float32)
    reg = float(rng.uniform(0.05, 2.0))
    return C, X, Y, reg


@st.composite
def problems(draw, neg=True, max_rows=14, max_cols=30, max_f=20, well_posed=False):
    """Random small problems.

    ``well_posed`` keeps ``n_cols >= f + 2`` so that ``Y^T Y`` has ``f`` distinct
    eigenvalues.  With fewer items than factors the row systems have only a few
    distinct eigenvalues, float32 CG exhausts its Krylov space within a few
    steps, and later steps divide by a ``p.Ap`` that is pure rounding noise; the
    iterates then wander by up to ~1e-2 (implicit's kernel does the same), so
    the CG comparisons use well-posed problems.
    """
    seed = draw(st.integers(0, 2**32 - 1))
    n_rows = draw(st.integers(1, max_rows))
    f = draw(st.integers(1, max_f))
    if well_posed:
        n_cols = f + 2 + draw(st.integers(0, max_cols))
    else:
        n_cols = draw(st.integers(1, max_cols))
    density = draw(st.floats(0.0, 1.0))
    neg_frac = draw(st.sampled_from([0.0, 0.3])) if neg else 0.0
    return make_problem(seed, n_rows, n_cols, f, density, neg_frac)


def ref_cg(C, X, Y, reg, cg_steps=3):
    """Direct float64 transcription of implicit's CPU conjugate-gradient half-step."""
    X = X.astype(np.float64)
    Y = Y.astype(np.float64)
    G = Y.T @ Y + reg * np.eye(Y.shape[1])
    for u in range(X.shape[0]):
        s, e = C.indptr[u], C.indptr[u + 1]
        if s == e:
            X[u] = 0.0
            continue
        items, confs = C.indices[s:e], C.data[s:e].astype(np.float64)
        x = X[u]
        r = -G @ x
        for i, c in zip(items, confs, strict=True):
            if c > 0:
                temp = c - (c - 1) * (Y[i] @ x)
            else:
                c = -c
                temp = -(c - 1) * (Y[i] @ x)
            r += temp * Y[i]
        p = r.copy()
        rsold = r @ r
        if rsold < 1e-20:
            continue
        for _ in range(cg_steps):
            Ap = G @ p
            for i, c in zip(items, confs, strict=True):
                Ap += (abs(c) - 1) * (Y[i] @ p) * Y[i]
            a = rsold / (p @ Ap)
            x += a * p
            r -= a * Ap
            rsnew = r @ r
            if rsnew < 1e-20:
                break
            p = r + (rsnew / rsold) * p
            rsold = rsnew
    return X


def ref_exact(C, Y, reg):
    """Dense normal equations solved with np.linalg.solve (float64)."""
    Y = Y.astype(np.float64)
    f = Y.shape[1]
    Cd = C.toarray().astype(np.float64)
    out = np.zeros((C.shape[0], f))
    for u in range(C.shape[0]):
        observed = np.zeros(C.shape[1], dtype=bool)
        observed[C.indices[C.indptr[u] : C.indptr[u + 1]]] = True
        if not observed.any():
            continue
        conf = np.where(observed, np.abs(Cd[u]), 1.0)  # c = 1 for unobserved
        pref = (Cd[u] > 0).astype(np.float64)  # p = 1 for positives only
        A = (Y.T * conf) @ Y + reg * np.eye(f)
        b = Y.T @ (conf * pref)
        out[u] = np.linalg.solve(A, b)
    return out


def ref_loss(C, X, Y, reg):
    """implicit's loss from its definition, densely (float64).

    sum c (p - x.y)^2 over all pairs (c = 1, p = 0 unobserved) + reg * norms,
    plus implicit's extra ``|c|`` for each stored negative, divided by
    ``sum |c| + n_rows * n_cols - nnz``.
    """
    X = X.astype(np.float64)
    Y = Y.astype(np.float64)
    Cd = C.toarray().astype(np.float64)
    observed = np.zeros(C.shape, dtype=bool)
    observed[np.repeat(np.arange(C.shape[0]), np.diff(C.indptr)), C.indices] = True
    conf = np.where(observed, np.abs(Cd), 1.0)
    pref = (Cd > 0).astype(np.float64)
    loss = (conf * (pref - X @ Y.T) ** 2).sum()
    loss += np.abs(Cd[observed & (Cd <= 0)]).sum()
    loss += reg * ((X**2).sum() + (Y**2).sum())
    return loss / (np.abs(C.data.astype(np.float64)).sum() + C.shape[0] * C.shape[1] - C.nnz)


def assert_close(actual, expected, tol):
    scale = 1.0 + np.abs(expected).max(initial=0.0)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol * scale)


# --------------------------------------------------------------------------
# Kernels vs references
# --------------------------------------------------------------------------


@SETTINGS
@given(problems(well_posed=True), st.sampled_from([1, 2, 3]), st.sampled_from([1, 2]))
def test_cg_matches_numpy_transcription(problem, cg_steps, num_threads):
    C, X0, Y, reg = problem
    # float64 CG is exact after f steps while float32 CG may still be converging,
    # so compare at most f steps (more steps: see the convergence test)
    cg_steps = min(cg_steps, Y.shape[1])
    X = X0.copy()
    als.least_squares_cg(C, X, Y, reg, cg_steps=cg_steps, num_threads=num_threads)
    assert X.dtype == np.float32
    assert_close(X, ref_cg(C, X0, Y, reg, cg_steps), 1e-4)


@SETTINGS
@given(problems(well_posed=True))
def test_cg_matches_implicit(problem):
    C, X0, Y, reg = problem
    ours, theirs = X0.copy(), X0.copy()
    als.least_squares_cg(C, ours, Y, reg, num_threads=1)
    implicit_als.least_squares_cg(C, theirs, Y, reg, num_threads=1)
    assert_close(ours, theirs, 1e-4)


@SETTINGS
@given(problems())
def test_exact_matches_dense_solve(problem):
    C, X, Y, reg = problem
    X[:] = 123.0  # overwritten, not used as a starting point
    als.least_squares_exact(C, X, Y, reg, num_threads=1)
    assert_close(X, ref_exact(C, Y, reg), 1e-4)


@SETTINGS
@given(problems())
def test_exact_matches_implicit(problem):
    C, X, Y, reg = problem
    theirs = np.zeros_like(X)
    implicit_als._least_squares(Y.T @ Y, C.indptr, C.indices, C.data, theirs, Y, reg)
    als.least_squares_exact(C, X, Y, reg, num_threads=1)
    assert_close(X, theirs, 1e-4)


@SETTINGS
@given(problems(), st.sampled_from([1, 2]))
def test_fold_in_matches_dense_solve(problem, num_threads):
    C, _, Y, reg = problem
    G = als.gramian(Y, reg)
    out = als.fold_in(C.indptr, C.indices, C.data, Y, G, num_threads=num_threads)
    assert out.shape == (C.shape[0], Y.shape[1])
    assert out.dtype == np.float32
    assert_close(out, ref_exact(C, Y, reg), 1e-4)


@SETTINGS
@given(problems())
def test_loss_matches_dense_formula_and_implicit(problem):
    C, X, Y, reg = problem
    ours = als.als_loss(C, X, Y, reg, num_threads=1)
    assert isinstance(ours, float)
    np.testing.assert_allclose(ours, ref_loss(C, X, Y, reg), rtol=1e-5)
    np.testing.assert_allclose(ours, implicit_als.calculate_loss(C, X, Y, reg), rtol=1e-4)


@SETTINGS
@given(problems(max_f=12, well_posed=True))
def test_cg_with_many_steps_converges_to_exact_solution(problem):
    C, X0, Y, reg = problem
    f = Y.shape[1]
    X = X0.copy()
    als.least_squares_cg(C, X, Y, reg, cg_steps=4 * f + 10, num_threads=1)
    assert_close(X, ref_exact(C, Y, reg), 1e-4)


def test_gramian():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((50, 7))
    G = als.gramian(Y, 0.5)
    assert G.dtype == np.float32 and G.flags.c_contiguous
    np.testing.assert_array_equal(G, G.T)
    np.testing.assert_allclose(G, Y.T @ Y + 0.5 * np.eye(7), rtol=1e-5, atol=1e-5)


def test_cg_alternating_fit_decreases_loss_like_implicit():
    C, _, _, _ = make_problem(3, 60, 40, 8, 0.2, empty_rows=False)
    rng = np.random.default_rng(0)
    X = (0.01 * rng.random((60, 8))).astype(np.float32)
    Y = (0.01 * rng.random((40, 8))).astype(np.float32)
    Xi, Yi = X.copy(), Y.copy()
    Ciu = C.T.tocsr()
    losses = []
    for _ in range(5):
        als.least_squares_cg(C, X, Y, 0.1)
        als.least_squares_cg(Ciu, Y, X, 0.1)
        implicit_als.least_squares_cg(C, Xi, Yi, 0.1)
        implicit_als.least_squares_cg(Ciu, Yi, Xi, 0.1)
        losses.append(als.als_loss(C, X, Y, 0.1))
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses[-1], als.als_loss(C, Xi, Yi, 0.1), rtol=1e-3)


# --------------------------------------------------------------------------
# Edge cases, code paths and determinism
# --------------------------------------------------------------------------


def test_empty_rows_are_zeroed_and_empty_inputs_work():
    C = sp.csr_matrix(np.array([[0, 2.0, 0], [0, 0, 0]], dtype=np.float32))
    Y = np.ones((3, 4), dtype=np.float32)
    for solve in (als.least_squares_cg, als.least_squares_exact):
        X = np.full((2, 4), 7.0, dtype=np.float32)
        solve(C, X, Y, 0.1)
        assert np.all(X[1] == 0) and np.all(np.isfinite(X[0])) and np.any(X[0] != 0)
    # no rows at all
    X = np.zeros((0, 4), dtype=np.float32)
    als.least_squares_cg(sp.csr_matrix((0, 3), dtype=np.float32), X, Y, 0.1)
    out = als.fold_in([0], [], [], Y, als.gramian(Y, 0.1))
    assert out.shape == (0, 4)
    # a query with no items gets zero factors
    out = als.fold_in([0, 0, 1], [2], [3.0], Y, als.gramian(Y, 0.1))
    assert np.all(out[0] == 0) and np.any(out[1] != 0)


def test_packed_and_gather_paths_are_bit_identical():
    """The CG kernel packs rows into a buffer unless they are too long; both paths agree."""
    C, X0, Y, reg = make_problem(7, 40, 300, 21, 0.3, neg_frac=0.2)
    G = als.gramian(Y, reg)
    chunks = als._chunks(C.indptr, Y.shape[1], 2)
    results = []
    for pack_rows in (0, 5, 1 << 20):  # never, only short rows, always
        X = X0.copy()
        als._cg_kernel(
            C.indptr, C.indices, C.data, X, Y, G, chunks, als._counter(), 2, 3, pack_rows
        )
        results.append(X)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    assert_close(results[0], ref_cg(C, X0, Y, reg), 1e-4)


def power_law_problem(seed, n_rows, n_cols, f):
    """Power-law row lengths, so that chunking/balancing has something to do."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.zipf(1.8, n_rows), n_cols)
    rows = np.repeat(np.arange(n_rows), lengths)
    cols = rng.integers(0, n_cols, rows.shape[0])
    C = sp.csr_matrix(
        (rng.uniform(1, 10, rows.shape[0]).astype(np.float32), (rows, cols)),
        shape=(n_rows, n_cols),
    )
    C.sum_duplicates()
    X = (0.1 * rng.standard_normal((n_rows, f))).astype(np.float32)
    Y = (0.1 * rng.standard_normal((n_cols, f))).astype(np.float32)
    return C, X, Y


@pytest.mark.parametrize("f", [7, 24, 64])
def test_results_do_not_depend_on_thread_count(monkeypatch, f):
    """Bit-identical results for 1 and 2 threads, and for the serial twins of the kernels
    (rows are independent, and no reduction is compiled into a loop that LLVM could version
    on runtime alias checks, which would make the summation order depend on heap addresses)."""
    C, X0, Y = power_law_problem(11, 2000, 300, f)
    Ciu = C.T.tocsr()
    runs = {}
    for threads in (1, 2, "serial"):
        # the size of a call picks the kernel: force the parallel ones, then the serial twins
        limit = 1 << 62 if threads == "serial" else -1
        monkeypatch.setattr(als, "_SERIAL_MAX_FLOPS", limit)
        threads = 1 if threads == "serial" else threads
        X, Yt = X0.copy(), Y.copy()
        for _ in range(2):
            als.least_squares_cg(C, X, Yt, 0.05, num_threads=threads)
            als.least_squares_cg(Ciu, Yt, X, 0.05, num_threads=threads)
        E = np.zeros_like(X0)
        als.least_squares_exact(C, E, Yt, 0.05, num_threads=threads)
        F = als.fold_in(C.indptr, C.indices, C.data, Yt, als.gramian(Yt, 0.05), threads)
        loss = als.als_loss(C, X, Yt, 0.05, num_threads=threads)
        runs[len(runs)] = (X, Yt, E, F, loss)
    for other in (1, 2):
        for a, b in zip(runs[0], runs[other], strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[0][2], runs[0][3])  # fold-in == exact half-step


def test_small_calls_run_the_serial_twins(monkeypatch):
    """Calls below _SERIAL_MAX_FLOPS never enter a parallel section (nothing to compile)."""
    entered = []
    monkeypatch.setattr(als, "parallel_section", lambda t: entered.append(t))
    C, X, Y, reg = make_problem(3, 30, 20, 8, 0.3)
    als.least_squares_cg(C, X, Y, reg)
    als.least_squares_exact(C, X, Y, reg)
    als.fold_in(
        C.indptr[:3], C.indices[: C.indptr[2]], C.data[: C.indptr[2]], Y, als.gramian(Y, reg)
    )
    als.als_loss(C, X, Y, reg)
    assert entered == []


def test_dynamic_scheduling_hands_out_every_chunk_once():
    """The shared counter really is shared: n_chunks successful pulls + one failed pull
    per worker.  (A privatised counter would leave the caller's at 0 and make every
    worker redo every chunk, silently doubling the work.)"""
    C, X, Y = power_law_problem(3, 500, 100, 8)
    G = als.gramian(Y, 0.1)
    n_workers = 2
    chunks = als._chunks(C.indptr, 8, n_workers)
    n_chunks = len(chunks) - 1
    assert n_chunks > n_workers
    counter = als._counter()
    als._cg_kernel(C.indptr, C.indices, C.data, X, Y, G, chunks, counter, n_workers, 3, 1000)
    assert counter[0] == n_chunks + n_workers
    counter = als._counter()
    failed = np.zeros(X.shape[0], dtype=bool)
    als._exact_kernel(C.indptr, C.indices, C.data, X, Y, G, chunks, counter, n_workers, failed)
    assert counter[0] == n_chunks + n_workers
    counter = als._counter()
    rows = np.zeros(X.shape[0])
    als._loss_kernel(
        C.indptr, C.indices, C.data, X, Y, G, chunks, counter, n_workers, rows, rows.copy()
    )
    assert counter[0] == n_chunks + n_workers


def test_chunks_cover_rows_in_order():
    indptr = np.concatenate(([0], np.cumsum(np.arange(100) % 7)))
    for threads in (1, 2, 3, 64, 1000):
        b = als._chunks(indptr, 16, threads)
        assert b[0] == 0 and b[-1] == 100 and np.all(np.diff(b) > 0)
    assert list(als._chunks(np.zeros(1, dtype=np.int64), 16, 2)) == [0]


def test_not_positive_definite_rows_fall_back_to_least_squares():
    # regularization 0 and a single item with confidence < 1: A = Y^T Y - 0.5 y y^T
    Y = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32)  # singular Y^T Y
    out = als.fold_in([0, 1], [0], [0.5], Y, als.gramian(Y, 0.0), num_threads=1)
    np.testing.assert_allclose(out, [[1.0, 0.0]], atol=1e-6)  # lstsq: min-norm solution


# --------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------


@pytest.fixture
def small():
    C, X, Y, reg = make_problem(5, 6, 8, 4, 0.5)
    return C, X, Y, reg


def test_dtype_conversions(small):
    C, X, Y, reg = small
    expected = X.copy()
    als.least_squares_cg(C, expected, Y, reg)
    # float64 data, int64 indices, float64 Y, COO input: converted
    C64 = C.astype(np.float64)
    C64.indices = C64.indices.astype(np.int64)
    C64.indptr = C64.indptr.astype(np.int64)
    for Cx in (C64, C.tocoo(), sp.csr_array(C)):
        got = X.copy()
        als.least_squares_cg(Cx, got, Y.astype(np.float64), reg)
        np.testing.assert_array_equal(got, expected)
    F = als.fold_in(
        C.indptr.tolist(), C.indices.tolist(), C.data.tolist(), Y.tolist(), als.gramian(Y, reg)
    )
    E = np.zeros_like(X)
    als.least_squares_exact(C, E, Y, reg)
    np.testing.assert_array_equal(F, E)


def test_rejects_wrong_factor_arrays(small):
    C, X, Y, reg = small
    with pytest.raises(TypeError, match="X must have dtype float32"):
        als.least_squares_cg(C, X.astype(np.float64), Y, reg)
    with pytest.raises(TypeError, match="X must be a numpy.ndarray"):
        als.least_squares_cg(C, X.tolist(), Y, reg)
    with pytest.raises(ValueError, match="X must be C-contiguous"):
        als.least_squares_exact(C, np.asfortranarray(X), Y, reg)
    ro = X.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="X must be writeable"):
        als.least_squares_cg(C, ro, Y, reg)
    with pytest.raises(TypeError, match="Cui must be a scipy.sparse"):
        als.least_squares_cg(C.toarray(), X, Y, reg)
    with pytest.raises(TypeError, match="Y must hold real numbers"):
        als.least_squares_cg(C, X, Y.astype(np.complex64), reg)
    with pytest.raises(ValueError, match="X and Y must not share memory"):
        als.least_squares_cg(sp.csr_matrix((6, 6), dtype=np.float32), X, X, reg)


def test_rejects_shape_mismatches(small):
    C, X, Y, reg = small
    with pytest.raises(ValueError, match=r"Cui has 6 rows but X has 5 rows"):
        als.least_squares_cg(C, X[:5].copy(), Y, reg)
    with pytest.raises(ValueError, match=r"Cui has 8 columns but Y has 7 rows"):
        als.least_squares_cg(C, X, Y[:7], reg)
    with pytest.raises(ValueError, match=r"X and Y must have the same number of factors"):
        als.least_squares_exact(C, X, Y[:, :3], reg)
    with pytest.raises(ValueError, match=r"Cui has 8 columns but Y"):
        als.als_loss(C, X, Y[:7], reg)
    with pytest.raises(ValueError, match=r"Y must be 2-D"):
        als.least_squares_cg(C, X, Y[:, 0], reg)
    G = als.gramian(Y, reg)
    with pytest.raises(ValueError, match=r"YtY_reg must have shape \(f, f\) = \(4, 4\)"):
        als.fold_in(C.indptr, C.indices, C.data, Y, G[:3, :3])
    with pytest.raises(ValueError, match="confidences must be 1-D with one value per entry"):
        als.fold_in(C.indptr, C.indices, C.data[:-1], Y, G)
    with pytest.raises(
        ValueError, match=r"item_indptr must start at 0 and end at len\(item_indices\)"
    ):
        als.fold_in(C.indptr[:-1], C.indices, C.data, Y, G)
    with pytest.raises(ValueError, match="item_indptr must be non-decreasing"):
        als.fold_in([0, 2, 1, 3], [0, 1, 2], [1.0, 1.0, 1.0], Y, G)
    with pytest.raises(ValueError, match=r"item_indices must lie in \[0, 8\)"):
        als.fold_in([0, 1], [8], [1.0], Y, G)
    with pytest.raises(TypeError, match="item_indices must hold integers"):
        als.fold_in([0, 1], [0.5], [1.0], Y, G)


def test_rejects_bad_values(small):
    C, X, Y, reg = small
    bad = C.copy()
    bad.indices[0] = 99  # out of range (scipy does not check on assignment)
    with pytest.raises(ValueError, match=r"Cui.indices must lie in \[0, 8\)"):
        als.least_squares_cg(bad, X, Y, reg)
    nan = C.copy()
    nan.data[0] = np.nan
    with pytest.raises(ValueError, match="Cui.data contains NaN"):
        als.least_squares_cg(nan, X, Y, reg)
    with pytest.raises(ValueError, match="regularization must be finite and >= 0"):
        als.least_squares_cg(C, X, Y, -1.0)
    with pytest.raises(TypeError, match="regularization must be a number"):
        als.gramian(Y, "a lot")
    with pytest.raises(ValueError, match="cg_steps must be >= 1"):
        als.least_squares_cg(C, X, Y, reg, cg_steps=0)
    with pytest.raises(TypeError, match="cg_steps must be an int"):
        als.least_squares_cg(C, X, Y, reg, cg_steps=2.0)
    with pytest.raises(ValueError, match="num_threads"):
        als.least_squares_cg(C, X, Y, reg, num_threads=-1)
    with pytest.raises(ValueError, match="confidences contains NaN"):
        als.fold_in([0, 1], [0], [np.inf], Y, als.gramian(Y, reg))


# --------------------------------------------------------------------------
# Numba on-disk cache
# --------------------------------------------------------------------------

KERNELS = [
    "_cg_kernel",
    "_exact_kernel",
    "_loss_kernel",
    "_cg_kernel_serial",
    "_exact_kernel_serial",
    "_loss_kernel_serial",
]


def test_kernels_are_cached_on_disk():
    """cache=True on every kernel: a fresh interpreter loads them instead of compiling."""
    from numba.core.caching import NullCache

    for name in KERNELS:
        assert not isinstance(getattr(als, name)._cache, NullCache), name
    # make sure this process has compiled (and therefore saved) the signatures used below
    script = textwrap.dedent(
        """
        import json
        import numpy as np, scipy.sparse as sp
        from recsys.core import als
        C = sp.random(30, 20, density=0.3, format="csr", dtype=np.float32, random_state=0)
        X = np.ones((30, 8), np.float32)
        Y = np.ones((20, 8), np.float32)
        for limit in (als._SERIAL_MAX_FLOPS, -1):  # the serial twins, then the parallel kernels
            als._SERIAL_MAX_FLOPS = limit
            als.least_squares_cg(C, X, Y, 0.1)
            als.least_squares_exact(C, X, Y, 0.1)
            als.fold_in(C.indptr, C.indices, C.data, Y, als.gramian(Y, 0.1))
            als.als_loss(C, X, Y, 0.1)
        print(json.dumps({k: [sum(getattr(als, k).stats.cache_hits.values()),
                              sum(getattr(als, k).stats.cache_misses.values())]
                          for k in KERNELS}))
        """
    ).replace("KERNELS", repr(KERNELS))
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    for _attempt in range(2):  # first run may compile and save; the second must load
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
        )
        stats = json.loads(proc.stdout.strip().splitlines()[-1])
        if all(hits > 0 and misses == 0 for hits, misses in stats.values()):
            break
    else:
        pytest.fail(f"kernels were recompiled instead of loaded from the cache: {stats}")
