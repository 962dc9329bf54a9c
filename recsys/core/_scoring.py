"""Compiled helpers shared by the neighbour kernels: the final probability score, sorted-id search.

The per-entry accumulation (sum, or the maximum for probabilities) is written
out in each kernel's inner loop instead: a helper called once per neighbour
entry, with the scratch arrays as arguments, made the constrained kernel
three times slower.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True, inline="always")
def combined(basket_score, direct_score, noisy_or):  # pragma: no cover - compiled
    """Return the final score: ``1 - (1 - b)(1 - d)`` for probabilities, the sum otherwise."""
    if noisy_or:
        return basket_score + direct_score - basket_score * direct_score
    return basket_score


@numba.njit(cache=True, nogil=True)
def sorted_position(sorted_ids, x):  # pragma: no cover - compiled
    """Index of ``x`` in the ascending array ``sorted_ids``, or -1."""
    lo = 0
    hi = sorted_ids.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_ids[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    if lo < sorted_ids.shape[0] and sorted_ids[lo] == x:
        return lo
    return -1
