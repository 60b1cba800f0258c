"""`make bench`: in-process + HTTP benchmarks -> profiling/bench.json and REPORT.md (`bench.py --help`)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp
from credit_scoring.errors import UsageError

PROFILING = Path(__file__).resolve().parent
PROFILE_OUTPUT = PROFILING / "profile.txt"  # written by `make profile`
# What was tried and why, included in REPORT.md as written: the project's history is prose, not code.
HISTORY = PROFILING / "TRIED.md"

app = CommandApp(__doc__)


@app.command()
def main(
    out: Annotated[Path, typer.Option(help="Folder for bench.json and REPORT.md.")] = PROFILING,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Short durations and a small in-process model (for tests; figures not meaningful).",
        ),
    ] = False,
    skip_http: Annotated[bool, typer.Option("--skip-http", help="Only the in-process benchmark.")] = False,
    render_only: Annotated[
        bool,
        typer.Option(
            "--render-only",
            help="Measure nothing: regenerate REPORT.md from the bench.json already in --out (and TRIED.md).",
        ),
    ] = False,
    bento: Annotated[
        str, typer.Option(help="Bento served for the HTTP runs (build one with make build).")
    ] = "credit_scoring:latest",
    model_uri: Annotated[
        str,
        typer.Option(
            help="Model of the in-process benchmark (trained in process if it cannot be loaded, and always "
            "with --quick)."
        ),
    ] = "models:/credit-scoring@production",
    profile: Annotated[
        Path, typer.Option(help="`make profile` output quoted in the report.")
    ] = PROFILE_OUTPUT,
    only_shadow: Annotated[
        bool,
        typer.Option(
            "--only-shadow",
            help="Measure shadow scoring alone (in process; then, unless --skip-http, a Bento with a "
            "challenger built in a scratch BENTOML_HOME and served with shadow on and off) into "
            "shadow.json in --out; bench.json and REPORT.md stay as they are.",
        ),
    ] = False,
) -> None:
    """In one run: in-process latency/throughput of every engine, HTTP load through the latest Bento
    (served config with monitoring on and off, and BentoML's defaults; 1 and 16 clients, /score and
    /score_batch), then bench.json and REPORT.md rendered from it. Exit code 2: usage error, or a Bento
    that does not serve."""
    # LightGBM's OpenMP threads would spin after each call and steal the core; set before it is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")
    history = read_history()
    if render_only:
        rerender(out, history)
    elif only_shadow:
        shadow_alone(out, quick, skip_http, model_uri, bento)
    else:
        bench(out, history, quick, skip_http, model_uri, bento, profile)


def read_history() -> str:
    """TRIED.md, checked before measuring: a broken one must not cost a 9-minute run its report."""
    from credit_scoring_tools.bench_render import check_history

    if not HISTORY.is_file():
        raise UsageError(f"{HISTORY} is missing: it holds what was tried, which REPORT.md includes")
    history = HISTORY.read_text()
    check_history(history)
    return history


def bench(
    out: Path, history: str, quick: bool, skip_http: bool, model_uri: str, bento: str, profile: Path
) -> None:
    """Measure with the settings read here, once; write bench.json and REPORT.md."""
    import mlflow

    from credit_scoring.settings import get_monitoring_settings, get_settings
    from credit_scoring_tools.bench_run import BenchPlan, run_bench, write_outputs

    settings, monitoring = get_settings(), get_monitoring_settings()
    mlflow.set_tracking_uri(settings.tracking_uri)  # the project's registry (MLFLOW_TRACKING_URI wins)
    plan = BenchPlan(out, settings, monitoring, quick, skip_http, model_uri, bento, profile)
    report = reporter(time.perf_counter())
    try:
        result = run_bench(plan, report)
    except FileNotFoundError as error:  # a program the run starts (wrk, bentoml) is not installed
        hint = "Install wrk (apt-get install -y wrk) or build the Bento (make build)."
        raise UsageError(f"{error}\n{hint}") from error
    json_path, report_path = write_outputs(result, out, history)
    unmet = [v["target"] for v in result["targets"].values() if v["met"] is False]
    report(f"wrote {json_path} and {report_path}; targets not met: {len(unmet)}")


def shadow_alone(out: Path, quick: bool, skip_http: bool, model_uri: str, bento: str) -> None:
    """The shadow-scoring phase of `make bench` by itself: shadow.json in ``out`` and its report lines."""
    import mlflow

    from credit_scoring.settings import get_monitoring_settings, get_settings
    from credit_scoring_tools.bench_run import BenchPlan, load_model, run_shadow
    from credit_scoring_tools.bench_shadow import render_shadow

    settings = get_settings()
    mlflow.set_tracking_uri(settings.tracking_uri)
    plan = BenchPlan(out, settings, get_monitoring_settings(), quick, skip_http, model_uri, bento)
    report = reporter(time.perf_counter())
    result = run_shadow(plan, load_model(plan, report), report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shadow.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(render_shadow(result)))
    report(f"wrote {out / 'shadow.json'}")


def reporter(started: float) -> Callable[[str], None]:
    """Progress lines on stderr, stamped with the seconds since ``started``."""

    def report(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    return report


def rerender(out: Path, history: str) -> None:
    """REPORT.md again from the bench.json in ``out`` (after editing TRIED.md or the renderer)."""
    from credit_scoring_tools.bench_run import write_outputs

    json_path = out / "bench.json"
    if not json_path.exists():
        raise UsageError(f"{json_path} does not exist; run make bench first")
    _, report_path = write_outputs(json.loads(json_path.read_text()), out, history)
    print(f"rewrote {report_path} from {json_path}", file=sys.stderr)


if __name__ == "__main__":
    app()
