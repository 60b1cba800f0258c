"""The request logger in a child process of its own: the API worker only queues and pickles the records.

Storing a record (JSON of 120 inputs, an SQL insert) and profiling it with whylogs cost about 250 µs of
CPU, a fifth of a request, and in the API worker that work holds the GIL (whylogs calls of ~0.1 s stall
the event loop). Each worker therefore starts one child process, ``python -m`` this module, at a lower
CPU priority (``CREDIT_MONITORING_PRIORITY``), which runs the :class:`RequestLogger`: under load the requests
get the cores first and the records wait in bounded queues (full: dropped and counted) until it eases.

Protocol on the child's pipes. The worker writes pickled messages to its stdin: ``("records", [...])``
(records, or answered requests the child completes: ``AnsweredApplication``, ``AnsweredBatch``),
``("flush", marker_id, profiles)``, ``("stop",)``; end of stdin (the worker died) is a stop too. The
child answers JSON lines on its stdout: ``{"stats": {...}}`` twice a second and after every control
message, ``{"flushed": marker_id}``, ``{"stopped": true}``. It ignores SIGINT and SIGTERM: the worker's
shutdown hook says when to stop, after the last records were handed over (see ``logger_child``).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from credit_scoring.monitoring.config import MonitoringSettings
from credit_scoring.monitoring.logger_child import SETTINGS_VARIABLE, STOP_SIGNALS
from credit_scoring.monitoring.logs import configure_json_logging
from credit_scoring.monitoring.records import Submitted, complete_records, records_in
from credit_scoring.monitoring.window_profiles import default_worker_id
from credit_scoring.monitoring.writer import FlushMarker, LoggerStats, RecordIntake, RequestLogger, StopMarker

logger = logging.getLogger(__name__)

# Records travel to the child in bunches: one pickle and one pipe write per bunch, not per record. Every
# bunch wakes this worker's pickling and pipe threads, which then take the GIL from the event loop: 5
# bunches a second rather than 50 (the measurements, and their noise, are in profiling/NOTES_service.md).
SEND_INTERVAL_S = 0.2
STATS_INTERVAL_S = 0.5
RESTART_AFTER_S = 5.0
KEY_VARIABLE = "CREDIT_LOGGER_PROCESS_KEY"  # the worker's pseudonymisation key (answered applications)


def _package_root() -> str:
    """The folder holding the ``credit_scoring`` package (a Bento bundles it under ``src/``)."""
    return str(Path(__file__).resolve().parents[2])


class ProcessRequestLogger(RecordIntake[Submitted]):
    """Used like :class:`RequestLogger` (``submit``, ``flush``, ``close``, ``stats``); the work is done
    by a child process. ``submit`` never blocks: a full queue drops the record and counts it."""

    def __init__(
        self,
        settings: MonitoringSettings,
        *,
        worker: str | None = None,
        pseudonymisation_key: bytes | None = None,
    ) -> None:
        super().__init__(settings.queue_size, ("failed_records",), time.monotonic)
        self.settings = settings
        self.pseudonymisation_key = pseudonymisation_key
        self.worker = worker or default_worker_id()
        self._child: dict[str, Any] = {}
        self._flushes: dict[int, FlushMarker] = {}
        self._stopped = threading.Event()
        self._process: subprocess.Popen | None = None
        self._sender: threading.Thread | None = None
        self._piper: threading.Thread | None = None
        self._restart_at = 0.0
        # Pickled messages waiting for the pipe (a record takes 1-3 KB there, ~7 KB as objects): while the
        # child is kept off the CPU by the requests, the backlog waits here, bounded in bytes.
        self._outbox: collections.deque[tuple[bytes | None, int, FlushMarker | None]] = collections.deque()
        self._outbox_bytes = 0
        self._outbox_records = 0
        self._outbox_ready = threading.Condition(self._lock)
        self.max_outbox_bytes = settings.buffer_mb * 2**20

    # --- life cycle --------------------------------------------------------------------------------

    def start(self) -> ProcessRequestLogger:
        """Start the child process and the thread that feeds it (idempotent); returns self."""
        if self._sender is None:
            self._spawn()
            self._sender = threading.Thread(target=self._pickle_loop, name="request-log-pickler", daemon=True)
            self._piper = threading.Thread(target=self._pipe_loop, name="request-log-pipe", daemon=True)
            self._sender.start()
            self._piper.start()
        return self

    def _consuming(self) -> bool:
        return self._sender is not None and self._sender.is_alive()

    def _records_in(self, item: Submitted) -> int:
        return records_in(item)

    def close(self, timeout: float = 30.0) -> bool:
        """Stop accepting records, have the child write everything and exit; True when all was written."""
        self._closed = True
        self.start()
        self._queue.put(StopMarker(), timeout=timeout)
        self._sender.join(timeout)  # type: ignore[union-attr]
        self._piper.join(timeout)  # type: ignore[union-attr]
        stopped = self._stopped.wait(timeout)
        process = self._process
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                stopped = False
        logger.info("request logger process stopped", extra=self.stats().as_dict())
        return stopped and process is not None and process.returncode == 0

    def stats(self) -> LoggerStats:
        """This worker's counters with its child's (the child reports them twice a second)."""
        with self._lock:
            own, child = dict(self._counts), dict(self._child)
        running = self._process is not None and self._process.poll() is None
        return LoggerStats(
            submitted=own["submitted"],
            written=child.get("written", 0),
            dropped=own["dropped"] + child.get("dropped", 0),
            write_errors=child.get("write_errors", 0),
            failed_records=own["failed_records"] + child.get("failed_records", 0),
            awaiting_retry=child.get("awaiting_retry", 0),
            profile_errors=child.get("profile_errors", 0),
            profiled=child.get("profiled", 0),
            purged=child.get("purged", 0),
            queue_depth=self._queue.qsize() + self._outbox_records + child.get("queue_depth", 0),
            queue_capacity=self._queue.maxsize,
            running=running,
        )

    # --- the feeding thread ------------------------------------------------------------------------

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "credit_scoring.monitoring.logger_child", "--worker", self.worker]
        path = os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")]))
        # The settings go by environment, not argv: the store URL may carry a password, and any user can
        # read a process's command line.
        env = os.environ | {"PYTHONPATH": path, SETTINGS_VARIABLE: self.settings.model_dump_json()}
        if self.pseudonymisation_key:  # else the child reads the key from its settings
            env[KEY_VARIABLE] = self.pseudonymisation_key.decode()
        # Started with the stop signals blocked (the mask survives exec) until the child ignores them: one
        # arriving before the child's first line of Python would otherwise kill it. Same session as the
        # worker on purpose: a session of its own is a scheduler autogroup of its own, with a full share of
        # the CPU whatever its niceness (measured: 3 s of CPU in 10 s of saturating load at nice 19).
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        self._stopped.clear()
        threading.Thread(
            target=self._read_loop, args=(self._process.stdout,), name="request-log-reader", daemon=True
        ).start()

    def _pickle_loop(self) -> None:
        while True:
            records, marker = self._next_bunch()
            if records:
                payload = pickle.dumps(("records", records), pickle.HIGHEST_PROTOCOL)
                self._post(payload, sum(map(records_in, records)))
            if isinstance(marker, FlushMarker):
                self._flushes[id(marker)] = marker
                self._post(pickle.dumps(("flush", id(marker), marker.profiles)), flush=marker)
            elif isinstance(marker, StopMarker):
                self._post(pickle.dumps(("stop",)))
                self._post(None)
                return

    def _post(self, payload: bytes | None, records: int = 0, flush: FlushMarker | None = None) -> None:
        """Queue a message for the pipe; records beyond the outbox's size are dropped and counted."""
        with self._outbox_ready:
            size = len(payload or b"")
            if records and self._outbox_bytes + size > self.max_outbox_bytes:
                self._counts["dropped"] += records
                full = True
            else:
                self._outbox.append((payload, records, flush))
                self._outbox_bytes += size
                self._outbox_records += records
                self._outbox_ready.notify()
                full = False
        if full:
            self._warn_dropped()

    def _pipe_loop(self) -> None:
        """Write the outbox to the child's stdin, in order; ``None`` ends it."""
        while True:
            with self._outbox_ready:
                while not self._outbox:
                    self._outbox_ready.wait()
                payload, records, flush = self._outbox.popleft()
                self._outbox_bytes -= len(payload or b"")
                self._outbox_records -= records
            if payload is None:
                self._close_stdin()
                return
            if not self._send(payload, records) and flush is not None:
                flush.done.set()  # no child to answer: do not keep the caller waiting

    def _next_bunch(self) -> tuple[list[Submitted], FlushMarker | StopMarker | None]:
        """The records queued over the next moment, up to the first control marker."""
        first = self._queue.get()
        if isinstance(first, FlushMarker | StopMarker):
            return [], first
        time.sleep(SEND_INTERVAL_S)
        records = [first]
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return records, None
            if isinstance(item, FlushMarker | StopMarker):
                return records, item
            records.append(item)

    def _send(self, payload: bytes, records: int = 0) -> bool:
        for _ in range(2):  # a dead child is restarted once, then the records are counted as lost
            process = self._process
            try:
                process.stdin.write(payload)  # type: ignore[union-attr]
                process.stdin.flush()  # type: ignore[union-attr]
                return True
            except (OSError, ValueError) as error:
                exit_code = process.poll() if process is not None else None
                logger.error(
                    "request logger process unreachable", extra={"error": repr(error), "exit_code": exit_code}
                )
                if not self._restart():
                    break
        self._add("failed_records", records)
        return False

    def _restart(self) -> bool:
        if time.monotonic() < self._restart_at:
            return False
        self._restart_at = time.monotonic() + RESTART_AFTER_S
        self._spawn()
        return True

    def _close_stdin(self) -> None:
        with contextlib.suppress(OSError):  # already closed by a dead child: nothing more to say
            self._process.stdin.close()  # type: ignore[union-attr]

    def _read_loop(self, stdout: IO[bytes]) -> None:
        for line in stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "stats" in message:
                with self._lock:
                    self._child = message["stats"]
            if "flushed" in message:
                marker = self._flushes.pop(message["flushed"], None)
                if marker is not None:
                    marker.done.set()
            if message.get("stopped"):
                self._stopped.set()


