"""workers: every kernel gives the same result with one worker or several; scratch left clean."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.core import workers
from recsys.core.constraints import Constraints
from recsys.core.topn_candidates import constrained_topn_candidates
from recsys.core.topn_dense import constrained_topn_dense
from recsys.core.topn_factors import build_factor_index, topn_factor_scores
from recsys.core.topn_neighbours import constrained_topn_neighbours
from recsys.core.topn_shared import sort_scores, topn_shared_scores
from tests.core.reference import random_csr, random_exclusions

N_ITEMS = 60
N_QUERIES = 1037


def kernel_calls(rng: np.random.Generator) -> dict:
    """One call per kernel over N_QUERIES queries, as ``name -> call(num_threads)``."""
    ex_ip, ex_ix = random_exclusions(rng, N_QUERIES, N_ITEMS)
    group_of = rng.integers(-1, 6, N_ITEMS)
    fill = rng.permutation(N_ITEMS)

    def constraints() -> Constraints:
        return Constraints.make(
            N_QUERIES,
            N_ITEMS,
            exclude_indptr=ex_ip,
            exclude_indices=ex_ix,
            item_allowed=rng.random((3, N_ITEMS)) < 0.8,
            allowed_of_query=rng.integers(0, 3, N_QUERIES),
            group_of=group_of,
            max_per_group=2,
            fill_order=fill,
        )

    c = constraints()
    dense = rng.integers(-4, 5, (N_QUERIES, N_ITEMS)).astype(np.float32)
    index = build_factor_index(rng.integers(-3, 4, (N_ITEMS, 5)).astype(np.float32))
    queries = rng.integers(-3, 4, (N_QUERIES, 5)).astype(np.float32)
    cand = random_csr(rng, N_QUERIES, N_ITEMS, 12, np.array([0.25, 0.5, 1.0, np.nan]))
    sim = random_csr(rng, N_ITEMS, N_ITEMS, 8, np.array([0.25, 0.5, 1.0]))
    query = random_csr(rng, N_QUERIES, N_ITEMS, 6, np.array([0.5, 1.0]))
    order, ranked = sort_scores(rng.integers(0, 9, N_ITEMS).astype(np.float32))
    return {
        "factors": lambda t: topn_factor_scores(queries, index, 7, ex_ip, ex_ix, num_threads=t),
        "dense": lambda t: constrained_topn_dense(dense, 7, c, num_threads=t),
        "candidates": lambda t: constrained_topn_candidates(*cand, 7, N_ITEMS, c, num_threads=t),
        "shared": lambda t: topn_shared_scores(
            order, ranked, N_QUERIES, 7, ex_ip, ex_ix, num_threads=t
        ),
        "neighbours": lambda t: constrained_topn_neighbours(*query, *sim, 7, c, num_threads=t),
        "noisy_or": lambda t: constrained_topn_neighbours(
            *query[:2], query[2] / 2, *sim, 7, c, combine="noisy_or", num_threads=t
        ),
    }


CALLS = kernel_calls(np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize(("n_workers", "max_chunk"), [(2, 256), (5, 3), (16, 1)])
def test_several_workers_equal_serial(monkeypatch, name, n_workers, max_chunk) -> None:
    """Workers pull chunks in any order: the result must still be the serial one."""
    serial = CALLS[name](1)  # a small batch: in the calling thread
    monkeypatch.setattr(workers, "SERIAL_MAX_WORK", -1)  # the parallel kernel, however small
    monkeypatch.setattr(workers, "workers_for", lambda threads, n_queries: n_workers)
    monkeypatch.setattr(workers, "MAX_CHUNK", max_chunk)
    parallel = CALLS[name](2)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_schedule_hands_out_every_query_once() -> None:
    for n_queries, n_workers in [(0, 1), (1, 1), (5, 1), (100, 2), (10_000, 3), (7, 16)]:
        plan = workers.schedule(n_queries, n_workers)
        seen = []
        while True:
            lo, hi = workers.next_chunk(plan, n_queries)
            if lo >= hi:
                break
            assert hi - lo <= plan.chunk
            seen.extend(range(lo, hi))
        assert seen == list(range(n_queries))
        assert 1 <= plan.chunk <= max(n_queries, 1)


def test_a_handful_of_queries_runs_serially(monkeypatch) -> None:
    entered = []
    monkeypatch.setattr(workers, "parallel_section", lambda t: entered.append(t))
    monkeypatch.setattr(workers, "SERIAL_MAX_WORK", -1)  # the number of queries alone decides
    c = Constraints.make(workers.SERIAL_MAX_QUERIES, 3)
    constrained_topn_dense(np.ones((workers.SERIAL_MAX_QUERIES, 3)), 2, c)
    assert entered == []


@pytest.mark.parametrize("name", sorted(CALLS))
def test_small_batches_run_serially_and_large_ones_in_parallel(monkeypatch, name) -> None:
    """The estimated work picks the path: nothing parallel to compile for a small batch."""
    sections = []
    real = workers.parallel_section

    def recording(num_threads):
        sections.append(num_threads)
        return real(num_threads)

    monkeypatch.setattr(workers, "parallel_section", recording)
    small = CALLS[name](0)  # N_QUERIES queries over N_ITEMS items: well below the threshold
    assert sections == []
    monkeypatch.setattr(workers, "SERIAL_MAX_WORK", 1000)  # now the same batch is large
    large = CALLS[name](0)
    assert sections == [0]
    for a, b in zip(small, large, strict=True):
        np.testing.assert_array_equal(a, b)


def test_work_is_estimated_only_for_batches(monkeypatch) -> None:
    calls = []

    def work() -> int:
        calls.append(1)
        return 10

    launched = []
    workers.run(2, 0, lambda w: w, lambda scratch, s: launched.append(s.in_caller), work)
    assert calls == [] and launched == [True]
    workers.run(100, 0, lambda w: w, lambda scratch, s: launched.append(s.in_caller), work)
    assert calls == [1] and launched == [True, True]
    monkeypatch.setattr(workers, "SERIAL_MAX_WORK", 9)
    workers.run(100, 0, lambda w: w, lambda scratch, s: launched.append(s.in_caller), work)
    assert launched == [True, True, False]


def test_serial_twin_runs_the_same_code_without_parallel() -> None:
    from recsys.core import als, cooccurrence

    for kernel, twin in [
        (als._cg_kernel, als._cg_kernel_serial),
        (als._exact_kernel, als._exact_kernel_serial),
        (als._loss_kernel, als._loss_kernel_serial),
        (cooccurrence._neighbours_kernel, cooccurrence._neighbours_serial),
        (cooccurrence._compact, cooccurrence._compact_serial),
    ]:
        assert kernel.targetoptions["parallel"] and not twin.targetoptions.get("parallel")
        assert twin.py_func.__code__ is kernel.py_func.__code__
        assert twin.py_func.__qualname__ == kernel.py_func.__qualname__ + "_serial"
        assert twin._cache.__class__.__name__ != "NullCache"  # cached, under its own name


def test_serial_scratch_is_reused_and_left_clean() -> None:
    """Single-basket calls reuse per-thread scratch: every kernel must leave it as it found it."""
    rng = np.random.default_rng(3)
    n_items = 40
    sim_indptr = np.arange(0, 4 * n_items + 1, 4)
    sim_indices = rng.integers(0, n_items, 4 * n_items).astype(np.int32)
    sim_data = rng.random(4 * n_items).astype(np.float32)
    group_of = rng.integers(-1, 5, n_items)
    index = build_factor_index(rng.standard_normal((n_items, 4)))
    order, ranked = sort_scores(rng.random(n_items))
    for trial in range(30):
        items = rng.choice(n_items, size=3, replace=False)
        c = Constraints.make(
            1,
            n_items,
            exclude_indptr=[0, 2],
            exclude_indices=items[:2],
            group_of=group_of,
            max_per_group=1,
            fill_order=np.arange(n_items),
        )
        ids, _, _ = constrained_topn_neighbours(
            [0, 3],
            items,
            np.ones(3, np.float32),
            sim_indptr,
            sim_indices,
            sim_data,
            6,
            c,
            query_direct=[False, False, trial % 2 == 0],
            combine="noisy_or" if trial % 3 else "sum",
            positions=trial % 4 != 0,
        )
        assert not set(ids[0].tolist()) & set(items[:2].tolist())
        constrained_topn_candidates([0, 3], items, [0.3, 0.2, 0.1], 2, n_items, c)
        constrained_topn_dense(rng.random((1, n_items)), 5, c)
        topn_factor_scores(rng.standard_normal((1, 4)), index, 5, [0, 2], items[:2])
        topn_shared_scores(order, ranked, 1, 5, [0, 2], items[:2])
        buffers = workers.serial_buffers()
        kinds = {key[0] for key in buffers if key[1] == n_items}
        assert trial == 0 or kinds == {"neighbours", "candidates", "dense", "marks"}
        for scratch in buffers.values():
            arrays = scratch if isinstance(scratch, tuple) else (scratch,)
            for array in arrays:
                if array.dtype == np.bool_:
                    assert not array.any(), "a mark or flag was left set"
            if isinstance(scratch, tuple):
                assert not scratch.gcounts.any(), "group counts were left non-zero"


@pytest.mark.parametrize("similarity", ["cosine", "jaccard", "confidence", "bm25", "rp3beta"])
def test_cooccurrence_parallel_kernel_equals_its_serial_twin(monkeypatch, similarity) -> None:
    """item_neighbours runs its serial twins on small inputs: both paths give the same table."""
    import scipy.sparse as sp

    from recsys.core import cooccurrence

    rng = np.random.default_rng(5)
    X = sp.random(300, 80, density=0.08, format="csr", random_state=rng, dtype=np.float32)
    X.data = rng.integers(1, 4, X.nnz).astype(np.float32)
    serial = cooccurrence.item_neighbours(X, similarity, k=7, num_threads=2)
    monkeypatch.setattr(cooccurrence, "_SERIAL_MAX_WALK", -1)
    parallel = cooccurrence.item_neighbours(X, similarity, k=7, num_threads=2)
    for field in ("indptr", "indices", "scores", "counts", "item_support"):
        np.testing.assert_array_equal(getattr(serial, field), getattr(parallel, field))
