"""Model performance aggregates computed by the store's engine (DuckDB over Parquet, or PostgreSQL).

Every query reads the scored decisions of a range joined to their current outcome, and returns a few rows
per model version and month (or per version): counts and sums for the realized and estimated figures,
the rank sums of the AUC, calibration deciles, fairness cells. Nothing reads raw rows into pandas, so the
monitor stays fast on a million records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pandas as pd
import sqlalchemy as sa

from credit_scoring.errors import UsageError
from credit_scoring.monitoring.performance import AGE_BANDS
from credit_scoring.recording.outcomes import ParquetOutcomes, SqlOutcomes, open_outcomes
from credit_scoring.recording.store import ParquetStore, RecordStore, SqlStore, _file_list

NO_OUTCOMES = (
    "(SELECT CAST(NULL AS TEXT) AS request_id, CAST(NULL AS INTEGER) AS item, "
    "CAST(NULL AS SMALLINT) AS target WHERE 1 = 0)"
)
MONTH = "date_trunc('month', ts)"
ALL_MONTHS = "CAST(NULL AS TIMESTAMP)"

# The scored decisions of the range with their current outcome: read and joined once per report on DuckDB
# (a temporary table every query then reads), a subquery on PostgreSQL.
JOINED = """
SELECT d.model_version AS version, d."timestamp" AS ts, d.probability AS p,
       CASE WHEN d.decision = 'grant' THEN 1 ELSE 0 END AS granted, o.target AS y,
       d."CODE_GENDER" AS gender, d."DAYS_BIRTH" AS days_birth
FROM {records} AS d LEFT JOIN {outcomes} AS o ON o.request_id = d.request_id AND o.item = d.item
WHERE d.status < 400 AND d.probability IS NOT NULL AND d.decision IN ('grant', 'refuse') {range}"""
SCORED = "WITH scored AS (SELECT version, {period} AS period, p, granted, y, gender, days_birth FROM {base})"

COUNTS = """
SELECT version, period, count(*) AS decisions, sum(granted) AS granted, avg(p) AS mean_probability,
       sum(granted * p) AS expected_defaults_granted, sum((1 - granted) * (1 - p)) AS expected_good_refused,
       count(y) AS outcomes, sum(CASE WHEN y IS NOT NULL THEN granted END) AS outcomes_granted,
       sum(y) AS defaults, sum(granted * y) AS defaults_granted, sum((1 - granted) * (1 - y)) AS good_refused,
       sum(CASE WHEN y IS NOT NULL THEN granted * p END) AS expected_defaults_granted_outcomes,
       sum(CASE WHEN y IS NOT NULL THEN (1 - granted) * (1 - p) END) AS expected_good_refused_outcomes,
       sum(CASE WHEN y IS NOT NULL THEN granted * p * (1 - p) END) AS variance_granted_outcomes,
       sum(CASE WHEN y IS NOT NULL THEN (1 - granted) * p * (1 - p) END) AS variance_refused_outcomes
FROM scored GROUP BY version, period"""

# Mann-Whitney: AUC = (sum of the defaulters' ranks - n1 (n1 + 1) / 2) / (n1 n0), ties at their mean rank.
REALIZED_RANKS = """
SELECT version, period, sum(CASE WHEN y = 1 THEN r ELSE 0 END) AS rank_sum, sum(y) AS positives,
       count(*) - sum(y) AS negatives
FROM (SELECT version, period, y, rank() OVER (PARTITION BY version, period ORDER BY p)
             + (count(*) OVER (PARTITION BY version, period, p) - 1) / 2.0 AS r
      FROM scored WHERE y IS NOT NULL) AS ranked
GROUP BY version, period"""

# CBPE's AUC: every decision is a defaulter with weight p and a good client with weight 1 - p.
EXPECTED_PAIRS = """
SELECT version, period, sum(p * (below + 0.5 * (tied - (1 - p)))) AS pair_sum, sum(p) AS positive_weight,
       sum(1 - p) AS negative_weight, sum(p * (1 - p)) AS self_weight
FROM (SELECT version, period, p,
             sum(1 - p) OVER (PARTITION BY version, period ORDER BY p)
             - sum(1 - p) OVER (PARTITION BY version, period, p) AS below,
             sum(1 - p) OVER (PARTITION BY version, period, p) AS tied
      FROM scored) AS weighted
GROUP BY version, period"""

DECILES = """
SELECT version, period, decile, count(*) AS n, avg(p) AS predicted,
       avg(CAST(y AS DOUBLE PRECISION)) AS observed
FROM (SELECT version, period, p, y, ntile(10) OVER (PARTITION BY version, period ORDER BY p) AS decile
      FROM scored WHERE y IS NOT NULL) AS binned
