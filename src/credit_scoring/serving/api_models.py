"""The HTTP contract: request and response models of the API (applications checked by the schema)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from credit_scoring.features import FEATURE_NAMES
from credit_scoring.schema import ID_COLUMN, example_application
from credit_scoring.scoring import Explanation, Score, Scorer, decide
from credit_scoring.validation import Application

MAX_BATCH_APPLICATIONS = 1000
DEFAULT_TOP_FEATURES = 10

APPLICATION_DESCRIPTION = (
    "One loan application keyed by the Kaggle application_train.csv column names. SK_ID_CURR is "
    "optional and only echoed back as client_reference; TARGET is ignored; every other column follows "
    "the applicant schema (missing values as null where allowed)."
)


def _single_example(schema: dict[str, Any]) -> None:
    # Filled when the OpenAPI document is generated, not at import: Swagger's "Try it out" starts from it.
    schema["example"] = {"application": example_application()}


def _batch_example(schema: dict[str, Any]) -> None:
    application = example_application()
    schema["example"] = {"applications": [application, application | {ID_COLUMN: None, "EXT_SOURCE_2": 0.1}]}


class ScoreRequest(BaseModel):
    """Body of POST /score: one application."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_single_example)

    application: Application = Field(description=APPLICATION_DESCRIPTION)  # type: ignore[valid-type]


class BatchRequest(BaseModel):
    """Body of POST /score_batch: up to MAX_BATCH_APPLICATIONS applications, answered in the same order."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_batch_example)

    applications: list[Application] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=MAX_BATCH_APPLICATIONS, description="Applications to score, in order."
    )


class ExplainRequest(ScoreRequest):
    """Body of POST /explain: one application and how many contributing features to return."""

    top: int = Field(
        default=DEFAULT_TOP_FEATURES, ge=1, le=len(FEATURE_NAMES), description="Features to return."
    )


# Answers always carry every field (null included): the schema says so, for generated clients.
_ANSWER_CONFIG = ConfigDict(json_schema_serialization_defaults_required=True)


class ScoreResponse(BaseModel):
    """The answer for one application."""

    model_config = _ANSWER_CONFIG

    probability: float = Field(
        ge=0,
        le=1,
        description="Calibrated probability that the applicant defaults (of applicants given 0.10, "
        "about 10 % default).",
    )
    decision: Literal["grant", "refuse"] = Field(description="refuse when probability >= threshold.")
    threshold: float = Field(description="Business threshold of the model (10:1 cost of a default).")
    model_name: str = Field(description="Registered model name in MLflow.")
    model_version: str = Field(description="Registry version of the model that answered.")
    request_id: str = Field(description="Unique id of this answer, for support and audit.")
    client_reference: int | None = Field(
        default=None, description="SK_ID_CURR as sent; null when the application has none."
    )


class FeatureContribution(BaseModel):
    """One feature's push on the score, in log-odds: positive raises the risk."""

    model_config = _ANSWER_CONFIG
    feature: str
    value: float | None = Field(description="The model input value (categories as level codes).")
    contribution: float


class ExplainResponse(ScoreResponse):
    """A score with the features that drove it, largest effect first (LightGBM pred_contrib)."""

    base_log_odds: float = Field(
        description="The trees' average log-odds before any feature (calibration comes after, keeping order)."
    )
    contributions: list[FeatureContribution]


class Problem(BaseModel):
    """One problem of a refused request: where it is in the body, and the rule it breaks, in words."""

    model_config = _ANSWER_CONFIG

    field: str = Field(description="Path in the body, e.g. applications[3].AMT_CREDIT ('body': the whole).")
    message: str = Field(description="The field and the rule it breaks, for people.")
    type: str = Field(description="The problem's kind, for programs (e.g. missing, application_rule).")


class ValidationDetail(BaseModel):
    """One validation error as the model reported it (pydantic's error list, kept for programs)."""

    model_config = ConfigDict(extra="allow")

    type: str
    loc: list[str | int] = Field(description="Where: keys and list positions from the body's root.")
    msg: str
    url: str | None = Field(default=None, description="Documentation of the error type, when it has one.")


