"""Stored records for tests: RequestRecords written to a store and profiles the way the ingest does it."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

import pandas as pd

from credit_scoring.monitoring.drift import load_records
from credit_scoring.monitoring.window_profiles import WindowProfiler
from credit_scoring.recording.ingest import profile_frame
from credit_scoring.recording.protocol import BatchId, RequestRecord, records_table
from credit_scoring.recording.store import ParquetStore, RecordStore


def write_records(store: RecordStore, records: Sequence[RequestRecord], segment: str = "test") -> None:
    """One stored batch per day of the records (batches never span days, as the ingest's)."""
    ordered = sorted(records, key=lambda r: r.timestamp)
    for number, (day, rows) in enumerate(groupby(ordered, key=lambda r: r.timestamp.date())):
        store.write_batch(BatchId(segment, number, number + 1), day, records_table(list(rows)))


def stored_frame(folder: Path, records: Sequence[RequestRecord]) -> pd.DataFrame:
    """The records as the analysis reads them back from a Parquet store in ``folder``."""
    store = ParquetStore(folder / "store")
    write_records(store, records)
    return load_records(store, None, None)


def profile_records(profiler: WindowProfiler, records: Sequence[RequestRecord]) -> int:
    """Profile the scored records as the ingest does (from their stored rows)."""
    return profiler.add(profile_frame(records_table(list(records)))) if records else 0
