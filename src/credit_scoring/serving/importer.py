"""Import ``models:/<name>@<alias>`` from the MLflow registry into BentoML's model store, with lineage."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bentoml
import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from credit_scoring.model_layout import MLFLOW_MODEL_DIR, REFERENCE_PROFILE_ARTIFACT
from credit_scoring.registry import RegistryError, version_by_alias, version_threshold
from credit_scoring.schema import example_application
from credit_scoring.scoring import Scorer
from credit_scoring.serving.bento_model import (
    BENTO_MODEL_NAME,
    CHALLENGER_DIR,
    CHALLENGER_KEY,
    ModelFormatError,
    load_scorer,
)

# The ONNX and native engines must agree on the worked example before a model enters the Bento store.
ENGINE_TOLERANCE = 1e-5

# Lineage tags the training job writes on every registered version (the threshold is read on its own).
PROVENANCE_TAGS = ("data_sha256", "git_commit")


def find_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion:
    """The version an alias points to, or a RegistryError naming the commands that set it."""
    version = version_by_alias(client, name, alias)
    if version is None:
        raise RegistryError(
            f"no version of model {name!r} carries the alias @{alias} in {client.tracking_uri}: "
            "train and promote one first (make train && make promote), or set MLFLOW_TRACKING_URI"
        )
    return version


def bento_metadata(version: ModelVersion, alias: str, feature_names: list[str], reference: bool) -> dict:
    """What the Bento model keeps about its origin: registry version, run, threshold, data and code."""
    return {
        "registry_name": version.name,
        "registry_version": str(version.version),
        "alias": alias,
        "model_uri": f"models:/{version.name}/{version.version}",
        "source": str(version.source),
        "run_id": str(version.run_id),
        "threshold": version_threshold(version),
        "feature_names": feature_names,
        **{tag: str(version.tags.get(tag, "unknown")) for tag in PROVENANCE_TAGS},
        "registry_tags": {key: str(value) for key, value in version.tags.items()},
        "registered_at": _timestamp(version.creation_timestamp),
        "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference_profile": REFERENCE_PROFILE_ARTIFACT if reference else "",
        "mlflow_model_dir": MLFLOW_MODEL_DIR,
    }


def _timestamp(milliseconds: int | None) -> str:
    if not milliseconds:
        return ""
    return datetime.fromtimestamp(milliseconds / 1000, UTC).isoformat(timespec="seconds")


def _download_model(client: MlflowClient, version: ModelVersion, target: Path) -> Path:
    # The registry's download URI points at the logged model's own artifacts (MLflow 3 LoggedModel), so
    # it works whatever run folder layout the training job used.
    uri = client.get_model_version_download_uri(version.name, version.version)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=uri, dst_path=str(target), tracking_uri=client.tracking_uri
    )
    return Path(local)


def _download_reference(client: MlflowClient, run_id: str, target: Path) -> Path | None:
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path=REFERENCE_PROFILE_ARTIFACT,
            dst_path=str(target),
            tracking_uri=client.tracking_uri,
        )
    except (MlflowException, OSError):
        return None
    return Path(local)


def _stage(client: MlflowClient, version: ModelVersion, staging: Path) -> tuple[Path, Path | None]:
    """Download the model and the reference profile, laid out exactly as in the Bento model directory."""
    staged = staging / "model"
    shutil.copytree(_download_model(client, version, staging / "download"), staged / MLFLOW_MODEL_DIR)
    reference = _download_reference(client, str(version.run_id), staging / "reference-download")
    if reference is not None:
        (staged / REFERENCE_PROFILE_ARTIFACT).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(reference, staged / REFERENCE_PROFILE_ARTIFACT)
    return staged, reference


def import_production_model(
    tracking_uri: str, name: str, alias: str, challenger_alias: str | None = None
) -> bentoml.Model:
    """Copy the aliased registry version into a new BentoML model ``credit-scoring:<generated version>``,
    with the ``challenger_alias`` version (when one carries it) in its ``challenger/`` subfolder.

    Each copy is smoke-tested (loaded and used to score the worked example, both engines) before it is
    saved, so a Bento is never built around a model the service could not load. Every import creates a
    new store entry, so ``credit-scoring:latest`` is always the model just imported, also after a rollback.
    One model carries the serving set: a Bento with or without a challenger builds from the same bentofile.
    """
    client = MlflowClient(tracking_uri=tracking_uri)
    version = find_alias(client, name, alias)
    challenger = version_by_alias(client, name, challenger_alias) if challenger_alias else None
    with tempfile.TemporaryDirectory(prefix="credit-import-") as tmp:
        staged, reference = _stage(client, version, Path(tmp))
        scorer = smoke_test(staged, _card(version))
        metadata = bento_metadata(version, alias, list(scorer.feature_names), reference is not None)
        labels = {"registry_version": str(version.version), "alias": alias, "run_id": str(version.run_id)}
        if challenger is not None:
            metadata[CHALLENGER_KEY] = _stage_challenger(client, challenger, challenger_alias, staged)  # type: ignore[arg-type]
            metadata["challenger_version"] = labels["challenger_version"] = str(challenger.version)
        with bentoml.models.create(BENTO_MODEL_NAME, labels=labels, metadata=metadata) as model:
            shutil.copytree(staged, model.path, dirs_exist_ok=True)
    return bentoml.models.get(model.tag)


def _stage_challenger(client: MlflowClient, version: ModelVersion, alias: str, staged: Path) -> dict:
    """Download the challenger into ``staged/challenger/``, smoke-test it like the champion; its metadata."""
    folder = staged / CHALLENGER_DIR
    download = staged.parent / "challenger-download"
    shutil.copytree(_download_model(client, version, download), folder / MLFLOW_MODEL_DIR)
    scorer = smoke_test(folder, _card(version))
    return bento_metadata(version, alias, list(scorer.feature_names), reference=False)


def _card(version: ModelVersion) -> dict[str, Any]:
    return {**_minimal_metadata(version), "threshold": version_threshold(version)}


def smoke_test(staged: Path, metadata: dict[str, Any]) -> Scorer:
    """Load the staged model with both engines and check they agree on the worked example.

    A version without a passed ONNX export (promoted with --force) is still imported: the service then
    refuses to start on the default engine with a message naming CREDIT_SCORING_ENGINE=native.
    """
    application = example_application()
    native = load_scorer(staged, metadata, "native")
    expected = float(native.probabilities([application])[0])
    try:
        onnx = load_scorer(staged, metadata, "onnx")
    except ModelFormatError:
        return native
    served = float(onnx.probabilities([application])[0])
    if abs(served - expected) >= ENGINE_TOLERANCE:
        raise RegistryError(
            f"version {metadata['registry_version']}: ONNX gives {served:.8f} and LightGBM {expected:.8f} on "
            f"the worked example (tolerance {ENGINE_TOLERANCE:g}); retrain it with registry/train.py"
        )
    return native


def _minimal_metadata(version: ModelVersion) -> dict[str, Any]:
    return {"registry_name": version.name, "registry_version": str(version.version), "run_id": version.run_id}
