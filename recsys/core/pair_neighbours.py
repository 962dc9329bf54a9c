"""The neighbour table of counted item pairs: the top-k step of :func:`item_neighbours`, on pairs.

:func:`~recsys.core.cooccurrence.item_neighbours` counts co-occurrence and
keeps the top ``k`` of every item in one kernel.  When the pairs are counted
elsewhere (``recsys.spark`` counts them on a Spark cluster), this function
does the second half: the same similarity formulas (float64, rounded once to
float32), the same ``min_count`` filter and the same order (score descending,
ties by item id ascending), so that the result equals the kernel's table
(``tests/core/test_pair_neighbours.py`` checks it on random data).

Only the similarities computed from binary counts are supported: ``confidence``,
``jaccard``, ``lift`` and ``cosine`` on binary data (``||a|| = sqrt(n_a)``).
"""

from __future__ import annotations

import numpy as np

from recsys.core.cooccurrence import NeighbourTable

__all__ = ["PAIR_SIMILARITIES", "neighbours_from_pairs", "pair_scores"]

#: The similarities :func:`neighbours_from_pairs` builds (all from binary counts).
PAIR_SIMILARITIES: tuple[str, ...] = ("cosine", "jaccard", "lift", "confidence")


def pair_scores(
    rows: np.ndarray,
    cols: np.ndarray,
    counts: np.ndarray,
    item_support: np.ndarray,
    n_rows: int,
    similarity: str,
    shrinkage: float = 0.0,
) -> np.ndarray:
    """Return the float32 similarity of every pair ``rows[i] -> cols[i]``, as the kernel rounds it.

    Parameters
    ----------
    rows, cols : numpy.ndarray of int
        Item ``a`` (the table row) and neighbour ``b`` of every pair.
    counts : numpy.ndarray of int
        ``c_ab``: the transactions holding both.
    item_support : numpy.ndarray of int, shape (n_items,)
        ``n_a``: the transactions holding each item.
    n_rows : int
        ``N``: the number of transactions.
    similarity : {"cosine", "jaccard", "lift", "confidence"}
    shrinkage : float

    Returns
    -------
    numpy.ndarray of float32

    Examples
    --------
    >>> pair_scores(np.array([0]), np.array([1]), np.array([2]), np.array([4, 2]), 8,
    ...             "lift").tolist()
    [2.0]
    """
    if similarity not in PAIR_SIMILARITIES:
        raise ValueError(
            f"similarity must be one of {list(PAIR_SIMILARITIES)} (binary counts), "
            f"got {similarity!r}"
        )
    support = np.asarray(item_support, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    n_a, n_b = support[rows], support[cols]
    s = float(shrinkage)
    with np.errstate(divide="ignore", invalid="ignore"):
        if similarity == "cosine":
            score = c / (np.sqrt(n_a) * np.sqrt(n_b) + s)
        elif similarity == "jaccard":
            score = c / (n_a + n_b - c + s)
        elif similarity == "lift":
            score = c * float(n_rows) / (n_a * n_b + s)
        else:
            score = c / (n_a + s)
    return score.astype(np.float32) + np.float32(0.0)  # -0.0 -> +0.0, as the kernel


def neighbours_from_pairs(
    rows: np.ndarray,
    cols: np.ndarray,
    counts: np.ndarray,
    item_support: np.ndarray,
    n_rows: int,
    similarity: str = "cosine",
    k: int = 100,
    *,
    min_count: int = 1,
    shrinkage: float = 0.0,
) -> NeighbourTable:
    """Build the top-``k`` neighbour table of every item from counted pairs.

    Equal to ``item_neighbours(X, similarity, k, min_count=..., shrinkage=...)``
    (binary counts) when the pairs are every ordered pair ``(a, b)``, ``a != b``,
    of items that co-occur in ``X`` with their count (or any superset of each
    row's top ``k``, e.g. pairs pruned elsewhere with a safety margin).

    Parameters
    ----------
    rows, cols : numpy.ndarray of int
        The ordered pairs ``a -> b`` (each at most once; ``a == b`` is refused).
    counts : numpy.ndarray of int
        ``c_ab >= 1`` of every pair.
    item_support : numpy.ndarray of int, shape (n_items,)
        Transactions holding each item.
    n_rows : int
        Number of transactions.
    similarity : {"cosine", "jaccard", "lift", "confidence"}
    k : int
        Neighbours kept per item (capped at ``n_items - 1`` as the kernel does).
    min_count : int
        Pairs with ``c_ab < min_count`` are dropped.
    shrinkage : float

    Returns
    -------
    NeighbourTable

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from recsys.core.cooccurrence import item_neighbours
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float32))
    >>> t = neighbours_from_pairs(np.array([0, 1, 0, 2, 1, 2]), np.array([1, 0, 2, 0, 2, 1]),
    ...                           np.array([2, 2, 1, 1, 1, 1]), np.array([2, 2, 2]), 3,
    ...                           "jaccard", k=2)
    >>> ref = item_neighbours(X, "jaccard", k=2, num_threads=1)
    >>> t.indices.tolist() == ref.indices.tolist(), t.scores.tolist() == ref.scores.tolist()
    (True, True)
    """
    support = np.asarray(item_support)
    n_items = int(support.shape[0])
    if n_items < 1:
        raise ValueError("item_support must list at least one item")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
    a = np.asarray(rows, dtype=np.int64)
    b = np.asarray(cols, dtype=np.int64)
    c = np.asarray(counts, dtype=np.int64)
    if not (a.shape == b.shape == c.shape) or a.ndim != 1:
        raise ValueError("rows, cols and counts must be 1-D arrays of the same length")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_items):
        raise IndexError(f"pair items must be in [0, {n_items})")
    if np.any(a == b):
        raise ValueError("pairs must join two different items (a == b found)")
    k = min(int(k), max(n_items - 1, 1))
    keep = c >= min_count
    a, b, c = a[keep], b[keep], c[keep]
    score = pair_scores(a, b, c, support, n_rows, similarity, shrinkage)
    order = np.lexsort((b, -score, a))
    a_sorted = a[order]
    starts = np.searchsorted(a_sorted, np.arange(n_items))
    rank = np.arange(a_sorted.size) - starts[a_sorted]
    top = order[rank < k]
    lengths = np.bincount(a[top], minlength=n_items)
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return NeighbourTable(
        indptr=indptr,
        indices=b[top].astype(np.int32),
        scores=score[top],
        counts=c[top].astype(np.int32),
        item_support=support.astype(np.int32),
        n_rows=int(n_rows),
    )
