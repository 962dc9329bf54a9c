"""Spark DataFrame helpers of ``recsys.spark``: checks, ID tables, Arrow, executor set-up."""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys.data.ids import IdMap
from recsys.data.validation import require_columns, require_dataframe

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

#: Row-number column the ID tables join on.
ROW = "__recsys_row"


def require_pyspark() -> None:
    """Raise an ``ImportError`` saying how to install the extra when pyspark is missing."""
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as err:  # pragma: no cover - the extra is installed in CI
        raise ImportError(
            "recsys.spark needs pyspark >= 4 and pyarrow: pip install 'recsys[spark]'"
        ) from err


def spark_of(df: DataFrame) -> SparkSession:
    """Return the session of a DataFrame (classic and Spark Connect)."""
    return df.sparkSession


def check_frame(
    df: Any,
    what: str,
    id_cols: list[str],
    weight_col: str | None = None,
    other_cols: list[str | None] | None = None,
    time_col: str | None = None,
) -> int:
    """Check a Spark DataFrame as the local checks do; return how many rows have a weight > 0.

    Missing columns, an empty frame, missing IDs, NaN/infinite/negative or
    non-numeric weights and unparseable times get the local messages
    (``recsys.data.validation``), without row labels (a Spark DataFrame has
    none); rows of weight 0 (in float32) are counted and reported with the
    local warning.  One aggregation job.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    if not isinstance(df, DataFrame):
        raise TypeError(f"{what} must be a pyspark DataFrame, got {type(df).__name__}")
    for name in id_cols:
        if not isinstance(name, str):
            raise TypeError(f"column names must be strings, got {name!r}")
    wanted = [c for c in [*id_cols, weight_col, time_col, *(other_cols or [])] if c is not None]
    header = pd.DataFrame(columns=df.columns)  # the local checks, on the columns alone
    require_columns(header, wanted, what)
    aggs = [F.count(F.lit(1)).alias("rows")]
    for i, col in enumerate(id_cols):
        aggs.append(F.sum(F.col(col).isNull().cast("long")).alias(f"null{i}"))
    if weight_col is not None:
        raw = F.col(weight_col)
        value = raw.cast("double")
        aggs += [
            F.sum((raw.isNotNull() & value.isNull()).cast("long")).alias("nonnum"),
            F.sum(
                (raw.isNull() | F.isnan(value) | (F.abs(value) == float("inf"))).cast("long")
            ).alias("nonfinite"),
            F.sum((value < 0).cast("long")).alias("negative"),
            F.sum((value.cast("float") > 0).cast("long")).alias("positive"),
        ]
    if time_col is not None:
        aggs.append(F.sum(F.col(time_col).cast("timestamp").isNull().cast("long")).alias("badtime"))
    stats = df.agg(*aggs).collect()[0].asDict()
    if not stats["rows"]:
        require_dataframe(header, what)  # raises the local "is empty" error
    for i, col in enumerate(id_cols):
        if stats[f"null{i}"]:
            raise ValueError(
                f"{what} column {col!r} has {stats[f'null{i}']} missing value(s): "
                f"drop those rows ({what}.dropna(subset=[{col!r}])) or fill them"
            )
    if weight_col is not None:
        if stats["nonnum"]:
            raise ValueError(
                f"{what} column {weight_col!r} has {stats['nonnum']} non-numeric value(s): "
                "cast the column to a number first"
            )
        if stats["nonfinite"] - stats["nonnum"]:
            raise ValueError(
                f"{what} column {weight_col!r} has {stats['nonfinite'] - stats['nonnum']} "
                "NaN or infinite value(s): drop those rows or fill them with a number"
            )
        if stats["negative"]:
            raise ValueError(
                f"{what} column {weight_col!r} has {stats['negative']} negative value(s): "
                "weights must be >= 0; drop those rows (returns, cancellations) first"
            )
    if time_col is not None and stats["badtime"]:
        raise ValueError(
            f"{what} column {time_col!r} has {stats['badtime']} missing or unparseable time(s)"
        )
    if weight_col is None:
        return int(stats["rows"])
    dropped = int(stats["rows"]) - int(stats["positive"] or 0)
    if dropped:
        warnings.warn(
            f"Interactions: dropped {dropped} row(s) whose weight is zero "
            "(or below float32 precision)",
            UserWarning,
            stacklevel=4,
        )
        if not stats["positive"]:
            raise ValueError(f"{what}: every row has zero weight; nothing is left")
    return int(stats["positive"])


def arrow_column(table: pa.Table, name: str) -> np.ndarray:
    """Return a column of an Arrow table as a NumPy array (objects for strings)."""
    return table.column(name).to_numpy(zero_copy_only=False)


def distinct_ids(df: DataFrame, col: str, name: str) -> IdMap:
    """Collect the distinct values of ``col`` as an :class:`IdMap` in the canonical (sorted) order.

    The order a local fit gives (``Interactions.from_pandas``): the same rows.
    """
    values = arrow_column(df.select(col).distinct().toArrow(), col)
    ids, _ = IdMap.from_values(values, name=name, order="sorted")
    return ids


def id_table(spark: SparkSession, ids: IdMap, col: str, data_type: Any) -> DataFrame:
    """Return the Spark DataFrame ``(col, ROW)`` of an ID map (``col`` cast to ``data_type``)."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    values = ids.external_ids
    table = pa.table({col: pa.array(values), ROW: pa.array(np.arange(len(ids), dtype=np.int32))})
    frame = spark.createDataFrame(table)
    return frame.withColumn(col, F.col(col).cast(data_type))


def factor_table(
    spark: SparkSession, ids: IdMap, factors: np.ndarray, col: str, data_type: Any, name: str
) -> DataFrame:
    """Return ``(col, ROW, name)``: every ID with its row and its factor vector (array<float>)."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    values32 = np.ascontiguousarray(factors, dtype=np.float32).ravel()
    flat = pa.array(values32)
    offsets = pa.array(np.arange(0, values32.size + 1, factors.shape[1], dtype=np.int32))
    values = ids.external_ids
    table = pa.table(
        {
            col: pa.array(values),
            ROW: pa.array(np.arange(len(ids), dtype=np.int32)),
            name: pa.ListArray.from_arrays(offsets, flat),
        }
    )
    return spark.createDataFrame(table).withColumn(col, F.col(col).cast(data_type))


def task_threads(spark: SparkSession, num_threads: int | None) -> int:
    """Return the Numba threads of one task: ``num_threads``, else ``spark.task.cpus`` (default 1).

    Spark runs one task per ``spark.task.cpus`` cores, so a task that uses more
    threads than that oversubscribes the executor.
    """
    if num_threads is not None:
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}")
        return num_threads
    return max(1, int(spark.conf.get("spark.task.cpus", "1") or 1))


def executor_setup(threads: int) -> None:
    """Prepare a Python worker for scoring: BLAS at one thread, Numba at ``threads``.

    Runs in every task but does its work once per worker process (Python
    workers are reused across tasks: ``spark.python.worker.reuse``, on by
    default).  Numba kernels are compiled with ``cache=True``: a worker loads
    them from the cache directory (``NUMBA_CACHE_DIR``, by default the
    ``__pycache__`` next to ``recsys/core``), so only the first worker on a
    machine compiles, and never once per partition.
    """
    global _SETUP_DONE
    if _SETUP_DONE == threads:
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import numba

    available = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    numba.set_num_threads(max(1, min(threads, available)))
    _SETUP_DONE = threads


_SETUP_DONE: int | None = None
#: Executor-side cache of what is derived from a broadcast once per worker process (factor index).
EXECUTOR_CACHE: dict[int, Any] = {}
