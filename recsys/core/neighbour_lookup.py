"""Exact top-n of summed neighbour rows from their prefixes, finished by the table's columns.

:func:`~recsys.core.topn_neighbours.constrained_topn_neighbours` walks every
entry of a query's neighbour rows.  When a row holds tens of thousands of
weights (a best-seller's row of a sparse EASE ``B``: it is in the support of
many items' regressions) and its strongest weights decide the ranking, the
kernel can read only each row's first entries (``query_limit``: rows are
sorted by similarity, descending) and :func:`prefix_topn` finishes the job
exactly: a candidate's whole-row score is read from its column
(:func:`columns_of`; a sparse EASE's columns are its items' regressions,
at most a few hundred weights each) merged with the query's items, added in
the kernel's order (the same float32 sums), and a bound on what the unread
tails can add proves (or not) that no other item beats the candidates.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import scipy.sparse as sp

__all__ = ["ItemColumns", "columns_of", "prefix_topn"]


class ItemColumns(NamedTuple):
    """A neighbour table by column: for each item, the rows that list it (:func:`columns_of`).

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_items + 1,)
    rows : ndarray of int32
        Column ``j``'s rows ``rows[indptr[j]:indptr[j + 1]]``, ascending: the
        items whose neighbour rows hold ``j``.
    data : ndarray of float32
        Their similarities to ``j``.
    """

    indptr: np.ndarray
    rows: np.ndarray
    data: np.ndarray


def columns_of(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> ItemColumns:
    """Return a square neighbour CSR by column (its transpose's rows, sorted).

    Parameters
    ----------
    indptr, indices, data : array_like
        CSR ``(n_items, n_items)`` of neighbours and similarities (rows in
        any order, each item at most once per row).

    Returns
    -------
    ItemColumns
        8 bytes per entry, plus the column pointers.

    Examples
    --------
    >>> cols = columns_of([0, 2, 3, 3], [2, 1, 2], [0.5, 0.25, 1.0])
    >>> cols.indptr.tolist(), cols.rows.tolist(), cols.data.tolist()
    ([0, 0, 1, 3], [0, 0, 1], [0.25, 0.5, 1.0])
    """
    ip = np.asarray(indptr, dtype=np.int64)
    n_items = ip.size - 1
    csr = sp.csr_matrix(
        (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32), ip),
        shape=(n_items, n_items),
    )
    csc = csr.tocsc()  # compiled: columns with their rows ascending
    csc.sort_indices()
    return ItemColumns(
        np.ascontiguousarray(csc.indptr, dtype=np.int64),
        np.ascontiguousarray(csc.indices, dtype=np.int32),
        np.ascontiguousarray(csc.data, dtype=np.float32),
    )


@numba.njit(cache=True, nogil=True)
def _prefix_kernel(
    q_indptr,
    q_indices,
    q_weights,
    q_limit,
    sim_indptr,
    sim_data,
    col_indptr,
    col_rows,
    col_data,
    c_ids,
    c_scores,
    c_pos,
    out_ids,
    out_scores,
    out_pos,
    proven,
):  # pragma: no cover - compiled
    """Exact scores of each query's candidates, best prefix score first, until the bound holds.

    ``proven[q]``: the n found are the top n over every item.  Returns False
    on a row out of bounds.
    """
    n = out_ids.shape[1]
    wide = c_ids.shape[1]
    nnz = sim_data.shape[0]
    longest = 0
    for qi in range(q_indptr.shape[0] - 1):
        longest = max(longest, q_indptr[qi + 1] - q_indptr[qi])
    value = np.zeros(longest, dtype=np.float32)  # each entry's similarity to the candidate
    has = np.zeros(longest, dtype=np.bool_)
    for qi in range(q_indptr.shape[0] - 1):
        q0 = q_indptr[qi]
        m = q_indptr[qi + 1] - q0
        unread = 0.0  # the most an unread tail adds to an item's score
        terms = 0.0  # sum of |w| max|sim|: the scale of the float32 rounding
        for p in range(q0, q0 + m):
            r0 = sim_indptr[q_indices[p]]
            r1 = sim_indptr[q_indices[p] + 1]
            if r0 < 0 or r1 < r0 or r1 > nnz:
                return False
            if r1 > r0:
                w = np.float64(q_weights[p])
                top = max(abs(np.float64(sim_data[r0])), abs(np.float64(sim_data[r1 - 1])))
                terms += abs(w) * top
                if q_limit[p] >= 0 and r1 - r0 > q_limit[p]:  # the first weight not read
                    unread += w * max(np.float64(sim_data[r0 + q_limit[p]]), 0.0)
        slack = unread + 4.0 * (m + 1) * 2.0**-23 * terms + 1e-12
        by_item = np.argsort(q_indices[q0 : q0 + m])  # the entries by item, to merge columns with
        found = 0  # the exact top n so far, best first (score descending, then item)
        done = False
        for k in range(wide):
            j = c_ids[qi, k]
            if (
                found == n
                and np.float64(out_scores[qi, n - 1])
                > (max(np.float64(c_scores[qi, k]), 0.0) if j >= 0 else 0.0) + slack
            ):
                done = True  # this candidate, those after it and every other item score less
                break
            if j < 0:
                break
            # column j (the rows holding j, ascending) merged with the entries by item
            c = col_indptr[j]
            c_end = col_indptr[j + 1]
            e = 0
            while c < c_end and e < m:
                row = col_rows[c]
                item = q_indices[q0 + by_item[e]]
                if row < item:
                    c += 1
                elif row > item:
                    e += 1
                else:
                    value[by_item[e]] = col_data[c]
                    has[by_item[e]] = True
                    e += 1  # the next entry may be the same item again
            acc = np.float32(0.0)
            for t in range(m):  # entry by entry: the neighbour kernel's float32 sum
                if has[t]:
                    acc += q_weights[q0 + t] * value[t]
                    has[t] = False
            x = found if found < n else n - 1
            if found == n and (
                acc < out_scores[qi, x] or (acc == out_scores[qi, x] and j > out_ids[qi, x])
            ):
                continue
            while x > 0 and (
                acc > out_scores[qi, x - 1]
                or (acc == out_scores[qi, x - 1] and j < out_ids[qi, x - 1])
            ):
                out_ids[qi, x] = out_ids[qi, x - 1]
                out_scores[qi, x] = out_scores[qi, x - 1]
                out_pos[qi, x] = out_pos[qi, x - 1]
                x -= 1
            out_ids[qi, x] = j
            out_scores[qi, x] = acc
            out_pos[qi, x] = c_pos[qi, k]
            if found < n:
                found += 1
        if not done and found == n:  # every candidate read: the items outside them
            last = np.float64(c_scores[qi, wide - 1]) if c_ids[qi, wide - 1] >= 0 else 0.0
            done = np.float64(out_scores[qi, n - 1]) > max(last, 0.0) + slack
        proven[qi] = done
    return True


def prefix_topn(
    query_indptr: np.ndarray,
    query_indices: np.ndarray,
    query_weights: np.ndarray,
    query_limit: np.ndarray,
    sim_indptr: np.ndarray,
    sim_data: np.ndarray,
    columns: ItemColumns,
    candidates: tuple[np.ndarray, np.ndarray, np.ndarray],
    n: int,
    *,
    query_explain: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the exact top n of summed neighbour rows, from candidates found on rows' prefixes.

    ``candidates`` is what
    :func:`~recsys.core.topn_neighbours.constrained_topn_neighbours` returned
    for the queries with ``query_limit`` (each entry reads the first
    ``limit`` of its row; rows sorted by similarity descending, as a
    :class:`~recsys.core.cooccurrence.NeighbourTable`'s are), without fill
    and without group caps, for ``wide >= n`` items, best prefix score
    first.  An item scores at most its prefix score plus ``sum w max(t, 0)``
    over the cut entries, ``t`` the first similarity not read (entry weights
    ``w >= 0``), plus a float32 rounding margin; an item outside the
    candidates has a prefix score of at most the last candidate's (0 if
    fewer than ``wide`` were found).  So the candidates' whole-row scores are
    read from their columns, in order (the kernel's float32 sums, in its
    order: equal to the bit), until the n-th best exact score is above
    the bound of the next candidate, and so of everything left: the query is
    *proven*, its top n (score descending, then item) is the kernel's answer
    over whole rows.  The explaining positions are the kernel's: whole-row
    ones when the explaining entries read their whole rows.

    Parameters
    ----------
    query_indptr, query_indices, query_weights, query_limit : array_like
        The queries' CSR, as given to the kernel (weights ``>= 0``).
    sim_indptr, sim_data : array_like
        The neighbour rows (sorted by similarity descending).
    columns : ItemColumns
        The same table by column (:func:`columns_of`).
    candidates : (ids, scores, positions)
        The kernel's output for ``wide`` items (``-1`` ids last).
    n : int
        Items per query, ``1 <= n <= wide``.
    query_explain : array_like of bool, optional
        The kernel's ``query_explain`` (default all): these entries must read
        their whole rows.

    Returns
    -------
    ids, scores, positions : ndarray, shape (n_queries, n)
        The candidates' exact top n, their scores and explaining positions.
    proven : ndarray of bool, shape (n_queries,)
        Where that is the top n over every item.

    Raises
    ------
    ValueError
        Shapes that do not match, ``n`` out of range, negative weights, an
        explaining entry whose row is cut.

    Examples
    --------
    Item 0's row is ``[1: 0.5, 2: 0.25, 3: 0.125]``; read its first entry:

    >>> sim = ([0, 3, 3, 3, 3], [1, 2, 3], [0.5, 0.25, 0.125])
    >>> cols = columns_of(sim[0], sim[1], sim[2])
    >>> cands = (np.array([[1, -1]]), np.array([[0.5, -np.inf]], np.float32),
    ...          np.array([[0, -1]]))
    >>> ids, scores, _, proven = prefix_topn([0, 1], [0], [1.0], [1], sim[0], sim[2], cols,
    ...                                      cands, 1, query_explain=[False])
    >>> ids.tolist(), scores.tolist(), proven.tolist()
    ([[1]], [[0.5]], [True])
    """
    q_ip = np.ascontiguousarray(query_indptr, dtype=np.int64)
    q_ix = np.ascontiguousarray(query_indices, dtype=np.int64)
    q_w = np.ascontiguousarray(query_weights, dtype=np.float32)
    q_lim = np.ascontiguousarray(query_limit, dtype=np.int64)
    s_ip = np.ascontiguousarray(sim_indptr, dtype=np.int64)
    s_data = np.ascontiguousarray(sim_data, dtype=np.float32)
    col_ip, col_rows, col_data = columns
    c_ids = np.ascontiguousarray(candidates[0], dtype=np.int32)
    c_scores = np.ascontiguousarray(candidates[1], dtype=np.float32)
    c_pos = np.ascontiguousarray(candidates[2], dtype=np.int64)
    n_q = q_ip.size - 1
    if q_ip.ndim != 1 or n_q < 0 or q_ip[0] != 0 or q_ip[-1] != q_ix.size:
        raise ValueError("query_indptr must start at 0 and end at len(query_indices)")
    if q_w.shape != q_ix.shape or q_lim.shape != q_ix.shape:
        raise ValueError("query_weights and query_limit must have the shape of query_indices")
    if (q_w < 0).any():
        raise ValueError("query_weights must be >= 0 for the prefix bound")
    if q_ix.size and (q_ix.min() < 0 or q_ix.max() >= s_ip.size - 1):
        raise ValueError(f"query_indices must be item ids in [0, {s_ip.size - 1})")
    explain = (
        np.ones(q_ix.shape, dtype=bool)
        if query_explain is None
        else np.asarray(query_explain, dtype=bool)
    )
    if explain.shape != q_ix.shape:
        raise ValueError("query_explain must have the shape of query_indices")
    cut = (q_lim >= 0) & (s_ip[q_ix + 1] - s_ip[q_ix] > q_lim)
    if (cut & explain).any():
        raise ValueError(
            "explaining entries (query_explain) must read their whole rows (query_limit -1): "
            "their explaining positions come from the prefix pass"
        )
    if (
        col_rows.shape != s_data.shape
        or col_data.shape != s_data.shape
        or col_ip.shape != s_ip.shape
    ):
        raise ValueError("columns must be columns_of() of these rows")
    if c_ids.ndim != 2 or c_ids.shape[0] != n_q or c_scores.shape != c_ids.shape:
        raise ValueError(f"candidates must be (n_queries={n_q}, wide) arrays")
    if c_pos.shape != c_ids.shape:
        raise ValueError("candidate positions must have the shape of the candidate ids")
    if not 1 <= n <= c_ids.shape[1]:
        raise ValueError(f"n must be in [1, {c_ids.shape[1]}] (the candidates), got {n}")
    out_ids = np.full((n_q, n), -1, dtype=np.int32)
    out_scores = np.full((n_q, n), -np.inf, dtype=np.float32)
    out_pos = np.full((n_q, n), -1, dtype=np.int64)
    proven = np.zeros(n_q, dtype=np.bool_)
    if n_q and not _prefix_kernel(
        q_ip,
        q_ix,
        q_w,
        q_lim,
        s_ip,
        s_data,
        col_ip,
        col_rows,
        col_data,
        c_ids,
        c_scores,
        c_pos,
        out_ids,
        out_scores,
        out_pos,
        proven,
    ):
        raise ValueError("sim_indptr is not a valid CSR matrix over the items")
    return out_ids, out_scores, out_pos, proven
