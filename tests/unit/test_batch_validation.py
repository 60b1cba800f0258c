"""Both fast batch paths (strict JSON decoded into columns, parsed JSON checked column by column) accept only
what the pydantic model accepts, with the same values."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from credit_scoring.batch_validation import ApplicationBatch, validate_applications, validate_batch_json
from credit_scoring.data.synthetic import generate_applications
from credit_scoring.fastpath.vectorise import RecordVectoriser
from credit_scoring.schema import (
    APPLICATION_COLUMNS,
    ID_COLUMN,
    TARGET_COLUMN,
    ColumnSpec,
    example_application,
)
from credit_scoring.validation import Application
from tests.support.tiny_model import as_json_rows

EXAMPLE = example_application()
APPLICATIONS = TypeAdapter(list[Application])  # type: ignore[valid-type]
# The real table's quirks, each of which must be accepted, and on the fast path.
QUIRKS: dict[str, dict[str, Any]] = {
    "pensioner sentinel": {"DAYS_EMPLOYED": 365243, "NAME_INCOME_TYPE": "Pensioner"},
    "XNA levels": {"CODE_GENDER": "XNA", "ORGANIZATION_TYPE": "XNA", "NAME_FAMILY_STATUS": "Unknown"},
    "missing EXT_SOURCE_1 as null": {"EXT_SOURCE_1": None, "OCCUPATION_TYPE": None},
    "missing EXT_SOURCE_1 as NaN": {"EXT_SOURCE_1": math.nan, "OCCUPATION_TYPE": math.nan},
    "missing EXT_SOURCE_1 left out": {},  # removed below
    "ints sent as floats": {"CNT_CHILDREN": 2.0, "FLAG_DOCUMENT_3": 1.0, "DAYS_BIRTH": -12000.0},
    "floats sent as ints": {"AMT_INCOME_TOTAL": 202500, "EXT_SOURCE_2": 0, "AMT_ANNUITY": 24700},
    "rating of -1": {"REGION_RATING_CLIENT_W_CITY": -1},
    "raw training row": {TARGET_COLUMN: 1, ID_COLUMN: 100_003},
    "no client id": {ID_COLUMN: None},
}


def quirky(name: str) -> dict[str, Any]:
    application = EXAMPLE | QUIRKS[name]
    if name == "missing EXT_SOURCE_1 left out":
        del application["EXT_SOURCE_1"]
    return application


def _body(applications: list[Any]) -> bytes:
    return json.dumps(applications).encode()  # NaN written as NaN, as pandas and Python's json do


def by_the_model(applications: list[Any]) -> ApplicationBatch:
    """The reference: each application validated by the pydantic model (JSON mode, as the API reads)."""
    return ApplicationBatch.from_models(APPLICATIONS.validate_json(_body(applications)))


def parsed(applications: list[Any]) -> list[Any]:
    return json.loads(_body(applications))


def by_columns(applications: list[Any]) -> ApplicationBatch | None:
    """The lenient fast path: the body parsed (NaN read), then checked column by column."""
    return validate_applications(parsed(applications))


def by_json_decoder(applications: list[Any]) -> ApplicationBatch | None:
    """The strict fast path: the whole body decoded into typed columns (no NaN in strict JSON)."""
    return validate_batch_json(json.dumps({"applications": applications}).encode())


FastPath = Callable[[list[Any]], ApplicationBatch | None]
FAST_PATHS = pytest.mark.parametrize("fast_path", [by_columns, by_json_decoder], ids=lambda f: f.__name__)


def assert_same_batch(fast: ApplicationBatch | None, reference: ApplicationBatch) -> None:
    assert fast is not None, "a plainly valid batch left the fast path"
    assert np.array_equal(fast.encoded, reference.encoded, equal_nan=True)
    assert fast.client_references == reference.client_references
    for mine, theirs in zip(fast.records(), reference.records(), strict=True):
        assert mine.keys() == theirs.keys()
        assert [(type(v), v) for v in mine.values()] == [(type(v), v) for v in theirs.values()]


@FAST_PATHS
def test_synthetic_rows_take_the_fast_path_with_the_models_values(fast_path: FastPath) -> None:
    rows = as_json_rows(generate_applications(300, seed=11).drop(columns=[TARGET_COLUMN]))
    assert_same_batch(fast_path(rows), by_the_model(rows))


@FAST_PATHS
@pytest.mark.parametrize("name", QUIRKS)
def test_real_data_quirks_take_the_fast_path(name: str, fast_path: FastPath) -> None:
    applications = [EXAMPLE, quirky(name)]
    if fast_path is by_json_decoder and "NaN" in name:  # not strict JSON: the lenient path reads it
        assert fast_path(applications) is None and by_columns(applications) is not None
        return
    assert_same_batch(fast_path(applications), by_the_model(applications))


def test_the_encoded_matrix_is_the_record_vectorisers() -> None:
    applications = [quirky(name) for name in QUIRKS]
    batch = validate_applications(parsed(applications))
    assert batch is not None
    assert np.array_equal(batch.encoded, RecordVectoriser().encode(batch.records()), equal_nan=True)


def _broken_values(spec: ColumnSpec) -> list[Any]:
    """Values around and outside the column's rule, of every JSON type."""
    values: list[Any] = [None, True, False, "12", "text", [], {}, math.nan, math.inf, -math.inf, 2**70, 1.5]
    if spec.kind == "category":
        return [*values, spec.levels[0].lower(), 3, ""]
    for bound in (b for b in (spec.minimum, spec.maximum) if b is not None):
        values += [bound - 1, bound + 1, bound - 0.5, bound + 0.5, float(bound), int(bound)]
    return [*values, *spec.special_values, -0.0, 10**400]


