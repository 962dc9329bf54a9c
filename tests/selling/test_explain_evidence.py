"""neighbour_evidence: looking positions up among the basket's rows gives the whole-table answer."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.selling.explain import neighbour_evidence


@settings(max_examples=200, deadline=None)
@given(data=st.data(), lengths=st.lists(st.integers(0, 4), min_size=1, max_size=12))
def test_sources_give_the_same_evidence(data, lengths: list[int]) -> None:
    n_items = len(lengths)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    nnz = int(indptr[-1])
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    table = SimpleNamespace(
        indptr=indptr,
        indices=rng.integers(0, n_items, nnz),
        counts=rng.integers(1, 9, nnz),
        item_support=rng.integers(1, 20, n_items),
        n_rows=50,
    )
    sources = np.array(
        data.draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=5)), dtype=np.int32
    )
    # positions inside the sources' rows (the kernel's explaining entries), or -1; some draws
    # also point outside them, where the whole table answers
    inside = np.concatenate([np.arange(indptr[r], indptr[r + 1]) for r in sources])
    anywhere = np.arange(nnz)
    picks = []
    for _ in range(data.draw(st.integers(1, 6))):
        pool = data.draw(st.sampled_from(["inside", "anywhere", "none"]))
        if pool == "inside" and inside.size:
            picks.append(int(data.draw(st.sampled_from(inside.tolist()))))
        elif pool == "anywhere" and nnz:
            picks.append(int(data.draw(st.sampled_from(anywhere.tolist()))))
        else:
            picks.append(-1)
    pos = np.array([picks], dtype=np.int64)
    ids = rng.integers(0, n_items, pos.shape)
    expected = neighbour_evidence(table, pos, ids)
    got = neighbour_evidence(table, pos, ids, sources=sources)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    owner = np.searchsorted(indptr, np.maximum(pos, 0), side="right") - 1  # the plain definition
    np.testing.assert_array_equal(got[0], np.where(pos >= 0, owner, -1))
