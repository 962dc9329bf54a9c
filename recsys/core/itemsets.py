"""The best small itemsets bought with an anchor item: what bundles are ranked by.

:func:`best_itemsets` finds, for each anchor item, the sets of ``size - 1``
other items that the most orders bought *together with the anchor* (the
support of ``{anchor} ∪ T``), counting only the anchor's own orders.  It
never builds an array the size of the catalog per set: the items bought with
the anchor are shortlisted, and the sets among the ``m`` shortlisted items
are counted in one dense array of ``m ** (size - 1)`` cells.

Apriori's property makes a small shortlist exact: a set is never bought more
often than any of its items, so once the ``n``-th best set found beats the
best that any set holding an item outside the shortlist could reach, no
such set can enter the top ``n``; until then the shortlist doubles.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["MAX_ITEMSET_SIZE", "best_itemsets"]

#: Largest itemset (the anchor included) :func:`count_itemsets` counts.
MAX_ITEMSET_SIZE = 4


_NOT_CANONICAL = (
    "the transactions are not a canonical CSR matrix (an index out of bounds or a repeated item)"
)


@numba.njit(cache=True, nogil=True)
def _better(e1, l1, s1, e2, l2, s2, width):  # pragma: no cover - compiled
    """Whether set 1 ranks before set 2: more evidence, then higher lift, then lower items."""
    if e1 != e2:
        return e1 > e2
    if l1 != l2:
        return l1 > l2
    for k in range(width):
        if s1[k] != s2[k]:
            return s1[k] < s2[k]
    return False


@numba.njit(cache=True, nogil=True)
def _offer(sets, support, evidence, lift, filled, n, width, cand, sup, ev, lf):  # pragma: no cover
    """Insert a candidate set into the best-``n`` buffer (kept sorted); return the new fill."""
    if filled == n and not _better(ev, lf, cand, evidence[n - 1], lift[n - 1], sets[n - 1], width):
        return filled
    pos = filled if filled < n else n - 1
    while pos > 0 and _better(ev, lf, cand, evidence[pos - 1], lift[pos - 1], sets[pos - 1], width):
        if pos < n:
            sets[pos, :] = sets[pos - 1, :]
            support[pos] = support[pos - 1]
            evidence[pos] = evidence[pos - 1]
            lift[pos] = lift[pos - 1]
        pos -= 1
    sets[pos, :] = cand
    support[pos] = sup
    evidence[pos] = ev
    lift[pos] = lf
    return min(filled + 1, n)


@numba.njit(cache=True, nogil=True)
def _best_sets_kernel(
    indptr,
    indices,
    by_item_indptr,
    by_item_indices,
    item_count,
    n_orders,
    anchors,
    blocked,
    size,
    n,
    min_support,
    prior,
    first_m,
    cap,
    out_sets,
    out_support,
    out_evidence,
    out_lift,
    out_anchor,
):  # pragma: no cover - compiled
    """Fill the best ``n`` sets of every anchor; return how many rows were filled (-1: bad CSR)."""
    n_items = item_count.shape[0]
    nnz = indices.shape[0]
    n_orders_int = indptr.shape[0] - 1
    width = size - 1
    seen = np.zeros(n_items, dtype=np.int64)
    local = np.full(n_items, -1, dtype=np.int64)
    touched = np.empty(n_items, dtype=np.int64)
    sets = np.empty((n, width), dtype=np.int64)
    support = np.empty(n, dtype=np.int64)
    evidence = np.empty(n, dtype=np.float64)
    lift = np.empty(n, dtype=np.float64)
    cand = np.empty(width, dtype=np.int64)
    members = np.empty(n_items if n_items < cap else cap, dtype=np.int64)
    filled_total = 0
    for anchor in anchors:
        r0 = by_item_indptr[anchor]
        r1 = by_item_indptr[anchor + 1]
        if r0 < 0 or r1 < r0 or r1 > by_item_indices.shape[0]:
            return -1
        if r1 - r0 < min_support:
            continue
        # 1. what the anchor's orders hold, and how often
        n_touched = 0
        for p in range(r0, r1):
            r = by_item_indices[p]
            if r < 0 or r >= n_orders_int:
                return -1
            start = indptr[r]
            stop = indptr[r + 1]
            if start < 0 or stop < start or stop > nnz:
                return -1
            for q in range(start, stop):
                item = indices[q]
                if item < 0 or item >= n_items:
                    return -1
                if seen[item] == 0:
                    touched[n_touched] = item
                    n_touched += 1
                seen[item] += 1
        # 2. the candidates: frequent enough, allowed, not the anchor
        n_cand = 0
        for k in range(n_touched):
            item = touched[k]
            if seen[item] >= min_support and not blocked[item] and item != anchor:
                n_cand += 1
        items = np.empty(n_cand, dtype=np.int64)
        together = np.empty(n_cand, dtype=np.int64)
        c = 0
        for k in range(n_touched):
            item = touched[k]
            if seen[item] >= min_support and not blocked[item] and item != anchor:
                items[c] = item
                together[c] = seen[item]
                c += 1
        for k in range(n_touched):
            seen[touched[k]] = 0
        if n_cand < width:
            continue
        share = item_count[items] / n_orders
        top_share = share.max() ** (width - 1)
        bound = together + prior * share * top_share
        # by bound, then co-purchases, then row (stable sorts, least significant key first)
        order = np.argsort(items, kind="mergesort")
        order = order[np.argsort(-together[order], kind="mergesort")]
        order = order[np.argsort(-bound[order], kind="mergesort")]
        items, together, share, bound = items[order], together[order], share[order], bound[order]
        filled = 0
        if size == 2:
            for k in range(n_cand):
                cand[0] = items[k]
                filled = _offer(
                    sets,
                    support,
                    evidence,
                    lift,
                    filled,
                    n,
                    width,
                    cand,
                    together[k],
                    bound[k],
                    together[k] / item_count[items[k]],
                )
        else:
            m = min(first_m, n_cand)
            while True:
                for k in range(m):
                    local[items[k]] = k
                counts = np.zeros(m**width, dtype=np.int64)
                for p in range(r0, r1):
                    r = by_item_indices[p]
                    length = 0
                    for q in range(indptr[r], indptr[r + 1]):
                        x = local[indices[q]]
                        if x >= 0:
                            members[length] = x
                            length += 1
                    chosen = np.sort(members[:length])
                    for a in range(length):
                        for b in range(a + 1, length):
                            if width == 2:
                                counts[chosen[a] * m + chosen[b]] += 1
                            else:
                                base = (chosen[a] * m + chosen[b]) * m
                                for d in range(b + 1, length):
                                    counts[base + chosen[d]] += 1
                for k in range(m):
                    local[items[k]] = -1
                filled = 0
                for a in range(m):
                    for b in range(a + 1, m):
                        if width == 2:
                            s = counts[a * m + b]
                            if s >= min_support:
                                x, y = items[a], items[b]
                                cand[0] = min(x, y)
                                cand[1] = max(x, y)
                                # products in item order: ties must not depend on rounding
                                ev = s + prior * (
                                    (item_count[cand[0]] / n_orders)
                                    * (item_count[cand[1]] / n_orders)
                                )
                                lf = s / (item_count[cand[0]] * item_count[cand[1]])
                                filled = _offer(
                                    sets, support, evidence, lift, filled, n, width, cand, s, ev, lf
                                )
                        else:
                            for d in range(b + 1, m):
                                s = counts[(a * m + b) * m + d]
                                if s >= min_support:
                                    x, y, z = items[a], items[b], items[d]
                                    cand[0] = min(x, min(y, z))
                                    cand[2] = max(x, max(y, z))
                                    cand[1] = x + y + z - cand[0] - cand[2]
                                    ev = s + prior * (
                                        (item_count[cand[0]] / n_orders)
                                        * (item_count[cand[1]] / n_orders)
                                        * (item_count[cand[2]] / n_orders)
                                    )
                                    lf = s / (
                                        item_count[cand[0]]
                                        * item_count[cand[1]]
                                        * item_count[cand[2]]
                                    )
                                    filled = _offer(
                                        sets,
                                        support,
                                        evidence,
                                        lift,
                                        filled,
                                        n,
                                        width,
                                        cand,
                                        s,
                                        ev,
                                        lf,
                                    )
                outside = bound[m] if m < n_cand else 0.0
                if m == n_cand or (filled == n and evidence[n - 1] > outside):
                    break
                limit = min(cap, n_cand)
                if m >= limit:
                    break
                m = min(2 * m, limit)
        for k in range(filled):
            out_sets[filled_total, :] = sets[k, :]
            out_support[filled_total] = support[k]
            out_evidence[filled_total] = evidence[k]
            out_lift[filled_total] = lift[k]
            out_anchor[filled_total] = anchor
            filled_total += 1
    return filled_total


def best_itemsets(
    indptr: np.ndarray,
    indices: np.ndarray,
    by_item_indptr: np.ndarray,
    by_item_indices: np.ndarray,
    item_count: np.ndarray,
    anchors: np.ndarray,
    blocked: np.ndarray,
    size: int,
    n: int,
    min_support: int,
    prior: float,
    *,
    first_shortlist: int = 32,
    max_shortlist: int = 512,
) -> tuple[np.ndarray, ...]:
    """Return the best ``n`` sets bought with each anchor, searched as the module docstring says.

    A set ``T`` of ``size - 1`` items (none ``blocked``, none the anchor)
    qualifies when at least ``min_support`` orders hold ``T`` and the anchor;
    sets rank by ``support + prior · Π_{j∈T} count_j / n_orders`` (the
    numerator of the set's shrunk probability given the anchor), then by lift
    (``support / Π count_j``), then by their sorted items.  The search counts
    sets among a shortlist of the items bought most with the anchor and widens
    it (doubling, up to ``max_shortlist`` items; 96 for sets of 4) until no
    item outside could reach the ``n``-th set found.

    Parameters
    ----------
    indptr, indices : numpy.ndarray
        CSR structure of the orders × items matrix (canonical).
    by_item_indptr, by_item_indices : numpy.ndarray
        The same matrix by column (CSC): the orders holding each item.
    item_count : numpy.ndarray of float64
        Orders holding each item (the CSC's column lengths).
    anchors : numpy.ndarray of int
    blocked : numpy.ndarray of bool, shape (n_items,)
    size, n, min_support : int
    prior : float

    Returns
    -------
    sets : numpy.ndarray of int64, shape (k, size - 1)
        Each set's items, sorted; for every anchor in turn, best first.
    support : numpy.ndarray of int64
    evidence, lift : numpy.ndarray of float64
    anchor : numpy.ndarray of int64
        The anchor each set was found with.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> orders = sp.csr_matrix(np.array([[1, 1, 1], [1, 1, 1], [1, 0, 1]], dtype=np.float32))
    >>> by_item = orders.tocsc()
    >>> sets, support, evidence, lift, anchor = best_itemsets(
    ...     orders.indptr, orders.indices, by_item.indptr, by_item.indices,
    ...     np.diff(by_item.indptr).astype(float), np.array([0]), np.zeros(3, bool),
    ...     3, 1, 2, 0.0)
    >>> sets.tolist(), support.tolist(), anchor.tolist()
    ([[1, 2]], [2], [0])
    """
    if size not in range(2, MAX_ITEMSET_SIZE + 1):
        raise ValueError(f"size must be 2, 3 or {MAX_ITEMSET_SIZE}, got {size!r}")
    anchors = np.ascontiguousarray(anchors, dtype=np.int64)
    item_count = np.ascontiguousarray(item_count, dtype=np.float64)
    n_items = item_count.size
    blocked = np.ascontiguousarray(blocked, dtype=np.bool_)
    if blocked.shape != (n_items,):
        raise ValueError(f"blocked must have shape ({n_items},), got {blocked.shape}")
    if anchors.size and (anchors.min() < 0 or anchors.max() >= n_items):
        raise ValueError(f"anchors must lie in 0..{n_items - 1}")
    if len(by_item_indptr) != n_items + 1:
        raise ValueError("by_item_indptr must have one entry per item, plus one")
    n_orders = len(indptr) - 1
    width = size - 1
    cap = max_shortlist if size == 3 else min(max_shortlist, 96)
    total = anchors.size * n
    out_sets = np.empty((total, width), dtype=np.int64)
    out_support = np.empty(total, dtype=np.int64)
    out_evidence = np.empty(total, dtype=np.float64)
    out_lift = np.empty(total, dtype=np.float64)
    out_anchor = np.empty(total, dtype=np.int64)
    filled = 0
    if total:
        filled = _best_sets_kernel(
            np.ascontiguousarray(indptr, dtype=np.int64),
            np.ascontiguousarray(indices, dtype=np.int32),
            np.ascontiguousarray(by_item_indptr, dtype=np.int64),
            np.ascontiguousarray(by_item_indices, dtype=np.int64),
            item_count,
            float(max(n_orders, 1)),
            anchors,
            blocked,
            int(size),
            int(n),
            int(min_support),
            float(prior),
            int(max(first_shortlist, 1)),
            int(cap),
            out_sets,
            out_support,
            out_evidence,
            out_lift,
            out_anchor,
        )
        if filled < 0:
            raise ValueError(_NOT_CANONICAL)
    return (
        out_sets[:filled],
        out_support[:filled],
        out_evidence[:filled],
        out_lift[:filled],
        out_anchor[:filled],
    )
