"""`make bench`'s HTTP part: the Bento served three ways at once, loaded interleaved, scenario by scenario."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from credit_scoring.errors import UsageError

Report = Callable[[str], None]
TUNED = "tuned_monitoring_on"
MONITORING_OFF = "tuned_monitoring_off"
DEFAULTS = "bentoml_defaults"
BATCH_SIZE = 50
FLOOR_ENDPOINT = "livez"


@dataclass(frozen=True)
class HttpVariant:
    """One way of serving the same Bento: environment and BentoML overrides, and what they mean."""

    description: str
    env: dict[str, str]
    bentoml_config: tuple[str, ...] = ()


# BentoML's defaults for the options this project changes (serving/runtime.py): 1 worker, access log on,
# OpenTelemetry spans on every route, BentoML's code as shipped (credit_scoring/patches.py off). The
# monitoring stays on so that only BentoML's options differ.
VARIANTS: dict[str, HttpVariant] = {
    TUNED: HttpVariant("served configuration (serving/runtime.py), monitoring on", {}),
    MONITORING_OFF: HttpVariant(
        "served configuration, monitoring off (issue 4 comparison)", {"CREDIT_MONITORING_ENABLED": "false"}
    ),
    DEFAULTS: HttpVariant(
        "BentoML default configuration: 1 worker, access log on, tracing on all routes, BentoML's code as "
        "shipped (no speed-ups); monitoring on",
        {"CREDIT_BENTOML_SPEEDUPS": "false"},
        (
            "services.credit_scoring.workers=1",
            "services.credit_scoring.logging.access.enabled=true",
            "services.credit_scoring.tracing.excluded_urls=[]",
        ),
    ),
}


@dataclass(frozen=True)
class Scenario:
    """One load shape: endpoint, concurrent clients and the number of applications per request."""

    endpoint: str
    connections: int
    items: int = 1

    @property
    def key(self) -> str:
        return f"{self.endpoint}_c{self.connections}"

    def body(self) -> str:
        from credit_scoring.schema import example_application

        if self.endpoint == FLOOR_ENDPOINT:
            return ""  # a GET
        if self.endpoint == "score":
            return json.dumps({"application": example_application()})
        return json.dumps({"applications": [example_application()] * self.items})


# The scenario the HTTP targets read: measured in several interleaved rounds, the median round counts.
KEY_SCENARIO = Scenario("score", 16)
# The liveness probe does nothing: its tail is the floor any endpoint of this server has on this machine.
FLOOR_SCENARIO = Scenario(FLOOR_ENDPOINT, 16, 0)
SCENARIOS = (
    Scenario("score", 1),
    KEY_SCENARIO,
    Scenario("score_batch", 1, BATCH_SIZE),
    Scenario("score_batch", 16, BATCH_SIZE),
    FLOOR_SCENARIO,
)


@dataclass(frozen=True)
class HttpSettings:
    """Durations of each HTTP run, which Bento to serve, and the API key its scoring routes may require."""

    bento: str
    duration_s: float = 8.0
    warmup_s: float = 2.0
    tool: str = "auto"
    key_rounds: int = 5  # a neighbour disturbing one or two rounds does not move the median
    api_key: SecretStr | None = None  # Settings.api_key: the servers started here read the same variable


@dataclass
class Server:
    """A `bentoml serve` child started for one variant."""

    name: str
    base_url: str
    process: subprocess.Popen
    log: Path
    cpu: list[float] = field(default_factory=list)


def start_variant(name: str, variant: HttpVariant, bento: str, workdir: Path) -> Server:
    """Serve the Bento on a free port; monitoring writes into ``workdir`` instead of the project's store."""
    from credit_scoring.serving.launcher import free_port, start_server

    port = free_port()
    env = dict(os.environ) | variant.env | {"BENTOML_DO_NOT_TRACK": "True"}
    env["CREDIT_DATA_DIR"] = str(workdir / name)  # its own journal, store and profiles
    for variable in ("CREDIT_REQUEST_STORE_URL", "CREDIT_STORE_DIR", "CREDIT_PROFILE_DIR"):
        env.pop(variable, None)
    if variant.bentoml_config:
        env["BENTOML_CONFIG_OPTIONS"] = " ".join(variant.bentoml_config)
    (workdir / name).mkdir(parents=True, exist_ok=True)
    log = workdir / name / "serve.log"
    process = start_server(bento, port, host="127.0.0.1", env=env, log=log)
    return Server(name, f"http://127.0.0.1:{port}", process, log)


def request_headers(api_key: SecretStr | None) -> dict[str, str]:
    """JSON, plus the key when one is set (an empty key leaves the API open, as the service reads it)."""
    headers = {"Content-Type": "application/json"}
    if api_key is not None and api_key.get_secret_value():
        headers["X-API-Key"] = api_key.get_secret_value()
    return headers


