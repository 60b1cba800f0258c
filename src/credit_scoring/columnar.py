"""The schema's rules over whole columns, for every batch path: /score_batch, score-file and the ingest."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credit_scoring.features import LEVEL_CODES
from credit_scoring.schema import APPLICATION_COLUMNS, INPUT_COLUMNS, ColumnSpec, check_value

WIDTH = len(INPUT_COLUMNS)
# Each column's rule as arrays over the matrix's columns: a category's code is a level by construction,
# so only its presence is checked (unbounded). Every numeric column has finite bounds, so an infinity
# fails the range test like any other outlier.
_LOW = np.array(
    [s.minimum if s.is_numeric and s.minimum is not None else -np.inf for s in APPLICATION_COLUMNS]
)
_HIGH = np.array(
    [s.maximum if s.is_numeric and s.maximum is not None else np.inf for s in APPLICATION_COLUMNS]
)
_REQUIRED = np.array([not spec.nullable for spec in APPLICATION_COLUMNS])
_WHOLE = np.array([position for position, spec in enumerate(APPLICATION_COLUMNS) if spec.kind == "int"])
_FEW_ROWS = 1_000
_SPECIAL = tuple(
    (position, np.array(spec.special_values))
    for position, spec in enumerate(APPLICATION_COLUMNS)
    if spec.special_values
)
_LEVELS = {name: pa.array(list(codes), pa.string()) for name, codes in LEVEL_CODES.items()}  # in code order


def input_matrix(rows: int) -> np.ndarray:
    """An uninitialised float64 matrix, one row per application, the input columns in schema order.

    Column-major: each column is written contiguously (row-major writes one value every 960 bytes);
    ``features.derive_features`` reads either layout."""
    return np.empty((WIDTH, rows), dtype=np.float64).T


def broken_cells(encoded: np.ndarray, malformed: np.ndarray | None = None) -> np.ndarray:
    """Per cell, whether the API refuses it. ``encoded``: the inputs as float64 (NaN when missing,
    categories as level codes); ``malformed``: cells of the wrong kind (text in a number column, a level
    not in the list, a boolean), NaN in ``encoded``. Missing is refused only where the column requires a
    value; a number must be in range (or a special value) and whole in an int column."""
    # Written as what breaks a rule (comparisons with NaN are False), in place: fewer passes over the cells.
    broken = np.less(encoded, _LOW)
    broken |= np.greater(encoded, _HIGH)
    _mark_fractions(encoded, broken)
    missing = np.isnan(encoded)
    missing &= _REQUIRED
    broken |= missing
    for position, special in _SPECIAL:
        broken[:, position] &= ~np.isin(encoded[:, position], special)
    if malformed is not None:
        broken |= malformed
    return broken


def _mark_fractions(encoded: np.ndarray, broken: np.ndarray) -> None:
    """Mark the cells of int columns that hold a fraction (NaN and infinities are not fractions)."""
    if len(encoded) <= _FEW_ROWS:  # an API batch: the int columns at once, a few numpy calls
        whole = encoded.T[_WHOLE]
        broken.T[_WHOLE] |= np.floor(whole) < whole
        return
    for position in _WHOLE:  # a file chunk: a column at a time, in the caches (one copy cost 6 times more)
        column = encoded[:, position]
        broken[:, position] |= np.floor(column) < column


def all_valid(encoded: np.ndarray) -> bool:
    """Whether every cell keeps its column's rule (inputs of the right kind already)."""
    return not broken_cells(encoded).any()


