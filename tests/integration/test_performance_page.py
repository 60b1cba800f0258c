"""The monitor's model-performance page, run headless by AppTest on a store with decisions and outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_scoring.recording.outcomes import load_outcomes
from credit_scoring.recording.store import ParquetStore
from credit_scoring.settings import MonitoringSettings
from tests.support.outcomes import KEY, decisions, outcome_file_frame, store_decisions
from tests.support.pages import run_page

pytestmark = pytest.mark.integration

PAGE = "1_Model_performance.py"


def test_the_page_shows_costs_calibration_and_fairness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ParquetStore(MonitoringSettings(data_dir=tmp_path / "var").store_path)
    frame = decisions(1_500, seed=8)
    store_decisions(store, frame)
    load_outcomes(store, outcome_file_frame(frame), KEY)
    app = run_page(monkeypatch, PAGE, tmp_path / "var")
    assert [h.value for h in app.header] == ["Realized vs estimated cost", "Calibration", "Fairness"]
    versions, _, fairness = (d.value for d in app.dataframe)
    # Every stored decision has its outcome, so each version's labelled count is its share of the frame.
    assert versions["n_outcomes"].to_dict() == frame["version"].value_counts().to_dict()
    assert versions["n_outcomes"].sum() == 1_500
    assert {"CODE_GENDER", "age band"} == set(fairness["attribute"])
    assert len(app.get("image")) == 2  # the cost over time and the calibration plot


def test_an_empty_store_says_how_to_fill_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_page(monkeypatch, PAGE, tmp_path / "var")
    assert "make simulate" in app.info[0].value
