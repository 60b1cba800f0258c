"""Journal entries to stored rows: request bodies validated again (in columns), client ids pseudonymised.

An answered single application's body is parsed for a whole batch at once by Arrow's JSON reader into
typed columns (a category is text, an integer column must hold whole numbers), then the schema's
rules are checked on whole columns (ranges, levels, missing values). Those bodies passed the API's
validation already, so for them this yields what the API's pydantic model did (tests compare both); a
batch the reader refuses (an unusual body, e.g. a client id sent as text) is validated body by body by the
API's own model instead. Refused requests keep what they asked as JSON.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pydantic import BaseModel, ConfigDict, ValidationError

from credit_scoring.batch_validation import ApplicationBatch, validate_batch_json
from credit_scoring.columnar import ArrowInputs
from credit_scoring.recording.protocol import (
    INPUT_FIELDS,
    STORED_SCHEMA,
    Answer,
    JournalEntry,
    decode_batch_inputs,
    pseudonymise,
)
from credit_scoring.schema import ID_COLUMN, TARGET_COLUMN
from credit_scoring.validation import Application, application_from_json_body, application_to_record

BATCH_ENDPOINT = "score_batch"
# Integers are read as float64 and cast back (a whole number sent as 2.0 is an integer to the API too).
_PARSED = pa.struct(
    [pa.field(f.name, pa.float64() if f.type == pa.int64() else f.type) for f in INPUT_FIELDS]
    + [pa.field(ID_COLUMN, pa.int64())]
)
_PARSE = pj.ParseOptions(
    explicit_schema=pa.schema([pa.field("application", _PARSED)]), unexpected_field_behavior="ignore"
)
_READ = pj.ReadOptions(use_threads=False, block_size=1 << 26)


class _BatchBody(BaseModel):
    """A /score_batch body as the API validated it (its answers say it was valid)."""

    model_config = ConfigDict(extra="ignore")

    applications: list[Application]  # type: ignore[valid-type]


Row = tuple[JournalEntry, int, Answer | None]  # an entry, the application's position, its answer


def decode_entries(entries: Sequence[JournalEntry], key: bytes) -> pa.Table:
    """The stored rows of journal entries (one per answered application, else one per request)."""
    singles = [e for e in entries if _answered(e) and e.endpoint != BATCH_ENDPOINT and e.body is not None]
    batches = [e for e in entries if _answered(e) and e.endpoint == BATCH_ENDPOINT and e.body is not None]
    chosen = {id(e) for e in singles} | {id(e) for e in batches}
    others = [e for e in entries if id(e) not in chosen]
    tables = [_singles(singles, key), _batches(batches, key), _refused(others, key)]
    return pa.concat_tables([t for t in tables if t.num_rows] or [STORED_SCHEMA.empty_table()])


def _answered(entry: JournalEntry) -> bool:
    return entry.status < 400 and entry.error_kind is None and bool(entry.answers)


def _singles(entries: Sequence[JournalEntry], key: bytes) -> pa.Table:
    inputs, ids = parse_applications([e.body for e in entries])  # type: ignore[misc]
    rows: list[Row] = [(e, 0, e.answers[0]) for e in entries]
    return _table(rows, inputs, _client_refs(ids, key))


def parse_applications(bodies: Sequence[bytes]) -> tuple[dict[str, pa.Array], list[Any]]:
    """Input columns and raw client ids of single-application bodies (all at once; else one by one)."""
    if not bodies:
        return {}, []
    try:
        return _parse_in_columns(bodies)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _columns_of(_validated(body) for body in bodies)


def _parse_in_columns(bodies: Sequence[bytes]) -> tuple[dict[str, pa.Array], list[Any]]:
    # A raw newline can only be whitespace in valid JSON (inside a string it is escaped): one body a line.
    lines = b"\n".join(body.replace(b"\n", b" ").replace(b"\r", b" ") for body in bodies)
    table = pj.read_json(io.BytesIO(lines), read_options=_READ, parse_options=_PARSE)
    applications = table.column("application").combine_chunks()
    if table.num_rows != len(bodies) or applications.null_count:
        raise pa.ArrowInvalid("not one application per body")
    columns = {f.name: pc.cast(applications.field(f.name), f.type, safe=True) for f in INPUT_FIELDS}
    if ArrowInputs.read(columns, len(applications)).broken().any():  # cannot happen for answered bodies
        raise pa.ArrowInvalid("a value breaks the schema's rules")
    return columns, applications.field(ID_COLUMN).to_pylist()


def _validated(body: bytes) -> BaseModel | None:
    try:
        return application_from_json_body(body)
    except ValidationError:  # cannot happen for an answered body; the answer is still recorded
        return None


def _columns_of(applications: Iterable[BaseModel | None]) -> tuple[dict[str, pa.Array], list[Any]]:
    found = list(applications)
    records = [application_to_record(a) if a is not None else {} for a in found]
    columns = {f.name: pa.array([r.get(f.name) for r in records], f.type) for f in INPUT_FIELDS}
    return columns, [getattr(a, ID_COLUMN, None) for a in found]


def _batches(entries: Sequence[JournalEntry], key: bytes) -> pa.Table:
    rows: list[Row] = []
    columns: dict[str, list[Any]] = {f.name: [] for f in INPUT_FIELDS}
    ids: list[Any] = []
    for entry in entries:
        batch = _batch_read(entry)
        rows += [(entry, item, answer) for item, answer in enumerate(entry.answers)]
        found = batch.columns() if batch is not None else {}
        for name, values in columns.items():
            values += found.get(name, [None] * len(entry.answers))
        ids += batch.client_references if batch is not None else [None] * len(entry.answers)
    inputs = {f.name: pa.array(columns[f.name], f.type) for f in INPUT_FIELDS}
    return _table(rows, inputs, _client_refs(ids, key))


def _batch_read(entry: JournalEntry) -> ApplicationBatch | None:
    """A batch's applications as the API read them: its validated inputs as journaled, else (frames before
    version 3) its body read by the API's one-pass decoder, else by the model; None if they do not match
    the answers (cannot happen for an answered batch; the answers are still recorded)."""
    body = entry.body or b""
    if entry.body_format == "columns":
        batch: ApplicationBatch | None = ApplicationBatch(*decode_batch_inputs(body))
    elif (batch := validate_batch_json(body)) is None:
        try:
            batch = ApplicationBatch.from_models(_BatchBody.model_validate_json(body).applications)
        except ValidationError:
            return None
    return batch if len(batch) == len(entry.answers) else None


def _refused(entries: Sequence[JournalEntry], key: bytes) -> pa.Table:
    """One row per request: what a refused single application asked, as JSON, and its pseudonymised id."""
    rows: list[Row] = [(e, 0, None) for e in entries]
    asked = [_asked(e) for e in entries]
    refs = _client_refs([a.get(ID_COLUMN) if a else None for a in asked], key)
    rejected = [_rejected_json(a) for a in asked]
    return _table(rows, {}, refs, rejected)


def _asked(entry: JournalEntry) -> Mapping[str, Any] | None:
    if entry.endpoint == BATCH_ENDPOINT or entry.body is None:
        return None
    try:
        body = orjson.loads(entry.body)
    except orjson.JSONDecodeError:
        return None
    application = body.get("application") if isinstance(body, dict) else None
    return application if isinstance(application, dict) else None


def _rejected_json(application: Mapping[str, Any] | None) -> str | None:
    if application is None:
        return None
    kept = {k: _finite(v) for k, v in application.items() if k not in (ID_COLUMN, TARGET_COLUMN)}
    return orjson.dumps(kept).decode()


def _finite(value: Any) -> Any:
    # Stored as strict JSON: an infinite number a client sent is kept as missing.
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _client_refs(ids: Sequence[Any], key: bytes) -> list[str | None]:
    return [_client_ref(i, key) for i in ids]


def _client_ref(client_id: Any, key: bytes) -> str | None:
    if isinstance(client_id, bool) or not isinstance(client_id, int | float | str):
        return None
    try:
        return pseudonymise(client_id, key)
    except (ValueError, OverflowError):
        return None


def _table(
    rows: Sequence[Row],
    inputs: Mapping[str, pa.Array],
    client_refs: Sequence[str | None],
    rejected: Sequence[str | None] | None = None,
) -> pa.Table:
    """Rows in the stored schema: the request's and answer's figures, then the input columns."""
    n = len(rows)
    columns: dict[str, Any] = {
        "request_id": [e.request_id for e, _, _ in rows],  # a batch's applications share their request's
        "item": [item for _, item, _ in rows],
        "timestamp": [round(e.timestamp * 1e6) for e, _, _ in rows],
        "endpoint": [e.endpoint for e, _, _ in rows],
        "model_name": [e.model_name for e, _, _ in rows],
        "model_version": [e.model_version for e, _, _ in rows],
        "client_ref": client_refs,
        "probability": [a.probability if a else None for _, _, a in rows],
        "decision": [a.decision if a else None for _, _, a in rows],
        "threshold": [a.threshold if a else None for _, _, a in rows],
        # The challenger's figures only beside an answer it shadowed (a refused request has none).
        "challenger_version": [e.challenger_version if a and a.challenger_decision else None
                               for e, _, a in rows],
        "challenger_probability": [a.challenger_probability if a else None for _, _, a in rows],
        "challenger_decision": [a.challenger_decision if a else None for _, _, a in rows],
        "latency_ms": [e.latency_ms for e, _, _ in rows],
        "inference_ms": [a.inference_ms if a else None for _, _, a in rows],
        "status": [e.status for e, _, _ in rows],
        "error_kind": [e.error_kind for e, _, _ in rows],
        "simulated": [e.simulated for e, _, _ in rows],
        "rejected_inputs": rejected if rejected is not None else [None] * n,
    }  # fmt: skip
    arrays = [
        inputs[f.name] if f.name in inputs else _array(columns.get(f.name), f.type, n) for f in STORED_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=STORED_SCHEMA)


def _array(values: Sequence[Any] | None, kind: pa.DataType, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, kind)
    if pa.types.is_timestamp(kind):
        return pa.array(values, pa.int64()).cast(kind)
    return pa.array(values, kind)
