"""The drift report as files: report.json (machine-readable), report.md (readable) and PNG plots."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from credit_scoring.monitoring._whylogs import DatasetProfileView
from credit_scoring.monitoring.drift import DriftReport, FeatureDrift
from credit_scoring.monitoring.plots import distribution_figure, save_figure
from credit_scoring.monitoring.profiles import PROBABILITY_COLUMN

TOP_FEATURES = 6  # drifted features drawn; without drift, the three that moved most
TABLE_ROWS = 25


@dataclass(frozen=True)
class ReportFiles:
    json: Path
    markdown: Path
    figures: dict[str, Path]


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def _figure_columns(report: DriftReport) -> list[str]:
    drifted = [f.column for f in report.features if f.drifted]
    return drifted[:TOP_FEATURES] or [f.column for f in report.features if f.assessed][:3]


def save_report_figures(
    report: DriftReport, reference: DatasetProfileView, production: DatasetProfileView | None, out_dir: Path
) -> dict[str, Path]:
    """Score distribution and the top drifted features against the reference, as PNG files."""
    if production is None:
        return {}
    figures: dict[str, Path] = {}
    if report.prediction is not None:
        figure = distribution_figure(reference, production, PROBABILITY_COLUMN, "score distribution")
        figures[PROBABILITY_COLUMN] = save_figure(figure, out_dir / "score_distribution.png")
    by_name = {f.column: f for f in report.features}
    for column in _figure_columns(report):
        subtitle = f"Hellinger {_number(by_name[column].hellinger, 2)}"
        figure = distribution_figure(reference, production, column, subtitle)
        figures[column] = save_figure(figure, out_dir / f"drift_{column}.png")
    return figures


def _feature_row(f: FeatureDrift) -> str:
    verdict = "**drifted**" if f.drifted else ("not assessed" if not f.assessed else "stable")
    nulls = f"{f.reference_null_rate:.1%} -> {f.production_null_rate:.1%}" + (
        " **!**" if f.null_rate_changed else ""
    )
    return (
        f"| {f.column} | {f.test or '-'} | {_number(f.statistic)} | {_number(f.p_value)} | "
        f"{_number(f.hellinger)} | {_number(f.psi)} | {nulls} | {verdict} |"
    )


def _summary_lines(report: DriftReport) -> list[str]:
    start = report.start.isoformat() if report.start else "the first record"
    end = report.end.isoformat() if report.end else "now"
    span = f"{start} to {end}"
    status = "ALERT" if report.alert else "OK: no alert"
    lines = [f"# Drift report: {status}", "", f"- Range: {span}", f"- Reference: {report.reference or '-'}"]
    lines += [
        f"- Production rows profiled: {report.production_rows}",
        f"- Drifted features: {len(report.drifted_features)} of {len(report.assessed_features)} assessed "
        f"({report.drifted_share:.1%}); a feature drifts when p < {_number(report.corrected_alpha)} "
        f"(alpha {report.thresholds.alpha} / features) and Hellinger >= {report.thresholds.min_hellinger}",
        "",
    ]
    if report.reasons:
        lines += ["## Why the alert fired", "", *[f"- {reason}" for reason in report.reasons], ""]
    return lines


def _operations_lines(report: DriftReport) -> list[str]:
    ops = report.operations
    latency = ", ".join(f"{k} {_number(v, 1)} ms" for k, v in ops.latency_ms.items())
    inference = ", ".join(f"{k} {_number(v, 2)} ms" for k, v in ops.inference_ms.items())
    return [
        "## Operations",
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests (records) | {ops.requests} ({_number(ops.requests_per_minute, 1)} per minute) |",
        f"| simulated (make backfill) | {ops.simulated} ({ops.simulated / max(1, ops.requests):.0%}) |",
        f"| rejected (4xx) | {ops.client_errors} ({ops.client_error_rate:.2%}) |",
        f"| server errors (5xx) | {ops.server_errors} ({ops.server_error_rate:.2%}) |",
        f"| latency | {latency} |",
        f"| model inference | {inference} |",
        f"| error kinds | {ops.error_kinds or '-'} |",
        f"| model versions | {ops.model_versions or '-'} |",
        f"| decisions | {ops.decisions or '-'} (threshold {_number(ops.threshold)}) |",
        "",
    ]


def _drift_lines(report: DriftReport, figures: dict[str, Path]) -> list[str]:
    lines = ["## Prediction drift", ""]
    if report.prediction is None:
        lines += ["No score distribution to compare (no reference scores or no production profile).", ""]
    else:
        lines += [_table_header(), _feature_row(report.prediction), ""]
    if PROBABILITY_COLUMN in figures:
        lines += [f"![score distribution]({figures[PROBABILITY_COLUMN].name})", ""]
    lines += ["## Feature drift", "", _table_header()]
    lines += [_feature_row(f) for f in report.features[:TABLE_ROWS]]
    if len(report.features) > TABLE_ROWS:
        lines += ["", f"... {len(report.features) - TABLE_ROWS} more stable features in report.json."]
    lines += [""] + [
        f"![{name}]({path.name})" for name, path in figures.items() if name != PROBABILITY_COLUMN
    ]
    return [*lines, ""]


def _table_header() -> str:
    return (
        "| feature | test | statistic | p-value | Hellinger | PSI | missing (ref -> prod) | verdict |\n"
        "|---|---|---|---|---|---|---|---|"
    )


def _quality_lines(report: DriftReport) -> list[str]:
    lines = ["## Data quality", ""]
    if not report.quality:
        return [*lines, "No input broke the schema's rules in this range.", ""]
    lines += ["| column | problem | rows | share | examples | alert |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {q.column} | {q.kind.replace('_', ' ')} | {q.rows} | {q.rate:.2%} | "
        f"{', '.join(map(repr, q.examples)) or '-'} | {'yes' if q.flagged else ''} |"
        for q in report.quality
    ]
    return [*lines, ""]


def render_markdown(report: DriftReport, figures: dict[str, Path]) -> str:
    """The readable report: summary and alert reasons, operations, prediction and feature drift, quality."""
    lines = _summary_lines(report) + _operations_lines(report) + _drift_lines(report, figures)
    return "\n".join(lines + _quality_lines(report))


def write_report(
    report: DriftReport, out_dir: Path, reference: DatasetProfileView, production: DatasetProfileView | None
) -> ReportFiles:
    """Write report.json, report.md and the PNG figures into ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = save_report_figures(report, reference, production, out_dir)
    json_path, markdown_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(report.to_json())
    markdown_path.write_text(render_markdown(report, figures))
    return ReportFiles(json_path, markdown_path, figures)
