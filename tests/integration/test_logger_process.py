"""The request logger process of a worker: every record stored, whatever signals and deaths happen."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from credit_scoring.monitoring.config import MonitoringSettings
from credit_scoring.monitoring.logger_process import (
    KEY_VARIABLE,
    SETTINGS_VARIABLE,
    ProcessRequestLogger,
    pseudonymisation_key,
)
from credit_scoring.monitoring.records import AnsweredBatch, RequestRecord
from credit_scoring.monitoring.store import open_store
from credit_scoring.monitoring.window_profiles import list_window_files
from credit_scoring.schema import example_application

pytestmark = pytest.mark.integration


def _record(index: int) -> RequestRecord:
    return RequestRecord(
        endpoint="score",
        model_name="credit-scoring",
        model_version="1",
        status=200,
        latency_ms=2.0,
        inputs=example_application(),
        probability=(index % 100) / 100,
        decision="grant",
        threshold=0.5,
    )


@pytest.fixture
def settings(tmp_path: Path) -> MonitoringSettings:
    return MonitoringSettings(data_dir=tmp_path / "var", flush_interval_s=0.05, checkpoint_interval_s=1)


def stored(settings: MonitoringSettings) -> int:
    store = open_store(settings.store_url)
    try:
        return store.count()
    finally:
        store.close()


def test_records_from_many_threads_are_stored_and_profiled_by_the_child(settings: MonitoringSettings) -> None:
    request_logger = ProcessRequestLogger(settings, worker="w7").start()

    def submit_many() -> None:
        for i in range(150):
            request_logger.submit(_record(i))

    threads = [threading.Thread(target=submit_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert request_logger.flush(timeout=60)
    assert request_logger.close(timeout=60)
    stats = request_logger.stats()
    assert (stats.submitted, stats.written, stats.profiled, stats.dropped) == (600, 600, 600, 0)
    assert not stats.running and stored(settings) == 600
    assert {f.worker for f in list_window_files(settings.profiles_path)} == {"w7"}


def test_an_answered_batch_counts_and_is_stored_as_one_record_per_application(
    settings: MonitoringSettings,
) -> None:
    body = json.dumps({"applications": [example_application()] * 3}).encode()
    batch = AnsweredBatch(
        "score_batch", "credit-scoring", "1", 200, 5.0, 1.0, [0.1, 0.2, 0.9], ["grant", "grant", "refuse"],
        0.5, "batch-1", time.time(), body,
    )  # fmt: skip
    request_logger = ProcessRequestLogger(settings).start()
    assert request_logger.submit(batch) and request_logger.submit(_record(1))
    assert request_logger.stats().submitted == 4  # counted in applications, as the child writes them
    assert request_logger.flush(timeout=60) and request_logger.close(timeout=60)
    stats = request_logger.stats()
    assert (stats.submitted, stats.written, stats.dropped) == (4, 4, 0) and stored(settings) == 4


def test_the_child_ignores_sigterm_and_stops_when_the_worker_says_so(settings: MonitoringSettings) -> None:
    """The process manager signals the worker's children at shutdown, even while they are importing."""
    request_logger = ProcessRequestLogger(settings).start()
    child = request_logger._process
    assert child is not None
    for pause in (0.0, 0.5, 2.0):  # at once (the interpreter is starting), while importing, then running
        os.kill(child.pid, signal.SIGTERM)
        time.sleep(pause)
    accepted = sum(request_logger.submit(_record(i)) for i in range(50))
    assert child.poll() is None and request_logger.close(timeout=60)
    assert accepted == 50 and stored(settings) == 50 and child.returncode == 0


def test_a_killed_child_is_replaced_and_later_records_are_stored(settings: MonitoringSettings) -> None:
    request_logger = ProcessRequestLogger(settings).start()
    for i in range(10):
        request_logger.submit(_record(i))
    assert request_logger.flush(timeout=60)
    first = request_logger._process
    first.kill()  # type: ignore[union-attr]
    first.wait()  # type: ignore[union-attr]
    for i in range(10, 30):
        request_logger.submit(_record(i))
    assert request_logger.close(timeout=60)
    assert request_logger._process is not first and stored(settings) == 30


