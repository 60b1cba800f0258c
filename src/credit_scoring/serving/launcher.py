"""Run a built Bento with `bentoml serve` as a child process: start, wait until ready, show how to call it."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from credit_scoring.errors import UnavailableError
from credit_scoring.schema import example_application


class ServerExited(UnavailableError, RuntimeError):
    """`bentoml serve` stopped before it became ready (its log says why)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it), for a server started next."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def serve_command(tag: str, port: int, host: str = "0.0.0.0") -> list[str]:
    """`bentoml serve` run by this interpreter, so it uses the same environment."""
    return [sys.executable, "-m", "bentoml", "serve", tag, "--port", str(port), "--host", host]


def start_server(
    tag: str, port: int, host: str = "0.0.0.0", env: Mapping[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen:
    """Start serving a Bento in the background; stdout and stderr go to ``log`` (or are inherited)."""
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    output = log.open("ab") if log is not None else None
    return subprocess.Popen(
        serve_command(tag, port, host),
        env=dict(env) if env is not None else None,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )


def wait_until_ready(base_url: str, process: subprocess.Popen, timeout: float = 120.0) -> float:
    """Poll ``/readyz`` until it answers 200; returns the seconds waited. Fails fast if the server dies."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise ServerExited(f"bentoml serve exited with code {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1.0).status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url} not ready after {timeout:.0f}s")


def stop_server(process: subprocess.Popen, timeout: float = 20.0) -> int:
    """SIGTERM (BentoML then stops its workers), SIGKILL if it has not exited after ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def write_example_request(path: Path) -> Path:
    """The worked example as a /score request body, for curl's ``-d @file``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"application": example_application()}, indent=1) + "\n")
    return path


def curl_example(base_url: str, request_file: Path, with_api_key: bool) -> str:
    """A copy-pasteable curl call of /score (the key is referenced by its variable, never printed)."""
    key = ' -H "X-API-Key: $CREDIT_API_KEY"' if with_api_key else ""
    if request_file.is_relative_to(Path.cwd()):
        request_file = request_file.relative_to(Path.cwd())
    return (
        f"curl -s -X POST {base_url}/score -H 'Content-Type: application/json'{key} "
        f"-d @{shlex.quote(str(request_file))}"
    )
