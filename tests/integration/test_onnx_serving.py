"""The ONNX fast path end to end: the Bento serves the shipped ONNX model; promotion needs its parity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bentoml
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from starlette.testclient import TestClient

from credit_scoring.model_layout import EVALUATION_ARTIFACT
from credit_scoring.registry import ONNX_PARITY_TAG, promote
from credit_scoring.schema import INPUT_COLUMNS, TARGET_COLUMN
from credit_scoring.serving.bento_model import ModelFormatError, load_scorer
from credit_scoring.settings import Settings, get_settings
from tests.support.registry import (
    ALIAS,
    MODEL_NAME,
    TinyRegistration,
    register_tiny_model,
    scratch_store,
    tracking,
)

pytestmark = pytest.mark.integration


def _records(registration: TinyRegistration, rows: int = 40) -> list[dict]:
    """Applications as a client sends them (JSON: missing values are null)."""
    return json.loads(registration.inputs.loc[:, list(INPUT_COLUMNS)].head(rows).to_json(orient="records"))


def test_the_bento_serves_onnx_by_default_and_matches_the_booster(
    bento_model: bentoml.Model, registered_model: TinyRegistration, api_client: TestClient
) -> None:
    path, metadata = Path(bento_model.path), bento_model.info.metadata
    default = load_scorer(path, metadata, get_settings().scoring_engine)
    native = load_scorer(path, metadata, "native")
    assert default.engine == "onnx" and native.engine == "native"
    records = _records(registered_model)
    onnx_probabilities = default.probabilities(records)
    np.testing.assert_allclose(onnx_probabilities, native.probabilities(records), rtol=0, atol=1e-6)
    served = [api_client.post("/score", json={"application": record}).json() for record in records[:5]]
    np.testing.assert_allclose(
        [answer["probability"] for answer in served], onnx_probabilities[:5], rtol=0, atol=1e-12
    )


def test_the_onnx_engine_refuses_a_model_without_a_parity_checked_export(
    bento_model: bentoml.Model, tmp_path: Path
) -> None:
    stripped = tmp_path / "model"
    shutil.copytree(Path(bento_model.path), stripped)
    shutil.rmtree(stripped / "mlflow_model" / "extra_files")
    with pytest.raises(ModelFormatError, match="CREDIT_SCORING_ENGINE=native"):
        load_scorer(stripped, bento_model.info.metadata, "onnx")
    assert load_scorer(stripped, bento_model.info.metadata, "native").engine == "native"


def test_promotion_refuses_a_version_whose_onnx_parity_failed(tmp_path: Path) -> None:
    uri = scratch_store(tmp_path / "mlflow")
    registration = register_tiny_model(uri, seed=5, threshold=0.4, promote=False)
    client = MlflowClient(uri)
    client.set_model_version_tag(MODEL_NAME, registration.version, ONNX_PARITY_TAG, "failed")
    _log_evaluation(registration)
    settings = Settings(tracking_uri_override=uri, model_name=MODEL_NAME, production_alias=ALIAS)
    with tracking(uri):
        refused = promote(settings, version=registration.version)
        assert refused.outcome == "refused" and not refused.promoted
        assert "onnx_parity=failed" in refused.reason and "--force" in refused.reason
        assert client.get_registered_model(MODEL_NAME).aliases == {}
        tags = client.get_model_version(MODEL_NAME, registration.version).tags
        assert tags["promotion_decision"] == "refused"
        forced = promote(settings, version=registration.version, force=True)
    assert forced.promoted
    assert str(client.get_model_version_by_alias(MODEL_NAME, ALIAS).version) == registration.version


def _log_evaluation(registration: TinyRegistration) -> None:
    """The held-out table promotion evaluates a first production model on (training logs it)."""
    table = registration.frame.loc[:, [*INPUT_COLUMNS, TARGET_COLUMN]]
    with tracking(registration.tracking_uri), mlflow.start_run(run_id=registration.run_id):
        folder = Path(registration.tracking_uri.removeprefix("sqlite:///")).parent / "eval"
        folder.mkdir(exist_ok=True)
        path = folder / Path(EVALUATION_ARTIFACT).name
        table.to_parquet(path, index=True)
        mlflow.log_artifact(str(path), Path(EVALUATION_ARTIFACT).parent.as_posix())
