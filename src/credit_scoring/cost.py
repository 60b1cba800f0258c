"""Business cost of decisions (a granted default costs 10 refusals), its best threshold, evaluation at it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

# Thresholds searched: fine enough that the cost curve is smooth, coarse enough to be vectorised cheaply.
THRESHOLD_GRID: np.ndarray = np.round(np.linspace(0.0, 1.0, 1001), 3)
# Expected calibration error: rows sorted by predicted probability and cut into this many groups of
# equal size (deciles). Equal-size, because with 8 % defaults equal-width bins would hold almost every row
# in the first two and say nothing about the range where decisions are taken.
ECE_BINS = 10
# Log-loss of a probability of exactly 0 or 1 is infinite: probabilities are clipped this far from them.
PROBABILITY_FLOOR = 1e-6


@dataclass(frozen=True)
class CostWeights:
    """What one wrong decision costs: granting a loan that defaults, or refusing a good client."""

    false_negative: float = 10.0
    false_positive: float = 1.0

    @property
    def bayes_threshold(self) -> float:
        """The cost-optimal threshold for a calibrated probability: refuse when p x FN >= (1 - p) x FP."""
        return self.false_positive / (self.false_positive + self.false_negative)


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
    mean_probability: float
    brier: float
    log_loss: float
    ece: float

    @property
    def base_rate_brier(self) -> float:
        """The Brier score of answering the observed default rate to everyone: the bar to beat."""
        return self.default_rate * (1.0 - self.default_rate)

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
        mean_probability=float(probabilities.mean()) if labels.size else float("nan"),
        brier=brier_score(labels, probabilities),
        log_loss=log_loss(labels, probabilities),
        ece=expected_calibration_error(labels, probabilities),
    )


def brier_score(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean squared gap between the probability and the outcome (0 = perfect; lower is better)."""
    labels, probabilities = _as_arrays(y_true, scores)
    return float(np.mean((probabilities - labels) ** 2)) if labels.size else float("nan")


def log_loss(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean negative log-likelihood of the outcomes, probabilities clipped to ``PROBABILITY_FLOOR``."""
    labels, probabilities = _as_arrays(y_true, scores)
    if not labels.size:
        return float("nan")
    clipped = np.clip(probabilities, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
    return float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log1p(-clipped)))


def calibration_groups(y_true: np.ndarray, scores: np.ndarray, bins: int = ECE_BINS) -> list[np.ndarray]:
    """Row positions sorted by probability and cut into ``bins`` groups of (nearly) equal size."""
    _, probabilities = _as_arrays(y_true, scores)
    order = np.argsort(probabilities, kind="stable")
    return [group for group in np.array_split(order, min(bins, max(order.size, 1))) if group.size]


def reliability_table(
    y_true: np.ndarray, scores: np.ndarray, bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per calibration group: mean predicted probability, observed default rate, number of rows."""
    labels, probabilities = _as_arrays(y_true, scores)
    groups = calibration_groups(labels, probabilities, bins)
    predicted = np.array([probabilities[group].mean() for group in groups])
    observed = np.array([labels[group].mean() for group in groups])
    return predicted, observed, np.array([group.size for group in groups])


def expected_calibration_error(y_true: np.ndarray, scores: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the row-weighted mean over ``bins`` equal-size groups (by predicted probability) of
    |mean predicted probability - observed default rate|. 0 = the probabilities match the outcomes."""
    return calibration_gap(*reliability_table(y_true, scores, bins))


def calibration_gap(predicted: np.ndarray, observed: np.ndarray, sizes: np.ndarray) -> float:
    """The ECE of groups already formed (training's arrays or the store's deciles): the size-weighted
    mean of |mean predicted probability - observed default rate|; NaN without rows."""
    predicted, observed, sizes = (np.asarray(values, dtype=float) for values in (predicted, observed, sizes))
    if not sizes.sum():
        return float("nan")
    return float(np.sum(np.abs(predicted - observed) * sizes) / sizes.sum())


def _safe_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    # AUC is undefined with one class only; NaN says so instead of raising in the middle of a report.
    if np.unique(labels).size < 2:
        return float("nan")
    return float(roc_auc_score(labels, probabilities))
