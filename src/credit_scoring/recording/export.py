"""The audit export: the stored decisions of a time range as CSV or Parquet, whatever the store engine."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from credit_scoring.errors import UsageError
from credit_scoring.recording.store import RecordStore

EXPORTED_COLUMNS: tuple[str, ...] = (
    "request_id", "item", "timestamp", "endpoint", "model_name", "model_version", "probability", "decision",
    "threshold", "challenger_version", "challenger_probability", "challenger_decision", "status",
    "error_kind", "latency_ms", "simulated",
)  # fmt: skip
FORMATS = (".csv", ".parquet")


def export_decisions(store: RecordStore, out: Path, start: datetime | None, end: datetime | None) -> int:
    """Write the records of ``[start, end)`` to ``out`` (format by its suffix); how many were written."""
    if out.suffix not in FORMATS:
        raise UsageError(f"cannot write {out}: name a .csv or a .parquet file")
    frame = store.records(start, end, EXPORTED_COLUMNS)[list(EXPORTED_COLUMNS)]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out, compression="zstd")
    else:
        frame.assign(timestamp=frame["timestamp"].map(lambda t: t.isoformat())).to_csv(out, index=False)
    return len(frame)
