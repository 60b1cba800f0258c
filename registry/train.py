"""Train, evaluate and register the credit-scoring model: `python registry/train.py --help`."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp

# LightGBM's OpenMP threads otherwise spin while waiting: when anything else uses the two cores (a test
# run, the API), fitting became ten times slower here. Must be set before LightGBM is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = CommandApp(__doc__)


@app.command()
def main(
    data: Annotated[
        str | None,
        typer.Option(
            help="Kaggle application_train.csv to train on. Omitted or empty: synthetic data (--rows)."
        ),
    ] = None,
    rows: Annotated[
        int | None,
        typer.Option(min=500, help="Synthetic rows to generate (default 100000, CREDIT_SYNTHETIC_ROWS)."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the synthetic data, the split and the model (default 42, CREDIT_SEED)."),
    ] = None,
    register: Annotated[
        bool,
        typer.Option(
            help="Register the model as a new version of 'credit-scoring' (--no-register: run only)."
        ),
    ] = True,
    n_estimators: Annotated[
        int | None,
        typer.Option(min=1, help="Upper bound on LightGBM trees (early stopping picks the number)."),
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option(min=0.0, help="LightGBM learning rate (default 0.05).")
    ] = None,
    num_leaves: Annotated[
        int | None, typer.Option(min=2, help="LightGBM leaves per tree (default 15).")
    ] = None,
) -> None:
    """Check the data, fit LightGBM and a logistic baseline, choose the cost-minimising threshold, log
    everything to MLflow (MLFLOW_TRACKING_URI, else the SQLite store in var/mlflow) and register."""
    # Imported here so that --help answers at once instead of after loading MLflow and LightGBM.
    from credit_scoring.settings import get_settings
    from credit_scoring.training.job import run_training_job

    started = time.perf_counter()

    def report(message: str) -> None:
        typer.echo(f"[{time.perf_counter() - started:6.1f} s] {message}")

    overrides = {"n_estimators": n_estimators, "learning_rate": learning_rate, "num_leaves": num_leaves}
    settings = get_settings()
    code = run_training_job(settings, Path(data) if data else None, rows, seed, register, overrides, report)
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
