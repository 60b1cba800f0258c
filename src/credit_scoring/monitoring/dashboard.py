"""What the Streamlit monitor shows, computed here (and tested) so that the page script only lays it out."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from credit_scoring.monitoring._whylogs import DatasetProfileView
from credit_scoring.monitoring.drift import (
    RECORD_COLUMNS,
    DriftReport,
    FeatureDrift,
    QualityIssue,
    analyse_summarised,
    quality_issues,
)
from credit_scoring.monitoring.operations import Operations, operational_alerts, operations_from_summary
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
    "last 30 days": timedelta(days=30),
    "everything": None,
}
# Chart buckets (seconds): the one giving about TARGET_POINTS points, between MIN_POINTS and MAX_POINTS.
BUCKET_SECONDS: tuple[int, ...] = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                                   21600, 43200, 86400, 7 * 86400)  # fmt: skip
MIN_POINTS, TARGET_POINTS, MAX_POINTS = 30, 100, 200
REFRESH_S = 30  # loaded data is reused this long; range ends are rounded up to it so caches hit
TOP_DRIFTED = 4
ALERTS_SHOWN = 6  # more reasons than this go into a collapsed list, so the panels stay in view
SCORE_BINS = 20
PROFILES_HOLD_HISTORY = (
    "Simulated history is hidden from the charts and figures above, not from drift: the whylogs profiles "
    "of a window hold every scored record of it, simulated or live."
)
COUNTED = ("error_kind", "endpoint", "decision")  # records counted by value for the headline and tables
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


def bucket_seconds(start: datetime, end: datetime) -> int:
    """The chart bucket (seconds) giving between MIN_POINTS and MAX_POINTS points over the range, the
    one nearest TARGET_POINTS; ranges too short or too long for that get the nearest bucket."""
    span = max((end - start).total_seconds(), 1.0)
    fitting = [b for b in BUCKET_SECONDS if MIN_POINTS <= span / b <= MAX_POINTS]
    candidates = fitting or list(BUCKET_SECONDS)
    return min(candidates, key=lambda b: abs(math.log(span / b / TARGET_POINTS)))


def time_format(start: datetime, end: datetime) -> str:
    """A 24-hour clock on time axes, with the date once the range spans more than one day."""
    return (
        "%d %b %H:%M" if start.astimezone(UTC).date() != (end - timedelta(microseconds=1)).date() else "%H:%M"
    )


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


class AggregateSource(Protocol):
    """The store's aggregate queries (credit_scoring.recording.store): what the monitor reads."""

    location: str

    def summary(
        self, start: datetime | None, end: datetime | None, simulated: bool | None = None
    ) -> dict: ...

    def counts_by(
        self, start: datetime | None, end: datetime | None, column: str, simulated: bool | None = None
    ) -> dict[str, int]: ...

    def versions(
        self, start: datetime | None, end: datetime | None, simulated: bool | None = None
    ) -> pd.DataFrame: ...

    def score_histogram(
        self,
        start: datetime | None,
        end: datetime | None,
        upper: float,
        bins: int,
        simulated: bool | None = None,
    ) -> np.ndarray: ...

    def rejected_inputs(
        self, start: datetime | None, end: datetime | None, simulated: bool | None = None
    ) -> pd.DataFrame: ...

    def aggregate_operations(
        self, start: datetime | None, end: datetime | None, bucket_s: int, simulated: bool | None = None
    ) -> pd.DataFrame: ...


def production_profile(
    profile_dir: Path, start: datetime | None, end: datetime | None, window_minutes: int
) -> DatasetProfileView | None:
    """The production profiles of the range merged across windows and workers (None if none yet)."""
    return merge_window_profiles(profile_dir, profile_range_start(start, window_minutes), end)


@dataclass(frozen=True)
class Aggregates:
    """What the store computed for one range: a summary row, per-bucket operations, versions, refused
    inputs and the score histogram (never the range's raw rows)."""

    start: datetime | None
    end: datetime
    simulated: bool | None
    summary: dict
    over_time: pd.DataFrame
    bucket_s: int
    counts: dict[str, dict[str, int]]
    versions: pd.DataFrame
    rejected: pd.DataFrame
    scores: np.ndarray  # scored applications per bin of [0, score_upper]
    score_upper: float

    @property
    def first(self) -> datetime:
        return self.start or self.summary["first"] or self.end


