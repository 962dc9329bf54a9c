"""Distributed batch scoring on Spark with the Numba core: ``recommend``, cross-sell batches."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys._utils.sparse import select_csr_rows
from recsys.core.topn_factors import build_factor_index, topn_factor_scores
from recsys.exceptions import UnknownIdError
from recsys.models.als import ALS
from recsys.models.base import Recommender, check_fitted, check_n
from recsys.selling.cross_sell import recommend_cross_sell_batch as local_cross_sell_batch
from recsys.spark._frames import (
    EXECUTOR_CACHE,
    ROW,
    arrow_column,
    check_frame,
    executor_setup,
    factor_table,
    id_table,
    require_pyspark,
    spark_of,
    task_threads,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame

__all__ = ["recommend", "recommend_cross_sell_batch"]

_SEEN, _FACTORS, _ITEM_ROW = "__recsys_seen", "__recsys_factors", "__recsys_item"


def _shared(spark: Any, value: Any) -> Any:
    """Broadcast ``value`` (classic Spark); under Spark Connect ship it in the closure."""
    try:
        return spark.sparkContext.broadcast(value)
    except Exception:  # Spark Connect: no SparkContext

        class _Plain:
            def __init__(self, v: Any) -> None:
                self.value = v

        return _Plain(value)


def _spark_type(values: np.ndarray) -> str:
    """Return the Spark SQL type of an array of external IDs."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_type

    return from_arrow_type(pa.array(values[:1]).type).simpleString()


def _csr_of_lists(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Return a list<int> Arrow column (nulls: empty) as CSR ``(indptr int64, indices int32)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    indptr = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.int32)
    return indptr, indices


def _seen_items(
    spark: Any, model: Recommender, interactions: Any, user_col: str, item_col: str
) -> DataFrame:
    """``(user_col, __seen)``: each user's distinct item rows, joined on the cluster."""
    from pyspark.sql import functions as F

    check_frame(interactions, "interactions", [user_col, item_col])
    item_type = dict(interactions.dtypes)[item_col]
    items = id_table(spark, model.item_ids_, item_col, item_type).withColumnRenamed(ROW, _ITEM_ROW)
    return (
        interactions.select(user_col, item_col)
        .join(F.broadcast(items), item_col)
        .groupBy(user_col)
        .agg(F.collect_set(_ITEM_ROW).alias(_SEEN))
    )


def _output(
    users: pa.Array, per_row: np.ndarray, items: np.ndarray, scores: np.ndarray, ranks: np.ndarray
) -> pa.RecordBatch:
    import pyarrow as pa

    take = np.repeat(np.arange(per_row.size), per_row)
    return pa.RecordBatch.from_arrays(
        [users.take(pa.array(take)), pa.array(items), pa.array(scores), pa.array(ranks)],
        ["user", "item", "score", "rank"],
    )


