"""Fairness of decisions by gender and age band: group rates, four-fifths rule and equal opportunity."""

from __future__ import annotations

import pandas as pd
import pytest

from credit_scoring.monitoring.fairness import fairness_figures, group_rates


def _cells(rows: list[tuple[str, str, int, float | None, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["attribute", "grp", "granted", "y", "n"])


CELLS = _cells(
    [
        ("CODE_GENDER", "F", 1, 0, 700),
        ("CODE_GENDER", "F", 1, 1, 100),
        ("CODE_GENDER", "F", 0, 0, 100),
        ("CODE_GENDER", "F", 0, 1, 100),
        ("CODE_GENDER", "M", 1, 0, 300),
        ("CODE_GENDER", "M", 1, 1, 100),
        ("CODE_GENDER", "M", 0, 0, 300),
        ("CODE_GENDER", "M", 0, 1, 300),
        ("CODE_GENDER", "XNA", 0, None, 3),
    ]
)


def test_group_rates_count_every_decision_and_defaults_among_granted() -> None:
    rates = group_rates(CELLS).set_index("group")
    assert rates.loc["F", "approval_rate"] == pytest.approx(0.8)
    assert rates.loc["M", "approval_rate"] == pytest.approx(0.4)
    assert rates.loc["F", "default_rate_granted"] == pytest.approx(100 / 800)
    assert rates.loc["XNA", "decisions"] == 3


def test_the_four_fifths_rule_and_equal_opportunity_leave_tiny_groups_out() -> None:
    (figures,) = fairness_figures(CELLS, min_group=100, min_ratio=0.8)
    assert figures.groups_compared == ["F", "M"]
    assert figures.disparate_impact_ratio == pytest.approx(0.4 / 0.8)
    # P(granted | repaid): F 700/800, M 300/600.
    assert figures.equal_opportunity_difference == pytest.approx(700 / 800 - 300 / 600)
    assert figures.alert


def test_equal_approval_rates_do_not_alert() -> None:
    women = CELLS[CELLS["grp"] == "F"]
    fair = pd.concat([women, women.assign(grp="M", n=women["n"] * 2)])
    (figures,) = fairness_figures(fair, min_group=1, min_ratio=0.8)
    assert figures.disparate_impact_ratio >= 0.8 and not figures.alert
