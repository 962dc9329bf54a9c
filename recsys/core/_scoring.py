"""Compiled helpers shared by the neighbour kernels: how contributions combine, and sorted-id search.

One definition, so :mod:`recsys.core.constrained` (the top-n) and
:mod:`recsys.core.neighbour_scores` (chosen items) compute the same numbers.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True, inline="always")
def add_neighbour(basket, k, contribution, noisy_or):  # pragma: no cover - compiled
    """Neighbour evidence for slot ``k``: the largest (probabilities) or the sum (similarities)."""
    if noisy_or:
        if contribution > basket[k]:
            basket[k] = contribution
    else:
        basket[k] += contribution


@numba.njit(cache=True, nogil=True, inline="always")
def add_direct(basket, direct, k, w, noisy_or):  # pragma: no cover - compiled
    """A direct entry for slot ``k``: noisy-or into ``direct`` (probabilities), else added to ``basket``."""
    if noisy_or:
        direct[k] = direct[k] + w - direct[k] * w
    else:
        basket[k] += w


@numba.njit(cache=True, nogil=True, inline="always")
def combined(basket_score, direct_score, noisy_or):  # pragma: no cover - compiled
    """The final score: ``1 - (1 - b)(1 - d)`` for probabilities, the sum otherwise."""
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
