"""Production profiles per time window and per worker, written as mergeable whylogs files.

Layout: ``<profile_dir>/<window start, e.g. 20260122T041500Z>/<worker>.bin``. Each worker (service
process) owns its files, so workers never write the same file; the open window is rewritten at every
checkpoint, so the monitor sees recent traffic before the window closes. Profiling happens in the
ingest, on batches of stored rows, never per request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from credit_scoring.monitoring._whylogs import DatasetProfile, DatasetProfileView
from credit_scoring.monitoring.profiles import (
    PROBABILITY_COLUMN,
    merge_profiles,
    new_profile,
    read_profile,
    track_frame,
    write_profile,
)
from credit_scoring.schema import INPUT_COLUMNS

logger = logging.getLogger(__name__)

WINDOW_FORMAT = "%Y%m%dT%H%M%SZ"
LATENCY_COLUMNS: tuple[str, ...] = ("latency_ms", "inference_ms")
PROFILED_COLUMNS: tuple[str, ...] = (*INPUT_COLUMNS, PROBABILITY_COLUMN, *LATENCY_COLUMNS)


def default_worker_id() -> str:
    """host-pid-random: unique per process, even when a restarted process reuses a pid."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def window_start(moment: datetime, minutes: int) -> datetime:
    """Start (UTC) of the window of ``minutes`` holding ``moment``; windows align on the epoch."""
    seconds = minutes * 60
    epoch = int(moment.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def window_dir_name(start: datetime) -> str:
    return start.astimezone(UTC).strftime(WINDOW_FORMAT)


def parse_window_dir(name: str) -> datetime | None:
    """The window start a folder name encodes, or None for anything else."""
    try:
        return datetime.strptime(name, WINDOW_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class _OpenWindow:
    start: datetime
    earlier: DatasetProfileView | None  # what this worker already wrote for the window, if reopened
    frames: list[pd.DataFrame] = field(default_factory=list)
    profile: DatasetProfile = field(default_factory=new_profile)
    dirty: bool = False

    def absorb(self) -> None:
        """Profile the buffered rows in one whylogs call into the window's growing profile."""
        if not self.frames:
            return
        frame = pd.concat(self.frames) if len(self.frames) > 1 else self.frames[0]
        self.frames = []
        track_frame(self.profile, frame)
        self.dirty = True

    def view(self) -> DatasetProfileView:
        current = self.profile.view()
        return current if self.earlier is None else self.earlier.merge(current)


class WindowProfiler:
    """Accumulates scored records into one profile per window and writes them for this worker."""

    def __init__(
        self,
        profile_dir: Path,
        *,
        worker: str | None = None,
        window_minutes: int = 5,
        grace_s: float = 10.0,
        buffer_rows: int = 1000,
        rollup_every_s: float | None = 3600.0,
    ) -> None:
        self.profile_dir = Path(profile_dir)
        self.rollup_every = None if rollup_every_s is None else timedelta(seconds=rollup_every_s)
        self._next_rollup: datetime | None = None
        self.worker = worker or default_worker_id()
        self.window_minutes = window_minutes
        self.grace = timedelta(seconds=grace_s)
        self.buffer_rows = buffer_rows
        self._open: dict[datetime, _OpenWindow] = {}

    def path_for(self, start: datetime) -> Path:
        return self.profile_dir / window_dir_name(start) / f"{self.worker}.bin"

    def add(self, frame: pd.DataFrame) -> int:
        """Queue scored rows (inputs, probability, latencies; a UTC DatetimeIndex) into their windows."""
        if frame.empty:
            return 0
        # Tick floors count from the epoch, as window_start does.
        starts = frame.index.floor(f"{self.window_minutes}min")
        for start, rows in frame.groupby(starts, sort=True):
            window = self._window(pd.Timestamp(start).to_pydatetime())
            window.frames.append(rows.reset_index(drop=True))
            if sum(len(f) for f in window.frames) >= self.buffer_rows:
                window.absorb()
        return len(frame)

    def _window(self, start: datetime) -> _OpenWindow:
        if start not in self._open:
            path = self.path_for(start)
            # A late record for a window this worker already closed: continue from the written file.
            existing = read_profile(path) if path.is_file() else None
            self._open[start] = _OpenWindow(start, existing)
        return self._open[start]

    def checkpoint(self) -> list[Path]:
        """Write every open window that changed (partial profiles the monitor can already read)."""
        return [path for window in self._open.values() if (path := self._write(window)) is not None]

    def roll(self, now: datetime | None = None) -> list[Path]:
        """Write and forget the windows that ended (plus a grace period for records still in flight)."""
        now = now or datetime.now(UTC)
        ended = [s for s in self._open if s + timedelta(minutes=self.window_minutes) + self.grace <= now]
        written = [path for s in ended if (path := self._write(self._open[s])) is not None]
        for start in ended:
            del self._open[start]
        self._refresh_rollups(now)
        return written

    def _refresh_rollups(self, now: datetime) -> None:
        """Every ``rollup_every_s``, roll up the blocks that closed meanwhile, so that the monitor and the
        drift report find them made instead of reading a month of windows at their first long range."""
        if self.rollup_every is None:
            return
        if self._next_rollup is not None and now >= self._next_rollup:
            try:
                build_rollups(self.profile_dir, now)
            except Exception as error:  # roll-ups are a cache: readers make what is missing themselves
                logger.warning("profile roll-ups not made", extra={"error": repr(error)})
        if self._next_rollup is None or now >= self._next_rollup:
            self._next_rollup = now + self.rollup_every

    def close(self) -> list[Path]:
        """Write every open window and forget them all (called when the logger shuts down)."""
        written = self.checkpoint()
        self._open.clear()
        return written

    def _write(self, window: _OpenWindow) -> Path | None:
        window.absorb()
        if not window.dirty:
            return None
        path = self.path_for(window.start)
        view = window.view()
        view.set_dataset_timestamp(window.start)
        write_profile(view, path)
        window.dirty = False
        return path


@dataclass(frozen=True)
class WindowFile:
    """One written profile: its window start, the worker that wrote it, and where it is."""

    start: datetime
    worker: str
    path: Path


def list_window_files(
    profile_dir: Path, start: datetime | None = None, end: datetime | None = None
) -> list[WindowFile]:
    """Profiles of the windows starting in ``[start, end)`` (all when open-ended), oldest first."""
    root = Path(profile_dir)
    if not root.is_dir():
        return []
    found: list[WindowFile] = []
    for folder in sorted(root.iterdir()):
        moment = parse_window_dir(folder.name)
        if moment is None or (start is not None and moment < start) or (end is not None and moment >= end):
            continue
        found += [WindowFile(moment, path.stem, path) for path in sorted(folder.glob("*.bin"))]
    return found


def _read_or_skip(path: Path) -> DatasetProfileView | None:
    try:
        return read_profile(path)
    except Exception as error:  # one unreadable file must not hide every other window
        logger.warning("skipping unreadable profile", extra={"path": str(path), "error": repr(error)})
        return None


def merge_window_profiles(
    profile_dir: Path, start: datetime | None = None, end: datetime | None = None, now: datetime | None = None
) -> DatasetProfileView | None:
    """All production profiles of the range merged into one (None when nothing was profiled).

    Reading a profile costs far more than merging it (about 0.15 s for a day of traffic), so whole closed
    blocks of the range (1, 2, 4, ... 1024 hours, aligned on the epoch) are read from roll-up files that
    merge their windows; a range then reads a few dozen files at most, whatever its length."""
    files = list_window_files(profile_dir, start, end)
    if not files:
        return None
    low = start or files[0].start
    high = end or files[-1].start + timedelta(seconds=1)
    views = [view for piece in range_pieces(low, high) if (view := _piece(profile_dir, files, piece, now))]
    return merge_profiles(views) if views else None


ROLLUP_DIR = "rollups"
ROLLUP_HOURS: tuple[int, ...] = tuple(2**k for k in range(11))  # 1 h to 1024 h (about 43 days)
ROLLUP_GRACE = timedelta(minutes=15)  # a block is rolled up once it ended this long ago (late records)
_HOUR_S = 3600


def range_pieces(low: datetime, high: datetime) -> list[tuple[datetime, datetime, int | None]]:
    """``[low, high)`` cut into the largest epoch-aligned blocks of ROLLUP_HOURS that fit (hours), and
    the partial hours at its edges (None: read their windows one by one)."""
    pieces, moment = [], low
    while moment < high:
        epoch = int(moment.timestamp())
        fits = [h for h in ROLLUP_HOURS if epoch % (h * _HOUR_S) == 0 and moment + timedelta(hours=h) <= high]
        if fits:
            pieces.append((moment, moment + timedelta(hours=max(fits)), max(fits)))
        else:
            boundary = datetime.fromtimestamp(epoch - epoch % _HOUR_S + _HOUR_S, UTC)
            pieces.append((moment, min(boundary, high), None))
        moment = pieces[-1][1]
    return pieces


def build_rollups(profile_dir: Path, now: datetime | None = None) -> int:
    """Make the roll-ups of the closed blocks of the last ROLLUP_HOURS[-1] hours that are missing or stale
    (their halves, down to single hours, come with them); how many top blocks were (re)made."""
    now = now or datetime.now(UTC)
    low = now - timedelta(hours=ROLLUP_HOURS[-1])
    files = list_window_files(profile_dir, low, now)
    made = 0
    for start, end, hours in range_pieces(low, now):
        members = [f for f in files if start <= f.start < end]
        if hours is None or len(members) <= 1 or end + ROLLUP_GRACE > now:
            continue
        if not _stamp_matches(_rollup_path(profile_dir, start, hours), _fingerprint(members)):
            _block(profile_dir, members, start, hours, now)
            made += 1
    return made


def _rollup_path(profile_dir: Path, start: datetime, hours: int) -> Path:
    return Path(profile_dir) / ROLLUP_DIR / f"{window_dir_name(start)}-{hours}h.bin"


def _stamp_matches(path: Path, stamp: str) -> bool:
    try:
        return json.loads(path.with_suffix(".json").read_text()).get("stamp") == stamp and path.is_file()
    except (OSError, ValueError):
        return False


def _piece(
    profile_dir: Path,
    files: list[WindowFile],
    piece: tuple[datetime, datetime, int | None],
    now: datetime | None,
) -> DatasetProfileView | None:
    low, high, hours = piece
    members = [f for f in files if low <= f.start < high]
    if not members:
        return None
    if hours is None:
        return _merged_files(members)
    return _block(profile_dir, members, low, hours, now or datetime.now(UTC))


def _merged_files(members: list[WindowFile]) -> DatasetProfileView | None:
    views = [view for file in members if (view := _read_or_skip(file.path)) is not None]
    return merge_profiles(views) if views else None


def _block(
    profile_dir: Path, members: list[WindowFile], low: datetime, hours: int, now: datetime
) -> DatasetProfileView | None:
    """The merged profile of one aligned block: its roll-up file when still valid, else built from its two
    halves (themselves roll-ups) and saved when the block is closed."""
    if len(members) <= 1:  # one file: reading it costs what reading a roll-up of it would
        return _merged_files(members) if members else None
    closed = low + timedelta(hours=hours) + ROLLUP_GRACE <= now
    path = _rollup_path(profile_dir, low, hours)
    stamp = _fingerprint(members)
    if closed and (cached := _cached_rollup(path, stamp)) is not None:
        return cached
    if hours == 1:
        view = _merged_files(members)
    else:
        middle = low + timedelta(hours=hours // 2)
        early, late = [m for m in members if m.start < middle], [m for m in members if m.start >= middle]
        halves = [
            _block(profile_dir, early, low, hours // 2, now),
            _block(profile_dir, late, middle, hours // 2, now),
        ]
        present = [half for half in halves if half is not None]
        view = merge_profiles(present) if present else None
    if closed and view is not None:
        _save_rollup(path, stamp, view)
    return view


def _fingerprint(members: list[WindowFile]) -> str:
    """What a roll-up was made of (names, sizes, times): a window rewritten later invalidates it."""
    digest = hashlib.sha256()
    for file in members:
        with contextlib.suppress(OSError):
            info = file.path.stat()
            digest.update(
                f"{file.path.parent.name}/{file.path.name}:{info.st_size}:{info.st_mtime_ns};".encode()
            )
    return digest.hexdigest()


def _cached_rollup(path: Path, stamp: str) -> DatasetProfileView | None:
    return _read_or_skip(path) if _stamp_matches(path, stamp) else None


def _save_rollup(path: Path, stamp: str, view: DatasetProfileView) -> None:
    """Write the roll-up, then its stamp (a reader trusts the pair only when the stamp matches); a
    read-only profile folder only costs the next reader the merge again."""
    try:
        write_profile(view, path)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps({"stamp": stamp}))
        partial.replace(path.with_suffix(".json"))
    except OSError as error:
        logger.info("profile roll-up not saved", extra={"path": str(path), "error": repr(error)})