def test_the_child_writes_what_it_holds_when_its_worker_disappears(settings: MonitoringSettings) -> None:
    """End of stdin (the worker died) is a stop: what was handed over is still written."""
    command = [sys.executable, "-m", "credit_scoring.monitoring.logger_child", "--worker", "orphan"]
    env = os.environ | {SETTINGS_VARIABLE: settings.model_dump_json()}
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    handed_over = pickle.dumps(("records", [_record(i) for i in range(25)]))
    output, _ = child.communicate(handed_over, timeout=60)  # then stdin is closed: the worker is gone
    assert child.returncode == 0 and b'"stopped": true' in output
    assert stored(settings) == 25


def test_a_stalled_child_fills_a_bounded_buffer_and_drops_are_counted(tmp_path: Path) -> None:
    """A child kept off the CPU (here stopped outright): submit never blocks, the backlog waits in the
    worker up to ``buffer_mb``, the excess is dropped and counted, the rest is written once it resumes."""
    settings = MonitoringSettings(data_dir=tmp_path / "var", buffer_mb=1, queue_size=100)
    request_logger = ProcessRequestLogger(settings).start()
    child = request_logger._process
    os.kill(child.pid, signal.SIGSTOP)  # type: ignore[union-attr]
    try:
        submit_s, accepted = 0.0, 0
        for i in range(3000):
            started = time.monotonic()
            accepted += request_logger.submit(_record(i))
            submit_s += time.monotonic() - started
            if i % 100 == 99:
                _wait_until_pickled(request_logger)  # queue -> outbox, where the drops are counted
        dropped = request_logger.stats().dropped
    finally:
        os.kill(child.pid, signal.SIGCONT)  # type: ignore[union-attr]
    assert request_logger.close(timeout=120)
    stats = request_logger.stats()
    assert submit_s < 5 and dropped > 0 and stats.dropped == dropped  # never blocked on the stopped child
    assert accepted == 3000  # every record got past the queue: the drops are the outbox's
    assert stored(settings) == stats.written == 3000 - dropped > 200  # 1-3 KB a pickled record: 1 MB kept


def _wait_until_pickled(request_logger: ProcessRequestLogger, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not request_logger._queue.empty() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # the bunch taken off the queue is being pickled and posted


def test_no_setting_appears_on_the_command_line(tmp_path: Path) -> None:
    """The store URL may carry a password: it must not be readable in the process list."""
    url = f"sqlite:///{tmp_path / 'requests.db'}?secret-marker=s3cr3t"
    request_logger = ProcessRequestLogger(
        MonitoringSettings(data_dir=tmp_path, request_store_url=url), pseudonymisation_key=b"hmac-k3y"
    ).start()
    try:
        command_line = Path(f"/proc/{request_logger._process.pid}/cmdline").read_bytes()  # type: ignore[union-attr]
    finally:
        assert request_logger.close(timeout=60)
    assert b"s3cr3t" not in command_line and b"logger_child" in command_line
    assert b"hmac-k3y" not in command_line


def test_the_child_pseudonymises_with_the_handed_over_key_else_the_settings_one(monkeypatch) -> None:
    monkeypatch.setenv("CREDIT_PSEUDONYMISATION_KEY", "from-settings")
    monkeypatch.setenv(KEY_VARIABLE, "handed-over")
    assert pseudonymisation_key() == b"handed-over"
    monkeypatch.delenv(KEY_VARIABLE)
    assert pseudonymisation_key() == b"from-settings"


@pytest.mark.parametrize("priority", ["idle", "low"])
def test_every_thread_of_the_child_runs_at_the_configured_priority(tmp_path: Path, priority: str) -> None:
    """Set before the imports: threads that libraries start (OpenBLAS, pyarrow) must not keep the worker's."""
    settings = MonitoringSettings(data_dir=tmp_path, flush_interval_s=0.05, monitoring_priority=priority)
    request_logger = ProcessRequestLogger(settings).start()
    try:
        request_logger.submit(_record(1))
        assert request_logger.flush(timeout=60, profiles=True)  # stored and profiled: every library in use
        pid = request_logger._process.pid  # type: ignore[union-attr]
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        policies = {tid: os.sched_getscheduler(tid) for tid in threads}
        niceness = {tid: os.getpriority(os.PRIO_PROCESS, tid) for tid in threads}
    finally:
        assert request_logger.close(timeout=60)
    expected = os.SCHED_IDLE if priority == "idle" else os.SCHED_OTHER
    assert len(threads) >= 3 and set(policies.values()) == {expected}, policies
    assert set(niceness.values()) == {19}, niceness