GROUP BY version, period, decile"""

FAIRNESS = """
SELECT 'CODE_GENDER' AS attribute, gender AS grp, granted, y, count(*) AS n FROM scored
GROUP BY gender, granted, y
UNION ALL
SELECT 'age band' AS attribute, {age_band} AS grp, granted, y, count(*) AS n FROM scored
GROUP BY {age_band}, granted, y"""


def _age_band_sql() -> str:
    """The age bands of :data:`AGE_BANDS` from DAYS_BIRTH (negative days since birth)."""
    cases = " ".join(f"WHEN -days_birth < {upper * 365.25} THEN '{label}'" for label, upper in AGE_BANDS[:-1])
    return f"CASE WHEN days_birth IS NULL THEN 'unknown' {cases} ELSE '{AGE_BANDS[-1][0]}' END"


def _literal(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"


def _range(start: datetime | None, end: datetime | None) -> str:
    clauses = [
        f'AND d."timestamp" >= {_literal(start)}' if start else "",
        f'AND d."timestamp" < {_literal(end)}' if end else "",
    ]
    return " ".join(c for c in clauses if c)


@dataclass
class StorePerformance:
    """The performance aggregates of the decisions of ``[start, end)`` in a record store."""

    store: RecordStore
    start: datetime | None = None
    end: datetime | None = None

    def _run(self, body: str, period: str, **extra: str) -> pd.DataFrame:
        base = self._base()
        if base is None:
            return pd.DataFrame()
        return self._execute(SCORED.format(period=period, base=base) + body.format(**extra))

    def _joined_sql(self) -> str | None:
        records, outcomes = self._relations()
        if records is None:
            return None
        return JOINED.format(
            records=records, outcomes=outcomes or NO_OUTCOMES, range=_range(self.start, self.end)
        )

    def _base(self) -> str | None:
        """What the queries read: the joined decisions (DuckDB: materialised once, at the first query)."""
        if isinstance(self.store, SqlStore):
            joined = self._joined_sql()
            return f"({joined}) AS joined" if joined else None
        return "joined" if self._duckdb is not None else None

    @cached_property
    def _duckdb(self) -> Any:
        import duckdb

        joined = self._joined_sql()
        if joined is None:
            return None
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(f"CREATE TEMP TABLE joined AS {joined}")
        return connection

    def _relations(self) -> tuple[str | None, str | None]:
        outcomes = open_outcomes(self.store)
        if isinstance(self.store, ParquetStore) and isinstance(outcomes, ParquetOutcomes):
            files = self.store.files(self.start, self.end)
            return (_file_list(files) if files else None), outcomes.current_sql()
        if isinstance(self.store, SqlStore) and isinstance(outcomes, SqlOutcomes):
            if self.store.engine.dialect.name != "postgresql":
                raise UsageError("model performance needs the Parquet store or PostgreSQL (not SQLite)")
            return "records", "outcomes"
        raise UsageError(f"no performance queries for a {type(self.store).__name__}")

    def _execute(self, sql: str) -> pd.DataFrame:
        if isinstance(self.store, SqlStore):
            with self.store.engine.connect() as connection:
                result = connection.execute(sa.text(sql))
                return pd.DataFrame(result.all(), columns=list(result.keys()))
        return self._duckdb.sql(sql).df()

    def version_periods(self, by_month: bool) -> pd.DataFrame:
        """Per model version (and month): counts, expected and realized errors, AUC rank and pair sums."""
        period = MONTH if by_month else ALL_MONTHS
        frames = [self._run(body, period) for body in (COUNTS, REALIZED_RANKS, EXPECTED_PAIRS)]
        if frames[0].empty:
            return frames[0]
        merged = frames[0]
        for other in frames[1:]:
            merged = merged.merge(other, on=["version", "period"], how="left") if not other.empty else merged
        return _typed_periods(merged)

    def calibration_deciles(self, by_month: bool) -> pd.DataFrame:
        """Predicted vs observed default rate by decile of probability, over decisions with an outcome."""
        frame = self._run(DECILES, MONTH if by_month else ALL_MONTHS)
        return _typed_periods(frame) if not frame.empty else frame

    def fairness_cells(self) -> pd.DataFrame:
        """Decisions per (attribute, group, granted, outcome): what fairness metrics weigh."""
        frame = self._run(FAIRNESS, ALL_MONTHS, age_band=_age_band_sql())
        if frame.empty:
            return frame
        frame["grp"] = frame["grp"].fillna("unknown").astype(str)
        return frame.astype({"granted": "int64", "n": "int64"})


def _typed_periods(frame: pd.DataFrame) -> pd.DataFrame:
    frame["version"] = frame["version"].astype(str)
    frame["period"] = pd.to_datetime(frame["period"], utc=True)
    numbers = [c for c in frame.columns if c not in ("version", "period")]
    frame[numbers] = frame[numbers].apply(pd.to_numeric, errors="coerce").astype("float64")
    return frame
