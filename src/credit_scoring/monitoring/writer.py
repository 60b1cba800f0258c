"""The request logger: a bounded queue and one thread that batches records into the store.

It runs in each API worker's logger process (``logger_process``). Its callers only call
:meth:`RequestLogger.submit`, a non-blocking ``put_nowait``: a full queue drops the record (counted,
warned) instead of waiting, and a failing store is counted and logged in the background thread, never
raised to the caller. Records a failed write could not store are kept and written again at the next
flush (up to the queue's capacity), so a store that is down for a while loses nothing; only what is
still unwritten at shutdown, or beyond that capacity, is given up.
The same thread feeds the batches to the window profiler, rolls windows, and erases raw inputs past the
retention period.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from credit_scoring.monitoring.config import MonitoringSettings
from credit_scoring.monitoring.records import RequestRecord
from credit_scoring.monitoring.store import ReopeningStore, RequestStore
from credit_scoring.monitoring.window_profiles import WindowProfiler

logger = logging.getLogger(__name__)

_WARN_EVERY_S = 10.0  # one warning per period while records are being dropped, not one per record
# One whylogs call costs ~0.1 s of CPU for the 123 columns whatever its row count, on top of ~20 us per row:
# profiling 10,000 rows at a time instead of 1,000 takes the cost per request from ~150 us to ~65 us (measured
# with thread CPU time). Checkpoints still profile the rows buffered so far, so profiles on disk stay fresh.
PROFILE_BUFFER_ROWS = 10_000


@dataclass(frozen=True)
class LoggerStats:
    """Counters of the request logger, e.g. for ``/metrics`` or a ``/monitoring`` endpoint."""

    submitted: int
    written: int
    dropped: int
    write_errors: int
    failed_records: int
    awaiting_retry: int
    profile_errors: int
    profiled: int
    purged: int
    queue_depth: int
    queue_capacity: int
    running: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FlushMarker:
    """Queued behind the records to flush; ``done`` is set once they are written."""

    def __init__(self, profiles: bool) -> None:
        self.profiles = profiles
        self.done = threading.Event()


class StopMarker:
    """Queued last by ``close``: write what is left, then stop."""


Item = TypeVar("Item")


class RecordIntake(Generic[Item]):
    """The request path's side of a logger: a bounded queue that never blocks, and its counters."""

    def __init__(self, queue_size: int, counters: tuple[str, ...], clock: Callable[[], float]) -> None:
        self._clock = clock
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("submitted", "dropped", *counters), 0)
        self._closed = False
        self._last_warning = -_WARN_EVERY_S

    def _add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def submit(self, record: Item, *, wait: bool = False) -> bool:
        """Queue one record, by default without ever blocking; False (and counted as dropped) if it cannot
        be kept. ``wait`` blocks until there is room instead (the logger process: back-pressure)."""
        count = self._records_in(record)
        self._add("submitted", count)
        if not self._closed:
            try:
                self._queue.put(record, block=wait)
                return True
            except queue.Full:
                pass
        self._add("dropped", count)
        self._warn_dropped()
        return False

    def _records_in(self, item: Item) -> int:
        """How many records an item counts for (an answered batch is many)."""
        return 1

    def _warn_dropped(self) -> None:
        now = self._clock()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            reason = "logger closed" if self._closed else "queue full"
            logger.warning("request records dropped", extra={"reason": reason, **self.stats().as_dict()})

    def flush(self, timeout: float = 30.0, *, profiles: bool = False) -> bool:
        """Wait until every record submitted so far is written (and, if asked, open profiles too)."""
        if not self._consuming():
            return self._queue.empty()
        marker = FlushMarker(profiles)
        self._queue.put(marker, timeout=timeout)
        return marker.done.wait(timeout)

    def _consuming(self) -> bool:
        """Whether a thread is taking records off the queue."""
        raise NotImplementedError

    def stats(self) -> LoggerStats:
        raise NotImplementedError


