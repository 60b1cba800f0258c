"""The model-performance report: realized vs estimated figures, calibration, fairness, alerts, files."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from credit_scoring.cost import CostWeights
from credit_scoring.errors import ExitCode
from credit_scoring.monitoring.fairness import FairnessFigures, fairness_figures, group_rates
from credit_scoring.monitoring.performance import (
    POPULATIONS,
    PerformanceSource,
    VersionSummary,
    calibration_errors,
    performance_table,
    version_summaries,
)
from credit_scoring.settings import PerformanceThresholds, Settings

EVALUATION_COST_TAG = "business_cost_test"  # written on every registry version by training
SUMMARY_FIELDS = ("realized_auc", "realized_cost", "estimated_cost", "n_outcomes", "ece")
Report = Callable[[str], None]


@dataclass(frozen=True)
class PerformanceReport:
    """Everything the report and the monitor's performance page show, for one range of decisions."""

    versions: list[VersionSummary]
    monthly: pd.DataFrame
    deciles: pd.DataFrame
    monthly_ece: pd.DataFrame
    fairness_groups: pd.DataFrame
    fairness: list[FairnessFigures]
    alerts: list[str]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.ALERT if self.alerts else ExitCode.OK

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per model version: the figures of the one-line summary."""
        return {v.version: {name: getattr(v, name) for name in SUMMARY_FIELDS} for v in self.versions}


def build_report(
    source: PerformanceSource,
    weights: CostWeights,
    thresholds: PerformanceThresholds,
    evaluation_costs: Mapping[str, float] | Callable[[list[str]], Mapping[str, float]],
) -> PerformanceReport:
    """Query the aggregates once, then compute every figure and alert from them. ``evaluation_costs``: each
    version's evaluation cost per application, or a function fetching those of the versions found."""
    overall = performance_table(source.version_periods(by_month=False), weights)
    if callable(evaluation_costs):
        evaluation_costs = evaluation_costs(overall["version"].tolist() if len(overall) else [])
    monthly = performance_table(source.version_periods(by_month=True), weights)
    deciles = source.calibration_deciles(by_month=False)
    versions = (
        version_summaries(overall, calibration_errors(deciles), evaluation_costs) if len(overall) else []
    )
    cells = source.fairness_cells()
    fairness = fairness_figures(cells, thresholds.min_fairness_group, thresholds.min_fairness_ratio)
    alerts = [*performance_alerts(versions, monthly, thresholds), *fairness_alerts(fairness, thresholds)]
    monthly_ece = calibration_errors(source.calibration_deciles(by_month=True))
    return PerformanceReport(versions, monthly, deciles, monthly_ece, group_rates(cells), fairness, alerts)


def performance_alerts(
    versions: Iterable[VersionSummary], monthly: pd.DataFrame, thresholds: PerformanceThresholds
) -> list[str]:
    """Realized cost above the evaluation cost, estimated cost drifting, calibration error too high."""
    alerts = []
    for v in versions:
        assessed = v.n_outcomes >= thresholds.min_outcomes
        limit = v.evaluation_cost * (1 + thresholds.cost_margin) if v.evaluation_cost is not None else None
        if assessed and limit is not None and v.realized_cost is not None and v.realized_cost > limit:
            alerts.append(
                f"version {v.version}: realized cost {v.realized_cost:.4f} per application is above "
                f"its evaluation cost {v.evaluation_cost:.4f} + {thresholds.cost_margin:.0%} "
                f"({v.n_outcomes} outcomes)"
            )
        excess = (v.ece or 0.0) - (v.ece_noise or 0.0)
        if assessed and v.ece is not None and excess > thresholds.max_ece:
            alerts.append(
                f"version {v.version}: calibration error (ECE) {v.ece:.4f}, {excess:.4f} beyond "
                f"sampling noise, above {thresholds.max_ece} ({v.n_outcomes} outcomes)"
            )
    return alerts + _estimated_drift(list(versions), monthly, thresholds)


def _estimated_drift(
    versions: list[VersionSummary], monthly: pd.DataFrame, thresholds: PerformanceThresholds
) -> list[str]:
    """Each version's latest assessed month against its evaluation cost (else its first month)."""
    alerts = []
    for v in versions:
        months = monthly[
            (monthly["version"] == v.version) & (monthly["decisions"] >= thresholds.min_decisions)
        ]
        if months.empty:
            continue
        reference = v.evaluation_cost if v.evaluation_cost is not None else months["estimated_cost"].iloc[0]
        latest = months.iloc[-1]
        if reference and abs(latest["estimated_cost"] / reference - 1) > thresholds.estimated_cost_drift:
            alerts.append(
                f"version {v.version}: estimated cost {latest['estimated_cost']:.4f} in "
                f"{latest['period']:%Y-%m} is more than {thresholds.estimated_cost_drift:.0%} away "
                f"from {reference:.4f} (evaluation cost, else its first month)"
            )
    return alerts


