"""Loan outcomes joined to stored decisions through the client pseudonym; the raw client id is never stored.

An outcome (``SK_ID_CURR``, ``TARGET``, optionally ``OBSERVATION_DATE``) joins one decision: the latest scored
decision of that client at or before the end of the observation day (the latest of all when no date is
given). Its key is that decision (``request_id``, ``item``): loading the same outcome again changes nothing,
a different ``TARGET`` for the same decision is a correction (the later load wins). References matching no
stored decision are counted, never stored and never an error (send them again once the decision is stored).

Embedded default, :class:`ParquetOutcomes`: ``<store_dir>/outcomes/day=<decision day>/outcomes-*.parquet``,
read with DuckDB; server option, :class:`SqlOutcomes`: one ``outcomes`` table beside ``records``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateTable

from credit_scoring.errors import DataError, UsageError
from credit_scoring.recording.protocol import pseudonymise
from credit_scoring.recording.store import ParquetStore, RecordStore, SqlStore, _file_list, _write_parquet
from credit_scoring.schema import ID_COLUMN, TARGET_COLUMN

DATE_COLUMN = "OBSERVATION_DATE"
OUTCOMES_FOLDER = "outcomes"
KEY = ("request_id", "item")
OUTCOME_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("item", pa.int32(), nullable=False),
        pa.field("client_ref", pa.string(), nullable=False),  # the pseudonym, for audits; never the raw id
        pa.field("decision_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("target", pa.int8(), nullable=False),
        pa.field("observed_on", pa.date32()),
        pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
LOOKUP_CHUNK = 5_000  # client references per SQL lookup (IN lists stay small for the database)


@dataclass(frozen=True)
class OutcomeLoad:
    """What one load did: outcomes received, stored (new), corrected, already known, and unmatched."""

    received: int
    matched: int
    stored: int
    corrected: int
    unchanged: int
    unmatched: int
    location: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def superseded(self) -> int:
        """Outcomes of a decision that a later outcome of the same load replaced (the last one counts)."""
        return self.matched - self.stored - self.corrected - self.unchanged

    def summary(self) -> str:
        """One line in which every outcome received is counted once."""
        return (
            f"{self.received} outcomes: {self.stored} stored, {self.corrected} corrected, {self.unchanged} "
            f"already known, {self.superseded} superseded by a later outcome of the same decision in this "
            f"load, {self.unmatched} matching no stored decision ({self.location})"
        )


# --- reading what a lender sends ------------------------------------------------------------------


def read_outcome_file(path: Path) -> pd.DataFrame:
    """The CSV's outcomes as ``SK_ID_CURR``, ``TARGET``, ``OBSERVATION_DATE`` (checked: exit 2 if bad)."""
    if not path.is_file():
        raise UsageError(f"no outcome file at {path}: pass FILE=path.csv with columns SK_ID_CURR,TARGET")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DataError(f"cannot read {path} as CSV: {error}") from None
    return checked_outcomes(frame, first_row=2)


def checked_outcomes(frame: pd.DataFrame, first_row: int = 0) -> pd.DataFrame:
    """Typed outcomes; a missing column or a bad value is a :class:`DataError` naming rows and the rule."""
    missing = [c for c in (ID_COLUMN, TARGET_COLUMN) if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}: outcomes need {ID_COLUMN} and {TARGET_COLUMN} "
            f"(0 repaid, 1 defaulted), optionally {DATE_COLUMN} (YYYY-MM-DD)"
        )
    ids = pd.to_numeric(frame[ID_COLUMN].replace("", None), errors="coerce")
    targets = pd.to_numeric(frame[TARGET_COLUMN].replace("", None), errors="coerce")
    dates = _dates(frame)
    _refuse_rows(ids.isna() | (ids % 1 != 0), first_row, f"{ID_COLUMN} must be an integer")
    _refuse_rows(~targets.isin([0, 1]), first_row, f"{TARGET_COLUMN} must be 0 (repaid) or 1 (defaulted)")
    _refuse_rows(dates.isna() & _given(frame), first_row, f"{DATE_COLUMN} must be a date YYYY-MM-DD")
    return pd.DataFrame(
        {ID_COLUMN: ids.astype("int64"), TARGET_COLUMN: targets.astype("int8"), DATE_COLUMN: dates}
    )


