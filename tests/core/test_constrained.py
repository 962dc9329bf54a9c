"""The constrained top-n kernels against a plain NumPy/Python reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.core import constrained as cmod
from recsys.core.constrained import (
    Constraints,
    constrained_topn_candidates,
    constrained_topn_dense,
    constrained_topn_neighbours,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- reference
def reference_select(cands, n, excluded, allowed_row, group_of, cap, fill, fill_scores):
    """cands: list of (item, score, payload).  Returns (ids, scores, payloads)."""
    ok = [
        (i, s, p)
        for i, s, p in cands
        if not np.isnan(s) and i not in excluded and (allowed_row is None or allowed_row[i])
    ]
    ok.sort(key=lambda t: (-t[1], t[0]))
    taken: list[tuple[int, float, int]] = []
    seen: set[int] = set()
    counts: dict[int, int] = {}

    def room(i: int) -> bool:
        if group_of is None or group_of[i] < 0:
            return True
        return counts.get(group_of[i], 0) < cap

    for i, s, p in ok:
        if len(taken) == n:
            break
        if i in seen or not room(i):
            continue
        if group_of is not None and group_of[i] >= 0:
            counts[group_of[i]] = counts.get(group_of[i], 0) + 1
        seen.add(i)
        taken.append((i, s, p))
    if fill is not None:
        for i, s in zip(fill, fill_scores, strict=True):
            if len(taken) == n:
                break
            if (
                i < 0
                or i in seen
                or i in excluded
                or (allowed_row is not None and not allowed_row[i])
                or not room(i)
            ):
                continue
            if group_of is not None and group_of[i] >= 0:
                counts[group_of[i]] = counts.get(group_of[i], 0) + 1
            seen.add(i)
            taken.append((i, s, -1))
    ids = [t[0] for t in taken] + [-1] * (n - len(taken))
    scores = [t[1] for t in taken] + [-np.inf] * (n - len(taken))
    pay = [t[2] for t in taken] + [-1] * (n - len(taken))
    return ids, scores, pay


@st.composite
def problems(draw, max_items: int = 12, max_queries: int = 7):
    n_items = draw(st.integers(1, max_items))
    n_queries = draw(st.integers(1, max_queries))
    n = draw(st.integers(1, n_items + 2))
    item = st.integers(0, n_items - 1)
    excl = [sorted(set(draw(st.lists(item, max_size=4)))) for _ in range(n_queries)]
    n_masks = draw(st.integers(0, 2))
    masks = np.array(
        [
            [draw(st.booleans()) or draw(st.booleans()) for _ in range(n_items)]
            for _ in range(n_masks)
        ],
        dtype=bool,
    ).reshape(n_masks, n_items)
    mask_of_q = [draw(st.integers(0, n_masks - 1)) for _ in range(n_queries)] if n_masks else None
    use_groups = draw(st.booleans())
    group_of = [draw(st.integers(-1, 3)) for _ in range(n_items)] if use_groups else None
    cap = draw(st.integers(1, 3)) if use_groups else None
    n_fills = draw(st.integers(0, 2))
    fills = [draw(st.permutations(range(n_items))) for _ in range(n_fills)]
    fill_of_q = [draw(st.integers(-1, n_fills - 1)) for _ in range(n_queries)] if n_fills else None
    return dict(
        n_items=n_items,
        n_queries=n_queries,
        n=n,
        excl=excl,
        masks=masks,
        mask_of_q=mask_of_q,
        group_of=group_of,
        cap=cap,
        fills=fills,
        fill_of_q=fill_of_q,
    )


def make_constraints(p):
    indptr = np.cumsum([0] + [len(e) for e in p["excl"]])
    indices = np.array([i for e in p["excl"] for i in e], dtype=np.int64)
    fill = fill_sc = None
    if p["fills"]:
        fill = np.array(p["fills"], dtype=np.int64)
        fill_sc = -np.arange(fill.size, dtype=np.float32).reshape(fill.shape) / 8
    return Constraints.make(
        p["n_queries"],
        p["n_items"],
        exclude_indptr=indptr,
        exclude_indices=indices,
        item_allowed=p["masks"] if len(p["masks"]) else None,
        allowed_of_query=p["mask_of_q"],
        group_of=p["group_of"],
        max_per_group=p["cap"],
        fill_order=fill,
        fill_scores=fill_sc,
        fill_of_query=p["fill_of_q"],
    ), fill_sc


def query_context(p, q, fill_sc):
    allowed_row = p["masks"][p["mask_of_q"][q]] if len(p["masks"]) else None
    fill = fills = None
    if p["fills"] and p["fill_of_q"][q] >= 0:
        fill = p["fills"][p["fill_of_q"][q]]
        fills = fill_sc[p["fill_of_q"][q]].tolist()
    return set(p["excl"][q]), allowed_row, fill, fills


score_values = st.integers(-8, 8).map(lambda v: v / 4.0)


# --------------------------------------------------------------------------- candidates
@SETTINGS
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


# --------------------------------------------------------------------------- dense
@SETTINGS
@given(data=st.data(), p=problems())
def test_dense_matches_reference(data, p) -> None:
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


# --------------------------------------------------------------------------- neighbours
def reference_neighbours(q_items, q_weights, q_explain, sim_indptr, sim_indices, sim_data, n_items):
    acc = np.zeros(n_items, dtype=np.float32)
    touched: list[int] = []
    best: dict[int, tuple[np.float32, int]] = {}
    for i, w, ex in zip(q_items, q_weights, q_explain, strict=True):
        for r in range(sim_indptr[i], sim_indptr[i + 1]):
            j = int(sim_indices[r])
            if j not in touched:
                touched.append(j)
            contribution = np.float32(np.float32(w) * sim_data[r])
            acc[j] = np.float32(acc[j] + contribution)
            if ex and (j not in best or contribution > best[j][0]):
                best[j] = (contribution, r)
    return [(j, acc[j], best.get(j, (0, -1))[1]) for j in touched if acc[j] > 0]


@st.composite
def similarity(draw, n_items: int):
    rows = []
    for a in range(n_items):
        others = [b for b in range(n_items) if b != a]
        nbrs = draw(st.lists(st.sampled_from(others), unique=True, max_size=4)) if others else []
        rows.append([(b, draw(st.integers(-2, 8).map(lambda v: v / 4.0))) for b in nbrs])
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([b for r in rows for b, _ in r], dtype=np.int32)
    data = np.array([s for r in rows for _, s in r], dtype=np.float32)
    return indptr, indices, data


@SETTINGS
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


def assert_selected_like_reference(ids, scores, pos, candidates, p, fill_sc) -> None:
    """Every query's kernel output equals the reference selection from its reference candidates."""
    for q, cands in enumerate(candidates):
        excluded, allowed_row, fill, fills = query_context(p, q, fill_sc)
        ref_ids, ref_scores, ref_pos = reference_select(
            cands, p["n"], excluded, allowed_row, p["group_of"], p["cap"], fill, fills
        )
        assert ids[q].tolist() == ref_ids
        np.testing.assert_array_equal(scores[q], np.array(ref_scores, dtype=np.float32))
        assert pos[q].tolist() == ref_pos


