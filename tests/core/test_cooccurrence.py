"""Tests for recsys.core.cooccurrence (item-item similarity kernel).

The kernel is checked against a plain NumPy reference (dense ``X^T X`` on small
matrices, each similarity's formula, top-k with the tie rule "score
descending, then item id ascending") and against implicit's
``CosineRecommender`` / ``BM25Recommender``.
"""

from __future__ import annotations

import warnings
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.core import cooccurrence as cooc
from recsys.core.cooccurrence import SIMILARITIES, NeighbourTable, item_neighbours

# --------------------------------------------------------------------------
# NumPy reference
# --------------------------------------------------------------------------


def reference_scores(
    X: sp.spmatrix,
    similarity: str,
    *,
    shrinkage: float = 0.0,
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
    alpha: float = 1.0,
    beta: float = 0.0,
    binary: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense (similarity as float32, binary co-occurrence counts) matrices.

    ``rp3beta`` is returned before the top-k and the L1 normalisation of its rows
    (:func:`check_table` normalises the expected top-k).
    """
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)
    X.sum_duplicates()
    W = X.toarray().astype(np.float64)
    B = (W > 0).astype(np.float64)
    if binary:
        W = B.copy()
    n_rows, n_items = W.shape
    C = B.T @ B
    n = B.sum(axis=0)
    s = shrinkage
    with np.errstate(divide="ignore", invalid="ignore"):
        if similarity == "cosine":
            norms = np.sqrt((W**2).sum(axis=0))
            S = (W.T @ W) / (np.outer(norms, norms) + s)
        elif similarity == "jaccard":
            S = C / (n[:, None] + n[None, :] - C + s)
        elif similarity == "lift":
            S = C * n_rows / (np.outer(n, n) + s)
        elif similarity == "confidence":
            S = C / (n[:, None] + s)
        elif similarity == "bm25":
            # implicit's bm25_weight(X.T, K1, B).T: items are the documents, rows the terms
            idf = np.log(n_items) - np.log1p(B.sum(axis=1))
            item_sum = W.sum(axis=0)
            length_norm = (1.0 - bm25_b) + bm25_b * item_sum / item_sum.mean()
            Wb = np.where(
                B > 0,
                W * (bm25_k1 + 1.0) / (bm25_k1 * length_norm[None, :] + W) * idf[:, None],
                0.0,
            )
            S = Wb.T @ Wb
        elif similarity == "rp3beta":
            # Paudel et al. / Dacrema et al.: P_iu^alpha @ P_ui^alpha / popularity^beta
            p_ui = W / np.maximum(W.sum(axis=1, keepdims=True), 1e-300)
            p_iu = (W / np.maximum(W.sum(axis=0, keepdims=True), 1e-300)).T
            S = (p_iu**alpha * (B.T > 0)) @ (p_ui**alpha * (B > 0)) / (n[None, :] ** beta + s)
        else:  # pragma: no cover
            raise AssertionError(similarity)
    S = np.where(C > 0, S, 0.0).astype(np.float32)
    return S, C.astype(np.int64)


def reference_topk(S: np.ndarray, C: np.ndarray, k: int, min_count: int = 1) -> list[list[int]]:
    """Top-k per row: b != a with count >= min_count, by (score desc, id asc)."""
    rows = []
    for a in range(S.shape[0]):
        cand = [b for b in range(S.shape[1]) if b != a and C[a, b] >= min_count]
        cand.sort(key=lambda b: (-float(S[a, b]), b))
        rows.append(cand[:k])
    return rows


def check_table(
    table: NeighbourTable,
    X: sp.spmatrix,
    similarity: str,
    k: int,
    *,
    min_count: int = 1,
    exact: bool,
    rtol: float = 2e-5,
    **params,
) -> None:
    S, C = reference_scores(X, similarity, **params)
    n_rows, n_items = X.shape
    expected = reference_topk(S, C, k, min_count)
    if similarity == "rp3beta":  # rows of the top-k L1-normalised; float sums: never exact
        S = S.astype(np.float64)
        for a, exp in enumerate(expected):
            S[a] /= max(float(S[a, exp].sum()), 1e-300)
        exact = False

    assert table.indptr.dtype == np.int64 and table.indptr.shape == (n_items + 1,)
    assert table.indices.dtype == np.int32
    assert table.scores.dtype == np.float32
    assert table.counts.dtype == np.int32
    assert table.item_support.dtype == np.int32
    assert table.n_rows == n_rows
    assert table.n_items == n_items
    np.testing.assert_array_equal(table.item_support, np.diag(C))

    for a in range(n_items):
        lo, hi = table.indptr[a], table.indptr[a + 1]
        got = table.indices[lo:hi].tolist()
        scores = table.scores[lo:hi]
        exp = expected[a]
        assert len(got) == len(exp), (a, got, exp)
        assert a not in got
        assert len(set(got)) == len(got)
        # counts are the binary co-occurrence of each kept pair
        np.testing.assert_array_equal(table.counts[lo:hi], C[a, got])
        assert np.all(table.counts[lo:hi] >= min_count)
        if exact:
            assert got == exp, (a, got, exp, scores, S[a, exp])
            np.testing.assert_array_equal(scores, S[a, exp])
            continue
        # float sums in a different order: equal up to rtol; the kept set may
        # differ only among near-ties
        tol = rtol * max(1.0, float(np.abs(S[a]).max()))
        np.testing.assert_allclose(scores, S[a, got], rtol=0, atol=tol)
        # sorted by score desc, exact ties by id asc
        for j in range(len(got) - 1):
            assert scores[j] > scores[j + 1] or (
                scores[j] == scores[j + 1] and got[j] < got[j + 1]
            ), (a, got, scores)
        if exp:
            kth = float(S[a, exp[-1]])
            assert float(scores[-1]) >= kth - 2 * tol
            must = [b for b in exp if S[a, b] > kth + 2 * tol]
            assert set(must) <= set(got), (a, got, exp)


# --------------------------------------------------------------------------
# Hypothesis: random small matrices, every similarity
# --------------------------------------------------------------------------


@st.composite
def matrices(draw, max_rows: int = 25, max_items: int = 12, integer: bool | None = None):
    n_rows = draw(st.integers(1, max_rows))
    n_items = draw(st.integers(1, max_items))
    nnz = draw(st.integers(1, max(1, n_rows * n_items)))
    rows = draw(st.lists(st.integers(0, n_rows - 1), min_size=nnz, max_size=nnz))
    cols = draw(st.lists(st.integers(0, n_items - 1), min_size=nnz, max_size=nnz))
    if integer is None:
        integer = draw(st.booleans())
    if integer:
        vals = draw(st.lists(st.integers(0, 3), min_size=nnz, max_size=nnz))
    else:
        vals = draw(
            st.lists(
                st.one_of(st.just(0.0), st.floats(0.0625, 20.0, width=32)),
                min_size=nnz,
                max_size=nnz,
            )
        )
    # duplicates (summed) and explicit zeros (ignored) on purpose
    X = sp.coo_matrix(
        (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=(n_rows, n_items)
    ).tocsr()
    if X.count_nonzero() == 0:
        X = sp.csr_matrix(
            (np.ones(1, np.float32), ([n_rows - 1], [n_items - 1])), shape=(n_rows, n_items)
        )
    return X, integer


HYP = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _is_exact(similarity: str, integer: bool, binary: bool) -> bool:
    # Counts are exact; weighted cosine with small integer weights sums exactly in
    # float32; BM25 weights are never integers.
    if similarity == "bm25":
        return False
    if similarity == "cosine":
        return integer or binary
    return True


@HYP
@given(
    data=matrices(),
    similarity=st.sampled_from(SIMILARITIES),
    k=st.integers(1, 6),
    min_count=st.integers(1, 3),
    shrinkage=st.sampled_from([0.0, 0.5, 3.0]),
    binary=st.booleans(),
    num_threads=st.sampled_from([1, 2]),
)
def test_matches_reference(data, similarity, k, min_count, shrinkage, binary, num_threads):
    X, integer = data
    table = item_neighbours(
        X,
        similarity,
        k,
        min_count=min_count,
        shrinkage=shrinkage,
        binary=binary,
        num_threads=num_threads,
    )
    check_table(
        table,
        X,
        similarity,
        k,
        min_count=min_count,
        exact=_is_exact(similarity, integer, binary),
        shrinkage=0.0 if similarity == "bm25" else shrinkage,
        binary=binary,
    )


@settings(HYP, max_examples=60)
@given(
    data=matrices(max_rows=30, max_items=20),
    similarity=st.sampled_from(SIMILARITIES),
    k=st.integers(1, 4),
    min_count=st.integers(1, 2),
)
def test_small_candidate_buffer_and_int32_labels(data, similarity, k, min_count):
    """Force the paths big inputs take: buffer overflows (quickselect) and int32 labels."""
    X, integer = data
    with (
        mock.patch.object(cooc, "_MIN_CANDIDATES", 1),
        mock.patch.object(cooc, "_MAX_UINT16_ITEMS", 0),
    ):
        table = item_neighbours(X, similarity, k, min_count=min_count, num_threads=2)
    check_table(
        table, X, similarity, k, min_count=min_count, exact=_is_exact(similarity, integer, False)
    )


@settings(HYP, max_examples=30)
@given(
    data=matrices(max_rows=15, max_items=8),
    similarity=st.sampled_from(SIMILARITIES),
    bm25_k1=st.floats(0.0, 3.0),
    bm25_b=st.floats(0.0, 1.0),
)
def test_bm25_parameters(data, similarity, bm25_k1, bm25_b):
    X, integer = data
    table = item_neighbours(X, similarity, 3, bm25_k1=bm25_k1, bm25_b=bm25_b, num_threads=1)
    check_table(
        table,
        X,
        similarity,
        3,
        exact=_is_exact(similarity, integer, False),
        rtol=1e-4,
        bm25_k1=bm25_k1,
        bm25_b=bm25_b,
    )


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_larger_matrix_default_paths(similarity):
    """More candidates per item than the default buffer: the select/threshold path."""
    rng = np.random.default_rng(7)
    n_rows, n_items = 1500, 900
    X = sp.random(n_rows, n_items, density=0.02, random_state=rng, format="csr", dtype=np.float32)
    X.data = np.ceil(X.data * 4).astype(np.float32)
    # a few heavy items and a heavy row
    X = X.tolil()
    X[:, :5] = rng.integers(0, 2, size=(n_rows, 5)).astype(np.float32)
    X[0, :] = 1.0
    X = X.tocsr()
    k = 7
    table = item_neighbours(X, similarity, k, min_count=2, num_threads=2)
    check_table(
        table, X, similarity, k, min_count=2, exact=_is_exact(similarity, True, False), rtol=1e-4
    )


def test_ties_broken_by_item_id():
    # items 1..4 are identical columns: every similarity ties among them
    X = sp.csr_matrix(
        np.array(
            [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 0], [1, 0, 0, 0, 0, 1]],
            dtype=np.float32,
        )
    )
    for similarity in SIMILARITIES:
        table = item_neighbours(X, similarity, k=2, num_threads=2)
        row4 = table.indices[table.indptr[4] : table.indptr[5]].tolist()
        assert row4 == [1, 2], similarity
        row1 = table.indices[table.indptr[1] : table.indptr[2]].tolist()
        assert row1 == [2, 3], similarity


def test_deterministic_across_threads():
    rng = np.random.default_rng(3)
    X = sp.random(400, 120, density=0.05, random_state=rng, format="csr", dtype=np.float32)
    for similarity in SIMILARITIES:
        t1 = item_neighbours(X, similarity, 10, num_threads=1)
        t2 = item_neighbours(X, similarity, 10, num_threads=2)
        for name in ("indptr", "indices", "scores", "counts", "item_support"):
            np.testing.assert_array_equal(getattr(t1, name), getattr(t2, name))


# --------------------------------------------------------------------------
# RP3beta
# --------------------------------------------------------------------------


def dacrema_rp3beta(X: sp.spmatrix, alpha: float, beta: float, k: int) -> np.ndarray:
    """RP3beta as in Dacrema et al.'s reproducibility code, dense, on binary X.

    ``Pui`` and ``Piu`` row-normalised, raised to ``alpha``, ``W = Piu @ Pui``
    times ``popularity ** -beta`` column-wise, no diagonal, the top-k of each row
    (ties by item id), rows L1-normalised.
    """
    B = (sp.csr_matrix(X).toarray() > 0).astype(np.float64)
    p_ui = B / np.maximum(B.sum(axis=1, keepdims=True), 1)
    p_iu = B.T / np.maximum(B.sum(axis=0)[:, None], 1)
    pop = B.sum(axis=0)
    degree = np.where(pop > 0, np.power(np.maximum(pop, 1), -beta), 0.0)
    W = (np.power(p_iu, alpha) * (p_iu > 0)) @ (np.power(p_ui, alpha) * (p_ui > 0))
    W *= degree[None, :]
    np.fill_diagonal(W, 0.0)
    out = np.zeros_like(W)
    for a in range(W.shape[0]):
        cand = np.flatnonzero(W[a] > 0)
        top = cand[np.lexsort((cand, -W[a, cand]))][:k]
        if top.size:
            out[a, top] = W[a, top] / W[a, top].sum()
    return out


@settings(HYP, max_examples=80)
@given(
    data=matrices(),
    k=st.integers(1, 6),
    alpha=st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.7]),
    beta=st.floats(0.0, 1.5),
    shrinkage=st.sampled_from([0.0, 2.0]),
    binary=st.booleans(),
    num_threads=st.sampled_from([1, 2]),
)
def test_rp3beta_matches_reference(data, k, alpha, beta, shrinkage, binary, num_threads):
    X, _ = data
    table = item_neighbours(
        X,
        "rp3beta",
        k,
        alpha=alpha,
        beta=beta,
        shrinkage=shrinkage,
        binary=binary,
        num_threads=num_threads,
    )
    check_table(
        table,
        X,
        "rp3beta",
        k,
        exact=False,
        rtol=1e-5,
        alpha=alpha,
        beta=beta,
        shrinkage=shrinkage,
        binary=binary,
    )
    # every non-empty row sums to 1
    lengths = np.diff(table.indptr)
    row = np.repeat(np.arange(lengths.size), lengths)
    sums = np.bincount(row, weights=table.scores.astype(np.float64), minlength=lengths.size)
    np.testing.assert_allclose(sums[lengths > 0], 1.0, rtol=1e-5)


@settings(HYP, max_examples=40)
@given(
    data=matrices(max_rows=30, max_items=15),
    k=st.integers(1, 5),
    alpha=st.floats(0.0, 2.0),
    beta=st.floats(0.0, 1.0),
)
def test_rp3beta_matches_dacrema_reference(data, k, alpha, beta):
    X, _ = data
    table = item_neighbours(X, "rp3beta", k, alpha=alpha, beta=beta, binary=True, num_threads=2)
    expected = dacrema_rp3beta(X, alpha, beta, k)
    got = table.to_csr().toarray().astype(np.float64)
    # the kept set may differ among near-ties only: compare the scores where both keep an item,
    # and the row sums
    both = (got > 0) & (expected > 0)
    np.testing.assert_allclose(got[both], expected[both], rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), expected.sum(axis=1), atol=1e-5)
    assert np.array_equal((got > 0).sum(axis=1), (expected > 0).sum(axis=1))


def test_rp3beta_larger_matrix_top_k_and_normalised():
    rng = np.random.default_rng(11)
    X = sp.random(2000, 700, density=0.01, random_state=rng, format="csr", dtype=np.float32)
    X.data[:] = 1.0
    k = 20
    table = item_neighbours(X, "rp3beta", k, alpha=0.8, beta=0.5, num_threads=2)
    lengths = np.diff(table.indptr)
    assert lengths.max() == k
    expected = dacrema_rp3beta(X, 0.8, 0.5, k)
    got = table.to_csr().toarray()
    both = (got > 0) & (expected > 0)
    assert both.sum() >= 0.99 * (expected > 0).sum()
    np.testing.assert_allclose(got[both], expected[both], rtol=2e-5, atol=1e-7)
    for a in range(table.n_items):
        s = table.scores[table.indptr[a] : table.indptr[a + 1]]
        assert np.all(s[:-1] >= s[1:])
        if s.size:
            assert abs(float(s.astype(np.float64).sum()) - 1.0) < 1e-5


def test_rp3beta_beta_demotes_popular_items():
    rng = np.random.default_rng(5)
    X = (rng.random((500, 40)) < np.linspace(0.6, 0.02, 40)).astype(np.float32)
    X = sp.csr_matrix(X)
    support = np.asarray((X > 0).sum(axis=0)).ravel()

    def mean_support_of_neighbours(beta: float) -> float:
        t = item_neighbours(X, "rp3beta", 5, alpha=1.0, beta=beta, num_threads=1)
        return float(support[t.indices].mean())

    assert mean_support_of_neighbours(1.0) < mean_support_of_neighbours(0.0)


@settings(HYP, max_examples=50)
@given(
    data=matrices(max_rows=30, max_items=15),
    k=st.integers(1, 6),
    alpha=st.floats(0.0, 2.0),
    beta=st.floats(0.0, 1.0),
    min_count=st.integers(1, 2),
    shrinkage=st.sampled_from([0.0, 1.5]),
    pick=st.integers(0, 2**15),
)
def test_rp3beta_rows_equal_the_kernel(data, k, alpha, beta, min_count, shrinkage, pick):
    """The sparse-product rows of a subset of items are bit for bit the kernel's."""
    X, _ = data
    kw = {"alpha": alpha, "beta": beta, "min_count": min_count, "shrinkage": shrinkage}
    table = item_neighbours(X, "rp3beta", k, num_threads=2, **kw)
    Xc = sp.csr_matrix(X, dtype=np.float32)
    Xc.sum_duplicates()
    Xc.eliminate_zeros()
    Xc.sort_indices()
    n_items = X.shape[1]
    items = np.flatnonzero(np.random.default_rng(pick).random(n_items) < 0.6)
    k_eff = min(k, max(n_items - 1, 1))
    indptr, indices, scores, counts = cooc.rp3beta_rows(Xc, items, k_eff, **kw)
    for j, a in enumerate(items):
        lo, hi = table.indptr[a], table.indptr[a + 1]
        sl = slice(indptr[j], indptr[j + 1])
        np.testing.assert_array_equal(indices[sl], table.indices[lo:hi])
        np.testing.assert_array_equal(scores[sl], table.scores[lo:hi])
        np.testing.assert_array_equal(counts[sl], table.counts[lo:hi])


def test_rp3beta_alpha_zero_is_count_over_popularity():
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [1, 0, 1], [0, 0, 1]], dtype=np.float32))
    t = item_neighbours(X, "rp3beta", 2, alpha=0.0, beta=1.0, num_threads=1)
    # item 0: c(0,1)=2 / n_1=2 -> 1, c(0,2)=2 / n_2=3 -> 2/3; normalised 0.6, 0.4
    assert t.indices[: t.indptr[1]].tolist() == [1, 2]
    np.testing.assert_allclose(t.scores[: t.indptr[1]], [0.6, 0.4], rtol=1e-6)


