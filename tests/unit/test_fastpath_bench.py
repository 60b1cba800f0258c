"""The in-process benchmark and the request profile run end to end on a tiny model, with stable keys."""

from __future__ import annotations

import json
import time

import pytest

from credit_scoring.fastpath.onnx_export import convert_classifier_to_onnx
from credit_scoring.fastpath.vectorise import request_records
from credit_scoring.schema import TARGET_COLUMN
from credit_scoring_tools.inprocess_bench import (
    BenchConfig,
    BenchModel,
    Case,
    check_agreement,
    interleaved_latency,
    latency,
    run_inprocess_benchmark,
)
from credit_scoring_tools.request_profile import (
    RequestPaths,
    measure_stages,
    profile_report,
    request_bodies,
    run_path,
)
from tests.support.tiny_model import fit_tiny_pipeline, tiny_applications

TINY = BenchConfig(
    iterations=30, baseline_iterations=5, warmup=2, batch_rows=1_000, batch_repeats=1, pool_size=20
)


@pytest.fixture(scope="module")
def model() -> BenchModel:
    pipeline = fit_tiny_pipeline(tiny_applications(rows=400, seed=3), seed=3)
    return BenchModel(pipeline, convert_classifier_to_onnx(pipeline), threshold=0.5, source="tiny test model")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return request_records(tiny_applications(rows=30, seed=4).drop(columns=[TARGET_COLUMN]))


def test_latency_reports_percentiles_of_every_call() -> None:
    calls: list[int] = []
    figures = latency(calls.append, [1, 2, 3], iterations=50, warmup=5)
    assert len(calls) == 55 and calls[:4] == [1, 2, 3, 1]
    assert figures["iterations"] == 50
    assert 0 < figures["min_us"] <= figures["p50_us"] <= figures["p99_us"]
    assert 0 <= figures["cpu_p50_us"] <= figures["cpu_p99_us"]


def test_cpu_time_leaves_out_waiting_but_wall_time_includes_it() -> None:
    figures = latency(lambda _: time.sleep(0.002), [None], iterations=5, warmup=0)
    assert figures["p50_us"] >= 2_000 and figures["cpu_p50_us"] < 1_000


def test_interleaved_latency_alternates_paths_and_makes_every_call() -> None:
    calls: list[str] = []
    runs = {
        "a": (lambda item: calls.append(f"a{item}"), [0, 1], 6),
        "b": (lambda item: calls.append(f"b{item}"), [0], 4),
    }
    figures = interleaved_latency(runs, warmup=1, rounds=2)
    assert calls[:2] == ["a0", "b0"]  # warm-up
    assert calls[2:] == ["a0", "a1", "a0", "b0", "b0", "a1", "a0", "a1", "b0", "b0"]
    assert figures["a"]["iterations"] == 6 and figures["b"]["iterations"] == 4


def test_a_path_that_disagrees_with_the_baseline_is_not_benchmarked() -> None:
    cases = {
        "sklearn_predict_proba": Case("baseline", lambda r: r["p"]),
        "broken": Case("off by 0.01", lambda r: r["p"] + 0.01),
    }
    with pytest.raises(AssertionError, match="broken disagrees"):
        check_agreement(cases, [{"p": 0.2}, {"p": 0.7}])


def test_benchmark_result_has_stable_keys_and_is_json(model: BenchModel) -> None:
    result = run_inprocess_benchmark(model, TINY, report=lambda message: None)
    json.dumps(result)  # the benchmark command writes it as is
    sections = {"settings", "machine", "load_average_after", "model", "single_application", "batch", "parity"}
    assert set(result) == sections
    paths = result["single_application"]["paths"]
    expected = {
        "sklearn_predict_proba",
        "native_booster",
        "onnx_runtime",
        "optimised",
        "optimised_with_validation",
    }
    assert expected <= set(paths)
    assert paths["sklearn_predict_proba"]["speedup_vs_baseline_p50"] == 1.0
    assert all(figures["p50_us"] > 0 for figures in paths.values())
    assert {"onnx_1_thread", "native_booster_2_thread", "optimised_records_1_thread"} <= set(result["batch"])
    assert result["batch"]["onnx_1_thread"]["features_included"] is False
    assert result["parity"]["decision_changes"] == 0 and result["parity"]["rows"] == TINY.batch_rows
    assert result["machine"]["libraries"]["onnxruntime"]


def test_profile_stages_give_the_same_answer_on_both_paths(model: BenchModel, records: list[dict]) -> None:
    paths, bodies = RequestPaths(model).paths(), request_bodies(records)
    for body in bodies:
        stock, optimised = run_path(paths["stock"], body), run_path(paths["optimised"], body)
        assert optimised.probability == pytest.approx(stock.probability, abs=1e-5)
        assert json.loads(optimised.response)["decision"] == json.loads(stock.response)["decision"]
    timings = measure_stages(paths, bodies, requests=40)
    assert set(timings["stock"]) == {"parse_validate", "record", "features", "model", "response", "total"}
    assert set(timings["optimised"]) == {"parse_validate", "features", "model", "response", "total"}
    text = profile_report(model, records, requests=40)
    assert "== cProfile, optimised path" in text and "== pyinstrument, stock path ==" in text
    assert "model_onnx" in text and "model_native" in text
