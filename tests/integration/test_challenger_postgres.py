"""Champion vs challenger on the server store (a real PostgreSQL): the same SQL, the same figures."""

from __future__ import annotations

import pytest

from credit_scoring.cost import CostWeights
from credit_scoring.monitoring.challenger import build_comparison
from credit_scoring.recording.challenger_queries import StoreChallenger
from credit_scoring.recording.outcomes import load_outcomes
from credit_scoring.recording.store import SqlStore
from tests.support.challenger import reference_rows, shadowed_decisions, store_shadowed
from tests.support.challenger_checks import assert_matches_reference
from tests.support.outcomes import KEY, outcome_file_frame

pytestmark = pytest.mark.integration


def test_postgres_figures_equal_the_pandas_reference_before_and_after_outcomes(postgres_url: str) -> None:
    store = SqlStore(postgres_url)
    frame = shadowed_decisions(1_500, seed=7)
    store_shadowed(store, frame)
    before = build_comparison(StoreChallenger(store), CostWeights())
    assert [p.champion.realized_cost for p in before.pairs] == [None, None]
    assert_matches_reference(StoreChallenger(store), reference_rows(frame, frame.index[:0]), by_day=False)

    labelled = frame.sample(frac=0.5, random_state=8)
    load_outcomes(store, outcome_file_frame(labelled), KEY)
    rows = reference_rows(frame, labelled.index)
    assert_matches_reference(StoreChallenger(store), rows, by_day=False)
    assert_matches_reference(StoreChallenger(store), rows, by_day=True)
    histogram = StoreChallenger(store).shift_histogram()
    assert histogram["n"].sum() == frame["shadowed"].sum()
    store.close()
