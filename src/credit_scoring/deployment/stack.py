"""`make deploy`'s stack in one process: MLflow server (local stores), HAProxy, the webhook receiver, the
poller and the controller; stopped in reverse order on SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import uvicorn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from credit_scoring.deployment.controller import Controller, Registry
from credit_scoring.deployment.dispatch import Promotion, dispatch_request, send_dispatch
from credit_scoring.deployment.haproxy import RuntimeApi, render_config
from credit_scoring.deployment.processes import Child, start_child
from credit_scoring.deployment.status import DeployStatus
from credit_scoring.deployment.watch import AliasSignal, Nudge, listener_app, poll_alias, register_webhook
from credit_scoring.errors import UnavailableError, UsageError
from credit_scoring.registry import LOCAL_SCHEMES, UI_ENVIRONMENT, ui_command
from credit_scoring.settings import DeploySettings, Settings

logger = logging.getLogger(__name__)

WEBHOOK_NAME = "credit-scoring-deploy"
# Only for the tracking server this stack starts on local stores: MLflow refuses plain-http and loopback
# webhook URLs otherwise, and caches the webhook list for a minute by default.
LOCAL_WEBHOOK_ENVIRONMENT = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_CACHE_TTL": "2",
}


@dataclass(frozen=True)
class StackOptions:
    """What the entry point chose: public port, MLflow UI port, interface of the public port."""

    port: int
    mlflow_port: int
    host: str
    project_root: Path


def wait_for(url: str, child: Child, seconds: float) -> None:
    """Until ``url`` answers 200, or fail with the end of the child's log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not child.running():
            raise UnavailableError(f"{child.name} exited; see {child.log}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise UnavailableError(f"{child.name} did not answer {url} within {seconds:.0f}s; see {child.log}")


def start_mlflow(settings: Settings, options: StackOptions, state_dir: Path) -> tuple[Child | None, str]:
    """On a local store, an MLflow server that sends webhooks; the registry URI to use either way."""
    if urlparse(settings.tracking_uri).scheme not in LOCAL_SCHEMES:
        return None, settings.tracking_uri
    command = ui_command(settings, "127.0.0.1", options.mlflow_port)
    env = {**os.environ, **UI_ENVIRONMENT, **LOCAL_WEBHOOK_ENVIRONMENT}
    child = start_child("mlflow", command, state_dir, env)
    uri = f"http://127.0.0.1:{options.mlflow_port}"
    wait_for(f"{uri}/health", child, 120)
    return child, uri


def start_haproxy(deploy: DeploySettings, options: StackOptions) -> tuple[Child, RuntimeApi]:
    """HAProxy on the public port, both colours out of the pool until the first deployment passes."""
    binary = shutil.which("haproxy")
    if binary is None:
        raise UsageError("haproxy is not installed: run `make system-deps` (Debian package haproxy)")
    state_dir = deploy.deploy_dir
    socket_path = state_dir / "haproxy.sock"
    socket_path.unlink(missing_ok=True)
    ports = {"blue": deploy.deploy_blue_port, "green": deploy.deploy_green_port}
    config = state_dir / "haproxy.cfg"
    config.write_text(render_config(socket_path, options.host, options.port, ports, serving=""))
    child = start_child("haproxy", [binary, "-db", "-f", str(config)], state_dir)
    deadline = time.monotonic() + 10
    while not socket_path.exists():
        if not child.running() or time.monotonic() > deadline:
            raise UnavailableError(f"HAProxy did not start (port {options.port} busy?); see {child.log}")
        time.sleep(0.1)
    return child, RuntimeApi(socket_path)


def webhook_url(deploy: DeploySettings) -> str:
    return deploy.deploy_webhook_url or f"http://127.0.0.1:{deploy.deploy_listener_port}/webhook"


def webhook_or_polling(client: MlflowClient, url: str, secret: str, poll_interval: float) -> str | None:
    """The webhook's id; None when the tracking server refuses it (then polling alone follows the alias)."""
    try:
        return register_webhook(client, WEBHOOK_NAME, url, secret)
    except MlflowException as error:
        logger.warning(
            "MLflow refused the webhook: following the alias by polling only",
            extra={"url": url, "error": error.message, "poll_interval_s": poll_interval},
        )
        return None


def start_listener(app: object, host: str, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))  # type: ignore[arg-type]
    threading.Thread(target=server.run, name="webhook-listener", daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise UnavailableError(f"the webhook receiver could not listen on port {port}")
        time.sleep(0.05)
    return server


def public_uri(uri: str) -> str:
    """A tracking URI without credentials (it goes into a GitHub event)."""
    parsed = urlparse(uri)
    port = f":{parsed.port}" if parsed.port else ""
    return urlunparse(parsed._replace(netloc=f"{parsed.hostname or ''}{port}"))


def dispatcher(deploy: DeploySettings, settings: Settings, registry_uri: str) -> Callable[[str], None] | None:
    """The after-switch hook: a repository_dispatch when GITHUB_TOKEN and GITHUB_REPOSITORY are set."""
    if deploy.github_token is None or not deploy.github_repository:
        return None
    token, repository = deploy.github_token.get_secret_value(), deploy.github_repository

    def send(version: str) -> None:
        promotion = Promotion(
            settings.model_name, version, settings.production_alias, public_uri(registry_uri)
        )
        try:
            code = send_dispatch(dispatch_request(deploy.github_api_url, repository, token, promotion))
        except httpx.HTTPError as error:
            code, detail = None, str(error)
        else:
            detail = ""
        level = logging.INFO if code == 204 else logging.ERROR
        logger.log(level, "repository_dispatch model-promoted", extra={"status": code, "error": detail})

    return send


@contextlib.contextmanager
def running_stack(settings: Settings, deploy: DeploySettings, options: StackOptions) -> Iterator[Controller]:
    """Everything but the controller's loop, torn down in reverse order when the block ends."""
    state_dir = deploy.deploy_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        mlflow_child, registry_uri = start_mlflow(settings, options, state_dir)
        if mlflow_child is not None:
            stack.callback(mlflow_child.stop)
        haproxy, proxy = start_haproxy(deploy, options)
        stack.callback(haproxy.stop)
        shown = "localhost" if options.host in {"0.0.0.0", "127.0.0.1"} else options.host
        urls = {"api": f"http://{shown}:{options.port}/", "mlflow": registry_uri,
                "status": f"http://127.0.0.1:{deploy.deploy_listener_port}/status"}  # fmt: skip
        status = DeployStatus(state_dir, urls)
        registry = Registry(MlflowClient(registry_uri), settings.tracking_uri, settings.model_name,
                            settings.production_alias)  # fmt: skip
        env = {**os.environ, "CREDIT_DATA_DIR": str(settings.data_root)}
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        controller = Controller(deploy, registry, proxy, status, options.project_root, env,
                                dispatcher(deploy, settings, registry_uri), api_key)  # fmt: skip
        stack.callback(controller.shutdown)
        yield controller


def serve_forever(
    settings: Settings, deploy: DeploySettings, options: StackOptions, stop: threading.Event
) -> None:
    """Run the stack until ``stop``: webhook + polling feed the controller, which deploys @production."""
    signal = AliasSignal()
    secret = (
        deploy.deploy_webhook_secret.get_secret_value()
        if deploy.deploy_webhook_secret
        else secrets.token_hex(32)
    )
    with running_stack(settings, deploy, options) as controller:
        if controller.registry.current() is None:
            raise UsageError(
                f"no version of {settings.model_name!r} carries @{settings.production_alias} in "
                f"{settings.tracking_uri}: train and promote one first (make train && make promote)"
            )
        app = listener_app(
            secret, settings.model_name, settings.production_alias, signal, controller.status.snapshot
        )
        listener = start_listener(app, deploy.deploy_listener_host, deploy.deploy_listener_port)
        client = controller.registry.client
        webhook_id = webhook_or_polling(client, webhook_url(deploy), secret, deploy.deploy_poll_interval_s)
        controller.status.update(webhook_id=webhook_id)
        names = (settings.model_name, settings.production_alias)
        poller = threading.Thread(
            target=poll_alias, name="alias-poller", daemon=True,
            args=(client, *names, signal, deploy.deploy_poll_interval_s, stop),
        )  # fmt: skip
        poller.start()
        signal.nudge(Nudge("start"))
        try:
            controller.run(signal, stop)
        finally:
            listener.should_exit = True
            with contextlib.suppress(Exception):  # the registry may be gone already; the webhook then is too
                if webhook_id is not None:
                    client.delete_webhook(webhook_id)
