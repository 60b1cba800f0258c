"""The calibrator, fitted on rows the trees did not fit: sigmoid or isotonic, chosen by cross-validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from credit_scoring.cost import brier_score, log_loss
from credit_scoring.fastpath.calibration import (
    CalibratedClassifier,
    CalibrationMethod,
    Calibrator,
    IsotonicCalibrator,
    SigmoidCalibrator,
)
from credit_scoring.fastpath.onnx_export import classifier_of
from credit_scoring.model_layout import CLASSIFIER_STEP, FEATURES_STEP

METHODS: tuple[CalibrationMethod, ...] = ("sigmoid", "isotonic")
FOLDS = 5
# The limit: calibration may cost at most this much ROC-AUC on the same rows.
MAX_AUC_LOSS = 0.002
# Isotonic regression (dozens of knots) must beat the two-parameter sigmoid by this relative log-loss to
# be chosen: its knots also fit the quirks of the calibration rows, and the served model meets other
# applicants (real ones, when it was trained on synthetic data) where the simpler map transfers better.
ISOTONIC_MARGIN = 0.01


@dataclass(frozen=True)
class CandidateFigures:
    """One method's out-of-fold figures on the calibration rows (each fold calibrated by the others)."""

    method: CalibrationMethod
    log_loss: float
    brier: float
    auc_loss: float


@dataclass(frozen=True)
class CalibrationChoice:
    """The fitted calibrator, every candidate's figures, and why this one was chosen."""

    calibrator: Calibrator
    candidates: tuple[CandidateFigures, ...]
    reason: str

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics: ``calibration_cv_<figure>_<method>``."""
        return {
            f"calibration_cv_{name}_{figures.method}": float(getattr(figures, name))
            for figures in self.candidates
            for name in ("log_loss", "brier", "auc_loss")
        }


def fit_sigmoid(raw_score: np.ndarray, labels: np.ndarray) -> SigmoidCalibrator:
    """Platt scaling: the slope and intercept of maximum likelihood on the log-odds."""
    raw, target = np.asarray(raw_score, dtype=np.float64), np.asarray(labels, dtype=np.float64)

    def loss_and_gradient(weights: np.ndarray) -> tuple[float, np.ndarray]:
        logit = weights[0] * raw + weights[1]
        probability = SigmoidCalibrator(1.0, 0.0).apply(logit)
        loss = np.mean(np.logaddexp(0.0, logit) - target * logit)
        residual = probability - target
        return float(loss), np.array([np.mean(residual * raw), np.mean(residual)])

    found = minimize(loss_and_gradient, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return SigmoidCalibrator(slope=float(found.x[0]), intercept=float(found.x[1]))


def fit_isotonic(raw_score: np.ndarray, labels: np.ndarray) -> IsotonicCalibrator:
    """Centred isotonic regression of the outcome on the log-odds (Oron & Flournoy, 2017): each flat block
    of the isotonic fit becomes one knot at its centre, joined by straight lines. The plain fit's
    plateaus tie applicants the trees tell apart (lost AUC) and its jumps between two close knots would
    turn float32 rounding in the ONNX trees into visible probability gaps."""
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw_score, labels)
    knots, values = np.asarray(fitted.X_thresholds_), np.asarray(fitted.y_thresholds_)
    block = np.concatenate([[0], np.cumsum(np.diff(values) != 0)])  # consecutive equal values: one block
    starts = np.flatnonzero(np.diff(block, prepend=-1))
    ends = np.append(starts[1:], block.size) - 1
    return IsotonicCalibrator(
        knots_raw=tuple(map(float, (knots[starts] + knots[ends]) / 2)),
        knots_probability=tuple(map(float, values[starts])),
    )


def fit_calibrator(method: CalibrationMethod, raw_score: np.ndarray, labels: np.ndarray) -> Calibrator:
    return fit_sigmoid(raw_score, labels) if method == "sigmoid" else fit_isotonic(raw_score, labels)


def out_of_fold(method: CalibrationMethod, raw: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Calibrated probabilities of every row from a calibrator fitted on the other folds."""
    calibrated = np.empty(raw.size, dtype=np.float64)
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for fit_rows, held_rows in folds.split(raw.reshape(-1, 1), labels):
        calibrator = fit_calibrator(method, raw[fit_rows], labels[fit_rows])
        calibrated[held_rows] = calibrator.apply(raw[held_rows])
    return calibrated


def candidate_figures(
    method: CalibrationMethod, raw: np.ndarray, labels: np.ndarray, seed: int
) -> CandidateFigures:
    calibrated = out_of_fold(method, raw, labels, seed)
    auc_loss = roc_auc_score(labels, raw) - roc_auc_score(labels, calibrated)
    return CandidateFigures(method, log_loss(labels, calibrated), brier_score(labels, calibrated), auc_loss)


def choose_calibrator(raw_score: np.ndarray, labels: np.ndarray, seed: int) -> CalibrationChoice:
    """Sigmoid unless isotonic's out-of-fold log-loss is lower by ``ISOTONIC_MARGIN`` without costing more
    than ``MAX_AUC_LOSS`` of ROC-AUC; the chosen method is then fitted on all the rows."""
    raw, target = np.asarray(raw_score, dtype=np.float64), np.asarray(labels, dtype=int)
    sigmoid, isotonic = (candidate_figures(method, raw, target, seed) for method in METHODS)
    if isotonic.auc_loss > MAX_AUC_LOSS:
        method, why = sigmoid, f"isotonic would cost {isotonic.auc_loss:.4f} of ROC-AUC"
    elif isotonic.log_loss < sigmoid.log_loss * (1 - ISOTONIC_MARGIN):
        method, why = isotonic, f"isotonic log-loss {isotonic.log_loss:.5f} < sigmoid {sigmoid.log_loss:.5f}"
    else:
        margin = f"not {ISOTONIC_MARGIN:.0%} better"
        method, why = sigmoid, f"log-loss {sigmoid.log_loss:.5f}, isotonic {isotonic.log_loss:.5f} ({margin})"
    reason = f"{method.method}: {why} ({FOLDS}-fold out-of-fold on {raw.size:,} calibration rows)"
    return CalibrationChoice(fit_calibrator(method.method, raw, target), (sigmoid, isotonic), reason)


def raw_scores(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """The trees' log-odds for a table of applications (what the calibrator takes)."""
    features = pipeline.named_steps[FEATURES_STEP].transform(frame)
    return classifier_of(pipeline).predict(features, raw_score=True)


def calibrated_pipeline(pipeline: Pipeline, calibrator: Calibrator) -> Pipeline:
    """The same feature step and trees, with the calibrator on the classifier's output."""
    calibrated = CalibratedClassifier(classifier_of(pipeline), calibrator)
    return Pipeline([(FEATURES_STEP, pipeline.named_steps[FEATURES_STEP]), (CLASSIFIER_STEP, calibrated)])
