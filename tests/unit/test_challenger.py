"""Champion vs challenger figures from the Parquet store (DuckDB) equal the pandas reference."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from credit_scoring.cost import CostWeights
from credit_scoring.monitoring.challenger import build_comparison, pair_evidence
from credit_scoring.monitoring.performance import estimated_cost, realized_cost
from credit_scoring.recording.challenger_queries import StoreChallenger
from credit_scoring.recording.outcomes import load_outcomes
from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.recording.store import ParquetStore
from tests.support.challenger import CHALLENGER, reference_rows, shadowed_decisions, store_shadowed
from tests.support.challenger_checks import assert_matches_reference
from tests.support.outcomes import KEY, outcome_file_frame
from tests.support.recording import write_records

WEIGHTS = CostWeights()


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory: pytest.TempPathFactory) -> tuple[ParquetStore, pd.DataFrame, pd.Index]:
    store, frame = ParquetStore(tmp_path_factory.mktemp("challenger") / "store"), shadowed_decisions(3_000)
    store_shadowed(store, frame)
    # A refused request that carries challenger figures anyway is no decision: it must not count.
    failed = RequestRecord("score", "credit-scoring", "1", 503, 3.0, error_kind="unavailable",
                           timestamp=datetime(2026, 1, 5, tzinfo=UTC), challenger_version=CHALLENGER,
                           challenger_probability=0.5, challenger_decision="refuse")  # fmt: skip
    write_records(store, [failed], segment="failed")
    labelled = frame.sample(frac=0.6, random_state=3)
    load_outcomes(store, outcome_file_frame(labelled), KEY)
    return store, frame, labelled.index


def test_per_pair_and_per_day_figures_equal_the_pandas_reference(shadowed) -> None:
    store, frame, labelled = shadowed
    rows = reference_rows(frame, labelled)
    overall = assert_matches_reference(StoreChallenger(store), rows, by_day=False)
    assert overall["decisions"].sum() == frame["shadowed"].sum() < len(frame)
    daily = assert_matches_reference(StoreChallenger(store), rows, by_day=True)
    assert daily["period"].nunique() > 50


def test_the_summary_of_a_pair_is_the_costs_of_its_own_rows(shadowed) -> None:
    store, frame, labelled = shadowed
    comparison = build_comparison(StoreChallenger(store), WEIGHTS)
    pair = pair_evidence(comparison, "2", CHALLENGER)
    part = frame[frame["shadowed"] & (frame["version"] == "2")]
    known = part[part.index.isin(labelled)]
    assert (pair.n, pair.n_outcomes) == (len(part), len(known))
    assert pair.agreement == pytest.approx((part["granted"] == part["challenger_granted"]).mean(), abs=1e-6)
    assert pair.challenger.estimated_cost == pytest.approx(
        estimated_cost(part["challenger_probability"], part["challenger_granted"], WEIGHTS), abs=1e-6
    )
    assert pair.champion.realized_cost == pytest.approx(
        realized_cost(known["target"], known["granted"], WEIGHTS), abs=1e-6
    )
    assert pair_evidence(comparison, "2", "9") is None
    assert json.loads(json.dumps(pair.line()))["challenger"]["version"] == CHALLENGER


def test_shift_histogram_counts_every_shadowed_decision_in_bounded_bins(shadowed) -> None:
    store, frame, _ = shadowed
    histogram = StoreChallenger(store).shift_histogram()
    assert histogram["n"].sum() == frame["shadowed"].sum()
    assert histogram["bin"].between(-20, 19).all()
    shift = (frame["challenger_probability"] - frame["probability"])[frame["shadowed"]]
    expected_bins = np.clip(np.floor(shift / 0.005), -20, 19).value_counts()
    assert histogram.groupby("bin")["n"].sum().sort_index().tolist() == expected_bins.sort_index().tolist()


def test_realized_cost_is_none_without_outcomes_and_a_range_narrows(tmp_path) -> None:
    store, frame = ParquetStore(tmp_path / "store"), shadowed_decisions(400, seed=4)
    store_shadowed(store, frame)
    comparison = build_comparison(StoreChallenger(store), WEIGHTS)
    assert comparison.current.n_outcomes == 0
    assert comparison.current.champion.realized_cost is None
    assert comparison.current.challenger.estimated_cost is not None
    middle = datetime(2026, 2, 1, tzinfo=UTC)
    later = build_comparison(StoreChallenger(store, middle, None), WEIGHTS)
    expected = frame[frame["shadowed"] & (pd.to_datetime(frame["timestamp"]) >= middle)]
    assert sum(p.n for p in later.pairs) == len(expected)


def test_a_store_without_shadow_data_gives_an_empty_comparison(tmp_path) -> None:
    store = ParquetStore(tmp_path / "store")
    assert build_comparison(StoreChallenger(store), WEIGHTS).current is None
    write_records(store, [RequestRecord("score", "credit-scoring", "1", 200, 3.0, probability=0.1,
                                        decision="grant", threshold=0.2)])  # fmt: skip
    assert build_comparison(StoreChallenger(store), WEIGHTS).pairs == []
