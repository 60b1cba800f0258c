"""Calibrators that turn the LightGBM log-odds into a probability of default: sigmoid or isotonic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator, ClassifierMixin

CalibrationMethod = Literal["sigmoid", "isotonic"]


class Calibrator(Protocol):
    """A non-decreasing map from the trees' raw log-odds (float64) to a probability of default."""

    method: CalibrationMethod

    def apply(self, raw_score: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class SigmoidCalibrator:
    """Platt scaling on the log-odds: ``P = 1 / (1 + exp(-(slope * raw + intercept)))``; strictly monotone
    when ``slope > 0``, so the ranking (and the AUC) is exactly the trees'."""

    slope: float
    intercept: float
    method: CalibrationMethod = "sigmoid"

    def apply(self, raw_score: np.ndarray) -> np.ndarray:
        logit = self.slope * np.asarray(raw_score, dtype=np.float64) + self.intercept
        return 0.5 * (1.0 + np.tanh(0.5 * logit))  # the logistic function without overflow warnings


@dataclass(frozen=True)
class IsotonicCalibrator:
    """Isotonic regression as its knots: linear between them, constant beyond (``np.interp``)."""

    knots_raw: tuple[float, ...]
    knots_probability: tuple[float, ...]
    method: CalibrationMethod = "isotonic"

    def apply(self, raw_score: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(raw_score, dtype=np.float64), self.knots_raw, self.knots_probability)


class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted LightGBM classifier whose ``predict_proba`` goes through a calibrator: the pipeline's final
    step. The trees stay reachable (``estimator``, ``booster_``) for the ONNX export and explanations."""

    def __init__(self, estimator: LGBMClassifier, calibrator: Calibrator) -> None:
        self.estimator = estimator
        self.calibrator = calibrator
        self.classes_ = estimator.classes_
        self.n_features_in_ = estimator.n_features_in_

    @property
    def booster_(self) -> Any:
        return self.estimator.booster_

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, features: Any, labels: Any) -> CalibratedClassifier:
        """Refused: training fits the trees, then the calibrator on other rows (training.calibrate)."""
        raise TypeError("a CalibratedClassifier is assembled from fitted parts; see training.calibrate")

    def predict_proba(self, features: Any) -> np.ndarray:
        """Column 0 P(repaid), column 1 the calibrated P(default), as ``LGBMClassifier.predict_proba``."""
        default = self.calibrator.apply(self.estimator.predict(features, raw_score=True))
        return np.column_stack([1.0 - default, default])

    def predict(self, features: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(features)[:, 1] >= 0.5).astype(int)]