# --------------------------------------------------------------------------
# API details
# --------------------------------------------------------------------------


def test_worked_example_and_to_csr():
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 0], [0, 0, 0]], dtype=np.float32))
    t = item_neighbours(X, "lift", k=5, num_threads=1)
    assert t.n_rows == 4
    assert t.item_support.tolist() == [3, 2, 1]
    # lift(0, 1) = 2 * 4 / (3 * 2) == lift(0, 2) = 1 * 4 / (3 * 1): a tie, by id
    assert t.indices[t.indptr[0] : t.indptr[1]].tolist() == [1, 2]
    np.testing.assert_allclose(t.scores[t.indptr[0] : t.indptr[1]], [4 / 3, 4 / 3], rtol=1e-6)
    assert t.counts[t.indptr[0] : t.indptr[1]].tolist() == [2, 1]
    assert t.indices[t.indptr[1] : t.indptr[3]].tolist() == [0, 0]  # 1 and 2 never co-occur
    M = t.to_csr()
    assert isinstance(M, sp.csr_matrix) and M.shape == (3, 3)
    np.testing.assert_allclose(M.toarray()[0], [0, 4 / 3, 4 / 3], rtol=1e-6)


def test_accepts_other_formats_and_dtypes_without_modifying_input():
    rng = np.random.default_rng(5)
    X = sp.random(60, 20, density=0.2, random_state=rng, format="csr", dtype=np.float64)
    X.data = np.round(X.data * 5)  # some explicit zeros
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    base = item_neighbours(X, "jaccard", 5, num_threads=1)
    np.testing.assert_array_equal(X.data, before[0])
    np.testing.assert_array_equal(X.indices, before[1])
    np.testing.assert_array_equal(X.indptr, before[2])
    for other in (X.tocsc(), X.tocoo(), sp.csr_array(X), X.astype(np.int32), X.astype(bool)):
        t = item_neighbours(other, "jaccard", 5, num_threads=1)
        np.testing.assert_array_equal(t.indices, base.indices)
        np.testing.assert_array_equal(t.scores, base.scores)


