"""Validation built from the schema: a pydantic model for one application and a vectorised frame check."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from credit_scoring.schema import (
    APPLICATION_COLUMNS,
    ID_COLUMN,
    INPUT_COLUMNS,
    TARGET_COLUMN,
    ColumnSpec,
    Violation,
    check_value,
    is_missing,
)


def _enforce(spec: ColumnSpec, value: Any) -> Any:
    problem = check_value(spec, value)
    if problem is not None:
        raise PydanticCustomError(
            "application_rule", "{column} {problem}", {"column": spec.name, "problem": problem}
        )
    return None if is_missing(value) else value


def _field_type(spec: ColumnSpec) -> Any:
    if spec.kind == "category":
        return Literal[spec.levels]  # type: ignore[valid-type]
    return int if spec.kind == "int" else float


def _rule_checked_field(spec: ColumnSpec) -> tuple[Any, Any]:
    base = _field_type(spec)
    annotated = Annotated[base | None if spec.nullable else base, BeforeValidator(partial(_enforce, spec))]
    return annotated, _field_info(spec)


def _native_field(spec: ColumnSpec) -> tuple[Any, Any]:
    native = _native_type(spec)
    return (native | None if spec.nullable else native), _field_info(spec)


def _native_type(spec: ColumnSpec) -> Any:
    if spec.kind == "category":
        return Literal[spec.levels]  # type: ignore[valid-type]
    # Strict: no text or booleans for numbers (a strict float still takes a JSON integer). NaN and
    # infinities are refused by the model's config: on a field, pydantic checks that in Python.
    native: Any = Annotated[_field_type(spec), Strict(), Field(ge=spec.minimum, le=spec.maximum)]
    for value in spec.special_values:
        native = native | Literal[int(value) if spec.kind == "int" else float(value)]
    return native


def _field_info(spec: ColumnSpec) -> Any:
    return Field(default=None if spec.nullable else ..., description=spec.describe_rule())


def _number_not_text(value: Any) -> Any:
    # pydantic's lax int would take "7" and true; like every other number here, an id is never text.
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# A whole number: 7, or 7.0 as JSON Schema's "integer" allows; never text or a boolean. (The validator
# comes last so that a bound given first stays a JSON Schema "minimum".)
_WholeNumber = Annotated[int, BeforeValidator(_number_not_text)]
_ClientId = Annotated[int, Field(ge=0), BeforeValidator(_number_not_text)]


def _application_fields(field_definition: Callable[[ColumnSpec], tuple[Any, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {spec.name: field_definition(spec) for spec in APPLICATION_COLUMNS}
    fields[ID_COLUMN] = (
        _ClientId | None,
        Field(default=None, description="Client reference (pseudonymised)."),
    )
    fields[TARGET_COLUMN] = (
        _WholeNumber | None,
        Field(default=None, description="Ignored: lets a raw training row be sent."),
    )
    return fields


_CONFIG = ConfigDict(extra="forbid", title="Application")
_RuleCheckedApplication: type[BaseModel] = create_model(
    "Application", __config__=_CONFIG, **_application_fields(_rule_checked_field)
)


# An application is checked twice only when it needs it. The native model states every rule as a
# pydantic-core constraint (strict types, ranges, levels): an ordinary application is validated without a
# line of Python. Whatever it refuses is validated again by the rule-checked model, which calls the
# schema's own check per field: it words the error, and it accepts the lenient forms the native model
# leaves to it (a whole number sent as 2.0, NaN for a missing value).
class _NativeFirst(BaseModel):
    """Validated natively; what that refuses goes to the rule-checked model (its answer or its error)."""

    model_config = _CONFIG | ConfigDict(allow_inf_nan=False)

    @model_validator(mode="wrap")
    @classmethod
    def _rule_checked_when_refused(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError:
            checked = _RuleCheckedApplication.model_validate(data)
            return cls.model_construct(**checked.__dict__)


Application: type[BaseModel] = create_model(
    "Application",
    __base__=_NativeFirst,
    __doc__="One loan application.",
    **_application_fields(_native_field),
)


def application_to_record(application: BaseModel) -> dict[str, Any]:
    """The validated input fields of one application, in schema order, without id or target."""
    data = application.__dict__
    return {name: data[name] for name in INPUT_COLUMNS}


def check_frame(frame: pd.DataFrame) -> list[Violation]:
    """Every rule a table of applications breaks, one violation per column and rule (vectorised)."""
    missing = [name for name in INPUT_COLUMNS if name not in frame.columns]
    violations = [Violation(name, "column is missing from the file") for name in missing]
    for spec in APPLICATION_COLUMNS:
        if spec.name in frame.columns:
            violations.extend(_check_column(spec, frame[spec.name]))
    return violations


def _check_column(spec: ColumnSpec, column: pd.Series) -> list[Violation]:
    nulls = column.isna()
    found: list[Violation] = []
    if not spec.nullable and nulls.any():
        found.append(Violation(spec.name, "is required and may not be missing", int(nulls.sum())))
    present = column[~nulls]
    if spec.kind == "category":
        return found + _bad_rows(spec, present, ~present.astype(str).isin(spec.levels))
    numbers = pd.to_numeric(present, errors="coerce")
    text = numbers.isna()
    if text.any():
        found += _bad_rows(spec, present, text, "must be a number, found text")
    numbers = numbers[~text].astype(float)
    outside = ~(numbers.between(_low(spec), _high(spec)) | numbers.isin(spec.special_values))
    found += _bad_rows(spec, numbers, outside)
    if spec.kind == "int":
        found += _bad_rows(spec, numbers, numbers != np.floor(numbers), "must be a whole number")
    return found


def _low(spec: ColumnSpec) -> float:
    return -np.inf if spec.minimum is None else spec.minimum


def _high(spec: ColumnSpec) -> float:
    return np.inf if spec.maximum is None else spec.maximum


def _bad_rows(spec: ColumnSpec, values: pd.Series, mask: pd.Series, message: str = "") -> list[Violation]:
    if not mask.any():
        return []
    examples = values[mask].unique()[:3].tolist()
    return [Violation(spec.name, message or f"must be {spec.describe_rule()}", int(mask.sum()), examples)]


class _ApplicationBody(BaseModel):
    """A JSON body carrying one application under ``application`` (POST /score and /explain)."""

    model_config = ConfigDict(extra="ignore")

    application: Application  # type: ignore[valid-type]


def application_from_json_body(body: bytes) -> BaseModel:
    """The validated application of a single-application JSON body, as the API validated it (JSON mode).

    Raises ``pydantic.ValidationError`` when the body holds no valid application.
    """
    return _ApplicationBody.model_validate_json(body).application
