"""Tests of the fused top-n kernels against brute-force NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.core import topn
from recsys.core.topn import (
    FactorIndex,
    build_factor_index,
    sort_scores,
    topn_dense_scores,
    topn_factor_scores,
    topn_factor_scores_one,
    topn_neighbour_scores,
    topn_shared_scores,
)

SETTINGS = settings(max_examples=150, deadline=None)

# ---------------------------------------------------------------------------
# references and random inputs
# ---------------------------------------------------------------------------


def eligible_mask(
    n_items: int,
    q: int,
    ex_indptr: np.ndarray | None,
    ex_indices: np.ndarray | None,
    allowed: np.ndarray | None,
) -> np.ndarray:
    keep = np.ones(n_items, dtype=bool) if allowed is None else allowed.copy()
    if ex_indptr is not None:
        keep[ex_indices[ex_indptr[q] : ex_indptr[q + 1]]] = False
    return keep


def reference_topn(
    scores: np.ndarray,
    n: int,
    ex_indptr: np.ndarray | None = None,
    ex_indices: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: drop ineligible items, lexsort by (-score, id), take n, pad."""
    n_queries, n_items = scores.shape
    ids = np.full((n_queries, n), -1, dtype=np.int32)
    out = np.full((n_queries, n), -np.inf, dtype=np.float32)
    for q in range(n_queries):
        keep = eligible_mask(n_items, q, ex_indptr, ex_indices, allowed) & ~np.isnan(scores[q])
        cand = np.flatnonzero(keep)
        s = scores[q, cand]
        o = np.lexsort((cand, -s))[:n]
        ids[q, : len(o)] = cand[o]
        out[q, : len(o)] = s[o]
    return ids, out


