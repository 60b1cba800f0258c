"""Simulated API traffic for the monitor: scenario transforms, request plans and an open-loop replayer."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd

from credit_scoring.schema import APPLICATION_COLUMNS, MAX_AGE_DAYS, TARGET_COLUMN

SCENARIOS: tuple[str, ...] = ("normal", "drift", "bad-inputs", "burst")
VALID = "valid"
BAD_KINDS: tuple[str, ...] = (
    "negative_income",
    "text_in_number",
    "unknown_level",
    "missing_field",
    "not_json",
)
NO_ANSWER = 0  # status recorded when the server never answered (refused connection, timeout)

INCOME_FACTOR = 1.3
MISSING_FACTOR = 2.0
OLDER_SHARE = 0.4  # share of applications that come from the new, older population
OLDER_AGE_YEARS = (62.0, 85.0)
BAD_SHARE = 0.2
BURST_FACTOR = 10.0  # rate multiplier during the spike
BURST_SHARE = 0.1  # share of the duration the spike lasts (at least one second)
BURST_START = 0.4  # when the spike begins, as a share of the duration
DAYS_PER_YEAR = 365.25
PERCENTILES = (50, 95, 99)


# --- scenario transforms (valid rows stay valid: every value is clipped to its schema range) ---------


def clip_to_schema(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns clipped to their schema range (special values such as 365243 kept), ints rounded."""
    out = frame.copy()
    for spec in APPLICATION_COLUMNS:
        if spec.kind == "category" or spec.name not in out:
            continue
        values = out[spec.name].astype("float64")
        clipped = values.clip(spec.minimum, spec.maximum).where(~values.isin(spec.special_values), values)
        if spec.kind == "int":
            clipped = clipped.round()
        integer = out[spec.name].dtype.kind == "i"
        out[spec.name] = clipped.astype(out[spec.name].dtype) if integer else clipped
    return out


def inflate_incomes(frame: pd.DataFrame, factor: float = INCOME_FACTOR) -> pd.DataFrame:
    """Every declared income multiplied by ``factor`` (e.g. inflation, or a new, richer channel)."""
    return frame.assign(AMT_INCOME_TOTAL=frame["AMT_INCOME_TOTAL"] * factor)


def hide_more(
    frame: pd.DataFrame, column: str, rng: np.random.Generator, factor: float = MISSING_FACTOR
) -> pd.DataFrame:
    """``column`` missing ``factor`` times as often (a partner stopped sending it for some clients)."""
    present = frame[column].notna()
    # Hiding p more of the present values turns a missing share m into m + p(1 - m); p solves that = factor m.
    extra = (factor - 1) * (~present).mean() / present.mean() if present.any() else 0.0
    hidden = present & (rng.random(len(frame)) < min(1.0, extra))
    return frame.assign(**{column: frame[column].mask(hidden)})


def add_older_population(
    frame: pd.DataFrame,
    rng: np.random.Generator,
    share: float = OLDER_SHARE,
    ages: tuple[float, float] = OLDER_AGE_YEARS,
) -> pd.DataFrame:
    """A ``share`` of the applications replaced by older applicants (ages drawn in ``ages`` years)."""
    chosen = rng.random(len(frame)) < share
    years = rng.uniform(ages[0], ages[1], int(chosen.sum()))
    days_birth = frame["DAYS_BIRTH"].to_numpy(copy=True)
    days_birth[chosen] = -np.round(years * DAYS_PER_YEAR).astype(days_birth.dtype)
    return frame.assign(DAYS_BIRTH=np.maximum(days_birth, -MAX_AGE_DAYS))


def drift_transform(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The drift scenario: incomes +30 %, EXT_SOURCE_3 missing twice as often, an older population."""
    drifted = add_older_population(hide_more(inflate_incomes(frame), "EXT_SOURCE_3", rng), rng)
    return clip_to_schema(drifted)


# --- request bodies --------------------------------------------------------------------------------


def application_payloads(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One JSON-ready application per row (client id kept as the reference, TARGET dropped, NaN as null)."""
    table = frame.drop(columns=[TARGET_COLUMN], errors="ignore")
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]


def _first_category(application: Mapping[str, Any]) -> str:
    return next(s.name for s in APPLICATION_COLUMNS if s.kind == "category" and s.name in application)


