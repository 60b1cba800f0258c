"""How the service runs: BentoML service options (workers, logging, tracing) and settings read at start-up."""

from __future__ import annotations

from typing import Any

from credit_scoring.settings import get_settings

# A batch of 1,000 applications takes about 250 ms to validate and score on one core; queued requests
# that would wait longer than this are shed with a 503 rather than piling up.
BATCH_MAX_LATENCY_MS = 2_000

SERVICE_CONFIG: dict[str, Any] = {
    "workers": 2,
    "traffic": {"timeout": 30},
    "logging": {"access": {"enabled": False}},
    "tracing": {"excluded_urls": ["/score", "/score_batch", "/explain"]},
}


def configured_api_key() -> str | None:
    """The API key from the environment (CREDIT_API_KEY), read when the server starts; None = open API."""
    key = get_settings().api_key
    return key.get_secret_value() if key is not None else None
