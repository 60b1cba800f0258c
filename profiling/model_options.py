"""Command-line options shared by the profiling scripts: the model to measure, registered or trained here."""

from __future__ import annotations

from typing import Annotated

import typer

ModelUri = Annotated[
    str | None,
    typer.Option(
        help="MLflow model to use, e.g. models:/credit-scoring@production (MLFLOW_TRACKING_URI or the "
        "project's store). Omitted: train one in process on synthetic rows."
    ),
]
TrainRows = Annotated[int, typer.Option(min=2_000, help="Synthetic rows to train the in-process model on.")]
Seed = Annotated[int, typer.Option(help="Seed of the training data, split and model.")]
Trees = Annotated[
    int | None,
    typer.Option(
        min=1, help="Train exactly this many trees (no early stopping) to see how engines scale with size."
    ),
]
