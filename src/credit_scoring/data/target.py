"""TARGET from the published logistic fit plus non-linear effects, calibrated to the real rate and AUC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from credit_scoring.data.summary import load_summary
from credit_scoring.schema import EMPLOYED_SENTINEL

_RAW_INPUTS = (
    "EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3", "DAYS_BIRTH", "DAYS_EMPLOYED", "AMT_CREDIT",
    "AMT_ANNUITY", "AMT_INCOME_TOTAL", "REGION_RATING_CLIENT", "AMT_GOODS_PRICE",
)  # fmt: skip


def _signal_inputs(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The published fit's inputs: raw columns, 365243 as missing, and two ratios."""
    inputs = {name: pd.to_numeric(frame[name], errors="coerce").astype(float) for name in _RAW_INPUTS}
    inputs["DAYS_EMPLOYED"] = inputs["DAYS_EMPLOYED"].where(inputs["DAYS_EMPLOYED"] != EMPLOYED_SENTINEL)
    inputs["CREDIT_GOODS_RATIO"] = inputs["AMT_CREDIT"] / inputs["AMT_GOODS_PRICE"]
    inputs["ANNUITY_CREDIT_RATIO"] = inputs["AMT_ANNUITY"] / inputs["AMT_CREDIT"]
    return inputs


def published_logit(frame: pd.DataFrame) -> np.ndarray:
    """Log-odds of default from the published fit: standardised inputs, missing counted as 0 (the mean)."""
    signal: dict[str, Any] = load_summary()["target_signal"]
    inputs = _signal_inputs(frame)
    logit = np.full(len(frame), float(signal["intercept"]))
    for name in signal["features"]:
        standard = (inputs[name] - signal["mean"][name]) / signal["std"][name]
        logit += signal["coef"][name] * standard.replace([np.inf, -np.inf], np.nan).fillna(0.0).to_numpy()
    return logit


def nonlinear_logit(frame: pd.DataFrame) -> np.ndarray:
    """Effects a linear fit cannot see, added on top of the published fit (log-odds).

    The published fit counts a missing score as average and is linear in each input, but the real table
    has thresholds and missingness effects that tree models exploit: no external score at all, a very low
    best score, and very young applicants default more often. Without them synthetic data would be purely
    logistic and a logistic regression would match LightGBM by construction.
    """
    scores = frame[["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]].apply(pd.to_numeric, errors="coerce")
    best = scores.max(axis=1, skipna=True).to_numpy()
    age_years = -pd.to_numeric(frame["DAYS_BIRTH"], errors="coerce").to_numpy() / 365.25
    annuity = pd.to_numeric(frame["AMT_ANNUITY"], errors="coerce")
    term = (annuity / pd.to_numeric(frame["AMT_CREDIT"], errors="coerce")).to_numpy()
    return (
        0.6 * scores["EXT_SOURCE_3"].isna().to_numpy()
        + 1.0 * np.nan_to_num(best < 0.25, nan=0.0)
        + 0.5 * (age_years < 25)
        - 0.6 * (scores.notna().sum(axis=1).to_numpy() == 3) * np.nan_to_num(best > 0.7, nan=0.0)
        + 0.6 * np.nan_to_num((term < 0.035) | (term > 0.09), nan=0.0)  # very long or very short loans
    )


def combined_logit(frame: pd.DataFrame) -> np.ndarray:
    """The published linear log-odds plus the non-linear effects."""
    return published_logit(frame) + nonlinear_logit(frame)


def expected_auc(score: np.ndarray, probability: np.ndarray) -> float:
    """ROC-AUC of ``score`` expected when each label is drawn with ``probability`` (no labels needed)."""
    order = np.argsort(score, kind="stable")
    positive = probability[order]
    negative = 1.0 - positive
    negatives_below = np.cumsum(negative) - negative
    pairs = positive.sum() * negative.sum() - float(positive @ negative)
    return float(positive @ negatives_below / pairs)


def intercept_shift(logit: np.ndarray, rate: float) -> float:
    """Shift of the log-odds making the mean default probability equal ``rate`` (Newton, convex)."""
    shift = 0.0
    for _ in range(50):
        probability = expit(logit + shift)
        gap = probability.mean() - rate
        if abs(gap) < 1e-10:
            break
        shift -= gap / max(float((probability * (1 - probability)).mean()), 1e-12)
    return shift


@dataclass(frozen=True)
class TargetModel:
    """P(default) = sigmoid(scale * (published + non-linear log-odds) + shift)."""

    scale: float = 1.0
    shift: float = 0.0

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        return expit(self.scale * combined_logit(frame) + self.shift)


def calibrate_target(reference: pd.DataFrame, rate: float, auc: float) -> TargetModel:
    """Scale and shift so that, on ``reference`` rows, defaults have the real rate and the fit its real AUC.

    The summary omits weak correlations (EXT_SOURCE_1..3 among themselves), so the raw fit separates
    synthetic rows less well than real ones; scaling the log-odds restores the published AUC.
    """
    logit = combined_logit(reference)

    def auc_at(scale: float) -> float:
        return expected_auc(logit, expit(scale * logit + intercept_shift(scale * logit, rate)))

    low, high = 0.25, 4.0
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if auc_at(middle) < auc else (low, middle)
    scale = (low + high) / 2
    return TargetModel(scale, float(intercept_shift(scale * logit, rate)))
