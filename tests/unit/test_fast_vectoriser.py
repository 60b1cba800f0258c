"""The fast request vectoriser builds exactly the matrix of features.build_features(_from_records)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from credit_scoring.data.synthetic import generate_applications
from credit_scoring.fastpath.vectorise import (
    RecordVectoriser,
    frame_features,
    frame_probabilities,
    request_records,
)
from credit_scoring.features import FEATURE_NAMES, build_features, build_features_from_records
from credit_scoring.schema import EMPLOYED_SENTINEL, INPUT_COLUMNS, example_application
from credit_scoring.validation import Application, application_to_record


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_applications(600, seed=5)


@pytest.fixture(scope="module")
def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return request_records(frame)


def _same(left: np.ndarray, right: np.ndarray) -> None:
    assert left.dtype == right.dtype == np.float32
    assert left.shape == right.shape
    np.testing.assert_array_equal(left, right)  # NaN == NaN here; values bit for bit


def test_equals_build_features_on_synthetic_rows(frame: pd.DataFrame, records: list[dict[str, Any]]) -> None:
    matrix = RecordVectoriser().transform(records)
    # The data must contain what the test is about: missing cells and the employment sentinel.
    assert frame[list(INPUT_COLUMNS)].isna().any(axis=None)
    assert (frame["DAYS_EMPLOYED"] == EMPLOYED_SENTINEL).any()
    _same(matrix, build_features(frame.loc[:, list(INPUT_COLUMNS)]))
    _same(matrix, build_features_from_records(records))


def test_unseen_levels_missing_keys_and_text_numbers_as_encode_records(records: list[dict[str, Any]]) -> None:
    odd = [
        records[0] | {"CODE_GENDER": "unknown", "NAME_TYPE_SUITE": None},
        records[1] | {"ORGANIZATION_TYPE": "Spaceport", "DAYS_EMPLOYED": EMPLOYED_SENTINEL},
        {k: v for k, v in records[2].items() if k not in {"AMT_ANNUITY", "OCCUPATION_TYPE", "EXT_SOURCE_1"}},
        records[3] | {"AMT_INCOME_TOTAL": "202500.5", "CNT_CHILDREN": True},
        records[4] | {"AMT_INCOME_TOTAL": 0.0, "AMT_GOODS_PRICE": 0.0},  # ratios over zero become missing
    ]
    matrix = RecordVectoriser().transform(odd)
    _same(matrix, build_features_from_records(odd))
    gender = FEATURE_NAMES.index("CODE_GENDER")
    assert np.isnan(matrix[0, gender]) and not np.isnan(matrix[1, gender])


def test_one_record_equals_its_row_in_a_batch(records: list[dict[str, Any]]) -> None:
    vectoriser = RecordVectoriser()
    batch = vectoriser.transform(records)
    for index, record in enumerate(records):
        _same(vectoriser.transform_one(record), batch[index : index + 1])
        _same(vectoriser.transform([record]), batch[index : index + 1])


@pytest.mark.parametrize(
    "changes",
    [
        {"DAYS_EMPLOYED": EMPLOYED_SENTINEL},
        {"AMT_INCOME_TOTAL": 0.0, "AMT_GOODS_PRICE": -0.0, "DAYS_BIRTH": 0},  # zero denominators
        {"AMT_CREDIT": None, "AMT_ANNUITY": float("nan")},  # missing numerators
        {"AMT_CREDIT": float("inf")},  # an infinite ratio (a table can hold inf) is missing
        {"DAYS_EMPLOYED": 0, "DAYS_BIRTH": -1, "AMT_INCOME_TOTAL": "202500.5"},
    ],
)
def test_the_row_path_follows_the_table_rules_on_edge_values(
    records: list[dict[str, Any]], changes: dict[str, Any]
) -> None:
    record = records[0] | changes
    _same(RecordVectoriser().transform_one(record), build_features_from_records([record, record])[:1])


def test_a_validated_application_can_be_passed_as_its_dict() -> None:
    application = Application.model_validate(example_application() | {"EXT_SOURCE_1": None})
    expected = build_features_from_records([application_to_record(application)])
    _same(RecordVectoriser().transform_one(application.__dict__), expected)


def test_no_records_give_an_empty_matrix() -> None:
    matrix = RecordVectoriser().transform([])
    assert matrix.shape == (0, len(FEATURE_NAMES)) and matrix.dtype == np.float32


def test_text_in_a_numeric_field_fails_like_encode_records(records: list[dict[str, Any]]) -> None:
    bad = [records[0] | {"AMT_CREDIT": "a lot"}]
    with pytest.raises(ValueError):
        build_features_from_records(bad)
    with pytest.raises(ValueError):
        RecordVectoriser().transform(bad)


def test_frame_features_equal_build_features(frame: pd.DataFrame) -> None:
    inputs = frame.loc[:, list(INPUT_COLUMNS)]
    _same(frame_features(inputs), build_features(inputs))


def test_frame_features_on_untyped_columns_and_unseen_levels(frame: pd.DataFrame) -> None:
    odd = frame.loc[:, list(INPUT_COLUMNS)].head(6).astype(object)
    odd["CODE_GENDER"] = ["F", None, "Q", np.nan, "M", 3]
    odd["AMT_CREDIT"] = ["1000.5", None, "text", 2.0, np.nan, 7]
    odd["DAYS_EMPLOYED"] = EMPLOYED_SENTINEL
    _same(frame_features(odd), build_features(odd))


def test_frame_probabilities_in_chunks_equal_one_call(frame: pd.DataFrame) -> None:
    """Chunks (the last one short) give exactly the scores of one call on the whole table."""
    inputs = frame.loc[:, list(INPUT_COLUMNS)]

    def row_scores(matrix: np.ndarray) -> np.ndarray:  # any per-row function of the features will do
        return np.nansum(matrix.astype(np.float64), axis=1)

    chunked = frame_probabilities(inputs, row_scores, chunk_rows=7)
    assert len(inputs) % 7 != 0 and chunked.shape == (len(inputs),)
    np.testing.assert_array_equal(chunked, row_scores(frame_features(inputs)))
    assert frame_probabilities(inputs.iloc[0:0], row_scores).shape == (0,)
