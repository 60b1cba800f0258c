"""Stored decisions with known probabilities and drawn outcomes, for the performance and outcome tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from credit_scoring.recording.protocol import RequestRecord, pseudonymise
from credit_scoring.recording.store import RecordStore
from credit_scoring.schema import example_application
from tests.support.recording import write_records

KEY = b"test-pseudonymisation-key"
THRESHOLD = 0.2
START = datetime(2026, 1, 1, tzinfo=UTC)


def decisions(count: int, seed: int = 1, versions: tuple[str, ...] = ("1", "2")) -> pd.DataFrame:
    """Client ids, versions, times over two months, calibrated probabilities, decisions and outcomes."""
    rng = np.random.default_rng(seed)
    probability = rng.beta(1.0, 9.0, count)
    return pd.DataFrame(
        {
            "client": np.arange(100_000, 100_000 + count),
            "version": rng.choice(versions, count),
            "timestamp": [START + timedelta(hours=float(h)) for h in rng.uniform(0, 59 * 24, count)],
            "probability": probability,
            "granted": probability < THRESHOLD,
            "target": (rng.random(count) < probability).astype(int),
            "gender": rng.choice(["F", "M", "XNA"], count, p=[0.6, 0.398, 0.002]),
            "days_birth": -rng.integers(20 * 365, 68 * 365, count),
        }
    )


def records(frame: pd.DataFrame) -> list[RequestRecord]:
    base = example_application()
    return [
        RequestRecord(
            "score",
            "credit-scoring",
            row.version,
            200,
            3.0,
            inputs=base | {"CODE_GENDER": row.gender, "DAYS_BIRTH": int(row.days_birth)},
            probability=float(row.probability),
            decision="grant" if row.granted else "refuse",
            threshold=THRESHOLD,
            client_ref=pseudonymise(int(row.client), KEY),
            timestamp=row.timestamp,
        )
        for row in frame.itertuples()
    ]


def store_decisions(store: RecordStore, frame: pd.DataFrame) -> None:
    write_records(store, records(frame))


def outcome_file_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """What a lender sends: raw ids, targets, observation dates (a year after the decision)."""
    observed = pd.to_datetime(frame["timestamp"]).dt.tz_convert(None) + pd.Timedelta(days=365)
    return pd.DataFrame(
        {
            "SK_ID_CURR": frame["client"],
            "TARGET": frame["target"].astype("int8"),
            "OBSERVATION_DATE": observed.dt.normalize().astype("datetime64[us]"),
        }
    )
