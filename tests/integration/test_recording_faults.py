"""Faults under load on `bentoml serve` (two workers): every request answered 200 is stored, and once.

Real processes, nothing mocked: a worker or the ingest process SIGKILLed, the store made unwritable, the
journal's disk full (a small tmpfs, as root). The load client keeps each answer's X-Request-ID; the audit
export says what was stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bentoml
import httpx
import orjson
import pandas as pd
import psutil
import pytest
from typer.testing import CliRunner

from credit_scoring.recording.ingest import read_status
from credit_scoring.recording.journal import iter_frames, journal_lag, read_chunk, segments
from credit_scoring.schema import example_application
from credit_scoring.serving.launcher import free_port, serve_command, stop_server, wait_until_ready
from credit_scoring.settings import MonitoringSettings
from credit_scoring_tools.recording_bench import AnsweredLoad
from monitor_app.export_decisions import app as export_app
from tests.integration.test_service_request_log import wait_for_workers
from tests.support.model_fixtures import REPO_ROOT
from tests.support.postgres import PostgresCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BODY = orjson.dumps({"application": example_application()})
FAULT_ENV = {
    "CREDIT_INGEST_INTERVAL_S": "0.2",
    "CREDIT_INGEST_MAX_DELAY_S": "0.5",
    "CREDIT_JOURNAL_SEGMENT_MB": "1",  # many segments: rotation and sealing happen under the faults too
    "CREDIT_CHECKPOINT_INTERVAL_S": "2",
    # At idle priority the ingest only gets CPU nothing else wants: on a shared test machine, maybe none.
    "CREDIT_MONITORING_PRIORITY": "normal",
}
LOAD_S = 8.0
OUTAGE_S = 30.0  # the outage: the journal holds every record meanwhile, the ingest retries


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen
    base_url: str
    settings: MonitoringSettings

    def workers(self) -> list[psutil.Process]:
        children = psutil.Process(self.process.pid).children(recursive=True)
        return [p for p in children if "_bentoml_impl.worker.service" in " ".join(p.cmdline())]


@contextlib.contextmanager
def served(tmp_path: Path, store_env: dict[str, str], extra: dict[str, str]) -> Iterator[Served]:
    env = store_env | FAULT_ENV | {"CREDIT_DATA_DIR": str(tmp_path / "var")} | extra
    settings = MonitoringSettings(
        data_dir=tmp_path / "var",
        journal_dir=extra.get("CREDIT_JOURNAL_DIR"),
        request_store_url=extra.get("CREDIT_REQUEST_STORE_URL"),
    )
    port, log = free_port(), tmp_path / "bentoml-serve.log"
    with log.open("wb") as output:
        command = serve_command("bento.service:CreditScoring", port, host="127.0.0.1")
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, process, timeout=180)
        with httpx.Client(base_url=base_url, timeout=60) as client:
            wait_for_workers(client, count=2)
        yield Served(process, base_url, settings)
    finally:
        stop_server(process, timeout=60)


@pytest.fixture(scope="module")
def server(bento_model: bentoml.Model, store_env: dict[str, str], tmp_path_factory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("faults"), store_env, {}) as running:
        yield running


def load_while(server: Served, fault, clients: int = 8) -> list[tuple[int, str | None]]:
    """Load for LOAD_S seconds with ``fault()`` run in the middle; every answer."""
    load = AnsweredLoad(f"{server.base_url}/score", BODY, clients=clients).start()
    time.sleep(LOAD_S / 2)
    fault()
    time.sleep(LOAD_S / 2)
    return load.stop()


def caught_up(settings: MonitoringSettings, timeout_s: float = 120.0) -> float:
    """Wait until the ingest stored everything journaled; the seconds it took."""
    started = time.monotonic()
    while journal_lag(settings.journal_path).lag_bytes and time.monotonic() - started < timeout_s:
        time.sleep(0.25)
    assert journal_lag(settings.journal_path).lag_bytes == 0, read_status(settings.journal_path)
    return time.monotonic() - started


def wait_until(condition, timeout_s: float) -> bool:
    """Whether ``condition()`` became true within ``timeout_s`` (looked at every 0.25 s)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def wait_for_store_folder(settings: MonitoringSettings, timeout_s: float = 90.0) -> None:
    """Wait for the ingest's first write (on a busy machine it can take longer than a fixed pause)."""
    deadline = time.monotonic() + timeout_s
    while not settings.store_path.is_dir() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert settings.store_path.is_dir(), read_status(settings.journal_path)


def exported(settings: MonitoringSettings, folder: Path) -> pd.DataFrame:
    out = folder / f"export-{time.monotonic_ns()}.csv"
    store = settings.request_store_url or str(settings.store_path)
    result = CliRunner().invoke(export_app, ["--out", str(out), "--store", store])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out)


def answered_ids(answers: list[tuple[int, str | None]]) -> list[str]:
    """The record ids of the requests answered 200."""
    return [request_id for status, request_id in answers if status == 200 and request_id]


def check_answered_are_stored_once(answers, stored: pd.DataFrame, label: str) -> None:
    answered = answered_ids(answers)
    assert len(answered) > 50 and len(set(answered)) == len(answered)
    assert not stored.duplicated(["request_id", "item"]).any()  # none twice
    missing = set(answered) - set(stored["request_id"])
    found = len(set(answered) & set(stored["request_id"]))
    print(f"\n{label}: {len(answered)} answered 200, {found} of them stored, {len(missing)} missing; "
          f"{len(stored)} records in the store")  # fmt: skip
    assert not missing


