"""topn_factors: exact pruned top-n by dot product, against brute-force NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.core import topn_factors, workers
from recsys.core.constraints import unconstrained
from recsys.core.topn_factors import (
    FactorIndex,
    build_factor_index,
    topn_factor_scores,
    topn_factor_scores_one,
)
from tests.core.reference import (
    SETTINGS,
    assert_same,
    eligible_mask,
    integer_factors,
    random_allowed,
    random_exclusions,
    reference_topn,
)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(0, 60),
    f=st.integers(0, 6),
    n_queries=st.integers(0, 7),
    n=st.integers(1, 70),
    block_size=st.integers(1, 9),
    power_law=st.booleans(),
    exclude=st.booleans(),
)
def test_factor_matches_reference_exact(
    seed, n_items, f, n_queries, n, block_size, power_law, exclude
):
    rng = np.random.default_rng(seed)
    items = integer_factors(rng, n_items, f, power_law)
    queries = rng.integers(-3, 4, (n_queries, f)).astype(np.float32)
    if n_queries:
        queries[0] = 0.0  # zero query: all scores tie at 0
    ex_ip, ex_ix = random_exclusions(rng, n_queries, n_items) if exclude else (None, None)
    allowed = random_allowed(rng, n_items)
    index = build_factor_index(items, block_size=block_size)
    scores = (queries.astype(np.float64) @ items.astype(np.float64).T).astype(np.float32)
    want = reference_topn(scores, n, ex_ip, ex_ix, allowed)

    got = topn_factor_scores(queries, index, n, ex_ip, ex_ix, allowed, num_threads=2)
    assert_same(got, want)
    for q in range(n_queries):
        excl = None if ex_ip is None else ex_ix[ex_ip[q] : ex_ip[q + 1]]
        one = topn_factor_scores_one(queries[q], index, n, excl, allowed)
        assert_same(one, (want[0][q], want[1][q]))


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(1, 400),
    f=st.integers(1, 32),
    n=st.integers(1, 30),
    decay=st.floats(0.0, 2.0),
)
def test_factor_float_pruning_is_exact(seed, n_items, f, n, decay):
    """Random float factors with power-law norms.

    Pruned (block_size=1) and unpruned scans compute the same float32 dot
    products, so their results must be identical; both must be a valid top-n
    of the float64 scores up to rounding.
    """
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_items, f))
    norms = rng.permutation(np.arange(1, n_items + 1) ** -decay)
    items = (dirs * norms[:, None]).astype(np.float32)
    queries = rng.standard_normal((5, f)).astype(np.float32)
    ex_ip, ex_ix = random_exclusions(rng, 5, n_items)
    allowed = random_allowed(rng, n_items) if rng.random() < 0.5 else None

    pruned = topn_factor_scores(
        queries, build_factor_index(items, block_size=1), n, ex_ip, ex_ix, allowed
    )
    full = topn_factor_scores(
        queries, build_factor_index(items, block_size=n_items + 1), n, ex_ip, ex_ix, allowed
    )
    assert_same(pruned, full)

    exact = queries.astype(np.float64) @ items.astype(np.float64).T
    tol = 1e-4 * (np.abs(queries).sum(axis=1)[:, None] * np.abs(items).max() + 1e-6)
    ids, scores = pruned
    for q in range(5):
        keep = eligible_mask(n_items, q, ex_ip, ex_ix, allowed)
        k = min(n, int(keep.sum()))
        row = ids[q, :k]
        assert np.all(ids[q, k:] == -1) and np.all(scores[q, k:] == -np.inf)
        assert len(set(row.tolist())) == k and np.all(keep[row])
        np.testing.assert_allclose(scores[q, :k], exact[q, row], rtol=0, atol=tol[q, 0])
        assert np.all(np.diff(scores[q, :k]) <= 0)
        if k:
            best = np.sort(exact[q, keep])[::-1]
            assert scores[q, k - 1] >= best[k - 1] - tol[q, 0]


def test_factor_pruning_triggers_on_power_law():
    rng = np.random.default_rng(7)
    n_items, f, n = 5000, 16, 10
    dirs = rng.standard_normal((n_items, f))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    items = (dirs * rng.permutation(np.arange(1, n_items + 1) ** -1.0)[:, None]).astype(np.float32)
    index = build_factor_index(items, block_size=16)
    queries = rng.standard_normal((50, f)).astype(np.float32)
    hs = np.empty(n, dtype=np.float32)
    hi = np.empty(n, dtype=np.int32)
    mark = np.zeros(n_items, dtype=bool)
    plan = topn_factors._plan(index)
    c = unconstrained(1, n_items)
    scanned = []
    for q in queries:
        _, rows = topn_factors._scan(q, plan, n, mark, c, 0, hs, hi)
        scanned.append(rows)
    assert np.median(scanned) < n_items / 10  # pruning cut most of the scan
    scores = (queries.astype(np.float64) @ items.astype(np.float64).T).astype(np.float32)
    want = reference_topn(scores, n)
    ids, _ = topn_factor_scores(queries, index, n)
    # float32 kernel vs float64 reference: top-n sets agree (no near-ties here)
    assert all(set(a) == set(b) for a, b in zip(ids.tolist(), want[0].tolist(), strict=True))


def test_factor_n_larger_than_items_and_empty_index():
    items = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    ids, scores = topn_factor_scores(np.array([[1.0, 1.0]]), build_factor_index(items), n=4)
    assert ids.tolist() == [[1, 0, -1, -1]]
    assert scores.tolist() == [[2.0, 1.0, -np.inf, -np.inf]]
    empty = build_factor_index(np.zeros((0, 3)))
    ids, scores = topn_factor_scores(np.ones((2, 3)), empty, n=2)
    assert ids.tolist() == [[-1, -1], [-1, -1]]
    ids, scores = topn_factor_scores_one(np.ones(3), empty, n=1)
    assert ids.tolist() == [-1] and scores.tolist() == [-np.inf]
    ids, scores = topn_factor_scores(np.ones((0, 2)), build_factor_index(items), n=3)
    assert ids.shape == (0, 3) and scores.shape == (0, 3)


def test_factor_chunking_and_threads(monkeypatch):
    rng = np.random.default_rng(3)
    items = integer_factors(rng, 40, 4, power_law=True)
    queries = rng.integers(-3, 4, (23, 4)).astype(np.float32)
    ex_ip, ex_ix = random_exclusions(rng, 23, 40)
    scores = (queries @ items.T).astype(np.float32)
    want = reference_topn(scores, 5, ex_ip, ex_ix)
    index = build_factor_index(items, block_size=4)
    monkeypatch.setattr(workers, "CHUNKS_PER_WORKER", 1)
    monkeypatch.setattr(workers, "MAX_CHUNK", 4)
    for threads in (1, 2):
        assert_same(topn_factor_scores(queries, index, 5, ex_ip, ex_ix, num_threads=threads), want)


def test_build_factor_index():
    items = np.array([[0.0, 1.0], [3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    index = build_factor_index(items, block_size=2)
    assert index.order.tolist() == [1, 0, 2, 3]  # equal norms keep id order
    assert index.norms.tolist() == [5.0, 1.0, 1.0, 0.0]
    assert index.factors.dtype == np.float32 and index.factors.flags.c_contiguous
    np.testing.assert_array_equal(index.factors, items[index.order].astype(np.float32))
    assert (index.n_items, index.n_factors, index.block_size) == (4, 2, 2)


# ---------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> FactorIndex:
    return build_factor_index(np.eye(4, 3))


@pytest.mark.parametrize("n", [0, -1])
def test_n_must_be_positive(index, n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        topn_factor_scores(np.ones((1, 3)), index, n)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        topn_factor_scores_one(np.ones(3), index, n)


def test_n_must_be_int(index):
    with pytest.raises(TypeError, match="n must be an int"):
        topn_factor_scores(np.ones((1, 3)), index, 2.5)


def test_factor_shape_errors(index):
    with pytest.raises(ValueError, match=r"query_factors must have shape \(n_queries, 3\)"):
        topn_factor_scores(np.ones((2, 4)), index, 1)
    with pytest.raises(ValueError, match=r"query_factors must have shape"):
        topn_factor_scores(np.ones(3), index, 1)
    with pytest.raises(ValueError, match=r"query_vector must have shape \(3,\)"):
        topn_factor_scores_one(np.ones((1, 3)), index, 1)
    with pytest.raises(TypeError, match="FactorIndex"):
        topn_factor_scores(np.ones((1, 3)), np.eye(3), 1)
    with pytest.raises(ValueError, match="exclude_items must hold item ids"):
        topn_factor_scores_one(np.ones(3), index, 1, exclude_items=[4])
    with pytest.raises(ValueError, match=r"item_allowed must have shape \(4,\)"):
        topn_factor_scores_one(np.ones(3), index, 1, item_allowed=np.ones(3, bool))


def test_exclusion_csr_errors(index):
    q = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"exclude_indptr must have length n_queries \+ 1 = 3"):
        topn_factor_scores(q, index, 1, np.array([0, 1]), np.array([0]))
    with pytest.raises(ValueError, match="must start at 0 and end at len"):
        topn_factor_scores(q, index, 1, np.array([0, 1, 2]), np.array([0]))
    with pytest.raises(ValueError, match="non-decreasing"):
        topn_factor_scores(q, index, 1, np.array([0, 2, 1]), np.array([0]))
    with pytest.raises(ValueError, match=r"exclude_indices must hold item ids in \[0, 4\)"):
        topn_factor_scores(q, index, 1, np.array([0, 1, 1]), np.array([7]))
    with pytest.raises(ValueError, match="given together"):
        topn_factor_scores(q, index, 1, exclude_indptr=np.array([0, 0, 0]))
    with pytest.raises(TypeError, match="integer array"):
        topn_factor_scores(q, index, 1, np.array([0.0, 1.0, 1.0]), np.array([0]))
    with pytest.raises(ValueError, match=r"item_allowed must have shape \(4,\)"):
        topn_factor_scores(q, index, 1, item_allowed=np.ones(3, bool))


def test_index_errors():
    with pytest.raises(ValueError, match="finite"):
        build_factor_index(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        build_factor_index(np.ones(3))
    good = build_factor_index(np.eye(3))
    with pytest.raises(ValueError, match="descending"):
        FactorIndex(good.factors, np.array([1, 2, 3], np.float32), good.order)
    with pytest.raises(ValueError, match="block_size"):
        FactorIndex(good.factors, good.norms, good.order, block_size=0)
    with pytest.raises(ValueError, match="order must be an int32 array"):
        FactorIndex(good.factors, good.norms, good.order.astype(np.int64))
