"""Calibration on small seeded data: ECE, both calibrators, the choice, the calibrated model's engines."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from credit_scoring.cost import (
    CostWeights,
    best_threshold,
    brier_score,
    evaluate_scores,
    expected_calibration_error,
    log_loss,
    reliability_table,
)
from credit_scoring.data.synthetic import generate_applications
from credit_scoring.fastpath.calibration import IsotonicCalibrator, SigmoidCalibrator
from credit_scoring.fastpath.engines import NativeScorer, OnnxScorer, load_probability_model
from credit_scoring.fastpath.onnx_export import calibrator_of, classifier_of, convert_classifier_to_onnx
from credit_scoring.fastpath.parity import MAX_PROBABILITY_DIFFERENCE
from credit_scoring.fastpath.vectorise import request_records
from credit_scoring.model_layout import FEATURES_STEP
from credit_scoring.schema import TARGET_COLUMN
from credit_scoring.scoring import Scorer
from credit_scoring.training.calibrate import (
    MAX_AUC_LOSS,
    calibrated_pipeline,
    choose_calibrator,
    fit_calibrator,
    fit_isotonic,
    fit_sigmoid,
    raw_scores,
)
from credit_scoring.training.dataset import inputs
from credit_scoring.training.model import build_model, classifier_params

RATE = 0.08


def _outcomes(probabilities: np.ndarray, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(probabilities.size) < probabilities).astype(int)


def _true_risk(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds of a true risk model around an 8 % default rate, and outcomes drawn from it."""
    true_logit = np.random.default_rng(seed).normal(np.log(RATE / (1 - RATE)) - 0.3, 0.9, rows)
    return true_logit, _outcomes(SigmoidCalibrator(1.0, 0.0).apply(true_logit), seed + 1)


def test_ece_is_the_weighted_gap_per_equal_size_group() -> None:
    labels = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    probabilities = np.array([0.1, 0.1, 0.2, 0.2, 0.6, 0.6, 0.9, 0.9])
    # Two groups of four: predicted 0.15 vs observed 0.25, predicted 0.75 vs observed 0.75.
    assert expected_calibration_error(labels, probabilities, bins=2) == pytest.approx(0.05)
    predicted, observed, sizes = reliability_table(labels, probabilities, bins=2)
    np.testing.assert_allclose(predicted, [0.15, 0.75])
    np.testing.assert_allclose(observed, [0.25, 0.75])
    assert sizes.tolist() == [4, 4]


def test_ece_is_small_for_true_probabilities_and_large_for_inflated_ones() -> None:
    true_logit, labels = _true_risk(40_000, seed=1)
    truth = SigmoidCalibrator(1.0, 0.0).apply(true_logit)
    assert expected_calibration_error(labels, truth) < 0.01
    inflated = SigmoidCalibrator(1.0, 2.4).apply(true_logit)  # what class_weight="balanced" does
    assert expected_calibration_error(labels, inflated) > 0.2
    assert brier_score(labels, truth) < RATE * (1 - RATE) < brier_score(labels, inflated)
    assert log_loss(labels, truth) < log_loss(labels, inflated)
    assert np.isfinite(log_loss(np.array([1, 0]), np.array([0.0, 1.0])))  # clipped, not infinite


def test_sigmoid_recovers_the_slope_and_intercept_that_made_the_scores() -> None:
    true_logit, labels = _true_risk(60_000, seed=2)
    raw = (true_logit - 1.0) / 2.0  # trees that are over-confident by 2 and shifted
    fitted = fit_sigmoid(raw, labels)
    assert fitted.slope == pytest.approx(2.0, rel=0.05)
    assert fitted.intercept == pytest.approx(1.0, abs=0.1)


def test_both_calibrators_repair_shifted_scores_and_keep_their_order() -> None:
    true_logit, labels = _true_risk(20_000, seed=3)
    raw = 1.7 * true_logit + 2.4
    before = SigmoidCalibrator(1.0, 0.0).apply(raw)
    for method in ("sigmoid", "isotonic"):
        calibrated = fit_calibrator(method, raw, labels).apply(raw)
        assert (
            expected_calibration_error(labels, calibrated) < 0.01 < expected_calibration_error(labels, before)
        )
        assert abs(calibrated.mean() - labels.mean()) < 0.1 * labels.mean()
        order = np.argsort(raw, kind="stable")
        assert np.all(np.diff(calibrated[order]) >= 0)  # monotone: a riskier score is never less risky
    sigmoid = fit_sigmoid(raw, labels).apply(raw)
    assert roc_auc_score(labels, sigmoid) == pytest.approx(roc_auc_score(labels, raw), abs=1e-12)


def test_isotonic_knots_interpolate_and_clip_like_numpy() -> None:
    raw = np.linspace(-4, 2, 500)
    labels = _outcomes(SigmoidCalibrator(1.0, -0.5).apply(raw), seed=4)
    fitted = fit_isotonic(raw, labels)
    probe = np.array([-10.0, -4.0, 0.0, 2.0, 10.0])
    expected = np.interp(probe, fitted.knots_raw, fitted.knots_probability)
    np.testing.assert_allclose(fitted.apply(probe), expected)
    assert fitted.apply(probe)[0] == fitted.knots_probability[0]


