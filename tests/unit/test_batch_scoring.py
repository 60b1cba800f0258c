"""Batch scoring of files: the API's verdicts, reasons and probabilities, row for row, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credit_scoring.batch.files import Source
from credit_scoring.batch.local import score_file_locally
from credit_scoring.errors import DataError, UsageError
from credit_scoring.schema import APPLICATION_COLUMNS, ID_COLUMN
from tests.support.batch_files import (
    TinyBatchModel,
    api_verdicts,
    csv_records,
    mixed_applications,
    parquet_records,
    tiny_batch_model,
    write_csv,
    write_parquet,
)


@pytest.fixture(scope="module")
def model() -> TinyBatchModel:
    return tiny_batch_model()


@pytest.fixture(scope="module")
def mixed_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(mixed_applications(), tmp_path_factory.mktemp("files") / "applications.csv")


@pytest.fixture(scope="module")
def mixed_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = mixed_applications(text=False)
    return write_parquet(frame, tmp_path_factory.mktemp("files") / "applications.parquet")


def _score(source: Path, model: TinyBatchModel, folder: Path, **options: bool) -> tuple[pd.DataFrame, ...]:
    out, rejects = folder / "scores.parquet", folder / "rejects.csv"
    summary = score_file_locally(source, out, rejects, model.batch, show_progress=False, **options)
    scores, refused = pd.read_parquet(out), pd.read_csv(rejects, keep_default_na=False)
    assert summary.rows == len(scores) + len(refused) and summary.rejected == len(refused)
    return scores, refused


def _assert_same_as_api(
    scores: pd.DataFrame, refused: pd.DataFrame, records: list, model: TinyBatchModel
) -> None:
    api_refused, api_probabilities = api_verdicts(records, model.api)
    assert dict(zip(refused["row"], refused["reasons"], strict=True)) == api_refused
    assert set(scores["row"]) == set(api_probabilities)
    expected = scores["row"].map(api_probabilities)
    assert (scores["probability"] - expected).abs().max() < 1e-12
    assert (
        scores["decision"] == expected.map(lambda p: "refuse" if p >= model.batch.threshold else "grant")
    ).all()


def test_csv_verdicts_reasons_and_probabilities_equal_the_api(
    mixed_csv: Path, model: TinyBatchModel, tmp_path: Path
) -> None:
    scores, refused = _score(mixed_csv, model, tmp_path)
    records = csv_records(mixed_csv)
    assert len(refused) > 400 and len(scores) > 200  # the file holds what the test is about
    assert refused["reasons"].str.contains("must be a number, not str").any()
    _assert_same_as_api(scores, refused, records, model)


def test_parquet_verdicts_reasons_and_probabilities_equal_the_api(
    mixed_parquet: Path, model: TinyBatchModel, tmp_path: Path
) -> None:
    scores, refused = _score(mixed_parquet, model, tmp_path)
    _assert_same_as_api(scores, refused, parquet_records(mixed_parquet), model)


def test_quirks_of_the_real_table_are_scored(mixed_csv: Path, model: TinyBatchModel, tmp_path: Path) -> None:
    scores, _ = _score(mixed_csv, model, tmp_path)
    source = pd.read_csv(mixed_csv, dtype=str, keep_default_na=False).set_index(ID_COLUMN)
    scored = source.loc[scores[ID_COLUMN]]
    for column, value in [("DAYS_EMPLOYED", "365243"), ("CODE_GENDER", "XNA"), ("EXT_SOURCE_1", "")]:
        assert (scored[column] == value).any(), column


def test_results_keep_file_order_ids_and_every_row(
    mixed_csv: Path, model: TinyBatchModel, tmp_path: Path
) -> None:
    scores, refused = _score(mixed_csv, model, tmp_path)
    ids = pd.read_csv(mixed_csv, dtype=str, usecols=[ID_COLUMN])[ID_COLUMN]
    both = pd.concat([scores, refused]).sort_values("row")
    assert both["row"].tolist() == list(range(1, len(ids) + 1))
    assert both[ID_COLUMN].tolist() == ids.tolist()  # the lender's own references, as given
    assert scores["row"].is_monotonic_increasing
    assert set(scores.columns) == {"row", ID_COLUMN, "probability", "decision", "threshold", "model_version"}
    assert (scores["model_version"] == "7").all() and (scores["threshold"] == 0.35).all()


def test_csv_read_as_numbers_or_as_text_gives_the_same_results(model: TinyBatchModel, tmp_path: Path) -> None:
    source = write_csv(mixed_applications(rows=120, seed=5, text=False), tmp_path / "no_text.csv")
    typed = _score(source, model, tmp_path / "typed")
    text = _score(source, model, tmp_path / "text", read_as_text=True)
    for left, right in zip(typed, text, strict=True):
        pd.testing.assert_frame_equal(left, right)


@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string()])
def test_parquet_levels_are_read_as_dictionaries_whatever_the_text_type(
    text_type: pa.DataType, mixed_parquet: Path, model: TinyBatchModel, tmp_path: Path
) -> None:
    # pandas 3 writes text as large_string: read cell by cell, it cost a third of the file's reading time.
    table = pq.read_table(mixed_parquet)
    levels = [spec.name for spec in APPLICATION_COLUMNS if not spec.is_numeric]
    retyped = table.cast(pa.schema(f.with_type(text_type) if f.name in levels else f for f in table.schema))
    pq.write_table(retyped, source := tmp_path / "typed.parquet")
    chunk = next(Source(source).chunks()).table
    assert all(pa.types.is_dictionary(chunk.schema.field(name).type) for name in levels)
    expected = _score(mixed_parquet, model, tmp_path / "as_written")
    for left, right in zip(_score(source, model, tmp_path / "retyped"), expected, strict=True):
        pd.testing.assert_frame_equal(left, right)


def test_a_file_without_ids_is_scored_by_row_number(model: TinyBatchModel, tmp_path: Path) -> None:
    frame = mixed_applications(rows=50, text=False).drop(columns=[ID_COLUMN])
    scores, refused = _score(write_csv(frame, tmp_path / "no_ids.csv"), model, tmp_path)
    assert ID_COLUMN not in scores.columns and len(scores) + len(refused) == len(frame)


@pytest.mark.parametrize(
    ("name", "content", "error", "words"),
    [
        ("missing.csv", None, UsageError, "does not exist"),
        ("applications.xlsx", "x", UsageError, "name it *.csv or *.parquet"),
        ("short.csv", "SK_ID_CURR,AMT_CREDIT\n1,2\n", DataError, "missing: NAME_CONTRACT_TYPE"),
    ],
)
def test_unusable_inputs_are_refused_with_the_fix(
    name: str, content: str | None, error: type, words: str, model: TinyBatchModel, tmp_path: Path
) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_text(content)
    with pytest.raises(error, match=words.replace("*", r"\*")):
        score_file_locally(
            source, tmp_path / "s.parquet", tmp_path / "r.csv", model.batch, show_progress=False
        )
    assert not (tmp_path / "s.parquet").exists()


def test_unknown_columns_and_broken_lines_are_data_errors(
    mixed_csv: Path, model: TinyBatchModel, tmp_path: Path
) -> None:
    lines = mixed_csv.read_text().splitlines()
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("\n".join([lines[0].replace("EXT_SOURCE_1", "EXT_SOURCE1"), *lines[1:]]) + "\n")
    with pytest.raises(DataError, match=r"unknown column.*EXT_SOURCE1"):
        score_file_locally(
            renamed, tmp_path / "s.parquet", tmp_path / "r.csv", model.batch, show_progress=False
        )
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join([*lines[:3], lines[3].rsplit(",", 2)[0], *lines[4:]]) + "\n")
    with pytest.raises(DataError, match="not a well-formed CSV"):
        score_file_locally(
            broken, tmp_path / "s.parquet", tmp_path / "r.csv", model.batch, show_progress=False
        )
    assert not list(tmp_path.glob("*.partial")) and not (tmp_path / "s.parquet").exists()
