"""Each worker's share of a run: the workers under a server, their CPU and request counters, wrk's figures."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from credit_scoring_tools.worker_share import (
    WORKER_MODULE,
    WorkerSample,
    WorkerShare,
    WrkRun,
    balanced,
    cpu_seconds,
    requests_answered,
    shares,
    spread,
    worker_pids,
)

# A stand-in worker: BentoML's worker module in its command line, some CPU burnt, 3 requests counted the
# way BentoML's metrics count them. As "parent" it is no worker but starts one (a worker two levels down).
CHILD = """
import subprocess, sys, time
if sys.argv[1] == "parent":
    module = ".".join(["_bentoml_impl", "worker", "service"])
    subprocess.Popen([sys.executable, "-c", sys.argv[2], "worker", sys.argv[2], module])
    time.sleep(60)
from prometheus_client import Counter
counter = Counter("bentoml_service_request", "requests", ["endpoint"])
for route in ("/score", "/score", "/livez"):
    counter.labels(endpoint=route).inc()
deadline = time.process_time() + 0.3
while time.process_time() < deadline:
    pass
print("ready", flush=True)
time.sleep(60)
"""


def start(role: str, env: dict[str, str], module: str = WORKER_MODULE) -> subprocess.Popen:
    command = [sys.executable, "-c", CHILD, role, CHILD, module]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(child) for task in tasks for child in (task / "children").read_text().split()]


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, subprocess.Popen]]:
    """This process as the "server": a stand-in worker as its child, another as its grandchild."""
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    direct, parent = start("worker", env), start("parent", env, module="not-a-worker")
    try:
        assert direct.stdout is not None and direct.stdout.readline() == "ready\n"
        yield direct, parent
    finally:
        for pid in [*children(parent.pid), direct.pid, parent.pid]:
            os.kill(pid, signal.SIGKILL)
        direct.wait(), parent.wait()


def test_workers_are_found_under_the_server_with_their_cpu_and_requests(fake_server) -> None:
    direct, parent = fake_server
    deadline = time.monotonic() + 30
    while len(found := worker_pids(os.getpid())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert found == sorted([direct.pid, *children(parent.pid)])  # the grandchild, not its parent
    assert cpu_seconds(direct.pid) >= 0.3
    assert requests_answered(direct.pid) == 3
    assert math.isnan(requests_answered(parent.pid))  # it never counted anything: no file of its own


def test_shares_are_the_differences_between_two_snapshots() -> None:
    before = {1: WorkerSample(10, 1.0), 2: WorkerSample(0, 1.0), 3: WorkerSample(5, 0.0)}
    after = {1: WorkerSample(40, 2.0), 2: WorkerSample(10, 4.0)}  # worker 3 exited: left out
    first, second = shares(before, after)
    assert (first.pid, first.requests, first.request_share, first.cpu_share) == (1, 30, 0.75, 0.25)
    assert (second.requests, second.request_share, second.cpu_share) == (10, 0.25, 0.75)


def test_cpu_stands_in_for_requests_where_they_were_not_counted() -> None:
    nan = float("nan")
    before = {1: WorkerSample(nan, 0.0), 2: WorkerSample(nan, 0.0)}
    one, other = shares(before, {1: WorkerSample(nan, 3.0), 2: WorkerSample(nan, 1.0)})
    assert math.isnan(one.request_share) and (one.share, other.share) == (0.75, 0.25)


def run_with(*request_shares: float) -> WrkRun:
    workers = [WorkerShare(pid, 0, 0.0, share, 0.5) for pid, share in enumerate(request_shares)]
    return WrkRun(16, 10, 100, 10.0, 0, 0.5, workers)


def test_balanced_runs_and_the_spread_between_rounds() -> None:
    assert balanced(run_with(0.5, 0.5)) and balanced(run_with(0.35, 0.65))
    assert not balanced(run_with(0.3, 0.7)) and not balanced(run_with(1.0, 0.0)) and not balanced(run_with())
    assert spread([run_with(0.45, 0.55).workers, run_with(0.6, 0.4).workers]) == pytest.approx(0.2)
