"""Simulated outcomes: matured decisions only, the generator's default law, the same draws on every run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from credit_scoring.recording.performance_queries import StorePerformance
from credit_scoring.recording.store import ParquetStore
from credit_scoring_tools.outcome_simulation import simulate_outcomes
from tests.support.outcomes import START, decisions, store_decisions


@pytest.fixture
def store(tmp_path: Path) -> ParquetStore:
    records = ParquetStore(tmp_path / "store")
    store_decisions(records, decisions(400, seed=2))
    return records


def test_only_matured_decisions_get_an_outcome_and_a_rerun_changes_nothing(store: ParquetStore) -> None:
    now = START + timedelta(days=30 + 365)  # the first month has matured, the second not yet
    first = simulate_outcomes(store, now, maturity_days=365, seed=1)
    again = simulate_outcomes(store, now, maturity_days=365, seed=1)
    matured = store.count(None, now - timedelta(days=365))
    assert 0 < first.stored == matured < 400 and first.unmatched == 0
    assert (again.stored, again.corrected, again.unchanged) == (0, 0, matured)


def test_a_default_rate_shift_raises_realized_defaults(store: ParquetStore) -> None:
    now = START + timedelta(days=800)
    simulate_outcomes(store, now, seed=1)
    base = StorePerformance(store).version_periods(by_month=False)["defaults"].sum()
    simulate_outcomes(store, now, seed=1, shift=1.5)
    shifted = StorePerformance(store).version_periods(by_month=False)["defaults"].sum()
    assert shifted > 1.25 * base  # the same applicants (inputs unchanged) default more
