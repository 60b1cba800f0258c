"""`make deploy`'s stack as real processes (mlflow server with webhooks, HAProxy, bentoml serve, the
controller): moving @production under continuous load, and a broken candidate that never serves."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from credit_scoring.recording.store import ParquetStore
from credit_scoring.serving.launcher import free_port
from credit_scoring_tools.deploy_load import LoadRun
from tests.support.registry import ALIAS, MODEL_NAME, register_tiny_model, scratch_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

logger = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
FIRST_ANSWER_LIMIT_S = 180


@dataclass(frozen=True)
class Stack:
    """The running stack: its public URL, the tracking server's, the controller's status and state."""

    public_url: str
    mlflow_url: str
    status_url: str
    tracking_uri: str
    env: dict[str, str]
    process: subprocess.Popen

    def status(self) -> dict:
        return httpx.get(self.status_url, timeout=5).json()

    def move_alias(self, version: str) -> float:
        """@production moved through the tracking server's REST API (as the UI does); the time of the move."""
        MlflowClient(self.mlflow_url).set_registered_model_alias(MODEL_NAME, ALIAS, version)
        return time.time()


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


def stack_env(root: Path, tracking_uri: str) -> dict[str, str]:
    ports = {name: str(free_port()) for name in ("BLUE", "GREEN", "LISTENER")}
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "BENTOML_HOME": str(root / "bentoml"),
        "CREDIT_DATA_DIR": str(root / "var"),
        "BENTOML_DO_NOT_TRACK": "True",
        **{f"CREDIT_DEPLOY_{name}_PORT": port for name, port in ports.items()},
        "CREDIT_DEPLOY_POLL_INTERVAL_S": "900",  # so slow that only the webhook can trigger a deployment
        "CREDIT_DEPLOY_CANARY_S": "3",
        "CREDIT_CHECKPOINT_INTERVAL_S": "2",
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Version 1 at @production, then the stack started as `make deploy` does, until it serves."""
    root = tmp_path_factory.mktemp("deploy")
    tracking_uri = scratch_store(root / "mlflow")
    register_tiny_model(tracking_uri, seed=21, threshold=0.3)
    env = stack_env(root, tracking_uri)
    port, mlflow_port = free_port(), free_port()
    command = [sys.executable, "deploy/controller.py", "run", "--port", str(port), "--mlflow-port",
               str(mlflow_port), "--host", "127.0.0.1"]  # fmt: skip
    log = (root / "controller.log").open("wb")
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    status_url = f"http://127.0.0.1:{env['CREDIT_DEPLOY_LISTENER_PORT']}/status"
    running = Stack(
        f"http://127.0.0.1:{port}", f"http://127.0.0.1:{mlflow_port}", status_url, tracking_uri, env, process
    )
    try:
        wait_for(lambda: _serving(running) == "1", 300, "version 1 to serve (see controller.log)")
        yield running
    finally:
        process.terminate()
        process.wait(timeout=120)
        log.close()
        print((root / "controller.log").read_text()[-4000:])


def _serving(stack: Stack) -> str | None:
    assert stack.process.poll() is None, "the controller exited"
    try:
        serving = stack.status()["serving"]
    except (httpx.HTTPError, ValueError):
        return None
    return serving["version"] if serving else None


def test_alias_move_under_load_switches_with_no_failed_request(stack: Stack) -> None:
    second = register_tiny_model(stack.tracking_uri, seed=22, threshold=0.4, promote=False).version
    with LoadRun(stack.public_url, clients=4) as load:
        time.sleep(2)
        moved_at = stack.move_alias(second)
        wait_for(lambda: second in load.record.first_seen, FIRST_ANSWER_LIMIT_S, f"v{second} to answer")
        # Traffic goes on after the switch while the old server drains and stops.
        wait_for(lambda: "outcome" in stack.status()["last_attempt"], 120, "the deployment to end")
    summary = load.record.summary()
    to_first_answer = load.record.first_seen[second] - moved_at
    logger.warning("alias move under load: %s; first answer of v%s %.1f s after the move",
                   json.dumps(summary), second, to_first_answer)  # fmt: skip
    status = stack.status()
    assert summary["failed"] == 0, summary["failure_examples"]
    assert summary["versions"]["1"] > 0 and summary["versions"][second] > 0
    assert to_first_answer < FIRST_ANSWER_LIMIT_S
    assert status["serving"]["version"] == second
    assert status["last_attempt"]["trigger"] == "webhook", status["last_attempt"]
    assert status["last_attempt"]["outcome"] == "serving"
    assert httpx.post(f"{stack.public_url}/score", json={"application": {}}, timeout=10).status_code == 400
    # The old server was stopped after the switch: every decision it answered still reaches the store
    # (both servers journal into the same store while they run side by side).
    wait_for(lambda: stored_decisions(stack).get("1", 0) >= summary["versions"]["1"], 90,
             "the old server's decisions in the store")  # fmt: skip


def stored_decisions(stack: Stack) -> dict[str, int]:
    """Stored records per model version, in the Parquet store both servers record into."""
    store = ParquetStore(Path(stack.env["CREDIT_DATA_DIR"]) / "monitoring" / "store")
    return store.records(columns=["model_version"])["model_version"].value_counts().to_dict()


def test_broken_candidate_never_serves_and_the_status_says_why(stack: Stack) -> None:
    serving = _serving(stack)
    broken = register_tiny_model(stack.tracking_uri, seed=23, threshold=0.4, promote=False, onnx_seed=24)
    with LoadRun(stack.public_url, clients=4) as load:
        stack.move_alias(broken.version)
        wait_for(lambda: (stack.status()["last_error"] or {}).get("version") == broken.version, 240,
                 "the broken version's alert")  # fmt: skip
        time.sleep(2)
    summary = load.record.summary()
    assert summary["failed"] == 0, summary["failure_examples"]
    assert summary["served"] > 0 and set(summary["versions"]) == {serving}
    done = subprocess.run([sys.executable, "deploy/controller.py", "status"], cwd=REPO_ROOT, env=stack.env,
                          capture_output=True, text=True)  # fmt: skip
    shown = json.loads(done.stdout)
    assert done.returncode == 1
    assert shown["serving"]["version"] == serving
    assert shown["last_attempt"]["outcome"] == "failed"
    assert "ONNX" in shown["last_error"]["reason"] or "parity" in shown["last_error"]["reason"]


def test_the_webhook_receiver_refuses_unsigned_deliveries(stack: Stack) -> None:
    url = stack.status_url.removesuffix("/status") + "/webhook"
    data = {"name": MODEL_NAME, "alias": ALIAS, "version": "1"}
    event = {"entity": "model_version_alias", "action": "created", "data": data}
    answer = httpx.post(url, json=event, headers={"X-MLflow-Signature": "v1,forged"}, timeout=5)
    assert answer.status_code == 401
