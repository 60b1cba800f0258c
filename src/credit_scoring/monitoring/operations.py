"""Operational health from stored request records: volume, errors, latency percentiles, decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.settings import AlertThresholds

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Operations:
    """What the request log says about a time range (records, not distinct batch requests)."""

    requests: int
    succeeded: int
    client_errors: int
    server_errors: int
    client_error_rate: float
    server_error_rate: float
    requests_per_minute: float
    latency_ms: dict[str, float]
    inference_ms: dict[str, float]
    error_kinds: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, int] = field(default_factory=dict)
    model_versions: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    mean_probability: float | None = None
    threshold: float | None = None
    journal_lag_s: float | None = None  # age of the oldest journaled record not yet stored (None: unknown)
    simulated: int = 0  # records written by make backfill (simulated history), never live traffic


def percentiles(values: pd.Series) -> dict[str, float]:
    """p50/p95/p99 of the non-missing values (NaN when there are none)."""
    present = values.dropna().to_numpy(dtype=float)
    if present.size == 0:
        return {f"p{p}": float("nan") for p in PERCENTILES}
    return {f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(present, PERCENTILES), strict=True)}


def _counts(column: pd.Series) -> dict[str, int]:
    return {str(key): int(value) for key, value in column.dropna().value_counts().sort_index().items()}


def summarise_operations(
    records: pd.DataFrame, minutes: float, journal_lag_s: float | None = None
) -> Operations:
    """Volume, error rates, latency and decisions of the stored records of a range lasting ``minutes``."""
    total = len(records)
    client = int(records["status"].between(400, 499).sum()) if total else 0
    server = int((records["status"] >= 500).sum()) if total else 0
    scored = records[records["status"] < 400] if total else records
    thresholds = scored["threshold"].dropna()
    return Operations(
        requests=total,
        succeeded=len(scored),
        client_errors=client,
        server_errors=server,
        client_error_rate=client / total if total else 0.0,
        server_error_rate=server / total if total else 0.0,
        requests_per_minute=total / minutes if minutes > 0 else float("nan"),
        latency_ms=percentiles(records["latency_ms"]),
        inference_ms=percentiles(scored["inference_ms"]),
        error_kinds=_counts(records["error_kind"]),
        endpoints=_counts(records["endpoint"]),
        model_versions=_counts(records["model_name"] + "@" + records["model_version"].astype(str)),
        decisions=_counts(scored["decision"]),
        mean_probability=float(scored["probability"].mean()) if scored["probability"].notna().any() else None,
        threshold=float(thresholds.mode().iloc[0]) if len(thresholds) else None,
        journal_lag_s=journal_lag_s,
        simulated=int(records["simulated"].sum()) if total and "simulated" in records else 0,
    )


def operational_alerts(operations: Operations, limits: AlertThresholds) -> list[str]:
    """Why the service's health needs a look, one sentence per broken threshold."""
    reasons: list[str] = []
    if limits.min_requests and operations.requests < limits.min_requests:
        reasons.append(f"only {operations.requests} requests (expected at least {limits.min_requests})")
    if operations.server_error_rate > limits.max_server_error_rate:
        reasons.append(
            f"server error rate {operations.server_error_rate:.1%} > {limits.max_server_error_rate:.1%}"
        )
    if operations.client_error_rate > limits.max_client_error_rate:
        reasons.append(
            f"rejected-request rate {operations.client_error_rate:.1%} > {limits.max_client_error_rate:.1%}"
        )
    for name, limit in (
        ("p50", limits.latency_p50_ms),
        ("p95", limits.latency_p95_ms),
        ("p99", limits.latency_p99_ms),
    ):
        value = operations.latency_ms.get(name, float("nan"))
        if value > limit:
            reasons.append(f"latency {name} {value:.1f} ms > {limit:.0f} ms")
    lag = operations.journal_lag_s
    if lag is not None and lag > limits.max_journal_lag_s:
        reasons.append(f"journal lag {lag:.0f} s > {limits.max_journal_lag_s:.0f} s: records not yet stored")
    return reasons


def operations_from_summary(
    summary: Mapping[str, Any],
    counts: Mapping[str, Mapping[str, int]],
    model_versions: Mapping[str, int],
    minutes: float,
    journal_lag_s: float | None = None,
) -> Operations:
    """:class:`Operations` from the store's aggregates (summary row, counts by column), no raw rows read."""
    total, client, server = summary["requests"], summary["client_errors"], summary["server_errors"]

    def spread(prefix: str) -> dict[str, float]:
        return {f"p{p}": _number(summary.get(f"{prefix}_p{p}")) for p in PERCENTILES}

    return Operations(
        requests=total, succeeded=summary["scored"], client_errors=client, server_errors=server,
        client_error_rate=client / max(total, 1), server_error_rate=server / max(total, 1),
        requests_per_minute=total / minutes if minutes > 0 else float("nan"),
        latency_ms=spread("latency"), inference_ms=spread("inference"),
        error_kinds=dict(counts.get("error_kind", {})), endpoints=dict(counts.get("endpoint", {})),
        model_versions=dict(model_versions), decisions=dict(counts.get("decision", {})),
        mean_probability=summary.get("mean_probability"), threshold=summary.get("threshold"),
        journal_lag_s=journal_lag_s, simulated=summary.get("simulated", 0),
    )  # fmt: skip


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)