def recommend(
    model: Recommender,
    users: DataFrame,
    *,
    n: int = 10,
    exclude_seen: bool = True,
    interactions: DataFrame | None = None,
    user_col: str = "user",
    item_col: str = "item",
    num_threads: int | None = None,
) -> DataFrame:
    """Top-``n`` items for every user of a Spark DataFrame, scored on the executors.

    The item side of the model is broadcast once (``ALS``: the item factors,
    their external IDs and the unknown-user fallback; any other model: the
    fitted model itself); every partition is scored inside ``mapInArrow``
    (``mapInPandas`` without the pandas conversion) by the Numba top-n core,
    with ``spark.task.cpus`` threads per task (``num_threads`` overrides).  An
    ``ALS`` user's factors are joined to them from a DataFrame built from
    ``model.user_factors_``; other models score users through their public
    row API (``recommend_rows``).  Seen items come from ``interactions``,
    joined by user on the cluster (never a driver-side matrix): on the
    training log, the rows equal the local ``model.recommend(users, n)``.

    Parameters
    ----------
    model : Recommender
        A fitted model (``recsys.ALS``, ``recsys.ItemItem``, ...), e.g. from
        :func:`recsys.spark.fit_als`.
    users : pyspark.sql.DataFrame
        A column ``user_col`` of external user IDs (one result list per row;
        users the model does not know get the most popular items).
    n : int
    exclude_seen : bool
        Leave out each user's items in ``interactions``.
    interactions : pyspark.sql.DataFrame, optional
        ``user_col, item_col`` rows: what each user has seen (usually the
        training log).  Needed with ``exclude_seen``; items the model does
        not know are ignored.
    user_col, item_col : str
    num_threads : int, optional
        Numba threads per task (default ``spark.task.cpus``).

    Returns
    -------
    pyspark.sql.DataFrame
        ``user, item, score, rank`` (rank 1 = best); exactly ``n`` rows per
        user whenever ``n`` candidates remain.

    Examples
    --------
    >>> from recsys.spark import recommend  # doctest: +SKIP
    >>> recs = recommend(model, spark.table("customers").select("user"), n=10,
    ...                  interactions=spark.table("orders"))  # doctest: +SKIP
    >>> recs.write.parquet("s3://bucket/recs/")  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    require_pyspark()
    check_fitted(model)
    n = check_n(n)
    check_frame(users, "users", [user_col])
    if exclude_seen and interactions is None:
        raise ValueError(
            "recommend: exclude_seen=True needs interactions=<Spark DataFrame of what each user "
            "has seen> (joined on the cluster); pass exclude_seen=False to keep seen items"
        )
    spark = spark_of(users)
    threads = task_threads(spark, num_threads)
    n_eff = min(n, len(model.item_ids_))
    user_type = dict(users.dtypes)[user_col]
    queries = users.select(user_col)
    if exclude_seen:
        assert interactions is not None
        queries = queries.join(
            _seen_items(spark, model, interactions, user_col, item_col), user_col, "left"
        )
    else:
        queries = queries.withColumn(_SEEN, F.lit(None).cast("array<int>"))
    item_ext = model.item_ids_.external_ids
    schema = f"user {user_type}, item {_spark_type(item_ext)}, score float, rank bigint"
    fallback_ids, fallback_scores = model.recommend_rows(np.array([-1]), n_eff)
    if isinstance(model, ALS):
        factors = factor_table(
            spark, model.user_ids_, model.user_factors_, user_col, user_type, _FACTORS
        )
        queries = queries.join(factors, user_col, "left")
        shared = _shared(spark, (model.item_factors_, item_ext, fallback_ids, fallback_scores))
        func = _als_partitions(shared, user_col, n_eff, exclude_seen, threads)
    else:
        shared = _shared(spark, model)
        func = _model_partitions(shared, user_col, n_eff, exclude_seen, threads)
    return queries.mapInArrow(func, schema)


def _als_partitions(shared: Any, user_col: str, n: int, exclude_seen: bool, threads: int) -> Any:
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        executor_setup(threads)
        item_factors, item_ext, fb_ids, fb_scores = shared.value
        key = id(item_factors)
        if key not in EXECUTOR_CACHE:  # once per worker process and model
            EXECUTOR_CACHE.clear()
            EXECUTOR_CACHE[key] = build_factor_index(item_factors)
        index = EXECUTOR_CACHE[key]
        for batch in batches:
            if batch.num_rows == 0:
                continue
            rows = batch.column(ROW)
            known = rows.is_valid().to_numpy(zero_copy_only=False)
            ids = np.empty((batch.num_rows, n), dtype=np.int32)
            scores = np.empty((batch.num_rows, n), dtype=np.float32)
            ids[~known], scores[~known] = fb_ids[0], fb_scores[0]
            pos = np.flatnonzero(known)
            if pos.size:
                import pyarrow.compute as pc

                flat = pc.list_flatten(batch.column(_FACTORS)).to_numpy(zero_copy_only=False)
                queries = np.ascontiguousarray(flat.reshape(pos.size, -1), dtype=np.float32)
                if exclude_seen:
                    indptr, indices = _csr_of_lists(batch.column(_SEEN))
                    ex_indptr, ex_indices = select_csr_rows(indptr, indices, pos)
                else:
                    ex_indptr, ex_indices = np.zeros(pos.size + 1, np.int64), np.empty(0, np.int32)
                ids[pos], scores[pos] = topn_factor_scores(
                    queries, index, n, ex_indptr, ex_indices, num_threads=threads
                )
            yield _batch(batch.column(user_col), ids, scores, item_ext)

    return score


def _batch(
    users: pa.Array, ids: np.ndarray, scores: np.ndarray, item_ext: np.ndarray
) -> pa.RecordBatch:
    valid = ids >= 0
    ranks = np.broadcast_to(np.arange(1, ids.shape[1] + 1, dtype=np.int64), ids.shape)
    return _output(users, valid.sum(axis=1), item_ext[ids[valid]], scores[valid], ranks[valid])


def _model_partitions(shared: Any, user_col: str, n: int, exclude_seen: bool, threads: int) -> Any:
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        executor_setup(threads)
        model = shared.value
        model.num_threads = threads
        item_ext = model.item_ids_.external_ids
        for batch in batches:
            if batch.num_rows == 0:
                continue
            users = batch.column(user_col)
            rows = model.user_ids_.to_rows(users.to_numpy(zero_copy_only=False), missing="ignore")
            exclude = _csr_of_lists(batch.column(_SEEN)) if exclude_seen else None
            ids, scores = model.recommend_rows(rows, n, exclude_seen=False, exclude_rows=exclude)
            yield _batch(users, ids, scores, item_ext)

    return score


def recommend_cross_sell_batch(
    model: Recommender,
    baskets: DataFrame,
    *,
    n: int = 5,
    basket_col: str = "basket_id",
    item_col: str = "item",
    user_col: str | None = None,
    rules: Any = None,
    explain: bool = True,
    unknown_items: str = "raise",
    **options: Any,
) -> DataFrame:
    """Cross-sells for every basket of a Spark DataFrame: the local batch, run per partition.

    Baskets are repartitioned by ``basket_col`` (a basket's lines meet in one
    partition); every partition runs :func:`recsys.selling.recommend_cross_sell_batch`
    on the broadcast model, in the parallel core, with ``spark.task.cpus``
    threads.  The rows (items, scores, ranks, explanations, rules) are those of
    the local batch on the same baskets.

    Parameters
    ----------
    model : Recommender
        Fitted (``ItemItem`` for explanations).
    baskets : pyspark.sql.DataFrame
        One row per (basket, item); ``user_col`` names the customer of each basket.
    n : int
    basket_col, item_col, user_col : str
    rules : recsys.selling.Rules, optional
    explain : bool
    unknown_items : {"raise", "ignore"}
        Items the model does not know: a ``KeyError`` raised on the driver
        before any scoring (one anti-join), or ignored.
    **options
        Passed on to the local batch (``user_weight``, ``now``, ``catalog``,
        ``segment_col``).

    Returns
    -------
    pyspark.sql.DataFrame
        ``<basket_col>, item, score, rank`` (+ ``because, together_count, lift,
        reason`` with ``explain``).

    Examples
    --------
    >>> from recsys.spark import recommend_cross_sell_batch  # doctest: +SKIP
    >>> offers = recommend_cross_sell_batch(model, spark.table("open_carts"), n=3,
    ...                                     basket_col="cart_id", item_col="sku")  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    require_pyspark()
    check_fitted(model)
    n = check_n(n)
    if unknown_items not in ("raise", "ignore"):
        raise ValueError(f"unknown_items must be 'raise' or 'ignore', got {unknown_items!r}")
    segment_col = options.get("segment_col")
    check_frame(baskets, "baskets", [basket_col, item_col], None, [user_col, segment_col])
    spark = spark_of(baskets)
    threads = task_threads(spark, options.pop("num_threads", None))
    types = dict(baskets.dtypes)
    if unknown_items == "raise":
        items = id_table(spark, model.item_ids_, item_col, types[item_col])
        unknown = (
            baskets.select(item_col).distinct().join(F.broadcast(items), item_col, "left_anti")
        )
        bad = arrow_column(unknown.limit(11).toArrow(), item_col).tolist()
        if bad:
            count = unknown.count()
            raise UnknownIdError(
                f"{count} unknown item(s): {bad[:10]}" + (" ..." if count > 10 else "")
            )
    item_type = _spark_type(model.item_ids_.external_ids)
    fields = [
        f"`{basket_col}` {types[basket_col]}",
        f"item {item_type}",
        "score float",
        "rank bigint",
    ]
    if explain:
        fields += [f"because {item_type}", "together_count bigint", "lift double", "reason string"]
    cols = [c for c in (basket_col, item_col, user_col, segment_col) if c is not None]
    # a used Rules object caches compiled constraints behind weak references: ship a fresh copy
    fresh = None if rules is None else dataclasses.replace(rules)
    shared = _shared(spark, (model, fresh))
    kwargs = dict(
        n=n,
        basket_col=basket_col,
        item_col=item_col,
        user_col=user_col,
        explain=explain,
        unknown_items="ignore",
        num_threads=threads,
        **options,
    )

    def score(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import warnings

        executor_setup(threads)
        model_, rules_ = shared.value
        parts = [f for f in frames if len(f)]
        if not parts:
            return
        frame = pd.concat(parts, ignore_index=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown items were checked (or ignored) on the driver
            out = local_cross_sell_batch(model_, frame, rules=rules_, **kwargs)
        yield out

    return (
        baskets.select(*cols).repartition(F.col(basket_col)).mapInPandas(score, ", ".join(fields))
    )
