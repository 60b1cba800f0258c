"""Distribution comparisons computed from whylogs sketches (KLL quantiles, frequent items, counts).

Merged profiles keep these sketches, so every statistic here works on any time range and any number
of workers without the raw rows. Tests: two-sample Kolmogorov-Smirnov for numbers, chi-square of
homogeneity for categories. Effect sizes: Hellinger distance (0 = same, 1 = disjoint) and PSI, both
on shared bins (reference deciles, or category levels), so a large window does not flag a trivial shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import whylogs_sketching
from scipy import stats

from credit_scoring.monitoring._whylogs import DatasetProfileView

PSI_FLOOR = 1e-4  # empty bins would make PSI infinite; this floor is the usual convention
RARE_SHARE = 0.01  # categories rarer than this in both samples are pooled for the chi-square test
KS_RANKS = np.linspace(0.0, 1.0, 201)


@dataclass(frozen=True)
class Comparison:
    """One column, reference against production: test, statistic, p-value and effect sizes."""

    test: str
    statistic: float
    p_value: float
    hellinger: float
    psi: float
    reference_count: int
    production_count: int


def counts(view: DatasetProfileView, column: str) -> tuple[int, int]:
    """(rows, missing) of a column; (0, 0) when the profile lacks it."""
    profile = view.get_column(column)
    if profile is None:
        return 0, 0
    summary = profile.get_metric("counts").to_summary_dict()
    return int(summary["n"]), int(summary["null"])


def kll(view: DatasetProfileView, column: str) -> Any | None:
    """The column's KLL quantile sketch, or None when absent or empty (e.g. every value missing)."""
    profile = view.get_column(column)
    metric = profile.get_metric("distribution") if profile is not None else None
    sketch = metric.kll.value if metric is not None else None
    return None if sketch is None or sketch.is_empty() else sketch


def frequencies(view: DatasetProfileView, column: str) -> dict[str, float]:
    """Estimated count per category from the frequent-items sketch (exact below its capacity)."""
    profile = view.get_column(column)
    metric = profile.get_metric("frequent_items") if profile is not None else None
    if metric is None:
        return {}
    sketch = metric.frequent_strings.value
    if sketch.is_empty():
        return {}
    return {
        str(item[0]): float(item[1])
        for item in sketch.get_frequent_items(whylogs_sketching.frequent_items_error_type.NO_FALSE_NEGATIVES)
    }


def hellinger(reference: np.ndarray, production: np.ndarray) -> float:
    """Hellinger distance between two discrete distributions (shares over the same bins)."""
    p, q = _normalised(reference), _normalised(production)
    return float(math.sqrt(max(0.0, 0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))))


def psi(reference: np.ndarray, production: np.ndarray) -> float:
    """Population stability index over the same bins (< 0.1 stable, > 0.25 shifted, by convention)."""
    p = np.clip(_normalised(reference), PSI_FLOOR, None)
    q = np.clip(_normalised(production), PSI_FLOOR, None)
    return float(np.sum((q - p) * np.log(q / p)))


def _normalised(shares: np.ndarray) -> np.ndarray:
    total = float(np.sum(shares))
    return np.asarray(shares, dtype=float) / total if total > 0 else np.zeros(len(shares))


def decile_edges(reference_sketch: Any, bins: int = 10) -> list[float]:
    """Inner bin edges at the reference's quantiles, deduplicated (discrete columns get fewer bins)."""
    quantiles = reference_sketch.get_quantiles(list(np.linspace(0, 1, bins + 1)[1:-1]))
    edges = sorted(set(quantiles))
    return edges or [float(reference_sketch.get_min_value())]


# Beyond this effective size the Kolmogorov limit is within ~1/sqrt(n) of the exact law, far below any
# alpha used here, and costs microseconds; the exact law cost ~4 ms a column at a month of traffic.
ASYMPTOTIC_KS_FROM = 10_000


def ks_p_value(statistic: float, effective_size: int) -> float:
    """Two-sample KS p-value at the effective size n*m/(n+m): exact law for small samples, else its limit."""
    if effective_size < ASYMPTOTIC_KS_FROM:
        return float(stats.kstwo.sf(statistic, effective_size))
    return float(stats.kstwobign.sf(statistic * np.sqrt(effective_size)))


def compare_numeric(reference: Any, production: Any, bins: int = 10) -> Comparison:
    """KS test and effect sizes of two KLL sketches (values at the union of both sets of quantiles)."""
    n, m = reference.get_n(), production.get_n()
    points = sorted(
        set(reference.get_quantiles(list(KS_RANKS))) | set(production.get_quantiles(list(KS_RANKS)))
    )
    gaps = np.abs(np.asarray(reference.get_cdf(points)) - np.asarray(production.get_cdf(points)))
    statistic = float(np.max(gaps))
    p_value = ks_p_value(statistic, max(1, round(n * m / (n + m))))
    edges = decile_edges(reference, bins)
    p, q = np.asarray(reference.get_pmf(edges)), np.asarray(production.get_pmf(edges))
    return Comparison("ks", statistic, p_value, hellinger(p, q), psi(p, q), int(n), int(m))


def compare_categorical(reference: dict[str, float], production: dict[str, float]) -> Comparison:
    """Chi-square test of homogeneity (rare levels pooled) and effect sizes over the levels seen."""
    levels = sorted(set(reference) | set(production))
    p = np.array([reference.get(level, 0.0) for level in levels])
    q = np.array([production.get(level, 0.0) for level in levels])
    n, m = int(p.sum()), int(q.sum())
    statistic, p_value = _chi_square(p, q)
    return Comparison("chi2", statistic, p_value, hellinger(p, q), psi(p, q), n, m)


def _chi_square(p: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    common = (_normalised(p) >= RARE_SHARE) | (_normalised(q) >= RARE_SHARE)
    table = np.vstack([np.append(p[common], p[~common].sum()), np.append(q[common], q[~common].sum())])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table.sum(axis=1).min() == 0:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def null_share_test(ref_rows: int, ref_nulls: int, prod_rows: int, prod_nulls: int) -> float:
    """Two-sided p-value that both samples share one missing-value rate (two-proportion z-test)."""
    if ref_rows == 0 or prod_rows == 0:
        return 1.0
    pooled = (ref_nulls + prod_nulls) / (ref_rows + prod_rows)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / ref_rows + 1 / prod_rows))
    if spread == 0:
        return 1.0
    z = (prod_nulls / prod_rows - ref_nulls / ref_rows) / spread
    return float(2 * stats.norm.sf(abs(z)))
