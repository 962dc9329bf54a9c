"""Neighbour rows read by prefix: the kernel's ``query_limit`` and ``prefix_topn``, checked.

``constrained_topn_neighbours(..., query_limit=...)`` must score as if each
entry's row held only its first ``limit`` neighbours; ``prefix_topn`` must
return, for every query it calls proven, exactly (to the bit) what the kernel
returns over whole rows, and its lookups must be the kernel's float32 sums.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.core.constraints import Constraints
from recsys.core.neighbour_lookup import columns_of, prefix_topn
from recsys.core.topn_neighbours import constrained_topn_neighbours
from tests.core.reference import (
    CONSTRAINED_SETTINGS,
    assert_selected_like_reference,
    make_constraints,
    problems,
    similarity,
)


def reference_limited(q_items, q_weights, q_explain, q_limit, sim_indptr, sim_indices, sim_data):
    """Candidates (item, float32 score, explaining position) from each entry's first ``limit``."""
    acc: dict[int, np.float32] = {}
    best: dict[int, tuple[np.float32, int]] = {}
    for i, w, ex, lim in zip(q_items, q_weights, q_explain, q_limit, strict=True):
        r0, r1 = int(sim_indptr[i]), int(sim_indptr[i + 1])
        if lim >= 0:
            r1 = min(r1, r0 + int(lim))
        for r in range(r0, r1):
            j = int(sim_indices[r])
            contribution = np.float32(np.float32(w) * sim_data[r])
            acc[j] = np.float32(acc.get(j, np.float32(0)) + contribution)
            if ex and (j not in best or contribution > best[j][0]):
                best[j] = (contribution, r)
    return [(j, s, best.get(j, (0, -1))[1]) for j, s in acc.items() if s > 0]


@CONSTRAINED_SETTINGS
@given(data=st.data(), p=problems())
def test_query_limit_reads_the_first_neighbours(data, p) -> None:
    """Exclusions, masks, group caps and fills, as over rows cut to their first ``limit``."""
    sim_indptr, sim_indices, sim_data = data.draw(similarity(p["n_items"]))
    queries = []
    for _ in range(p["n_queries"]):
        items = data.draw(st.lists(st.integers(0, p["n_items"] - 1), max_size=4))
        weights = [data.draw(st.sampled_from([0.5, 1.0, 2.0])) for _ in items]
        explain = [data.draw(st.booleans()) for _ in items]
        limits = [data.draw(st.integers(-1, 4)) for _ in items]
        queries.append((items, weights, explain, limits))
    q_indptr = np.cumsum([0] + [len(q[0]) for q in queries])
    flat = [np.array([v for q in queries for v in q[k]]) for k in range(4)]
    c, fill_sc = make_constraints(p)
    ids, scores, pos = constrained_topn_neighbours(
        q_indptr,
        flat[0].astype(np.int64),
        flat[1].astype(np.float32),
        sim_indptr,
        sim_indices,
        sim_data,
        p["n"],
        c,
        query_explain=flat[2].astype(bool),
        num_threads=2,
        query_limit=flat[3].astype(np.int64),
    )
    candidates = [
        reference_limited(items, weights, explain, limits, sim_indptr, sim_indices, sim_data)
        for items, weights, explain, limits in queries
    ]
    assert_selected_like_reference(ids, scores, pos, candidates, p, fill_sc)


def test_query_limit_must_match_the_entries() -> None:
    sim = ([0, 1, 1], [1], [0.5])
    with pytest.raises(ValueError, match="query_limit"):
        constrained_topn_neighbours([0, 1], [0], [1.0], *sim, 1, query_limit=[1, 2])
    with pytest.raises(TypeError, match="query_limit"):
        constrained_topn_neighbours([0, 1], [0], [1.0], *sim, 1, query_limit=[0.5])


# --------------------------------------------------------------------------- by column
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(0, 60), density=st.floats(0, 1))
def test_columns_list_the_rows_holding_each_item(seed, n_items, density) -> None:
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((n_items, n_items)) < density, rng.normal(size=(n_items,) * 2), 0)
    dense = dense.astype(np.float32)
    rows = [[(j, dense[i, j]) for j in np.flatnonzero(dense[i])] for i in range(n_items)]
    for row in rows:
        rng.shuffle(row)  # any order within a row
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([j for r in rows for j, _ in r], dtype=np.int64)
    data = np.array([v for r in rows for _, v in r], dtype=np.float32)
    got = columns_of(indptr, indices, data)
    for j in range(n_items):
        lo, hi = got.indptr[j], got.indptr[j + 1]
        assert got.rows[lo:hi].tolist() == np.flatnonzero(dense[:, j]).tolist()
        assert got.data[lo:hi].tolist() == dense[np.flatnonzero(dense[:, j]), j].tolist()
    assert got.rows.dtype == np.int32 and got.data.dtype == np.float32


