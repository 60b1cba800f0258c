"""Application files for batch-scoring tests: valid rows, real-data quirks and many kinds of invalid rows."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from sklearn.pipeline import Pipeline

from credit_scoring.batch.model import BatchModel
from credit_scoring.data.synthetic import generate_applications
from credit_scoring.fastpath.engines import OnnxScorer
from credit_scoring.fastpath.onnx_export import convert_classifier_to_onnx
from credit_scoring.schema import APPLICATION_COLUMNS, COLUMNS_BY_NAME, ID_COLUMN, ColumnSpec
from credit_scoring.scoring import Scorer
from credit_scoring.validation import Application, application_to_record
from tests.support.tiny_model import fit_tiny_pipeline, tiny_applications

THRESHOLD = 0.35
VERSION = "7"


@dataclass(frozen=True)
class TinyBatchModel:
    """A small real model two ways: as batch scoring gets it, and as the API's Scorer."""

    batch: BatchModel
    api: Scorer


def tiny_batch_model(seed: int = 3) -> TinyBatchModel:
    pipeline: Pipeline = fit_tiny_pipeline(tiny_applications(400, seed=seed), seed=seed)
    onnx_bytes = convert_classifier_to_onnx(pipeline)
    api = Scorer(pipeline, THRESHOLD, VERSION, model=OnnxScorer(onnx_bytes))
    return TinyBatchModel(BatchModel("credit-scoring", VERSION, THRESHOLD, onnx_bytes), api)


def _broken_values(spec: ColumnSpec, text: bool) -> list[Any]:
    """Values the API refuses for this column; text ones only where the file can hold text."""
    if spec.kind == "category":
        values: list[Any] = ["Spaceport", spec.levels[0].lower(), " " + spec.levels[0]]
    else:
        values = [spec.minimum - 1, spec.maximum + 1.5, math.inf]
        values += [spec.minimum + 0.5] if spec.kind == "int" else []
        values += ["abc", "1,5", "12 000", "True"] if text else []
    return values if spec.nullable else [*values, None]


def _quirky(frame: pd.DataFrame) -> pd.DataFrame:
    """The real table's oddities, which the API must accept."""
    quirks = {
        "DAYS_EMPLOYED": 365243,
        "CODE_GENDER": "XNA",
        "ORGANIZATION_TYPE": "XNA",
        "NAME_FAMILY_STATUS": "Unknown",
        "EXT_SOURCE_1": None,
        "REGION_RATING_CLIENT_W_CITY": -1,
        "NAME_INCOME_TYPE": "Maternity leave",
        "CNT_CHILDREN": 2.0,  # a whole number written as 2.0: the API accepts it
    }
    for position, (name, value) in enumerate(quirks.items()):
        frame.loc[position * 3 : position * 3 + 2, name] = value
    return frame


def mixed_applications(rows: int = 240, seed: int = 11, text: bool = True) -> pd.DataFrame:
    """Valid synthetic rows with quirks, then one row per broken value of every column, then rows
    breaking several rules at once; ids are the lender's own text when ``text``."""
    valid = _quirky(generate_applications(rows, seed=seed).astype(object))
    broken = []
    for number, spec in enumerate(APPLICATION_COLUMNS):
        for value in _broken_values(spec, text):
            row = valid.iloc[number % rows].copy()
            row[spec.name] = value
            broken.append(row)
    several = valid.iloc[:5].copy()
    several[["AMT_CREDIT", "CODE_GENDER", "DAYS_BIRTH"]] = [-1, "Q", 10]
    frame = pd.concat([valid, pd.DataFrame(broken), several], ignore_index=True)
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # invalid rows everywhere
    frame[ID_COLUMN] = [f"L-{i:05d}" for i in range(len(frame))] if text else np.arange(len(frame)) + 100_000
    return frame


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """As a lender's system writes it: empty cells for missing values, NaN spelled out in one column."""
    frame = frame.copy()
    frame["AMT_REQ_CREDIT_BUREAU_YEAR"] = frame["AMT_REQ_CREDIT_BUREAU_YEAR"].map(
        lambda value: "NaN" if value is None or (isinstance(value, float) and math.isnan(value)) else value
    )
    frame.to_csv(path, index=False)
    return path


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Typed columns: numbers as float64 (text cannot be stored there), levels as strings."""
    typed = frame.copy()
    for spec in APPLICATION_COLUMNS:
        column = typed[spec.name]
        typed[spec.name] = pd.to_numeric(column) if spec.is_numeric else column.astype("string")
    typed.to_parquet(path, index=False)
    return path


def _csv_cell(name: str, cell: str) -> Any:
    """A CSV cell as a JSON value: empty or a spelled-out NaN is missing, a number is a number."""
    spec = COLUMNS_BY_NAME[name]
    if cell == "":
        return None
    if not spec.is_numeric:
        return cell
    try:
        number = float(cell)
    except ValueError:
        return cell
    return json_number(number)


def json_number(number: float) -> Any:
    """The files' convention for messages: a whole number is quoted as an int (5, not 5.0)."""
    if math.isnan(number):
        return None
    return int(number) if number.is_integer() else number


def csv_records(path: Path) -> list[dict[str, Any]]:
    """Each data line of a CSV as the application body an API client would send (id left out)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{spec.name: _csv_cell(spec.name, row[spec.name]) for spec in APPLICATION_COLUMNS} for row in rows]


def parquet_records(path: Path) -> list[dict[str, Any]]:
    """Each row of a Parquet file as the application body an API client would send (id left out)."""
    table = pd.read_parquet(path).astype(object)
    records = table.where(table.notna(), None).to_dict("records")
    return [{spec.name: _typed_cell(record[spec.name]) for spec in APPLICATION_COLUMNS} for record in records]


def _typed_cell(value: Any) -> Any:
    return (
        json_number(float(value)) if isinstance(value, float | int) and not isinstance(value, bool) else value
    )


def api_verdicts(records: list[dict[str, Any]], scorer: Scorer) -> tuple[dict[int, str], dict[int, float]]:
    """The API's answer per file row (1-based): its error messages joined, or its probability."""
    refused, accepted = {}, {}
    for row, record in enumerate(records, start=1):
        try:
            accepted[row] = application_to_record(Application.model_validate(record))
        except ValidationError as error:
            refused[row] = "; ".join(detail["msg"] for detail in error.errors(include_url=False))
    probabilities = scorer.probabilities(list(accepted.values()))
    return refused, dict(zip(accepted, map(float, probabilities), strict=True))
