"""Integration fixtures: the service in process. The tiny registered model and its stores
(``registered_model``, ``bento_model``, ``store_env``) come from ``tests.support.model_fixtures``."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import bentoml
import pytest
from starlette.testclient import TestClient

from tests.support.model_fixtures import REPO_ROOT, TINY_THRESHOLD

__all__ = ["TINY_THRESHOLD"]


@pytest.fixture(scope="session")
def api_client(bento_model: bentoml.Model) -> Iterator[TestClient]:
    """The service in process (model loaded once, guards and batching included), as clients call it."""
    sys.path.insert(0, str(REPO_ROOT))
    from bento.service import CreditScoring

    with TestClient(CreditScoring.to_asgi()) as client:
        yield client
