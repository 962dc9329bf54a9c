"""selection: select and select_items against the Python reference of the greedy selection."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from recsys.core.selection import select, select_items, select_scratch
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
def test_select_matches_reference(data, p) -> None:
    c, fill_sc = make_constraints(p)
    scratch = select_scratch(1, p["n_items"], c.n_groups, 16)
    n = p["n"]
    for q in range(p["n_queries"]):
        unique = data.draw(st.booleans())
        item = st.integers(0, p["n_items"] - 1)
        items = data.draw(st.lists(item, max_size=8, unique=unique))
        scores = [data.draw(score_values | st.just(float("nan"))) for _ in items]
        ci = np.array(items, dtype=np.int32)
        cs = np.array(scores, dtype=np.float32)
        mark = scratch.marks[0]
        excluded, allowed_row, fill, fills = query_context(p, q, fill_sc)
        mark[list(excluded)] = True
        ids, top, pos = np.empty(n, np.int32), np.empty(n, np.float32), np.empty(n, np.int64)
        k, taken = select(
            ci,
            cs,
            ci.size,
            unique,
            c,
            c.allowed_of_query[q],
            c.fill_of_query[q],
            scratch.heaps[0],
            mark,
            scratch.gcounts[0],
            ids,
            top,
            pos,
        )
        mark[list(excluded)] = False
        assert not mark.any() and not scratch.gcounts.any()  # scratch left clean
        cands = [(i, s, k) for k, (i, s) in enumerate(zip(ci.tolist(), cs, strict=True))]
        want_ids, want_scores, want_pos = reference_select(
            cands, n, excluded, allowed_row, p["group_of"], p["cap"], fill, fills
        )
        assert ids.tolist() == want_ids
        np.testing.assert_array_equal(top, np.array(want_scores, dtype=np.float32))
        assert k == sum(i >= 0 for i in want_ids) and taken == sum(x >= 0 for x in want_pos)
        got_taken = pos[:taken]
        assert (ci[got_taken] == ids[:taken]).all() and (pos[taken:] == -1).all()


@CONSTRAINED_SETTINGS
@given(data=st.data(), p=problems())
def test_select_items_matches_reference(data, p) -> None:
    """Scores per item, candidates only when > 0; no group caps."""
    p = dict(p, group_of=None, cap=None)
    c, fill_sc = make_constraints(p)
    scratch = select_scratch(1, p["n_items"], 0, 0)
    n = p["n"]
    for q in range(p["n_queries"]):
        item = st.integers(0, p["n_items"] - 1)
        items = np.array(data.draw(st.lists(item, max_size=8, unique=True)), dtype=np.int32)
        score_of = np.array(
            [data.draw(score_values | st.just(float("nan"))) for _ in range(p["n_items"])],
            dtype=np.float32,
        )
        mark = scratch.marks[0]
        excluded, allowed_row, fill, fills = query_context(p, q, fill_sc)
        mark[list(excluded)] = True
        ids, top, pos = np.empty(n, np.int32), np.empty(n, np.float32), np.empty(n, np.int64)
        k, taken = select_items(
            items,
            score_of,
            items.size,
            c,
            c.allowed_of_query[q],
            c.fill_of_query[q],
            mark,
            scratch.gcounts[0],
            ids,
            top,
            pos,
        )
        mark[list(excluded)] = False
        assert not mark.any()
        cands = [(i, score_of[i], 0) for i in items.tolist() if score_of[i] > 0]
        want_ids, want_scores, want_pos = reference_select(
            cands, n, excluded, allowed_row, None, None, fill, fills
        )
        assert ids.tolist() == want_ids
        np.testing.assert_array_equal(top, np.array(want_scores, dtype=np.float32))
        assert taken == sum(x >= 0 for x in want_pos) and (pos == -1).all()
