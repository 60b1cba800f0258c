"""Champion vs challenger aggregates as SQL that DuckDB (over Parquet) and PostgreSQL both run.

The rows read are the scored decisions of a range that the @challenger also scored in shadow, joined to their
current outcome. Per champion/challenger version pair (and day), the queries return counts and sums only:
agreement, score shift and its quantiles, the CBPE sums of each model and, once outcomes are loaded, each
model's realized errors. ``credit_scoring.monitoring.challenger`` turns them into figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from credit_scoring.monitoring.challenger import SHIFT_BIN_WIDTH, SHIFT_BINS_EACH_SIDE
from credit_scoring.recording.performance_queries import NO_OUTCOMES, StorePerformance, _range

DAY = "date_trunc('day', ts)"
ALL_DAYS = "CAST(NULL AS TIMESTAMP)"

# p: the champion's probability, q: the challenger's; granted / c_granted: each one's decision.
SHADOWED = """
SELECT d.model_version AS champion_version, d.challenger_version AS challenger_version, d."timestamp" AS ts,
       d.probability AS p, d.challenger_probability AS q, o.target AS y,
       CASE WHEN d.decision = 'grant' THEN 1 ELSE 0 END AS granted,
       CASE WHEN d.challenger_decision = 'grant' THEN 1 ELSE 0 END AS c_granted
FROM {records} AS d LEFT JOIN {outcomes} AS o ON o.request_id = d.request_id AND o.item = d.item
WHERE d.status < 400 AND d.probability IS NOT NULL AND d.decision IN ('grant', 'refuse')
  AND d.challenger_version IS NOT NULL AND d.challenger_probability IS NOT NULL
  AND d.challenger_decision IN ('grant', 'refuse') {range}"""
PAIRS = """WITH pairs AS (SELECT champion_version, challenger_version, {period} AS period, ts, p, q, y,
                                 granted, c_granted FROM {base})"""


def _model_sums(prefix: str, probability: str, granted: str) -> str:
    """One model's CBPE sums over every decision and its realized errors over the labelled ones."""
    return f"""
       sum({granted} * {probability}) AS {prefix}_expected_defaults,
       sum((1 - {granted}) * (1 - {probability})) AS {prefix}_expected_good_refused,
       sum({granted} * {probability} * (1 - {probability})) AS {prefix}_variance_granted,
       sum((1 - {granted}) * {probability} * (1 - {probability})) AS {prefix}_variance_refused,
       sum({granted}) AS {prefix}_granted, avg({probability}) AS {prefix}_mean_probability,
       sum({granted} * y) AS {prefix}_defaults_granted,
       sum((1 - {granted}) * (1 - y)) AS {prefix}_good_refused"""


def _shift_quantile(q: float) -> str:
    return f"percentile_cont({q}) WITHIN GROUP (ORDER BY q - p) AS shift_q{round(q * 100):02d}"


SHIFT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SUMS = f"""
SELECT champion_version, challenger_version, period, count(*) AS decisions, count(y) AS outcomes,
       sum(CASE WHEN granted = c_granted THEN 1 ELSE 0 END) AS agreed,
       avg(q - p) AS mean_shift, avg(abs(q - p)) AS mean_abs_shift,
       {", ".join(_shift_quantile(q) for q in SHIFT_QUANTILES)},
       min(ts) AS first, max(ts) AS last, {_model_sums("champion", "p", "granted")},
       {_model_sums("challenger", "q", "c_granted")}
FROM pairs GROUP BY champion_version, challenger_version, period"""
SHIFT_HISTOGRAM = f"""
SELECT champion_version, challenger_version,
       least(greatest(CAST(floor((q - p) / {SHIFT_BIN_WIDTH!r}) AS INTEGER), {-SHIFT_BINS_EACH_SIDE}),
             {SHIFT_BINS_EACH_SIDE - 1}) AS bin, count(*) AS n
FROM pairs GROUP BY 1, 2, 3"""


@dataclass
class StoreChallenger(StorePerformance):
    """The champion/challenger aggregates of the shadow-scored decisions of ``[start, end)`` in a store
    (the same engines and plumbing as the performance queries, another base relation)."""

    def _joined_sql(self) -> str | None:
        records, outcomes = self._relations()
        if records is None:
            return None
        return SHADOWED.format(
            records=records, outcomes=outcomes or NO_OUTCOMES, range=_range(self.start, self.end)
        )

    def _pairs(self, body: str, period: str) -> pd.DataFrame:
        base = self._base()
        if base is None:
            return pd.DataFrame()
        return self._execute(PAIRS.format(period=period, base=base) + body)

    def pair_sums(self, by_day: bool) -> pd.DataFrame:
        """Per champion/challenger version pair (and UTC day): counts, shift quantiles, each model's sums."""
        frame = self._pairs(SUMS, DAY if by_day else ALL_DAYS)
        return _typed(frame, ("first", "last")) if not frame.empty else frame

    def shift_histogram(self) -> pd.DataFrame:
        """Decisions per bin of challenger - champion probability, per version pair."""
        frame = self._pairs(SHIFT_HISTOGRAM, ALL_DAYS)
        return _typed(frame, ()) if not frame.empty else frame


def _typed(frame: pd.DataFrame, moments: tuple[str, ...]) -> pd.DataFrame:
    labels = ("champion_version", "challenger_version")
    frame[list(labels)] = frame[list(labels)].astype(str)
    for name in ("period", *moments):
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], utc=True)
    numbers = [c for c in frame.columns if c not in (*labels, "period", *moments)]
    frame[numbers] = frame[numbers].apply(pd.to_numeric, errors="coerce").astype("float64")
    return frame
