"""The production store: day-partitioned Parquet queried in place with DuckDB, or a server SQL database.

Embedded default, :class:`ParquetStore`: ``<store_dir>/day=YYYY-MM-DD/<batch>.parquet`` (zstd), one file
per ingested batch, named after the journal frames it holds, so a batch written before a crash is found
again instead of being written twice. Columnar and compressed, it keeps every decision with its 120 raw
inputs in about 150-300 bytes, and DuckDB reads only the columns and days a query needs. Retention drops
whole day folders. Small batch files are compacted: a ``compact-*.parquet`` file is committed together
with a manifest naming the files it covers; readers skip covered files, so nothing is counted twice.

Server option for several replicas, :class:`SqlStore`: the same rows in one table of a SQLAlchemy database
(PostgreSQL), a batch and its name committed in one transaction, aggregates computed by the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.schema import CreateIndex, CreateTable

from credit_scoring.errors import UsageError
from credit_scoring.recording import queries
from credit_scoring.recording.protocol import RECORD_COLUMNS, STORED_SCHEMA, BatchId
from credit_scoring.settings import MonitoringSettings

PARQUET_COMPRESSION = "zstd"
COVERED_GRACE_S = 120.0  # files a compaction covers are deleted this long after, once no query reads them
MANIFEST_SUFFIX = ".covers.json"
OPERATION_COLUMNS = ("time", "requests", "scored", "rejected", "server_errors", "latency_p50",
                     "latency_p95", "latency_p99", "inference_p50", "inference_p95", "refused_share",
                     "mean_probability")  # fmt: skip


@runtime_checkable
class RecordStore(Protocol):
    """Where stored records live: the ingest writes batches, the monitor and the reports query."""

    location: str

    def stored_batch_end(self, day: date, segment: str, start: int) -> int | None: ...

    def write_batch(self, batch: BatchId, day: date, table: pa.Table) -> None: ...

    def records(
        self, start: datetime | None = None, end: datetime | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame: ...

    def aggregate_operations(
        self, start: datetime | None, end: datetime | None, bucket_s: int
    ) -> pd.DataFrame: ...

    def count(self, start: datetime | None = None, end: datetime | None = None) -> int: ...

    def drop_days_before(self, day: date) -> int: ...

    def compact(self, min_parts: int) -> int: ...

    def close(self) -> None: ...


def day_of(timestamp_us: int) -> date:
    """The UTC day of a stored timestamp (microseconds since the epoch): its partition."""
    return datetime.fromtimestamp(timestamp_us / 1e6, UTC).date()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"time {moment!r} must be timezone-aware")
    return moment.astimezone(UTC)


def _selected(columns: Sequence[str] | None) -> list[str]:
    chosen = list(columns) if columns is not None else list(STORED_SCHEMA.names)
    unknown = [c for c in chosen if c not in STORED_SCHEMA.names]
    if unknown:
        raise ValueError(f"unknown stored columns {unknown}")
    return chosen if "timestamp" in chosen else ["timestamp", *chosen]


def typed_frame(table: pa.Table) -> pd.DataFrame:
    """A query's Arrow result as pandas: UTC timestamps, float measures, text as str (also when empty)."""
    frame = table.to_pandas()
    for name in frame.columns:
        kind = STORED_SCHEMA.field(name).type
        if pa.types.is_floating(kind):
            frame[name] = frame[name].astype("float64")
        elif pa.types.is_string(kind) and name in RECORD_COLUMNS and name != "rejected_inputs":
            frame[name] = frame[name].astype("str")
    if "timestamp" in frame:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


# --- Parquet + DuckDB ----------------------------------------------------------------------------