def _model_verdict(applications: list[Any]) -> ApplicationBatch | None:
    try:
        return by_the_model(applications)
    except ValidationError:
        return None


@FAST_PATHS
@pytest.mark.parametrize("spec", APPLICATION_COLUMNS, ids=lambda spec: spec.name)
def test_whatever_the_fast_path_accepts_the_model_accepts_alike(
    spec: ColumnSpec, fast_path: FastPath
) -> None:
    for value in _broken_values(spec):
        applications = [EXAMPLE, EXAMPLE | {spec.name: value}]
        fast, reference = fast_path(applications), _model_verdict(applications)
        if fast is not None:
            assert reference is not None, f"{spec.name}={value!r} accepted here, refused by the model"
            assert_same_batch(fast, reference)


@pytest.mark.parametrize(
    "change",
    [
        {"SALARY": 1},  # unknown field
        {ID_COLUMN: -1},
        {ID_COLUMN: True},
        {ID_COLUMN: "100002"},
        {ID_COLUMN: 100002.0},  # accepted by the model (a whole number): left to it
        {TARGET_COLUMN: "1"},
        {TARGET_COLUMN: 1.0},
    ],
    ids=repr,
)
@FAST_PATHS
def test_ids_targets_and_unknown_fields_are_left_to_the_model(
    change: dict[str, Any], fast_path: FastPath
) -> None:
    assert fast_path([EXAMPLE, EXAMPLE | change]) is None


@FAST_PATHS
def test_missing_required_fields_and_non_objects_are_left_to_the_model(fast_path: FastPath) -> None:
    without_credit = {k: v for k, v in EXAMPLE.items() if k != "AMT_CREDIT"}
    for applications in ([without_credit], [EXAMPLE, "text"], [EXAMPLE, [1]], [], [EXAMPLE, None]):
        assert fast_path(applications) is None


@FAST_PATHS
def test_key_order_may_change_from_one_application_to_the_next(fast_path: FastPath) -> None:
    reordered = dict(reversed(list(quirky("ints sent as floats").items())))
    applications = [EXAMPLE, reordered, quirky("missing EXT_SOURCE_1 left out"), EXAMPLE]
    assert_same_batch(fast_path(applications), by_the_model(applications))


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"applications": {}}', b'{"applications": [], "x": 1}',
     b'{"applications": [{"AMT_CREDIT": 1e999}]}', b'{"applications": [{}], "applications": 3}',
     b"\xef\xbb\xbf{}", b'{"applications": [' + b"{}," * 3 + b"{"],
    ids=repr,
)  # fmt: skip
def test_bodies_that_are_not_plainly_valid_json_batches_are_left_to_the_other_paths(body: bytes) -> None:
    assert validate_batch_json(body) is None
