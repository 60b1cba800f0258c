"""The columnar rules agree with the schema's check_value cell by cell, whatever Arrow type a column has."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from credit_scoring.columnar import ArrowInputs, broken_cells, input_matrix
from credit_scoring.data.synthetic import generate_applications
from credit_scoring.features import LEVEL_CODES
from credit_scoring.schema import APPLICATION_COLUMNS, INPUT_COLUMNS, ColumnSpec, check_value


def _numbers_to_try(spec: ColumnSpec) -> list[Any]:
    low, high = spec.minimum, spec.maximum
    values = [None, low, high, low - 1, high + 0.5, (low + high) / 2, math.inf, -math.inf]
    values += spec.special_values
    return [*values, low + 0.5] if spec.kind == "int" else values


def _levels_to_try(spec: ColumnSpec) -> list[Any]:
    return [None, *spec.levels, spec.levels[0].lower(), "Spaceport"]


def _encoded(spec: ColumnSpec, value: Any) -> float:
    if value is None:
        return math.nan
    if spec.is_numeric:
        return float(value)
    return LEVEL_CODES[spec.name].get(value, math.nan)


@pytest.mark.parametrize("spec", APPLICATION_COLUMNS, ids=lambda spec: spec.name)
def test_broken_cells_is_check_value_over_a_column(spec: ColumnSpec) -> None:
    values = _numbers_to_try(spec) if spec.is_numeric else _levels_to_try(spec)
    encoded = input_matrix(len(values))
    encoded[:] = 0.5  # other columns: irrelevant, only this column's verdicts are read
    position = INPUT_COLUMNS.index(spec.name)
    encoded[:, position] = [_encoded(spec, value) for value in values]
    malformed = np.zeros(encoded.shape, dtype=bool)
    # An unknown level is NaN among the codes; the container marks it as a cell of the wrong kind.
    malformed[:, position] = [value is not None and math.isnan(_encoded(spec, value)) for value in values]
    verdicts = broken_cells(encoded, malformed)[:, position]
    assert verdicts.tolist() == [check_value(spec, value) is not None for value in values]


def _columns(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    return dict(zip(table.column_names, table.columns, strict=True))


def test_dictionary_and_plain_text_levels_read_alike() -> None:
    frame = generate_applications(300, seed=5).astype(object)
    frame.loc[3, "CODE_GENDER"] = "Q"
    frame.loc[4, "NAME_TYPE_SUITE"] = ""
    frame.loc[5, "CODE_GENDER"] = None
    plain = pa.Table.from_pandas(frame, preserve_index=False)
    levels = [spec.name for spec in APPLICATION_COLUMNS if not spec.is_numeric]
    dictionary = plain.cast(
        pa.schema([
            pa.field(f.name, pa.dictionary(pa.int32(), pa.string()) if f.name in levels else f.type)
            for f in plain.schema
        ])
    )  # fmt: skip
    first, second = (ArrowInputs.read(_columns(table), table.num_rows) for table in (plain, dictionary))
    np.testing.assert_array_equal(first.encoded, second.encoded)
    np.testing.assert_array_equal(first.broken(), second.broken())
    broken_rows = np.flatnonzero(first.broken().any(axis=1)).tolist()
    # An unknown level, a required one missing; empty text is missing, allowed in NAME_TYPE_SUITE.
    assert broken_rows == [3, 5]
    assert first.reasons(first.broken(), 3) == [f"CODE_GENDER {check_value(APPLICATION_COLUMNS[1], 'Q')}"]
