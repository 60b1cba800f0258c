"""Figures and tables of the monitor's model-performance page (and the notebook), from a report's frames."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from credit_scoring.monitoring.fairness import FairnessFigures


def cost_over_time_figure(monthly: pd.DataFrame, evaluation_costs: dict[str, float]) -> Figure:
    """Per version and month: estimated cost (all decisions), realized cost (decisions with an outcome) with
    its +-2 standard errors, and the evaluation cost as a dashed line."""
    figure = Figure(figsize=(8, 3.4))
    axes = figure.subplots()
    for version, part in monthly.groupby("version", sort=False):
        months = part["period"].dt.tz_localize(None)
        line = axes.plot(months, part["estimated_cost"], marker="o", label=f"v{version} estimated (CBPE)")[0]
        known = part["outcomes"] > 0
        error = 2 * part["cost_standard_error"][known]
        axes.errorbar(months[known], part["realized_cost"][known], yerr=error, color=line.get_color(),
                      marker="s", linestyle="--", capsize=3, label=f"v{version} realized")  # fmt: skip
        if version in evaluation_costs:
            axes.axhline(evaluation_costs[version], color=line.get_color(), linestyle=":", linewidth=1)
    axes.set_ylabel("business cost per application")
    axes.set_xlabel("month of decision")
    axes.legend(fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def calibration_figure(deciles: pd.DataFrame) -> Figure:
    """Observed default rate against predicted probability, one point per decile, per version."""
    figure = Figure(figsize=(4.2, 4.2))
    axes = figure.subplots()
    top = max(float(deciles[["predicted", "observed"]].max().max()), 0.05) if not deciles.empty else 1.0
    axes.plot([0, top], [0, top], color="grey", linestyle=":", label="perfect calibration")
    for version, part in deciles.sort_values("decile").groupby("version", sort=False):
        axes.plot(part["predicted"], part["observed"], marker="o", label=f"v{version}")
    axes.set_xlabel("mean predicted probability (decile)")
    axes.set_ylabel("observed default rate")
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def fairness_table(groups: pd.DataFrame, figures: list[FairnessFigures]) -> pd.DataFrame:
    """One row per attribute and group, with the attribute's disparate-impact ratio and EO difference."""
    if groups.empty:
        return groups
    summary = pd.DataFrame([{"attribute": f.attribute, "disparate_impact_ratio": f.disparate_impact_ratio,
                             "equal_opportunity_difference": f.equal_opportunity_difference,
                             "below four-fifths": f.alert} for f in figures])  # fmt: skip
    return groups.merge(summary, on="attribute", how="left") if not summary.empty else groups
