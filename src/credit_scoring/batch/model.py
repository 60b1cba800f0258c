"""The @production model as batch scoring needs it: ONNX bytes, threshold and version, from the registry."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from credit_scoring.errors import UnavailableError
from credit_scoring.fastpath.engines import OnnxScorer
from credit_scoring.fastpath.export import EXTRA_FILES_DIR, read_onnx_bytes
from credit_scoring.registry import RegistryError, version_by_alias, version_threshold
from credit_scoring.settings import Settings


class NoProductionModelError(UnavailableError):
    """The registry has no version under the production alias, or not one batch scoring can use."""


@dataclass(frozen=True)
class BatchModel:
    """What scoring a file needs from a registered version; small enough to broadcast to Spark tasks."""

    name: str
    version: str
    threshold: float
    onnx_bytes: bytes

    def scorer(self, threads: int) -> OnnxScorer:
        """The API's default engine (ONNX Runtime) on ``threads`` intra-op threads."""
        return OnnxScorer(self.onnx_bytes, threads)


def production_model(settings: Settings) -> BatchModel:
    """The version ``models:/<name>@production`` points to in the settings' registry (MLFLOW_TRACKING_URI)."""
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    version = _aliased_version(client, settings)
    return _batch_model(client, version)


def challenger_model(settings: Settings) -> BatchModel | None:
    """The version ``models:/<name>@challenger`` points to (scored in shadow), or None when none does."""
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    version = _lookup(client, settings, settings.challenger_alias)
    return None if version is None else _batch_model(client, version)


def _batch_model(client: MlflowClient, version: ModelVersion) -> BatchModel:
    try:
        threshold = version_threshold(version)
    except RegistryError as error:
        raise NoProductionModelError(str(error)) from None
    return BatchModel(version.name, str(version.version), threshold, _onnx_bytes(client, version))


def _lookup(client: MlflowClient, settings: Settings, alias: str) -> ModelVersion | None:
    try:
        return version_by_alias(client, settings.model_name, alias)
    except (MlflowException, OSError) as error:
        raise UnavailableError(
            f"the MLflow registry at {settings.tracking_uri} did not answer ({error}); "
            "check MLFLOW_TRACKING_URI"
        ) from None


def _aliased_version(client: MlflowClient, settings: Settings) -> ModelVersion:
    version = _lookup(client, settings, settings.production_alias)
    if version is None:
        raise NoProductionModelError(
            f"no version of model {settings.model_name!r} carries the alias @{settings.production_alias} "
            f"in {settings.tracking_uri}: run `make train promote`, or point MLFLOW_TRACKING_URI at the "
            "registry that holds it"
        )
    return version


def _onnx_bytes(client: MlflowClient, version: ModelVersion) -> bytes:
    # Only the ONNX model and its parity report are downloaded, not the pickled pipeline.
    uri = f"{client.get_model_version_download_uri(version.name, version.version)}/{EXTRA_FILES_DIR}"
    with tempfile.TemporaryDirectory(prefix="credit-batch-") as folder:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=folder, tracking_uri=client.tracking_uri
            )
        except (MlflowException, OSError):
            local = None
        onnx_bytes = read_onnx_bytes(Path(local).parent) if local else None
    if onnx_bytes is None:
        raise NoProductionModelError(
            f"{version.name} version {version.version} has no ONNX model that passed its parity check, "
            "which batch scoring uses as the API does: retrain and promote (`make train promote`)"
        )
    return onnx_bytes
