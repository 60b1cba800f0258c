"""One structured record per API request: what was asked, what was answered, how fast, by which model."""

from __future__ import annotations

import hmac
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal, NamedTuple

from pydantic import SecretStr, ValidationError

from credit_scoring.batch_validation import batch_from_json_body
from credit_scoring.schema import ID_COLUMN, TARGET_COLUMN
from credit_scoring.validation import application_from_json_body, application_to_record

ErrorKind = Literal["validation", "auth", "too_large", "unavailable", "internal"]
ERROR_KINDS: tuple[str, ...] = ("validation", "auth", "too_large", "unavailable", "internal")
_NEVER_STORED = frozenset({ID_COLUMN, TARGET_COLUMN})


def pseudonymise(client_id: int | str | None, key: SecretStr | str | bytes) -> str | None:
    """Keyed HMAC-SHA256 of a client id: stable for joins, not reversible without the secret key."""
    if client_id is None or (isinstance(client_id, float) and math.isnan(client_id)):
        return None
    secret = key.get_secret_value() if isinstance(key, SecretStr) else key
    secret_bytes = secret.encode() if isinstance(secret, str) else secret
    normalised = str(int(client_id)) if not isinstance(client_id, str) else client_id.strip()
    # hmac.digest: OpenSSL's one-shot HMAC, several times cheaper than an hmac.new object per request.
    return hmac.digest(secret_bytes, normalised.encode(), "sha256").hex()