def load_aggregates(
    store: AggregateSource,
    start: datetime | None,
    end: datetime,
    reference: DatasetProfileView | None,
    simulated: bool | None = None,
) -> Aggregates:
    """The range's aggregates, each one query in the store's engine; after the summary (which sets the
    buckets and the score axis) the others run at once: the engine works while Python waits."""
    summary = store.summary(start, end, simulated)
    first = start or summary["first"] or end
    bucket = bucket_seconds(first, end)
    upper = score_upper_bound(summary.get("probability_p99"), reference)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="aggregates") as pool:
        over_time = pool.submit(store.aggregate_operations, first, end, bucket, simulated)
        counted = {c: pool.submit(store.counts_by, start, end, c, simulated) for c in COUNTED}
        versions = pool.submit(store.versions, start, end, simulated)
        rejected = pool.submit(store.rejected_inputs, start, end, simulated)
        scores = pool.submit(store.score_histogram, start, end, upper, SCORE_BINS, simulated)
        counts = {column: future.result() for column, future in counted.items()}
        return Aggregates(start, end, simulated, summary, over_time.result(), bucket, counts,
                          versions.result(), rejected.result(), scores.result(), upper)  # fmt: skip


def load_range(
    store: AggregateSource,
    profile_dir: Path,
    window_minutes: int,
    start: datetime | None,
    end: datetime,
    reference: DatasetProfileView | None,
    simulated: bool | None = None,
) -> tuple[Aggregates, DatasetProfileView | None]:
    """The range's aggregates and merged production profile, side by side: DuckDB releases the GIL while
    it aggregates, so reading and merging the profiles runs meanwhile on the other core."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="profiles") as pool:
        merged = pool.submit(production_profile, profile_dir, start, end, window_minutes)
        aggregates = load_aggregates(store, start, end, reference, simulated)
        return aggregates, merged.result()


def simulated_caption(total: int, simulated: int) -> str:
    """How much of the range is simulated history (make backfill), never to be read as live traffic."""
    if simulated == 0:
        return "All records of this range are live traffic."
    if simulated == total:
        return f"All {total:,} records of this range are simulated history (make backfill), not live traffic."
    return (
        f"{simulated:,} of {total:,} records of this range ({simulated / total:.0%}) are simulated history "
        "(make backfill), not live traffic."
    )


# --- analysis --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Everything the page shows for one range: aggregates, health, and the drift report when possible."""

    aggregates: Aggregates
    operations: Operations
    quality: list[QualityIssue]
    reasons: list[str]
    report: DriftReport | None  # None without a reference profile
    profiled_rows: int

    @property
    def empty(self) -> bool:
        return self.operations.requests == 0


def range_minutes(aggregates: Aggregates) -> float:
    """Length of the range in minutes; open-ended ranges start at their first record."""
    return (aggregates.end - aggregates.first).total_seconds() / 60


def _model_versions(versions: pd.DataFrame) -> dict[str, int]:
    return {f"{r.model_name}@{r.model_version}": int(r.requests) for r in versions.itertuples()}


def build_snapshot(
    aggregates: Aggregates,
    production: DatasetProfileView | None,
    reference: DatasetProfileView | None,
    limits: AlertThresholds,
    reference_label: str = "",
    journal_lag_s: float | None = None,
) -> Snapshot:
    """Analyse a range: the full drift report with a reference, otherwise health and data quality only."""
    summary = aggregates.summary
    operations = operations_from_summary(summary, aggregates.counts, _model_versions(aggregates.versions),
                                         range_minutes(aggregates), journal_lag_s)  # fmt: skip
    rejected = aggregates.rejected.assign(status=400)
    quality = quality_issues(rejected, production, limits, scored=summary["scored"])
    profiled = _profiled_rows(production)
    if reference is not None:
        bounds = {"start": aggregates.start, "end": aggregates.end, "reference_label": reference_label}
        report = analyse_summarised(reference, production, operations, quality, limits, **bounds)
        return Snapshot(aggregates, operations, quality, report.reasons, report, profiled)
    reasons = [
        f"{q.column}: {q.kind.replace('_', ' ')} in {q.rate:.1%} of inputs" for q in quality if q.flagged
    ]
    reasons += operational_alerts(operations, limits)
    return Snapshot(aggregates, operations, quality, reasons, None, profiled)


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


# --- charts over time (from the store's per-bucket aggregates) --------------------------------------


def _empty_series(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], tz="UTC", name="time"), dtype="float64")


