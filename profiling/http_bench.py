"""HTTP benchmark of the running service: latency p50/p99 and req/s, 1 and 16 clients (JSON + table)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from credit_scoring.schema import example_application
from credit_scoring.serving.bento_build import BENTO_NAME
from credit_scoring.serving.launcher import free_port, start_server, stop_server, wait_until_ready
from credit_scoring.settings import get_settings
from credit_scoring_tools.loadtest import (
    LoadResult,
    format_table,
    process_tree_cpu_s,
    run_httpx,
    run_wrk,
    wrk_available,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Closed-loop load on POST /score (and /score_batch) of the service, after a warm-up: latency "
            "percentiles, requests/s, errors, and the server's CPU time per request. Starts `bentoml serve` "
            "on the latest Bento unless --url points at a running service."
        )
    )
    parser.add_argument(
        "--url", help="Base URL of a running service (default: start the Bento given by --bento)."
    )
    parser.add_argument(
        "--bento", default=f"{BENTO_NAME}:latest", help="Bento to serve (default: %(default)s)."
    )
    parser.add_argument("--server-pid", type=int, help="PID of a running `bentoml serve`, for its CPU time.")
    parser.add_argument(
        "--connections", default="1,16", help="Concurrent clients per /score run (default: %(default)s)."
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="Seconds measured per run (default: 10)."
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="Unmeasured seconds before each run (default: 3)."
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=50,
        help="Applications per /score_batch request, run with 16 clients; 0 skips it (default: %(default)s).",
    )
    parser.add_argument(
        "--tool",
        choices=("auto", "wrk", "httpx"),
        default="auto",
        help="Load generator (auto: wrk if installed).",
    )
    parser.add_argument(
        "--bentoml-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="BentoML config override for the server this script starts (repeatable), e.g. "
        "services.credit_scoring.workers=1 or services.credit_scoring.logging.access.enabled=true.",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="Run every scenario this many times and report the fastest run per scenario; all runs are in "
        "the JSON. Use it on a shared machine, where neighbours' CPU use slows some runs (default: 1).",
    )
    parser.add_argument("--out", type=Path, help="JSON result file (default: var/profiling/http_bench.json).")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Scenario:
    """One load: which endpoint, how many concurrent clients, which body (and how many applications)."""

    endpoint: str
    connections: int
    body: str
    items: int = 1


@dataclass(frozen=True)
class Bench:
    """Where and how to load: the load tool, the service, and the server process whose CPU is counted."""

    tool: str
    base_url: str
    headers: dict[str, str]
    warmup_s: float
    duration_s: float
    server_pid: int | None

    def load(self, scenario: Scenario, duration: float) -> dict[str, float]:
        url = f"{self.base_url}/{scenario.endpoint}"
        if self.tool == "wrk":
            threads = min(scenario.connections, 2)
            return run_wrk(url, scenario.body, self.headers, scenario.connections, duration, threads)
        return run_httpx(url, scenario.body, self.headers, scenario.connections, duration)

    def run(self, scenario: Scenario) -> LoadResult:
        """Warm-up (unmeasured), then the measured run with the server's CPU time around it."""
        self.load(scenario, self.warmup_s)
        cpu_before = process_tree_cpu_s(self.server_pid) if self.server_pid else None
        figures = self.load(scenario, self.duration_s)
        cpu_ms = None
        if cpu_before is not None and figures["requests"]:
            cpu_ms = (process_tree_cpu_s(self.server_pid) - cpu_before) * 1e3 / figures["requests"]
        return LoadResult(
            tool=self.tool,
            endpoint=scenario.endpoint,
            connections=scenario.connections,
            duration_s=self.duration_s,
            requests=int(figures["requests"]),
            errors=int(figures["errors"]),
            requests_per_s=figures["rate"],
            p50_ms=figures["p50"],
            p90_ms=figures["p90"],
            p99_ms=figures["p99"],
            items_per_request=scenario.items,
            server_cpu_ms_per_request=cpu_ms,
        )


