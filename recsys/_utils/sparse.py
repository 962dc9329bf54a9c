"""Row selection from CSR arrays, without scipy's fancy-indexing overhead.

Serving a single basket selects a handful of rows from matrices with
millions of entries; these helpers touch only the selected rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["row_positions", "select_csr_rows"]


def row_positions(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the sub-CSR ``indptr`` of ``rows`` and where its entries sit in the full arrays.

    ``rows`` may hold ``-1`` (an empty row).  Index the full ``indices`` or
    ``data`` with the positions to get the rows' entries.

    Examples
    --------
    >>> sub, take = row_positions(np.array([0, 2, 3]), np.array([1, -1, 0]))
    >>> sub.tolist(), take.tolist()
    ([0, 1, 1, 3], [2, 0, 1])
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 1:  # one customer or one item (a serving call): slices, no fancy indexing
        row = int(rows[0])
        start, stop = (int(indptr[row]), int(indptr[row + 1])) if row >= 0 else (0, 0)
        return np.array([0, stop - start], dtype=np.int64), np.arange(start, stop)
    safe = np.maximum(rows, 0)
    lengths = np.where(rows >= 0, indptr[safe + 1] - indptr[safe], 0)
    sub = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=sub[1:])
    take = np.repeat(indptr[safe] - sub[:-1], lengths) + np.arange(sub[-1])
    return sub, take


def select_csr_rows(
    indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (indptr, indices as int32) of the sub-CSR made of ``rows`` (``-1``: an empty row).

    Examples
    --------
    >>> indptr, indices = np.array([0, 2, 3]), np.array([4, 5, 6])
    >>> [a.tolist() for a in select_csr_rows(indptr, indices, np.array([1, 0]))]
    [[0, 1, 3], [6, 4, 5]]
    """
    rows = np.asarray(rows)
    if rows.size == 1:  # one row: a slice of ``indices``
        row = int(rows.reshape(-1)[0])
        start, stop = (int(indptr[row]), int(indptr[row + 1])) if row >= 0 else (0, 0)
        return (
            np.array([0, stop - start], dtype=np.int64),
            np.array(indices[start:stop], dtype=np.int32),  # a copy, as fancy indexing gives
        )
    sub, take = row_positions(indptr, rows)
    return sub, np.asarray(indices[take], dtype=np.int32)
