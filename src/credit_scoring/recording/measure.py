"""Measurements of the recording path for the benchmark: append cost, ingest rate, bytes per record."""

from __future__ import annotations

import tempfile
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
