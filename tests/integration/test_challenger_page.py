"""The monitor's challenger page, run headless by AppTest, with shadow data and without."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_scoring.recording.outcomes import load_outcomes
from credit_scoring.recording.store import ParquetStore
from credit_scoring.settings import MonitoringSettings
from tests.support.challenger import CHALLENGER, shadowed_decisions, store_shadowed
from tests.support.outcomes import KEY, decisions, outcome_file_frame, store_decisions
from tests.support.pages import run_page

pytestmark = pytest.mark.integration

PAGE = "2_Challenger.py"


def test_the_page_shows_agreement_shift_and_both_costs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ParquetStore(MonitoringSettings(data_dir=tmp_path / "var").store_path)
    frame = shadowed_decisions(1_200, seed=6)
    store_shadowed(store, frame)
    load_outcomes(store, outcome_file_frame(frame), KEY)
    app = run_page(monkeypatch, PAGE, tmp_path / "var")
    assert [h.value for h in app.header] == ["Score shift and cost over time", "Per version pair"]
    (pairs,) = (d.value for d in app.dataframe)
    assert set(pairs["challenger_version"]) == {CHALLENGER}
    assert pairs["decisions"].sum() == frame["shadowed"].sum()
    labels = {m.label: m.value for m in app.metric}
    current = frame[frame["shadowed"] & (frame["version"] == pairs["champion_version"].iloc[-1])]
    assert labels["decisions (n)"] == f"{len(current):,}"
    assert "no outcome" not in labels["realized cost, challenger"]
    assert len(app.get("image")) == 2  # shift and cost, agreement over time


def test_without_shadow_data_the_page_says_how_to_set_a_challenger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ParquetStore(MonitoringSettings(data_dir=tmp_path / "var").store_path)
    store_decisions(store, decisions(200, seed=2))  # decisions, but none scored in shadow
    app = run_page(monkeypatch, PAGE, tmp_path / "var")
    assert "make challenger" in app.info[0].value
    assert not app.metric


def test_an_empty_store_gets_the_same_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_page(monkeypatch, PAGE, tmp_path / "var")
    assert "@challenger" in app.info[0].value