# --- the child process -------------------------------------------------------------------------------


class _Replies:
    """JSON lines to the worker, from the main thread and the stats thread alike."""

    def __init__(self, stream: IO[str], request_logger: RequestLogger) -> None:
        self.stream = stream
        self.request_logger = request_logger
        self._lock = threading.Lock()

    def send(self, **message: Any) -> None:
        with self._lock, contextlib.suppress(OSError):  # a worker gone away hears nothing; records still go
            self.stream.write(json.dumps(message) + "\n")
            self.stream.flush()

    def stats(self) -> None:
        self.send(stats=self.request_logger.stats().as_dict())

    def stats_every(self, interval_s: float, stop: threading.Event) -> None:
        while not stop.wait(interval_s):
            self.stats()


def serve(
    requests: IO[bytes],
    replies: _Replies,
    request_logger: RequestLogger,
    stats_interval_s: float,
    pseudonymisation_key: bytes,
) -> None:
    """Hand the worker's records, completed, to the logger until told to stop (or the worker is gone)."""
    stop = threading.Event()
    reporter = threading.Thread(target=replies.stats_every, args=(stats_interval_s, stop), daemon=True)
    reporter.start()
    while True:
        try:
            message: Sequence[Any] = pickle.load(requests)
        except (EOFError, pickle.UnpicklingError):
            message = ("stop",)
        if message[0] == "records":
            for item in message[1]:
                for record in complete_records(item, pseudonymisation_key):
                    request_logger.submit(record, wait=True)  # a full queue holds the pipe, not drops
        elif message[0] == "flush":
            request_logger.flush(profiles=message[2])
            replies.send(flushed=message[1])
        elif message[0] == "stop":
            request_logger.close()
            stop.set()
            replies.stats()
            replies.send(stopped=True)
            return


