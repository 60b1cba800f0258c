"""A request store, window profiles and a reference profile filled with the library (no server needed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from credit_scoring.data.synthetic import default_probability, generate_applications
from credit_scoring.monitoring.profiles import PROBABILITY_COLUMN, build_profile, write_profile
from credit_scoring.monitoring.window_profiles import WindowProfiler
from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.recording.store import open_store
from credit_scoring.schema import ID_COLUMN, INPUT_COLUMNS, TARGET_COLUMN
from credit_scoring.settings import MonitoringSettings
from credit_scoring_tools.simulation import application_payloads, drift_transform
from tests.support.recording import profile_records, write_records

THRESHOLD = 0.3
MODEL = "credit-scoring"


@dataclass(frozen=True)
class FilledStore:
    """Where the data went (the paths MonitoringSettings derives from ``data_dir``) and what was written."""

    data_dir: Path
    store_dir: Path
    profile_dir: Path
    reference_path: Path
    records: int
    rejected: int
    server_errors: int


def write_reference(path: Path, rows: int = 3000, seed: int = 11) -> Path:
    """Training-like reference: inputs of synthetic applications and their true probability of default."""
    frame = generate_applications(rows, seed=seed)[list(INPUT_COLUMNS)]
    write_profile(build_profile(frame.assign(**{PROBABILITY_COLUMN: default_probability(frame)})), path)
    return path


def _scored(frame: pd.DataFrame, times: list[datetime], rng: np.random.Generator, version: str) -> list:
    scores = default_probability(frame[list(INPUT_COLUMNS)])
    payloads = application_payloads(frame.drop(columns=[ID_COLUMN, TARGET_COLUMN]))
    latencies = rng.gamma(4.0, 1.5, len(frame))
    return [
        RequestRecord(
            endpoint="score",
            model_name=MODEL,
            model_version=version,
            status=200,
            latency_ms=float(latency),
            inference_ms=float(latency) / 8,
            inputs=payload,
            probability=float(score),
            decision="refuse" if score >= THRESHOLD else "grant",
            threshold=THRESHOLD,
            timestamp=moment,
        )
        for payload, score, latency, moment in zip(payloads, scores, latencies, times, strict=True)
    ]


def _failures(times: list[datetime], status: int, application: dict) -> list[RequestRecord]:
    """Refused requests (a negative income, as the API logs them) or server errors (no inputs kept)."""
    kind = "validation" if status == 400 else "internal"
    inputs = {**application, "AMT_INCOME_TOTAL": -5.0} if status == 400 else None
    return [
        RequestRecord("score", MODEL, "2", status, 3.0, inputs=inputs, error_kind=kind, timestamp=moment)
        for moment in times
    ]


def _spread(start: datetime, end: datetime, count: int) -> list[datetime]:
    step = (end - start) / max(1, count)
    return [start + i * step for i in range(count)]


def fill_monitoring_store(
    data_dir: Path, now: datetime | None = None, rows: int = 500, minutes: int = 20, window_minutes: int = 10
) -> FilledStore:
    """``minutes`` of traffic ending at ``now``: normal (model v1), then drifted (v2) with some failures.

    Few, long profile windows keep it quick (starting a whylogs profile costs about a second here).
    """
    now = now or datetime.now(UTC)
    settings = MonitoringSettings(data_dir=data_dir)
    rng = np.random.default_rng(5)
    normal = generate_applications(rows, seed=21)
    drifted = drift_transform(generate_applications(rows, seed=22), rng)
    middle = now - timedelta(minutes=minutes / 2)
    records = _scored(normal, _spread(now - timedelta(minutes=minutes), middle, rows), rng, "1")
    records += _scored(drifted, _spread(middle, now - timedelta(seconds=5), rows), rng, "2")
    example = application_payloads(normal.drop(columns=[ID_COLUMN, TARGET_COLUMN]).head(1))[0]
    rejected = _failures(_spread(middle, now, 40), 400, example)
    failed = _failures(_spread(middle, now, 5), 500, example)
    records += rejected + failed
    write_records(open_store(settings), records)
    profiler = WindowProfiler(settings.profiles_path, worker="test-worker", window_minutes=window_minutes)
    profile_records(profiler, records)
    profiler.close()
    reference = write_reference(data_dir / "reference_profile.bin")
    return FilledStore(
        data_dir,
        settings.store_path,
        settings.profiles_path,
        reference,
        len(records),
        len(rejected),
        len(failed),
    )
