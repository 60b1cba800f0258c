"""The ingest: journal segments into the store and the window profiles, checkpointed, exactly once.

One pass reads each segment from its checkpointed offset, decodes a batch of whole frames (one segment,
one day), writes it to the store under a name derived from its frames (``BatchId``) and only then moves
the checkpoint (an atomic rename). A crash between the write and the checkpoint is found on restart: the
store already holds a batch starting there, which is skipped. Profiles are written less often than
batches; the checkpoint also says up to where the profiles on disk go, and a restart profiles again what
lies between (never what the profiles already hold). Segments fully ingested are deleted after a delay.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credit_scoring.monitoring.window_profiles import PROFILED_COLUMNS, WindowProfiler
from credit_scoring.recording.decode import decode_entries
from credit_scoring.recording.journal import (
    is_sealed,
    iter_frames,
    journal_bytes,
    read_checkpoint,
    read_chunk,
    segments,
    write_checkpoint,
)
from credit_scoring.recording.outcomes import drop_outcomes_before
from credit_scoring.recording.protocol import SEGMENT_NAME_SUFFIX, BatchId, JournalEntry, SegmentProgress
from credit_scoring.recording.store import RecordStore, day_of, retention_cutoff
from credit_scoring.schema import APPLICATION_COLUMNS

logger = logging.getLogger(__name__)

STATUS_FILE = "ingest-status.json"
MAX_CHUNK_BYTES = 64 << 20
COMPACT_EVERY_S = 60.0
PURGE_EVERY_S = 3600.0
_WARN_EVERY_S = 10.0
# A column every valid application fills: a scored row without it had no readable inputs.
_REQUIRED_INPUT = next(spec.name for spec in APPLICATION_COLUMNS if not spec.nullable)


@dataclass
class IngestCounters:
    """What this ingest process did since it started (written to the status file for health)."""

    pid: int
    host: str
    stored_records: int = 0
    stored_batches: int = 0
    skipped_batches: int = 0  # found already stored after a crash: not written twice
    torn_bytes: int = 0
    store_errors: int = 0
    last_error: str | None = None
    compacted_files: int = 0
    dropped_days: int = 0
    released_early: int = 0  # stored segments deleted before their retention ended, to make room
    updated_at: float = 0.0


def profile_frame(table: pa.Table) -> pd.DataFrame:
    """The rows to profile: scored applications with their inputs, probability and latencies, by time."""
    scored = pc.and_(pc.less(table.column("status"), 400), pc.is_valid(table.column(_REQUIRED_INPUT)))
    rows = table.filter(scored)
    frame = rows.select(list(PROFILED_COLUMNS)).to_pandas()
    frame.index = pd.DatetimeIndex(rows.column("timestamp").to_pandas(), name="timestamp")
    return frame


class Ingest:
    """Moves journal records into the store and the profiles; one instance per host runs at a time."""

    def __init__(
        self,
        journal_dir: Path,
        store: RecordStore,
        profiler: WindowProfiler | None,
        key: bytes,
        *,
        batch_records: int = 20_000,
        max_delay_s: float = 10.0,
        retention_s: float = 600.0,
        checkpoint_interval_s: float = 30.0,
        compact_min_parts: int = 32,
        retention_days: float | None = None,
        journal_max_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.journal_dir, self.store, self.profiler, self.key = Path(journal_dir), store, profiler, key
        self.batch_records, self.max_delay_s, self.retention_s = batch_records, max_delay_s, retention_s
        self.checkpoint_interval_s, self.compact_min_parts = checkpoint_interval_s, compact_min_parts
        self.retention_days, self._clock = retention_days, clock
        # Above half the journal's bound, stored segments go at once: their retention is a courtesy, room
        # for the next decisions is not (at the bound, the API refuses to score).
        self.pressure_bytes = journal_max_bytes // 2 if journal_max_bytes else None
        self.progress = read_checkpoint(self.journal_dir)
        self.counters = IngestCounters(os.getpid(), socket.gethostname())
        self._verified: set[str] = set()  # segments whose next batch was checked against the store
        self._next_profiles = self._clock() + checkpoint_interval_s
        self._next_compact = self._clock()
        self._next_purge = self._clock()
        self._last_warning = -_WARN_EVERY_S

    # --- one pass -------------------------------------------------------------------------------

    def run_once(self, *, flush: bool = False) -> int:
        """Ingest what the journal holds now; returns how many records were stored. ``flush`` stores
        partial batches at once (shutdown, tests) instead of letting them fill."""
        stored = 0
        for path in segments(self.journal_dir):
            try:
                stored += self._consume(path, flush)
            except Exception as error:  # the store is down: keep the journal, try again next pass
                self._verified.discard(path.name)  # a write may have gone through: look before writing
                self._store_failed(path, error)
                break
        try:
            self._housekeeping(force_profiles=flush)
        except Exception as error:  # e.g. a full disk for the checkpoint: stored records stay stored
            self._store_failed(self.journal_dir / "housekeeping", error)
        # Every pass, whatever failed: health must show a store outage while it lasts, not after it.
        with contextlib.suppress(OSError):  # a full journal disk: written again next pass
            self.write_status()
        return stored

    def _consume(self, path: Path, flush: bool) -> int:
        progress = self.progress.setdefault(path.name, SegmentProgress())
        sealed, stored = is_sealed(path), 0
        while True:
            entries, end = self._next_batch(path, progress.stored)
            if not entries or not (flush or sealed or self._full_or_due(entries)):
                break
            stored += self._store(path, progress, entries, end)
        if sealed and progress.consumed_at is None:
            self._skip_torn_tail(path, progress)
            progress.consumed_at = self._clock()
            write_checkpoint(self.journal_dir, self.progress)
        return stored

    def _next_batch(self, path: Path, offset: int) -> tuple[list[JournalEntry], int]:
        """Whole frames from ``offset``: at most ``batch_records`` records, all of one UTC day."""
        entries: list[JournalEntry] = []
        records, end, day = 0, offset, None
        for frame_end, payload in iter_frames(read_chunk(path, offset, MAX_CHUNK_BYTES)):
            entry = JournalEntry.decode(payload)
            entry_day = day_of(round(entry.timestamp * 1e6))
            if entries and (entry_day != day or records + max(1, len(entry.answers)) > self.batch_records):
                break
            entries.append(entry)
            records, end, day = records + max(1, len(entry.answers)), offset + frame_end, entry_day
        return entries, end

    def _full_or_due(self, entries: Sequence[JournalEntry]) -> bool:
        """Whether an open segment's batch is worth storing now (big enough, or waited long enough)."""
        records = sum(max(1, len(e.answers)) for e in entries)
        return records >= self.batch_records or self._clock() - entries[0].timestamp >= self.max_delay_s

    def _store(self, path: Path, progress: SegmentProgress, entries: list[JournalEntry], end: int) -> int:
        stem = path.name.removesuffix(SEGMENT_NAME_SUFFIX)
        day = day_of(round(entries[0].timestamp * 1e6))
        if path.name not in self._verified:  # first batch of this segment since start: stored before a crash?
            existing = self.store.stored_batch_end(day, stem, progress.stored)
            if existing is not None:
                return self._skip_stored(path, progress, existing)
            self._verified.add(path.name)
        table = decode_entries(entries, self.key)
        self.store.write_batch(BatchId(stem, progress.stored, end), day, table)
        self.counters.stored_records += table.num_rows
        self.counters.stored_batches += 1
        self._advance(progress, end, table)
        return table.num_rows

    def _skip_stored(self, path: Path, progress: SegmentProgress, end: int) -> int:
        """The batch at the checkpoint was stored before a crash, not checkpointed: skip it, profile it."""
        chunk = read_chunk(path, progress.stored, end - progress.stored)
        table = decode_entries([JournalEntry.decode(payload) for _, payload in iter_frames(chunk)], self.key)
        self.counters.skipped_batches += 1
        self._advance(progress, end, table)
        return 0

    def _advance(self, progress: SegmentProgress, end: int, table: pa.Table) -> None:
        """Profile the batch's rows and move the checkpoint past them (only once they are stored)."""
        self._profile(table)
        progress.stored, progress.records = end, progress.records + table.num_rows
        write_checkpoint(self.journal_dir, self.progress)

    def _skip_torn_tail(self, path: Path, progress: SegmentProgress) -> None:
        """Past the last whole frame of a sealed segment lies a frame cut by a crash: skipped, counted."""
        size = path.stat().st_size if path.exists() else progress.stored
        torn = size - progress.stored
        if torn > 0:
            self.counters.torn_bytes += torn
            logger.warning("torn journal tail skipped", extra={"segment": path.name, "bytes": torn})
            progress.stored = size

    def _profile(self, table: pa.Table) -> None:
        if self.profiler is not None:
            self.profiler.add(profile_frame(table))

    def _store_failed(self, path: Path, error: Exception) -> None:
        self.counters.store_errors += 1
        self.counters.last_error = f"{path.name}: {error!r}"[:500]
        if self._clock() - self._last_warning >= _WARN_EVERY_S:  # not one line per pass while it is down
            self._last_warning = self._clock()
            logger.error("store write failed; the journal keeps the records", extra={"error": repr(error)})

    # --- restart --------------------------------------------------------------------------------

    def replay_profiles(self) -> int:
        """Profile again what was stored but not yet in the profiles on disk (after a crash)."""
        replayed = 0
        for path in segments(self.journal_dir):
            progress = self.progress.get(path.name)
            if progress is None or progress.profiled >= progress.stored:
                continue
            chunk = read_chunk(path, progress.profiled, progress.stored - progress.profiled)
            entries = [JournalEntry.decode(payload) for _, payload in iter_frames(chunk)]
            table = decode_entries(entries, self.key)
            self._profile(table)
            replayed += table.num_rows
        return replayed

    # --- housekeeping ---------------------------------------------------------------------------

    def _housekeeping(self, force_profiles: bool = False) -> None:
        now = self._clock()
        if self.profiler is not None:
            self.profiler.roll()
        pressed = self._space_pressed()
        if force_profiles or pressed or now >= self._next_profiles:
            self.checkpoint_profiles()  # a segment is deleted only once its records are in the profiles
            self._next_profiles = now + self.checkpoint_interval_s
        self._delete_consumed(now, pressed)
        if now >= self._next_compact:
            self.counters.compacted_files += self._safely(self.store.compact, self.compact_min_parts)
            self._next_compact = now + COMPACT_EVERY_S
        if self.retention_days is not None and now >= self._next_purge:
            cutoff = retention_cutoff(self.retention_days)
            self.counters.dropped_days += self._safely(self.store.drop_days_before, cutoff)
            self._safely(drop_outcomes_before, self.store, cutoff)  # an outcome goes with its decision
            self._next_purge = now + PURGE_EVERY_S

    def _safely(self, task: Callable[..., int], *args: Any) -> int:
        try:
            return task(*args)
        except Exception as error:  # housekeeping must not stop the records from being stored
            logger.error("store housekeeping failed", extra={"task": task.__name__, "error": repr(error)})
            return 0

    def checkpoint_profiles(self) -> None:
        """Write the open windows' profiles, then record that they hold everything stored so far."""
        if self.profiler is not None:
            self.profiler.checkpoint()
        for progress in self.progress.values():
            progress.profiled = progress.stored
        write_checkpoint(self.journal_dir, self.progress)

    def _space_pressed(self) -> bool:
        """Above half the bound with stored segments to free (while the ingest is behind, e.g. during a store
        outage, there are none: no profile checkpoint every pass for nothing)."""
        if self.pressure_bytes is None or not any(p.consumed_at is not None for p in self.progress.values()):
            return False
        return journal_bytes(self.journal_dir) > self.pressure_bytes

    def _delete_consumed(self, now: float, pressed: bool = False) -> None:
        done = [name for name, p in self.progress.items() if self._expired(p, now, pressed)]
        for name in done:
            (self.journal_dir / name).unlink(missing_ok=True)
            del self.progress[name]
        if done:
            write_checkpoint(self.journal_dir, self.progress)
        if done and pressed:
            self.counters.released_early += len(done)
            logger.warning("journal above half its bound: stored segments deleted before their retention",
                           extra={"segments": len(done), "retention_s": self.retention_s})  # fmt: skip

    def _expired(self, progress: SegmentProgress, now: float, pressed: bool = False) -> bool:
        """Fully stored and profiled, and consumed long enough ago to be deleted (or room is needed)."""
        if progress.consumed_at is None or progress.profiled < progress.stored:
            return False
        return pressed or now - progress.consumed_at >= self.retention_s

    def write_status(self) -> None:
        self.counters.updated_at = self._clock()
        partial = self.journal_dir / f".{STATUS_FILE}.new"
        partial.write_text(json.dumps(asdict(self.counters)))
        partial.replace(self.journal_dir / STATUS_FILE)

    def close(self) -> None:
        """Store what is left (whole frames), write the profiles and the checkpoint (a full journal disk
        may refuse the checkpoint: the next ingest then finds the stored batches and skips them)."""
        self.run_once(flush=True)
        if self.profiler is not None:
            self.profiler.close()
        try:
            self.checkpoint_profiles()
        except OSError as error:
            self._store_failed(self.journal_dir / "checkpoint", error)


def read_status(journal_dir: Path) -> dict[str, Any]:
    """The last status an ingest process wrote (empty before any)."""
    try:
        return json.loads((Path(journal_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):  # none yet, or the journal's folder cannot even be made
        return {}
