"""Request records: typed fields, pseudonymised client references, and no raw client id ever stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from credit_scoring.monitoring.records import RequestRecord, pseudonymise, storable_inputs
from credit_scoring.monitoring.store import open_store
from credit_scoring.schema import example_application

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
    store = open_store(f"sqlite:///{tmp_path / 'requests.db'}")
    store.write([_record()])
    row = store.read().iloc[0]
    assert all(str(RAW_ID) not in str(value) for value in row.to_dict().values())
    assert row["client_ref"] == pseudonymise(RAW_ID, "test-key")
    assert "SK_ID_CURR" not in row["inputs"]
    store.close()
    raw_bytes = b"".join(path.read_bytes() for path in tmp_path.glob("requests.db*"))
    assert str(RAW_ID).encode() not in raw_bytes


def test_a_record_travels_to_the_logger_process_unchanged() -> None:
    import pickle

    record = _record()
    back = pickle.loads(pickle.dumps([record, record], protocol=pickle.HIGHEST_PROTOCOL))
    assert back == [record, record] and back[0].timestamp == record.timestamp
    assert back[0].timestamp.tzinfo is UTC and back[0].request_id == record.request_id
