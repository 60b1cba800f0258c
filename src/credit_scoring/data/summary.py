"""The published summary of the real table, and how far a generated or loaded table is from it."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

SUMMARY_RESOURCE = "resources/home_credit_summary.json"
# The summary gives 41 quantiles per numeric column: levels 0, 2.5 %, ..., 100 %.
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 41)


@cache
def load_summary() -> dict[str, Any]:
    """The summary JSON shipped inside the package (a clone may not have ../shared beside it)."""
    return json.loads(files("credit_scoring").joinpath(SUMMARY_RESOURCE).read_text(encoding="utf-8"))


def column_summaries() -> dict[str, dict[str, Any]]:
    """Each column's summary (dtype, null rate, levels or quantiles) keyed by column name."""
    return {column["name"]: column for column in load_summary()["columns"]}


def discrete_law(summary: dict[str, Any]) -> dict[float, float] | None:
    """A numeric column's value frequencies (among non-missing rows) when it takes few values, else None."""
    values = summary.get("values")
    if not values:
        return None
    total = sum(values.values())
    return {float(value): share / total for value, share in values.items()}


def quantile_distance(values: pd.Series, quantiles: list[float]) -> float:
    """KS-like distance to the summary: how far the empirical CDF is from each quantile's level.

    Ties (a value holding several quantiles, like 0 for ELEVATORS_AVG) are handled by asking only that
    level p lies between P(X < q) and P(X <= q), which any law with that quantile satisfies.
    """
    present = np.sort(values.dropna().to_numpy(dtype=float))
    if present.size == 0:
        return 1.0
    q = np.asarray(quantiles, dtype=float)
    slack = 1e-9 * np.maximum(np.abs(q), 1.0)  # 0.035792 written to 6 decimals is 0.035792000000000004
    below = np.searchsorted(present, q - slack, side="left") / present.size
    at_or_below = np.searchsorted(present, q + slack, side="right") / present.size
    gaps = np.maximum.reduce([below - QUANTILE_LEVELS, QUANTILE_LEVELS - at_or_below, np.zeros_like(q)])
    return float(gaps.max())


def total_variation(values: pd.Series, frequencies: dict[Any, float]) -> float:
    """Total variation distance between the observed shares of non-missing values and the summary's."""
    observed = values.dropna().value_counts(normalize=True)
    keys = set(observed.index) | set(frequencies)
    return 0.5 * sum(abs(observed.get(key, 0.0) - frequencies.get(key, 0.0)) for key in keys)


def _column_distances(name: str, column: pd.Series, summary: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"column": name, "null_rate_diff": abs(column.isna().mean() - summary["null_rate"])}
    if summary["dtype"] == "category":
        row["tv"] = total_variation(column, summary["levels"])
        return row
    row["ks"] = quantile_distance(pd.to_numeric(column, errors="coerce"), summary["quantiles"])
    law = discrete_law(summary)
    if law is not None:
        row["tv"] = total_variation(pd.to_numeric(column, errors="coerce").astype(float), law)
    return row


def fidelity_table(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Per-column distances to the summary: null-rate difference, KS for numbers, TV for levels/values."""
    summaries = column_summaries()
    names = columns or [
        n for n in frame.columns if "quantiles" in summaries.get(n, {}) or "levels" in summaries.get(n, {})
    ]
    rows = [_column_distances(name, frame[name], summaries[name]) for name in names]
    return pd.DataFrame(rows).set_index("column")


def spearman_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """For each strong pair published in the summary, its Spearman correlation here against the real one.

    Like the summary, each pair uses the rows where both values are present; ranks are cached per column
    and set of rows, which the building block's shared missingness makes few.
    """
    numbers = frame.apply(pd.to_numeric, errors="coerce").astype(float)
    cache: dict[tuple[str, int], np.ndarray] = {}

    def ranks(name: str, rows: np.ndarray, key: int) -> np.ndarray:
        if (name, key) not in cache:
            cache[name, key] = rankdata(numbers[name].to_numpy()[rows])
        return cache[name, key]

    records = []
    for first, second, published in load_summary()["spearman_abs_ge_0_3"]:
        rows = (numbers[first].notna() & numbers[second].notna()).to_numpy()
        key = hash(np.packbits(rows).tobytes())
        observed = (
            np.corrcoef(ranks(first, rows, key), ranks(second, rows, key))[0, 1] if rows.sum() > 2 else np.nan
        )
        records.append({"first": first, "second": second, "published": published, "observed": observed})
    table = pd.DataFrame(records)
    table["gap"] = (table["observed"] - table["published"]).abs()
    return table
