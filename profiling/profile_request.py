"""Profile one /score request in process (cProfile, pyinstrument): `profile_request.py --help`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from model_options import ModelUri, Seed, TrainRows, Trees

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_enable=False)
USER_ERROR = 2
DEFAULT_OUT = Path(__file__).resolve().parent / "profile.txt"


@app.command()
def main(
    out: Annotated[Path, typer.Option(help="Where to write the text report.")] = DEFAULT_OUT,
    model_uri: ModelUri = None,
    train_rows: TrainRows = 20_000,
    seed: Seed = 42,
    trees: Trees = None,
    requests: Annotated[
        int, typer.Option(min=100, help="Requests profiled per path (stock and optimised).")
    ] = 2_000,
) -> None:
    """Run the /score handler's stages (parse + validate, record, features, model, response) for many
    requests, on the stock path (build_features_from_records, LightGBM booster) and the optimised one
    (fast vectoriser, ONNX Runtime); write per-stage p50/p99, cProfile's top functions, pyinstrument tree."""
    # LightGBM's OpenMP threads would otherwise spin after each parallel call (the baseline's predict_proba
    # uses n_jobs=2) and steal the core the next measured call needs; set before LightGBM is loaded.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Imported here so that --help answers at once instead of after loading LightGBM and ONNX Runtime.
    from credit_scoring.data.synthetic import generate_applications
    from credit_scoring.fastpath.vectorise import request_records
    from credit_scoring_tools.inprocess_bench import bench_model
    from credit_scoring_tools.request_profile import profile_report

    started = time.perf_counter()

    def report(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr)

    try:
        model = bench_model(model_uri, train_rows, seed, report, trees)
    except Exception as error:  # MLflow raises several types for a wrong URI or an empty store
        if model_uri is None:
            raise
        print(
            f"error: cannot load {model_uri}: {error}\nRegister one (make train) or omit --model-uri.",
            file=sys.stderr,
        )
        raise typer.Exit(USER_ERROR) from None
    report(f"profiling {requests:,} requests per path")
    text = profile_report(model, request_records(generate_applications(500, seed + 1)), requests)
    out.write_text(text)
    print(text)
    report(f"wrote {out}")


if __name__ == "__main__":
    app()
