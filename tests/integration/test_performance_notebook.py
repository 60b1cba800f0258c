"""The performance-study notebook runs top to bottom in a real kernel and finds what its conclusions say."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from credit_scoring_tools.performance_study import AFTER

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "performance_study.ipynb"
# Appended in memory only: what the narrative claims, as data the test can check.
FINDINGS = "import json\nprint(json.dumps(findings, default=float))"


def test_the_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.fixture(scope="module")
def findings() -> dict:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(FINDINGS))
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    errors = [out for cell in notebook.cells for out in cell.get("outputs", []) if out.output_type == "error"]
    assert errors == []
    stream = next(out for out in notebook.cells[-1].outputs if out.output_type == "stream")
    return json.loads(stream.text)


def test_calibration_makes_the_probability_a_probability(findings: dict) -> None:
    after = findings["calibration"][AFTER]
    assert abs(after["mean probability"] / after["default rate"] - 1) < 0.1
    assert after["Brier"] < after["Brier of the base rate"] and after["ECE"] <= 0.02
    assert abs(findings["threshold"] - 1 / 11) < 0.05


def test_estimated_tracks_realized_until_the_concept_moves(findings: dict) -> None:
    assert findings["steady within tolerance"]
    assert all(findings["drift months within tolerance before July"])
    assert not any(findings["drift months within tolerance from July"])
    assert findings["estimated cost identical in both worlds"]  # input monitoring cannot see it
