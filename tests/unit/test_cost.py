"""Business cost and threshold search: hand-checked cases and a brute-force comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from credit_scoring.cost import (
    THRESHOLD_GRID,
    CostWeights,
    best_threshold,
    business_cost,
    cost_curve,
    evaluate_scores,
)

WEIGHTS = CostWeights(false_negative=10.0, false_positive=1.0)


def _brute_force_cost(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    refused = scores >= threshold
    false_negatives = np.sum(~refused & (labels == 1))
    false_positives = np.sum(refused & (labels == 0))
    return (10 * false_negatives + false_positives) / labels.size


def test_cost_counts_a_missed_default_ten_times_a_refused_good_client() -> None:
    labels = np.array([1, 0, 0, 0])
    scores = np.array([0.2, 0.6, 0.1, 0.1])
    # At 0.5: the defaulter (0.2) is granted -> 10; the good client at 0.6 is refused -> 1; per application.
    assert business_cost(labels, scores, 0.5, WEIGHTS) == pytest.approx(11 / 4)
    # At 0.15: the defaulter is refused, and so is the good client at 0.6 -> only 1.
    assert business_cost(labels, scores, 0.15, WEIGHTS) == pytest.approx(1 / 4)


def test_a_score_equal_to_the_threshold_is_refused() -> None:
    assert business_cost(np.array([1]), np.array([0.3]), 0.3, WEIGHTS) == 0.0
    assert business_cost(np.array([0]), np.array([0.3]), 0.3, WEIGHTS) == 1.0


def test_cost_curve_matches_brute_force_on_random_scores() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(500) < 0.1).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.3 * labels, 0.2), 0, 1)
    curve = cost_curve(labels, scores, WEIGHTS)
    expected = [_brute_force_cost(labels, scores, t) for t in THRESHOLD_GRID]
    np.testing.assert_allclose(curve, expected)


def test_best_threshold_minimises_the_cost_and_weights_move_it() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random(2000) < 0.08).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.25 * labels, 0.15), 0, 1)
    chosen = best_threshold(labels, scores, WEIGHTS)
    assert business_cost(labels, scores, chosen, WEIGHTS) == pytest.approx(
        cost_curve(labels, scores, WEIGHTS).min()
    )
    # Missed defaults costing less makes refusing less attractive: the threshold must rise.
    cheaper_defaults = best_threshold(labels, scores, CostWeights(false_negative=1.0, false_positive=1.0))
    assert cheaper_defaults > chosen


def test_evaluation_reports_recall_precision_and_refusals() -> None:
    labels = np.array([1, 1, 0, 0, 0])
    scores = np.array([0.9, 0.2, 0.8, 0.1, 0.05])
    result = evaluate_scores(labels, scores, 0.5, WEIGHTS)
    assert result.recall == pytest.approx(0.5)
    assert result.precision == pytest.approx(0.5)
    assert result.refusal_rate == pytest.approx(0.4)
    assert result.default_rate == pytest.approx(0.4)
    assert result.business_cost == pytest.approx(11 / 5)
    assert result.roc_auc == pytest.approx(5 / 6)
    metrics = result.as_metrics("test", prefix="baseline_")
    assert metrics["baseline_business_cost_test"] == pytest.approx(11 / 5)
    assert "baseline_threshold_test" not in metrics


def test_auc_is_nan_rather_than_an_error_with_one_class() -> None:
    result = evaluate_scores(np.zeros(3), np.array([0.1, 0.5, 0.9]), 0.5, WEIGHTS)
    assert math.isnan(result.roc_auc)
    assert result.business_cost == pytest.approx(2 / 3)
