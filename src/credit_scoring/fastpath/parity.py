"""The no-regression gate: the ONNX model must give the native pipeline's probabilities and decisions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from credit_scoring.cost import CostWeights, business_cost
from credit_scoring.fastpath.engines import OnnxScorer
from credit_scoring.model_layout import FEATURES_STEP
from credit_scoring.schema import INPUT_COLUMNS, TARGET_COLUMN

MAX_PROBABILITY_DIFFERENCE = 1e-5
MIN_PARITY_ROWS = 10_000
DECIMALS = 4  # ROC-AUC and business cost must agree to this many decimals


@dataclass(frozen=True)
class ParityReport:
    """Native pipeline vs ONNX on the same rows: probability gap, decision changes, quality figures."""

    rows: int
    threshold: float
    max_abs_difference: float
    decision_changes: int
    roc_auc_native: float
    roc_auc_onnx: float
    business_cost_native: float
    business_cost_onnx: float
    max_difference_allowed: float
    min_rows: int

    @property
    def failures(self) -> list[str]:
        """Every broken rule, in words (empty when the ONNX model may replace the native one)."""
        found = []
        if self.rows < self.min_rows:
            found.append(f"only {self.rows:,} rows checked, at least {self.min_rows:,} are required")
        if not self.max_abs_difference < self.max_difference_allowed:
            found.append(f"probabilities differ by up to {self.max_abs_difference:.3g}")
        if self.decision_changes:
            found.append(f"{self.decision_changes} grant/refuse decision(s) change at {self.threshold}")
        if round(self.roc_auc_native, DECIMALS) != round(self.roc_auc_onnx, DECIMALS):
            found.append(f"ROC-AUC {self.roc_auc_native:.6f} (native) vs {self.roc_auc_onnx:.6f} (ONNX)")
        if round(self.business_cost_native, DECIMALS) != round(self.business_cost_onnx, DECIMALS):
            found.append(f"cost {self.business_cost_native:.6f} (native) vs {self.business_cost_onnx:.6f}")
        return found

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (MLflow metrics/tags, benchmark report) including the verdict."""
        return {**asdict(self), "passed": self.passed, "failures": self.failures}

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED: " + "; ".join(self.failures)
        return (
            f"ONNX parity on {self.rows:,} rows {verdict} (max |diff| {self.max_abs_difference:.2e}, "
            f"{self.decision_changes} decision changes, AUC {self.roc_auc_onnx:.4f}, "
            f"cost {self.business_cost_onnx:.4f})"
        )


def check_onnx_parity(
    pipeline: Pipeline,
    onnx_bytes: bytes,
    frame: pd.DataFrame,
    threshold: float,
    weights: CostWeights | None = None,
    min_rows: int = MIN_PARITY_ROWS,
) -> ParityReport:
    """Score ``frame`` (inputs + TARGET) with the pipeline's ``predict_proba`` and with the ONNX model fed by
    the pipeline's own feature step, and compare them at the decision ``threshold``."""
    if TARGET_COLUMN not in frame.columns:
        raise ValueError(f"the parity frame needs a {TARGET_COLUMN} column for ROC-AUC and business cost")
    inputs = frame.loc[:, list(INPUT_COLUMNS)]
    labels = frame[TARGET_COLUMN].to_numpy()
    native = pipeline.predict_proba(inputs)[:, 1]
    onnx = OnnxScorer(onnx_bytes).predict_proba(pipeline.named_steps[FEATURES_STEP].transform(inputs))
    return compare_probabilities(native, onnx, labels, threshold, weights or CostWeights(), min_rows)


def compare_probabilities(
    native: np.ndarray,
    onnx: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    weights: CostWeights,
    min_rows: int = MIN_PARITY_ROWS,
) -> ParityReport:
    """The parity figures of two probability vectors for the same labelled rows."""
    return ParityReport(
        rows=int(native.size),
        threshold=float(threshold),
        max_abs_difference=float(np.max(np.abs(native - onnx))) if native.size else 0.0,
        decision_changes=int(np.sum((native >= threshold) != (onnx >= threshold))),
        roc_auc_native=float(roc_auc_score(labels, native)),
        roc_auc_onnx=float(roc_auc_score(labels, onnx)),
        business_cost_native=business_cost(labels, native, threshold, weights),
        business_cost_onnx=business_cost(labels, onnx, threshold, weights),
        max_difference_allowed=MAX_PROBABILITY_DIFFERENCE,
        min_rows=min_rows,
    )
