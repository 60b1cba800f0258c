"""The loader reads application_train.csv exactly and says clearly what is wrong with a bad file."""

from __future__ import annotations

import gzip
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.data import (
    DataFileError,
    generate_applications,
    load_applications,
    load_training_frame,
    write_applications,
)
from credit_scoring.schema import FILE_COLUMNS
from credit_scoring.settings import Settings


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_applications(300, seed=11)


@pytest.fixture
def good_file(frame: pd.DataFrame, tmp_path: Path) -> Path:
    return write_applications(frame, tmp_path / "application_train.csv")


def _edited(frame: pd.DataFrame, edit: Callable[[pd.DataFrame], None]) -> pd.DataFrame:
    copy = frame.copy()
    for name in copy.columns:  # let edits put text or gaps anywhere, as a hand-edited file would
        copy[name] = copy[name].astype(object)
    edit(copy)
    return copy


def test_written_file_has_the_kaggle_format_and_round_trips(frame: pd.DataFrame, good_file: Path) -> None:
    lines = good_file.read_text().splitlines()
    assert lines[0] == ",".join(FILE_COLUMNS)
    assert len(lines) == len(frame) + 1
    first = pd.read_csv(good_file, dtype=str, keep_default_na=False).iloc[0]
    assert first["TARGET"] in {"0", "1"} and first["FLAG_MOBIL"] == "1"  # ints without '.0'
    assert first["AMT_INCOME_TOTAL"].endswith(".0") or "." in first["AMT_INCOME_TOTAL"]
    assert (pd.read_csv(good_file, dtype=str, keep_default_na=False)["EXT_SOURCE_1"] == "").any()
    pd.testing.assert_frame_equal(load_applications(good_file), frame)


def test_real_quirks_are_loaded_untouched(frame: pd.DataFrame, tmp_path: Path) -> None:
    def quirks(rows: pd.DataFrame) -> None:
        rows.loc[0, ["CODE_GENDER", "ORGANIZATION_TYPE"]] = ["XNA", "XNA"]
        rows.loc[1, ["NAME_FAMILY_STATUS", "NAME_INCOME_TYPE"]] = ["Unknown", "Maternity leave"]
        rows.loc[2, ["DAYS_EMPLOYED", "REGION_RATING_CLIENT_W_CITY"]] = [365243, -1]
        rows.loc[3, "AMT_INCOME_TOTAL"] = 117_000_000.0

    path = tmp_path / "quirks.csv"
    _edited(frame, quirks).to_csv(path, index=False)
    loaded = load_applications(path)
    assert len(loaded) == len(frame) and loaded.attrs["dropped_rows"] == 0
    assert loaded.loc[2, "DAYS_EMPLOYED"] == 365243 and loaded.loc[1, "NAME_FAMILY_STATUS"] == "Unknown"


def test_kaggle_zip_and_gzip_archives_are_read(frame: pd.DataFrame, good_file: Path, tmp_path: Path) -> None:
    text = good_file.read_text()
    with zipfile.ZipFile(tmp_path / "application_train.csv.zip", "w") as archive:
        archive.writestr("application_train.csv", text)
    with gzip.open(tmp_path / "application_train.csv.gz", "wt") as handle:
        handle.write(text)
    for name in ("application_train.csv.zip", "application_train.csv.gz"):
        pd.testing.assert_frame_equal(load_applications(tmp_path / name), frame)


def _write_text(content: str | bytes) -> Callable[[pd.DataFrame, Path], None]:
    def write(frame: pd.DataFrame, path: Path) -> None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return write


def _write_frame(
    edit: Callable[[pd.DataFrame], None], **to_csv: object
) -> Callable[[pd.DataFrame, Path], None]:
    def write(frame: pd.DataFrame, path: Path) -> None:
        _edited(frame, edit).to_csv(path, index=False, **to_csv)

    return write


def _append_line(line: str) -> Callable[[pd.DataFrame, Path], None]:
    def write(frame: pd.DataFrame, path: Path) -> None:
        write_applications(frame, path)
        with path.open("a") as handle:
            handle.write(line + "\n")

    return write


def _drop(*names: str) -> Callable[[pd.DataFrame], None]:
    def edit(rows: pd.DataFrame) -> None:
        rows.drop(columns=list(names), inplace=True)

    return edit


def _set(rows: slice | list[int], column: str, value: object) -> Callable[[pd.DataFrame], None]:
    def edit(frame: pd.DataFrame) -> None:
        frame.loc[rows, column] = value

    return edit