def reference_noisy_or(q_items, q_weights, q_explain, q_direct, sim_indptr, sim_indices, sim_data):
    """``combine="noisy_or"``: max of weight * sim over neighbour entries, noisy-or with direct entries."""
    best_nb: dict[int, np.float32] = {}
    direct: dict[int, np.float32] = {}
    best: dict[int, tuple[np.float32, int]] = {}
    touched: list[int] = []
    for i, w, ex, d in zip(q_items, q_weights, q_explain, q_direct, strict=True):
        if d:
            i = int(i)
            if i not in touched:
                touched.append(i)
            old = direct.get(i, np.float32(0))
            direct[i] = np.float32(
                np.float32(old + np.float32(w)) - np.float32(old * np.float32(w))
            )
            continue
        for r in range(sim_indptr[i], sim_indptr[i + 1]):
            j = int(sim_indices[r])
            if j not in touched:
                touched.append(j)
            contribution = np.float32(np.float32(w) * sim_data[r])
            best_nb[j] = max(best_nb.get(j, np.float32(0)), contribution)
            if ex and (j not in best or contribution > best[j][0]):
                best[j] = (contribution, r)
    out = []
    for j in touched:
        b, d = best_nb.get(j, np.float32(0)), direct.get(j, np.float32(0))
        score = np.float32(np.float32(b + d) - np.float32(b * d))
        if score > 0:
            out.append((j, score, best.get(j, (0, -1))[1]))
    return out


@SETTINGS
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


# --------------------------------------------------------------------------- properties
@SETTINGS
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


