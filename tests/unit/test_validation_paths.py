"""The native validation path and the rule-checked one agree, and ordinary input stays on the native one."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from credit_scoring import validation
from credit_scoring.data.synthetic import generate_applications
from credit_scoring.schema import APPLICATION_COLUMNS, ColumnSpec, example_application
from credit_scoring.validation import Application, _RuleCheckedApplication


@pytest.fixture(scope="module")
def synthetic_rows() -> list[dict[str, Any]]:
    frame = generate_applications(400, seed=7)
    return frame.drop(columns=["TARGET"]).to_dict("records")


def _outcome(model: type[BaseModel], data: Any) -> tuple[str, Any]:
    try:
        validated = model.model_validate_json(data) if isinstance(data, str) else model.model_validate(data)
    except ValidationError as error:
        return "refused", error.errors(include_url=False)
    return "accepted", validated.__dict__


def _same(first: tuple[str, Any], second: tuple[str, Any]) -> bool:
    if first[0] != second[0] or first[0] == "refused":
        return first == second
    left, right = first[1], second[1]
    return left.keys() == right.keys() and all(_same_value(left[k], right[k]) for k in left)


def _same_value(left: Any, right: Any) -> bool:
    both_nan = isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right)
    return both_nan or (type(left) is type(right) and left == right)


def _broken_values(spec: ColumnSpec) -> list[Any]:
    """Values around and outside the column's rule, of every JSON type."""
    values: list[Any] = [None, True, "12", "text", [], {}, float("nan"), float("inf")]
    if spec.kind == "category":
        return [*values, spec.levels[0], spec.levels[0].lower(), 3, ""]
    for bound in (b for b in (spec.minimum, spec.maximum) if b is not None):
        values += [bound, bound - 1, bound + 1, bound - 0.5, float(bound), int(bound)]
    return [*values, *spec.special_values, 2**70, 10**400, 1.5]  # 10**400: beyond any float


def test_both_models_agree_on_synthetic_rows_as_dicts_and_as_json(synthetic_rows: list[dict]) -> None:
    for row in synthetic_rows:
        assert _same(_outcome(Application, row), _outcome(_RuleCheckedApplication, row))
        body = json.dumps(row)  # NaN for a missing value, as Python's json writes it
        assert _same(_outcome(Application, body), _outcome(_RuleCheckedApplication, body))


@pytest.mark.parametrize("spec", APPLICATION_COLUMNS, ids=lambda spec: spec.name)
def test_both_models_agree_on_every_broken_value(spec: ColumnSpec) -> None:
    for value in _broken_values(spec):
        data = example_application() | {spec.name: value}
        native, rule_checked = _outcome(Application, data), _outcome(_RuleCheckedApplication, data)
        assert _same(native, rule_checked), f"{spec.name}={value!r}: {native} != {rule_checked}"


def test_unknown_and_missing_fields_get_the_same_errors() -> None:
    data = {k: v for k, v in example_application().items() if k != "AMT_CREDIT"} | {"AMT_CREDITS": 1.0}
    assert _same(_outcome(Application, data), _outcome(_RuleCheckedApplication, data))


class _Reached(Exception):
    """Not a ValueError, so pydantic lets it through instead of turning it into a validation error."""


class _Refuse:
    """Stands in for the rule-checked model to show which inputs reach it."""

    @staticmethod
    def model_validate(data: Any) -> None:
        raise _Reached("the rule-checked model was used")


def test_ordinary_applications_never_reach_the_rule_checked_model(
    synthetic_rows: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validation, "_RuleCheckedApplication", _Refuse)
    Application.model_validate_json(json.dumps(example_application()))
    for row in synthetic_rows:
        as_sent = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        Application.model_validate_json(json.dumps(as_sent))
    with pytest.raises(_Reached):
        Application.model_validate(example_application() | {"CNT_CHILDREN": 2.0})


@pytest.mark.parametrize("field", ["SK_ID_CURR", "TARGET"])
def test_client_id_and_target_are_whole_numbers_never_text_or_booleans(field: str) -> None:
    for refused in ("7", True, 7.5):
        body = json.dumps(example_application() | {field: refused})
        assert _outcome(Application, body)[0] == "refused", refused
    for accepted, value in ((7, 7), (7.0, 7), (None, None)):  # 7.0 is a JSON Schema "integer" too
        body = json.dumps(example_application() | {field: accepted})
        assert getattr(Application.model_validate_json(body), field) == value
    schema = Application.model_json_schema()["properties"]["SK_ID_CURR"]["anyOf"][0]
    assert schema == {"type": "integer", "minimum": 0}  # the bound stays in the published schema
