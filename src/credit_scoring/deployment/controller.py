"""The deploy controller: on a new @production, build, start beside, check, canary, switch, drain, stop."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import bentoml
import httpx
from mlflow import MlflowClient

from credit_scoring.deployment import checks
from credit_scoring.deployment.haproxy import COLOURS, RuntimeApi
from credit_scoring.deployment.processes import Child, start_child
from credit_scoring.deployment.status import DeployStatus, now_iso
from credit_scoring.deployment.watch import AliasSignal, Nudge
from credit_scoring.errors import CreditScoringError
from credit_scoring.registry import version_by_alias
from credit_scoring.serving.launcher import ServerExited, serve_command, wait_until_ready
from credit_scoring.settings import DeploySettings

logger = logging.getLogger(__name__)

BENTO_TAG_LINE = re.compile(r"^BENTO_TAG=(\S+)$", re.MULTILINE)
BUILD_ATTEMPTS = 3  # the alias may move while a build runs: build again for the newest, a few times
LATENCY_FLOOR_MS = 20  # a canary slower than the old server by less than this is noise, not a regression


class Superseded(CreditScoringError, RuntimeError):
    """The alias kept moving while the controller built: it gives up this round, the next nudge retries."""


@dataclass
class Server:
    """A Bento server of one colour: the registry version it serves and its process."""

    colour: str
    port: int
    version: str
    bento: str
    child: Child

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Registry:
    """Where the controller reads the alias and what the builds import from."""

    client: MlflowClient
    build_uri: str
    model_name: str
    alias: str

    def current(self) -> str | None:
        found = version_by_alias(self.client, self.model_name, self.alias)
        return str(found.version) if found is not None else None


class Controller:
    """Follows the alias: one deployment at a time; nudges that arrive meanwhile are coalesced."""

    def __init__(
        self, settings: DeploySettings, registry: Registry, proxy: RuntimeApi, status: DeployStatus,
        project_root: Path, env: Mapping[str, str], on_switch: Callable[[str], None] | None = None,
        api_key: str | None = None,
    ) -> None:  # fmt: skip
        self.settings, self.registry, self.proxy, self.status = settings, registry, proxy, status
        self.project_root, self.env, self.on_switch = project_root, dict(env), on_switch
        # The candidate serves with the same CREDIT_API_KEY as clients use: the checks send it too.
        self.check_headers = {"X-API-Key": api_key} if api_key else {}
        self.state_dir = settings.deploy_dir
        self.ports = {"blue": settings.deploy_blue_port, "green": settings.deploy_green_port}
        self.serving: Server | None = None
        self.failed: set[str] = set()
        self._attempt_started = time.monotonic()

    def run(self, signal: AliasSignal, stop: threading.Event) -> None:
        """Take nudges until ``stop``; each one makes the controller read the alias and act on it."""
        while not stop.is_set():
            nudge = signal.take(timeout=1.0)
            if nudge is not None and not stop.is_set():
                self.follow(nudge)

    def follow(self, nudge: Nudge) -> None:
        """Deploy what the alias names now (the last move wins), unless it serves already or it failed
        and only a poll noticed it again (moving the alias to it again retries it)."""
        try:
            target = self.registry.current()
        except Exception as error:  # a registry down for a while: keep serving, the next nudge reads again
            logger.warning("cannot read the alias", extra={"error": str(error), "trigger": nudge.trigger})
            return
        serving = self.serving.version if self.serving else None
        if target is None or target == serving:
            return
        if target in self.failed and nudge.trigger != "webhook":
            return
        self.deploy(target, nudge.trigger)

    def deploy(self, target: str, trigger: str) -> None:
        """One attempt at putting ``target`` into service; on any failure the old version keeps serving."""
        started = self._attempt_started = time.monotonic()
        self.status.update(
            last_attempt={"version": target, "trigger": trigger, "started_at": now_iso(), "step": "build"}
        )
        logger.info("deploying", extra={"version": target, "trigger": trigger})
        try:
            target = self.attempt(target)
        except Exception as error:  # a bug in a check included: the old version keeps serving
            self.failed_attempt(target, error, started)
            return
        self.failed.discard(target)
        self.status.attempt(outcome="serving", finished_at=now_iso(), seconds=_since(started))
        logger.info("deployed", extra={"version": target, "seconds": _since(started)})
        if self.on_switch is not None and trigger != "start":  # starting up is no promotion
            self.on_switch(target)

    def attempt(self, target: str) -> str:
        """Build, start, check, canary and switch; the version now serving."""
        tag, target = self.build(target)
        candidate = self.start(tag, target)
        try:
            self.check(candidate)
            self.canary(candidate)
            old = self.switch(candidate)
        except BaseException:
            self.abandon(candidate)
            raise
        self.status.update(serving=_describe(candidate))
        if old is not None:
            self.retire(old)
        return target

    def failed_attempt(self, target: str, error: Exception, started: float) -> None:
        """Remember a broken version (polls then leave it alone), log the alert, show it in the status."""
        if not isinstance(error, CreditScoringError | httpx.HTTPError | OSError | subprocess.SubprocessError):
            logger.exception("unexpected error while deploying", extra={"version": target})
        if not isinstance(error, Superseded):  # a version that kept moving is not a broken one
            self.failed.add(target)
        self.status.attempt(outcome="failed", finished_at=now_iso(), seconds=_since(started))
        self.status.alert(target, str(error))

    def _step(self, step: str, **fields: object) -> None:
        """The attempt's next step, in the status and the log with the seconds the attempt has taken so far
        (where a slow deployment spends its time)."""
        logger.info("deploy step", extra={"step": step, "after_s": _since(self._attempt_started)})
        self.status.attempt(step=step, **fields)

    def build(self, target: str) -> tuple[str, str]:
        """bento/build.py until the Bento holds the version the alias names now; (Bento tag, version)."""
        for _ in range(BUILD_ATTEMPTS):
            tag = self._run_build()
            built = str(bentoml.bentos.get(tag).info.labels.get("model_version"))
            now = self.registry.current()
            if built == now:
                self.status.attempt(version=built, bento=tag)
                return tag, built
            logger.info(
                "the alias moved during the build: building again", extra={"built": built, "now": now}
            )
            if now is None:
                break
        raise Superseded(
            f"@{self.registry.alias} kept moving while building (wanted {target}); retrying later"
        )

    def _run_build(self) -> str:
        log = self.state_dir / "build.log"
        command = [sys.executable, str(self.project_root / "bento" / "build.py")]
        env = {**self.env, "MLFLOW_TRACKING_URI": self.registry.build_uri}
        done = subprocess.run(
            command, cwd=self.project_root, env=env, capture_output=True, text=True, timeout=900
        )
        with log.open("a") as output:
            output.write(done.stdout + done.stderr)
        found = BENTO_TAG_LINE.search(done.stdout)
        if done.returncode != 0 or found is None:
            last = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise checks.CheckFailed(f"bento/build.py failed (exit {done.returncode}): {' | '.join(last)}")
        return found.group(1)

    def start(self, tag: str, version: str) -> Server:
        """The Bento served on the idle colour's port (its own session, pid under var/deploy/)."""
        colour = self.idle_colour()
        self._step("start", colour=colour)
        port = self.ports[colour]
        child = start_child(
            f"bento-{colour}", serve_command(tag, port, "127.0.0.1"), self.state_dir, self.env
        )
        server = Server(colour, port, version, tag, child)
        try:
            wait_until_ready(server.base_url, child.process, self.settings.deploy_ready_timeout_s)
        except (ServerExited, TimeoutError) as error:
            child.stop()
            raise checks.CheckFailed(
                f"candidate {tag} did not become ready: {error} (log {child.log})"
            ) from None
        return server

    def idle_colour(self) -> str:
        return next(c for c in COLOURS if self.serving is None or c != self.serving.colour)

    def check(self, candidate: Server) -> None:
        """Probes, the smoke score and ONNX parity against the Bento's own native model."""
        self._step("check")
        model = bentoml.models.get(bentoml.bentos.get(candidate.bento).info.labels["model_tag"])
        with httpx.Client(base_url=candidate.base_url, timeout=60, headers=self.check_headers) as server:
            checks.probe(server)
            checks.smoke_score(server, candidate.version)
            gap = checks.onnx_parity(
                server, model, candidate.version, self.settings.deploy_parity_rows,
                self.settings.deploy_parity_tolerance,
            )  # fmt: skip
        self.status.attempt(parity_gap=gap)

    def canary(self, candidate: Server) -> None:
        """A share of live traffic for a while; errors or a slower answer than the old server roll back."""
        percent, seconds = self.settings.deploy_canary_percent, self.settings.deploy_canary_s
        if self.serving is None or percent == 0 or seconds == 0:
            return
        self._step("canary", canary_percent=percent)
        before = self.proxy.stats()
        self.proxy.set_weight(candidate.colour, percent)
        self.proxy.set_weight(self.serving.colour, 100 - percent)
        self.proxy.set_state(candidate.colour, "ready")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(1.0)
            self._judge_canary(candidate, before)
        after = self.proxy.stats()[candidate.colour].total_sessions
        self.status.attempt(canary_requests=after - before[candidate.colour].total_sessions)

    def _judge_canary(self, candidate: Server, before: dict) -> None:
        now = self.proxy.stats()
        new, old = now[candidate.colour], now[self.serving.colour]  # type: ignore[union-attr]
        errors = new.errors - before[candidate.colour].errors
        if errors > 0 or new.status.startswith("DOWN"):
            raise checks.CheckFailed(f"canary: {errors} failed answer(s) or retries, status {new.status}")
        slower = new.response_time_ms > self.settings.deploy_canary_latency_factor * old.response_time_ms
        if slower and new.response_time_ms > old.response_time_ms + LATENCY_FLOOR_MS:
            raise checks.CheckFailed(
                f"canary: mean response time {new.response_time_ms} ms vs {old.response_time_ms} ms on the "
                "old server"
            )

    def switch(self, candidate: Server) -> Server | None:
        """All new requests to the candidate; the server it replaces, if any."""
        self._step("switch")
        self.proxy.set_weight(candidate.colour, 100)
        self.proxy.set_state(candidate.colour, "ready")
        if self.serving is not None:
            self.proxy.set_state(self.serving.colour, "drain")
        old, self.serving = self.serving, candidate
        return old

    def retire(self, old: Server) -> None:
        """The old server finishes its requests (sessions to 0), leaves the pool and stops (SIGTERM)."""
        self._step("drain")
        deadline = time.monotonic() + self.settings.deploy_drain_timeout_s
        while time.monotonic() < deadline and self.proxy.stats()[old.colour].current_sessions > 0:
            time.sleep(0.2)
        self.proxy.set_state(old.colour, "maint")
        # SIGTERM: BentoML's shutdown hooks seal the journal and its ingest stores what is left.
        code = old.child.stop(timeout=60)
        logger.info("old server stopped", extra={"version": old.version, "colour": old.colour, "exit": code})

    def abandon(self, candidate: Server) -> None:
        """After a failed check: the candidate out of the pool and stopped, the old server at full weight."""
        try:
            self.proxy.set_state(candidate.colour, "maint")
            if self.serving is not None:  # back to full weight, out of drain if the switch got that far
                self.proxy.set_weight(self.serving.colour, 100)
                self.proxy.set_state(self.serving.colour, "ready")
        finally:
            candidate.child.stop()

    def shutdown(self) -> None:
        """Stop the serving server (the stack stops HAProxy and MLflow)."""
        if self.serving is not None:
            self.serving.child.stop(timeout=60)
            self.serving = None


def _describe(server: Server) -> dict[str, object]:
    return {"version": server.version, "colour": server.colour, "port": server.port, "bento": server.bento,
            "pid": server.child.pid, "since": now_iso()}  # fmt: skip


def _since(started: float) -> float:
    return round(time.monotonic() - started, 1)
