"""Speed benchmarks against implicit 0.7.x: ALS fit, batch and single-user recommend, item-item fit.

Usage::

    # ~100k users x 20k items x ~4.5M pairs
    python -m benchmarks speed --dataset synthetic
    python -m benchmarks speed --dataset movielens --dataset online-retail

Both libraries get the same matrix, factors, iterations and regularisation, and
run with 2 threads.  ``peak MB`` columns are the growth of the process's peak
RSS during the first timed call (free heap pages are returned to the OS and
the kernel's peak mark is reset before it, see :class:`PeakMemory`): cheap and
in-process; ``benchmarks.scaling`` measures memory in fresh processes.  BLAS
is limited to one thread during ALS fits (implicit's own advice); implicit's
``recommend`` keeps BLAS at its default because its batch top-k relies on it.
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

import recsys
from benchmarks.data import holdout, load_real, power_law_matrix
from benchmarks.report import show

if TYPE_CHECKING:
    from implicit.cpu.als import AlternatingLeastSquares

warnings.filterwarnings("ignore", message=".*OpenBLAS.*")
warnings.filterwarnings("ignore", message=".*expects CSR input.*")


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Best wall time of ``repeat`` runs and the last result."""
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


# ----------------------------------------------------------------- peak memory
def _status_mb(field: str) -> float:
    """Read a ``Vm*`` line of /proc/self/status, in MB (NaN off Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def rss_mb() -> float:
    """Return the current resident set size of this process, MB."""
    return _status_mb("VmRSS")


def max_rss_mb() -> float:
    """Return this process's peak RSS in MB (since start or the last reset).

    That is ``getrusage(RUSAGE_SELF).ru_maxrss``.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS.

    Linux >= 4.0 only (``5 > /proc/self/clear_refs``); returns whether it worked.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def release_free_memory() -> None:
    """Give the C heap's free pages back to the OS (glibc ``malloc_trim(0)``; a no-op elsewhere).

    Without it, memory freed by an earlier run stays resident and is reused
    without growing RSS, and a later run's peak looks close to zero.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak RSS while the ``with`` block runs.

    ``peak_mb`` is the whole process's, ``delta_mb`` the growth above the start.

    On entry, free heap pages go back to the OS (:func:`release_free_memory`)
    and the kernel's peak mark is reset, so the peak is the block's own, not
    the process's history.  Where the reset is impossible ``delta_mb`` is NaN.
    """

    def __enter__(self) -> PeakMemory:
        gc.collect()
        release_free_memory()
        self.ok = reset_peak_rss()
        self.start_mb = rss_mb()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak_mb = max_rss_mb()
        self.delta_mb = self.peak_mb - self.start_mb if self.ok else float("nan")


def timed_peak(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object, float]:
    """Time as :func:`timed`, plus the peak RSS growth (MB) of the first run.

    The growth is measured with :class:`PeakMemory`.

    Only the first run pays for the heap trim (its first-touch page faults);
    the best time usually comes from a later run, as with :func:`timed`.
    """
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = fn()
        first = time.perf_counter() - start
    best, result = timed(fn, repeat - 1) if repeat > 1 else (np.inf, result)
    return min(first, best), result, memory.delta_mb


def ndcg_at_10(ids: np.ndarray, test: sp.csr_matrix) -> float:
    """Compute the mean binary NDCG@10 over users with held-out items.

    ``ids`` holds rows x 10 item columns, padded with -1.
    """
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    discounts = 1.0 / np.log2(np.arange(2, 12))
    total = 0.0
    for u in users:
        relevant = test.indices[test.indptr[u] : test.indptr[u + 1]]
        hits = np.isin(ids[u, :10], relevant)
        ideal = discounts[: min(relevant.size, 10)].sum()
        total += (hits * discounts[: hits.size]).sum() / ideal
    return total / max(users.size, 1)


def implicit_als(
    factors: int, iterations: int, regularization: float, threads: int, seed: int
) -> AlternatingLeastSquares:
    """Return implicit's CPU ALS with CG, configured like ours."""
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares(
        factors=factors,
        iterations=iterations,
        regularization=regularization,
        use_cg=True,
        calculate_training_loss=False,
        num_threads=threads,
        random_state=seed,
    )


