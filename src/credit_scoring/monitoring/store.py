"""The request store: one small interface, implemented with SQLAlchemy Core (SQLite WAL or PostgreSQL).

Why SQLite in WAL mode by default: it is embedded (no server to run), one file under ``var/``, and WAL
lets the monitor and the drift report read while the service's writer thread appends (readers never
block the writer nor each other); it speaks SQL, so the Streamlit page filters time ranges in the
database. Typed columns hold what the monitor aggregates; the raw inputs are one JSON text column,
erasable on their own for retention. Several service replicas on several hosts need a server database
instead: set ``CREDIT_REQUEST_STORE_URL=postgresql://...`` and the same code runs on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.schema import CreateIndex, CreateTable

from credit_scoring.monitoring.records import RequestRecord, storable_inputs

STORE_RETRY_S = 5.0

metadata = sa.MetaData()

requests_table = sa.Table(
    "requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    # Naive UTC on every backend: SQLite has no time zones, and one convention keeps range filters exact.
    sa.Column("timestamp", sa.DateTime(timezone=False), nullable=False, index=True),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("client_ref", sa.String(64), nullable=True),
    sa.Column("probability", sa.Float, nullable=True),
    sa.Column("decision", sa.String(32), nullable=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("inference_ms", sa.Float, nullable=True),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error_kind", sa.String(32), nullable=True),
    sa.Column("inputs", sa.Text, nullable=True),
)

RECORD_COLUMNS: tuple[str, ...] = tuple(c.name for c in requests_table.columns if c.name != "id")
_TEXT_COLUMNS = (
    "request_id",
    "endpoint",
    "model_name",
    "model_version",
    "client_ref",
    "decision",
    "error_kind",
)


@runtime_checkable
class RequestStore(Protocol):
    """Where request records live; the service writes, the monitor and the drift report read."""

    def write(self, records: Sequence[RequestRecord]) -> int: ...

    def read(
        self, start: datetime | None = None, end: datetime | None = None, *, with_inputs: bool = True
    ) -> pd.DataFrame: ...

    def purge_inputs_older_than(self, days: float, now: datetime | None = None) -> int: ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"time {moment!r} must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None)


def _row(record: RequestRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in RECORD_COLUMNS}
    row["timestamp"] = _naive_utc(record.timestamp)
    inputs = storable_inputs(record.inputs)  # here, in the writer thread, not on the request path
    row["inputs"] = None if inputs is None else orjson.dumps(inputs).decode()
    return row


def _enable_sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is safe with WAL: a power cut may lose the last commits, never corrupt the file.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create the table and its indexes when missing.

    ``IF NOT EXISTS`` rather than ``metadata.create_all``: the service's workers open the store at the same
    moment, and create_all's check-then-create lets the second one fail on "table already exists".
    """
    with engine.begin() as connection:
        connection.execute(CreateTable(requests_table, if_not_exists=True))
        for index in requests_table.indexes:
            connection.execute(CreateIndex(index, if_not_exists=True))


class SqlRequestStore:
    """:class:`RequestStore` on any SQLAlchemy URL; the table is created when missing."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = sa.create_engine(url)
            sa.event.listen(self.engine, "connect", _enable_sqlite_wal)
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        create_schema(self.engine)

    def write(self, records: Sequence[RequestRecord]) -> int:
        """Append the records in one transaction; returns how many were written."""
        if not records:
            return 0
        with self.engine.begin() as connection:
            connection.execute(requests_table.insert(), [_row(record) for record in records])
        return len(records)

    def read(
        self, start: datetime | None = None, end: datetime | None = None, *, with_inputs: bool = True
    ) -> pd.DataFrame:
        """Records with ``start <= timestamp < end`` in time order; timestamps UTC, inputs as dicts."""
        columns = [requests_table.c[name] for name in RECORD_COLUMNS if with_inputs or name != "inputs"]
        query = sa.select(*columns).order_by(requests_table.c.timestamp, requests_table.c.id)
        if start is not None:
            query = query.where(requests_table.c.timestamp >= _naive_utc(start))
        if end is not None:
            query = query.where(requests_table.c.timestamp < _naive_utc(end))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return _frame(rows, [c.name for c in columns])

    def purge_inputs_older_than(self, days: float, now: datetime | None = None) -> int:
        """Erase raw inputs and client references of records older than ``days``; aggregates stay."""
        cutoff = _naive_utc(now or datetime.now(UTC)) - timedelta(days=days)
        query = (
            requests_table.update()
            .where(requests_table.c.timestamp < cutoff)
            .where(sa.or_(requests_table.c.inputs.is_not(None), requests_table.c.client_ref.is_not(None)))
            .values(inputs=None, client_ref=None)
        )
        with self.engine.begin() as connection:
            return connection.execute(query).rowcount

    def count(self) -> int:
        with self.engine.connect() as connection:
            total = connection.execute(sa.select(sa.func.count()).select_from(requests_table)).scalar_one()
        return int(total)

    def close(self) -> None:
        self.engine.dispose()


def _frame(rows: Sequence[Any], names: list[str]) -> pd.DataFrame:
    """Rows as a typed frame: UTC timestamps, float measures, inputs as dicts in an object column."""
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    frame = pd.DataFrame({name: values for name, values in columns.items() if name != "inputs"})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).dt.tz_localize(UTC)
    for name in ("probability", "threshold", "latency_ms", "inference_ms"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame["status"] = frame["status"].astype("int64")
    for name in _TEXT_COLUMNS:
        frame[name] = frame[name].astype("str")  # also typed when the range is empty
    if "inputs" in columns:
        parsed = [None if text is None else orjson.loads(text) for text in columns["inputs"]]
        frame["inputs"] = pd.Series(parsed, index=frame.index, dtype=object)
    return frame


def inputs_frame(records: pd.DataFrame) -> pd.DataFrame:
    """The stored inputs as a table, one column per field, keeping the index of the rows that have inputs."""
    present = records[records["inputs"].notna()] if "inputs" in records else records.iloc[0:0]
    return pd.DataFrame(list(present["inputs"]) if len(present) else [], index=present.index)


def open_store(url: str) -> SqlRequestStore:
    """The store for a URL (``sqlite:///path.db`` or ``postgresql://user@host/db``)."""
    return SqlRequestStore(url)


class ReopeningStore:
    """The configured store, opened on first use and reopened after a failure (at most every few seconds).

    A store that cannot be opened at start-up (a full disk, a database server down) must not stop the
    service from starting: its writes fail instead, and the logger counts them until the store is back.
    """

    def __init__(self, url: str, retry_s: float = STORE_RETRY_S) -> None:
        self.url = url
        self.retry_s = retry_s
        self._store: RequestStore | None = None
        self._retry_at = 0.0

    def opened(self) -> RequestStore:
        if self._store is None:
            if time.monotonic() < self._retry_at:
                raise ConnectionError(f"request store {self.url!r} unavailable; retrying in a moment")
            try:
                self._store = open_store(self.url)
            except Exception:
                self._retry_at = time.monotonic() + self.retry_s
                raise
        return self._store

    def write(self, records: Sequence[RequestRecord]) -> int:
        return self.opened().write(records)

    def read(self, *args: Any, **kwargs: Any) -> Any:
        return self.opened().read(*args, **kwargs)

    def purge_inputs_older_than(self, days: float, now: Any = None) -> int:
        return self.opened().purge_inputs_older_than(days, now)

    def count(self) -> int:
        return self.opened().count()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
