"""Start the MLflow UI on the project's store (SQLite + local artifacts under var/mlflow): `--help`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp

app = CommandApp(__doc__)


@app.command()
def main(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the UI.")] = 5000,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 to reach the UI from another machine.")
    ] = "127.0.0.1",
) -> None:
    """Run `mlflow server` on the store the other tools use (MLFLOW_TRACKING_URI when it is a local
    sqlite:// or file:// URI, else var/mlflow/mlflow.db) and print its URL. Ctrl-C stops it."""
    from credit_scoring.registry import UI_ENVIRONMENT, ui_command
    from credit_scoring.settings import get_settings

    settings = get_settings()
    command = ui_command(settings, host, port)
    shown = "localhost" if host in {"127.0.0.1", "0.0.0.0"} else host
    typer.echo(f"MLflow UI on http://{shown}:{port} (store {settings.tracking_uri}); Ctrl-C to stop")
    sys.stdout.flush()
    # Replacing this process lets Ctrl-C and `kill PID` reach the server directly.
    os.execve(command[0], command, {**os.environ, **UI_ENVIRONMENT})


if __name__ == "__main__":
    app()
