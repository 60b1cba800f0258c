"""Realized and estimated (CBPE) performance per version and month, from the store's SQL aggregates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from credit_scoring.cost import CostWeights
from credit_scoring.monitoring.performance import (
    cost_standard_error,
    estimated_cost,
    expected_calibration_error,
    expected_confusion,
    realized_cost,
    sampling_ece,
)
from credit_scoring.monitoring.performance_report import build_report, summary_line
from credit_scoring.recording.outcomes import load_outcomes
from credit_scoring.recording.performance_queries import StorePerformance
from credit_scoring.recording.store import ParquetStore
from credit_scoring.settings import PerformanceThresholds
from tests.support.outcomes import KEY, decisions, outcome_file_frame, store_decisions

WEIGHTS = CostWeights()


def test_cbpe_expected_confusion_is_the_sums_of_p_and_one_minus_p_on_each_side() -> None:
    p = np.array([0.1, 0.3, 0.6, 0.9])
    granted = np.array([True, True, False, False])
    assert expected_confusion(p, granted) == pytest.approx((0.4, 0.5))
    assert estimated_cost(p, granted, WEIGHTS) == pytest.approx((10 * 0.4 + 0.5) / 4)


def test_cbpe_matches_the_mean_realized_cost_of_calibrated_outcomes() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(1, 9, 20_000)
    granted = p < 0.1
    draws = [realized_cost(rng.random(p.size) < p, granted, WEIGHTS) for _ in range(200)]
    error = cost_standard_error(p, granted, WEIGHTS)
    assert np.std(draws) == pytest.approx(error, rel=0.15)
    # The mean of 200 draws is within 4 of its standard errors of the estimate (and the estimate is exact).
    assert np.mean(draws) == pytest.approx(estimated_cost(p, granted, WEIGHTS), abs=4 * error / np.sqrt(200))


def test_ece_of_calibrated_deciles_is_zero_and_noise_shrinks_with_volume() -> None:
    deciles = pd.DataFrame({"n": [100, 300], "predicted": [0.1, 0.5], "observed": [0.1, 0.3]})
    assert expected_calibration_error(deciles) == pytest.approx(0.75 * 0.2)
    assert sampling_ece(deciles.assign(n=[10_000, 30_000])) < sampling_ece(deciles) / 5


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[StorePerformance, pd.DataFrame]:
    store, frame = ParquetStore(tmp_path_factory.mktemp("perf") / "store"), decisions(4_000, seed=5)
    store_decisions(store, frame)
    with_outcome = frame.sample(frac=0.7, random_state=1)
    load_outcomes(store, outcome_file_frame(with_outcome), KEY)
    frame["has_outcome"] = frame.index.isin(with_outcome.index)
    return StorePerformance(store), frame


def _month(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["timestamp"]).dt.strftime("%Y-%m")


def test_realized_and_estimated_figures_per_version_and_month_equal_direct_ones(scored) -> None:
    source, frame = scored
    report = build_report(source, WEIGHTS, PerformanceThresholds(), {})
    assert len(report.monthly) == 4  # two versions x two months
    for row in report.monthly.itertuples():
        part = frame[(frame["version"] == row.version) & (_month(frame) == f"{row.period:%Y-%m}")]
        known = part[part["has_outcome"]]
        assert row.decisions == len(part) and row.outcomes == len(known)
        assert row.approval_rate == pytest.approx(part["granted"].mean())
        assert row.estimated_cost == pytest.approx(
            estimated_cost(part["probability"], part["granted"], WEIGHTS)
        )
        assert row.realized_cost == pytest.approx(realized_cost(known["target"], known["granted"], WEIGHTS))
        assert row.realized_auc == pytest.approx(roc_auc_score(known["target"], known["probability"]))
        granted = known[known["granted"]]
        assert row.realized_default_rate_granted == pytest.approx(granted["target"].mean())


def test_the_summary_line_has_the_figures_of_each_version(scored) -> None:
    source, frame = scored
    report = build_report(source, WEIGHTS, PerformanceThresholds(), {"1": 0.5})
    import json

    summary = json.loads(summary_line(report))["versions"]
    assert set(summary) == {"1", "2"}
    one = frame[(frame["version"] == "1") & frame["has_outcome"]]
    assert summary["1"]["n_outcomes"] == len(one)
    assert summary["1"]["realized_auc"] == pytest.approx(
        roc_auc_score(one["target"], one["probability"]), abs=1e-6
    )
    assert set(summary["1"]) == {"realized_auc", "realized_cost", "estimated_cost", "n_outcomes", "ece"}


def test_estimated_auc_is_cbpe_expected_auc(scored) -> None:
    from credit_scoring.data.target import expected_auc

    source, frame = scored
    report = build_report(source, WEIGHTS, PerformanceThresholds(), {})
    two = frame[frame["version"] == "2"]
    expected = expected_auc(two["probability"].to_numpy(), two["probability"].to_numpy())
    assert next(v for v in report.versions if v.version == "2").estimated_auc == pytest.approx(
        expected, abs=1e-6
    )


def test_cost_above_the_evaluation_cost_and_calibration_errors_alert(scored) -> None:
    source, _ = scored
    quiet = build_report(
        source, WEIGHTS, PerformanceThresholds(min_fairness_ratio=0.1), {"1": 10.0, "2": 10.0}
    )
    cost_alert = build_report(source, WEIGHTS, PerformanceThresholds(min_fairness_ratio=0.1), {"1": 0.01})
    strict = build_report(source, WEIGHTS, PerformanceThresholds(max_ece=-1.0, min_fairness_ratio=0.1), {})
    assert not any("realized cost" in a for a in quiet.alerts)
    assert any(a.startswith("version 1: realized cost") for a in cost_alert.alerts)
    assert any("estimated cost" in a for a in cost_alert.alerts)
    assert any("calibration error" in a for a in strict.alerts)
    assert not any("calibration error" in a for a in quiet.alerts)