def corrupt(application: Mapping[str, Any], kind: str) -> bytes:
    """A request body that the API must refuse with a 4xx, of the given kind of mistake."""
    if kind == "not_json":
        return b'{"application": {"AMT_INCOME_TOTAL": 150000,'  # cut short, as by a broken client
    broken = dict(application)
    if kind == "negative_income":
        broken["AMT_INCOME_TOTAL"] = -abs(float(broken.get("AMT_INCOME_TOTAL") or 1.0))
    elif kind == "text_in_number":
        broken["AMT_CREDIT"] = "two hundred thousand"
    elif kind == "unknown_level":
        broken[_first_category(broken)] = "Not a known level"
    elif kind == "missing_field":
        broken.pop("AMT_CREDIT", None)
    else:
        raise ValueError(f"unknown kind of bad input {kind!r}; expected one of {BAD_KINDS}")
    return json.dumps({"application": broken}).encode()


def valid_body(application: Mapping[str, Any]) -> bytes:
    return json.dumps({"application": dict(application)}, allow_nan=False).encode()


# --- timing and plans ------------------------------------------------------------------------------


def send_offsets(scenario: str, rate: float, duration: float) -> np.ndarray:
    """Seconds after the start at which each request leaves: evenly spaced, plus the spike of a burst."""
    _check_scenario(scenario)
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    base = np.arange(0.0, duration, 1.0 / rate)
    if scenario != "burst":
        return base
    spike_start = BURST_START * duration
    spike_length = min(max(1.0, BURST_SHARE * duration), duration - spike_start)
    extra = np.arange(spike_start, spike_start + spike_length, 1.0 / (rate * (BURST_FACTOR - 1)))
    return np.sort(np.concatenate([base, extra]))


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a simulation: when it leaves, its body, and whether it is valid (or how it is not)."""

    at: float
    body: bytes
    kind: str = VALID


def _check_scenario(scenario: str) -> None:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")


def scenario_frame(frame: pd.DataFrame, scenario: str, rng: np.random.Generator) -> pd.DataFrame:
    """The applications a scenario replays: drifted for ``drift``, unchanged otherwise."""
    _check_scenario(scenario)
    return drift_transform(frame, rng) if scenario == "drift" else frame


def plan_requests(
    frame: pd.DataFrame,
    scenario: str,
    rate: float,
    duration: float,
    seed: int = 0,
    bad_share: float = BAD_SHARE,
) -> list[PlannedRequest]:
    """The whole simulation, decided up front (same seed, same requests): rows are replayed in a loop."""
    rng = np.random.default_rng(seed)
    offsets = send_offsets(scenario, rate, duration)
    payloads = application_payloads(scenario_frame(frame, scenario, rng))
    if not payloads:
        raise ValueError("no applications to replay")
    kinds = _request_kinds(len(offsets), scenario, bad_share, rng)
    return [
        PlannedRequest(float(at), _body(payloads[i % len(payloads)], kind), kind)
        for i, (at, kind) in enumerate(zip(offsets, kinds, strict=True))
    ]


def _request_kinds(count: int, scenario: str, bad_share: float, rng: np.random.Generator) -> list[str]:
    if scenario != "bad-inputs":
        return [VALID] * count
    bad = rng.random(count) < bad_share
    drawn = rng.choice(np.asarray(BAD_KINDS, dtype=object), count)
    return [str(kind) if is_bad else VALID for is_bad, kind in zip(bad, drawn, strict=True)]


def _body(application: Mapping[str, Any], kind: str) -> bytes:
    return valid_body(application) if kind == VALID else corrupt(application, kind)


# --- replay and summary ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one request: its kind, the HTTP status (0 = no answer) and the client's latency."""

    kind: str
    status: int
    latency_ms: float
    late_ms: float = 0.0


@dataclass(frozen=True)
class Summary:
    """The simulation's result as the client saw it."""

    planned: int
    sent: int
    elapsed_s: float
    by_status: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    latency_ms: dict[str, float]
    late: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else float("nan")


def status_label(status: int) -> str:
    return "no answer" if status == NO_ANSWER else str(status)


def summarise(
    outcomes: Sequence[Outcome], elapsed_s: float, planned: int, late_after_ms: float = 100.0
) -> Summary:
    """Counts by status and by kind of request, latency percentiles, and requests that left late."""
    latencies = np.asarray([o.latency_ms for o in outcomes if o.status != NO_ANSWER], dtype=float)
    percent = {
        f"p{p}": float(np.percentile(latencies, p)) if latencies.size else math.nan for p in PERCENTILES
    }
    by_kind: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        by_kind.setdefault(outcome.kind, Counter())[status_label(outcome.status)] += 1
    statuses = Counter(status_label(o.status) for o in outcomes)
    return Summary(
        planned=planned,
        sent=len(outcomes),
        elapsed_s=elapsed_s,
        by_status=dict(sorted(statuses.items())),
        by_kind={kind: dict(sorted(c.items())) for kind, c in sorted(by_kind.items())},
        latency_ms=percent,
        late=sum(1 for o in outcomes if o.late_ms > late_after_ms),
        notes=_notes(by_kind),
    )