class ParquetStore:
    """:class:`RecordStore` on a folder of day partitions; only the ingest writes, any process reads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self._database: Any = None  # one in-memory DuckDB per store, opened by the first query
        self._opening = threading.Lock()

    def _cursor(self) -> Any:
        """A cursor of this store's DuckDB database (one per query: cursors may run in parallel threads).

        One database for all queries keeps the Parquet footers it read (the object cache, checked against
        each file's modification time): the monitor's dozen queries of a range read them once."""
        import duckdb

        with self._opening:
            if self._database is None:
                self._database = duckdb.connect(config={"enable_object_cache": True})
        cursor = self._database.cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        return cursor

    def _day_dir(self, day: date) -> Path:
        return self.root / f"day={day.isoformat()}"

    def _days(self, start: datetime | None, end: datetime | None) -> list[Path]:
        if not self.root.is_dir():
            return []
        first = _utc(start).date() if start is not None else date.min
        last = _utc(end).date() if end is not None else date.max
        found = [p for p in self.root.iterdir() if p.name.startswith("day=")]
        return sorted(p for p in found if first <= date.fromisoformat(p.name[4:]) <= last)

    # --- writing (the ingest only) --------------------------------------------------------------

    def stored_batch_end(self, day: date, segment: str, start: int) -> int | None:
        """The end of the batch starting at ``start`` of ``segment`` if it was stored (or compacted)."""
        prefix = BatchId(segment, start, 0).name.rsplit("-", 1)[0] + "-"
        folder = self._day_dir(day)
        names = [p.name for p in folder.glob(f"{prefix}*.parquet")] if folder.is_dir() else []
        names += [n for covers in _manifests(folder).values() for n in covers if n.startswith(prefix)]
        return BatchId.parse(names[0]).end if names else None

    def write_batch(self, batch: BatchId, day: date, table: pa.Table) -> None:
        """Write one batch as one file of its day (atomically: readers see all of it or nothing)."""
        _write_parquet(table, self._day_dir(day) / f"{batch.name}.parquet")

    def drop_days_before(self, day: date) -> int:
        """Delete the day partitions older than ``day`` (retention); how many were dropped."""
        import shutil

        old = [p for p in self._days(None, None) if date.fromisoformat(p.name[4:]) < day]
        for folder in old:
            shutil.rmtree(folder, ignore_errors=True)
        return len(old)

    def compact(self, min_parts: int) -> int:
        """Merge each day's small batch files once there are ``min_parts``; delete what earlier compactions
        covered. Returns how many files were merged."""
        merged = 0
        for folder in self._days(None, None):
            _delete_covered(folder)
            parts = [p for p in visible_files(folder) if p.name.startswith("part-")]
            compacts = [p for p in visible_files(folder) if p.name.startswith("compact-")]
            chosen = parts if len(parts) >= min_parts else []
            chosen += compacts if len(compacts) >= min_parts else []
            if len(chosen) > 1:
                _compact(folder, chosen)
                merged += len(chosen)
        return merged

    # --- reading --------------------------------------------------------------------------------

    def files(self, start: datetime | None = None, end: datetime | None = None) -> list[str]:
        return [str(p) for folder in self._days(start, end) for p in visible_files(folder)]

    def _query(self, sql: str, start: datetime | None, end: datetime | None, params: list[Any]) -> pa.Table:
        """Run ``sql`` over the range's files (``{files}`` in it) as an Arrow table (empty: no files)."""
        found = self._run(sql, start, end, lambda relation: relation.to_arrow_table(), params)
        return pa.table({}) if found is None else found

    def _rows(self, sql: str, start: datetime | None, end: datetime | None) -> list[tuple[Any, ...]]:
        """Run an aggregate ``sql`` over the range's files and return its (few) rows."""
        table = self._run(sql, start, end, lambda relation: relation.to_arrow_table(), [])
        # By column, through Arrow: DuckDB's own fetchall needs pytz for time-zoned timestamps.
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True)) if table else []

    def _run(
        self, sql: str, start: datetime | None, end: datetime | None, fetch: Any, params: list[Any]
    ) -> Any:
        """``fetch`` of ``sql`` over the range's files (None: no files); a file compacted away meanwhile:
        list the files again and retry."""
        import duckdb

        for attempt in range(3):
            files = self.files(start, end)
            if not files:
                return None
            with self._cursor() as connection:
                try:
                    return fetch(connection.sql(sql.format(files=_file_list(files)), params=params))
                except duckdb.IOException:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    # --- the monitor's aggregates (credit_scoring.recording.queries) ------------------------------

    def summary(
        self, start: datetime | None, end: datetime | None, simulated: bool | None = None
    ) -> dict[str, Any]:
        """Volume, outcomes, simulated count, latency/inference percentiles, scores and span of a range."""
        rows = self._rows(queries.summary_sql("{files}", queries.where(start, end, simulated)), start, end)
        return queries.summary_row(rows[0]) if rows else queries.summary_of(_no_records())

    def counts_by(
        self, start: datetime | None, end: datetime | None, column: str, simulated: bool | None = None
    ) -> dict[str, int]:
        """Records per value of ``column`` (error kind, endpoint, decision, simulated)."""
        sql = queries.counts_sql("{files}", queries.where(start, end, simulated), column)
        return {str(key): int(n) for key, n in self._rows(sql, start, end) if key is not None}

    def versions(
        self, start: datetime | None, end: datetime | None, simulated: bool | None = None
    ) -> pd.DataFrame:
        """Per model version: requests, first and last seen, refused share."""
        return queries.versions_frame(
            self._rows(queries.versions_sql("{files}", queries.where(start, end, simulated)), start, end)
        )

    def score_histogram(
        self,
        start: datetime | None,
        end: datetime | None,
        upper: float,
        bins: int,
        simulated: bool | None = None,
    ) -> np.ndarray:
        """Scored probabilities per bin of ``[0, upper]`` (those above in the last bin)."""
        condition = queries.where(start, end, simulated, "probability IS NOT NULL")
        return queries.histogram_counts(
            self._rows(queries.histogram_sql("{files}", condition, upper, bins), start, end), bins
        )

    def rejected_inputs(
        self, start: datetime | None, end: datetime | None, simulated: bool | None = None
    ) -> pd.DataFrame:
        """What refused requests asked (their JSON inputs): the only rows the monitor reads, for quality."""
        condition = queries.where(start, end, simulated, "rejected_inputs IS NOT NULL")
        table = self._query(f"SELECT timestamp, rejected_inputs FROM {{files}} {condition}", start, end, [])
        return typed_frame(table if table.num_columns else _empty(["timestamp", "rejected_inputs"]))

    def records(
        self, start: datetime | None = None, end: datetime | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Records with ``start <= timestamp < end`` in time order, with only the ``columns`` asked for."""
        chosen = _selected(columns)
        where, params = _range_filter(start, end)
        sql = f"SELECT {', '.join(map(_quoted, chosen))} FROM {{files}} {where} ORDER BY timestamp"
        table = self._query(sql, start, end, params)
        return typed_frame(table if table.num_columns else _empty(chosen))

    def aggregate_operations(
        self, start: datetime | None, end: datetime | None, bucket_s: int, simulated: bool | None = None
    ) -> pd.DataFrame:
        """Per time bucket: requests by outcome, latency and inference percentiles, refusals, mean score."""
        where, params = _range_filter(start, end)
        if simulated is not None:
            where = f"{where or 'WHERE TRUE'} AND {'' if simulated else 'NOT '}simulated"
        sql = f"""
            SELECT to_timestamp(floor(epoch(timestamp) / {int(bucket_s)}) * {int(bucket_s)}) AS time,
                   count(*) AS requests,
                   count(*) FILTER (WHERE status < 400) AS scored,
                   count(*) FILTER (WHERE status BETWEEN 400 AND 499) AS rejected,
                   count(*) FILTER (WHERE status >= 500) AS server_errors,
                   quantile_cont(latency_ms, 0.5) AS latency_p50,
                   quantile_cont(latency_ms, 0.95) AS latency_p95,
                   quantile_cont(latency_ms, 0.99) AS latency_p99,
                   quantile_cont(inference_ms, 0.5) AS inference_p50,
                   quantile_cont(inference_ms, 0.95) AS inference_p95,
                   avg(CASE decision WHEN 'refuse' THEN 1.0 WHEN 'grant' THEN 0.0 END) AS refused_share,
                   avg(probability) AS mean_probability
            FROM {{files}} {where} GROUP BY 1 ORDER BY 1"""
        return _operations_frame(self._query(sql, start, end, params))

    def count(self, start: datetime | None = None, end: datetime | None = None) -> int:
        where, params = _range_filter(start, end)
        table = self._query(f"SELECT count(*) AS n FROM {{files}} {where}", start, end, params)
        return int(table.column(0)[0].as_py()) if table.num_columns else 0

    def close(self) -> None:
        """Close the DuckDB database (the store's files stay as they are)."""
        with self._opening:
            if self._database is not None:
                self._database.close()
                self._database = None


def _quoted(name: str) -> str:
    return f'"{name}"'


def _file_list(files: Sequence[str]) -> str:
    """The files as one relation with every record column: a file written before a column existed (the
    challenger's, say) reads it as null, also when no file of the range has it (the optimiser drops the
    empty typed branch, so scans keep their projection and filter push-down)."""
    quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"(SELECT * FROM read_parquet([{quoted}], union_by_name = true) UNION ALL BY NAME {_TYPED_NULLS})"


_DUCKDB_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "float": "FLOAT", "int16": "SMALLINT",
                 "int32": "INTEGER", "int64": "BIGINT", "bool": "BOOLEAN"}  # fmt: skip
# An empty relation of the record columns (not the inputs: those were there from the first file).
_TYPED_NULLS = "(SELECT {} WHERE false)".format(
    ", ".join(
        f"NULL::{_DUCKDB_TYPES[str(f.type)]} AS {_quoted(f.name)}"
        for f in STORED_SCHEMA
        if f.name in RECORD_COLUMNS and f.name != "timestamp"
    )
)


def _range_filter(start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if start is not None:
        clauses.append("timestamp >= ?")
        params.append(_utc(start))
    if end is not None:
        clauses.append("timestamp < ?")
        params.append(_utc(end))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _no_records() -> pd.DataFrame:
    return typed_frame(_empty(queries.SUMMARY_INPUTS))


def _empty(columns: Sequence[str]) -> pa.Table:
    return pa.schema([STORED_SCHEMA.field(c) for c in columns]).empty_table()


def _operations_frame(table: pa.Table) -> pd.DataFrame:
    if not table.num_columns:
        frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in OPERATION_COLUMNS})
        frame["time"] = pd.Series(dtype="datetime64[us, UTC]")
        return frame.set_index("time")
    frame = table.to_pandas()
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame.set_index("time").astype("float64")


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Write, fsync, then rename into place: a reader or a crash never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.new")
    pq.write_table(table, partial, compression=PARQUET_COMPRESSION)
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)


