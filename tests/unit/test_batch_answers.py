"""The answers to a batch: ids in uuid4's form, one JSON write, big client ids kept exactly."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import numpy as np

from credit_scoring.serving.api_models import ScoreResponse, batch_answers, new_request_ids


def test_request_ids_are_distinct_uuid4_hex() -> None:
    ids = new_request_ids(1000)
    assert len(set(ids)) == 1000
    assert all(uuid.UUID(hex=i).version == 4 and uuid.UUID(hex=i).hex == i for i in ids)


def test_batch_answers_are_score_responses_in_order() -> None:
    scorer = SimpleNamespace(threshold=0.5, name="credit-scoring", version="4")
    references = [100002, None, 2**70]  # beyond 64 bits: written exactly all the same
    answers = batch_answers(np.array([0.1, 0.5, 0.75], dtype=np.float32), scorer, references)  # type: ignore[arg-type]
    parsed = [ScoreResponse.model_validate(answer) for answer in json.loads(answers.body)]
    assert [a.decision for a in parsed] == answers.decisions == ["grant", "refuse", "refuse"]
    assert [a.client_reference for a in parsed] == references
    assert [a.probability for a in parsed] == answers.probabilities == [float(np.float32(0.1)), 0.5, 0.75]
    assert [a.request_id for a in parsed] == answers.request_ids
    assert {(a.threshold, a.model_name, a.model_version) for a in parsed} == {(0.5, "credit-scoring", "4")}
