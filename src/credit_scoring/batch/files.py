"""Application files in, result files out: CSV or Parquet, read in chunks, written whole or not at all."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credit_scoring.columnar import is_text
from credit_scoring.errors import DataError, UsageError
from credit_scoring.schema import (
    CATEGORICAL_COLUMNS,
    ID_COLUMN,
    INPUT_COLUMNS,
    NUMERIC_COLUMNS,
    TARGET_COLUMN,
)

FORMATS = {".csv": "csv", ".parquet": "parquet"}
CHUNK_ROWS = 32_768  # rows validated and scored together: one progress step, bounded memory
# Arrow parses a CSV block that stays in the CPU caches faster: 3.2 us per row in 2 MB blocks, 4.7 in
# 16 MB ones (measured here); blocks are then gathered into chunks of CHUNK_ROWS.
CSV_BLOCK_BYTES = 2 << 20
IGNORED_COLUMNS = frozenset({TARGET_COLUMN})  # a raw training file may be scored as it is
T = TypeVar("T")


class TextInNumbersError(Exception):
    """A numeric CSV column holds text somewhere: the file is read again with every cell as text."""


def file_format(path: Path, role: str) -> str:
    """``csv`` or ``parquet`` from the file name, or a UsageError saying which names work."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise UsageError(f"{role} {path}: unknown extension {path.suffix!r}; name it *.csv or *.parquet")
    return found


def is_uri(path: str) -> bool:
    """``hdfs://…``, ``s3a://…`` and the like: paths only a cluster can open."""
    return "://" in path


def check_input_file(path: Path) -> str:
    """The format of an input file that exists, or a UsageError saying what is wrong."""
    fmt = file_format(path, "input")
    if not path.is_file():
        raise UsageError(
            f"input {path} does not exist or is not a file: give the path of a CSV or Parquet file"
        )
    return fmt


def check_columns(columns: Sequence[str], path: object) -> None:
    """Refuse a file whose header misses application columns or has unknown ones, naming them all."""
    present = set(columns)
    missing = [name for name in INPUT_COLUMNS if name not in present]
    allowed = {*INPUT_COLUMNS, ID_COLUMN, *IGNORED_COLUMNS}
    unknown = [name for name in columns if name not in allowed]
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} application column(s) missing: {', '.join(missing)} (add them, empty where "
            "unknown and allowed, as in Kaggle's application_train.csv)"
        )
    if unknown:
        problems.append(
            f"unknown column(s): {', '.join(unknown)} (rename them to the application_train.csv names, "
            "or drop them)"
        )
    if problems:
        raise DataError(f"{path}: " + "; ".join(problems))


def wanted_columns(columns: Sequence[str]) -> list[str]:
    """The columns scoring reads, in the file's order: the inputs and the id when present."""
    return [name for name in columns if name in INPUT_COLUMNS or name == ID_COLUMN]