@dataclass(frozen=True)
class ArrowInputs:
    """Input columns read from Arrow (a file chunk, parsed JSON bodies), encoded and checked.

    ``encoded`` is the matrix ``broken_cells`` reads and the features are derived from; ``malformed``
    marks the cells of the wrong kind (None: there are none); ``columns`` keeps the cells as read, to
    quote them in the reasons of refused rows."""

    encoded: np.ndarray
    malformed: np.ndarray | None
    columns: Mapping[str, pa.ChunkedArray]

    @classmethod
    def read(cls, columns: Mapping[str, pa.ChunkedArray | pa.Array], rows: int) -> ArrowInputs:
        """Every input column of ``columns`` (typed as Arrow read them, or all text) encoded."""
        encoded, malformed = input_matrix(rows), None
        chunked = {spec.name: _chunked(columns[spec.name]) for spec in APPLICATION_COLUMNS}
        for position, spec in enumerate(APPLICATION_COLUMNS):
            encode = _numbers if spec.is_numeric else _levels
            wrong = encode(spec, chunked[spec.name], encoded[:, position])
            if wrong is not None and wrong.any():
                if malformed is None:
                    malformed = np.zeros((WIDTH, rows), dtype=bool).T
                malformed[:, position] = wrong
        return cls(encoded, malformed, chunked)

    def broken(self) -> np.ndarray:
        """``broken_cells`` of these inputs."""
        return broken_cells(self.encoded, self.malformed)

    def reasons(self, broken: np.ndarray, row: int) -> list[str]:
        """The API's messages for one row's broken cells, in schema order (``"<column> <problem>"``)."""
        return [
            f"{spec.name} {check_value(spec, self.value(position, row))}"
            for position, spec in enumerate(APPLICATION_COLUMNS)
            if broken[row, position]
        ]

    def value(self, position: int, row: int) -> Any:
        """One cell as a JSON value (what the API's validation would receive): the cell as read when it
        is of the wrong kind or a category, None when missing, else an int or a float."""
        spec = APPLICATION_COLUMNS[position]
        if not spec.is_numeric or (self.malformed is not None and self.malformed[row, position]):
            cell = self.columns[spec.name][row].as_py()
            return None if cell == "" else cell
        number = float(self.encoded[row, position])
        if math.isnan(number):
            return None
        return int(number) if number.is_integer() else number


def _chunked(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    return column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])


def _numbers(spec: ColumnSpec, column: pa.ChunkedArray, out: np.ndarray) -> np.ndarray | None:
    """float64 values written to ``out`` (NaN when missing); the cells that are no number."""
    kind = column.type
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        out[:] = column.to_numpy()  # nulls: NaN
        return None
    if pa.types.is_null(kind):
        out[:] = np.nan
        return None
    if pa.types.is_boolean(kind):  # True is not a number to the API, so not 1 here either
        out[:] = np.nan
        return _present(column)
    out[:], text = _parsed_text(column.to_pandas())
    return text


def _parsed_text(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each cell of a text column (CSV read as text, Spark) parsed as a number; the text ones marked."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    text = np.zeros(len(column), dtype=bool)
    # Few cells get here (text, blanks, a spelled-out NaN): each is looked at on its own.
    for position in np.flatnonzero(np.isnan(values) & column.notna().to_numpy()):
        text[position] = not _is_null_cell(column.iloc[position])
    return values, text


def _levels(spec: ColumnSpec, column: pa.ChunkedArray, out: np.ndarray) -> np.ndarray | None:
    """Level codes written to ``out`` (NaN when missing or unknown); the cells holding something else
    than a level. Empty text is missing, as CSV readers disagree on quoted empty fields."""
    if pa.types.is_dictionary(column.type) and is_text(column.type.value_type):
        return _dictionary_levels(spec, column, out)
    if not is_text(column.type):
        out[:] = np.nan  # numbers, booleans: not text (and a column of nulls: all missing)
        return None if pa.types.is_null(column.type) else _present(column)
    codes = pc.index_in(column, value_set=_LEVELS[spec.name])
    out[:] = codes.to_numpy()  # int32, or float64 with NaN where a cell is no level
    if codes.null_count == 0:  # the usual column: every cell a level
        return None
    missing = pc.fill_null(pc.equal(column, ""), True).to_numpy(zero_copy_only=False)
    return np.isnan(out) & ~missing


def _dictionary_levels(spec: ColumnSpec, column: pa.ChunkedArray, out: np.ndarray) -> np.ndarray | None:
    """``_levels`` of dictionary-encoded text (as the files are read): each distinct value looked up once."""
    wrong, start = np.zeros(len(out), dtype=bool), 0
    for chunk in column.chunks:
        values = chunk.dictionary
        # One more entry, last, for the null cells (their index is filled with it): missing.
        found = pc.index_in(values, value_set=_LEVELS[spec.name]).to_numpy(zero_copy_only=False)
        text = pc.fill_null(pc.not_equal(values, ""), False).to_numpy(zero_copy_only=False)
        codes, unknown = np.append(found, np.nan), np.append(np.isnan(found) & text, False)
        indices = pc.fill_null(chunk.indices, len(values)).to_numpy()
        out[start : start + len(chunk)] = codes[indices]
        wrong[start : start + len(chunk)] = unknown[indices]
        start += len(chunk)
    return wrong


def is_text(kind: pa.DataType) -> bool:
    """Whether Arrow values of ``kind`` are text (pandas 3 writes ``large_string``, most tools ``string``)."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _present(column: pa.ChunkedArray) -> np.ndarray:
    return pc.is_valid(column).to_numpy()


def _is_null_cell(cell: Any) -> bool:
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
