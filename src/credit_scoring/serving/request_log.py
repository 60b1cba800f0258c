"""Production-data logging of the API: one RequestRecord per request, submitted by an ASGI middleware."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from credit_scoring.monitoring.config import MonitoringSettings
from credit_scoring.monitoring.logger_process import ProcessRequestLogger
from credit_scoring.monitoring.logs import configure_json_logging
from credit_scoring.monitoring.records import AnsweredApplication, AnsweredBatch, RequestRecord, pseudonymise
from credit_scoring.schema import ID_COLUMN, TARGET_COLUMN
from credit_scoring.serving.api_models import BatchAnswers
from credit_scoring.serving.guards import KIB, send_json
from credit_scoring.settings import Settings

logger = logging.getLogger(__name__)

ASGIApp = Callable[..., Any]
# Route -> endpoint name stored in the records (the names the monitor and the simulator use).
API_ENDPOINTS: Mapping[str, str] = {"/score": "score", "/score_batch": "score_batch", "/explain": "explain"}
HEALTH_PATH = "/monitoring/health"
# A rejected single-application body is parsed for its inputs only up to this size (a valid one is ~3.5 KiB).
# A batch body is kept whole (its route's body limit bounds it): an answered batch is recorded from it.
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


@dataclass(frozen=True, slots=True)
class Scored:
    """One answered application as the API method saw it (the answer is a ScoreResponse)."""

    inputs: Mapping[str, Any] | None
    answer: Any
    inference_ms: float | None


@dataclass(frozen=True, slots=True)
class BatchScored:
    """An answered batch as the API method saw it: its answers, in order."""

    answers: BatchAnswers
    inference_ms: float


class Exchange:
    """One API request seen by the middleware: start time, status, bodies kept, what the method scored."""

    __slots__ = (
        "batch",
        "endpoint",
        "kept_limit",
        "request_chunks",
        "request_size",
        "scored",
        "started",
        "status",
    )

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.started = time.perf_counter()
        self.status: int | None = None
        self.request_chunks: list[bytes] = []
        self.request_size = 0
        self.kept_limit = MAX_KEPT_BODY if endpoint != "score_batch" else None
        self.scored: list[Scored] | None = None
        self.batch: BatchScored | None = None

    def keep_request(self, message: Mapping[str, Any]) -> None:
        body = message.get("body", b"")
        self.request_size += len(body)
        if self.kept_limit is None or self.request_size <= self.kept_limit:
            self.request_chunks.append(body)

    def keep_response(self, message: Mapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]

    def request_body(self) -> bytes | None:
        """The request body, or None when unread or too large to have been kept."""
        if not self.request_chunks or (self.kept_limit is not None and self.request_size > self.kept_limit):
            return None
        return self.request_chunks[0] if len(self.request_chunks) == 1 else b"".join(self.request_chunks)

    def request_json(self) -> Any:
        """The request body as JSON, or None when unread, too large or not JSON."""
        body = self.request_body()
        try:
            return None if body is None else json.loads(body)
        except ValueError:
            return None


_exchange: ContextVar[Exchange | None] = ContextVar("credit_scoring_exchange", default=None)


def note_scored(inputs: Mapping[str, Any], answer: Any, inference_ms: float) -> None:
    """Hand a single-application answer (/score, /explain) to the request's middleware; no-op outside one.

    The method runs in the request's own task, so the middleware's exchange is in its context.
    """
    exchange = _exchange.get()
    if exchange is not None:
        exchange.scored = [Scored(inputs, answer, inference_ms)]


def note_scored_batch(answers: BatchAnswers, inference_ms: float) -> None:
    """Hand a batch's answers to the request's middleware (/score_batch); no-op outside one.

    The batch is scored in the request's own task (no adaptive batching merges requests), as /score is.
    """
    exchange = _exchange.get()
    if exchange is not None:
        exchange.batch = BatchScored(answers, inference_ms)


def _client_ref(client_id: Any, key: bytes) -> str | None:
    if isinstance(client_id, bool) or not isinstance(client_id, int | float | str):
        return None
    try:
        return pseudonymise(client_id, key)
    except (ValueError, OverflowError):
        return None


def _json_safe(value: Any) -> Any:
    # Records are stored as strict JSON: an infinite number sent by a client is kept as missing.
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _rejected_application(body: Any) -> Mapping[str, Any] | None:
    application = body.get("application") if isinstance(body, dict) else None
    return application if isinstance(application, dict) else None


class RequestLog:
    """Builds the records of each request and submits them to the worker's :class:`ProcessRequestLogger`.

    ``logger`` None means monitoring is off: nothing is recorded, every method is a cheap no-op.
    """

    def __init__(
        self,
        logger: ProcessRequestLogger | None,
        pseudonymisation_key: bytes,
        model_name: str,
        model_version: str,
    ) -> None:
        self.logger = logger
        self.key = pseudonymisation_key
        self.model_name = model_name
        self.model_version = model_version

    @classmethod
    def open(cls, scorer: Any, monitoring: MonitoringSettings, settings: Settings) -> RequestLog:
        """Started on the configured store, or disabled by ``CREDIT_MONITORING_ENABLED=false``."""
        key = settings.pseudonymisation_secret
        if not monitoring.monitoring_enabled:
            return cls(None, key, scorer.name, scorer.version)
        request_logger = ProcessRequestLogger(monitoring, pseudonymisation_key=key).start()
        return cls(request_logger, key, scorer.name, scorer.version)

    @property
    def enabled(self) -> bool:
        return self.logger is not None

    def submit(self, exchange: Exchange, status: int) -> None:
        """Submit the exchange's records; never raises (a monitoring bug must not fail the request)."""
        try:
            for record in self.records(exchange, status, elapsed_ms(exchange.started)):
                self.logger.submit(record)  # type: ignore[union-attr]
        except Exception:
            logger.exception("could not build the request record", extra={"endpoint": exchange.endpoint})

    def records(
        self, exchange: Exchange, status: int, latency_ms: float
    ) -> list[RequestRecord | AnsweredApplication | AnsweredBatch]:
        """One record per scored application of a successful request, else one for the whole request.

        An answered single application or batch goes as its raw body, completed by the logger process
        (cheaper here): a batch becomes one record per application there.
        """
        kind = error_kind(status)
        if kind is None and exchange.batch is not None:
            return [self._answered_batch(exchange, exchange.batch, status, latency_ms)]
        scored = exchange.scored
        if kind is not None or not scored:
            return [self._refused(exchange, status, kind, latency_ms)]
        body = exchange.request_body()
        if body is not None:
            return [_answered_application(exchange.endpoint, scored[0], status, latency_ms, body)]
        request_id = scored[0].answer.request_id if len(scored) == 1 else uuid.uuid4().hex
        return [self._answered(exchange.endpoint, item, status, latency_ms, request_id) for item in scored]

    def _answered_batch(
        self, exchange: Exchange, batch: BatchScored, status: int, latency_ms: float
    ) -> AnsweredBatch:
        answers = batch.answers
        # As before: the records of a batch share one id, the answer's own when there is only one.
        request_id = answers.request_ids[0] if len(answers.request_ids) == 1 else uuid.uuid4().hex
        return AnsweredBatch(
            exchange.endpoint,
            self.model_name,
            self.model_version,
            status,
            latency_ms,
            batch.inference_ms,
            answers.probabilities,
            answers.decisions,
            answers.threshold,
            request_id,
            time.time(),
            exchange.request_body() or b"",
        )

    def _answered(self, endpoint: str, item: Scored, status: int, latency_ms: float, request_id: str):
        answer = item.answer
        return RequestRecord(
            endpoint=endpoint,
            model_name=answer.model_name,
            model_version=answer.model_version,
            status=status,
            latency_ms=latency_ms,
            inputs=item.inputs,  # type: ignore[arg-type]
            probability=answer.probability,
            decision=answer.decision,
            threshold=answer.threshold,
            inference_ms=item.inference_ms,
            client_ref=_client_ref(answer.client_reference, self.key),
            request_id=request_id,
        )

    def _refused(self, exchange: Exchange, status: int, kind: str | None, latency_ms: float) -> RequestRecord:
        inputs, client_ref = self._rejected_inputs(exchange)
        return RequestRecord(
            endpoint=exchange.endpoint,
            model_name=self.model_name,
            model_version=self.model_version,
            status=status,
            latency_ms=latency_ms,
            inputs=inputs,
            error_kind=kind,  # type: ignore[arg-type]
            client_ref=client_ref,
        )

    def _rejected_inputs(self, exchange: Exchange) -> tuple[dict[str, Any] | None, str | None]:
        """What a refused single application asked (for the data-quality panel), without id or target."""
        if exchange.scored:  # scored, then failed (e.g. while answering): the validated inputs
            item = exchange.scored[0]
            return dict(item.inputs or {}), _client_ref(item.answer.client_reference, self.key)
        if exchange.endpoint == "score_batch":
            return None, None
        application = _rejected_application(exchange.request_json())
        if application is None:
            return None, None
        inputs = {k: _json_safe(v) for k, v in application.items() if k not in (ID_COLUMN, TARGET_COLUMN)}
        return inputs, _client_ref(application.get(ID_COLUMN), self.key)

    def health(self) -> dict[str, Any]:
        """The logger's counters in this worker (JSON of GET /monitoring/health)."""
        stats = self.logger.stats().as_dict() if self.logger is not None else {}
        return {"enabled": self.enabled, "pid": os.getpid(), **stats}

    def close(self, timeout: float = 20.0) -> bool:
        """Write every queued record and the open profiles (worker shutdown); True when all was written."""
        if self.logger is None:
            return True
        return self.logger.close(timeout)


