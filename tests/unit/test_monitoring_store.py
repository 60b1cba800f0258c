"""The SQLite request store: round trip, time ranges, WAL mode, and retention of raw inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from credit_scoring.monitoring.records import RequestRecord, storable_inputs
from credit_scoring.monitoring.store import RequestStore, inputs_frame, open_store
from credit_scoring.schema import example_application

T0 = datetime(2026, 1, 22, 4, 0, tzinfo=UTC)
INPUTS = storable_inputs(example_application())


def _record(minutes: float, **overrides) -> RequestRecord:
    fields = {
        "endpoint": "score",
        "model_name": "credit-scoring",
        "model_version": "3",
        "status": 200,
        "latency_ms": 5.0 + minutes,
        "inference_ms": 0.2,
        "probability": 0.1,
        "decision": "granted",
        "threshold": 0.4,
        "inputs": example_application(),
        "client_ref": "ab" * 32,
        "timestamp": T0 + timedelta(minutes=minutes),
    }
    return RequestRecord(**(fields | overrides))


@pytest.fixture
def store(tmp_path: Path):
    opened = open_store(f"sqlite:///{tmp_path / 'sub' / 'requests.db'}")
    yield opened
    opened.close()


def test_round_trip_keeps_every_field(store) -> None:
    failed = _record(1, status=422, error_kind="validation", probability=None, decision=None)
    written = [_record(0), failed]
    assert store.write(written) == 2 and store.count() == 2
    frame = store.read()
    assert list(frame["request_id"]) == [r.request_id for r in written]
    assert frame["timestamp"].dt.tz == UTC and frame["timestamp"].iloc[0] == T0
    assert frame["inputs"].iloc[0] == INPUTS
    assert pd.isna(frame["probability"].iloc[1]) and frame["error_kind"].iloc[1] == "validation"
    assert frame["status"].tolist() == [200, 422] and frame["latency_ms"].tolist() == [5.0, 6.0]


def test_read_filters_a_half_open_time_range(store) -> None:
    store.write([_record(m) for m in range(10)])
    frame = store.read(T0 + timedelta(minutes=3), T0 + timedelta(minutes=6), with_inputs=False)
    assert frame["latency_ms"].tolist() == [8.0, 9.0, 10.0]
    assert "inputs" not in frame


def test_sqlite_runs_in_wal_mode(store) -> None:
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_store_satisfies_the_interface(store) -> None:
    assert isinstance(store, RequestStore)


def test_purge_erases_old_inputs_and_keeps_aggregates(store) -> None:
    store.write([_record(0), _record(60 * 24 * 10)])  # now and ten days later
    now = T0 + timedelta(days=10, minutes=1)
    assert store.purge_inputs_older_than(days=5, now=now) == 1
    frame = store.read()
    assert frame["inputs"].iloc[0] is None and pd.isna(frame["client_ref"].iloc[0])
    assert frame["inputs"].iloc[1] == INPUTS
    assert frame["probability"].notna().all() and store.count() == 2
    assert store.purge_inputs_older_than(days=5, now=now) == 0


def test_inputs_frame_expands_the_stored_inputs(store) -> None:
    store.write([_record(0), _record(1, inputs=None, status=401, error_kind="auth")])
    table = inputs_frame(store.read())
    assert len(table) == 1 and table["AMT_INCOME_TOTAL"].iloc[0] == example_application()["AMT_INCOME_TOTAL"]


def test_empty_store_reads_an_empty_typed_frame(store) -> None:
    frame = store.read(T0, T0 + timedelta(hours=1))
    assert frame.empty and "latency_ms" in frame and inputs_frame(frame).empty


def test_naive_times_are_refused(store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.read(datetime(2026, 1, 1))


def test_schema_has_typed_aggregate_columns(store) -> None:
    columns = {c["name"]: c["type"] for c in sa.inspect(store.engine).get_columns("requests")}
    assert isinstance(columns["probability"], sa.Float) and isinstance(columns["status"], sa.Integer)
    assert isinstance(columns["inputs"], sa.Text)


def test_workers_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Two service workers open the store on their first records at the same moment: neither may fail
    (a check-then-create schema set-up made one of them lose its first batch)."""
    import threading

    url, opened, errors = f"sqlite:///{tmp_path / 'requests.db'}", [], []
    start = threading.Barrier(4)

    def open_at_once() -> None:
        start.wait()
        try:
            opened.append(open_store(url))
        except Exception as error:  # collected: the assertion shows which
            errors.append(repr(error))

    threads = [threading.Thread(target=open_at_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(opened) == 4
    assert sa.inspect(opened[0].engine).get_indexes("requests")  # the timestamp index was made too
