"""Traffic simulator: scenario transforms keep rows valid and move what they claim; plans, replay, summary."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from credit_scoring.data.synthetic import generate_applications
from credit_scoring.monitoring.drift import compare_profiles
from credit_scoring.monitoring.profiles import build_profile
from credit_scoring.schema import EMPLOYED_SENTINEL, ID_COLUMN, INPUT_COLUMNS, MIN_AGE_DAYS, TARGET_COLUMN
from credit_scoring.settings import AlertThresholds
from credit_scoring.validation import Application, check_frame
from credit_scoring_tools import simulation as sim

LIMITS = AlertThresholds()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    return generate_applications(2000, seed=31)


@pytest.fixture(scope="module")
def drifted(fresh: pd.DataFrame) -> pd.DataFrame:
    return sim.drift_transform(fresh, np.random.default_rng(0))


def test_drifted_rows_stay_valid_and_typed(fresh: pd.DataFrame, drifted: pd.DataFrame) -> None:
    assert check_frame(drifted[list(INPUT_COLUMNS)]) == []
    assert drifted.dtypes.equals(fresh.dtypes) and drifted.index.equals(fresh.index)
    assert drifted[ID_COLUMN].equals(fresh[ID_COLUMN])


def test_drift_moves_income_missingness_and_age(fresh: pd.DataFrame, drifted: pd.DataFrame) -> None:
    ratio = drifted["AMT_INCOME_TOTAL"] / fresh["AMT_INCOME_TOTAL"]
    assert ratio.median() == pytest.approx(1.3)
    null_before, null_after = fresh["EXT_SOURCE_3"].isna().mean(), drifted["EXT_SOURCE_3"].isna().mean()
    assert null_after == pytest.approx(2 * null_before, rel=0.15)
    assert drifted["EXT_SOURCE_3"].dropna().isin(fresh["EXT_SOURCE_3"]).all()  # hidden, never invented
    older = drifted["DAYS_BIRTH"] / -365.25 >= 62
    assert older.mean() == pytest.approx(
        sim.OLDER_SHARE + (fresh["DAYS_BIRTH"] / -365.25 >= 62).mean(), abs=0.05
    )


def test_the_analysis_flags_the_drift_scenario_and_not_a_normal_sample(
    fresh: pd.DataFrame, drifted: pd.DataFrame
) -> None:
    reference = build_profile(generate_applications(5000, seed=30)[list(INPUT_COLUMNS)])
    normal = compare_profiles(reference, build_profile(fresh[list(INPUT_COLUMNS)]), LIMITS)
    assert [f.column for f in normal if f.drifted or f.null_rate_changed] == []
    found = {
        f.column: f for f in compare_profiles(reference, build_profile(drifted[list(INPUT_COLUMNS)]), LIMITS)
    }
    assert found["AMT_INCOME_TOTAL"].drifted and found["DAYS_BIRTH"].drifted
    assert found["EXT_SOURCE_3"].null_rate_changed
    assert {name for name, f in found.items() if f.drifted} <= {"AMT_INCOME_TOTAL", "DAYS_BIRTH"}


def test_clip_to_schema_keeps_the_pensioner_sentinel_and_integer_types() -> None:
    frame = pd.DataFrame(
        {
            "DAYS_BIRTH": np.array([-50_000, -1_000, -20_000], dtype=np.int64),
            "DAYS_EMPLOYED": np.array([EMPLOYED_SENTINEL, 5, -400], dtype=np.int64),
            "EXT_SOURCE_3": [1.7, np.nan, -0.2],
        }
    )
    clipped = sim.clip_to_schema(frame)
    assert clipped["DAYS_BIRTH"].tolist() == [-36_525, -MIN_AGE_DAYS, -20_000]
    assert clipped["DAYS_EMPLOYED"].tolist() == [EMPLOYED_SENTINEL, 0, -400]
    assert clipped["DAYS_BIRTH"].dtype == np.int64
    assert clipped["EXT_SOURCE_3"].tolist()[0::2] == [1.0, 0.0] and np.isnan(clipped["EXT_SOURCE_3"][1])


def test_hide_more_leaves_a_complete_column_complete() -> None:
    frame = pd.DataFrame({"EXT_SOURCE_3": np.linspace(0, 1, 50)})
    assert sim.hide_more(frame, "EXT_SOURCE_3", np.random.default_rng(1))["EXT_SOURCE_3"].notna().all()


def test_payloads_carry_the_client_id_not_the_target_and_json_nulls(fresh: pd.DataFrame) -> None:
    payloads = sim.application_payloads(fresh.head(50))
    assert all(TARGET_COLUMN not in p and ID_COLUMN in p for p in payloads)
    body = sim.valid_body(payloads[0])  # allow_nan=False: a NaN would raise here
    assert json.loads(body)["application"][ID_COLUMN] == int(fresh[ID_COLUMN].iloc[0])
    for payload in payloads:
        Application(**payload)  # every replayed row passes the API's validation


@pytest.mark.parametrize("kind", [k for k in sim.BAD_KINDS if k != "not_json"])
def test_each_bad_input_is_refused_by_the_api_model(fresh: pd.DataFrame, kind: str) -> None:
    body = json.loads(sim.corrupt(sim.application_payloads(fresh.head(1))[0], kind))
    with pytest.raises(ValidationError):
        Application(**body["application"])


def test_a_non_json_body_does_not_parse(fresh: pd.DataFrame) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(sim.corrupt(sim.application_payloads(fresh.head(1))[0], "not_json"))


def test_plans_are_seeded_and_mix_the_right_share_of_bad_inputs(fresh: pd.DataFrame) -> None:
    plan = sim.plan_requests(fresh, "bad-inputs", rate=50, duration=40, seed=3, bad_share=0.2)
    assert plan == sim.plan_requests(fresh, "bad-inputs", rate=50, duration=40, seed=3, bad_share=0.2)
    kinds = Counter(request.kind for request in plan)
    assert len(plan) == 2000 and set(kinds) == {sim.VALID, *sim.BAD_KINDS}
    assert 1 - kinds[sim.VALID] / len(plan) == pytest.approx(0.2, abs=0.03)
    normal = sim.plan_requests(fresh.head(10), "normal", rate=5, duration=4, seed=3)
    assert {r.kind for r in normal} == {sim.VALID} and len(normal) == 20
    assert normal[10].body == normal[0].body  # 10 rows replayed in a loop


def test_offsets_are_even_and_a_burst_spikes(fresh: pd.DataFrame) -> None:
    steady = sim.send_offsets("normal", rate=10, duration=60)
    assert len(steady) == 600 and np.allclose(np.diff(steady), 0.1)
    burst = sim.send_offsets("burst", rate=10, duration=60)
    in_spike = (burst >= 24) & (burst < 30)
    assert in_spike.sum() == pytest.approx(6 * 10 * sim.BURST_FACTOR, rel=0.02)
    assert (~in_spike).sum() == 600 - 60
    with pytest.raises(ValueError, match="unknown scenario"):
        sim.send_offsets("chaos", 1, 1)


def test_summary_counts_statuses_kinds_and_flags_surprises() -> None:
    outcomes = [sim.Outcome(sim.VALID, 200, float(ms)) for ms in range(1, 101)]
    outcomes += [sim.Outcome("not_json", 400, 2.0), sim.Outcome("negative_income", 200, 3.0)]
    outcomes += [sim.Outcome(sim.VALID, sim.NO_ANSWER, 10_000.0, late_ms=500.0)]
    summary = sim.summarise(outcomes, elapsed_s=5.0, planned=110)
    assert summary.by_status == {"200": 101, "400": 1, "no answer": 1}
    assert summary.by_kind["valid"] == {"200": 100, "no answer": 1}
    assert summary.latency_ms["p50"] == pytest.approx(50.5, abs=1) and summary.late == 1
    assert any("negative income were accepted" in note for note in summary.notes)
    assert any("1 valid request(s) did not get a 200" in note for note in summary.notes)
    locked = sim.summarise([sim.Outcome(sim.VALID, 401, 1.0)], elapsed_s=1.0, planned=1)
    assert any("export CREDIT_API_KEY" in note for note in locked.notes)
    text = sim.format_summary(summary)
    assert "sent 103 of 110" in text and "400: 1" in text and "p95" in text


class _SlowHandler(BaseHTTPRequestHandler):
    """A real HTTP server that takes 0.3 s per answer: 400 for a body that is not JSON, else 200."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(0.3)
        try:
            json.loads(body)
            status = 200
        except json.JSONDecodeError:
            status = 400
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture()
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/score"
    server.shutdown()
    server.server_close()


