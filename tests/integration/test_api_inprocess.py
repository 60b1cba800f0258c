"""The service in process (ASGI test client): contract, registry parity, every bad input as a clear 4xx."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from credit_scoring.schema import ID_COLUMN, example_application
from tests.support.registry import TinyRegistration, pyfunc_probabilities
from tests.support.tiny_model import as_json_rows

pytestmark = pytest.mark.integration

EXAMPLE = example_application()


def test_score_answers_the_contract(api_client: TestClient, registered_model: TinyRegistration) -> None:
    response = api_client.post("/score", json={"application": EXAMPLE})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert set(body) >= {"probability", "decision", "threshold", "model_version", "request_id"}
    assert 0.0 <= body["probability"] <= 1.0
    assert body["decision"] == ("refuse" if body["probability"] >= body["threshold"] else "grant")
    assert body["threshold"] == registered_model.threshold
    assert body["model_version"] == registered_model.version
    assert body["model_name"] == "credit-scoring"
    assert body["client_reference"] == EXAMPLE[ID_COLUMN]
    again = api_client.post("/score", json={"application": EXAMPLE}).json()
    assert again["request_id"] != body["request_id"]
    assert again["probability"] == body["probability"]


def test_client_reference_is_optional(api_client: TestClient) -> None:
    without_id = {k: v for k, v in EXAMPLE.items() if k != ID_COLUMN}
    response = api_client.post("/score", json={"application": without_id})
    assert response.status_code == 200
    assert response.json()["client_reference"] is None


def test_api_probabilities_equal_the_registered_models(
    api_client: TestClient, registered_model: TinyRegistration
) -> None:
    inputs = registered_model.inputs.head(80)
    response = api_client.post("/score_batch", json={"applications": as_json_rows(inputs)})
    assert response.status_code == 200
    served = [answer["probability"] for answer in response.json()]
    assert served == pytest.approx(pyfunc_probabilities(registered_model, inputs), abs=1e-6)
    assert len(set(served)) > 10  # real, varied scores rather than one constant


def test_batch_keeps_order_and_matches_single_scores(api_client: TestClient) -> None:
    scores = (0.9, 0.1, 0.5)
    applications = [EXAMPLE | {"EXT_SOURCE_2": value, ID_COLUMN: i} for i, value in enumerate(scores)]
    batch = api_client.post("/score_batch", json={"applications": applications}).json()
    singles = [api_client.post("/score", json={"application": a}).json() for a in applications]
    assert [answer["client_reference"] for answer in batch] == [0, 1, 2]
    assert [a["probability"] for a in batch] == [s["probability"] for s in singles]
    assert len({a["request_id"] for a in batch}) == 3


def test_real_data_quirks_are_accepted(api_client: TestClient) -> None:
    quirky = EXAMPLE | {
        "DAYS_EMPLOYED": 365243,
        "NAME_INCOME_TYPE": "Pensioner",
        "CODE_GENDER": "XNA",
        "ORGANIZATION_TYPE": "XNA",
        "NAME_FAMILY_STATUS": "Unknown",
        "REGION_RATING_CLIENT_W_CITY": -1,
        "EXT_SOURCE_1": None,
        "OCCUPATION_TYPE": None,
        "TARGET": 1,
    }
    assert api_client.post("/score", json={"application": quirky}).status_code == 200


def test_explain_lists_top_features(api_client: TestClient) -> None:
    response = api_client.post("/explain", json={"application": EXAMPLE, "top": 4})
    assert response.status_code == 200
    body = response.json()
    score = api_client.post("/score", json={"application": EXAMPLE}).json()
    assert body["probability"] == pytest.approx(score["probability"], abs=1e-12)
    assert len(body["contributions"]) == 4
    sizes = [abs(c["contribution"]) for c in body["contributions"]]
    assert sizes == sorted(sizes, reverse=True)


def test_probes_and_documentation(api_client: TestClient) -> None:
    assert api_client.get("/livez").status_code == 200
    assert api_client.get("/readyz").status_code == 200
    assert "swagger" in api_client.get("/").text.lower()
    spec = api_client.get("/docs.json").json()
    for route in ("/score", "/score_batch", "/explain"):
        assert route in spec["paths"]
    request = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request["example"] == {"application": EXAMPLE}
    answer = spec["paths"]["/score"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    answer = spec["components"]["schemas"][answer["$ref"].rsplit("/", 1)[-1]]
    assert {"probability", "decision", "model_version", "request_id"} <= set(answer["properties"])
    assert {"type": "null"} in answer["properties"]["client_reference"]["anyOf"]
    assert api_client.post("/score", json=request["example"]).status_code == 200


def _without(field: str) -> dict[str, Any]:
    return {k: v for k, v in EXAMPLE.items() if k != field}


def _chunked(size: int) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked): the limit must hold while reading."""
    for _ in range(size // 65536 + 1):
        yield b" " * 65536


def _changed(**changes: Any) -> dict[str, Any]:
    """Request arguments for /score with the worked example altered."""
    return {"json": {"application": EXAMPLE | changes}}


PICKLE = {"content-type": "application/vnd.bentoml+pickle"}
FORM = {"content-type": "multipart/form-data"}  # BentoML's form parser failed on it with a 500
INFINITE_CREDIT = json.dumps({"application": EXAMPLE | {"AMT_CREDIT": math.inf}})
BAD_ITEM = {"json": {"applications": [EXAMPLE, EXAMPLE | {"AMT_CREDIT": 0}]}}

BAD_INPUTS = [
    # (case, route, request keyword arguments, status, field named, words of the rule)
    ("missing field", "/score", {"json": {"application": _without("AMT_CREDIT")}}, 400, "AMT_CREDIT",
     "required"),
    ("negative income", "/score", _changed(AMT_INCOME_TOTAL=-1.0), 400, "AMT_INCOME_TOTAL", "between 1 and"),
    ("age of 150", "/score", _changed(DAYS_BIRTH=-150 * 365), 400, "DAYS_BIRTH", "18 to 100 years"),
    ("future birth date", "/score", _changed(DAYS_BIRTH=400), 400, "DAYS_BIRTH", "in the past"),
    ("text for a number", "/score", _changed(AMT_CREDIT="a lot"), 400, "AMT_CREDIT", "must be a number"),
    ("fractional count", "/score", _changed(CNT_CHILDREN=1.5), 400, "CNT_CHILDREN", "whole number"),
    ("unknown level", "/score", _changed(CODE_GENDER="U"), 400, "CODE_GENDER", "one of 'F', 'M', 'XNA'"),
    ("infinite amount", "/score", {"content": INFINITE_CREDIT}, 400, "AMT_CREDIT", "between 1 and"),
    ("unknown field", "/score", _changed(SALARY=1), 400, "SALARY", "not an application field"),
    ("unknown top-level key", "/score", {"json": {"application": EXAMPLE, "debug": True}}, 400, "debug",
     "not part of the request"),
    ("empty body", "/score", {"content": b""}, 400, "application", "the body has no 'application'"),
    ("non-JSON body", "/score", {"content": b"AMT_CREDIT=1000"}, 400, "body", "not valid JSON"),
    ("JSON that is not an object", "/score", {"content": b"[1, 2]"}, 400, "body", "must be a JSON object"),
    ("application not an object", "/score", {"json": {"application": "yes"}}, 400, "application",
     "must be a JSON object"),
    ("bad item in a batch", "/score_batch", BAD_ITEM, 400, "applications[1].AMT_CREDIT", "between 1 and"),
    ("batch over the limit", "/score_batch", {"json": {"applications": [EXAMPLE] * 1001}}, 400,
     "applications", "at most 1000"),
    ("empty batch", "/score_batch", {"json": {"applications": []}}, 400, "applications", "at least 1"),
    ("explain too many features", "/explain", {"json": {"application": EXAMPLE, "top": 10_000}}, 400, "top",
     "less than or equal"),
    ("huge body", "/score", {"content": b" " * (300 * 1024)}, 413, "", "limit for /score is 256 KiB"),
    ("huge chunked body", "/score_batch", {"content": _chunked(9 * 1024 * 1024)}, 413, "",
     "limit for /score_batch is 8192 KiB"),
    ("forbidden content type", "/score", {"content": b"x", "headers": PICKLE}, 415, "", "not allowed"),
    ("form, no boundary", "/score_batch", {"content": b"x", "headers": FORM}, 415, "", "application/json"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("route", "kwargs", "status", "field", "rule"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_a_clear_4xx(
    api_client: TestClient, route: str, kwargs: dict, status: int, field: str, rule: str
) -> None:
    response = api_client.post(route, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert rule in body["error"]
    if field:
        named = [problem for problem in body["errors"] if problem["field"].endswith(field)]
        assert named, f"no problem names {field}: {body['errors']}"
        assert any(rule in problem["message"] for problem in named)


def test_wrong_method_and_unknown_route_are_4xx_json(api_client: TestClient) -> None:
    assert api_client.get("/score").status_code == 405
    missing = api_client.post("/predict", json={})
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found"}


def test_without_a_configured_key_the_api_is_open(api_client: TestClient) -> None:
    response = api_client.post("/score", json={"application": EXAMPLE}, headers={"X-API-Key": "any"})
    assert response.status_code == 200
