"""Sparse EASE: quality against dense EASE, and a 100k-item catalog's fit and cross-sell latency.

Usage::

    python -m benchmarks.ease_scale                     # every part, ~17 min on 2 idle cores
    python -m benchmarks.ease_scale --part quality      # ~1 min
    python -m benchmarks.ease_scale --part scale --markdown /tmp/ease_scale.md
    python -m benchmarks.ease_scale --part history      # ~2 min

Quality (``--part quality``): dense EASE (Steck 2019, the closed form in
float64 NumPy, the reference) and :func:`recsys.core.sparse_ease.sparse_ease`
at ``--densities`` (share of items² kept), at the same λ, on

* **MovieLens-100k**, ratings ≥ 4, a seeded 80/20 split of each user's pairs
  (:func:`benchmarks.data.holdout`, seed 0), λ = 250: NDCG@10 and HR@10 over
  users with held-out items, seen items excluded;
* **Online Retail** (λ = 50) and **Groceries** (λ = 250) basket completion,
  exactly the protocol of :mod:`benchmarks.cross_sell` (temporal split, one
  hidden item per test basket, seed 0): X is training baskets × items
  (binary); a query's scores are its visible items' rows of B summed, visible
  items excluded; HR@10 and NDCG@10.

Ties (items a sparse B gives no score) are broken by training popularity,
as the models do.  ``retained`` is sparse / dense.  "support = budget share"
is the ablation that regresses each item on only ``ceil(density * items)``
neighbours (``MIN_SUPPORT`` set to 1) instead of 128.  The ceiling of
pruning, at each density (``--data`` restricts the data sets):

* "dense B cut to density=d, global": the largest ``|B_ij|`` of the exact
  dense B within the budget (non-uniform: an item gets the weights it needs);
  "..., k per column" / "..., k per row": the budget's equal share ``k`` for
  every column (the items' regressions) or row (what an item adds);
* each with ", ridge refit": every column re-solved by ridge on the kept
  support, ``(G[S, S] + λI)⁻¹ G[S, j]`` (zero diagonal);
* "greedy (OMP) support per column": orthogonal matching pursuit on item
  ``j``'s own ridge objective, as many predictors as the global cut gave
  column ``j``, then the ridge refit: a better support than magnitude.

Scale (``--part scale``): the issue's synthetic log, 500k users × 100k items ×
10M draws (items drawn ∝ rank^-0.9, user activity lognormal(0, 1), duplicates
merged: :func:`benchmarks.data.power_law_matrix`), in a **fresh process**
(numba's compiled code loaded from its cache by a tiny warm-up fit first; peak
RSS reset before the call, as :mod:`benchmarks.scaling` does):
``recsys.models.ease.EASE(l2=100, rows="users", density=0.005).fit(data)`` —
wall and CPU seconds, peak RSS, weights kept — then the single
``recommend_cross_sell(model, basket, n=5, user=customer)`` call on that
model (DataFrame with explanations, and ``return_frame=False``; the DataFrame
call without the customer; and, in the same process, the DataFrame call with
every history row read whole, the path before the history prefixes of
:mod:`recsys.selling.cross_sell`): ``--queries`` random baskets of 1-5 items
drawn by popularity and random known customers, every variant in turn on each
(the first one rotating), after 50 warm-up calls, p50 / p99.  The serving
tables (the neighbour table and its columns) are built once before the calls
and timed apart.  The machine's load average (1 min) is printed before and
after: on a shared machine, CPU seconds are the comparable figure and wall
time is an upper bound.

History (``--part history``): :func:`history`, the customer's history term of
a sparse EASE without a repeat term, read by prefix against whole rows.
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

from benchmarks.report import show

warnings.filterwarnings("ignore", message=".*OpenBLAS.*")

ROOT = Path(__file__).resolve().parents[1]
LAMBDA = {"movielens-100k": 250.0, "online-retail": 50.0, "groceries": 250.0}
SCALE = {"users": 500_000, "items": 100_000, "draws": 10_000_000, "exponent": 0.9, "l2": 100.0}


# ---------------------------------------------------------------------------
# quality
# ---------------------------------------------------------------------------


def dense_ease(X: sp.csr_matrix, l2: float) -> np.ndarray:
    """Steck's closed form ``B = I - P diag(1/diag P)``, ``P = (XᵀX + λI)⁻¹``, in float64."""
    G = (X.T @ X).toarray().astype(np.float64)
    G[np.diag_indices_from(G)] += l2
    P = np.linalg.inv(G)
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    return B