def _protocol_stdout() -> IO[str]:
    """The real stdout, kept for the protocol; fd 1 then points to stderr, so nothing else can write
    into the protocol (a library printing a warning, say)."""
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The request logger process of one API worker (started by the service, not by hand): "
        f"reads pickled records on stdin, writes them to the store and the window profiles; its settings "
        f"come as JSON in {SETTINGS_VARIABLE}."
    )
    parser.add_argument("--worker", required=True, help="Worker id naming this worker's profile files.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    replies_stream = _protocol_stdout()
    settings = MonitoringSettings.model_validate_json(os.environ[SETTINGS_VARIABLE])
    configure_json_logging(logging.INFO, stream=sys.stderr)
    request_logger = RequestLogger.from_settings(settings, worker=args.worker).start()
    replies = _Replies(replies_stream, request_logger)
    serve(sys.stdin.buffer, replies, request_logger, STATS_INTERVAL_S, pseudonymisation_key())
    return 0


def pseudonymisation_key() -> bytes:
    """The key the worker handed over, else the one its settings read (never an empty key: with no secret
    the pseudonyms of small integer ids could be reversed by trying them all)."""
    handed_over = os.environ.get(KEY_VARIABLE, "")
    if handed_over:
        return handed_over.encode()
    from credit_scoring.settings import get_settings

    return get_settings().pseudonymisation_secret
