"""Shared integration fixtures: a tiny model registered in a scratch MLflow store and in BentoML's store.

Session-scoped and reusable by any integration test: ``registered_model`` (MLflow, alias @production),
``bento_model`` (imported into the session's scratch BENTOML_HOME), ``api_client`` (the service in
process through its ASGI app). Subprocess tests get the same stores through ``store_env``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import bentoml
import pytest
from starlette.testclient import TestClient

from credit_scoring.serving.importer import import_production_model
from tests.support.registry import ALIAS, MODEL_NAME, TinyRegistration, register_tiny_model, scratch_store

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY_THRESHOLD = 0.35


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A scratch MLflow store (SQLite + artifact folder) of this test session."""
    return scratch_store(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(scope="session")
def registered_model(tracking_uri: str) -> TinyRegistration:
    """Version 1 of ``credit-scoring``, a small real LightGBM pipeline, aliased @production."""
    return register_tiny_model(tracking_uri, seed=3, threshold=TINY_THRESHOLD)


@pytest.fixture(scope="session")
def bento_model(registered_model: TinyRegistration) -> bentoml.Model:
    """The @production version imported into the session's BENTOML_HOME as ``credit-scoring:latest``."""
    return import_production_model(registered_model.tracking_uri, MODEL_NAME, ALIAS)


@pytest.fixture(scope="session")
def store_env(registered_model: TinyRegistration) -> dict[str, str]:
    """Environment for subprocesses (build, serve) that must see this session's stores."""
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": registered_model.tracking_uri,
        "BENTOML_DO_NOT_TRACK": "True",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")]),
    }


@pytest.fixture(scope="session")
def api_client(bento_model: bentoml.Model) -> Iterator[TestClient]:
    """The service in process (model loaded once, guards and batching included), as clients call it."""
    sys.path.insert(0, str(REPO_ROOT))
    from bento.service import CreditScoring

    with TestClient(CreditScoring.to_asgi()) as client:
        yield client
