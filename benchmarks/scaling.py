"""Scaling: fit time and peak memory at 1× and 10× data, and batch recommendation for 1M users.

Usage::

    python -m benchmarks scaling [--markdown PATH]      # 5 to 9 minutes on 2 shared cores

Data: generated power-law logs (:func:`benchmarks.data.power_law_matrix`,
Zipf item popularity, log-normal user activity) over one catalogue of 20,000
items: 1× is 10,000 users and 450,000 drawn pairs (about 401,000 distinct),
10× is 100,000 users and 4,500,000 (4.01M distinct) — the same customers'
behaviour, ten times as many customers.

Every measurement runs in a **fresh Python process** that loads the matrix,
warms up (a tiny fit, so Numba's compiled code is loaded from its cache and
no compile time is counted), returns free heap pages to the OS
(``malloc_trim``), resets the kernel's peak-RSS mark
(``5 > /proc/self/clear_refs``) and then times the one call
(:class:`benchmarks.speed.PeakMemory`).  Its peak memory
is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the call: ``peak RSS``
is the whole process (interpreter, libraries, data), ``Δ peak`` the part
above the RSS just before the call — what the call itself needed at its peak.
Measurements never share a process, so they cannot contaminate each other.

Batch recommendation: one ALS model (10× data, 64 factors, 15 iterations) is
fitted in the process, then top-10 lists (seen items excluded) are computed
for 1,000,000 user queries drawn with replacement from its 100,000 users —
the scoring work of 1M users, which does not depend on how many distinct
users the model has (its size is part of the baseline, not of Δ).  recsys's
``recommend_rows`` scores users in chunks of ``USER_CHUNK`` = 65,536, so its
working memory is bounded by the chunk, not the batch: the table reports a
single chunk, the 1M users in one call (the 1M × 10 result arrays are kept:
76 MB) and streamed (65,536 users per call, each chunk's result consumed and
dropped), and the same streaming with
:meth:`~recsys.models.base.Recommender.recommend` DataFrames and with
implicit (whose API needs each chunk's rows of the user-item matrix: slicing
them is part of its time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmarks.data import power_law_matrix
from benchmarks.report import show

warnings.filterwarnings("ignore", message=".*OpenBLAS.*")
warnings.filterwarnings("ignore", message=".*expects CSR input.*")

BASE_USERS = 10_000
BASE_PAIRS = 450_000
ITEMS = 20_000
ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ the child
def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement (in a fresh process) and return its numbers."""
    from threadpoolctl import threadpool_limits

    import recsys
    from benchmarks.speed import PeakMemory, implicit_als
    from recsys.models.base import USER_CHUNK

    threads, task, library = spec["threads"], spec["task"], spec["library"]
    matrix = sp.load_npz(spec["matrix"]).tocsr().astype(np.float32)
    tiny = power_law_matrix(300, 200, 3000, seed=1).astype(np.float32)
    factors, iterations, k = spec["factors"], spec["iterations"], spec["k"]
    extra: dict[str, Any] = {}

    if task == "als-fit":
        if library == "recsys":

            def make() -> Any:
                return recsys.ALS(
                    factors=factors,
                    iterations=iterations,
                    regularization=0.01,
                    random_state=0,
                    num_threads=threads,
                )

            make().fit(recsys.Interactions.from_csr(tiny))
            data = recsys.Interactions.from_csr(matrix)
            run = lambda: make().fit(data)  # noqa: E731
        else:
            implicit_als(factors, 1, 0.01, threads, 0).fit(tiny, show_progress=False)

            def run():
                return implicit_als(factors, iterations, 0.01, threads, 0).fit(
                    matrix, show_progress=False
                )
    elif task == "itemitem-fit":
        if library == "recsys":
            recsys.ItemItem(similarity="cosine", k=k, binary=False, num_threads=threads).fit(
                recsys.Interactions.from_csr(tiny)
            )
            data = recsys.Interactions.from_csr(matrix)

            def run():
                return recsys.ItemItem(
                    similarity="cosine", k=k, binary=False, num_threads=threads
                ).fit(data)
        else:
            from implicit.nearest_neighbours import CosineRecommender

            CosineRecommender(K=k, num_threads=threads).fit(tiny, show_progress=False)

            def run():
                return CosineRecommender(K=k, num_threads=threads).fit(matrix, show_progress=False)
    elif task == "batch":
        model = recsys.ALS(
            factors=factors,
            iterations=iterations,
            regularization=0.01,
            random_state=0,
            num_threads=threads,
        )
        with threadpool_limits(1, "blas"):
            model.fit(recsys.Interactions.from_csr(matrix))
        queries = (
            np.random.default_rng(2)
            .integers(0, matrix.shape[0], size=spec["users"])
            .astype(np.int32)
        )
        n, mode = 10, spec["mode"]
        model.recommend_rows(queries[:1000], n)  # warm
        extra["chunk"] = USER_CHUNK if mode != "one call" else spec["users"]
        if library == "recsys" and mode == "one call":
            run = lambda: model.recommend_rows(queries, n)  # noqa: E731
        elif library == "recsys" and mode == "arrays":

            def run() -> Any:
                checksum = 0
                for start in range(0, queries.size, USER_CHUNK):
                    ids, _ = model.recommend_rows(queries[start : start + USER_CHUNK], n)
                    checksum += int(ids[:, 0].sum())  # consume the chunk, then drop it
                return checksum
        elif library == "recsys" and mode == "dataframes":
            user_ids = model.user_ids_.external_ids

            def run() -> Any:
                rows = 0
                for start in range(0, queries.size, USER_CHUNK):
                    rows += len(model.recommend(user_ids[queries[start : start + USER_CHUNK]], n=n))
                return rows
        else:
            from implicit.cpu.als import AlternatingLeastSquares

            theirs = AlternatingLeastSquares(factors=factors, num_threads=threads)
            theirs.user_factors, theirs.item_factors = model.user_factors_, model.item_factors_
            theirs.recommend(
                queries[:1000], matrix[queries[:1000]], N=n, filter_already_liked_items=True
            )

            def run() -> Any:
                checksum = 0
                for start in range(0, queries.size, USER_CHUNK):
                    chunk = queries[start : start + USER_CHUNK]
                    ids, _ = theirs.recommend(
                        chunk, matrix[chunk], N=n, filter_already_liked_items=True
                    )
                    checksum += int(ids[:, 0].sum())
                return checksum
    else:
        raise ValueError(f"unknown task {task!r}")

    with PeakMemory() as memory:
        start = time.perf_counter()
        if task == "batch":
            result = run()
        else:
            with threadpool_limits(
                1, "blas"
            ):  # as in benchmarks.speed: Numba / implicit own the cores
                result = run()
        seconds = time.perf_counter() - start
    del result
    return {
        "seconds": seconds,
        "peak_mb": memory.peak_mb,
        "delta_mb": memory.delta_mb,
        "start_mb": memory.start_mb,
        "reset": memory.ok,
        **extra,
    }


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.scaling", "--child", json.dumps(spec)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"measurement {spec} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    label = f"{spec['task']} {spec['library']} {spec.get('scale', '')}{spec.get('mode', '')}"
    print(
        f"  {label:<40} {result['seconds']:8.2f} s  peak {result['peak_mb']:8.1f} MB  "
        f"Δ {result['delta_mb']:8.1f} MB",
        flush=True,
    )
    return result


