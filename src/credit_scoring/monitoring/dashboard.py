"""What the Streamlit monitor shows, computed here (and tested) so that the page script only lays it out."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.typing import DataFrameGroupBy
from pandas.io.formats.style import Styler

from credit_scoring.monitoring._whylogs import DatasetProfileView
from credit_scoring.monitoring.drift import (
    RECORD_COLUMNS,
    DriftReport,
    FeatureDrift,
    QualityIssue,
    RecordSource,
    analyse,
    quality_issues,
)
from credit_scoring.monitoring.drift import load_records as drift_records
from credit_scoring.monitoring.operations import (
    Operations,
    operational_alerts,
    operations_over_time,
    summarise_operations,
)
from credit_scoring.monitoring.profiles import PROBABILITY_COLUMN
from credit_scoring.monitoring.sketches import kll
from credit_scoring.monitoring.window_profiles import list_window_files, merge_window_profiles, window_start
from credit_scoring.settings import AlertThresholds

RANGES: dict[str, timedelta | None] = {
    "last 15 minutes": timedelta(minutes=15),
    "last hour": timedelta(hours=1),
    "last 6 hours": timedelta(hours=6),
    "last 24 hours": timedelta(hours=24),
    "last 7 days": timedelta(days=7),
    "everything": None,
}
# Chart buckets, finest first: the first one giving at most MAX_BUCKETS points over the range is used.
BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("10s", timedelta(seconds=10)),
    ("30s", timedelta(seconds=30)),
    ("1min", timedelta(minutes=1)),
    ("5min", timedelta(minutes=5)),
    ("15min", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("6h", timedelta(hours=6)),
    ("1D", timedelta(days=1)),
)
MAX_BUCKETS = 90
REFRESH_S = 30  # loaded data is reused this long; range ends are rounded up to it so caches hit
TOP_DRIFTED = 4
ALERTS_SHOWN = 6  # more reasons than this go into a collapsed list, so the panels stay in view
SCORE_BINS = 20
NO_TRAFFIC = (
    "No traffic yet: start the API with monitoring (`make serve`), then run `make simulate` "
    "(e.g. `make simulate SCENARIO=drift`) and refresh this page."
)
SERIES_COLOURS = {
    "scored (2xx)": "#4c78a8",
    "rejected (4xx)": "#f58518",
    "server errors (5xx)": "#e45756",
    "rejected %": "#f58518",
    "server errors %": "#e45756",
    "p50": "#4c78a8",
    "p95": "#f58518",
    "p99": "#e45756",
    "reference": "#9ecae9",
    "production": "#f58518",
    "refused %": "#e45756",
    "mean score %": "#4c78a8",
}
STATUS_COLOURS = {
    "drifted": "#f8d0d0",
    "missingness changed": "#fde7c4",
    "stable": "#d9f2dc",
    "not assessed": "#e6e6e6",
}


# --- time range ------------------------------------------------------------------------------------


def ceil_time(moment: datetime, seconds: int) -> datetime:
    """``moment`` rounded up to a multiple of ``seconds``: a range end that stays the same for a while,
    so cached loads are reused, yet includes everything up to now."""
    epoch = math.ceil(moment.timestamp() / seconds) * seconds
    return datetime.fromtimestamp(epoch, UTC)


def time_bounds(label: str, now: datetime) -> tuple[datetime | None, datetime]:
    """``[start, end)`` of a named range ending at ``now`` (start None: since the first record)."""
    if label not in RANGES:
        raise ValueError(f"unknown time range {label!r}; choose one of {list(RANGES)}")
    span = RANGES[label]
    return (None if span is None else now - span), now


def bucket_for(start: datetime, end: datetime) -> str:
    """The finest chart bucket (pandas frequency) that keeps the range under MAX_BUCKETS points."""
    span = max(end - start, timedelta(seconds=1))
    return next((freq for freq, size in BUCKETS if span / size <= MAX_BUCKETS), BUCKETS[-1][0])


def profile_range_start(start: datetime | None, window_minutes: int) -> datetime | None:
    """Profiles cover whole windows: start at the window holding ``start`` so its rows are not lost."""
    return None if start is None else window_start(start, window_minutes)


# --- loading ---------------------------------------------------------------------------------------


def empty_records() -> pd.DataFrame:
    """The frame a query of an empty range returns (typed, so every computation below still works)."""
    frame = pd.DataFrame({name: pd.Series(dtype="str") for name in RECORD_COLUMNS})
    frame["timestamp"] = pd.Series(dtype="datetime64[us, UTC]")
    for name in ("probability", "threshold", "latency_ms", "inference_ms"):
        frame[name] = pd.Series(dtype="float64")
    frame["status"] = pd.Series(dtype="int16")
    frame["simulated"] = pd.Series(dtype="bool")
    return frame


def load_records(store: RecordSource, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """The stored records of the range, with the columns the page reads (the store's query API)."""
    return drift_records(store, start, end)


def production_profile(
    profile_dir: Path, start: datetime | None, end: datetime | None, window_minutes: int
) -> DatasetProfileView | None:
    """The production profiles of the range merged across windows and workers (None if none yet)."""
    return merge_window_profiles(profile_dir, profile_range_start(start, window_minutes), end)


# --- analysis --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Everything the page shows for one range: records, health, and the drift report when possible."""

    start: datetime | None
    end: datetime
    records: pd.DataFrame
    operations: Operations
    quality: list[QualityIssue]
    reasons: list[str]
    report: DriftReport | None  # None without a reference profile
    profiled_rows: int

    @property
    def empty(self) -> bool:
        return self.records.empty


def range_minutes(start: datetime | None, end: datetime, records: pd.DataFrame) -> float:
    """Length of the range in minutes; open-ended ranges start at their first record."""
    first = start or (records["timestamp"].min() if len(records) else None)
    return (end - first).total_seconds() / 60 if first is not None else math.nan


def build_snapshot(
    records: pd.DataFrame,
    production: DatasetProfileView | None,
    reference: DatasetProfileView | None,
    limits: AlertThresholds,
    start: datetime | None,
    end: datetime,
    reference_label: str = "",
    journal_lag_s: float | None = None,
) -> Snapshot:
    """Analyse a range: the full drift report with a reference, otherwise health and data quality only."""
    profiled = _profiled_rows(production)
    if reference is not None:
        report = analyse(reference, production, records, limits, start=start, end=end,
                         reference_label=reference_label, journal_lag_s=journal_lag_s)  # fmt: skip
        return Snapshot(
            start, end, records, report.operations, report.quality, report.reasons, report, profiled
        )
    operations = summarise_operations(records, range_minutes(start, end, records), journal_lag_s)
    quality = quality_issues(records, production, limits)
    reasons = [
        f"{q.column}: {q.kind.replace('_', ' ')} in {q.rate:.1%} of inputs" for q in quality if q.flagged
    ]
    reasons += operational_alerts(operations, limits)
    return Snapshot(start, end, records, operations, quality, reasons, None, profiled)


def _profiled_rows(production: DatasetProfileView | None) -> int:
    column = production.get_column(PROBABILITY_COLUMN) if production is not None else None
    return int(column.get_metric("counts").to_summary_dict()["n"]) if column is not None else 0


def split_alerts(reasons: Sequence[str], shown: int = ALERTS_SHOWN) -> tuple[list[str], list[str]]:
    """The alert reasons shown in full, and the rest (listed on demand)."""
    return list(reasons[:shown]), list(reasons[shown:])


# --- headline --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One headline number: label, formatted value, an optional comparison, and whether it alerts."""

    label: str
    value: str
    delta: str | None = None
    alert: bool = False
    help: str = ""


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def refusal_rate(operations: Operations) -> float | None:
    """Share of scored applications refused (None when nothing was scored)."""
    scored = sum(operations.decisions.values())
    return _share(operations.decisions.get("refuse", 0), scored) if scored else None


def headline(snapshot: Snapshot, limits: AlertThresholds) -> list[Metric]:
    """Requests, error rate, p95 latency, refusal rate and drifted features, each with its alert flag."""
    ops = snapshot.operations
    errors = ops.client_error_rate + ops.server_error_rate
    p95 = ops.latency_ms.get("p95", math.nan)
    refused = refusal_rate(ops)
    metrics = [
        Metric("Requests", f"{ops.requests:,}", f"{ops.requests_per_minute:.1f} per minute"),
        Metric(
            "Error rate",
            f"{errors:.1%}",
            f"{ops.client_errors} 4xx, {ops.server_errors} 5xx",
            ops.client_error_rate > limits.max_client_error_rate
            or ops.server_error_rate > limits.max_server_error_rate,
            f"alerts above {limits.max_client_error_rate:.0%} rejected "
            f"or {limits.max_server_error_rate:.0%} server errors",
        ),
        Metric(
            "Latency p95",
            "-" if math.isnan(p95) else f"{p95:.1f} ms",
            None if math.isnan(p95) else f"p50 {ops.latency_ms['p50']:.1f} ms",
            p95 > limits.latency_p95_ms,
            f"alerts above {limits.latency_p95_ms:.0f} ms",
        ),
        Metric(
            "Refusal rate",
            "-" if refused is None else f"{refused:.1%}",
            None if ops.threshold is None else f"threshold {ops.threshold:.3f}",
            help="share of scored applications whose probability of default reached the threshold",
        ),
    ]
    return [*metrics, _drift_metric(snapshot.report)]


def _drift_metric(report: DriftReport | None) -> Metric:
    if report is None:
        return Metric("Drifted features", "-", "no reference profile")
    drifted, assessed = len(report.drifted_features), len(report.assessed_features)
    return Metric(
        "Drifted features",
        f"{drifted} of {assessed}",
        f"{report.drifted_share:.0%} of those assessed",
        drifted > report.thresholds.max_drifted_features,
        "a feature drifts when its test rejects and its Hellinger distance is material",
    )


def colours(frame: pd.DataFrame) -> list[str]:
    """One colour per charted column, the same series always in the same colour across charts."""
    return [SERIES_COLOURS.get(str(name), "#54a24b") for name in frame.columns]


# --- charts over time ------------------------------------------------------------------------------


def _grouped(records: pd.DataFrame, freq: str) -> DataFrameGroupBy:
    return records.set_index("timestamp").groupby(pd.Grouper(freq=freq))


def volume_over_time(records: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Requests per bucket: scored (2xx), rejected (4xx) and server errors (5xx); empty buckets count 0."""
    columns = ["scored (2xx)", "rejected (4xx)", "server errors (5xx)"]
    if records.empty:
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], tz="UTC", name="time"))
    status = records.set_index("timestamp")["status"]
    classes = pd.DataFrame(
        {
            columns[0]: status < 400,
            columns[1]: status.between(400, 499),
            columns[2]: status >= 500,
        }
    ).astype(int)
    return classes.groupby(pd.Grouper(freq=freq)).sum().rename_axis("time")


def error_rate_over_time(records: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Rejected and server-error shares per bucket, in percent (buckets without requests left out)."""
    frame = operations_over_time(records, freq)[["client_error_rate", "server_error_rate"]] * 100
    return frame.rename(columns={"client_error_rate": "rejected %", "server_error_rate": "server errors %"})


def latency_over_time(records: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Total latency p50/p95/p99 per bucket (ms), as the service measured it."""
    frame = operations_over_time(records, freq)[["latency_p50", "latency_p95", "latency_p99"]]
    return frame.rename(columns=lambda name: name.removeprefix("latency_")).rename_axis("time")


def inference_over_time(records: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Model inference time p50/p95 per bucket (ms), scored requests only."""
    scored = records[records["inference_ms"].notna()]
    if scored.empty:
        return pd.DataFrame(columns=["p50", "p95"], index=pd.DatetimeIndex([], tz="UTC", name="time"))
    grouped = _grouped(scored, freq)["inference_ms"]
    frame = pd.DataFrame({"p50": grouped.quantile(0.5), "p95": grouped.quantile(0.95)})
    return frame.dropna(how="all").rename_axis("time")


def refusal_rate_over_time(records: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Share of scored applications refused per bucket (percent), and the mean probability of default."""
    scored = records[records["decision"].isin(["grant", "refuse"])]
    if scored.empty:
        return pd.DataFrame(columns=["refused %", "mean score %"], index=pd.DatetimeIndex([], tz="UTC"))
    grouped = _grouped(scored.assign(refused=scored["decision"] == "refuse"), freq)
    frame = pd.DataFrame(
        {"refused %": grouped["refused"].mean() * 100, "mean score %": grouped["probability"].mean() * 100}
    )
    return frame.dropna(how="all").rename_axis("time")


# --- score distribution ----------------------------------------------------------------------------


def score_upper_bound(scores: pd.Series, reference: DatasetProfileView | None) -> float:
    """Right end of the score axis: where 99 % of scores lie (both samples), rounded up to 0.05."""
    present = scores.dropna()
    tops = [float(present.quantile(0.99))] if len(present) else []
    sketch = kll(reference, PROBABILITY_COLUMN) if reference is not None else None
    if sketch is not None:
        tops.append(float(sketch.get_quantile(0.99)))
    return min(1.0, max(0.1, math.ceil(max(tops, default=1.0) * 20) / 20))


def score_distribution(
    scores: pd.Series, reference: DatasetProfileView | None, bins: int = SCORE_BINS
) -> pd.DataFrame:
    """Share of scores per probability bucket in production (exact) and in the reference (its sketch).

    Scores above the axis' right end (about 1 % of them) are counted in the last bucket.
    """
    edges = np.linspace(0.0, score_upper_bound(scores, reference), bins + 1)
    present = np.clip(scores.dropna().to_numpy(dtype=float), 0.0, edges[-1])
    counts, _ = np.histogram(present, edges)
    labels = [f"{low:.3f}-{high:.3f}" for low, high in itertools.pairwise(edges)]
    frame = pd.DataFrame({"production": counts / max(1, counts.sum())}, index=pd.Index(labels, name="score"))
    sketch = kll(reference, PROBABILITY_COLUMN) if reference is not None else None
    if sketch is not None:
        shares = np.asarray(sketch.get_pmf(list(edges[1:-1])))
        frame["reference"] = shares
    return frame


# --- drift table -----------------------------------------------------------------------------------


def drift_status(feature: FeatureDrift) -> str:
    if feature.drifted:
        return "drifted"
    if feature.null_rate_changed:
        return "missingness changed"
    return "stable" if feature.assessed else "not assessed"


def drift_table(features: Sequence[FeatureDrift]) -> pd.DataFrame:
    """One row per feature: verdict, test, statistic, p-value, effect sizes and missing-value rates."""
    rows = [
        {
            "feature": f.column,
            "status": drift_status(f),
            "test": f.test or "-",
            "statistic": f.statistic,
            "p-value": f.p_value,
            "Hellinger": f.hellinger,
            "PSI": f.psi,
            "missing % (reference)": 100 * f.reference_null_rate,
            "missing % (production)": 100 * f.production_null_rate,
            "rows": f.production_rows,
        }
        for f in features
    ]
    columns = ["feature", "status", "test", "statistic", "p-value", "Hellinger", "PSI"]
    columns += ["missing % (reference)", "missing % (production)", "rows"]
    return pd.DataFrame(rows, columns=columns)


def hellinger_colour(value: float | None, limit: float) -> str:
    """Red at or above the alert limit, amber above half of it, none otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value >= limit:
        return f"background-color: {STATUS_COLOURS['drifted']}"
    return f"background-color: {STATUS_COLOURS['missingness changed']}" if value >= limit / 2 else ""


def style_drift_table(table: pd.DataFrame, limits: AlertThresholds) -> Styler:
    """The drift table colour-coded: status cells by verdict, Hellinger cells by effect size."""
    styler = table.style.map(lambda status: f"background-color: {STATUS_COLOURS.get(status, '')}", ["status"])
    styler = styler.map(lambda value: hellinger_colour(value, limits.min_hellinger), ["Hellinger"])
    return styler.format(
        {
            "statistic": "{:.3f}",
            "p-value": "{:.2e}",
            "Hellinger": "{:.3f}",
            "PSI": "{:.3f}",
            "missing % (reference)": "{:.1f}",
            "missing % (production)": "{:.1f}",
        },
        na_rep="-",
    )


def drift_caption(report: DriftReport) -> str:
    """How many features drifted, and the rule that decides it."""
    limits = report.thresholds
    return (
        f"{len(report.drifted_features)} of {len(report.assessed_features)} features drifted. A feature "
        f"drifts when its test rejects at p < {report.corrected_alpha:.1e} (alpha {limits.alpha} / number "
        f"of features) and its Hellinger distance reaches {limits.min_hellinger}. Click a header to sort."
    )


def top_features(features: Sequence[FeatureDrift], n: int = TOP_DRIFTED) -> list[str]:
    """The features worth drawing: drifted ones (largest effect first), else those that moved most."""
    drifted = [f.column for f in features if f.drifted or f.null_rate_changed]
    if drifted:
        return drifted[:n]
    moved = sorted((f for f in features if f.assessed), key=lambda f: -(f.hellinger or 0.0))
    return [f.column for f in moved[:n]]


# --- data quality, versions, health ----------------------------------------------------------------


def quality_table(issues: Sequence[QualityIssue]) -> pd.DataFrame:
    """Rule violations in the range: column, problem, rows, share (percent), examples, alert."""
    rows = [
        {
            "column": q.column,
            "problem": q.kind.replace("_", " "),
            "rows": q.rows,
            "share %": 100 * q.rate,
            "examples": ", ".join(map(repr, q.examples)),
            "alert": "yes" if q.flagged else "",
        }
        for q in issues
    ]
    return pd.DataFrame(rows, columns=["column", "problem", "rows", "share %", "examples", "alert"])


def error_kinds_table(operations: Operations) -> pd.DataFrame:
    """Refused or failed requests by kind (validation, auth, too_large, unavailable, internal)."""
    return pd.DataFrame(
        {"error kind": list(operations.error_kinds), "requests": list(operations.error_kinds.values())}
    )


def versions_table(records: pd.DataFrame) -> pd.DataFrame:
    """Each model version seen in the range: requests, first and last seen, refusal rate."""
    columns = ["model", "version", "requests", "first seen", "last seen", "refused %"]
    if records.empty:
        return pd.DataFrame(columns=columns)
    grouped = records.assign(refused=records["decision"] == "refuse").groupby(["model_name", "model_version"])
    frame = grouped.agg(
        requests=("timestamp", "size"),
        first=("timestamp", "min"),
        last=("timestamp", "max"),
        refused=("refused", "mean"),
    ).reset_index()
    frame["refused"] = (frame["refused"] * 100).round(1)
    frame.columns = columns
    return frame.sort_values("last seen", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class Health:
    """Is the request log being written and profiled? Freshness of the store and of the profiles."""

    stored_records: int
    last_record: datetime | None
    last_profile_write: datetime | None
    workers: int
    scored_in_range: int
    profiled_in_range: int

    @property
    def profile_lag(self) -> int:
        """Scored records of the range not yet in a written profile (profiles are checkpointed)."""
        return max(0, self.scored_in_range - self.profiled_in_range)


def pipeline_health(
    stored_records: int, records: pd.DataFrame, profile_dir: Path, start: datetime | None, profiled: int
) -> Health:
    """Freshness of the request log and of the profile files; workers that wrote profiles in the range."""
    files = list_window_files(profile_dir, start)
    newest = max((f.path.stat().st_mtime for f in files), default=None)
    return Health(
        stored_records=stored_records,
        last_record=records["timestamp"].max().to_pydatetime() if len(records) else None,
        last_profile_write=None if newest is None else datetime.fromtimestamp(newest, UTC),
        workers=len({f.worker for f in files}),
        scored_in_range=int((records["status"] < 400).sum()) if len(records) else 0,
        profiled_in_range=profiled,
    )


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago, for people: '42 s ago', '3 min ago', '5.0 h ago', or 'never'."""
    if moment is None:
        return "never"
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago" if seconds < 7200 else f"{seconds / 3600:.1f} h ago"