def load(
    tool: str, url: str, scenario: Scenario, duration: float, headers: dict[str, str]
) -> dict[str, float]:
    from credit_scoring_tools.loadtest import run_httpx, run_wrk

    if tool == "wrk":
        threads = min(scenario.connections, 2)
        return run_wrk(url, scenario.body(), headers, scenario.connections, duration, threads)
    return run_httpx(url, scenario.body(), headers, scenario.connections, duration)


def measure_scenario(server: Server, scenario: Scenario, settings: HttpSettings, tool: str) -> dict[str, Any]:
    """Warm-up (unmeasured), then the measured closed-loop run with the server's CPU time around it."""
    from credit_scoring_tools.loadtest import process_tree_cpu_s
    from credit_scoring_tools.worker_share import measure

    url, headers = f"{server.base_url}/{scenario.endpoint}", request_headers(settings.api_key)
    load(tool, url, scenario, settings.warmup_s, headers)
    cpu_before = process_tree_cpu_s(server.process.pid)
    figures, workers = measure(
        server.process.pid, lambda: load(tool, url, scenario, settings.duration_s, headers)
    )
    cpu_s = process_tree_cpu_s(server.process.pid) - cpu_before
    requests = int(figures["requests"])
    return {
        # Each API worker's share of the run: its request counter, else (metrics files of a server started
        # earlier are wiped by the next `bentoml serve`) its CPU time, which followed it within ~3 points.
        "worker_shares": [round(worker.share, 4) for worker in workers],
        "endpoint": f"/{scenario.endpoint}",
        "clients": scenario.connections,
        "applications_per_request": scenario.items,
        "requests": requests,
        "errors": int(figures["errors"]),
        "requests_per_s": round(figures["rate"], 1),
        "applications_per_s": round(figures["rate"] * scenario.items, 1),
        "p50_ms": round(figures["p50"], 3),
        "p90_ms": round(figures["p90"], 3),
        "p99_ms": round(figures["p99"], 3),
        "server_cpu_ms_per_request": round(cpu_s * 1e3 / requests, 3) if requests else None,
    }


class ServerNotReady(UsageError):
    """A benchmarked server did not come up; the message quotes its log's last error and the fix."""


def ensure_ready(server: Server, wait: Callable[[str, subprocess.Popen], float]) -> None:
    try:
        wait(server.base_url, server.process)
    except (TimeoutError, RuntimeError) as error:
        errors = [line for line in server.log.read_text(errors="replace").splitlines() if "ERROR" in line]
        last = errors[-1][-400:] if errors else "no error in its log"
        raise ServerNotReady(
            f"{server.name} server not ready ({error}); last error: {last}\n"
            "Rebuild the Bento (make build) or set CREDIT_SCORING_ENGINE=native."
        ) from None