def volume_over_time(aggregates: Aggregates) -> pd.DataFrame:
    """Requests per bucket: scored (2xx), rejected (4xx) and server errors (5xx); empty buckets count 0."""
    columns = ["scored (2xx)", "rejected (4xx)", "server errors (5xx)"]
    frame = aggregates.over_time
    if frame.empty:
        return _empty_series(columns)
    step = pd.Timedelta(seconds=aggregates.bucket_s)
    every = pd.date_range(frame.index.min(), frame.index.max(), freq=step, name="time")
    volume = frame[["scored", "rejected", "server_errors"]].set_axis(columns, axis=1)
    return volume.reindex(every, fill_value=0.0)


def error_rate_over_time(aggregates: Aggregates) -> pd.DataFrame:
    """Rejected and server-error shares per bucket, in percent (buckets without requests left out)."""
    frame = aggregates.over_time
    if frame.empty:
        return _empty_series(["rejected %", "server errors %"])
    return pd.DataFrame({"rejected %": 100 * frame["rejected"] / frame["requests"],
                         "server errors %": 100 * frame["server_errors"] / frame["requests"]})  # fmt: skip


def latency_over_time(aggregates: Aggregates) -> pd.DataFrame:
    """Total latency p50/p95/p99 per bucket (ms), as the service measured it."""
    frame = aggregates.over_time[["latency_p50", "latency_p95", "latency_p99"]]
    return frame.rename(columns=lambda name: name.removeprefix("latency_")).rename_axis("time")


def inference_over_time(aggregates: Aggregates) -> pd.DataFrame:
    """Model inference time p50/p95 per bucket (ms), scored requests only."""
    frame = aggregates.over_time[["inference_p50", "inference_p95"]].dropna(how="all")
    return frame.rename(columns=lambda name: name.removeprefix("inference_")).rename_axis("time")


def refusal_rate_over_time(aggregates: Aggregates) -> pd.DataFrame:
    """Share of scored applications refused per bucket (percent), and the mean probability of default."""
    frame = aggregates.over_time[["refused_share", "mean_probability"]].dropna(how="all") * 100
    return frame.set_axis(["refused %", "mean score %"], axis=1).rename_axis("time")


# --- score distribution ----------------------------------------------------------------------------


def score_upper_bound(production_p99: float | None, reference: DatasetProfileView | None) -> float:
    """Right end of the score axis: where 99 % of scores lie (both samples), rounded up to 0.05."""
    tops = [float(production_p99)] if production_p99 is not None else []
    sketch = kll(reference, PROBABILITY_COLUMN) if reference is not None else None
    if sketch is not None:
        tops.append(float(sketch.get_quantile(0.99)))
    return min(1.0, max(0.1, math.ceil(max(tops, default=1.0) * 20) / 20))


def score_distribution(
    counts: np.ndarray, upper: float, reference: DatasetProfileView | None
) -> pd.DataFrame:
    """Share of scores per probability bucket in production (the store's exact counts) and in the
    reference (its sketch). Scores above the axis' right end (about 1 % of them) are in the last bucket."""
    edges = np.linspace(0.0, upper, len(counts) + 1)
    labels = [f"{low:.3f}-{high:.3f}" for low, high in itertools.pairwise(edges)]
    frame = pd.DataFrame({"production": counts / max(1, counts.sum())}, index=pd.Index(labels, name="score"))
    sketch = kll(reference, PROBABILITY_COLUMN) if reference is not None else None
    if sketch is not None:
        frame["reference"] = np.asarray(sketch.get_pmf(list(edges[1:-1])))
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


def versions_table(versions: pd.DataFrame) -> pd.DataFrame:
    """Each model version seen in the range: requests, first and last seen, refusal rate."""
    columns = ["model", "version", "requests", "first seen", "last seen", "refused %"]
    frame = versions.copy()
    frame["refused_share"] = (frame["refused_share"] * 100).round(1)
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
    stored_records: int, aggregates: Aggregates, profile_dir: Path, start: datetime | None, profiled: int
) -> Health:
    """Freshness of the request log and of the profile files; workers that wrote profiles in the range."""
    files = list_window_files(profile_dir, start)
    newest = max((f.path.stat().st_mtime for f in files), default=None)
    return Health(
        stored_records=stored_records,
        last_record=aggregates.summary["last"],
        last_profile_write=None if newest is None else datetime.fromtimestamp(newest, UTC),
        workers=len({f.worker for f in files}),
        scored_in_range=aggregates.summary["scored"],
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


def age_span(seconds: int) -> str:
    """A bucket's length for people: '10 s', '5 min', '2 h', '1 day'."""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h" if seconds < 86400 else f"{seconds // 86400} day(s)"
