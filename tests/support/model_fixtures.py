"""Session fixtures shared by the integration and end-to-end suites: one tiny model, registered once.

A pytest plugin (``pytest_plugins`` in the root conftest): fixtures imported into a test module by name
would be new fixtures there, and the session-scoped model would be trained and imported a second time.
``registered_model`` (MLflow, alias @production), ``bento_model`` (imported into the session's scratch
BENTOML_HOME), ``store_env`` (the same stores for subprocesses: build, serve).
"""

from __future__ import annotations

import os
from pathlib import Path

import bentoml
import pytest

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
