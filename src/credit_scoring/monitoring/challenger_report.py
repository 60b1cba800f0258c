"""The challenger report: champion vs challenger on live decisions as JSON, Markdown, a figure, one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from credit_scoring.cost import CostWeights
from credit_scoring.errors import CreditScoringError, ExitCode
from credit_scoring.monitoring.challenger import (
    NO_SHADOW_DATA,
    SHIFT_BIN_WIDTH,
    ChallengerComparison,
    ChallengerSource,
    build_comparison,
)
from credit_scoring.monitoring.performance_report import json_records, markdown_table

POPULATIONS = {
    "n": "scored decisions (status < 400) the challenger also scored in shadow",
    "n_outcomes": "those of them whose loan outcome was loaded (realized costs cover these only)",
}
TABLE_COLUMNS = [
    "champion_version", "challenger_version", "decisions", "outcomes", "agreement", "mean_shift",
    "mean_abs_shift", "champion_grant_rate", "challenger_grant_rate", "champion_estimated_cost",
    "challenger_estimated_cost", "champion_realized_cost", "challenger_realized_cost",
]  # fmt: skip
FIGURE_NAME = "challenger.png"
Report = Callable[[str], None]


class NoShadowDataError(CreditScoringError):
    """Nothing to compare: no decision of the range was scored by a challenger."""

    exit_code = ExitCode.UNAVAILABLE


def comparison_figure(comparison: ChallengerComparison) -> Figure:
    """Left: the current pair's score shift (challenger - champion) histogram. Right: each model's estimated
    cost per day (CBPE) and, on days with outcomes, its realized cost."""
    figure = Figure(figsize=(10, 3.6))
    left, right = figure.subplots(1, 2)
    pair = comparison.current
    if pair is None:
        return figure
    versions = (pair.champion.version, pair.challenger.version)
    _shift_axes(left, comparison.histogram, versions)
    _cost_axes(right, comparison.daily, versions)
    figure.tight_layout()
    return figure


def agreement_figure(comparison: ChallengerComparison) -> Figure:
    """Per day, for the current pair: the share of decisions both models took alike, and the mean shift."""
    figure = Figure(figsize=(10, 2.8))
    axes = figure.subplots()
    pair = comparison.current
    if pair is None:
        return figure
    days = _of_pair(comparison.daily, (pair.champion.version, pair.challenger.version))
    moments = days["period"].dt.tz_localize(None)
    axes.plot(moments, days["agreement"], marker=".", color="tab:green", label="decision agreement")
    axes.set_ylabel("agreement")
    shift = axes.twinx()
    shift.plot(moments, days["mean_shift"], color="tab:purple", linestyle="--", label="mean shift")
    shift.set_ylabel("mean challenger - champion")
    figure.legend(loc="upper right", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def _of_pair(frame: pd.DataFrame, versions: tuple[str, str]) -> pd.DataFrame:
    if frame.empty:
        return frame
    return frame[(frame["champion_version"] == versions[0]) & (frame["challenger_version"] == versions[1])]


def _shift_axes(axes: Any, histogram: pd.DataFrame, versions: tuple[str, str]) -> None:
    bins = _of_pair(histogram, versions)
    axes.bar(
        bins["bin"] * SHIFT_BIN_WIDTH, bins["n"], width=SHIFT_BIN_WIDTH, align="edge", color="tab:purple"
    )
    axes.axvline(0.0, color="grey", linestyle=":")
    axes.set_xlabel(f"challenger v{versions[1]} - champion v{versions[0]} probability (ends: beyond)")
    axes.set_ylabel("decisions")
    axes.tick_params(axis="x", labelrotation=30)


def _cost_axes(axes: Any, daily: pd.DataFrame, versions: tuple[str, str]) -> None:
    days = _of_pair(daily, versions)
    moments = days["period"].dt.tz_localize(None)
    for model, version in zip(("champion", "challenger"), versions, strict=True):
        line = axes.plot(moments, days[f"{model}_estimated_cost"], label=f"{model} v{version} estimated")[0]
        known = days["outcomes"] > 0
        axes.plot(moments[known], days[f"{model}_realized_cost"][known], color=line.get_color(),
                  linestyle="--", marker=".", label=f"{model} v{version} realized")  # fmt: skip
    axes.set_ylabel("business cost per application")
    axes.legend(fontsize="small")
    for label in axes.get_xticklabels():
        label.set_rotation(30)


def report_document(
    comparison: ChallengerComparison, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    return {
        "range": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "populations": POPULATIONS,
        "current": comparison.current.as_dict() if comparison.current else None,
        "pairs": [p.as_dict() for p in comparison.pairs],
        "daily": json_records(comparison.daily),
        "shift_histogram": {
            "bin_width": SHIFT_BIN_WIDTH,
            "bins": json_records(comparison.histogram),
        },
    }


def report_markdown(comparison: ChallengerComparison) -> str:
    populations = "".join(f"- *{name}*: {text}\n" for name, text in POPULATIONS.items())
    current = comparison.current
    headline = (
        f"Challenger v{current.challenger.version} vs champion v{current.champion.version}: "
        f"{current.n} decisions, agreement {current.agreement:.1%}, mean shift {current.mean_shift:+.4f}, "
        f"estimated cost {current.challenger.estimated_cost} vs {current.champion.estimated_cost}, "
        f"realized {current.challenger.realized_cost} vs {current.champion.realized_cost} "
        f"({current.n_outcomes} outcomes)\n"
        if current
        else "no shadow data\n"
    )
    quantiles = (
        comparison.overall.filter(regex="version|shift_q") if len(comparison.overall) else pd.DataFrame()
    )
    overall = comparison.overall[TABLE_COLUMNS] if len(comparison.overall) else comparison.overall
    return (
        f"# Champion vs challenger\n\n{headline}\n![score shift and cost]({FIGURE_NAME})\n\n"
        f"## Populations\n\n{populations}\n## Per version pair\n\n{markdown_table(overall)}\n"
        f"## Score shift quantiles (challenger - champion)\n\n{markdown_table(quantiles)}\n"
        f"## Per day\n\n{markdown_table(_daily_table(comparison.daily))}"
    )


def _daily_table(daily: pd.DataFrame) -> pd.DataFrame:
    if daily.empty:
        return daily
    table = daily[["period", *TABLE_COLUMNS]].copy()
    table["period"] = table["period"].dt.strftime("%Y-%m-%d")
    return table


def write_report(
    comparison: ChallengerComparison, out: Path, start: datetime | None, end: datetime | None
) -> list[Path]:
    """``challenger.json``, ``challenger.md`` and the figure in ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path, figure_path = out / "challenger.json", out / "challenger.md", out / FIGURE_NAME
    json_path.write_text(json.dumps(report_document(comparison, start, end), indent=2, default=str))
    markdown_path.write_text(report_markdown(comparison))
    comparison_figure(comparison).savefig(figure_path, dpi=110)
    return [json_path, markdown_path, figure_path]


def summary_line(comparison: ChallengerComparison) -> str:
    """The one-line JSON the command prints last: the current pair's n, agreement and both models' costs."""
    current = comparison.current
    figures = current.line() if current else {"n": 0, "agreement": None, "champion": None, "challenger": None}
    return json.dumps(figures, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def run_challenger_report(
    source: ChallengerSource,
    weights: CostWeights,
    out: Path,
    start: datetime | None,
    end: datetime | None,
    report: Report,
) -> ExitCode:
    """Build the comparison, write its files, print every pair and the one-line summary last. Without
    shadow data: NoShadowDataError (exit 3) saying how to put a challenger in shadow."""
    comparison = build_comparison(source, weights)
    if comparison.current is None:
        raise NoShadowDataError(NO_SHADOW_DATA)
    for path in write_report(comparison, out, start, end):
        report(f"wrote {path}")
    for pair in comparison.pairs:
        report(
            f"champion v{pair.champion.version} vs challenger v{pair.challenger.version}: {pair.n} decisions "
            f"({pair.n_outcomes} with outcomes), agreement {pair.agreement:.1%}, "
            f"mean |shift| {pair.mean_abs_shift:.4f}"
        )
    report(summary_line(comparison))
    return ExitCode.OK
