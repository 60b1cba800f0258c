"""Benchmarks of the recording path (make bench): journal append cost, ingest rate, bytes per record."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from credit_scoring.recording.journal import JournalWriter
from credit_scoring.recording.protocol import Answer, JournalEntry, new_request_id
from credit_scoring.schema import example_application


def _example_body() -> bytes:
    import orjson

    return orjson.dumps({"application": example_application()})


def measure_append_us(n: int = 20_000, directory: Path | None = None) -> dict[str, float]:
    """CPU time (thread time, µs) of what a /score request spends on its record: build the entry, encode
    the frame, one ``os.write`` into a real journal segment. Returns p50 and p90 over ``n`` appends."""
    body = _example_body()
    with tempfile.TemporaryDirectory(prefix="credit-journal-", dir=directory) as folder:
        journal = JournalWriter(Path(folder), segment_bytes=64 << 20, segment_age_s=300.0,
                                fsync_interval_s=1.0, max_bytes=1 << 40).start()  # fmt: skip
        costs = np.empty(n)
        for i in range(n):
            started = time.thread_time_ns()
            answer = Answer(new_request_id(), 0.2, "grant", 0.4, 0.05)
            journal.record(JournalEntry("score", "credit-scoring", "1", 200, None, 2.0, time.time(),
                                        answer.request_id, [answer], body))  # fmt: skip
            costs[i] = (time.thread_time_ns() - started) / 1e3
        journal.close()
    return {"p50": float(np.percentile(costs, 50)), "p90": float(np.percentile(costs, 90)), "n": n}


def synthetic_journal(directory: Path, records: int, seed: int = 7) -> int:
    """Fill a journal with ``records`` answered /score requests of synthetic applications; their bytes."""
    import orjson

    from credit_scoring.data.synthetic import generate_applications
    from credit_scoring_tools.simulation import application_payloads

    payloads = application_payloads(generate_applications(records, seed=seed))
    journal = JournalWriter(directory, segment_bytes=64 << 20, segment_age_s=3600.0, fsync_interval_s=5.0,
                            max_bytes=1 << 40).start()  # fmt: skip
    rng, now = np.random.default_rng(seed), time.time()
    for i, payload in enumerate(payloads):
        answer = Answer(new_request_id(), float(rng.random()), "grant", 0.4, float(rng.gamma(2.0, 0.05)))
        journal.record(JournalEntry("score", "credit-scoring", "1", 200, None, float(rng.gamma(4.0, 1.0)),
                                    now + i * 1e-3, answer.request_id, [answer],
                                    orjson.dumps({"application": payload})))  # fmt: skip
    journal.close()
    return journal.appended_bytes


def measure_ingest(records: int = 50_000, directory: Path | None = None) -> dict[str, float]:
    """Ingest a journal of ``records`` synthetic /score records into a fresh Parquet store with window
    profiles, on this thread: records per second of CPU and of wall time, and bytes on disk per record."""
    from credit_scoring.monitoring.window_profiles import WindowProfiler
    from credit_scoring.recording.ingest import Ingest
    from credit_scoring.recording.store import ParquetStore

    with tempfile.TemporaryDirectory(prefix="credit-ingest-", dir=directory) as folder:
        root = Path(folder)
        synthetic_journal(root / "journal", records)
        store = ParquetStore(root / "store")
        profiler = WindowProfiler(root / "profiles", worker="bench", window_minutes=5)
        ingest = Ingest(root / "journal", store, profiler, b"bench-key", retention_s=3600.0)
        wall, cpu = time.perf_counter(), time.process_time()
        stored = ingest.run_once(flush=True)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        on_disk = sum(p.stat().st_size for p in (root / "store").rglob("*.parquet"))
        return {"records": stored, "records_per_cpu_s": stored / cpu, "records_per_s": stored / wall,
                "bytes_per_record": on_disk / stored}  # fmt: skip


class AnsweredLoad:
    """Closed-loop POSTs from ``clients`` connections in a background thread, keeping every answer's status
    and ``X-Request-ID`` (status 0: no answer, e.g. a killed worker's connection): answered = stored?"""

    def __init__(
        self, url: str, body: bytes, clients: int = 8, headers: dict[str, str] | None = None
    ) -> None:
        self.url, self.body, self.clients = url, body, clients
        self.headers = {"Content-Type": "application/json"} | (headers or {})
        self.answers: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        # A daemon: a caller failing before stop() must not keep the interpreter alive, sending forever.
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._run()), name="answered-load", daemon=True
        )

    def start(self) -> AnsweredLoad:
        self._thread.start()
        return self

    def __enter__(self) -> AnsweredLoad:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()

    def stop(self) -> list[tuple[int, str | None]]:
        """Stop sending; every answer received, in no particular order."""
        self._stop.set()
        self._thread.join()
        return self.answers

    async def _run(self) -> None:
        await asyncio.gather(*(self._client() for _ in range(self.clients)))

    async def _client(self) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=1)) as client:
            while not self._stop.is_set():
                try:
                    answer = await client.post(self.url, content=self.body, headers=self.headers)
                    self.answers.append((answer.status_code, answer.headers.get("x-request-id")))
                except httpx.HTTPError:
                    self.answers.append((0, None))
                    await asyncio.sleep(0.05)


