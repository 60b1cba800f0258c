"""Request records: typed fields, pseudonymised client references, and no raw client id ever stored."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from credit_scoring.monitoring.records import (
    AnsweredApplication,
    AnsweredBatch,
    RequestRecord,
    complete_record,
    complete_records,
    pseudonymise,
    records_in,
    storable_inputs,
)
from credit_scoring.monitoring.store import open_store
from credit_scoring.schema import example_application
from credit_scoring.validation import Application, application_to_record

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
    record = _record()
    back = pickle.loads(pickle.dumps([record, record], protocol=pickle.HIGHEST_PROTOCOL))
    assert back == [record, record] and back[0].timestamp == record.timestamp
    assert back[0].timestamp.tzinfo is UTC and back[0].request_id == record.request_id


def _answered(body: dict, timestamp: float = 1_790_000_000.25) -> AnsweredApplication:
    return AnsweredApplication(
        "score", "credit-scoring", "3", 200, 4.2, 0.3, 0.12, "grant", 0.35, "answer-1", timestamp,
        json.dumps(body).encode(),
    )  # fmt: skip


def test_an_answered_application_is_completed_as_the_api_validated_it() -> None:
    # A whole number sent as 2.0 and an id: stored as the validated int, the id only as its pseudonym.
    sent = example_application() | {"CNT_CHILDREN": 2.0, "SK_ID_CURR": RAW_ID, "TARGET": 1}
    answered = pickle.loads(pickle.dumps(_answered({"application": sent, "top": 3})))
    record = complete_record(answered, b"test-key")
    expected = application_to_record(Application.model_validate_json(json.dumps(sent)))
    assert record.inputs == expected and type(record.inputs["CNT_CHILDREN"]) is int
    assert record.client_ref == pseudonymise(RAW_ID, "test-key")
    assert (record.probability, record.decision, record.threshold) == (0.12, "grant", 0.35)
    assert (record.request_id, record.latency_ms, record.inference_ms) == ("answer-1", 4.2, 0.3)
    assert record.timestamp == datetime(2026, 9, 21, 14, 13, 20, 250000, tzinfo=UTC)
    assert str(RAW_ID) not in json.dumps(record.to_dict(), default=str)


def test_an_answered_body_that_no_longer_validates_still_leaves_its_record() -> None:
    record = complete_record(_answered({"application": {"AMT_INCOME_TOTAL": -1}}), b"test-key")
    assert record.inputs is None and record.client_ref is None and record.status == 200


def test_a_complete_record_passes_through() -> None:
    record = _record()
    assert complete_record(record, b"test-key") is record
    assert complete_records(record, b"test-key") == [record] and records_in(record) == 1


def _answered_batch(applications: list[dict]) -> AnsweredBatch:
    count, body = len(applications), json.dumps({"applications": applications}).encode()
    return AnsweredBatch(
        "score_batch", "credit-scoring", "3", 200, 9.5, 1.5, [0.1 * (i + 1) for i in range(count)],
        ["grant"] * count, 0.35, "batch-1", 1_790_000_000.25, body,
    )  # fmt: skip


def test_an_answered_batch_becomes_one_record_per_application_as_the_api_validated_them() -> None:
    sent = [
        example_application() | {"CNT_CHILDREN": 2.0, "SK_ID_CURR": RAW_ID, "TARGET": 1},
        example_application() | {"SK_ID_CURR": None, "EXT_SOURCE_1": float("nan")},  # NaN: missing
    ]
    answered = pickle.loads(pickle.dumps(_answered_batch(sent)))
    records = complete_records(answered, b"test-key")
    assert records_in(answered) == len(records) == 2
    expected = [application_to_record(Application.model_validate_json(json.dumps(a))) for a in sent]
    assert [r.inputs for r in records] == expected and type(records[0].inputs["CNT_CHILDREN"]) is int
    assert records[1].inputs["EXT_SOURCE_1"] is None
    assert [r.client_ref for r in records] == [pseudonymise(RAW_ID, "test-key"), None]
    assert [r.probability for r in records] == [0.1, 0.2] and {r.request_id for r in records} == {"batch-1"}
    assert {(r.endpoint, r.status, r.threshold, r.latency_ms, r.inference_ms) for r in records} == {
        ("score_batch", 200, 0.35, 9.5, 1.5)
    }
    assert records[0].timestamp == datetime(2026, 9, 21, 14, 13, 20, 250000, tzinfo=UTC)


def test_an_answered_batch_whose_body_no_longer_validates_still_leaves_its_records() -> None:
    records = complete_records(_answered_batch([{"AMT_INCOME_TOTAL": -1}, {}]), b"test-key")
    assert [(r.inputs, r.client_ref) for r in records] == [(None, None), (None, None)]
    assert [r.probability for r in records] == [0.1, 0.2]
