"""topn_candidates: constrained top-n of explicit candidate lists, against a Python reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.core.constraints import Constraints
from recsys.core.topn_candidates import constrained_topn_candidates
from tests.core.reference import (
    CONSTRAINED_SETTINGS,
    make_constraints,
    problems,
    query_context,
    reference_select,
    score_values,
)


@CONSTRAINED_SETTINGS
@given(data=st.data(), p=problems())
def test_candidates_match_reference(data, p) -> None:
    lists = []
    for _ in range(p["n_queries"]):
        items = data.draw(st.lists(st.integers(0, p["n_items"] - 1), max_size=8))
        scores = data.draw(
            st.lists(score_values | st.just(float("nan")), min_size=len(items), max_size=len(items))
        )
        lists.append(list(zip(items, scores, strict=True)))
    indptr = np.cumsum([0] + [len(c) for c in lists])
    flat_items = np.array([i for c in lists for i, _ in c], dtype=np.int64)
    flat_scores = np.array([s for c in lists for _, s in c], dtype=np.float32)
    c, fill_sc = make_constraints(p)
    ids, scores, pos = constrained_topn_candidates(
        indptr, flat_items, flat_scores, p["n"], p["n_items"], c, num_threads=2
    )
    for q in range(p["n_queries"]):
        cands = [(i, np.float32(s), int(indptr[q]) + k) for k, (i, s) in enumerate(lists[q])]
        # duplicates: the reference takes the best-ranked copy; positions of equal copies may differ
        excluded, allowed_row, fill, fills = query_context(p, q, fill_sc)
        ref_ids, ref_scores, _ = reference_select(
            cands, p["n"], excluded, allowed_row, p["group_of"], p["cap"], fill, fills
        )
        assert ids[q].tolist() == ref_ids
        np.testing.assert_array_equal(scores[q], np.array(ref_scores, dtype=np.float32))
        taken = pos[q] >= 0
        assert (flat_items[pos[q][taken]] == ids[q][taken]).all()
        assert (flat_scores[pos[q][taken]] == scores[q][taken]).all()


def test_fill_scores_and_no_fill_row() -> None:
    c = Constraints.make(
        2, 3, fill_order=[2, 1, 0], fill_scores=[3.0, 2.0, 1.0], fill_of_query=[0, -1]
    )
    ids, scores, pos = constrained_topn_candidates([0, 0, 0], [], [], n=2, n_items=3, constraints=c)
    assert ids.tolist() == [[2, 1], [-1, -1]]
    assert scores[0].tolist() == [3.0, 2.0]
    assert pos.tolist() == [[-1, -1], [-1, -1]]


def test_candidate_errors() -> None:
    with pytest.raises(ValueError, match="cand_scores"):
        constrained_topn_candidates([0, 2], [0, 1], [1.0], 2, 3)
    with pytest.raises(ValueError, match="cand_indices"):
        constrained_topn_candidates([0, 1], [7], [1.0], 2, 3)
    with pytest.raises(ValueError, match="cand_indptr must have length"):
        constrained_topn_candidates([], [], [], 2, 3)
    with pytest.raises(ValueError, match="n_items must be a non-negative integer"):
        constrained_topn_candidates([0, 0], [], [], 2, -1)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        constrained_topn_candidates([0, 0], [], [], 0, 3)
    with pytest.raises(ValueError, match="constraints were made for 2 queries"):
        constrained_topn_candidates([0, 0], [], [], 1, 3, Constraints.make(2, 3))
