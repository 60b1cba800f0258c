"""Simulated history for the monitor: past days of decisions written through the journal and the ingest."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from credit_scoring.batch.chunks import ChunkScorer, score_chunk
from credit_scoring.batch.model import BatchModel
from credit_scoring.monitoring.window_profiles import WindowProfiler, merge_window_profiles
from credit_scoring.recording.ingest import Ingest
from credit_scoring.recording.journal import JournalWriter
from credit_scoring.recording.protocol import Answer, JournalEntry
from credit_scoring.recording.store import RecordStore
from credit_scoring.schema import TARGET_COLUMN
from credit_scoring_tools.simulation import BAD_KINDS, corrupt, drift_transform

DAY = timedelta(days=1)
ENDPOINT = "/score"
# Share of each hour's traffic in a day (UTC): a night trough, a late-morning peak, an evening shoulder.
HOURLY_WEIGHTS = np.array(
    [0.15 + math.exp(-(((h - 11) / 3.0) ** 2)) + 0.6 * math.exp(-(((h - 19) / 2.5) ** 2)) for h in range(24)]
)
LATENCY_MEDIAN_MS = 4.0
INFERENCE_MEDIAN_MS = 0.06
INCIDENT_HOURS = (14, 17)  # the latency incident's hours (UTC) on its day
INCIDENT_LATENCY_FACTOR = 8.0
INCIDENT_UNAVAILABLE_SHARE = 0.04  # answered 503 during the incident
BAD_SHARE = 0.01  # invalid requests every day (a partner's broken feed), refused with a 400
# History is profiled in 6-hour windows (4 profiles a day, not 288): a whylogs window costs a fixed share
# of a second to start, write and read, whatever its rows; ranges of a day or more still see several.
HISTORY_PROFILE_MINUTES = 360
GENERATE_CHUNK = 5000


@dataclass(frozen=True)
class BackfillPlan:
    """What history to write: ``days`` spans of 24 hours ending at ``end``, ``per_day`` records each."""

    days: int
    per_day: int
    end: datetime  # the end of the history (a whole hour, UTC)
    seed: int = 2026

    def day_starts(self) -> list[datetime]:
        return [self.end - (self.days - i) * DAY for i in range(self.days)]

    def drifted(self, day: datetime) -> bool:
        """The drift episode: the days from 30 % to 10 % of the history back (at least one day), so that
        "last 7 days" of a month of history shows it and the last day or two show the recovery."""
        ago = (self.end - day) // DAY
        first, last = max(1, round(self.days * 0.3)), max(1, round(self.days * 0.1))
        return last <= ago <= first

    def incident(self, day: datetime) -> bool:
        """The latency incident's day: half-way back (INCIDENT_HOURS on it)."""
        return (self.end - day) // DAY == max(1, round(self.days * 0.5))


def default_plan(days: int, per_day: int, now: datetime | None = None, seed: int = 2026) -> BackfillPlan:
    """History ending at the start of the current hour, so that every range of the monitor, the last hour
    included, opens on history (marked simulated, never mistaken for live traffic)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return BackfillPlan(days, per_day, moment.replace(minute=0, second=0, microsecond=0), seed)


def day_timestamps(day: datetime, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` sorted epoch seconds in ``day`` following the daily rhythm."""
    hours = rng.choice(24, size=count, p=HOURLY_WEIGHTS / HOURLY_WEIGHTS.sum())
    return np.sort(day.timestamp() + hours * 3600.0 + rng.uniform(0, 3600, count))


