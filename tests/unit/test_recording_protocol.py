"""Recorded requests: typed fields, pseudonymised client references, and no raw client id ever stored."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from credit_scoring.batch_validation import validate_batch_json
from credit_scoring.recording.decode import decode_entries
from credit_scoring.recording.journal import iter_frames
from credit_scoring.recording.protocol import (
    FRAME_HEADER,
    FRAME_VERSION,
    META_LENGTH,
    STORED_SCHEMA,
    Answer,
    JournalEntry,
    RequestRecord,
    decode_batch_inputs,
    encode_batch_inputs,
    pseudonymise,
    records_table,
    storable_inputs,
)
from credit_scoring.recording.store import ParquetStore, SqlStore
from credit_scoring.schema import ID_COLUMN, example_application
from credit_scoring.settings import MonitoringSettings
from credit_scoring.validation import Application, application_to_record
from tests.support.recording import write_records

RAW_ID = 100002


def _record(**overrides) -> RequestRecord:
    fields = {
        "endpoint": "score",
        "model_name": "credit-scoring",
        "model_version": "3",
        "status": 200,
        "latency_ms": 4.2,
        "inference_ms": 0.3,
        "probability": 0.12,
        "decision": "granted",
        "threshold": 0.35,
        "inputs": example_application() | {"SK_ID_CURR": RAW_ID, "TARGET": 1},
        "client_ref": pseudonymise(RAW_ID, SecretStr("test-key")),
    }
    return RequestRecord(**(fields | overrides))


def test_pseudonymise_is_keyed_stable_and_not_the_raw_id() -> None:
    ref = pseudonymise(RAW_ID, SecretStr("k1"))
    assert ref == pseudonymise(str(RAW_ID), "k1") == pseudonymise(RAW_ID, b"k1")
    assert ref != pseudonymise(RAW_ID, "k2")
    assert ref != pseudonymise(RAW_ID + 1, "k1")
    assert len(ref) == 64 and str(RAW_ID) not in ref
    assert pseudonymise(None, "k1") is None


def test_record_defaults_and_normalisation() -> None:
    paris = timezone(timedelta(hours=1))
    record = _record(timestamp=datetime(2026, 1, 22, 5, 0, tzinfo=paris))
    assert record.timestamp == datetime(2026, 1, 22, 4, 0, tzinfo=UTC)
    assert record.timestamp.tzinfo == UTC
    assert len(record.request_id) == 32 and record.request_id != _record().request_id
    assert record.succeeded and record.error_kind is None
    assert "SK_ID_CURR" not in record.to_dict()["inputs"] and "TARGET" not in record.to_dict()["inputs"]
    assert record.to_dict()["timestamp"] == "2026-01-22T04:00:00+00:00"


def test_record_rejects_naive_time_and_unknown_error_kind() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _record(timestamp=datetime(2026, 1, 22))
    with pytest.raises(ValueError, match="error_kind"):
        _record(error_kind="oops")


def test_failed_request_record() -> None:
    record = _record(status=400, error_kind="validation", probability=None, decision=None, inference_ms=None)
    assert not record.succeeded


def test_storable_inputs_turns_nan_into_none() -> None:
    assert storable_inputs({"EXT_SOURCE_1": float("nan"), "SK_ID_CURR": 5}) == {"EXT_SOURCE_1": None}
    assert storable_inputs(None) is None


def test_no_raw_client_id_anywhere_in_the_stored_row(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "store")
    write_records(store, [_record()])
    row = store.records().iloc[0]
    assert all(str(RAW_ID) not in str(value) for value in row.to_dict().values())
    assert row["client_ref"] == pseudonymise(RAW_ID, "test-key")
    assert "SK_ID_CURR" not in row and "TARGET" not in row
    raw_bytes = b"".join(path.read_bytes() for path in (tmp_path / "store").rglob("*.parquet"))
    assert str(RAW_ID).encode() not in raw_bytes


def _answered(body: dict, timestamp: float = 1_790_000_000.25) -> JournalEntry:
    answer = Answer("answer-1", 0.12, "grant", 0.35, 0.3)
    return JournalEntry("score", "credit-scoring", "3", 200, None, 4.2, timestamp, "answer-1", [answer],
                        json.dumps(body).encode())  # fmt: skip


def test_an_answered_application_is_stored_as_the_api_validated_it() -> None:
    # A whole number sent as 2.0 and an id: stored as the validated int, the id only as its pseudonym.
    sent = example_application() | {"CNT_CHILDREN": 2.0, "SK_ID_CURR": RAW_ID, "TARGET": 1}
    entry = JournalEntry.decode(next(iter_frames(_answered({"application": sent, "top": 3}).encode()))[1])
    row = decode_entries([entry], b"test-key").to_pylist()[0]
    expected = application_to_record(Application.model_validate_json(json.dumps(sent)))
    assert {name: row[name] for name in expected} == expected and type(row["CNT_CHILDREN"]) is int
    assert row["client_ref"] == pseudonymise(RAW_ID, "test-key")
    assert (row["probability"], row["decision"], row["threshold"]) == (0.12, "grant", 0.35)
    assert row["request_id"] == "answer-1"  # latencies are stored as float32
    assert (row["latency_ms"], row["inference_ms"]) == (pytest.approx(4.2), pytest.approx(0.3))
    assert row["timestamp"] == datetime(2026, 9, 21, 14, 13, 20, 250000, tzinfo=UTC)
    assert str(RAW_ID) not in json.dumps(row, default=str)


def test_an_answered_body_that_no_longer_validates_still_leaves_its_record() -> None:
    row = decode_entries([_answered({"application": {"AMT_INCOME_TOTAL": -1}})], b"test-key").to_pylist()[0]
    assert row["AMT_INCOME_TOTAL"] is None and row["client_ref"] is None and row["status"] == 200


def test_store_location_never_shows_a_password() -> None:
    settings = MonitoringSettings(request_store_url="postgresql://monitor:s3cret@db.example/credit")
    assert settings.store_location == "postgresql://monitor:***@db.example/credit"


# --- shadow scoring: the challenger's figures in the frame and the stored record ----------------


def _shadowed(body: dict) -> JournalEntry:
    answer = Answer("answer-2", 0.12, "grant", 0.35, 0.3, 0.41, "refuse")
    return JournalEntry("score", "credit-scoring", "3", 200, None, 4.2, 1_790_000_000.0, "answer-2", [answer],
                        json.dumps(body).encode(), False, "4")  # fmt: skip


def _version_1_frame(entry: JournalEntry) -> bytes:
    """The frame as the service wrote it before shadow scoring (FRAME_VERSION 1): five figures an answer."""
    answers = [list(answer)[:5] for answer in entry.answers]
    meta = orjson.dumps([1, *entry[:8], answers, entry.body is not None, entry.simulated])
    payload = b"".join((META_LENGTH.pack(len(meta)), meta, entry.body or b""))
    return FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def test_a_frame_carries_the_challengers_version_probability_and_decision() -> None:
    entry = _shadowed({"application": example_application()})
    decoded = JournalEntry.decode(next(iter_frames(entry.encode()))[1])
    assert decoded == entry and FRAME_VERSION == 3
    row = decode_entries([decoded], b"test-key").to_pylist()[0]
    assert (row["probability"], row["decision"], row["model_version"]) == (0.12, "grant", "3")
    assert (row["challenger_version"], row["challenger_probability"], row["challenger_decision"]) == (
        "4", 0.41, "refuse")  # fmt: skip


def test_a_version_1_frame_still_decodes_with_null_challenger_figures() -> None:
    entry = _shadowed({"application": example_application()})
    decoded = JournalEntry.decode(next(iter_frames(_version_1_frame(entry)))[1])
    assert decoded.challenger_version is None and decoded.answers[0].challenger_probability is None
    assert decoded._replace(challenger_version="4", answers=entry.answers) == entry
    row = decode_entries([decoded], b"test-key").to_pylist()[0]
    assert row["probability"] == 0.12 and row["decision"] == "grant"
    challenger = ("challenger_version", "challenger_probability", "challenger_decision")
    assert [row[column] for column in challenger] == [None] * 3


def test_a_refused_request_has_no_challenger_figures_even_from_a_shadowing_worker() -> None:
    refused = _shadowed({"application": {"AMT_INCOME_TOTAL": -1}})._replace(
        status=400, error_kind="validation", answers=[]
    )
    row = decode_entries([refused], b"test-key").to_pylist()[0]
    assert row["status"] == 400
    assert row["challenger_version"] is None and row["challenger_probability"] is None


def test_parquet_written_before_the_challenger_columns_still_reads(tmp_path: Path) -> None:
    # A partition of the old schema (no challenger columns) alone, then beside a new one.
    old_schema = pa.schema([f for f in STORED_SCHEMA if not f.name.startswith("challenger_")])
    table = records_table([_record(request_id="old-1")]).select(old_schema.names)
    folder = tmp_path / "store" / f"day={table.column('timestamp')[0].as_py().date().isoformat()}"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-old-000000000000-000000000001.parquet")
    store = ParquetStore(tmp_path / "store")
    only_old = store.records()
    assert list(only_old["request_id"]) == ["old-1"] and only_old["challenger_probability"].isna().all()
    write_records(store, [_record(request_id="new-1", challenger_version="4", challenger_probability=0.5,
                                  challenger_decision="refuse")])  # fmt: skip
    both = store.records().set_index("request_id")
    assert both.loc["new-1", "challenger_probability"] == 0.5
    assert both.loc["new-1", "challenger_version"] == "4"
    assert pd.isna(both.loc["old-1", "challenger_probability"]) and store.count() == 2
    assert store.compact(min_parts=2) == 2  # pyarrow reads the old file with the full schema too
    assert store.records().set_index("request_id").loc["new-1", "challenger_decision"] == "refuse"


def drop_challenger_columns(url: str) -> None:
    """Make the store's records table look as an older version created it (no challenger columns)."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for column in ("challenger_version", "challenger_probability", "challenger_decision"):
            connection.execute(sa.text(f"ALTER TABLE records DROP COLUMN {column}"))
    engine.dispose()


