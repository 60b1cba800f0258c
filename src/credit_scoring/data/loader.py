"""The application_train.csv file: read with checks that say what is wrong, written in the exact format."""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from credit_scoring.errors import DataError
from credit_scoring.schema import (
    APPLICATION_COLUMNS,
    COLUMNS_BY_NAME,
    FILE_COLUMNS,
    ID_COLUMN,
    TARGET_COLUMN,
    Violation,
    check_value,
)
from credit_scoring.validation import check_frame

log = logging.getLogger(__name__)

# Rules whose breach means the file is not application_train.csv at all: never repaired by dropping rows.
FATAL_RULES = ("column is missing from the file", "is required and may not be missing", "found text")
# Up to this share of rows may break a range or level rule (a typo, a corrupted line): they are dropped
# with a warning. More than that means a wrong file or wrong units, so loading fails.
MAX_INVALID_SHARE = 0.01
_SHOWN = 8  # names or examples listed in one message
_MAGIC = {b"PAR1": "a Parquet file", b"\xd0\xcf\x11\xe0": "an old Excel (.xls) file", b"\x1f\x8b": "gzip"}
_PANDAS_DTYPE = {"int": "int64", "float": "float64", "category": "str"}
Progress = Callable[[int, int], None]


class DataFileError(DataError, ValueError):
    """A data file that cannot be used; the message says what is wrong and how to fix it."""


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _compression(path: Path, head: bytes) -> str | None:
    """How the file is compressed (Kaggle ships a .zip), or a DataFileError if it is not a CSV at all."""
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            if kind == "gzip":
                return "gzip"
            raise DataFileError(f"{path} is {kind}, not a CSV: export it as application_train.csv (CSV)")
    if head.startswith(b"PK\x03\x04"):
        return _zip_compression(path)
    if b"\x00" in head:
        raise DataFileError(f"{path} is a binary file, not a CSV text file like application_train.csv")
    _check_separator(path, head.split(b"\n", 1)[0].decode("utf-8", errors="replace"))
    return None


def _check_separator(path: Path, header: str) -> None:
    for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if "," not in header and separator in header:
            raise DataFileError(f"{path} separates fields with {name}; application_train.csv uses commas")