def refit_on(G: np.ndarray, mask: np.ndarray, l2: float) -> np.ndarray:
    """Solve each item's ridge regression (EASE's column ``j``) on the support ``mask[:, j]``.

    ``B[S, j] = (G[S, S] + λI)⁻¹ G[S, j]``: the best weights on that support
    (the diagonal stays 0: ``mask`` never holds it).
    """
    n = G.shape[0]
    out = np.zeros((n, n))
    for j in range(n):
        S = np.flatnonzero(mask[:, j])
        if S.size:
            out[S, j] = np.linalg.solve(G[np.ix_(S, S)] + l2 * np.eye(S.size), G[S, j])
    return out


def top_k_mask(magnitude: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Mask of the ``k`` largest off-diagonal entries of each column (axis 0) or row (axis 1)."""
    m = magnitude.copy()
    np.fill_diagonal(m, -np.inf)
    mask = np.zeros(m.shape, dtype=bool)
    index = np.argsort(-m, axis=axis, kind="stable")
    index = index[:k] if axis == 0 else index[:, :k]
    np.put_along_axis(mask, index, True, axis=axis)
    return mask


def greedy_columns(G: np.ndarray, counts: np.ndarray, l2: float) -> np.ndarray:
    """Orthogonal matching pursuit per column: ``counts[j]`` predictors of item ``j``, then ridge.

    Each step adds the item with the largest ``|gradient| / sqrt(G_cc + λ)`` of
    item ``j``'s ridge objective on the current support (the greedy choice of
    the regression itself, not of a similarity), then refits.
    """
    n = G.shape[0]
    scale = np.sqrt(np.diag(G) + l2)
    out = np.zeros((n, n))
    for j in range(n):
        S: list[int] = []
        b = np.zeros(0)
        for _ in range(int(counts[j])):
            r = G[:, j] - G[:, S] @ b
            r[S] -= l2 * b
            r[j] = 0.0
            r[S] = 0.0
            S.append(int(np.argmax(np.abs(r) / scale)))
            b = np.linalg.solve(G[np.ix_(S, S)] + l2 * np.eye(len(S)), G[S, j])
        out[S, j] = b
    return out


def top10(Q: sp.csr_matrix, B: np.ndarray | sp.csr_matrix, popularity: np.ndarray) -> np.ndarray:
    """Top-10 item columns of ``Q @ B`` per row, ``Q``'s own items excluded, ties by popularity."""
    S = Q @ B
    S = S.toarray() if sp.issparse(S) else np.asarray(S)
    S = S.astype(np.float64) + 1e-9 * popularity / max(popularity.max(), 1)
    rows, cols = Q.nonzero()
    S[rows, cols] = -np.inf
    part = np.argpartition(-S, 10, axis=1)[:, :10]
    order = np.argsort(-np.take_along_axis(S, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def metrics(ids: np.ndarray, relevant: list[np.ndarray]) -> tuple[float, float]:
    """Mean HR@10 and binary NDCG@10 of the lists ``ids`` against the ``relevant`` sets."""
    discounts = 1.0 / np.log2(np.arange(2, 12))
    hr = ndcg = 0.0
    for row, rel in zip(ids, relevant, strict=True):
        hits = np.isin(row, rel)
        hr += float(hits.any())
        ndcg += float((hits * discounts).sum() / discounts[: min(rel.size, 10)].sum())
    return hr / len(relevant), ndcg / len(relevant)


def movielens_task() -> tuple[sp.csr_matrix, sp.csr_matrix, list[np.ndarray]]:
    """MovieLens-100k ratings ≥ 4: train matrix, query rows (the users' train rows), held-out."""
    from benchmarks.data import holdout
    from recsys.datasets import load_movielens_100k

    df = load_movielens_100k()
    df = df[df["rating"] >= 4]
    users, u = np.unique(df["userId"].to_numpy(), return_inverse=True)
    items, i = np.unique(df["movieId"].to_numpy(), return_inverse=True)
    X = sp.csr_matrix((np.ones(len(df), dtype=np.float32), (u, i)), shape=(users.size, items.size))
    train, test = holdout(X, 0.2, seed=0)
    train.data[:] = 1.0
    keep = np.flatnonzero(np.diff(test.indptr) > 0)
    relevant = [test.indices[test.indptr[r] : test.indptr[r + 1]] for r in keep]
    return train.tocsr(), train[keep].tocsr(), relevant


def basket_task(name: str) -> tuple[sp.csr_matrix, sp.csr_matrix, list[np.ndarray]]:
    """Build the cross-sell task: training baskets × items, visible test baskets, hidden items."""
    from benchmarks.cross_sell import load_log, make_split, query_matrix, train_matrices

    split = make_split(load_log(name), name, seeds=1)
    Q, _ = query_matrix(split, 0)
    hidden = pd.Index(split.items).get_indexer(split.hidden[0]["item"])
    return train_matrices(split).baskets, Q, [np.array([h]) for h in hidden]


def quality(
    densities: list[float], threads: int, only: tuple[str, ...] = tuple(LAMBDA)
) -> pd.DataFrame:
    """Dense EASE against sparse EASE at each density, on the three data sets."""
    from recsys.core.sparse_ease import keep_largest, sparse_ease

    rows = []
    tasks = {
        "movielens-100k": movielens_task,
        "online-retail": lambda: basket_task("online-retail"),
        "groceries": lambda: basket_task("groceries"),
    }
    for name, task in tasks.items():
        if name not in only:
            continue
        X, Q, relevant = task()

        def scored(base: dict[str, Any], label: str, W: np.ndarray) -> dict[str, Any]:
            W = sp.csr_matrix(W)
            hr, ndcg = metrics(top10(Q, W, popularity), relevant)  # noqa: B023 - this task's
            return {
                **base,
                "model": label,
                "weights": W.nnz,
                "HR@10": hr,
                "NDCG@10": ndcg,
                "HR retained %": 100 * hr / hr0,  # noqa: B023
                "NDCG retained %": 100 * ndcg / ndcg0,  # noqa: B023
                "fit s": float("nan"),
            }

        l2 = LAMBDA[name]
        popularity = np.asarray((X > 0).sum(axis=0)).ravel().astype(np.float64)
        n = X.shape[1]
        t = time.perf_counter()
        dense = dense_ease(X, l2)
        dense_s = time.perf_counter() - t
        hr0, ndcg0 = metrics(top10(Q, dense, popularity), relevant)
        base = {"data": name, "items": n, "queries": len(relevant), "λ": l2}
        rows.append(
            {
                **base,
                "model": "dense EASE",
                "weights": n * n,
                "HR@10": hr0,
                "NDCG@10": ndcg0,
                "HR retained %": 100.0,
                "NDCG retained %": 100.0,
                "fit s": dense_s,
            }
        )
        hr_pop, ndcg_pop = metrics(top10(Q, sp.csr_matrix((n, n)), popularity), relevant)
        rows.append(
            {
                **base,
                "model": "popularity (no weights)",
                "weights": 0,
                "HR@10": hr_pop,
                "NDCG@10": ndcg_pop,
                "HR retained %": 100 * hr_pop / hr0,
                "NDCG retained %": 100 * ndcg_pop / ndcg0,
                "fit s": 0.0,
            }
        )
        for density in densities:
            t = time.perf_counter()
            B = sparse_ease(X, l2, density, num_threads=threads)
            fit_s = time.perf_counter() - t
            hr, ndcg = metrics(top10(Q, B, popularity), relevant)
            rows.append(
                {
                    **base,
                    "model": f"sparse EASE density={density:g}",
                    "weights": B.nnz,
                    "HR@10": hr,
                    "NDCG@10": ndcg,
                    "HR retained %": 100 * hr / hr0,
                    "NDCG retained %": 100 * ndcg / ndcg0,
                    "fit s": fit_s,
                }
            )
            print(f"  {name} density {density:g}: HR {hr:.4f} / {hr0:.4f}", flush=True)
            # ablation: supports of the budget's share only (no wide fit before the cut)
            from recsys.core import sparse_ease as module

            saved = module.MIN_SUPPORT
            module.MIN_SUPPORT = 1
            try:
                narrow = sparse_ease(X, l2, density, num_threads=threads)
            finally:
                module.MIN_SUPPORT = saved
            hr_n, ndcg_n = metrics(top10(Q, narrow, popularity), relevant)
            rows.append(
                {
                    **base,
                    "model": f"sparse EASE density={density:g}, support = budget share",
                    "weights": narrow.nnz,
                    "HR@10": hr_n,
                    "NDCG@10": ndcg_n,
                    "HR retained %": 100 * hr_n / hr0,
                    "NDCG retained %": 100 * ndcg_n / ndcg0,
                    "fit s": float("nan"),
                }
            )
            # the ceiling of pruning: the exact dense B cut to the same budget, globally (largest
            # |weights|), per column or per row (the budget's share each), with and without a
            # ridge refit on the kept support; and a greedy (OMP) support per column
            budget = int(np.floor(density * n * n))
            magnitude = np.abs(dense)
            flat = keep_largest(magnitude.ravel().astype(np.float32), budget)
            share = max(1, budget // n)
            G = (X.T @ X).toarray().astype(np.float64)
            supports = {
                "global": flat.reshape(n, n) & ~np.eye(n, dtype=bool),
                f"{share} per column": top_k_mask(magnitude, share, 0),
                f"{share} per row": top_k_mask(magnitude, share, 1),
            }
            for label, mask in supports.items():
                for refit in (False, True):
                    W = refit_on(G, mask, l2) if refit else np.where(mask, dense, 0.0)
                    rows.append(
                        scored(
                            base,
                            f"dense B cut to density={density:g}, {label}"
                            + (", ridge refit" if refit else ""),
                            W,
                        )
                    )
            rows.append(
                scored(
                    base,
                    f"greedy (OMP) support per column, density={density:g}, ridge refit",
                    greedy_columns(G, supports["global"].sum(axis=0), l2),
                )
            )
            del G
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# scale: a fresh process per measurement
# ---------------------------------------------------------------------------


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Fit the 100k-item sparse EASE in this (fresh) process, then time single cross-sell calls."""
    import recsys
    from benchmarks.data import power_law_matrix
    from benchmarks.speed import PeakMemory
    from recsys.models.ease import EASE
    from recsys.selling import recommend_cross_sell

    threads = spec["threads"]
    matrix = sp.load_npz(spec["matrix"]).tocsr().astype(np.float32)
    tiny = power_law_matrix(300, 200, 3000, seed=1).astype(np.float32)
    EASE(l2=10.0, rows="users", density=0.05, num_threads=threads).fit(
        recsys.Interactions.from_csr(tiny)
    )
    data = recsys.Interactions.from_csr(matrix)
    load_before = os.getloadavg()[0]
    with PeakMemory() as memory:
        t, c = time.perf_counter(), time.process_time()
        model = EASE(l2=spec["l2"], rows="users", density=spec["density"], num_threads=threads)
        model.fit(data)
        seconds, cpu = time.perf_counter() - t, time.process_time() - c
    load_after = os.getloadavg()[0]
    weights = model.weights_
    out: dict[str, Any] = {
        "fit s": seconds,
        "fit CPU s": cpu,
        "peak RSS MB": memory.peak_mb,
        "Δ peak MB": memory.delta_mb,
        "weights": int(weights.nnz),
        "weights per item": weights.nnz / matrix.shape[1],
        "load before": load_before,
        "load after": load_after,
    }

    rng = np.random.default_rng(5)
    popularity = np.diff(matrix.tocsc().indptr).astype(np.float64)
    items = model.item_ids_.external_ids if hasattr(model, "item_ids_") else None
    users = model.user_ids_.external_ids if hasattr(model, "user_ids_") else None
    if items is None or users is None:
        items, users = np.arange(matrix.shape[1]), np.arange(matrix.shape[0])
    n_queries = spec["queries"]
    calls = []
    for _ in range(n_queries + 50):
        size = int(rng.integers(1, 6))
        basket = rng.choice(
            matrix.shape[1], size=size, replace=False, p=popularity / popularity.sum()
        )
        calls.append((list(items[basket]), users[int(rng.integers(users.size))]))
    # what serving builds once per fit, on first use (not part of a call): the neighbour table
    # and its columns (the exact scores of the history prefixes' candidates)
    import recsys.selling.cross_sell as cross_sell
    from recsys.models.weight_neighbours import table_columns

    t = time.perf_counter()
    table_columns(model.neighbours_)
    out["serving tables build s"] = time.perf_counter() - t
    whole_rows = {"_HISTORY_PREFIX": 1 << 62, "_HISTORY_PREFIX_MIN": 1 << 62}
    kept = {name: getattr(cross_sell, name) for name in whole_rows}
    variants = (
        ("DataFrame, explain", True, True, kept),
        ("return_frame=False", False, True, kept),
        ("DataFrame, no customer", True, False, kept),
        # the path before the history prefixes: every history row read whole
        ("DataFrame, history rows read whole", True, True, whole_rows),
    )
    seconds_of: dict[str, list[float]] = {v[0]: [] for v in variants}
    for q, (basket, user) in enumerate(calls):
        # every variant in turn, the first one rotating (it meets the basket's rows uncached):
        # load and caches hit them alike
        turn = q % len(variants)
        for label, frame, with_user, constants in variants[turn:] + variants[:turn]:
            for name, value in constants.items():
                setattr(cross_sell, name, value)
            t = time.perf_counter()
            recommend_cross_sell(
                model, basket, n=5, user=user if with_user else None, return_frame=frame
            )
            if q >= 50:
                seconds_of[label].append(time.perf_counter() - t)
    for name, value in kept.items():
        setattr(cross_sell, name, value)
    for label, seconds_list in seconds_of.items():
        ms = 1e3 * np.asarray(seconds_list)
        out[f"cross-sell {label} p50 ms"] = float(np.percentile(ms, 50))
        out[f"cross-sell {label} p99 ms"] = float(np.percentile(ms, 99))
    # the core's floor: the same baskets as one summed neighbour query over B's rows
    # (recsys.core.topn_neighbours, basket items excluded), the kernel ItemItem serves with
    from recsys.core.constraints import Constraints
    from recsys.core.topn_neighbours import constrained_topn_neighbours

    W = weights.tocsr()
    sim = (W.indptr.astype(np.int64), W.indices.astype(np.int32), W.data.astype(np.float32))
    column = {item: c for c, item in enumerate(items)}
    seconds_list = []
    for q, (basket, _) in enumerate(calls):
        cols = np.array(sorted(column[i] for i in basket), dtype=np.int32)
        t = time.perf_counter()
        bounds = np.array([0, cols.size], dtype=np.int64)
        constraints = Constraints.make(1, W.shape[0], exclude_indptr=bounds, exclude_indices=cols)
        constrained_topn_neighbours(
            bounds, cols, np.ones(cols.size, np.float32), *sim, n=5, constraints=constraints
        )
        if q >= 50:
            seconds_list.append(time.perf_counter() - t)
    ms = 1e3 * np.asarray(seconds_list)
    out["core kernel (summed rows of B, top-5) p50 ms"] = float(np.percentile(ms, 50))
    out["core kernel (summed rows of B, top-5) p99 ms"] = float(np.percentile(ms, 99))
    out["load end"] = os.getloadavg()[0]
    return out


def scale(threads: int, queries: int, density: float) -> pd.DataFrame:
    """Generate the 100k-item log, fit and time in a fresh process."""
    from benchmarks.data import power_law_matrix

    with tempfile.TemporaryDirectory(prefix="recsys-ease-scale-") as tmp:
        t = time.perf_counter()
        # power_law_matrix draws 1.15 x nnz pairs: ask for draws / 1.15 to draw exactly `draws`
        matrix = power_law_matrix(
            SCALE["users"],
            SCALE["items"],
            round(SCALE["draws"] / 1.15),
            seed=0,
            item_exponent=SCALE["exponent"],
        )
        path = str(Path(tmp) / "log.npz")
        sp.save_npz(path, matrix, compressed=False)
        print(
            f"log: {matrix.shape[0]:,} users x {matrix.shape[1]:,} items, {matrix.nnz:,} pairs "
            f"({time.perf_counter() - t:.0f} s to generate)",
            flush=True,
        )
        del matrix
        spec = {
            "matrix": path,
            "threads": threads,
            "queries": queries,
            "density": density,
            "l2": SCALE["l2"],
        }
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.ease_scale", "--child", json.dumps(spec)],
            cwd=ROOT,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(f"the scale measurement failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
    return pd.DataFrame([{"model": f"EASE(density={density:g}, l2={SCALE['l2']:g})", **result}])


def history(queries: int, threads: int) -> pd.DataFrame:
    """Cross-sell with a customer on the selling-latency world: history prefixes against whole rows.

    The world of ``python -m benchmarks selling-latency`` (600k baskets over
    100k items, 200k customers; :func:`benchmarks.selling_latency.basket_log`)
    and its sparse ``EASE(l2=100, density=0.005)``: the baskets carry no
    repeat signal, so a customer's history is blended in through the
    neighbour table.  Every call is made both ways in one process, in turn:
    the history rows read by prefix (the shipped path) and read whole (the
    path before it, the module's prefix constants set beyond every row);
    ``same lists`` counts the calls whose items and scores are equal to the
    bit.
    """
    import recsys.selling.cross_sell as cross_sell
    from benchmarks.selling_latency import basket_log
    from recsys.models.ease import EASE
    from recsys.models.weight_neighbours import table_columns
    from recsys.selling import recommend_cross_sell

    data = basket_log(100_000, 600_000, 200_000)
    model = EASE(l2=100.0, density=0.005, num_threads=threads).fit(data)
    t = time.perf_counter()
    lengths = np.diff(table_columns(model.neighbours_).indptr)
    build = time.perf_counter() - t
    rows = np.diff(model.neighbours_.indptr)
    print(
        f"EASE: {model.weights_.nnz:,} weights; longest row {rows.max():,}, longest column "
        f"{lengths.max():,}; serving tables {build:.1f} s; repeat term: "
        f"{model.repeat_purchases_ is not None}",
        flush=True,
    )
    rng = np.random.default_rng(4)  # the draws of benchmarks/selling_latency.py
    baskets = data.basket_matrix.tocsr()
    sold = np.flatnonzero(np.diff(baskets.tocsc().indptr) > 0)
    users = data.user_ids.external_ids
    calls = []
    for _ in range(queries + 50):
        basket = rng.choice(sold, size=int(rng.integers(1, 6)), replace=False)
        calls.append((data.item_ids.to_external(basket).tolist(), users[rng.integers(users.size)]))
    whole = {"_HISTORY_PREFIX": 1 << 62, "_HISTORY_PREFIX_MIN": 1 << 62}
    kept = {name: getattr(cross_sell, name) for name in whole}
    variants = (
        ("history prefixes, DataFrame", True, True, kept),
        ("history prefixes, return_frame=False", False, True, kept),
        ("whole history rows (before), DataFrame", True, True, whole),
        ("whole history rows (before), return_frame=False", False, True, whole),
        ("no customer, DataFrame", True, False, kept),
    )
    seconds: dict[str, list[float]] = {v[0]: [] for v in variants}
    lists: dict[str, list[bytes]] = {v[0]: [] for v in variants}
    load_before = os.getloadavg()[0]
    for q, (basket, user) in enumerate(calls):
        turn = q % len(variants)  # the first call of a query meets its rows uncached: rotate
        for label, frame, with_user, constants in variants[turn:] + variants[:turn]:
            for name, value in constants.items():
                setattr(cross_sell, name, value)
            t = time.perf_counter()
            got = recommend_cross_sell(
                model, basket, n=5, user=user if with_user else None, return_frame=frame
            )
            if q >= 50:
                seconds[label].append(time.perf_counter() - t)
                items = got["item"].to_numpy() if frame else got.item
                scores = got["score"].to_numpy() if frame else got.score
                lists[label].append(np.asarray(items).tobytes() + scores.tobytes())
    for name, value in kept.items():
        setattr(cross_sell, name, value)
    load_after = os.getloadavg()[0]
    out = []
    before = {True: "whole history rows (before), DataFrame"}
    before[False] = "whole history rows (before), return_frame=False"
    for label, frame, with_user, _ in variants:
        ms = 1e3 * np.asarray(seconds[label])
        ref = 1e3 * np.asarray(seconds[before[frame]])
        same = np.mean([a == b for a, b in zip(lists[label], lists[before[frame]], strict=True)])
        out.append(
            {
                "call": label,
                "p50 ms": float(np.percentile(ms, 50)),
                "p99 ms": float(np.percentile(ms, 99)),
                "p50 / before": float(np.percentile(ms, 50) / np.percentile(ref, 50)),
                "p99 / before": float(np.percentile(ms, 99) / np.percentile(ref, 99)),
                "same lists as before": float(same) if with_user else float("nan"),
            }
        )
    print(f"{queries} calls each; 1-min load {load_before:.1f} before, {load_after:.1f} after")
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (``python -m benchmarks.ease_scale``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ease_scale")
    parser.add_argument("--part", choices=("quality", "scale", "history", "all"), default="all")
    parser.add_argument("--densities", default="0.005,0.01,0.02")
    parser.add_argument(
        "--data", default=",".join(LAMBDA), help="quality: data sets (comma-separated)"
    )
    parser.add_argument("--scale-density", type=float, default=0.005)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--markdown", default=None, help="append the tables to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    print(f"load average at start: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores")
    if args.part in ("quality", "all"):
        densities = [float(d) for d in args.densities.split(",")]
        show(
            "Sparse EASE against dense EASE at the same λ (HR@10 / NDCG@10, seen items excluded)",
            quality(densities, args.threads, tuple(args.data.split(","))),
            args.markdown,
        )
    if args.part in ("scale", "all"):
        show(
            "Sparse EASE on 500k users x 100k items x 10M draws: fit (fresh process) and "
            "single cross-sell latency",
            scale(args.threads, args.queries, args.scale_density).T.reset_index(),
            args.markdown,
        )
    if args.part in ("history", "all"):
        show(
            "Sparse EASE cross-sell with a customer (100k items, selling-latency world): "
            "history rows read by prefix against whole rows, in one process",
            history(args.queries, args.threads),
            args.markdown,
        )
    print(f"load average at end: {os.getloadavg()[0]:.1f} (1 min)")


if __name__ == "__main__":
    main()
