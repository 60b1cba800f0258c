"""REPORT.md is rendered from a bench.json-shaped dict alone: every target, figure and ratio appears."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from credit_scoring.errors import UsageError
from credit_scoring.fastpath.onnx_export import convert_classifier_to_onnx
from credit_scoring.settings import MonitoringSettings, Settings
from credit_scoring_tools.bench_http import (
    DEFAULTS,
    MONITORING_OFF,
    SCENARIOS,
    TUNED,
    add_http_ratios,
    backlog,
    describe_variants,
    median_run,
    request_headers,
)
from credit_scoring_tools.bench_render import check_history, render_floor, render_report, render_rounds
from credit_scoring_tools.bench_run import final_configuration, profile_excerpt, write_outputs
from credit_scoring_tools.bench_targets import TARGETS, evaluate_targets
from credit_scoring_tools.inprocess_bench import BenchConfig, BenchModel, run_inprocess_benchmark
from tests.support.tiny_model import fit_tiny_pipeline, tiny_applications

TINY = BenchConfig(
    iterations=30, baseline_iterations=5, warmup=2, batch_rows=1_000, batch_repeats=1, pool_size=20
)
# Requests/s per variant for /score with 16 clients; p50 in ms. Tuned: 5x the defaults, +20 % p50 vs off.
RATES = {TUNED: 1_600.0, MONITORING_OFF: 1_700.0, DEFAULTS: 320.0}
P50 = {TUNED: 6.0, MONITORING_OFF: 5.0, DEFAULTS: 40.0}
HISTORY = """# What was tried

Edit here.

## What was tried

| change | effect |
|---|---|
| uvloop + httptools | helped: p50 7.9 -> 3.5 ms |

## Final configuration and why

