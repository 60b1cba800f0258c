"""In-process latency and throughput of every scoring engine: `python profiling/bench_inprocess.py --help`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from model_options import ModelUri, Seed, TrainRows, Trees

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_enable=False)
USER_ERROR = 2


@app.command()
def main(
    out: Annotated[
        Path | None, typer.Option(help="Write the JSON result here (default: print it on stdout).")
    ] = None,
    model_uri: ModelUri = None,
    train_rows: TrainRows = 20_000,
    seed: Seed = 42,
    trees: Trees = None,
    iterations: Annotated[
        int, typer.Option(min=100, help="Timed calls per single-application path.")
    ] = 5_000,
    baseline_iterations: Annotated[
        int, typer.Option(min=50, help="Timed calls of the slow predict_proba baseline.")
    ] = 300,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed calls before each timed loop.")] = 200,
    batch_rows: Annotated[
        int, typer.Option(min=1_000, help="Applications scored by each batch path.")
    ] = 100_000,
    batch_repeats: Annotated[
        int, typer.Option(min=1, help="Runs per batch path (the best one gives rows/s).")
    ] = 3,
) -> None:
    """Time, in this process and in one run, the request-dict-to-probability paths (sklearn predict_proba
    baseline, LightGBM booster, ONNX Runtime, the optimised path with and without validation) and the
    batch throughput of each engine, and check ONNX parity on the batch rows."""
    # LightGBM's OpenMP threads would otherwise spin after each parallel call (the baseline's predict_proba
    # uses n_jobs=2) and steal the core the next measured call needs; set before LightGBM is loaded.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Imported here so that --help answers at once instead of after loading LightGBM and ONNX Runtime.
    from credit_scoring_tools.inprocess_bench import BenchConfig, bench_model, run_inprocess_benchmark

    started = time.perf_counter()

    def report(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr)

    config = BenchConfig(
        iterations=iterations,
        baseline_iterations=baseline_iterations,
        warmup=warmup,
        batch_rows=batch_rows,
        batch_repeats=batch_repeats,
    )
    if model_uri is None:
        model = bench_model(None, train_rows, seed, report, trees)
    else:
        try:
            model = bench_model(model_uri, train_rows, seed, report, trees)
        except Exception as error:  # MLflow raises several types for a wrong URI or an empty store
            message = f"error: cannot load {model_uri}: {error}"
            print(
                f"{message}\nRegister one (make train) or omit --model-uri to train in process.",
                file=sys.stderr,
            )
            raise typer.Exit(USER_ERROR) from None
    result = run_inprocess_benchmark(model, config, report)
    text = json.dumps(result, indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")
        report(f"wrote {out}")


if __name__ == "__main__":
    app()
