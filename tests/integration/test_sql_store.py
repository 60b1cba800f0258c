"""The server store on a real PostgreSQL: batches stored once, SQL aggregates, retention, parallel opens."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from credit_scoring.recording.protocol import BatchId, RequestRecord, records_table
from credit_scoring.recording.store import SqlStore, operations_from_records
from credit_scoring.schema import example_application
from tests.unit.test_recording_protocol import drop_challenger_columns

pytestmark = pytest.mark.integration


def _records(count: int, start: datetime) -> list[RequestRecord]:
    return [
        RequestRecord("score", "credit-scoring", "1", 200 if i % 10 else 500, 1.0 + i % 13,
                      inputs=example_application(), probability=(i % 100) / 100, threshold=0.3,
                      decision="refuse" if i % 3 == 0 else "grant", inference_ms=0.2,
                      timestamp=start + timedelta(seconds=i))
        for i in range(count)
    ]  # fmt: skip


def test_postgresql_store_batches_aggregates_and_retention(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://")
    opened, errors, barrier = [], [], threading.Barrier(4)

    def open_at_once() -> None:
        barrier.wait()
        try:
            opened.append(SqlStore(url))
        except Exception as error:  # collected: the assertion shows which
            errors.append(repr(error))

    threads = [threading.Thread(target=open_at_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(opened) == 4
    store, now = opened[0], datetime.now(UTC).replace(microsecond=0)
    old, recent = _records(5, now - timedelta(days=40)), _records(200, now - timedelta(minutes=10))
    store.write_batch(BatchId("seg", 0, 10), old[0].timestamp.date(), records_table(old))
    store.write_batch(BatchId("seg", 10, 20), now.date(), records_table(recent))
    assert store.stored_batch_end(now.date(), "seg", 10) == 20 and store.count() == 205
    with pytest.raises(Exception, match="duplicate key"):
        store.write_batch(BatchId("seg", 10, 20), now.date(), records_table(recent))
    frame = store.aggregate_operations(now - timedelta(hours=1), now, 60)
    expected = operations_from_records(store.records(now - timedelta(hours=1), now), 60)
    pd.testing.assert_frame_equal(frame, expected, check_freq=False, check_names=False, atol=1e-6)
    store.drop_days_before((now - timedelta(days=30)).date())
    assert store.count() == 200 and store.records(columns=["AMT_CREDIT"])["AMT_CREDIT"].notna().sum() == 180
    for each in opened:
        each.close()


def test_postgresql_monitor_aggregates_equal_duckdb_and_pandas(postgres_url: str, tmp_path: Path) -> None:
    """The same records in PostgreSQL and Parquet: the monitor's figures agree with the pandas reference."""
    import numpy as np

    from credit_scoring.recording import queries
    from credit_scoring.recording.store import ParquetStore
    from tests.unit.test_monitor_aggregates import NOW
    from tests.unit.test_monitor_aggregates import _records as mixed_records

    url = postgres_url.replace("postgresql://", "postgresql+psycopg://")
    server, parquet = SqlStore(url), ParquetStore(tmp_path / "store")
    with server.engine.begin() as connection:  # this test's rows only
        connection.exec_driver_sql("TRUNCATE records, stored_batches")
    rows = records_table(mixed_records(np.random.default_rng(9)))
    for store in (server, parquet):
        store.write_batch(BatchId("mixed", 0, 1), NOW.date(), rows)
    start, end = NOW - timedelta(hours=30), NOW
    reference = queries.filtered(parquet.records(start, end, queries.SUMMARY_INPUTS), False)
    expected = queries.summary_of(reference)
    for store in (server, parquet):
        got = store.summary(start, end, simulated=False)
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert got[name] == (pytest.approx(value, rel=1e-5) if isinstance(value, float) else value), name
        assert store.counts_by(start, end, "error_kind", False) == queries.counts_of(reference, "error_kind")
        pd.testing.assert_frame_equal(store.versions(start, end, False), queries.versions_of(reference))
        assert list(store.score_histogram(start, end, 0.6, 12, False)) == list(
            queries.histogram_of(reference, 0.6, 12)
        )
    server.close()


def test_a_postgresql_records_table_from_before_shadow_scoring_is_migrated(postgres_url: str) -> None:
    # Its own database: the table is made to look as an older version created it (no challenger columns).
    server = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"),
                              isolation_level="AUTOCOMMIT")  # fmt: skip
    with server.connect() as connection:
        connection.execute(sa.text("CREATE DATABASE before_shadow"))
    server.dispose()
    server_url = postgres_url.replace("postgresql://", "postgresql+psycopg://")
    url = server_url.replace("/postgres?", "/before_shadow?")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    first = SqlStore(url)
    first.write_batch(BatchId("old", 0, 3), start.date(), records_table(_records(3, start)))
    first.close()
    drop_challenger_columns(url)
    opened = [SqlStore(url) for _ in range(2)]  # the second open finds nothing left to add
    shadowed = replace(_records(1, start + timedelta(minutes=1))[0], challenger_version="2",
                       challenger_probability=0.25, challenger_decision="grant")  # fmt: skip
    opened[0].write_batch(BatchId("new", 0, 1), start.date(), records_table([shadowed]))
    found = opened[1].records(columns=["model_version", "challenger_version", "challenger_probability"])
    assert found["challenger_probability"].isna().sum() == 3 and found["challenger_version"].iloc[-1] == "2"
    assert found["challenger_probability"].iloc[-1] == 0.25 and len(found) == 4
    for store in opened:
        store.close()
