"""IDs at the edges of the integer types keep their exact values (issue 16, section 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import ALS, IdMap, Interactions, ItemItem, Popularity, UnknownIdError
from recsys.data.ids import as_id_array

EDGES = [
    -(2**63) - 1,
    -(2**63),
    -1,
    0,
    5,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64 - 2,
    2**64 - 1,
    2**64,
    2**70,
]

near_edges = st.one_of(
    *(st.integers(edge - 3, edge + 3) for edge in (-(2**63), 0, 2**53, 2**63, 2**64)),
    st.integers(-(2**80), 2**80),
)


def test_mixed_huge_and_small_ints_are_not_floats() -> None:
    arr = as_id_array([2**64 - 2, 5], "users")
    assert arr.dtype.kind != "f"
    assert arr.tolist() == [2**64 - 2, 5]
    beyond = as_id_array([2**70, -1], "users")
    assert beyond.tolist() == [2**70, -1] and all(type(v) is int for v in beyond)


def test_neighbouring_huge_ids_stay_distinct() -> None:
    ids = IdMap([2**64 - 1, 5], name="user")
    assert ids.to_rows([2**64 - 1, 5]).tolist() == [0, 1]
    assert ids.to_rows([2**64 - 2, 5], missing="ignore").tolist() == [-1, 1]
    assert 2**64 - 2 not in ids and 2**64 - 1 in ids
    with pytest.raises(UnknownIdError, match="18446744073709551614"):
        ids.to_rows([2**64 - 2, 5])


@settings(max_examples=200, deadline=None)
@given(
    known=st.lists(near_edges, min_size=1, max_size=6, unique=True), queries=st.lists(near_edges)
)
def test_lookups_are_exact_for_any_integer(known: list[int], queries: list[int]) -> None:
    ids = IdMap(known, name="user")
    assert ids.to_rows(known).tolist() == list(range(len(known)))
    assert [int(v) for v in ids.to_external(range(len(known)))] == known
    want = [known.index(q) if q in known else -1 for q in queries]
    assert ids.to_rows(queries, missing="ignore").tolist() == want
    for q in queries:
        assert ids.to_rows([q], missing="ignore").tolist() == [want[queries.index(q)]]
        assert (q in ids) == (q in known)
    unknown = [q for q in queries if q not in known]
    if unknown:
        with pytest.raises(UnknownIdError):
            ids.to_rows(queries)


@pytest.mark.parametrize("edge", EDGES)
def test_every_edge_is_unknown_to_a_small_int_map(edge: int) -> None:
    ids = IdMap([1, 2, 3], name="item")
    assert ids.to_rows([edge, 2], missing="ignore").tolist() == [-1 if edge != 2 else 1, 1]
    with pytest.raises(UnknownIdError, match=str(edge)):
        ids.to_rows([edge])
    with pytest.raises(UnknownIdError, match=str(edge)):
        ids.to_rows([edge, 1])


def _fit(model_cls: type, users: list[int]) -> object:
    log = pd.DataFrame(
        {
            "user": [users[0]] * 3 + [users[1]] * 2 + [users[2]] * 2,
            "item": [1, 2, 3, 3, 4, 4, 5],
        }
    )
    data = Interactions.from_pandas(log, user_col="user", item_col="item")
    model = model_cls() if model_cls is not ALS else ALS(factors=4, iterations=3, random_state=0)
    return model.fit(data)


@pytest.mark.parametrize("model_cls", [ALS, ItemItem, Popularity])
def test_unknown_huge_user_gets_the_fallback_not_a_neighbours_list(model_cls: type) -> None:
    model = _fit(model_cls, [2**64 - 1, 5, 6])
    # a list mixing a huge and a small ID: 2**64 - 2 must not become the known 2**64 - 1
    out = model.recommend([2**64 - 2, 5], n=3)  # type: ignore[attr-defined]
    stranger = out[out["user"] == 2**64 - 2]
    fallback = model.recommend([123456], n=3)  # type: ignore[attr-defined]
    assert len(stranger) == 3 and (out["user"] == 5).sum() > 0
    assert stranger["item"].tolist() == fallback["item"].tolist()
    assert stranger["score"].tolist() == fallback["score"].tolist()
    known = model.recommend([2**64 - 1], n=3)  # type: ignore[attr-defined]
    assert not set(known["item"]) & {1, 2, 3}  # the known user's own history is left out


@pytest.mark.parametrize("big", [2**63, 2**64 - 1, 2**70, -(2**63) - 1])
def test_unknown_items_of_any_size_are_key_errors(big: int) -> None:
    model = _fit(Popularity, [10, 11, 12])
    for kwargs in ({"exclude_items": [big]}, {"candidates": [big, 1]}):
        with pytest.raises(UnknownIdError, match=str(big)) as err:
            model.recommend([10], n=2, **kwargs)  # type: ignore[attr-defined]
        assert isinstance(err.value, KeyError)
    item_model = _fit(ItemItem, [10, 11, 12])
    with pytest.raises(KeyError, match=str(big)):
        item_model.similar_items([big])  # type: ignore[attr-defined]
    with pytest.raises(KeyError, match=str(big)):
        item_model.similar_items([1], candidates=[big])  # type: ignore[attr-defined]


def test_huge_ids_fit_and_round_trip_through_interactions() -> None:
    users = [2**64 - 1, 2**64 - 2, 7]
    log = pd.DataFrame({"user": pd.Series(users, dtype=object), "item": [2**70, 1, 2**70]})
    data = Interactions.from_pandas(log, user_col="user", item_col="item")
    back = data.to_pandas()
    assert sorted(int(u) for u in back["user"]) == sorted(users)
    assert sorted(set(back["item"].tolist())) == [1, 2**70]
    assert np.array_equal(data.user_ids.to_rows(users), data.user_ids.to_rows(users))
    assert len(set(data.user_ids.to_rows(users).tolist())) == 3


def test_object_arrays_of_numpy_integers_are_compared_exactly() -> None:
    ids = IdMap(np.array([2**64 - 1, 5], dtype=np.uint64), name="user")
    queries = np.empty(4, dtype=object)
    queries[:] = [np.int64(-1), np.uint64(5), 2**64 - 1, np.int64(5)]
    assert ids.to_rows(queries, missing="ignore").tolist() == [-1, 1, 0, 1]
    signed = IdMap([-1, 7], name="user")
    queries[:] = [np.uint64(2**64 - 1), -1, np.uint64(7), 2**63]
    assert signed.to_rows(queries, missing="ignore").tolist() == [-1, 0, 1, -1]