def _manifests(folder: Path) -> dict[str, list[str]]:
    """Compaction manifests of a day: compact file name -> names of the files it covers."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.glob(f"*{MANIFEST_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError, ValueError):
            found[path.name.removesuffix(MANIFEST_SUFFIX) + ".parquet"] = json.loads(path.read_text())[
                "covers"
            ]
    return found


def visible_files(folder: Path) -> list[Path]:
    """The day's Parquet files a reader must read: all, less those a committed compaction covers."""
    manifests = _manifests(folder)
    covered = {n for compact, covers in manifests.items() if (folder / compact).is_file() for n in covers}
    return sorted(p for p in folder.glob("*.parquet") if p.name not in covered)


def _compact(folder: Path, files: Sequence[Path]) -> None:
    """One file holding ``files``' rows; its manifest first, then the file itself: the commit."""
    name = f"compact-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    manifests = _manifests(folder)
    covers = sorted({f.name for f in files} | {n for f in files for n in manifests.get(f.name, [])})
    table = pa.concat_tables([pq.read_table(f, schema=STORED_SCHEMA) for f in files])
    manifest = folder / f"{name}{MANIFEST_SUFFIX}"
    manifest.write_text(json.dumps({"covers": covers, "at": time.time()}))
    _write_parquet(table, folder / f"{name}.parquet")


