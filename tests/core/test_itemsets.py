"""best_itemsets against a plain itertools reference (every set counted by brute force)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.core.itemsets import best_itemsets


def reference(dense: np.ndarray, anchors, blocked, size, n, min_support, prior):
    """Per anchor (in order), its best n sets by evidence, lift, then items."""
    n_orders, n_items = dense.shape
    count = dense.sum(axis=0).astype(float)
    out = []
    for a in anchors:
        mine = dense[dense[:, a]]
        ranked = []
        others = [j for j in range(n_items) if j != a and not blocked[j]]
        for t in itertools.combinations(others, size - 1):
            s = int(mine[:, list(t)].all(axis=1).sum())
            if s < min_support:
                continue
            shares = [count[j] / max(n_orders, 1) for j in t]  # in item order, as the kernel
            share = shares[0]
            for value in shares[1:]:
                share = share * value
            lift = s / np.prod(count[list(t)])
            ranked.append((-(s + prior * share), -lift, t, s))
        ranked.sort()
        out += [(a, t, s, -e, -lf) for e, lf, t, s in ranked[:n]]
    return out


@st.composite
def problems(draw):
    n_orders = draw(st.integers(1, 14))
    n_items = draw(st.integers(2, 9))
    dense = np.array(
        draw(
            st.lists(
                st.lists(st.booleans(), min_size=n_items, max_size=n_items),
                min_size=n_orders,
                max_size=n_orders,
            )
        ),
        dtype=bool,
    )
    anchors = draw(st.lists(st.integers(0, n_items - 1), unique=True, min_size=1, max_size=3))
    blocked = np.array(draw(st.lists(st.booleans(), min_size=n_items, max_size=n_items)))
    return (
        dense,
        anchors,
        blocked,
        draw(st.integers(2, 4)),
        draw(st.integers(1, 4)),
        draw(st.integers(1, 3)),
        draw(st.sampled_from([0.0, 1.0, 7.5])),
        draw(st.integers(1, 4)),
    )


@settings(max_examples=200, deadline=None)
@given(problems())
def test_matches_brute_force(problem) -> None:
    dense, anchors, blocked, size, n, min_support, prior, first = problem
    orders = sp.csr_matrix(dense.astype(np.float32))
    by_item = orders.tocsc()
    by_item.sort_indices()
    sets, support, evidence, lift, anchor = best_itemsets(
        orders.indptr,
        orders.indices,
        by_item.indptr,
        by_item.indices,
        np.diff(by_item.indptr).astype(float),
        np.array(anchors),
        blocked,
        size,
        n,
        min_support,
        prior,
        first_shortlist=first,
    )
    expected = reference(dense, anchors, blocked, size, n, min_support, prior)
    got = list(zip(anchor.tolist(), map(tuple, sets.tolist()), support.tolist(), strict=True))
    assert got == [(a, t, s) for a, t, s, _, _ in expected]
    np.testing.assert_allclose(evidence, [e for *_, e, _ in expected], rtol=1e-12)
    np.testing.assert_allclose(lift, [lf for *_, lf in expected], rtol=1e-12)


def test_rejects_bad_arguments() -> None:
    orders = sp.csr_matrix(np.eye(3, dtype=np.float32))
    by_item = orders.tocsc()
    args = (orders.indptr, orders.indices, by_item.indptr, by_item.indices, np.ones(3))
    with pytest.raises(ValueError, match="size must be 2, 3 or 4"):
        best_itemsets(*args, np.array([0]), np.zeros(3, bool), 5, 1, 1, 0.0)
    with pytest.raises(ValueError, match="blocked must have shape"):
        best_itemsets(*args, np.array([0]), np.zeros(2, bool), 2, 1, 1, 0.0)
    with pytest.raises(ValueError, match="anchors must lie in 0..2"):
        best_itemsets(*args, np.array([3]), np.zeros(3, bool), 2, 1, 1, 0.0)
    with pytest.raises(ValueError, match="not a canonical CSR"):
        best_itemsets(
            orders.indptr,
            np.array([0, 7, 2]),
            by_item.indptr,
            by_item.indices,
            np.ones(3),
            np.array([1]),
            np.zeros(3, bool),
            2,
            1,
            1,
            0.0,
        )
    with pytest.raises(ValueError, match="not a canonical CSR"):  # an order out of range
        best_itemsets(
            orders.indptr,
            orders.indices,
            by_item.indptr,
            np.array([0, 9, 2]),
            np.ones(3),
            np.array([1]),
            np.zeros(3, bool),
            2,
            1,
            1,
            0.0,
        )
