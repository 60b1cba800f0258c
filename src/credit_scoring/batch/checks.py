"""The API's validation column by column: each rule as an array test, each refusal worded by the schema."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_scoring.batch.cells import Cells, NumberColumn
from credit_scoring.schema import APPLICATION_COLUMNS, ColumnSpec, check_value


@dataclass(frozen=True)
class Verdicts:
    """Which rows the API would refuse, and why: its messages, one per broken field, in schema order."""

    rejected: np.ndarray
    reasons: dict[int, list[str]]

    @property
    def accepted(self) -> np.ndarray:
        return np.flatnonzero(~self.rejected)


def check_cells(cells: Cells) -> Verdicts:
    """Every row's verdict. Masks find the broken cells; the schema's own ``check_value`` words each one,
    so a reason is the sentence the API answers (``"<column> <problem>"``)."""
    rejected = np.zeros(cells.rows, dtype=bool)
    reasons: dict[int, list[str]] = defaultdict(list)
    for spec in APPLICATION_COLUMNS:
        broken = np.flatnonzero(_broken(spec, cells))
        rejected[broken] = True
        for row in broken.tolist():
            problem = check_value(spec, cells.value(spec.name, row))
            reasons[row].append(f"{spec.name} {problem}")
    return Verdicts(rejected, dict(reasons))


def _broken(spec: ColumnSpec, cells: Cells) -> np.ndarray:
    if spec.is_numeric:
        return _broken_number(spec, cells.numbers[spec.name])
    return _broken_level(spec, cells.levels[spec.name])


def _broken_number(spec: ColumnSpec, column: NumberColumn) -> np.ndarray:
    values = column.values
    missing = np.isnan(values) & ~column.text
    present = ~missing & ~column.text
    broken = column.text | (present & ~spec.allows_each(values))
    return broken if spec.nullable else broken | missing


def _broken_level(spec: ColumnSpec, column: pd.Series) -> np.ndarray:
    missing = column.isna().to_numpy()
    unknown = ~column.isin(spec.levels).to_numpy() & ~missing
    return unknown if spec.nullable else unknown | missing
