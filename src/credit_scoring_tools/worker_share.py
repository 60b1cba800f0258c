"""The share of a load run served by each worker of a running `bentoml serve` (requests and CPU time)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from credit_scoring.cli import CommandApp
from credit_scoring_tools.loadtest import run_wrk

WORKER_MODULE = "_bentoml_impl.worker.service"
REQUEST_COUNTER = "bentoml_service_request_total"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
Result = TypeVar("Result")


@dataclass(frozen=True)
class WorkerSample:
    """What one worker process has done so far: requests answered (all routes) and CPU seconds."""

    requests: float
    cpu_s: float


@dataclass(frozen=True)
class WorkerShare:
    """One worker's part of a run: its requests (NaN: not counted) and CPU seconds, and their fractions."""

    pid: int
    requests: float
    cpu_s: float
    request_share: float
    cpu_share: float

    @property
    def share(self) -> float:
        """The request share; the CPU share where requests were not counted (metrics files wiped)."""
        return self.cpu_share if math.isnan(self.request_share) else self.request_share


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found = [int(c) for task in tasks.iterdir() for c in (task / "children").read_text().split()]
    return found + [grandchild for child in found for grandchild in _children(child)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:  # exited between the listing and the read
        return ""


def worker_pids(server_pid: int) -> list[int]:
    """The API workers of a `bentoml serve` process: descendants running BentoML's worker module."""
    return sorted(pid for pid in _children(server_pid) if WORKER_MODULE in _cmdline(pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads, not its children), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14 and 15


def _metrics_dir(pid: int) -> Path | None:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [v.split(b"=", 1)[1] for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(found[0].decode()) if found else None


def requests_answered(pid: int) -> float:
    """Requests a worker answered so far, from its own Prometheus multiprocess file (NaN if none).

    `bentoml serve` empties that folder when it starts: another server started with the same BENTOML_HOME
    removes the files of one already running, whose requests then read as NaN.
    """
    from prometheus_client.multiprocess import MultiProcessCollector

    folder = _metrics_dir(pid)
    counter_file = folder / f"counter_{pid}.db" if folder else None
    if counter_file is None or not counter_file.exists():
        return float("nan")
    metrics = MultiProcessCollector.merge([str(counter_file)], accumulate=False)
    samples = [s for m in metrics for s in m.samples if s.name == REQUEST_COUNTER]
    return float(sum(s.value for s in samples))


def snapshot(server_pid: int) -> dict[int, WorkerSample]:
    """Every worker's counters now; take one before and one after a run."""
    return {pid: WorkerSample(requests_answered(pid), cpu_seconds(pid)) for pid in worker_pids(server_pid)}


def shares(before: dict[int, WorkerSample], after: dict[int, WorkerSample]) -> list[WorkerShare]:
    """Each worker's part of what happened between two snapshots (workers present in both)."""
    pids = sorted(before.keys() & after.keys())
    requests = {p: after[p].requests - before[p].requests for p in pids}
    cpu = {p: after[p].cpu_s - before[p].cpu_s for p in pids}
    all_requests, all_cpu = sum(requests.values()), sum(cpu.values())
    return [
        WorkerShare(p, requests[p], cpu[p], _part(requests[p], all_requests), _part(cpu[p], all_cpu))
        for p in pids
    ]


def _part(part: float, whole: float) -> float:
    return part / whole if whole > 0 else float("nan")


def measure(server_pid: int, run: Callable[[], Result]) -> tuple[Result, list[WorkerShare]]:
    """Run ``run`` (e.g. one wrk run) and return its result with each worker's share of it."""
    before = snapshot(server_pid)
    result = run()
    return result, shares(before, snapshot(server_pid))


def spread(rounds: Sequence[Sequence[WorkerShare]]) -> float:
    """The largest request share any worker had minus the smallest, over all rounds (0 = perfectly even)."""
    values = [w.share for shares_of_round in rounds for w in shares_of_round]
    return max(values) - min(values) if values else float("nan")


@dataclass(frozen=True)
class WrkRun:
    """One wrk run: its settings, what wrk counted, the load average before it, each worker's share."""

    connections: int
    duration_s: float
    requests: int
    requests_per_s: float
    errors: int
    load_average: float
    workers: list[WorkerShare]


def measured_wrk_run(server_pid: int, url: str, body: str, connections: int, duration_s: int) -> WrkRun:
    """One wrk run against ``url`` with each worker's share of it and the 1-minute load average before."""
    load = os.getloadavg()[0]
    headers = {"Content-Type": "application/json"}
    # The project's one load harness; all connections are opened at the start, as the case needs.
    figures, workers = measure(
        server_pid, lambda: run_wrk(url, body, headers, connections, duration_s, min(2, connections))
    )
    requests, rate, errors = int(figures["requests"]), figures["rate"], int(figures["errors"])
    return WrkRun(connections, duration_s, requests, rate, errors, load, workers)


def describe(run: WrkRun) -> str:
    """One line: clients, req/s, errors, load average, then each worker's request and CPU shares."""
    parts = [f"{w.pid}: {w.request_share:6.1%} req {w.cpu_share:6.1%} cpu" for w in run.workers]
    return (
        f"c={run.connections:<3d} {run.requests_per_s:8.0f} req/s  errors {run.errors:<4d} "
        f"load {run.load_average:4.2f}  " + "  ".join(parts)
    )


def balanced(run: WrkRun, low: float = 0.35, high: float = 0.65) -> bool:
    """Whether every worker served between ``low`` and ``high`` of the run's requests."""
    return bool(run.workers) and all(low <= w.share <= high for w in run.workers)


def main(
    pid: Annotated[int, typer.Option(help="PID of the running `bentoml serve` (its workers are under it).")],
    url: Annotated[str, typer.Option(help="URL to load, e.g. http://127.0.0.1:3000/score.")],
    body_file: Annotated[
        Path | None, typer.Option(help="JSON body to POST (default: the worked example /score request).")
    ] = None,
    connections: Annotated[list[int], typer.Option(help="Connections per run (repeatable).")] = [16, 32],  # noqa: B006
    runs: Annotated[int, typer.Option(help="Runs per connection count.")] = 6,
    duration: Annotated[int, typer.Option(help="Seconds per run.")] = 10,
    out: Annotated[Path | None, typer.Option(help="Write every run as JSON here too.")] = None,
) -> None:
    """Load a running service with wrk, run after run, and print each worker's share of every run."""
    body = body_file.read_text() if body_file else _example_body()
    results = []
    for count in connections:
        for _ in range(runs):
            results.append(measured_wrk_run(pid, url, body, count, duration))
            typer.echo(describe(results[-1]) + ("" if balanced(results[-1]) else "  UNBALANCED"))
    if out is not None:
        out.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")


def _example_body() -> str:
    from credit_scoring.schema import example_application

    return json.dumps({"application": example_application()})


if __name__ == "__main__":
    app = CommandApp(__doc__)
    app.command()(main)
    app()