# ----------------------------------------------------------------- the parent
def main(
    *,
    scales: list[int],
    threads: int,
    factors: int,
    iterations: int,
    k: int,
    users: int,
    markdown: str | None,
) -> None:
    """Run the scaling benchmark (``python -m benchmarks scaling``), one process per measurement."""
    common = {"threads": threads, "factors": factors, "iterations": iterations, "k": k}
    fit_rows, batch_rows = [], []
    with tempfile.TemporaryDirectory(prefix="recsys-scaling-") as tmp:
        paths = {}
        for scale in scales:
            matrix = power_law_matrix(BASE_USERS * scale, ITEMS, BASE_PAIRS * scale, seed=0)
            paths[scale] = str(Path(tmp) / f"scale{scale}.npz")
            sp.save_npz(paths[scale], matrix, compressed=False)
            print(
                f"{scale}x: {matrix.shape[0]:,} users x {matrix.shape[1]:,} items, "
                f"{matrix.nnz:,} pairs ({np.diff(matrix.indptr).mean():.1f} per user)",
                flush=True,
            )
            for task, model in (("als-fit", "ALS"), ("itemitem-fit", "ItemItem cosine")):
                got = {
                    lib: _measure(
                        {
                            **common,
                            "task": task,
                            "library": lib,
                            "matrix": paths[scale],
                            "scale": f"{scale}x",
                        }
                    )
                    for lib in ("recsys", "implicit")
                }
                fit_rows.append(
                    {
                        "model": model,
                        "scale": f"{scale}x",
                        "users": matrix.shape[0],
                        "items": matrix.shape[1],
                        "pairs": matrix.nnz,
                        "recsys fit s": got["recsys"]["seconds"],
                        "implicit fit s": got["implicit"]["seconds"],
                        "speed-up (implicit/recsys)": got["implicit"]["seconds"]
                        / got["recsys"]["seconds"],
                        "recsys Δ peak MB": got["recsys"]["delta_mb"],
                        "implicit Δ peak MB": got["implicit"]["delta_mb"],
                        "recsys peak RSS MB": got["recsys"]["peak_mb"],
                        "implicit peak RSS MB": got["implicit"]["peak_mb"],
                    }
                )
        largest = max(scales)
        matrix = sp.load_npz(paths[largest])
        history = float(np.diff(matrix.indptr).mean())
        from recsys.models.base import USER_CHUNK

        for library, mode, label, count in (
            ("recsys", "arrays", "recsys recommend_rows, a single chunk", USER_CHUNK),
            ("recsys", "one call", "recsys recommend_rows, one call (result kept)", users),
            ("recsys", "arrays", "recsys recommend_rows, streamed", users),
            ("recsys", "dataframes", "recsys recommend() DataFrames, streamed", users),
            ("implicit", "arrays", "implicit recommend, streamed", users),
        ):
            got = _measure(
                {
                    **common,
                    "task": "batch",
                    "library": library,
                    "mode": mode,
                    "users": count,
                    "matrix": paths[largest],
                }
            )
            batch_rows.append(
                {
                    "method": label,
                    "users": count,
                    "users per call": got["chunk"],
                    "seconds": got["seconds"],
                    "users/s": count / got["seconds"],
                    "Δ peak MB": got["delta_mb"],
                    "peak RSS MB": got["peak_mb"],
                }
            )

    fits = pd.DataFrame(fit_rows)
    show(
        f"Fit time and peak memory, {' vs '.join(f'{s}x' for s in scales)} "
        f"(fresh process per cell, {threads} threads)",
        fits,
        markdown,
    )
    if len(scales) > 1:
        lo, hi = min(scales), max(scales)
        growth = []
        for model in fits["model"].unique():
            a = fits[(fits["model"] == model) & (fits["scale"] == f"{lo}x")].iloc[0]
            b = fits[(fits["model"] == model) & (fits["scale"] == f"{hi}x")].iloc[0]
            for lib in ("recsys", "implicit"):
                growth.append(
                    {
                        "model": model,
                        "library": lib,
                        "data growth": hi / lo,
                        "fit time growth": b[f"{lib} fit s"] / a[f"{lib} fit s"],
                        "Δ peak growth": b[f"{lib} Δ peak MB"] / a[f"{lib} Δ peak MB"],
                    }
                )
        show(
            f"Growth from {lo}x to {hi}x (ratio of the {hi}x to the {lo}x measurement)",
            pd.DataFrame(growth),
            markdown,
        )
    per_chunk = _chunk_bound_mb(factors, history)
    show(
        f"Batch top-10 for {users:,} users (and one chunk), seen items excluded "
        f"({largest}x model: {matrix.shape[0]:,} users x {matrix.shape[1]:,} items, "
        f"{factors} factors; {threads} threads)",
        pd.DataFrame(batch_rows),
        markdown,
    )
    note = (
        f"Bound: recommend_rows holds its result ({users:,} x 10 x 8 bytes = "
        f"{users * 80 / 2**20:.0f} MB in one call) plus one chunk's working set, about "
        "65,536 x (16 x seen items per user + 4 x factors + 8 x n) bytes = "
        f"{per_chunk:.0f} MB here (mean history {history:.1f} items), whatever the "
        "number of users: compare the single chunk with the streamed batch."
    )
    print(note)
    if markdown:
        with open(markdown, "a") as f:
            f.write(f"\n{note}\n")


def _chunk_bound_mb(factors: int, history: float, n: int = 10) -> float:
    """Estimated working set of one USER_CHUNK in ``recommend_rows``, MB.

    Per user: its seen items gathered into the exclusion list (two int64
    index temporaries, 16 bytes per item, at the peak of
    ``select_csr_rows``), its factors copied out for the kernel (4 bytes per
    factor) and its top-n ids and scores (8 bytes per item).  The chunk's
    actual total history, not the mean, sets the real figure.
    """
    from recsys.models.base import USER_CHUNK

    return USER_CHUNK * (16 * history + 4 * factors + 8 * n) / 2**20


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
