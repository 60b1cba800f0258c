"""The service's request log: one stored record per request, whatever the answer, in process and served."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bentoml
import httpx
import pandas as pd
import pytest
from starlette.testclient import TestClient

from credit_scoring.recording.protocol import pseudonymise, storable_inputs
from credit_scoring.recording.store import ParquetStore
from credit_scoring.schema import ID_COLUMN, INPUT_COLUMNS, example_application
from credit_scoring.serving.launcher import free_port, serve_command, stop_server, wait_until_ready
from credit_scoring.settings import MonitoringSettings
from credit_scoring.validation import Application, application_to_record
from tests.support.model_fixtures import TINY_THRESHOLD
from tests.support.registry import TinyRegistration

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "request-log-test-key"
PSEUDONYMISATION_KEY = "request-log-test-hmac-key"
EXAMPLE = example_application()
EXAMPLE_INPUTS = storable_inputs(application_to_record(Application.model_validate(EXAMPLE)))
FIRST_CLIENT_ID = 731_000_000  # nine digits: found in a file only if a raw id was written
MONITORING_ENV = {
    "CREDIT_API_KEY": API_KEY,
    "CREDIT_PSEUDONYMISATION_KEY": PSEUDONYMISATION_KEY,
    "CREDIT_INGEST_INTERVAL_S": "0.1",
    "CREDIT_INGEST_MAX_DELAY_S": "0.1",
    "CREDIT_CHECKPOINT_INTERVAL_S": "1",
    "CREDIT_JOURNAL_RETENTION_S": "0",
    # At idle priority the ingest only gets CPU nothing else wants: on a shared test machine, maybe none.
    "CREDIT_MONITORING_PRIORITY": "normal",
}


@dataclass(frozen=True)
class Call:
    """One request, the answer it must get and the records it must leave."""

    route: str
    kwargs: dict[str, Any]
    status: int
    kind: str | None = None
    records: int = 1
    client_ids: tuple[int, ...] = ()
    keyed: bool = True

    def send(self, client: TestClient | httpx.Client) -> httpx.Response:
        kwargs = dict(self.kwargs)
        headers = kwargs.pop("headers", {}) | ({"X-API-Key": API_KEY} if self.keyed else {})
        return client.post(self.route, headers=headers, **kwargs)

    @property
    def endpoint(self) -> str:
        return self.route.removeprefix("/")


@dataclass
class Ids:
    """Hands out distinct raw client ids."""

    next_id: int = FIRST_CLIENT_ID
    used: list[int] = field(default_factory=list)

    def take(self) -> int:
        self.next_id += 1
        self.used.append(self.next_id)
        return self.next_id


def one_round(ids: Ids) -> list[Call]:
    """Every kind of answer once: scored, explained, batch, invalid, bad batch, no key, too big, not JSON."""
    a, b, c = ids.take(), ids.take(), ids.take()
    batch = [EXAMPLE | {ID_COLUMN: ids.take()} for _ in range(3)]
    invalid = ids.take()
    return [
        Call("/score", {"json": {"application": EXAMPLE | {ID_COLUMN: a}}}, 200, client_ids=(a,)),
        Call("/explain", {"json": {"application": EXAMPLE | {ID_COLUMN: b}, "top": 3}}, 200, client_ids=(b,)),
        Call("/score_batch", {"json": {"applications": batch}}, 200, records=3,
             client_ids=tuple(x[ID_COLUMN] for x in batch)),
        Call("/score", {"json": {"application": EXAMPLE | {ID_COLUMN: invalid, "AMT_INCOME_TOTAL": -1}}}, 400,
             "validation", client_ids=(invalid,)),
        Call("/score_batch", {"json": {"applications": [EXAMPLE, EXAMPLE | {"DAYS_BIRTH": 5}]}}, 400,
             "validation"),
        Call("/score", {"json": {"application": EXAMPLE | {ID_COLUMN: c}}}, 401, "auth", keyed=False),
        Call("/score", {"content": b" " * (300 * 1024)}, 413, "too_large"),
        Call("/score", {"content": b"{oops", "headers": {"Content-Type": "application/json"}}, 400,
             "validation"),
    ]  # fmt: skip


def mixed_calls(rounds: int) -> tuple[list[Call], Ids]:
    ids = Ids()
    return [call for _ in range(rounds) for call in one_round(ids)], ids


def send_all(client: TestClient | httpx.Client, calls: list[Call], clients: int = 16) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(lambda call: call.send(client), calls))


def expected_counts(calls: list[Call]) -> Counter:
    counts: Counter = Counter()
    for call in calls:
        counts[call.endpoint, call.status, call.kind] += call.records
    return counts


def stored_counts(records: pd.DataFrame) -> Counter:
    kinds = [None if pd.isna(kind) else kind for kind in records["error_kind"]]
    return Counter(zip(records["endpoint"], records["status"].astype(int), kinds, strict=True))


def files_holding(folder: Path, raw_ids: list[int]) -> list[str]:
    """Files under ``folder`` (database, its WAL, profiles) in which any raw client id appears."""
    found = []
    for path in folder.rglob("*"):
        content = path.read_bytes() if path.is_file() else b""
        found += [f"{path.name}: {raw}" for raw in raw_ids if str(raw).encode() in content]
    return found


def free_bentoml_metric_names() -> None:
    """BentoML registers its Prometheus metrics in the process-wide registry once per ASGI app, so a second
    app in one test process (the suite's ``api_client`` is another) must find their names free."""
    from prometheus_client import REGISTRY

    for collector, names in list(REGISTRY._collector_to_names.items()):  # no public listing exists
        if any(name.startswith("bentoml_") for name in names):
            REGISTRY.unregister(collector)


@contextmanager
def service_in_process(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[TestClient]:
    """The service through its own ASGI app with ``env`` set; leaving the block shuts it down cleanly."""
    for name, value in (MONITORING_ENV | env).items():
        monkeypatch.setenv(name, value)
    sys.path.insert(0, str(REPO_ROOT))
    from bento.service import CreditScoring

    free_bentoml_metric_names()
    try:
        with TestClient(CreditScoring.to_asgi()) as client:
            yield client
    finally:
        free_bentoml_metric_names()


def wait_for_workers(client: httpx.Client, count: int, timeout_s: float = 120.0) -> None:
    """Poll /monitoring/health (each worker answers with its own pid) until ``count`` workers answered."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {len(seen)} of {count} workers answered"
        # A new connection each time: a kept-alive one would always reach the same worker.
        response = client.get("/monitoring/health", headers={"Connection": "close"})
        seen.add(response.json()["pid"])
        time.sleep(0.05)


def health(client: TestClient | httpx.Client) -> dict[str, Any]:
    response = client.get("/monitoring/health")
    assert response.status_code == 200
    return response.json()


def check_records(records: pd.DataFrame, calls: list[Call], ids: Ids, version: str) -> None:
    """The stored records match the calls one for one: counts, pseudonyms, model, scores and timings."""
    assert len(records) == sum(call.records for call in calls)
    assert stored_counts(records) == expected_counts(calls)
    expected_refs = {pseudonymise(i, PSEUDONYMISATION_KEY) for c in calls if c.keyed for i in c.client_ids}
    assert set(records["client_ref"].dropna()) == expected_refs
    assert (records["model_name"] == "credit-scoring").all() and (records["model_version"] == version).all()
    assert (records["latency_ms"] > 0).all()
    ok = records[records["status"] == 200]
    assert ok["probability"].between(0, 1).all() and (ok["threshold"] == TINY_THRESHOLD).all()
    decisions = ok["probability"].ge(TINY_THRESHOLD).map({True: "refuse", False: "grant"})
    assert (ok["decision"] == decisions).all()
    assert ((ok["inference_ms"] > 0) & (ok["inference_ms"] < ok["latency_ms"])).all()
    # The journal holds the raw bodies; the ingest stores the application as the API validated it.
    stored_inputs = ok[list(INPUT_COLUMNS)].astype(object).where(ok[list(INPUT_COLUMNS)].notna(), None)
    assert all(row == EXAMPLE_INPUTS for row in stored_inputs.to_dict(orient="records"))
    refused = records[records["status"] >= 400]
    assert refused["probability"].isna().all() and refused["inference_ms"].isna().all()
    batches = records[(records["endpoint"] == "score_batch") & (records["status"] == 200)]
    assert set(batches.groupby("request_id").size()) == {3}  # one record per application, one id
    assert (
        sorted(batches["item"].unique()) == [0, 1, 2]
        and not records[["request_id", "item"]].duplicated().any()
    )
    assert ID_COLUMN not in records and not any(
        ID_COLUMN in text for text in records["rejected_inputs"].dropna()
    )


def stored_records(data_dir: Path) -> pd.DataFrame:
    return ParquetStore(MonitoringSettings(data_dir=data_dir).store_path).records()


def test_every_request_leaves_exactly_one_record_per_application(
    bento_model: bentoml.Model,
    registered_model: TinyRegistration,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    calls, ids = mixed_calls(rounds=12)
    with service_in_process(monkeypatch, {"CREDIT_DATA_DIR": str(tmp_path / "var")}) as client:
        responses = send_all(client, calls)
        counters = health(client)
    assert [r.status_code for r in responses] == [call.status for call in calls]
    journal = counters["journal"]
    assert counters["enabled"] and journal["appended"] == len(calls) and journal["available"]
    assert journal["unrecorded"] == journal["refused"] == 0 and counters["alerts"] == []
    records = stored_records(tmp_path / "var")
    check_records(records, calls, ids, registered_model.version)
    # Every answer names its record (support, audit); a /score answer's own id is that record's id.
    assert {r.headers["X-Request-ID"] for r in responses} == set(records["request_id"])
    scored = [r for r, c in zip(responses, calls, strict=True) if c.route == "/score" and c.status == 200]
    assert all(r.headers["X-Request-ID"] == r.json()["request_id"] for r in scored)
    assert files_holding(tmp_path / "var", ids.used) == []  # the journal too: ingested, then deleted
    assert list((tmp_path / "var" / "monitoring" / "profiles").rglob("*.bin"))  # windows profiled


def broken_stores(tmp_path: Path) -> dict[str, dict[str, str]]:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("the store's folder cannot be created under a file")
    return {
        "unwritable store folder": {"CREDIT_STORE_DIR": str(not_a_folder / "store")},
        "database server down": {
            "CREDIT_REQUEST_STORE_URL": f"postgresql+psycopg://monitor@127.0.0.1:{free_port()}/requests"
        },
    }


@pytest.mark.parametrize("broken", ["unwritable store folder", "database server down"])
def test_a_broken_store_fails_no_request_and_the_journal_keeps_the_records(
    bento_model: bentoml.Model, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broken: str
) -> None:
    env = broken_stores(tmp_path)[broken] | {"CREDIT_DATA_DIR": str(tmp_path / "var")}
    calls = [Call("/score", {"json": {"application": EXAMPLE}}, 200) for _ in range(40)]
    with service_in_process(monkeypatch, env) as client:
        responses = send_all(client, calls)
        counters = wait_for(client, lambda c: c["ingest"].get("store_errors", 0) >= 1)
    assert [r.status_code for r in responses] == [200] * len(calls)
    assert counters["journal"]["appended"] == len(calls) and counters["ingest"].get("stored_records", 0) == 0
    assert counters["lag"]["lag_bytes"] > 0 and counters["lag"]["lag_records"] > 0


def wait_for(
    client: TestClient, done: Callable[[dict[str, Any]], bool], timeout: float = 60.0
) -> dict[str, Any]:
    """The health counters once ``done`` says so (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    counters = health(client)
    while not done(counters) and time.monotonic() < deadline:
        time.sleep(0.1)
        counters = health(client)
    return counters


@pytest.mark.parametrize("policy", ["refuse", "count"])
def test_an_unwritable_journal_refuses_decisions_or_counts_them_as_told(
    bento_model: bentoml.Model, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, policy: str
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("the journal cannot be created under a file")
    env = {"CREDIT_DATA_DIR": str(tmp_path / "var"), "CREDIT_JOURNAL_DIR": str(blocker / "journal"),
           "CREDIT_JOURNAL_FAILURE_POLICY": policy}  # fmt: skip
    with service_in_process(monkeypatch, env) as client:
        answers = [Call("/score", {"json": {"application": EXAMPLE}}, 200).send(client) for _ in range(3)]
        counters = health(client)
    if policy == "refuse":
        assert [a.status_code for a in answers] == [503] * 3
        assert answers[0].json()["error"].startswith("decision log unavailable: cannot create a segment")
        assert counters["journal"]["refused"] == 3 and "decision log unavailable" in counters["alerts"][0]
    else:
        assert [a.status_code for a in answers] == [200] * 3 and counters["journal"]["unrecorded"] == 3
        assert any("without a record" in alert for alert in counters["alerts"])


def test_monitoring_can_be_turned_off(bento_model: bentoml.Model, monkeypatch, tmp_path: Path) -> None:
    env = {"CREDIT_MONITORING_ENABLED": "false", "CREDIT_DATA_DIR": str(tmp_path / "var")}
    with service_in_process(monkeypatch, env) as client:
        assert send_all(client, mixed_calls(rounds=1)[0])[0].status_code == 200
        assert health(client)["enabled"] is False
    assert not (tmp_path / "var" / "monitoring").exists()


@pytest.mark.slow
def test_bentoml_serve_stores_every_record_before_exiting_on_sigterm(
    bento_model: bentoml.Model,
    registered_model: TinyRegistration,
    store_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The service as `bentoml serve` runs it (two workers), stopped with SIGTERM right after the traffic."""
    env = store_env | MONITORING_ENV | {"CREDIT_DATA_DIR": str(tmp_path / "var")}
    env["CREDIT_INGEST_MAX_DELAY_S"] = "300"  # nothing stored on the way: the shutdown must store it all
    port, log = free_port(), tmp_path / "bentoml-serve.log"
    calls, ids = mixed_calls(rounds=6)
    with log.open("wb") as output:
        command = serve_command("bento.service:CreditScoring", port, host="127.0.0.1")
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, timeout=180)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            # /readyz answers as soon as one worker is up; both must be, or the other is stopped mid-start.
            wait_for_workers(client, count=2)
            responses = send_all(client, calls, clients=8)
            assert health(client)["ingest"].get("stored_records", 0) == 0
    finally:
        stop_server(process, timeout=60)
    assert [r.status_code for r in responses] == [call.status for call in calls]
    records = stored_records(tmp_path / "var")
    check_records(records, calls, ids, registered_model.version)
    assert files_holding(tmp_path / "var", ids.used) == []
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
