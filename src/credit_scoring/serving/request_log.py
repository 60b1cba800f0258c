"""Production-data recording of the API: each request's record journaled before the request is answered.

An ASGI middleware holds each API response until the request's journal entry is appended (one unbuffered
write, a few µs); only then does the answer go out, with its record id in ``X-Request-ID``. A decision
that cannot be recorded is refused with a 503 (``CREDIT_JOURNAL_FAILURE_POLICY=refuse``, the default) or
answered and counted (``count``). The worker does no JSON work for a record: it journals the raw body (an
answered batch: its validated inputs as columns) and the answer's figures; its ingest process validates,
pseudonymises, stores and profiles them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from credit_scoring.batch_validation import ApplicationBatch
from credit_scoring.monitoring.logs import configure_json_logging
from credit_scoring.recording.ingest import read_status
from credit_scoring.recording.journal import JournalUnavailable, JournalWriter, default_writer_id, journal_lag
from credit_scoring.recording.protocol import (
    Answer,
    BodyFormat,
    JournalEntry,
    encode_batch_inputs,
    new_request_id,
)
from credit_scoring.recording.supervisor import IngestSupervisor
from credit_scoring.serving.guards import KIB, send_json
from credit_scoring.serving.shadow import Shadow, ShadowScores
from credit_scoring.settings import MonitoringSettings, Settings

logger = logging.getLogger(__name__)

ASGIApp = Callable[..., Any]
# Route -> endpoint name stored in the records (the names the monitor and the simulator use).
API_ENDPOINTS: Mapping[str, str] = {"/score": "score", "/score_batch": "score_batch", "/explain": "explain"}
BATCH_ENDPOINT = "score_batch"
HEALTH_PATH = "/monitoring/health"
REQUEST_ID_HEADER = b"x-request-id"
# A rejected single-application body is kept for its inputs only up to this size (a valid one is ~3.5 KiB).
MAX_KEPT_BODY = 64 * KIB
SERVICE_LOGGERS = ("bentoml", "uvicorn.error", "circus")
PROJECT_LOGGER = "credit_scoring"


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return (time.perf_counter() - started) * 1e3


def error_kind(status: int) -> str | None:
    """The record's error kind for an HTTP status (None for a success)."""
    if status < 400:
        return None
    if status in (401, 403):
        return "auth"
    if status == 413:
        return "too_large"
    if status in (429, 499, 503, 504):
        return "unavailable"
    return "validation" if status < 500 else "internal"