class LagWatch:
    """Polls the journal's lag in a background thread during a run; keeps the largest."""

    def __init__(self, journal_dir: Path, every_s: float = 1.0) -> None:
        self.journal_dir, self.every_s = journal_dir, every_s
        self.largest = {"lag_records": 0, "lag_seconds": 0.0, "bytes_on_disk": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="lag-watch", daemon=True)

    def start(self) -> LagWatch:
        self._thread.start()
        return self

    def _watch(self) -> None:
        from credit_scoring.recording.journal import journal_lag

        while not self._stop.wait(self.every_s):
            lag = journal_lag(self.journal_dir).as_dict()
            self.largest = {name: max(value, lag[name]) for name, value in self.largest.items()}

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.largest


def sustained_run(bento: str, duration_s: float = 120.0, clients: int = 16, report=print) -> dict[str, Any]:
    """``make bench``'s sustained run: ``duration_s`` of closed-loop /score load from ``clients``
    connections (wrk, else httpx) on `bentoml serve`, with monitoring on then off. With it on: requests
    answered 200, records stored once the ingest caught up, the largest journal lag, the time to catch up.
    wrk does not count the answers still in flight when it stops (at most ``clients``): stored may exceed
    answered by that much, never fall short."""
    with tempfile.TemporaryDirectory(prefix="credit-sustained-") as folder:
        on = _sustained(bento, duration_s, clients, Path(folder) / "on", True, report)
        off = _sustained(bento, duration_s, clients, Path(folder) / "off", False, report)
    return {"monitoring_on": on, "monitoring_off": off,
            "requests_per_s_on_vs_off": on["requests_per_s"] / off["requests_per_s"]}  # fmt: skip


def _sustained(bento: str, duration_s: float, clients: int, root: Path, monitoring: bool, report) -> dict:
    import os

    from credit_scoring.serving.launcher import free_port, start_server, stop_server, wait_until_ready
    from credit_scoring.settings import MonitoringSettings

    settings = MonitoringSettings(data_dir=root)
    env = os.environ | {"CREDIT_DATA_DIR": str(root), "CREDIT_MONITORING_ENABLED": str(monitoring).lower(),
                        "BENTOML_DO_NOT_TRACK": "True"}  # fmt: skip
    port = free_port()
    process = start_server(bento, port, host="127.0.0.1", env=env, log=root / "serve.log")
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, timeout=180)
        report(
            f"sustained run, monitoring {'on' if monitoring else 'off'}: {duration_s:g} s x {clients} clients"
        )
        figures, watched, started = _load(f"http://127.0.0.1:{port}/score", duration_s, clients, settings)
        answered = int(figures["requests"] - figures["errors"])
        result = {"requests_per_s": figures["rate"], "answered_200": answered, "p50_ms": figures["p50"],
                  "p99_ms": figures["p99"]}  # fmt: skip
        if monitoring:
            result |= _caught_up(settings, started) | {"largest_lag": watched}
    finally:
        stop_server(process, timeout=120)
    report(f"  {result}")
    return result


def _load(url: str, duration_s: float, clients: int, settings) -> tuple[dict[str, float], dict, float]:
    from datetime import UTC, datetime

    from credit_scoring_tools.loadtest import run_httpx, run_wrk, wrk_available

    headers = {"Content-Type": "application/json"}
    watch = LagWatch(settings.journal_path).start()
    started = datetime.now(UTC).timestamp()
    if wrk_available():
        figures = run_wrk(url, _example_body().decode(), headers, clients, duration_s, threads=2)
    else:
        figures = run_httpx(url, _example_body().decode(), headers, clients, duration_s)
    return figures, watch.stop(), started


def _caught_up(settings, started: float, timeout_s: float = 1800.0) -> dict[str, Any]:
    """Seconds until the ingest stored everything journaled, and the records stored since ``started``."""
    from datetime import UTC, datetime

    from credit_scoring.recording.journal import journal_lag
    from credit_scoring.recording.store import open_store

    waited = time.perf_counter()
    while journal_lag(settings.journal_path).lag_bytes and time.perf_counter() - waited < timeout_s:
        time.sleep(0.5)
    stored = open_store(settings).count(datetime.fromtimestamp(started, UTC), None)
    return {"catch_up_s": time.perf_counter() - waited, "stored": stored}
