"""Window profiles: one file per window and worker, exact merges across both, late records kept."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from credit_scoring.monitoring.window_profiles import (
    ROLLUP_DIR,
    ROLLUP_HOURS,
    WindowProfiler,
    build_rollups,
    list_window_files,
    merge_window_profiles,
    range_pieces,
    window_dir_name,
    window_start,
)
from credit_scoring.recording.ingest import profile_frame
from credit_scoring.recording.protocol import RequestRecord, records_table
from credit_scoring.schema import INPUT_COLUMNS
from tests.unit.monitoring_samples import applications

T0 = datetime(2026, 1, 22, 4, 0, tzinfo=UTC)


def _records(count: int, first_minute: float, seed: int, status: int = 200) -> list[RequestRecord]:
    frame = applications(count, seed=seed)
    return [
        RequestRecord(
            endpoint="score",
            model_name="credit-scoring",
            model_version="1",
            status=status,
            error_kind=None if status == 200 else "validation",
            latency_ms=2.0,
            inference_ms=0.1,
            probability=0.3,
            inputs=row,
            timestamp=T0 + timedelta(minutes=first_minute + index * 0.01),
        )
        for index, row in enumerate(frame.to_dict(orient="records"))
    ]


def _frame(records: list[RequestRecord]):
    """The rows the ingest profiles for these records."""
    return profile_frame(records_table(records))


def _n(view, column: str = "probability") -> int:
    return view.get_column(column).to_summary_dict()["counts/n"]


def test_windows_align_on_the_clock() -> None:
    assert window_start(T0 + timedelta(minutes=7, seconds=3), 5) == T0 + timedelta(minutes=5)
    assert window_dir_name(T0) == "20260122T040000Z"


def test_records_frame_keeps_scored_records_only() -> None:
    frame = _frame(_records(3, 0, seed=1) + _records(2, 0, seed=2, status=422))
    assert len(frame) == 3
    assert list(frame.columns) == [*INPUT_COLUMNS, "probability", "latency_ms", "inference_ms"]
    assert frame["AMT_INCOME_TOTAL"].dtype == "float64" and frame["CODE_GENDER"].dtype == "str"


def test_profiles_merge_across_workers_and_windows(tmp_path: Path) -> None:
    first, second = WindowProfiler(tmp_path, worker="w1"), WindowProfiler(tmp_path, worker="w2")
    first.add(_frame(_records(40, 1, seed=1) + _records(30, 6, seed=2)))  # windows 04:00 and 04:05
    second.add(_frame(_records(20, 2, seed=3) + _records(10, 11, seed=4)))  # windows 04:00 and 04:10
    assert first.roll(now=T0 + timedelta(minutes=6)) == [tmp_path / "20260122T040000Z" / "w1.bin"]
    first.close()
    second.close()
    files = list_window_files(tmp_path)
    assert [(f.start.minute, f.worker) for f in files] == [(0, "w1"), (0, "w2"), (5, "w1"), (10, "w2")]
    windows = {m: merge_window_profiles(tmp_path, T0 + timedelta(minutes=m), T0 + timedelta(minutes=m + 5))
               for m in (0, 5, 10)}  # fmt: skip
    assert {minute: _n(view) for minute, view in windows.items()} == {0: 60, 5: 30, 10: 10}
    assert _n(merge_window_profiles(tmp_path)) == 100
    assert _n(merge_window_profiles(tmp_path, T0 + timedelta(minutes=5), T0 + timedelta(minutes=10))) == 30
    assert _n(merge_window_profiles(tmp_path, T0, T0 + timedelta(minutes=10)), "AMT_INCOME_TOTAL") == 90
    assert merge_window_profiles(tmp_path, T0 + timedelta(hours=1)) is None


def test_checkpoints_rewrite_the_open_window_without_double_counting(tmp_path: Path) -> None:
    profiler = WindowProfiler(tmp_path, worker="w1")
    profiler.add(_frame(_records(10, 0, seed=1)))
    profiler.checkpoint()
    assert _n(merge_window_profiles(tmp_path)) == 10
    profiler.add(_frame(_records(5, 1, seed=2)))
    assert profiler.checkpoint() and not profiler.checkpoint()  # nothing new: nothing rewritten
    assert _n(merge_window_profiles(tmp_path)) == 15


def test_a_late_record_for_a_closed_window_is_added_to_its_file(tmp_path: Path) -> None:
    profiler = WindowProfiler(tmp_path, worker="w1")
    profiler.add(_frame(_records(10, 0, seed=1)))
    profiler.roll(now=T0 + timedelta(hours=1))
    profiler.add(_frame(_records(3, 4, seed=2)))
    profiler.close()
    assert len(list_window_files(tmp_path)) == 1 and _n(merge_window_profiles(tmp_path)) == 13


def test_an_unreadable_file_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profiler = WindowProfiler(tmp_path, worker="w1")
    profiler.add(_frame(_records(4, 0, seed=1)))
    profiler.close()
    (tmp_path / "20260122T040000Z" / "broken.bin").write_bytes(b"not a profile")
    assert _n(merge_window_profiles(tmp_path)) == 4
    assert "skipping unreadable profile" in caplog.text


def test_missing_folder_means_no_profiles(tmp_path: Path) -> None:
    assert list_window_files(tmp_path / "absent") == [] and merge_window_profiles(tmp_path / "absent") is None


def test_a_range_is_cut_into_few_aligned_blocks_that_cover_it_exactly() -> None:
    low, high = T0 - timedelta(days=30, minutes=7), T0 + timedelta(minutes=23)
    pieces = range_pieces(low, high)
    assert pieces[0][0] == low and pieces[-1][1] == high
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))  # contiguous, no overlap
    for start, end, hours in pieces:
        if hours is not None:  # a roll-up block: aligned on its own length from the epoch
            assert int(start.timestamp()) % (hours * 3600) == 0 and end - start == timedelta(hours=hours)
        else:
            assert end - start <= timedelta(hours=1)
    assert len(pieces) <= 2 * len(ROLLUP_HOURS) + 2  # a month reads a few dozen files at most


def test_rolled_up_ranges_count_every_row_and_follow_late_records(tmp_path: Path) -> None:
    profiler = WindowProfiler(tmp_path, worker="w1", window_minutes=60, rollup_every_s=None)
    for hour, rows in enumerate((5, 7, 11, 13)):  # one window in each of four hours
        profiler.add(_frame(_records(rows, 60 * hour, seed=hour)))
    profiler.close()
    now = T0 + timedelta(hours=8)
    assert build_rollups(tmp_path, now) > 0 and build_rollups(tmp_path, now) == 0  # made once, then valid
    made = sorted(p.name for p in (tmp_path / ROLLUP_DIR).glob("*.bin"))
    assert "20260122T040000Z-2h.bin" in made and "20260122T040000Z-4h.bin" in made
    assert _n(merge_window_profiles(tmp_path, T0, T0 + timedelta(hours=4), now=now)) == 36
    middle = merge_window_profiles(tmp_path, T0 + timedelta(hours=1), T0 + timedelta(hours=3), now=now)
    assert _n(middle) == 18
    late = WindowProfiler(tmp_path, worker="w1", window_minutes=60, rollup_every_s=None)
    late.add(_frame(_records(3, 61, seed=9)))  # a late record for the closed 05:00 window
    late.close()
    assert _n(merge_window_profiles(tmp_path, T0, T0 + timedelta(hours=4), now=now)) == 39  # roll-up remade
    assert build_rollups(tmp_path, now) == 1  # the larger block holding the late window, stale too
    assert build_rollups(tmp_path, now) == 0