def latencies(
    timestamps: np.ndarray, incident: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-request latency and model inference time (ms); the incident slows requests, not the model."""
    latency = LATENCY_MEDIAN_MS * rng.lognormal(0.0, 0.35, len(timestamps))
    inference = INFERENCE_MEDIAN_MS * rng.lognormal(0.0, 0.2, len(timestamps))
    if incident:
        latency = np.where(incident_mask(timestamps), latency * INCIDENT_LATENCY_FACTOR, latency)
    return latency, inference


def incident_mask(timestamps: np.ndarray) -> np.ndarray:
    hour = (timestamps % 86400) // 3600
    return (hour >= INCIDENT_HOURS[0]) & (hour < INCIDENT_HOURS[1])


@dataclass(frozen=True)
class DayTraffic:
    """One simulated day: applications, their scores and timings, and which requests fail and how."""

    timestamps: np.ndarray
    bodies: list[bytes]  # the request bodies as the API received them (JSON; a few invalid ones)
    probability: np.ndarray  # NaN where the application was refused by validation
    decision: np.ndarray
    threshold: float
    latency_ms: np.ndarray
    inference_ms: np.ndarray
    status: np.ndarray
    # The @challenger's figures for the same applications (scored in shadow), when one is set.
    challenger: ChunkScorer | None = None
    challenger_probability: np.ndarray | None = None
    challenger_decision: np.ndarray | None = None


def _scores(frame: pd.DataFrame, scorer: ChunkScorer) -> pd.DataFrame:
    """Probability and decision per application (NaN where validation refuses it), by the batch path."""
    rows = len(frame)
    scored = score_chunk(frame, np.arange(rows), scorer).scores.to_pandas().set_index("row")
    return scored.reindex(pd.RangeIndex(rows))


def simulate_day(
    plan: BackfillPlan,
    day: datetime,
    model: BatchModel,
    scorer: ChunkScorer,
    challenger: ChunkScorer | None = None,
) -> DayTraffic:
    """Generate, transform (drift episode), score and time one day's applications; the challenger, when
    given, scores the same applications in shadow as the service would."""
    from credit_scoring.data.synthetic import generate_applications

    index = plan.day_starts().index(day)
    rng = np.random.default_rng([plan.seed, index])
    # By chunks: the generator's working memory grows with its rows (about 25 kB a row).
    seed = plan.seed * 1000 + index
    chunks = [generate_applications(min(GENERATE_CHUNK, plan.per_day - first), seed=seed + first)
              for first in range(0, plan.per_day, GENERATE_CHUNK)]  # fmt: skip
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    if plan.drifted(day):
        frame = drift_transform(frame, rng)
    timestamps = day_timestamps(day, plan.per_day, rng)
    scored = _scores(frame, scorer)
    shadow = _scores(frame, challenger) if challenger is not None else None
    latency, inference = latencies(timestamps, plan.incident(day), rng)
    status = np.where(scored["probability"].notna(), 200, 400)
    bad = np.where(rng.random(plan.per_day) < BAD_SHARE, rng.choice(BAD_KINDS, plan.per_day), "")
    status = np.where(bad != "", 400, status)
    if plan.incident(day):
        down = incident_mask(timestamps) & (rng.random(plan.per_day) < INCIDENT_UNAVAILABLE_SHARE)
        status = np.where(down & (status == 200), 503, status)
    return DayTraffic(
        timestamps,
        request_bodies(frame.drop(columns=[TARGET_COLUMN], errors="ignore"), bad),
        scored["probability"].to_numpy(),
        scored["decision"].to_numpy(),
        scorer.threshold,
        latency,
        inference,
        status,
        challenger,
        None if shadow is None else shadow["probability"].to_numpy(),
        None if shadow is None else shadow["decision"].to_numpy(),
    )


def day_entries(traffic: DayTraffic, model: BatchModel, rng: np.random.Generator) -> Iterator[JournalEntry]:
    """The journal entries the API would have appended for the day's requests (marked simulated)."""
    ids = rng.bytes(16 * len(traffic.timestamps)).hex()
    challenger = traffic.challenger.version if traffic.challenger is not None else None
    for i, moment in enumerate(traffic.timestamps):
        request_id, status = ids[32 * i : 32 * i + 32], int(traffic.status[i])
        answers: list[Answer] = []
        if status == 200:
            answers = [Answer(request_id, float(traffic.probability[i]), str(traffic.decision[i]),
                              traffic.threshold, float(traffic.inference_ms[i]),
                              *_shadow(traffic, i))]  # fmt: skip
        yield JournalEntry(
            ENDPOINT, model.name, model.version, status, _error_kind(status), float(traffic.latency_ms[i]),
            float(moment), request_id, answers, traffic.bodies[i], simulated=True,
            challenger_version=challenger,
        )  # fmt: skip


def _shadow(traffic: DayTraffic, i: int) -> tuple[float | None, str | None]:
    """The challenger's probability and decision of application ``i`` (None, None without a challenger)."""
    if traffic.challenger_probability is None or traffic.challenger_decision is None:
        return None, None
    return float(traffic.challenger_probability[i]), str(traffic.challenger_decision[i])


def _error_kind(status: int) -> str | None:
    return {400: "validation", 503: "unavailable"}.get(status)


def request_bodies(frame: pd.DataFrame, bad: np.ndarray, chunk: int = 2000) -> list[bytes]:
    """One JSON body per application (NaN as null), or a broken one of kind ``bad[i]``; built by chunks
    so that a day never holds all its rows as Python dicts at once."""
    bodies: list[bytes] = []
    for first in range(0, len(frame), chunk):
        rows = frame.iloc[first : first + chunk].to_dict("records")
        for offset, application in enumerate(rows):
            kind = str(bad[first + offset])
            bodies.append(corrupt(application, kind) if kind else orjson.dumps({"application": application}))
    return bodies


@dataclass
class BackfillResult:
    """What a backfill wrote, and how long each part took."""

    records: int = 0
    stored: int = 0
    simulate_s: float = 0.0
    journal_s: float = 0.0
    ingest_s: float = 0.0
    store_bytes: int = 0

    @property
    def total_s(self) -> float:
        return self.simulate_s + self.journal_s + self.ingest_s


Progress = Callable[[str], None]


@dataclass(frozen=True)
class BackfillTarget:
    """Where history goes: a journal folder of its own, the production store and the profile folder."""

    journal_dir: Path
    store: RecordStore
    profile_dir: Path
    key: bytes


def run_backfill(
    plan: BackfillPlan,
    model: BatchModel,
    target: BackfillTarget,
    progress: Progress,
    challenger: BatchModel | None = None,
) -> BackfillResult:
    """Day by day: simulate, append to the journal (past timestamps), ingest into the store and profiles.
    With a ``challenger``, every scored application also carries its figures, as shadow scoring stores
    them."""
    scorer = _chunk_scorer(model)
    shadow = _chunk_scorer(challenger) if challenger is not None else None
    writer = _writer(target.journal_dir).start()
    profiler = WindowProfiler(target.profile_dir, worker=f"backfill-{socket.gethostname()}",
                              window_minutes=HISTORY_PROFILE_MINUTES, buffer_rows=5000)  # fmt: skip
    ingest = Ingest(target.journal_dir, target.store, profiler, target.key, retention_s=0.0,
                    checkpoint_interval_s=3600.0, compact_min_parts=1 << 30)  # fmt: skip
    result = BackfillResult()
    try:
        for number, day in enumerate(plan.day_starts(), start=1):
            _one_day(plan, day, model, (scorer, shadow), writer, ingest, result)
            progress(_progress_line(number, plan, day, result))
    finally:
        writer.close()
        started = time.perf_counter()
        ingest.close()
        result.ingest_s += time.perf_counter() - started
    started = time.perf_counter()
    # The monitor's and the drift report's roll-ups of the history, made once here rather than by the
    # first reader of a long range.
    merge_window_profiles(target.profile_dir, plan.day_starts()[0], plan.end)
    result.ingest_s += time.perf_counter() - started
    return result


def _chunk_scorer(model: BatchModel) -> ChunkScorer:
    return ChunkScorer(model.scorer(1).predict_proba, model.threshold, model.version)


def _one_day(plan, day, model, scorers, writer, ingest, result: BackfillResult) -> None:
    started = time.perf_counter()
    traffic = simulate_day(plan, day, model, *scorers)
    entries = list(day_entries(traffic, model, np.random.default_rng([plan.seed, 7, day.toordinal()])))
    result.simulate_s += time.perf_counter() - started
    started = time.perf_counter()
    for entry in entries:
        writer.record(entry)
    result.journal_s += time.perf_counter() - started
    result.records += len(entries)
    started = time.perf_counter()
    result.stored += ingest.run_once(flush=True)
    result.ingest_s += time.perf_counter() - started


def _writer(journal_dir: Path) -> JournalWriter:
    return JournalWriter(journal_dir, segment_bytes=64 << 20, segment_age_s=3600.0, fsync_interval_s=5.0,
                         max_bytes=1 << 40, writer_id=f"backfill-{socket.gethostname()}")  # fmt: skip


def _progress_line(number: int, plan: BackfillPlan, day: datetime, result: BackfillResult) -> str:
    marks = [
        m for m, on in (("drift episode", plan.drifted(day)), ("latency incident", plan.incident(day))) if on
    ]
    note = f" ({', '.join(marks)})" if marks else ""
    return (
        f"day {number}/{plan.days} from {day:%Y-%m-%d %H:%M}{note}: {result.stored:,} of "
        f"{plan.days * plan.per_day:,} records stored, {result.total_s:.0f} s (simulate "
        f"{result.simulate_s:.0f}, journal {result.journal_s:.0f}, ingest {result.ingest_s:.0f})"
    )


def backfill_from_settings(days: int, per_day: int, seed: int, progress: Progress) -> BackfillResult:
    """Backfill the configured store and profiles with the @production model (a clear error without)."""
    from credit_scoring.batch.model import challenger_model, production_model
    from credit_scoring.recording.store import open_store
    from credit_scoring.settings import get_monitoring_settings, get_settings

    settings, monitoring = get_settings(), get_monitoring_settings()
    model = production_model(settings)  # NoProductionModelError says to run `make train promote`
    challenger = challenger_model(settings)
    store = open_store(monitoring)
    plan = default_plan(days, per_day, seed=seed)
    shadow = f", version {challenger.version} (@challenger) in shadow" if challenger else ""
    progress(
        f"backfilling {days} day(s) x {per_day:,} simulated records "
        f"({plan.day_starts()[0]:%Y-%m-%d %H:%M} to {plan.end:%Y-%m-%d %H:%M} UTC) with {model.name} "
        f"version {model.version}{shadow} into {store.location}"
    )
    target = BackfillTarget(monitoring.journal_path.parent / "backfill-journal", store,
                            monitoring.profiles_path, settings.pseudonymisation_secret)  # fmt: skip
    try:
        result = run_backfill(plan, model, target, progress, challenger)
    finally:
        store.close()
    result.store_bytes = _folder_bytes(monitoring.store_path) if not monitoring.request_store_url else 0
    return result


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet")) if folder.is_dir() else 0


def result_line(result: BackfillResult) -> str:
    per_record = (
        f", {result.store_bytes / max(1, result.stored):.0f} bytes per record" if result.store_bytes else ""
    )
    return (
        f"done: {result.stored:,} simulated records stored in {result.total_s:.1f} s "
        f"({result.stored / max(result.total_s, 1e-9):,.0f} records/s; simulate {result.simulate_s:.1f} s, "
        f"journal {result.journal_s:.1f} s, ingest {result.ingest_s:.1f} s){per_record}"
    )
