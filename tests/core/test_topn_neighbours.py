"""topn_neighbours: constrained top-n by neighbour similarity, against Python references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.core import workers
from recsys.core.constraints import Constraints
from recsys.core.topn_neighbours import constrained_topn_neighbours
from tests.core.reference import (
    CONSTRAINED_SETTINGS,
    SETTINGS,
    SIM_VALUES,
    WEIGHT_VALUES,
    assert_same,
    assert_selected_like_reference,
    make_constraints,
    problems,
    random_allowed,
    random_csr,
    random_exclusions,
    reference_neighbour,
    reference_neighbours,
    reference_noisy_or,
    reference_select,
    similarity,
)


def sum_with_fill(query, sim, n, ex_ip=None, ex_ix=None, allowed=None, fill_order=None, **kw):
    """What item-item models call: summed similarities, fill order, no explaining pairs."""
    n_queries, n_items = len(query[0]) - 1, len(sim[0]) - 1
    c = Constraints.make(
        n_queries,
        n_items,
        exclude_indptr=ex_ip,
        exclude_indices=ex_ix,
        item_allowed=allowed,
        fill_order=fill_order,
    )
    ids, scores, positions = constrained_topn_neighbours(
        *query, *sim, n, c, combine="sum", positions=False, **kw
    )
    assert positions is None
    return ids, scores


# --------------------------------------------------------------------------- sum, fill
@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(0, 40),
    n_queries=st.integers(0, 8),
    n=st.integers(1, 45),
    fill=st.sampled_from(["none", "perm", "partial"]),
)
def test_sum_with_fill_matches_reference(seed, n_items, n_queries, n, fill):
    """Negative weights and similarities, duplicate query items, exclusions, one mask, fills."""
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
    got = sum_with_fill(query, sim, n, ex_ip, ex_ix, allowed, fill_order, num_threads=2)
    assert_same(got, want)
    # the explaining pairs change nothing else
    c = Constraints.make(
        n_queries,
        n_items,
        exclude_indptr=ex_ip,
        exclude_indices=ex_ix,
        item_allowed=allowed,
        fill_order=fill_order,
    )
    ids, scores, _ = constrained_topn_neighbours(*query, *sim, n, c, num_threads=2)
    assert_same((ids, scores), want)


def test_sum_fill_gives_exactly_n_rows():
    # item 0 -> neighbour 1; query holds item 0; exclude 0 itself
    sim = (np.array([0, 1, 1, 1, 1]), np.array([1]), np.array([0.5]))
    query = (np.array([0, 1, 1]), np.array([0]), np.array([1.0]))
    ids, scores = sum_with_fill(
        query, sim, 3, np.array([0, 1, 1]), np.array([0]), fill_order=np.array([3, 1, 0, 2])
    )
    assert ids.tolist() == [[1, 3, 2], [3, 1, 0]]
    assert scores.tolist() == [[0.5, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_sum_chunking(monkeypatch):
    rng = np.random.default_rng(11)
    sim = random_csr(rng, 30, 30, 6, SIM_VALUES)
    query = random_csr(rng, 17, 30, 5, WEIGHT_VALUES)
    ex_ip, ex_ix = random_exclusions(rng, 17, 30)
    fill_order = rng.permutation(30).astype(np.int32)
    want = reference_neighbour(query, sim, 30, 6, ex_ip, ex_ix, None, fill_order)
    monkeypatch.setattr(workers, "CHUNKS_PER_WORKER", 1)
    monkeypatch.setattr(workers, "MAX_CHUNK", 5)
    got = sum_with_fill(query, sim, 6, ex_ip, ex_ix, fill_order=fill_order, num_threads=2)
    assert_same(got, want)


# --------------------------------------------------------------------------- constrained
@CONSTRAINED_SETTINGS
@given(data=st.data(), p=problems())
def test_neighbours_match_reference(data, p) -> None:
    sim_indptr, sim_indices, sim_data = data.draw(similarity(p["n_items"]))
    queries = []
    for _ in range(p["n_queries"]):
        items = data.draw(st.lists(st.integers(0, p["n_items"] - 1), max_size=4))
        weights = [data.draw(st.sampled_from([0.5, 1.0, 2.0])) for _ in items]
        explain = [data.draw(st.booleans()) for _ in items]
        queries.append((items, weights, explain))
    q_indptr = np.cumsum([0] + [len(q[0]) for q in queries])
    q_items = np.array([i for q in queries for i in q[0]], dtype=np.int64)
    q_w = np.array([w for q in queries for w in q[1]], dtype=np.float32)
    q_ex = np.array([e for q in queries for e in q[2]], dtype=bool)
    c, fill_sc = make_constraints(p)
    ids, scores, pos = constrained_topn_neighbours(
        q_indptr,
        q_items,
        q_w,
        sim_indptr,
        sim_indices,
        sim_data,
        p["n"],
        c,
        query_explain=q_ex,
        num_threads=2,
    )
    candidates = [
        reference_neighbours(
            items, weights, explain, sim_indptr, sim_indices, sim_data, p["n_items"]
        )
        for items, weights, explain in queries
    ]
    assert_selected_like_reference(ids, scores, pos, candidates, p, fill_sc)


@CONSTRAINED_SETTINGS
@given(data=st.data(), p=problems())
def test_noisy_or_matches_reference(data, p) -> None:
    sim_indptr, sim_indices, sim_data = data.draw(similarity(p["n_items"]))
    sim_data = np.clip(sim_data / 2, 0, 1).astype(np.float32)  # probabilities
    queries = []
    for _ in range(p["n_queries"]):
        items = data.draw(st.lists(st.integers(0, p["n_items"] - 1), max_size=5))
        weights = [data.draw(st.sampled_from([0.0, 0.125, 0.5, 1.0])) for _ in items]
        explain = [data.draw(st.booleans()) for _ in items]
        direct = [data.draw(st.booleans()) for _ in items]
        queries.append((items, weights, explain, direct))
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
        query_direct=flat[3].astype(bool),
        combine="noisy_or",
        num_threads=2,
    )
    candidates = [
        reference_noisy_or(items, weights, explain, direct, sim_indptr, sim_indices, sim_data)
        for items, weights, explain, direct in queries
    ]
    assert_selected_like_reference(ids, scores, pos, candidates, p, fill_sc)


def test_noisy_or_arguments() -> None:
    sim = ([0, 1, 1], [1], [0.5])
    with pytest.raises(ValueError, match="combine"):
        constrained_topn_neighbours([0, 1], [0], [1.0], *sim, 1, combine="max")
    with pytest.raises(ValueError, match="probabilities"):
        constrained_topn_neighbours([0, 1], [0], [2.0], *sim, 1, combine="noisy_or")
    with pytest.raises(ValueError, match="query_direct"):
        constrained_topn_neighbours([0, 1], [0], [1.0], *sim, 1, query_direct=[True, False])
    # a direct entry adds its weight when summing
    ids, scores, _ = constrained_topn_neighbours(
        [0, 2], [0, 1], [1.0, 0.25], *sim, 2, query_direct=[False, True]
    )
    assert ids.tolist() == [[1, -1]] and scores.tolist() == [[0.75, -np.inf]]


def test_neighbours_parallel_batch_matches_reference(monkeypatch) -> None:
    monkeypatch.setattr(workers, "SERIAL_MAX_WORK", -1)  # the parallel kernel, however small
    rng = np.random.default_rng(1)
    n_items, n_queries = 40, 3 * workers.SERIAL_MAX_QUERIES + 5
    rows = [
        rng.choice(n_items, size=int(rng.integers(0, 6)), replace=False) for _ in range(n_items)
    ]
    sim_indptr = np.cumsum([0] + [len(r) for r in rows])
    sim_indices = np.concatenate(rows).astype(np.int32)
    sim_data = (rng.integers(1, 9, sim_indices.size) / 4).astype(np.float32)
    queries = [
        rng.choice(n_items, size=int(rng.integers(1, 4)), replace=False) for _ in range(n_queries)
    ]
    q_indptr = np.cumsum([0] + [len(q) for q in queries])
    q_items = np.concatenate(queries)
    group_of = rng.integers(-1, 4, n_items)
    fill = rng.permutation(n_items)
    c = Constraints.make(
        n_queries,
        n_items,
        exclude_indptr=q_indptr,
        exclude_indices=q_items,
        group_of=group_of,
        max_per_group=2,
        fill_order=fill,
    )
    ids, scores, pos = constrained_topn_neighbours(
        q_indptr,
        q_items,
        np.ones(q_items.size),
        sim_indptr,
        sim_indices,
        sim_data,
        6,
        c,
        num_threads=2,
    )
    for q, items in enumerate(queries):
        cands = reference_neighbours(
            items,
            [1.0] * len(items),
            [True] * len(items),
            sim_indptr,
            sim_indices,
            sim_data,
            n_items,
        )
        ref_ids, ref_scores, ref_pos = reference_select(
            cands,
            6,
            set(items.tolist()),
            None,
            group_of.tolist(),
            2,
            fill.tolist(),
            [0.0] * n_items,
        )
        assert ids[q].tolist() == ref_ids
        assert pos[q].tolist() == ref_pos


# --------------------------------------------------------------------------- errors
def sim3() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.array([0, 1, 1, 1]), np.array([1]), np.array([1.0])


@pytest.mark.parametrize("n", [0, -1])
def test_n_must_be_positive(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        constrained_topn_neighbours(np.array([0, 0]), [], [], *sim3(), n)


def test_neighbour_errors():
    ok = (np.array([0, 1]), np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError, match="query_weights must have the shape"):
        constrained_topn_neighbours(ok[0], ok[1], np.array([1.0, 2.0]), *sim3(), 1)
    with pytest.raises(ValueError, match=r"query_indices must hold item ids in \[0, 3\)"):
        constrained_topn_neighbours(ok[0], np.array([5]), ok[2], *sim3(), 1)
    with pytest.raises(ValueError, match="sim_data must have the shape"):
        constrained_topn_neighbours(*ok, np.array([0, 1, 1, 1]), np.array([1]), np.ones(2), 1)
    with pytest.raises(ValueError, match="sim_indptr must start at 0"):
        constrained_topn_neighbours(*ok, np.array([0, 1, 1, 2]), np.array([1]), np.ones(1), 1)
    with pytest.raises(ValueError, match="sim_indptr must start at 0"):
        constrained_topn_neighbours([0, 1], [0], [1.0], [0, 5], [1], [1.0], 2)
    with pytest.raises(ValueError, match="not a valid CSR"):
        constrained_topn_neighbours(*ok, np.array([0, 1, 1, 1]), np.array([9]), np.ones(1), 1)
    with pytest.raises(ValueError, match="not a valid CSR"):  # a row pointer out of range
        constrained_topn_neighbours(*ok, np.array([0, 3, 0, 1]), np.array([1]), np.ones(1), 1)
    with pytest.raises(ValueError, match="query_explain"):
        constrained_topn_neighbours(
            [0, 1], [0], [1.0], [0, 0, 0], [], [], 2, query_explain=[True, False]
        )
    with pytest.raises(ValueError, match="constraints were made for 3 items"):
        constrained_topn_neighbours(*ok, [0, 0], [], [], 1, Constraints.make(1, 3))
