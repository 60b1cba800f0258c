"""Model performance, realized from outcomes and estimated before them (CBPE), from the store's aggregates.

Populations, stated with every figure: *decisions* are all scored applications of the period; *outcomes*
are those whose loan outcome was loaded. In a lender's reality a refused applicant gets no loan and so no
outcome: realized figures then cover granted applicants only (the refused-good part of the cost is unknown
and the AUC is measured on a truncated population). In the simulated world every decision can have one.

Estimated figures assume the served probability is a calibrated probability of default, the way NannyML's
confidence-based performance estimation does: a granted application defaults with probability p, a refused
one would have repaid with probability 1 - p, so the expected confusion matrix is the sums of p and 1 - p on
each side of the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from credit_scoring.cost import CostWeights, calibration_gap

# Upper age (years, exclusive) of each band; the last band is open.
AGE_BANDS: tuple[tuple[str, float], ...] = (
    ("under 25", 25),
    ("25-34", 35),
    ("35-44", 45),
    ("45-54", 55),
    ("55-64", 65),
    ("65 and over", float("inf")),
)
POPULATIONS = {
    "decisions": "every scored application of the period (no outcome needed)",
    "outcomes": "scored applications whose outcome was loaded (in reality: granted loans only)",
    "granted outcomes": "granted applications whose outcome was loaded",
}


class PerformanceSource(Protocol):
    """Aggregates a store computes (see ``credit_scoring.recording.performance_queries``)."""

    def version_periods(self, by_month: bool) -> pd.DataFrame: ...

    def calibration_deciles(self, by_month: bool) -> pd.DataFrame: ...

    def fairness_cells(self) -> pd.DataFrame: ...


# --- the same figures from arrays (tests, the notebook, small studies) -------------------------------


def expected_confusion(probability: np.ndarray, granted: np.ndarray) -> tuple[float, float]:
    """CBPE: expected granted-then-defaulted (sum of p granted) and refused-good (sum of 1 - p refused)."""
    p, grant = np.asarray(probability, float), np.asarray(granted, bool)
    return float(p[grant].sum()), float((1 - p[~grant]).sum())


def estimated_cost(probability: np.ndarray, granted: np.ndarray, weights: CostWeights) -> float:
    """Expected business cost per application of these decisions, from calibrated probabilities."""
    defaults, good_refused = expected_confusion(probability, granted)
    return _cost(defaults, good_refused, len(np.asarray(probability)), weights)


def realized_cost(target: np.ndarray, granted: np.ndarray, weights: CostWeights) -> float:
    """Business cost per application: 10 x granted-then-defaulted + 1 x refused-good, per decision."""
    y, grant = np.asarray(target, int), np.asarray(granted, bool)
    return _cost(float((y[grant] == 1).sum()), float((y[~grant] == 0).sum()), len(y), weights)


def cost_standard_error(probability: np.ndarray, granted: np.ndarray, weights: CostWeights) -> float:
    """Standard error of the realized cost per application around its CBPE estimate (independent
    Bernoulli outcomes): what "estimated tracks realized" may be expected to miss by at this volume."""
    p, grant = np.asarray(probability, float), np.asarray(granted, bool)
    weight = np.where(grant, weights.false_negative, weights.false_positive)
    return float(np.sqrt(np.sum(weight**2 * p * (1 - p))) / max(p.size, 1))


def _cost(defaults_granted: float, good_refused: float, decisions: float, weights: CostWeights) -> float:
    if not decisions:
        return float("nan")
    return (weights.false_negative * defaults_granted + weights.false_positive * good_refused) / decisions


def auc_from_ranks(rank_sum: float, positives: float, negatives: float) -> float:
    """Mann-Whitney AUC from the defaulters' rank sum (NaN with one class only)."""
    if not positives or not negatives or pd.isna(rank_sum):
        return float("nan")
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def expected_auc_from_pairs(pair_sum: float, positive: float, negative: float, self_weight: float) -> float:
    """CBPE's AUC: weighted pairs ranked right over all weighted pairs (a row is never paired with itself)."""
    pairs = positive * negative - self_weight
    return float(pair_sum / pairs) if pairs > 0 else float("nan")


def expected_calibration_error(deciles: pd.DataFrame) -> float:
    """ECE of the store's deciles, defined as training's (``cost.calibration_gap``)."""
    return calibration_gap(deciles["predicted"], deciles["observed"], deciles["n"])


# --- the figures from a store's aggregates ---------------------------------------------------------