def scenarios(connections: str, batch_size: int) -> list[Scenario]:
    """/score with each client count, then /score_batch with 16 clients (unless batch_size is 0)."""
    application = example_application()
    single = json.dumps({"application": application})
    runs = [Scenario("score", int(count), single) for count in connections.split(",")]
    if batch_size > 0:
        batch = json.dumps({"applications": [application] * batch_size})
        runs.append(Scenario("score_batch", 16, batch, batch_size))
    return runs


def make_bench(args: argparse.Namespace, base_url: str, server_pid: int | None) -> Bench:
    tool = ("wrk" if wrk_available() else "httpx") if args.tool == "auto" else args.tool
    headers = {"Content-Type": "application/json"}
    if os.environ.get("CREDIT_API_KEY"):
        headers["X-API-Key"] = os.environ["CREDIT_API_KEY"]
    return Bench(tool, base_url, headers, args.warmup, args.duration, server_pid)


def measure(args: argparse.Namespace, base_url: str, server_pid: int | None) -> list[list[LoadResult]]:
    """Every scenario ``--repeat`` times: one list of runs per scenario."""
    bench = make_bench(args, base_url, server_pid)
    plan = scenarios(args.connections, args.batch_size)
    runs: list[list[LoadResult]] = [[] for _ in plan]
    for _ in range(max(args.repeat, 1)):
        for index, result in enumerate(measure_once(bench, plan)):
            runs[index].append(result)
    return runs


def fastest(runs: list[LoadResult]) -> LoadResult:
    return max(runs, key=lambda run: run.requests_per_s)


def measure_once(bench: Bench, plan: list[Scenario]) -> list[LoadResult]:
    results = []
    for scenario in plan:
        print(
            f"{scenario.endpoint}, {scenario.connections} client(s): warm-up then {bench.duration_s:.0f}s ..."
        )
        results.append(bench.run(scenario))
    return results


def environment(args: argparse.Namespace, base_url: str) -> dict:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "url": base_url,
        "bento": args.bento if not args.url else "external",
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average_at_start": os.getloadavg(),
        "bentoml_config_overrides": args.bentoml_config,
        "tool_settings": "wrk -t min(clients,2) -c clients --latency (httpx: asyncio loop, a connection per "
        "client); every request POSTs the worked example",
        "warmup_s": args.warmup,
        "duration_s": args.duration,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    out = args.out or get_settings().data_root / "profiling" / "http_bench.json"
    process = None
    base_url = args.url.rstrip("/") if args.url else None
    server_pid = args.server_pid
    if base_url is None:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        print(f"starting bentoml serve {args.bento} on port {port} ...", flush=True)
        env = dict(os.environ)
        if args.bentoml_config:
            env["BENTOML_CONFIG_OPTIONS"] = " ".join(args.bentoml_config)
        process = start_server(args.bento, port, host="127.0.0.1", env=env, log=out.with_suffix(".serve.log"))
        server_pid = process.pid
    try:
        if process is not None:
            wait_until_ready(base_url, process)
        context = environment(args, base_url)
        runs = measure(args, base_url, server_pid)
    finally:
        if process is not None:
            stop_server(process)
    best = [fastest(scenario_runs) for scenario_runs in runs]
    report = {
        "environment": context | {"load_average_at_end": os.getloadavg(), "repeat": args.repeat},
        "results": [r.as_dict() for r in best],
        "all_runs": [[r.as_dict() for r in scenario_runs] for scenario_runs in runs],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(format_table(best) + (f"\n(fastest of {args.repeat} runs per scenario)" if args.repeat > 1 else ""))
    print(f"load average at start: {context['load_average_at_start']}; results in {out}")
    return 0 if all(r.errors == 0 for scenario_runs in runs for r in scenario_runs) else 1


if __name__ == "__main__":
    sys.exit(main())
