"""After a switch the controller tells GitHub: the repository_dispatch request, sent to a fake GitHub API."""

from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from credit_scoring.deployment.stack import dispatcher, start_listener
from credit_scoring.serving.launcher import free_port
from credit_scoring.settings import DeploySettings, Settings

pytestmark = pytest.mark.integration


def test_a_switch_sends_model_promoted_to_the_github_api(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[tuple[str, dict[str, str], dict]] = []

    async def dispatches(request: Request) -> Response:
        received.append((request.url.path, dict(request.headers), json.loads(await request.body())))
        return Response(status_code=204)

    fake_github = Starlette(routes=[Route("/repos/{owner}/{name}/dispatches", dispatches, methods=["POST"])])
    port = free_port()
    server = start_listener(fake_github, "127.0.0.1", port)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    monkeypatch.setenv("GITHUB_REPOSITORY", "team/credit-scoring")
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{port}")
    try:
        send = dispatcher(DeploySettings(), Settings(), "https://user:pw@mlflow.example")
        assert send is not None
        send("4")
    finally:
        server.should_exit = True
    path, headers, body = received[0]
    assert path == "/repos/team/credit-scoring/dispatches"
    assert headers["authorization"] == "Bearer ghs_test"
    assert body == {
        "event_type": "model-promoted",
        "client_payload": {"model": "credit-scoring", "version": "4", "alias": "production",
                           "tracking_uri": "https://mlflow.example"},
    }  # fmt: skip


def test_without_github_settings_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    assert dispatcher(DeploySettings(), Settings(), "http://mlflow") is None
