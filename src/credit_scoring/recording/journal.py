"""The write-ahead decision journal: append-only segment files, one unbuffered write per record.

Each API worker appends to its own segments (``<writer>-<seq>.wal``, ``writer`` = host-pid-random) with one
``os.write`` per record, before the answer is sent: the record is then in the page cache and survives a
SIGKILL of the worker (a Python-level buffer would not). A background thread fsyncs on an interval (power
loss then costs at most that interval), retires rotated segments and measures the journal against its
bound. A writer holds a shared ``flock`` on each segment it may still append to: the ingest knows a segment
is sealed (rotated, or its writer gone, however it died) when it can take the lock exclusively.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

from credit_scoring.errors import UnavailableError
from credit_scoring.recording.protocol import (
    FRAME_HEADER,
    SEGMENT_NAME_SUFFIX,
    FailurePolicy,
    JournalEntry,
    JournalLag,
    SegmentProgress,
    WriterStats,
)
from credit_scoring.settings import MonitoringSettings

logger = logging.getLogger(__name__)

SEGMENT_SUFFIX = SEGMENT_NAME_SUFFIX
CHECKPOINT_FILE = "checkpoint.json"
RETRY_AFTER_FAILURE_S = 1.0  # after a failed append, requests are refused before scoring for this long


class JournalUnavailable(UnavailableError):
    """The journal cannot take a record (disk full, unwritable, bound reached): the decision is not logged."""


def default_writer_id() -> str:
    """host-pid-random: unique per process, even when a restarted worker reuses a pid."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def segments(directory: Path) -> list[Path]:
    """The journal's segment files, oldest name first within each writer."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.endswith(SEGMENT_SUFFIX))


def is_sealed(path: Path) -> bool:
    """Whether no writer may append to the segment any more (no process holds its shared lock)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases the lock taken just to look


class JournalWriter:
    """Appends journal frames for one worker; rotation by size and age, fsync and bound in the background."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int,
        segment_age_s: float,
        fsync_interval_s: float,
        max_bytes: int,
        policy: FailurePolicy = "refuse",
        writer_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.segment_bytes, self.segment_age_s = segment_bytes, segment_age_s
        self.fsync_interval_s, self.max_bytes = fsync_interval_s, max_bytes
        self.policy: FailurePolicy = policy
        self.writer_id = writer_id or default_writer_id()
        self._clock = clock
        self._fd: int | None = None
        self._segment: str | None = None
        self._seq = 0
        self._size = 0
        self._rotate_at = 0.0
        self._retired: list[int] = []  # rotated segments' fds, fsynced and closed by the background thread
        self._lock = threading.Lock()
        self._full: str | None = None  # set by the background thread while the bound is reached
        self._error: str | None = None
        self._failed_at = -RETRY_AFTER_FAILURE_S
        self.appended = self.appended_bytes = self.unrecorded = self.refused = 0
        self._stop = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name="journal-fsync", daemon=True)

    @classmethod
    def from_settings(cls, settings: MonitoringSettings, writer_id: str | None = None) -> JournalWriter:
        """A writer on the configured journal, not started: call :meth:`start`."""
        return cls(
            settings.journal_path,
            segment_bytes=settings.journal_segment_mb << 20,
            segment_age_s=settings.journal_segment_age_s,
            fsync_interval_s=settings.journal_fsync_interval_s,
            max_bytes=settings.journal_max_mb << 20,
            policy=settings.journal_failure_policy,
            writer_id=writer_id,
        )

    def start(self) -> JournalWriter:
        """Start the fsync thread; the first segment is created by the first append."""
        self._measure()
        self._syncer.start()
        return self

    # --- the request's path ---------------------------------------------------------------------

    def append(self, frame: bytes) -> None:
        """Write one frame with one unbuffered ``os.write``; :class:`JournalUnavailable` when it cannot."""
        if self._full is not None:
            raise self._failed(self._full)
        if self._fd is None or self._size >= self.segment_bytes or self._clock() >= self._rotate_at:
            self._rotate()
        try:
            written = os.write(self._fd, frame)  # type: ignore[arg-type]
        except OSError as error:
            raise self._failed(f"cannot write {self._segment}: {error.strerror or error}") from None
        if written != len(frame):  # a full disk took part of the frame: cut it off, keep the segment whole
            os.ftruncate(self._fd, self._size)  # type: ignore[arg-type]
            raise self._failed(f"no space left for {self._segment}")
        self._size += written
        self.appended += 1
        self.appended_bytes += written
        self._error = None

    def record(self, entry: JournalEntry) -> None:
        """Append one request's entry (see :meth:`append`)."""
        self.append(entry.encode())

    def refusing(self) -> bool:
        """Whether a request should be refused before scoring: the journal failed a moment ago."""
        return self.policy == "refuse" and (
            self._full is not None or self._clock() - self._failed_at < RETRY_AFTER_FAILURE_S
        )

    def _failed(self, why: str) -> JournalUnavailable:
        if self._error is None:
            logger.error("decision journal unavailable", extra={"reason": why, "policy": self.policy})
        self._error, self._failed_at = why, self._clock()
        return JournalUnavailable(why)

    def _rotate(self) -> None:
        """Open the next segment (locked before it gets its name, so the ingest never sees it unlocked)."""
        self._seq += 1
        name = f"{self.writer_id}-{self._seq:06d}{SEGMENT_SUFFIX}"
        partial = self.directory / f".{name}.new"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
            os.rename(partial, self.directory / name)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            why = f"cannot create a segment in {self.directory}: {error.strerror or error}"
            raise self._failed(why) from None
        previous, self._fd, self._segment, self._size = self._fd, fd, name, 0
        self._rotate_at = self._clock() + self.segment_age_s
        if previous is not None:
            with self._lock:
                self._retired.append(previous)

    # --- background -----------------------------------------------------------------------------

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval_s):
            self.sync()
            self._measure()

    def sync(self) -> None:
        """fsync the current segment, then fsync and close the retired ones (which seals them)."""
        with self._lock:
            retired, self._retired = self._retired, []
        current = self._fd
        for fd in [*retired, current]:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.fsync(fd)
        for fd in retired:
            os.close(fd)

    def _measure(self) -> None:
        used = journal_bytes(self.directory)
        self._full = (
            f"journal bound reached ({used >> 20} MiB of {self.max_bytes >> 20})"
            if (used >= self.max_bytes)
            else None
        )

    def close(self) -> None:
        """Stop the thread, fsync and close every segment (they become sealed)."""
        self._stop.set()
        if self._syncer.is_alive():
            self._syncer.join()
        self.sync()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def stats(self) -> WriterStats:
        return WriterStats(
            policy=self.policy,
            available=not self.refusing() and self._error is None,
            error=self._error or self._full,
            appended=self.appended,
            appended_bytes=self.appended_bytes,
            unrecorded=self.unrecorded,
            refused=self.refused,
            segment=self._segment,
        )


