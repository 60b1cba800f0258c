"""Smoke test of a running credit-scoring container: probes, score parity, 4xx, API key, non-root."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import bentoml
import httpx
import typer
from mlflow import MlflowClient

from credit_scoring.cli import CommandApp
from credit_scoring.errors import CreditScoringError, ExitCode, UsageError
from credit_scoring.registry import version_by_alias
from credit_scoring.schema import example_application
from credit_scoring.serving.bento_model import BENTO_MODEL_NAME, load_scorer
from credit_scoring.serving.guards import API_KEY_HEADER
from credit_scoring.settings import Settings, get_settings
from credit_scoring.validation import Application, application_to_record

PROBABILITY_TOLERANCE = 1e-6
BAD_FIELD = "AMT_INCOME_TOTAL"


class SmokeFailure(CreditScoringError, AssertionError):
    """One check of the container did not hold (the message says what was expected and what came back)."""

    exit_code = ExitCode.ALERT


app = CommandApp(__doc__)


@dataclass(frozen=True)
class Expected:
    """What the container must answer for the example application, computed without the container."""

    probability: float
    model_version: str


def expected_answer(bento_tag: str, settings: Settings) -> Expected:
    """Score the example in this process with the Bento's own model; the version comes from the registry."""
    bento = bentoml.get(bento_tag)
    model_tags = [str(info.tag) for info in bento.info.all_models if info.tag.name == BENTO_MODEL_NAME]
    if len(model_tags) != 1:
        raise SmokeFailure(f"Bento {bento_tag} should pack one {BENTO_MODEL_NAME} model, found {model_tags}")
    model = bentoml.models.get(model_tags[0])
    scorer = load_scorer(Path(model.path), model.info.metadata)
    record = application_to_record(Application(**example_application()))
    production = version_by_alias(
        MlflowClient(settings.tracking_uri), settings.model_name, settings.production_alias
    )
    if production is None:
        raise SmokeFailure(f"no @{settings.production_alias} version in {settings.tracking_uri}")
    return Expected(float(scorer.score([record])[0].probability), str(production.version))


