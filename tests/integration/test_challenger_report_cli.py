"""`make challenger-report` through its CLI: files, the one-line JSON last, and the no-shadow-data exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credit_scoring.cost import CostWeights
from credit_scoring.monitoring.performance import estimated_cost, realized_cost
from credit_scoring.recording.outcomes import load_outcomes
from credit_scoring.recording.store import ParquetStore
from monitor_app.challenger_report import app
from tests.support.challenger import CHALLENGER, shadowed_decisions, store_shadowed
from tests.support.outcomes import KEY, decisions, outcome_file_frame, store_decisions

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_the_report_writes_its_files_and_ends_with_the_current_pair(tmp_path: Path) -> None:
    store, frame = ParquetStore(tmp_path / "store"), shadowed_decisions(1_000, seed=12)
    store_shadowed(store, frame)
    labelled = frame.sample(frac=0.5, random_state=4)
    load_outcomes(store, outcome_file_frame(labelled), KEY)
    out = tmp_path / "report"
    done = CliRunner().invoke(app, ["--store", str(tmp_path / "store"), "--out", str(out)])
    assert done.exit_code == 0, done.output
    line = json.loads(done.output.strip().splitlines()[-1])
    assert set(line) == {"n", "n_outcomes", "agreement", "champion", "challenger"}
    assert line["challenger"]["version"] == CHALLENGER
    current = frame[frame["shadowed"] & (frame["version"] == line["champion"]["version"])]
    known = current[current.index.isin(labelled.index)]
    assert (line["n"], line["n_outcomes"]) == (len(current), len(known))
    weights = CostWeights()
    assert line["challenger"]["estimated_cost"] == pytest.approx(
        estimated_cost(current["challenger_probability"], current["challenger_granted"], weights), abs=1e-6
    )
    assert line["champion"]["realized_cost"] == pytest.approx(
        realized_cost(known["target"], known["granted"], weights), abs=1e-6
    )
    document = json.loads((out / "challenger.json").read_text())
    assert len(document["pairs"]) == 2 and document["shift_histogram"]["bins"]
    assert "Champion vs challenger" in (out / "challenger.md").read_text()
    assert (out / "challenger.png").stat().st_size > 10_000


def test_without_shadow_data_it_exits_3_and_says_how_to_set_a_challenger(tmp_path: Path) -> None:
    store_decisions(ParquetStore(tmp_path / "store"), decisions(100, seed=3))
    done = CliRunner().invoke(app, ["--store", str(tmp_path / "store"), "--out", str(tmp_path / "r")])
    assert done.exit_code == 3
    assert "make challenger VERSION=" in done.output and "make build" in done.output
    assert not (tmp_path / "r").exists()


def test_every_option_has_help() -> None:
    shown = subprocess.run([sys.executable, "monitor_app/challenger_report.py", "--help"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    for option in ("--start", "--end", "--store", "--out"):
        assert option in shown
    assert "Exit code" in shown
