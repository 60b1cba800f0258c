"""`make bench`: in-process + HTTP benchmarks -> profiling/bench.json and REPORT.md (`bench.py --help`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

PROFILING = Path(__file__).resolve().parent
# What was tried and why, included in REPORT.md as written: the project's history is prose, not code.
HISTORY = PROFILING / "TRIED.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="In one run: in-process latency/throughput of every engine, HTTP load through the "
        "latest Bento (served config with monitoring on and off, and BentoML's defaults; 1 and 16 "
        "clients, /score and /score_batch), then bench.json and REPORT.md rendered from it."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=PROFILING,
        help="Folder for bench.json and REPORT.md (default: %(default)s).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Short durations and a small in-process model (for tests; figures not meaningful).",
    )
    parser.add_argument("--skip-http", action="store_true", help="Only the in-process benchmark.")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="Measure nothing: regenerate REPORT.md from the bench.json already in --out.",
    )
    parser.add_argument(
        "--bento",
        default="credit_scoring:latest",
        help="Bento served for the HTTP runs (default: %(default)s; build one with make build).",
    )
    parser.add_argument(
        "--model-uri",
        default="models:/credit-scoring@production",
        help="Model of the in-process benchmark (default: %(default)s; trained in process "
        "if it cannot be loaded, and always with --quick).",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=PROFILING / "profile.txt",
        help="`make profile` output quoted in the report (default: %(default)s).",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # LightGBM's OpenMP threads would spin after each call and steal the core; set before it is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")
    import mlflow

    from credit_scoring.monitoring.config import get_monitoring_settings
    from credit_scoring.settings import get_settings
    from credit_scoring_tools.bench_http import ServerNotReady
    from credit_scoring_tools.bench_render import check_history
    from credit_scoring_tools.bench_run import BenchPlan, run_bench, write_outputs

    settings, monitoring = get_settings(), get_monitoring_settings()  # read once, passed down
    mlflow.set_tracking_uri(settings.tracking_uri)  # the project's registry (MLFLOW_TRACKING_URI wins)

    history = HISTORY.read_text()
    check_history(history)
    if args.render_only:
        return render_only(args.out, history)
    started = time.perf_counter()

    def report(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    plan = BenchPlan(
        args.out, settings, monitoring, args.quick, args.skip_http, args.model_uri, args.bento, args.profile
    )
    try:
        result = run_bench(plan, report)
    except ServerNotReady as error:
        print(
            f"error: {error}\nRebuild the Bento (make build) or set CREDIT_SCORING_ENGINE=native.",
            file=sys.stderr,
        )
        return 2
    except FileNotFoundError as error:
        print(
            f"error: {error}\nInstall wrk (apt-get install -y wrk) or build the Bento (make build).",
            file=sys.stderr,
        )
        return 2
    json_path, report_path = write_outputs(result, args.out, history)
    unmet = [v["target"] for v in result["targets"].values() if v["met"] is False]
    report(f"wrote {json_path} and {report_path}; targets not met: {len(unmet)}")
    return 0


def render_only(out: Path, history: str) -> int:
    import json

    from credit_scoring_tools.bench_run import write_outputs

    json_path = out / "bench.json"
    if not json_path.exists():
        print(f"error: {json_path} does not exist; run make bench first", file=sys.stderr)
        return 2
    _, report_path = write_outputs(json.loads(json_path.read_text()), out, history)
    print(f"rewrote {report_path} from {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
