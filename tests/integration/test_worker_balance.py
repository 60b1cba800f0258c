"""`bentoml serve` with two workers: each listens on a socket of its own and serves its part of 16 clients."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bentoml
import httpx
import pytest
from bentoml._internal.utils.circus import Arbiter

from credit_scoring.schema import example_application
from credit_scoring.serving.launcher import free_port, serve_command, stop_server, wait_until_ready
from credit_scoring_tools.worker_share import (
    WrkRun,
    balanced,
    describe,
    measured_wrk_run,
    snapshot,
    worker_pids,
)
from tests.support.model_fixtures import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LISTEN = "0A"  # TCP state in /proc/net/tcp


@dataclass(frozen=True)
class Served:
    """A running `bentoml serve` of the repository's service: its pid, port and base URL."""

    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wait_until_both_serve(served: Served, timeout_s: float = 120.0) -> None:
    """New connections until each worker has answered one (/readyz answers once the first is up)."""
    deadline = time.monotonic() + timeout_s
    while not ((counts := snapshot(served.pid)) and all(s.requests > 0 for s in counts.values())):
        assert time.monotonic() < deadline, f"workers not all serving: {counts}"
        httpx.get(f"{served.url}/readyz", headers={"Connection": "close"}, timeout=timeout_s)


@pytest.fixture(scope="module")
def served(
    bento_model: bentoml.Model, store_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder, port = tmp_path_factory.mktemp("worker-balance"), free_port()
    env = store_env | {"CREDIT_DATA_DIR": str(folder / "var"), "CREDIT_MONITORING_ENABLED": "false"}
    with (folder / "bentoml-serve.log").open("wb") as log:
        command = serve_command("bento.service:CreditScoring", port, host="127.0.0.1")
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, timeout=180)
        wait_until_both_serve(Served(process.pid, port))
        yield Served(process.pid, port)
    finally:
        stop_server(process)
        text = (folder / "bentoml-serve.log").read_text()
        assert "Traceback" not in text, text[-3000:]


def listening_sockets(port: int) -> set[str]:
    """Inodes of the sockets listening on ``port`` (IPv4 and IPv6), from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == LISTEN:
                found.add(fields[9])
    return found


def sockets_held(pid: int) -> set[str]:
    links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    return {link[len("socket:[") : -1] for link in links if link.startswith("socket:[")}


def test_each_worker_listens_on_a_socket_of_its_own(served: Served) -> None:
    listening, workers = listening_sockets(served.port), worker_pids(served.pid)
    held = [listening & sockets_held(pid) for pid in workers]
    assert len(workers) == 2 and len(listening) == 2
    assert held[0] | held[1] == listening and len(held[0]) == len(held[1]) == 1
    assert not listening & sockets_held(served.pid)  # the arbiter holds none: nothing waits in its queue


def sixteen_clients(served: Served) -> WrkRun:
    """wrk: 16 keep-alive connections opened at once, then a closed loop of /score for 4 s."""
    assert shutil.which("wrk"), "wrk is missing: make system-deps installs it"
    body = json.dumps({"application": example_application()})
    run = measured_wrk_run(served.pid, f"{served.url}/score", body, connections=16, duration_s=4)
    assert run.requests > 0 and run.errors == 0 and len(run.workers) == 2, describe(run)
    return run


def test_sixteen_connections_opened_at_once_are_served_by_both_workers(served: Served) -> None:
    run = sixteen_clients(served)
    assert balanced(run, 0.35, 0.65), describe(run)


def test_a_worker_busy_when_the_connections_arrive_still_gets_its_share(served: Served) -> None:
    """The failure of a shared socket, made certain: the other worker accepted all 16 while this one slept."""
    asleep = worker_pids(served.pid)[0]
    os.kill(asleep, signal.SIGSTOP)
    wake = threading.Timer(0.5, os.kill, (asleep, signal.SIGCONT))
    wake.start()
    try:
        run = sixteen_clients(served)
    finally:
        wake.join()
        os.kill(asleep, signal.SIGCONT)
    assert balanced(run, 0.35, 0.65), describe(run)


def test_the_setting_keeps_bentomls_shared_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from bento.service import CreditScoring

    monkeypatch.setattr(Arbiter, "start", Arbiter.start)  # undone after the test
    stock = Arbiter.start
    monkeypatch.setenv("CREDIT_SOCKET_PER_WORKER", "false")
    CreditScoring.inner.listen_per_worker()
    assert Arbiter.start is stock
    monkeypatch.delenv("CREDIT_SOCKET_PER_WORKER")
    CreditScoring.inner.listen_per_worker()
    assert Arbiter.start.__wrapped__ is stock  # type: ignore[attr-defined]
