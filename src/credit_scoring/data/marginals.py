"""Each numeric column's law as an inverse CDF built from the summary: quantiles or frequencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_scoring.data.summary import QUANTILE_LEVELS, discrete_law
from credit_scoring.schema import ColumnSpec

_MAX_DECIMALS = 8


@dataclass(frozen=True)
class Marginal:
    """Inverse CDF of one numeric column among its regular (not missing, not special) values.

    ``levels`` are increasing cumulative probabilities from 0 to 1 and ``values`` the column's values at
    them: interpolated linearly for a continuous law (repeated values give the real table's point masses,
    e.g. 112500 for incomes), or read as a step function for a discrete law (flags, counts).
    """

    name: str
    levels: np.ndarray
    values: np.ndarray
    discrete: bool
    decimals: int | None

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Values for uniforms ``u`` in [0, 1): monotone, so a copula's rank structure is kept."""
        if self.discrete:
            index = np.searchsorted(self.levels[1:], u, side="right")
            return self.values[np.minimum(index, self.values.size - 1)]
        drawn = np.interp(u, self.levels, self.values)
        _exponential_tail(drawn, u, self.levels, self.values)
        _exponential_tail(drawn, 1.0 - u, 1.0 - self.levels[::-1], self.values[::-1])
        return drawn if self.decimals is None else np.round(drawn, self.decimals)

    @property
    def tie_factor(self) -> float:
        """How much ties shrink rank correlations: sqrt(1 - sum of cubed point-mass probabilities)."""
        if self.discrete:
            masses = np.diff(self.levels)
        else:
            _, first = np.unique(self.values, return_index=True)
            last = np.append(first[1:], self.values.size) - 1
            masses = self.levels[last] - self.levels[first]
        return float(np.sqrt(max(1.0 - np.sum(masses**3), 1e-6)))

    def mid_rank(self, u: np.ndarray) -> np.ndarray:
        """The population mid-rank of ``ppf(u)``: Spearman's rho is the correlation of these ranks."""
        values = self.ppf(u)
        first = np.minimum(np.searchsorted(self.values, values, side="left"), self.values.size - 1)
        if self.discrete:
            return (self.levels[first] + self.levels[first + 1]) / 2
        last = np.searchsorted(self.values, values, side="right") - 1
        tied = last > first  # a value held by several quantiles is a point mass spanning their levels
        return np.where(tied, (self.levels[first] + self.levels[last]) / 2, u)


def _exponential_tail(drawn: np.ndarray, u: np.ndarray, levels: np.ndarray, values: np.ndarray) -> None:
    """Redraw, in place, the last segment (beyond the 97.5 % quantile) as an exponential tail.

    Between the 97.5 % quantile and the sample maximum a straight line would spread 2.5 % of incomes
    evenly up to 1.9 million and double their spread. The tail instead decays at the rate the last
    quantile spacing shows, truncated at the maximum. Called on mirrored arrays for the lower tail.
    """
    start, end, tail = values[-2], values[-1], u > levels[-2]
    spacing, halving = values[-2] - values[-3], np.log((1 - levels[-3]) / (1 - levels[-2]))
    if not tail.any() or spacing == 0 or end == start:
        return
    scale = spacing / halving  # negative when mirrored: the tail then runs downwards
    t = (u[tail] - levels[-2]) / (1 - levels[-2])
    drawn[tail] = start - scale * np.log1p(-t * -np.expm1(-(end - start) / scale))


def _decimals(values: np.ndarray) -> int | None:
    """Precision the real table writes this column with: the fewest decimals most distinct quantiles need."""
    distinct = np.unique(values)
    for decimals in range(_MAX_DECIMALS + 1):
        if np.mean(np.abs(np.round(distinct, decimals) - distinct) < 1e-9) >= 0.6:
            return decimals
    return None


def _discrete(spec: ColumnSpec, law: dict[float, float]) -> Marginal:
    values = np.array(sorted(law))
    cumulative = np.concatenate([[0.0], np.cumsum([law[v] for v in values])])
    cumulative[-1] = 1.0
    return Marginal(spec.name, cumulative, values, discrete=True, decimals=None)


def _continuous(spec: ColumnSpec, summary: dict[str, Any]) -> Marginal:
    levels, values = QUANTILE_LEVELS.copy(), np.asarray(summary["quantiles"], dtype=float)
    specials = [float(v) for v in summary.get("special_values", {})]
    if specials:
        levels, values = _without_specials(spec, summary, levels, values)
    decimals = 0 if summary.get("integer_valued") else _decimals(values)
    # Knots at the written precision, so point masses (repeated quantiles) equal the rounded draws.
    knots = values if decimals is None else np.round(values, decimals)
    return Marginal(spec.name, levels, knots, discrete=False, decimals=decimals)


def _without_specials(
    spec: ColumnSpec, summary: dict[str, Any], levels: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The law of the regular values only, e.g. DAYS_EMPLOYED of employed applicants without 365243."""
    share = sum(summary["special_values"].values())
    special = float(next(iter(summary["special_values"])))
    if not special > values[values != special].max():
        raise ValueError(f"{spec.name}: only special values above the regular range are supported")
    keep = values != special
    # The regular law ends where the sentinel's mass starts; its top runs up to the schema's bound.
    top = spec.maximum if spec.maximum is not None else values[keep][-1]
    levels = np.append(levels[keep], 1.0 - share) / (1.0 - share)
    return levels, np.append(values[keep], top)


def marginal_from_summary(spec: ColumnSpec, summary: dict[str, Any]) -> Marginal:
    """The inverse CDF of a numeric column: its value frequencies if it has few values, else its quantiles."""
    law = discrete_law(summary)
    return _discrete(spec, law) if law is not None else _continuous(spec, summary)