# --------------------------------------------------------------------------- prefix_topn
def weight_sorted(rng: np.random.Generator, n_items: int, max_len: int, values: list[float]):
    """Rows sorted by weight descending, ties by item (a NeighbourTable's order)."""
    rows = []
    for a in range(n_items):
        others = np.array([b for b in range(n_items) if b != a], dtype=np.int64)
        size = int(rng.integers(0, min(max_len, others.size) + 1))
        chosen = rng.choice(others, size=size, replace=False) if size else others[:0]
        weights = rng.choice(np.array(values, dtype=np.float32), size=size)
        pairs = zip(chosen.tolist(), weights.tolist(), strict=True)
        rows.append(sorted(pairs, key=lambda t: (-t[1], t[0])))
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    indices = np.array([b for r in rows for b, _ in r], dtype=np.int32)
    data = np.array([w for r in rows for _, w in r], dtype=np.float32)
    return indptr, indices, data


def run_prefix(sim, queries, n, wide, exclude):
    """The kernel on prefixes (no fill) then prefix_topn, and the kernel over whole rows."""
    q_ip, q_ix, q_w, q_ex, q_lim = queries
    n_q, n_items = q_ip.size - 1, sim[0].size - 1
    c = Constraints.make(n_q, n_items, exclude_indptr=exclude[0], exclude_indices=exclude[1])
    cands = constrained_topn_neighbours(
        q_ip, q_ix, q_w, *sim, wide, c, query_explain=q_ex, query_limit=q_lim
    )
    found = prefix_topn(
        q_ip, q_ix, q_w, q_lim, sim[0], sim[2], columns_of(*sim), cands, n, query_explain=q_ex
    )
    whole = constrained_topn_neighbours(q_ip, q_ix, q_w, *sim, n, c, query_explain=q_ex)
    return found, whole


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(2, 70),
    n_queries=st.integers(1, 6),
    n=st.integers(1, 6),
    extra=st.integers(0, 20),
    max_len=st.sampled_from([3, 20, 70]),
    values=st.sampled_from([[-0.5, 0.25, 0.5, 1.0], [0.125, 0.25, 0.375], [-1.0, -0.5, 0.5]]),
)
def test_proven_queries_are_the_whole_rows_answer(
    seed, n_items, n_queries, n, extra, max_len, values
) -> None:
    """Tied and negative weights, short and long rows, several prefix lengths; whatever the
    candidates, a proven query's list, scores and explaining positions are the kernel's over
    whole rows, bit for bit, and every candidate it returns has its whole-row score."""
    rng = np.random.default_rng(seed)
    sim = weight_sorted(rng, n_items, max_len, values)
    sizes = rng.integers(0, 8, n_queries)
    q_ip = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    q_ix = rng.integers(0, n_items, q_ip[-1]).astype(np.int64)
    q_w = rng.choice(np.array([0.0, 0.1, 0.25, 1.0], np.float32), q_ip[-1])
    q_ex = rng.random(q_ip[-1]) < 0.5
    q_lim = rng.choice(np.array([-1, 0, 1, 2, 5, 30]), q_ip[-1]).astype(np.int64)
    q_lim[q_ex] = -1  # the explaining entries (a basket's) read whole rows
    ex_len = rng.integers(0, 3, n_queries)
    exclude = (
        np.concatenate([[0], np.cumsum(ex_len)]).astype(np.int64),
        rng.integers(0, n_items, int(ex_len.sum())).astype(np.int64),
    )
    n = min(n, n_items)
    wide = min(n + extra, n_items)
    (ids, scores, pos, proven), whole = run_prefix(
        sim, (q_ip, q_ix, q_w, q_ex, q_lim), n, wide, exclude
    )
    dense = np.zeros((n_items, n_items), dtype=np.float64)
    rows = np.repeat(np.arange(n_items), np.diff(sim[0]))
    dense[rows, sim[1]] = sim[2]
    for q in range(n_queries):
        entries = slice(q_ip[q], q_ip[q + 1])
        exact = q_w[entries].astype(np.float64) @ dense[q_ix[entries]]
        taken = ids[q] >= 0
        np.testing.assert_allclose(scores[q][taken], exact[ids[q][taken]], rtol=1e-5, atol=1e-6)
        if proven[q]:
            assert ids[q].tolist() == whole[0][q].tolist()
            assert scores[q].tobytes() == whole[1][q].tobytes()
            assert pos[q].tolist() == whole[2][q].tolist()


