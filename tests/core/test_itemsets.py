"""best_itemsets against a plain itertools reference (every set counted by brute force)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.core.itemsets import (
    ItemsetScratch,
    best_itemsets,
    co_purchase_lists,
    prior_hits,
)


def reference(
    dense: np.ndarray, anchors, blocked, size, n, min_support, prior, pair_prior=0.0, cap=512
):
    """Per anchor (in order), its best n sets by evidence, lift, then items."""
    n_orders, n_items = dense.shape
    count = dense.sum(axis=0).astype(float)
    out = []
    for a in anchors:
        mine = dense[dense[:, a]]
        together = mine.sum(axis=0).astype(float)
        n_anchor = float(mine.shape[0])
        # the pairwise P(j | a), shrunk towards j's share of the orders
        with np.errstate(invalid="ignore"):  # an anchor in no order: never ranked
            phat = (together + pair_prior * (count / max(n_orders, 1))) / (n_anchor + pair_prior)
        ranked = []
        others = [
            j
            for j in range(n_items)
            if j != a and not blocked[j] and together[j] >= min_support and together[j] > 0
        ]
        if size > 2 and len(others) >= size - 1:
            # the shortlist: the kernel never looks past the first `cap` items by bound (then
            # co-purchases, then row); within it the answer is exact
            share = phat[others]
            bound = together[others] + prior * share * share.max() ** (size - 2)
            order = sorted(
                range(len(others)), key=lambda k: (-bound[k], -together[others[k]], others[k])
            )
            others = sorted(others[k] for k in order[: max(cap, size - 1)])
        for t in itertools.combinations(others, size - 1):
            s = int(mine[:, list(t)].all(axis=1).sum())
            if s < min_support:
                continue
            shares = [phat[j] for j in t]  # multiplied in item order, as the kernel
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
        draw(st.sampled_from([0.0, 0.5, 30.0])),
        draw(st.integers(1, 4)),
    )


SCRATCH: dict[int, ItemsetScratch] = {}  # reused across examples, as a server reuses it


@settings(max_examples=250, deadline=None)
@given(problems(), st.sampled_from([1, 2, 512]), st.data())
def test_matches_brute_force(problem, max_shortlist, data) -> None:
    dense, anchors, blocked, size, n, min_support, prior, pair_prior, first = problem
    orders = sp.csr_matrix(dense.astype(np.float32))
    by_item = orders.tocsc()
    by_item.sort_indices()
    listed = data.draw(st.lists(st.integers(0, dense.shape[1] - 1), unique=True, max_size=4))
    co_purchases = (  # some anchors' (and other items') co-purchases counted beforehand
        co_purchase_lists(
            orders.indptr,
            orders.indices,
            by_item.indptr,
            by_item.indices,
            np.array(listed, dtype=np.int64),
            min_count=data.draw(st.integers(1, 3)),
        )
        if data.draw(st.booleans())
        else None
    )
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
        pair_prior=pair_prior,
        first_shortlist=first,
        max_shortlist=max_shortlist,
        scratch=SCRATCH.setdefault(dense.shape[1], ItemsetScratch(dense.shape[1])),
        co_purchases=co_purchases,
    )
    cap = max_shortlist if size == 3 else min(max_shortlist, 96)
    expected = reference(dense, anchors, blocked, size, n, min_support, prior, pair_prior, cap)
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


def test_scratch_is_restored_after_bad_input() -> None:
    orders = sp.csr_matrix(np.eye(3, dtype=np.float32))
    by_item = orders.tocsc()
    scratch = ItemsetScratch(3)
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
            scratch=scratch,
        )
    assert (scratch.seen == 0).all() and (scratch.local == -1).all() and (scratch.phat == 0).all()
    with pytest.raises(ValueError, match="scratch is for 2 items"):
        best_itemsets(
            orders.indptr,
            orders.indices,
            by_item.indptr,
            by_item.indices,
            np.ones(3),
            np.array([1]),
            np.zeros(3, bool),
            2,
            1,
            1,
            0.0,
            scratch=ItemsetScratch(2),
        )
    with pytest.raises(ValueError, match="pair_prior must be a finite number"):
        best_itemsets(
            orders.indptr,
            orders.indices,
            by_item.indptr,
            by_item.indices,
            np.ones(3),
            np.array([1]),
            np.zeros(3, bool),
            2,
            1,
            1,
            0.0,
            pair_prior=-1.0,
        )


def prior_hits_reference(dense, anchors, baskets, grid, min_support, pair_prior, shortlist, top):
    """Per strength and query: the hits among the best `top` pairs of the anchor's shortlist."""
    n_orders, n_items = dense.shape
    count = dense.sum(axis=0).astype(float)
    hits = np.zeros((len(grid), len(anchors)), dtype=np.int64)
    for qi, (a, basket) in enumerate(zip(anchors, baskets, strict=True)):
        mine = dense[dense[:, a]]
        if mine.shape[0] < min_support:
            continue
        together = mine.sum(axis=0).astype(float)
        cand = [j for j in range(n_items) if j != a and together[j] >= min_support and together[j]]
        if len(cand) < 2:
            continue
        phat = (together + pair_prior * (count / max(n_orders, 1))) / (mine.shape[0] + pair_prior)
        by_count = sorted(cand, key=lambda j: (-together[j], j))[:shortlist]
        by_prob = sorted(cand, key=lambda j: (-phat[j], j))[:shortlist]
        short = sorted(set(by_count) | set(by_prob))
        pairs = []
        for b, c in itertools.combinations(short, 2):
            s = int(mine[:, [b, c]].all(axis=1).sum())
            if s >= min_support:
                pairs.append((s, phat[b] * phat[c], s / (count[b] * count[c]), b, c))
        for g, m in enumerate(grid):
            ranked = sorted(pairs, key=lambda p: (-(p[0] + m * p[1]), -p[2], p[3], p[4]))
            hits[g, qi] = sum(b in basket and c in basket for _, _, _, b, c in ranked[:top])
    return hits


