"""Score a CSV or Parquet file of applications with models:/credit-scoring@production: `--help`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_enable=False)


class EngineChoice(StrEnum):
    local = "local"
    spark = "spark"


@app.command()
def main(
    source: Annotated[
        str,
        typer.Option(
            "--in",
            help="Applications to score: a .csv or .parquet file with the columns of Kaggle's "
            "application_train.csv (TARGET is ignored; SK_ID_CURR, when present, is copied to the results).",
        ),
    ],
    out: Annotated[
        str,
        typer.Option(
            help="Scores (.parquet or .csv): row, SK_ID_CURR, probability, decision, threshold, "
            "model_version. With --engine spark, a folder of part files."
        ),
    ],
    rejects: Annotated[
        str,
        typer.Option(
            help="Refused rows (.csv or .parquet): row number, SK_ID_CURR, and the API's reasons. "
            "Default: next to --out, named <out name>.rejects.csv."
        ),
    ] = "",
    engine: Annotated[
        EngineChoice,
        typer.Option(
            help="local: this machine's cores. spark: PySpark mapInPandas (pip install -e '.[spark]')."
        ),
    ] = EngineChoice.local,
    master: Annotated[
        str,
        typer.Option(
            help="Spark master URL for --engine spark: local\\[2] here; spark://host:7077, yarn or k8s://… "
            "on a cluster (see README, 'Batch scoring of files')."
        ),
    ] = "local[2]",
    conf: Annotated[
        list[str] | None,
        typer.Option(
            help="Spark setting KEY=VALUE for --engine spark, repeatable (e.g. spark.executor.memory=4g)."
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr (local engine).")] = True,
) -> None:
    """Validate every row exactly as the API does, score the valid ones with the @production model of the
    MLflow registry (MLFLOW_TRACKING_URI, else var/mlflow) through the API's ONNX path, and write refused
    rows with their reasons: no row is dropped. Exit code: 0 done (refused rows included), 2 usage or data
    error, 3 no usable @production model or registry unreachable."""
    # Imported here so that --help answers at once instead of after loading MLflow and ONNX Runtime.
    from credit_scoring.batch.job import FileJob, run_job
    from credit_scoring.errors import CreditScoringError
    from credit_scoring.settings import get_settings

    job = FileJob(source, out, rejects, engine.value, master, _settings(conf or []), progress)
    try:
        summary, model = run_job(job, get_settings())
    except CreditScoringError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(int(error.exit_code)) from None
    for line in summary.lines(f"{model.name} version {model.version} (threshold {model.threshold:g})"):
        typer.echo(line)


def _settings(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` options as a dict; a pair without ``=`` is a usage error typer reports."""
    if bad := [pair for pair in pairs if "=" not in pair]:
        raise typer.BadParameter(f"expected KEY=VALUE, got {', '.join(bad)}", param_hint="--conf")
    return dict(pair.split("=", 1) for pair in pairs)


if __name__ == "__main__":
    app()