def test_k_larger_than_catalogue_and_single_item():
    X = sp.csr_matrix(np.array([[1, 1], [1, 0]], dtype=np.float32))
    t = item_neighbours(X, "cosine", k=50, num_threads=1)
    assert t.indices.tolist() == [1, 0]
    single = item_neighbours(sp.csr_matrix(np.ones((3, 1), np.float32)), "lift", 5)
    assert single.indptr.tolist() == [0, 0] and single.item_support.tolist() == [3]


def test_min_count_drops_rare_pairs():
    X = sp.csr_matrix(np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 1, 0]], dtype=np.float32))
    t = item_neighbours(X, "confidence", 5, min_count=2, num_threads=1)
    M = t.to_csr().toarray()
    assert M[1, 2] == 0 and M[2, 1] == 0  # together once
    assert M[0, 2] > 0  # together twice -> kept
    assert t.counts.min() >= 2


# --------------------------------------------------------------------------
# Against implicit
# --------------------------------------------------------------------------


def _implicit_matrix(model_cls, user_items, **kwargs) -> np.ndarray:
    model = model_cls(num_threads=1, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(user_items, show_progress=False)
    S = model.similarity.toarray()
    np.fill_diagonal(S, 0.0)  # implicit lists the item itself; we never do
    return S


@pytest.fixture(scope="module")
def user_items() -> sp.csr_matrix:
    rng = np.random.default_rng(11)
    X = sp.random(150, 70, density=0.08, random_state=rng, format="csr", dtype=np.float32)
    X.data = rng.uniform(0.5, 5.0, X.nnz).astype(np.float32)
    return X


@pytest.mark.parametrize(
    ("similarity", "model"),
    [
        ("cosine", "CosineRecommender"),
        ("bm25", "BM25Recommender"),
    ],
)
def test_full_similarity_matches_implicit(user_items, similarity, model):
    implicit_nn = pytest.importorskip("implicit.nearest_neighbours")
    n_items = user_items.shape[1]
    expected = _implicit_matrix(getattr(implicit_nn, model), user_items, K=n_items)
    got = item_neighbours(user_items, similarity, k=n_items, num_threads=2).to_csr().toarray()
    assert np.array_equal(got != 0, expected != 0)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("k", [1, 5, 20])
@pytest.mark.parametrize(
    ("similarity", "model", "kwargs"),
    [
        ("cosine", "CosineRecommender", {}),
        ("bm25", "BM25Recommender", {"K1": 1.2, "B": 0.75}),
        ("bm25", "BM25Recommender", {"K1": 2.0, "B": 0.3}),
    ],
)
def test_topk_matches_implicit(user_items, similarity, model, kwargs, k):
    """Same neighbours and scores as implicit's top-K (modulo near-ties)."""
    implicit_nn = pytest.importorskip("implicit.nearest_neighbours")
    n_items = user_items.shape[1]
    full = _implicit_matrix(getattr(implicit_nn, model), user_items, K=n_items, **kwargs)
    params = {}
    if kwargs:
        params = {"bm25_k1": kwargs["K1"], "bm25_b": kwargs["B"]}
    table = item_neighbours(user_items, similarity, k=k, num_threads=2, **params)
    for a in range(n_items):
        lo, hi = table.indptr[a], table.indptr[a + 1]
        got, scores = table.indices[lo:hi], table.scores[lo:hi]
        row = full[a]
        cand = np.flatnonzero(row)
        best = cand[np.lexsort((cand, -row[cand]))][:k]
        assert len(got) == len(best)
        np.testing.assert_allclose(scores, row[got], rtol=2e-5)
        if len(best):
            np.testing.assert_allclose(scores, row[best], rtol=2e-5)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


@pytest.fixture
def X_small() -> sp.csr_matrix:
    return sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))


