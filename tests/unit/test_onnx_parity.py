"""The ONNX export scores exactly like the native LightGBM pipeline: probabilities, decisions, routing."""

from __future__ import annotations

import numpy as np
import onnxmltools
import pandas as pd
import pytest
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.pipeline import Pipeline

from credit_scoring.cost import CostWeights, best_threshold
from credit_scoring.data.synthetic import generate_applications
from credit_scoring.fastpath.engines import (
    NativeScorer,
    OnnxScorer,
    ProbabilityModel,
    load_probability_model,
)
from credit_scoring.fastpath.onnx_export import (
    ONNX_INPUT,
    TARGET_OPSET,
    OnnxExportError,
    convert_classifier_to_onnx,
)
from credit_scoring.fastpath.parity import check_onnx_parity, compare_probabilities
from credit_scoring.features import FEATURE_NAMES, build_features
from credit_scoring.schema import INPUT_COLUMNS, TARGET_COLUMN
from credit_scoring.training.model import build_baseline, build_model, classifier_params

TRAIN_ROWS = 3_000
PARITY_ROWS = 10_000
# Enough trees and leaves that thousands of float thresholds are exercised, still fitted in seconds.
PARAMS = {"n_estimators": 150, "n_jobs": 1}


@pytest.fixture(scope="module")
def applications() -> pd.DataFrame:
    return generate_applications(TRAIN_ROWS + PARITY_ROWS, seed=11)


@pytest.fixture(scope="module")
def parity_frame(applications: pd.DataFrame) -> pd.DataFrame:
    return applications.iloc[TRAIN_ROWS:]


@pytest.fixture(scope="module")
def pipeline(applications: pd.DataFrame) -> Pipeline:
    train = applications.iloc[:TRAIN_ROWS]
    model = build_model(classifier_params(PARAMS, seed=11))
    return model.fit(train.loc[:, list(INPUT_COLUMNS)], train[TARGET_COLUMN])


@pytest.fixture(scope="module")
def onnx_bytes(pipeline: Pipeline) -> bytes:
    return convert_classifier_to_onnx(pipeline, len(FEATURE_NAMES))


@pytest.fixture(scope="module")
def features(parity_frame: pd.DataFrame) -> np.ndarray:
    return build_features(parity_frame.loc[:, list(INPUT_COLUMNS)])


@pytest.fixture(scope="module")
def native_probabilities(pipeline: Pipeline, parity_frame: pd.DataFrame) -> np.ndarray:
    return pipeline.predict_proba(parity_frame.loc[:, list(INPUT_COLUMNS)])[:, 1]


def test_parity_on_ten_thousand_rows_at_the_cost_minimising_threshold(
    pipeline: Pipeline, onnx_bytes: bytes, parity_frame: pd.DataFrame, native_probabilities: np.ndarray
) -> None:
    labels = parity_frame[TARGET_COLUMN].to_numpy()
    threshold = best_threshold(labels, native_probabilities, CostWeights())
    report = check_onnx_parity(pipeline, onnx_bytes, parity_frame, threshold)
    assert report.rows == PARITY_ROWS
    assert report.max_abs_difference < 1e-5
    assert report.decision_changes == 0
    assert round(report.roc_auc_onnx, 4) == round(report.roc_auc_native, 4)
    assert round(report.business_cost_onnx, 4) == round(report.business_cost_native, 4)
    assert report.passed, report.failures
    assert report.roc_auc_native > 0.6  # a model that learnt nothing would pass the lines above too


def test_no_decision_changes_at_any_decile_threshold(
    onnx_bytes: bytes, features: np.ndarray, native_probabilities: np.ndarray, parity_frame: pd.DataFrame
) -> None:
    onnx = OnnxScorer(onnx_bytes).predict_proba(features)
    labels = parity_frame[TARGET_COLUMN].to_numpy()
    for threshold in np.quantile(native_probabilities, np.linspace(0.1, 0.9, 9)):
        report = compare_probabilities(native_probabilities, onnx, labels, float(threshold), CostWeights())
        assert report.decision_changes == 0, threshold


def _rows_on_rounded_up_root_thresholds(pipeline: Pipeline, base: np.ndarray) -> np.ndarray:
    """Copies of ``base`` whose value, at some tree's root feature, is that root threshold rounded to the
    nearest float32 when it rounded up: LightGBM sends them right, a nearest-rounded float tree left."""
    trees = pipeline.named_steps["classifier"].booster_.dump_model()["tree_info"]
    rows = []
    for tree in trees:
        root = tree["tree_structure"]
        threshold = float(root.get("threshold", np.nan))
        if np.isfinite(threshold) and abs(threshold) < 1e30 and float(np.float32(threshold)) > threshold:
            row = base.copy()
            row[root["split_feature"]] = np.float32(threshold)
            rows.append(row)
    return np.array(rows, dtype=np.float32)


def test_rows_on_rounded_thresholds_route_like_lightgbm(
    pipeline: Pipeline, onnx_bytes: bytes, features: np.ndarray
) -> None:
    rows = _rows_on_rounded_up_root_thresholds(pipeline, features[0])
    assert len(rows) >= 5  # otherwise this test would not exercise the rounding it is about
    native = NativeScorer(pipeline).predict_proba(rows)
    np.testing.assert_allclose(OnnxScorer(onnx_bytes).predict_proba(rows), native, rtol=0, atol=1e-6)


