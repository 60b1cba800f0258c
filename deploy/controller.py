"""`make deploy`'s controller: HAProxy, blue/green Bento servers and delivery that follows @production."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp
from credit_scoring.deployment.stack import StackOptions, serve_forever
from credit_scoring.deployment.status import read_status
from credit_scoring.monitoring.logs import configure_json_logging
from credit_scoring.settings import get_deploy_settings, get_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

app = CommandApp(__doc__)


@app.command()
def run(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Public port (HAProxy).")] = 3000,
    mlflow_port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the MLflow server started on a local store.")
    ] = 5000,
    host: Annotated[str, typer.Option(help="Interface of the public port.")] = "0.0.0.0",
) -> None:
    """Run the stack in the foreground until SIGTERM or Ctrl+C: an MLflow server with webhooks when
    MLFLOW_TRACKING_URI is a local store, HAProxy on PORT, the Bento of @production behind it, and the
    controller that deploys every new @production (webhook, polling as the fallback). Internal ports and
    checks: the CREDIT_DEPLOY_* settings; state under var/deploy/."""
    configure_json_logging(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe would drown the controller's
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    options = StackOptions(port, mlflow_port, host, PROJECT_ROOT)
    serve_forever(get_settings(), get_deploy_settings(), options, stop)


@app.command()
def status() -> None:
    """Print what `make deploy` serves, its last attempt and its last error (exit 1 after a failure)."""
    found = read_status(get_deploy_settings().deploy_dir)
    if found is None:
        typer.echo("no deployment yet: make deploy")
        raise typer.Exit(1)
    typer.echo(json.dumps(found, indent=1))
    attempt = found.get("last_attempt") or {}
    raise typer.Exit(1 if attempt.get("outcome") == "failed" else 0)


if __name__ == "__main__":
    app()
