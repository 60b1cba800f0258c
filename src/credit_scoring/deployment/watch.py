"""How the controller learns that @production moved: MLflow's signed webhook, and polling as the fallback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mlflow import MlflowClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from credit_scoring.registry import version_by_alias

logger = logging.getLogger(__name__)

ALIAS_EVENTS = ["model_version_alias.created", "model_version_alias.deleted"]
# MLflow 3.17 (mlflow/webhooks/delivery.py): "v1," + base64(HMAC-SHA256(secret, "<id>.<timestamp>.<body>")).
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
MAX_WEBHOOK_AGE_S = 300  # older deliveries are refused: a replayed request cannot move the service


@dataclass(frozen=True)
class Nudge:
    """A reason to look at the alias again: who sent it and the version it named, if any."""

    trigger: str
    version: str | None = None


class AliasSignal:
    """Nudges from the webhook and the poller, coalesced: the controller only ever takes the latest."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._latest: Nudge | None = None

    def nudge(self, nudge: Nudge) -> None:
        with self._condition:
            # A webhook says more than a poll (it names the version the user just chose): keep it.
            if self._latest is None or nudge.trigger == "webhook" or self._latest.trigger != "webhook":
                self._latest = nudge
            self._condition.notify_all()

    def take(self, timeout: float) -> Nudge | None:
        """The latest nudge since the last take (None after ``timeout`` without one)."""
        with self._condition:
            if self._latest is None:
                self._condition.wait(timeout)
            nudge, self._latest = self._latest, None
            return nudge


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The X-MLflow-Signature value MLflow sends for this delivery."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verified(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> bool:
    """Whether the delivery carries a valid, recent signature made with ``secret``."""
    delivery_id, timestamp = (
        headers.get(DELIVERY_ID_HEADER.lower(), ""),
        headers.get(TIMESTAMP_HEADER.lower(), ""),
    )
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > MAX_WEBHOOK_AGE_S:
        return False
    expected = signature(secret, delivery_id, timestamp, body)
    return hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER.lower(), ""))


def listener_app(
    secret: str, model_name: str, alias: str, signal: AliasSignal, status: Callable[[], dict]
) -> Starlette:
    """POST /webhook (signed MLflow deliveries for our alias nudge the controller), GET /status."""

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        if not verified(secret, {k.lower(): v for k, v in request.headers.items()}, body):
            logger.warning("webhook refused: bad or missing signature")
            return JSONResponse({"detail": "bad or missing X-MLflow-Signature"}, status_code=401)
        data = _event_data(body)
        if data is None:
            return JSONResponse({"detail": "body is not an MLflow alias event"}, status_code=400)
        if data.get("name") == model_name and data.get("alias") == alias:
            logger.info("webhook: alias moved", extra={"version": data.get("version")})
            signal.nudge(Nudge("webhook", str(data["version"]) if data.get("version") else None))
        return JSONResponse({"accepted": True})

    async def show_status(_: Request) -> JSONResponse:
        return JSONResponse(status())

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]), Route("/status", show_status)])


def _event_data(body: bytes) -> dict | None:
    try:
        event = json.loads(body)
    except ValueError:
        return None
    data = event.get("data") if isinstance(event, dict) else None
    return data if isinstance(data, dict) else None


def register_webhook(client: MlflowClient, name: str, url: str, secret: str) -> str:
    """A webhook on alias events pointing at ``url`` (earlier ones of this name replaced); its id."""
    for webhook in client.list_webhooks(max_results=1000):
        if webhook.name == name:
            client.delete_webhook(webhook.webhook_id)
    return client.create_webhook(name=name, url=url, events=ALIAS_EVENTS, secret=secret).webhook_id


def poll_alias(
    client: MlflowClient,
    model_name: str,
    alias: str,
    signal: AliasSignal,
    interval: float,
    stop: threading.Event,
) -> None:
    """Read the alias every ``interval`` seconds and nudge when it names another version than before."""
    seen: str | None = None
    while not stop.wait(interval):
        try:
            found = version_by_alias(client, model_name, alias)
        except Exception as error:  # a registry down for a while must not end the fallback
            logger.warning("polling the alias failed", extra={"error": str(error)})
            continue
        current = str(found.version) if found is not None else None
        if current != seen:
            seen = current
            signal.nudge(Nudge("poll", current))
