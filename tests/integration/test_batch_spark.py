"""The Spark engine in local mode gives the local engine's results: same rows, probabilities, rejects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from credit_scoring.batch.local import score_file_locally
from credit_scoring.batch.spark import score_file_on_spark, spark_session
from credit_scoring.errors import DataError
from credit_scoring.schema import ID_COLUMN
from tests.support.batch_files import (
    TinyBatchModel,
    mixed_applications,
    tiny_batch_model,
    write_csv,
    write_parquet,
)

pytestmark = pytest.mark.integration

MASTER = "local[2]"
# Small splits and Arrow batches, so that rows are numbered across several file blocks and batches.
CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.files.maxPartitionBytes": "256k",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "200",
    "spark.sql.shuffle.partitions": "2",
}


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    session = spark_session(MASTER, CONF)  # one session for the module: it takes seconds to start
    yield session
    session.stop()


@pytest.fixture(scope="module")
def model() -> TinyBatchModel:
    return tiny_batch_model()


def _read_folder(folder: Path) -> pd.DataFrame:
    if folder.suffix == ".parquet":
        return pd.read_parquet(folder)
    parts = sorted(folder.glob("part-*.csv"))
    return pd.concat([pd.read_csv(part, dtype={ID_COLUMN: str}) for part in parts], ignore_index=True)


def _both_engines(source: Path, model: TinyBatchModel, folder: Path) -> dict[str, tuple[pd.DataFrame, ...]]:
    local = folder / "local"
    score_file_locally(source, local / "s.parquet", local / "r.csv", model.batch, show_progress=False)
    spark = folder / "spark"
    summary = score_file_on_spark(
        str(source), str(spark / "s.parquet"), str(spark / "r.csv"), model.batch, MASTER, CONF
    )
    results = {}
    for name, read in (("local", pd.read_parquet), ("spark", _read_folder)):
        scores = read(folder / name / "s.parquet").sort_values("row", ignore_index=True)
        rejects = _read_folder(folder / name / "r.csv") if name == "spark" else pd.read_csv(local / "r.csv")
        results[name] = (scores, rejects.sort_values("row", ignore_index=True).astype({ID_COLUMN: str}))
    assert summary.rows == len(results["spark"][0]) + len(results["spark"][1])
    assert summary.rejected == len(results["spark"][1])
    return results


def _assert_same(results: dict[str, tuple[pd.DataFrame, ...]]) -> float:
    (local_scores, local_rejects), (spark_scores, spark_rejects) = results["local"], results["spark"]
    pd.testing.assert_frame_equal(local_rejects, spark_rejects)
    for column in ("row", ID_COLUMN, "decision", "threshold", "model_version"):
        assert local_scores[column].astype(str).tolist() == spark_scores[column].astype(str).tolist(), column
    difference = float((local_scores["probability"] - spark_scores["probability"]).abs().max())
    assert difference <= 1e-6
    return difference


def test_csv_with_text_in_numbers_scores_and_rejects_as_locally(
    spark: object, model: TinyBatchModel, tmp_path: Path
) -> None:
    source = write_csv(mixed_applications(rows=400, seed=4), tmp_path / "applications.csv")
    results = _both_engines(source, model, tmp_path)
    assert len(results["spark"][1]) > 400 and len(results["spark"][0]) > 350
    _assert_same(results)


def test_parquet_scores_and_rejects_as_locally(spark: object, model: TinyBatchModel, tmp_path: Path) -> None:
    source = write_parquet(
        mixed_applications(rows=300, seed=6, text=False), tmp_path / "applications.parquet"
    )
    _assert_same(_both_engines(source, model, tmp_path))


def test_a_malformed_csv_line_is_a_data_error(spark: object, model: TinyBatchModel, tmp_path: Path) -> None:
    source = write_csv(mixed_applications(rows=20, seed=1), tmp_path / "applications.csv")
    lines = source.read_text().splitlines()
    source.write_text("\n".join([*lines[:5], lines[5].rsplit(",", 3)[0], *lines[6:]]) + "\n")
    with pytest.raises(DataError, match="not a well-formed CSV"):
        score_file_on_spark(
            str(source), str(tmp_path / "s.parquet"), str(tmp_path / "r.csv"), model.batch, MASTER, CONF
        )
