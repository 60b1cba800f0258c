"""The OpenAPI document served at /docs.json: every answer the service gives, from the models it uses."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from credit_scoring.schema import example_application
from credit_scoring.serving.api_models import (
    MAX_BATCH_APPLICATIONS,
    BadRequestError,
    BatchRequest,
    BodyTooLarge,
    ErrorMessage,
    ExplainRequest,
    ExplainResponse,
    ScoreRequest,
    ScoreResponse,
)
from credit_scoring.serving.guards import (
    API_KEY_HEADER,
    DEFAULT_BODY_LIMIT,
    DEFAULT_BODY_LIMITS,
    KIB,
    clear_body,
    send_json,
    too_large_message,
)
from credit_scoring.serving.outcomes_api import OutcomesRequest, OutcomesResponse

ASGIApp = Callable[..., Any]
DOCUMENT_PATH = "/docs.json"
OPENAPI_VERSION = "3.1.0"  # pydantic writes JSON Schema 2020-12, the dialect of OpenAPI 3.1 (null, const)
REF = "#/components/schemas/{model}"
JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    """One API route: its request model, its answer's schema, and a request it refuses (for the example)."""

    request: type[BaseModel]
    answer: dict[str, Any]
    answer_example: Any
    refused: dict[str, Any]


def _answer_example(client_reference: int | None = 100002) -> dict[str, Any]:
    return {
        "probability": 0.0843,
        "decision": "grant",
        "threshold": 0.35,
        "model_name": "credit-scoring",
        "model_version": "3",
        "request_id": "4f1c2a0e9b7d4e6c8a5b3d2f1e0c9b8a",
        "client_reference": client_reference,
    }


def _explain_example() -> dict[str, Any]:
    contributions = [
        {"feature": "EXT_SOURCE_3", "value": 0.7897, "contribution": -0.61},
        {"feature": "EXT_SOURCE_2", "value": 0.2629, "contribution": 0.38},
    ]
    return _answer_example() | {"base_log_odds": -2.43, "contributions": contributions}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operations() -> dict[str, Operation]:
    application = example_application()
    batch_answer = {"type": "array", "items": _ref(ScoreResponse), "minItems": 1}
    batch_answer["maxItems"] = MAX_BATCH_APPLICATIONS
    return {
        "/score": Operation(
            ScoreRequest,
            _ref(ScoreResponse),
            _answer_example(),
            {"application": application | {"DAYS_BIRTH": 400}},
        ),
        "/score_batch": Operation(
            BatchRequest,
            batch_answer,
            [_answer_example(), _answer_example(None) | {"probability": 0.612, "decision": "refuse"}],
            {"applications": [application, application | {"AMT_CREDIT": 0}]},
        ),
        "/explain": Operation(
            ExplainRequest,
            _ref(ExplainResponse),
            _explain_example(),
            {"application": application, "top": 0},
        ),
    }


OUTCOMES_ROUTE = "/outcomes"


def _outcome_operation() -> Operation:
    """POST /outcomes: loan outcomes joined to stored decisions (kept apart from the scoring routes)."""
    answer = {"received": 2, "stored": 1, "corrected": 0, "unchanged": 0, "unmatched": 1}
    refused = {"outcomes": [{"SK_ID_CURR": 100002, "TARGET": 2}]}
    return Operation(OutcomesRequest, _ref(OutcomesResponse), answer, refused)


def _describe_outcomes(document: dict[str, Any], api_key: bool) -> None:
    """/outcomes as it behaves: not in the decision log (no X-Request-ID); 503 when its store is down."""
    operation = _outcome_operation()
    post = document["paths"].setdefault(OUTCOMES_ROUTE, {}).setdefault("post", {})
    post["requestBody"] = _request_body(operation)
    responses = _responses(OUTCOMES_ROUTE, operation, api_key)
    responses["200"].pop("headers")
    unavailable = {"error": "outcome store unavailable: [Errno 28] No space left on device"}
    responses["503"] = _error("The outcome store cannot be written or read (disk, database): retry later.",
                              ErrorMessage, unavailable)  # fmt: skip
    post["responses"] = responses
    if api_key:
        post["security"] = [{"ApiKey": []}, {"Bearer": []}]


def _outcome_components() -> list[tuple[type[BaseModel], Any]]:
    return [(OutcomesRequest, "validation"), (OutcomesResponse, "serialization")]


def _components() -> dict[str, Any]:
    """The schemas of every model the API reads or writes, each once, referenced by name."""
    requests = [(model, "validation") for model in (ScoreRequest, BatchRequest, ExplainRequest)]
    errors = [(model, "validation") for model in (BadRequestError, ErrorMessage, BodyTooLarge)]
    answers = [(model, "serialization") for model in (ScoreResponse, ExplainResponse)]
    _, schemas = models_json_schema([*requests, *answers, *errors, *_outcome_components()], ref_template=REF)
    return schemas["$defs"]


def _bad_request_example(operation: Operation) -> dict[str, Any]:
    """What the service answers to the operation's refused example: the guards' rewrite of the errors."""
    try:
        operation.request.model_validate_json(json.dumps(operation.refused))
    except ValidationError as error:
        detail = error.errors(include_context=False, include_input=False)
        return clear_body(json.dumps({"error": str(error), "detail": detail}).encode())
    raise AssertionError(f"the refused example of {operation.request.__name__} was accepted")


