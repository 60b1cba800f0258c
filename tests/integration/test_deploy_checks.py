"""The deploy controller's candidate checks against the real service (in process, the session's model)."""

from __future__ import annotations

import bentoml
import pytest
from starlette.testclient import TestClient

from credit_scoring.deployment.checks import CheckFailed, onnx_parity, probe, smoke_score
from tests.support.registry import TinyRegistration

pytestmark = pytest.mark.integration


def test_a_sound_candidate_passes_the_probes_the_smoke_score_and_onnx_parity(
    api_client: TestClient, bento_model: bentoml.Model, registered_model: TinyRegistration
) -> None:
    probe(api_client)
    answer = smoke_score(api_client, registered_model.version)
    assert answer["decision"] in {"grant", "refuse"}
    gap = onnx_parity(api_client, bento_model, registered_model.version, rows=300, tolerance=1e-5)
    assert 0 <= gap <= 1e-5


def test_parity_fails_when_the_engines_disagree_beyond_the_tolerance(
    api_client: TestClient, bento_model: bentoml.Model, registered_model: TinyRegistration
) -> None:
    # ONNX computes in float32: against the native booster it differs by ~1e-7, never by less than 1e-15.
    with pytest.raises(CheckFailed, match="ONNX parity failed"):
        onnx_parity(api_client, bento_model, registered_model.version, rows=300, tolerance=1e-15)


def test_an_answer_from_another_version_fails_the_checks(
    api_client: TestClient, bento_model: bentoml.Model, registered_model: TinyRegistration
) -> None:
    other = str(int(registered_model.version) + 1)
    with pytest.raises(CheckFailed, match=f"expected {other}"):
        smoke_score(api_client, other)
    with pytest.raises(CheckFailed, match=f"expected {other}"):
        onnx_parity(api_client, bento_model, other, rows=20, tolerance=1e-5)
