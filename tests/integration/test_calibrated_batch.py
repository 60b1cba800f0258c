"""Batch scoring (local and Spark) of a calibrated model returns the calibrated probability of default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from credit_scoring.batch.local import score_file_locally
from credit_scoring.batch.model import BatchModel
from credit_scoring.batch.spark import score_file_on_spark, spark_session
from credit_scoring.fastpath.onnx_export import convert_classifier_to_onnx
from credit_scoring.fastpath.parity import MAX_PROBABILITY_DIFFERENCE
from credit_scoring.schema import TARGET_COLUMN
from credit_scoring.training.calibrate import calibrated_pipeline, fit_sigmoid, raw_scores
from credit_scoring.training.dataset import inputs
from tests.support.batch_files import write_csv
from tests.support.tiny_model import fit_tiny_pipeline, tiny_applications

pytestmark = pytest.mark.integration

MASTER = "local[2]"
CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
}


@pytest.fixture(scope="module")
def applications() -> pd.DataFrame:
    return tiny_applications(1_200, seed=17)


@pytest.fixture(scope="module")
def trees(applications: pd.DataFrame) -> Pipeline:
    return fit_tiny_pipeline(applications.iloc[:400], seed=17)


@pytest.fixture(scope="module")
def calibrated(trees: Pipeline, applications: pd.DataFrame) -> Pipeline:
    held = applications.iloc[400:800]  # rows the trees did not fit, as training does
    return calibrated_pipeline(trees, fit_sigmoid(raw_scores(trees, inputs(held)), held[TARGET_COLUMN]))


@pytest.fixture(scope="module")
def scored_file(applications: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Every row valid: Spark once failed on a chunk without refusals (a float "reasons" column).
    return write_csv(inputs(applications.iloc[800:]), tmp_path_factory.mktemp("calibrated") / "in.csv")


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    session = spark_session(MASTER, CONF)
    yield session
    session.stop()


def _scores(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path).sort_values("row", ignore_index=True)


def test_local_and_spark_batches_return_the_calibrated_probability(
    spark: object, trees: Pipeline, calibrated: Pipeline, applications: pd.DataFrame, scored_file: Path
) -> None:
    model = BatchModel("credit-scoring", "1", 0.09, convert_classifier_to_onnx(calibrated))
    out = scored_file.parent
    score_file_locally(scored_file, out / "local.parquet", out / "local.csv", model, show_progress=False)
    score_file_on_spark(
        str(scored_file), str(out / "spark.parquet"), str(out / "spark.csv"), model, MASTER, CONF
    )
    local_scores, spark_scores = _scores(out / "local.parquet"), _scores(out / "spark.parquet")
    assert local_scores["row"].tolist() == spark_scores["row"].tolist() and len(local_scores) == 400
    rows = inputs(applications.iloc[800:]).iloc[local_scores["row"].to_numpy() - 1]
    expected = calibrated.predict_proba(rows)[:, 1]
    local, on_spark = local_scores["probability"].to_numpy(), spark_scores["probability"].to_numpy()
    assert np.max(np.abs(local - expected)) < MAX_PROBABILITY_DIFFERENCE
    assert np.max(np.abs(on_spark - local)) <= 1e-6
    # The class-weighted trees alone answer far more than the default rate; the batch does not.
    assert trees.predict_proba(rows)[:, 1].mean() > 2 * local.mean()
    assert local.mean() == pytest.approx(applications[TARGET_COLUMN].mean(), rel=0.35)