def bench_als(
    name: str,
    matrix: sp.csr_matrix,
    *,
    factors: int,
    iterations: int,
    threads: int,
    markdown: str | None,
) -> tuple[recsys.ALS, object, sp.csr_matrix]:
    """Time ALS fits of both libraries on a hold-out split; return both models and the train set."""
    train, test = holdout(matrix, 0.2, seed=0)
    train = train.astype(np.float32)
    ours = recsys.ALS(
        factors=factors,
        iterations=iterations,
        regularization=0.01,
        alpha=1.0,  # implicit's default: both libraries fit the same model
        random_state=0,
        num_threads=threads,
    )
    theirs = implicit_als(factors, iterations, 0.01, threads, 0)
    data = recsys.Interactions.from_csr(train)
    ours.fit(data)  # compile / warm caches once, untimed
    with threadpool_limits(1, "blas"):
        t_ours, _, mem_ours = timed_peak(lambda: ours.fit(data), repeat=2)
        t_theirs, _, mem_theirs = timed_peak(
            lambda: theirs.fit(train, show_progress=False), repeat=2
        )
    all_rows = np.arange(train.shape[0])
    ids_ours, _ = ours.recommend_rows(all_rows, 10)
    ids_theirs, _ = theirs.recommend(
        all_rows, train[all_rows], N=10, filter_already_liked_items=True
    )
    ndcg_ours, ndcg_theirs = ndcg_at_10(ids_ours, test), ndcg_at_10(ids_theirs, test)
    table = pd.DataFrame(
        [
            {
                "data": name,
                "users": train.shape[0],
                "items": train.shape[1],
                "pairs": train.nnz,
                "factors": factors,
                "iterations": iterations,
                "recsys fit s": t_ours,
                "implicit fit s": t_theirs,
                "speed-up (implicit/recsys)": t_theirs / t_ours,
                "recsys peak MB": mem_ours,
                "implicit peak MB": mem_theirs,
                "recsys NDCG@10": ndcg_ours,
                "implicit NDCG@10": ndcg_theirs,
                "NDCG ratio": ndcg_ours / ndcg_theirs if ndcg_theirs else np.nan,
            }
        ]
    )
    show(f"ALS fit ({name}, {threads} threads)", table, markdown)
    return ours, theirs, train


def bench_batch_recommend(
    name: str, ours: recsys.ALS, train: sp.csr_matrix, *, threads: int, markdown: str | None
) -> None:
    """Time batch recommendation for every user (seen items excluded), ours and implicit's."""
    from implicit.cpu.als import AlternatingLeastSquares

    theirs = AlternatingLeastSquares(factors=ours.factors, num_threads=threads)
    theirs.user_factors, theirs.item_factors = ours.user_factors_, ours.item_factors_
    rows = np.arange(train.shape[0])
    ours.recommend_rows(rows[:100], 10)  # warm
    t_ours, (ids_ours, _), mem_ours = timed_peak(lambda: ours.recommend_rows(rows, 10), repeat=3)
    t_theirs, (ids_theirs, _), mem_theirs = timed_peak(
        lambda: theirs.recommend(rows, train, N=10, filter_already_liked_items=True), repeat=3
    )
    same = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(ids_ours[:5000], ids_theirs[:5000], strict=True)]
    )
    table = pd.DataFrame(
        [
            {
                "data": name,
                "users": rows.size,
                "items": train.shape[1],
                "recsys users/s": rows.size / t_ours,
                "implicit users/s": rows.size / t_theirs,
                "throughput ratio (recsys/implicit)": t_theirs / t_ours,
                "recsys peak MB": mem_ours,
                "implicit peak MB": mem_theirs,
                "same top-10": same,
            }
        ]
    )
    show(
        f"Batch recommend, all users, seen items excluded ({name}, {threads} threads)",
        table,
        markdown,
    )


def bench_single_user(
    name: str, ours: recsys.ALS, train: sp.csr_matrix, *, markdown: str | None, queries: int = 2000
) -> None:
    """Time single-user recommend calls, ours and implicit's."""
    from implicit.cpu.als import AlternatingLeastSquares

    theirs = AlternatingLeastSquares(factors=ours.factors, num_threads=1)
    theirs.user_factors, theirs.item_factors = ours.user_factors_, ours.item_factors_
    rng = np.random.default_rng(1)
    users = rng.integers(0, train.shape[0], size=queries)
    ours.recommend_rows(users[:10], 10)
    lat_ours, lat_theirs = [], []
    for u in users:
        row, liked = np.array([u]), train[int(u)]  # both outside the timed region
        t0 = time.perf_counter()
        ours.recommend_rows(row, 10)
        t1 = time.perf_counter()
        theirs.recommend(int(u), liked, N=10, filter_already_liked_items=True)
        t2 = time.perf_counter()
        lat_ours.append(t1 - t0)
        lat_theirs.append(t2 - t1)
    ms = lambda v, q: float(np.percentile(v, q) * 1e3)  # noqa: E731
    table = pd.DataFrame(
        [
            {
                "data": name,
                "items": train.shape[1],
                "factors": ours.factors,
                "recsys p50 ms": ms(lat_ours, 50),
                "recsys p99 ms": ms(lat_ours, 99),
                "implicit p50 ms": ms(lat_theirs, 50),
                "implicit p99 ms": ms(lat_theirs, 99),
                "p50 ratio (implicit/recsys)": ms(lat_theirs, 50) / ms(lat_ours, 50),
            }
        ]
    )
    show(f"Single-user recommend latency, numpy API ({name})", table, markdown)


