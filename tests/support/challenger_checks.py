"""The pandas reference of the champion/challenger figures, and the check both engines' tests run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.cost import CostWeights
from credit_scoring.monitoring.challenger import (
    PAIR,
    SHIFT_QUANTILE_COLUMNS,
    ChallengerSource,
    comparison_table,
)
from credit_scoring.monitoring.performance import cost_standard_error, estimated_cost, realized_cost

FIGURES = (
    "decisions", "outcomes", "agreement", "mean_shift", "mean_abs_shift", "shift_q05", "shift_q50",
    "shift_q95", "champion_grant_rate", "challenger_grant_rate", "champion_estimated_cost",
    "challenger_estimated_cost", "champion_cost_standard_error", "challenger_cost_standard_error",
    "champion_realized_cost", "challenger_realized_cost",
)  # fmt: skip
SIDES = (
    ("champion", "probability", "granted"),
    ("challenger", "challenger_probability", "challenger_granted"),
)


def comparison_of(shadowed: pd.DataFrame, weights: CostWeights, by_day: bool) -> pd.DataFrame:
    """``comparison_table`` straight from decision rows: columns champion_version, challenger_version,
    timestamp, probability, granted, challenger_probability, challenger_granted, target (NaN: no outcome)."""
    period = shadowed["timestamp"].dt.floor("D") if by_day else pd.Series(pd.NaT, index=shadowed.index)
    groups = shadowed.groupby([*PAIR, period], dropna=False)
    return pd.DataFrame([_reference_row(key, part, weights) for key, part in groups])


def _reference_row(key: tuple, part: pd.DataFrame, weights: CostWeights) -> dict[str, Any]:
    shift = part["challenger_probability"] - part["probability"]
    labelled = part[part["target"].notna()]
    row = {"champion_version": key[0], "challenger_version": key[1], "period": key[2],
           "decisions": len(part), "outcomes": len(labelled),
           "agreement": (part["granted"] == part["challenger_granted"]).mean(),
           "mean_shift": shift.mean(), "mean_abs_shift": shift.abs().mean()}  # fmt: skip
    for column in SHIFT_QUANTILE_COLUMNS:
        row[column] = shift.quantile(int(column[-2:]) / 100)
    for model, probability, granted in SIDES:
        row[f"{model}_grant_rate"] = part[granted].mean()
        row[f"{model}_estimated_cost"] = estimated_cost(part[probability], part[granted], weights)
        row[f"{model}_cost_standard_error"] = cost_standard_error(part[probability], part[granted], weights)
        row[f"{model}_realized_cost"] = (
            realized_cost(labelled["target"], labelled[granted], weights) if len(labelled) else np.nan
        )
    return row


def assert_matches_reference(source: ChallengerSource, rows: pd.DataFrame, by_day: bool) -> pd.DataFrame:
    """The store's figures per pair (and day) against :func:`comparison_of` on the same rows."""
    weights = CostWeights()
    key = ["champion_version", "challenger_version", "period"]
    ours = comparison_table(source.pair_sums(by_day), weights).sort_values(key).reset_index(drop=True)
    reference = comparison_of(rows, weights, by_day).sort_values(key).reset_index(drop=True)
    assert len(ours) == len(reference) > 0
    assert ours[key[:2]].equals(reference[key[:2]])
    for name in FIGURES:
        np.testing.assert_allclose(
            ours[name].to_numpy(float), reference[name].to_numpy(float), rtol=1e-9, atol=1e-12, err_msg=name
        )
    return ours
