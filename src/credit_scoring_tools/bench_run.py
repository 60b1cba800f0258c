"""`make bench`: in-process and HTTP benchmarks in one run -> bench.json, rendered to REPORT.md."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credit_scoring_tools.bench_http import TUNED, HttpSettings, Report, run_http_benchmark
from credit_scoring_tools.bench_render import render_report
from credit_scoring_tools.bench_targets import evaluate_targets
from credit_scoring_tools.settings_dump import public_settings

if TYPE_CHECKING:
    from credit_scoring.settings import MonitoringSettings, Settings

SCHEMA_VERSION = 1
VERSIONED = ("bentoml", "lightgbm", "onnxruntime", "numpy", "pydantic", "uvicorn", "uvloop", "httptools")
PROFILE_TOP_LINES = 32


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


def machine(before: Mapping[str, Any]) -> dict[str, Any]:
    """The machine and the libraries behind the figures, with the load average before and after."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_before": before["load_average_1_5_15"],
        "load_average_after": machine_state()["load_average_1_5_15"],
        "versions": versions(),
    }


@dataclass(frozen=True)
class BenchPlan:
    """What one `make bench` run does, and the settings it runs under (read once, at the entry point)."""

    out_dir: Path
    settings: Settings
    monitoring: MonitoringSettings
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
        return HttpSettings(plan.bento, 1.0, 1.0, key_rounds=1, api_key=plan.settings.api_key)
    return HttpSettings(plan.bento, api_key=plan.settings.api_key)


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


def final_configuration(settings: Settings, monitoring: MonitoringSettings) -> dict[str, Any]:
    """The served configuration, and every setting as this run read it (the servers it starts inherit
    the same environment), without secrets."""
    from credit_scoring.serving.runtime import SERVICE_CONFIG

    return {
        "service_config": SERVICE_CONFIG,
        "engine": settings.scoring_engine,
        "onnx_intra_op_threads": 1,
        "omp_wait_policy": "PASSIVE",
        "monitoring_priority": monitoring.monitoring_priority,
        "bentoml_speedups": settings.bentoml_speedups,
        "api_key_required": bool(settings.api_key and settings.api_key.get_secret_value()),
        "settings": public_settings(settings),
        "monitoring_settings": public_settings(monitoring),
    }


def run_bench(plan: BenchPlan, report: Report) -> dict[str, Any]:
    """Both benchmarks, targets and context, as one JSON-ready dict with stable keys."""
    from credit_scoring_tools.bench_recording import run_recording_benchmark
    from credit_scoring_tools.inprocess_bench import run_inprocess_benchmark

    before = machine_state()
    started = time.perf_counter()
    model = load_model(plan, report)
    inprocess = run_inprocess_benchmark(model, inprocess_config(plan.quick), report)
    http = None if plan.skip_http else run_http_benchmark(http_plan(plan), report)
    shadow = run_shadow(plan, model, report)
    recording = run_recording_benchmark(None if plan.skip_http else plan.bento, plan.quick, report)
    files = run_file_benchmark(plan, report)
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"quick": plan.quick, "skip_http": plan.skip_http, "model_uri": plan.model_uri},
        "machine": machine(before),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "inprocess": inprocess,
        "http": http,
        "recording": recording,
        "shadow": shadow,
        "files": files,
        "profile": profile_excerpt(plan.profile_path),
        "final_configuration": final_configuration(plan.settings, plan.monitoring),
    }
    result["http_batch_vs_inprocess"] = http_batch_share(result)
    result["targets"] = evaluate_targets(result)
    return result


def run_shadow(plan: BenchPlan, model: Any, report: Report) -> dict[str, Any]:
    """Shadow scoring's cost: in process always; over HTTP (a Bento with a challenger, served with shadow
    scoring on and off) unless --skip-http."""
    from credit_scoring_tools.bench_shadow import run_shadow_benchmark, shadow_config, shadow_plan_for

    shadow_plan = None if plan.skip_http else shadow_plan_for(http_plan(plan), plan.settings)
    return run_shadow_benchmark(model, shadow_plan, shadow_config(plan.quick), report)


def run_file_benchmark(plan: BenchPlan, report: Report) -> dict[str, Any] | None:
    """`make score-file`'s throughput (1,000,000 synthetic rows as Parquet and CSV) and Spark's parity with
    the local engine, on the @production model; None when no @production model can be read."""
    from credit_scoring.batch.model import production_model
    from credit_scoring.errors import CreditScoringError
    from credit_scoring_tools.batch_bench import measure_batch_scoring

    try:
        model = production_model(plan.settings)
    except CreditScoringError as error:
        report(f"files: not measured ({error})")
        return None
    report("files: make score-file's local engine on synthetic files, then Spark's parity")
    return measure_batch_scoring(model, 20_000 if plan.quick else 1_000_000, 2_000 if plan.quick else 20_000)


def http_batch_share(result: Mapping[str, Any]) -> float | None:
    """/score_batch x16 applications/s over HTTP as a share of the in-process batch rows/s of the run."""
    from credit_scoring_tools.bench_targets import lookup

    http = lookup(result, ("http", "results", TUNED, "score_batch_c16", "applications_per_s"))
    inprocess = lookup(result, ("inprocess", "batch", "optimised_frame_2_thread", "rows_per_s"))
    return round(http / inprocess, 4) if http and inprocess else None


def write_outputs(result: Mapping[str, Any], out_dir: Path, history: str) -> tuple[Path, Path]:
    """bench.json and REPORT.md in ``out_dir``; ``history`` is the text of TRIED.md, included as written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, report_path = out_dir / "bench.json", out_dir / "REPORT.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    report_path.write_text(render_report(result, history))
    return json_path, report_path
