"""Monitor computations: time ranges, charts over time, score distribution, drift table, health, headline."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.monitoring import dashboard as board
from credit_scoring.monitoring.drift import FeatureDrift
from credit_scoring.monitoring.profiles import build_profile, read_profile
from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.recording.store import ParquetStore
from credit_scoring.settings import AlertThresholds
from tests.support.monitor_data import FilledStore, fill_monitoring_store
from tests.support.recording import write_records

LIMITS = AlertThresholds()
NOW = datetime(2026, 1, 22, 12, 0, 0, tzinfo=UTC)


def _record(second: float, status: int = 200, **fields) -> RequestRecord:
    values = (
        {"probability": 0.2, "decision": "grant", "threshold": 0.3, "inference_ms": 0.5}
        if status < 400
        else {}
    )
    values |= {"error_kind": "validation" if status < 500 else "internal"} if status >= 400 else {}
    values |= fields
    moment = NOW - timedelta(minutes=10) + timedelta(seconds=second)
    version, latency = values.pop("version", "1"), values.pop("latency", 5.0)
    return RequestRecord("score", "credit-scoring", version, status, latency, timestamp=moment, **values)


@pytest.fixture()
def small(tmp_path: Path) -> board.Aggregates:
    """Two minutes: 6 scored requests in the first (one refused), 2 rejected and 1 failure in the second;
    the store's aggregates of the last 15 minutes, charted per minute."""
    records = [_record(s, latency=float(s + 1)) for s in range(5)]
    records += [_record(5, probability=0.9, decision="refuse", version="2", inference_ms=2.0, latency=6.0)]
    records += [_record(60 + s, 400) for s in range(2)] + [_record(70, 503)]
    store = ParquetStore(tmp_path / "store")
    write_records(store, records)
    start = NOW - timedelta(minutes=15)
    aggregates = board.load_aggregates(store, start, NOW, None)
    return dataclasses.replace(aggregates, over_time=store.aggregate_operations(start, NOW, 60), bucket_s=60)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    return fill_monitoring_store(tmp_path_factory.mktemp("monitor") / "var", now=NOW, rows=500)


def test_time_ranges_buckets_and_cache_friendly_ends() -> None:
    assert board.time_bounds("last hour", NOW) == (NOW - timedelta(hours=1), NOW)
    assert board.time_bounds("everything", NOW) == (None, NOW)
    with pytest.raises(ValueError, match="unknown time range"):
        board.time_bounds("yesterday", NOW)
    assert board.ceil_time(NOW + timedelta(seconds=1), 30) == NOW + timedelta(seconds=30)
    assert board.ceil_time(NOW, 30) == NOW
    spans = {"last 15 minutes": 10, "last hour": 30, "last 24 hours": 900, "last 7 days": 7200,
             "last 30 days": 21600}  # fmt: skip
    for label, seconds in spans.items():
        assert board.bucket_seconds(board.time_bounds(label, NOW)[0], NOW) == seconds
    assert board.age_span(900) == "15 min" and board.age_span(21600) == "6 h"
    assert board.profile_range_start(NOW + timedelta(minutes=7, seconds=3), 5) == NOW + timedelta(minutes=5)


def test_a_missing_store_reads_as_empty_and_is_not_created(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "nowhere")
    assert store.count() == 0
    aggregates = board.load_aggregates(store, None, NOW, None)
    assert aggregates.summary["requests"] == 0 and not (tmp_path / "nowhere").exists()
    assert "simulated" in board.empty_records().columns  # what the notebook passes
    # Every computation accepts the empty aggregates, typed like a real read.
    assert board.volume_over_time(aggregates).empty and board.latency_over_time(aggregates).empty
    assert board.inference_over_time(aggregates).empty and board.versions_table(aggregates.versions).empty
    snapshot = board.build_snapshot(aggregates, None, None, LIMITS)
    assert snapshot.empty and snapshot.reasons == [] and board.headline(snapshot, LIMITS)[0].value == "0"


