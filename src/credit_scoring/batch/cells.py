"""File cells as the values an API client would send: numbers, text found in numbers, level strings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.schema import APPLICATION_COLUMNS


@dataclass(frozen=True)
class NumberColumn:
    """A numeric column: its values as float64 (NaN when missing) and which cells hold text instead."""

    values: np.ndarray
    text: np.ndarray
    raw: pd.Series

    def value(self, row: int) -> Any:
        """One cell as a JSON value: the text as found, None when missing, else an int or a float."""
        if self.text[row]:
            return python_value(self.raw.iloc[row])
        number = float(self.values[row])
        if math.isnan(number):
            return None
        return int(number) if number.is_integer() else number


@dataclass(frozen=True)
class Cells:
    """One chunk of a file, column by column, in the form the validation and the features read."""

    numbers: dict[str, NumberColumn]
    levels: dict[str, pd.Series]
    rows: int

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Cells:
        """The input columns of ``frame`` (typed as read from Parquet or CSV, or all text from Spark)."""
        numbers = {s.name: number_column(frame[s.name]) for s in APPLICATION_COLUMNS if s.is_numeric}
        levels = {s.name: level_column(frame[s.name]) for s in APPLICATION_COLUMNS if not s.is_numeric}
        return cls(numbers, levels, len(frame))

    def value(self, name: str, row: int) -> Any:
        """One cell of one column as a JSON value (what the API's validation would receive)."""
        if name in self.numbers:
            return self.numbers[name].value(row)
        cell = self.levels[name].iloc[row]
        return None if pd.isna(cell) else python_value(cell)

    def model_frame(self, positions: np.ndarray) -> pd.DataFrame:
        """The given rows as the table the features read: float64 numbers and level strings."""
        every = len(positions) == self.rows  # the usual chunk: nothing refused, nothing to copy
        columns: dict[str, Any] = {
            name: column.values if every else column.values[positions]
            for name, column in self.numbers.items()
        }
        columns |= {
            name: column.array if every else column.array[positions] for name, column in self.levels.items()
        }
        return pd.DataFrame({spec.name: columns[spec.name] for spec in APPLICATION_COLUMNS}, copy=False)


def number_column(column: pd.Series) -> NumberColumn:
    """Numbers as they are; in a text column (CSV read as text, Spark), each cell parsed as a number."""
    if column.dtype.kind in "iuf":
        # float64 (a CSV read by Arrow, most Parquet columns) is used as it is: never written to here.
        values = (
            column.to_numpy() if column.dtype == np.float64 else column.to_numpy(np.float64, na_value=np.nan)
        )
        return NumberColumn(values, np.zeros(len(column), dtype=bool), column)
    if pd.api.types.infer_dtype(column, skipna=True) == "boolean":
        values = np.full(len(column), np.nan)  # True is not a number to the API, so not 1 here either
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    text = np.zeros(len(column), dtype=bool)
    # Few cells get here (text, blanks, a spelled-out NaN, booleans): each is looked at on its own.
    for position in np.flatnonzero(np.isnan(values) & column.notna().to_numpy()):
        text[position] = not _is_null(column.iloc[position])
    return NumberColumn(values, text, column)


def level_column(column: pd.Series) -> pd.Series:
    """A category column with empty text as missing, as CSV readers disagree on quoted empty fields."""
    if column.dtype.kind in "OSU" or isinstance(column.dtype, pd.StringDtype):
        return column.mask(column == "")
    return column


def _is_null(cell: Any) -> bool:
    """Missing: None, NaN, an empty cell, or text that reads as NaN (``nan``, ``NaN``)."""
    if cell is None or cell is pd.NA:
        return True
    if isinstance(cell, str):
        return cell == "" or _reads_as_nan(cell)
    return isinstance(cell, float | np.floating) and math.isnan(cell)


def _reads_as_nan(text: str) -> bool:
    try:
        return math.isnan(float(text))
    except ValueError:
        return False


def python_value(cell: Any) -> Any:
    """A numpy scalar as the Python value it holds (so messages quote ``5``, not ``np.int64(5)``)."""
    return cell.item() if isinstance(cell, np.generic) else cell
