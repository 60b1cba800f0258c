"""`make bench`: in-process and HTTP benchmarks in one run -> bench.json, rendered to REPORT.md."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

Report = Callable[[str], None]
SCHEMA_VERSION = 1
TUNED = "tuned_monitoring_on"
MONITORING_OFF = "tuned_monitoring_off"
DEFAULTS = "bentoml_defaults"
BATCH_SIZE = 50
FLOOR_ENDPOINT = "livez"
VERSIONED = ("bentoml", "lightgbm", "onnxruntime", "numpy", "pydantic", "uvicorn", "uvloop", "httptools")
PROFILE_TOP_LINES = 32


@dataclass(frozen=True)
class HttpVariant:
    """One way of serving the same Bento: environment and BentoML overrides, and what they mean."""

    description: str
    env: dict[str, str]
    bentoml_config: tuple[str, ...] = ()


# BentoML's defaults for the options this project changes (serving/runtime.py): 1 worker, access log on,
# OpenTelemetry spans on every route, BentoML's code as shipped (serving/bentoml_speedups.py off). The
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
    """Durations of each HTTP run and which Bento to serve."""

    bento: str
    duration_s: float = 8.0
    warmup_s: float = 2.0
    tool: str = "auto"
    key_rounds: int = 5  # a neighbour disturbing one or two rounds does not move the median


@dataclass
class Server:
    """A `bentoml serve` child started for one variant."""

    name: str
    base_url: str
    process: subprocess.Popen
    log: Path
    cpu: list[float] = field(default_factory=list)


def versions() -> dict[str, str]:
    """Installed versions of the libraries that shape the figures."""
    found = {}
    for name in VERSIONED:
        try:
            found[name] = installed_version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine_state() -> dict[str, Any]:
    return {"load_average_1_5_15": [round(value, 2) for value in os.getloadavg()]}


def start_variant(name: str, variant: HttpVariant, bento: str, workdir: Path) -> Server:
    """Serve the Bento on a free port; monitoring writes into ``workdir`` instead of the project's store."""
    from credit_scoring.serving.launcher import free_port, start_server

    port = free_port()
    env = dict(os.environ) | variant.env | {"BENTOML_DO_NOT_TRACK": "True"}
    env["CREDIT_REQUEST_STORE_URL"] = f"sqlite:///{workdir / name / 'requests.db'}"
    env["CREDIT_PROFILE_DIR"] = str(workdir / name / "profiles")
    if variant.bentoml_config:
        env["BENTOML_CONFIG_OPTIONS"] = " ".join(variant.bentoml_config)
    (workdir / name).mkdir(parents=True, exist_ok=True)
    log = workdir / name / "serve.log"
    process = start_server(bento, port, host="127.0.0.1", env=env, log=log)
    return Server(name, f"http://127.0.0.1:{port}", process, log)


def load(tool: str, url: str, scenario: Scenario, duration: float) -> dict[str, float]:
    from credit_scoring_tools.loadtest import run_httpx, run_wrk

    headers = {"Content-Type": "application/json"}
    if os.environ.get("CREDIT_API_KEY"):
        headers["X-API-Key"] = os.environ["CREDIT_API_KEY"]
    if tool == "wrk":
        threads = min(scenario.connections, 2)
        return run_wrk(url, scenario.body(), headers, scenario.connections, duration, threads)
    return run_httpx(url, scenario.body(), headers, scenario.connections, duration)


