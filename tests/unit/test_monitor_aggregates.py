"""The monitor's buckets and the store's aggregates: DuckDB over Parquet gives the pandas reference's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.monitoring import dashboard as board
from credit_scoring.recording import queries
from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.recording.store import ParquetStore
from tests.support.recording import write_records

NOW = datetime(2026, 1, 22, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("label", [label for label, span in board.RANGES.items() if span is not None])
def test_every_named_range_charts_between_30_and_200_points(label: str) -> None:
    start, end = board.time_bounds(label, NOW)
    assert start is not None
    points = (end - start).total_seconds() / board.bucket_seconds(start, end)
    assert board.MIN_POINTS <= points <= board.MAX_POINTS, (label, points)


@pytest.mark.parametrize("minutes", [1, 7, 45, 200, 60 * 30, 60 * 24 * 3, 60 * 24 * 45, 60 * 24 * 183])
def test_open_ended_ranges_of_any_length_also_fit(minutes: int) -> None:
    start = NOW - timedelta(minutes=minutes)
    points = minutes * 60 / board.bucket_seconds(start, NOW)
    assert board.MIN_POINTS <= points <= board.MAX_POINTS, (minutes, points)


def test_time_axes_use_a_24_hour_clock_with_dates_across_days() -> None:
    assert board.time_format(NOW - timedelta(hours=6), NOW) == "%H:%M"
    assert board.time_format(NOW - timedelta(days=2), NOW) == "%d %b %H:%M"
    assert board.time_format(datetime(2026, 1, 21, tzinfo=UTC), datetime(2026, 1, 22, tzinfo=UTC)) == "%H:%M"
    assert "%I" not in board.time_format(NOW - timedelta(days=30), NOW)  # never a 12-hour clock


def _records(rng: np.random.Generator) -> list[RequestRecord]:
    """Two days of mixed traffic: two versions, refusals, 4xx and 5xx, some of it simulated history."""
    out = []
    for i in range(600):
        moment = NOW - timedelta(days=2) + timedelta(seconds=float(rng.uniform(0, 2 * 86400)))
        status = int(rng.choice([200, 200, 200, 200, 200, 200, 400, 503]))
        scored = status == 200
        probability = float(rng.beta(2, 8)) if scored else None
        fields = {
            "probability": probability,
            "decision": None if not scored else ("refuse" if probability >= 0.3 else "grant"),
            "threshold": 0.3 if scored else None,
            "inference_ms": float(rng.gamma(2, 0.3)) if scored else None,
            "error_kind": None if scored else ("validation" if status == 400 else "unavailable"),
        }
        version, endpoint = ("1" if i % 3 else "2"), ("/score" if i % 5 else "/score_batch")
        out.append(RequestRecord(endpoint, "credit-scoring", version, status, float(rng.gamma(3, 2.0)),
                                 timestamp=moment, simulated=bool(i % 4 == 0), **fields))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[ParquetStore, pd.DataFrame]:
    store = ParquetStore(tmp_path_factory.mktemp("aggregates") / "store")
    write_records(store, _records(np.random.default_rng(4)))
    return store, store.records(None, None, queries.SUMMARY_INPUTS)


def _close(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value, rel=1e-5), name
        else:
            assert got[name] == value, name


@pytest.mark.parametrize("simulated", [None, False, True])
def test_duckdb_aggregates_equal_the_pandas_reference(
    small_store: tuple[ParquetStore, pd.DataFrame], simulated: bool | None
) -> None:
    store, records = small_store
    start, end = NOW - timedelta(hours=30), NOW
    reference = queries.filtered(
        records[(records["timestamp"] >= start) & (records["timestamp"] < end)], simulated
    )
    assert 50 < len(reference) < 600  # the range cuts the stored days
    _close(store.summary(start, end, simulated), queries.summary_of(reference))
    for column in ("error_kind", "endpoint", "decision"):
        assert store.counts_by(start, end, column, simulated) == queries.counts_of(reference, column)
    pd.testing.assert_frame_equal(store.versions(start, end, simulated), queries.versions_of(reference))
    np.testing.assert_array_equal(store.score_histogram(start, end, 0.6, 12, simulated),
                                  queries.histogram_of(reference, 0.6, 12))  # fmt: skip
    rejected = store.rejected_inputs(start, end, simulated)
    assert len(rejected) == 0  # these refusals carried no inputs


def test_summary_counts_simulated_records_and_span(small_store: tuple[ParquetStore, pd.DataFrame]) -> None:
    store, records = small_store
    summary = store.summary(None, None)
    assert summary["requests"] == 600 and summary["simulated"] == 150
    assert summary["first"] == records["timestamp"].min() and summary["last"] == records["timestamp"].max()
    assert summary["client_errors"] + summary["server_errors"] + summary["scored"] == 600
    assert board.simulated_caption(600, 150).startswith(
        "150 of 600 records of this range (25%) are simulated"
    )
    assert store.summary(NOW + timedelta(days=1), NOW + timedelta(days=2))["requests"] == 0


def test_snapshot_from_aggregates_feeds_every_chart(small_store: tuple[ParquetStore, pd.DataFrame]) -> None:
    store, records = small_store
    start = NOW - timedelta(days=2)
    aggregates = board.load_aggregates(store, start, NOW, None)
    assert board.MIN_POINTS <= len(aggregates.over_time) <= board.MAX_POINTS
    volume = board.volume_over_time(aggregates)
    assert volume.to_numpy().sum() == len(records)
    assert list(volume.columns) == ["scored (2xx)", "rejected (4xx)", "server errors (5xx)"]
    assert not board.latency_over_time(aggregates).empty and not board.inference_over_time(aggregates).empty
    assert board.refusal_rate_over_time(aggregates)["refused %"].between(0, 100).all()
    shares = board.score_distribution(aggregates.scores, aggregates.score_upper, None)["production"]
    assert shares.sum() == pytest.approx(1.0)
    snapshot = board.build_snapshot(aggregates, None, None, board_limits())
    assert snapshot.operations.requests == len(records) and not snapshot.empty
    assert snapshot.operations.model_versions == {"credit-scoring@1": 400, "credit-scoring@2": 200}
    table = board.versions_table(aggregates.versions)
    assert list(table["version"]) == ["1", "2"] or list(table["version"]) == ["2", "1"]


def board_limits():
    from credit_scoring.settings import AlertThresholds

    return AlertThresholds()


def test_pandas_reference_itself_on_hand_made_rows(tmp_path: Path) -> None:
    """The reference is checked against figures worked out by hand, so it can fail on its own."""
    rows = [
        RequestRecord(
            "/score",
            "m",
            "1",
            200,
            float(lat),
            probability=p,
            decision=d,
            threshold=0.3,
            inference_ms=1.0,
            timestamp=NOW - timedelta(minutes=i),
        )
        for i, (lat, p, d) in enumerate([(1, 0.1, "grant"), (3, 0.5, "refuse"), (5, 0.2, "grant")])
    ]
    rows.append(RequestRecord("/score", "m", "1", 400, 9.0, error_kind="validation", timestamp=NOW))
    store = ParquetStore(tmp_path / "store")
    write_records(store, rows)
    summary = store.summary(None, NOW + timedelta(minutes=1))
    assert summary["requests"] == 4 and summary["scored"] == 3 and summary["client_errors"] == 1
    assert summary["latency_p50"] == pytest.approx(4.0) and summary["mean_probability"] == pytest.approx(
        0.8 / 3
    )
    assert list(store.score_histogram(None, None, 0.6, 3)) == [1, 1, 1]


def test_the_drift_report_counts_simulated_records(small_store: tuple[ParquetStore, pd.DataFrame]) -> None:
    from credit_scoring.monitoring.drift import stored_operations
    from credit_scoring.monitoring.report import _operations_lines  # the report's operations table

    store, _records_frame = small_store
    operations = stored_operations(store, None, None)
    assert operations.simulated == 150 and operations.requests == 600
    assert "| simulated (make backfill) | 150 (25%) |" in _operations_lines_of(operations, _operations_lines)


def _operations_lines_of(operations, render) -> list[str]:
    from types import SimpleNamespace

    return render(SimpleNamespace(operations=operations))
