"""The server store on a real PostgreSQL: batches stored once, SQL aggregates, retention, parallel opens."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from credit_scoring.recording.protocol import BatchId, RequestRecord, records_table
from credit_scoring.recording.store import SqlStore, operations_from_records
from credit_scoring.schema import example_application

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