def test_replay_is_open_loop_and_reports_progress(slow_server: str, fresh: pd.DataFrame) -> None:
    plan = sim.plan_requests(fresh.head(5), "bad-inputs", rate=20, duration=1.5, seed=4, bad_share=0.5)
    seen: list[str] = []
    outcomes, elapsed = asyncio.run(
        sim.replay(
            plan, slow_server, progress=lambda *s: seen.append(sim.progress_line(*s)), progress_every_s=0.5
        )
    )
    # 30 requests answered in 0.3 s each: one after the other would take 9 s; open loop takes ~1.8 s. A
    # request sent after waiting for an answer would be late by 300 ms at least: none is.
    assert len(outcomes) == 30 and elapsed < 9.0 / 2
    assert all(o.status == (400 if o.kind == "not_json" else 200) for o in outcomes)
    assert all(o.latency_ms >= 300 for o in outcomes) and max(o.late_ms for o in outcomes) < 300
    assert seen and seen[0].startswith("[") and "sent" in seen[0]


def test_replay_counts_a_server_that_is_gone_as_no_answer(fresh: pd.DataFrame) -> None:
    plan = sim.plan_requests(fresh.head(3), "normal", rate=10, duration=0.3, seed=1)
    summary = sim.simulate(plan, "http://127.0.0.1:9/score", timeout_s=1.0)
    assert summary.by_status == {"no answer": 3} and summary.sent == 3


def run_simulator(*options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "monitor_app" / "simulate.py"), *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_simulator_cli_keeps_its_options() -> None:
    done = run_simulator("--help")
    assert done.returncode == 0, done.stderr
    options = ("--scenario", "--rate", "--duration", "--port", "--host", "--data", "--rows", "--seed")
    assert all(option in done.stdout for option in (*options, "--bad-share", "--timeout"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--scenario", "storm"), "unknown scenario 'storm': choose one of normal, drift, bad-inputs, burst"),
        (("--rate", "0"), "--rate and --duration must be positive"),
        (("--bad-share", "1.5"), "--bad-share must be between 0 and 1"),
    ],
)
def test_the_simulator_cli_refuses_bad_options_with_exit_2(options: tuple[str, ...], message: str) -> None:
    done = run_simulator(*options, "--port", "9")
    assert done.returncode == 2 and done.stderr == f"error: {message}\n"
