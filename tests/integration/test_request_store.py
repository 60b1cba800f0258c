"""The request store with real processes and servers: WAL readers while writing, clean stops, PostgreSQL."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from credit_scoring.monitoring.records import RequestRecord
from credit_scoring.monitoring.store import open_store
from credit_scoring.monitoring.window_profiles import merge_window_profiles
from credit_scoring.monitoring.writer import RequestLogger
from credit_scoring.schema import example_application

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]

# A service-like process: submits records until SIGTERM, then closes the logger as the service's
# shutdown hook will, and prints how many records it handed over.
WORKER = """
import json, signal, sys, threading
from credit_scoring.monitoring.records import RequestRecord
from credit_scoring.monitoring.store import open_store
from credit_scoring.monitoring.window_profiles import WindowProfiler
from credit_scoring.monitoring.writer import RequestLogger
from credit_scoring.schema import example_application

url, profiles, worker = sys.argv[1:4]
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
logger = RequestLogger(open_store(url), WindowProfiler(profiles, worker=worker), batch_size=50,
                       flush_interval_s=0.05).start()
inputs = example_application()
print("ready", flush=True)
accepted = 0
while not stop.is_set():
    accepted += logger.submit(RequestRecord(endpoint="score", model_name="credit-scoring", model_version="1",
                                            status=200, latency_ms=1.0, probability=0.5, inputs=inputs))
    stop.wait(0.001)
logger.close()
print(json.dumps({"accepted": accepted, **logger.stats().as_dict()}), flush=True)
"""


def _start_worker(url: str, profiles: Path, name: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, url, str(profiles), name],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def _stop_worker(process: subprocess.Popen[str]) -> dict:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


def test_two_worker_processes_lose_nothing_while_the_monitor_reads(tmp_path: Path) -> None:
    url, profiles = f"sqlite:///{tmp_path / 'requests.db'}", tmp_path / "profiles"
    workers = [_start_worker(url, profiles, name) for name in ("w1", "w2")]
    reader, seen = open_store(url), []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # WAL: the reader never waits for, nor blocks, the writers
        seen.append(reader.count())
        reader.read(with_inputs=False)
        time.sleep(0.05)
    stats = [_stop_worker(process) for process in workers]
    accepted = sum(s["accepted"] for s in stats)
    assert seen == sorted(seen) and seen[-1] > 0
    assert reader.count() == accepted == sum(s["written"] for s in stats)
    assert all(s["dropped"] == 0 and s["write_errors"] == 0 for s in stats)
    merged = merge_window_profiles(profiles)
    assert merged.get_column("probability").to_summary_dict()["counts/n"] == accepted
    reader.close()


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    return Path(found).parent if found else None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a Unix socket (as user postgres when the tests run as root)."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg is not installed")
    # Not under pytest's tmp folder: its parents are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="credit-postgres-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    data, port = root / "data", 55_000 + os.getpid() % 1000
    subprocess.run([*as_user, binaries / "initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)  # fmt: skip
    pg_ctl = [*as_user, binaries / "pg_ctl", "-D", data]
    options = f"-p {port} -k {root} -c listen_addresses=''"
    subprocess.run(
        [*pg_ctl, "-o", options, "-l", root / "log", "-w", "start"], check=True, capture_output=True
    )
    try:
        yield f"postgresql://postgres@/postgres?host={root}&port={port}"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_store_round_trip_retention_and_concurrent_logging(postgres_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    store = open_store(postgres_url)
    old = RequestRecord(endpoint="score", model_name="credit-scoring", model_version="1", status=200,
                        latency_ms=2.0, inputs=example_application(), client_ref="ab" * 32,
                        timestamp=datetime.now(UTC) - timedelta(days=40))  # fmt: skip
    store.write([old])
    with RequestLogger(store, batch_size=32, flush_interval_s=0.02) as logger:
        for _ in range(500):
            logger.submit(RequestRecord(endpoint="score", model_name="credit-scoring", model_version="1",
                                        status=200, latency_ms=1.0, inputs={"AMT_CREDIT": 1.0}))  # fmt: skip
    assert store.count() == 501 and logger.stats().written == 500
    frame = store.read(datetime.now(UTC) - timedelta(days=41), datetime.now(UTC) - timedelta(days=39))
    assert frame["request_id"].tolist() == [old.request_id] and frame["inputs"].iloc[0]["AMT_CREDIT"] > 0
    assert store.purge_inputs_older_than(30) == 1
    assert store.read()["inputs"].isna().sum() == 1
    store.close()
