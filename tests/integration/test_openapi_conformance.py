"""The served API answers as its published OpenAPI document says: schemathesis, every check, a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import bentoml
import pytest

from credit_scoring.serving.launcher import free_port, serve_command, stop_server, wait_until_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "conformance-test-key"
API_OPERATIONS = ("POST /score", "POST /score_batch", "POST /explain")
CASES_PER_OPERATION = 500
SEED = 20261201  # reproducible: a failure names its case, `st replay` and the seed rerun it
# Generated from the document's own security scheme, so the "ignored_auth" check can also send requests
# without the key and expect the 401 the document declares.
AUTH_CONFIG = f'[auth.openapi.ApiKey]\napi_key = "{API_KEY}"\n'


@pytest.fixture(scope="module")
def served(
    bento_model: bentoml.Model, store_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`bentoml serve` of the service in this checkout, with the tiny model, an API key, no monitoring."""
    scratch = tmp_path_factory.mktemp("conformance")
    env = store_env | {
        "CREDIT_API_KEY": API_KEY,
        "CREDIT_MONITORING_ENABLED": "false",  # the contract does not depend on it; the fuzzer's CPU does
        "CREDIT_DATA_DIR": str(scratch / "var"),
    }
    port, log = free_port(), scratch / "bentoml-serve.log"
    with log.open("wb") as output:
        command = serve_command("bento.service:CreditScoring", port, host="127.0.0.1")
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, timeout=180)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(process)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def cases_per_operation(report: Path) -> Counter[str]:
    """Generated test cases per operation, over all phases, from schemathesis's NDJSON event stream."""
    cases: Counter[str] = Counter()
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is not None:
            cases[finished["recorder"]["label"]] += len(finished["recorder"].get("cases", ()))
    return cases


def test_every_answer_conforms_to_the_published_document(served: str, tmp_path: Path) -> None:
    (tmp_path / "schemathesis.toml").write_text(AUTH_CONFIG)
    report = tmp_path / "events.ndjson"
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(tmp_path / "schemathesis.toml"),
        "run", f"{served}/docs.json", "--checks", "all", "--max-examples", str(CASES_PER_OPERATION),
        "--seed", str(SEED), "--workers", "2", "--generation-database", "none", "--no-color",
        "--report", "ndjson", "--report-ndjson-path", str(report),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    summary = done.stdout[-6000:]
    assert done.returncode == 0, summary
    cases = cases_per_operation(report)
    assert all(cases[operation] >= CASES_PER_OPERATION for operation in API_OPERATIONS), (cases, summary)
    # The probes take no input: a few distinct requests each, all checked too.
    assert {"GET /livez", "GET /readyz", "GET /metrics"} <= set(cases), cases
    print(summary[-1500:], dict(cases))