def journal_bytes(directory: Path) -> int:
    """Bytes the journal's segments take on disk."""
    total = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(directory) as found:
        for entry in found:
            if entry.name.endswith(SEGMENT_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size
    return total


# --- reading -------------------------------------------------------------------------------------


def iter_frames(chunk: bytes | memoryview) -> Iterator[tuple[int, memoryview]]:
    """``(end offset, payload)`` of each whole, CRC-checked frame at the start of ``chunk``; stops at the
    first incomplete or damaged one (a torn tail, or a frame still being written)."""
    view, offset, header = memoryview(chunk), 0, FRAME_HEADER.size
    while offset + header <= len(view):
        size, crc = FRAME_HEADER.unpack_from(view, offset)
        end = offset + header + size
        if end > len(view):
            return
        payload = view[offset + header : end]
        if zlib.crc32(payload) != crc:
            return
        yield end, payload
        offset = end


def read_chunk(path: Path, offset: int, max_bytes: int) -> bytes:
    """Up to ``max_bytes`` of a segment from ``offset`` (empty when gone)."""
    try:
        with path.open("rb", buffering=0) as file:
            file.seek(offset)
            return file.read(max_bytes)
    except FileNotFoundError:
        return b""


# --- checkpoint ----------------------------------------------------------------------------------


def read_checkpoint(directory: Path) -> dict[str, SegmentProgress]:
    """The ingest's progress per segment (empty before the first checkpoint)."""
    try:
        saved = json.loads((directory / CHECKPOINT_FILE).read_text())
    except (FileNotFoundError, NotADirectoryError):
        return {}
    return {name: SegmentProgress(**progress) for name, progress in saved["segments"].items()}


def write_checkpoint(directory: Path, progress: dict[str, SegmentProgress]) -> None:
    """Replace the checkpoint atomically (write, fsync, rename): a crash leaves the old or the new one."""
    path, partial = directory / CHECKPOINT_FILE, directory / f".{CHECKPOINT_FILE}.new"
    payload = json.dumps({"segments": {name: asdict(p) for name, p in progress.items()}}).encode()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)


def journal_lag(directory: Path, now: float | None = None) -> JournalLag:
    """What the journal holds beyond the checkpoint: bytes, estimated records, age of the oldest record."""
    progress, now = read_checkpoint(directory), now if now is not None else time.time()
    sizes = {p.name: _size(p) for p in segments(directory)}
    pending = {name: size - progress.get(name, SegmentProgress()).stored for name, size in sizes.items()}
    pending = {name: left for name, left in pending.items() if left > 0}
    firsts = [
        _first_frame(directory / name, progress.get(name, SegmentProgress()).stored) for name in pending
    ]
    known = [first for first in firsts if first is not None]
    stored_bytes = sum(p.stored for p in progress.values())
    stored_records = sum(p.records for p in progress.values())
    # The mean frame of what was ingested, else of the first frames waiting (a batch frame holds many).
    seen = stored_bytes / stored_records if stored_records else None
    frame_bytes = seen or (sum(size for _, size in known) / len(known) if known else 4096.0)
    return JournalLag(
        bytes_on_disk=sum(sizes.values()),
        segments=len(sizes),
        lag_bytes=sum(pending.values()),
        lag_records=round(sum(pending.values()) / frame_bytes),
        lag_seconds=max(0.0, now - min(t for t, _ in known)) if known else 0.0,
        oldest_unconsumed_segment=min(pending, key=lambda n: _mtime(directory / n)) if pending else None,
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _first_frame(path: Path, offset: int) -> tuple[float, int] | None:
    """Time and size of the first whole frame at ``offset`` (None if it is not whole yet)."""
    header = read_chunk(path, offset, FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    size = FRAME_HEADER.unpack(header)[0]
    for _end, payload in iter_frames(read_chunk(path, offset, FRAME_HEADER.size + size)):
        return JournalEntry.decode(payload).timestamp, FRAME_HEADER.size + size
    return None
