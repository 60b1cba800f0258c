"""registry/make_data.py writes a loadable application_train.csv and explains user errors, no traceback."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from credit_scoring.data import generate_applications, load_applications

SCRIPT = Path(__file__).resolve().parents[2] / "registry" / "make_data.py"


def _cli() -> typer.Typer:
    spec = importlib.util.spec_from_file_location("make_data_cli", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def _run(*args: str) -> Result:
    return CliRunner().invoke(_cli(), list(args))


def test_help_explains_every_option() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    for option in ("--rows", "--out", "--seed"):
        assert option in result.output


def test_writes_the_requested_rows_in_the_kaggle_format(tmp_path: Path) -> None:
    out = tmp_path / "new" / "folder" / "application_train.csv"
    result = _run("--rows", "250", "--out", str(out), "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "writing" in result.output and "100%" in result.output and str(out) in result.output
    pd.testing.assert_frame_equal(load_applications(out), generate_applications(250, seed=3))


def test_defaults_come_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CREDIT_SYNTHETIC_ROWS", "120")
    result = _run()
    assert result.exit_code == 0, result.output
    assert len(load_applications(tmp_path / "synthetic" / "application_train.csv")) == 120


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--rows", "0"], "--rows"),
        (["--rows", "400000"], "356254"),
        (["--rows", "many"], "valid integer"),
    ],
)
def test_bad_options_exit_2_with_a_usage_message(args: list[str], words: str, tmp_path: Path) -> None:
    result = _run(*args, "--out", str(tmp_path / "a.csv"))
    assert result.exit_code == 2
    assert words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "a.csv").exists()


def test_unwritable_destinations_exit_2_with_the_reason(tmp_path: Path) -> None:
    result = _run("--rows", "10", "--out", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _run("--rows", "10", "--out", str(blocker / "application_train.csv"))
    assert result.exit_code == 2 and "cannot write" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