def random_exclusions(
    rng: np.random.Generator, n_queries: int, n_items: int, max_per_row: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """CSR of excluded ids: empty rows, duplicates and all-excluded rows included."""
    rows = []
    for _ in range(n_queries):
        kind = rng.integers(0, 5)
        if kind == 0 or n_items == 0:
            rows.append(np.empty(0, dtype=np.int32))
        elif kind == 1:
            rows.append(rng.permutation(n_items).astype(np.int32))  # everything excluded
        else:
            rows.append(rng.integers(0, n_items, rng.integers(0, max_per_row + 1)).astype(np.int32))
    indptr = np.zeros(n_queries + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate(rows) if rows else np.empty(0, dtype=np.int32)
    return indptr, indices.astype(np.int32)


def random_allowed(rng: np.random.Generator, n_items: int) -> np.ndarray | None:
    kind = rng.integers(0, 3)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random(n_items) < 0.7
    return np.zeros(n_items, dtype=bool)  # nothing allowed


def assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    ids, scores = got
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    np.testing.assert_array_equal(ids, want[0])
    np.testing.assert_array_equal(scores, want[1])


# ---------------------------------------------------------------------------
# kernel 1: factor models
# ---------------------------------------------------------------------------


def integer_factors(rng: np.random.Generator, n_items: int, f: int, power_law: bool) -> np.ndarray:
    """Small integer factors: every dot product is exact in float32, ties abound."""
    x = rng.integers(-3, 4, (n_items, f)).astype(np.float32)
    if power_law:
        scale = np.maximum(1, np.round(300.0 / np.arange(1, n_items + 1) ** 1.2))
        x *= rng.permutation(scale)[:, None]
    return x


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
    empty = np.empty(0, dtype=np.int32)
    mask = np.ones(1, dtype=bool)
    scanned = []
    for q in queries:
        _, rows = topn._scan_factors(
            q,
            index.factors,
            index.norms,
            index.order,
            16,
            n,
            topn._margin(f),
            mask,
            False,
            empty,
            mask,
            False,
            hs,
            hi,
        )
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
    monkeypatch.setattr(topn, "CHUNK_SIZE", 4)
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
# kernel 2: neighbour scores
# ---------------------------------------------------------------------------


def random_csr(
    rng: np.random.Generator, n_rows: int, n_cols: int, max_per_row: int, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = rng.integers(0, max_per_row + 1, n_rows) if n_cols else np.zeros(n_rows, int)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(counts)
    indices = rng.integers(0, max(n_cols, 1), indptr[-1]).astype(np.int32)
    data = rng.choice(values, indptr[-1]).astype(np.float32)
    return indptr, indices, data


def csr_dense(indptr, indices, data, n_cols):
    out = np.zeros((len(indptr) - 1, n_cols))
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    np.add.at(out, (rows, indices), data.astype(np.float64))
    return out


def reference_neighbour(query, sim, n_items, n, ex_ip, ex_ix, allowed, fill_order):
    scores = csr_dense(*query, n_items) @ csr_dense(*sim, n_items)
    n_queries = scores.shape[0]
    ids = np.full((n_queries, n), -1, dtype=np.int32)
    out = np.full((n_queries, n), -np.inf, dtype=np.float32)
    for q in range(n_queries):
        keep = eligible_mask(n_items, q, ex_ip, ex_ix, allowed)
        cand = np.flatnonzero(keep & (scores[q] > 0))
        s = scores[q, cand]
        chosen = cand[np.lexsort((cand, -s))[:n]].tolist()
        row_scores = scores[q, chosen].tolist()
        if fill_order is not None:
            for j in fill_order.tolist():
                if len(chosen) == n:
                    break
                if keep[j] and j not in chosen:
                    chosen.append(j)
                    row_scores.append(0.0)
        ids[q, : len(chosen)] = chosen
        out[q, : len(chosen)] = row_scores
    return ids, out


# dyadic values: every sum below is exact in float32 and float64
SIM_VALUES = np.array([-1.0, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0])
WEIGHT_VALUES = np.array([-0.5, 0.5, 1.0, 1.5, 3.0])


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(0, 40),
    n_queries=st.integers(0, 8),
    n=st.integers(1, 45),
    fill=st.sampled_from(["none", "perm", "partial"]),
)
def test_neighbour_matches_reference(seed, n_items, n_queries, n, fill):
    rng = np.random.default_rng(seed)
    sim = random_csr(rng, n_items, n_items, 6, SIM_VALUES)
    query = random_csr(rng, n_queries, n_items, 5, WEIGHT_VALUES)
    ex_ip, ex_ix = random_exclusions(rng, n_queries, n_items)
    allowed = random_allowed(rng, n_items)
    if fill == "none":
        fill_order = None
    elif fill == "perm":
        fill_order = rng.permutation(n_items).astype(np.int32)
    else:  # short, with duplicates
        fill_order = rng.integers(0, max(n_items, 1), n_items // 2).astype(np.int32)
    want = reference_neighbour(query, sim, n_items, n, ex_ip, ex_ix, allowed, fill_order)
    got = topn_neighbour_scores(
        *query,
        *sim,
        n,
        exclude_indptr=ex_ip,
        exclude_indices=ex_ix,
        item_allowed=allowed,
        fill_order=fill_order,
        num_threads=2,
    )
    assert_same(got, want)


def test_neighbour_fill_gives_exactly_n_rows():
    # item 0 -> neighbour 1; query holds item 0; exclude 0 itself
    sim = (np.array([0, 1, 1, 1, 1]), np.array([1]), np.array([0.5]))
    ids, scores = topn_neighbour_scores(
        np.array([0, 1, 1]),
        np.array([0]),
        np.array([1.0]),
        *sim,
        n=3,
        exclude_indptr=np.array([0, 1, 1]),
        exclude_indices=np.array([0]),
        fill_order=np.array([3, 1, 0, 2]),
    )
    assert ids.tolist() == [[1, 3, 2], [3, 1, 0]]
    assert scores.tolist() == [[0.5, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_neighbour_chunking(monkeypatch):
    rng = np.random.default_rng(11)
    sim = random_csr(rng, 30, 30, 6, SIM_VALUES)
    query = random_csr(rng, 17, 30, 5, WEIGHT_VALUES)
    ex_ip, ex_ix = random_exclusions(rng, 17, 30)
    fill_order = rng.permutation(30).astype(np.int32)
    want = reference_neighbour(query, sim, 30, 6, ex_ip, ex_ix, None, fill_order)
    monkeypatch.setattr(topn, "CHUNK_SIZE", 5)
    got = topn_neighbour_scores(*query, *sim, 6, ex_ip, ex_ix, fill_order=fill_order)
    assert_same(got, want)


# ---------------------------------------------------------------------------
# kernel 3: shared scores
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# kernel 4: dense rows
# ---------------------------------------------------------------------------


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(0, 50),
    n_queries=st.integers(0, 8),
    n=st.integers(1, 60),
)
def test_dense_matches_reference(seed, n_items, n_queries, n):
    rng = np.random.default_rng(seed)
    scores = rng.integers(-3, 4, (n_queries, n_items)).astype(np.float32)
    special = rng.random((n_queries, n_items))
    scores[special < 0.05] = np.nan
    scores[(special >= 0.05) & (special < 0.1)] = -np.inf
    scores[(special >= 0.1) & (special < 0.12)] = np.inf
    ex_ip, ex_ix = random_exclusions(rng, n_queries, n_items)
    allowed = random_allowed(rng, n_items)
    want = reference_topn(scores, n, ex_ip, ex_ix, allowed)
    got = topn_dense_scores(scores, n, ex_ip, ex_ix, allowed, num_threads=2)
    assert_same(got, want)


def test_dense_float_scores_and_chunking(monkeypatch):
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((9, 100)).astype(np.float32)
    monkeypatch.setattr(topn, "CHUNK_SIZE", 2)
    assert_same(topn_dense_scores(scores, 7), reference_topn(scores, 7))


# ---------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> FactorIndex:
    return build_factor_index(np.eye(4, 3))


def sim3() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.array([0, 1, 1, 1]), np.array([1]), np.array([1.0])


@pytest.mark.parametrize("n", [0, -1])
def test_n_must_be_positive(index, n):
    for call in (
        lambda: topn_factor_scores(np.ones((1, 3)), index, n),
        lambda: topn_factor_scores_one(np.ones(3), index, n),
        lambda: topn_dense_scores(np.ones((1, 3)), n),
        lambda: topn_shared_scores(np.arange(3), np.ones(3), 1, n),
        lambda: topn_neighbour_scores(np.array([0, 0]), [], [], *sim3(), n),
    ):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            call()


def test_n_must_be_int(index):
    with pytest.raises(TypeError, match="n must be an int"):
        topn_factor_scores(np.ones((1, 3)), index, 2.5)
    with pytest.raises(TypeError, match="n must be an int"):
        topn_dense_scores(np.ones((1, 3)), True)


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
        topn_dense_scores(q, 1, exclude_indptr=np.array([0, 0, 0]))
    with pytest.raises(TypeError, match="integer array"):
        topn_dense_scores(q, 1, np.array([0.0, 1.0, 1.0]), np.array([0]))
    with pytest.raises(ValueError, match=r"item_allowed must have shape \(3,\)"):
        topn_dense_scores(q, 1, item_allowed=np.ones(4, bool))


def test_neighbour_errors():
    ok = (np.array([0, 1]), np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError, match="query_weights must have the shape"):
        topn_neighbour_scores(ok[0], ok[1], np.array([1.0, 2.0]), *sim3(), 1)
    with pytest.raises(ValueError, match=r"query_indices must hold item ids in \[0, 3\)"):
        topn_neighbour_scores(ok[0], np.array([5]), ok[2], *sim3(), 1)
    with pytest.raises(ValueError, match="sim_data must have the shape"):
        topn_neighbour_scores(*ok, np.array([0, 1, 1, 1]), np.array([1]), np.ones(2), 1)
    with pytest.raises(ValueError, match="sim_indptr must start at 0"):
        topn_neighbour_scores(*ok, np.array([0, 1, 1, 2]), np.array([1]), np.ones(1), 1)
    with pytest.raises(ValueError, match="not a valid CSR"):
        topn_neighbour_scores(*ok, np.array([0, 1, 1, 1]), np.array([9]), np.ones(1), 1)
    with pytest.raises(ValueError, match="fill_order must hold item ids"):
        topn_neighbour_scores(*ok, *sim3(), 3, fill_order=np.array([1, 7]))
    with pytest.raises(ValueError, match=r"exclude_indptr must have length n_queries \+ 1 = 2"):
        topn_neighbour_scores(*ok, *sim3(), 1, np.array([0, 0, 0]), np.array([], np.int32))


def test_shared_and_dense_errors():
    with pytest.raises(ValueError, match="scores_sorted must have the shape"):
        topn_shared_scores(np.arange(3), np.ones(2), 1, 1)
    with pytest.raises(ValueError, match="n_queries must be a non-negative integer"):
        topn_shared_scores(np.arange(3), np.ones(3), -1, 1)
    with pytest.raises(ValueError, match="order / fill_order must hold item ids"):
        topn_shared_scores(np.array([0, 5]), np.ones(2), 1, 2)
    with pytest.raises(ValueError, match="scores must be 2-D"):
        topn_dense_scores(np.ones(3), 1)
    with pytest.raises(ValueError, match="must not contain NaN"):
        sort_scores(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="scores must be 1-D"):
        sort_scores(np.ones((2, 2)))


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
