"""One local Spark session for every Spark test (JVM start-up is ~10-20 s: paid once)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("pyarrow")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """``local[2]``, 4 shuffle partitions, UI off, workers on this interpreter, UTC."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("recsys-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def to_spark(spark: Any) -> Any:
    """Turn a pandas DataFrame into a Spark one (through Arrow: the same types)."""
    import pyarrow as pa

    def convert(frame: pd.DataFrame) -> Any:
        return spark.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False))

    return convert