def _delete_covered(folder: Path) -> None:
    """Delete files a committed compaction covers, once no query can still be reading them; then the
    manifests of compact files that are themselves gone (a newer manifest lists what they covered)."""
    for compact, covers in _manifests(folder).items():
        manifest = folder / compact.replace(".parquet", MANIFEST_SUFFIX)
        if not (folder / compact).is_file():
            continue
        if time.time() - manifest.stat().st_mtime < COVERED_GRACE_S:
            continue
        for name in covers:
            with contextlib.suppress(FileNotFoundError):
                (folder / name).unlink()
    for compact in _manifests(folder):
        if not (folder / compact).is_file() and _covered_elsewhere(folder, compact):
            with contextlib.suppress(FileNotFoundError):
                (folder / compact.replace(".parquet", MANIFEST_SUFFIX)).unlink()


def _covered_elsewhere(folder: Path, compact: str) -> bool:
    return any(compact in covers for other, covers in _manifests(folder).items() if other != compact)


# --- SQL (PostgreSQL) ----------------------------------------------------------------------------

_SQL_TYPES: dict[str, Any] = {"string": sa.Text, "int32": sa.Integer, "int16": sa.SmallInteger,
                              "int64": sa.BigInteger, "double": sa.Float, "float": sa.Float,
                              "bool": sa.Boolean}  # fmt: skip

