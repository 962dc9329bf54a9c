"""topn_dense: constrained top-n of dense score rows, against NumPy / Python references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.core import workers
from recsys.core.constraints import Constraints
from recsys.core.topn_dense import constrained_topn_dense
from tests.core.reference import (
    CONSTRAINED_SETTINGS,
    SETTINGS,
    assert_same,
    make_constraints,
    problems,
    query_context,
    random_allowed,
    random_exclusions,
    reference_select,
    reference_topn,
    score_values,
)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(0, 50),
    n_queries=st.integers(0, 8),
    n=st.integers(1, 60),
)
def test_dense_matches_reference(seed, n_items, n_queries, n):
    """Exclusions and one mask; NaN, -inf and inf scores; n larger than n_items."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(-3, 4, (n_queries, n_items)).astype(np.float32)
    special = rng.random((n_queries, n_items))
    scores[special < 0.05] = np.nan
    scores[(special >= 0.05) & (special < 0.1)] = -np.inf
    scores[(special >= 0.1) & (special < 0.12)] = np.inf
    ex_ip, ex_ix = random_exclusions(rng, n_queries, n_items)
    allowed = random_allowed(rng, n_items)
    want = reference_topn(scores, n, ex_ip, ex_ix, allowed)
    c = Constraints.make(
        n_queries, n_items, exclude_indptr=ex_ip, exclude_indices=ex_ix, item_allowed=allowed
    )
    got = constrained_topn_dense(scores, n, c, num_threads=2)
    assert_same(got, want)


def test_dense_float_scores_and_chunking(monkeypatch):
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((9, 100)).astype(np.float32)
    monkeypatch.setattr(workers, "MAX_CHUNK", 2)
    assert_same(constrained_topn_dense(scores, 7, num_threads=2), reference_topn(scores, 7))


@CONSTRAINED_SETTINGS
@given(data=st.data(), p=problems())
def test_dense_matches_constrained_reference(data, p) -> None:
    """Masks per query, group caps and fills."""
    dense = np.array(
        [
            [data.draw(score_values | st.just(float("nan"))) for _ in range(p["n_items"])]
            for _ in range(p["n_queries"])
        ],
        dtype=np.float32,
    )
    c, fill_sc = make_constraints(p)
    ids, scores = constrained_topn_dense(dense, p["n"], c, num_threads=2)
    for q in range(p["n_queries"]):
        cands = [(i, dense[q, i], i) for i in range(p["n_items"])]
        excluded, allowed_row, fill, fills = query_context(p, q, fill_sc)
        ref_ids, ref_scores, _ = reference_select(
            cands, p["n"], excluded, allowed_row, p["group_of"], p["cap"], fill, fills
        )
        assert ids[q].tolist() == ref_ids
        np.testing.assert_array_equal(scores[q], np.array(ref_scores, dtype=np.float32))


@CONSTRAINED_SETTINGS
@given(data=st.data(), p=problems(max_items=20, max_queries=4))
def test_exact_n_and_caps(data, p) -> None:
    dense = np.array(
        [[data.draw(score_values) for _ in range(p["n_items"])] for _ in range(p["n_queries"])],
        dtype=np.float32,
    )
    c, _ = make_constraints(p)
    ids, _ = constrained_topn_dense(dense, p["n"], c, num_threads=1)
    for q in range(p["n_queries"]):
        got = ids[q][ids[q] >= 0]
        assert len(set(got.tolist())) == got.size
        excluded, allowed_row, _, _ = query_context(p, q, np.zeros((2, p["n_items"])))
        eligible = [
            i
            for i in range(p["n_items"])
            if i not in excluded and (allowed_row is None or allowed_row[i])
        ]
        assert not set(got.tolist()) & excluded
        if p["group_of"] is None:
            assert got.size == min(p["n"], len(eligible))
        else:
            groups = np.array(p["group_of"])
            for g in set(groups[got].tolist()) - {-1}:
                assert (groups[got] == g).sum() <= p["cap"]
            # as many as the caps let through
            free = sum(1 for i in eligible if groups[i] < 0)
            capped = sum(
                min(p["cap"], sum(1 for i in eligible if groups[i] == g))
                for g in set(groups.tolist()) - {-1}
            )
            assert got.size == min(p["n"], free + capped)


def test_dense_argument_errors() -> None:
    c = Constraints.make(2, 3)
    with pytest.raises(ValueError, match="constraints were made for 2 queries"):
        constrained_topn_dense(np.zeros((1, 3)), 2, c)
    with pytest.raises(ValueError, match="constraints were made for 3 items"):
        constrained_topn_dense(np.zeros((2, 4)), 2, c)
    with pytest.raises(TypeError, match="Constraints"):
        constrained_topn_dense(np.zeros((1, 3)), 2, "nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be a positive integer"):
        constrained_topn_dense(np.zeros((1, 3)), 0)
    with pytest.raises(TypeError, match="n must be an int"):
        constrained_topn_dense(np.ones((1, 3)), True)
    with pytest.raises(ValueError, match="scores must be 2-D"):
        constrained_topn_dense(np.ones(3), 1)
