"""The built Bento served by `bentoml serve` in a subprocess: promote, rebuild, call over real HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import bentoml
import httpx
import pytest

from credit_scoring.schema import example_application
from credit_scoring.serving.launcher import free_port, start_server, stop_server, wait_until_ready
from tests.support.registry import TinyRegistration, pyfunc_probabilities, register_tiny_model, scratch_store
from tests.support.tiny_model import as_json_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "integration-test-key"
EXAMPLE = example_application()


@dataclass(frozen=True)
class Builds:
    """Two registry versions promoted one after the other, and the Bento built after each promotion."""

    env: dict[str, str]
    first: TinyRegistration
    second: TinyRegistration
    first_tag: str
    second_tag: str


def build_bento(env: dict[str, str]) -> str:
    """Run bento/build.py as a user would and return the Bento tag it prints."""
    command = [sys.executable, "bento/build.py"]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return re.search(r"^BENTO_TAG=(\S+)$", done.stdout, re.MULTILINE).group(1)  # type: ignore[union-attr]


def bento_labels(tag: str, env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "bentoml", "get", tag, "-o", "json"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["labels"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    """Own stores (MLflow + BENTOML_HOME), so promoting here never changes other tests' @production."""
    root = tmp_path_factory.mktemp("promote-rebuild")
    tracking_uri = scratch_store(root / "mlflow")
    env = {
        **os.environ,
        "BENTOML_HOME": str(root / "bentoml"),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "CREDIT_DATA_DIR": str(root / "var"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    first = register_tiny_model(tracking_uri, seed=5, threshold=0.3)
    first_tag = build_bento(env)
    second = register_tiny_model(tracking_uri, seed=6, threshold=0.45)  # moves @production to version 2
    return Builds(env, first, second, first_tag, build_bento(env))


@pytest.fixture(scope="module")
def server(builds: Builds, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The second Bento served with an API key and no reachable MLflow: the Bento carries its model."""
    port = free_port()
    env = builds.env | {"CREDIT_API_KEY": API_KEY, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    log = tmp_path_factory.mktemp("serve") / "bentoml-serve.log"
    process = start_server(builds.second_tag, port, host="127.0.0.1", env=env, log=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, process, timeout=180)
        yield base_url
    finally:
        stop_server(process)
        assert process.poll() is not None, "bentoml serve is still running"
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def test_each_build_packs_the_version_promoted_at_that_time(builds: Builds) -> None:
    assert builds.first_tag != builds.second_tag
    assert bento_labels(builds.first_tag, builds.env)["model_version"] == builds.first.version == "1"
    assert bento_labels(builds.second_tag, builds.env)["model_version"] == builds.second.version == "2"


def test_bentoml_client_scores_with_the_promoted_version(server: str, builds: Builds) -> None:
    with bentoml.SyncHTTPClient(server, token=API_KEY) as client:
        answer = client.score(application=EXAMPLE)
        batch = client.score_batch(applications=[EXAMPLE, EXAMPLE])
    assert answer["model_version"] == "2"
    assert answer["threshold"] == builds.second.threshold
    assert answer["decision"] == ("refuse" if answer["probability"] >= 0.45 else "grant")
    assert [a["probability"] for a in batch] == [answer["probability"]] * 2


def test_plain_http_contract_key_and_probes(server: str) -> None:
    headers = {"X-API-Key": API_KEY}
    answer = httpx.post(f"{server}/score", json={"application": EXAMPLE}, headers=headers)
    assert answer.status_code == 200
    assert set(answer.json()) >= {"probability", "decision", "threshold", "model_version", "request_id"}
    assert httpx.post(f"{server}/score", json={"application": EXAMPLE}).status_code == 401
    for probe in ("/livez", "/readyz", "/docs.json", "/"):
        assert httpx.get(f"{server}{probe}").status_code == 200


def test_served_probabilities_equal_the_registry_pyfunc(server: str, builds: Builds) -> None:
    rows = builds.second.inputs.head(50)
    response = httpx.post(
        f"{server}/score_batch",
        json={"applications": as_json_rows(rows)},
        headers={"X-API-Key": API_KEY},
        timeout=30,
    )
    assert response.status_code == 200
    served = [answer["probability"] for answer in response.json()]
    assert served == pytest.approx(pyfunc_probabilities(builds.second, rows), abs=1e-6)


def test_concurrent_batches_come_back_whole_and_in_order(server: str) -> None:
    def call(client_id: int) -> list[int]:
        applications = [EXAMPLE | {"SK_ID_CURR": client_id * 100 + i} for i in range(1 + client_id % 5)]
        response = httpx.post(
            f"{server}/score_batch", json={"applications": applications}, headers={"X-API-Key": API_KEY}
        )
        assert response.status_code == 200
        return [answer["client_reference"] for answer in response.json()]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(32)))
    assert results == [[c * 100 + i for i in range(1 + c % 5)] for c in range(32)]


def test_bad_input_over_http_is_a_clear_4xx(server: str) -> None:
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
    bad = httpx.post(f"{server}/score", json={"application": EXAMPLE | {"DAYS_BIRTH": 10}}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "application.DAYS_BIRTH"
    assert httpx.post(f"{server}/score", content=b"{oops", headers=headers).status_code == 400
    huge = httpx.post(f"{server}/score", content=b" " * (2 * 1024 * 1024), headers=headers)
    assert huge.status_code == 413
