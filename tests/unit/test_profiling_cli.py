"""The profiling scripts answer --help at once, with the model options they share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROFILING = Path(__file__).resolve().parents[2] / "profiling"


@pytest.mark.parametrize("script", ["bench_inprocess.py", "profile_request.py"])
def test_help_lists_the_shared_model_options(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(PROFILING / script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for option in ("--model-uri", "--train-rows", "--seed", "--trees"):
        assert option in done.stdout