def _notes(by_kind: Mapping[str, Counter[str]]) -> list[str]:
    """What a reader should notice: valid requests refused, bad ones accepted, answers missing."""
    notes = []
    valid = by_kind.get(VALID, Counter())
    refused = sum(n for status, n in valid.items() if status != "200")
    if refused:
        notes.append(f"{refused} valid request(s) did not get a 200: look at the API's log")
    if valid.get("401"):
        notes.append("401 Unauthorized: the API wants a key; export CREDIT_API_KEY before simulating")
    for kind, counts in by_kind.items():
        if kind != VALID and counts.get("200"):
            mistake = kind.replace("_", " ")
            notes.append(f"{counts['200']} request(s) with {mistake} were accepted (expected 4xx)")
    return notes


def format_summary(summary: Summary) -> str:
    """The summary as a few readable lines."""
    latency = ", ".join(f"{name} {value:.1f} ms" for name, value in summary.latency_ms.items())
    lines = [
        f"sent {summary.sent} of {summary.planned} planned requests in {summary.elapsed_s:.1f} s "
        f"({summary.rate:.1f}/s); {summary.late} left more than 100 ms late",
        "by status: " + ", ".join(f"{status}: {n}" for status, n in summary.by_status.items()),
        f"latency (client side): {latency}",
    ]
    lines += [
        f"  {kind}: " + ", ".join(f"{status}: {n}" for status, n in counts.items())
        for kind, counts in summary.by_kind.items()
    ]
    return "\n".join(lines + [f"note: {note}" for note in summary.notes])


Progress = Callable[[float, list[Outcome], int], None]


async def _send(
    client: httpx.AsyncClient, url: str, request: PlannedRequest, late_ms: float, outcomes: list[Outcome]
) -> None:
    started = time.perf_counter()
    try:
        response = await client.post(url, content=request.body)
        status = response.status_code
    except httpx.HTTPError:
        status = NO_ANSWER
    outcomes.append(Outcome(request.kind, status, (time.perf_counter() - started) * 1e3, late_ms))


async def _report_progress(
    started: float, outcomes: list[Outcome], sent: list[int], progress: Progress, every_s: float
) -> None:
    while True:
        await asyncio.sleep(every_s)
        progress(time.perf_counter() - started, outcomes, sent[0])


async def replay(
    plan: Sequence[PlannedRequest],
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    timeout_s: float = 10.0,
    max_connections: int = 100,
    progress: Progress | None = None,
    progress_every_s: float = 1.0,
) -> tuple[list[Outcome], float]:
    """Send the plan open loop (each request leaves at its time, whether or not earlier ones answered)."""
    outcomes: list[Outcome] = []
    sent = [0]
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    async with httpx.AsyncClient(headers=all_headers, limits=limits, timeout=timeout_s) as client:
        started = time.perf_counter()
        reporter = None
        if progress is not None:
            watch = _report_progress(started, outcomes, sent, progress, progress_every_s)
            reporter = asyncio.create_task(watch)
        tasks = []
        for request in plan:
            delay = started + request.at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            late_ms = max(0.0, (time.perf_counter() - started - request.at) * 1e3)
            tasks.append(asyncio.create_task(_send(client, url, request, late_ms, outcomes)))
            sent[0] += 1
        await asyncio.gather(*tasks)
        if reporter is not None:
            reporter.cancel()
        elapsed = time.perf_counter() - started
    return outcomes, elapsed


def simulate(
    plan: Sequence[PlannedRequest],
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    timeout_s: float = 10.0,
    progress: Progress | None = None,
) -> Summary:
    """Replay the plan against ``url`` and summarise what came back."""
    outcomes, elapsed = asyncio.run(replay(plan, url, headers, timeout_s=timeout_s, progress=progress))
    return summarise(outcomes, elapsed, len(plan))


def progress_line(elapsed_s: float, outcomes: Sequence[Outcome], sent: int) -> str:
    """One progress line: time, sent, answered by status class."""
    classes = Counter("no answer" if o.status == NO_ANSWER else f"{o.status // 100}xx" for o in outcomes)
    counts = ", ".join(f"{name} {n}" for name, n in sorted(classes.items()))
    return f"[{elapsed_s:5.1f} s] sent {sent}, answered {len(outcomes)}" + (f" ({counts})" if counts else "")
