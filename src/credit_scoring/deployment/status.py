"""What `make deploy-status` shows: the serving version, the last attempt and the last error (alerts)."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger("credit_scoring.deployment.alert")

STATUS_FILE = "status.json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class DeployStatus:
    """The controller's state, kept in memory for GET /status and written to ``status.json`` on change."""

    def __init__(self, state_dir: Path, urls: dict[str, str]) -> None:
        self.path = state_dir / STATUS_FILE
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {
            "urls": urls,
            "serving": None,
            "last_attempt": None,
            "last_error": None,
        }
        self._write()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._state))

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._state.update(fields, updated_at=now_iso())
            self._write()

    def attempt(self, **fields: Any) -> None:
        """Merge ``fields`` into the current attempt (version, trigger, step, outcome...)."""
        with self._lock:
            self._state["last_attempt"] = {**(self._state["last_attempt"] or {}), **fields}
            self._state["updated_at"] = now_iso()
            self._write()

    def alert(self, version: str, reason: str) -> None:
        """A failed deployment: an ERROR log line (JSON) and the status' last error."""
        logger.error(
            "deployment failed: the old version keeps serving", extra={"version": version, "reason": reason}
        )
        self.update(last_error={"version": version, "reason": reason, "at": now_iso()})

    def _write(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._state, indent=1) + "\n")
        os.replace(temporary, self.path)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The status a running (or the last) `make deploy` wrote, or None."""
    path = state_dir / STATUS_FILE
    return json.loads(path.read_text()) if path.exists() else None
