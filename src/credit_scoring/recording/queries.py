"""The monitor's aggregates as SQL that DuckDB and PostgreSQL both run, and the same figures in pandas.

Only aggregates leave the query engine (a few hundred rows at most), never the range's raw rows: the
monitor's memory and time then depend on the number of chart points, not on the number of records.
Ordered-set percentiles (``percentile_cont(q) WITHIN GROUP (ORDER BY x)``) and ``FILTER`` clauses are
spelled the same way in both engines. The pandas functions are the reference (tests, SQLite).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = ("requests", "scored", "client_errors", "server_errors", "simulated", "latency_p50",
                   "latency_p95", "latency_p99", "inference_p50", "inference_p95", "inference_p99",
                   "mean_probability", "probability_p99", "threshold", "first", "last")  # fmt: skip
VERSION_COLUMNS = ("model_name", "model_version", "requests", "first", "last", "refused_share")
COUNTED_COLUMNS = ("error_kind", "endpoint", "decision", "simulated")


def _literal(moment: datetime) -> str:
    """A UTC timestamp literal; only datetimes reach here, so nothing from a user is spliced in."""
    return f"TIMESTAMP '{moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"


def where(start: datetime | None, end: datetime | None, simulated: bool | None, *extra: str) -> str:
    """The range (``start <= timestamp < end``), optionally only live or only simulated records."""
    clauses = list(extra)
    if start is not None:
        clauses.append(f"timestamp >= {_literal(start)}")
    if end is not None:
        clauses.append(f"timestamp < {_literal(end)}")
    if simulated is not None:
        clauses.append("simulated" if simulated else "NOT simulated")
    return ("WHERE " + " AND ".join(clauses)) if clauses else ""


def _pct(column: str, q: float, condition: str = "") -> str:
    only = f" FILTER (WHERE {condition})" if condition else ""
    return f"percentile_cont({q}) WITHIN GROUP (ORDER BY {column}){only}"


def summary_sql(source: str, condition: str) -> str:
    """One row: volume by outcome, simulated count, latency and inference percentiles, scores, time span."""
    scored = "status < 400"
    return f"""
        SELECT count(*), count(*) FILTER (WHERE {scored}), count(*) FILTER (WHERE status BETWEEN 400 AND 499),
               count(*) FILTER (WHERE status >= 500), count(*) FILTER (WHERE simulated),
               {_pct("latency_ms", 0.5)}, {_pct("latency_ms", 0.95)}, {_pct("latency_ms", 0.99)},
               {_pct("inference_ms", 0.5, scored)}, {_pct("inference_ms", 0.95, scored)},
               {_pct("inference_ms", 0.99, scored)}, avg(probability) FILTER (WHERE {scored}),
               {_pct("probability", 0.99, scored)}, mode() WITHIN GROUP (ORDER BY threshold),
               min(timestamp), max(timestamp)
        FROM {source} {condition}"""


def counts_sql(source: str, condition: str, column: str) -> str:
    if column not in COUNTED_COLUMNS:
        raise ValueError(f"cannot count by {column!r}; choose one of {COUNTED_COLUMNS}")
    return f"SELECT {column}, count(*) FROM {source} {condition} GROUP BY 1 ORDER BY 1"


def versions_sql(source: str, condition: str) -> str:
    refused = "avg(CASE decision WHEN 'refuse' THEN 1.0 WHEN 'grant' THEN 0.0 END)"
    return f"""SELECT model_name, model_version, count(*), min(timestamp), max(timestamp), {refused}
               FROM {source} {condition} GROUP BY 1, 2 ORDER BY 5 DESC"""


def histogram_sql(source: str, condition: str, upper: float, bins: int) -> str:
    """Scores per bin of ``[0, upper]``; scores above ``upper`` count in the last bin."""
    width = float(upper) / int(bins)
    return f"""SELECT least(CAST(floor(probability / {width!r}) AS INTEGER), {int(bins) - 1}) AS bin, count(*)
               FROM {source} {condition} GROUP BY 1 ORDER BY 1"""


def summary_row(row: Any) -> dict[str, Any]:
    """The summary query's row as named values (timestamps as aware UTC)."""
    values = dict(zip(SUMMARY_COLUMNS, row, strict=True))
    for name in ("first", "last"):
        values[name] = _aware(values[name])
    for name in SUMMARY_COLUMNS[5:-2]:
        values[name] = None if values[name] is None else float(values[name])
    return values


def _aware(moment: Any) -> datetime | None:
    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime()


def versions_frame(rows: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(VERSION_COLUMNS))
    for name in ("first", "last"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    frame["requests"] = frame["requests"].astype("int64")
    frame["refused_share"] = frame["refused_share"].astype("float64")
    return frame


def histogram_counts(rows: list[Any], bins: int) -> np.ndarray:
    counts = np.zeros(bins, dtype=np.int64)
    for position, n in rows:
        if position is not None:
            counts[max(0, int(position))] += int(n)
    return counts


# --- the same figures in pandas (the reference, and SQLite's path) ----------------------------------

SUMMARY_INPUTS = (
    "timestamp",
    "status",
    "simulated",
    "latency_ms",
    "inference_ms",
    "probability",
    "threshold",
    "decision",
    "model_name",
    "model_version",
    "error_kind",
    "endpoint",
)


def filtered(records: pd.DataFrame, simulated: bool | None) -> pd.DataFrame:
    return records if simulated is None else records[records["simulated"] == simulated]


def summary_of(records: pd.DataFrame) -> dict[str, Any]:
    """:func:`summary_sql` in pandas (percentiles interpolated linearly, as ``percentile_cont``)."""
    scored = records[records["status"] < 400]
    thresholds = scored["threshold"].dropna()

    def q(values: pd.Series, p: float) -> float | None:
        present = values.dropna()
        return float(present.quantile(p)) if len(present) else None

    latency, inference = records["latency_ms"], scored["inference_ms"]
    values = [len(records), len(scored), int(records["status"].between(400, 499).sum()),
              int((records["status"] >= 500).sum()), int(records["simulated"].sum()),
              q(latency, 0.5), q(latency, 0.95), q(latency, 0.99),
              q(inference, 0.5), q(inference, 0.95), q(inference, 0.99),
              float(scored["probability"].mean()) if scored["probability"].notna().any() else None,
              q(scored["probability"], 0.99), float(thresholds.mode().min()) if len(thresholds) else None,
              records["timestamp"].min() if len(records) else None,
              records["timestamp"].max() if len(records) else None]  # fmt: skip
    return summary_row(values)


def counts_of(records: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in records[column].dropna().value_counts().sort_index().items()}


def versions_of(records: pd.DataFrame) -> pd.DataFrame:
    refused = records["decision"].map({"refuse": 1.0, "grant": 0.0})
    grouped = records.assign(refused=refused).groupby(["model_name", "model_version"])
    frame = grouped.agg(requests=("timestamp", "size"), first=("timestamp", "min"), last=("timestamp", "max"),
                        refused_share=("refused", "mean")).reset_index()  # fmt: skip
    return versions_frame(frame.sort_values("last", ascending=False).itertuples(index=False))


def histogram_of(records: pd.DataFrame, upper: float, bins: int) -> np.ndarray:
    scores = records["probability"].dropna().to_numpy(dtype=float)
    positions = np.minimum(np.floor(scores / (upper / bins)).astype(int), bins - 1)
    return np.bincount(positions, minlength=bins).astype(np.int64)