def test_a_sqlite_records_table_created_before_gets_the_challenger_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    SqlStore(url).close()
    drop_challenger_columns(url)
    old = sa.create_engine(url)
    with old.begin() as connection:  # a row the old version stored
        row = {k: v for k, v in _record(request_id="old-1").row().items() if not k.startswith("challenger_")}
        connection.execute(sa.insert(sa.Table("records", sa.MetaData(), autoload_with=connection)),
                           [row | {"timestamp": row["timestamp"].replace(tzinfo=None)}])  # fmt: skip
    old.dispose()
    store = SqlStore(url)  # opening migrates
    write_records(store, [_record(request_id="new-1", challenger_version="4", challenger_probability=0.5,
                                  challenger_decision="refuse")])  # fmt: skip
    found = store.records().set_index("request_id")
    assert pd.isna(found.loc["old-1", "challenger_probability"])
    assert found.loc["new-1", "challenger_version"] == "4"
    store.close()


def _version_2_frame(entry: JournalEntry) -> bytes:
    """The frame as the service wrote it before the body's format was named (FRAME_VERSION 2)."""
    answers = [tuple(answer) for answer in entry.answers]
    meta = orjson.dumps(
        [2, *entry[:8], answers, entry.body is not None, entry.simulated, entry.challenger_version]
    )
    payload = b"".join((META_LENGTH.pack(len(meta)), meta, entry.body or b""))
    return FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def test_a_version_2_frame_still_decodes_as_a_json_body() -> None:
    entry = _shadowed({"application": example_application()})
    decoded = JournalEntry.decode(next(iter_frames(_version_2_frame(entry)))[1])
    assert decoded == entry and decoded.body_format == "json"


