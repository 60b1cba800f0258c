"""The scoring function with a small real model: pipeline parity, decisions, explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from credit_scoring.batch_validation import ApplicationBatch
from credit_scoring.features import FEATURE_NAMES, FeatureBuilder
from credit_scoring.schema import TARGET_COLUMN, example_application
from credit_scoring.scoring import Scorer, decide
from credit_scoring.training.model import build_baseline
from credit_scoring.validation import Application, application_to_record
from tests.support.tiny_model import fit_tiny_pipeline, tiny_applications


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return tiny_applications(rows=400, seed=1)


@pytest.fixture(scope="module")
def pipeline(frame: pd.DataFrame) -> Pipeline:
    return fit_tiny_pipeline(frame, seed=1)


@pytest.fixture(scope="module")
def scorer(pipeline: Pipeline) -> Scorer:
    return Scorer(pipeline, threshold=0.4, version="7")


def _served_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as the API sees them: validated by the request model, then turned into records."""
    rows = frame.drop(columns=[TARGET_COLUMN]).astype(object).where(frame.notna(), None)
    return [application_to_record(Application.model_validate(r)) for r in rows.to_dict("records")]


def test_probabilities_equal_the_pipelines_predict_proba(
    scorer: Scorer, pipeline: Pipeline, frame: pd.DataFrame
) -> None:
    served = scorer.probabilities(_served_records(frame))
    expected = pipeline.predict_proba(frame.drop(columns=[TARGET_COLUMN]))[:, 1]
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-12)
    assert served.std() > 0.01  # a model that answers a constant would pass the line above too


def test_decision_is_refuse_exactly_from_the_threshold() -> None:
    assert decide(0.39999, 0.4) == "grant"
    assert decide(0.4, 0.4) == "refuse"
    assert decide(0.9, 0.4) == "refuse"


def test_scores_carry_probability_and_decision_in_order(scorer: Scorer, frame: pd.DataFrame) -> None:
    records = _served_records(frame.head(50))
    scores = scorer.score(records)
    probabilities = scorer.probabilities(records)
    assert [s.probability for s in scores] == pytest.approx(probabilities.tolist(), abs=0)
    assert [s.decision for s in scores] == ["refuse" if p >= 0.4 else "grant" for p in probabilities]
    assert {s.decision for s in scores} == {"grant", "refuse"}


def test_client_reference_does_not_change_the_score(scorer: Scorer) -> None:
    first = application_to_record(Application.model_validate(example_application() | {"SK_ID_CURR": 1}))
    other = application_to_record(Application.model_validate(example_application() | {"SK_ID_CURR": 999}))
    assert scorer.score([first]) == scorer.score([other])


def test_risk_never_rises_with_a_better_external_score(scorer: Scorer) -> None:
    base = example_application()
    records = [base | {"EXT_SOURCE_2": value} for value in np.linspace(0.0, 1.0, 21)]
    probabilities = scorer.probabilities(records)
    assert np.all(np.diff(probabilities) <= 1e-12)
    assert probabilities[0] > probabilities[-1]


def test_explanation_adds_up_to_the_score(scorer: Scorer) -> None:
    record = example_application()
    explanation = scorer.explain(record, top=5)
    assert explanation.score == scorer.score([record])[0]
    assert len(explanation.contributions) == 5
    sizes = [abs(c.contribution) for c in explanation.contributions]
    assert sizes == sorted(sizes, reverse=True)
    assert {c.feature for c in explanation.contributions} <= set(FEATURE_NAMES)
    all_terms = scorer.explain(record, top=len(FEATURE_NAMES))
    log_odds = all_terms.base_log_odds + sum(c.contribution for c in all_terms.contributions)
    assert 1 / (1 + np.exp(-log_odds)) == pytest.approx(explanation.score.probability, abs=1e-9)


def test_no_records_no_scores(scorer: Scorer) -> None:
    assert scorer.score([]) == []


def test_threshold_must_be_a_probability(pipeline: Pipeline) -> None:
    with pytest.raises(ValueError, match="threshold"):
        Scorer(pipeline, threshold=1.5, version="1")


def test_only_a_lightgbm_pipeline_is_accepted(frame: pd.DataFrame) -> None:
    other = build_baseline(seed=1).fit(frame.drop(columns=[TARGET_COLUMN]), frame[TARGET_COLUMN])
    with pytest.raises(TypeError, match="LightGBM"):
        Scorer(other, threshold=0.5, version="1")


class _OwnFeatures(FeatureBuilder):
    """Any feature step but the project's own: the scorer then builds features from records."""


def test_a_validated_batch_scores_as_its_records_do(
    scorer: Scorer, pipeline: Pipeline, frame: pd.DataFrame
) -> None:
    records = _served_records(frame)[:50]
    batch = ApplicationBatch.from_models([Application.model_validate(r) for r in records])
    np.testing.assert_array_equal(scorer.batch_scored(batch)[1], scorer.probabilities(records))
    steps = [("features", _OwnFeatures()), ("classifier", pipeline.named_steps["classifier"])]
    other = Scorer(Pipeline(steps), threshold=0.4, version="7")
    np.testing.assert_array_equal(other.batch_scored(batch)[1], scorer.probabilities(records))
    assert scorer.batch_scored(ApplicationBatch.from_models([]))[1].shape == (0,)
