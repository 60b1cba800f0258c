"""The monitor tells simulated history from live traffic: its share in a caption, a toggle that hides it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.recording.store import open_store
from credit_scoring.settings import MonitoringSettings
from tests.support.recording import write_records

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[2] / "monitor_app" / "app.py"


def _records(count: int, simulated: bool, now: datetime) -> list[RequestRecord]:
    return [
        RequestRecord("/score", "credit-scoring", "1", 200, 4.0, probability=0.2, decision="grant",
                      threshold=0.3, inference_ms=0.1, timestamp=now - timedelta(minutes=1 + i % 50),
                      simulated=simulated)
        for i in range(count)
    ]  # fmt: skip


def test_the_share_of_simulated_history_shows_and_the_toggle_hides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    write_records(
        open_store(MonitoringSettings(data_dir=tmp_path / "var")),
        _records(30, True, now) + _records(10, False, now),
    )
    monkeypatch.setenv("CREDIT_DATA_DIR", str(tmp_path / "var"))
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert {m.label: m.value for m in app.metric}["Requests"] == "40"
    captions = " ".join(c.value for c in app.caption)
    assert "30 of 40 records of this range (75%) are simulated history" in captions
    app.toggle(key="simulated").set_value(False).run()
    assert not app.exception and {m.label: m.value for m in app.metric}["Requests"] == "10"
    assert "All records of this range are live traffic." in " ".join(c.value for c in app.caption)