def _content(schema: Mapping[str, Any], example: Any) -> dict[str, Any]:
    return {JSON: {"schema": dict(schema), "example": example}}


def _error(description: str, model: type[BaseModel], example: Any, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": _content(_ref(model), example), **extra}


# Answers of every API route besides its own 200, 400 and 413: (status, description, example body).
COMMON_ERRORS = (
    ("415", "A media type the service refuses: forms, pickled bodies.", "multipart/form-data is not "
     "accepted: send the body as application/json"),
    ("500", "A failure of the service itself (logged).", "An unexpected error has occurred, please check "
     "the server log."),
    ("503", "The decision log cannot be written (disk full, unwritable): no decision is answered without "
     "its record (CREDIT_JOURNAL_FAILURE_POLICY=refuse, the default).", "decision log unavailable: "
     "[Errno 28] No space left on device"),
    ("504", "Not answered within the server's timeout.", "Not able to process the request in 30 seconds"),
)  # fmt: skip
# Every recorded answer names its record in the decision log, so support and auditors can find it.
REQUEST_ID = {"X-Request-ID": {"description": "Id of this request's record in the decision log.",
                               "schema": {"type": "string"}}}  # fmt: skip
# /score_batch also sheds load: past CREDIT_BATCH_QUEUE_LIMIT batches in a worker, a 503 says when to retry.
BATCH_UNAVAILABLE = (
    f"{COMMON_ERRORS[2][1]} Or the service is saturated with batches (more than CREDIT_BATCH_QUEUE_LIMIT "
    "in a worker): retry after Retry-After seconds."
)
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying (only when saturated).",
                               "schema": {"type": "integer", "minimum": 1}}}  # fmt: skip

UNAUTHORISED = "missing API key: send it in the X-API-Key header (or Authorization: Bearer)"


def _responses(route: str, operation: Operation, api_key: bool) -> dict[str, Any]:
    limit = DEFAULT_BODY_LIMITS.get(route, DEFAULT_BODY_LIMIT)
    too_large = {"error": too_large_message(route, limit, str(limit + 1)), "limit_bytes": limit}
    invalid = "Invalid request: each problem names its field and the rule it breaks."
    answer = _content(operation.answer, operation.answer_example)
    responses = {
        "200": {"description": "The answer.", "content": answer, "headers": REQUEST_ID},
        "400": _error(invalid, BadRequestError, _bad_request_example(operation)),
        "413": _error(f"Body over {limit // KIB} KiB, refused before it is read.", BodyTooLarge, too_large),
    }
    for status, description, message in COMMON_ERRORS:
        responses[status] = _error(description, ErrorMessage, {"error": message})
    if route == "/score_batch":
        journal = responses["503"]["content"][JSON]["example"]
        responses["503"] = _error(BATCH_UNAVAILABLE, ErrorMessage, journal, headers=RETRY_AFTER)
    if api_key:
        authenticate = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}
        unauthorised = "No API key, or a wrong one."
        responses["401"] = _error(unauthorised, ErrorMessage, {"error": UNAUTHORISED}, headers=authenticate)
    return dict(sorted(responses.items()))


def _request_body(operation: Operation) -> dict[str, Any]:
    # The request's own schema inline (Swagger's "Try it out" starts from its example), nested models by name.
    schema = operation.request.model_json_schema(ref_template=REF)
    schema.pop("$defs", None)
    return {"required": True, "content": {JSON: {"schema": schema, "example": schema.get("example")}}}


SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
    "Bearer": {"type": "http", "scheme": "bearer"},
}
READY_RESPONSES = {
    "200": {"description": "Ready to serve."},
    "503": {"description": "Starting or stopping: not ready to serve yet."},
}


def openapi_document(generated: Mapping[str, Any], api_key: bool) -> dict[str, Any]:
    """BentoML's generated document with the API operations described as they behave.

    BentoML flattens nullable fields to their first type and declares a 400 whose ``detail`` is text;
    here the requests and answers are the models' own JSON Schemas, and every status the service answers
    is declared with its body and a worked example. ``api_key``: whether the scoring routes require one.
    """
    document = copy.deepcopy(dict(generated))
    document["openapi"] = OPENAPI_VERSION
    document["components"] = {"schemas": _components()}
    if api_key:
        document["components"]["securitySchemes"] = SECURITY_SCHEMES
    for route, operation in _operations().items():
        post = document["paths"][route]["post"]
        post["requestBody"] = _request_body(operation)
        post["responses"] = _responses(route, operation, api_key)
        if api_key:
            post["security"] = [{"ApiKey": []}, {"Bearer": []}]
    _describe_outcomes(document, api_key)
    document["paths"]["/readyz"]["get"]["responses"] = READY_RESPONSES
    return document


class OpenApiDocument:
    """Answers GET /docs.json with :func:`openapi_document`, built once, at the first request for it."""

    def __init__(
        self, app: ASGIApp, generated: Callable[[], Mapping[str, Any]], api_key: Callable[[], str | None]
    ) -> None:
        self.app = app
        self.generated = generated
        self.api_key = api_key
        self._document: dict[str, Any] | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] != DOCUMENT_PATH or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        if self._document is None:
            self._document = openapi_document(self.generated(), api_key=bool(self.api_key()))
        await send_json(send, 200, self._document)
