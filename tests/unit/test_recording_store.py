"""The production store: Parquet day partitions with DuckDB queries, compaction, retention, SQL option."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from credit_scoring.recording import store as store_module
from credit_scoring.recording.protocol import BatchId, RequestRecord, records_table
from credit_scoring.recording.store import (
    ParquetStore,
    RecordStore,
    SqlStore,
    operations_from_records,
    visible_files,
)
from credit_scoring.schema import example_application

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def records(count: int, start: datetime = NOW, step_s: float = 1.0, **fields) -> list[RequestRecord]:
    base = {"endpoint": "score", "model_name": "credit-scoring", "model_version": "2", "status": 200,
            "probability": 0.2, "decision": "grant", "threshold": 0.4, "inference_ms": 0.1,
            "inputs": example_application()} | fields  # fmt: skip
    return [
        RequestRecord(latency_ms=1.0 + i % 7, timestamp=start + timedelta(seconds=i * step_s), **base)
        for i in range(count)
    ]


def write(store: RecordStore, batch: int, rows: list[RequestRecord]) -> None:
    store.write_batch(
        BatchId("seg", batch * 1000, batch * 1000 + 999), rows[0].timestamp.date(), records_table(rows)
    )


@pytest.fixture(params=["parquet", "sqlite"])
def store(request, tmp_path: Path) -> RecordStore:
    if request.param == "parquet":
        return ParquetStore(tmp_path / "store")
    return SqlStore(f"sqlite:///{tmp_path / 'records.db'}")


def test_round_trip_of_columns_and_ranges(store: RecordStore) -> None:
    write(store, 1, records(10))
    write(store, 2, records(5, status=400, error_kind="validation", probability=None, decision=None,
                            inputs={"AMT_INCOME_TOTAL": -1}))  # fmt: skip
    assert isinstance(store, RecordStore) and store.count() == 15
    frame = store.records(
        NOW + timedelta(seconds=2), NOW + timedelta(seconds=5), columns=["status", "AMT_CREDIT"]
    )
    assert list(frame.columns) == ["timestamp", "status", "AMT_CREDIT"] and len(frame) == 3 * 2
    assert str(frame["timestamp"].dt.tz) == "UTC" and frame["AMT_CREDIT"].notna().sum() == 3
    everything = store.records()
    assert everything["rejected_inputs"].dropna().tolist() == ['{"AMT_INCOME_TOTAL":-1}'] * 5
    assert (
        store.stored_batch_end(NOW.date(), "seg", 2000) == 2999
        and store.stored_batch_end(NOW.date(), "seg", 5) is None
    )


def test_empty_store_gives_typed_empty_answers(store: RecordStore) -> None:
    assert store.count() == 0 and store.records(columns=["latency_ms"]).empty
    assert store.aggregate_operations(None, None, 60).empty


def test_operations_aggregated_by_the_query_engine_match_pandas(store: RecordStore) -> None:
    write(store, 1, records(300, step_s=0.7))
    write(store, 2, records(20, status=500, error_kind="internal", probability=None, decision=None))
    frame = store.aggregate_operations(NOW, NOW + timedelta(hours=1), 60)
    expected = operations_from_records(store.records(), 60)
    pd.testing.assert_frame_equal(frame, expected, check_freq=False, check_names=False, atol=1e-6)
    assert frame["requests"].sum() == 320 and frame["server_errors"].sum() == 20


def test_retention_drops_whole_old_days(store: RecordStore) -> None:
    for days in range(4):
        write(store, days, records(3, start=NOW - timedelta(days=days)))
    store.drop_days_before((NOW - timedelta(days=1)).date())
    assert store.count() == 6 and store.records()["timestamp"].min() >= NOW - timedelta(days=1)


def test_compaction_merges_small_files_and_readers_never_count_twice(tmp_path: Path, monkeypatch) -> None:
    store = ParquetStore(tmp_path / "store")
    for batch in range(6):
        write(store, batch, records(4, start=NOW + timedelta(minutes=batch)))
    folder = tmp_path / "store" / f"day={NOW.date()}"
    assert store.compact(min_parts=4) == 6
    assert [p.name[:8] for p in visible_files(folder)] == ["compact-"] and store.count() == 24
    assert len(list(folder.glob("part-*.parquet"))) == 6  # covered, kept while a query may read them
    assert store.stored_batch_end(NOW.date(), "seg", 3000) == 3999  # a covered batch is still known
    monkeypatch.setattr(store_module, "COVERED_GRACE_S", 0.0)
    write(store, 7, records(4, start=NOW + timedelta(minutes=7)))
    store.compact(min_parts=4)
    assert not list(folder.glob("part-seg-000000000000-*.parquet")) and store.count() == 28
    assert store.stored_batch_end(NOW.date(), "seg", 0) == 999


def test_sql_store_refuses_a_batch_twice(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'records.db'}")
    write(store, 1, records(3))
    with pytest.raises(Exception, match=r"UNIQUE|unique"):
        write(store, 1, records(3))
    assert store.count() == 3


def test_workers_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Workers creating the same new database at one moment: none may fail with "database is locked"."""
    url, opened, errors = f"sqlite:///{tmp_path / 'new' / 'records.db'}", [], []
    start = threading.Barrier(6)

    def open_at_once() -> None:
        start.wait()
        try:
            opened.append(SqlStore(url).count())
        except Exception as error:  # collected: the assertion shows which
            errors.append(repr(error))

    threads = [threading.Thread(target=open_at_once) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and opened == [0] * 6


def test_day_partitions_are_named_by_utc_day(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "store")
    write(store, 1, records(2))
    assert [p.name for p in (tmp_path / "store").iterdir()] == [f"day={NOW.date().isoformat()}"]
    assert store.records(NOW.replace(day=5), None).empty and date.fromisoformat("2026-03-04") == NOW.date()