@settings(max_examples=150, deadline=None)
@given(
    problems(),
    st.data(),
    st.sampled_from([1, 2, 8]),
    st.integers(1, 3),
)
def test_prior_hits_matches_reference(problem, data, shortlist, top) -> None:
    dense, anchors, _, _, _, min_support, _, pair_prior, _ = problem
    n_items = dense.shape[1]
    baskets = [
        np.array(data.draw(st.lists(st.integers(0, n_items - 1), unique=True, max_size=n_items)))
        for _ in anchors
    ]
    grid = np.array([0.0, 1.0, 30.0, 1e5])
    orders = sp.csr_matrix(dense.astype(np.float32))
    by_item = orders.tocsc()
    by_item.sort_indices()
    got = prior_hits(
        orders.indptr,
        orders.indices,
        by_item.indptr,
        by_item.indices,
        np.diff(by_item.indptr).astype(float),
        np.array(anchors),
        baskets,
        grid,
        min_support=min_support,
        pair_prior=pair_prior,
        shortlist=shortlist,
        top=top,
    )
    expected = prior_hits_reference(
        dense,
        anchors,
        [set(b.tolist()) for b in baskets],
        grid,
        min_support,
        pair_prior,
        shortlist,
        top,
    )
    np.testing.assert_array_equal(got, expected)


