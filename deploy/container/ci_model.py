"""The model CI ships: the team's @production, or a synthetic stand-in labelled not for production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp
from credit_scoring.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
BENTO_TAG_PREFIX = "BENTO_TAG="

app = CommandApp(__doc__)


def run(command: list[str], env: dict[str, str]) -> str:
    """Run a project CLI with its output shown as it comes (CI logs), and return that output."""
    print(f"$ {' '.join(command)}", flush=True)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    if process.wait() != 0:
        raise UsageError(f"{command[1]} failed with exit code {process.returncode} (output above)")
    return "".join(lines)


def alias_version(tracking_uri: str) -> str | None:
    """The version @production points to on the tracking server now (None when unset)."""
    from mlflow import MlflowClient

    from credit_scoring.registry import version_by_alias
    from credit_scoring.settings import get_settings

    settings = get_settings()
    version = version_by_alias(MlflowClient(tracking_uri), settings.model_name, settings.production_alias)
    return None if version is None else str(version.version)


def check_expected(found: str | None, expected: str | None, when: str) -> None:
    """A model-promoted event names a version: ship that one or fail, never another one."""
    if expected and found != expected:
        raise UsageError(
            f"{when}, @production points to version {found}, not {expected} as the model-promoted event "
            "says: the alias moved again, and the event of the newer move ships it"
        )


def built_version(env: dict[str, str]) -> str:
    """The registry version of the model the Bento just built carries (read from the BentoML store)."""
    shown = subprocess.run(
        [sys.executable, "-m", "bentoml", "models", "get", "credit-scoring:latest", "-o", "json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return str(json.loads(shown.stdout)["labels"]["registry_version"])


def write_outputs(outputs: Path | None, values: dict[str, str]) -> None:
    """Step outputs for the next steps (GITHUB_OUTPUT), also printed for people reading the log."""
    lines = "".join(f"{key}={value}\n" for key, value in values.items())
    print(lines, end="")
    if outputs is not None:
        with outputs.open("a", encoding="utf-8") as handle:
            handle.write(lines)


def registry_environment(team_tracking_uri: str | None, expected_version: str | None, rows: int) -> dict:
    """The environment the build reads @production with: the team's server, or a stand-in trained here."""
    env = {**os.environ}
    if team_tracking_uri:
        env["MLFLOW_TRACKING_URI"] = team_tracking_uri
        check_expected(alias_version(team_tracking_uri), expected_version, "Before the build")
    elif expected_version:
        raise UsageError("a model-promoted event needs the MLFLOW_TRACKING_URI secret to reach the registry")
    else:
        print("no team tracking server: training a synthetic stand-in (NOT for production)", flush=True)
        run([sys.executable, "registry/train.py", "--rows", str(rows)], env)
        run([sys.executable, "registry/promote.py"], env)
    return env


@app.command()
def main(
    team_tracking_uri: Annotated[
        str | None,
        typer.Option(
            envvar="TEAM_TRACKING_URI",
            help="The team's MLflow tracking server (a repository secret). Set: the Bento is built from its "
            "models:/credit-scoring@production. Empty (forks): a model is trained on synthetic data in the "
            "runner and the image is labelled not for production.",
        ),
    ] = None,
    expected_version: Annotated[
        str | None,
        typer.Option(
            envvar="EXPECTED_VERSION",
            help="The version a model-promoted event names: the build fails unless @production is that one.",
        ),
    ] = None,
    rows: Annotated[int, typer.Option(min=1000, help="Synthetic rows for the stand-in model.")] = 5000,
    base_image: Annotated[str | None, typer.Option(help="Docker base image (bento/build.py).")] = None,
    outputs: Annotated[
        Path | None, typer.Option(envvar="GITHUB_OUTPUT", help="File the step outputs are appended to.")
    ] = None,
) -> None:
    """Build the Bento CI containerizes and print production=, model_version= and bento_tag=."""
    env = registry_environment(team_tracking_uri, expected_version, rows)
    production = bool(team_tracking_uri)
    build = [sys.executable, "bento/build.py", *(["--base-image", base_image] if base_image else [])]
    printed = run(build, env)
    version = built_version(env)
    check_expected(version, expected_version, "After the build")
    tag = next(line for line in printed.splitlines() if line.startswith(BENTO_TAG_PREFIX))
    write_outputs(outputs, {"production": str(production).lower(), "model_version": version,
                            "bento_tag": tag.removeprefix(BENTO_TAG_PREFIX)})  # fmt: skip


if __name__ == "__main__":
    app()
