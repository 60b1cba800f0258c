"""The Spark engine: the local engine's chunk scoring in ``mapInPandas`` tasks, the ONNX model broadcast."""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from credit_scoring.batch.chunks import ROW_COLUMN, ChunkScorer, score_chunk
from credit_scoring.batch.files import check_columns, csv_header, file_format, is_uri, wanted_columns
from credit_scoring.batch.summary import MAX_EXAMPLES, Summary
from credit_scoring.errors import DataError, UsageError
from credit_scoring.fastpath.engines import OnnxScorer
from credit_scoring.schema import ID_COLUMN

if TYPE_CHECKING:  # the tasks import this module: no MLflow (seconds per Python worker), no Spark types
    from pyspark.sql import DataFrame, SparkSession

    from credit_scoring.batch.model import BatchModel

INSTALL_HINT = "install the optional extra: pip install -e '.[spark]' (make venv does)"
# Where each row comes from: with the count of rows per file block, rows are numbered as in the file.
FILE, BLOCK = "_file", "_block"
DEFAULT_CONF = {"spark.ui.showConsoleProgress": "true"}  # Spark's own progress bar, one line per stage


def spark_session(master: str, conf: dict[str, str]) -> SparkSession:
    """A session on ``master``; in local mode the Python workers run this interpreter (this venv)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError(f"--engine spark needs pyspark: {INSTALL_HINT}") from None
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Spark 4.3 warns about pandas 3 on every mapInPandas; the conversions used here are tested.
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    builder = SparkSession.builder.master(master).appName("credit-scoring score-file")
    for key, value in (DEFAULT_CONF | conf).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def score_file_on_spark(
    source: str, out: str, rejects: str, model: BatchModel, master: str, conf: dict[str, str]
) -> Summary:
    """Score ``source`` into ``out`` (a folder of part files) and ``rejects``, as the local engine does."""
    started = time.perf_counter()
    spark = spark_session(master, conf)
    summary = score_with_session(spark, source, out, rejects, model)
    summary.seconds = time.perf_counter() - started
    return summary


def score_with_session(
    spark: SparkSession, source: str, out: str, rejects: str, model: BatchModel
) -> Summary:
    """The job on an existing session (tests share one): read, score, number the rows, write."""
    from pyspark import StorageLevel

    applications = read_applications(spark, source)
    with _malformed_csv_as_data_error():
        scored = applications.mapInPandas(_scoring_task(spark, model), _result_schema(applications))
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)  # read to count, to write twice, to sum up
        try:
            return _write_results(numbered(scored), out, rejects)
        finally:
            scored.unpersist()


@contextmanager
def _malformed_csv_as_data_error() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        if "MALFORMED" in str(error).upper():  # a CSV line with the wrong number of fields (FAILFAST)
            first_line = str(error).strip().splitlines()[0][:300]
            raise DataError(f"{first_line}: the input is not a well-formed CSV file") from None
        raise


def read_applications(spark: SparkSession, source: str) -> DataFrame:
    """The file's application columns (CSV: every cell as text, parsed in the tasks as the local engine
    parses text), plus the file block each row comes from."""
    from pyspark.sql import functions as F

    path = source if is_uri(source) else str(Path(source).resolve())
    if file_format(Path(source), "input") == "csv":
        frame = _read_csv(spark, source, path)
    else:
        frame = spark.read.parquet(path)
    check_columns(frame.columns, source)
    blocks = [F.col("_metadata.file_path").alias(FILE), F.col("_metadata.file_block_start").alias(BLOCK)]
    return frame.select(*wanted_columns(frame.columns), *blocks)


def _read_csv(spark: SparkSession, source: str, path: str) -> DataFrame:
    from pyspark.sql.types import StringType, StructField, StructType

    # FAILFAST: a line with a wrong number of fields is an error, as for the local engine; Spark only
    # counts the fields of every line when it parses them all (no column pruning).
    spark.conf.set("spark.sql.csv.parser.columnPruning.enabled", "false")
    reader = spark.read.options(header=True, mode="FAILFAST", escape='"')
    if not is_uri(source):  # the header read here spares Spark a job to find the column names
        reader = reader.schema(
            StructType([StructField(name, StringType()) for name in csv_header(Path(path))])
        )
    return reader.csv(path)


def _scoring_task(spark: SparkSession, model: BatchModel) -> Any:
    onnx = spark.sparkContext.broadcast(model.onnx_bytes)  # shipped once per executor, not per task
    return partial(score_partition, onnx=onnx, threshold=model.threshold, version=model.version)


def score_partition(
    batches: Iterator[pd.DataFrame], onnx: Any, threshold: float, version: str
) -> Iterator[pd.DataFrame]:
    """One task: each Arrow batch scored by the local engine's ``score_chunk``. A file block is read by
    one task, in order, so a row's position in its block is counted here; ``numbered`` adds the rows
    of the blocks before it."""
    scorer = ChunkScorer(_onnx_scorer(onnx.value).predict_proba, threshold, version)
    seen: Counter[tuple[str, int]] = Counter()
    for batch in batches:
        positions = _block_positions(batch, seen)
        scored = score_chunk(batch.drop(columns=[FILE, BLOCK]), np.arange(len(batch)), scorer).combined()
        located = scored[ROW_COLUMN].to_numpy()  # the batch positions of the scored and refused rows
        scored[FILE], scored[BLOCK] = batch[FILE].to_numpy()[located], batch[BLOCK].to_numpy()[located]
        scored[ROW_COLUMN] = positions[located]
        yield _numpy_backed(scored)


@lru_cache(maxsize=2)
def _onnx_scorer(onnx_bytes: bytes) -> OnnxScorer:
    # One session per Python worker (Spark reuses workers across tasks); one thread, as one task per core.
    return OnnxScorer(onnx_bytes, threads=1)


def _block_positions(batch: pd.DataFrame, seen: Counter[tuple[str, int]]) -> np.ndarray:
    positions = np.empty(len(batch), dtype=np.int64)
    for (file, block), members in batch.groupby([FILE, BLOCK], sort=False).indices.items():
        key = (file, int(block))
        positions[members] = np.arange(seen[key], seen[key] + len(members))
        seen[key] += len(members)
    return positions


def _numpy_backed(frame: pd.DataFrame) -> pd.DataFrame:
    # pyspark 4.3 turns Arrow-backed pandas columns (pandas 3's text) into chunked arrays it cannot
    # batch; plain object columns convert (None and NaN become null).
    extension = [name for name, dtype in frame.dtypes.items() if not isinstance(dtype, np.dtype)]
    return frame.astype(dict.fromkeys(extension, object))


def numbered(scored: DataFrame) -> DataFrame:
    """File row numbers (1 for the first application): rows of the blocks before, in file and byte order,
    plus the position in the block; whatever the partitioning, no second pass over the input."""
    from pyspark.sql import functions as F

    counts = scored.groupBy(FILE, BLOCK).count().orderBy(FILE, BLOCK).collect()
    starts, total = [], 0
    for found in counts:
        starts += [F.lit(f"{found[FILE]}#{found[BLOCK]}"), F.lit(total)]
        total += int(found["count"])
    block = F.concat_ws("#", FILE, F.col(BLOCK).cast("string"))
    first = F.element_at(F.create_map(*starts), block) if starts else F.lit(0)
    return scored.withColumn(ROW_COLUMN, first + F.col(ROW_COLUMN) + 1).drop(FILE, BLOCK)


def _result_schema(applications: DataFrame) -> Any:
    """Scores and rejects in one table (reasons empty for scored rows), with each row's file block."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    ids = [(ID_COLUMN, applications.schema[ID_COLUMN].dataType)] if ID_COLUMN in applications.columns else []
    fields = [(ROW_COLUMN, LongType()), *ids, ("probability", DoubleType()), ("decision", StringType())]
    fields += [("threshold", DoubleType()), ("model_version", StringType()), ("reasons", StringType())]
    fields += [(FILE, StringType()), (BLOCK, LongType())]
    return StructType([StructField(name, kind, True) for name, kind in fields])


def _write_results(result: DataFrame, out: str, rejects: str) -> Summary:
    from pyspark.sql import functions as F

    refused = F.col("reasons").isNotNull()
    ids = [ID_COLUMN] if ID_COLUMN in result.columns else []
    _write(result.where(~refused).drop("reasons"), out)
    _write(result.where(refused).select(ROW_COLUMN, *ids, "reasons"), rejects)
    tally = result.agg(F.count(F.lit(1)).alias("rows"), F.count("reasons").alias("rejected")).first()
    summary = Summary(out, rejects, rows=int(tally["rows"]), rejected=int(tally["rejected"]))
    summary.keep_examples(result.where(refused).orderBy(ROW_COLUMN).limit(MAX_EXAMPLES).toPandas())
    return summary


def _write(frame: DataFrame, path: str) -> None:
    writer = frame.write.mode("overwrite")
    if file_format(Path(path), "output") == "csv":
        writer.option("header", True).option("escape", '"').csv(path)
    else:
        writer.parquet(path)