def test_unknown_similarity_lists_valid_ones(X_small):
    with pytest.raises(ValueError, match="unknown similarity") as err:
        item_neighbours(X_small, "pearson")
    for name in SIMILARITIES:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 0},
        {"k": -3},
        {"min_count": 0},
        {"shrinkage": -0.1},
        {"shrinkage": float("nan")},
        {"bm25_b": 1.5},
        {"bm25_k1": -1.0},
        {"alpha": -0.5},
        {"beta": -1.0},
        {"alpha": float("inf")},
        {"num_threads": -1},
    ],
)
def test_bad_parameters(X_small, kwargs):
    with pytest.raises(ValueError):
        item_neighbours(X_small, "cosine", **kwargs)


@pytest.mark.parametrize("kwargs", [{"k": 2.5}, {"min_count": "2"}, {"k": True}])
def test_bad_parameter_types(X_small, kwargs):
    with pytest.raises(TypeError):
        item_neighbours(X_small, "cosine", **kwargs)


@pytest.mark.parametrize("bad", [-1.0, np.nan])
def test_negative_or_nan_weights(X_small, bad):
    X = X_small.copy()
    X.data[1] = bad
    with pytest.raises(ValueError, match="negative|NaN"):
        item_neighbours(X, "jaccard")


@pytest.mark.parametrize(
    "X",
    [
        sp.csr_matrix((0, 5), dtype=np.float32),
        sp.csr_matrix((5, 0), dtype=np.float32),
        sp.csr_matrix((4, 4), dtype=np.float32),
        sp.csr_matrix((np.zeros(2, np.float32), ([0, 1], [0, 1])), shape=(3, 3)),
    ],
    ids=["no-rows", "no-items", "no-values", "only-zeros"],
)
def test_empty_matrix(X):
    with pytest.raises(ValueError, match="empty"):
        item_neighbours(X, "cosine")


def test_dense_input_rejected():
    with pytest.raises(TypeError, match="scipy.sparse"):
        item_neighbours(np.ones((3, 3), dtype=np.float32), "cosine")