def test_an_answered_batchs_inputs_travel_as_columns_and_come_back_exactly() -> None:
    body = orjson.dumps({"applications": [example_application(), example_application() | {ID_COLUMN: None}]})
    batch = validate_batch_json(body)
    assert batch is not None
    inputs = encode_batch_inputs(batch.encoded, batch.client_references)
    assert len(inputs) < len(body) / 2
    answers = [Answer(f"b-{i}", 0.2, "grant", 0.35, 0.3) for i in range(2)]
    entry = JournalEntry("score_batch", "credit-scoring", "3", 200, None, 4.2, 1_790_000_000.0, "b", answers,
                         inputs, False, None, "columns")  # fmt: skip
    decoded = JournalEntry.decode(next(iter_frames(entry.encode()))[1])
    assert decoded == entry
    matrix, references = decode_batch_inputs(decoded.body)
    assert np.array_equal(matrix, batch.encoded, equal_nan=True) and references == [100002, None]
    rows = decode_entries([decoded], b"test-key").to_pylist()
    assert [row[name] for row in rows for name in ("AMT_CREDIT", "CODE_GENDER")] == [
        example_application()["AMT_CREDIT"], example_application()["CODE_GENDER"]] * 2  # fmt: skip
    assert rows[0]["client_ref"] == pseudonymise(100002, b"test-key") and rows[1]["client_ref"] is None


def test_batch_inputs_keep_ids_beyond_64_bits_exactly() -> None:
    matrix = np.arange(6, dtype=np.float64).reshape(2, 3)
    decoded, references = decode_batch_inputs(encode_batch_inputs(matrix, [2**70 + 1, None]))
    assert references == [2**70 + 1, None] and np.array_equal(decoded, matrix)
