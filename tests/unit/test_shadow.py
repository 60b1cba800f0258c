"""Shadow scoring in a worker: the challenger's own figures, failures caught and counted, the switch off."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from prometheus_client import REGISTRY

from credit_scoring.batch_validation import ApplicationBatch
from credit_scoring.schema import TARGET_COLUMN
from credit_scoring.scoring import Scorer
from credit_scoring.serving.api_models import batch_answers
from credit_scoring.serving.request_log import Exchange, RequestLog
from credit_scoring.serving.shadow import FAILURE_METRIC, Shadow
from credit_scoring.validation import Application, application_to_record
from tests.support.tiny_model import fit_tiny_pipeline, tiny_applications


class BrokenModel:
    """A probability model that fails as a corrupt or incompatible challenger would."""

    engine = "broken"

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        raise RuntimeError("challenger exploded")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return tiny_applications(rows=300, seed=11)


@pytest.fixture(scope="module")
def champion(frame: pd.DataFrame) -> Scorer:
    return Scorer(fit_tiny_pipeline(frame, seed=11), threshold=0.25, version="1")


@pytest.fixture(scope="module")
def challenger(frame: pd.DataFrame) -> Scorer:
    return Scorer(fit_tiny_pipeline(frame, seed=12), threshold=0.3, version="2")


@pytest.fixture(scope="module")
def applications(frame: pd.DataFrame) -> list[Application]:
    rows = frame.drop(columns=[TARGET_COLUMN]).head(20).astype(object).where(frame.notna(), None)
    return [Application.model_validate(row) for row in rows.to_dict("records")]


def failure_count(endpoint: str) -> float:
    return REGISTRY.get_sample_value(f"{FAILURE_METRIC}_total", {"endpoint": endpoint}) or 0.0


def test_the_challenger_scores_the_champions_matrix_as_it_would_score_the_records(
    champion: Scorer, challenger: Scorer, applications: list[Application]
) -> None:
    records = [application_to_record(a) for a in applications]
    shadow = Shadow(challenger, champion)
    scores = shadow.score(champion.features(records), lambda: pytest.fail("records rebuilt"), "score")
    own = challenger.probabilities(records)
    assert shadow.reuses_features and scores is not None and scores.version == "2"
    np.testing.assert_allclose(scores.probabilities, own, rtol=0, atol=1e-12)
    assert scores.decisions == ["refuse" if p >= 0.3 else "grant" for p in own]
    assert len(set(scores.decisions)) == 2 and shadow.scored == len(records)  # both decisions were exercised
    batch = ApplicationBatch.from_models(applications)
    matrix, _ = champion.batch_scored(batch)
    from_batch = shadow.score(matrix, batch.records, "score_batch")
    np.testing.assert_allclose(from_batch.probabilities, own, rtol=0, atol=1e-6)  # type: ignore[union-attr]


def test_a_failing_challenger_is_caught_counted_logged_once_and_gives_nulls(
    champion: Scorer, challenger: Scorer, applications: list[Application], caplog: pytest.LogCaptureFixture
) -> None:
    broken = Scorer(challenger.pipeline, threshold=0.3, version="2", model=BrokenModel())
    shadow, record = Shadow(broken, champion), application_to_record(applications[0])
    before = failure_count("score")
    with caplog.at_level(logging.ERROR, logger="credit_scoring.serving.shadow"):
        results = [shadow.score(champion.features([record]), lambda: [record], "score") for _ in range(3)]
    assert results == [None] * 3 and shadow.failures == 3 and shadow.scored == 0
    assert failure_count("score") - before == 3
    assert len([r for r in caplog.records if "challenger failed" in r.getMessage()]) == 1
    health = shadow.health()
    assert health["failures"] == 3 and "challenger exploded" in health["last_error"]
    assert health["challenger_version"] == "2" and health["enabled"] is True


def test_switched_off_or_absent_the_challenger_scores_nothing(
    champion: Scorer, challenger: Scorer, applications: list[Application]
) -> None:
    record = application_to_record(applications[0])
    matrix = champion.features([record])
    off = Shadow(challenger, champion, enabled=False)
    assert off.score(matrix, lambda: [record], "score") is None and off.health()["enabled"] is False
    assert off.health()["challenger_version"] == "2"
    assert Shadow(None, champion).score(matrix, lambda: [record], "score") is None


def test_a_challenger_with_other_features_scores_the_records(
    champion: Scorer, challenger: Scorer, applications: list[Application]
) -> None:
    other = Scorer(challenger.pipeline, threshold=0.3, version="3")
    other._vectoriser = None  # as for a pipeline whose feature step is not the project's own
    record = application_to_record(applications[1])
    shadow = Shadow(other, champion)
    scores = shadow.score(champion.features([record]), lambda: [record], "score")
    assert not shadow.reuses_features
    assert scores.probabilities == pytest.approx(challenger.probabilities([record]).tolist(), abs=1e-12)  # type: ignore[union-attr]


def test_the_journal_entry_carries_the_challengers_figures_beside_the_champions(
    champion: Scorer, challenger: Scorer, applications: list[Application]
) -> None:
    batch = ApplicationBatch.from_models(applications[:3])
    matrix, probabilities = champion.batch_scored(batch)
    exchange = Exchange("score_batch")
    exchange.answer = batch_answers(probabilities, champion, batch.client_references)
    shadow = Shadow(challenger, champion)
    exchange.shadow = shadow.score(matrix, batch.records, "score_batch")
    log = RequestLog(None, None, "credit-scoring", "1", shadow=shadow)
    entry = log.entry(exchange, 200, 3.0)
    assert entry.challenger_version == "2" and entry.model_version == "1"
    assert [a.probability for a in entry.answers] == probabilities.tolist()
    assert [a.challenger_probability for a in entry.answers] == exchange.shadow.probabilities  # type: ignore[union-attr]
    refused = log.entry(exchange, 400, 3.0)
    assert refused.answers == [] and refused.challenger_version is None
    exchange.shadow = None
    unshadowed = log.entry(exchange, 200, 3.0)
    assert unshadowed.challenger_version is None
    assert {(a.challenger_probability, a.challenger_decision) for a in unshadowed.answers} == {(None, None)}
    assert log.health()["shadow"]["scored"] == 3  # /monitoring/health, also with monitoring off
    assert RequestLog(None, None, "credit-scoring", "1").health()["shadow"] is None
