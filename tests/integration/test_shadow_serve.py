"""Shadow scoring served by `bentoml serve`: @production answers, @challenger's figures land in the record."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from credit_scoring.recording.store import ParquetStore
from credit_scoring.schema import example_application
from credit_scoring.serving.launcher import free_port, start_server, stop_server, wait_until_ready
from credit_scoring.settings import MonitoringSettings
from tests.integration.test_bento_serve import bento_labels
from tests.support.registry import MODEL_NAME, TinyRegistration, register_tiny_model, scratch_store, tracking
from tests.support.tiny_model import as_json_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = example_application()
RECORDING_ENV = {
    "CREDIT_INGEST_INTERVAL_S": "0.1",
    "CREDIT_INGEST_MAX_DELAY_S": "0.1",
    "CREDIT_MONITORING_PRIORITY": "normal",
    # One worker each: two servers run at once on a shared 2-core machine; shadow scoring is per worker.
    "BENTOML_CONFIG_OPTIONS": "services.credit_scoring.workers=1",
}
REQUEST_ID = re.compile(rb'"request_id":"[0-9a-f]{32}"')


@dataclass(frozen=True)
class Registry:
    """@production version 1 and @challenger version 2, and a Bento built before and after @challenger."""

    env: dict[str, str]
    champion: TinyRegistration
    challenger: TinyRegistration
    alone_tag: str
    shadow_tag: str
    build_output: str


def build(env: dict[str, str]) -> tuple[str, str]:
    """bento/build.py as a user runs it: the Bento tag and what it printed."""
    done = subprocess.run([sys.executable, "bento/build.py"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return re.search(r"^BENTO_TAG=(\S+)$", done.stdout, re.MULTILINE).group(1), done.stdout  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("shadow")
    tracking_uri = scratch_store(root / "mlflow")
    env = {**os.environ, "BENTOML_HOME": str(root / "bentoml"), "MLFLOW_TRACKING_URI": tracking_uri,
           "BENTOML_DO_NOT_TRACK": "True"}  # fmt: skip
    champion = register_tiny_model(tracking_uri, seed=5, threshold=0.3)
    alone_tag, alone_output = build(env)
    assert "no @challenger" in alone_output
    challenger = register_tiny_model(tracking_uri, seed=6, threshold=0.45, promote=False)
    MlflowClient(tracking_uri).set_registered_model_alias(MODEL_NAME, "challenger", challenger.version)
    shadow_tag, shadow_output = build(env)
    return Registry(env, champion, challenger, alone_tag, shadow_tag, shadow_output)


@dataclass(frozen=True)
class Served:
    """One running Bento: its URL, the folder its records are stored under, and its log."""

    url: str
    data_dir: Path
    log: Path
    process: subprocess.Popen


def start(tag: str, env: dict[str, str], folder: Path) -> Served:
    port = free_port()
    served_env = env | RECORDING_ENV | {"CREDIT_DATA_DIR": str(folder / "var"),
                                        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}  # fmt: skip
    process = start_server(tag, port, host="127.0.0.1", env=served_env, log=folder / "serve.log")
    return Served(f"http://127.0.0.1:{port}", folder / "var", folder / "serve.log", process)


@pytest.fixture(scope="module")
def servers(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """The Bento with a challenger and the one without, served side by side."""
    root = tmp_path_factory.mktemp("shadow-serve")
    started = {"shadow": start(registry.shadow_tag, registry.env, root / "shadow"),
               "alone": start(registry.alone_tag, registry.env, root / "alone")}  # fmt: skip
    try:
        for served in started.values():
            wait_until_ready(served.url, served.process, timeout=180)
        yield started
    finally:
        for served in started.values():
            stop_server(served.process, timeout=60)
            assert "Traceback" not in served.log.read_text(), served.log.read_text()[-3000:]


def calls(registry: Registry) -> list[tuple[str, dict]]:
    """/score, /explain and /score_batch with real rows, then an invalid application."""
    rows = as_json_rows(registry.champion.inputs.head(12))
    return [
        *[("/score", {"application": row}) for row in rows[:4]],
        ("/explain", {"application": rows[4], "top": 3}),
        ("/score_batch", {"applications": rows[5:]}),
        ("/score", {"application": EXAMPLE | {"AMT_INCOME_TOTAL": -1}}),
    ]


def version_probabilities(registration: TinyRegistration, rows: pd.DataFrame) -> list[float]:
    """P(default) from ``mlflow.pyfunc`` on that registry version: the model's own answer."""
    with tracking(registration.tracking_uri):
        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{registration.version}")
        return [float(p) for p in model.predict(rows)[:, 1]]


def stored(served: Served) -> pd.DataFrame:
    return ParquetStore(MonitoringSettings(data_dir=served.data_dir).store_path).records()


def test_build_packs_the_challenger_and_says_which(registry: Registry) -> None:
    assert "challenger @challenger: registry version 2" in registry.build_output
    assert bento_labels(registry.shadow_tag, registry.env)["challenger_version"] == "2"
    assert bento_labels(registry.alone_tag, registry.env)["challenger_version"] == "none"
    labels = bento_labels(registry.shadow_tag, registry.env)
    assert labels["model_version"] == "1" == registry.champion.version


def test_the_champion_answers_and_both_scores_are_stored(
    registry: Registry, servers: dict[str, Served]
) -> None:
    answers = {}
    for name, served in servers.items():
        with httpx.Client(base_url=served.url, timeout=60) as client:
            answers[name] = [client.post(route, json=body) for route, body in calls(registry)]
            health = client.get("/monitoring/health").json()
            metrics = client.get("/metrics").text
        if name == "shadow":
            assert health["shadow"]["challenger_version"] == "2" and health["shadow"]["failures"] == 0
            assert health["shadow"]["scored"] == 4 + 1 + 7 and "credit_scoring_shadow_failures" not in metrics
        else:
            assert health["shadow"]["challenger_version"] is None
    # Byte for byte the answer of the Bento without a challenger (each answer's own random id aside).
    for with_shadow, alone in zip(answers["shadow"], answers["alone"], strict=True):
        assert with_shadow.status_code == alone.status_code
        assert REQUEST_ID.sub(b"", with_shadow.content) == REQUEST_ID.sub(b"", alone.content)
    assert [a.status_code for a in answers["shadow"]] == [200] * 6 + [400]
    stop_server(servers["shadow"].process, timeout=60)  # SIGTERM: the worker stores what it journaled
    records = stored(servers["shadow"])
    check_shadow_records(records, registry)


def check_shadow_records(records: pd.DataFrame, registry: Registry) -> None:
    scored = records[records["status"] == 200].sort_values(["timestamp", "item"])
    assert len(scored) == 12 and (scored["model_version"] == "1").all()
    assert (scored["challenger_version"] == "2").all()
    rows = registry.champion.inputs.head(12)
    expected = version_probabilities(registry.challenger, rows)
    assert scored["challenger_probability"].tolist() == pytest.approx(expected, abs=1e-6)
    champion = version_probabilities(registry.champion, rows)
    assert scored["probability"].tolist() == pytest.approx(champion, abs=1e-6)
    at_threshold = ["refuse" if p >= 0.45 else "grant" for p in scored["challenger_probability"]]
    assert scored["challenger_decision"].tolist() == at_threshold
    assert (scored["threshold"] == 0.3).all()
    assert scored["challenger_probability"].ne(scored["probability"]).any()  # two models, not one twice
    refused = records[records["status"] == 400]
    assert len(refused) == 1
    assert refused[["challenger_version", "challenger_probability", "challenger_decision"]].isna().all().all()