def _answered_application(
    endpoint: str, item: Scored, status: int, latency_ms: float, body: bytes
) -> AnsweredApplication:
    answer = item.answer
    return AnsweredApplication(
        endpoint,
        answer.model_name,
        answer.model_version,
        status,
        latency_ms,
        item.inference_ms,  # type: ignore[arg-type]
        answer.probability,
        answer.decision,
        answer.threshold,
        answer.request_id,
        time.time(),
        body,
    )


def current_request_log() -> RequestLog | None:
    """The request log of this worker's service instance (None before start-up or without one)."""
    import bentoml

    try:
        service = bentoml.get_current_service()
    except Exception:  # not instantiated yet, or already shut down
        return None
    return getattr(service, "request_log", None)


class RequestLogMiddleware:
    """Outermost ASGI layer of the API routes: times each request and submits its record(s) once it ends.

    Being outermost it sees every answer, including the 401, 413 and 4xx produced by the guards and by
    BentoML's validation; the API methods add the scores (``note_scored``, ``note_scored_batch``).
    Records are submitted after the response is sent and written by the worker's logger process. It also
    answers GET /monitoring/health with the logger's counters (open, like the probes: no client data).
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
        exchange = Exchange(endpoint)  # type: ignore[arg-type]
        token = _exchange.set(exchange)

        async def receive_kept() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                exchange.keep_request(message)
            return message

        async def send_kept(message: dict) -> None:
            exchange.keep_response(message)
            await send(message)

        status = None
        try:
            await self.app(scope, receive_kept, send_kept)
        except asyncio.CancelledError:
            status = 504  # BentoML's timeout cancelled the request before it answered
            raise
        except Exception:
            status = 500
            raise
        finally:
            _exchange.reset(token)
            # No answer and no error: the client went away before the request was served.
            log.submit(exchange, exchange.status or status or 499)

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
