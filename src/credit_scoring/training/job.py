"""The training job behind registry/train.py: option overrides, data loading, user errors, final summary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException

from credit_scoring.data import load_training_frame
from credit_scoring.errors import ExitCode, UsageError
from credit_scoring.settings import Settings
from credit_scoring.training.train import Report, TrainingData, summary_lines, train


def with_options(settings: Settings, data: Path | None, rows: int | None, seed: int | None) -> Settings:
    """The settings with the command-line options applied (an option wins over the environment)."""
    update: dict[str, Any] = {"data_path": data, "synthetic_rows": rows, "seed": seed}
    return settings.model_copy(update={key: value for key, value in update.items() if value is not None})


def load_data(settings: Settings, report: Report) -> TrainingData:
    """The real file when one is configured, else synthetic rows, with what identifies their origin."""
    if settings.data_path is not None:
        report(f"loading {settings.data_path}")
    else:
        report(f"generating {settings.synthetic_rows:,} synthetic applications (seed {settings.seed})")
    frame, source = load_training_frame(settings)
    if source == "real":
        origin: dict[str, Any] = {"path": str(settings.data_path)}
    else:
        origin = {"synthetic_rows": len(frame), "generator_seed": settings.seed}
    return TrainingData(frame=frame, source=source, origin=origin)


def run_training_job(
    settings: Settings,
    data: Path | None,
    rows: int | None,
    seed: int | None,
    register: bool,
    overrides: Mapping[str, Any],
    report: Report,
) -> int:
    """Run one training and print its summary; bad data or a refused run raise a UsageError (exit 2)."""
    settings = with_options(settings, data, rows, seed)
    chosen = {key: value for key, value in overrides.items() if value is not None}
    training_data = load_data(settings, report)
    try:
        outcome = train(training_data, settings, register=register, overrides=chosen, report=report)
    except MlflowException as error:
        raise UsageError(
            f"MLflow store {settings.tracking_uri} refused the run: {error.message}\n"
            "Check MLFLOW_TRACKING_URI (unset it to use the local SQLite store under var/mlflow)."
        ) from None
    print("\n" + "\n".join(summary_lines(outcome, settings)))
    return ExitCode.OK
