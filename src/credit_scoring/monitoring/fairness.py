"""Fairness of decisions by CODE_GENDER and age band, with fairlearn, from per-group decision counts.

The store returns one row per (attribute, group, granted, outcome) with its count; fairlearn takes them as
weighted rows, so a million decisions cost a few dozen rows here. Groups under a minimum size are listed but
left out of the ratios (a handful of ``XNA`` decisions would otherwise decide them).

- disparate-impact ratio: lowest approval rate over highest (the four-fifths rule alerts below 0.8); all
  decisions, no outcome needed;
- equal-opportunity difference: the largest gap in approval rate among applicants who repaid; needs
  outcomes (in reality refused applicants have none, so it is only measurable in a simulation or a
  randomised trial of grants).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import demographic_parity_ratio, equal_opportunity_difference


def group_rates(cells: pd.DataFrame) -> pd.DataFrame:
    """Per attribute and group: decisions, approval rate, outcomes and default rate among granted."""
    if cells.empty:
        return pd.DataFrame(
            columns=[
                "attribute",
                "group",
                "decisions",
                "approval_rate",
                "granted_outcomes",
                "default_rate_granted",
            ]
        )
    c = cells.assign(
        granted_n=cells["n"] * cells["granted"],
        granted_outcomes=cells["n"] * cells["granted"] * cells["y"].notna(),
        granted_defaults=cells["n"] * cells["granted"] * (cells["y"] == 1),
    )
    sums = c.groupby(["attribute", "grp"])[["n", "granted_n", "granted_outcomes", "granted_defaults"]].sum()
    table = pd.DataFrame(
        {
            "decisions": sums["n"],
            "approval_rate": sums["granted_n"] / sums["n"],
            "granted_outcomes": sums["granted_outcomes"],
            "default_rate_granted": sums["granted_defaults"] / sums["granted_outcomes"].replace(0, np.nan),
        }
    )
    return table.reset_index().rename(columns={"grp": "group"})


@dataclass(frozen=True)
class FairnessFigures:
    """The fairness of one attribute's groups, and whether it breaks the four-fifths rule."""

    attribute: str
    groups_compared: list[str]
    disparate_impact_ratio: float | None
    equal_opportunity_difference: float | None
    alert: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fairness_figures(cells: pd.DataFrame, min_group: int, min_ratio: float) -> list[FairnessFigures]:
    """Disparate-impact ratio and equal-opportunity difference per attribute (groups of ``min_group``+)."""
    if cells.empty:
        return []
    return [_attribute_figures(name, part, min_group, min_ratio) for name, part in cells.groupby("attribute")]


def _attribute_figures(
    attribute: str, cells: pd.DataFrame, min_group: int, min_ratio: float
) -> FairnessFigures:
    sizes = cells.groupby("grp")["n"].sum()
    kept = cells[cells["grp"].isin(sizes[sizes >= min_group].index) & (cells["grp"] != "unknown")]
    groups = sorted(kept["grp"].unique())
    ratio = _ratio(kept) if len(groups) > 1 else None
    difference = _opportunity(kept[kept["y"].notna()]) if len(groups) > 1 else None
    alert = ratio is not None and ratio < min_ratio
    return FairnessFigures(attribute, groups, ratio, difference, alert)


def _ratio(cells: pd.DataFrame) -> float:
    granted = cells["granted"].to_numpy()
    return float(
        demographic_parity_ratio(
            granted, granted, sensitive_features=cells["grp"].to_numpy(), sample_weight=cells["n"].to_numpy()
        )
    )


def _opportunity(cells: pd.DataFrame) -> float | None:
    """Gap in P(granted | repaid) between groups; None unless every group has repaid applicants."""
    repaid = (cells["y"] == 0).astype(int).to_numpy()
    if cells.loc[repaid == 1, "grp"].nunique() < cells["grp"].nunique() or cells.empty:
        return None
    return float(
        equal_opportunity_difference(
            repaid,
            cells["granted"].to_numpy(),
            sensitive_features=cells["grp"].to_numpy(),
            sample_weight=cells["n"].to_numpy(),
        )
    )
