"""Serve the latest built Bento on a port and print how to call it (curl example, Swagger URL)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import bentoml
import httpx
import typer

from credit_scoring.cli import CommandApp
from credit_scoring.errors import UsageError
from credit_scoring.serving.bento_build import BENTO_NAME
from credit_scoring.serving.launcher import (
    ServerExited,
    curl_example,
    start_server,
    stop_server,
    wait_until_ready,
    write_example_request,
)
from credit_scoring.settings import get_settings

app = CommandApp(__doc__)


def describe(bento: bentoml.Bento, base_url: str, request_file: Path, keyed: bool) -> str:
    labels = bento.info.labels
    return "\n".join(
        [
            f"Serving Bento {bento.tag} (model {labels.get('model_tag', '?')}, "
            f"registry version {labels.get('model_version', '?')}) on {base_url}",
            f"  Swagger UI : {base_url}/",
            f"  OpenAPI    : {base_url}/docs.json",
            f"  Probes     : {base_url}/livez  {base_url}/readyz",
            f"  Try it     : {curl_example(base_url, request_file, keyed)}",
            "  API key    : " + ("required (X-API-Key)" if keyed else "off (CREDIT_API_KEY turns it on)"),
        ]
    )


def example_answer(base_url: str, request_file: Path) -> str:
    try:
        answer = httpx.post(f"{base_url}/score", content=request_file.read_bytes(), timeout=10)
    except httpx.HTTPError as error:
        return f"request failed: {error}"
    return f"HTTP {answer.status_code} {answer.text}"


@app.command()
def main(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 3000,
    host: Annotated[
        str, typer.Option(help="Interface to listen on (all interfaces by default).")
    ] = "0.0.0.0",
    bento: Annotated[str, typer.Option(help="Bento tag to serve (the newest build by default).")] = (
        f"{BENTO_NAME}:latest"
    ),
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for /readyz before giving up.")
    ] = 120.0,
) -> None:
    """Serve a Bento built by bento/build.py with `bentoml serve` (no MLflow needed), wait until it is
    ready, then print the Swagger URL and a curl example. Runs until Ctrl+C. The API key, if any, comes
    from CREDIT_API_KEY; the stores from BENTOML_HOME (default ~/bentoml)."""
    # SIGTERM (make demo-stop, a supervisor) must stop the server too, as Ctrl+C does: exit through finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    settings = get_settings()
    try:
        served = bentoml.bentos.get(bento)
    except bentoml.exceptions.NotFound:
        raise UsageError(f"no Bento {bento} in the store; build one first: make build") from None
    raise typer.Exit(
        serve(served, port, host, ready_timeout, settings.data_root, settings.api_key is not None)
    )


def serve(
    bento: bentoml.Bento, port: int, host: str, ready_timeout: float, data_root: Path, keyed: bool
) -> int:
    """Start `bentoml serve`, print how to call it once ready, and wait; the server's exit code."""
    base_url = f"http://localhost:{port}"
    request_file = write_example_request(data_root / "serving" / "example_request.json")
    print(f"starting bentoml serve {bento.tag} on port {port} ...", flush=True)
    # bentoml serve runs from the Bento's own folder: pin the data dir so the request log and the
    # profiles land in this project's var/, where the monitor and the drift report look for them.
    process = start_server(str(bento.tag), port, host, env={**os.environ, "CREDIT_DATA_DIR": str(data_root)})
    try:
        waited = wait_until_ready(base_url, process, ready_timeout)
        print(f"ready in {waited:.1f}s\n" + describe(bento, base_url, request_file, keyed), flush=True)
        if not keyed:
            print(f"  Example answer: {example_answer(base_url, request_file)}", flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        return process.wait()
    except (ServerExited, TimeoutError) as error:
        print(f"error: {error} (is port {port} free? see the log above)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_server(process)


if __name__ == "__main__":
    app()
