"""Stored decisions a challenger also scored in shadow (and some it did not), with drawn outcomes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.recording.store import RecordStore
from tests.support.outcomes import decisions, records
from tests.support.recording import write_records

CHALLENGER = "3"
CHALLENGER_THRESHOLD = 0.25


def shadowed_decisions(count: int, seed: int = 1, shadow_share: float = 0.85) -> pd.DataFrame:
    """:func:`tests.support.outcomes.decisions` with a challenger's probability and decision on most rows
    (champion versions 1 and 2, challenger 3); ``shadowed`` says which rows it scored."""
    frame = decisions(count, seed=seed)
    rng = np.random.default_rng(seed + 100)
    challenger = np.clip(frame["probability"] * np.exp(rng.normal(0.05, 0.3, count)), 0.0, 1.0)
    return frame.assign(
        challenger_probability=challenger,
        challenger_granted=challenger < CHALLENGER_THRESHOLD,
        shadowed=rng.random(count) < shadow_share,
    )


def shadowed_records(frame: pd.DataFrame) -> list[RequestRecord]:
    """The decisions as stored records; rows not shadowed have no challenger figures."""
    return [
        dataclasses.replace(
            record,
            challenger_version=CHALLENGER,
            challenger_probability=float(row.challenger_probability),
            challenger_decision="grant" if row.challenger_granted else "refuse",
        )
        if row.shadowed
        else record
        for record, row in zip(records(frame), frame.itertuples(), strict=True)
    ]


def store_shadowed(store: RecordStore, frame: pd.DataFrame) -> None:
    write_records(store, shadowed_records(frame))


def reference_rows(frame: pd.DataFrame, labelled: pd.Index) -> pd.DataFrame:
    """The shadowed rows in the columns ``monitoring.challenger.comparison_of`` reads; outcomes on
    ``labelled`` rows only."""
    shadowed = frame[frame["shadowed"]]
    return pd.DataFrame(
        {
            "champion_version": shadowed["version"].astype(str),
            "challenger_version": CHALLENGER,
            "timestamp": pd.to_datetime(shadowed["timestamp"], utc=True),
            "probability": shadowed["probability"],
            "granted": shadowed["granted"].astype(int),
            "challenger_probability": shadowed["challenger_probability"],
            "challenger_granted": shadowed["challenger_granted"].astype(int),
            "target": shadowed["target"].where(shadowed.index.isin(labelled)),
        }
    )