def measure_scenario(server: Server, scenario: Scenario, settings: HttpSettings, tool: str) -> dict[str, Any]:
    """Warm-up (unmeasured), then the measured closed-loop run with the server's CPU time around it."""
    from credit_scoring_tools.loadtest import process_tree_cpu_s

    url = f"{server.base_url}/{scenario.endpoint}"
    load(tool, url, scenario, settings.warmup_s)
    cpu_before = process_tree_cpu_s(server.process.pid)
    figures = load(tool, url, scenario, settings.duration_s)
    cpu_s = process_tree_cpu_s(server.process.pid) - cpu_before
    requests = int(figures["requests"])
    return {
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


class ServerNotReady(RuntimeError):
    """A benchmarked server did not come up; the message quotes its log's last error."""


def ensure_ready(server: Server, wait: Callable[[str, subprocess.Popen], float]) -> None:
    try:
        wait(server.base_url, server.process)
    except (TimeoutError, RuntimeError) as error:
        errors = [line for line in server.log.read_text(errors="replace").splitlines() if "ERROR" in line]
        last = errors[-1][-400:] if errors else "no error in its log"
        raise ServerNotReady(f"{server.name} server not ready ({error}); last error: {last}") from None


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
            {k: run[k] for k in ("requests_per_s", "p50_ms", "p99_ms", "errors")} for run in runs
        ]
    return chosen


COUNTERS = ("submitted", "written", "dropped", "failed_records", "queue_depth")


def monitoring_counters(base_url: str, polls: int = 40) -> dict[str, Any]:
    """The request-log counters summed over the server's workers (each answers for itself: poll until
    every worker was seen), right after the load: records dropped under load show here."""
    import httpx

    by_worker: dict[int, dict[str, Any]] = {}
    for _ in range(polls):
        health = httpx.get(f"{base_url}/monitoring/health", timeout=10).json()
        if not health.get("enabled"):
            return {"enabled": False}
        by_worker[health["pid"]] = health
    sums = {name: sum(int(h.get(name, 0)) for h in by_worker.values()) for name in COUNTERS}
    return {"enabled": True, "workers_seen": len(by_worker), **sums}


def backlog(counters: Mapping[str, Any]) -> int:
    """Records submitted but not yet written (nor counted as lost) by a server's logger processes."""
    if not counters.get("enabled"):
        return 0
    settled = counters["written"] + counters["dropped"] + counters["failed_records"]
    return max(counters["queue_depth"], counters["submitted"] - settled)


def wait_until_logged(servers: list[Server], report: Report, timeout_s: float = 180.0) -> None:
    """Let every server's logger process finish the records of earlier runs before the next run: at idle
    priority it would otherwise spend that backlog in the next run's CPU gaps, whichever variant runs."""
    deadline = time.monotonic() + timeout_s
    waiting = {s.name: backlog(monitoring_counters(s.base_url, polls=8)) for s in servers}
    if any(waiting.values()):
        report(f"waiting for the request logs to catch up: {waiting}")
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


# ---------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One figure of issue 5 (or 4) against its threshold; ``path`` is where it sits in bench.json."""

    key: str
    text: str
    path: tuple[str, ...]
    threshold: float
    at_least: bool


TARGETS = (
    Target(
        "inprocess_speedup",
        "optimised in-process path >= 20x faster than predict_proba (p50, one application)",
        ("inprocess", "single_application", "paths", "optimised", "speedup_vs_baseline_p50"),
        20,
        True,
    ),
    Target(
        "inprocess_p50",
        "optimised in-process path p50 < 100 us",
        ("inprocess", "single_application", "paths", "optimised", "p50_us"),
        100,
        False,
    ),
    Target(
        "batch_throughput",
        "optimised batch throughput >= 100,000 rows/s (2 cores, features included)",
        ("inprocess", "batch", "optimised_frame_2_thread", "rows_per_s"),
        100_000,
        True,
    ),
    Target(
        "http_rps_16",
        "HTTP /score, 16 clients: >= 1,500 requests/s",
        ("http", "results", TUNED, "score_c16", "requests_per_s"),
        1_500,
        True,
    ),
    Target(
        "http_errors_16",
        "HTTP /score, 16 clients: zero errors",
        ("http", "results", TUNED, "score_c16", "errors"),
        0,
        False,
    ),
    Target(
        "http_p99_16",
        "HTTP /score, 16 clients: p99 < 25 ms",
        ("http", "results", TUNED, "score_c16", "p99_ms"),
        25,
        False,
    ),
    Target(
        "http_vs_defaults",
        "HTTP /score, 16 clients: >= 4x the requests/s of BentoML's default configuration (same run)",
        ("http", "results", TUNED, "score_c16", "ratio_requests_per_s_vs_bentoml_defaults"),
        4,
        True,
    ),
    Target(
        "monitoring_overhead",
        "issue 4: monitoring adds <= 10 % to the median latency, 16 clients",
        ("http", "results", TUNED, "score_c16", "ratio_p50_vs_monitoring_off"),
        1.10,
        False,
    ),
)