class BadRequestError(BaseModel):
    """A refused request (400): the problems in one sentence, then one entry per problem.

    ``errors`` and ``detail`` come with invalid input; a request refused for another reason (a body the
    server cannot read in its media type) has ``error`` alone.
    """

    error: str = Field(description="The first problems, each prefixed by its field.")
    errors: list[Problem] | None = Field(default=None, description="Every problem, one per field and rule.")
    detail: list[ValidationDetail] | None = Field(default=None, description="The same, as pydantic words it.")


class ErrorMessage(BaseModel):
    """Any other refused or failed request: what went wrong, in one sentence."""

    error: str


class BodyTooLarge(ErrorMessage):
    """A body over its route's limit (413), refused before it is read."""

    limit_bytes: int = Field(description="The route's limit on the body, in bytes.")


def json_response(answer: BaseModel) -> Response:
    """The answer as a complete JSON response. Returned by single-application endpoints (their schema is
    declared with ``output_spec``) because it carries Content-Length: uvicorn then sends headers and body
    in two writes, where BentoML's own streamed response goes out chunked in three."""
    return Response(answer.model_dump_json(), media_type="application/json")


def new_request_id() -> str:
    return uuid.uuid4().hex


def new_request_ids(count: int) -> list[str]:
    """``count`` ids in ``uuid4().hex``'s form, from one read of the OS's random source (not one each)."""
    octets = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    octets[:, 6] = octets[:, 6] & 0x0F | 0x40  # version 4
    octets[:, 8] = octets[:, 8] & 0x3F | 0x80  # RFC 4122 variant
    text = octets.tobytes().hex()
    return [text[start : start + 32] for start in range(0, 32 * count, 32)]


def score_response(score: Score, scorer: Scorer, client_reference: int | None) -> ScoreResponse:
    # model_construct: every value comes from our own scorer, so pydantic re-validation would only cost time.
    return ScoreResponse.model_construct(
        probability=score.probability,
        decision=score.decision,
        threshold=scorer.threshold,
        model_name=scorer.name,
        model_version=scorer.version,
        request_id=new_request_id(),
        client_reference=client_reference,
    )


@dataclass(frozen=True)
class BatchAnswers:
    """The answers to a batch: the JSON body of the response, and the figures the request log keeps."""

    body: bytes
    probabilities: list[float]
    decisions: list[str]
    request_ids: list[str]
    threshold: float


def batch_answers(
    probabilities: np.ndarray, scorer: Scorer, client_references: Sequence[int | None]
) -> BatchAnswers:
    """One ScoreResponse per application, in order, written as JSON in one call (no model per answer)."""
    figures = probabilities.tolist()
    decisions = [decide(probability, scorer.threshold) for probability in figures]
    ids = new_request_ids(len(figures))
    answers = [
        {
            "probability": probability,
            "decision": decision,
            "threshold": scorer.threshold,
            "model_name": scorer.name,
            "model_version": scorer.version,
            "request_id": request_id,
            "client_reference": reference,
        }
        for probability, decision, request_id, reference in zip(
            figures, decisions, ids, client_references, strict=True
        )
    ]
    return BatchAnswers(_json(answers), figures, decisions, ids, scorer.threshold)


def _json(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # a client reference beyond 64 bits, which orjson does not write
        return json.dumps(value).encode()


def json_body_response(body: bytes) -> Response:
    """A JSON body written by the caller, sent with its Content-Length (see ``json_response``)."""
    return Response(body, media_type="application/json")


def explain_response(
    explanation: Explanation, scorer: Scorer, client_reference: int | None
) -> ExplainResponse:
    base = score_response(explanation.score, scorer, client_reference)
    contributions = [
        FeatureContribution.model_construct(feature=c.feature, value=c.value, contribution=c.contribution)
        for c in explanation.contributions
    ]
    return ExplainResponse.model_construct(
        **base.__dict__, base_log_odds=explanation.base_log_odds, contributions=contributions
    )