def test_an_unread_tail_can_beat_the_prefix_candidates() -> None:
    """Item 3 is second in both rows: unread with limit 1, it has the best whole-row score (1.8)
    and the bound says so; read whole, the rows prove it."""
    # rows 0 and 1: [first: 1.0, 3: 0.9]
    sim = (
        np.array([0, 2, 4, 4, 4, 4], np.int64),
        np.array([2, 3, 4, 3], np.int32),
        np.array([1.0, 0.9, 1.0, 0.9], np.float32),
    )
    q = [np.array([0, 2], np.int64), np.array([0, 1], np.int64), np.ones(2, np.float32)]
    q.append(np.zeros(2, bool))  # history entries: they explain nothing
    no_exclusions = (np.array([0, 0], np.int64), np.empty(0, np.int64))
    (ids, _, _, proven), whole = run_prefix(sim, (*q, np.array([1, 1])), 1, 5, no_exclusions)
    assert ids.tolist() == [[2]] and not proven[0]  # 1.0 found; item 3 may score up to 1.8
    assert whole[0].tolist() == [[3]]
    (ids, scores, _, proven), _ = run_prefix(sim, (*q, np.array([2, 2])), 1, 5, no_exclusions)
    assert ids.tolist() == [[3]] and scores.tolist() == [[np.float32(1.8)]] and proven[0]


def test_a_clear_leader_is_proven_from_short_prefixes() -> None:
    """Two long rows of small weights after one strong neighbour: a prefix of 1 proves it."""
    n_items = 400
    tail = np.arange(2, n_items, dtype=np.int32)
    indices = np.concatenate([[1], tail, [1], tail]).astype(np.int32)
    data = np.concatenate([[1.0], np.full(tail.size, 0.01), [1.0], np.full(tail.size, 0.01)])
    indptr = np.zeros(n_items + 1, np.int64)
    indptr[1:] = indices.size
    indptr[1] = tail.size + 1
    sim = (indptr, indices, data.astype(np.float32))
    queries = (
        np.array([0, 2], np.int64),
        np.array([0, 0], np.int64),
        np.array([0.5, 0.5], np.float32),
        np.zeros(2, bool),
        np.array([1, 1], np.int64),
    )
    no_exclusions = (np.array([0, 0], np.int64), np.empty(0, np.int64))
    (ids, scores, _, proven), whole = run_prefix(sim, queries, 1, 3, no_exclusions)
    assert proven.tolist() == [True]
    assert ids.tolist() == whole[0].tolist() == [[1]]
    assert scores.tobytes() == whole[1].tobytes()


def test_prefix_topn_bad_input() -> None:
    sim = (np.array([0, 1, 1]), np.array([1], np.int32), np.array([0.5], np.float32))
    rows = columns_of(*sim)
    cands = (np.array([[1]]), np.array([[0.5]], np.float32), np.array([[0]]))
    q = ([0, 1], [0], [1.0], [-1])
    with pytest.raises(ValueError, match="n must be in"):
        prefix_topn(*q, sim[0], sim[2], rows, cands, 2)
    with pytest.raises(ValueError, match=">= 0"):
        prefix_topn([0, 1], [0], [-1.0], [-1], sim[0], sim[2], rows, cands, 1)
    with pytest.raises(ValueError, match="candidates"):
        prefix_topn(*q, sim[0], sim[2], rows, (cands[0][0], cands[1][0], cands[2][0]), 1)
    with pytest.raises(ValueError, match="query_indices"):
        prefix_topn([0, 1], [5], [1.0], [-1], sim[0], sim[2], rows, cands, 1)
    with pytest.raises(ValueError, match="whole rows"):
        prefix_topn([0, 1], [0], [1.0], [0], sim[0], sim[2], rows, cands, 1)
    with pytest.raises(ValueError, match="columns"):
        prefix_topn(*q, sim[0], sim[2], columns_of([0, 0], [], []), cands, 1)
