"""The deploy controller's parts that need no server: webhook signatures, coalescing, HAProxy's config and
statistics, the GitHub dispatch request."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException
from mlflow.webhooks.delivery import _generate_hmac_signature

from credit_scoring.deployment.checks import CheckFailed
from credit_scoring.deployment.controller import Controller
from credit_scoring.deployment.dispatch import EVENT_TYPE, Promotion, dispatch_request
from credit_scoring.deployment.haproxy import ServerStats, _server_stats, render_config
from credit_scoring.deployment.processes import start_child
from credit_scoring.deployment.stack import public_uri, webhook_or_polling
from credit_scoring.deployment.status import DeployStatus, read_status
from credit_scoring.deployment.watch import AliasSignal, Nudge, poll_alias, signature, verified
from credit_scoring.settings import DeploySettings

SECRET = "s3cret"
BODY = b'{"entity": "model_version_alias", "action": "created", "data": {"version": "2"}}'


def signed_headers(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Headers as MLflow's own delivery code signs them (mlflow.webhooks.delivery)."""
    stamp = str(timestamp or int(time.time()))
    return {
        "x-mlflow-delivery-id": "d-1",
        "x-mlflow-timestamp": stamp,
        "x-mlflow-signature": _generate_hmac_signature(secret, "d-1", stamp, body.decode()),
    }


def test_signature_is_the_one_mlflow_sends() -> None:
    mlflows = _generate_hmac_signature(SECRET, "d-1", "100", BODY.decode())
    assert signature(SECRET, "d-1", "100", BODY) == mlflows
    assert verified(SECRET, signed_headers(BODY), BODY)


@pytest.mark.parametrize(
    "headers, body",
    [
        (signed_headers(BODY, secret="other"), BODY),
        (signed_headers(BODY), BODY.replace(b'"2"', b'"3"')),
        (signed_headers(BODY, timestamp=int(time.time()) - 3600), BODY),
        ({}, BODY),
    ],
    ids=["wrong-secret", "tampered-body", "replayed-old-delivery", "unsigned"],
)
def test_bad_deliveries_are_refused(headers: dict[str, str], body: bytes) -> None:
    assert not verified(SECRET, headers, body)


def test_nudges_are_coalesced_and_a_webhook_outranks_a_poll() -> None:
    signal = AliasSignal()
    signal.nudge(Nudge("webhook", "2"))
    signal.nudge(Nudge("webhook", "3"))
    signal.nudge(Nudge("poll", "3"))
    assert signal.take(timeout=0) == Nudge("webhook", "3")
    assert signal.take(timeout=0) is None


def test_the_haproxy_configuration_is_valid_and_keeps_the_idle_colour_out(tmp_path: Path) -> None:
    config = render_config(tmp_path / "admin.sock", "127.0.0.1", 3000, {"blue": 3001, "green": 3002}, "blue")
    assert "server blue 127.0.0.1:3001 check weight 100\n" in config
    assert "server green 127.0.0.1:3002 check weight 100 disabled" in config
    assert "retry-on conn-failure empty-response response-timeout" in config
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: make system-deps")
    (tmp_path / "haproxy.cfg").write_text(config)
    checked = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True)
    assert checked.returncode == 0, checked.stderr


def test_server_statistics_count_every_kind_of_failure() -> None:
    row = {"scur": "2", "qcur": "1", "stot": "50", "hrsp_5xx": "1", "eresp": "2", "econ": "", "wretr": "3",
           "wredis": "1", "rtime": "7", "status": "UP"}  # fmt: skip
    stats = _server_stats(row)
    assert stats == ServerStats(3, 50, 3, 4, 7, "UP")
    assert stats.errors == 7


def test_the_dispatch_request_is_githubs_repository_dispatch() -> None:
    promotion = Promotion("credit-scoring", "7", "production", "https://mlflow.example")
    request = dispatch_request("http://github.invalid/api/", "team/credit", "tok", promotion)
    assert request.method == "POST"
    assert str(request.url) == "http://github.invalid/api/repos/team/credit/dispatches"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert json.loads(request.content) == {
        "event_type": EVENT_TYPE,
        "client_payload": {"model": "credit-scoring", "version": "7", "alias": "production",
                           "tracking_uri": "https://mlflow.example"},
    }  # fmt: skip


def test_the_tracking_uri_sent_to_github_has_no_credentials() -> None:
    assert public_uri("https://user:pw@mlflow.example:8443/x") == "https://mlflow.example:8443/x"


class FixedRegistry:
    """The alias names one version; the controller only reads it."""

    alias = "production"

    def __init__(self, version: str) -> None:
        self.version = version

    def current(self) -> str:
        return self.version


def test_a_failed_version_is_retried_only_when_the_alias_is_moved_to_it_again(tmp_path: Path) -> None:
    settings = DeploySettings(data_dir=tmp_path)
    settings.deploy_dir.mkdir(parents=True)
    status = DeployStatus(settings.deploy_dir, {})
    controller = Controller(settings, FixedRegistry("3"), None, status, tmp_path, {})  # type: ignore[arg-type]
    attempts: list[str] = []

    def broken(version: str) -> str:
        attempts.append(version)
        raise CheckFailed("ONNX parity failed")

    controller.attempt = broken  # type: ignore[method-assign]
    controller.follow(Nudge("webhook", "3"))
    controller.follow(Nudge("poll", "3"))
    assert attempts == ["3"]
    shown = read_status(settings.deploy_dir)
    assert shown["last_error"]["reason"] == "ONNX parity failed"
    assert shown["last_attempt"]["outcome"] == "failed"
    controller.follow(Nudge("webhook", "3"))
    assert attempts == ["3", "3"]


