"""The ONNX files logged as extra files of the MLflow model travel with the registered version."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from credit_scoring.cost import CostWeights
from credit_scoring.fastpath.export import export_onnx, read_onnx_bytes
from credit_scoring.schema import INPUT_COLUMNS, TARGET_COLUMN
from tests.support.registry import PIP_REQUIREMENTS, scratch_store, tracking
from tests.support.tiny_model import fit_tiny_pipeline, tiny_applications

pytestmark = pytest.mark.integration


def test_registered_version_downloads_with_its_onnx_model(tmp_path: Path) -> None:
    frame = tiny_applications(rows=400, seed=12)
    pipeline = fit_tiny_pipeline(frame, seed=12)
    exported = export_onnx(
        pipeline, frame.loc[:, [*INPUT_COLUMNS, TARGET_COLUMN]], 0.4, CostWeights(), seed=3
    )
    uri = scratch_store(tmp_path / "mlflow")
    with tracking(uri):
        experiment = mlflow.create_experiment("onnx", artifact_location=(tmp_path / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            logged = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                serialization_format="cloudpickle",
                pip_requirements=PIP_REQUIREMENTS,
                extra_files=[str(path) for path in exported.write(tmp_path / "onnx")],
            )
        version = mlflow.register_model(logged.model_uri, "credit-scoring-onnx").version
        local = mlflow.artifacts.download_artifacts(
            f"models:/credit-scoring-onnx/{version}", dst_path=str(tmp_path / "dl")
        )
    assert read_onnx_bytes(Path(local)) == exported.onnx_bytes
