"""The ONNX model as training ships it: exported, parity-checked, written next to the MLflow model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from credit_scoring.cost import CostWeights
from credit_scoring.fastpath.onnx_export import convert_classifier_to_onnx
from credit_scoring.fastpath.parity import MIN_PARITY_ROWS, ParityReport, check_onnx_parity
from credit_scoring.model_layout import EXTRA_FILES_DIR, ONNX_FILE, PARITY_FILE


@dataclass(frozen=True)
class OnnxExport:
    """The exported bytes and the parity report that allows (or forbids) serving them."""

    onnx_bytes: bytes
    parity: ParityReport

    def write(self, folder: Path) -> list[Path]:
        """``model.onnx`` and ``onnx_parity.json`` in ``folder``, e.g. for ``log_model(extra_files=...)``."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ONNX_FILE).write_bytes(self.onnx_bytes)
        (folder / PARITY_FILE).write_text(json.dumps(self.parity.as_dict(), indent=2) + "\n")
        return [folder / ONNX_FILE, folder / PARITY_FILE]

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics of the parity check."""
        report = self.parity
        return {
            "onnx_parity_max_abs_diff": report.max_abs_difference,
            "onnx_parity_decision_changes": float(report.decision_changes),
            "onnx_parity_rows": float(report.rows),
            "onnx_parity_passed": float(report.passed),
        }


def parity_rows(labelled: pd.DataFrame, seed: int, rows: int = MIN_PARITY_ROWS) -> pd.DataFrame:
    """Held-out labelled rows for the parity check, topped up with synthetic applications to ``rows``."""
    if len(labelled) >= rows:
        return labelled
    from credit_scoring.data.synthetic import generate_applications

    extra = generate_applications(rows - len(labelled), seed).loc[:, list(labelled.columns)]
    return pd.concat([labelled, extra], ignore_index=True)


def export_onnx(
    pipeline: Pipeline, labelled: pd.DataFrame, threshold: float, weights: CostWeights, seed: int
) -> OnnxExport:
    """Convert the fitted pipeline's classifier and check it against the pipeline at ``threshold``."""
    onnx_bytes = convert_classifier_to_onnx(pipeline)
    report = check_onnx_parity(pipeline, onnx_bytes, parity_rows(labelled, seed), threshold, weights)
    return OnnxExport(onnx_bytes, report)


def read_onnx_bytes(mlflow_model_dir: Path) -> bytes | None:
    """The ONNX model shipped inside a logged MLflow model directory, if its parity check passed."""
    folder = mlflow_model_dir / EXTRA_FILES_DIR
    if not (folder / ONNX_FILE).is_file() or not _parity_passed(folder / PARITY_FILE):
        return None
    return (folder / ONNX_FILE).read_bytes()


def _parity_passed(path: Path) -> bool:
    try:
        report: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return report.get("passed") is True
