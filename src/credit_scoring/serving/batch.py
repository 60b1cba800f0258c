"""POST /score_batch without a pydantic object per application: the body read column by column."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import orjson
import pydantic_core
from _bentoml_impl.serde import JSONSerde, Serde

# BentoML's own base classes of input specs (1.4 has no public name for them): a spec that is an IOMixin
# is used as it is, so its from_http_request below is the one BentoML calls for the route.
from _bentoml_sdk.io_models import IODescriptor, IOMixin, ensure_io_descriptor
from starlette.requests import Request

from credit_scoring.batch_validation import ApplicationBatch, validate_applications, validate_batch_json
from credit_scoring.serving.api_models import MAX_BATCH_APPLICATIONS, BatchRequest, ScoreResponse
from credit_scoring.serving.guards import send_json

APPLICATIONS = "applications"
BATCH_ROUTE = "/score_batch"
Send = Callable[..., Any]
OVERLOADED = "the service is saturated with batches: retry /score_batch after {seconds} s"


def parsed_applications(body: bytes) -> list[Any] | None:
    """The applications of a JSON body ``{"applications": [...]}`` within the batch limits, else None."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = _leniently_parsed(body)
    if type(parsed) is not dict or len(parsed) != 1:
        return None
    applications = parsed.get(APPLICATIONS)
    if type(applications) is not list or not 1 <= len(applications) <= MAX_BATCH_APPLICATIONS:
        return None
    return applications


def _leniently_parsed(body: bytes) -> Any:
    # The JSON parser the pydantic model uses: it also reads NaN (how pandas and Python's json send a
    # missing value) and integers beyond 64 bits, both refused by orjson.
    try:
        return pydantic_core.from_json(body)
    except ValueError:
        return None


def read_batch(body: bytes, model: type[BatchRequest] = BatchRequest) -> ApplicationBatch:
    """The validated batch of a /score_batch body: decoded straight into columns when it is strict JSON
    and plainly valid, else parsed leniently and checked column by column, else through ``model``, whose
    ``ValidationError`` BentoML answers with a 400 (the same answers and errors on every path)."""
    batch = validate_batch_json(body)
    if batch is not None and len(batch) <= MAX_BATCH_APPLICATIONS:
        return batch
    applications = parsed_applications(body)
    batch = validate_applications(applications) if applications is not None else None
    if batch is None:
        # BentoML's JSON reading: an empty body is an empty object.
        validated = model.model_validate_json(body or b"{}")
        batch = ApplicationBatch.from_models(validated.applications)
    return batch


class BatchInput(IOMixin, BatchRequest):
    """The /score_batch input spec: BatchRequest's schema, read by :func:`read_batch`."""

    @classmethod
    async def from_http_request(cls, request: Request, serde: Serde) -> IODescriptor:
        if type(serde) is JSONSerde:  # any other media type (multipart) is parsed by BentoML, as before
            batch = read_batch(await request.body(), cls)
        else:
            parsed = await super().from_http_request(request, serde)
            batch = ApplicationBatch.from_models(parsed.applications)  # type: ignore[attr-defined]
        return cls.model_construct(applications=batch)  # type: ignore[return-value]


# What /score_batch answers, for BentoML's schema and clients (the method returns the JSON itself).
BatchOutput = ensure_io_descriptor(list[ScoreResponse])


class BatchLoadShedding:
    """503 with ``Retry-After`` on /score_batch while this worker already holds ``limit`` batches.

    A worker scores one batch at a time on its event loop; past a few waiting batches, another one only
    waits, up to the server's timeout (a 504 after 30 s). Refused at once instead, the client knows to come
    back, and when: after about the time the batches here recently took to be answered."""

    def __init__(self, app: Callable[..., Any], limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit()  # read when the server builds its middleware (start-up)
        self.in_flight = 0
        self.seconds = 1.0  # recent answer time of a batch (moving average)

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != BATCH_ROUTE:
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            return await self._refuse(send)
        self.in_flight += 1
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.seconds = 0.8 * self.seconds + 0.2 * (time.perf_counter() - started)

    async def _refuse(self, send: Send) -> None:
        seconds = max(1, math.ceil(self.seconds))
        retry = [(b"retry-after", str(seconds).encode())]
        await send_json(send, 503, {"error": OVERLOADED.format(seconds=seconds)}, retry)
