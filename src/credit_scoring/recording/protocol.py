"""The recording subsystem's messages and records: journal frames, stored records, checkpoints, health."""

from __future__ import annotations

import hmac
import json
import math
import struct
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
from pydantic import SecretStr

from credit_scoring.schema import APPLICATION_COLUMNS, ID_COLUMN, INPUT_COLUMNS, TARGET_COLUMN

ErrorKind = Literal["validation", "auth", "too_large", "unavailable", "internal"]
ERROR_KINDS: tuple[str, ...] = ("validation", "auth", "too_large", "unavailable", "internal")
FailurePolicy = Literal["refuse", "count"]
_NEVER_STORED = frozenset({ID_COLUMN, TARGET_COLUMN})

# --- journal frames ------------------------------------------------------------------------------
# A frame is: payload length (u32), CRC-32 of the payload (u32), payload. The payload is the length of
# the metadata (u32), the metadata (a JSON array) and the request body as received. Length and CRC let a
# reader tell a whole frame from a torn tail (a crash or a full disk in the middle of a write).
FRAME_HEADER = struct.Struct("<II")
META_LENGTH = struct.Struct("<I")
# Version 2 added the challenger's figures (shadow scoring); version 3 the body's format ("json": as
# received; "columns": an answered batch's validated inputs, see encode_batch_inputs). Older frames decode.
FRAME_VERSION = 3
BodyFormat = Literal["json", "columns"]
_INPUTS_HEADER = struct.Struct("<III")  # rows, columns, length of the client references' JSON
SEGMENT_NAME_SUFFIX = ".wal"


def pseudonymise(client_id: int | str | None, key: SecretStr | str | bytes) -> str | None:
    """Keyed HMAC-SHA256 of a client id: stable for joins, not reversible without the secret key."""
    if client_id is None or (isinstance(client_id, float) and math.isnan(client_id)):
        return None
    secret = key.get_secret_value() if isinstance(key, SecretStr) else key
    secret_bytes = secret.encode() if isinstance(secret, str) else secret
    normalised = str(int(client_id)) if not isinstance(client_id, str) else client_id.strip()
    # hmac.digest: OpenSSL's one-shot HMAC, several times cheaper than an hmac.new object per record.
    return hmac.digest(secret_bytes, normalised.encode(), "sha256").hex()


