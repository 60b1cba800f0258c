"""The API worker's side of its ingest process: start it at low priority, restart it if it dies, stop it."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from credit_scoring.recording.ingest_process import KEY_VARIABLE, SETTINGS_VARIABLE, STOP_SIGNALS
from credit_scoring.settings import MonitoringSettings

logger = logging.getLogger(__name__)

RESTART_AFTER_S = 2.0


def _package_root() -> str:
    """The folder holding the ``credit_scoring`` package (a Bento bundles it under ``src/``)."""
    return str(Path(__file__).resolve().parents[2])


class IngestSupervisor:
    """Keeps one ingest process alive beside this worker (they share the host's lock: one ingests)."""

    def __init__(self, settings: MonitoringSettings, key: bytes, worker: str) -> None:
        self.settings, self.key, self.worker = settings, key, worker
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._closing = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="ingest-supervisor", daemon=True)

    def start(self) -> IngestSupervisor:
        self._spawn()
        self._watcher.start()
        return self

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "credit_scoring.recording.ingest_process", "--worker", self.worker]
        path = os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")]))
        # The settings and the key go by environment, not argv: any user can read a command line.
        env = os.environ | {"PYTHONPATH": path, SETTINGS_VARIABLE: self.settings.model_dump_json(),
                            KEY_VARIABLE: self.key.decode()}  # fmt: skip
        # Started with the stop signals blocked (the mask survives exec) until the child ignores them. Same
        # session as the worker on purpose: a session of its own is a scheduler autogroup with a full
        # share of the CPU whatever its niceness.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _watch(self) -> None:
        while not self._closing.wait(RESTART_AFTER_S):
            if self.process is not None and self.process.poll() is not None:
                logger.error(
                    "ingest process died; restarting it", extra={"exit_code": self.process.returncode}
                )
                self.restarts += 1
                self._spawn()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self, timeout: float = 30.0) -> bool:
        """Tell the process to store what is left and stop; True when it did within ``timeout``."""
        self._closing.set()
        process = self.process
        if process is None:
            return True
        with contextlib.suppress(OSError):  # already gone: its end of the pipe is closed
            process.stdin.write(b"stop\n")  # type: ignore[union-attr]
            process.stdin.close()  # type: ignore[union-attr]
        try:
            return process.wait(timeout) == 0
        except subprocess.TimeoutExpired:
            process.kill()
            return False
