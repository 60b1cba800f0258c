"""The background request logger: nothing lost, never blocks, never raises, and counts what went wrong."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from credit_scoring.monitoring.records import RequestRecord
from credit_scoring.monitoring.store import SqlRequestStore, open_store
from credit_scoring.monitoring.window_profiles import WindowProfiler, list_window_files, merge_window_profiles
from credit_scoring.schema import example_application


def _record(index: int = 0) -> RequestRecord:
    return RequestRecord(
        endpoint="score",
        model_name="credit-scoring",
        model_version="1",
        status=200,
        latency_ms=3.0,
        inference_ms=0.1,
        probability=(index % 100) / 100,
        decision="granted",
        threshold=0.5,
        inputs=example_application(),
    )


@pytest.fixture
def store(tmp_path: Path):
    opened = open_store(f"sqlite:///{tmp_path / 'requests.db'}")
    yield opened
    opened.close()


class BlockedStore(SqlRequestStore):
    """A real store whose writes wait for a gate: the queue fills up behind it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gate = threading.Event()

    def write(self, records: Sequence[RequestRecord]) -> int:
        self.gate.wait(30)
        return super().write(records)


def test_records_from_many_threads_are_all_stored(store, tmp_path: Path) -> None:
    from credit_scoring.monitoring.writer import RequestLogger

    threads, per_thread = 8, 250
    logger = RequestLogger(store, WindowProfiler(tmp_path / "profiles"), batch_size=64, flush_interval_s=0.05)
    with logger:
        workers = [
            threading.Thread(target=lambda: [logger.submit(_record(i)) for i in range(per_thread)])
            for _ in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    total = threads * per_thread
    assert store.count() == total
    stats = logger.stats()
    assert (stats.submitted, stats.written, stats.dropped, stats.write_errors) == (total, total, 0, 0)
    assert stats.profiled == total and not stats.running
    merged = merge_window_profiles(tmp_path / "profiles")
    assert merged.get_column("probability").to_summary_dict()["counts/n"] == total


def test_clean_close_writes_everything_still_queued(store) -> None:
    from credit_scoring.monitoring.writer import RequestLogger

    # A long interval and large batches: without close() flushing, these records would still be queued.
    logger = RequestLogger(store, batch_size=10_000, flush_interval_s=3600).start()
    accepted = sum(logger.submit(_record(i)) for i in range(1500))
    assert logger.close(timeout=30)
    assert accepted == 1500 and store.count() == 1500
    assert not logger.submit(_record()) and logger.stats().dropped == 1


def test_close_without_start_still_writes(store) -> None:
    from credit_scoring.monitoring.writer import RequestLogger

    logger = RequestLogger(store)
    logger.submit(_record())
    logger.close()
    assert store.count() == 1


def test_flush_makes_submitted_records_readable(store) -> None:
    from credit_scoring.monitoring.writer import RequestLogger

    with RequestLogger(store, flush_interval_s=3600) as logger:
        for i in range(10):
            logger.submit(_record(i))
        assert logger.flush(timeout=10)
        assert store.count() == 10


def test_a_broken_store_never_raises_into_submit_and_is_counted(store) -> None:
    from credit_scoring.monitoring.writer import RequestLogger

    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE requests")  # every later write fails inside SQLite
    logger = RequestLogger(store, batch_size=5, flush_interval_s=0.01).start()
    results = [logger.submit(_record(i)) for i in range(20)]
    assert logger.flush(timeout=10)
    held = logger.stats()
    assert all(results) and held.written == held.failed_records == 0
    assert held.awaiting_retry == 20 and held.write_errors >= 1  # kept for the next attempt
    assert logger.close()
    stats = logger.stats()
    assert stats.written == stats.awaiting_retry == 0 and stats.failed_records == 20  # given up at shutdown


def test_records_of_failed_writes_are_written_once_the_store_is_back(store) -> None:
    from credit_scoring.monitoring.store import create_schema
    from credit_scoring.monitoring.writer import RequestLogger

    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE requests")  # the store goes down...
    logger = RequestLogger(store, batch_size=5, flush_interval_s=0.01).start()
    for i in range(20):
        logger.submit(_record(i))
    assert logger.flush(timeout=10) and logger.stats().awaiting_retry == 20
    create_schema(store.engine)  # ...and comes back
    logger.submit(_record(20))
    assert logger.close()
    stats = logger.stats()
    assert store.count() == stats.written == 21 and stats.failed_records == stats.awaiting_retry == 0
    assert stats.write_errors >= 1


def test_retry_keeps_at_most_the_queue_capacity(store) -> None:
    from credit_scoring.monitoring.writer import RequestLogger

    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE requests")
    logger = RequestLogger(store, queue_size=8, batch_size=4, flush_interval_s=0.01).start()
    for first in range(0, 20, 4):  # a few at a time: the queue itself never overflows
        assert all(logger.submit(_record(i)) for i in range(first, first + 4))
        assert logger.flush(timeout=10)
    stats = logger.stats()
    assert stats.awaiting_retry == 8 and stats.failed_records == 12  # the oldest were given up


def test_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    from credit_scoring.monitoring.writer import RequestLogger

    store = BlockedStore(f"sqlite:///{tmp_path / 'requests.db'}")
    logger = RequestLogger(store, queue_size=10, batch_size=1, flush_interval_s=0.01).start()
    results = [logger.submit(_record(i)) for i in range(100)]  # returns although the store is stuck
    stats = logger.stats()
    assert stats.dropped == results.count(False) >= 89
    assert stats.queue_depth <= stats.queue_capacity == 10
    store.gate.set()
    assert logger.close()
    assert store.count() == results.count(True) == logger.stats().written
    store.close()


def test_stats_are_plain_values(store) -> None:
    from credit_scoring.monitoring.writer import RequestLogger

    stats = RequestLogger(store).stats().as_dict()
    assert stats["queue_depth"] == 0 and stats["running"] is False and stats["queue_capacity"] == 10_000


def test_from_settings_uses_configured_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from credit_scoring.monitoring.writer import RequestLogger
    from credit_scoring.settings import MonitoringSettings

    monkeypatch.setenv("CREDIT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CREDIT_WINDOW_MINUTES", "1")
    logger = RequestLogger.from_settings(MonitoringSettings(), worker="w1")
    with logger:
        logger.submit(_record())
    assert logger.store.count() == 1
    files = list_window_files(tmp_path / "var" / "monitoring" / "profiles")
    assert [f.worker for f in files] == ["w1"]
    assert files[0].start <= datetime.now(UTC)
    logger.store.close()
