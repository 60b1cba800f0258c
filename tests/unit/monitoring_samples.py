"""Seeded application tables for the monitoring tests (the synthetic generator, else noisy copies)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_scoring.schema import APPLICATION_COLUMNS, INPUT_COLUMNS, example_application


def _noisy_copies(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = example_application()
    columns: dict[str, np.ndarray] = {}
    for spec in APPLICATION_COLUMNS:
        if spec.kind == "category":
            values = rng.choice(np.asarray(spec.levels, dtype=object), rows)
        else:
            centre = float(base.get(spec.name) or 0.5)
            values = centre * (1 + 0.1 * rng.standard_normal(rows))
            if spec.kind == "int":
                values = np.round(values)
        if spec.nullable:
            values = np.where(rng.random(rows) < 0.2, None if spec.kind == "category" else np.nan, values)
        columns[spec.name] = values
    return pd.DataFrame(columns)


def applications(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` applications drawn from one fixed distribution; different seeds give fresh samples."""
    try:
        from credit_scoring.data.synthetic import generate_applications
    except ImportError:
        return _noisy_copies(rows, seed)
    return generate_applications(rows, seed=seed).loc[:, list(INPUT_COLUMNS)]


def inflate_incomes(frame: pd.DataFrame, factor: float = 1.3) -> pd.DataFrame:
    return frame.assign(AMT_INCOME_TOTAL=frame["AMT_INCOME_TOTAL"] * factor)


def hide_more(frame: pd.DataFrame, column: str, seed: int, factor: float = 2.0) -> pd.DataFrame:
    """``column`` missing ``factor`` times as often as in ``frame``."""
    rng = np.random.default_rng(seed)
    present = frame[column].notna()
    extra = (factor - 1) * (~present).mean() / present.mean()
    hidden = present & (rng.random(len(frame)) < extra)
    return frame.assign(**{column: frame[column].mask(hidden)})


def older_applicants(frame: pd.DataFrame, years: float = 10) -> pd.DataFrame:
    """Everyone ``years`` older (DAYS_BIRTH is negative: further in the past), within the schema's bound."""
    return frame.assign(DAYS_BIRTH=np.maximum(frame["DAYS_BIRTH"] - round(365.25 * years), -36_000))