- 2 BentoML workers on 2 cores.
"""
COMMITTED_HISTORY = Path(__file__).resolve().parents[2] / "profiling" / "TRIED.md"


def fake_http() -> dict:
    results = {
        name: {
            s.key: {
                "endpoint": f"/{s.endpoint}",
                "clients": s.connections,
                "applications_per_request": s.items,
                "requests": 1_000,
                "errors": 0,
                "requests_per_s": RATES[name],
                "applications_per_s": RATES[name] * s.items,
                "p50_ms": P50[name],
                "p90_ms": P50[name] * 2,
                "p99_ms": P50[name] * 3,
                "server_cpu_ms_per_request": 1.1,
            }
            for s in SCENARIOS
        }
        for name in RATES
    }
    add_http_ratios(results)
    settings = {
        "bento": "credit_scoring:test",
        "tool": "wrk",
        "tool_command": "wrk -c",
        "loop": "closed",
        "duration_s": 8.0,
        "warmup_s": 2.0,
        "order": "interleaved",
        "batch_applications_per_request": 50,
    }
    monitoring = {
        TUNED: {"enabled": True, "workers_seen": 2, "appended": 90_000, "unrecorded": 0, "refused": 0,
                "lag_records": 50_000, "lag_bytes": 11_000_000, "lag_seconds": 42.0},
        MONITORING_OFF: {"enabled": False},
    }  # fmt: skip
    variants = describe_variants()
    return {"settings": settings, "variants": variants, "results": results, "monitoring": monitoring}


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pipeline = fit_tiny_pipeline(tiny_applications(rows=400, seed=3), seed=3)
    model = BenchModel(pipeline, convert_classifier_to_onnx(pipeline), threshold=0.5, source="tiny model")
    profile = tmp_path_factory.mktemp("profile") / "profile.txt"
    profile.write_text("Profile of one /score request\nparse_validate  209.4\n")
    fake = {
        "schema_version": 1,
        "generated_at": "2026-01-01T00:00:00+00:00",
        "settings": {"quick": True, "skip_http": False, "model_uri": None},
        "machine": {
            "cpu_count": 2,
            "platform": "Linux",
            "python": "3.11",
            "load_average_before": [1.0, 1.0, 1.0],
            "load_average_after": [1.5, 1.0, 1.0],
            "versions": {"bentoml": "1.4.39"},
        },
        "elapsed_s": 12.0,
        "inprocess": run_inprocess_benchmark(model, TINY, lambda _: None),
        "http": fake_http(),
        "profile": profile_excerpt(profile),
        "final_configuration": {
            "service_config": {"workers": 2},
            "engine": "onnx",
            "onnx_intra_op_threads": 1,
            "omp_wait_policy": "PASSIVE",
        },
    }
    fake["targets"] = evaluate_targets(fake)
    return fake


def test_http_ratios_compare_with_the_defaults_and_monitoring_off(result: dict) -> None:
    tuned = result["http"]["results"][TUNED]["score_c16"]
    assert tuned["ratio_requests_per_s_vs_bentoml_defaults"] == 5.0
    assert tuned["ratio_p50_vs_monitoring_off"] == 1.2


def test_targets_are_judged_from_the_figures(result: dict) -> None:
    verdicts = result["targets"]
    assert set(verdicts) == {target.key for target in TARGETS}
    assert verdicts["http_rps_16"]["met"] is True
    assert verdicts["http_vs_defaults"]["met"] is True
    assert verdicts["http_p99_16"]["met"] is True  # 18 ms
    assert verdicts["monitoring_overhead"]["met"] is False  # +20 %
    assert verdicts["http_errors_16"]["met"] is True


def test_missing_http_figures_are_not_measured_rather_than_failed(result: dict) -> None:
    verdicts = evaluate_targets({**result, "http": None})
    assert verdicts["http_rps_16"]["met"] is None
    assert "not measured" in render_report({**result, "http": None, "targets": verdicts}, HISTORY)


def test_report_shows_every_target_figure_and_section(result: dict) -> None:
    text = render_report(result, HISTORY)
    for target in TARGETS:
        assert target.text in text
    assert "NOT met" in text and "| met |" in text
    for section in (
        "## How it was measured",
        "## In process: batch throughput",
        "## HTTP through the Bento",
        "## Bottlenecks found",
        "## What was tried",
        "## Final configuration and why",
    ):
        assert section in text
    for name in (*result["inprocess"]["single_application"]["paths"], *result["inprocess"]["batch"]):
        assert f"`{name}`" in text
    assert "parse_validate  209.4" in text
    assert "| `bentoml_defaults` | /score x16 | 320.0 |" in text
    assert "| `tuned_monitoring_on` | /livez x16 |" in text  # the floor of any endpoint on this machine
    assert "90,000 decisions appended, 50,000 not yet ingested (42 s behind)" in text
    assert "0 answered without a record, 0 refused with a 503" in text


def test_outputs_round_trip_through_json(result: dict, tmp_path: Path) -> None:
    json_path, report_path = write_outputs(result, tmp_path, HISTORY)
    assert render_report(json.loads(json_path.read_text()), HISTORY) == report_path.read_text()


def test_the_history_is_included_as_written_after_the_measured_configuration(result: dict) -> None:
    text = render_report(result, HISTORY)
    assert "| uvloop + httptools | helped: p50 7.9 -> 3.5 ms |" in text
    assert "Edit here." not in text  # the file's preamble is for its editors, not the report
    why = text[text.index("## Final configuration and why") :]
    assert why.index("- Service options:") < why.index("- 2 BentoML workers on 2 cores.")


def test_a_history_without_a_section_of_the_report_is_refused() -> None:
    with pytest.raises(UsageError, match="Final configuration and why"):
        check_history(HISTORY[: HISTORY.index("## Final configuration")])
    check_history(COMMITTED_HISTORY.read_text())  # profiling/TRIED.md as committed has both


def test_the_key_scenario_keeps_its_median_round_and_every_round() -> None:
    runs = [
        {"requests_per_s": rate, "p50_ms": p50, "p99_ms": 3 * p50, "errors": 0, "requests": 10}
        for rate, p50 in ((900.0, 9.0), (1_300.0, 6.5), (1_100.0, 7.5))
    ]
    chosen = median_run(runs)
    assert chosen["p50_ms"] == 7.5 and chosen["requests_per_s"] == 1_100.0  # not the lucky round
    assert [r["p50_ms"] for r in chosen["rounds"]] == [9.0, 6.5, 7.5]
    assert "worker_shares" in chosen["rounds"][0]  # each round's share per worker is kept for the report
    assert "rounds" not in median_run(runs[:1])


def test_backlog_is_the_journal_not_yet_ingested() -> None:
    counters = {"enabled": True, "appended": 100, "lag_records": 40, "lag_bytes": 9_000, "lag_seconds": 3.0}
    assert backlog(counters) == 9_000
    assert backlog(counters | {"lag_bytes": 0}) == 0
    assert backlog({"enabled": False}) == 0


def test_the_floor_section_compares_score_with_the_no_op_of_the_same_run(result: dict) -> None:
    text = "\n".join(render_floor(result["http"]))
    # The fake gives every scenario its variant's rate and p50 (p99 = 3 x p50): the floor is the better
    # served server, monitoring off (1,700 req/s, p99 15 ms), 5.31x the defaults' 320 req/s.
    assert "best p99 is 15.00 ms" in text and "5.31x what BentoML's defaults reach" in text
    assert "94.1 % of the no-op's rate (1,600.0 req/s)" in text and "would need 75.3 %" in text
    assert render_floor(None) == [] and render_floor({"results": {}}) == []


def test_the_round_by_round_section_pairs_the_variants_of_each_round() -> None:
    # Round 2 is slow for every variant (a neighbour): paired ratios stay put where medians would not.
    rates = {TUNED: [1_600.0, 800.0, 1_700.0], MONITORING_OFF: [1_700.0, 850.0, 1_750.0],
             DEFAULTS: [400.0, 200.0, 425.0]}  # fmt: skip
    p50 = {TUNED: [9.0, 18.0, 8.8], MONITORING_OFF: [8.5, 17.0, 8.0], DEFAULTS: [30.0, 60.0, 29.0]}
    results = {
        name: {"score_c16": {"rounds": [{"requests_per_s": r, "p50_ms": p} for r, p in zip(rates[name],
               p50[name], strict=True)]}}
        for name in rates
    }  # fmt: skip
    text = "\n".join(render_rounds({"results": results}))
    assert "medians 4.00x the defaults' req/s and 1.059x monitoring off's p50" in text
    assert "| 2 | 800.0 / 18.00 | 850.0 / 17.00 | 200.0 / 60.00 | 4.00 | 1.059 | n/a |" in text
    assert "spans n/a (not measured in this run)" in text
    assert render_rounds(None) == [] and render_rounds({"results": {}}) == []


def test_the_round_by_round_section_shows_each_workers_share_and_their_spread() -> None:
    shares = [[0.48, 0.52], [0.55, 0.45], [0.5, float("nan")]]
    results = {
        name: {"score_c16": {"rounds": [{"requests_per_s": 1_000.0, "p50_ms": 9.0, "worker_shares": s}
               for s in shares]}}
        for name in (TUNED, MONITORING_OFF, DEFAULTS)
    }  # fmt: skip
    text = "\n".join(render_rounds({"results": results}))
    assert "| 1.00 | 1.000 | 48.0% / 52.0% |" in text and "| 55.0% / 45.0% |" in text
    assert "spans 45.0%-55.0% (spread 10.0%)" in text


def test_bench_json_gets_the_settings_the_run_read_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_SCORING_ENGINE", "native")
    monkeypatch.setenv("CREDIT_MONITORING_PRIORITY", "low")
    monkeypatch.setenv("CREDIT_API_KEY", "s3cret-api-key")
    monkeypatch.setenv("CREDIT_PSEUDONYMISATION_KEY", "s3cret-hmac-key")
    monkeypatch.setenv("CREDIT_REQUEST_STORE_URL", "postgresql+psycopg://bench:s3cret-pw@db:5432/requests")
    final = final_configuration(Settings(), MonitoringSettings())
    assert (final["engine"], final["monitoring_priority"]) == ("native", "low")
    assert final["settings"]["scoring_engine"] == "native" and final["api_key_required"] is True
    assert (
        final["monitoring_settings"]["request_store_url"] == "postgresql+psycopg://bench:***@db:5432/requests"
    )
    assert "s3cret" not in json.dumps(final)
    assert {"api_key", "pseudonymisation_key"}.isdisjoint(final["settings"])


def test_the_load_sends_the_api_key_of_the_settings_only_when_one_is_set() -> None:
    assert request_headers(SecretStr("k"))["X-API-Key"] == "k"
    assert "X-API-Key" not in request_headers(None)
    assert "X-API-Key" not in request_headers(SecretStr(""))  # an empty key leaves the service open


def test_the_decision_log_figures_are_judged_and_reported() -> None:
    from credit_scoring_tools.bench_recording import render_recording
    from credit_scoring_tools.bench_targets import evaluate_targets

    on = {"answered_200": 1_000, "stored": 1_003, "requests_per_s": 900.0, "catch_up_s": 12.5,
          "largest_lag": {"lag_records": 4_000, "lag_seconds": 9.0}}  # fmt: skip
    recording = {
        "append_us": {"p50": 7.5, "p90": 11.0, "n": 20_000},
        "ingest": {
            "records": 50_000,
            "records_per_cpu_s": 14_000.0,
            "records_per_s": 9_000.0,
            "bytes_per_record": 520.0,
        },
        "sustained": {
            "monitoring_on": on,
            "monitoring_off": {"requests_per_s": 1_000.0},
            "requests_per_s_on_vs_off": 0.9,
            "stored_minus_answered": 3,
        },
    }
    verdicts = evaluate_targets({"recording": recording})
    assert verdicts["journal_append_us"]["met"] and verdicts["ingest_rate"]["met"]
    assert verdicts["bytes_per_record"]["met"] is False  # 520 > 500
    assert verdicts["sustained_on_vs_off"]["met"] and verdicts["sustained_unstored"]["met"]
    text = "\n".join(render_recording(recording))
    assert "p50 7.5 us" in text and "14,000 records per CPU-second" in text and "520 bytes" in text
    assert "1,000 answered 200, 1,003 stored" in text and "0.90x (target >= 0.80)" in text
    assert render_recording(None) == []


def test_the_batch_scoring_figures_are_judged_and_reported() -> None:
    from credit_scoring_tools.batch_bench import render_files
    from credit_scoring_tools.bench_targets import evaluate_targets

    files = {
        "local_parquet": {"rows": 1_000_000, "rows_per_s": 161_000, "cpu_us_per_row": 11.2,
                          "runs_rows_per_s": [170_000, 161_000, 150_000]},
        "local_csv": {"rows": 1_000_000, "rows_per_s": 205_000},
        "spark_parity": {"rows": 20_000, "max_abs_difference": 0.0, "same_decisions": True,
                         "rejects_identical": True},
    }  # fmt: skip
    verdicts = evaluate_targets({"files": files, "http_batch_vs_inprocess": 0.3})
    assert verdicts["score_file_parquet"]["met"] is False and verdicts["score_file_csv"]["met"]
    assert verdicts["spark_parity"]["met"] and verdicts["http_batch_share"]["met"]
    text = "\n".join(render_files(files, 0.3))
    assert "30.0% of the in-process batch rows/s" in text and "161,000 rows/s, 11.2 us of CPU" in text
    assert "fresh-process runs: 170,000, 161,000, 150,000;" in text
    assert "largest probability difference 0.0, same decisions True, identical rejects True" in text
    assert "not measured" in "\n".join(render_files(None, None))


def test_the_shadow_figures_are_judged_and_reported() -> None:
    from credit_scoring_tools.bench_shadow import SHADOW_OFF, SHADOW_ON, render_shadow
    from credit_scoring_tools.bench_targets import evaluate_targets

    paths = {"score_path_shadow_off": {"p50_us": 40.0}, "score_path_shadow_on": {"p50_us": 58.0}}
    inprocess = {"paths": paths, "shadow_us_per_row_single": 18.0, "shadow_us_per_row_batch_50": 1.25,
                 "score_path_added_us": 18.0, "score_path_p50_ratio": 1.45}  # fmt: skip
    http = {"scenario": "score_c16: median of 5 rounds", "challenger_alias_packed": "challenger",
            "results": {SHADOW_ON: {"p50_ms": 9.9, "requests_per_s": 1_600.0, "errors": 0},
                        SHADOW_OFF: {"p50_ms": 9.5, "requests_per_s": 1_650.0, "errors": 0}},
            "p50_ratio_on_vs_off": 1.042}  # fmt: skip
    verdict = evaluate_targets({"shadow": {"inprocess": inprocess, "http": http}})["shadow_overhead"]
    assert verdict["met"] is True and verdict["value"] == 1.042

    def met(ratio: float) -> bool | None:
        verdicts = evaluate_targets({"shadow": {"http": {"p50_ratio_on_vs_off": ratio}}})
        return verdicts["shadow_overhead"]["met"]

    assert met(1.2) is False and met(1.1) is True  # "at most 10 %": the bound itself is met
    text = "\n".join(render_shadow({"inprocess": inprocess, "http": http}))
    assert "18.0 us for one row called alone" in text and "1.25 us per row in a batch of 50" in text
    assert "40.0 us without, 58.0 us with it: +18.0 us (1.450x)" in text
    assert "p50 9.90 ms with shadow scoring, 9.50 ms without: 1.042x (target <= 1.10)" in text
    assert "not measured" in "\n".join(render_shadow({"inprocess": inprocess, "http": None}))
    assert render_shadow(None) == []