def storable_inputs(fields: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The input fields without the raw client id and target, NaN as None (JSON has no NaN)."""
    if fields is None:
        return None
    # `value != value` is true for NaN only: the cheapest test, run on every field of every record.
    return {
        name: None if value != value else value for name, value in fields.items() if name not in _NEVER_STORED
    }


class Answer(NamedTuple):
    """The figures of one answered application (a batch request has one per application)."""

    request_id: str
    probability: float
    decision: str
    threshold: float
    inference_ms: float | None
    challenger_probability: float | None = None  # the @challenger's, scored in shadow (None: none, failed)
    challenger_decision: str | None = None


class JournalEntry(NamedTuple):
    """What an API worker appends for one request, before its answer is sent.

    ``body`` is the request body as received (None when unread or too large to keep): the ingest validates
    it again, as the API did, and pseudonymises the client id; the worker does no JSON work for a record.
    """

    endpoint: str
    model_name: str
    model_version: str
    status: int
    error_kind: str | None
    latency_ms: float
    timestamp: float  # time.time() when the answer was ready
    request_id: str
    answers: Sequence[Answer]
    body: bytes | None
    simulated: bool = False
    challenger_version: str | None = None  # the registry version that scored in shadow (None: no challenger)
    body_format: BodyFormat = "json"

    def encode(self) -> bytes:
        """One self-checking frame (header, metadata, body): appended with a single write."""
        answers = [tuple(answer) for answer in self.answers]  # orjson writes no named tuples
        flags = [self.body is not None, self.simulated, self.challenger_version, self.body_format]
        meta = orjson.dumps([FRAME_VERSION, *self[:8], answers, *flags])
        payload = b"".join((META_LENGTH.pack(len(meta)), meta, self.body or b""))
        return FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload

    @classmethod
    def decode(cls, payload: bytes | memoryview) -> JournalEntry:
        """The entry of a frame's payload (whose CRC was checked by the reader)."""
        (size,) = META_LENGTH.unpack_from(payload)
        meta = orjson.loads(payload[META_LENGTH.size : META_LENGTH.size + size])
        body_format = meta.pop() if meta[0] >= 3 else "json"
        # Version 1 (before shadow scoring) has no challenger version and five figures per answer.
        challenger = meta.pop() if meta[0] >= 2 else None
        _version, *fields, answers, has_body, simulated = meta
        body = bytes(payload[META_LENGTH.size + size :]) if has_body else None
        return cls(*fields, [Answer(*a) for a in answers], body, simulated, challenger, body_format)


def encode_batch_inputs(encoded: np.ndarray, references: Sequence[int | None]) -> bytes:
    """An answered batch's validated inputs as a journal body (format "columns"): the encoded matrix
    (float64, one row per application, the input columns in schema order) column after column, and the
    client ids. A third of the JSON body's size, and the ingest reads it without parsing or validating."""
    try:
        ids = orjson.dumps(list(references))
    except TypeError:  # an id beyond 64 bits (the API accepts any whole number): Python's json writes it
        ids = json.dumps(list(references)).encode()
    rows, width = encoded.shape
    return b"".join((_INPUTS_HEADER.pack(rows, width, len(ids)), ids, encoded.T.tobytes()))


def decode_batch_inputs(body: bytes) -> tuple[np.ndarray, list[int | None]]:
    """The matrix and client ids of :func:`encode_batch_inputs` (a read-only view of ``body``)."""
    rows, width, length = _INPUTS_HEADER.unpack_from(body)
    start = _INPUTS_HEADER.size + length
    references = json.loads(body[_INPUTS_HEADER.size : start])  # exact beyond 64 bits, unlike orjson
    matrix = np.frombuffer(body, dtype=np.float64, count=rows * width, offset=start)
    return matrix.reshape(width, rows).T, references


def new_request_id() -> str:
    return uuid.uuid4().hex


# --- stored records ------------------------------------------------------------------------------

RECORD_FIELDS: tuple[pa.Field, ...] = (
    pa.field("request_id", pa.string(), nullable=False),
    pa.field("item", pa.int32(), nullable=False),  # position in its request (a batch has several)
    pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("endpoint", pa.string(), nullable=False),
    pa.field("model_name", pa.string(), nullable=False),
    pa.field("model_version", pa.string(), nullable=False),
    pa.field("client_ref", pa.string()),
    pa.field("probability", pa.float64()),
    pa.field("decision", pa.string()),
    pa.field("threshold", pa.float64()),
    # The @challenger's figures for the same application, scored in shadow (null when none was packed).
    pa.field("challenger_version", pa.string()),
    pa.field("challenger_probability", pa.float64()),
    pa.field("challenger_decision", pa.string()),
    pa.field("latency_ms", pa.float32(), nullable=False),
    pa.field("inference_ms", pa.float32()),
    pa.field("status", pa.int16(), nullable=False),
    pa.field("error_kind", pa.string()),
    pa.field("simulated", pa.bool_(), nullable=False),
    # What a refused application asked (JSON; its values may break the schema's types), for data quality.
    pa.field("rejected_inputs", pa.string()),
)
RECORD_COLUMNS: tuple[str, ...] = tuple(f.name for f in RECORD_FIELDS)


def _input_type(kind: str) -> pa.DataType:
    return {"category": pa.string(), "int": pa.int64()}.get(kind, pa.float64())


INPUT_FIELDS: tuple[pa.Field, ...] = tuple(pa.field(s.name, _input_type(s.kind)) for s in APPLICATION_COLUMNS)
STORED_SCHEMA = pa.schema([*RECORD_FIELDS, *INPUT_FIELDS])
assert tuple(f.name for f in INPUT_FIELDS) == INPUT_COLUMNS  # one column per validated input, in order


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One stored record, as Python values: what the service knew about one scored (or refused) application.

    The ingest builds stored records as Arrow columns; this class is their row form, for tests, backfills
    and small reads. ``client_ref`` is the output of :func:`pseudonymise`, never the raw ``SK_ID_CURR``;
    ``inputs`` pass through :func:`storable_inputs` on the way to the store.
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
    request_id: str = field(default_factory=new_request_id)
    timestamp: datetime = field(default_factory=_now)
    item: int = 0
    simulated: bool = False
    challenger_version: str | None = None
    challenger_probability: float | None = None
    challenger_decision: str | None = None

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

    def row(self) -> dict[str, Any]:
        """The record as one row of the stored schema (inputs spread into their columns when valid)."""
        row = {name: getattr(self, name) for name in RECORD_COLUMNS if name != "rejected_inputs"}
        inputs = storable_inputs(self.inputs)
        row["rejected_inputs"] = None
        if inputs is not None and not self.succeeded:
            row["rejected_inputs"] = orjson.dumps(inputs).decode()
        elif inputs is not None:
            row |= {name: inputs.get(name) for name in INPUT_COLUMNS}
        return row


def records_table(records: Sequence[RequestRecord]) -> pa.Table:
    """Stored rows of the records, in the stored schema (what the ingest writes for a batch)."""
    return pa.Table.from_pylist([record.row() for record in records], schema=STORED_SCHEMA)


# --- ingest bookkeeping --------------------------------------------------------------------------


class BatchId(NamedTuple):
    """Frames ``[start, end)`` of one journal segment: the name of the stored batch they became.

    Deterministic, so a batch stored before a crash, but not checkpointed, is found again and skipped.
    """

    segment: str
    start: int
    end: int

    @property
    def name(self) -> str:
        return f"part-{self.segment}-{self.start:012d}-{self.end:012d}"

    @classmethod
    def parse(cls, name: str) -> BatchId:
        body = name.removeprefix("part-").split(".")[0]
        segment, start, end = body.rsplit("-", 2)
        return cls(segment, int(start), int(end))


@dataclass
class SegmentProgress:
    """How far the ingest got in one segment: bytes stored, bytes profiled, when it was fully consumed."""

    stored: int = 0
    profiled: int = 0
    records: int = 0
    consumed_at: float | None = None


@dataclass(frozen=True)
class JournalLag:
    """What the journal holds that the store does not have yet (the ``/monitoring/health`` figures)."""

    bytes_on_disk: int
    segments: int
    lag_bytes: int
    lag_records: int  # estimated from the mean frame size of what was already ingested
    lag_seconds: float
    oldest_unconsumed_segment: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WriterStats:
    """One worker's journal writer: what it appended, refused or could not record, and why."""

    policy: FailurePolicy
    available: bool
    error: str | None
    appended: int
    appended_bytes: int
    unrecorded: int  # answers sent without a record (policy "count")
    refused: int  # answers replaced by a 503 because they could not be recorded (policy "refuse")
    segment: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