metadata = sa.MetaData()
records_table = sa.Table(
    "records",
    metadata,
    *[
        sa.Column(
            f.name,
            sa.DateTime(timezone=False) if f.name == "timestamp" else _SQL_TYPES[str(f.type)],
            nullable=f.nullable,
        )
        for f in STORED_SCHEMA
    ],
    sa.UniqueConstraint("request_id", "item", name="records_request_item"),
    sa.Index("records_timestamp", "timestamp"),
)
batches_table = sa.Table(
    "stored_batches",
    metadata,
    sa.Column("segment", sa.String(200), primary_key=True),
    sa.Column("start", sa.BigInteger, primary_key=True),
    sa.Column("end", sa.BigInteger, nullable=False),
)


def _naive_utc(moment: datetime) -> datetime:
    return _utc(moment).replace(tzinfo=None)


class SqlStore:
    """:class:`RecordStore` on a SQLAlchemy URL (PostgreSQL for several replicas; SQLite works too)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.location = parsed.render_as_string(hide_password=True)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        if self.sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(url, pool_pre_ping=True)
        if self.sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        with _schema_lock(parsed.database if self.sqlite else None):
            create_schema(self.engine)

    def stored_batch_end(self, day: date, segment: str, start: int) -> int | None:
        query = sa.select(batches_table.c.end).where(
            batches_table.c.segment == segment, batches_table.c.start == start
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one_or_none()

    def write_batch(self, batch: BatchId, day: date, table: pa.Table) -> None:
        """The batch's rows and its name in one transaction: stored once, or not at all."""
        rows = table.to_pylist()
        for row in rows:
            row["timestamp"] = row["timestamp"].replace(tzinfo=None)
        with self.engine.begin() as connection:
            connection.execute(batches_table.insert().values(segment=batch.segment, start=batch.start,
                                                             end=batch.end))  # fmt: skip
            if rows:
                connection.execute(records_table.insert(), rows)

    def records(
        self, start: datetime | None = None, end: datetime | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        chosen = _selected(columns)
        query = self._ranged(sa.select(*[records_table.c[c] for c in chosen]), start, end)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(records_table.c.timestamp)).all()
        table = pa.Table.from_pylist([dict(zip(chosen, row, strict=True)) for row in rows],
                                     schema=pa.schema([STORED_SCHEMA.field(c) for c in chosen]))  # fmt: skip
        return typed_frame(table)

    def _ranged(self, query: Any, start: datetime | None, end: datetime | None) -> Any:
        if start is not None:
            query = query.where(records_table.c.timestamp >= _naive_utc(start))
        if end is not None:
            query = query.where(records_table.c.timestamp < _naive_utc(end))
        return query

    def aggregate_operations(
        self, start: datetime | None, end: datetime | None, bucket_s: int, simulated: bool | None = None
    ) -> pd.DataFrame:
        """SQL aggregates on PostgreSQL; elsewhere (SQLite has no percentiles) computed from the columns."""
        if self.engine.dialect.name != "postgresql":
            inputs = (*_OPERATION_INPUTS, "simulated")
            return operations_from_records(
                queries.filtered(self.records(start, end, inputs), simulated), bucket_s
            )
        query = self._ranged(_postgres_operations(bucket_s), start, end)
        if simulated is not None:
            query = query.where(records_table.c.simulated == simulated)
        query = query.group_by("time").order_by("time")
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        table = pa.Table.from_pylist([dict(zip(OPERATION_COLUMNS, row, strict=True)) for row in rows])
        return _operations_frame(table)

    # --- the monitor's aggregates: SQL on PostgreSQL, pandas over the columns elsewhere (SQLite) ------

    def _rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(sql)).all())

    def _local(self, start: datetime | None, end: datetime | None, simulated: bool | None) -> pd.DataFrame:
        return queries.filtered(self.records(start, end, queries.SUMMARY_INPUTS), simulated)

    @property
    def _server(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def summary(
        self, start: datetime | None, end: datetime | None, simulated: bool | None = None
    ) -> dict[str, Any]:
        if not self._server:
            return queries.summary_of(self._local(start, end, simulated))
        (row,) = self._rows(queries.summary_sql("records", queries.where(start, end, simulated)))
        return queries.summary_row(row)

    def counts_by(
        self, start: datetime | None, end: datetime | None, column: str, simulated: bool | None = None
    ) -> dict[str, int]:
        if not self._server:
            return queries.counts_of(self._local(start, end, simulated), column)
        rows = self._rows(queries.counts_sql("records", queries.where(start, end, simulated), column))
        return {str(key): int(n) for key, n in rows if key is not None}

    def versions(
        self, start: datetime | None, end: datetime | None, simulated: bool | None = None
    ) -> pd.DataFrame:
        if not self._server:
            return queries.versions_of(self._local(start, end, simulated))
        return queries.versions_frame(
            self._rows(queries.versions_sql("records", queries.where(start, end, simulated)))
        )

    def score_histogram(
        self,
        start: datetime | None,
        end: datetime | None,
        upper: float,
        bins: int,
        simulated: bool | None = None,
    ) -> np.ndarray:
        if not self._server:
            return queries.histogram_of(self._local(start, end, simulated), upper, bins)
        condition = queries.where(start, end, simulated, "probability IS NOT NULL")
        return queries.histogram_counts(
            self._rows(queries.histogram_sql("records", condition, upper, bins)), bins
        )

    def rejected_inputs(
        self, start: datetime | None, end: datetime | None, simulated: bool | None = None
    ) -> pd.DataFrame:
        query = self._ranged(
            sa.select(records_table.c.timestamp, records_table.c.rejected_inputs), start, end
        )
        query = query.where(records_table.c.rejected_inputs.is_not(None))
        if simulated is not None:
            query = query.where(records_table.c.simulated == simulated)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        table = pa.Table.from_pylist([{"timestamp": t, "rejected_inputs": r} for t, r in rows],
                                     schema=_empty(["timestamp", "rejected_inputs"]).schema)  # fmt: skip
        return typed_frame(table)

    def count(self, start: datetime | None = None, end: datetime | None = None) -> int:
        query = self._ranged(sa.select(sa.func.count()).select_from(records_table), start, end)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def drop_days_before(self, day: date) -> int:
        cutoff = datetime(day.year, day.month, day.day)
        with self.engine.begin() as connection:
            return connection.execute(
                records_table.delete().where(records_table.c.timestamp < cutoff)
            ).rowcount

    def compact(self, min_parts: int) -> int:
        """Nothing to do: the database keeps its own files."""
        return 0

    def close(self) -> None:
        self.engine.dispose()


_OPERATION_INPUTS = ("status", "latency_ms", "inference_ms", "decision", "probability")


def _postgres_operations(bucket_s: int) -> Any:
    c = records_table.c
    epoch = sa.func.extract("epoch", c.timestamp)
    bucket = sa.func.to_timestamp(sa.func.floor(epoch / bucket_s) * bucket_s).label("time")
    refused = sa.case((c.decision == "refuse", 1.0), (c.decision == "grant", 0.0))

    def pct(column: Any, q: float) -> Any:
        return sa.func.percentile_cont(q).within_group(column)

    return sa.select(
        bucket, sa.func.count(), sa.func.count().filter(c.status < 400),
        sa.func.count().filter(c.status.between(400, 499)), sa.func.count().filter(c.status >= 500),
        pct(c.latency_ms, 0.5), pct(c.latency_ms, 0.95), pct(c.latency_ms, 0.99),
        pct(c.inference_ms, 0.5), pct(c.inference_ms, 0.95), sa.func.avg(refused), sa.func.avg(c.probability),
    )  # fmt: skip


def operations_from_records(records: pd.DataFrame, bucket_s: int) -> pd.DataFrame:
    """The aggregates of :meth:`ParquetStore.aggregate_operations`, computed in pandas (small stores)."""
    if records.empty:
        return _operations_frame(pa.table({}))
    grouped = records.set_index("timestamp").groupby(pd.Grouper(freq=f"{bucket_s}s"))
    refused = records["decision"].map({"refuse": 1.0, "grant": 0.0}).set_axis(records["timestamp"])
    frame = pd.DataFrame({
        "requests": grouped.size(), "scored": grouped["status"].apply(lambda s: (s < 400).sum()),
        "rejected": grouped["status"].apply(lambda s: s.between(400, 499).sum()),
        "server_errors": grouped["status"].apply(lambda s: (s >= 500).sum()),
        "latency_p50": grouped["latency_ms"].quantile(0.5),
        "latency_p95": grouped["latency_ms"].quantile(0.95),
        "latency_p99": grouped["latency_ms"].quantile(0.99),
        "inference_p50": grouped["inference_ms"].quantile(0.5),
        "inference_p95": grouped["inference_ms"].quantile(0.95),
        "refused_share": refused.groupby(pd.Grouper(freq=f"{bucket_s}s")).mean(),
        "mean_probability": grouped["probability"].mean(),
    })  # fmt: skip
    return frame[frame["requests"] > 0].rename_axis("time").astype("float64")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # before anything else: WAL's switch itself may wait
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextlib.contextmanager
def _schema_lock(database: str | None):
    """Several processes opening a new SQLite store at once create its schema one after the other (without
    this, one of them could fail with "database is locked"); a server database needs no file lock."""
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def create_schema(engine: Engine) -> None:
    """Create the tables and indexes when missing (IF NOT EXISTS: several workers may open it at once), and
    add the record columns a table created by an older version lacks (the challenger's, say)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # concurrent CREATE ... IF NOT EXISTS can still collide
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(7243001)"))
        for table in (records_table, batches_table):
            connection.execute(CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                connection.execute(CreateIndex(index, if_not_exists=True))
        add_missing_columns(connection)


def add_missing_columns(connection: sa.Connection) -> list[str]:
    """``ALTER TABLE records ADD COLUMN`` for each nullable record column the table lacks; their names.

    Old rows read them as null. PostgreSQL gets ``IF NOT EXISTS``; SQLite has no such clause, but the
    schema lock (a file lock) already lets one process at a time in."""
    present = {column["name"] for column in sa.inspect(connection).get_columns(records_table.name)}
    missing = [c for c in records_table.columns if c.name not in present and c.nullable]
    guard = "IF NOT EXISTS " if connection.dialect.name == "postgresql" else ""
    for column in missing:
        kind = column.type.compile(dialect=connection.dialect)
        connection.execute(sa.text(f'ALTER TABLE records ADD COLUMN {guard}"{column.name}" {kind}'))
    return [column.name for column in missing]


def open_store(settings: MonitoringSettings) -> RecordStore:
    """The configured store: the server database when ``request_store_url`` is set, else Parquet."""
    if settings.request_store_url:
        return SqlStore(settings.request_store_url)
    return ParquetStore(settings.store_path)


def open_existing_store(settings: MonitoringSettings) -> RecordStore:
    """The configured store for reading: a missing Parquet folder is an error, never created empty."""
    if not settings.request_store_url and not settings.store_path.is_dir():
        raise UsageError(
            f"no request store at {settings.store_path}: serve the API with monitoring on (make serve) and "
            "send traffic (make simulate), or pass --store with the folder or URL the service writes to"
        )
    return open_store(settings)


def store_settings(settings: MonitoringSettings, store: str | None) -> MonitoringSettings:
    """The settings with a ``--store`` option: a URL (``scheme://``) is a server store, else a folder."""
    if store is None:
        return settings
    if "://" in store:
        return settings.model_copy(update={"request_store_url": store})
    return settings.model_copy(update={"request_store_url": None, "store_dir": Path(store)})


def retention_cutoff(days: float, now: datetime | None = None) -> date:
    """The first day kept by a retention of ``days`` (whole days: partitions are dropped whole)."""
    return ((now or datetime.now(UTC)) - timedelta(days=days)).date()
