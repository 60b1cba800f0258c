"""The drift-study notebook runs top to bottom in a real kernel and finds what its conclusions say."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "drift_study.ipynb"
# Appended in memory only: what the narrative claims, as data the test can check.
FINDINGS = """
import json, sys
print(json.dumps({
    "python": sys.executable,
    "drifted": {name: [f.column for f in r.drifted_features] for name, r in reports.items()},
    "missingness": {n: [f.column for f in r.features if f.null_rate_changed] for n, r in reports.items()},
    "alert": {name: r.alert for name, r in reports.items()},
    "concept": outcomes,
}, default=float))
"""


def test_the_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(FINDINGS))
    # Kernel "python3" is ipykernel's spec (argv "python ..."); jupyter_client swaps "python" for
    # sys.executable, so the kernel runs in this virtual environment without a global kernelspec.
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    return notebook


def _findings(notebook: nbformat.NotebookNode) -> dict:
    stream = next(out for out in notebook.cells[-1].outputs if out.output_type == "stream")
    return json.loads(stream.text)


def test_it_runs_top_to_bottom_in_this_interpreter(executed: nbformat.NotebookNode) -> None:
    errors = [out for cell in executed.cells for out in cell.get("outputs", []) if out.output_type == "error"]
    assert errors == []
    assert _findings(executed)["python"] == sys.executable


def test_each_scenario_is_found_and_the_normal_one_is_quiet(executed: nbformat.NotebookNode) -> None:
    found = _findings(executed)
    assert found["alert"] == {
        "normal": False,
        "incomes +30 %": True,
        "EXT_SOURCE_3 missing x2": True,
        "older population": True,
        "drift (all three)": True,
    }
    assert found["drifted"]["normal"] == [] and found["missingness"]["normal"] == []
    assert found["drifted"]["incomes +30 %"] == ["AMT_INCOME_TOTAL"]
    assert found["drifted"]["older population"] == ["DAYS_BIRTH"]
    assert found["missingness"]["EXT_SOURCE_3 missing x2"] == ["EXT_SOURCE_3"]
    assert set(found["drifted"]["drift (all three)"]) == {"AMT_INCOME_TOTAL", "DAYS_BIRTH"}


def test_concept_drift_hides_from_the_inputs_but_not_from_outcomes(executed: nbformat.NotebookNode) -> None:
    concept = _findings(executed)["concept"]
    normal = concept["normal, same concept"]
    reversed_relation = concept["same population, reversed EXT_SOURCE_3"]
    crisis = concept["same population, crisis"]
    assert concept["population drift, same concept"]["input drift alert"] is True
    assert reversed_relation["input drift alert"] is False and crisis["input drift alert"] is False
    assert reversed_relation["ROC-AUC"] < normal["ROC-AUC"] - 0.1
    assert crisis["business cost per application"] > 1.2 * normal["business cost per application"]
