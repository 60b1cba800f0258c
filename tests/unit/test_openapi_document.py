"""The published OpenAPI document: every status the API answers, nullable fields, valid worked examples."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from credit_scoring.schema import example_application
from credit_scoring.serving.guards import clear_body
from credit_scoring.serving.openapi import openapi_document

ROUTES = ("/score", "/score_batch", "/explain")
# The shape of what BentoML generates: the document replaces the API operations' bodies and answers.
GENERATED = {
    "openapi": "3.0.2",
    "info": {"title": "credit_scoring", "version": "None"},
    "paths": {
        **{route: {"post": {"operationId": route.strip("/"), "responses": {}}} for route in ROUTES},
        "/readyz": {"get": {"responses": {"200": {"description": "Successful Response"}}}},
    },
    "components": {"schemas": {}},
}


@pytest.fixture(scope="module", params=[False, True], ids=["open", "with an API key"])
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return openapi_document(GENERATED, api_key=request.param)


def conforms(document: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` is valid against ``schema``, whose references point into the document."""
    validator = Draft202012Validator(schema | {"components": document["components"]})
    return validator.is_valid(value)


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [document["paths"][route]["post"] for route in ROUTES]


def test_every_answer_of_the_api_is_declared(document: dict[str, Any]) -> None:
    keyed = "securitySchemes" in document["components"]
    expected = {"200", "400", "413", "415", "500", "503", "504"} | ({"401"} if keyed else set())
    assert document["openapi"].startswith("3.1")
    for operation in operations(document):
        assert set(operation["responses"]) == expected
        assert ("security" in operation) == keyed
        assert "X-Request-ID" in operation["responses"]["200"]["headers"]  # the record's id in the log
        assert "decision log unavailable" in operation["responses"]["503"]["content"]["application/json"][
            "example"]["error"]  # fmt: skip
    assert set(document["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}


def test_every_worked_example_conforms_to_its_schema(document: dict[str, Any]) -> None:
    for operation in operations(document):
        request = operation["requestBody"]["content"]["application/json"]
        assert conforms(document, request["schema"], request["example"])
        for status, answer in operation["responses"].items():
            content = answer["content"]["application/json"]
            assert conforms(document, content["schema"], content["example"]), status


def test_nullable_fields_are_nullable_and_always_present(document: dict[str, Any]) -> None:
    answer = document["components"]["schemas"]["ScoreResponse"]
    assert {"type": "null"} in answer["properties"]["client_reference"]["anyOf"]
    assert "client_reference" in answer["required"]
    schema = {"$ref": "#/components/schemas/ScoreResponse"}
    answered = document["paths"]["/score"]["post"]["responses"]["200"]
    example = answered["content"]["application/json"]["example"]
    assert conforms(document, schema, example | {"client_reference": None})
    assert not conforms(document, schema, example | {"client_reference": "100002"})


def test_the_400_body_the_guards_write_is_the_declared_one(document: dict[str, Any]) -> None:
    schema = {"$ref": "#/components/schemas/BadRequestError"}
    detail = [
        {"type": "missing", "loc": ["applications", 3, "AMT_CREDIT"], "msg": "Field required", "url": "u"},
        {"type": "application_rule", "loc": ["applications", 0, "DAYS_BIRTH"], "msg": "DAYS_BIRTH must be"},
    ]
    body = clear_body(json.dumps({"error": "2 validation errors", "detail": detail}).encode())
    assert set(body) == {"error", "errors", "detail"} and conforms(document, schema, body)
    assert conforms(document, schema, clear_body(b"Method Not Allowed"))  # {"error"} alone
    assert not conforms(document, schema, {"error": "x", "detail": "text"})  # what BentoML declared


def test_the_request_schema_is_the_validation_models(document: dict[str, Any]) -> None:
    application = document["components"]["schemas"]["Application"]
    assert application["additionalProperties"] is False
    assert {"type": "null"} in application["properties"]["EXT_SOURCE_1"]["anyOf"]
    assert {"const": 365243, "type": "integer"} in application["properties"]["DAYS_EMPLOYED"]["anyOf"]
    batch = document["paths"]["/score_batch"]["post"]["requestBody"]["content"]["application/json"]
    assert conforms(document, batch["schema"], {"applications": [example_application()] * 2})
    assert not conforms(document, batch["schema"], {"applications": [example_application()] * 1001})


@pytest.mark.parametrize("api_key", [False, True], ids=["open", "with an API key"])
def test_outcomes_are_documented_with_their_answers_and_examples(api_key: bool) -> None:
    document = openapi_document(GENERATED, api_key=api_key)
    post = document["paths"]["/outcomes"]["post"]
    request = post["requestBody"]["content"]["application/json"]
    assert conforms(document, request["schema"], request["example"])
    assert not conforms(document, request["schema"], {"outcomes": [{"SK_ID_CURR": 1, "TARGET": 2}]})
    expected = {"200", "400", "413", "415", "500", "503", "504"} | ({"401"} if api_key else set())
    assert set(post["responses"]) == expected and ("security" in post) == api_key
    for answer in post["responses"].values():
        body = answer["content"]["application/json"]
        assert conforms(document, body["schema"], body["example"])
    assert "outcome store" in post["responses"]["503"]["content"]["application/json"]["example"]["error"]