def lookup(result: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = result
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def evaluate_targets(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Met / not met / not measured for every target (errors: equal to 0 is met)."""
    verdicts = {}
    for target in TARGETS:
        value = lookup(result, target.path)
        if value is None or value != value:
            met = None
        elif target.key == "http_errors_16":
            met = value == 0
        else:
            met = value >= target.threshold if target.at_least else value < target.threshold
            if target.key == "monitoring_overhead":
                met = value <= target.threshold
        verdicts[target.key] = {
            "target": target.text,
            "json_key": ".".join(target.path),
            "threshold": target.threshold,
            "value": value,
            "met": met,
        }
    return verdicts


# ---------------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class BenchPlan:
    """What one `make bench` run does."""

    out_dir: Path
    quick: bool = False
    skip_http: bool = False
    model_uri: str | None = None
    bento: str = "credit_scoring:latest"
    profile_path: Path = Path("profiling/profile.txt")


def inprocess_config(quick: bool) -> Any:
    from credit_scoring_tools.inprocess_bench import BenchConfig

    if quick:
        return BenchConfig(
            iterations=200,
            baseline_iterations=50,
            warmup=10,
            batch_rows=2_000,
            batch_repeats=1,
            rounds=2,
            pool_size=100,
            chunk_rows=500,
        )
    return BenchConfig()


def http_plan(plan: BenchPlan) -> HttpSettings:
    if plan.quick:
        return HttpSettings(plan.bento, duration_s=1.0, warmup_s=1.0, key_rounds=1)
    return HttpSettings(plan.bento)


def load_model(plan: BenchPlan, report: Report) -> Any:
    """The registered model when it loads, else one trained in process (quick: a small one)."""
    from credit_scoring_tools.inprocess_bench import bench_model

    if plan.model_uri and not plan.quick:
        try:
            return bench_model(plan.model_uri, 0, 42, report)
        except Exception as error:  # MLflow raises several types for a wrong URI or an empty store
            report(f"cannot load {plan.model_uri} ({error}); training one in process instead")
    return bench_model(None, 3_000 if plan.quick else 20_000, 42, report)


def profile_excerpt(path: Path) -> dict[str, Any]:
    """The top of the latest `make profile` output, carried in the JSON so the report needs nothing else."""
    if not path.exists():
        return {"source": str(path), "top_lines": [], "note": "not found: run make profile"}
    lines = path.read_text().splitlines()[:PROFILE_TOP_LINES]
    return {"source": str(path), "top_lines": lines}


def final_configuration() -> dict[str, Any]:
    from credit_scoring.serving.runtime import SERVICE_CONFIG

    return {
        "service_config": SERVICE_CONFIG,
        "engine": os.environ.get("CREDIT_SCORING_ENGINE", "onnx (default)"),
        "onnx_intra_op_threads": 1,
        "omp_wait_policy": "PASSIVE",
        "monitoring_priority": os.environ.get("CREDIT_MONITORING_PRIORITY", "idle (default)"),
        "bentoml_speedups": os.environ.get("CREDIT_BENTOML_SPEEDUPS", "true (default)"),
    }


def run_bench(plan: BenchPlan, report: Report) -> dict[str, Any]:
    """Both benchmarks, targets and context, as one JSON-ready dict with stable keys."""
    from credit_scoring_tools.inprocess_bench import run_inprocess_benchmark

    before = machine_state()
    started = time.perf_counter()
    model = load_model(plan, report)
    inprocess = run_inprocess_benchmark(model, inprocess_config(plan.quick), report)
    http = None if plan.skip_http else run_http_benchmark(http_plan(plan), report)
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"quick": plan.quick, "skip_http": plan.skip_http, "model_uri": plan.model_uri},
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": before["load_average_1_5_15"],
            "load_average_after": machine_state()["load_average_1_5_15"],
            "versions": versions(),
        },
        "elapsed_s": round(time.perf_counter() - started, 1),
        "inprocess": inprocess,
        "http": http,
        "profile": profile_excerpt(plan.profile_path),
        "final_configuration": final_configuration(),
    }
    result["targets"] = evaluate_targets(result)
    return result


def write_outputs(result: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, report_path = out_dir / "bench.json", out_dir / "REPORT.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    report_path.write_text(render_report(result))
    return json_path, report_path


# ---------------------------------------------------------------------------------------------- the report

TRIED = (
    (
        "ONNX Runtime for the trees (skl2onnx + onnxmltools LightGBM converter), 1 intra-op thread",
        "helped: model call ~120 -> ~70 us per application in the profile, batch several times faster",
    ),
    (
        "converter threshold rounding fix (split thresholds rounded to float32 as LightGBM compares them)",
        "needed for parity: without it a few probabilities moved by > 1e-5; with it no decision changes",
    ),
    (
        "RecordVectoriser: precomputed column indices + numpy instead of per-field loops",
        "helped: features 212 -> 144 us per application; derive_features kept a fixed cost per call",
    ),
    (
        "one request's engineered features in Python (derive_row: the same rules, numpy called once)",
        "helped: derive 21-24 -> 9 us, RecordVectoriser.transform_one 27 -> 13 us; bit-for-bit equal",
    ),
    (
        "derive_features without np.errstate (divide only where the denominator is not zero), "
        "written straight into float32",
        "helped the batch path: 100,000 rows 55 -> 24-29 ms of feature derivation",
    ),
    (
        "batch: categories encoded per frame (encode_frame) instead of per record",
        "category encoding was ~70 % of batch time; vectorised per column",
    ),
    (
        "pydantic validation: a Python rule check per field (120 validators)",
        "was the largest in-process cost: ~145-210 us per request, 16-22 % of a worker's samples under load",
    ),
    (
        "the same rules as pydantic-core constraints (strict types, ge/le, levels); the Python rules only "
        "for what those refuse (error wording, lenient forms such as 2.0 for an integer)",
        "helped: ScoreRequest from JSON ~170 -> 45 us, same answers and errors (tested on every column); "
        "allow_inf_nan on a field had silently added a Python check per int field (model config instead)",
    ),
    (
        "a reused onnxruntime.RunOptions instead of the default built per run()",
        "did not help measurably (interleaved A/B: 20.0 vs 19.6 us min per call); not kept",
    ),
    ("uvloop + httptools (uvicorn picks them up)", "helped: p50 7.9 -> 3.5 ms, 16 clients 117 -> 263 req/s"),
    (
        "OpenTelemetry spans off on the API routes; access log off",
        "helped: ~0.5-0.8 ms CPU per request together; 16 clients ~420 -> ~770 req/s (test model)",
    ),
    (
        "single answers as a complete JSON Response (Content-Length, no chunked stream)",
        "helped a little: 2 socket writes instead of 3",
    ),
    ("2 workers (one per core)", "helped: 676 -> 772 req/s at 16 clients; more workers than cores did not"),
    ("Prometheus metrics off", "did not help enough to keep: ~0.1-0.3 ms, and /metrics is scraped"),
    (
        "thread pool (sync endpoints)",
        "did not help: a thread hop per request; async endpoints compute inline",
    ),
    (
        "monitoring in a background thread of the worker (store + whylogs, 10,000-row profile batches)",
        "not enough: ~0.25-0.33 ms CPU per record holding the GIL, whylogs calls of ~0.1 s stalling the "
        "event loop; 16-client p50 +30-37 % vs monitoring off",
    ),
    (
        "monitoring in a child process per worker at nice 10 / nice 19",
        "not enough: +11 % p50 at nice 19; in a session of its own (setsid) the child is a scheduler "
        "autogroup with a full CPU share whatever its niceness (3 s of CPU per 10 s of load)",
    ),
    (
        "monitoring child at SCHED_IDLE (same session), records pickled in 20 ms bunches",
        "helped: p50 7.15 ms off vs 7.35 ms on (+3 %) in the first A/B; the child catches up when the "
        "load eases (backlog bounded by CREDIT_BUFFER_MB)",
    ),
    (
        "records sent to the logger process in 200 ms bunches instead of 20 ms",
        "helped: the worker's pickling and pipe threads take the GIL from the event loop 5 times a second "
        "instead of 50; p50 at 16 clients 10.8-11.6 -> 9.4-9.7 ms (off: 8.7-9.9) in an A/B",
    ),
    (
        "logger process: orjson for the inputs column, a cheaper NaN test; worker: hmac.digest, the "
        "request log found once",
        "helped a little: a stored row 96 -> 26 us (idle-priority process); pseudonymising 4.3 -> 2.2 us",
    ),
    (
        "gc.freeze() after start-up; one wrk thread instead of two",
        "did not help the tail: p99 ~50-100 ms either way; GET /livez (a no-op) has the same tail",
    ),
    (
        "a /score record sent as its raw body and the answer's figures (AnsweredApplication); the logger "
        "process validates the body again (same JSON-mode validation) and pseudonymises the id",
        "helped: building, pseudonymising and pickling 120 inputs had cost the event loop ~25 us per "
        "request; in-process middleware bench 38 -> 15-20 us of event loop, 55 -> 20 us of process CPU; "
        "16-client A/B: worker CPU per request with monitoring on within the noise of off",
    ),
    (
        "BentoML 1.4 per-request costs: inspect.signature and a new wrapper per method lookup "
        "(APIMethod._local_call), simple_di's bind_partial per answer (_add_response_headers)",
        "helped: ~23 us each per request in a quiet loop, 0.7 and 8.5 us patched at start-up "
        "(serving/bentoml_speedups.py; left alone if BentoML's code changes shape); 16-client A/B: "
        "worker CPU ~0.9-1.1 -> ~0.86-0.97 ms per request",
    ),
    (
        "logger process priority lowered before its imports (Linux keeps it per thread; lowered after, "
        "it missed the imports and the threads they start: 3 of 6 threads at the worker's priority)",
        "fixed the first load round after a start, where the logger process took 0.4-0.8 ms of CPU per "
        "request; /score x1 with monitoring on 524 -> 777 req/s between the 12:52 and 13:26 runs",
    ),
)
CONFIG_WHY = (
    "ONNX Runtime engine (CREDIT_SCORING_ENGINE=onnx, native LightGBM booster as fallback): same decisions "
    "(parity check), cheaper per call.",
    "One ONNX intra-op thread and OMP_WAIT_POLICY=PASSIVE: no thread spinning stealing the core the other "
    "worker needs.",
    "2 BentoML workers on 2 cores; async endpoints, no thread pool; uvloop + httptools.",
    "Access log off and no tracing spans on /score, /score_batch, /explain: each cost more than the "
    "model; the monitoring request log keeps the record off the hot path.",
    "Request log written and profiled by one child process per worker at SCHED_IDLE "
    "(CREDIT_MONITORING_PRIORITY=idle): the requests get the cores first; for /score and /explain the "
    "worker only queues the raw body and the answer's figures, the child builds the record.",
    "Two BentoML per-request costs patched at start-up (CREDIT_BENTOML_SPEEDUPS=true): same answers and "
    "headers, ~40 us less per request.",
)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render_targets(result: Mapping[str, Any]) -> list[str]:
    marks = {True: "met", False: "NOT met", None: "not measured"}
    rows = [
        [v["target"], _fmt(v["value"], 3), marks[v["met"]], f"`{v['json_key']}`"]
        for v in result["targets"].values()
    ]
    return ["## Targets (issues 5 and 4)", "", *_table(["target", "measured", "verdict", "key"], rows), ""]


def render_single(inprocess: Mapping[str, Any]) -> list[str]:
    single = inprocess["single_application"]
    rows = [
        [
            f"`{name}`",
            _fmt(f["p50_us"]),
            _fmt(f["p99_us"]),
            _fmt(f["cpu_p50_us"]),
            _fmt(f["speedup_vs_baseline_p50"], 2),
            f["description"],
        ]
        for name, f in {**single["paths"], **single["components"]}.items()
    ]
    header = ["path", "p50 us", "p99 us", "cpu p50 us", "x vs predict_proba", "what"]
    return [
        "## In process: one application, request dict to probability",
        "",
        f"Baseline: `{single['baseline']}`; every path agrees with it within "
        f"{_fmt(single['agreement_max_abs_difference'], 9)}.",
        "",
        *_table(header, rows),
        "",
    ]


def render_batch(inprocess: Mapping[str, Any]) -> list[str]:
    rows = [
        [
            f"`{name}`",
            _fmt(f["rows_per_s"]),
            _fmt(f["ratio_to_baseline"], 2),
            "yes" if f["features_included"] else "no",
            f["description"],
        ]
        for name, f in inprocess["batch"].items()
    ]
    parity = inprocess.get("parity", {})
    first_row = next(iter(inprocess["batch"].values()))
    return [
        "## In process: batch throughput",
        "",
        f"{_fmt(first_row['rows'])} applications per path, best of {first_row['repeats']} runs.",
        "",
        *_table(["path", "rows/s", "x vs baseline", "features timed", "what"], rows),
        "",
        f"Parity on these rows (native vs ONNX): `{json.dumps(parity)}`",
        "",
    ]


def render_http(http: Mapping[str, Any] | None) -> list[str]:
    if not http:
        return ["## HTTP through the Bento", "", "Not measured in this run (--skip-http).", ""]
    s = http["settings"]
    lines = [
        "## HTTP through the Bento",
        "",
        f"Bento `{s['bento']}`, tool {s['tool']} ({s['tool_command']}), {s['loop']} loop, "
        f"{s['warmup_s']:g} s warm-up + {s['duration_s']:g} s per run, {s['order']}; "
        f"{s.get('key_scenario', 'one round per scenario')}; "
        f"/score_batch carries {s['batch_applications_per_request']} applications.",
        "",
    ]
    for name, variant in http["variants"].items():
        overrides = ", ".join(f"`{o}`" for o in variant["bentoml_config"]) or "none"
        lines.append(
            f"- `{name}`: {variant['description']} (env {variant['env'] or '{}'}; overrides {overrides})"
        )
    header = [
        "variant",
        "scenario",
        "req/s",
        "apps/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "srv cpu ms/req",
        "req/s x defaults",
        "p50 x monitoring off",
    ]
    rows = [
        [
            f"`{name}`",
            f"{f['endpoint']} x{f['clients']}",
            _fmt(f["requests_per_s"]),
            _fmt(f["applications_per_s"]),
            _fmt(f["p50_ms"], 2),
            _fmt(f["p99_ms"], 2),
            _fmt(f["errors"]),
            _fmt(f["server_cpu_ms_per_request"], 2),
            _fmt(f.get("ratio_requests_per_s_vs_bentoml_defaults"), 2),
            _fmt(f.get("ratio_p50_vs_monitoring_off"), 2),
        ]
        for name, scenarios in http["results"].items()
        for f in scenarios.values()
    ]
    return [*lines, "", *_table(header, rows), "", *render_monitoring(http.get("monitoring", {})), ""]


def render_floor(http: Mapping[str, Any] | None) -> list[str]:
    """The HTTP targets next to what a no-op endpoint reaches on the same servers in the same run."""
    results = (http or {}).get("results", {})
    score = results.get(TUNED, {}).get(KEY_SCENARIO.key)
    # Both served-configuration servers answer /livez the same way (it is never logged): their best run
    # is the floor, so one run disturbed by a neighbour does not lower it.
    floors = [results.get(name, {}).get(FLOOR_SCENARIO.key) for name in (TUNED, MONITORING_OFF)]
    floors = [floor for floor in floors if floor]
    defaults = results.get(DEFAULTS, {}).get(KEY_SCENARIO.key)
    if not (score and floors and defaults):
        return []
    rate = max(floor["requests_per_s"] for floor in floors)
    p99, p50 = min((floor["p99_ms"], floor["p50_ms"]) for floor in floors)
    ceiling = rate / defaults["requests_per_s"]
    return [
        "## The HTTP targets against this machine's floor (same run)",
        "",
        f"- `GET /livez` does nothing. On the served configuration, with 16 clients, its best p99 is "
        f"{_fmt(p99, 2)} ms (p50 {_fmt(p50, 2)} ms): the tail of any endpoint on these 2 shared vCPUs, "
        f"which also run the load generator. /score's p99 is {_fmt(score['p99_ms'], 2)} ms; a p99 under "
        f"25 ms is below this floor.",
        f"- The same no-op tops out at {_fmt(rate)} req/s, {_fmt(ceiling, 2)}x what BentoML's defaults "
        f"reach on /score: BentoML's per-request machinery alone caps the ratio there. /score reaches "
        f"{_fmt(100 * score['requests_per_s'] / rate)} % of the no-op's rate "
        f"({_fmt(score['requests_per_s'])} req/s); 4x the defaults would need {_fmt(400 / ceiling)} %.",
        "",
    ]


def paired_ratios(numerators: list[float], denominators: list[float]) -> tuple[list[float], float]:
    """Round-by-round ratios of two interleaved variants, and their median."""
    ratios = sorted(n / d for n, d in zip(numerators, denominators, strict=True) if d)
    middle = len(ratios) // 2
    median = ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2
    return [n / d if d else float("nan") for n, d in zip(numerators, denominators, strict=True)], median


def render_rounds(http: Mapping[str, Any] | None) -> list[str]:
    """The key scenario round by round: the spread behind the verdicts, and ratios paired per round."""
    results = (http or {}).get("results", {})
    rounds = {name: results.get(name, {}).get(KEY_SCENARIO.key, {}).get("rounds") for name in VARIANTS}
    if not all(rounds.values()) or len({len(r) for r in rounds.values()}) != 1:
        return []
    rate = {name: [r["requests_per_s"] for r in runs] for name, runs in rounds.items()}
    p50 = {name: [r["p50_ms"] for r in runs] for name, runs in rounds.items()}
    vs_defaults, vs_defaults_median = paired_ratios(rate[TUNED], rate[DEFAULTS])
    vs_off, vs_off_median = paired_ratios(p50[TUNED], p50[MONITORING_OFF])
    rows = [
        [
            str(i + 1),
            *[f"{_fmt(rate[n][i])} / {_fmt(p50[n][i], 2)}" for n in VARIANTS],
            _fmt(vs_defaults[i], 2),
            _fmt(vs_off[i], 3),
        ]
        for i in range(len(vs_defaults))
    ]
    header = ["round", *[f"`{n}` req/s / p50 ms" for n in VARIANTS], "req/s x defaults", "p50 x off"]
    return [
        f"/score x16 round by round (the variants back to back in each round; the verdicts above use each "
        f"variant's median round): the same-round ratios have medians {_fmt(vs_defaults_median, 2)}x the "
        f"defaults' req/s and {_fmt(vs_off_median, 3)}x monitoring off's p50.",
        "",
        *_table(header, rows),
        "",
    ]


def render_monitoring(monitoring: Mapping[str, Any]) -> list[str]:
    """What the request log did under the load (dropped records are the price of an overload)."""
    lines = []
    for name, c in monitoring.items():
        if c.get("enabled"):
            lines.append(
                f"- request log of `{name}` right after the runs ({c['workers_seen']} worker(s)): "
                f"{c['submitted']:,} records submitted, {c['written']:,} written so far, "
                f"{c['queue_depth']:,} waiting for the idle-priority logger process, "
                f"{c['dropped']:,} dropped, {c['failed_records']:,} failed."
            )
    return ["Monitoring under load:", "", *lines] if lines else []


def render_context(result: Mapping[str, Any]) -> list[str]:
    m, inprocess = result["machine"], result["inprocess"]
    settings = inprocess["settings"]
    versions_text = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    return [
        "## How it was measured",
        "",
        f"- Machine: {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']}; load average "
        f"{m['load_average_before']} before, {m['load_average_after']} after (1/5/15 min).",
        f"- Versions: {versions_text}.",
        f"- In process: {settings['loop']}; timer {settings['timer']}; {settings['iterations']:,} timed "
        f"calls per path ({settings['baseline_iterations']:,} for the slow baseline), "
        f"{settings['warmup']:,} warm-up calls, "
        f"OMP_WAIT_POLICY={inprocess['machine']['omp_wait_policy']}.",
        f"- Model: {json.dumps(inprocess['model'])}.",
        "- Ratios compare figures of this same run only (the machine is shared and noisy).",
        "",
    ]


def render_profile(profile: Mapping[str, Any]) -> list[str]:
    lines = ["## Bottlenecks found (`make profile`, top of " + f"`{profile['source']}`)", ""]
    if not profile["top_lines"]:
        return [*lines, profile.get("note", "no profile"), ""]
    return [
        *lines,
        "```",
        *profile["top_lines"],
        "```",
        "",
        "Reading: after validation moved into pydantic-core and one row's features into derive_row, the "
        "trees and the JSON parsing lead the in-process path. Over HTTP (py-spy, a worker's event loop "
        "under 16 clients), Starlette/BentoML/uvicorn's per-request machinery takes about half, ahead of "
        "scoring (~24 %, ONNX Runtime ~10 %), validation (~16 %), sending the answer through the "
        "middlewares (~15 %), Prometheus metrics (~6 %) and the request log (~3 %, was ~9 % before the "
        "raw-body records).",
        "",
    ]


def render_configuration(result: Mapping[str, Any]) -> list[str]:
    final = result["final_configuration"]
    rows = [[change, effect] for change, effect in TRIED]
    return [
        "## What was tried",
        "",
        *_table(["change", "effect"], rows),
        "",
        "## Final configuration and why",
        "",
        f"- Service options: `{json.dumps(final['service_config'])}`; engine {final['engine']}; "
        f"ONNX intra-op threads {final['onnx_intra_op_threads']}; "
        f"OMP_WAIT_POLICY {final['omp_wait_policy']}.",
        *[f"- {why}" for why in CONFIG_WHY],
        "",
    ]


def render_report(result: Mapping[str, Any]) -> str:
    """REPORT.md from the bench.json dict alone (regenerated by `make bench`, never edited by hand)."""
    lines = [
        "# Benchmark report (generated by `make bench` from profiling/bench.json; do not edit)",
        "",
        f"Run {result['generated_at']}, {result['elapsed_s']:g} s"
        + (" (quick run: short durations, figures not meaningful)" if result["settings"]["quick"] else "")
        + ".",
        "",
    ]
    lines += render_targets(result) + render_context(result)
    lines += render_single(result["inprocess"]) + render_batch(result["inprocess"])
    lines += render_http(result["http"]) + render_rounds(result["http"]) + render_floor(result["http"])
    lines += render_profile(result["profile"]) + render_configuration(result)
    return "\n".join(lines).rstrip() + "\n"
