"""registry/score_file.py against a real MLflow registry: @production scores a file; errors say the fix."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from tests.support.batch_files import mixed_applications, write_csv
from tests.support.registry import TinyRegistration, scratch_store

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "registry" / "score_file.py"


def _cli() -> typer.Typer:
    spec = importlib.util.spec_from_file_location("score_file_cli", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def _run(tracking_uri: str, *args: str) -> Result:
    return CliRunner().invoke(_cli(), list(args), env={"MLFLOW_TRACKING_URI": tracking_uri})


@pytest.fixture(scope="module")
def applications(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(mixed_applications(rows=80, seed=2), tmp_path_factory.mktemp("cli") / "applications.csv")


def test_help_explains_every_option() -> None:
    result = CliRunner().invoke(_cli(), ["--help"])
    assert result.exit_code == 0
    for option in ("--in", "--out", "--rejects", "--engine", "--master", "--conf", "--progress"):
        assert option in result.output


def test_scores_a_file_with_the_production_version(
    registered_model: TinyRegistration, applications: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    result = _run(
        registered_model.tracking_uri, "--in", str(applications), "--out", str(out), "--no-progress"
    )
    assert result.exit_code == 0, result.output
    scores, rejects = pd.read_parquet(out), pd.read_csv(tmp_path / "scores.rejects.csv")
    assert (scores["model_version"] == registered_model.version).all()
    assert (scores["threshold"] == registered_model.threshold).all()
    assert len(scores) + len(rejects) == len(pd.read_csv(applications))
    assert f"scored {len(scores):,} of" in result.output and "refused" in result.output


def test_no_production_model_says_how_to_get_one(applications: Path, tmp_path: Path) -> None:
    result = _run(
        scratch_store(tmp_path / "empty"), "--in", str(applications), "--out", str(tmp_path / "s.parquet")
    )
    assert result.exit_code == 3
    assert "make train promote" in result.output
    assert not (tmp_path / "s.parquet").exists()


@pytest.mark.parametrize(
    ("source", "out", "words"),
    [
        ("missing.csv", "s.parquet", "does not exist"),
        ("applications.csv", "scores.json", "name it *.csv or *.parquet"),
    ],
)
def test_usage_errors_exit_2_with_the_fix(
    source: str, out: str, words: str, applications: Path, tmp_path: Path
) -> None:
    given = str(applications) if source == "applications.csv" else str(tmp_path / source)
    result = _run(scratch_store(tmp_path / "unused"), "--in", given, "--out", str(tmp_path / out))
    assert result.exit_code == 2
    assert words in result.output
