"""Continuous /score traffic through `make deploy`'s proxy: failed requests, versions answering over time."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer

from credit_scoring.cli import CommandApp
from credit_scoring.schema import example_application


@dataclass
class LoadRecord:
    """What the clients saw: answers per version, failures, and when each version first answered."""

    started: float = field(default_factory=time.time)
    versions: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    first_seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, version: str) -> None:
        with self.lock:
            self.versions[version] += 1
            self.first_seen.setdefault(version, time.time())

    def failed(self, reason: str) -> None:
        with self.lock:
            self.failures.append(reason)

    def summary(self) -> dict[str, object]:
        with self.lock:
            return {
                "served": sum(self.versions.values()),
                "failed": len(self.failures),
                "versions": dict(self.versions),
                "first_seen": {v: round(t - self.started, 2) for v, t in self.first_seen.items()},
                "first_seen_at": {v: _iso(t) for v, t in self.first_seen.items()},
                "failure_examples": self.failures[:5],
            }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def client_loop(url: str, record: LoadRecord, stop: threading.Event) -> None:
    """One keep-alive client posting the worked example back to back until ``stop``."""
    body = {"application": example_application()}
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            try:
                answer = client.post(f"{url}/score", json=body)
            except httpx.HTTPError as error:
                record.failed(f"{type(error).__name__}: {error}")
                continue
            if answer.status_code == 200:
                record.answered(str(answer.json()["model_version"]))
            else:
                record.failed(f"HTTP {answer.status_code}: {answer.text[:120]}")


class LoadRun:
    """``clients`` threads of traffic, started and stopped around a block of the caller's."""

    def __init__(self, url: str, clients: int = 8) -> None:
        self.record, self.stop = LoadRecord(), threading.Event()
        self.threads = [
            threading.Thread(target=client_loop, args=(url, self.record, self.stop), daemon=True)
            for _ in range(clients)
        ]

    def __enter__(self) -> LoadRun:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


app = CommandApp(__doc__)


@app.command()
def main(
    port: Annotated[int, typer.Option(help="Public port of `make deploy`.")] = 3000,
    clients: Annotated[int, typer.Option(help="Concurrent keep-alive clients.")] = 8,
    until_version: Annotated[
        str | None, typer.Option(help="Stop 10 s after this registry version first answers.")
    ] = None,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds at most.")] = 600.0,
) -> None:
    """Send /score traffic to PORT and print, every 5 s and at the end (JSON), the requests served per
    version, the failed ones, and when each version first answered (seconds from the start)."""
    with LoadRun(f"http://127.0.0.1:{port}", clients) as run:
        deadline, end = time.time() + duration, None
        while time.time() < (end or deadline):
            time.sleep(5)
            summary = run.record.summary()
            print(json.dumps({"t": round(time.time() - run.record.started), **summary}), flush=True)
            if end is None and until_version and until_version in run.record.first_seen:
                end = time.time() + 10
    print(json.dumps(run.record.summary()))


if __name__ == "__main__":
    app()
