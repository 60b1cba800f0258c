"""ASGI guards in front of the service: API key, request size limit, and clear JSON bodies on 4xx answers."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from credit_scoring.serving.errors import problems, summary

ASGIApp = Callable[..., Any]
API_KEY_HEADER = "x-api-key"
# Probes, metrics and the documentation stay reachable without a key (Kubernetes, Prometheus, people).
OPEN_PATHS = frozenset({"/", "/livez", "/healthz", "/readyz", "/metrics", "/docs.json", "/schema.json"})
OPEN_PREFIXES = ("/static_content/", "/assets/")
KIB = 1024
MIB = 1024 * KIB
# One application is about 3.5 KiB of JSON; a full batch of 1,000, even indented, stays under 8 MiB.
DEFAULT_BODY_LIMITS: Mapping[str, int] = {"/score_batch": 8 * MIB}
DEFAULT_BODY_LIMIT = 256 * KIB
_REPLACED_HEADERS = frozenset({b"content-type", b"content-length"})


async def send_json(send: Callable[..., Any], status: int, payload: Mapping[str, Any], headers=()) -> None:
    body = json.dumps(payload).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers + list(headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _header(scope: Mapping[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def presented_key(scope: Mapping[str, Any]) -> bytes:
    """The key a client sent: header X-API-Key, or ``Authorization: Bearer`` (what bentoml clients send)."""
    key = _header(scope, API_KEY_HEADER.encode())
    if key:
        return key
    authorization = _header(scope, b"authorization") or b""
    scheme, _, token = authorization.partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" else b""


class ApiKeyGuard:
    """401 unless the request carries the configured key; no key configured means the API is open."""

    def __init__(self, app: ASGIApp, api_key: Callable[[], str | None]) -> None:
        self.app = app
        # Resolved when the server builds its middleware stack (start-up), never at import time.
        key = api_key()
        self.expected = key.encode() if key else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if self.expected is None or scope["type"] != "http" or is_open_path(scope["path"]):
            return await self.app(scope, receive, send)
        given = presented_key(scope)
        if hmac.compare_digest(given, self.expected):
            return await self.app(scope, receive, send)
        reason = "missing" if not given else "wrong"
        await send_json(
            send,
            401,
            {"error": f"{reason} API key: send it in the X-API-Key header (or Authorization: Bearer)"},
            [(b"www-authenticate", b'ApiKey header="X-API-Key"')],
        )


class BodySizeLimit:
    """413 for bodies over the route's limit, checked on Content-Length before reading, or while reading."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Mapping[str, int] = DEFAULT_BODY_LIMITS,
        default_limit: int = DEFAULT_BODY_LIMIT,
    ) -> None:
        self.app = app
        self.limits = dict(limits)
        self.default_limit = default_limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        limit = self.limits.get(scope["path"], self.default_limit)
        declared = _header(scope, b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) <= limit:
                return await self.app(scope, receive, send)
            return await self._reject(send, scope["path"], limit, declared.decode(errors="replace"))
        await self._buffered(scope, receive, send, limit)

    async def _buffered(self, scope: dict, receive: Callable, send: Callable, limit: int) -> None:
        # A chunked body has no Content-Length: read it here, counting, then replay it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > limit:
                return await self._reject(send, scope["path"], limit, f"more than {size}")
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> dict:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    async def _reject(send: Callable, path: str, limit: int, size: str) -> None:
        await send_json(send, 413, {"error": too_large_message(path, limit, size), "limit_bytes": limit})


def too_large_message(path: str, limit: int, size: str) -> str:
    """The ``error`` of a 413: the size, the route's limit, and for /score where larger bodies go."""
    message = f"request body too large ({size} bytes): the limit for {path} is {limit // KIB} KiB"
    if path == "/score":
        message += "; send many applications to /score_batch"
    return message


# The media types BentoML reads as forms: no route of this API takes a form, and a malformed one (no
# boundary) made BentoML's form parser fail with a 500. Any other type is read as JSON, as BentoML does.
FORM_MEDIA_TYPES = frozenset({b"multipart/form-data", b"application/x-www-form-urlencoded"})


def media_type(scope: Mapping[str, Any]) -> bytes:
    """The request's media type without parameters, lower case (b"" when there is no Content-Type)."""
    return (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()


class FormsRefused:
    """415 for a form body on any route that takes a body: every route of this API reads JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        kind = media_type(scope) if scope["type"] == "http" else b""
        if kind not in FORM_MEDIA_TYPES or scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        message = f"{kind.decode()} is not accepted: send the body as application/json"
        await send_json(send, 415, {"error": message})


class ClearErrors:
    """Rewrites the body of 4xx answers into ``{"error", "errors": [{"field", "message", "type"}], ...}``.

    BentoML answers invalid input with ``{"error": "N validation errors for Input", "detail": [...]}``
    and other 4xx with a bare list or plain text; clients get one shape whose messages name the field and
    the rule. Successful answers pass through untouched (only the status line is looked at).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def checked_send(message: dict) -> None:
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                held["start"] = message
                return
            if "start" not in held or message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                start = held["start"]
                kept = [(k, v) for k, v in start.get("headers", ()) if k not in _REPLACED_HEADERS]
                await send_json(send, start["status"], clear_body(b"".join(chunks)), kept)

        await self.app(scope, receive, checked_send)


def clear_body(raw: bytes) -> dict[str, Any]:
    """The client-facing JSON of a 4xx answer, whatever BentoML or Starlette produced."""
    try:
        body: Any = json.loads(raw)
    except ValueError:
        return {"error": raw.decode(errors="replace").strip() or "bad request"}
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # BentoML wraps some errors in a one-element list
    if not isinstance(body, dict):
        return {"error": str(body)}
    detail = body.get("detail")
    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
        listed = problems(detail)
        return {"error": summary(listed), "errors": listed, "detail": detail}
    return body
