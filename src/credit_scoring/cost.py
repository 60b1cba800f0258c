"""Business cost of decisions (a granted default costs 10 refusals), its best threshold, evaluation at it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

# Thresholds searched: fine enough that the cost curve is smooth, coarse enough to be vectorised cheaply.
THRESHOLD_GRID: np.ndarray = np.round(np.linspace(0.0, 1.0, 1001), 3)


@dataclass(frozen=True)
class CostWeights:
    """What one wrong decision costs: granting a loan that defaults, or refusing a good client."""

    false_negative: float = 10.0
    false_positive: float = 1.0


@dataclass(frozen=True)
class Evaluation:
    """Quality of scores at one decision threshold; a client is refused when probability >= threshold."""

    roc_auc: float
    business_cost: float
    threshold: float
    recall: float
    precision: float
    refusal_rate: float
    default_rate: float
    rows: int

    def as_metrics(self, suffix: str, prefix: str = "") -> dict[str, float]:
        """Flat MLflow metric names, e.g. ``roc_auc_test``; the threshold is logged once, on its own."""
        values = asdict(self)
        values.pop("threshold")
        return {f"{prefix}{name}_{suffix}": float(value) for name, value in values.items()}


def _as_arrays(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y_true).astype(int).ravel()
    probabilities = np.asarray(scores, dtype=float).ravel()
    if labels.shape != probabilities.shape:
        raise ValueError(f"{labels.size} labels but {probabilities.size} scores")
    return labels, probabilities


def cost_curve(
    y_true: np.ndarray, scores: np.ndarray, weights: CostWeights, thresholds: np.ndarray = THRESHOLD_GRID
) -> np.ndarray:
    """Business cost per application at every threshold, vectorised with sorted scores."""
    labels, probabilities = _as_arrays(y_true, scores)
    positives = np.sort(probabilities[labels == 1])
    negatives = np.sort(probabilities[labels == 0])
    # A defaulter scored below the threshold is granted (false negative); a good client at or above it
    # is refused (false positive).
    false_negatives = np.searchsorted(positives, thresholds, side="left")
    false_positives = negatives.size - np.searchsorted(negatives, thresholds, side="left")
    total = weights.false_negative * false_negatives + weights.false_positive * false_positives
    return total / max(labels.size, 1)


def business_cost(y_true: np.ndarray, scores: np.ndarray, threshold: float, weights: CostWeights) -> float:
    """Cost per application of the decisions taken at one threshold."""
    return float(cost_curve(y_true, scores, weights, np.asarray([threshold]))[0])


def best_threshold(
    y_true: np.ndarray, scores: np.ndarray, weights: CostWeights, thresholds: np.ndarray = THRESHOLD_GRID
) -> float:
    """The threshold of lowest business cost (the lowest one on ties, i.e. the most prudent)."""
    costs = cost_curve(y_true, scores, weights, thresholds)
    return float(thresholds[int(np.argmin(costs))])


def evaluate_scores(
    y_true: np.ndarray, scores: np.ndarray, threshold: float, weights: CostWeights
) -> Evaluation:
    """ROC-AUC plus the business view (cost, recall, precision, refusals) at the given threshold."""
    labels, probabilities = _as_arrays(y_true, scores)
    refused = probabilities >= threshold
    true_positives = int(np.sum(refused & (labels == 1)))
    return Evaluation(
        roc_auc=_safe_auc(labels, probabilities),
        business_cost=business_cost(labels, probabilities, threshold, weights),
        threshold=float(threshold),
        recall=true_positives / max(int(labels.sum()), 1),
        precision=true_positives / max(int(refused.sum()), 1),
        refusal_rate=float(refused.mean()) if labels.size else 0.0,
        default_rate=float(labels.mean()) if labels.size else 0.0,
        rows=int(labels.size),
    )


def _safe_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    # AUC is undefined with one class only; NaN says so instead of raising in the middle of a report.
    if np.unique(labels).size < 2:
        return float("nan")
    return float(roc_auc_score(labels, probabilities))
