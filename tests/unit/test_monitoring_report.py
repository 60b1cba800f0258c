"""The drift report files and the drift-report command: options, exit codes 0 / 1 / 2, clear errors."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from credit_scoring.monitoring.job import UsageError, parse_moment, parse_range
from credit_scoring.monitoring.profiles import build_profile, write_profile
from credit_scoring.monitoring.window_profiles import WindowProfiler
from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.recording.store import ParquetStore
from tests.support.recording import profile_records, write_records
from tests.unit.monitoring_samples import applications, inflate_incomes

T0 = datetime(2026, 1, 22, 4, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 22, 12, 0, tzinfo=UTC)
SCRIPT = Path(__file__).resolve().parents[2] / "monitor_app" / "drift_report.py"


def _cli():
    spec = importlib.util.spec_from_file_location("drift_report_cli", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def test_times_parse_as_iso_relative_or_now() -> None:
    assert parse_moment("last 1h", NOW) == NOW - timedelta(hours=1)
    assert parse_moment("LAST 30m", NOW) == NOW - timedelta(minutes=30)
    assert parse_moment("now", NOW) == NOW
    assert parse_moment("2026-01-22T04:00", NOW) == T0
    assert parse_moment("2026-01-22T05:00+01:00", NOW) == T0
    with pytest.raises(UsageError, match="last N"):
        parse_moment("yesterday", NOW)
    with pytest.raises(UsageError, match="must be before"):
        parse_range("now", "last 1h", NOW)


def _traffic(tmp_path: Path, frame: pd.DataFrame) -> tuple[Path, str]:
    scores = np.random.default_rng(1).beta(2, 8, len(frame))
    records = [
        RequestRecord(
            endpoint="score",
            model_name="credit-scoring",
            model_version="1",
            status=200,
            latency_ms=4.0,
            inference_ms=0.1,
            probability=float(score),
            decision="granted",
            threshold=0.4,
            inputs=row,
            timestamp=T0 + timedelta(seconds=index),
        )
        for index, (row, score) in enumerate(
            zip(frame.replace({np.nan: None}).to_dict(orient="records"), scores, strict=True)
        )
    ]
    write_records(ParquetStore(tmp_path / "store"), records)
    profiler = WindowProfiler(tmp_path / "profiles", worker="w1")
    profile_records(profiler, records)
    profiler.close()
    return tmp_path / "profiles", str(tmp_path / "store")


@pytest.fixture(scope="module")
def reference_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = applications(5000, seed=10)
    frame["probability"] = np.random.default_rng(2).beta(2, 8, len(frame))
    path = tmp_path_factory.mktemp("reference") / "reference_profile.bin"
    write_profile(build_profile(frame), path)
    return path


def _run(reference: Path, profiles: Path, url: str, out: Path, *extra: str):
    args = ["--start", "2026-01-22T04:00", "--end", "2026-01-22T05:00", "--reference", str(reference)]
    args += ["--profiles", str(profiles), "--store", url, "--out", str(out), *extra]
    return CliRunner().invoke(_cli(), args)


def test_normal_traffic_exits_0_and_writes_the_report(reference_path: Path, tmp_path: Path) -> None:
    profiles, url = _traffic(tmp_path, applications(800, seed=11))
    result = _run(reference_path, profiles, url, tmp_path / "out")
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "out" / "report.json").read_text())
    assert payload["alert"] is False and payload["production_rows"] == 800
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "# Drift report: OK" in markdown and "## Feature drift" in markdown
    assert (tmp_path / "out" / "score_distribution.png").stat().st_size > 1000


def test_drifted_traffic_exits_1_names_features_and_draws_them(reference_path: Path, tmp_path: Path) -> None:
    profiles, url = _traffic(tmp_path, inflate_incomes(applications(800, seed=12)))
    result = _run(reference_path, profiles, url, tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert "ALERT: 1 feature(s) drifted: AMT_INCOME_TOTAL" in result.output
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "# Drift report: ALERT" in markdown and "| AMT_INCOME_TOTAL | ks |" in markdown
    assert "![AMT_INCOME_TOTAL](drift_AMT_INCOME_TOTAL.png)" in markdown
    assert (tmp_path / "out" / "drift_AMT_INCOME_TOTAL.png").is_file()


def test_usage_errors_exit_2_with_a_message(reference_path: Path, tmp_path: Path) -> None:
    absent = str(tmp_path / "absent")
    result = _run(reference_path, tmp_path, absent, tmp_path / "out")
    assert result.exit_code == 2 and "no request store" in result.output
    assert not (tmp_path / "absent").exists()
    result = _run(tmp_path / "absent.bin", tmp_path, absent, tmp_path / "out")
    assert result.exit_code == 2 and "no such file" in result.output
    result = _run(reference_path, tmp_path, absent, tmp_path / "out", "--start", "someday")
    assert result.exit_code == 2 and "cannot read the time 'someday'" in result.output
