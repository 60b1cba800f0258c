"""Drift analysis of a time range: production profiles against the training reference, plus health.

A feature drifts only when its test rejects (p-value below alpha, Bonferroni-corrected over the
features compared) *and* the effect is material (Hellinger distance at least ``min_hellinger``): on
large windows p-values alone flag shifts too small to matter, on small ones effect sizes are noise.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import pandas as pd

from credit_scoring.monitoring._whylogs import DatasetProfileView
from credit_scoring.monitoring.operations import (
    Operations,
    operational_alerts,
    operations_from_summary,
    summarise_operations,
)
from credit_scoring.monitoring.profiles import PROBABILITY_COLUMN
from credit_scoring.monitoring.sketches import (
    Comparison,
    compare_categorical,
    compare_numeric,
    counts,
    frequencies,
    kll,
    null_share_test,
)
from credit_scoring.monitoring.window_profiles import merge_window_profiles
from credit_scoring.schema import COLUMNS_BY_NAME, INPUT_COLUMNS
from credit_scoring.settings import AlertThresholds
from credit_scoring.validation import check_frame

# The stored columns the analysis reads (the raw inputs are in the profiles, not read row by row).
RECORD_COLUMNS: tuple[str, ...] = ("request_id", "timestamp", "endpoint", "model_name", "model_version",
                                   "probability", "decision", "threshold", "latency_ms", "inference_ms",
                                   "status", "error_kind", "simulated", "rejected_inputs")  # fmt: skip


class RecordSource(Protocol):
    """The production store's query API as the analysis uses it (credit_scoring.recording.store)."""

    location: str

    def records(self, start: datetime | None, end: datetime | None, columns: Any) -> pd.DataFrame: ...

    def count(self, start: datetime | None = None, end: datetime | None = None) -> int: ...

    def summary(self, start: datetime | None, end: datetime | None) -> dict[str, Any]: ...

    def counts_by(self, start: datetime | None, end: datetime | None, column: str) -> dict[str, int]: ...

    def versions(self, start: datetime | None, end: datetime | None) -> pd.DataFrame: ...

    def rejected_inputs(self, start: datetime | None, end: datetime | None) -> pd.DataFrame: ...