def test_the_choice_keeps_the_auc_and_says_why() -> None:
    true_logit, labels = _true_risk(8_000, seed=5)
    choice = choose_calibrator(1.5 * true_logit + 2.0, labels, seed=5)
    assert {figures.method for figures in choice.candidates} == {"sigmoid", "isotonic"}
    chosen = next(f for f in choice.candidates if f.method == choice.calibrator.method)
    assert chosen.auc_loss <= MAX_AUC_LOSS
    assert choice.calibrator.method in choice.reason
    assert set(choice.metrics()) >= {"calibration_cv_log_loss_sigmoid", "calibration_cv_brier_isotonic"}


def test_the_bayes_threshold_of_ten_to_one_is_one_eleventh() -> None:
    assert CostWeights().bayes_threshold == pytest.approx(1 / 11)
    true_logit, labels = _true_risk(100_000, seed=6)
    truth = SigmoidCalibrator(1.0, 0.0).apply(true_logit)
    # On true probabilities the cost-minimising threshold found on data is the theoretical one.
    assert best_threshold(labels, truth, CostWeights()) == pytest.approx(1 / 11, abs=0.02)


# A small real model: the pipeline training builds, fitted on some rows, calibrated on others.
@pytest.fixture(scope="module")
def applications() -> pd.DataFrame:
    return generate_applications(6_000, seed=21)


@pytest.fixture(scope="module")
def trees(applications: pd.DataFrame) -> Pipeline:
    fit_rows = applications.iloc[:3_000]
    model = build_model(classifier_params({"n_estimators": 120, "n_jobs": 1}, seed=21))
    return model.fit(inputs(fit_rows), fit_rows[TARGET_COLUMN])


@pytest.fixture(scope="module", params=["sigmoid", "isotonic"])
def calibrated(request: pytest.FixtureRequest, trees: Pipeline, applications: pd.DataFrame) -> Pipeline:
    held = applications.iloc[3_000:]
    raw = raw_scores(trees, inputs(held))
    return calibrated_pipeline(trees, fit_calibrator(request.param, raw, held[TARGET_COLUMN].to_numpy()))


def test_the_calibrated_pipeline_answers_a_probability_of_default(
    trees: Pipeline, calibrated: Pipeline, applications: pd.DataFrame
) -> None:
    held = applications.iloc[3_000:]
    labels = held[TARGET_COLUMN].to_numpy()
    before = trees.predict_proba(inputs(held))[:, 1]
    after = calibrated.predict_proba(inputs(held))[:, 1]
    assert before.mean() > 2 * labels.mean()  # class weighting inflates the trees' own probability
    assert after.mean() == pytest.approx(labels.mean(), rel=0.02)
    assert (
        evaluate_scores(labels, after, 0.09, CostWeights()).ece
        < evaluate_scores(labels, before, 0.09, CostWeights()).ece
    )
    assert classifier_of(calibrated) is classifier_of(trees)
    assert calibrator_of(trees) is None and calibrator_of(calibrated) is not None


def test_calibration_keeps_the_ranking(
    trees: Pipeline, calibrated: Pipeline, applications: pd.DataFrame
) -> None:
    rows = inputs(applications.iloc[3_000:])
    before = trees.predict_proba(rows)[:, 1]
    after = calibrated.predict_proba(rows)[:, 1]
    order = np.argsort(before, kind="stable")
    steps = np.diff(after[order])
    assert np.all(steps >= 0)  # never reverses two applicants
    if isinstance(calibrator_of(calibrated), SigmoidCalibrator):  # isotonic makes ties (its plateaus)
        assert np.all(steps[np.diff(before[order]) > 0] > 0)  # strictly monotone: no new ties


def test_every_engine_serves_the_calibrated_probability(
    calibrated: Pipeline, applications: pd.DataFrame
) -> None:
    rows = inputs(applications)
    expected = calibrated.predict_proba(rows)[:, 1]
    features = calibrated.named_steps[FEATURES_STEP].transform(rows)
    np.testing.assert_allclose(NativeScorer(calibrated).predict_proba(features), expected, rtol=0, atol=1e-12)
    onnx = OnnxScorer(convert_classifier_to_onnx(calibrated)).predict_proba(features)
    assert np.max(np.abs(onnx - expected)) < MAX_PROBABILITY_DIFFERENCE


def test_a_calibrated_pipeline_survives_cloudpickle(calibrated: Pipeline, applications: pd.DataFrame) -> None:
    rows = inputs(applications.head(50))
    restored = cloudpickle.loads(cloudpickle.dumps(calibrated))
    np.testing.assert_array_equal(restored.predict_proba(rows), calibrated.predict_proba(rows))
    assert isinstance(calibrator_of(restored), SigmoidCalibrator | IsotonicCalibrator)


@pytest.mark.parametrize("engine", ["onnx", "native"])
def test_the_service_scorer_answers_and_explains_with_the_calibrated_probability(
    calibrated: Pipeline, applications: pd.DataFrame, engine: str
) -> None:
    records = request_records(applications.head(20))
    scorer = Scorer(calibrated, 0.09, "1", model=load_probability_model(engine, calibrated))
    expected = calibrated.predict_proba(inputs(applications.head(20)))[:, 1]
    served = np.array([score.probability for score in scorer.score(records)])
    assert np.max(np.abs(served - expected)) < MAX_PROBABILITY_DIFFERENCE
    explanation = scorer.explain(records[0], top=3)
    assert explanation.score.probability == pytest.approx(served[0], abs=1e-12)
    assert len(explanation.contributions) == 3