class MovingAlias:
    """A registry client whose alias names the versions given, one per read, then the last one."""

    def __init__(self, versions: list[str]) -> None:
        self.versions = versions

    def get_model_version_by_alias(self, name: str, alias: str) -> SimpleNamespace:
        version = self.versions.pop(0) if len(self.versions) > 1 else self.versions[0]
        return SimpleNamespace(version=version)


def test_polling_nudges_once_per_move_of_the_alias() -> None:
    signal, stop, seen = AliasSignal(), threading.Event(), []
    client = MovingAlias(["1", "1", "2", "2", "2"])
    poller = threading.Thread(target=poll_alias, args=(client, "m", "production", signal, 0.01, stop))
    poller.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and [n.version for n in seen] != ["1", "2"]:
        nudge = signal.take(timeout=0.1)
        if nudge is not None:
            seen.append(nudge)
    time.sleep(0.1)  # more reads of an unchanged alias: no more nudges
    stop.set()
    poller.join()
    assert seen == [Nudge("poll", "1"), Nudge("poll", "2")]
    assert signal.take(timeout=0) is None


class RefusingRegistry:
    """A tracking server that does not allow webhooks to this address (plain http, private IP...)."""

    def list_webhooks(self, max_results: int) -> list:
        return []

    def create_webhook(self, **_: object) -> None:
        raise MlflowException("Invalid webhook URL scheme 'http'")


def test_a_refused_webhook_leaves_polling_to_follow_the_alias() -> None:
    client = RefusingRegistry()
    assert webhook_or_polling(client, "http://127.0.0.1:1/webhook", SECRET, 5.0) is None  # type: ignore[arg-type]


def stats(errors: int = 0, response_time_ms: int = 5, status: str = "UP") -> ServerStats:
    return ServerStats(0, 100, errors, 0, response_time_ms, status)


class FakeProxy:
    """HAProxy's `show stat` as the canary sees it now."""

    def __init__(self, now: dict[str, ServerStats]) -> None:
        self.now = now

    def stats(self) -> dict[str, ServerStats]:
        return self.now


@pytest.mark.parametrize(
    "candidate, reason",
    [
        (stats(errors=1), "failed answer"),
        (stats(status="DOWN 1/2"), "status DOWN"),
        (stats(response_time_ms=40), "mean response time 40 ms vs 5 ms"),
    ],
    ids=["errors", "health-check", "latency"],
)
def test_the_canary_rolls_back_on_errors_health_or_latency(
    tmp_path: Path, candidate: ServerStats, reason: str
) -> None:
    controller = Controller(DeploySettings(data_dir=tmp_path), FixedRegistry("2"), FakeProxy(
        {"blue": stats(), "green": candidate}), None, tmp_path, {})  # type: ignore[arg-type]  # fmt: skip
    controller.serving = SimpleNamespace(colour="blue")  # type: ignore[assignment]
    new = SimpleNamespace(colour="green")
    with pytest.raises(CheckFailed, match=reason):
        controller._judge_canary(new, {"blue": stats(), "green": stats()})  # type: ignore[arg-type]


def test_a_healthy_canary_a_little_slower_than_the_old_server_passes(tmp_path: Path) -> None:
    controller = Controller(DeploySettings(data_dir=tmp_path), FixedRegistry("2"), FakeProxy(
        {"blue": stats(), "green": stats(response_time_ms=16)}), None, tmp_path, {})  # type: ignore[arg-type]  # fmt: skip
    controller.serving = SimpleNamespace(colour="blue")  # type: ignore[assignment]
    controller._judge_canary(SimpleNamespace(colour="green"), {"blue": stats(), "green": stats()})  # type: ignore[arg-type]


class UnreachableRegistry:
    alias = "production"

    def current(self) -> str:
        raise MlflowException("API request to http://mlflow failed: connection refused")


def test_an_unreachable_registry_changes_nothing(tmp_path: Path) -> None:
    settings = DeploySettings(data_dir=tmp_path)
    controller = Controller(settings, UnreachableRegistry(), None, None, tmp_path, {})  # type: ignore[arg-type]
    controller.attempt = lambda version: pytest.fail("no deployment without a registry")  # type: ignore[method-assign]
    controller.follow(Nudge("webhook", "2"))
    assert controller.serving is None and controller.failed == set()


def test_stopping_a_server_lets_its_children_finish_their_work(tmp_path: Path) -> None:
    # The leader exits on SIGTERM at once; its child (an ingest storing the last records) takes 1 s more.
    script = "trap 'exit 0' TERM; (trap '' TERM; sleep 1; echo stored) & wait"
    child = start_child("server", ["bash", "-c", script], tmp_path)
    time.sleep(0.3)
    child.stop(timeout=10)
    assert child.log.read_text().strip() == "stored"
    assert not child.pid_file.exists()
