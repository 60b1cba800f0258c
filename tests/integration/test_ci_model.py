"""CI ships the team's @production (the version a model-promoted event names), never a model of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.model_fixtures import REPO_ROOT
from tests.support.registry import register_tiny_model, scratch_store

pytestmark = pytest.mark.integration

SCRIPT = REPO_ROOT / "deploy" / "container" / "ci_model.py"


@pytest.fixture(scope="module")
def team_registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registry where @production is version 2 (version 1 was the previous champion)."""
    uri = scratch_store(tmp_path_factory.mktemp("team-mlflow"))
    register_tiny_model(uri, seed=5, threshold=0.3)
    register_tiny_model(uri, seed=6, threshold=0.4)
    return uri


def ship(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the script as the workflow does (environment only) and read the step outputs it wrote."""
    outputs = tmp_path / "github_output"
    environment = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    scratch = {"BENTOML_HOME": tmp_path / "bentoml", "CREDIT_DATA_DIR": tmp_path / "var"}
    environment |= {key: str(value) for key, value in scratch.items()} | {"GITHUB_OUTPUT": str(outputs)}
    environment |= {"BENTOML_DO_NOT_TRACK": "True", **env}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=REPO_ROOT, env=environment, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    lines = outputs.read_text().splitlines() if outputs.exists() else []
    return done, dict(line.split("=", 1) for line in lines)


def test_the_promoted_version_is_built_for_production(team_registry: str, tmp_path: Path) -> None:
    done, outputs = ship(tmp_path, TEAM_TRACKING_URI=team_registry, EXPECTED_VERSION="2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert outputs["production"] == "true" and outputs["model_version"] == "2"
    assert outputs["bento_tag"].startswith("credit_scoring:")
    assert "registry/train.py" not in done.stdout, "CI trained a model instead of shipping the team's"


def test_an_event_naming_another_version_fails_before_building(team_registry: str, tmp_path: Path) -> None:
    done, outputs = ship(tmp_path, TEAM_TRACKING_URI=team_registry, EXPECTED_VERSION="1")
    assert done.returncode == 2
    assert "@production points to version 2, not 1" in done.stderr
    assert outputs == {} and "bento/build.py" not in done.stdout


def test_an_event_without_the_registry_secret_is_refused(tmp_path: Path) -> None:
    done, outputs = ship(tmp_path, TEAM_TRACKING_URI="", EXPECTED_VERSION="3")
    assert done.returncode == 2
    assert "needs the MLFLOW_TRACKING_URI secret" in done.stderr
    assert outputs == {}
