"""constraints: the Constraints tuple, its builders (one per rule) and their checks."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from recsys.core import topn_dense, workers
from recsys.core.constraints import (
    Constraints,
    as_constraints,
    unconstrained,
    with_allowed,
    with_exclusions,
    with_fill,
    with_group_caps,
)


def every_rule(n_queries: int = 2, n_items: int = 4) -> Constraints:
    return Constraints.make(
        n_queries,
        n_items,
        exclude_indptr=[0, 1, 2],
        exclude_indices=[3, 0],
        item_allowed=np.ones((2, n_items), dtype=bool),
        allowed_of_query=[1, 0],
        group_of=[0, 0, 1, -1],
        max_per_group=1,
        fill_order=[[0, 1, 2, 3], [3, 2, -1, -1]],
        fill_scores=np.ones((2, 4)),
        fill_of_query=[1, -1],
    )


def test_make_is_the_builders_in_turn() -> None:
    c = unconstrained(2, 4)
    c = with_exclusions(c, [0, 1, 2], [3, 0])
    c = with_allowed(c, np.ones((2, 4), dtype=bool), [1, 0])
    c = with_group_caps(c, [0, 0, 1, -1], 1)
    c = with_fill(c, [[0, 1, 2, 3], [3, 2, -1, -1]], np.ones((2, 4)), [1, -1])
    made = every_rule()
    assert c._fields == made._fields
    for name, a, b in zip(c._fields, c, made, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert (c.n_queries, c.n_items, c.n_groups, c.max_per_group) == (2, 4, 2, 1)
    assert c.has_allowed and c.has_groups


def test_unconstrained_and_no_op_builders() -> None:
    c = unconstrained(3, 5)
    assert c.exclude_indptr.tolist() == [0, 0, 0, 0] and c.exclude_indices.size == 0
    assert not c.has_allowed and not c.has_groups and c.n_groups == 0
    assert c.fill_of_query.tolist() == [-1, -1, -1] and c.fill_orders.shape == (1, 0)
    for build in (
        lambda: with_exclusions(c, None, None),
        lambda: with_allowed(c, None),
        lambda: with_group_caps(c, None, None),
        lambda: with_fill(c, None),
    ):
        assert build() is c


def test_one_kernel_type_for_every_rule(monkeypatch) -> None:
    """Builders normalise dtypes, layouts and scalars: Numba sees one type, compiles once."""
    read_only = np.array([0, 0, 1, -1], dtype=np.int64)
    read_only.setflags(write=False)
    mask = np.ones((2, 8), dtype=bool)[:, ::2]  # not contiguous
    variants = [
        unconstrained(2, 4),
        every_rule(),
        Constraints.make(2, 4, group_of=read_only, max_per_group=np.int64(2)),
        Constraints.make(2, 4, item_allowed=mask, fill_order=np.arange(4, dtype=np.uint16)),
    ]
    types = {numba.typeof(c) for c in variants}
    assert len(types) == 1, types
    for c in variants:
        topn_dense.constrained_topn_dense(np.ones((2, 4)), 2, c)  # serially
    scores = np.ones((2, 4), dtype=np.float32)
    scores.setflags(write=False)
    topn_dense.constrained_topn_dense(scores, 2, every_rule())
    monkeypatch.setattr(workers, "SERIAL_MAX_WORK", -1)  # small batches in parallel too
    batch = Constraints.make(9, 4, group_of=read_only, max_per_group=1, fill_order=[3, 2])
    topn_dense.constrained_topn_dense(np.ones((9, 4)), 2, batch)  # in parallel
    topn_dense.constrained_topn_dense(np.ones((9, 4)), 2, unconstrained(9, 4))
    assert len(topn_dense._dense_worker.signatures) == 1
    assert len(topn_dense._dense_kernel.signatures) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(exclude_indptr=[0, 1]), "given together"),
        (dict(exclude_indptr=[0, 1], exclude_indices=[5]), "exclude_indices"),
        (dict(exclude_indptr=[0.0, 1.0], exclude_indices=[1]), "integer array"),
        (dict(exclude_indptr=[0, 2], exclude_indices=[1]), "must start at 0 and end at len"),
        (dict(item_allowed=np.ones(4, dtype=int)), "bool"),
        (dict(item_allowed=np.ones(5, dtype=bool)), "item_allowed must have shape"),
        (dict(item_allowed=np.ones((2, 4), dtype=bool), allowed_of_query=[2]), "allowed_of_query"),
        (dict(allowed_of_query=[0]), "needs item_allowed"),
        (dict(max_per_group=2), "needs group_of"),
        (dict(group_of=[0, 1, 2, 3]), "needs max_per_group"),
        (dict(group_of=[0, 1, 2, 3], max_per_group=0), "positive"),
        (dict(group_of=[0, 1, 2, 3], max_per_group=True), "positive"),
        (dict(group_of=[0, -2, 2, 3], max_per_group=1), "-1 for no group"),
        (dict(group_of=[0, 1, 2]), "group_of must have shape"),
        (dict(fill_order=[0, 9]), "fill_order"),
        (dict(fill_order=[0, 1], fill_scores=[1.0]), "fill_scores"),
        (dict(fill_order=[0, 1], fill_of_query=[1]), "fill_of_query"),
        (dict(fill_scores=[1.0]), "need fill_order"),
    ],
)
def test_constraint_errors(kwargs, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Constraints.make(1, 4, **kwargs)


def test_counts_must_be_non_negative_ints() -> None:
    with pytest.raises(ValueError, match="n_queries must be a non-negative integer"):
        unconstrained(-1, 3)
    with pytest.raises(ValueError, match="n_items must be a non-negative integer"):
        unconstrained(1, 2.0)  # type: ignore[arg-type]


def test_as_constraints() -> None:
    c = Constraints.make(2, 3)
    assert as_constraints(c, 2, 3) is c
    assert as_constraints(None, 1, 3).n_queries == 1
    with pytest.raises(ValueError, match="constraints were made for 2 queries"):
        as_constraints(c, 1, 3)
    with pytest.raises(ValueError, match="constraints were made for 3 items"):
        as_constraints(c, 2, 4)
    with pytest.raises(TypeError, match="Constraints"):
        as_constraints(tuple(c), 2, 3)  # type: ignore[arg-type]
