"""neighbour_item_scores against the NumPy references of the neighbour top-n kernel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.core.neighbour_scores import neighbour_item_scores
from tests.core.reference import reference_neighbours, reference_noisy_or, similarity


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n_items=st.integers(1, 12), combine=st.sampled_from(["sum", "noisy_or"]))
def test_scores_match_the_reference(data, n_items: int, combine: str) -> None:
    sim_indptr, sim_indices, sim_data = data.draw(similarity(n_items))
    if combine == "noisy_or":
        sim_data = np.clip(sim_data / 2, 0, 1).astype(np.float32)
    queries = []
    for _ in range(data.draw(st.integers(0, 4))):
        items = data.draw(st.lists(st.integers(0, n_items - 1), max_size=5))
        weights = [data.draw(st.sampled_from([0.0, 0.125, 0.5, 1.0])) for _ in items]
        direct = [data.draw(st.booleans()) and combine == "noisy_or" for _ in items]
        queries.append((items, weights, direct))
    wanted = data.draw(st.lists(st.integers(0, n_items - 1), max_size=6))
    q_indptr = np.cumsum([0] + [len(q[0]) for q in queries])
    flat = [np.array([v for q in queries for v in q[k]]) for k in range(3)]
    got = neighbour_item_scores(
        q_indptr,
        flat[0].astype(np.int64),
        flat[1].astype(np.float32),
        sim_indptr,
        sim_indices,
        sim_data,
        np.array(wanted, dtype=np.int64),
        query_direct=flat[2].astype(bool),
        combine=combine,
    )
    assert got.shape == (len(queries), len(wanted))
    for q, (items, weights, direct) in enumerate(queries):
        explain = [True] * len(items)
        if combine == "sum":
            cands = reference_neighbours(
                items, weights, explain, sim_indptr, sim_indices, sim_data, n_items
            )
        else:
            cands = reference_noisy_or(
                items, weights, explain, direct, sim_indptr, sim_indices, sim_data
            )
        score = {j: s for j, s, _ in cands}
        expected = np.array([score.get(j, 0.0) for j in wanted], dtype=np.float32)
        np.testing.assert_array_equal(np.maximum(got[q], 0), np.maximum(expected, 0))


def test_bad_arguments() -> None:
    sim = ([0, 1, 1], [1], [0.5])
    with pytest.raises(ValueError, match="combine"):
        neighbour_item_scores([0, 1], [0], [1.0], *sim, [1], combine="max")
    with pytest.raises(ValueError, match="query_indices"):
        neighbour_item_scores([0, 1], [5], [1.0], *sim, [1])
    with pytest.raises(ValueError, match="query_indptr"):
        neighbour_item_scores([0, 2], [0], [1.0], *sim, [1])
    with pytest.raises(ValueError, match="query_direct"):
        neighbour_item_scores([0, 1], [0], [1.0], *sim, [1], query_direct=[True, False])
    assert neighbour_item_scores([0], [], [], *sim, [0, 1]).shape == (0, 2)
    with pytest.raises(ValueError, match="not a valid CSR"):
        neighbour_item_scores(
            [0, 1], [0], [1.0], [0, 5, 1], [1], [0.5], [1]
        )  # row 0 runs past the end


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n_items=st.integers(2, 10), combine=st.sampled_from(["sum", "noisy_or"]))
def test_ids_that_share_a_filter_bit_are_told_apart(data, n_items: int, combine: str) -> None:
    # The kernel passes over neighbours by a 4096-bit filter of the wanted ids: item a renamed
    # a * 4096 puts every item on the same filter bit, so only the exact search tells them
    # apart. The renamed problem must score exactly as the small one.
    sim_indptr, sim_indices, sim_data = data.draw(similarity(n_items))
    if combine == "noisy_or":
        sim_data = np.clip(sim_data / 2, 0, 1).astype(np.float32)
    items = data.draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=5))
    weights = np.array([data.draw(st.sampled_from([0.125, 0.5, 1.0])) for _ in items], np.float32)
    wanted = np.array(
        data.draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=6)), np.int64
    )
    spread = 4096
    lengths = np.zeros(n_items * spread, dtype=np.int64)
    lengths[np.arange(n_items) * spread] = np.diff(sim_indptr)
    big_indptr = np.concatenate([[0], np.cumsum(lengths)])
    args = dict(combine=combine)
    small = neighbour_item_scores(
        [0, len(items)], items, weights, sim_indptr, sim_indices, sim_data, wanted, **args
    )
    big = neighbour_item_scores(
        [0, len(items)],
        np.array(items, dtype=np.int64) * spread,
        weights,
        big_indptr,
        sim_indices.astype(np.int64) * spread,
        sim_data,
        wanted * spread,
        **args,
    )
    np.testing.assert_array_equal(big, small)


def test_history_probabilities_refuse_rows_outside_the_table() -> None:
    from recsys.core.neighbour_scores import history_item_probabilities

    table = dict(
        sim_indptr=np.array([0, 1, 1]),
        sim_indices=np.array([1], np.int32),
        sim_data=np.array([0.5], np.float32),
        item_support=np.array([2, 1]),
        n_rows=3,
        popular=np.zeros(0, np.int64),
        listed=np.zeros((2, 0), bool),
        basket_prior=1.0,
    )
    assert history_item_probabilities(np.array([0]), np.array([1]), **table).tolist() == [0.5]
    with pytest.raises(ValueError, match="items must be item rows"):
        history_item_probabilities(np.array([0]), np.array([2]), **table)
    with pytest.raises(ValueError, match="history must hold item rows"):
        history_item_probabilities(np.array([-1]), np.array([1]), **table)
    bad = dict(table, sim_indptr=np.array([0, 5, 1]))  # row 0 runs past the end
    with pytest.raises(ValueError, match="not a valid CSR"):
        history_item_probabilities(np.array([0]), np.array([1]), **bad)
