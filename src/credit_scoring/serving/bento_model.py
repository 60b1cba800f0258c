"""The model as stored in BentoML: its files, its metadata, and loading it as a Scorer (no MLflow)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import yaml
from sklearn.pipeline import Pipeline

from credit_scoring.errors import ModelError
from credit_scoring.fastpath.engines import DEFAULT_ENGINE, load_probability_model
from credit_scoring.fastpath.export import read_onnx_bytes
from credit_scoring.model_layout import MLFLOW_MODEL_DIR
from credit_scoring.scoring import Scorer

BENTO_MODEL_NAME = "credit-scoring"
# The @challenger, when one was packed: its MLflow model in this subfolder of the Bento model, its own
# card (registry version, threshold, run) under this metadata key.
CHALLENGER_DIR = "challenger"
CHALLENGER_KEY = "challenger"
PICKLE_FORMATS = ("cloudpickle", "pickle")


class ModelFormatError(ModelError, RuntimeError):
    """The stored model cannot be loaded by the service (wrong flavour or serialisation)."""


@dataclass(frozen=True)
class ModelCard:
    """What the Bento model's metadata says about the model it carries."""

    registry_name: str
    registry_version: str
    threshold: float
    run_id: str
    metadata: Mapping[str, Any]

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> ModelCard:
        return cls(
            registry_name=str(metadata["registry_name"]),
            registry_version=str(metadata["registry_version"]),
            threshold=float(metadata["threshold"]),
            run_id=str(metadata["run_id"]),
            metadata=dict(metadata),
        )


def load_pipeline(model_dir: Path) -> Pipeline:
    """The fitted sklearn Pipeline from a copied MLflow sklearn model directory."""
    mlmodel_path = model_dir / MLFLOW_MODEL_DIR / "MLmodel"
    flavor = yaml.safe_load(mlmodel_path.read_text()).get("flavors", {}).get("sklearn")
    if flavor is None:
        raise ModelFormatError(f"{mlmodel_path} has no sklearn flavour: log the model with mlflow.sklearn")
    serialization = flavor.get("serialization_format", "cloudpickle")
    if serialization not in PICKLE_FORMATS:
        raise ModelFormatError(
            f"model serialised as {serialization!r}; log it with serialization_format='cloudpickle'"
        )
    with (model_dir / MLFLOW_MODEL_DIR / flavor["pickled_model"]).open("rb") as handle:
        return cloudpickle.load(handle)


def load_scorer(model_dir: Path, metadata: Mapping[str, Any], engine: str = DEFAULT_ENGINE) -> Scorer:
    """A ready Scorer from a Bento model's directory and metadata (threshold and version travel with it).

    ``engine`` is ``settings.scoring_engine``: ``onnx`` serves the ONNX model training shipped with the
    version (only when its parity check passed), ``native`` the LightGBM booster.
    """
    card = ModelCard.from_metadata(metadata)
    pipeline = load_pipeline(model_dir)
    model = load_probability_model(engine, pipeline, onnx_model_bytes(model_dir, engine, card))
    return Scorer(
        pipeline,
        threshold=card.threshold,
        version=card.registry_version,
        name=card.registry_name,
        model=model,
    )


def onnx_model_bytes(model_dir: Path, engine: str, card: ModelCard) -> bytes | None:
    """The shipped ONNX model when the engine needs it; converting at start-up instead would serve an
    unchecked model, so a missing or failed export is an error that says how to get out of it."""
    if engine != "onnx":
        return None
    onnx_bytes = read_onnx_bytes(model_dir / MLFLOW_MODEL_DIR)
    if onnx_bytes is None:
        raise ModelFormatError(
            f"{card.registry_name} version {card.registry_version} has no ONNX model that passed its parity "
            "check: retrain it with registry/train.py (then promote, import and rebuild the Bento), "
            "or serve the LightGBM booster with CREDIT_SCORING_ENGINE=native"
        )
    return onnx_bytes


def challenger_card(metadata: Mapping[str, Any]) -> ModelCard | None:
    """What the Bento model says about the challenger it carries (None: packed without one)."""
    found = metadata.get(CHALLENGER_KEY)
    return ModelCard.from_metadata(found) if found else None


def load_challenger(
    model_dir: Path, metadata: Mapping[str, Any], engine: str = DEFAULT_ENGINE
) -> Scorer | None:
    """The packed challenger as a Scorer on the service's engine (None when the Bento carries none)."""
    card = challenger_card(metadata)
    if card is None:
        return None
    return load_scorer(model_dir / CHALLENGER_DIR, card.metadata, engine)
