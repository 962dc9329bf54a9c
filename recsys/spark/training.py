"""Training on Spark: MLlib ALS -> ``recsys.ALS``; co-occurrence -> ItemItem; Gramian -> EASE."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recsys.core.cooccurrence import NeighbourTable
from recsys.core.pair_neighbours import PAIR_SIMILARITIES, neighbours_from_pairs
from recsys.data.ids import IdMap
from recsys.data.interactions import Interactions, aggregate_pairs
from recsys.models.als import ALS, MAX_CONFIDENCE
from recsys.models.basket_probability import MIN_VALIDATION_BASKETS, VALIDATION_SHARE
from recsys.models.ease import EASE
from recsys.models.item_item import ItemItem
from recsys.spark._frames import (
    ROW,
    arrow_column,
    check_frame,
    distinct_ids,
    id_table,
    require_pyspark,
    spark_of,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["fit_als", "fit_ease", "fit_item_item"]

_U, _I, _B, _W, _T = "__u", "__i", "__b", "__w", "__t"
#: Relative margin kept below each item's k-th score when the top-k is pre-selected on Spark:
#: far above float32 rounding (6e-8), so the driver's exact float32 ranking sees every pair
#: that could tie with the k-th.
_TOPK_MARGIN = 1e-6


def _indexed(
    df: DataFrame,
    *,
    user_col: str,
    item_col: str,
    weight_col: str | None,
    basket_col: str | None = None,
    time_col: str | None = None,
    what: str = "interactions",
) -> tuple[DataFrame, IdMap, IdMap, IdMap | None]:
    """Check ``df``, drop zero weights, map IDs to canonical rows.

    Returns the log as ``__u, __i, __w[, __b][, __t]`` and the user, item and basket maps.
    """
    from pyspark.sql import functions as F

    require_pyspark()
    if time_col is not None and basket_col is None:
        raise ValueError("time_col orders the baskets: it needs basket_col")
    id_cols = [user_col, item_col] + ([basket_col] if basket_col is not None else [])
    check_frame(df, what, id_cols, weight_col, time_col=time_col)
    cols = [F.col(user_col).alias(user_col), F.col(item_col).alias(item_col)]
    weight = F.col(weight_col).cast("double") if weight_col is not None else F.lit(1.0)
    # local fits turn weights into float32 before summing: so does this
    cols.append(weight.cast("float").cast("double").alias(_W))
    if basket_col is not None:
        cols.append(F.col(basket_col).alias(basket_col))
    if time_col is not None:
        stamp = F.col(time_col).cast("timestamp")
        cols.append(F.unix_micros(stamp).alias(_T))
    log = df.select(*cols)
    if weight_col is not None:
        log = log.filter(F.col(_W) > 0)
    spark = spark_of(df)
    types = dict(log.dtypes)
    user_ids = distinct_ids(log, user_col, "user")
    item_ids = distinct_ids(log, item_col, "item")
    users = id_table(spark, user_ids, user_col, types[user_col]).withColumnRenamed(ROW, _U)
    items = id_table(spark, item_ids, item_col, types[item_col]).withColumnRenamed(ROW, _I)
    out = log.join(users, user_col).join(F.broadcast(items), item_col).drop(user_col, item_col)
    basket_ids = None
    if basket_col is not None:
        basket_ids = distinct_ids(log, basket_col, "basket")
        baskets = id_table(spark, basket_ids, basket_col, types[basket_col])
        out = out.join(baskets.withColumnRenamed(ROW, _B), basket_col).drop(basket_col)
    return out, user_ids, item_ids, basket_ids


def _pairs_matrix(frame: DataFrame, row: str, shape: tuple[int, int]) -> sp.csr_matrix:
    """Sum the weights of every (row, item) on Spark; return the canonical float32 CSR."""
    from pyspark.sql import functions as F

    table = frame.groupBy(row, _I).agg(F.sum(_W).alias(_W)).toArrow()
    matrix, _ = aggregate_pairs(
        arrow_column(table, row).astype(np.int64),
        arrow_column(table, _I).astype(np.int64),
        arrow_column(table, _W).astype(np.float64),
        None,
        shape,
    )
    return matrix


def _interactions(
    log: DataFrame,
    user_ids: IdMap,
    item_ids: IdMap,
    basket_ids: IdMap | None,
    *,
    basket_col: str | None,
    weight_col: str | None,
) -> Interactions:
    """Build on the driver the ``Interactions`` a local ``from_pandas`` gives on the same log.

    ``log`` is :func:`_indexed`'s (cached by the caller): the (user, item) and
    (basket, item) sums and each basket's owner (one per basket, as locally)
    and time are computed on Spark; only those reach the driver.
    """
    from pyspark.sql import functions as F

    n_users, n_items = len(user_ids), len(item_ids)
    user_items = _pairs_matrix(log, _U, (n_users, n_items))
    basket_matrix = basket_users = basket_times = None
    if basket_ids is not None:
        n_baskets = len(basket_ids)
        has_time = _T in log.columns
        owner_table = (
            log.groupBy(_B)
            .agg(
                F.countDistinct(_U).alias("owners"),
                F.min(_U).alias(_U),
                *([F.min(_T).alias(_T)] if has_time else []),
            )
            .toArrow()
        )
        multi = arrow_column(owner_table, "owners") > 1
        if multi.any():
            bad_rows = np.sort(arrow_column(owner_table, _B)[multi])[:10].astype(np.int64)
            raise ValueError(
                f"interactions column {basket_col!r}: basket(s) "
                f"{basket_ids.to_external(bad_rows).tolist()} belong to more than one user"
            )
        rows = arrow_column(owner_table, _B).astype(np.int64)
        basket_users = np.empty(n_baskets, dtype=np.int32)
        basket_users[rows] = arrow_column(owner_table, _U)
        if has_time:
            basket_times = np.empty(n_baskets, dtype=np.float64)
            micros = arrow_column(owner_table, _T).astype(np.int64)
            basket_times[rows] = (micros * 1000) / 1e9  # as from_pandas: ns / 1e9
        basket_matrix = _pairs_matrix(log, _B, (n_baskets, n_items))
    return Interactions(
        matrix=user_items,
        user_ids=user_ids,
        item_ids=item_ids,
        basket_matrix=basket_matrix,
        basket_ids=basket_ids,
        basket_users=basket_users,
        basket_times=basket_times,
        weight_col=weight_col,
    )


# --------------------------------------------------------------------------- ALS
def fit_als(
    df: DataFrame,
    *,
    user_col: str,
    item_col: str,
    weight_col: str | None = None,
    factors: int = 64,
    iterations: int = 15,
    regularization: float = 0.01,
    alpha: float = 1.0,
    random_state: int = 0,
    blocks: int | None = None,
    keep_user_items: bool = True,
    checkpoint_interval: int = 10,
) -> ALS:
    """Train implicit-feedback ALS with Spark MLlib; return a fitted :class:`recsys.ALS`.

    Spark does the data-sized work: the ID maps are built from the distinct
    IDs (in the canonical order a local fit uses), the log is joined to them
    and summed per (user, item), and ``pyspark.ml.recommendation.ALS`` with
    ``implicitPrefs=True`` trains on the cluster.  The driver receives the
    factors, the ID maps, the number of users of each item and (with
    ``keep_user_items``) the users × items matrix, and builds the same kind
    of object a local ``recsys.ALS().fit`` returns: ``recommend``,
    ``recommend_cross_sell``, fold-in, ``save``/``load`` all work on it.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per event.
    user_col, item_col : str
        External IDs (no nulls).
    weight_col : str, optional
        Non-negative weights (quantity, plays); default 1 per event.  Events of
        the same pair are summed; rows of weight 0 are dropped with a warning.
    factors, iterations : int
        MLlib's ``rank`` and ``maxIter``.
    regularization : float
        MLlib's ``regParam``.  MLlib scales it by each row's number of
        interactions (ALS-WR): a user with ``n_u`` items is solved with
        ``regularization * n_u``, an item with ``n_i`` users with
        ``regularization * n_i``, where ``recsys.ALS`` uses one constant.  The
        default 0.01 is the local default's value per interaction; the
        returned model's own ``regularization`` (used for fold-in of new users)
        is ``regularization`` times the mean number of items per user, the
        constant that matches a typical user.
    alpha : float
        MLlib's confidence scale: MLlib's confidence is ``1 + alpha * w``,
        ``recsys.ALS`` uses ``alpha * w`` (implicit's convention); for the
        observed pairs the two agree up to the constant 1.  The returned model
        keeps ``alpha`` for fold-in.
    random_state : int
        MLlib's ``seed``.
    blocks : int, optional
        ``numUserBlocks`` and ``numItemBlocks`` (default: MLlib's 10).
    keep_user_items : bool
        Collect the users × items matrix to the driver (``user_items_``: local
        ``exclude_seen``, ``partial_fit``).  It takes about 8 bytes per
        distinct (user, item) pair, so 1e9 pairs need ~8 GB of driver memory;
        without it the model holds no history (``recsys.spark.recommend``
        excludes seen items from a DataFrame anyway).
    checkpoint_interval : int
        MLlib's ``checkpointInterval`` (used when a checkpoint directory is set).

    Returns
    -------
    recsys.ALS
        Fitted.  The driver holds the factors: ``(n_users + n_items) * factors * 4``
        bytes (100M users × 64 factors: 25.6 GB).

    Raises
    ------
    ValueError, TypeError
        Bad input, with the local messages: missing columns, an empty frame,
        missing IDs, NaN/infinite/negative weights, a confidence
        ``alpha * weight`` beyond what float32 handles.

    Examples
    --------
    >>> from recsys.spark import fit_als  # doctest: +SKIP
    >>> model = fit_als(spark.table("orders"), user_col="customer_id",
    ...                 item_col="sku", weight_col="quantity")  # doctest: +SKIP
    >>> model.recommend(["C42"], n=5)  # doctest: +SKIP
    """
    from pyspark.ml.recommendation import ALS as MLlibALS
    from pyspark.sql import functions as F

    ALS(factors=factors, iterations=iterations, alpha=alpha)._check_params()
    if not (np.isfinite(regularization) and regularization >= 0):
        raise ValueError(f"regularization must be a finite number >= 0, got {regularization!r}")
    log, user_ids, item_ids, _ = _indexed(
        df, user_col=user_col, item_col=item_col, weight_col=weight_col
    )
    ratings = log.groupBy(_U, _I).agg(F.sum(_W).alias(_W)).cache()
    try:
        largest = ratings.agg(F.max(_W)).collect()[0][0]
        if float(alpha) * float(largest) > MAX_CONFIDENCE:
            raise ValueError(
                f"ALS: the largest summed weight is {largest:g}, confidence alpha * weight = "
                f"{float(alpha) * float(largest):g}, above {MAX_CONFIDENCE:g}: the float32 "
                "solver would overflow; scale the weights down (e.g. log1p) or lower alpha"
            )
        estimator = MLlibALS(
            rank=factors,
            maxIter=iterations,
            regParam=float(regularization),
            alpha=float(alpha),
            implicitPrefs=True,
            userCol=_U,
            itemCol=_I,
            ratingCol=_W,
            seed=int(random_state),
            checkpointInterval=checkpoint_interval,
        )
        if blocks is not None:
            estimator.setNumUserBlocks(blocks).setNumItemBlocks(blocks)
        fitted = estimator.fit(ratings)
        user_factors = _factor_rows(fitted.userFactors, len(user_ids), factors)
        item_factors = _factor_rows(fitted.itemFactors, len(item_ids), factors)
        per_item = ratings.groupBy(_I).count().toArrow()
        popularity = np.zeros(len(item_ids), dtype=np.float32)
        popularity[arrow_column(per_item, _I).astype(np.int64)] = arrow_column(per_item, "count")
        user_items = None
        if keep_user_items:
            user_items = _pairs_matrix(ratings, _U, (len(user_ids), len(item_ids)))
        n_pairs = float(popularity.sum())
    finally:
        ratings.unpersist()
    return ALS.from_factors(
        user_factors,
        item_factors,
        user_ids,
        item_ids,
        user_items,
        item_popularity=popularity,
        regularization=float(regularization) * n_pairs / max(len(user_ids), 1),
        alpha=float(alpha),
        iterations=iterations,
        random_state=random_state,
    )


def _factor_rows(frame: DataFrame, n: int, factors: int) -> np.ndarray:
    """MLlib's ``(id, features)`` factors as an ``(n, factors)`` float32 array in row order."""
    table = frame.toArrow()
    ids = arrow_column(table, "id").astype(np.int64)
    feats = table.column("features").combine_chunks()
    values = feats.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    out = np.zeros((n, factors), dtype=np.float32)
    out[ids] = values.reshape(ids.size, factors)
    return out


# ---------------------------------------------------------------------- ItemItem
def fit_item_item(
    df: DataFrame,
    *,
    user_col: str,
    item_col: str,
    basket_col: str | None = None,
    time_col: str | None = None,
    weight_col: str | None = None,
    min_pair_count: int | None = None,
    **params: Any,
) -> ItemItem:
    """Count item co-occurrence on Spark; build the same ``ItemItem`` a local fit gives.

    On Spark: the ID maps (canonical order), the (user, item) and (basket,
    item) sums, the item supports and the pair counts of every two items in a
    transaction (a basket, or a user without baskets) — the
    ``sum of basket sizes squared`` work — for the full data and, when
    ``ItemItem`` calibrates its priors, for the calibration's training split
    (the same last sixth of the baskets by time is held out).  Pairs seen
    together fewer than ``max(min_count, min_pair_count)`` times are dropped on
    the cluster, each item's pairs are cut to those that can reach its top
    ``k`` (with a margin for float32 ties), and only those reach the driver.

    On the driver: :func:`~recsys.core.pair_neighbours.neighbours_from_pairs`
    builds the neighbour tables (the kernel's formulas, order and ties), and
    :meth:`ItemItem.fit_from_tables` runs the rest of the local ``fit``
    unchanged (calibration, conditional probabilities, repeat counts).  With
    ``min_pair_count`` at most ``min_count`` the model equals
    ``ItemItem(**params).fit(Interactions.from_pandas(...))`` on the same
    log: the same neighbour tables, priors and scores.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per event (order line).
    user_col, item_col : str
    basket_col : str, optional
        Order / session ID: co-occurrence is counted per basket (else per user).
    time_col : str, optional
        Event time (timestamp, or a string Spark casts to one): orders the
        baskets for the calibration hold-out.  Set ``spark.sql.session.timeZone``
        to UTC so strings parse as a local fit parses them.
    weight_col : str, optional
        As in ``Interactions.from_pandas`` (``binary=False`` uses the weights in
        histories).
    min_pair_count : int, optional
        Support threshold applied on the cluster: pairs in fewer transactions
        are never sent to the driver.  Default (``None``): the model's
        ``min_count`` (exact).  A larger value bounds the driver's pairs
        further, at the cost of dropping weak neighbours (the model then
        equals a local fit with ``min_count=min_pair_count``).
    **params
        ``ItemItem`` hyper-parameters.  Supported similarities:
        ``confidence`` (default), ``jaccard``, ``lift``, and ``cosine`` with
        ``binary=True`` (the default): those computed from binary counts.

    Returns
    -------
    recsys.ItemItem
        Fitted.  The driver holds what a local model holds: the neighbour
        table (``n_items * k`` entries), the users × items matrix and, over
        baskets, the baskets × items matrix (kept for ``partial_fit`` and the
        repeat-purchase probabilities): about 8 bytes per distinct pair.

    Examples
    --------
    >>> from recsys.spark import fit_item_item  # doctest: +SKIP
    >>> model = fit_item_item(spark.table("order_lines"), user_col="customer",
    ...                       item_col="sku", basket_col="order_id",
    ...                       time_col="ordered_at")  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    model = ItemItem(**params)
    if model.similarity not in PAIR_SIMILARITIES:
        raise ValueError(
            f"fit_item_item counts binary co-occurrence on Spark: similarity must be one of "
            f"{list(PAIR_SIMILARITIES)}, got {model.similarity!r} (fit it locally instead)"
        )
    if model.similarity == "cosine" and not model.binary:
        raise ValueError(
            "fit_item_item: weighted cosine (binary=False) is not counted on Spark; "
            "use binary=True or fit locally"
        )
    threshold = model.min_count
    if min_pair_count is not None:
        if (
            isinstance(min_pair_count, bool)
            or not isinstance(min_pair_count, (int, np.integer))
            or min_pair_count < 1
        ):
            raise ValueError(f"min_pair_count must be a positive integer, got {min_pair_count!r}")
        threshold = max(int(threshold), int(min_pair_count))
        model.set_params(min_count=threshold)
    log, user_ids, item_ids, basket_ids = _indexed(
        df,
        user_col=user_col,
        item_col=item_col,
        weight_col=weight_col,
        basket_col=basket_col,
        time_col=time_col,
    )
    log = log.cache()
    try:
        data = _interactions(
            log, user_ids, item_ids, basket_ids, basket_col=basket_col, weight_col=weight_col
        )
        n_items = len(item_ids)
        on_baskets = model.use_baskets and basket_ids is not None
        row_col = _B if on_baskets else _U
        transactions = log.select(F.col(row_col).alias("r"), F.col(_I).alias("i")).distinct()
        n_rows = (
            data.basket_matrix.shape[0]
            if on_baskets and data.basket_matrix is not None
            else data.n_users
        )
        held = _held_out(model, data) if on_baskets else None
        tables = _count_tables(transactions, model, n_items, n_rows, held)
    finally:
        log.unpersist()

    def lookup(matrix: sp.csr_matrix) -> NeighbourTable:
        for table in tables:
            if table.n_rows == matrix.shape[0]:
                return table
        raise RuntimeError(  # pragma: no cover - fit asks only for the tables counted
            f"no table counted on Spark for {matrix.shape[0]} transactions"
        )

    return model.fit_from_tables(data, lookup)


def _held_out(model: ItemItem, data: Interactions) -> np.ndarray | None:
    """Return the baskets the calibration holds out (``None`` when it does not calibrate).

    The same rule as :func:`recsys.models.basket_probability.calibrate`: the
    newest :data:`VALIDATION_SHARE` of the baskets, by time then basket row.
    """
    if model.similarity != "confidence" or "auto" not in (model.basket_prior, model.repeat_prior):
        return None
    assert data.basket_matrix is not None
    n_b = data.basket_matrix.shape[0]
    n_val = int(n_b * VALIDATION_SHARE)
    if n_val < MIN_VALIDATION_BASKETS:
        return None
    order = (
        np.argsort(data.basket_times, kind="stable")
        if data.basket_times is not None
        else np.arange(n_b)
    )
    return np.sort(order[n_b - n_val :])


def _count_tables(
    transactions: DataFrame,
    model: ItemItem,
    n_items: int,
    n_rows: int,
    held: np.ndarray | None,
) -> list[NeighbourTable]:
    """Count supports and pairs on Spark; return the full table (and the calibration's)."""
    from pyspark.sql import functions as F

    spark = transactions.sparkSession
    if held is not None:
        flags = spark.createDataFrame(_rows_frame(held)).withColumn("held", F.lit(1))
        transactions = transactions.join(F.broadcast(flags), "r", "left").withColumn(
            "train", F.when(F.col("held").isNull(), 1).otherwise(0)
        )
    else:
        transactions = transactions.withColumn("train", F.lit(1))
    transactions = transactions.select("r", "i", "train").cache()
    try:
        support = transactions.groupBy("i").agg(
            F.count(F.lit(1)).alias("n"), F.sum("train").alias("n_train")
        )
        support_table = support.toArrow()
        items = arrow_column(support_table, "i").astype(np.int64)
        n_full = np.zeros(n_items, dtype=np.int64)
        n_full[items] = arrow_column(support_table, "n")
        n_train = np.zeros(n_items, dtype=np.int64)
        n_train[items] = arrow_column(support_table, "n_train")
        left = transactions.select("r", F.col("i").alias("a"), "train")
        right = transactions.select("r", F.col("i").alias("b"))
        pairs = (
            left.join(right, "r")
            .filter(F.col("a") < F.col("b"))
            .groupBy("a", "b")
            .agg(F.count(F.lit(1)).alias("c"), F.sum("train").alias("c_train"))
        )
        both = pairs.unionByName(
            pairs.select(F.col("b").alias("a"), F.col("a").alias("b"), "c", "c_train")
        ).cache()
        try:
            out = [_table(spark, both, "c", n_full, n_rows, model, n_items)]
            if held is not None:
                out.append(
                    _table(spark, both, "c_train", n_train, n_rows - held.size, model, n_items)
                )
        finally:
            both.unpersist()
    finally:
        transactions.unpersist()
    return out


def _rows_frame(rows: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.table({"r": pa.array(rows.astype(np.int32))})


def _table(
    spark: Any,
    pairs: DataFrame,
    count_col: str,
    support: np.ndarray,
    n_rows: int,
    model: ItemItem,
    n_items: int,
) -> NeighbourTable:
    """Prune ``pairs`` on Spark (min count, each item's top k with a margin); build the table."""
    import pyarrow as pa
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    k = min(int(model.k), max(n_items - 1, 1))
    sup = spark.createDataFrame(
        pa.table({"x": pa.array(np.arange(n_items, dtype=np.int32)), "n": pa.array(support)})
    )
    kept = pairs.filter(F.col(count_col) >= model.min_count).select(
        "a", "b", F.col(count_col).cast("double").alias("c")
    )
    kept = kept.join(
        F.broadcast(sup.select(F.col("x").alias("a"), F.col("n").cast("double").alias("na"))),
        "a",
    ).join(
        F.broadcast(sup.select(F.col("x").alias("b"), F.col("n").cast("double").alias("nb"))),
        "b",
    )
    s = float(model.shrinkage)
    c, na, nb = F.col("c"), F.col("na"), F.col("nb")
    if model.similarity == "cosine":
        score = c / (F.sqrt(na) * F.sqrt(nb) + s)
    elif model.similarity == "jaccard":
        score = c / (na + nb - c + s)
    elif model.similarity == "lift":
        score = c * float(n_rows) / (na * nb + s)
    else:
        score = c / (na + s)
    ranked = kept.withColumn("s", score).withColumn(
        "rank", F.row_number().over(Window.partitionBy("a").orderBy(F.desc("s"), F.asc("b")))
    )
    kth = ranked.filter(F.col("rank") == k).select("a", F.col("s").alias("kth"))
    top = (
        ranked.join(kth, "a", "left")
        .filter(
            F.col("kth").isNull()
            | (F.col("rank") <= k)
            | (F.col("s") >= F.col("kth") - F.abs(F.col("kth")) * _TOPK_MARGIN)
        )
        .select("a", "b", "c")
        .toArrow()
    )
    return neighbours_from_pairs(
        arrow_column(top, "a").astype(np.int64),
        arrow_column(top, "b").astype(np.int64),
        arrow_column(top, "c").astype(np.int64),
        support,
        n_rows,
        model.similarity,
        model.k,
        min_count=model.min_count,
        shrinkage=model.shrinkage,
    )


# -------------------------------------------------------------------------- EASE
def fit_ease(
    df: DataFrame,
    *,
    user_col: str,
    item_col: str,
    basket_col: str | None = None,
    time_col: str | None = None,
    weight_col: str | None = None,
    **params: Any,
) -> EASE:
    """Sum EASE's Gramian on Spark, solve on the driver: the same ``EASE`` a local fit gives.

    On Spark: the ID maps (canonical order), the (user, item) and (basket,
    item) sums the driver's ``Interactions`` hold, and the Gramian
    ``G = XᵀX`` of the rows EASE solves on (``rows="auto"``: the baskets when
    ``basket_col`` is given, else the users) — a sum over rows: each item's
    diagonal (its support with ``binary=True``, the default; its sum of
    squared weights otherwise) and, for every two items ``a < b`` of a row,
    ``x_a x_b`` summed over the rows (the ``sum of row lengths squared``
    work).  Only the summed pairs reach the driver.

    On the driver: :meth:`EASE.fit_from_gramian` runs the local ``fit``
    unchanged on those sums — the Cholesky solve (``items³``, LAPACK, float32),
    the ``l2="auto"`` search (every λ tried solves the same full Gramian; the
    held-out rows are corrected for by the Woodbury identity, so no other
    Gramian is summed), the repeat purchases.  The model equals
    ``EASE(**params).fit(Interactions.from_pandas(...))`` on the same log:
    the same ``l2_``, weights to float32 rounding (exact sums here, float32
    sums locally), the same ``repeat_purchases_`` and recommendations.  One
    case fits other rows: with ``l2="auto"`` when the served score could not
    be validated (``rows="users"`` over baskets, or fewer than 20 held-out
    baskets of returning customers), the repeat term's scale is calibrated by
    a refit on the earlier baskets the driver chooses; that refit sums its
    Gramian on the driver from the matrices it holds anyway (a Numba pass,
    small next to the solve), exactly as a local fit does.

    The Spark job runs when the fit first needs the Gramian, after the
    local checks (parameters, the dense fit's memory estimate): a model that
    would not fit on the driver is refused before any pair is summed.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per event (order line).
    user_col, item_col : str
    basket_col : str, optional
        Order / invoice ID: the rows of ``X`` are baskets (``rows="auto"``),
        and the model learns the customers' repeat purchases.
    time_col : str, optional
        Event time (timestamp, or a string Spark casts to one): orders the
        baskets for ``l2="auto"``'s hold-out (the newest) and the repeat
        purchases'.  Set ``spark.sql.session.timeZone`` to UTC so strings
        parse as a local fit parses them.
    weight_col : str, optional
        As in ``Interactions.from_pandas`` (``binary=False`` uses the weights).
    **params
        ``EASE`` hyper-parameters, the dense form only (``density=None``).

    Returns
    -------
    recsys.EASE
        Fitted.  The driver holds what a local fit holds (the dense ``B``:
        ``4 items²`` bytes, twice during the ``l2="auto"`` search; the users ×
        items and baskets × items matrices) and the summed pairs, 12 bytes per
        pair of items seen together.

    Raises
    ------
    ValueError, TypeError
        Bad input, with the local messages (missing columns, an empty frame,
        missing IDs, bad weights, bad parameters); ``density`` set (the sparse
        form is fitted locally); ``rows="baskets"`` without ``basket_col``.
    MemoryError
        The dense fit needs more than ``max_memory`` (the local message).

    Examples
    --------
    >>> from recsys.spark import fit_ease  # doctest: +SKIP
    >>> model = fit_ease(spark.table("order_lines"), user_col="customer",
    ...                  item_col="sku", basket_col="order_id",
    ...                  time_col="ordered_at")  # doctest: +SKIP
    >>> model.l2_, model.validation_  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    model = EASE(**params)
    model._check_params()
    if model.density is not None:
        raise ValueError(
            f"fit_ease sums the dense EASE's Gramian on Spark: density={model.density!r} (the "
            "sparse form) is not supported; fit it locally, "
            "EASE(density=...).fit(Interactions.from_pandas(...)), or use density=None"
        )
    if model.half_life_days is not None:
        raise ValueError(
            f"fit_ease sums the Gramian of undecayed rows on Spark: half_life_days="
            f"{model.half_life_days!r} is not supported; fit it locally, "
            "EASE(half_life_days=...).fit(Interactions.from_pandas(...)), or use None"
        )
    if model.rows == "baskets" and basket_col is None:
        raise ValueError(
            "rows='baskets' needs interactions with baskets: pass basket_col=..., "
            "or use rows='users'"
        )
    log, user_ids, item_ids, basket_ids = _indexed(
        df,
        user_col=user_col,
        item_col=item_col,
        weight_col=weight_col,
        basket_col=basket_col,
        time_col=time_col,
    )
    log = log.cache()
    gramian: _SparkGramian | None = None
    try:
        data = _interactions(
            log, user_ids, item_ids, basket_ids, basket_col=basket_col, weight_col=weight_col
        )
        on_baskets = model.rows == "baskets" or (model.rows == "auto" and basket_ids is not None)
        row_col = _B if on_baskets else _U
        n_rows = len(basket_ids) if on_baskets and basket_ids is not None else len(user_ids)
        # X's entries as the local fit prepares them: float32 sums, or 1 with binary
        cells = log.groupBy(row_col, _I).agg(F.sum(_W).alias(_W))
        value = F.lit(1.0) if model.binary else F.col(_W).cast("float").cast("double")
        cells = cells.select(F.col(row_col).alias("r"), F.col(_I).alias("i"), value.alias("x"))
        gramian = _SparkGramian(cells, n_rows, len(item_ids))
        model.fit_from_gramian(data, gramian)
    finally:
        if gramian is not None:
            gramian.release()
        log.unpersist()
    return model


class _SparkGramian:
    """``XᵀX`` summed on Spark on first call; a new dense float32 array for every call.

    ``cells`` holds X's entries as ``r, i, x`` (row, item, value).  The
    diagonal and the pairs ``a < b`` (summed in float64 on Spark, rounded to
    float32 once) are kept as triplets (12 bytes a pair), so ``l2="auto"``'s
    repeated fits get a fresh Gramian without a third ``items²`` array.
    """

    def __init__(self, cells: DataFrame, n_rows: int, n_items: int) -> None:
        self.cells = cells
        self.n_rows = n_rows
        self.n_items = n_items
        self.sums: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self.calls = 0

    def __call__(self, X: sp.csr_matrix) -> np.ndarray:
        if X.shape != (self.n_rows, self.n_items):
            raise RuntimeError(  # pragma: no cover - fit asks only for its own rows' Gramian
                f"the Gramian summed on Spark is of {self.n_rows} rows x {self.n_items} items, "
                f"asked for {X.shape[0]} x {X.shape[1]}"
            )
        if self.sums is None:
            self.sums = self._sum()
        a, b, s, diagonal = self.sums
        n = self.n_items
        out = np.zeros((n, n), dtype=np.float32)
        out[a, b] = s
        out[b, a] = s
        out[np.arange(n), np.arange(n)] = diagonal
        self.calls += 1
        return out

    def _sum(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from pyspark.sql import functions as F

        cells = self.cells.cache()
        try:
            diag_table = cells.groupBy("i").agg(F.sum(F.col("x") * F.col("x")).alias("d"))
            diag_table = diag_table.toArrow()
            diagonal = np.zeros(self.n_items, dtype=np.float32)
            diagonal[arrow_column(diag_table, "i").astype(np.int64)] = arrow_column(
                diag_table, "d"
            ).astype(np.float32)
            left = cells.select("r", F.col("i").alias("a"), F.col("x").alias("xa"))
            right = cells.select("r", F.col("i").alias("b"), F.col("x").alias("xb"))
            pairs = (
                left.join(right, "r")
                .filter(F.col("a") < F.col("b"))
                .groupBy("a", "b")
                .agg(F.sum(F.col("xa") * F.col("xb")).alias("s"))
                .toArrow()
            )
        finally:
            cells.unpersist()
        return (
            arrow_column(pairs, "a").astype(np.int32),
            arrow_column(pairs, "b").astype(np.int32),
            arrow_column(pairs, "s").astype(np.float32),
            diagonal,
        )

    def release(self) -> None:
        """Drop the sums (the model holds its weights; the Gramian is no longer needed)."""
        self.sums = None
