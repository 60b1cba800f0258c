"""The profiling scripts answer --help at once with their options; errors end them with their exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from credit_scoring.cli import exits_with_its_code
from credit_scoring.errors import UnavailableError, UsageError

PROFILING = Path(__file__).resolve().parents[2] / "profiling"


@pytest.mark.parametrize("script", ["bench_inprocess.py", "profile_request.py"])
def test_help_lists_the_shared_model_options(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(PROFILING / script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for option in ("--model-uri", "--train-rows", "--seed", "--trees"):
        assert option in done.stdout


def run_bench(*options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(PROFILING / "bench.py"), *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_bench_help_keeps_every_option_of_make_bench() -> None:
    done = run_bench("--help")
    assert done.returncode == 0, done.stderr
    for option in ("--out", "--quick", "--skip-http", "--render-only", "--bento", "--model-uri", "--profile"):
        assert option in done.stdout
    assert "models:/credit-scoring@production" in done.stdout and "credit_scoring:latest" in done.stdout


def test_render_only_without_a_bench_json_is_a_usage_error(tmp_path: Path) -> None:
    done = run_bench("--render-only", "--out", str(tmp_path))
    assert done.returncode == 2
    assert "bench.json does not exist; run make bench first" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("error", "code"), [(UsageError("bad --rate"), 2), (UnavailableError("down"), 3)])
def test_the_project_errors_end_a_command_with_their_exit_code(
    error: Exception, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    def command() -> None:
        raise error

    with pytest.raises(typer.Exit) as ended:
        exits_with_its_code(command)()
    assert ended.value.exit_code == code
    assert capsys.readouterr().err == f"error: {error}\n"