def test_many_queries_over_chunks_and_threads() -> None:
    rng = np.random.default_rng(0)
    n_items, n_queries = 50, cmod.CHUNK_SIZE + 37
    dense = rng.random((n_queries, n_items), dtype=np.float32)
    group_of = rng.integers(-1, 5, n_items)
    c = Constraints.make(n_queries, n_items, group_of=group_of, max_per_group=2)
    one = constrained_topn_dense(dense, 7, c, num_threads=1)
    two = constrained_topn_dense(dense, 7, c, num_threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_fill_scores_and_no_fill_row() -> None:
    c = Constraints.make(
        2, 3, fill_order=[2, 1, 0], fill_scores=[3.0, 2.0, 1.0], fill_of_query=[0, -1]
    )
    ids, scores, pos = constrained_topn_candidates([0, 0, 0], [], [], n=2, n_items=3, constraints=c)
    assert ids.tolist() == [[2, 1], [-1, -1]]
    assert scores[0].tolist() == [3.0, 2.0]
    assert pos.tolist() == [[-1, -1], [-1, -1]]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(exclude_indptr=[0, 1]), "given together"),
        (dict(exclude_indptr=[0, 1], exclude_indices=[5]), "exclude_indices"),
        (dict(item_allowed=np.ones(4, dtype=int)), "bool"),
        (dict(item_allowed=np.ones(5, dtype=bool)), "item_allowed must have shape"),
        (dict(item_allowed=np.ones((2, 4), dtype=bool), allowed_of_query=[2]), "allowed_of_query"),
        (dict(allowed_of_query=[0]), "needs item_allowed"),
        (dict(max_per_group=2), "needs group_of"),
        (dict(group_of=[0, 1, 2, 3]), "needs max_per_group"),
        (dict(group_of=[0, 1, 2, 3], max_per_group=0), "positive"),
        (dict(group_of=[0, 1, 2]), "group_of must have shape"),
        (dict(fill_order=[0, 9]), "fill_order"),
        (dict(fill_order=[0, 1], fill_scores=[1.0]), "fill_scores"),
        (dict(fill_scores=[1.0]), "need fill_order"),
    ],
)
def test_constraint_errors(kwargs, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Constraints.make(1, 4, **kwargs)


def test_kernel_argument_errors() -> None:
    c = Constraints.make(2, 3)
    with pytest.raises(ValueError, match="constraints were made for 2 queries"):
        constrained_topn_dense(np.zeros((1, 3)), 2, c)
    with pytest.raises(TypeError, match="Constraints"):
        constrained_topn_dense(np.zeros((1, 3)), 2, "nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        constrained_topn_dense(np.zeros((1, 3)), 0)
    with pytest.raises(ValueError, match="cand_scores"):
        constrained_topn_candidates([0, 2], [0, 1], [1.0], 2, 3)
    with pytest.raises(ValueError, match="cand_indices"):
        constrained_topn_candidates([0, 1], [7], [1.0], 2, 3)
    with pytest.raises(ValueError, match="sim_indptr"):
        constrained_topn_neighbours([0, 1], [0], [1.0], [0, 5], [1], [1.0], 2)
    with pytest.raises(ValueError, match="query_explain"):
        constrained_topn_neighbours(
            [0, 1], [0], [1.0], [0, 0, 0], [], [], 2, query_explain=[True, False]
        )


def test_neighbours_parallel_batch_matches_reference() -> None:
    rng = np.random.default_rng(1)
    n_items, n_queries = 40, 3 * cmod.SERIAL_MAX_QUERIES + 5
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


def test_serial_scratch_is_reused_and_left_clean() -> None:
    """Single-basket calls reuse per-thread scratch: every kernel must leave it as it found it."""
    rng = np.random.default_rng(3)
    n_items = 40
    sim_indptr = np.arange(0, 4 * n_items + 1, 4)
    sim_indices = rng.integers(0, n_items, 4 * n_items).astype(np.int32)
    sim_data = rng.random(4 * n_items).astype(np.float32)
    group_of = rng.integers(-1, 5, n_items)
    for trial in range(30):
        items = rng.choice(n_items, size=3, replace=False)
        c = Constraints.make(
            1,
            n_items,
            exclude_indptr=[0, 2],
            exclude_indices=items[:2],
            group_of=group_of,
            max_per_group=1,
            fill_order=np.arange(n_items),
        )
        ids, _, _ = constrained_topn_neighbours(
            [0, 3],
            items,
            np.ones(3, np.float32),
            sim_indptr,
            sim_indices,
            sim_data,
            6,
            c,
            query_direct=[False, False, trial % 2 == 0],
            combine="noisy_or" if trial % 3 else "sum",
        )
        assert not set(ids[0].tolist()) & set(items[:2].tolist())
        constrained_topn_candidates([0, 3], items, [0.3, 0.2, 0.1], 2, n_items, c)
        for buffers in cmod._SERIAL_SCRATCH.buffers.values():
            for array in buffers:
                if array.dtype == np.bool_:
                    assert not array.any(), "a mark or flag was left set"
            assert not buffers[-1].any(), (
                "group counts were left non-zero"
            )  # every scratch tuple ends with them
