"""After a switch, tell GitHub (repository_dispatch `model-promoted`) so CI ships that version."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

EVENT_TYPE = "model-promoted"


@dataclass(frozen=True)
class Promotion:
    """What was put into service: the payload CI's workflow reads."""

    model: str
    version: str
    alias: str
    tracking_uri: str


def dispatch_request(api_url: str, repository: str, token: str, promotion: Promotion) -> httpx.Request:
    """The POST /repos/{owner}/{repo}/dispatches request GitHub's REST API documents."""
    return httpx.Request(
        "POST",
        f"{api_url.rstrip('/')}/repos/{repository}/dispatches",
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        json={"event_type": EVENT_TYPE, "client_payload": vars(promotion)},
    )


def send_dispatch(request: httpx.Request) -> int:
    """Send it; GitHub answers 204. Returns the status code (the caller logs a failure, never raises)."""
    with httpx.Client(timeout=10) as client:
        return client.send(request).status_code
