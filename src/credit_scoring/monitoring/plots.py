"""Reference-versus-production distributions from profiles, as tables (for any UI) and matplotlib figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from credit_scoring.monitoring._whylogs import DatasetProfileView
from credit_scoring.monitoring.profiles import PROBABILITY_COLUMN
from credit_scoring.monitoring.sketches import frequencies, kll
from credit_scoring.schema import COLUMNS_BY_NAME

MAX_LEVELS = 12


def _is_categorical(column: str) -> bool:
    spec = COLUMNS_BY_NAME.get(column)
    return spec is not None and spec.kind == "category"


def _numeric_table(
    reference: DatasetProfileView, production: DatasetProfileView, column: str, bins: int
) -> pd.DataFrame:
    sketches = [s for s in (kll(reference, column), kll(production, column)) if s is not None]
    if not sketches:
        return pd.DataFrame(columns=["bucket", "left", "right", "reference", "production"])
    low = min(s.get_quantile(0.005) for s in sketches)
    high = max(s.get_quantile(0.995) for s in sketches)
    if column == PROBABILITY_COLUMN:
        low, high = 0.0, 1.0
    edges = np.linspace(low, high, bins + 1) if high > low else np.array([low - 0.5, low + 0.5])
    shares = {
        name: (np.asarray(s.get_pmf(list(edges[1:-1]))) if s is not None else np.zeros(len(edges) - 1))
        for name, s in (("reference", kll(reference, column)), ("production", kll(production, column)))
    }
    centres = (edges[:-1] + edges[1:]) / 2
    return pd.DataFrame({"bucket": centres, "left": edges[:-1], "right": edges[1:], **shares})


def _categorical_table(
    reference: DatasetProfileView, production: DatasetProfileView, column: str
) -> pd.DataFrame:
    ref, prod = frequencies(reference, column), frequencies(production, column)
    frame = pd.DataFrame(
        {"reference": pd.Series(ref, dtype=float), "production": pd.Series(prod, dtype=float)}
    )
    frame = frame.fillna(0.0) / frame.sum().replace(0, 1)
    frame = frame.loc[frame.max(axis=1).sort_values(ascending=False).index]
    if len(frame) > MAX_LEVELS:
        other = frame.iloc[MAX_LEVELS:].sum().rename("(other levels)")
        frame = pd.concat([frame.iloc[:MAX_LEVELS], other.to_frame().T])
    return frame.rename_axis("bucket").reset_index()


def distribution_table(
    reference: DatasetProfileView, production: DatasetProfileView, column: str, bins: int = 30
) -> pd.DataFrame:
    """Shares of reference and production per bucket (numeric bins or category levels) for one column."""
    if _is_categorical(column):
        return _categorical_table(reference, production, column)
    return _numeric_table(reference, production, column, bins)


def distribution_figure(
    reference: DatasetProfileView, production: DatasetProfileView, column: str, subtitle: str = ""
) -> Figure:
    """Reference against production for one column: step histograms, or paired bars for categories."""
    table = distribution_table(reference, production, column)
    # Fixed margins: a layout engine would draw every figure twice, which dominates the report's run time.
    figure = Figure(figsize=(6.4, 3.6))
    axes = figure.subplots()
    left = 0.32 if _is_categorical(column) else 0.12
    figure.subplots_adjust(left=left, right=0.97, bottom=0.15, top=0.9)
    if _is_categorical(column):
        positions = np.arange(len(table))
        axes.barh(positions - 0.2, table["reference"], 0.4, label="reference")
        axes.barh(positions + 0.2, table["production"], 0.4, label="production")
        axes.set_yticks(positions, [str(level) for level in table["bucket"]], fontsize=7)
        axes.invert_yaxis()
        axes.set_xlabel("share")
    else:
        for name in ("reference", "production"):
            axes.stairs(table[name], np.append(table["left"].to_numpy(), table["right"].iloc[-1]), label=name)
        axes.set_xlabel(column)
        axes.set_ylabel("share of values")
    axes.set_title(f"{column}{' - ' + subtitle if subtitle else ''}", fontsize=9)
    axes.legend(fontsize=8)
    return figure


def save_figure(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def time_chart(
    frame: pd.DataFrame, y_label: str, time_format: str, colours: list[str], *, bars: bool = False
) -> Any:
    """A Vega-Lite chart (Altair) of ``frame``'s columns over its time index, on a UTC 24-hour clock.

    Streamlit's own charts label hours "03 PM" in the browser's zone; the monitor's times are UTC."""
    import altair as alt  # streamlit's dependency: only the monitor draws these

    names = [str(c) for c in frame.columns]
    long = frame.set_axis(names, axis=1).rename_axis("time").reset_index().melt("time", var_name="series")
    axis = alt.Axis(format=time_format, formatType="time", labelAngle=0, title=None)
    colour = alt.Color("series:N", sort=names, scale=alt.Scale(domain=names, range=colours), title=None)
    y = alt.Y("value:Q", title=y_label, stack="zero" if bars else None)
    mark = alt.Chart(long).mark_bar() if bars else alt.Chart(long).mark_line(point=len(frame) < 40)
    tooltip = [alt.Tooltip("time:T", format=f"%Y-%m-%d {time_format[-5:]} UTC"), "series:N", "value:Q"]
    x = alt.X("time:T", scale=alt.Scale(type="utc"), axis=axis)
    return mark.encode(x=x, y=y, color=colour, tooltip=tooltip).properties(height=260)
