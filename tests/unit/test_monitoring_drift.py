"""Drift analysis: the drift scenarios are flagged with the right features, a fresh normal sample is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from credit_scoring.monitoring.drift import analyse, compare_profiles
from credit_scoring.monitoring.profiles import build_profile
from credit_scoring.monitoring.sketches import compare_numeric, hellinger, kll, psi
from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.settings import AlertThresholds
from tests.support.recording import stored_frame
from tests.unit.monitoring_samples import applications, hide_more, inflate_incomes, older_applicants

LIMITS = AlertThresholds()
T0 = datetime(2026, 1, 22, 4, 0, tzinfo=UTC)


def _with_scores(frame: pd.DataFrame, seed: int, a: float = 2.0) -> pd.DataFrame:
    return frame.assign(probability=np.random.default_rng(seed).beta(a, 8.0, len(frame)))


@pytest.fixture(scope="module")
def reference():
    return build_profile(_with_scores(applications(6000, seed=100), seed=1))


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    return applications(1500, seed=200)


def _drifted(reference, frame: pd.DataFrame, seed: int = 2) -> list[str]:
    features = compare_profiles(reference, build_profile(_with_scores(frame, seed)), LIMITS)
    return [f.column for f in features if f.drifted]


def test_a_fresh_sample_of_the_same_population_is_not_flagged(reference, fresh) -> None:
    features = compare_profiles(reference, build_profile(_with_scores(fresh, 2)), LIMITS)
    assert len(features) == 120 and all(f.assessed for f in features if f.production_rows > 1000)
    assert [f.column for f in features if f.drifted or f.null_rate_changed] == []


def test_inflated_incomes_are_flagged(reference, fresh) -> None:
    features = compare_profiles(reference, build_profile(_with_scores(inflate_incomes(fresh), 2)), LIMITS)
    income = next(f for f in features if f.column == "AMT_INCOME_TOTAL")
    assert income.drifted and income.test == "ks" and income.p_value < 1e-6 and income.hellinger > 0.15
    assert [f.column for f in features if f.drifted] == ["AMT_INCOME_TOTAL"]


def test_ext_source_3_missing_twice_as_often_is_flagged(reference, fresh) -> None:
    features = compare_profiles(reference, build_profile(hide_more(fresh, "EXT_SOURCE_3", seed=3)), LIMITS)
    changed = [f for f in features if f.null_rate_changed]
    assert [f.column for f in changed] == ["EXT_SOURCE_3"]
    assert changed[0].production_null_rate == pytest.approx(2 * changed[0].reference_null_rate, rel=0.25)


def test_older_applicants_are_flagged(reference, fresh) -> None:
    assert "DAYS_BIRTH" in _drifted(reference, older_applicants(fresh))


def test_effect_size_keeps_a_trivial_shift_on_a_big_window_quiet(reference) -> None:
    big = build_profile(inflate_incomes(applications(20_000, seed=300), factor=1.02))
    income = next(f for f in compare_profiles(reference, big, LIMITS) if f.column == "AMT_INCOME_TOTAL")
    assert income.p_value < 0.05 and income.hellinger < LIMITS.min_hellinger and not income.drifted


def test_too_few_rows_are_not_assessed(reference, fresh) -> None:
    features = compare_profiles(reference, build_profile(inflate_incomes(fresh.head(30))), LIMITS)
    income = next(f for f in features if f.column == "AMT_INCOME_TOTAL")
    assert not income.assessed and not income.drifted and "not assessed" in income.note


def test_sketch_ks_matches_scipy_on_raw_values() -> None:
    rng = np.random.default_rng(4)
    first, second = rng.normal(0, 1, 3000), rng.normal(0.2, 1, 2000)
    views = [build_profile(pd.DataFrame({"x": values})) for values in (first, second)]
    found = compare_numeric(kll(views[0], "x"), kll(views[1], "x"))
    exact = stats.ks_2samp(first, second)
    assert found.statistic == pytest.approx(exact.statistic, abs=0.01)
    assert found.p_value < 1e-4 and exact.pvalue < 1e-4


def test_effect_sizes_bounds() -> None:
    same = np.array([0.2, 0.3, 0.5])
    assert hellinger(same, same) == 0 and psi(same, same) == 0
    assert hellinger(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert psi(np.array([0.5, 0.5]), np.array([0.9, 0.1])) > 0.25


def _records(frame: pd.DataFrame, status: int = 200, latency: float = 5.0) -> list[RequestRecord]:
    rows = frame.replace({np.nan: None}).to_dict(orient="records")
    return [
        RequestRecord(
            endpoint="score",
            model_name="credit-scoring",
            model_version="2",
            status=status,
            error_kind=None if status < 400 else "validation",
            latency_ms=latency,
            inference_ms=0.1 if status < 400 else None,
            probability=0.2 if status < 400 else None,
            decision="granted" if status < 400 else None,
            threshold=0.4,
            inputs=row,
            timestamp=T0 + timedelta(seconds=index),
        )
        for index, row in enumerate(rows)
    ]


def _stored(tmp_path, records: list[RequestRecord]) -> pd.DataFrame:
    return stored_frame(tmp_path, records)


def test_normal_traffic_report_has_no_alert(reference, fresh, tmp_path) -> None:
    records = _stored(tmp_path, _records(fresh.head(300)))
    production = build_profile(_with_scores(fresh, 5))
    report = analyse(reference, production, records, LIMITS, start=T0, end=T0 + timedelta(hours=1))
    assert not report.alert and report.reasons == [] and report.drifted_share == 0
    assert report.prediction is not None and not report.prediction.drifted
    assert report.operations.requests == 300 and report.operations.latency_ms["p95"] == 5.0
    assert report.operations.requests_per_minute == 5.0 and report.quality == []


def test_drift_scenario_report_alerts_and_names_the_features(reference, fresh, tmp_path) -> None:
    moved = older_applicants(hide_more(inflate_incomes(fresh), "EXT_SOURCE_3", seed=6))
    records = _stored(tmp_path, _records(moved.head(200)))
    report = analyse(reference, build_profile(_with_scores(moved, 7, a=3.0)), records, LIMITS)
    assert report.alert
    assert {"AMT_INCOME_TOTAL", "DAYS_BIRTH"} <= {f.column for f in report.drifted_features}
    assert report.prediction.drifted
    text = " ".join(report.reasons)
    assert "AMT_INCOME_TOTAL" in text and "EXT_SOURCE_3 missing" in text and "score distribution" in text
    assert report.to_dict()["drifted_features"][:2] == [f.column for f in report.drifted_features][:2]


def test_bad_inputs_and_slow_responses_raise_quality_and_operational_alerts(
    reference, fresh, tmp_path
) -> None:
    bad = fresh.head(20).assign(DAYS_BIRTH=1000, CODE_GENDER="X")
    records = _stored(tmp_path, _records(fresh.head(180), latency=900.0) + _records(bad, status=422))
    report = analyse(reference, build_profile(fresh), records, LIMITS)
    issues = {(q.column, q.kind): q for q in report.quality}
    assert (
        issues[("DAYS_BIRTH", "out_of_range")].rows == 20 and issues[("DAYS_BIRTH", "out_of_range")].flagged
    )
    assert issues[("CODE_GENDER", "unseen_level")].examples == ["X"]
    assert report.operations.client_errors == 20 and report.operations.client_error_rate == 0.1
    text = " ".join(report.reasons)
    assert "rejected-request rate 10.0%" in text and "latency p95" in text and "out of range" in text


def test_report_json_is_strict_json(reference, fresh, tmp_path) -> None:
    import json

    report = analyse(reference, None, _stored(tmp_path, []), LIMITS)
    payload = json.loads(report.to_json())
    assert payload["features"] == [] and payload["alert"] is False
    assert payload["operations"]["latency_ms"]["p50"] is None


@pytest.mark.parametrize("size", [10_000, 60_000, 400_000])
def test_the_large_sample_ks_p_value_stays_within_three_percent_of_the_exact_law(size: int) -> None:
    from scipy import stats

    from credit_scoring.monitoring.sketches import ks_p_value

    for p_exact in (0.5, 0.05, 1e-3, 1e-6):
        statistic = float(stats.kstwo.isf(p_exact, size))
        assert ks_p_value(statistic, size) == pytest.approx(p_exact, rel=0.03)