def wait_until_ready(client: httpx.Client, container: str, timeout: float) -> float:
    """Poll /readyz until it answers 200; returns the seconds waited. Fails fast if the container stops."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if client.get("/readyz", timeout=2.0).status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass  # not listening yet
        state = _docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container)
        if not state.startswith("running"):
            raise SmokeFailure(
                f"container {container} stopped before being ready (status, exit code: {state})"
            )
        time.sleep(1.0)
    raise SmokeFailure(f"{client.base_url}/readyz did not answer 200 within {timeout:.0f}s")


def expect_status(response: httpx.Response, status: int | range) -> Any:
    """The JSON body (or text) of a response whose status must match; fails with the body otherwise."""
    statuses = status if isinstance(status, range) else range(status, status + 1)
    if response.status_code not in statuses:
        raise SmokeFailure(
            f"{response.request.method} {response.request.url.path}: expected {status}, "
            f"got {response.status_code}: {response.text[:500]}"
        )
    is_json = response.headers.get("content-type", "").startswith("application/json")
    return response.json() if is_json else response.text


def check_probes(client: httpx.Client) -> str:
    for path in ("/livez", "/readyz"):
        expect_status(client.get(path), 200)
    return "/livez and /readyz answer 200"


def check_score(client: httpx.Client, api_key: str, expected: Expected) -> str:
    body = expect_status(_score(client, example_application(), api_key), 200)
    difference = abs(float(body["probability"]) - expected.probability)
    if not math.isfinite(difference) or difference > PROBABILITY_TOLERANCE:
        raise SmokeFailure(
            f"container probability {body['probability']} differs from in-process {expected.probability} "
            f"by {difference:.3g} (tolerance {PROBABILITY_TOLERANCE})"
        )
    if str(body["model_version"]) != expected.model_version:
        raise SmokeFailure(
            f"container serves model version {body['model_version']}, registry @production is "
            f"{expected.model_version}"
        )
    return (
        f"probability {body['probability']:.6f} (in-process {expected.probability:.6f}, "
        f"|diff| {difference:.1e}), decision {body['decision']}, model version {body['model_version']}"
    )


def check_bad_input(client: httpx.Client, api_key: str) -> str:
    application = example_application() | {BAD_FIELD: -1000.0}
    response = _score(client, application, api_key)
    body = expect_status(response, range(400, 500))
    message = str(body.get("error", "")) if isinstance(body, dict) else str(body)
    if BAD_FIELD not in message:
        raise SmokeFailure(f"{response.status_code} answer not naming {BAD_FIELD}: {response.text[:300]}")
    return f"{BAD_FIELD}=-1000 -> {response.status_code}: {message}"


def check_api_key(client: httpx.Client) -> str:
    expect_status(_score(client, example_application(), None), 401)
    expect_status(_score(client, example_application(), "not-the-key"), 401)
    return "/score without a key and with a wrong key -> 401"


def check_metrics(client: httpx.Client) -> str:
    text = str(expect_status(client.get("/metrics"), 200))
    if "bentoml_service_request" not in text:
        raise SmokeFailure(f"/metrics has no bentoml_service_request* series: {text[:300]}")
    return f"/metrics answers 200 ({len(text.splitlines())} lines of Prometheus text)"


def check_non_root(container: str) -> str:
    uid = _docker("exec", container, "id", "-u")
    user = _docker("inspect", "--format", "{{.Config.User}}", container)
    if uid == "0" or user in ("", "root", "0"):
        raise SmokeFailure(f"container runs as uid {uid} (image user {user!r}); it must not run as root")
    return f"runs as uid {uid} (image user {user!r})"


def _score(client: httpx.Client, application: dict[str, Any], api_key: str | None) -> httpx.Response:
    headers = {API_KEY_HEADER: api_key} if api_key is not None else {}
    return client.post("/score", json={"application": application}, headers=headers)


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SmokeFailure(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def run_checks(checks: list[tuple[str, Callable[[], str]]]) -> int:
    """Run every check (one failure does not hide the others); returns the number of failures."""
    failures = 0
    for name, check in checks:
        start = time.perf_counter()
        try:
            detail = check()
        except (SmokeFailure, httpx.HTTPError, KeyError, ValueError) as error:
            failures += 1
            print(f"  FAIL {name}: {type(error).__name__}: {error}", flush=True)
            continue
        print(f"  ok   {name} ({(time.perf_counter() - start) * 1000:.0f} ms): {detail}", flush=True)
    return failures


@app.command()
def main(
    url: Annotated[str, typer.Option(help="Base URL of the container, e.g. http://127.0.0.1:3000.")],
    bento: Annotated[str, typer.Option(help="Tag of the Bento the image was built from.")],
    container: Annotated[str, typer.Option(help="Name or id of the running container.")],
    timeout: Annotated[float, typer.Option(help="Seconds per HTTP request.")] = 30.0,
    wait: Annotated[
        float,
        typer.Option(
            help="First wait up to this many seconds for /readyz to answer 200, failing at once if the "
            "container stops (0: expect it ready)."
        ),
    ] = 0.0,
) -> None:
    """Check a running credit-scoring container: /livez and /readyz, one /score equal to the in-process
    score of the Bento's model and naming the registry's @production version, a negative income refused
    with a 4xx naming the field, 401 without the API key (read from CREDIT_API_KEY), /metrics, and a
    non-root user. The Bento and model are read from BENTOML_HOME, the registry from MLFLOW_TRACKING_URI.
    Exit 0 when every check passes, 1 otherwise, 2 on a usage error."""
    settings = get_settings()
    if settings.api_key is None:
        raise UsageError("set CREDIT_API_KEY to the key the container was started with")
    api_key = settings.api_key.get_secret_value()
    try:
        expected = expected_answer(bento, settings)
    except bentoml.exceptions.NotFound as error:
        raise SmokeFailure(f"cannot compute the expected answer: {error}") from None
    with httpx.Client(base_url=url, timeout=timeout) as client:
        if wait > 0:
            print(f"  ready after {wait_until_ready(client, container, wait):.1f}s", flush=True)
        failures = run_checks(
            [
                ("probes", lambda: check_probes(client)),
                ("score", lambda: check_score(client, api_key, expected)),
                ("bad input", lambda: check_bad_input(client, api_key)),
                ("api key", lambda: check_api_key(client)),
                ("metrics", lambda: check_metrics(client)),
                ("non-root", lambda: check_non_root(container)),
            ]
        )
    print(f"smoke test: {'all checks passed' if not failures else f'{failures} check(s) failed'}")
    raise typer.Exit(ExitCode.ALERT if failures else ExitCode.OK)


if __name__ == "__main__":
    app()
