"""A sparse item-item weight matrix as a neighbour table: how a sparse EASE is served.

Cross-sell scores an :class:`~recsys.ItemItem` basket with the Numba
neighbour kernel (:func:`~recsys.core.topn_neighbours.constrained_topn_neighbours`):
only the basket items' rows are read, about 0.2 ms for a basket on a
100k-item catalog.  A sparse EASE ``B`` (``EASE(density=...)``) is the same
kind of object — each item's weighted neighbours — so it is exposed the same
way, as a :class:`~recsys.core.cooccurrence.NeighbourTable`
(``EASE.neighbours_``), and the selling layer serves it through its
``"neighbours"`` path instead of scoring all items of a dense row.

:func:`weight_neighbours` builds that table: every row of ``B`` sorted by
weight (descending, ties by item), negative weights kept (they lower a
basket's sum, as in ``x B``), and for every pair the number of customers who
have both items (``counts``, over the model's ``user_items_``) with the items'
customer counts and the number of customers, so the explanations ("bought by
12 customers who also bought ...", lift) are those of any neighbour table.
:func:`cached_weight_neighbours` keeps one table per weight matrix and
training matrix: a re-fit (new ``weights_``) builds a new one.
:func:`table_columns` gives a table by column, once per table: a sparse
EASE's column (one item's regression) is short where a best-seller's row is
long, so cross-sell reads a few candidates' exact scores there instead of
walking a customer's history rows.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.core.cooccurrence import NeighbourTable
from recsys.core.neighbour_lookup import ItemColumns, columns_of

__all__ = ["cached_weight_neighbours", "table_columns", "weight_neighbours"]

#: Pair counts are computed this many multiply-adds at a time (bounded memory).
_CHUNK_WORK = 1 << 24

_TABLES: dict[int, tuple[weakref.ref, weakref.ref, NeighbourTable]] = {}

_COLUMNS: weakref.WeakKeyDictionary[NeighbourTable, ItemColumns] = weakref.WeakKeyDictionary()


def weight_neighbours(weights: sp.spmatrix, user_items: sp.spmatrix) -> NeighbourTable:
    """Return a sparse items × items weight matrix as a neighbour table with pair counts.

    Parameters
    ----------
    weights : scipy.sparse matrix, shape (n_items, n_items)
        The weights (a sparse EASE ``B``); explicit zeros and the diagonal
        are left out.
    user_items : scipy.sparse matrix, shape (n_users, n_items)
        Who has what (any non-zero counts once): the pair counts and item
        supports of the explanations.

    Returns
    -------
    NeighbourTable
        Rows sorted by weight descending (ties by item id), ``scores`` the
        weights (float32), ``counts`` the customers with both items,
        ``item_support`` the customers with each item, ``n_rows`` the
        number of customers.

    Examples
    --------
    >>> B = sp.csr_matrix(np.array([[0, 0.2, -0.1], [0.5, 0, 0.5], [0, 0, 0]], np.float32))
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]]))
    >>> table = weight_neighbours(B, X)
    >>> table.indices.tolist(), table.scores.tolist(), table.counts.tolist()
    ([1, 2, 0, 2], [0.20000000298023224, -0.10000000149011612, 0.5, 0.5], [1, 1, 1, 1])
    >>> table.indptr.tolist(), table.item_support.tolist(), table.n_rows
    ([0, 2, 4, 4], [2, 2, 2], 3)
    """
    B = sp.csr_matrix(weights, dtype=np.float32, copy=True)
    n_items = B.shape[0]
    if B.shape != (n_items, n_items) or user_items.shape[1] != n_items:
        raise ValueError(
            f"weights must be items x items and user_items users x items, got {B.shape} "
            f"and {user_items.shape}"
        )
    B.sum_duplicates()
    rows = np.repeat(np.arange(n_items, dtype=np.int64), np.diff(B.indptr))
    keep = (B.data != 0) & (B.indices != rows)
    rows, cols, data = rows[keep], B.indices[keep].astype(np.int64), B.data[keep]
    order = np.lexsort((cols, -data, rows))  # row, then weight descending, then item
    rows, cols, data = rows[order], cols[order], data[order]
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_items), out=indptr[1:])

    X = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    X.sum_duplicates()
    X.eliminate_zeros()
    X.data[:] = 1.0
    item_users = X.T.tocsr()
    support = np.diff(item_users.indptr).astype(np.int32)
    counts = _pair_counts(item_users, X, rows, cols, indptr)
    return NeighbourTable(
        indptr=indptr,
        indices=cols.astype(np.int32),
        scores=data.astype(np.float32),
        counts=counts,
        item_support=support,
        n_rows=int(X.shape[0]),
    )


def _pair_counts(
    item_users: sp.csr_matrix,
    X: sp.csr_matrix,
    rows: np.ndarray,
    cols: np.ndarray,
    indptr: np.ndarray,
) -> np.ndarray:
    """Count the customers having both items of every (row, col) pair, a chunk at a time."""
    n_items = item_users.shape[0]
    counts = np.zeros(rows.size, dtype=np.int32)
    if rows.size == 0 or X.nnz == 0:
        return counts
    # the multiply-adds of item a's row of the Gramian: the items of every customer of a
    work = item_users @ np.diff(X.indptr).astype(np.float64)
    listed = np.flatnonzero(np.diff(indptr) > 0)
    start = 0
    while start < listed.size:
        total = np.cumsum(work[listed[start:]])
        stop = start + max(1, int(np.searchsorted(total, _CHUNK_WORK, side="right")))
        chunk = listed[start:stop]
        gram = (item_users[chunk] @ X).tocsr()  # chunk items x items: customers in common
        gram.sort_indices()
        g_rows = np.repeat(np.arange(chunk.size, dtype=np.int64), np.diff(gram.indptr))
        g_keys = g_rows * n_items + gram.indices
        lo, hi = indptr[chunk[0]], indptr[chunk[-1] + 1]
        local = np.searchsorted(chunk, rows[lo:hi])
        wanted = local * n_items + cols[lo:hi]
        at = np.minimum(np.searchsorted(g_keys, wanted), max(g_keys.size - 1, 0))
        found = g_keys.size > 0
        hit = (g_keys[at] == wanted) if found else np.zeros(wanted.size, dtype=bool)
        counts[lo:hi] = np.where(hit, gram.data[at] if found else 0, 0).astype(np.int32)
        start = stop
    return counts


def cached_weight_neighbours(owner: Any, weights: sp.spmatrix, user_items: Any) -> NeighbourTable:
    """Return :func:`weight_neighbours` of ``weights``, built once per weights and training data.

    The table is kept while ``weights`` and ``user_items`` are alive and
    unchanged objects: a model re-fitted (or loaded) has new ones and gets a
    new table.  ``owner`` (the model) names the cache entry.

    Examples
    --------
    >>> B = sp.csr_matrix(np.array([[0, 1.0], [0.5, 0]], np.float32))
    >>> X = sp.csr_matrix(np.ones((2, 2)))
    >>> first = cached_weight_neighbours("model", B, X)
    >>> first is cached_weight_neighbours("model", B, X)
    True
    >>> first is cached_weight_neighbours("model", B.copy(), X)
    False
    """
    key = id(owner)
    hit = _TABLES.get(key)
    if hit is not None and hit[0]() is weights and hit[1]() is user_items:
        return hit[2]
    table = weight_neighbours(weights, user_items)
    for k in [k for k, (w, u, _) in _TABLES.items() if w() is None or u() is None]:
        del _TABLES[k]  # tables of weights no longer alive
    _TABLES[key] = (weakref.ref(weights), weakref.ref(user_items), table)
    return table


def table_columns(table: NeighbourTable) -> ItemColumns:
    """Return a neighbour table by column, built once per table (kept while it is alive).

    What :func:`~recsys.core.neighbour_lookup.prefix_topn` reads: cross-sell
    gets the exact score of a few candidates without walking a customer's
    long history rows (:mod:`recsys.selling.cross_sell`).  A sparse EASE's
    column is one item's regression (at most a few hundred weights) where a
    best-seller's row holds tens of thousands.  8 bytes per weight.

    Examples
    --------
    >>> B = sp.csr_matrix(np.array([[0, 0.2, 0.7], [0.5, 0, 0], [0, 0.1, 0]], np.float32))
    >>> table = weight_neighbours(B, sp.csr_matrix(np.ones((2, 3))))
    >>> table_columns(table).rows.tolist(), table_columns(table).indptr.tolist()
    ([1, 0, 2, 0], [0, 1, 3, 4])
    >>> table_columns(table) is table_columns(table)
    True
    """
    hit = _COLUMNS.get(table)
    if hit is None:
        hit = columns_of(table.indptr, table.indices, table.scores)
        _COLUMNS[table] = hit
    return hit
