"""/score_batch load shedding on a small app: a 503 with Retry-After once a worker holds its limit."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from credit_scoring.serving.batch import BatchLoadShedding

LIMIT = 3


def _app(release: asyncio.Event) -> Starlette:
    async def held(request: Request) -> JSONResponse:
        await request.body()
        await release.wait()  # a batch being scored or waiting its turn
        return JSONResponse([])

    routes = [Route("/score_batch", held, methods=["POST"]), Route("/score", held, methods=["POST"])]
    app = Starlette(routes=routes)
    app.add_middleware(BatchLoadShedding, limit=lambda: LIMIT)
    return app


async def _saturate(path: str) -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
    release = asyncio.Event()
    transport = httpx.ASGITransport(app=_app(release))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        held = [asyncio.create_task(client.post(path, json={})) for _ in range(LIMIT)]
        await asyncio.sleep(0.05)  # the held requests reach the app
        extra = asyncio.create_task(client.post(path, json={}))
        await asyncio.sleep(0.05)
        release.set()
        answers = await asyncio.gather(*held)
        after = await client.post(path, json={})
        return answers, await extra, after


def test_a_batch_beyond_the_limit_gets_503_with_retry_after_and_the_others_are_answered() -> None:
    answers, refused, after = asyncio.run(_saturate("/score_batch"))
    assert [answer.status_code for answer in answers] == [200] * LIMIT
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert "saturated" in refused.json()["error"] and "retry" in refused.json()["error"]
    assert after.status_code == 200  # the limit counts batches in flight, not batches ever seen


def test_other_routes_are_not_shed() -> None:
    answers, extra, _ = asyncio.run(_saturate("/score"))
    assert [answer.status_code for answer in [*answers, extra]] == [200] * (LIMIT + 1)
