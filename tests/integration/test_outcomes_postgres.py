"""Outcomes and performance on the server store (a real PostgreSQL): the same join, the direct figures."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from credit_scoring.cost import CostWeights
from credit_scoring.monitoring.performance import estimated_cost, realized_cost
from credit_scoring.monitoring.performance_report import build_report
from credit_scoring.recording.outcomes import drop_outcomes_before, load_outcomes
from credit_scoring.recording.performance_queries import StorePerformance
from credit_scoring.recording.store import SqlStore
from credit_scoring.settings import PerformanceThresholds
from tests.support.outcomes import KEY, decisions, outcome_file_frame, store_decisions

pytestmark = pytest.mark.integration


def test_outcomes_join_once_and_the_report_matches_direct_figures(postgres_url: str) -> None:
    store = SqlStore(postgres_url)
    frame = decisions(1_200, seed=9)
    store_decisions(store, frame)
    known = frame.sample(frac=0.8, random_state=2)
    first = load_outcomes(store, outcome_file_frame(known), KEY)
    again = load_outcomes(store, outcome_file_frame(known), KEY)
    unknown = load_outcomes(
        store, pd.DataFrame({"SK_ID_CURR": [7], "TARGET": [1], "OBSERVATION_DATE": [pd.NaT]}), KEY
    )
    assert (first.stored, again.stored, again.unchanged, unknown.unmatched) == (960, 0, 960, 1)
    with store.engine.connect() as connection:
        stored = pd.read_sql("SELECT * FROM outcomes", connection)
    assert (
        len(stored) == 960 and not stored.astype(str).isin(frame["client"].astype(str).tolist()).any().any()
    )

    report = build_report(StorePerformance(store), CostWeights(), PerformanceThresholds(), {})
    for version in report.versions:
        part = frame[frame["version"] == version.version]
        outcomes = part[part.index.isin(known.index)]
        assert version.n_outcomes == len(outcomes)
        assert version.realized_auc == pytest.approx(
            roc_auc_score(outcomes["target"], outcomes["probability"])
        )
        assert version.realized_cost == pytest.approx(
            realized_cost(outcomes["target"], outcomes["granted"], CostWeights())
        )
        assert version.estimated_cost == pytest.approx(
            estimated_cost(part["probability"], part["granted"], CostWeights())
        )
    assert {"CODE_GENDER", "age band"} == {f.attribute for f in report.fairness}
    # Retention: the outcomes of the decisions it drops go too (none outlives its decision).
    days = sorted(pd.to_datetime(stored["decision_time"]).dt.date.unique())
    assert len(days) >= 2
    assert drop_outcomes_before(store, days[-1]) == int((pd.to_datetime(stored["decision_time"]).dt.date
                                                        < days[-1]).sum())  # fmt: skip
    store.close()
