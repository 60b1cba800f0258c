"""Training's ONNX export: parity checked on enough rows, files written and read back only when it passed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from credit_scoring.cost import CostWeights
from credit_scoring.fastpath.engines import NativeScorer, OnnxScorer
from credit_scoring.fastpath.export import OnnxExport, export_onnx, parity_rows, read_onnx_bytes
from credit_scoring.fastpath.parity import MIN_PARITY_ROWS
from credit_scoring.features import build_features
from credit_scoring.model_layout import EXTRA_FILES_DIR, ONNX_FILE, PARITY_FILE
from credit_scoring.schema import INPUT_COLUMNS, TARGET_COLUMN
from tests.support.tiny_model import fit_tiny_pipeline, tiny_applications


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    return tiny_applications(rows=300, seed=8).loc[:, [*INPUT_COLUMNS, TARGET_COLUMN]]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return fit_tiny_pipeline(tiny_applications(rows=400, seed=7), seed=7)


@pytest.fixture(scope="module")
def exported(pipeline: Pipeline, held_out: pd.DataFrame) -> OnnxExport:
    return export_onnx(pipeline, held_out, threshold=0.4, weights=CostWeights(), seed=9)


def test_small_held_out_sets_are_topped_up_to_the_parity_minimum(held_out: pd.DataFrame) -> None:
    rows = parity_rows(held_out, seed=9)
    assert len(rows) == MIN_PARITY_ROWS and list(rows.columns) == list(held_out.columns)
    pd.testing.assert_frame_equal(
        rows.head(len(held_out)), held_out.reset_index(drop=True), check_dtype=False
    )
    big = pd.concat([held_out] * 40)
    assert parity_rows(big, seed=9) is big


def test_export_passes_parity_and_metrics_say_so(exported: OnnxExport) -> None:
    assert exported.parity.passed, exported.parity.failures
    assert exported.parity.rows == MIN_PARITY_ROWS
    metrics = exported.metrics()
    assert metrics["onnx_parity_passed"] == 1.0 and metrics["onnx_parity_decision_changes"] == 0.0
    assert metrics["onnx_parity_max_abs_diff"] < 1e-5


def test_written_files_are_read_back_from_a_model_directory(
    exported: OnnxExport, pipeline: Pipeline, held_out: pd.DataFrame, tmp_path: Path
) -> None:
    files = exported.write(tmp_path / EXTRA_FILES_DIR)
    assert [path.name for path in files] == [ONNX_FILE, PARITY_FILE]
    assert json.loads(files[1].read_text())["passed"] is True
    onnx_bytes = read_onnx_bytes(tmp_path)
    assert onnx_bytes == exported.onnx_bytes
    features = build_features(held_out.loc[:, list(INPUT_COLUMNS)])
    np.testing.assert_allclose(
        OnnxScorer(onnx_bytes).predict_proba(features),
        NativeScorer(pipeline).predict_proba(features),
        atol=1e-5,
    )


def test_a_failed_or_missing_parity_report_means_no_onnx(exported: OnnxExport, tmp_path: Path) -> None:
    assert read_onnx_bytes(tmp_path) is None  # nothing exported
    failed = replace(exported, parity=replace(exported.parity, decision_changes=3))
    failed.write(tmp_path / EXTRA_FILES_DIR)
    assert read_onnx_bytes(tmp_path) is None
    (tmp_path / EXTRA_FILES_DIR / PARITY_FILE).unlink()
    assert read_onnx_bytes(tmp_path) is None
