"""Champion vs challenger on the same live decisions: agreement, score shift, estimated and realized cost.

Every figure is per champion/challenger version pair, over the scored decisions the challenger also scored
in shadow (*n*); realized costs cover the decisions whose outcome was loaded (*n_outcomes*) and are None
until there is one. Costs are the performance module's (CBPE over calibrated probabilities, each model's
decisions at its own threshold), so both models are weighed exactly as the performance report weighs one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import pandas as pd

from credit_scoring.cost import CostWeights
from credit_scoring.monitoring.performance import cost_standard_errors, costs_per_decision

MODELS = ("champion", "challenger")
PAIR = ["champion_version", "challenger_version"]
# The score-shift histogram: bins of this width on each side of 0; shifts beyond count in the end bins.
SHIFT_BIN_WIDTH = 0.005
SHIFT_BINS_EACH_SIDE = 20
SHIFT_QUANTILE_COLUMNS = ("shift_q05", "shift_q25", "shift_q50", "shift_q75", "shift_q95")
NO_SHADOW_DATA = (
    "no decision scored by a challenger in shadow in this range: set the alias with `make challenger "
    "VERSION=n` (or @challenger in the MLflow UI), rebuild (`make build`) and restart the service, then let "
    "it take traffic"
)


class ChallengerSource(Protocol):
    """Aggregates a store computes (see ``credit_scoring.recording.challenger_queries``)."""

    def pair_sums(self, by_day: bool) -> pd.DataFrame: ...

    def shift_histogram(self) -> pd.DataFrame: ...


def comparison_table(sums: pd.DataFrame, weights: CostWeights) -> pd.DataFrame:
    """One row per version pair (and day): agreement, shift, grant rates, estimated and realized costs."""
    if sums.empty:
        return pd.DataFrame()
    table = sums[[*PAIR, "period", "decisions", "outcomes", "first", "last"]].copy()
    table[["decisions", "outcomes"]] = table[["decisions", "outcomes"]].astype("int64")
    table["agreement"] = sums["agreed"] / sums["decisions"]
    for name in ("mean_shift", "mean_abs_shift", *SHIFT_QUANTILE_COLUMNS):
        table[name] = sums[name]
    for model in MODELS:
        table[f"{model}_grant_rate"] = sums[f"{model}_granted"] / sums["decisions"]
        expected = sums[f"{model}_expected_defaults"], sums[f"{model}_expected_good_refused"]
        table[f"{model}_estimated_cost"] = costs_per_decision(*expected, sums["decisions"], weights)
        table[f"{model}_cost_standard_error"] = cost_standard_errors(
            sums[f"{model}_variance_granted"], sums[f"{model}_variance_refused"], sums["decisions"], weights
        )
        table[f"{model}_realized_cost"] = costs_per_decision(
            sums[f"{model}_defaults_granted"].fillna(0.0), sums[f"{model}_good_refused"].fillna(0.0),
            sums["outcomes"], weights,
        )  # fmt: skip
    return table.sort_values(["last", "period"]).reset_index(drop=True)


@dataclass(frozen=True)
class ModelFigures:
    """One side of a comparison: which version, and what its decisions cost per application."""

    version: str
    grant_rate: float | None
    estimated_cost: float | None
    cost_standard_error: float | None
    realized_cost: float | None


@dataclass(frozen=True)
class PairSummary:
    """The headline of one champion/challenger pair over the range."""

    n: int
    n_outcomes: int
    agreement: float | None
    mean_shift: float | None
    mean_abs_shift: float | None
    champion: ModelFigures
    challenger: ModelFigures
    first: str
    last: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> dict[str, Any]:
        """The figures of the one-line summary."""
        side = ("version", "estimated_cost", "realized_cost")
        return {"n": self.n, "n_outcomes": self.n_outcomes, "agreement": self.agreement,
                **{m: {k: getattr(getattr(self, m), k) for k in side} for m in MODELS}}  # fmt: skip


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 6)


def pair_summaries(overall: pd.DataFrame) -> list[PairSummary]:
    """One summary per version pair, the pair seen last (the current challenger) last."""
    return [_summary(row) for row in overall.itertuples()] if len(overall) else []


def _summary(row: Any) -> PairSummary:
    def side(model: str, version: str) -> ModelFigures:
        names = ("grant_rate", "estimated_cost", "cost_standard_error", "realized_cost")
        figures = (getattr(row, f"{model}_{name}") for name in names)
        return ModelFigures(str(version), *(_number(value) for value in figures))

    return PairSummary(
        int(row.decisions), int(row.outcomes), _number(row.agreement), _number(row.mean_shift),
        _number(row.mean_abs_shift), side("champion", row.champion_version),
        side("challenger", row.challenger_version), row.first.isoformat(), row.last.isoformat(),
    )  # fmt: skip


@dataclass(frozen=True)
class ChallengerComparison:
    """Everything the challenger report and the monitor's page show, for one range of decisions."""

    pairs: list[PairSummary]
    overall: pd.DataFrame
    daily: pd.DataFrame
    histogram: pd.DataFrame

    @property
    def current(self) -> PairSummary | None:
        """The pair that scored the latest decision: the challenger in shadow now."""
        return self.pairs[-1] if self.pairs else None


def build_comparison(source: ChallengerSource, weights: CostWeights) -> ChallengerComparison:
    """Query the aggregates (per pair, per pair and day, the shift histogram) and compute the figures."""
    overall = comparison_table(source.pair_sums(by_day=False), weights)
    if overall.empty:
        return ChallengerComparison([], overall, pd.DataFrame(), pd.DataFrame())
    daily = comparison_table(source.pair_sums(by_day=True), weights)
    return ChallengerComparison(pair_summaries(overall), overall, daily, source.shift_histogram())


def pair_evidence(comparison: ChallengerComparison, champion: str, challenger: str) -> PairSummary | None:
    """The summary of one version pair (the evidence a promotion weighs), or None when it never ran."""
    wanted = (champion, challenger)
    found = [p for p in comparison.pairs if (p.champion.version, p.challenger.version) == wanted]
    return found[0] if found else None
