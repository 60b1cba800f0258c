"""Benchmarks of the recording path (make bench): journal append cost, ingest rate, bytes per record."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path

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
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="answered-load")

    def start(self) -> AnsweredLoad:
        self._thread.start()
        return self

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


def answered_ids(answers: list[tuple[int, str | None]]) -> list[str]:
    """The record ids of the requests answered 200."""
    return [request_id for status, request_id in answers if status == 200 and request_id]
