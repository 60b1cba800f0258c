"""Outcomes through the real service and the CLI, then the report: realized AUC equals the direct one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from credit_scoring.cost import CostWeights
from credit_scoring.data.synthetic import generate_applications
from credit_scoring.monitoring.performance_report import build_report
from credit_scoring.recording.outcomes import ParquetOutcomes
from credit_scoring.recording.performance_queries import StorePerformance
from credit_scoring.recording.protocol import pseudonymise
from credit_scoring.recording.store import ParquetStore
from credit_scoring.schema import ID_COLUMN, TARGET_COLUMN
from credit_scoring.settings import MonitoringSettings, PerformanceThresholds
from tests.integration.test_service_request_log import API_KEY, PSEUDONYMISATION_KEY, service_in_process

pytestmark = pytest.mark.integration

APPLICATIONS = 600
FIRST_ID = 912_000_000  # nine digits: found in a stored file only if a raw id was written


def applications() -> list[dict]:
    frame = generate_applications(APPLICATIONS, seed=11).drop(columns=TARGET_COLUMN)
    frame[ID_COLUMN] = np.arange(FIRST_ID, FIRST_ID + APPLICATIONS)
    return json.loads(frame.to_json(orient="records"))


def wait_stored(store: ParquetStore, count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while store.count() < count:
        assert time.monotonic() < deadline, f"{store.count()} of {count} records stored"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def loaded(bento_model: bentoml.Model, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Score through the service, draw outcomes from the answers, load half by POST, half by the CLI."""
    var = tmp_path_factory.mktemp("outcomes") / "var"
    monkeypatch = pytest.MonkeyPatch()
    keyed = {"X-API-Key": API_KEY}
    with service_in_process(monkeypatch, {"CREDIT_DATA_DIR": str(var)}) as client:
        sent = applications()
        answers = [
            a
            for start in range(0, APPLICATIONS, 200)
            for a in client.post(
                "/score_batch", json={"applications": sent[start : start + 200]}, headers=keyed
            ).json()
        ]
        store = ParquetStore(MonitoringSettings(data_dir=var).store_path)
        wait_stored(store, APPLICATIONS)
        rng = np.random.default_rng(4)
        outcomes = pd.DataFrame(
            {
                ID_COLUMN: [a["client_reference"] for a in answers],
                TARGET_COLUMN: (rng.random(APPLICATIONS) < [a["probability"] for a in answers]),
            }
        )
        outcomes[TARGET_COLUMN] = outcomes[TARGET_COLUMN].astype(int)
        posted = [*outcomes.iloc[: APPLICATIONS // 2].to_dict("records"), {ID_COLUMN: 5, TARGET_COLUMN: 1}]
        body = {"outcomes": posted}
        result = {
            "unauthorised": client.post("/outcomes", json=body).status_code,
            "bad": client.post(
                "/outcomes", json={"outcomes": [{ID_COLUMN: 1, TARGET_COLUMN: 3}]}, headers=keyed
            ),
            "first": client.post("/outcomes", json=body, headers=keyed).json(),
            "again": client.post("/outcomes", json=body, headers=keyed).json(),
        }
    csv = var / "outcomes.csv"
    outcomes.iloc[APPLICATIONS // 2 :].to_csv(csv, index=False)
    from monitor_app.load_outcomes import app

    cli = CliRunner().invoke(
        app,
        [str(csv)],
        env={"CREDIT_DATA_DIR": str(var), "CREDIT_PSEUDONYMISATION_KEY": PSEUDONYMISATION_KEY},
    )
    monkeypatch.undo()
    return result | {"cli": cli, "store": store, "outcomes": outcomes, "var": var}


def test_post_outcomes_needs_the_key_refuses_bad_bodies_and_is_idempotent(loaded: dict) -> None:
    assert loaded["unauthorised"] == 401
    assert loaded["bad"].status_code == 400 and "TARGET" in loaded["bad"].json()["error"]
    half = APPLICATIONS // 2
    assert loaded["first"] == {
        "received": half + 1,
        "stored": half,
        "corrected": 0,
        "unchanged": 0,
        "unmatched": 1,
    }
    assert loaded["again"] == {
        "received": half + 1,
        "stored": 0,
        "corrected": 0,
        "unchanged": half,
        "unmatched": 1,
    }


def test_the_cli_loads_the_rest_and_no_raw_id_is_stored(loaded: dict) -> None:
    assert loaded["cli"].exit_code == 0, loaded["cli"].output
    assert json.loads(loaded["cli"].output.splitlines()[-1])["stored"] == APPLICATIONS // 2
    files = ParquetOutcomes(loaded["store"].root).files()
    content = b"".join(Path(f).read_bytes() for f in files)
    assert files and str(FIRST_ID)[:6].encode() not in content


def test_the_reports_realized_auc_is_the_auc_of_the_stored_probabilities(loaded: dict) -> None:
    records = loaded["store"].records(columns=["client_ref", "probability", "model_version"])
    outcomes = loaded["outcomes"].assign(
        client_ref=lambda f: [pseudonymise(int(i), PSEUDONYMISATION_KEY) for i in f[ID_COLUMN]]
    )
    joined = records.merge(outcomes, on="client_ref")
    direct = roc_auc_score(joined[TARGET_COLUMN], joined["probability"])
    report = build_report(StorePerformance(loaded["store"]), CostWeights(), PerformanceThresholds(), {})
    (version,) = report.versions
    assert version.n_outcomes == APPLICATIONS
    assert version.realized_auc == pytest.approx(direct, abs=0.005)
    from monitor_app.performance_report import app

    done = CliRunner().invoke(
        app, ["--out", str(loaded["var"] / "report")], env={"CREDIT_DATA_DIR": str(loaded["var"])}
    )
    assert done.exit_code in (0, 1), done.output
    summary = json.loads(done.output.strip().splitlines()[-1])
    assert summary["versions"][version.version]["realized_auc"] == pytest.approx(direct, abs=0.005)
    assert (loaded["var"] / "report" / "performance.md").is_file()
