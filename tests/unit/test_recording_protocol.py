"""Recorded requests: typed fields, pseudonymised client references, and no raw client id ever stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from credit_scoring.recording.decode import decode_entries
from credit_scoring.recording.journal import iter_frames
from credit_scoring.recording.protocol import (
    Answer,
    JournalEntry,
    RequestRecord,
    pseudonymise,
    storable_inputs,
)
from credit_scoring.recording.store import ParquetStore
from credit_scoring.schema import example_application
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