def storable_inputs(fields: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The input fields without the raw client id and target, NaN as None (JSON has no NaN)."""
    if fields is None:
        return None
    # `value != value` is true for NaN only: the cheapest test, run on every field of every record.
    return {
        name: None if value != value else value for name, value in fields.items() if name not in _NEVER_STORED
    }


def _new_request_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What the service knows about one scored (or refused) application.

    A batch request yields one record per application, all sharing the ``request_id``. ``client_ref``
    is the output of :func:`pseudonymise`, never the raw ``SK_ID_CURR``. ``inputs`` are kept as given
    (no copy on the request path) and pass through :func:`storable_inputs` whenever they leave the
    process (store, ``to_dict``), so a raw id sent in the body is never written. ``error_kind`` is None
    on success.
    """

    endpoint: str
    model_name: str
    model_version: str
    status: int
    latency_ms: float
    inputs: dict[str, Any] | None = None
    probability: float | None = None
    decision: str | None = None
    threshold: float | None = None
    inference_ms: float | None = None
    error_kind: ErrorKind | None = None
    client_ref: str | None = None
    request_id: str = field(default_factory=_new_request_id)
    timestamp: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None:
            raise ValueError("RequestRecord.timestamp must be timezone-aware (UTC)")
        if self.error_kind is not None and self.error_kind not in ERROR_KINDS:
            raise ValueError(f"error_kind must be one of {ERROR_KINDS}, got {self.error_kind!r}")
        if self.timestamp.tzinfo is not UTC:
            object.__setattr__(self, "timestamp", self.timestamp.astimezone(UTC))

    @property
    def succeeded(self) -> bool:
        return self.error_kind is None and self.status < 400

    def to_dict(self) -> dict[str, Any]:
        """Plain values (timestamp as ISO 8601 UTC), e.g. for a JSON log line."""
        row = {name: getattr(self, name) for name in self.__dataclass_fields__}
        row["timestamp"] = self.timestamp.isoformat()
        row["inputs"] = storable_inputs(self.inputs)
        return row

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as the constructor and its field values: the dataclass default (a state dict built in
        # Python per record) cost the API worker ~13 us and the logger process ~45 us per record.
        return RequestRecord, _record_values(self)


_record_values = attrgetter(*RequestRecord.__dataclass_fields__)


class AnsweredApplication(NamedTuple):
    """One answered single-application request (/score, /explain) as the API worker hands it over.

    The worker sends the raw request body and the answer's figures; the logger process validates the body
    again (the same JSON-mode validation the API ran, so the same inputs) and pseudonymises the client id
    in :meth:`to_record`. In the worker, building the record, pseudonymising and pickling 120 inputs cost
    ~25 us of the event loop per request; a tuple and one bytes object cost ~2 us. The raw id in the body
    stays in the worker's own process tree (a pipe to its logger process) and is never stored.
    """

    endpoint: str
    model_name: str
    model_version: str
    status: int
    latency_ms: float
    inference_ms: float
    probability: float
    decision: str
    threshold: float
    request_id: str
    timestamp: float  # time.time() when the request ended
    body: bytes

    def to_record(self, key: bytes) -> RequestRecord:
        """The stored record: validated inputs without id or target, the client id pseudonymised."""
        try:
            application = application_from_json_body(self.body)
        except ValidationError:  # cannot happen for an answered body; the answer is still recorded
            inputs, client_ref = None, None
        else:
            inputs = application_to_record(application)
            client_ref = pseudonymise(getattr(application, ID_COLUMN), key)
        return RequestRecord(
            **{name: getattr(self, name) for name in _ANSWER_FIELDS},
            inputs=inputs,
            client_ref=client_ref,
            timestamp=datetime.fromtimestamp(self.timestamp, UTC),
        )


_ANSWER_FIELDS = tuple(name for name in AnsweredApplication._fields if name not in ("timestamp", "body"))


class AnsweredBatch(NamedTuple):
    """One answered /score_batch request as the API worker hands it over: its raw body and the figures.

    As for :class:`AnsweredApplication`, the logger process validates the body again (the API's own
    validation, so the same inputs) and makes the records, one per application, all sharing
    ``request_id``. In the worker a record per application (dict of inputs, pseudonymised id, pickling)
    cost about as much as validating and scoring it; one bytes object and two lists cost next to nothing.
    """

    endpoint: str
    model_name: str
    model_version: str
    status: int
    latency_ms: float
    inference_ms: float
    probabilities: list[float]
    decisions: list[str]
    threshold: float
    request_id: str
    timestamp: float  # time.time() when the request ended
    body: bytes

    def to_records(self, key: bytes) -> list[RequestRecord]:
        """The stored records, in order: validated inputs without id or target, client ids pseudonymised."""
        inputs, references = self._validated_inputs()
        common = {name: getattr(self, name) for name in _BATCH_FIELDS}
        when = datetime.fromtimestamp(self.timestamp, UTC)
        rows = zip(inputs, references, self.probabilities, self.decisions, strict=True)
        return [
            RequestRecord(
                **common,
                inputs=record,
                probability=probability,
                decision=decision,
                client_ref=pseudonymise(reference, key),
                timestamp=when,
            )
            for record, reference, probability, decision in rows
        ]

    def _validated_inputs(self) -> tuple[list[Any], list[Any]]:
        """Each application's inputs and client id as the API validated them (None if that fails)."""
        try:
            batch = batch_from_json_body(self.body)
        except ValidationError:  # cannot happen for an answered body; the answers are still recorded
            batch = None
        if batch is None or len(batch) != len(self.probabilities):  # the answers are what counts
            unknown = [None] * len(self.probabilities)
            return unknown, unknown
        return batch.records(), batch.client_references


_BATCH_FIELDS = (
    "endpoint", "model_name", "model_version", "status", "latency_ms", "inference_ms", "threshold",
    "request_id",
)  # fmt: skip

Submitted = RequestRecord | AnsweredApplication | AnsweredBatch


def records_in(item: Submitted) -> int:
    """How many stored records a submitted item becomes (what the counters count)."""
    return len(item.probabilities) if isinstance(item, AnsweredBatch) else 1


def complete_record(item: RequestRecord | AnsweredApplication, key: bytes) -> RequestRecord:
    """The record to store for what a worker submitted (an answered application is completed here)."""
    return item.to_record(key) if isinstance(item, AnsweredApplication) else item


def complete_records(item: Submitted, key: bytes) -> list[RequestRecord]:
    """The records to store for what a worker submitted: a batch becomes one per application."""
    return item.to_records(key) if isinstance(item, AnsweredBatch) else [complete_record(item, key)]
