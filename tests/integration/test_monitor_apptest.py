"""The Streamlit monitor run headless by AppTest on stores filled by the library: all panels, no error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from credit_scoring.monitoring.dashboard import NO_TRAFFIC
from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.recording.store import open_store
from credit_scoring.settings import MonitoringSettings
from tests.support.monitor_data import FilledStore, fill_monitoring_store
from tests.support.recording import write_records

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[2] / "monitor_app" / "app.py"
SECTIONS = [
    "Traffic and latency",
    "Scores and decisions",
    "Feature drift",
    "Data quality",
    "Model versions and pipeline health",
]
METRICS = ["Requests", "Error rate", "Latency p95", "Refusal rate", "Drifted features", "Stored records"]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    return fill_monitoring_store(tmp_path_factory.mktemp("monitor") / "var")


def _run(monkeypatch: pytest.MonkeyPatch, data_dir: Path, reference: Path | None) -> AppTest:
    monkeypatch.setenv("CREDIT_DATA_DIR", str(data_dir))
    if reference is not None:
        monkeypatch.setenv("CREDIT_REFERENCE_PROFILE", str(reference))
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_every_panel_shows_on_recorded_traffic(filled: FilledStore, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _run(monkeypatch, filled.data_dir, filled.reference_path)
    assert app.title[0].value == "Credit scoring monitor"
    assert [h.value for h in app.header][: len(SECTIONS)] == SECTIONS
    metrics = {m.label: m.value for m in app.metric}
    assert set(METRICS) <= set(metrics)
    assert metrics["Requests"] == f"{filled.records:,}" and metrics["Stored records"] == f"{filled.records:,}"
    assert metrics["Drifted features"].endswith("of 120") and metrics["Drifted features"] != "0 of 120"
    alerts = " ".join(e.value for e in app.error)
    assert "DAYS_BIRTH" in alerts and "EXT_SOURCE_3 missing" in alerts and "AMT_INCOME_TOTAL" in alerts
    subheaders = {s.value for s in app.subheader}
    assert {
        "Request volume",
        "Latency p50 / p95 / p99",
        "Score distribution",
        "Model versions seen",
    } <= subheaders
    tables = [frame.value for frame in app.dataframe]
    drift = next(t for t in tables if "Hellinger" in t.columns)
    assert len(drift) == 120 and drift.iloc[0]["status"] == "drifted"
    versions = next(t for t in tables if "version" in t.columns)
    assert sorted(versions["version"]) == ["1", "2"]
    assert app.selectbox(key="range").value == "last hour"


def test_the_time_range_selector_filters_the_records(
    filled: FilledStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _run(monkeypatch, filled.data_dir, filled.reference_path)
    app.selectbox(key="range").set_value("last 15 minutes").run()
    shown = int({m.label: m.value for m in app.metric}["Requests"].replace(",", ""))
    assert not app.exception and 0 < shown < filled.records  # the traffic spans the last 20 minutes
    app.selectbox(key="range").set_value("everything").run()
    assert not app.exception and [h.value for h in app.header][: len(SECTIONS)] == SECTIONS


def test_old_traffic_only_asks_for_a_wider_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = datetime.now(UTC) - timedelta(days=2)
    store = open_store(MonitoringSettings(data_dir=tmp_path / "var"))
    write_records(
        store, [RequestRecord("score", "credit-scoring", "1", 200, 4.0, timestamp=old) for _ in range(3)]
    )
    app = _run(monkeypatch, tmp_path / "var", None)
    assert [w.value for w in app.warning] == [
        "No request in the last hour: 3 stored records are older. Pick a wider time range."
    ]
    app.selectbox(key="range").set_value("last 7 days").run()
    assert not app.exception and {m.label: m.value for m in app.metric}["Requests"] == "3"


def test_an_empty_store_says_to_simulate_traffic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _run(monkeypatch, tmp_path / "var", None)
    assert [i.value for i in app.info] == [NO_TRAFFIC] and "make simulate" in NO_TRAFFIC
    assert not app.header or [h.value for h in app.header] == ["Time range"]
    assert not (tmp_path / "var" / "monitoring" / "store").exists()  # reading never creates a store


def test_without_a_reference_profile_drift_is_explained_not_crashed(
    filled: FilledStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _run(monkeypatch, filled.data_dir, tmp_path / "missing_reference.bin")
    assert any("Drift cannot be assessed" in w.value and "no such file" in w.value for w in app.warning)
    assert {m.label: m.value for m in app.metric}["Drifted features"] == "-"
    assert [h.value for h in app.header][: len(SECTIONS)] == SECTIONS


def test_an_unreachable_store_is_reported_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_REQUEST_STORE_URL", "postgresql://monitor:s3cret@127.0.0.1:9/credit")
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    assert not app.exception
    assert [e.value for e in app.error] == [
        "Cannot read the request store postgresql://monitor:***@127.0.0.1:9/credit: OperationalError"
    ]
    assert "s3cret" not in " ".join(c.value for c in app.caption)
