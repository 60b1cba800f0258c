"""The CI workflow lints and tests every change; main and promoted models are built from the team's
@production, smoke-tested, and only a promoted model is pushed and deployed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
MAIN_PUSH = "(github.event_name == 'push' && github.ref == 'refs/heads/main')"
MODEL_PROMOTED = "github.event_name == 'repository_dispatch'"
PRODUCTION_ONLY = "steps.model.outputs.production == 'true'"
SECRET_KEY = re.compile(r"password|passwd|token|secret|api[-_]?key|credential", re.IGNORECASE)
SECRET_EXPRESSION = re.compile(r"\$\{\{\s*secrets\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}")
# Shapes of real credentials that must never appear anywhere in the file.
CREDENTIAL_SHAPES = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY"
)

Job = dict[str, Any]
Step = dict[str, Any]


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def jobs(workflow: dict[Any, Any]) -> dict[str, Job]:
    return workflow["jobs"]


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    if isinstance(triggers, str):
        return {triggers: None}
    if isinstance(triggers, list):
        return dict.fromkeys(triggers)
    return triggers


def _needs(job: Job) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _normalise(expression: str) -> str:
    return " ".join(expression.replace('"', "'").split())


def _step_text(step: Step) -> str:
    return " ".join(str(step.get(key, "")) for key in ("name", "uses", "run"))


def _index(steps: list[Step], pattern: str) -> int:
    """Position of the first step whose name/uses/run matches the regex pattern."""
    for position, step in enumerate(steps):
        if re.search(pattern, _step_text(step)):
            return position
    raise AssertionError(f"no step matches {pattern!r}")


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every (path, key, value) of the nested mappings and lists."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for position, value in enumerate(node):
            yield from _walk(value, f"{path}[{position}]")


def _literal_secrets(document: Any) -> list[str]:
    """Paths of credential-like keys whose value is anything but a whole `${{ secrets.* }}` expression."""
    found = []
    for path, key, value in _walk(document):
        if not (isinstance(key, str) and SECRET_KEY.search(key)) or isinstance(value, dict | list):
            continue
        if not (isinstance(value, str) and SECRET_EXPRESSION.fullmatch(value.strip())):
            found.append(f"{path}.{key}")
    return found


def _schema_errors(workflow_file: Path) -> str:
    """check-jsonschema against its vendored copy of GitHub's workflow schema (works offline)."""
    executable = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert executable, "check-jsonschema is missing: run make venv"
    done = subprocess.run(
        [executable, "--builtin-schema", "vendor.github-workflows", str(workflow_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


def test_workflow_is_valid_against_githubs_schema() -> None:
    assert _schema_errors(WORKFLOW) == ""


def test_the_schema_check_catches_a_malformed_workflow(tmp_path: Path) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "timeout-minutes: 45" in text
    malformed = tmp_path / "ci.yml"
    malformed.write_text(text.replace("timeout-minutes: 45", "timeout-minutes: soon", 1), encoding="utf-8")
    assert "'soon' is not of type 'number'" in _schema_errors(malformed)


def test_triggers_are_push_pull_request_and_a_promoted_model(workflow: dict[Any, Any]) -> None:
    triggers = _triggers(workflow)
    assert {"push", "pull_request", "repository_dispatch"} <= set(triggers)
    assert triggers["repository_dispatch"] == {"types": ["model-promoted"]}


def test_has_the_four_jobs_chained_test_build_deploy(jobs: dict[str, Job]) -> None:
    assert {"lint", "test", "build", "deploy"} <= set(jobs)
    assert "test" in _needs(jobs["build"])
    assert "build" in _needs(jobs["deploy"])
    assert not _needs(jobs["lint"]) and not _needs(jobs["test"])


def test_lint_runs_ruff_and_test_runs_make_test(jobs: dict[str, Job]) -> None:
    assert any(re.search(r"\bruff check\b", step.get("run", "")) for step in jobs["lint"]["steps"])
    assert any(re.search(r"\bmake test\b", step.get("run", "")) for step in jobs["test"]["steps"])


def test_pip_cache_is_keyed_on_constraints(jobs: dict[str, Job]) -> None:
    for name in ("lint", "test", "build"):
        setups = [s for s in jobs[name]["steps"] if str(s.get("uses", "")).startswith("actions/setup-python")]
        assert setups, f"{name}: no actions/setup-python step"
        assert setups[0]["with"]["cache"] == "pip"
        assert setups[0]["with"]["cache-dependency-path"] == "constraints.txt"


@pytest.mark.parametrize("name", ["build", "deploy"])
def test_build_and_deploy_run_on_main_or_a_promoted_model_only(jobs: dict[str, Job], name: str) -> None:
    condition = _normalise(jobs[name].get("if", ""))
    assert f"{MAIN_PUSH} || {MODEL_PROMOTED}" in condition, f"{name}.if: {condition!r}"
    assert "pull_request" not in condition


def test_only_the_teams_model_is_pushed_and_deployed(jobs: dict[str, Job]) -> None:
    steps = jobs["build"]["steps"]
    for pattern in (r"docker/login-action", r"docker push\b"):
        assert _normalise(steps[_index(steps, pattern)].get("if", "")) == PRODUCTION_ONLY
    assert jobs["build"]["outputs"]["production"] == "${{ steps.model.outputs.production }}"
    assert _normalise(jobs["deploy"]["if"]).startswith("needs.build.outputs.production == 'true' && (")


def test_the_model_comes_from_the_teams_registry_secret(jobs: dict[str, Job]) -> None:
    steps = jobs["build"]["steps"]
    model = steps[_index(steps, r"ci_model\.py")]
    assert model["id"] == "model"
    assert model["env"]["TEAM_TRACKING_URI"] == "${{ secrets.MLFLOW_TRACKING_URI }}"
    assert model["env"]["EXPECTED_VERSION"] == "${{ github.event.client_payload.version }}"
    text = " ".join(_step_text(step) for step in steps)
    assert not re.search(r"\bmake (train|promote|build)\b", text), "CI must not train its own model"


def test_build_ships_containerizes_smoke_tests_then_pushes_in_order(jobs: dict[str, Job]) -> None:
    steps = jobs["build"]["steps"]
    order = [
        _index(steps, r"ci_model\.py"),
        _index(steps, r'bentoml containerize "\$BENTO_TAG" -t'),
        _index(steps, r"docker run -d\b[\s\S]*-p 3000:3000[\s\S]*\bserve\b"),
        _index(steps, r"deploy/container/smoke_test\.py"),
        _index(steps, r"docker/login-action"),
        _index(steps, r"docker push\b"),
    ]
    assert order == sorted(order), f"steps out of order: {order}"
    assert len(set(order)) == len(order)


def test_the_image_is_labelled_with_what_it_carries(jobs: dict[str, Job]) -> None:
    steps = jobs["build"]["steps"]
    containerize = steps[_index(steps, r"bentoml containerize")]["run"]
    assert "label=credit-scoring.production=${{ steps.model.outputs.production }}" in containerize
    assert "label=credit-scoring.model-version=${{ steps.model.outputs.model_version }}" in containerize
    container_test = (ROOT / "deploy" / "container" / "container_test.sh").read_text(encoding="utf-8")
    assert "ci_model.py" in container_test and "check_labels" in container_test


def test_image_is_tagged_with_the_repository_and_commit(jobs: dict[str, Job]) -> None:
    steps = jobs["build"]["steps"]
    naming = steps[_index(steps, r"IMAGE=")]["run"]
    # ghcr.io/<owner>/<repo>:<sha>-v<version>, lower-cased with bash's ${VAR,,} (registry names must be).
    assert re.search(
        r"image=\"?ghcr\.io/\$\{GITHUB_REPOSITORY,,\}:\$\{GITHUB_SHA\}"
        r"-v\$\{\{ steps\.model\.outputs\.model_version \}\}",
        naming,
    )
    assert '-t "$IMAGE"' in steps[_index(steps, r"bentoml containerize")]["run"]
    assert '"$IMAGE"' in steps[_index(steps, r"docker run -d")]["run"]
    assert re.search(r'docker push "\$IMAGE"', steps[_index(steps, r"docker push")]["run"])


def test_smoke_test_is_the_container_test_script_on_the_started_container(jobs: dict[str, Job]) -> None:
    steps = jobs["build"]["steps"]
    smoke = steps[_index(steps, r"smoke_test\.py")]["run"]
    started = steps[_index(steps, r"docker run -d")]["run"]
    container = re.search(r"--name (\S+)", started)
    assert container, "docker run has no --name for the smoke test to exec into"
    assert re.search(rf"--container {re.escape(container.group(1))}\b", smoke)
    assert re.search(r"--url http://(127\.0\.0\.1|localhost):3000\b", smoke)
    assert '--bento "$BENTO_TAG"' in smoke
    assert re.search(r"--wait \d+", smoke), "the smoke test must wait for /readyz"
    # The container and the smoke test share the random key generated for this run.
    assert 'CREDIT_API_KEY="${api_key}"' in started and 'CREDIT_API_KEY="${SMOKE_API_KEY}"' in smoke
    container_test = ROOT / "deploy" / "container" / "container_test.sh"
    assert "smoke_test.py" in container_test.read_text(encoding="utf-8")


def test_registry_login_uses_the_job_token(jobs: dict[str, Job]) -> None:
    steps = jobs["build"]["steps"]
    login = steps[_index(steps, r"docker/login-action")]["with"]
    assert login["registry"] == "ghcr.io"
    assert _normalise(login["password"]) == "${{ secrets.GITHUB_TOKEN }}"


def test_permissions_are_minimal(workflow: dict[Any, Any], jobs: dict[str, Job]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    assert jobs["build"]["permissions"] == {"contents": "read", "packages": "write"}
    for name, job in jobs.items():
        if name != "build":
            assert "permissions" not in job, f"{name} widens the default permissions"
    assert "concurrency" in workflow


def test_deploy_is_a_labelled_simulation_in_staging(jobs: dict[str, Job]) -> None:
    deploy = jobs["deploy"]
    environment = deploy["environment"]
    assert (environment if isinstance(environment, str) else environment["name"]) == "staging"
    text = " ".join(_step_text(step) for step in deploy["steps"])
    assert "SIMULATED" in text.upper()
    assert "kubectl apply" in text


def test_no_literal_secrets(workflow: dict[Any, Any]) -> None:
    assert _literal_secrets(workflow) == []
    assert not CREDENTIAL_SHAPES.search(WORKFLOW.read_text(encoding="utf-8"))


def test_the_secret_check_catches_literals() -> None:
    leaky = {"steps": [{"with": {"password": "hunter2", "registry": "ghcr.io"}}, {"env": {"API_TOKEN": "x"}}]}
    assert _literal_secrets(leaky) == [".steps[0].with.password", ".steps[1].env.API_TOKEN"]
    assert _literal_secrets({"with": {"password": "${{ secrets.GITHUB_TOKEN }}"}}) == []
    assert _literal_secrets({"with": {"password": "prefix-${{ secrets.GITHUB_TOKEN }}"}}) != []