def test_the_plain_converter_misroutes_those_rows(pipeline: Pipeline, features: np.ndarray) -> None:
    """Why ``match_lightgbm_routing`` exists: onnxmltools' nearest-rounded thresholds flip these rows."""
    plain = onnxmltools.convert_lightgbm(
        pipeline.named_steps["classifier"],
        initial_types=[(ONNX_INPUT, FloatTensorType([None, len(FEATURE_NAMES)]))],
        target_opset=TARGET_OPSET,
        zipmap=False,
    )
    rows = _rows_on_rounded_up_root_thresholds(pipeline, features[0])
    native = NativeScorer(pipeline).predict_proba(rows)
    gaps = np.abs(OnnxScorer(plain.SerializeToString()).predict_proba(rows) - native)
    assert gaps.max() > 1e-4


def test_missing_values_route_like_lightgbm(
    pipeline: Pipeline, onnx_bytes: bytes, features: np.ndarray
) -> None:
    # One NaN per feature (including those never missing in training, which LightGBM reads as 0), then
    # a row with every feature missing.
    rows = np.repeat(features[:1], len(FEATURE_NAMES) + 1, axis=0)
    rows[np.arange(len(FEATURE_NAMES)), np.arange(len(FEATURE_NAMES))] = np.nan
    rows[-1] = np.nan
    native = NativeScorer(pipeline).predict_proba(rows)
    np.testing.assert_allclose(OnnxScorer(onnx_bytes).predict_proba(rows), native, rtol=0, atol=1e-6)


def test_engine_switch_returns_the_same_probabilities(
    pipeline: Pipeline, onnx_bytes: bytes, features: np.ndarray, native_probabilities: np.ndarray
) -> None:
    onnx = load_probability_model("onnx", pipeline, onnx_bytes)
    native = load_probability_model("native", pipeline)
    assert isinstance(onnx, ProbabilityModel) and isinstance(native, ProbabilityModel)
    assert (onnx.engine, native.engine) == ("onnx", "native")
    sample = features[:500]
    np.testing.assert_allclose(native.predict_proba(sample), native_probabilities[:500], rtol=0, atol=1e-12)
    np.testing.assert_allclose(onnx.predict_proba(sample), native_probabilities[:500], rtol=0, atol=1e-5)
    assert onnx.predict_proba(sample).shape == (500,)


def test_engines_take_one_row_as_a_vector_or_in_float64(
    pipeline: Pipeline, onnx_bytes: bytes, features: np.ndarray
) -> None:
    onnx, native = OnnxScorer(onnx_bytes), NativeScorer(pipeline)
    expected = native.predict_proba(features[:1])
    for row in (features[0], features[:1].astype(np.float64)):
        assert onnx.predict_proba(row) == pytest.approx(expected, abs=1e-5)
        assert native.predict_proba(row) == pytest.approx(expected, abs=0)


def test_onnx_engine_converts_the_model_when_no_bytes_are_stored(
    pipeline: Pipeline, features: np.ndarray, native_probabilities: np.ndarray
) -> None:
    converted = load_probability_model("onnx", pipeline)
    np.testing.assert_allclose(converted.predict_proba(features[:100]), native_probabilities[:100], atol=1e-5)


def test_unknown_engine_is_refused(pipeline: Pipeline) -> None:
    with pytest.raises(ValueError, match="onnx, native"):
        load_probability_model("tensorflow", pipeline)


def test_export_refuses_a_wrong_width_or_a_non_lightgbm_model(
    pipeline: Pipeline, applications: pd.DataFrame
) -> None:
    with pytest.raises(OnnxExportError, match="126 features, not 10"):
        convert_classifier_to_onnx(pipeline, 10)
    train = applications.iloc[:500]
    baseline = build_baseline().fit(train.loc[:, list(INPUT_COLUMNS)], train[TARGET_COLUMN])
    with pytest.raises(OnnxExportError, match="LogisticRegression"):
        convert_classifier_to_onnx(baseline)


def test_parity_report_names_every_broken_rule() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2_000)
    native = rng.random(2_000)
    shifted = native + np.where(np.abs(native - 0.5) < 0.01, 0.02, 0.0)  # pushes rows across 0.5
    report = compare_probabilities(native, shifted, labels, 0.5, CostWeights())
    assert not report.passed
    failures = " | ".join(report.failures)
    assert "2,000 rows checked" in failures
    assert "probabilities differ by up to 0.02" in failures
    assert f"{report.decision_changes} grant/refuse decision(s) change" in failures
    assert report.decision_changes > 0
    assert report.as_dict()["passed"] is False


def test_identical_probabilities_pass() -> None:
    rng = np.random.default_rng(1)
    native = rng.random(10_000)
    report = compare_probabilities(native, native.copy(), rng.integers(0, 2, 10_000), 0.3, CostWeights())
    assert report.passed and report.failures == [] and report.max_abs_difference == 0.0
