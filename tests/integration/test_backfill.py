"""`make backfill`: simulated history through the real journal and ingest, scored by the registered model."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from credit_scoring.batch.model import production_model
from credit_scoring.monitoring.window_profiles import list_window_files
from credit_scoring.recording.store import ParquetStore
from credit_scoring.settings import Settings
from credit_scoring_tools.backfill import (
    INCIDENT_HOURS,
    BackfillPlan,
    BackfillTarget,
    default_plan,
    run_backfill,
)
from tests.support.registry import TinyRegistration

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 3, 11, tzinfo=UTC)  # the history's end: a fixed midnight, so the test is the same daily
DAYS, PER_DAY = 10, 1500


@pytest.fixture(scope="module")
def history(registered_model: TinyRegistration, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("backfill")
    model = production_model(Settings(MLFLOW_TRACKING_URI=registered_model.tracking_uri))
    store = ParquetStore(root / "store")
    target = BackfillTarget(root / "journal", store, root / "profiles", b"test-key")
    plan = BackfillPlan(DAYS, PER_DAY, END, seed=5)
    lines: list[str] = []
    result = run_backfill(plan, model, target, lines.append)
    return plan, store, root, result, lines


def test_every_simulated_record_is_stored_once_and_marked_simulated(history) -> None:
    _plan, store, root, result, lines = history
    assert result.records == result.stored == store.count() == DAYS * PER_DAY
    summary = store.summary(None, None)
    assert (
        summary["simulated"] == DAYS * PER_DAY and store.summary(None, None, simulated=False)["requests"] == 0
    )
    assert summary["first"] >= END - timedelta(days=DAYS) and summary["last"] < END  # past days only
    assert len(lines) == DAYS and lines[-1].startswith(f"day {DAYS}/{DAYS}")
    records = store.records(None, None, ["request_id", "item"])
    assert not records.duplicated().any()
    assert not list((root / "journal").glob("*.wal"))  # consumed and deleted


def test_profiles_are_windowed_by_the_records_time_not_the_clock(history) -> None:
    plan, _store, root, *_ = history
    windows = sorted({f.start for f in list_window_files(root / "profiles")})
    every_6_hours = [plan.day_starts()[0] + timedelta(hours=6 * i) for i in range(4 * DAYS)]
    assert windows == every_6_hours  # the records' own times, none at the time the test runs
    assert list((root / "profiles" / "rollups").glob("*.bin"))  # long ranges read a few roll-ups


def test_the_daily_rhythm_is_visible_in_the_hourly_volume(history) -> None:
    plan, store, *_ = history
    hourly = store.aggregate_operations(None, None, 3600)["requests"]
    by_hour = hourly.groupby(hourly.index.hour).sum()
    assert by_hour[11] > 3 * by_hour[3]  # late-morning peak against the night trough
    assert plan.day_starts()[0].hour == 0 and default_plan(
        3, 10, END + timedelta(minutes=95)
    ).end == END + timedelta(hours=1)


def test_the_drift_episode_moves_incomes_and_missing_external_scores(history) -> None:
    plan, store, *_ = history
    frame = store.records(None, None, ["AMT_INCOME_TOTAL", "EXT_SOURCE_3", "DAYS_BIRTH"])
    day_of = frame["timestamp"].dt.floor("D").dt.to_pydatetime()  # the test's spans start at midnight
    drifted = pd.Series([plan.drifted(day) for day in day_of], index=frame.index)
    assert 0 < drifted.mean() < 0.6
    calm, moved = frame[~drifted], frame[drifted]
    assert moved["AMT_INCOME_TOTAL"].median() > 1.15 * calm["AMT_INCOME_TOTAL"].median()
    assert moved["EXT_SOURCE_3"].isna().mean() > 1.5 * calm["EXT_SOURCE_3"].isna().mean()


def test_the_latency_incident_shows_in_latency_and_server_errors(history) -> None:
    plan, store, *_ = history
    day = next(d for d in plan.day_starts() if plan.incident(d))
    start, end = day + timedelta(hours=INCIDENT_HOURS[0]), day + timedelta(hours=INCIDENT_HOURS[1])
    during, before = store.summary(start, end), store.summary(day, start)
    assert during["latency_p50"] > 4 * before["latency_p50"]
    assert during["server_errors"] > 0 and before["server_errors"] == 0
    assert during["inference_p50"] == pytest.approx(
        before["inference_p50"], rel=0.3
    )  # the model is not slower
    assert store.summary(None, None)["client_errors"] > 0  # about 1 % invalid requests every day


def test_the_command_explains_a_missing_model(tmp_path: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}", "PATH": "/usr/bin:/bin",
           "CREDIT_DATA_DIR": str(tmp_path / "var")}  # fmt: skip
    done = subprocess.run([sys.executable, "monitor_app/backfill.py", "--days", "1", "--per-day", "10"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 3 and "make train promote" in done.stderr
    helped = subprocess.run([sys.executable, "monitor_app/backfill.py", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert helped.returncode == 0 and "--per-day" in helped.stdout and "drift episode" in helped.stdout