def _given(frame: pd.DataFrame) -> pd.Series:
    if DATE_COLUMN not in frame:
        return pd.Series(False, index=frame.index)
    return frame[DATE_COLUMN].astype(str).str.strip().ne("") & frame[DATE_COLUMN].notna()


def _dates(frame: pd.DataFrame) -> pd.Series:
    if DATE_COLUMN not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
    text = frame[DATE_COLUMN].where(_given(frame))
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").astype("datetime64[us]")


def _refuse_rows(bad: pd.Series, first_row: int, rule: str) -> None:
    if bad.any():
        rows = [int(i) + first_row for i in bad[bad].index[:5]]
        more = f" and {int(bad.sum()) - len(rows)} more" if bad.sum() > len(rows) else ""
        where = "row(s)" if first_row else "outcome(s) at position"
        raise DataError(f"{rule}: {where} {rows}{more}")


def pseudonymised(outcomes: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """``client_ref``, ``target``, ``observed_on``: the raw ids are dropped here, before anything is kept."""
    refs = [pseudonymise(int(client), key) for client in outcomes[ID_COLUMN]]
    observed = pd.to_datetime(outcomes[DATE_COLUMN]).dt.date.astype(object)
    frame = pd.DataFrame(
        {
            "client_ref": refs,
            "target": outcomes[TARGET_COLUMN].astype("int8").to_numpy(),
            "observed_on": observed.where(observed.notna(), None).to_numpy(),
        }
    )
    # The same client twice in one load: the last line wins (a lender's file lists corrections last).
    return frame.drop_duplicates(["client_ref", "observed_on"], keep="last").reset_index(drop=True)


# --- the join -------------------------------------------------------------------------------------


def matched_decisions(decisions: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Each outcome with its decision: the client's latest scored decision before the end of the
    observation day (any time when no date). ``decisions``: client_ref, request_id, item, timestamp."""
    pairs = outcomes.reset_index(names="outcome").merge(decisions, on="client_ref", how="inner")
    cutoff = pd.to_datetime(pairs["observed_on"]).dt.tz_localize(UTC) + pd.Timedelta(days=1)
    pairs = pairs[cutoff.isna() | (pairs["timestamp"] < cutoff)]
    latest = pairs.sort_values(["timestamp", "request_id", "item"]).groupby("outcome").tail(1)
    return latest.rename(columns={"timestamp": "decision_time"}).drop(columns="outcome")


def scored_decisions(store: RecordStore, client_refs: Sequence[str]) -> pd.DataFrame:
    """The scored decisions of these clients: client_ref, request_id, item, timestamp (an indexed lookup)."""
    if isinstance(store, ParquetStore):
        return _parquet_decisions(store, client_refs)
    if isinstance(store, SqlStore):
        return _sql_decisions(store, client_refs)
    raise UsageError(f"outcomes cannot be joined to a {type(store).__name__}")


_DECISION_COLUMNS = ["client_ref", "request_id", "item", "timestamp"]


def _parquet_decisions(store: ParquetStore, client_refs: Sequence[str]) -> pd.DataFrame:
    import duckdb

    files = store.files()
    if not files or not client_refs:
        return _typed_decisions(pd.DataFrame(columns=_DECISION_COLUMNS))
    wanted = pa.table({"ref": pa.array(list(client_refs), pa.string())})
    with duckdb.connect() as connection:
        connection.register("wanted", wanted)
        frame = connection.sql(
            f"SELECT client_ref, request_id, item, timestamp FROM {_file_list(files)} "
            "WHERE status < 400 AND decision IS NOT NULL AND client_ref IN (SELECT ref FROM wanted)"
        ).df()
    return _typed_decisions(frame)


def _sql_decisions(store: SqlStore, client_refs: Sequence[str]) -> pd.DataFrame:
    records = sa.table("records", *[sa.column(c) for c in (*_DECISION_COLUMNS, "status", "decision")])
    rows: list[Any] = []
    with store.engine.connect() as connection:
        for start in range(0, len(client_refs), LOOKUP_CHUNK):
            chunk = list(client_refs[start : start + LOOKUP_CHUNK])
            query = sa.select(*[records.c[c] for c in _DECISION_COLUMNS]).where(
                records.c.client_ref.in_(chunk), records.c.status < 400, records.c.decision.is_not(None)
            )
            rows += connection.execute(query).all()
    return _typed_decisions(pd.DataFrame(rows, columns=_DECISION_COLUMNS))


def _typed_decisions(frame: pd.DataFrame) -> pd.DataFrame:
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.astype({"client_ref": str, "request_id": str, "item": "int32"})


# --- where outcomes are kept ----------------------------------------------------------------------


class OutcomeStore(Protocol):
    """Where outcomes live: the current outcome of given decisions, and new rows appended."""

    location: str

    def known(self, request_ids: Sequence[str]) -> pd.DataFrame: ...

    def append(self, rows: pd.DataFrame) -> None: ...

    def drop_before(self, day: date) -> int: ...


class ParquetOutcomes:
    """Outcomes as Parquet files beside the records' day partitions (one file per load and decision day)."""

    def __init__(self, store_root: Path) -> None:
        self.root = Path(store_root) / OUTCOMES_FOLDER
        self.location = str(self.root)

    def files(self) -> list[str]:
        return sorted(str(p) for p in self.root.glob("day=*/*.parquet")) if self.root.is_dir() else []

    def current_sql(self) -> str | None:
        """A DuckDB relation of the current outcome of every decision (None: no outcome yet)."""
        files = self.files()
        return _current_outcomes(_file_list(files)) if files else None

    def known(self, request_ids: Sequence[str]) -> pd.DataFrame:
        import duckdb

        relation = self.current_sql()
        if relation is None or not request_ids:
            return _typed_known(pd.DataFrame({"request_id": [], "item": [], "target": []}))
        with duckdb.connect() as connection:
            connection.register("wanted", pa.table({"id": pa.array(list(request_ids), pa.string())}))
            return _typed_known(
                connection.sql(
                    f"SELECT request_id, item, target FROM {relation} "
                    "WHERE request_id IN (SELECT id FROM wanted)"
                ).df()
            )

    def append(self, rows: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(rows, schema=OUTCOME_SCHEMA, preserve_index=False)
        days = pd.to_datetime(rows["decision_time"], utc=True).dt.date.to_numpy()
        for day in sorted(set(days)):
            part = table.filter(pa.array(days == day))
            _write_parquet(
                part, self.root / f"day={day.isoformat()}" / f"outcomes-{uuid.uuid4().hex}.parquet"
            )

    def drop_before(self, day: date) -> int:
        """Delete the outcomes of decisions older than ``day`` (whole partitions); how many were dropped."""
        old = [p for p in self.root.glob("day=*") if date.fromisoformat(p.name[4:]) < day]
        for folder in old:
            shutil.rmtree(folder, ignore_errors=True)
        return len(old)


def _typed_known(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"request_id": str, "item": "int32", "target": "float64"})


def _current_outcomes(source: str) -> str:
    """The latest loaded outcome of each decision (an earlier one was corrected)."""
    return (
        "(SELECT * EXCLUDE (latest) FROM (SELECT *, row_number() OVER (PARTITION BY request_id, item "
        f"ORDER BY loaded_at DESC) AS latest FROM {source}) WHERE latest = 1)"
    )


outcome_metadata = sa.MetaData()
outcomes_table = sa.Table(
    "outcomes",
    outcome_metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("item", sa.Integer, primary_key=True),
    sa.Column("client_ref", sa.Text, nullable=False),
    sa.Column("decision_time", sa.DateTime(timezone=False), nullable=False),
    sa.Column("target", sa.SmallInteger, nullable=False),
    sa.Column("observed_on", sa.Date),
    sa.Column("loaded_at", sa.DateTime(timezone=False), nullable=False),
)


class SqlOutcomes:
    """Outcomes in one table of the server store (a correction updates its row in place)."""

    def __init__(self, engine: Engine, location: str) -> None:
        self.engine = engine
        self.location = f"{location} (table outcomes)"
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":  # concurrent CREATE ... IF NOT EXISTS can still collide
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(7243002)"))
            connection.execute(CreateTable(outcomes_table, if_not_exists=True))

    def known(self, request_ids: Sequence[str]) -> pd.DataFrame:
        c, rows = outcomes_table.c, []
        with self.engine.connect() as connection:
            for start in range(0, len(request_ids), LOOKUP_CHUNK):
                chunk = list(request_ids[start : start + LOOKUP_CHUNK])
                query = sa.select(c.request_id, c.item, c.target).where(c.request_id.in_(chunk))
                rows += connection.execute(query).all()
        return _typed_known(pd.DataFrame(rows, columns=["request_id", "item", "target"]))

    def append(self, rows: pd.DataFrame) -> None:
        """Insert new outcomes and replace corrected ones, in one transaction."""
        values = rows.to_dict("records")
        for row in values:
            row["decision_time"] = row["decision_time"].to_pydatetime().astimezone(UTC).replace(tzinfo=None)
            row["loaded_at"] = row["loaded_at"].astimezone(UTC).replace(tzinfo=None)
            row["target"], row["item"] = int(row["target"]), int(row["item"])
        c = outcomes_table.c
        with self.engine.begin() as connection:
            for row in values:
                connection.execute(
                    outcomes_table.delete().where(c.request_id == row["request_id"], c.item == row["item"])
                )
            connection.execute(outcomes_table.insert(), values)

    def drop_before(self, day: date) -> int:
        """Delete the outcomes of decisions older than ``day``; how many rows were dropped."""
        cutoff = datetime(day.year, day.month, day.day)
        with self.engine.begin() as connection:
            return connection.execute(
                outcomes_table.delete().where(outcomes_table.c.decision_time < cutoff)
            ).rowcount


def drop_outcomes_before(store: RecordStore, day: date) -> int:
    """Retention: an outcome goes with its decision (kept by the decision's day, like the records)."""
    return open_outcomes(store).drop_before(day)


def open_outcomes(store: RecordStore) -> OutcomeStore:
    """The outcome store beside a record store: Parquet files in its folder, or a table in its database."""
    # By what the store has, not its class: the ingest holds a proxy that reopens the store after a failure.
    if isinstance(store, ParquetStore) or hasattr(store, "root"):
        return ParquetOutcomes(store.root)
    if isinstance(store, SqlStore) or hasattr(store, "engine"):
        return SqlOutcomes(store.engine, store.location)
    raise UsageError(f"outcomes cannot be stored beside a {type(store).__name__}")


# --- loading --------------------------------------------------------------------------------------


def load_outcomes(
    store: RecordStore, outcomes: pd.DataFrame, key: bytes, now: datetime | None = None
) -> OutcomeLoad:
    """Pseudonymise checked outcomes (``SK_ID_CURR``, ``TARGET``, ``OBSERVATION_DATE``), join, store."""
    return load_pseudonymised(store, pseudonymised(outcomes, key), now)


def load_pseudonymised(
    store: RecordStore, outcomes: pd.DataFrame, now: datetime | None = None
) -> OutcomeLoad:
    """Join outcomes already keyed by ``client_ref`` to their decisions and store what is new or corrected."""
    target_store = open_outcomes(store)
    decisions = scored_decisions(store, outcomes["client_ref"].unique().tolist())
    joined = matched_decisions(decisions, outcomes)
    matched = joined.drop_duplicates(list(KEY), keep="last")  # two outcomes of one decision: the last wins
    known = target_store.known(matched["request_id"].unique().tolist())
    compared = matched.merge(known, on=list(KEY), how="left", suffixes=("", "_known"))
    new = compared["target_known"].isna()
    changed = ~new & (compared["target_known"] != compared["target"])
    to_write = compared[new | changed].drop(columns="target_known")
    if len(to_write):
        target_store.append(to_write.assign(loaded_at=now or datetime.now(UTC))[OUTCOME_SCHEMA.names])
    return OutcomeLoad(
        received=len(outcomes),
        matched=len(joined),
        stored=int(new.sum()),
        corrected=int(changed.sum()),
        unchanged=int((~new & ~changed).sum()),
        unmatched=len(outcomes) - len(joined),
        location=target_store.location,
    )