def bench_item_item(
    name: str, matrix: sp.csr_matrix, *, k: int, threads: int, markdown: str | None
) -> None:
    """Time item-item (cosine) fits, ours and implicit's."""
    from implicit.nearest_neighbours import CosineRecommender

    matrix = matrix.astype(np.float32)
    data = recsys.Interactions.from_csr(matrix)
    ours = recsys.ItemItem(similarity="cosine", k=k, binary=False, num_threads=threads)
    theirs = CosineRecommender(K=k, num_threads=threads)
    ours.fit(data)  # warm
    t_ours, _, mem_ours = timed_peak(lambda: ours.fit(data), repeat=2)
    t_theirs, _, mem_theirs = timed_peak(lambda: theirs.fit(matrix, show_progress=False), repeat=2)
    table = pd.DataFrame(
        [
            {
                "data": name,
                "rows": matrix.shape[0],
                "items": matrix.shape[1],
                "pairs": matrix.nnz,
                "k": k,
                "recsys fit s": t_ours,
                "implicit fit s": t_theirs,
                "speed-up (implicit/recsys)": t_theirs / t_ours,
                "recsys peak MB": mem_ours,
                "implicit peak MB": mem_theirs,
            }
        ]
    )
    show(f"Item-item cosine fit ({name}, {threads} threads)", table, markdown)


_COLD_SCRIPT = """
import time; t0 = time.perf_counter()
import numpy as np, scipy.sparse as sp, recsys
m = sp.random(500, 300, density=0.05, format="csr", dtype=np.float32, random_state=0)
data = recsys.Interactions.from_csr(m)
recsys.ALS(factors=8, iterations=2, random_state=0).fit(data).recommend_rows(np.arange(500), 5)
recsys.ItemItem().fit(data).recommend_rows(np.arange(500), 5)
print(time.perf_counter() - t0)
"""


def bench_cold_start(markdown: str | None) -> None:
    """Time first use in a fresh process: with an empty Numba cache, then with the cache filled."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)

        def run() -> float:
            out = subprocess.run(
                [sys.executable, "-c", _COLD_SCRIPT],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            return float(out.stdout.strip())

        cold, warm = run(), run()
    table = pd.DataFrame(
        [
            {
                "first process (compiles) s": cold,
                "next process (cached) s": warm,
                "compile cost s": cold - warm,
            }
        ]
    )
    show("Cold start: import + first ALS and ItemItem fit/recommend", table, markdown)


def main(
    datasets: list[str],
    *,
    factors: int,
    iterations: int,
    threads: int,
    k: int,
    markdown: str | None,
    latency_items: int,
) -> None:
    """Run the speed benchmark (``python -m benchmarks speed``) on ``datasets``."""
    bench_cold_start(markdown)
    for name in datasets:
        if name == "synthetic":
            matrix = power_law_matrix(100_000, 20_000, 4_500_000, seed=0)
        else:
            matrix = load_real(name)
        ours, _, train = bench_als(
            name, matrix, factors=factors, iterations=iterations, threads=threads, markdown=markdown
        )
        bench_batch_recommend(name, ours, train, threads=threads, markdown=markdown)
        bench_item_item(name, matrix, k=k, threads=threads, markdown=markdown)
        if name == "synthetic" and latency_items:
            big = power_law_matrix(100_000, latency_items, 3_000_000, seed=1)
            model = recsys.ALS(factors=factors, iterations=5, random_state=0, num_threads=threads)
            model.fit(recsys.Interactions.from_csr(big))
            bench_single_user(
                f"synthetic {latency_items // 1000}k items", model, big, markdown=markdown
            )
        else:
            bench_single_user(name, ours, train, markdown=markdown)