def performance_table(periods: pd.DataFrame, weights: CostWeights) -> pd.DataFrame:
    """One row per version (and month): realized and estimated figures side by side, with populations."""
    if periods.empty:
        return pd.DataFrame()
    p = periods.fillna({c: 0.0 for c in periods.columns if c not in ("version", "period", "rank_sum")})
    table = p[["version", "period", "decisions", "outcomes"]].copy()
    table["approval_rate"] = p["granted"] / p["decisions"]
    table["estimated_cost"] = costs_per_decision(
        p["expected_defaults_granted"], p["expected_good_refused"], p["decisions"], weights
    )
    table["estimated_default_rate_granted"] = p["expected_defaults_granted"] / p["granted"].replace(0, np.nan)
    table["estimated_auc"] = [
        expected_auc_from_pairs(*row)
        for row in p[["pair_sum", "positive_weight", "negative_weight", "self_weight"]].to_numpy()
    ]
    realized = p["defaults_granted"], p["good_refused"]
    table["realized_cost"] = costs_per_decision(*realized, p["outcomes"], weights)
    table["estimated_cost_on_outcomes"] = costs_per_decision(
        p["expected_defaults_granted_outcomes"], p["expected_good_refused_outcomes"], p["outcomes"], weights
    )
    table["realized_default_rate_granted"] = p["defaults_granted"] / p["outcomes_granted"].replace(0, np.nan)
    table["realized_auc"] = [
        auc_from_ranks(*row) for row in p[["rank_sum", "positives", "negatives"]].to_numpy()
    ]
    table["outcomes_granted"] = p["outcomes_granted"]
    # Binomial standard error of the realized cost if the probabilities are calibrated: the tolerance.
    table["cost_standard_error"] = cost_standard_errors(
        p["variance_granted_outcomes"], p["variance_refused_outcomes"], p["outcomes"], weights
    )
    return table.sort_values(["version", "period"], key=_version_order).reset_index(drop=True)


def costs_per_decision(
    defaults: pd.Series, good_refused: pd.Series, decisions: pd.Series, weights: CostWeights
) -> pd.Series:
    """Business cost per decision from summed errors (expected or realized); NaN without decisions."""
    total = weights.false_negative * defaults + weights.false_positive * good_refused
    return total / decisions.replace(0, np.nan)


def cost_standard_errors(
    variance_granted: pd.Series, variance_refused: pd.Series, decisions: pd.Series, weights: CostWeights
) -> pd.Series:
    """:func:`cost_standard_error` from sums of p (1 - p) over the granted and the refused decisions."""
    variance = weights.false_negative**2 * variance_granted + weights.false_positive**2 * variance_refused
    return np.sqrt(variance) / decisions.replace(0, np.nan)


def _version_order(column: pd.Series) -> pd.Series:
    """Versions in numeric order ("10" after "9"), periods in time order."""
    if column.name == "version":
        return column.map(lambda v: (0, int(v), "") if str(v).isdigit() else (1, 0, str(v)))
    return column


def sampling_ece(deciles: pd.DataFrame) -> float:
    """The ECE a perfectly calibrated model shows from outcome noise alone: E|observed - predicted| of each
    decile is sqrt(2 / pi) binomial standard errors (normal approximation), weighted by size."""
    if deciles.empty or deciles["n"].sum() == 0:
        return float("nan")
    p = deciles["predicted"].clip(0, 1)
    noise = np.sqrt(2 / np.pi) * np.sqrt(p * (1 - p) / deciles["n"])
    return float((noise * deciles["n"]).sum() / deciles["n"].sum())


def calibration_errors(deciles: pd.DataFrame) -> pd.DataFrame:
    """ECE per version (and month) from the calibration deciles, with the part sampling noise explains."""
    if deciles.empty:
        return pd.DataFrame(columns=["version", "period", "ece", "ece_noise"])
    rows = [
        {
            "version": version,
            "period": period,
            "ece": expected_calibration_error(part),
            "ece_noise": sampling_ece(part),
        }
        for (version, period), part in deciles.groupby(["version", "period"], dropna=False)
    ]
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class VersionSummary:
    """The headline of one model version over the report's range."""

    version: str
    decisions: int
    n_outcomes: int
    realized_auc: float | None
    estimated_auc: float | None
    realized_cost: float | None
    estimated_cost: float | None
    estimated_cost_on_outcomes: float | None
    approval_rate: float | None
    ece: float | None
    ece_noise: float | None
    cost_standard_error: float | None
    evaluation_cost: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 6)


def version_summaries(
    overall: pd.DataFrame, eces: pd.DataFrame, evaluation_costs: Mapping[str, float]
) -> list[VersionSummary]:
    """One summary per model version (its whole range) with its ECE and its evaluation cost."""
    ece = eces.set_index("version") if not eces.empty else pd.DataFrame(columns=["ece", "ece_noise"])
    return [
        VersionSummary(
            version=str(row.version),
            decisions=int(row.decisions),
            n_outcomes=int(row.outcomes),
            realized_auc=_number(row.realized_auc),
            estimated_auc=_number(row.estimated_auc),
            realized_cost=_number(row.realized_cost),
            estimated_cost=_number(row.estimated_cost),
            estimated_cost_on_outcomes=_number(row.estimated_cost_on_outcomes),
            approval_rate=_number(row.approval_rate),
            cost_standard_error=_number(row.cost_standard_error),
            ece=_number(ece["ece"].get(row.version)),
            ece_noise=_number(ece["ece_noise"].get(row.version)),
            evaluation_cost=_number(evaluation_costs.get(str(row.version))),
        )
        for row in overall.itertuples()
    ]