class RequestLogger(RecordIntake[RequestRecord]):
    """Writes submitted records to a store in batches (by size or interval) from a daemon thread."""

    def __init__(
        self,
        store: RequestStore,
        profiler: WindowProfiler | None = None,
        *,
        queue_size: int = 10_000,
        batch_size: int = 256,
        flush_interval_s: float = 1.0,
        checkpoint_interval_s: float = 30.0,
        retention_days: float | None = None,
        purge_interval_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.profiler = profiler
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.checkpoint_interval_s = checkpoint_interval_s
        self.retention_days = retention_days
        self.purge_interval_s = purge_interval_s
        counters = ("written", "write_errors", "failed_records", "profile_errors", "purged")
        super().__init__(queue_size, counters, clock)
        self._thread: threading.Thread | None = None
        self._last_write_error = -_WARN_EVERY_S
        self._unwritten: list[RequestRecord] = []  # only touched by the background thread

    @classmethod
    def from_settings(cls, settings: MonitoringSettings, *, worker: str | None = None) -> RequestLogger:
        """A logger on the configured store (opened lazily, reopened after failures) and profile folder,
        not started: call :meth:`start`."""
        profiler = WindowProfiler(
            settings.profiles_path,
            worker=worker,
            window_minutes=settings.window_minutes,
            buffer_rows=PROFILE_BUFFER_ROWS,
        )
        return cls(
            ReopeningStore(settings.store_url),  # type: ignore[arg-type]
            profiler,
            queue_size=settings.queue_size,
            batch_size=settings.batch_size,
            flush_interval_s=settings.flush_interval_s,
            checkpoint_interval_s=settings.checkpoint_interval_s,
            retention_days=settings.retention_days,
        )

    def start(self) -> RequestLogger:
        """Start the background thread (idempotent); returns self for chaining."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="request-logger", daemon=True)
            self._thread.start()
        return self

    def __enter__(self) -> RequestLogger:
        return self.start()

    def _consuming(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self, timeout: float = 30.0) -> bool:
        """Stop accepting records, write everything queued and the open profiles; True when all done."""
        self._closed = True
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="request-logger", daemon=True)
            self._thread.start()
        if self._thread.is_alive():
            self._queue.put(StopMarker(), timeout=timeout)
            self._thread.join(timeout)
        finished = not self._thread.is_alive()
        logger.info("request logger closed", extra=self.stats().as_dict())
        return finished

    def stats(self) -> LoggerStats:
        with self._lock:
            counts = dict(self._counts)
        profiled = self.profiler.rows_profiled if self.profiler is not None else 0
        running = self._thread is not None and self._thread.is_alive()
        depth, capacity = self._queue.qsize(), self._queue.maxsize
        return LoggerStats(
            **counts,
            awaiting_retry=len(self._unwritten),
            profiled=profiled,
            queue_depth=depth,
            queue_capacity=capacity,
            running=running,
        )

    # --- background thread -------------------------------------------------------------------------

    def _run(self) -> None:
        batch: list[RequestRecord] = []
        deadline = self._clock() + self.flush_interval_s
        next_checkpoint = self._clock() + self.checkpoint_interval_s
        next_purge = self._clock()
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - self._clock()))
            except queue.Empty:
                item = None
            if isinstance(item, RequestRecord):
                batch.append(item)
                if len(batch) < self.batch_size:
                    continue
            self._write(batch)
            batch = []
            deadline = self._clock() + self.flush_interval_s
            if isinstance(item, StopMarker):
                self._shutdown()
                return
            next_checkpoint = self._housekeeping(
                next_checkpoint, isinstance(item, FlushMarker) and item.profiles
            )
            next_purge = self._purge_if_due(next_purge)
            if isinstance(item, FlushMarker):
                item.done.set()

    def _write(self, batch: list[RequestRecord]) -> None:
        """Store the batch after the records an earlier write could not store, then profile the batch."""
        pending = self._unwritten + batch
        if not pending:
            return
        try:
            self.store.write(pending)
            self._add("written", len(pending))
            self._unwritten = []
        except Exception as error:  # the store is down or full: count it, keep serving, retry later
            self._add("write_errors")
            self._unwritten = self._keep_for_retry(pending)
            if self._clock() - self._last_write_error >= _WARN_EVERY_S:  # not one line per retry
                self._last_write_error = self._clock()
                logger.error(
                    "request store write failed; records kept for the next attempt",
                    extra={"records": len(pending), "error": repr(error)},
                )
        self._profile(batch)

    def _keep_for_retry(self, records: list[RequestRecord]) -> list[RequestRecord]:
        # Bounded like the queue: past its capacity the oldest records are given up, not memory.
        given_up = max(0, len(records) - self._queue.maxsize)
        self._add("failed_records", given_up)
        return records[given_up:]

    def _profile(self, batch: list[RequestRecord]) -> None:
        if self.profiler is None:
            return
        try:
            self.profiler.add(batch)
        except Exception as error:  # a profiling bug must not stop the records from being stored
            self._add("profile_errors")
            logger.error("profiling failed", extra={"records": len(batch), "error": repr(error)})

    def _housekeeping(self, next_checkpoint: float, force: bool) -> float:
        if self.profiler is None:
            return next_checkpoint
        try:
            self.profiler.roll()
            if force or self._clock() >= next_checkpoint:
                self.profiler.checkpoint()
                return self._clock() + self.checkpoint_interval_s
        except Exception as error:
            self._add("profile_errors")
            logger.error("writing profiles failed", extra={"error": repr(error)})
        return next_checkpoint

    def _purge_if_due(self, next_purge: float) -> float:
        if self.retention_days is None or self._clock() < next_purge:
            return next_purge
        try:
            self._add("purged", self.store.purge_inputs_older_than(self.retention_days))
        except Exception as error:
            logger.error("retention purge failed", extra={"error": repr(error)})
        return self._clock() + self.purge_interval_s

    def _shutdown(self) -> None:
        # Records a racing submit slipped in after the stop marker are still written.
        leftovers: list[RequestRecord] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, RequestRecord):
                leftovers.append(item)
            elif isinstance(item, FlushMarker):
                item.done.set()
        for start in range(0, len(leftovers), self.batch_size):
            self._write(leftovers[start : start + self.batch_size])
        self._write([])  # one last attempt for the records kept after failed writes
        if self._unwritten:
            self._add("failed_records", len(self._unwritten))
            logger.error("request records not written at shutdown", extra={"records": len(self._unwritten)})
            self._unwritten = []
        if self.profiler is not None:
            try:
                self.profiler.close()
            except Exception as error:
                self._add("profile_errors")
                logger.error("writing profiles at shutdown failed", extra={"error": repr(error)})
