"""Shadow scoring in the service's own ASGI app: a failing challenger or the switch off leave the answer."""

from __future__ import annotations

import re
from pathlib import Path

import bentoml
import pytest

from credit_scoring.serving import runtime
from credit_scoring.serving.bento_model import load_scorer
from tests.integration.test_service_request_log import (
    API_KEY,
    EXAMPLE,
    health,
    service_in_process,
    stored_records,
)
from tests.unit.test_shadow import BrokenModel, failure_count

pytestmark = pytest.mark.integration

CALLS = [("/score", {"application": EXAMPLE}), ("/explain", {"application": EXAMPLE, "top": 3}),
         ("/score_batch", {"applications": [EXAMPLE, EXAMPLE | {"EXT_SOURCE_2": 0.1}]})]  # fmt: skip
REQUEST_ID = re.compile(rb'"request_id":"[0-9a-f]{32}"')


def answers_and_health(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> tuple[list[bytes], dict]:
    with service_in_process(monkeypatch, env) as client:
        responses = [client.post(route, json=body, headers={"X-API-Key": API_KEY}) for route, body in CALLS]
        counters = health(client)
    assert [r.status_code for r in responses] == [200] * len(CALLS)
    return [REQUEST_ID.sub(b"", r.content) for r in responses], counters


def test_a_failing_challenger_or_shadow_off_changes_no_answer_and_stores_nulls(
    bento_model: bentoml.Model, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken_challenger(model_dir: Path, metadata: dict, engine: str):
        own = load_scorer(model_dir, metadata, engine)
        own.model, own.version = BrokenModel(), "99"
        return own

    monkeypatch.setattr(runtime, "load_challenger", broken_challenger)
    before = failure_count("score_batch")
    failing, counted = answers_and_health(monkeypatch, {"CREDIT_DATA_DIR": str(tmp_path / "failing")})
    off, switched_off = answers_and_health(
        monkeypatch, {"CREDIT_DATA_DIR": str(tmp_path / "off"), "CREDIT_SHADOW_ENABLED": "false"}
    )
    assert failing == off  # byte for byte, each answer's own random id aside
    assert counted["shadow"]["failures"] == len(CALLS) and counted["shadow"]["scored"] == 0
    assert "challenger exploded" in counted["shadow"]["last_error"]
    assert failure_count("score_batch") - before == 1  # the Prometheus counter (/metrics when served)
    assert switched_off["shadow"]["enabled"] is False and switched_off["shadow"]["failures"] == 0
    for folder in ("failing", "off"):
        records = stored_records(tmp_path / folder)
        assert len(records) == 4 and (records["status"] == 200).all()
        challenger = records[["challenger_version", "challenger_probability", "challenger_decision"]]
        assert challenger.isna().all().all() and records["probability"].notna().all()