def _excel(frame: pd.DataFrame, path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")


BAD_FILES = {
    "empty file": (_write_text(""), ["is empty (0 bytes)"]),
    "blank lines": (_write_text("\n\n"), ["no CSV header"]),
    "header only": (_write_text(",".join(FILE_COLUMNS) + "\n"), ["header but no rows"]),
    "binary": (_write_text(b"\x00\x01\x02 not text" * 20), ["binary file, not a CSV"]),
    "parquet": (_write_text(b"PAR1\x15\x04"), ["Parquet file, not a CSV"]),
    "excel": (_excel, ["Excel workbook", "save the sheet as CSV"]),
    "semicolons": (_write_frame(lambda rows: None, sep=";"), ["semicolons", "uses commas"]),
    "ragged line": (_append_line(",".join(["1"] * 130)), ["Expected 122 fields in line 302, saw 130"]),
    "not utf-8": (_write_text(",".join(FILE_COLUMNS).encode() + b"\n\xe9\xe8\n"), ["not UTF-8"]),
    "missing columns": (
        _write_frame(_drop("AMT_CREDIT", "EXT_SOURCE_1")),
        ["lacks 2 of the 122", "AMT_CREDIT, EXT_SOURCE_1"],
    ),
    "no TARGET": (_write_frame(_drop("TARGET")), ["no TARGET column", "application_test.csv"]),
    "text in a number": (
        _write_frame(_set([3], "AMT_CREDIT", "abc")),
        ["AMT_CREDIT: 1 value(s) are text", "'abc' (line 5)"],
    ),
    "required value missing": (_write_frame(_set([4], "DAYS_BIRTH", np.nan)), ["DAYS_BIRTH: is required"]),
    "TARGET missing": (_write_frame(_set([5], "TARGET", np.nan)), ["TARGET: 1 row(s) have no value"]),
    "TARGET not 0/1": (
        _write_frame(_set([5], "TARGET", 2)),
        ["TARGET: must be 0 (repaid) or 1 (default); got 2"],
    ),
    "single class": (_write_frame(_set(slice(None), "TARGET", 0)), ["every row is 0", "both classes"]),
    "many rows out of range": (
        _write_frame(_set(slice(0, 20), "AMT_INCOME_TOTAL", -5.0)),
        ["21 of 300 rows break", "AMT_INCOME_TOTAL: 21 row(s): must be a number between 1 and"],
    ),
    "unknown level": (
        _write_frame(_set(slice(0, 9), "NAME_CONTRACT_TYPE", "Mortgage")),
        ["'Mortgage'", "one of 'Cash loans'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_refused_with_a_clear_message(case: str, frame: pd.DataFrame, tmp_path: Path) -> None:
    write, fragments = BAD_FILES[case]
    path = tmp_path / "application_train.csv"
    write(frame, path)
    with pytest.raises(DataFileError) as caught:
        load_applications(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("path", ["does/not/exist.csv", "."])
def test_missing_file_or_directory_is_refused(path: str, tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"does not exist|is a directory"):
        load_applications(tmp_path / path)


def test_data_file_error_is_a_value_error() -> None:
    assert issubclass(DataFileError, ValueError)


def test_a_few_broken_rows_are_dropped_with_a_warning(
    frame: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "application_train.csv"
    _write_frame(_set([7], "AMT_INCOME_TOTAL", -5.0))(frame, path)
    with caplog.at_level(logging.WARNING, logger="credit_scoring.data.loader"):
        loaded = load_applications(path)
    assert len(loaded) == len(frame) - 1 and loaded.attrs["dropped_rows"] == 1
    assert frame.loc[7, "SK_ID_CURR"] not in set(loaded["SK_ID_CURR"])
    assert "dropped 1 row(s)" in caplog.text and "AMT_INCOME_TOTAL" in caplog.text


def test_extra_columns_are_ignored_and_order_restored(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "application_train.csv"
    shuffled = frame[list(reversed(FILE_COLUMNS))].assign(NOTE="x")
    shuffled.to_csv(path, index=False)
    pd.testing.assert_frame_equal(load_applications(path), frame)


def test_unlabelled_files_load_when_no_target_is_required(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "application_test.csv"
    frame.drop(columns=["TARGET"]).to_csv(path, index=False)
    loaded = load_applications(path, require_target=False)
    assert list(loaded.columns) == [name for name in FILE_COLUMNS if name != "TARGET"]


def test_writer_refuses_a_frame_without_the_file_columns(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly the columns"):
        write_applications(frame.drop(columns=["TARGET"]), tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []


def test_training_frame_is_synthetic_by_default_and_real_when_a_path_is_set(good_file: Path) -> None:
    synthetic, source = load_training_frame(Settings(data_path=None, synthetic_rows=400, seed=3))
    assert source == "synthetic" and len(synthetic) == 400
    pd.testing.assert_frame_equal(synthetic, generate_applications(400, seed=3))
    real, source = load_training_frame(Settings(data_path=good_file))
    assert source == "real" and len(real) == 300 and list(real.columns) == list(FILE_COLUMNS)