class Exchange:
    """One API request seen by the middleware: start, body kept, the response held until recorded."""

    __slots__ = ("answer", "applications", "endpoint", "held", "inference_ms", "recorded", "request_chunks",
                 "request_size", "shadow", "started", "status")  # fmt: skip

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.started = time.perf_counter()
        self.status: int | None = None
        self.request_chunks: list[bytes] = []
        self.request_size = 0
        self.held: list[dict] = []
        self.answer: Any = None  # a single application's answer, noted by the API method
        self.inference_ms: float | None = None
        self.shadow: ShadowScores | None = None  # the challenger's figures for the same applications
        self.applications: ApplicationBatch | None = None  # an answered batch's validated inputs
        self.recorded = False

    def keep_request(self, message: Mapping[str, Any]) -> None:
        body = message.get("body", b"")
        self.request_size += len(body)
        # A batch is journaled as its validated inputs (answered) or without them (refused): body not kept.
        if self.request_size <= MAX_KEPT_BODY and self.endpoint != BATCH_ENDPOINT:
            self.request_chunks.append(body)

    def hold(self, message: dict) -> bool:
        """Keep a response message; False once the response is complete (time to record and send)."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] != "http.response.body":
            return True
        self.held.append(message)
        return message["type"] == "http.response.start" or message.get("more_body", False)

    def request_body(self) -> bytes | None:
        """The request body, or None when unread or too large to have been kept."""
        if not self.request_chunks or sum(map(len, self.request_chunks)) != self.request_size:
            return None
        return self.request_chunks[0] if len(self.request_chunks) == 1 else b"".join(self.request_chunks)

    def released(self, request_id: str) -> list[dict]:
        """The held messages, the start naming the record (support and audit find it by this id)."""
        start, *body = self.held
        headers = [*start.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
        return [start | {"headers": headers}, *body]


_exchange: ContextVar[Exchange | None] = ContextVar("credit_scoring_exchange", default=None)


def note_scored(answer: Any, inference_ms: float, shadow: ShadowScores | None = None) -> None:
    """Hand a single-application answer (/score, /explain), and the challenger's figures for it, to the
    request's middleware; no-op outside one.

    The method runs in the request's own task, so the middleware's exchange is in its context.
    """
    exchange = _exchange.get()
    if exchange is not None:
        exchange.answer, exchange.inference_ms, exchange.shadow = answer, inference_ms, shadow


def note_scored_batch(
    answers: Any,
    inference_ms: float,
    shadow: ShadowScores | None = None,
    applications: ApplicationBatch | None = None,
) -> None:
    """Hand a batch's ``BatchAnswers``, the challenger's figures and the validated ``ApplicationBatch`` to
    the request's middleware (/score_batch); no-op outside one.

    The batch is scored in the request's own task (no adaptive batching merges requests), as /score is.
    """
    exchange = _exchange.get()
    if exchange is not None:
        exchange.answer, exchange.inference_ms, exchange.shadow = answers, inference_ms, shadow
        exchange.applications = applications


def _unavailable(why: str) -> list[dict]:
    body = json.dumps({"error": f"decision log unavailable: {why}"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [{"type": "http.response.start", "status": 503, "headers": headers},
            {"type": "http.response.body", "body": body, "more_body": False}]  # fmt: skip


class RequestLog:
    """Journals one entry per request for this worker; ``journal`` None means monitoring is off."""

    def __init__(
        self,
        journal: JournalWriter | None,
        ingest: IngestSupervisor | None,
        model_name: str,
        model_version: str,
        settings: MonitoringSettings | None = None,
        shadow: Shadow | None = None,
    ) -> None:
        self.journal, self.ingest, self.settings = journal, ingest, settings
        self.model_name, self.model_version = model_name, model_version
        self.shadow = shadow

    @classmethod
    def open(
        cls, scorer: Any, monitoring: MonitoringSettings, settings: Settings, shadow: Shadow | None = None
    ) -> RequestLog:
        """Journal and ingest process started, or neither with ``CREDIT_MONITORING_ENABLED=false``."""
        if not monitoring.monitoring_enabled:
            return cls(None, None, scorer.name, scorer.version, shadow=shadow)
        writer_id = default_writer_id()
        journal = JournalWriter.from_settings(monitoring, writer_id).start()
        ingest = IngestSupervisor(monitoring, settings.pseudonymisation_secret, writer_id).start()
        return cls(journal, ingest, scorer.name, scorer.version, monitoring, shadow)

    @property
    def enabled(self) -> bool:
        return self.journal is not None

    def refusing(self) -> bool:
        """Whether to answer 503 at once: the journal failed a moment ago and the policy is to refuse."""
        return self.journal is not None and self.journal.refusing()

    def refuse_unrecordable(self) -> list[dict]:
        self.journal.refused += 1  # type: ignore[union-attr]
        return _unavailable(self.journal.stats().error or "journal unavailable")  # type: ignore[union-attr]

    def release(self, exchange: Exchange) -> list[dict]:
        """Journal the exchange's entry; the messages to send: the held answer, or a 503 when a decision
        could not be recorded and the policy is to refuse."""
        status = exchange.status or 500
        exchange.recorded = True
        try:
            entry = self.entry(exchange, status, elapsed_ms(exchange.started))
        except Exception as error:  # a record that cannot be built (a bug): never an unrecorded decision
            logger.exception("could not build the request's record", extra={"endpoint": exchange.endpoint})
            return self._unrecorded(exchange, status, f"record not built ({type(error).__name__})", None)
        try:
            self.journal.record(entry)  # type: ignore[union-attr]
        except JournalUnavailable as error:
            return self._unrecorded(exchange, status, str(error), entry.request_id)
        return exchange.released(entry.request_id)

    def _unrecorded(self, exchange: Exchange, status: int, why: str, request_id: str | None) -> list[dict]:
        """A 503 instead of a decision that has no record (policy refuse), else the answer, counted."""
        if status < 400 and self.journal.policy == "refuse":  # type: ignore[union-attr]
            self.journal.refused += 1  # type: ignore[union-attr]
            return _unavailable(why)
        self.journal.unrecorded += 1  # type: ignore[union-attr]
        return exchange.released(request_id or new_request_id())

    def record_unanswered(self, exchange: Exchange, status: int) -> None:
        """Journal a request that ended without an answer (client gone, timeout, crash); never raises."""
        exchange.recorded = True
        try:
            self.journal.record(self.entry(exchange, status, elapsed_ms(exchange.started)))  # type: ignore[union-attr]
        except JournalUnavailable:
            self.journal.unrecorded += 1  # type: ignore[union-attr]
        except Exception:
            logger.exception("could not record the request", extra={"endpoint": exchange.endpoint})

    def entry(self, exchange: Exchange, status: int, latency_ms: float) -> JournalEntry:
        """The journal entry of a request: its answers' figures and its body as received."""
        answers = self._answers(exchange) if error_kind(status) is None else []
        single = exchange.endpoint != BATCH_ENDPOINT and len(answers) == 1
        body, body_format = self._body(exchange, answers)
        shadow = exchange.shadow.version if exchange.shadow is not None and answers else None
        return JournalEntry(
            exchange.endpoint, self.model_name, self.model_version, status, error_kind(status), latency_ms,
            time.time(), answers[0].request_id if single else new_request_id(), answers, body, False, shadow,
            body_format,
        )  # fmt: skip

    @staticmethod
    def _body(exchange: Exchange, answers: list[Answer]) -> tuple[bytes | None, BodyFormat]:
        """What the entry keeps of the request: an answered batch's validated inputs (a third of its JSON,
        read by the ingest without parsing), no batch body otherwise, else the body as received."""
        if exchange.endpoint != BATCH_ENDPOINT:
            return exchange.request_body(), "json"
        batch = exchange.applications
        if not answers or batch is None:
            return None, "json"
        return encode_batch_inputs(batch.encoded, batch.client_references), "columns"

    def _answers(self, exchange: Exchange) -> list[Answer]:
        shadow = exchange.shadow
        if exchange.endpoint != BATCH_ENDPOINT:
            a = exchange.answer
            if a is None:
                return []
            theirs = (shadow.probabilities[0], shadow.decisions[0]) if shadow is not None else (None, None)
            return [Answer(a.request_id, a.probability, a.decision, a.threshold, exchange.inference_ms,
                           *theirs)]  # fmt: skip
        batch, took = exchange.answer, exchange.inference_ms
        if batch is None:
            return []
        figures = zip(batch.request_ids, batch.probabilities, batch.decisions, strict=True)
        if shadow is None:
            return [Answer(rid, p, decision, batch.threshold, took) for rid, p, decision in figures]
        theirs = zip(shadow.probabilities, shadow.decisions, strict=True)
        return [Answer(rid, p, decision, batch.threshold, took, cp, cd)
                for (rid, p, decision), (cp, cd) in zip(figures, theirs, strict=True)]  # fmt: skip

    def health(self) -> dict[str, Any]:
        """This worker's journal, the host's journal lag and ingest (JSON of GET /monitoring/health)."""
        if self.journal is None or self.settings is None:
            return {"enabled": False, "pid": os.getpid(), "shadow": self._shadow_health()}
        writer, lag = self.journal.stats(), journal_lag(self.settings.journal_path)
        supervisor = self.ingest
        ingest = read_status(self.settings.journal_path) | {
            "process_running": supervisor.running,  # type: ignore[union-attr]
            "process_restarts": supervisor.restarts,  # type: ignore[union-attr]
        }
        return {"enabled": True, "pid": os.getpid(), "journal": writer.as_dict(), "lag": lag.as_dict(),
                "ingest": ingest, "alerts": self.alerts(writer.as_dict(), lag.lag_seconds),
                "shadow": self._shadow_health()}  # fmt: skip

    def _shadow_health(self) -> dict[str, Any] | None:
        """The challenger's shadow figures of this worker (None: no shadow scoring set up)."""
        return self.shadow.health() if self.shadow is not None else None

    def alerts(self, writer: Mapping[str, Any], lag_seconds: float) -> list[str]:
        """Why the recording needs a look, one sentence each."""
        reasons = [] if writer["available"] else [f"decision log unavailable: {writer['error']}"]
        if writer["unrecorded"]:
            reasons.append(f"{writer['unrecorded']} answered request(s) without a record (policy count)")
        if writer["refused"]:
            reasons.append(f"{writer['refused']} decision(s) refused: the journal could not record them")
        limit = self.settings.journal_lag_alert_s  # type: ignore[union-attr]
        if lag_seconds > limit:
            reasons.append(f"journal lag {lag_seconds:.0f} s > {limit:.0f} s: the ingest is behind")
        return reasons

    def close(self, timeout: float = 30.0) -> bool:
        """Seal this worker's journal, then let its ingest process store what is left; True when done."""
        if self.journal is None:
            return True
        self.journal.close()
        return self.ingest.close(timeout)  # type: ignore[union-attr]


