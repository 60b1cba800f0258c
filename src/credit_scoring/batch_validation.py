"""A batch of applications validated column by column: the schema's rules as a few numpy passes per batch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import chain
from operator import itemgetter
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
import numpy as np
from pydantic import BaseModel

from credit_scoring.columnar import all_valid, input_matrix
from credit_scoring.fastpath.vectorise import RecordVectoriser
from credit_scoring.features import LEVEL_CODES
from credit_scoring.schema import (
    APPLICATION_COLUMNS,
    COLUMNS_BY_NAME,
    ID_COLUMN,
    INPUT_COLUMNS,
    TARGET_COLUMN,
    ColumnSpec,
)
from credit_scoring.validation import application_to_record

_NUMERIC: tuple[ColumnSpec, ...] = tuple(spec for spec in APPLICATION_COLUMNS if spec.is_numeric)
_CATEGORIES: tuple[ColumnSpec, ...] = tuple(spec for spec in APPLICATION_COLUMNS if not spec.is_numeric)
_POSITION = {name: position for position, name in enumerate(INPUT_COLUMNS)}
_NUMERIC_POSITIONS = np.array([_POSITION[spec.name] for spec in _NUMERIC])
_NUMERIC_NAMES = tuple(spec.name for spec in _NUMERIC)
_CATEGORY_NAMES = tuple(spec.name for spec in _CATEGORIES)
_ALLOWED_KEYS = frozenset((*INPUT_COLUMNS, ID_COLUMN, TARGET_COLUMN))
_NoneType = type(None)
# bool is a subclass of int, but type() tells them apart: a JSON true is never a number here.
_NUMBER_TYPES = frozenset({int, float, _NoneType})
_REFERENCE_TYPES = frozenset({int, _NoneType})

# A missing level (None) passes here as a code of NaN; columnar.all_valid refuses it where it is required.
_LEVELS = tuple(frozenset((*spec.levels, None)) for spec in _CATEGORIES)
_LEVEL_NAMES = {name: {code: level for level, code in codes.items()} for name, codes in LEVEL_CODES.items()}


@dataclass(frozen=True)
class ApplicationBatch:
    """Validated applications: the encoded input matrix the features are derived from, and the client ids.

    ``encoded`` is ``RecordVectoriser.encode``'s matrix (float64, one row per application, the input columns
    in schema order, categories as level codes, NaN when missing); ``records()`` gives the same inputs as
    the dicts ``validation.application_to_record`` returns.
    """

    encoded: np.ndarray
    client_references: list[int | None]
    _records: list[dict[str, Any]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.client_references)

    def records(self) -> list[dict[str, Any]]:
        """The validated inputs of each application (ints, floats, level names; None when missing)."""
        if self._records is not None:
            return self._records
        columns = self.columns().values()
        return [dict(zip(INPUT_COLUMNS, row, strict=True)) for row in zip(*columns, strict=True)]

    def columns(self) -> dict[str, list[Any]]:
        """The same inputs column by column, in schema order (what a columnar store takes)."""
        encoded = self.encoded
        return {name: _decoded(name, encoded[:, position]) for position, name in enumerate(INPUT_COLUMNS)}

    @classmethod
    def from_models(cls, applications: Sequence[BaseModel]) -> ApplicationBatch:
        """The batch of applications the pydantic ``Application`` model validated one by one."""
        records = [application_to_record(application) for application in applications]
        references = [getattr(application, ID_COLUMN) for application in applications]
        return cls(RecordVectoriser().encode(records), references, records)


def _decoded(name: str, column: np.ndarray) -> list[Any]:
    spec = COLUMNS_BY_NAME[name]
    if spec.kind == "category":
        levels = _LEVEL_NAMES[name]
        return [None if value != value else levels[value] for value in column.tolist()]
    cast = int if spec.kind == "int" else float
    return [None if value != value else cast(value) for value in column.tolist()]


def validate_batch_json(body: bytes) -> ApplicationBatch | None:
    """A body ``{"applications": [...]}`` decoded and type-checked in one pass (msgspec: numbers, levels,
    whole non-negative ids, no unknown key), then checked on whole columns; None when it is not plainly
    valid, and then the caller validates it as before.

    Strict JSON only: a body with NaN (how pandas and Python's json write a missing value), an id sent as
    7.0 or anything else unusual is left to the slower paths, which accept it or word the error.
    """
    try:
        applications = _batch_decoder().decode(body).applications
    except msgspec.DecodeError:  # malformed JSON or a value of the wrong type (ValidationError)
        return None
    if not applications:
        return None
    rows = list(map(msgspec.structs.astuple, applications))
    encoded = input_matrix(len(rows))
    encoded[:, _NUMERIC_POSITIONS] = np.array([row[: len(_NUMERIC)] for row in rows], dtype=np.float64)
    categories = zip(*(row[len(_NUMERIC) : len(_NUMERIC) + len(_CATEGORIES)] for row in rows), strict=True)
    for spec, column in zip(_CATEGORIES, categories, strict=True):
        encoded[:, _POSITION[spec.name]] = _codes(LEVEL_CODES[spec.name], column)
    return ApplicationBatch(encoded, [row[-2] for row in rows]) if all_valid(encoded) else None


@cache
def _batch_decoder() -> msgspec.json.Decoder:
    """The decoder of a batch body: fields in this module's order (numbers, categories, id, target)."""
    reference = Annotated[int, msgspec.Meta(ge=0)]
    fields: list[tuple[str, Any, None]] = [(spec.name, float | None, None) for spec in _NUMERIC]
    fields += [(spec.name, Literal[spec.levels] | None, None) for spec in _CATEGORIES]
    fields += [(ID_COLUMN, reference | None, None), (TARGET_COLUMN, int | None, None)]
    application = msgspec.defstruct("Application", fields, forbid_unknown_fields=True)
    body = msgspec.defstruct("BatchBody", [("applications", list[application])], forbid_unknown_fields=True)
    return msgspec.json.Decoder(body)


def validate_applications(applications: Sequence[Any]) -> ApplicationBatch | None:
    """The batch validated column by column, or None when an application is not plainly valid.

    None is no verdict: the caller validates that batch with the pydantic model, which words the errors
    and also accepts the rare lenient forms left to it here (a client id or a target sent as 7.0). Whatever
    this function accepts, the model accepts with the same values (tested); the real table's quirks (the
    365243 sentinel, XNA, NaN or null for a missing value, a whole number sent as 2.0) are accepted here.
    """
    rows = _rows(applications)
    if rows is None:
        return None
    numbers, categories, references = rows
    encoded = input_matrix(len(applications))
    if not _numbers_read(numbers, encoded) or not _categories_read(categories, encoded):
        return None
    return ApplicationBatch(encoded, references) if all_valid(encoded) else None


class _Layout(NamedTuple):
    """Where the schema's fields sit in the values of applications whose keys come in one order."""

    numbers: Callable[[tuple], tuple]
    categories: Callable[[tuple], tuple]
    reference: int
    target: int


def _layout(keys: tuple[str, ...]) -> _Layout | None:
    """The positions of every field for this key order (an absent field reads the None appended last);
    None if a key is not the schema's."""
    if not _ALLOWED_KEYS.issuperset(keys):
        return None
    position = {key: index for index, key in enumerate(keys)}
    absent = len(keys)
    return _Layout(
        itemgetter(*(position.get(name, absent) for name in _NUMERIC_NAMES)),
        itemgetter(*(position.get(name, absent) for name in _CATEGORY_NAMES)),
        position.get(ID_COLUMN, absent),
        position.get(TARGET_COLUMN, absent),
    )


def _rows(applications: Sequence[Any]) -> tuple[list[tuple], list[tuple], list[Any]] | None:
    """Each application's numbers and categories in schema order, and the client ids; None if a field is
    unknown, an application is not an object, or an id or target is not a whole number."""
    if not applications or set(map(type, applications)) != {dict}:
        return None
    numbers, categories, references, targets = [], [], [], []
    keys, layout = None, None
    for application in applications:
        # Clients send every application with the same keys in the same order: found by position once,
        # then read by position (no name hashed per field), the layout changing only with the key order.
        if (order := tuple(application)) != keys:
            keys, layout = order, _layout(order)
            if layout is None:
                return None
        values = (*application.values(), None)
        numbers.append(layout.numbers(values))
        categories.append(layout.categories(values))
        references.append(values[layout.reference])
        targets.append(values[layout.target])
    if not _whole_numbers(references, minimum=0) or not _whole_numbers(targets):
        return None
    return numbers, categories, references


def _whole_numbers(values: list[Any], minimum: int | None = None) -> bool:
    if not set(map(type, values)) <= _REFERENCE_TYPES:
        return False
    return minimum is None or all(value >= minimum for value in values if value is not None)


def _numbers_read(numbers: list[tuple], encoded: np.ndarray) -> bool:
    """Every numeric column written to ``encoded`` (None -> NaN); False if a value is not a JSON number."""
    if not set(map(type, chain.from_iterable(numbers))) <= _NUMBER_TYPES:
        return False
    try:
        encoded[:, _NUMERIC_POSITIONS] = np.array(numbers, dtype=np.float64)
    except OverflowError:  # an integer beyond any float: out of every range
        return False
    return True


def _categories_read(categories: list[tuple], encoded: np.ndarray) -> bool:
    """Every category column written to ``encoded`` as level codes; False if a value is not a level
    (nor None or NaN, missing)."""
    for spec, levels, column in zip(_CATEGORIES, _LEVELS, zip(*categories, strict=True), strict=True):
        try:
            others = set(column) - levels
        except TypeError:  # an unhashable value (a list, an object): not a level
            return False
        if others and not all(_is_nan(value) for value in others):
            return False
        encoded[:, _POSITION[spec.name]] = _codes(LEVEL_CODES[spec.name], column)
    return True


def _is_nan(value: Any) -> bool:
    # NaN is how pandas and Python's json write a missing text cell: missing, like null (schema.is_missing).
    return type(value) is float and value != value


def _codes(codes: Mapping[str, float], column: tuple) -> np.ndarray:
    return np.array(list(map(codes.get, column)), dtype=np.float64)  # missing (None, NaN) -> NaN
