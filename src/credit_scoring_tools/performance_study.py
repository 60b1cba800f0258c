"""The performance study of notebooks/performance_study.ipynb: calibration, threshold, a simulated year.

Everything runs through the product's code: the training pipeline as training fits it, the business cost,
a real Parquet store holding the year's decisions, outcomes drawn by ``outcome_simulation`` and the
report's SQL aggregates, so the study checks the code the monitor runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline

from credit_scoring.cost import CostWeights, best_threshold, expected_calibration_error
from credit_scoring.data.synthetic import generate_applications
from credit_scoring.monitoring.performance import performance_table
from credit_scoring.recording.performance_queries import StorePerformance
from credit_scoring.recording.protocol import BatchId, RequestRecord, pseudonymise, records_table
from credit_scoring.recording.store import ParquetStore
from credit_scoring.schema import ID_COLUMN, INPUT_COLUMNS, TARGET_COLUMN
from credit_scoring.training.dataset import inputs, split_frame
from credit_scoring.training.model import classifier_params
from credit_scoring.training.train import calibrate, fit_model
from credit_scoring_tools.outcome_simulation import simulate_outcomes

KEY = b"performance-study"
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
TOLERANCE_STANDARD_ERRORS = 3.0
BEFORE, AFTER = "before (the trees alone)", "after (training's calibration)"


@dataclass(frozen=True)
class CalibratedModel:
    """Training's model: the trees (their own probability) and the calibrated pipeline that is served."""

    trees: Pipeline
    calibrated: Pipeline

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        return self.trees.predict_proba(inputs(frame))[:, 1]

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrated.predict_proba(inputs(frame))[:, 1]


def train_study_model(rows: int, seed: int) -> tuple[CalibratedModel, pd.DataFrame]:
    """Fit the trees and their calibrator on synthetic rows exactly as training does; the test rows."""
    split = split_frame(generate_applications(rows, seed=seed), 0.2, 0.2, seed)
    trees = fit_model(split, classifier_params(seed=seed), lambda _message: None)
    calibrated, _choice = calibrate(trees, split, seed, lambda _message: None)
    return CalibratedModel(trees, calibrated), split.test


def deciles(probability: np.ndarray, target: np.ndarray) -> pd.DataFrame:
    """Predicted vs observed default rate by decile of probability (the report's calibration table)."""
    frame = pd.DataFrame({"p": probability, "y": target})
    frame["decile"] = pd.qcut(frame["p"].rank(method="first"), 10, labels=False) + 1
    grouped = frame.groupby("decile")
    return pd.DataFrame(
        {"n": grouped.size(), "predicted": grouped["p"].mean(), "observed": grouped["y"].mean()}
    )


def calibration_table(model: CalibratedModel, test: pd.DataFrame, weights: CostWeights) -> pd.DataFrame:
    """Before (the pipeline's output) and after recalibration, on test rows: the usual figures."""
    target = test[TARGET_COLUMN].to_numpy()
    rows = {}
    for name, p in ((BEFORE, model.raw(test)), (AFTER, model.probability(test))):
        rows[name] = {
            "mean probability": p.mean(),
            "default rate": target.mean(),
            "Brier": brier_score_loss(target, p),
            "Brier of the base rate": brier_score_loss(target, np.full(p.size, target.mean())),
            "ECE": expected_calibration_error(target, p),
            "AUC": roc_auc_score(target, p),
            "cost-optimal threshold": best_threshold(target, p, weights),
        }
    table = pd.DataFrame(rows).T
    table["theoretical threshold 1/(1+10)"] = weights.false_positive / (
        weights.false_positive + weights.false_negative
    )
    return table


def month_start(month: int) -> datetime:
    """The first moment of the study year's month ``month`` (0 = January)."""
    return YEAR_START.replace(month=month + 1)


def calibration_deciles(model: CalibratedModel, test: pd.DataFrame) -> pd.DataFrame:
    """The deciles before and after recalibration, as the calibration plot takes them (one "version" each)."""
    target = test[TARGET_COLUMN].to_numpy()
    before = deciles(model.raw(test), target).assign(version=BEFORE)
    after = deciles(model.probability(test), target).assign(version=AFTER)
    return pd.concat([before, after]).reset_index()


def _month_records(model: CalibratedModel, month: int, per_month: int, threshold: float, seed: int) -> list:
    frame = generate_applications(per_month, seed=seed + 1000 + month)
    frame[ID_COLUMN] = np.arange(per_month) + month * 1_000_000 + 10_000_000
    probability = model.probability(frame)
    start = month_start(month)
    rows = frame[list(INPUT_COLUMNS)].astype(object).where(frame[list(INPUT_COLUMNS)].notna(), None)
    return [
        RequestRecord(
            "score",
            "credit-scoring",
            "1",
            200,
            3.0,
            inputs=row,
            request_id=f"study-{month:02d}-{i:06d}",  # fixed ids: the outcome draws (seeded by id) repeat
            probability=float(p),
            decision="refuse" if p >= threshold else "grant",
            threshold=threshold,
            client_ref=pseudonymise(int(client), KEY),
            timestamp=start + timedelta(minutes=int(i * 28 * 24 * 60 / per_month)),
        )
        for i, (row, p, client) in enumerate(
            zip(rows.to_dict("records"), probability, frame[ID_COLUMN], strict=True)
        )
    ]


def simulated_year(
    model: CalibratedModel,
    folder: Path,
    threshold: float,
    shift: float,
    per_month: int = 2000,
    seed: int = 0,
    shift_month: int = 6,
) -> pd.DataFrame:
    """Twelve months of decisions in a real store, outcomes drawn a year later from the generator's law
    (``shift`` log-odds more default from ``shift_month``: the same applicants, a changed concept), then
    the report's monthly table (as ``make performance-report`` computes it)."""
    store = ParquetStore(folder / "store")
    for month in range(12):
        records = _month_records(model, month, per_month, threshold, seed)
        for day, part in pd.Series(records).groupby([r.timestamp.date() for r in records]):
            store.write_batch(
                BatchId(f"m{month}", int(day.toordinal()), int(day.toordinal()) + 1),
                day,
                records_table(list(part)),
            )
    shift_from = month_start(shift_month)
    simulate_outcomes(store, YEAR_START + timedelta(days=2 * 365), 365, seed, shift, shift_from)
    return performance_table(StorePerformance(store).version_periods(by_month=True), CostWeights())


def tracking_table(monthly: pd.DataFrame) -> pd.DataFrame:
    """Per month: estimated vs realized cost, the tolerance (3 binomial standard errors) and the verdict."""
    table = monthly[["period", "decisions", "approval_rate", "estimated_cost", "realized_cost"]].copy()
    table["tolerance"] = TOLERANCE_STANDARD_ERRORS * monthly["cost_standard_error"]
    table["gap"] = monthly["realized_cost"] - monthly["estimated_cost_on_outcomes"]
    table["within tolerance"] = table["gap"].abs() <= table["tolerance"]
    table["period"] = table["period"].dt.strftime("%Y-%m")
    return table.set_index("period")