def run_http_benchmark(settings: HttpSettings, report: Report) -> dict[str, Any]:
    """Every variant served at once; scenarios run variant after variant (interleaved), so a burst of load
    from other processes hits every variant alike and the ratios of one run stay meaningful."""
    from credit_scoring.serving.launcher import stop_server, wait_until_ready
    from credit_scoring_tools.loadtest import wrk_available

    tool = ("wrk" if wrk_available() else "httpx") if settings.tool == "auto" else settings.tool
    results: dict[str, dict[str, Any]] = {name: {} for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="credit-bench-") as tmp:
        servers = []
        try:
            for name, variant in VARIANTS.items():
                report(f"starting bentoml serve {settings.bento} ({name})")
                servers.append(start_variant(name, variant, settings.bento, Path(tmp)))
            for server in servers:
                ensure_ready(server, wait_until_ready)
            report("all servers ready")
            for scenario in SCENARIOS:
                rounds = settings.key_rounds if scenario == KEY_SCENARIO else 1
                runs: dict[str, list[dict[str, Any]]] = {server.name: [] for server in servers}
                for round_number in range(1, rounds + 1):
                    for server in servers:
                        report(
                            f"{scenario.key} on {server.name} (round {round_number}/{rounds}): "
                            f"{settings.warmup_s:g} s warm-up + {settings.duration_s:g} s"
                        )
                        wait_until_logged(servers, report)
                        runs[server.name].append(measure_scenario(server, scenario, settings, tool))
                for name, measured in runs.items():
                    results[name][scenario.key] = median_run(measured)
            monitoring = {server.name: monitoring_counters(server.base_url) for server in servers}
        finally:
            for server in servers:
                stop_server(server.process)
    add_http_ratios(results)
    return {
        "settings": http_settings(settings, tool),
        "variants": describe_variants(),
        "results": results,
        "monitoring": monitoring,
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median p50 (a neighbour's burst spoils one round, not the figure), with every
    round's main figures kept under ``rounds`` when there were several."""
    ordered = sorted(runs, key=lambda run: run["p50_ms"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        chosen["rounds"] = [
            {k: run.get(k) for k in ("requests_per_s", "p50_ms", "p99_ms", "errors", "worker_shares")}
            for run in runs
        ]
    return chosen


# Per worker: decisions appended to its journal, answered without a record (policy "count"), refused
# with a 503 (policy "refuse"). The journal lag is the host's: the same figure from every worker.
COUNTERS = ("appended", "unrecorded", "refused")


def monitoring_counters(base_url: str, polls: int = 40) -> dict[str, Any]:
    """The journal's counters summed over the server's workers (each answers for itself: poll until
    every worker was seen) and the host's ingest lag, right after the load."""
    import httpx

    by_worker: dict[int, dict[str, Any]] = {}
    for _ in range(polls):
        health = httpx.get(f"{base_url}/monitoring/health", timeout=10).json()
        if not health.get("enabled"):
            return {"enabled": False}
        by_worker[health["pid"]] = health
    sums = {name: sum(int(h["journal"].get(name, 0)) for h in by_worker.values()) for name in COUNTERS}
    lag = max((h["lag"] for h in by_worker.values()), key=lambda lag: lag["lag_bytes"])
    return {"enabled": True, "workers_seen": len(by_worker), **sums, "lag_records": lag["lag_records"],
            "lag_bytes": lag["lag_bytes"], "lag_seconds": lag["lag_seconds"]}  # fmt: skip


def backlog(counters: Mapping[str, Any]) -> int:
    """Journal bytes not yet ingested into the store (0 when monitoring is off)."""
    return int(counters.get("lag_bytes", 0)) if counters.get("enabled") else 0


def wait_until_logged(servers: list[Server], report: Report, timeout_s: float = 180.0) -> None:
    """Let every server's ingest finish the journal of earlier runs before the next run: at idle priority
    it would otherwise spend that backlog in the next run's CPU gaps, whichever variant runs."""
    deadline = time.monotonic() + timeout_s
    waiting = {s.name: backlog(monitoring_counters(s.base_url, polls=8)) for s in servers}
    if any(waiting.values()):
        report(f"waiting for the journal ingest to catch up (bytes): {waiting}")
    while any(waiting.values()) and time.monotonic() < deadline:
        time.sleep(1.0)
        waiting = {s.name: backlog(monitoring_counters(s.base_url, polls=8)) for s in servers}


def http_settings(settings: HttpSettings, tool: str) -> dict[str, Any]:
    return {
        "bento": settings.bento,
        "tool": tool,
        "tool_command": "wrk -t min(clients,2) -c clients --latency --timeout 30s, a Lua script POSTing the "
        "worked example"
        if tool == "wrk"
        else "asyncio + httpx, one connection per client",
        "loop": "closed (each client sends its next request when the previous one answered)",
        "duration_s": settings.duration_s,
        "warmup_s": settings.warmup_s,
        "order": "variants interleaved per scenario, all servers up during the run, every server's "
        "request log drained of earlier runs' records before each run",
        "key_scenario": f"{KEY_SCENARIO.key}: median (by p50) of {settings.key_rounds} interleaved rounds",
        "batch_applications_per_request": BATCH_SIZE,
        "client_and_server_on_same_machine": True,
    }


def describe_variants() -> dict[str, Any]:
    return {
        name: {"description": v.description, "env": v.env, "bentoml_config": list(v.bentoml_config)}
        for name, v in VARIANTS.items()
    }


def add_http_ratios(results: dict[str, dict[str, Any]]) -> None:
    """Each figure over the same scenario's figure under BentoML's defaults and with monitoring off."""
    for variant in results.values():
        for key, figures in variant.items():
            for baseline_name, suffix in (
                (DEFAULTS, "vs_bentoml_defaults"),
                (MONITORING_OFF, "vs_monitoring_off"),
            ):
                baseline = results.get(baseline_name, {}).get(key)
                if baseline:
                    figures[f"ratio_requests_per_s_{suffix}"] = _ratio(
                        figures["requests_per_s"], baseline["requests_per_s"]
                    )
                    figures[f"ratio_p50_{suffix}"] = _ratio(figures["p50_ms"], baseline["p50_ms"])
                    figures[f"ratio_p99_{suffix}"] = _ratio(figures["p99_ms"], baseline["p99_ms"])


def _ratio(value: float | None, baseline: float | None) -> float | None:
    if not value or not baseline or value != value or baseline != baseline:  # None, zero or NaN
        return None
    return round(value / baseline, 3)
