"""POST /outcomes: a lender's loan outcomes joined to the stored decisions (the API side of make outcomes)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from credit_scoring.errors import CreditScoringError, UnavailableError
from credit_scoring.recording.outcomes import DATE_COLUMN, OutcomeLoad, checked_outcomes, load_outcomes
from credit_scoring.recording.store import RecordStore, open_store
from credit_scoring.schema import ID_COLUMN, TARGET_COLUMN
from credit_scoring.settings import MonitoringSettings

MAX_OUTCOMES = 1000  # about 60 KiB of JSON, under the default body limit; larger loan books: make outcomes
MAX_CLIENT_ID = 10**15


def _outcomes_example(schema: dict[str, Any]) -> None:
    schema["example"] = {"outcomes": [{ID_COLUMN: 100002, TARGET_COLUMN: 1, DATE_COLUMN: "2027-01-15"},
                                      {ID_COLUMN: 100003, TARGET_COLUMN: 0, DATE_COLUMN: None}]}  # fmt: skip


class Outcome(BaseModel):
    """One loan's outcome, with Kaggle's naming. As JSON Schema reads the types: an integer may be written
    1.0, never "1" or true; a date is text YYYY-MM-DD."""

    model_config = ConfigDict(extra="forbid", strict=True)

    SK_ID_CURR: int = Field(
        ge=0, le=MAX_CLIENT_ID, strict=False, description="The client reference sent when scoring."
    )
    TARGET: int = Field(ge=0, le=1, strict=False, description="1: the loan defaulted; 0: it was repaid.")

    @field_validator("SK_ID_CURR", "TARGET", mode="before")
    @classmethod
    def json_integer(cls, value: Any) -> Any:
        """Whole numbers only (1.0 included), as JSON Schema's integer: no text, no booleans."""
        if isinstance(value, bool | str):
            raise ValueError("must be a JSON integer")
        return value

    OBSERVATION_DATE: date | None = Field(
        default=None,
        description="Day the outcome was observed: it joins the client's latest decision on or before that "
        "day (null: the client's latest decision).",
    )


class OutcomesRequest(BaseModel):
    """Body of POST /outcomes: up to MAX_OUTCOMES loan outcomes."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_outcomes_example)

    outcomes: list[Outcome] = Field(min_length=1, max_length=MAX_OUTCOMES, description="Loan outcomes.")


class OutcomesResponse(BaseModel):
    """What the load did. Sending the same outcomes again stores nothing more (``unchanged``)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    received: int = Field(ge=0, description="Outcomes in the request (one per client and date).")
    stored: int = Field(ge=0, description="New outcomes stored.")
    corrected: int = Field(ge=0, description="Outcomes whose TARGET replaced an earlier one.")
    unchanged: int = Field(ge=0, description="Outcomes already stored as sent.")
    unmatched: int = Field(
        ge=0, description="References matching no stored decision (not stored; send them again later)."
    )


def outcomes_frame(items: list[Outcome]) -> pd.DataFrame:
    """The request's outcomes in the columns the file loader checks and types."""
    frame = pd.DataFrame({
        ID_COLUMN: [o.SK_ID_CURR for o in items], TARGET_COLUMN: [o.TARGET for o in items],
        DATE_COLUMN: [o.OBSERVATION_DATE.isoformat() if o.OBSERVATION_DATE else "" for o in items],
    })  # fmt: skip
    return checked_outcomes(frame.astype(str))


def outcomes_response(load: OutcomeLoad) -> OutcomesResponse:
    return OutcomesResponse(received=load.received, stored=load.stored, corrected=load.corrected,
                            unchanged=load.unchanged, unmatched=load.unmatched)  # fmt: skip


class OutcomeLoader:
    """Loads outcomes into the service's store; the store is opened at the first request."""

    def __init__(self, settings: MonitoringSettings, key: bytes) -> None:
        self.settings, self.key = settings, key
        self._store: RecordStore | None = None

    def load(self, items: list[Outcome]) -> OutcomesResponse:
        frame = outcomes_frame(items)
        try:
            self._store = self._store or open_store(self.settings)
            return outcomes_response(load_outcomes(self._store, frame, self.key))
        except (OSError, SQLAlchemyError) as error:  # a full disk, a database down: the client may retry
            raise UnavailableError(f"outcome store unavailable: {error}") from error

    def answer(self, items: list[Outcome]) -> Response:
        """The load's figures, or the project error's status and message (never a 500 for a known case)."""
        try:
            return Response(self.load(items).model_dump_json(), media_type="application/json")
        except CreditScoringError as error:
            body = json.dumps({"error": str(error)})
            return Response(body, status_code=int(error.http_status), media_type="application/json")
