"""recsys on Spark (local mode) side by side with MLlib and with the single-process library.

``python -m benchmarks spark [--users 1000000] [--items 10000] [--factors 32] [--markdown PATH]``

1. Batch recommendation, top 10 for ``--users`` synthetic users: MLlib's own
   ``recommendForAllUsers`` and ``recommendForUserSubset`` (an ``ALSModel``
   over the same factors) against ``recsys.spark.recommend`` (item side
   broadcast, Numba top-n in ``mapInArrow``) on the same ``local[2]`` session,
   and the single-process ``ALS.recommend_rows``.  Every Spark result is
   written to the ``noop`` sink, so all of it is computed and nothing is
   collected.  Item factors have power-law norms (as fitted factors do: popular
   items have larger norms).
2. ``fit_als`` (MLlib ALS) against local ``recsys.ALS`` on MovieLens-100k:
   fit time and NDCG@10 on a random 20% hold-out (the protocol of
   ``python -m benchmarks speed``).
3. ``fit_item_item`` against local ``ItemItem().fit`` on UCI Online Retail
   (baskets = invoices, calibrated default): time, equality, and the support
   threshold ``min_pair_count`` (pairs on the cluster vs rows that reach the
   driver).
4. Peak memory of the driver's Python process (RSS growth per step) and of the
   JVM (driver and executors in local mode).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.data import holdout
from benchmarks.report import machine_line, show
from benchmarks.speed import PeakMemory, ndcg_at_10


def _session(memory: str) -> Any:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("recsys-benchmark")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.pyspark.python", sys.executable)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _timed(fn: Any) -> tuple[float, Any, float]:
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    return seconds, result, memory.delta_mb


def _jvm_peak_mb(spark: Any) -> float:
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------ recommend
def synthetic_factors(n_users: int, n_items: int, factors: int, seed: int = 0) -> tuple:
    """Gaussian user factors; item factors with norms falling as a power law of popularity."""
    rng = np.random.default_rng(seed)
    users = rng.standard_normal((n_users, factors), dtype=np.float32)
    users *= np.float32(1.0 / np.sqrt(factors))
    items = rng.standard_normal((n_items, factors), dtype=np.float32)
    items *= (1.0 / np.arange(1, n_items + 1) ** 0.4).astype(np.float32)[:, None]
    return users, items[rng.permutation(n_items)]


def _mllib_model(spark: Any, users: np.ndarray, items: np.ndarray) -> Any:
    """Return an MLlib ``ALSModel`` over given factors (through the JVM constructor)."""
    import pyarrow as pa
    from pyspark.ml.recommendation import ALSModel

    def frame(factors: np.ndarray) -> Any:
        flat = pa.array(factors.astype(np.float32).ravel())
        offsets = pa.array(np.arange(0, factors.size + 1, factors.shape[1], dtype=np.int32))
        table = pa.table(
            {
                "id": pa.array(np.arange(factors.shape[0], dtype=np.int32)),
                "features": pa.ListArray.from_arrays(offsets, flat),
            }
        )
        return spark.createDataFrame(table).cache()

    user_df, item_df = frame(users), frame(items)
    user_df.count(), item_df.count()
    java = spark.sparkContext._jvm.org.apache.spark.ml.recommendation.ALSModel(
        "als-bench", users.shape[1], user_df._jdf, item_df._jdf
    )
    java.setUserCol("user").setItemCol("item").setColdStartStrategy("drop")
    return ALSModel(java)


def bench_recommend(spark: Any, n_users: int, n_items: int, factors: int) -> pd.DataFrame:
    """Time top-10 for every user: MLlib, recsys.spark.recommend, one process."""
    import recsys
    from recsys.data.ids import IdMap
    from recsys.spark import recommend

    users, items = synthetic_factors(n_users, n_items, factors)
    model = recsys.ALS.from_factors(
        users,
        items,
        IdMap(np.arange(n_users), name="user"),
        IdMap(np.arange(n_items)),
        item_popularity=np.ones(n_items, dtype=np.float32),
        num_threads=2,
    )
    mllib = _mllib_model(spark, users, items)
    frame = spark.range(n_users).withColumnRenamed("id", "user").cache()
    frame.count()
    subset = frame.limit(n_users // 10).cache()
    subset.count()

    def sink(df: Any) -> None:
        df.write.format("noop").mode("overwrite").save()

    rows = []
    model.recommend_rows(np.arange(1000), 10)  # compile / load the cache
    warm = frame.limit(1000)  # untimed: Python workers start, import recsys, load the kernels
    sink(recommend(model, warm, n=10, exclude_seen=False))
    sink(mllib.recommendForUserSubset(warm, 10))
    for what, fn, n in (
        (
            "recsys.spark.recommend",
            lambda: sink(recommend(model, frame, n=10, exclude_seen=False)),
            n_users,
        ),
        ("MLlib recommendForAllUsers", lambda: sink(mllib.recommendForAllUsers(10)), n_users),
        (
            "recsys.spark.recommend (10% subset)",
            lambda: sink(recommend(model, subset, n=10, exclude_seen=False)),
            n_users // 10,
        ),
        (
            "MLlib recommendForUserSubset (10%)",
            lambda: sink(mllib.recommendForUserSubset(subset, 10)),
            n_users // 10,
        ),
        (
            "recsys ALS.recommend_rows (one process, 2 threads)",
            lambda: model.recommend_rows(np.arange(n_users), 10, exclude_seen=False),
            n_users,
        ),
    ):
        seconds, _, mb = _timed(fn)
        rows.append(
            {
                "method": what,
                "users": n,
                "seconds": seconds,
                "users/s": n / seconds,
                "driver peak MB": mb,
            }
        )
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    base = table.loc[table["method"] == "MLlib recommendForAllUsers", "seconds"].iloc[0]
    table["vs MLlib all-users"] = base / table["seconds"] * table["users"] / n_users
    frame.unpersist(), subset.unpersist()
    return table


# ---------------------------------------------------------------------------- ALS fit
def bench_als(spark: Any, factors: int, iterations: int) -> pd.DataFrame:
    """Time and NDCG@10 of fit_als (several regularisations) and of the local ALS."""
    import recsys
    from recsys.datasets import load_movielens_100k
    from recsys.spark import fit_als

    ratings = load_movielens_100k()
    data = recsys.Interactions.from_pandas(
        ratings, user_col="userId", item_col="movieId", weight_col="rating"
    )
    train, test = holdout(data.matrix, 0.2, seed=0)
    train = train.astype(np.float32)
    coo = train.tocoo()
    log = pd.DataFrame({"user": coo.row, "item": coo.col, "weight": coo.data.astype(np.float64)})
    sdf = spark.createDataFrame(log).cache()
    sdf.count()
    mean_items = train.nnz / max(int((np.diff(train.indptr) > 0).sum()), 1)
    rows = []

    def ndcg(model: recsys.ALS) -> float:
        ids = np.full((train.shape[0], 10), -1, dtype=np.int64)
        known = model.user_ids_.external_ids.astype(np.int64)
        got, _ = model.recommend_rows(np.arange(len(known)), 10)
        cols = np.where(got >= 0, model.item_ids_.external_ids.astype(np.int64)[got.clip(0)], -1)
        ids[known] = cols
        return ndcg_at_10(ids, test)

    local = recsys.ALS(
        factors=factors, iterations=iterations, regularization=0.01, random_state=0, num_threads=2
    )
    local_data = recsys.Interactions.from_csr(train)
    local.fit(local_data)  # compile, untimed
    seconds, _, mb = _timed(lambda: local.fit(local_data))
    rows.append(
        {
            "fit": "recsys.ALS (local, 2 threads)",
            "regularization": 0.01,
            "alpha": 1.0,
            "seconds": seconds,
            "NDCG@10": ndcg(local),
            "driver peak MB": mb,
        }
    )
    print(rows[-1], flush=True)
    for reg, alpha in ((0.01 / mean_items, 1.0), (0.01, 1.0)):
        seconds, model, mb = _timed(
            lambda reg=reg, alpha=alpha: fit_als(
                sdf,
                user_col="user",
                item_col="item",
                weight_col="weight",
                factors=factors,
                iterations=iterations,
                regularization=reg,
                alpha=alpha,
                random_state=0,
                blocks=4,
            )
        )
        rows.append(
            {
                "fit": "recsys.spark.fit_als (MLlib, local[2])",
                "regularization": reg,
                "alpha": alpha,
                "seconds": seconds,
                "NDCG@10": ndcg(model),
                "driver peak MB": mb,
            }
        )
        print(rows[-1], flush=True)
    sdf.unpersist()
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------- ItemItem fit
def bench_item_item(spark: Any, thresholds: list[int]) -> pd.DataFrame:
    """Time fit_item_item and the local fit on Online Retail; check equality per threshold."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    import recsys
    from recsys.datasets import load_online_retail
    from recsys.spark import fit_item_item

    lines = load_online_retail()
    kwargs = dict(
        user_col="CustomerID", item_col="StockCode", basket_col="InvoiceNo", time_col="InvoiceDate"
    )
    cols = list(kwargs.values())
    frame = lines[cols].copy()
    frame["CustomerID"] = frame["CustomerID"].astype(str)
    frame["StockCode"] = frame["StockCode"].astype(str)
    frame["InvoiceNo"] = frame["InvoiceNo"].astype(str)
    sdf = spark.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False)).cache()
    sdf.count()
    baskets = sdf.select(F.col("InvoiceNo").alias("r"), F.col("StockCode").alias("i")).distinct()
    pair_rows = baskets.alias("x").join(baskets.alias("y"), "r").filter(F.col("x.i") < F.col("y.i"))
    pair_counts = pair_rows.groupBy("x.i", "y.i").count().cache()
    rows = []
    data = recsys.Interactions.from_pandas(frame, **kwargs)
    for t in thresholds:
        local = recsys.ItemItem(min_count=t, num_threads=2)
        seconds_local, _, mb_local = _timed(lambda local=local: local.fit(data))
        seconds, model, mb = _timed(
            lambda t=t: fit_item_item(sdf, min_pair_count=t, num_threads=2, **kwargs)
        )
        same = bool(
            np.array_equal(model.neighbours_.indices, local.neighbours_.indices)
            and np.array_equal(model.neighbours_.indptr, local.neighbours_.indptr)
            and np.abs(model.neighbours_.scores - local.neighbours_.scores).max() <= 1e-6
            and model.basket_prior_ == local.basket_prior_
            and model.repeat_prior_ == local.repeat_prior_
        )
        on_cluster = 2 * pair_counts.filter(F.col("count") >= t).count()
        rows.append(
            {
                "min_pair_count": t,
                "pairs on the cluster (c >= t, both directions)": on_cluster,
                "neighbour entries on the driver": int(model.neighbours_.indices.size),
                "local fit s": seconds_local,
                "fit_item_item s": seconds,
                "equal to local (min_count=t)": same,
                "basket_prior_ / repeat_prior_": f"{model.basket_prior_} / {model.repeat_prior_}",
                "local peak MB": mb_local,
                "driver peak MB": mb,
            }
        )
        print(rows[-1], flush=True)
    pair_counts.unpersist(), sdf.unpersist()
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Run the Spark benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks spark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--als-factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--thresholds", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--only", choices=["recommend", "als", "item-item"], action="append")
    parser.add_argument("--markdown", help="append the tables as Markdown to this file")
    args = parser.parse_args(argv)
    only = set(args.only or ["recommend", "als", "item-item"])
    print(machine_line(), flush=True)
    spark = _session(args.driver_memory)
    try:
        if "recommend" in only:
            table = bench_recommend(spark, args.users, args.items, args.factors)
            show(
                f"Batch top-10, {args.users:,} users x {args.items:,} items, "
                f"{args.factors} factors, local[2]",
                table,
                args.markdown,
            )
        if "als" in only:
            table = bench_als(spark, args.als_factors, args.iterations)
            show(
                f"ALS fit on MovieLens-100k, {args.als_factors} factors, "
                f"{args.iterations} iterations",
                table,
                args.markdown,
            )
        if "item-item" in only:
            table = bench_item_item(spark, args.thresholds)
            show(
                "ItemItem fit on Online Retail (default: confidence over invoices, calibrated)",
                table,
                args.markdown,
            )
        print(
            f"JVM (driver + executors, local mode) peak RSS: {_jvm_peak_mb(spark):.0f} MB",
            flush=True,
        )
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
