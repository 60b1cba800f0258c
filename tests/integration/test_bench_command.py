"""`profiling/bench.py --quick --skip-http` runs end to end and writes bench.json and REPORT.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from credit_scoring_tools.bench_targets import TARGETS

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_writes_json_and_report(tmp_path: Path) -> None:
    env = dict(os.environ, CREDIT_DATA_DIR=str(tmp_path / "var"), MLFLOW_TRACKING_URI="")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "profiling" / "bench.py"),
            "--quick",
            "--skip-http",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "bench.json").read_text())
    assert result["http"] is None and result["settings"]["quick"] is True
    optimised = result["inprocess"]["single_application"]["paths"]["optimised"]
    assert optimised["p50_us"] > 0 and result["targets"]["inprocess_p50"]["value"] == optimised["p50_us"]
    report = (tmp_path / "REPORT.md").read_text()
    assert all(target.text in report for target in TARGETS)
    assert "wrote" in done.stderr  # progress output
    (tmp_path / "REPORT.md").unlink()
    render = [sys.executable, str(ROOT / "profiling" / "bench.py"), "--render-only", "--out", str(tmp_path)]
    rendered = subprocess.run(render, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert rendered.returncode == 0 and (tmp_path / "REPORT.md").read_text() == report  # from the JSON alone
