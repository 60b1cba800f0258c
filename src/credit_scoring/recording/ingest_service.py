"""The ingest process's work: wait for the host's ingest lock, then ingest until told to stop."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from credit_scoring.cli import CommandApp
from credit_scoring.monitoring.logs import configure_json_logging
from credit_scoring.monitoring.window_profiles import WindowProfiler
from credit_scoring.recording.ingest import Ingest
from credit_scoring.recording.ingest_process import KEY_VARIABLE, SETTINGS_VARIABLE
from credit_scoring.recording.store import RecordStore, open_store
from credit_scoring.settings import MonitoringSettings

logger = logging.getLogger(__name__)

LOCK_FILE = "ingest.lock"
LOCK_POLL_S = 0.5
STORE_RETRY_S = 5.0
# One whylogs call costs ~0.1 s of CPU whatever its row count: rows are profiled 10,000 at a time.
PROFILE_BUFFER_ROWS = 10_000


class ReopeningStore:
    """The configured store, opened on first use and again after a failure (a database server down at
    start-up must not stop the ingest: its writes fail, the journal keeps the records, it retries)."""

    def __init__(self, settings: MonitoringSettings) -> None:
        self.settings = settings
        self._store: RecordStore | None = None
        self._retry_at = 0.0

    def __getattr__(self, name: str) -> Any:
        if self._store is None:
            if time.monotonic() < self._retry_at:
                raise ConnectionError(f"store {self.settings.store_location} unavailable; retrying shortly")
            try:
                self._store = open_store(self.settings)
            except Exception:
                self._retry_at = time.monotonic() + STORE_RETRY_S
                raise
        return getattr(self._store, name)


def watch_for_stop(stream: IO[bytes], stop: threading.Event) -> None:
    """A line on stdin, or its end (the worker is gone), means stop."""
    stream.readline()
    stop.set()


def take_host_lock(journal_dir: Path, stop: threading.Event) -> int | None:
    """Wait for the host's ingest lock (one ingest at a time); None when told to stop while another
    process holds it (told to stop with the lock free, it still takes it: to store what is left)."""
    journal_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(journal_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if stop.wait(LOCK_POLL_S):
                os.close(fd)
                return None


def ingest_until_stopped(settings: MonitoringSettings, key: bytes, stop: threading.Event) -> None:
    """Resume from the checkpoint, then ingest at every interval until ``stop``; store what is left."""
    # Named after the host, not the process: whichever process takes over continues the same files.
    profiler = WindowProfiler(settings.profiles_path, worker=f"ingest-{socket.gethostname()}",
                              window_minutes=settings.window_minutes,
                              buffer_rows=PROFILE_BUFFER_ROWS)  # fmt: skip
    ingest = Ingest(
        settings.journal_path, ReopeningStore(settings), profiler, key,  # type: ignore[arg-type]
        batch_records=settings.ingest_batch_records, max_delay_s=settings.ingest_max_delay_s,
        retention_s=settings.journal_retention_s, checkpoint_interval_s=settings.checkpoint_interval_s,
        compact_min_parts=settings.compact_min_parts, retention_days=settings.retention_days,
        journal_max_bytes=settings.journal_max_mb << 20,
    )  # fmt: skip
    ingest.replay_profiles()
    while not stop.is_set():
        if ingest.run_once() == 0:
            stop.wait(settings.ingest_interval_s)
    ingest.close()
    logger.info("ingest stopped", extra=vars(ingest.counters))


app = CommandApp(None)


@app.command()
def main(
    worker: Annotated[str, typer.Option(help="Id of the worker that started this process (for its logs).")],
) -> None:
    """An ingest process (started by each API worker, not by hand): moves the journal's records into the
    store and the window profiles while it holds the host's ingest lock. Settings come as JSON in
    CREDIT_INGEST_SETTINGS, the pseudonymisation key in CREDIT_INGEST_KEY; stdin closing means stop."""
    configure_json_logging(logging.INFO, stream=sys.stderr)
    settings = MonitoringSettings.model_validate_json(os.environ[SETTINGS_VARIABLE])
    stop = threading.Event()
    threading.Thread(target=watch_for_stop, args=(sys.stdin.buffer, stop), daemon=True).start()
    lock = take_host_lock(settings.journal_path, stop)
    if lock is None:
        return
    logger.info("ingest lock taken", extra={"worker": worker, "pid": os.getpid()})
    ingest_until_stopped(settings, _key(), stop)


def _key() -> bytes:
    """The key the worker handed over, else the settings' (never empty: small integer ids would be
    reversible by trying them all)."""
    handed_over = os.environ.get(KEY_VARIABLE, "")
    if handed_over:
        return handed_over.encode()
    from credit_scoring.settings import get_settings

    return get_settings().pseudonymisation_secret