def test_a_worker_killed_under_load_loses_no_answered_decision(server: Served, tmp_path: Path) -> None:
    victim = server.workers()[0]
    answers = load_while(server, lambda: os.kill(victim.pid, signal.SIGKILL))
    assert not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE
    caught_up(server.settings)
    check_answered_are_stored_once(answers, exported(server.settings, tmp_path), "worker SIGKILL")


def test_the_ingest_killed_under_load_loses_and_doubles_nothing(server: Served, tmp_path: Path) -> None:
    killed: list[int] = []

    def kill_the_ingest() -> None:
        # The one holding the host's lock writes the status (its first pass may still be under way).
        assert wait_until(lambda: "pid" in read_status(server.settings.journal_path), 30)
        killed.append(read_status(server.settings.journal_path)["pid"])
        os.kill(killed[0], signal.SIGKILL)

    answers = load_while(server, kill_the_ingest)
    caught_up(server.settings)
    # The new ingest writes its status after the pass that stored the last records: look until it has.
    took_over = wait_until(lambda: read_status(server.settings.journal_path).get("pid") != killed[0], 30)
    assert took_over, read_status(server.settings.journal_path)  # another one took over
    check_answered_are_stored_once(answers, exported(server.settings, tmp_path), "ingest SIGKILL")


def test_the_store_unavailable_under_load_loses_nothing_once_back(server: Served, tmp_path: Path) -> None:
    store = server.settings.store_path
    away = store.with_name("store.away")
    with AnsweredLoad(f"{server.base_url}/score", BODY) as load:
        wait_for_store_folder(server.settings)
        store.rename(away)  # root ignores permissions: a file where the folder was makes it unwritable
        store.write_text("the store is unavailable")
        time.sleep(OUTAGE_S)
        errors = read_status(server.settings.journal_path).get("store_errors", 0)
        store.unlink()
        away.rename(store)
        time.sleep(2)
        answers = load.stop()
    assert errors > 0  # the ingest did meet the outage
    print(f"\nstore outage: caught up in {caught_up(server.settings):.1f} s after the load")
    check_answered_are_stored_once(answers, exported(server.settings, tmp_path), "store unavailable")


def test_the_postgresql_server_down_under_load_loses_nothing_once_back(
    bento_model: bentoml.Model, store_env: dict[str, str], postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = postgres_cluster.url.replace("postgresql://", "postgresql+psycopg://")
    with served(tmp_path, store_env, {"CREDIT_REQUEST_STORE_URL": url}) as server:
        with AnsweredLoad(f"{server.base_url}/score", BODY) as load:
            time.sleep(2)
            postgres_cluster.stop()
            time.sleep(OUTAGE_S)
            errors = read_status(server.settings.journal_path).get("store_errors", 0)
            postgres_cluster.start()
            time.sleep(2)
            answers = load.stop()
        assert errors > 0  # the ingest did meet the outage
        print(f"\nPostgreSQL down: caught up in {caught_up(server.settings):.1f} s after the load")
        check_answered_are_stored_once(answers, exported(server.settings, tmp_path), "PostgreSQL down")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tmpfs needs root")
def test_a_full_journal_disk_refuses_with_503_and_corrupts_nothing(
    bento_model: bentoml.Model, store_env: dict[str, str], tmp_path: Path
) -> None:
    journal = tmp_path / "journal-disk"
    journal.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(journal)], check=True)
    try:
        # Consumed segments are kept (a long retention): the disk stays full once it is.
        extra = {"CREDIT_JOURNAL_DIR": str(journal), "CREDIT_JOURNAL_RETENTION_S": "3600"}
        with served(tmp_path, store_env, extra) as running:
            load = AnsweredLoad(f"{running.base_url}/score", BODY).start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(s == 503 for s, _ in load.answers):
                time.sleep(0.5)
            time.sleep(1)
            answers = load.stop()
            refused = [s for s, _ in answers].count(503)
            body = httpx.post(f"{running.base_url}/score", content=BODY,
                              headers={"Content-Type": "application/json"})  # fmt: skip
            stored = wait_for_stored(running.settings, len(answered_ids(answers)))
        assert refused > 0 and body.status_code == 503
        assert body.json()["error"].startswith("decision log unavailable: ")
        for segment in segments(journal):  # every byte on disk is a whole, checked frame
            assert whole_frames(segment) == segment.stat().st_size, segment.name
        check_answered_are_stored_once(answers, stored, f"journal disk full ({refused} refused with 503)")
    finally:
        subprocess.run(["umount", "-l", str(journal)], check=False)


def whole_frames(segment: Path) -> int:
    """Bytes of the segment that are whole, CRC-checked frames (a torn write would leave more on disk)."""
    return max((end for end, _ in iter_frames(read_chunk(segment, 0, 4 << 20))), default=0)


def wait_for_stored(settings: MonitoringSettings, answered: int, timeout_s: float = 90.0) -> pd.DataFrame:
    """The export once it holds at least ``answered`` records (the full disk stops the checkpoint, not
    the store, so the journal's lag cannot tell)."""
    deadline = time.monotonic() + timeout_s
    wait_for_store_folder(settings, timeout_s)
    stored = exported(settings, settings.store_path.parent)
    while len(stored) < answered and time.monotonic() < deadline:
        time.sleep(1)
        stored = exported(settings, settings.store_path.parent)
    return stored


def test_health_reports_the_journal_and_its_ingest(server: Served) -> None:
    health = httpx.get(f"{server.base_url}/monitoring/health", timeout=10).json()
    assert health["journal"]["available"] and health["journal"]["policy"] == "refuse"
    assert set(health["lag"]) >= {"lag_records", "lag_seconds", "bytes_on_disk", "oldest_unconsumed_segment"}
    assert health["ingest"]["process_running"] and json.dumps(health)
