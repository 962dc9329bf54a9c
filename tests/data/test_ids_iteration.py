"""IdMap is a sequence of its IDs in row order: iteration, to_list, to_numpy (issue 11, part 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import IdMap, Interactions

near_edges = st.one_of(
    *(st.integers(edge - 3, edge + 3) for edge in (-(2**63), 0, 2**53, 2**63, 2**64)),
    st.integers(-(2**80), 2**80),
)
id_lists = st.one_of(
    st.lists(near_edges, min_size=1, max_size=8, unique=True),
    st.lists(st.text(max_size=5), min_size=1, max_size=8, unique=True),
    st.lists(st.integers(-5, 5), min_size=1, max_size=8, unique=True),
)


@settings(max_examples=200, deadline=None)
@given(known=id_lists)
def test_iteration_lists_and_arrays_keep_row_order_and_exact_values(known: list) -> None:
    ids = IdMap(known, name="user")
    as_list = ids.to_list()
    assert as_list == known
    assert [type(v) for v in as_list] == [type(v) for v in known]  # Python scalars, not NumPy's
    assert list(ids) == known
    assert list(iter(ids)) == known  # a fresh iterator every time
    array = ids.to_numpy()
    assert array.tolist() == known and len(array) == len(ids)
    assert ids.to_rows(list(ids)).tolist() == list(range(len(known)))
    assert all(v in ids for v in ids)
    assert ids.to_external(range(len(known))).tolist() == as_list


def test_huge_integer_ids_are_iterated_exactly() -> None:
    ids = IdMap([2**64 - 1, 2**64 - 2, 5], name="user")
    assert list(ids) == [2**64 - 1, 2**64 - 2, 5]
    assert ids.to_numpy().dtype == np.uint64
    beyond = IdMap([2**70, -1], name="user")
    assert list(beyond) == [2**70, -1] and all(type(v) is int for v in beyond)
    assert beyond.to_numpy().dtype == object


def test_to_numpy_is_a_copy() -> None:
    ids = IdMap(np.array([3, 1, 2]), name="item")
    array = ids.to_numpy()
    array[0] = 99
    assert ids.to_list() == [3, 1, 2] and ids.to_rows([3]).tolist() == [0]


def test_string_dtype_and_restored_maps_iterate() -> None:
    ids = IdMap(["a", "b"], name="item").with_index_dtype("string")
    assert list(ids) == ["a", "b"] and ids.to_numpy().tolist() == ["a", "b"]


def test_the_maps_of_interactions_iterate_in_row_order() -> None:
    log = pd.DataFrame({"user": [7, 3, 7, 11], "item": ["x", "y", "y", "z"]})
    data = Interactions.from_pandas(log, user_col="user", item_col="item")
    users = list(data.user_ids)
    assert sorted(users) == [3, 7, 11] and all(type(u) is int for u in users)
    assert data.user_ids.to_rows(users).tolist() == [0, 1, 2]
    rows = data.user_ids.to_rows([7])
    assert users[int(rows[0])] == 7
    assert list(data.item_ids) == data.item_ids.to_list() == ["x", "y", "z"]


def test_iteration_is_over_ids_not_rows() -> None:
    ids = IdMap([10, 20])
    assert list(ids) == [10, 20] and 0 not in list(ids)
    assert dict(zip(ids, range(len(ids)), strict=True)) == {10: 0, 20: 1}