def test_prior_hits_rejects_bad_arguments() -> None:
    orders = sp.csr_matrix(np.eye(3, dtype=np.float32))
    by_item = orders.tocsc()
    args = (orders.indptr, orders.indices, by_item.indptr, by_item.indices, np.ones(3))
    with pytest.raises(ValueError, match="one basket per anchor"):
        prior_hits(*args, np.array([0, 1]), [np.array([0])], np.array([0.0]))
    with pytest.raises(ValueError, match="anchors must lie in 0..2"):
        prior_hits(*args, np.array([5]), [np.array([0])], np.array([0.0]))
    with pytest.raises(ValueError, match="grid must hold finite strengths"):
        prior_hits(*args, np.array([0]), [np.array([0])], np.array([-1.0]))
    with pytest.raises(ValueError, match="baskets must hold item rows"):
        prior_hits(*args, np.array([0]), [np.array([9])], np.array([0.0]))
    with pytest.raises(ValueError, match="not a canonical CSR"):
        prior_hits(
            orders.indptr,
            np.array([0, 7, 2]),
            by_item.indptr,
            by_item.indices,
            np.ones(3),
            np.array([0]),
            [np.array([0])],
            np.array([0.0]),
        )


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(1, 4), st.one_of(st.none(), st.integers(0, 20)))
def test_co_purchase_lists_match_the_matrix_product(problem, min_count, max_entries) -> None:
    dense = problem[0]
    anchors = np.array(problem[1], dtype=np.int64)
    orders = sp.csr_matrix(dense.astype(np.float32))
    by_item = orders.tocsc()
    lists = co_purchase_lists(
        orders.indptr,
        orders.indices,
        by_item.indptr,
        by_item.indices,
        anchors,
        min_count=min_count,
        max_entries=max_entries,
    )
    together = dense.astype(np.int64).T @ dense.astype(np.int64)  # orders holding both
    sizes = [
        sum(1 for j in range(dense.shape[1]) if j != a and together[a, j] >= min_count)
        for a in anchors.tolist()
    ]
    # the anchors in the order given, while the total stays within max_entries
    n_listed = anchors.size
    if max_entries is not None:
        n_listed = int(np.searchsorted(np.cumsum(sizes), max_entries, side="right"))
    assert lists.items.size <= (max_entries if max_entries is not None else lists.items.size)
    anchors = anchors[:n_listed]
    assert lists.list_of[anchors].tolist() == list(range(anchors.size))
    assert (lists.list_of >= 0).sum() == anchors.size
    for k, a in enumerate(anchors.tolist()):
        want = [j for j in range(dense.shape[1]) if j != a and together[a, j] >= min_count]
        got = lists.items[lists.indptr[k] : lists.indptr[k + 1]].tolist()
        assert got == want
        assert lists.counts[lists.indptr[k] : lists.indptr[k + 1]].tolist() == [
            together[a, j] for j in want
        ]


def test_co_purchase_lists_reject_bad_arguments() -> None:
    orders = sp.csr_matrix(np.eye(3, dtype=np.float32))
    by_item = orders.tocsc()
    args = (orders.indptr, orders.indices, by_item.indptr, by_item.indices)
    with pytest.raises(ValueError, match="min_count must be >= 1"):
        co_purchase_lists(*args, np.array([0]), min_count=0)
    with pytest.raises(ValueError, match="distinct"):
        co_purchase_lists(*args, np.array([0, 0]))
    with pytest.raises(ValueError, match="anchors must lie"):
        co_purchase_lists(*args, np.array([3]))
    with pytest.raises(ValueError, match="max_entries must be None or an int >= 0"):
        co_purchase_lists(*args, np.array([0]), max_entries=-1)
    bad = orders.indices.copy()
    bad[0] = 7
    with pytest.raises(ValueError, match="canonical"):
        co_purchase_lists(orders.indptr, bad, by_item.indptr, by_item.indices, np.array([1, 0]))
    lists = co_purchase_lists(*args, np.array([0]))
    with pytest.raises(ValueError, match="co_purchases are for 3 items"):
        best_itemsets(
            *args[:2],
            by_item.indptr[:3],
            by_item.indices,
            np.ones(2),
            np.array([0]),
            np.zeros(2, bool),
            2,
            1,
            1,
            0.0,
            co_purchases=lists,
        )