def csv_header(path: Path) -> list[str]:
    """The first line of a CSV file, split as a CSV reader splits it."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


@dataclass(frozen=True)
class Chunk:
    """Some consecutive rows of the file, and how far into it they reach (progress units)."""

    table: pa.Table
    done: int


class Source:
    """An input file read chunk by chunk: CSV (progress in bytes) or Parquet (progress in rows)."""

    def __init__(self, path: Path, text: bool = False) -> None:
        self.path, self.text = path, text
        self.format = check_input_file(path)
        self.columns = csv_header(path) if self.format == "csv" else pq.read_schema(path).names
        check_columns(self.columns, path)
        self.total = path.stat().st_size if self.format == "csv" else pq.ParquetFile(path).metadata.num_rows

    def id_type(self) -> pa.DataType | None:
        """The Arrow type the id column keeps in the results: text for CSV, the file's own for Parquet."""
        if ID_COLUMN not in self.columns:
            return None
        return pa.string() if self.format == "csv" else pq.read_schema(self.path).field(ID_COLUMN).type

    def chunks(self) -> Iterator[Chunk]:
        """The file's rows in order, a chunk at a time."""
        return self._csv_chunks() if self.format == "csv" else self._parquet_chunks()

    def _parquet_chunks(self) -> Iterator[Chunk]:
        done = 0
        # Memory-mapped: the row group's column chunks are not copied in before its first batch decodes.
        parquet = pq.ParquetFile(self.path, read_dictionary=self._text_levels(), memory_map=True)
        batches = parquet.iter_batches(CHUNK_ROWS, columns=wanted_columns(self.columns))
        for batch in batches:
            done += batch.num_rows
            yield Chunk(pa.Table.from_batches([batch]), done)

    def _text_levels(self) -> list[str]:
        """The category columns a Parquet file stores as text, read as dictionaries (decoded faster)."""
        schema = pq.read_schema(self.path)
        return [name for name in CATEGORICAL_COLUMNS if is_text(schema.field(name).type)]

    def _csv_chunks(self) -> Iterator[Chunk]:
        with pa.OSFile(str(self.path)) as handle:
            read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
            reader = _csv_call(self.path, pacsv.open_csv, handle, read, convert_options=self._convert())
            gathered: list[pa.RecordBatch] = []
            while (batch := _csv_call(self.path, _next_batch, reader)) is not None:
                gathered.append(batch)
                if sum(block.num_rows for block in gathered) >= CHUNK_ROWS:
                    yield Chunk(pa.Table.from_batches(gathered), handle.tell())
                    gathered = []
            if gathered:
                yield Chunk(pa.Table.from_batches(gathered), handle.tell())

    def _convert(self) -> pacsv.ConvertOptions:
        wanted = wanted_columns(self.columns)
        # Levels as plain text: as dictionaries, each 2 MB block would bring its own (slower here).
        types = {name: pa.string() for name in wanted}
        if not self.text:  # parsed by Arrow, fast; text anywhere in them means reading again as text
            types |= {name: pa.float64() for name in NUMERIC_COLUMNS}
        return pacsv.ConvertOptions(
            column_types=types, include_columns=wanted, null_values=[""], strings_can_be_null=True
        )


def _next_batch(reader: pacsv.CSVStreamingReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def _csv_call(path: Path, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Arrow's CSV errors as the job's: text in a number column, or a file that is not CSV-shaped."""
    try:
        return call(*args, **kwargs)
    except pa.ArrowInvalid as error:
        if "conversion error" in str(error):
            raise TextInNumbersError(str(error)) from None
        raise DataError(f"{path} is not a well-formed CSV file: {error}") from None


def score_schema(id_type: pa.DataType | None) -> pa.Schema:
    """The columns of the scores file."""
    return pa.schema(
        [
            ("row", pa.int64()),
            *([(ID_COLUMN, id_type)] if id_type is not None else []),
            ("probability", pa.float64()),
            ("decision", pa.string()),
            ("threshold", pa.float64()),
            ("model_version", pa.string()),
        ]
    )


def reject_schema(id_type: pa.DataType | None) -> pa.Schema:
    """The columns of the rejects file: row number, id, and the API's reasons joined by '; '."""
    ids = [(ID_COLUMN, id_type)] if id_type is not None else []
    return pa.schema([("row", pa.int64()), *ids, ("reasons", pa.string())])


class TableWriter:
    """A CSV or Parquet file written chunk by chunk under a temporary name, renamed when complete."""

    def __init__(self, path: Path, schema: pa.Schema, role: str) -> None:
        self.path, self.schema = path, schema
        fmt = file_format(path, role)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = path.with_name(f".{path.name}.partial")
        if fmt == "parquet":
            # Dictionary pages only where few values repeat: on ids and probabilities they cost the
            # writing three times over (0.25 us per row instead of 0.08) and save nothing.
            repeated = [name for name in ("decision", "threshold", "model_version") if name in schema.names]
            self._writer = pq.ParquetWriter(str(self._partial), schema, use_dictionary=repeated)
        else:
            self._writer = pacsv.CSVWriter(str(self._partial), schema)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table.cast(self.schema))

    def commit(self) -> None:
        self._writer.close()
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        self._writer.close()
        self._partial.unlink(missing_ok=True)
