"""``fit_ease`` (Gramian summed on Spark, solve on the driver) against the local ``EASE().fit``.

``python -m benchmarks spark-ease [--l2 auto 25] [--baskets 500] [--markdown PATH]``

UCI Online Retail after ``load_online_retail()``'s cleaning, rows = invoices
(the default ``rows="auto"``), customers' repeat purchases learned, times from
``InvoiceDate``.  For each ``--l2`` (``auto``: the default λ search; a number:
one fixed-λ fit) the local fit and ``recsys.spark.fit_ease`` in ``local[2]``
run back to back on the same log, after one untimed warm-up fit of each on the
first 2,000 invoices (Numba's kernels, the JVM's JIT, the Python workers).  The
table says whether they agree: the same ``l2_`` and repeat scale, the largest
``|B_spark - B_local|``, and the mean top-10 overlap of every customer's
``recommend`` and of ``recommend_cross_sell`` for ``--baskets`` random invoices
with their customer (the served score, repeat term included).  Also: the
distinct item pairs the driver receives (the Gramian's non-zeros above the
diagonal), the local ``dense_gramian`` time (what Spark replaces), the peak RSS
growth of the Python driver, and the load average while it ran.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmarks.report import machine_line, show
from benchmarks.spark import _jvm_peak_mb, _session, _timed

KWARGS = dict(
    user_col="CustomerID", item_col="StockCode", basket_col="InvoiceNo", time_col="InvoiceDate"
)


def _online_retail() -> pd.DataFrame:
    from recsys.datasets import load_online_retail

    frame = load_online_retail()[list(KWARGS.values())].copy()
    for col in ("CustomerID", "StockCode", "InvoiceNo"):
        frame[col] = frame[col].astype(str)
    return frame


def _overlap(a: pd.DataFrame, b: pd.DataFrame, key: str, n: int) -> float:
    """Mean share of each query's top-n items that both lists hold."""
    sa = a.groupby(key)["item"].apply(set)
    sb = b.groupby(key)["item"].apply(set)
    keys = sa.index.union(sb.index)
    shared = [len(sa.get(k, set()) & sb.get(k, set())) / n for k in keys]
    return float(np.mean(shared)) if shared else float("nan")


def _cross_sell_overlap(
    ours: Any, ref: Any, frame: pd.DataFrame, n_baskets: int, seed: int = 0
) -> float:
    from recsys.selling import recommend_cross_sell

    rng = np.random.default_rng(seed)
    invoices = frame["InvoiceNo"].unique()
    picked = rng.choice(invoices, size=min(n_baskets, invoices.size), replace=False)
    lines = frame[frame["InvoiceNo"].isin(picked)]
    shares = []
    for _, basket in lines.groupby("InvoiceNo"):
        items = basket["StockCode"].unique().tolist()
        user = basket["CustomerID"].iloc[0]
        a = recommend_cross_sell(ours, items, n=10, user=user)["item"]
        b = recommend_cross_sell(ref, items, n=10, user=user)["item"]
        shares.append(len(set(a) & set(b)) / 10)
    return float(np.mean(shares))


def bench(spark: Any, l2_values: list[str], n_baskets: int) -> pd.DataFrame:
    """Fit locally and with fit_ease for each λ setting; time and compare them."""
    import pyarrow as pa

    import recsys
    from recsys.core.gramian import dense_gramian
    from recsys.models.ease import EASE
    from recsys.spark import fit_ease

    frame = _online_retail()
    data = recsys.Interactions.from_pandas(frame, **KWARGS)
    sdf = spark.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False)).cache()
    sdf.count()
    # untimed warm-ups on a slice: Numba's kernels (loaded or compiled on first use), the
    # JVM's JIT and the Python workers; the same driver-side code runs in both fits
    head = frame[frame["InvoiceNo"].isin(frame["InvoiceNo"].unique()[:2_000])]
    EASE(num_threads=2).fit(recsys.Interactions.from_pandas(head, **KWARGS))
    fit_ease(spark.createDataFrame(head), num_threads=2, **KWARGS)
    X = sp.csr_matrix(data.basket_matrix, dtype=np.float32)  # 0/1 invoices x items (binary)
    X.data[:] = 1.0
    start = time.perf_counter()
    gram = dense_gramian(X.indptr, X.indices, X.data, X.shape[1], num_threads=2)
    gramian_s = time.perf_counter() - start
    pairs = int(np.count_nonzero(np.triu(gram, 1)))
    del gram
    users = data.user_ids.external_ids
    rows = []
    for value in l2_values:
        l2: float | str = value if value == "auto" else float(value)
        load_before = os.getloadavg()[0]
        local = EASE(l2=l2, num_threads=2)
        seconds_local, _, mb_local = _timed(lambda local=local: local.fit(data))
        seconds, model, mb = _timed(lambda l2=l2: fit_ease(sdf, l2=l2, num_threads=2, **KWARGS))
        load_after = os.getloadavg()[0]
        a, b = model.repeat_purchases_, local.repeat_purchases_
        rows.append(
            {
                "l2": value,
                "λ tried": 1 if local.validation_ is None else len(local.validation_),
                "items": data.n_items,
                "pairs to the driver": pairs,
                "local dense_gramian s": gramian_s,
                "local fit s": seconds_local,
                "fit_ease s": seconds,
                "l2_ (local / Spark)": f"{local.l2_:g} / {model.l2_:g}",
                "repeat scale (local / Spark)": (
                    f"{None if b is None else b.scale} / {None if a is None else a.scale}"
                ),
                "max abs ΔB": float(np.abs(model.weights_ - local.weights_).max()),
                "max abs B": float(np.abs(local.weights_).max()),
                "top-10 overlap, recommend": _overlap(
                    model.recommend(users, n=10), local.recommend(users, n=10), "user", 10
                ),
                "top-10 overlap, cross-sell": _cross_sell_overlap(model, local, frame, n_baskets),
                "local peak MB": mb_local,
                "driver peak MB": mb,
                "load avg (1 min) before / after": f"{load_before:.1f} / {load_after:.1f}",
            }
        )
        print(rows[-1], flush=True)
    sdf.unpersist()
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Run the fit_ease benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks spark-ease",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--l2", nargs="+", default=["auto"], help="'auto' and/or numbers")
    parser.add_argument("--baskets", type=int, default=500, help="invoices for cross-sell")
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--markdown", help="append the table as Markdown to this file")
    args = parser.parse_args(argv)
    for value in args.l2:
        if value != "auto":
            float(value)  # a bad number fails here, before Spark starts
    print(machine_line(), flush=True)
    spark = _session(args.driver_memory)
    try:
        table = bench(spark, args.l2, args.baskets)
        show("EASE on Online Retail: fit_ease (local[2]) vs local EASE().fit", table, args.markdown)
        print(
            f"JVM (driver + executors, local mode) peak RSS: {_jvm_peak_mb(spark):.0f} MB",
            flush=True,
        )
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
