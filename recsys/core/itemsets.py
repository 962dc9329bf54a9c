"""The best small itemsets bought with an anchor item: what bundles are ranked by.

:func:`best_itemsets` finds, for each anchor item ``a``, the sets ``T`` of
``size - 1`` other items bought together with the anchor, ranked by the
numerator of the set's shrunk conditional probability

``evidence(T) = s(a ∪ T) + m · Π_{j ∈ T} P̂(j | a)``,

with ``s`` the orders holding the whole set, ``P̂(j | a) = (c_aj + m' p_j) /
(n_a + m')`` the pairwise probability that an order with the anchor holds
``j`` (``c_aj`` orders hold both, ``p_j`` is ``j``'s share of all orders,
``m'`` the pairwise prior strength) and ``m`` the set's own prior strength:
the set's probability is shrunk towards what conditionally independent
purchases (given the anchor) would give.  Only the anchor's own orders are
read; the catalog is never scanned per set: the items bought with the anchor
are shortlisted, and the sets among the ``k`` shortlisted items are counted
in one dense array of ``k ** (size - 1)`` cells.

Apriori's property makes a small shortlist exact: a set is never bought more
often than any of its items, and its prior term is at most ``m`` times its
items' largest ``P̂``; so once the ``n``-th best set found beats the best that
any set holding an item outside the shortlist could reach, no such set can
enter the top ``n``; until then the shortlist doubles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = [
    "MAX_ITEMSET_SIZE",
    "CoPurchaseLists",
    "ItemsetScratch",
    "best_itemsets",
    "co_purchase_lists",
    "prior_hits",
]

#: Largest itemset (the anchor included) :func:`best_itemsets` ranks.
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
def _grown(cells):  # pragma: no cover - compiled
    """Return ``cells`` copied into an array twice as long."""
    out = np.empty(2 * cells.shape[0], dtype=np.int64)
    out[: cells.shape[0]] = cells
    return out


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
    pair_prior,
    first_m,
    cap,
    out_sets,
    out_support,
    out_evidence,
    out_lift,
    out_anchor,
    seen,
    local,
    touched,
    phat,
    list_of,
    list_indptr,
    list_items,
    list_counts,
    list_min,
):  # pragma: no cover - compiled
    """Fill the best ``n`` sets of every anchor; return how many rows were filled (-1: bad CSR).

    ``seen`` and ``phat`` (zeros) and ``local`` (-1) are per-item scratch, restored on return.
    ``list_of[anchor] >= 0`` points to the anchor's ready co-purchase list (items bought with
    it in at least ``list_min`` orders, :func:`co_purchase_lists`), read instead of its orders
    when ``min_support >= list_min``; ``list_of`` may be empty.
    """
    n_items = item_count.shape[0]
    nnz = indices.shape[0]
    n_orders_int = indptr.shape[0] - 1
    width = size - 1
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
        n_entries = 0
        for p in range(r0, r1):
            r = by_item_indices[p]
            if r < 0 or r >= n_orders_int:
                return -1
            start = indptr[r]
            stop = indptr[r + 1]
            if start < 0 or stop < start or stop > nnz:
                return -1
            n_entries += stop - start
        listed = -1
        if list_of.shape[0] > 0 and min_support >= list_min:
            listed = list_of[anchor]
        if listed >= 0:  # a best-seller's co-purchases, counted once per fit
            c0 = list_indptr[listed]
            c1 = list_indptr[listed + 1]
            if c0 < 0 or c1 < c0 or c1 > list_items.shape[0]:
                return -1
            n_cand = 0
            for k in range(c0, c1):
                item = list_items[k]
                if item < 0 or item >= n_items:
                    return -1
                if list_counts[k] >= min_support and not blocked[item] and item != anchor:
                    n_cand += 1
            items = np.empty(n_cand, dtype=np.int64)
            together = np.empty(n_cand, dtype=np.int64)
            c = 0
            for k in range(c0, c1):
                item = list_items[k]
                if list_counts[k] >= min_support and not blocked[item] and item != anchor:
                    items[c] = item
                    together[c] = list_counts[k]
                    c += 1
            entries = np.empty(0, dtype=np.int32)
            ends = np.empty(0, dtype=np.int64)
        else:
            # (sets of 3 or more read the orders again: copied here into one contiguous
            # block, they are not fetched from all over the matrix twice)
            copy = size > 2
            entries = np.empty(n_entries if copy else 0, dtype=np.int32)
            ends = np.empty(r1 - r0 if copy else 0, dtype=np.int64)
            n_touched = 0
            e = 0
            for p in range(r0, r1):
                r = by_item_indices[p]
                for q in range(indptr[r], indptr[r + 1]):
                    item = indices[q]
                    if item < 0 or item >= n_items:
                        return -1
                    if seen[item] == 0:
                        touched[n_touched] = item
                        n_touched += 1
                    seen[item] += 1
                    if copy:
                        entries[e] = item
                        e += 1
                if copy:
                    ends[p - r0] = e
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
        # the pairwise P(j | anchor), shrunk towards j's share of orders with strength pair_prior
        n_anchor = float(r1 - r0)
        share = (together + pair_prior * (item_count[items] / n_orders)) / (n_anchor + pair_prior)
        top_share = share.max() ** (width - 1)
        bound = together + prior * share * top_share
        if size > 2:
            if n_cand > cap + 1:  # only the best cap + 1 bounds (and their ties) can be needed
                threshold = -np.partition(-bound, cap)[cap]
                keep = np.flatnonzero(bound >= threshold)
                items, together, share, bound = (
                    items[keep],
                    together[keep],
                    share[keep],
                    bound[keep],
                )
                n_cand = items.shape[0]
            # by bound, then co-purchases, then row (stable sorts, least significant key first)
            order = np.argsort(items, kind="mergesort")
            order = order[np.argsort(-together[order], kind="mergesort")]
            order = order[np.argsort(-bound[order], kind="mergesort")]
            items, together, share, bound = (
                items[order],
                together[order],
                share[order],
                bound[order],
            )
            for k in range(n_cand):
                phat[items[k]] = share[k]
        filled = 0
        if size == 2:
            for k in range(n_cand):
                if filled == n and together[k] + prior * share[k] < evidence[n - 1]:
                    continue  # less evidence than the n-th set kept: cannot enter
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
                    together[k] + prior * share[k],
                    together[k] / item_count[items[k]],
                )
        else:
            # the anchor's orders, reduced to the shortlist's candidates and copied together:
            # every widening of the shortlist re-reads them from one contiguous block
            reach = min(cap, n_cand)  # the shortlist never widens past its first ``reach``
            for k in range(reach):
                local[items[k]] = k
            kept = np.empty(n_entries, dtype=np.int64)  # room for every entry; filled in one pass
            kept_indptr = np.empty(r1 - r0 + 1, dtype=np.int64)
            kept_indptr[0] = 0
            n_kept = 0
            if listed >= 0:  # the orders were not copied: read them where they are
                for p in range(r0, r1):
                    r = by_item_indices[p]
                    for q in range(indptr[r], indptr[r + 1]):
                        x = local[indices[q]]
                        if x >= 0:
                            kept[n_kept] = x  # the candidate's place in the bound order
                            n_kept += 1
                    kept_indptr[p - r0 + 1] = n_kept
            else:
                e = 0
                for o in range(r1 - r0):
                    while e < ends[o]:
                        x = local[entries[e]]
                        e += 1
                        if x >= 0:
                            kept[n_kept] = x
                            n_kept += 1
                    kept_indptr[o + 1] = n_kept
            for k in range(reach):
                local[items[k]] = -1
            m = min(first_m, min(n_cand, cap))
            while True:
                # the sets' counts, in a table of m**width cells of which only the sets some
                # order holds are touched: those cells are listed (``cells``), read and the
                # table is dropped; a best-seller's shortlist of 512 would otherwise cost a
                # scan of 131k empty pairs per widening
                counts = np.zeros(m**width, dtype=np.int64)
                cells = np.empty(64, dtype=np.int64)
                n_cells = 0
                for o in range(r1 - r0):
                    length = 0
                    for q in range(kept_indptr[o], kept_indptr[o + 1]):
                        x = kept[q]
                        if x < m:
                            members[length] = x
                            length += 1
                    for a in range(length):
                        x = members[a]
                        for b in range(a + 1, length):
                            y = members[b]
                            lo = x if x < y else y
                            hi = x + y - lo
                            if width == 2:
                                cell = lo * m + hi
                                if counts[cell] == 0:
                                    if n_cells == cells.shape[0]:
                                        cells = _grown(cells)
                                    cells[n_cells] = cell
                                    n_cells += 1
                                counts[cell] += 1
                            else:
                                for d in range(b + 1, length):
                                    z = members[d]  # the three places in increasing order
                                    if z < lo:
                                        first, mid, last = z, lo, hi
                                    elif z < hi:
                                        first, mid, last = lo, z, hi
                                    else:
                                        first, mid, last = lo, hi, z
                                    cell = (first * m + mid) * m + last
                                    if counts[cell] == 0:
                                        if n_cells == cells.shape[0]:
                                            cells = _grown(cells)
                                        cells[n_cells] = cell
                                        n_cells += 1
                                    counts[cell] += 1
                # the best n of the sets counted: the buffer keeps the n best under a strict
                # order (evidence, lift, items), so the order the sets are offered in is free
                filled = 0
                for k in range(n_cells):
                    cell = cells[k]
                    s = counts[cell]
                    if s < min_support:
                        continue
                    if width == 2:
                        x, y = items[cell // m], items[cell % m]
                        cand[0] = min(x, y)
                        cand[1] = max(x, y)
                        # products in item order: ties must not depend on rounding
                        ev = s + prior * (phat[cand[0]] * phat[cand[1]])
                        lf = s / (item_count[cand[0]] * item_count[cand[1]])
                    else:
                        x = items[cell // (m * m)]
                        y = items[(cell // m) % m]
                        z = items[cell % m]
                        cand[0] = min(x, min(y, z))
                        cand[2] = max(x, max(y, z))
                        cand[1] = x + y + z - cand[0] - cand[2]
                        ev = s + prior * (phat[cand[0]] * phat[cand[1]] * phat[cand[2]])
                        lf = s / (item_count[cand[0]] * item_count[cand[1]] * item_count[cand[2]])
                    if filled < n or ev >= evidence[n - 1]:
                        filled = _offer(
                            sets, support, evidence, lift, filled, n, width, cand, s, ev, lf
                        )
                outside = bound[m] if m < n_cand else 0.0
                if m == n_cand or (filled == n and evidence[n - 1] > outside):
                    break
                limit = min(cap, n_cand)
                if m >= limit:
                    break
                m = min(2 * m, limit)
        if size > 2:
            for k in range(n_cand):
                phat[items[k]] = 0.0
        for k in range(filled):
            out_sets[filled_total, :] = sets[k, :]
            out_support[filled_total] = support[k]
            out_evidence[filled_total] = evidence[k]
            out_lift[filled_total] = lift[k]
            out_anchor[filled_total] = anchor
            filled_total += 1
    return filled_total


@dataclass(frozen=True, eq=False)
class CoPurchaseLists:
    """How often each item is bought with some anchors, counted once (:func:`co_purchase_lists`).

    Attributes
    ----------
    list_of : numpy.ndarray of int64, shape (n_items,)
        The anchor's list number, -1 for an item without a list (empty: no lists at all).
    indptr : numpy.ndarray of int64
        List ``k`` is ``items[indptr[k]:indptr[k + 1]]`` (in increasing item order).
    items : numpy.ndarray of int32
    counts : numpy.ndarray of int64
        The orders holding both the anchor and the item (at least ``min_count``).
    min_count : int

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> orders = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [1, 0, 1]], dtype=np.float32))
    >>> by_item = orders.tocsc()
    >>> lists = co_purchase_lists(orders.indptr, orders.indices, by_item.indptr,
    ...                           by_item.indices, np.array([0]), min_count=2)
    >>> lists.list_of.tolist(), lists.items.tolist(), lists.counts.tolist()
    ([0, -1, -1], [1, 2], [2, 2])
    """

    list_of: np.ndarray
    indptr: np.ndarray
    items: np.ndarray
    counts: np.ndarray
    min_count: int


_NO_LISTS = CoPurchaseLists(
    np.empty(0, dtype=np.int64),
    np.zeros(1, dtype=np.int64),
    np.empty(0, dtype=np.int32),
    np.empty(0, dtype=np.int64),
    0,
)


@numba.njit(cache=True, nogil=True)
def _co_purchase_kernel(
    indptr, indices, by_item_indptr, by_item_indices, anchors, min_count, max_entries, seen, touched
):  # pragma: no cover - compiled
    """Return (list indptr, items, counts) of the anchors' co-purchases (empty indptr: bad CSR).

    Anchors are listed in turn until the next list would take the total past
    ``max_entries``; the indptr covers the anchors listed.
    """
    n_items = seen.shape[0]
    nnz = indices.shape[0]
    n_orders = indptr.shape[0] - 1
    out_indptr = np.zeros(anchors.shape[0] + 1, dtype=np.int64)
    items = np.empty(1024, dtype=np.int32)
    counts = np.empty(1024, dtype=np.int64)
    filled = 0
    bad = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64))
    for a in range(anchors.shape[0]):
        anchor = anchors[a]
        n_touched = 0
        for p in range(by_item_indptr[anchor], by_item_indptr[anchor + 1]):
            r = by_item_indices[p]
            if r < 0 or r >= n_orders or indptr[r] < 0 or indptr[r + 1] > nnz:
                return bad
            for q in range(indptr[r], indptr[r + 1]):
                item = indices[q]
                if item < 0 or item >= n_items:
                    return bad
                if seen[item] == 0:
                    touched[n_touched] = item
                    n_touched += 1
                seen[item] += 1
        chosen = np.sort(touched[:n_touched])
        n_new = 0
        for k in range(n_touched):
            if seen[chosen[k]] >= min_count and chosen[k] != anchor:
                n_new += 1
        if filled + n_new > max_entries:  # the budget is spent: the anchors so far
            for k in range(n_touched):
                seen[chosen[k]] = 0
            return out_indptr[: a + 1].copy(), items[:filled].copy(), counts[:filled].copy()
        for k in range(n_touched):
            item = chosen[k]
            if seen[item] >= min_count and item != anchor:
                if filled == items.shape[0]:
                    grown_items = np.empty(2 * filled, dtype=np.int32)
                    grown_items[:filled] = items
                    items = grown_items
                    grown_counts = np.empty(2 * filled, dtype=np.int64)
                    grown_counts[:filled] = counts
                    counts = grown_counts
                items[filled] = item
                counts[filled] = seen[item]
                filled += 1
            seen[item] = 0
        out_indptr[a + 1] = filled
    return out_indptr, items[:filled].copy(), counts[:filled].copy()


def co_purchase_lists(
    indptr: np.ndarray,
    indices: np.ndarray,
    by_item_indptr: np.ndarray,
    by_item_indices: np.ndarray,
    anchors: np.ndarray,
    *,
    min_count: int = 2,
    max_entries: int | None = None,
) -> CoPurchaseLists:
    """Count, once, the items bought with each of ``anchors`` (for :func:`best_itemsets`).

    A best-seller held by thousands of orders costs :func:`best_itemsets`
    a read of every one of them on every call (about 1 ms for 5,000 orders:
    they lie all over the matrix); a service counts them once per fit.
    ``max_entries`` bounds the memory (12 bytes an entry): the anchors are
    listed in the order given (the bulkiest first, say) until the next list
    would pass it; the others are not listed (the search reads their orders).

    Parameters
    ----------
    indptr, indices, by_item_indptr, by_item_indices : numpy.ndarray
        The orders × items matrix by row and by column, as for :func:`best_itemsets`.
    anchors : numpy.ndarray of int
        The items to list (distinct).
    min_count : int
        Keep the items bought with the anchor in at least this many orders (>= 1).
    max_entries : int, optional
        The most (item, count) entries kept over all the lists (default: no limit).

    Returns
    -------
    CoPurchaseLists

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> orders = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1]], dtype=np.float32))
    >>> by_item = orders.tocsc()
    >>> co_purchase_lists(orders.indptr, orders.indices, by_item.indptr, by_item.indices,
    ...                   np.array([1]), min_count=1).counts.tolist()
    [2, 1]
    """
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)):
        raise TypeError(f"min_count must be an int, got {type(min_count).__name__}")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    n_items = len(by_item_indptr) - 1
    anchors = np.ascontiguousarray(anchors, dtype=np.int64)
    if anchors.size and (anchors.min() < 0 or anchors.max() >= n_items):
        raise ValueError(f"anchors must lie in 0..{n_items - 1}")
    if np.unique(anchors).size != anchors.size:
        raise ValueError("anchors must be distinct")
    if max_entries is not None and (
        isinstance(max_entries, bool)
        or not isinstance(max_entries, (int, np.integer))
        or max_entries < 0
    ):
        raise ValueError(f"max_entries must be None or an int >= 0, got {max_entries!r}")
    list_indptr, items, counts = _co_purchase_kernel(
        np.ascontiguousarray(indptr, dtype=np.int64),
        np.ascontiguousarray(indices, dtype=np.int32),
        np.ascontiguousarray(by_item_indptr, dtype=np.int64),
        np.ascontiguousarray(by_item_indices, dtype=np.int64),
        anchors,
        int(min_count),
        np.iinfo(np.int64).max if max_entries is None else int(max_entries),
        np.zeros(n_items, dtype=np.int64),
        np.empty(n_items, dtype=np.int64),
    )
    if list_indptr.size == 0:
        raise ValueError(_NOT_CANONICAL)
    listed = anchors[: list_indptr.size - 1]
    list_of = np.full(n_items, -1, dtype=np.int64)
    list_of[listed] = np.arange(listed.size)
    return CoPurchaseLists(list_of, list_indptr, items, counts, int(min_count))


class ItemsetScratch:
    """Per-item work arrays of :func:`best_itemsets`, reusable across calls on one catalog.

    A call on a large catalog otherwise allocates and clears four arrays of
    ``n_items`` entries; a caller serving many queries keeps one scratch per
    thread (a scratch must not be shared by concurrent calls).  The arrays are
    restored to their initial state when a call returns.

    Parameters
    ----------
    n_items : int
        The catalog size.

    Examples
    --------
    >>> ItemsetScratch(3).local.tolist()
    [-1, -1, -1]
    """

    def __init__(self, n_items: int) -> None:
        self.n_items = int(n_items)
        self.seen = np.zeros(self.n_items, dtype=np.int64)
        self.local = np.full(self.n_items, -1, dtype=np.int64)
        self.touched = np.empty(self.n_items, dtype=np.int64)
        self.phat = np.zeros(self.n_items, dtype=np.float64)

    def reset(self) -> None:
        """Restore the initial state (after a call that stopped on bad input).

        Examples
        --------
        >>> scratch = ItemsetScratch(2)
        >>> scratch.seen[0] = 5
        >>> scratch.reset()
        >>> scratch.seen.tolist()
        [0, 0]
        """
        self.seen[:] = 0
        self.local[:] = -1
        self.phat[:] = 0.0


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
    pair_prior: float = 0.0,
    first_shortlist: int = 32,
    max_shortlist: int = 512,
    scratch: ItemsetScratch | None = None,
    co_purchases: CoPurchaseLists | None = None,
) -> tuple[np.ndarray, ...]:
    """Return the best ``n`` sets bought with each anchor, searched as the module docstring says.

    A set ``T`` of ``size - 1`` items (none ``blocked``, none the anchor)
    qualifies when at least ``min_support`` orders hold ``T`` and the anchor;
    sets rank by ``evidence = support + prior · Π_{j∈T} P̂(j | anchor)`` with
    ``P̂(j | a) = (c_aj + pair_prior · count_j / n_orders) / (count_a +
    pair_prior)`` (the numerator of the set's shrunk probability given the
    anchor, whose denominator is ``count_a + prior``), then by lift
    (``support / Π count_j``), then by their sorted items.  The search counts
    sets among a shortlist of the items bought most with the anchor and widens
    it (doubling, up to ``max_shortlist`` items; 96 for sets of 4) until no
    item outside could reach the ``n``-th set found.

    Parameters
    ----------
    indptr, indices : numpy.ndarray
        CSR structure of the orders × items matrix (canonical; int64 and
        int32 avoid a copy).
    by_item_indptr, by_item_indices : numpy.ndarray
        The same matrix by column (CSC): the orders holding each item (int64).
    item_count : numpy.ndarray of float64
        Orders holding each item (the CSC's column lengths).
    anchors : numpy.ndarray of int
    blocked : numpy.ndarray of bool, shape (n_items,)
    size, n, min_support : int
    prior : float
        The set prior's strength ``m >= 0``.
    pair_prior : float
        The pairwise prior's strength ``m' >= 0`` in ``P̂(j | a)``.
    first_shortlist, max_shortlist : int
        The shortlist's first and largest size.
    scratch : ItemsetScratch, optional
        Work arrays for this catalog (allocated per call when omitted).
    co_purchases : CoPurchaseLists, optional
        The best-sellers' co-purchase counts of these orders
        (:func:`co_purchase_lists`): an anchor listed there is not counted
        from its orders again when ``min_support`` is at least the lists'
        ``min_count`` (the answer is the same; a best-seller's thousands of
        orders are read only for sets of 3 or more, and only for the
        shortlist).

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
    for name, value in (("prior", prior), ("pair_prior", pair_prior)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
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
    if scratch is None:
        scratch = ItemsetScratch(n_items)
    elif scratch.n_items != n_items:
        raise ValueError(f"scratch is for {scratch.n_items} items, the catalog has {n_items}")
    n_orders = len(indptr) - 1
    if co_purchases is None:
        co_purchases = _NO_LISTS
    elif co_purchases.list_of.shape != (n_items,):
        raise ValueError(
            f"co_purchases are for {co_purchases.list_of.size} items, the catalog has {n_items}"
        )
    width = size - 1
    cap = max(max_shortlist if size == 3 else min(max_shortlist, 96), width)
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
            float(pair_prior),
            int(max(first_shortlist, 1)),
            int(cap),
            out_sets,
            out_support,
            out_evidence,
            out_lift,
            out_anchor,
            scratch.seen,
            scratch.local,
            scratch.touched,
            scratch.phat,
            co_purchases.list_of,
            co_purchases.indptr,
            co_purchases.items,
            co_purchases.counts,
            int(co_purchases.min_count),
        )
        if filled < 0:
            scratch.reset()
            raise ValueError(_NOT_CANONICAL)
    return (
        out_sets[:filled],
        out_support[:filled],
        out_evidence[:filled],
        out_lift[:filled],
        out_anchor[:filled],
    )


@numba.njit(cache=True, nogil=True)
def _prior_hits_kernel(
    indptr,
    indices,
    by_item_indptr,
    by_item_indices,
    item_count,
    n_orders,
    anchors,
    query_indptr,
    basket_indptr,
    basket_indices,
    min_support,
    pair_prior,
    grid,
    shortlist,
    top,
    hits,
    seen,
    local,
    touched,
    in_basket,
):  # pragma: no cover - compiled
    """Count, per prior strength and query, how many of its anchor's best ``top`` pairs hit."""
    n_items = item_count.shape[0]
    n_grid = grid.shape[0]
    for ai in range(anchors.shape[0]):
        anchor = anchors[ai]
        r0 = by_item_indptr[anchor]
        r1 = by_item_indptr[anchor + 1]
        if r1 - r0 < min_support:
            continue
        n_touched = 0
        for p in range(r0, r1):
            r = by_item_indices[p]
            for q in range(indptr[r], indptr[r + 1]):
                item = indices[q]
                if seen[item] == 0:
                    touched[n_touched] = item
                    n_touched += 1
                seen[item] += 1
        n_cand = 0
        for k in range(n_touched):
            item = touched[k]
            if seen[item] >= min_support and item != anchor:
                n_cand += 1
        items = np.empty(n_cand, dtype=np.int64)
        together = np.empty(n_cand, dtype=np.float64)
        c = 0
        for k in range(n_touched):
            item = touched[k]
            if seen[item] >= min_support and item != anchor:
                items[c] = item
                together[c] = seen[item]
                c += 1
        for k in range(n_touched):
            seen[touched[k]] = 0
        if n_cand < 2:
            continue
        n_anchor = float(r1 - r0)
        phat = (together + pair_prior * (item_count[items] / n_orders)) / (n_anchor + pair_prior)
        # the shortlist: the items bought most with the anchor, and the most probable ones
        order = np.argsort(items, kind="mergesort")
        by_count = order[np.argsort(-together[order], kind="mergesort")]
        by_prob = order[np.argsort(-phat[order], kind="mergesort")]
        pick = np.zeros(n_cand, dtype=np.bool_)
        for k in range(min(shortlist, n_cand)):
            pick[by_count[k]] = True
            pick[by_prob[k]] = True
        chosen = order[pick[order]]  # by item row
        m = chosen.shape[0]
        for k in range(m):
            local[items[chosen[k]]] = k
        counts = np.zeros(m * m, dtype=np.int64)
        members = np.empty(m, dtype=np.int64)
        for p in range(r0, r1):
            r = by_item_indices[p]
            length = 0
            for q in range(indptr[r], indptr[r + 1]):
                x = local[indices[q]]
                if x >= 0:
                    members[length] = x
                    length += 1
            for a in range(length):
                for b in range(a + 1, length):
                    x, y = members[a], members[b]
                    if x > y:
                        x, y = y, x
                    counts[x * m + y] += 1
        for k in range(m):
            local[items[chosen[k]]] = -1
        n_pairs = 0
        for x in range(m):
            for y in range(x + 1, m):
                if counts[x * m + y] >= min_support:
                    n_pairs += 1
        if n_pairs == 0:
            continue
        support = np.empty(n_pairs, dtype=np.float64)
        prob = np.empty(n_pairs, dtype=np.float64)
        lift = np.empty(n_pairs, dtype=np.float64)
        first = np.empty(n_pairs, dtype=np.int64)
        second = np.empty(n_pairs, dtype=np.int64)
        k = 0
        for x in range(m):
            for y in range(x + 1, m):
                s = counts[x * m + y]
                if s >= min_support:
                    i, j = chosen[x], chosen[y]
                    support[k] = s
                    prob[k] = phat[i] * phat[j]
                    lift[k] = s / (item_count[items[i]] * item_count[items[j]])
                    first[k] = items[i]
                    second[k] = items[j]
                    k += 1
        taken = np.zeros(n_pairs, dtype=np.bool_)
        best = np.empty(min(top, n_pairs), dtype=np.int64)
        for g in range(n_grid):
            evidence = support + grid[g] * prob
            taken[:] = False
            for t in range(best.shape[0]):
                b = -1
                for k in range(n_pairs):
                    if taken[k]:
                        continue
                    if (
                        b < 0
                        or evidence[k] > evidence[b]
                        or (evidence[k] == evidence[b] and lift[k] > lift[b])
                    ):
                        b = k  # pairs come in row order: an exact tie keeps the lower rows
                taken[b] = True
                best[t] = b
            for qi in range(query_indptr[ai], query_indptr[ai + 1]):
                for q in range(basket_indptr[qi], basket_indptr[qi + 1]):
                    in_basket[basket_indices[q]] = True
                for t in range(best.shape[0]):
                    if in_basket[first[best[t]]] and in_basket[second[best[t]]]:
                        hits[g, qi] += 1
                for q in range(basket_indptr[qi], basket_indptr[qi + 1]):
                    in_basket[basket_indices[q]] = False
    return n_items


def prior_hits(
    indptr: np.ndarray,
    indices: np.ndarray,
    by_item_indptr: np.ndarray,
    by_item_indices: np.ndarray,
    item_count: np.ndarray,
    anchors: np.ndarray,
    baskets: list[np.ndarray],
    grid: np.ndarray,
    *,
    min_support: int = 1,
    pair_prior: float = 0.0,
    shortlist: int = 32,
    top: int = 3,
) -> np.ndarray:
    """Count, for every set-prior strength and query, the hits among the best sets of three.

    The validation step behind choosing a bundle prior: for each query (an
    ``anchor`` and the held-out ``basket`` it came from), the pairs ``T`` are
    ranked as :func:`best_itemsets` ranks sets of three (``support + m ·
    P̂(b | a) · P̂(c | a)``, then lift, then rows) and the best ``top`` are
    looked up in the basket.  To count every strength in one pass, pairs are
    formed among a fixed shortlist per anchor (its ``shortlist`` items bought
    most often with it, and its ``shortlist`` most probable ones by ``P̂``),
    not searched exhaustively.

    Parameters
    ----------
    indptr, indices, by_item_indptr, by_item_indices, item_count : numpy.ndarray
        The orders the sets are counted in, as in :func:`best_itemsets`.
    anchors : numpy.ndarray of int
        The anchor of every query.
    baskets : list of numpy.ndarray of int
        The held-out basket of every query (item rows).
    grid : numpy.ndarray of float
        The strengths ``m`` to try.
    min_support : int
        Pairs bought with the anchor in fewer orders are never proposed.
    pair_prior : float
        ``m'`` of ``P̂(j | a)``.
    shortlist, top : int
        Items per shortlist ranking; sets looked up per query.

    Returns
    -------
    numpy.ndarray of int64, shape (len(grid), n_queries)
        ``hits[g, q]``: how many of query ``q``'s best ``top`` sets under
        strength ``grid[g]`` lie wholly inside its basket.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> orders = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 0, 0, 1]], np.float32))
    >>> by_item = orders.tocsc()
    >>> prior_hits(orders.indptr, orders.indices, by_item.indptr, by_item.indices,
    ...            np.diff(by_item.indptr).astype(float), np.array([0]), [np.array([0, 1, 2])],
    ...            np.array([0.0, 10.0]), top=1).tolist()
    [[1], [1]]
    >>> prior_hits(orders.indptr, orders.indices, by_item.indptr, by_item.indices,
    ...            np.diff(by_item.indptr).astype(float), np.array([0, 0]),
    ...            [np.array([0, 1, 2]), np.array([0, 1, 3])], np.array([0.0])).tolist()
    [[1, 0]]
    """
    anchors = np.asarray(anchors, dtype=np.int64)
    if len(baskets) != anchors.size:
        raise ValueError(f"baskets must hold one basket per anchor ({anchors.size})")
    item_count = np.ascontiguousarray(item_count, dtype=np.float64)
    n_items = item_count.size
    if anchors.size and (anchors.min() < 0 or anchors.max() >= n_items):
        raise ValueError(f"anchors must lie in 0..{n_items - 1}")
    grid = np.ascontiguousarray(grid, dtype=np.float64)
    if not (np.isfinite(grid).all() and (grid >= 0).all()):
        raise ValueError("grid must hold finite strengths >= 0")
    order = np.argsort(anchors, kind="stable")  # queries grouped by anchor
    unique, starts = np.unique(anchors[order], return_index=True)
    query_indptr = np.append(starts, anchors.size).astype(np.int64)
    sizes = np.array([len(baskets[q]) for q in order], dtype=np.int64)
    basket_indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    basket_indices = (
        np.concatenate([np.asarray(baskets[q], dtype=np.int64) for q in order])
        if anchors.size
        else np.empty(0, dtype=np.int64)
    )
    if basket_indices.size and (basket_indices.min() < 0 or basket_indices.max() >= n_items):
        raise ValueError(f"baskets must hold item rows in 0..{n_items - 1}")
    n_orders = len(indptr) - 1
    if len(by_item_indptr) != n_items + 1 or indptr[-1] != len(indices):
        raise ValueError("the orders' CSR and CSC structures do not match item_count")
    if (len(indices) and (np.min(indices) < 0 or np.max(indices) >= n_items)) or (
        len(by_item_indices)
        and (np.min(by_item_indices) < 0 or np.max(by_item_indices) >= n_orders)
    ):
        raise ValueError(_NOT_CANONICAL)
    hits = np.zeros((grid.size, anchors.size), dtype=np.int64)
    scratch = ItemsetScratch(n_items)
    _prior_hits_kernel(
        np.ascontiguousarray(indptr, dtype=np.int64),
        np.ascontiguousarray(indices, dtype=np.int32),
        np.ascontiguousarray(by_item_indptr, dtype=np.int64),
        np.ascontiguousarray(by_item_indices, dtype=np.int64),
        item_count,
        float(max(len(indptr) - 1, 1)),
        unique.astype(np.int64),
        query_indptr,
        basket_indptr,
        basket_indices,
        int(min_support),
        float(pair_prior),
        grid,
        int(max(shortlist, 1)),
        int(max(top, 1)),
        hits,
        scratch.seen,
        scratch.local,
        scratch.touched,
        np.zeros(n_items, dtype=np.bool_),
    )
    out = np.empty_like(hits)
    out[:, order] = hits  # back to the queries' order
    return out
