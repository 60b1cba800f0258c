"""The write-ahead journal: whole self-checking frames, rotation, sealing, bounds and failures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from credit_scoring.recording.journal import (
    JournalUnavailable,
    JournalWriter,
    is_sealed,
    iter_frames,
    journal_lag,
    read_checkpoint,
    read_chunk,
    segments,
    write_checkpoint,
)
from credit_scoring.recording.protocol import Answer, JournalEntry, SegmentProgress

BODY = b'{"application": {"AMT_CREDIT": 1000.0}}'


def entry(index: int = 0, body: bytes | None = BODY) -> JournalEntry:
    answer = Answer(f"id{index}", 0.25, "grant", 0.4, 0.05)
    return JournalEntry("score", "credit-scoring", "3", 200, None, 1.5, 1_700_000_000.0 + index, f"id{index}",
                        [answer], body)  # fmt: skip


def writer(directory: Path, **options) -> JournalWriter:
    settings = {"segment_bytes": 1 << 20, "segment_age_s": 60.0, "fsync_interval_s": 0.05,
                "max_bytes": 1 << 30} | options  # fmt: skip
    return JournalWriter(directory, **settings).start()


def read_all(directory: Path) -> list[JournalEntry]:
    chunks = [read_chunk(segment, 0, 1 << 30) for segment in segments(directory)]
    return [JournalEntry.decode(payload) for chunk in chunks for _, payload in iter_frames(chunk)]


def test_an_entry_survives_its_frame_unchanged() -> None:
    for original in (
        entry(3),
        entry(4, body=None),
        entry(5)._replace(answers=[], status=400, error_kind="validation"),
    ):
        (_end, payload), *rest = list(iter_frames(original.encode()))
        assert JournalEntry.decode(payload) == original and not rest


def test_appended_records_are_read_back_in_order(tmp_path: Path) -> None:
    journal = writer(tmp_path)
    for i in range(50):
        journal.record(entry(i))
    journal.close()
    assert [e.request_id for e in read_all(tmp_path)] == [f"id{i}" for i in range(50)]
    assert journal.stats().appended == 50 and oct(segments(tmp_path)[0].stat().st_mode)[-3:] == "600"


def test_segments_rotate_by_size_and_only_the_current_one_is_unsealed(tmp_path: Path) -> None:
    journal = writer(tmp_path, segment_bytes=2_000)
    for i in range(40):
        journal.record(entry(i))
    journal.sync()  # closes the retired segments: sealed
    found = segments(tmp_path)
    assert len(found) >= 3 and [is_sealed(s) for s in found] == [True] * (len(found) - 1) + [False]
    journal.close()
    assert is_sealed(found[-1]) and len(read_all(tmp_path)) == 40


def test_segments_rotate_by_age(tmp_path: Path) -> None:
    now = [0.0]
    journal = JournalWriter(tmp_path, segment_bytes=1 << 20, segment_age_s=5.0, fsync_interval_s=1.0,
                            max_bytes=1 << 30, clock=lambda: now[0])  # fmt: skip
    journal.record(entry(1))
    now[0] = 6.0
    journal.record(entry(2))
    assert len(segments(tmp_path)) == 2
    journal.close()


def test_a_torn_or_damaged_tail_is_not_read(tmp_path: Path) -> None:
    frames = entry(1).encode() + entry(2).encode()
    torn = frames + entry(3).encode()[:-7]
    assert len(list(iter_frames(torn))) == 2
    damaged = bytearray(frames + entry(3).encode())
    damaged[-3] ^= 0xFF
    assert len(list(iter_frames(bytes(damaged)))) == 2


def test_a_killed_writer_leaves_whole_frames_and_a_sealed_segment(tmp_path: Path) -> None:
    """SIGKILL right after the appends: the frames are in the page cache, the lock dies with the process."""
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_recording_journal import entry, writer
from pathlib import Path
journal = writer(Path({str(tmp_path)!r}), fsync_interval_s=3600)
for i in range(200):
    journal.record(entry(i))
os.kill(os.getpid(), signal.SIGKILL)
"""
    process = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert process.returncode == -9
    assert all(is_sealed(s) for s in segments(tmp_path)) and len(read_all(tmp_path)) == 200


def test_the_bound_refuses_appends_and_says_why(tmp_path: Path) -> None:
    journal = writer(tmp_path, max_bytes=3_000, fsync_interval_s=0.02)
    with pytest.raises(JournalUnavailable, match="bound reached"):
        for i in range(100):
            journal.record(entry(i))
            time.sleep(0.005)
    stats = journal.stats()
    assert journal.refusing() and not stats.available and "bound" in (stats.error or "")
    journal.close()


def test_an_unwritable_journal_raises_and_recovers_when_writable_again(tmp_path: Path) -> None:
    blocker = tmp_path / "journal"
    blocker.write_text("a file where the journal's folder should be")
    journal = writer(blocker)
    with pytest.raises(JournalUnavailable, match="cannot create a segment"):
        journal.record(entry(1))
    assert journal.refusing() and journal.stats().error
    blocker.unlink()
    journal._failed_at = -10.0  # the retry pause has passed
    journal.record(entry(2))
    assert journal.stats().available and not journal.refusing()
    journal.close()


def test_count_policy_never_refuses_before_scoring(tmp_path: Path) -> None:
    blocker = tmp_path / "journal"
    blocker.write_text("not a folder")
    journal = writer(blocker, policy="count")
    with pytest.raises(JournalUnavailable):
        journal.record(entry(1))
    assert not journal.refusing()
    journal.close()


def test_checkpoint_round_trip_and_lag(tmp_path: Path) -> None:
    journal = writer(tmp_path)
    for i in range(10):
        journal.record(entry(i))
    journal.close()
    (segment,) = segments(tmp_path)
    frame = len(entry(0).encode())
    write_checkpoint(tmp_path, {segment.name: SegmentProgress(stored=4 * frame, profiled=0, records=4)})
    assert read_checkpoint(tmp_path)[segment.name].records == 4
    lag = journal_lag(tmp_path, now=1_700_000_100.0)
    assert (lag.lag_records, lag.lag_bytes) == (6, 6 * frame)
    assert lag.lag_seconds == pytest.approx(96.0) and lag.oldest_unconsumed_segment == segment.name
    assert lag.bytes_on_disk == os.path.getsize(segment)
