"""A tiny model registered in a scratch MLflow store exactly as the training job does (contract only)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient

from credit_scoring.cost import CostWeights
from credit_scoring.fastpath.export import export_onnx
from credit_scoring.monitoring.profiles import build_profile, write_profile
from credit_scoring.schema import INPUT_COLUMNS, TARGET_COLUMN
from credit_scoring.training.model import model_signature
from tests.support.tiny_model import fit_tiny_pipeline, tiny_applications

MODEL_NAME = "credit-scoring"
ALIAS = "production"
# Listing requirements skips MLflow's requirement inference, which costs seconds per logged model.
PIP_REQUIREMENTS = ["scikit-learn==1.9.1", "lightgbm==4.7.0", "pandas==3.1.1", "cloudpickle==3.1.2"]


@dataclass(frozen=True)
class TinyRegistration:
    """One registered version: where it lives, what it was trained on, and its lineage tags."""

    tracking_uri: str
    version: str
    run_id: str
    threshold: float
    frame: pd.DataFrame

    @property
    def inputs(self) -> pd.DataFrame:
        return self.frame.drop(columns=[TARGET_COLUMN])


@contextlib.contextmanager
def tracking(uri: str) -> Iterator[None]:
    """Point MLflow's global client at ``uri`` for the block only (other tests keep their store)."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def scratch_store(folder: Path) -> str:
    """A fresh SQLite tracking URI with its artifact folder inside ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def _experiment(client: MlflowClient, folder: Path) -> str:
    found = client.get_experiment_by_name("credit-scoring-tests")
    if found is not None:
        return found.experiment_id
    return client.create_experiment("credit-scoring-tests", artifact_location=(folder / "artifacts").as_uri())


def _log_reference(frame: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference_profile.bin"
        write_profile(build_profile(frame), path)
        mlflow.log_artifact(str(path), "reference")


def register_tiny_model(
    tracking_uri: str,
    seed: int,
    threshold: float,
    rows: int = 400,
    promote: bool = True,
    onnx_seed: int | None = None,
) -> TinyRegistration:
    """Fit, log (cloudpickle, pyfunc = predict_proba), register with lineage tags, and set @production.

    ``onnx_seed`` ships the ONNX model of another fit (a broken version: its engines disagree)."""
    frame = tiny_applications(rows=rows, seed=seed)
    pipeline = fit_tiny_pipeline(frame, seed=seed)
    onnx_frame = frame if onnx_seed is None else tiny_applications(rows=rows, seed=onnx_seed)
    onnx_pipeline = pipeline if onnx_seed is None else fit_tiny_pipeline(onnx_frame, seed=onnx_seed)
    folder = Path(tracking_uri.removeprefix("sqlite:///")).parent
    with tracking(tracking_uri):
        client = MlflowClient(tracking_uri)
        # As training does: the ONNX model (the service's default engine) ships as extra files.
        exported = export_onnx(
            onnx_pipeline, onnx_frame.loc[:, [*INPUT_COLUMNS, TARGET_COLUMN]], threshold, CostWeights(), seed
        )
        with (
            tempfile.TemporaryDirectory() as onnx_folder,
            mlflow.start_run(experiment_id=_experiment(client, folder)) as run,
        ):
            logged = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                serialization_format="cloudpickle",
                signature=model_signature(),
                pyfunc_predict_fn="predict_proba",
                pip_requirements=PIP_REQUIREMENTS,
                extra_files=[str(path) for path in exported.write(Path(onnx_folder))],
            )
            _log_reference(frame.drop(columns=[TARGET_COLUMN]))
        tags = {
            "threshold": f"{threshold:.6g}",
            "run_id": run.info.run_id,
            "data_sha256": f"tiny-seed-{seed}",
            "git_commit": "test",
            "onnx_parity": "passed" if exported.parity.passed else "failed",
        }
        version = mlflow.register_model(logged.model_uri, MODEL_NAME, tags=tags).version
        if promote:
            client.set_registered_model_alias(MODEL_NAME, ALIAS, version)
    return TinyRegistration(tracking_uri, str(version), run.info.run_id, threshold, frame)


def pyfunc_probabilities(registration: TinyRegistration, frame: pd.DataFrame) -> list[float]:
    """P(default) from ``mlflow.pyfunc`` on the aliased version: the registry's own answer, for parity."""
    with tracking(registration.tracking_uri):
        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{ALIAS}")
        return [float(p) for p in model.predict(frame)[:, 1]]
