"""The stack's child processes: each in its own session, its pid in a file so `make deploy-stop` finds it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Child:
    """A started process, the file holding its pid and its log."""

    name: str
    process: subprocess.Popen
    pid_file: Path
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM to the process (a server then stops its workers, which seal their journals and let
        their ingest finish), SIGKILL to its whole group after ``timeout`` or for what outlives it."""
        stop_group(self.process.pid, timeout, self.process)
        self.pid_file.unlink(missing_ok=True)
        return self.process.wait()


def start_child(
    name: str, command: Sequence[str], state_dir: Path, env: Mapping[str, str] | None = None
) -> Child:
    """Start ``command`` in a new session, output to ``<state_dir>/<name>.log``, pid to ``<name>.pid``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / f"{name}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            list(command), stdout=output, stderr=subprocess.STDOUT, env=dict(env) if env else None,
            start_new_session=True,
        )  # fmt: skip
    pid_file = state_dir / f"{name}.pid"
    pid_file.write_text(f"{process.pid}\n")
    return Child(name, process, pid_file, log)


def stop_group(pid: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    """End the process group ``pid`` leads: SIGTERM to the leader only (signalling the workers and their
    ingest processes at once would cut their orderly shutdown short), then SIGKILL to the group."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    # The whole group: a worker's ingest may still be storing the last records after the leader exits.
    while time.monotonic() < deadline and (_alive(pid, process) or _group_alive(pid)):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _alive(pid: int, process: subprocess.Popen | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