def _zip_compression(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as error:
        raise DataFileError(f"{path} looks like a zip archive but is damaged: {error}") from error
    if "[Content_Types].xml" in names:
        raise DataFileError(
            f"{path} is an Excel workbook, not a CSV: save the sheet as CSV (comma-separated)"
        )
    if len(names) != 1:
        raise DataFileError(f"{path} is a zip of {len(names)} files; unzip it and pass application_train.csv")
    return "zip"


def _check_file(path: Path) -> str | None:
    if not path.exists():
        raise DataFileError(
            f"{path} does not exist: pass the path of application_train.csv (or no path for synthetic data)"
        )
    if not path.is_file():
        raise DataFileError(f"{path} is a directory, not a file: pass the path of application_train.csv")
    if path.stat().st_size == 0:
        raise DataFileError(
            f"{path} is empty (0 bytes): it should hold application_train.csv's header and rows"
        )
    with path.open("rb") as handle:
        return _compression(path, handle.read(4096))


def _read(path: Path, compression: str | None) -> pd.DataFrame:
    try:
        return pd.read_csv(path, compression=compression, encoding="utf-8-sig", low_memory=False)
    except pd.errors.EmptyDataError as error:
        raise DataFileError(f"{path} holds no CSV header (only blank lines?)") from error
    except pd.errors.ParserError as error:
        raise DataFileError(f"{path} is not a well-formed CSV: {str(error).strip()}") from error
    except UnicodeDecodeError as error:
        raise DataFileError(f"{path} is not UTF-8 text (byte {error.start}): is it really a CSV?") from error


def _check_columns(path: Path, frame: pd.DataFrame, require_target: bool) -> list[str]:
    """The columns to keep, in FILE_COLUMNS order; a DataFileError naming every missing one."""
    wanted = [name for name in FILE_COLUMNS if name != TARGET_COLUMN or require_target]
    missing = [name for name in wanted if name not in frame.columns]
    if TARGET_COLUMN in missing:
        raise DataFileError(
            f"{path} has no TARGET column: training needs labelled rows (application_train.csv, "
            "not application_test.csv)"
        )
    if missing:
        raise DataFileError(
            f"{path} lacks {len(missing)} of the {len(wanted)} columns of application_train.csv: "
            f"{_listing(missing)}"
        )
    extra = [str(name) for name in frame.columns if name not in FILE_COLUMNS]
    if extra:
        log.warning(
            "%s: ignoring %d column(s) not in application_train.csv: %s", path, len(extra), _listing(extra)
        )
    return [
        name for name in FILE_COLUMNS if name in frame.columns and (name != TARGET_COLUMN or require_target)
    ]


def _text_in_numbers(frame: pd.DataFrame) -> list[str]:
    """One line per numeric column holding text, with examples and their line numbers in the file."""
    numeric = [ID_COLUMN, TARGET_COLUMN, *(s.name for s in APPLICATION_COLUMNS if s.is_numeric)]
    problems = []
    for name in (n for n in numeric if n in frame.columns and not pd.api.types.is_numeric_dtype(frame[n])):
        column = frame[name]
        text = column.notna() & pd.to_numeric(column, errors="coerce").isna()
        shown = ", ".join(f"{value!r} (line {row + 2})" for row, value in column[text].head(3).items())
        problems.append(f"{name}: {int(text.sum())} value(s) are text, not numbers, e.g. {shown}")
    return problems


def _check_labels(frame: pd.DataFrame) -> list[str]:
    problems = []
    for name in (n for n in (ID_COLUMN, TARGET_COLUMN) if n in frame.columns):
        if frame[name].isna().any():
            problems.append(f"{name}: {int(frame[name].isna().sum())} row(s) have no value")
    if TARGET_COLUMN in frame.columns:
        odd = frame[TARGET_COLUMN].dropna()
        odd = odd[~odd.isin([0, 1])]
        if len(odd):
            values = _listing(odd.astype(str).unique().tolist())
            problems.append(f"TARGET: must be 0 (repaid) or 1 (default); got {values}")
        elif frame[TARGET_COLUMN].nunique() == 1:
            problems.append(
                f"TARGET: every row is {frame[TARGET_COLUMN].iloc[0]}; training needs both classes"
            )
    return problems


def _broken_rows(frame: pd.DataFrame, violations: list[Violation]) -> np.ndarray:
    """Rows breaking a range or level rule, found with the schema's own per-value check."""
    broken = np.zeros(len(frame), dtype=bool)
    for name in {violation.column for violation in violations}:
        spec = COLUMNS_BY_NAME[name]
        broken |= np.array([check_value(spec, value) is not None for value in frame[name].tolist()])
    return broken


def _drop_rule_breakers(path: Path, frame: pd.DataFrame, max_invalid_share: float) -> pd.DataFrame:
    violations = check_frame(frame)
    fatal = [v for v in violations if any(rule in v.message for rule in FATAL_RULES)]
    if fatal:
        raise DataFileError(f"{path} breaks the schema:\n  " + "\n  ".join(map(str, fatal)))
    if not violations:
        return frame
    broken = _broken_rows(frame, violations)
    details = "\n  ".join(map(str, violations))
    if broken.mean() > max_invalid_share:
        raise DataFileError(
            f"{path}: {int(broken.sum())} of {len(frame)} rows break the schema's ranges or "
            f"levels (more than {max_invalid_share:.0%}: wrong file or units?):\n  {details}"
        )
    log.warning("%s: dropped %d row(s) breaking the schema:\n  %s", path, int(broken.sum()), details)
    return frame[~broken].reset_index(drop=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The dtypes the generator produces and pandas gives the clean real file: int64, float64, str."""
    kinds = {ID_COLUMN: "int", TARGET_COLUMN: "int"} | {s.name: s.kind for s in APPLICATION_COLUMNS}
    return frame.astype({name: _PANDAS_DTYPE[kinds[name]] for name in frame.columns})


def load_applications(
    path: Path | str, *, require_target: bool = True, max_invalid_share: float = MAX_INVALID_SHARE
) -> pd.DataFrame:
    """Read application_train.csv (or its .zip/.gz), checked against the schema, in FILE_COLUMNS order.

    Raises DataFileError for a file that is missing, empty, not a CSV, lacks columns, holds text in
    numeric columns, leaves required values or TARGET empty, or has more than ``max_invalid_share`` of
    rows breaking a range or level rule; fewer such rows are dropped with a warning. Extra columns are
    ignored. ``frame.attrs`` records the path and how many rows were dropped.
    """
    path = Path(path)
    frame = _read(path, _check_file(path))
    if frame.empty:
        raise DataFileError(f"{path} has a header but no rows")
    frame = frame[_check_columns(path, frame, require_target)]
    problems = _text_in_numbers(frame) + _check_labels(frame)
    if problems:
        raise DataFileError(f"{path} has wrong values:\n  " + "\n  ".join(problems))
    checked = _typed(_drop_rule_breakers(path, frame, max_invalid_share))
    checked.attrs = {"source_path": str(path), "dropped_rows": len(frame) - len(checked)}
    return checked


def write_applications(
    frame: pd.DataFrame, path: Path | str, *, chunk_rows: int = 25_000, progress: Progress | None = None
) -> Path:
    """Write ``frame`` as application_train.csv: FILE_COLUMNS header, ints without '.0', empty missing cells.

    Written to a temporary file then renamed, so an interrupted run never leaves half a file behind.
    """
    if list(frame.columns) != list(FILE_COLUMNS):
        raise ValueError(
            "frame must have exactly the columns of application_train.csv (FILE_COLUMNS), in order"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        for start in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[start : start + chunk_rows]
            chunk.to_csv(
                partial, mode="a" if start else "w", header=start == 0, index=False, lineterminator="\n"
            )
            if progress is not None:
                progress(min(start + chunk_rows, len(frame)), len(frame))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
