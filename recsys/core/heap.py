"""The heaps behind every top-n kernel, and their one ranking order.

Ranking order everywhere in recsys: score descending, ties broken by item id
ascending (the order of ``np.lexsort((ids, -scores))``); :func:`better` is
that comparison.  Two heap layouts use it:

* **pair heap** — a bounded min-heap of ``(score, id)`` pairs held in two
  arrays (typically the output row itself): the root is the *worst* kept
  pair, so a new pair that does not beat the root is rejected by one
  comparison.  :func:`pair_offer` adds a pair, :func:`pair_drain` sorts the
  heap into ranking order and pads the free slots with ``-inf`` / ``-1``.
* **position heaps** — heaps of candidate *positions* ``c`` into the
  candidate arrays ``ci`` (ids) and ``cs`` (scores).  :func:`sift_down_best`
  keeps the best candidate at the root, so candidates pop in ranking order
  (selections under group caps, which may pass over many of them);
  :func:`sift_down_worst` keeps the worst kept one at the root: the bounded
  top-n of a dense score row (measured faster there than the pair heap, by
  about a tenth).

All functions are compiled with Numba and work in place.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "better",
    "pair_drain",
    "pair_offer",
    "sift_down_best",
    "sift_down_worst",
    "sort_ascending",
]


@numba.njit(cache=True, nogil=True, inline="always")
def better(s1, i1, s2, i2):  # pragma: no cover - compiled
    """Tell whether ``(s1, i1)`` ranks before ``(s2, i2)``: higher score, then lower id.

    Examples
    --------
    >>> better(2.0, 5, 1.0, 0), better(1.0, 3, 1.0, 4), better(float("nan"), 0, 1.0, 1)
    (True, True, False)
    """
    return s1 > s2 or (s1 == s2 and i1 < i2)


# ---------------------------------------------------------------------------
# pair heap: (score, id) pairs, root = worst kept
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _pair_sift_down(hs, hi, size, pos):  # pragma: no cover - compiled
    s = hs[pos]
    i = hi[pos]
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        r = c + 1
        if r < size and better(hs[c], hi[c], hs[r], hi[r]):
            c = r  # the worse child
        if better(s, i, hs[c], hi[c]):
            hs[pos] = hs[c]
            hi[pos] = hi[c]
            pos = c
        else:
            break
    hs[pos] = s
    hi[pos] = i


@numba.njit(cache=True, nogil=True)
def pair_offer(hs, hi, size, n, s, i):  # pragma: no cover - compiled
    """Offer ``(s, i)`` to a pair heap holding ``size`` of at most ``n`` pairs; return the new size.

    Examples
    --------
    >>> import numpy as np
    >>> hs, hi = np.empty(2, np.float32), np.empty(2, np.int32)
    >>> size = 0
    >>> for s, i in [(1.0, 0), (3.0, 1), (2.0, 2)]:
    ...     size = pair_offer(hs, hi, size, 2, s, i)
    >>> pair_drain(hs, hi, size)
    >>> hi.tolist(), hs.tolist()
    ([1, 2], [3.0, 2.0])
    """
    if size < n:
        pos = size
        while pos > 0:
            p = (pos - 1) // 2
            if better(hs[p], hi[p], s, i):
                hs[pos] = hs[p]
                hi[pos] = hi[p]
                pos = p
            else:
                break
        hs[pos] = s
        hi[pos] = i
        return size + 1
    if better(s, i, hs[0], hi[0]):
        hs[0] = s
        hi[0] = i
        _pair_sift_down(hs, hi, n, np.int64(0))
    return size


@numba.njit(cache=True, nogil=True)
def pair_drain(hs, hi, size):  # pragma: no cover - compiled
    """Sort a pair heap in place into ranking order; pad slots ``size:`` with ``-inf`` / ``-1``.

    Examples
    --------
    >>> import numpy as np
    >>> hs, hi = np.array([1.0, 4.0, 0.0], np.float32), np.array([7, 2, 0], np.int32)
    >>> pair_drain(hs, hi, 2)
    >>> hi.tolist(), hs.tolist()
    ([2, 7, -1], [4.0, 1.0, -inf])
    """
    for k in range(size, hs.shape[0]):
        hs[k] = -np.inf
        hi[k] = -1
    while size > 1:
        s0 = hs[0]
        i0 = hi[0]
        size -= 1
        hs[0] = hs[size]
        hi[0] = hi[size]
        _pair_sift_down(hs, hi, size, np.int64(0))
        hs[size] = s0
        hi[size] = i0


# ---------------------------------------------------------------------------
# position heaps: positions c into candidate arrays ci (ids) / cs (scores)
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def sift_down_best(heap, size, pos, ci, cs):  # pragma: no cover - compiled
    """Restore a max-heap of candidate positions below ``pos``: the root is the best candidate.

    Examples
    --------
    >>> import numpy as np
    >>> ci, cs = np.array([0, 1, 2], np.int32), np.array([1.0, 3.0, 2.0], np.float32)
    >>> heap = np.array([0, 1, 2], np.int32)
    >>> sift_down_best(heap, 3, 0, ci, cs)
    >>> int(heap[0])
    1
    """
    c0 = heap[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and better(
            cs[heap[right]], ci[heap[right]], cs[heap[child]], ci[heap[child]]
        ):
            child = right
        if better(cs[heap[child]], ci[heap[child]], cs[c0], ci[c0]):
            heap[pos] = heap[child]
            pos = child
        else:
            break
    heap[pos] = c0


@numba.njit(cache=True, nogil=True)
def sift_down_worst(heap, size, pos, ci, cs):  # pragma: no cover - compiled
    """Restore a min-heap of candidate positions below ``pos``: the root is the worst kept.

    Examples
    --------
    >>> import numpy as np
    >>> ci, cs = np.array([0, 1, 2], np.int32), np.array([3.0, 1.0, 2.0], np.float32)
    >>> heap = np.array([0, 1, 2], np.int32)
    >>> sift_down_worst(heap, 3, 0, ci, cs)
    >>> int(heap[0])
    1
    """
    c0 = heap[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and better(
            cs[heap[child]], ci[heap[child]], cs[heap[right]], ci[heap[right]]
        ):
            child = right
        if better(cs[c0], ci[c0], cs[heap[child]], ci[heap[child]]):
            heap[pos] = heap[child]
            pos = child
        else:
            break
    heap[pos] = c0


# ---------------------------------------------------------------------------
# in-place sort of a short key array
# ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def sort_ascending(keys, m):  # pragma: no cover - compiled
    """Sort ``keys[:m]`` in place, ascending (heapsort: no allocation, ``O(m log m)``).

    For the short lists a kernel sorts once per row (the top-k keys of an
    item): ``np.sort`` would do too, but costs about a second of compilation
    on first use (Numba's quicksort is generated per dtype), this a tenth.

    Examples
    --------
    >>> import numpy as np
    >>> keys = np.array([5, 1, 4, 2, 3, 9], dtype=np.uint64)
    >>> sort_ascending(keys, 5)
    >>> keys.tolist()
    [1, 2, 3, 4, 5, 9]
    """
    for start in range(m // 2 - 1, -1, -1):  # a max-heap of keys[:m]
        _key_sift_down(keys, start, m)
    for end in range(m - 1, 0, -1):  # move the largest to the back, one at a time
        top = keys[0]
        keys[0] = keys[end]
        keys[end] = top
        _key_sift_down(keys, 0, end)


@numba.njit(cache=True, nogil=True, inline="always")
def _key_sift_down(keys, pos, size):  # pragma: no cover - compiled
    x = keys[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] > keys[child]:
            child += 1
        if keys[child] > x:
            keys[pos] = keys[child]
            pos = child
        else:
            break
    keys[pos] = x