def fairness_alerts(figures: Iterable[FairnessFigures], thresholds: PerformanceThresholds) -> list[str]:
    return [
        f"{f.attribute}: disparate-impact ratio {f.disparate_impact_ratio:.3f} below "
        f"{thresholds.min_fairness_ratio} (four-fifths rule; groups {', '.join(f.groups_compared)})"
        for f in figures
        if f.alert
    ]


def registry_evaluation_costs(
    settings: Settings, versions: Iterable[str], report: Report
) -> dict[str, float]:
    """Each version's evaluation cost (tag ``business_cost_test``) from the MLflow registry; missing ones
    are left out (their cost alert is then not assessed) and said."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        report(f"no MLflow store at {uri}: realized-cost alerts are not assessed")  # never create one here
        return {}
    client, costs = MlflowClient(tracking_uri=uri), {}
    for version in versions:
        try:
            tags = client.get_model_version(settings.model_name, version).tags
            costs[version] = float(tags[EVALUATION_COST_TAG])
        except (MlflowException, KeyError, ValueError) as error:
            report(
                f"no evaluation cost for version {version} in the registry ({type(error).__name__}): "
                "its realized-cost alert is not assessed"
            )
    return costs


# --- files ----------------------------------------------------------------------------------------


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    rows = clean.to_dict("records")
    for row in rows:
        for name, value in row.items():
            if isinstance(value, pd.Timestamp):
                row[name] = value.strftime("%Y-%m") if name == "period" else value.isoformat()
            elif isinstance(value, float) and math.isnan(value):
                row[name] = None
    return rows


def report_document(
    report: PerformanceReport, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    return {
        "range": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "populations": POPULATIONS,
        "versions": [v.as_dict() for v in report.versions],
        "monthly": json_records(report.monthly),
        "monthly_calibration_error": json_records(report.monthly_ece),
        "calibration_deciles": json_records(report.deciles.drop(columns="period", errors="ignore")),
        "fairness_groups": json_records(report.fairness_groups),
        "fairness": [f.as_dict() for f in report.fairness],
        "alerts": report.alerts,
    }


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_none_\n"
    rows = json_records(frame)
    header = "| " + " | ".join(frame.columns) + " |\n|" + " --- |" * len(frame.columns) + "\n"
    return header + "".join("| " + " | ".join(_cell(row[c]) for c in frame.columns) + " |\n" for row in rows)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def report_markdown(report: PerformanceReport) -> str:
    versions = pd.DataFrame([v.as_dict() for v in report.versions])
    fairness = pd.DataFrame([f.as_dict() for f in report.fairness])
    populations = "".join(f"- *{name}*: {text}\n" for name, text in POPULATIONS.items())
    alerts = "".join(f"- {a}\n" for a in report.alerts) or "none\n"
    return (
        f"# Model performance\n\n## Alerts\n\n{alerts}\n## Populations\n\n{populations}\n"
        f"## Per model version\n\n{markdown_table(versions)}\n## Per version and month of decision\n\n"
        f"{markdown_table(report.monthly)}\n## Calibration (predicted vs observed by decile)\n\n"
        f"{markdown_table(report.deciles.drop(columns='period', errors='ignore'))}\n"
        f"## Fairness\n\n{markdown_table(fairness)}\n{markdown_table(report.fairness_groups)}"
    )


def write_report(
    report: PerformanceReport, out: Path, start: datetime | None, end: datetime | None
) -> list[Path]:
    """``performance.json`` and ``performance.md`` in ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = out / "performance.json", out / "performance.md"
    json_path.write_text(json.dumps(report_document(report, start, end), indent=2, default=str))
    markdown_path.write_text(report_markdown(report))
    return [json_path, markdown_path]


def run_performance_report(
    source: PerformanceSource,
    settings: Settings,
    thresholds: PerformanceThresholds,
    out: Path,
    start: datetime | None,
    end: datetime | None,
    report: Report,
) -> ExitCode:
    """Build the report (evaluation costs from the registry), write its files, print alerts and the
    one-line summary last; the exit code says whether an alert fired."""
    built = build_report(
        source,
        settings.cost_weights,
        thresholds,
        lambda versions: registry_evaluation_costs(settings, versions, report),
    )
    for path in write_report(built, out, start, end):
        report(f"wrote {path}")
    for alert in built.alerts:
        report(f"ALERT {alert}")
    report(summary_line(built))
    return built.exit_code


def summary_line(report: PerformanceReport) -> str:
    """The one-line JSON summary the command prints last."""
    return json.dumps({"alert": bool(report.alerts), "versions": report.summary()}, separators=(",", ":"))