def test_volume_errors_latency_and_decisions_over_time(small: board.Aggregates) -> None:
    volume = board.volume_over_time(small)
    assert volume.to_dict("list") == {
        "scored (2xx)": [6, 0],
        "rejected (4xx)": [0, 2],
        "server errors (5xx)": [0, 1],
    }
    errors = board.error_rate_over_time(small)
    assert errors["rejected %"].tolist() == pytest.approx([0, 200 / 3])
    latency = board.latency_over_time(small)
    assert list(latency.columns) == ["p50", "p95", "p99"] and latency["p50"].iloc[0] == pytest.approx(3.5)
    inference = board.inference_over_time(small)
    assert len(inference) == 1 and inference["p50"].iloc[0] == pytest.approx(0.5)
    decisions = board.refusal_rate_over_time(small)
    assert decisions["refused %"].tolist() == pytest.approx([100 / 6])
    assert decisions["mean score %"].iloc[0] == pytest.approx(100 * (5 * 0.2 + 0.9) / 6)


def test_headline_flags_what_breaks_its_limit(small: board.Aggregates) -> None:
    snapshot = board.build_snapshot(small, None, None, LIMITS)
    metrics = {m.label: m for m in board.headline(snapshot, LIMITS)}
    assert metrics["Requests"].value == "9" and metrics["Requests"].delta == "0.6 per minute"
    assert metrics["Error rate"].value == "33.3%" and metrics["Error rate"].alert
    assert metrics["Latency p95"].value.endswith(" ms") and not metrics["Latency p95"].alert
    assert metrics["Refusal rate"].value == "16.7%" and metrics["Refusal rate"].delta == "threshold 0.300"
    assert metrics["Drifted features"].value == "-"  # no reference: not assessed, not "0"
    assert any("server error rate" in reason for reason in snapshot.reasons)
    relaxed = AlertThresholds(max_client_error_rate=0.5, max_server_error_rate=0.5)
    assert not {m.label: m for m in board.headline(snapshot, relaxed)}["Error rate"].alert


def test_versions_table_lists_each_version_newest_first(small: board.Aggregates) -> None:
    table = board.versions_table(small.versions)
    assert table["version"].tolist() == ["1", "2"]  # v1 also answered the later failures
    assert table.set_index("version")["requests"].to_dict() == {"1": 8, "2": 1}
    assert table.set_index("version").loc["2", "refused %"] == 100.0
    assert table["first seen"].iloc[0] <= table["last seen"].iloc[0]


def test_score_distribution_against_the_reference_sketch() -> None:
    rng = np.random.default_rng(0)
    reference = build_profile(pd.DataFrame({"probability": rng.beta(2, 8, 5000)}))
    production = pd.Series(rng.beta(2, 8, 2000))
    upper = board.score_upper_bound(float(production.quantile(0.99)), reference)
    assert 0.45 <= upper <= 0.7

    def counts(scores: pd.Series, bins: int = 10) -> np.ndarray:  # what the store's histogram query returns
        return np.bincount(np.minimum((scores / (upper / bins)).astype(int), bins - 1), minlength=bins)

    table = board.score_distribution(counts(production), upper, reference)
    assert list(table.columns) == ["production", "reference"] and len(table) == 10
    assert table.sum().to_numpy() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert np.abs(table["production"] - table["reference"]).max() < 0.03
    alone = board.score_distribution(counts(production, board.SCORE_BINS), upper, None)
    assert list(alone.columns) == ["production"] and alone.index[0].startswith("0.000-")
    shifted = board.score_distribution(counts(production + 0.2), upper, reference)
    assert np.abs(shifted["production"] - shifted["reference"]).max() > 0.1


def _feature(column: str, drifted: bool = False, hellinger: float = 0.01, **extra) -> FeatureDrift:
    values = dict(kind="numeric", assessed=True, drifted=drifted, test="ks", statistic=0.1, p_value=0.5,
                  hellinger=hellinger, psi=0.01, reference_rows=1000, production_rows=500,
                  reference_null_rate=0.1, production_null_rate=0.1, null_rate_p_value=0.9,
                  null_rate_changed=False)  # fmt: skip
    return FeatureDrift(column=column, **(values | extra))