def current_request_log() -> RequestLog | None:
    """The request log of this worker's service instance (None before start-up or without one)."""
    import bentoml

    try:
        service = bentoml.get_current_service()
    except Exception:  # not instantiated yet, or already shut down
        return None
    return getattr(service, "request_log", None)


class RequestLogMiddleware:
    """Outermost ASGI layer of the API routes: journals each request before its answer leaves.

    Being outermost it sees every answer, including the 401, 413 and 4xx produced by the guards and by
    BentoML's validation; the API methods add the scores (``note_scored``, ``note_scored_batch``).
    It also answers GET /monitoring/health (open, like the probes: no client data).
    """

    def __init__(self, app: ASGIApp, request_log: Callable[[], RequestLog | None] = current_request_log):
        self.app = app
        self.request_log = request_log
        self._found: RequestLog | None = None

    def _log(self) -> RequestLog | None:
        # The service instance, hence its log, lives as long as the worker: found once, not per request.
        if self._found is None:
            self._found = self.request_log()
        return self._found

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        endpoint = API_ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
        log = self._log() if endpoint is not None else None
        if log is None or not log.enabled:
            if scope["type"] == "http" and scope["path"] == HEALTH_PATH and scope["method"] == "GET":
                return await self._health(send)
            return await self.app(scope, receive, send)
        if log.refusing():  # no decision without its record: refused before any scoring
            for message in log.refuse_unrecordable():
                await send(message)
            return
        await self._recorded(log, Exchange(endpoint), scope, receive, send)  # type: ignore[arg-type]

    async def _recorded(self, log: RequestLog, exchange: Exchange, scope: dict, receive, send) -> None:
        token = _exchange.set(exchange)

        async def receive_kept() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                exchange.keep_request(message)
            return message

        async def send_held(message: dict) -> None:
            if exchange.hold(message):
                return
            for released in log.release(exchange):
                await send(released)

        status = None
        try:
            await self.app(scope, receive_kept, send_held)
        except asyncio.CancelledError:
            status = 504  # BentoML's timeout cancelled the request before it answered
            raise
        except Exception:
            status = 500
            raise
        finally:
            _exchange.reset(token)
            if not exchange.recorded:  # no answer: the client went away, or the request failed
                log.record_unanswered(exchange, status or 499)

    async def _health(self, send: Callable) -> None:
        log = self._log()
        health = log.health() if log is not None else {"enabled": False, "pid": os.getpid()}
        await send_json(send, 200, health)


class _CurrentStdout:
    """Writes to the current ``sys.stdout`` (test runners swap it: a handler must not keep the old one)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def json_service_logs(level: int = logging.INFO, loggers: Iterable[str] = SERVICE_LOGGERS) -> None:
    """Make this process's logs JSON lines on stdout: ours at ``level``, BentoML's and uvicorn's instead of
    their text. The root keeps its level: uvicorn's per-request access lines stay off (they cost more than
    scoring; the request log records every request anyway)."""
    root = logging.getLogger()
    handler = configure_json_logging(root.level, stream=_CurrentStdout())  # type: ignore[arg-type]
    for other in list(root.handlers):
        if other is not handler and type(other) is logging.StreamHandler and other.stream is sys.stdout:
            root.removeHandler(other)  # BentoML's text handler would print every line a second time
    for name in loggers:
        service_logger = logging.getLogger(name)
        service_logger.handlers.clear()
        service_logger.propagate = True
    logging.getLogger(PROJECT_LOGGER).setLevel(level)
