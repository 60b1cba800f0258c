"""/score_batch read column by column answers and refuses exactly as the per-application pydantic path did."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import bentoml
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from credit_scoring.schema import ID_COLUMN, TARGET_COLUMN, example_application
from credit_scoring.scoring import Scorer
from credit_scoring.serving.api_models import BatchRequest
from credit_scoring.serving.bento_model import load_scorer
from credit_scoring.serving.guards import clear_body
from credit_scoring.settings import get_settings
from credit_scoring.validation import application_to_record
from tests.support.registry import TinyRegistration
from tests.support.tiny_model import as_json_rows

pytestmark = pytest.mark.integration

EXAMPLE = example_application()
WITHOUT_EXT_SOURCE_1 = {k: v for k, v in EXAMPLE.items() if k != "EXT_SOURCE_1"}
QUIRKS = [
    EXAMPLE | {"DAYS_EMPLOYED": 365243, "NAME_INCOME_TYPE": "Pensioner"},
    EXAMPLE | {"CODE_GENDER": "XNA", "ORGANIZATION_TYPE": "XNA", "NAME_FAMILY_STATUS": "Unknown"},
    EXAMPLE | {"EXT_SOURCE_1": math.nan, "OCCUPATION_TYPE": math.nan},  # NaN as pandas and json write it
    EXAMPLE | {"EXT_SOURCE_1": None, ID_COLUMN: None},
    WITHOUT_EXT_SOURCE_1,
    EXAMPLE | {"CNT_CHILDREN": 2.0, "FLAG_DOCUMENT_3": 1.0, "AMT_INCOME_TOTAL": 202500},
    EXAMPLE | {TARGET_COLUMN: 1, ID_COLUMN: 100_003},
    dict(reversed(list(EXAMPLE.items()))),  # another key order
]


def _body(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


VALID = {
    "the worked example": [EXAMPLE],
    "real-data quirks": QUIRKS,
    "an id sent as 7.0 (read by the model)": [EXAMPLE | {ID_COLUMN: 7.0}, EXAMPLE],
    "an id beyond 64 bits": [EXAMPLE | {ID_COLUMN: 2**70}],
}
INVALID = {
    "a value out of range": {"applications": [EXAMPLE, EXAMPLE | {"AMT_CREDIT": 0}]},
    "several problems": {"applications": [EXAMPLE | {"DAYS_BIRTH": 10, "CODE_GENDER": "U"}] * 3},
    "a missing field": {"applications": [{k: v for k, v in EXAMPLE.items() if k != "AMT_CREDIT"}]},
    "an unknown field": {"applications": [EXAMPLE | {"SALARY": 1}]},
    "text for a number": {"applications": [EXAMPLE | {"AMT_CREDIT": "a lot"}]},
    "a boolean for a flag": {"applications": [EXAMPLE | {"FLAG_MOBIL": True}]},
    "NaN where a value is required": {"applications": [EXAMPLE | {"AMT_CREDIT": math.nan}]},
    "an infinite amount": {"applications": [EXAMPLE | {"AMT_CREDIT": math.inf}]},
    "a fractional count": {"applications": [EXAMPLE | {"CNT_CHILDREN": 1.5}]},
    "a target as text": {"applications": [EXAMPLE | {TARGET_COLUMN: "1"}]},
    "an application that is not an object": {"applications": [EXAMPLE, "yes"]},
    "an empty batch": {"applications": []},
    "a batch over the limit": {"applications": [EXAMPLE] * 1001},
    "applications not a list": {"applications": EXAMPLE},
    "an unknown top-level key": {"applications": [EXAMPLE], "debug": True},
    "an empty object": {},
    "an empty body": b"",
    "a body that is not JSON": b"{oops",
}


@pytest.fixture(scope="module")
def scorer(bento_model: bentoml.Model) -> Scorer:
    """The served model, loaded as the service loads it."""
    return load_scorer(Path(bento_model.path), bento_model.info.metadata, get_settings().scoring_engine)


def answered_before(body: bytes, scorer: Scorer) -> tuple[int, Any]:
    """What /score_batch answered before: the whole body through the BatchRequest model, each validated
    application's record scored, and a refusal rewritten by the guards from BentoML's 400."""
    try:
        request = BatchRequest.model_validate_json(body or b"{}")  # BentoML reads an empty body as {}
    except ValidationError as error:
        detail = error.errors(include_context=False, include_input=False)
        return 400, clear_body(json.dumps({"error": str(error), "detail": detail}).encode())
    scores = scorer.score([application_to_record(application) for application in request.applications])
    answers = [
        {"probability": s.probability, "decision": s.decision, "client_reference": getattr(a, ID_COLUMN)}
        for s, a in zip(scores, request.applications, strict=True)
    ]
    return 200, answers


def answered_now(client: TestClient, body: bytes) -> tuple[int, Any]:
    response = client.post("/score_batch", content=body, headers={"Content-Type": "application/json"})
    answer = response.json()
    if response.status_code == 200:
        answer = [{k: a[k] for k in ("probability", "decision", "client_reference")} for a in answer]
    return response.status_code, answer


@pytest.mark.parametrize("applications", VALID.values(), ids=VALID.keys())
def test_valid_batches_get_the_same_answers(
    api_client: TestClient, scorer: Scorer, applications: list[dict]
) -> None:
    body = _body({"applications": applications})
    assert answered_now(api_client, body) == answered_before(body, scorer)


def test_synthetic_rows_get_the_same_answers(
    api_client: TestClient, scorer: Scorer, registered_model: TinyRegistration
) -> None:
    body = _body({"applications": as_json_rows(registered_model.inputs.head(200))})
    status, answers = answered_now(api_client, body)
    assert (status, answers) == answered_before(body, scorer)
    assert len({a["probability"] for a in answers}) > 20  # real, varied scores


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
def test_invalid_batches_get_the_same_errors(api_client: TestClient, scorer: Scorer, body: Any) -> None:
    status, error = answered_now(api_client, _body(body))
    assert (status, error) == answered_before(_body(body), scorer)
    assert status == 400 and error["errors"], error


def test_every_answer_has_its_own_request_id(api_client: TestClient) -> None:
    answers = api_client.post("/score_batch", json={"applications": [EXAMPLE] * 50}).json()
    assert len({answer["request_id"] for answer in answers}) == 50
    assert {answer["model_name"] for answer in answers} == {"credit-scoring"}