def test_drift_table_statuses_colours_and_top_features() -> None:
    features = [
        _feature("AMT_INCOME_TOTAL", drifted=True, hellinger=0.3),
        _feature("EXT_SOURCE_3", hellinger=0.06, null_rate_changed=True, production_null_rate=0.4),
        _feature("DAYS_BIRTH", hellinger=0.02),
        _feature("OWN_CAR_AGE", assessed=False, hellinger=None, test=None),
    ]
    table = board.drift_table(features)
    assert table["status"].tolist() == ["drifted", "missingness changed", "stable", "not assessed"]
    assert table.loc[1, "missing % (production)"] == pytest.approx(40.0)
    html = board.style_drift_table(table, LIMITS).to_html()
    for colour in board.STATUS_COLOURS.values():
        assert colour in html
    assert board.hellinger_colour(0.3, 0.1).endswith(board.STATUS_COLOURS["drifted"])
    assert board.hellinger_colour(0.06, 0.1) != "" and board.hellinger_colour(0.02, 0.1) == ""
    assert board.top_features(features) == ["AMT_INCOME_TOTAL", "EXT_SOURCE_3"]
    calm = [_feature("A", hellinger=0.01), _feature("B", hellinger=0.05), _feature("C", assessed=False)]
    assert board.top_features(calm, n=2) == ["B", "A"]


def test_quality_error_kinds_alerts_and_colours(small: board.Aggregates) -> None:
    snapshot = board.build_snapshot(small, None, None, LIMITS)
    kinds = board.error_kinds_table(snapshot.operations)
    assert dict(zip(kinds["error kind"], kinds["requests"], strict=True)) == {"internal": 1, "validation": 2}
    shown, more = board.split_alerts([f"reason {i}" for i in range(9)], shown=6)
    assert len(shown) == 6 and more == ["reason 6", "reason 7", "reason 8"]
    volume = board.volume_over_time(small)
    assert board.colours(volume) == ["#4c78a8", "#f58518", "#e45756"]
    assert board.age(None, NOW) == "never" and board.age(NOW - timedelta(seconds=42), NOW) == "42 s ago"
    assert board.age(NOW - timedelta(minutes=5), NOW) == "5 min ago"
    assert board.age(NOW - timedelta(hours=5), NOW) == "5.0 h ago"


def test_snapshot_of_a_filled_store_finds_drift_quality_and_health(filled: FilledStore) -> None:
    start, end = NOW - timedelta(minutes=10), NOW  # the drifted half of the traffic (model version 2)
    store = ParquetStore(filled.store_dir)
    production = board.production_profile(filled.profile_dir, start, end, 10)
    reference = read_profile(filled.reference_path)
    aggregates = board.load_aggregates(store, start, end, reference)
    snapshot = board.build_snapshot(aggregates, production, reference, LIMITS, "test reference")
    assert snapshot.operations.requests == filled.records - 500 == 545
    assert snapshot.report is not None and snapshot.profiled_rows == 500
    assert snapshot.operations.model_versions == {"credit-scoring@2": 545}
    statuses = board.drift_table(snapshot.report.features).set_index("feature")["status"]
    assert statuses["DAYS_BIRTH"] == "drifted" and statuses["EXT_SOURCE_3"] == "missingness changed"
    quality = board.quality_table(snapshot.quality)
    assert quality.loc[0, "column"] == "AMT_INCOME_TOTAL" and quality.loc[0, "alert"] == "yes"
    assert any("DAYS_BIRTH" in reason for reason in snapshot.reasons)
    health = board.pipeline_health(1045, aggregates, filled.profile_dir, start, snapshot.profiled_rows)
    assert health.scored_in_range == 500
    assert health.workers == 1 and health.profile_lag == 0 and health.last_record <= NOW
    assert health.last_profile_write is not None
    empty = board.load_aggregates(store, NOW, NOW + timedelta(hours=1), reference)
    later = board.build_snapshot(empty, None, reference, LIMITS)
    assert later.empty and later.report is not None and later.report.features == []
