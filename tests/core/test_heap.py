"""heap: the ranking order, the pair heap and the position heaps against a lexsort."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from recsys.core.heap import (
    better,
    pair_drain,
    pair_offer,
    sift_down_best,
    sift_down_worst,
    sort_ascending,
)
from tests.core.reference import SETTINGS

scores_st = st.lists(st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 1.0, np.inf]), max_size=40)


def ranked(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions in ranking order: score descending, id ascending."""
    return np.lexsort((ids, -scores))


@SETTINGS
@given(scores=scores_st, n=st.integers(1, 45), seed=st.integers(0, 2**32 - 1))
def test_pair_heap_keeps_the_top_n(scores, n, seed):
    rng = np.random.default_rng(seed)
    s = np.array(scores, dtype=np.float32)
    ids = rng.permutation(len(scores)).astype(np.int32)
    hs, hi = np.empty(n, np.float32), np.empty(n, np.int32)
    size = 0
    for k in range(len(scores)):
        size = pair_offer(hs, hi, size, n, s[k], ids[k])
    pair_drain(hs, hi, size)
    top = ranked(s, ids)[:n]
    assert size == top.size
    np.testing.assert_array_equal(hi[:size], ids[top])
    np.testing.assert_array_equal(hs[:size], s[top])
    assert (hi[size:] == -1).all() and (hs[size:] == -np.inf).all()


@SETTINGS
@given(scores=scores_st, seed=st.integers(0, 2**32 - 1))
def test_position_heap_pops_in_ranking_order(scores, seed):
    rng = np.random.default_rng(seed)
    cs = np.array(scores, dtype=np.float32)
    ci = rng.permutation(len(scores)).astype(np.int32)
    m = len(scores)
    want = ranked(cs, ci)
    # max-heap: heapify everything, pop the best each time
    heap = np.arange(m, dtype=np.int32)
    for pos in range(m // 2 - 1, -1, -1):
        sift_down_best(heap, m, pos, ci, cs)
    popped = []
    size = m
    while size:
        popped.append(heap[0])
        size -= 1
        heap[0] = heap[size]
        sift_down_best(heap, size, 0, ci, cs)
    np.testing.assert_array_equal(popped, want)


@SETTINGS
@given(scores=scores_st, n=st.integers(1, 45), seed=st.integers(0, 2**32 - 1))
def test_bounded_position_heap_keeps_the_top_n(scores, n, seed):
    rng = np.random.default_rng(seed)
    cs = np.array(scores, dtype=np.float32)
    ci = rng.permutation(len(scores)).astype(np.int32)
    want = ranked(cs, ci)
    size = min(n, len(scores))
    heap = np.arange(size, dtype=np.int32)  # the first n, heapified: root = worst
    for pos in range(size // 2 - 1, -1, -1):
        sift_down_worst(heap, size, pos, ci, cs)
    for c in range(size, len(scores)):
        if better(cs[c], ci[c], cs[heap[0]], ci[heap[0]]):
            heap[0] = c
            sift_down_worst(heap, size, 0, ci, cs)
    assert sorted(heap[:size].tolist()) == sorted(want[:n].tolist())
    if size:
        assert heap[0] == want[size - 1]  # the root is the worst kept


def test_better_is_the_ranking_order():
    assert better(2.0, 9, 1.0, 0) and not better(1.0, 0, 2.0, 9)
    assert better(1.0, 1, 1.0, 2) and not better(1.0, 2, 1.0, 1)
    assert not better(np.nan, 0, -np.inf, 1)


@SETTINGS
@given(
    keys=st.lists(st.integers(0, 2**64 - 1), max_size=60),
    m=st.integers(0, 60),
)
def test_sort_ascending_sorts_the_prefix_in_place(keys, m):
    """Against np.sort: keys[:m] sorted (duplicates too), the rest untouched (uint64 keys)."""
    arr = np.array(keys, dtype=np.uint64)
    m = min(m, arr.size)
    want = np.concatenate([np.sort(arr[:m]), arr[m:]])
    sort_ascending(arr, m)
    np.testing.assert_array_equal(arr, want)
