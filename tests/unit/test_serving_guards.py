"""The service's ASGI guards on a small app: API key, body size limit, and the shape of 4xx bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from credit_scoring.serving.errors import describe, field_path, problems
from credit_scoring.serving.guards import ApiKeyGuard, BodySizeLimit, ClearErrors, FormsRefused, clear_body

KEY = "k3y-for-tests"


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


async def invalid(request: Request) -> JSONResponse:
    detail = [{"type": "missing", "loc": ["application", "AMT_CREDIT"], "msg": "Field required"}]
    return JSONResponse({"error": "1 validation error for Input", "detail": detail}, status_code=400)


async def probe(request: Request) -> PlainTextResponse:
    return PlainTextResponse("\n")


def _client(api_key: str | None) -> TestClient:
    routes = [
        Route("/score", echo, methods=["POST"]),
        Route("/score_batch", echo, methods=["POST"]),
        Route("/invalid", invalid, methods=["POST"]),
        Route("/readyz", probe),
    ]
    app = Starlette(routes=routes)
    wrapped = ApiKeyGuard(BodySizeLimit(ClearErrors(app), {"/score_batch": 1000}, 100), lambda: api_key)
    return TestClient(wrapped)


@pytest.fixture()
def open_client() -> Iterator[TestClient]:
    with _client(None) as client:
        yield client


@pytest.fixture()
def keyed_client() -> Iterator[TestClient]:
    with _client(KEY) as client:
        yield client


def test_without_a_key_configured_everything_is_open(open_client: TestClient) -> None:
    assert open_client.post("/score", content=b"{}").status_code == 200


def test_a_configured_key_is_required_on_the_api(keyed_client: TestClient) -> None:
    missing = keyed_client.post("/score", content=b"{}")
    assert missing.status_code == 401
    assert missing.json()["error"].startswith("missing API key")
    assert missing.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
    wrong = keyed_client.post("/score", content=b"{}", headers={"X-API-Key": KEY + "x"})
    assert wrong.status_code == 401
    assert wrong.json()["error"].startswith("wrong API key")
    assert keyed_client.post("/score", content=b"{}", headers={"X-API-Key": KEY}).status_code == 200
    bearer = {"Authorization": f"Bearer {KEY}"}  # what bentoml.SyncHTTPClient(token=...) sends
    assert keyed_client.post("/score", content=b"{}", headers=bearer).status_code == 200
    basic = {"Authorization": f"Basic {KEY}"}
    assert keyed_client.post("/score", content=b"{}", headers=basic).status_code == 401


def test_probes_stay_open_with_a_key(keyed_client: TestClient) -> None:
    assert keyed_client.get("/readyz").status_code == 200


def test_body_limit_per_route_by_content_length(open_client: TestClient) -> None:
    assert open_client.post("/score", content=b"x" * 100).json() == {"size": 100}
    too_big = open_client.post("/score", content=b"x" * 101)
    assert too_big.status_code == 413
    assert too_big.json()["limit_bytes"] == 100
    assert "/score_batch" in too_big.json()["error"]  # the fix: send many applications to the batch route
    assert open_client.post("/score_batch", content=b"x" * 1000).status_code == 200
    assert open_client.post("/score_batch", content=b"x" * 1001).status_code == 413


def test_body_limit_holds_for_chunked_bodies(open_client: TestClient) -> None:
    def chunks(count: int) -> Iterator[bytes]:
        yield from (b"x" * 30 for _ in range(count))

    assert open_client.post("/score", content=chunks(3)).json() == {"size": 90}
    assert open_client.post("/score", content=chunks(4)).status_code == 413


def test_validation_errors_are_rewritten_with_field_and_rule(open_client: TestClient) -> None:
    body = open_client.post("/invalid", content=b"{}").json()
    assert body["errors"] == [
        {
            "field": "application.AMT_CREDIT",
            "message": "AMT_CREDIT is required and may not be missing: a number between 1 and 100000000 "
            "(credit amount, positive)",
            "type": "missing",
        }
    ]
    assert body["error"].startswith("invalid request, 1 problem(s): application.AMT_CREDIT: AMT_CREDIT is")
    assert body["detail"][0]["loc"] == ["application", "AMT_CREDIT"]


def test_plain_text_and_listed_errors_become_json_objects(open_client: TestClient) -> None:
    assert open_client.get("/nowhere").json() == {"error": "Not Found"}
    assert clear_body(json.dumps([{"error": "no pickle"}]).encode()) == {"error": "no pickle"}
    assert clear_body(b"") == {"error": "bad request"}


def test_error_paths_and_sentences() -> None:
    assert field_path(("applications", 3, "AMT_CREDIT")) == "applications[3].AMT_CREDIT"
    assert field_path(()) == "body"
    assert "not valid JSON" in describe({"type": "json_invalid", "loc": (), "msg": "EOF"})
    assert "split the batch" in describe({"type": "too_long", "loc": ("applications",), "msg": "too long"})
    assert describe({"type": "extra_forbidden", "loc": ("application", "X")}).startswith("'X' is not an")
    assert problems([{"type": "missing", "loc": ("application",)}])[0]["message"].startswith(
        "the body has no 'application'"
    )


FORMS = ["multipart/form-data", "application/x-www-form-urlencoded; charset=utf-8"]


@pytest.mark.parametrize("media_type", FORMS)
def test_form_bodies_get_a_clear_415(media_type: str) -> None:
    with TestClient(FormsRefused(Starlette(routes=[Route("/score", echo, methods=["POST"])]))) as client:
        refused = client.post("/score", content=b"a=1", headers={"Content-Type": media_type})
        assert refused.status_code == 415
        assert refused.json() == {
            "error": f"{media_type.split(';')[0]} is not accepted: send the body as application/json"
        }
        assert client.post("/score", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 200