def load_records(store: RecordSource, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """The records of ``[start, end)`` with the columns the analysis reads."""
    return store.records(start, end, RECORD_COLUMNS)


def rejected_inputs(records: pd.DataFrame) -> pd.DataFrame:
    """What refused applications asked, one column per field, indexed like their records."""
    if "rejected_inputs" not in records:
        return pd.DataFrame()
    present = records["rejected_inputs"].dropna()
    return pd.DataFrame([orjson.loads(text) for text in present], index=present.index)


@dataclass(frozen=True)
class FeatureDrift:
    """One column's verdict: distribution test and effect sizes, and its missing-value rate."""

    column: str
    kind: str
    assessed: bool
    drifted: bool
    test: str | None
    statistic: float | None
    p_value: float | None
    hellinger: float | None
    psi: float | None
    reference_rows: int
    production_rows: int
    reference_null_rate: float
    production_null_rate: float
    null_rate_p_value: float
    null_rate_changed: bool
    note: str = ""


@dataclass(frozen=True)
class QualityIssue:
    """Values breaking the schema's rules in the range (from stored inputs, or unseen levels in profiles)."""

    column: str
    kind: str
    rows: int
    rate: float
    examples: list[Any] = field(default_factory=list)
    flagged: bool = False


@dataclass(frozen=True)
class DriftReport:
    """Everything the analysis found for one time range, and whether (and why) an alert fires."""

    start: datetime | None
    end: datetime | None
    generated_at: datetime
    reference: str
    production_rows: int
    corrected_alpha: float
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    quality: list[QualityIssue]
    operations: Operations
    thresholds: AlertThresholds
    alert: bool
    reasons: list[str]

    @property
    def drifted_features(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    @property
    def assessed_features(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.assessed]

    @property
    def drifted_share(self) -> float:
        assessed = len(self.assessed_features)
        return len(self.drifted_features) / assessed if assessed else 0.0

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["drifted_share"] = self.drifted_share
        payload["drifted_features"] = [f.column for f in self.drifted_features]
        return _plain(payload)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes as ISO strings, NaN and infinities as null."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _is_categorical(column: str) -> bool:
    spec = COLUMNS_BY_NAME.get(column)
    return spec is not None and spec.kind == "category"


def _comparison(
    reference: DatasetProfileView, production: DatasetProfileView, column: str
) -> Comparison | None:
    if _is_categorical(column):
        ref, prod = frequencies(reference, column), frequencies(production, column)
        return compare_categorical(ref, prod) if ref and prod else None
    ref_sketch, prod_sketch = kll(reference, column), kll(production, column)
    return compare_numeric(ref_sketch, prod_sketch) if ref_sketch and prod_sketch else None


def compare_column(
    reference: DatasetProfileView,
    production: DatasetProfileView,
    column: str,
    limits: AlertThresholds,
    alpha: float,
) -> FeatureDrift:
    """The verdict for one column at significance ``alpha`` (already corrected for multiple tests)."""
    ref_rows, ref_nulls = counts(reference, column)
    prod_rows, prod_nulls = counts(production, column)
    ref_rate = ref_nulls / ref_rows if ref_rows else 0.0
    prod_rate = prod_nulls / prod_rows if prod_rows else 0.0
    null_p = null_share_test(ref_rows, ref_nulls, prod_rows, prod_nulls)
    null_changed = null_p < alpha and abs(prod_rate - ref_rate) >= limits.max_null_rate_change
    found = _comparison(reference, production, column)
    enough = found is not None and found.production_count >= limits.min_rows_for_drift
    drifted = enough and found.p_value < alpha and found.hellinger >= limits.min_hellinger
    note = "" if enough else f"fewer than {limits.min_rows_for_drift} values: not assessed"
    return FeatureDrift(
        column=column,
        kind="categorical" if _is_categorical(column) else "numeric",
        assessed=enough,
        drifted=bool(drifted),
        test=found.test if found else None,
        statistic=found.statistic if found else None,
        p_value=found.p_value if found else None,
        hellinger=found.hellinger if found else None,
        psi=found.psi if found else None,
        reference_rows=ref_rows,
        production_rows=prod_rows,
        reference_null_rate=ref_rate,
        production_null_rate=prod_rate,
        null_rate_p_value=null_p,
        null_rate_changed=bool(null_changed),
        note=note,
    )


def corrected_alpha(limits: AlertThresholds, tests: int) -> float:
    """Bonferroni: with 120 features tested at once, each test gets alpha / 120."""
    return limits.alpha / max(1, tests)


def compare_profiles(
    reference: DatasetProfileView,
    production: DatasetProfileView,
    limits: AlertThresholds,
    columns: tuple[str, ...] = INPUT_COLUMNS,
) -> list[FeatureDrift]:
    """Every input column's verdict, drifted first, then by decreasing effect size."""
    present = [c for c in columns if reference.get_column(c) is not None]
    alpha = corrected_alpha(limits, len(present))
    verdicts = [compare_column(reference, production, column, limits, alpha) for column in present]
    return sorted(verdicts, key=lambda f: (not f.drifted, not f.null_rate_changed, -(f.hellinger or 0.0)))


def quality_issues(
    records: pd.DataFrame,
    production: DatasetProfileView | None,
    limits: AlertThresholds,
    scored: int | None = None,
) -> list[QualityIssue]:
    """Rule violations in the stored inputs of the range, and levels the schema does not know.

    ``records`` may hold only the refused requests' inputs when ``scored`` (the range's scored count,
    from the store's aggregates) is given: the monitor then never reads the scored rows."""
    issues = _record_issues(records, limits, scored)
    seen = {(issue.column, issue.kind) for issue in issues}
    if production is not None:
        issues += [i for i in _profile_unseen_levels(production, limits) if (i.column, i.kind) not in seen]
    return sorted(issues, key=lambda issue: (not issue.flagged, -issue.rate))


def _issue_kind(column: str, message: str) -> str:
    if "may not be missing" in message:
        return "missing_required"
    if _is_categorical(column):
        return "unseen_level"
    return "not_a_number" if "found text" in message else "out_of_range"


def _record_issues(records: pd.DataFrame, limits: AlertThresholds, scored: int | None) -> list[QualityIssue]:
    """Rules broken by the inputs of refused requests; shares of all inputs seen (scored ones passed)."""
    table = rejected_inputs(records)
    if table.empty:
        return []
    seen = (int((records["status"] < 400).sum()) if scored is None else scored) + len(table)
    violations = check_frame(table.reindex(columns=list(INPUT_COLUMNS)))
    return [
        QualityIssue(
            column=v.column,
            kind=_issue_kind(v.column, v.message),
            rows=v.rows,
            rate=v.rows / seen,
            examples=[_plain(e) for e in v.examples[:3]],
            flagged=v.rows / seen > limits.max_out_of_range_rate,
        )
        for v in violations
    ]


def _profile_unseen_levels(production: DatasetProfileView, limits: AlertThresholds) -> list[QualityIssue]:
    issues = []
    for column in INPUT_COLUMNS:
        if not _is_categorical(column):
            continue
        seen = frequencies(production, column)
        unknown = {level: n for level, n in seen.items() if level not in COLUMNS_BY_NAME[column].levels}
        if unknown:
            rate = sum(unknown.values()) / max(1.0, sum(seen.values()))
            flagged = rate > limits.max_out_of_range_rate
            issues.append(
                QualityIssue(
                    column, "unseen_level", int(sum(unknown.values())), rate, list(unknown)[:3], flagged
                )
            )
    return issues


def _minutes(start: datetime | None, end: datetime | None, records: pd.DataFrame) -> float:
    if start is not None and end is not None:
        return (end - start).total_seconds() / 60
    if len(records) > 1:
        return (records["timestamp"].max() - records["timestamp"].min()).total_seconds() / 60
    return float("nan")


def _alert_reasons(
    features: list[FeatureDrift],
    prediction: FeatureDrift | None,
    quality: list[QualityIssue],
    operations: Operations,
    limits: AlertThresholds,
) -> list[str]:
    reasons: list[str] = []
    drifted = [f for f in features if f.drifted]
    if len(drifted) > limits.max_drifted_features:
        names = ", ".join(f"{f.column} (Hellinger {f.hellinger:.2f})" for f in drifted[:5])
        reasons.append(f"{len(drifted)} feature(s) drifted: {names}{' ...' if len(drifted) > 5 else ''}")
    if prediction is not None and prediction.drifted:
        reasons.append(f"score distribution drifted (Hellinger {prediction.hellinger:.2f})")
    reasons += [
        f"{f.column} missing {f.production_null_rate:.0%} of the time (reference {f.reference_null_rate:.0%})"
        for f in features
        if f.null_rate_changed
    ]
    reasons += [
        f"{q.column}: {q.kind.replace('_', ' ')} in {q.rate:.1%} of inputs" for q in quality if q.flagged
    ]
    return reasons + operational_alerts(operations, limits)


def analyse(
    reference: DatasetProfileView,
    production: DatasetProfileView | None,
    records: pd.DataFrame,
    limits: AlertThresholds,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    reference_label: str = "",
    journal_lag_s: float | None = None,
) -> DriftReport:
    """Compare the production profile of a range with the reference and summarise the stored records."""
    quality = quality_issues(records, production, limits)
    operations = summarise_operations(records, _minutes(start, end, records), journal_lag_s)
    return analyse_summarised(reference, production, operations, quality, limits, start=start, end=end,
                              reference_label=reference_label)  # fmt: skip


def analyse_summarised(
    reference: DatasetProfileView,
    production: DatasetProfileView | None,
    operations: Operations,
    quality: list[QualityIssue],
    limits: AlertThresholds,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    reference_label: str = "",
) -> DriftReport:
    """:func:`analyse` from operations and quality issues already computed (by the store's aggregates)."""
    features = compare_profiles(reference, production, limits) if production is not None else []
    prediction = None
    if production is not None and reference.get_column(PROBABILITY_COLUMN) is not None:
        prediction = compare_column(reference, production, PROBABILITY_COLUMN, limits, limits.alpha)
    production_rows = counts(production, PROBABILITY_COLUMN)[0] if production is not None else 0
    reasons = _alert_reasons(features, prediction, quality, operations, limits)
    return DriftReport(
        start=start,
        end=end,
        generated_at=datetime.now(UTC),
        reference=reference_label,
        production_rows=production_rows,
        corrected_alpha=corrected_alpha(limits, len(features)),
        features=features,
        prediction=prediction,
        quality=quality,
        operations=operations,
        thresholds=limits,
        alert=bool(reasons),
        reasons=reasons,
    )


def analyse_range(
    reference: DatasetProfileView,
    profile_dir: Path,
    store: RecordSource,
    limits: AlertThresholds,
    start: datetime | None,
    end: datetime | None,
    reference_label: str = "",
    journal_lag_s: float | None = None,
) -> tuple[DriftReport, DatasetProfileView | None]:
    """Merge the range's profiles and read the store's aggregates (never its raw rows, only the refused
    requests' inputs), analyse them; also returns the merged production profile."""
    production = merge_window_profiles(profile_dir, start, end)
    operations = stored_operations(store, start, end, journal_lag_s)
    rejected = store.rejected_inputs(start, end).assign(status=400)
    quality = quality_issues(rejected, production, limits, scored=operations.succeeded)
    report = analyse_summarised(reference, production, operations, quality, limits, start=start, end=end,
                                reference_label=reference_label)  # fmt: skip
    return report, production


def stored_operations(
    store: RecordSource, start: datetime | None, end: datetime | None, journal_lag_s: float | None = None
) -> Operations:
    """The range's :class:`Operations` from the store's aggregate queries."""
    summary = store.summary(start, end)
    counts = {
        column: store.counts_by(start, end, column) for column in ("error_kind", "endpoint", "decision")
    }
    versions = {
        f"{r.model_name}@{r.model_version}": int(r.requests) for r in store.versions(start, end).itertuples()
    }
    first, last = start or summary["first"], end or summary["last"]
    minutes = (last - first).total_seconds() / 60 if first and last else float("nan")
    return operations_from_summary(summary, counts, versions, minutes, journal_lag_s)
