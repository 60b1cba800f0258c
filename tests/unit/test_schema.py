"""The applicant schema accepts real-looking rows and rejects each kind of impossible value clearly."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from credit_scoring.schema import (
    APPLICATION_COLUMNS,
    CATEGORICAL_COLUMNS,
    FILE_COLUMNS,
    INPUT_COLUMNS,
    example_application,
)
from credit_scoring.validation import Application, application_to_record, check_frame


def _errors(**changes: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        Application.model_validate(example_application() | changes)
    return caught.value.errors()


def test_schema_has_the_120_kaggle_input_columns() -> None:
    assert len(INPUT_COLUMNS) == 120
    assert len(set(INPUT_COLUMNS)) == 120
    assert FILE_COLUMNS[:2] == ("SK_ID_CURR", "TARGET")
    assert len(CATEGORICAL_COLUMNS) == 16


def test_example_application_is_accepted() -> None:
    record = application_to_record(Application.model_validate(example_application()))
    assert list(record) == list(INPUT_COLUMNS)
    assert record["AMT_INCOME_TOTAL"] == 202500.0


@pytest.mark.parametrize(
    "changes",
    [
        {"DAYS_EMPLOYED": 365243},  # pensioner sentinel
        {"CODE_GENDER": "XNA", "ORGANIZATION_TYPE": "XNA"},
        {"NAME_FAMILY_STATUS": "Unknown", "NAME_INCOME_TYPE": "Maternity leave"},
        {"EXT_SOURCE_1": None, "APARTMENTS_AVG": None, "OCCUPATION_TYPE": None},
        {"DAYS_BIRTH": -25229, "DAYS_REGISTRATION": 0.0, "DAYS_ID_PUBLISH": 0},
        {"AMT_INCOME_TOTAL": 117_000_000.0, "CNT_CHILDREN": 19, "REGION_RATING_CLIENT_W_CITY": -1},
        {"FLAG_DOCUMENT_3": 1.0, "TARGET": 1},  # a CSV row read as floats, with its label
    ],
)
def test_real_quirks_are_accepted(changes: dict[str, Any]) -> None:
    Application.model_validate(example_application() | changes)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"AMT_INCOME_TOTAL": -1000.0}, "AMT_INCOME_TOTAL", "between 1 and"),
        ({"AMT_CREDIT": -5.0}, "AMT_CREDIT", "positive"),
        ({"DAYS_BIRTH": 200}, "DAYS_BIRTH", "birth date in the past"),
        ({"DAYS_BIRTH": -150 * 365}, "DAYS_BIRTH", "100 years"),
        ({"AMT_CREDIT": "lots"}, "AMT_CREDIT", "must be a number"),
        ({"NAME_CONTRACT_TYPE": "Mortgage"}, "NAME_CONTRACT_TYPE", "'Cash loans'"),
        ({"DAYS_EMPLOYED": 5}, "DAYS_EMPLOYED", "365243"),
        ({"FLAG_MOBIL": 2}, "FLAG_MOBIL", "0/1 flag"),
        ({"CNT_CHILDREN": 1.5}, "CNT_CHILDREN", "whole number"),
        ({"EXT_SOURCE_2": True}, "EXT_SOURCE_2", "must be a number"),
        ({"AMT_CREDIT": None}, "AMT_CREDIT", "required"),
    ],
)
def test_impossible_values_are_rejected_with_field_and_rule(changes: dict, field: str, words: str) -> None:
    errors = _errors(**changes)
    assert [e["loc"] for e in errors] == [(field,)]
    assert field in errors[0]["msg"] and words in errors[0]["msg"]


def test_missing_required_field_and_unknown_field_are_named() -> None:
    application = example_application()
    del application["AMT_INCOME_TOTAL"]
    application["AMT_INCOM_TOTAL"] = 1.0
    with pytest.raises(ValidationError) as caught:
        Application.model_validate(application)
    locations = {e["loc"][0]: e["type"] for e in caught.value.errors()}
    assert locations == {"AMT_INCOME_TOTAL": "missing", "AMT_INCOM_TOTAL": "extra_forbidden"}


def _frame(rows: int = 3) -> pd.DataFrame:
    return pd.DataFrame([example_application() | {"TARGET": 0}] * rows)


def test_check_frame_accepts_valid_table() -> None:
    assert check_frame(_frame()) == []


def test_check_frame_reports_each_broken_rule_with_counts() -> None:
    frame = _frame(4).drop(columns=["EXT_SOURCE_3"])
    frame.loc[0:1, "AMT_INCOME_TOTAL"] = -3.0
    frame["AMT_CREDIT"] = frame["AMT_CREDIT"].astype(object)
    frame.loc[2, "AMT_CREDIT"] = "abc"
    frame.loc[3, "CODE_GENDER"] = "Z"
    found = {(v.column, v.rows) for v in check_frame(frame)}
    assert found == {("EXT_SOURCE_3", 1), ("AMT_INCOME_TOTAL", 2), ("AMT_CREDIT", 1), ("CODE_GENDER", 1)}


def test_every_column_rule_is_described() -> None:
    for spec in APPLICATION_COLUMNS:
        assert spec.describe_rule(), spec.name
