"""In-process benchmark: one application's latency and batch throughput for every engine, in one run."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from importlib.metadata import version as installed_version
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from credit_scoring.cost import CostWeights
from credit_scoring.fastpath.engines import NativeScorer, OnnxScorer
from credit_scoring.fastpath.onnx_export import classifier_of, convert_classifier_to_onnx
from credit_scoring.fastpath.parity import compare_probabilities
from credit_scoring.fastpath.vectorise import (
    FRAME_CHUNK_ROWS,
    RecordVectoriser,
    frame_probabilities,
    request_records,
)
from credit_scoring.features import build_features, build_features_from_records
from credit_scoring.schema import INPUT_COLUMNS, TARGET_COLUMN
from credit_scoring.validation import Application

Report = Callable[[str], None]
BASELINE_SINGLE = "sklearn_predict_proba"
BASELINE_BATCH = "sklearn_predict_proba"
# Milliseconds per call: timed over ``baseline_iterations`` calls so the run stays short.
SLOW_CASES = frozenset({BASELINE_SINGLE, "sklearn_predict_proba_typed_row", "dataframe_from_dict"})
LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "onnxruntime", "onnxmltools", "onnx", "pydantic")
# Agreement every timed path must reach with the baseline before its timing counts (float32 ONNX output).
AGREEMENT_TOLERANCE = 1e-5
AGREEMENT_ROWS = 50


@dataclass(frozen=True)
class BenchConfig:
    """How long and on what the benchmark runs (recorded in its output)."""

    iterations: int = 5_000
    baseline_iterations: int = 300
    warmup: int = 200
    batch_rows: int = 100_000
    batch_repeats: int = 3
    rounds: int = 10  # single-application paths are timed in this many interleaved slices
    pool_size: int = 1_000
    chunk_rows: int = 1_000  # end-to-end batches are cut like the API's largest batch
    data_seed: int = 7


@dataclass(frozen=True)
class BenchModel:
    """The fitted pipeline under test, its ONNX export and decision threshold, and where it came from."""

    pipeline: Pipeline
    onnx_bytes: bytes
    threshold: float
    source: str

    def describe(self) -> dict[str, Any]:
        classifier = classifier_of(self.pipeline)
        return {
            "source": self.source,
            "trees": int(classifier.booster_.num_trees()),
            "features": int(classifier.n_features_in_),
            "threshold": self.threshold,
            "onnx_bytes": len(self.onnx_bytes),
        }


@dataclass(frozen=True)
class Case:
    """One timed path: what it does (for the report) and the function under test."""

    description: str
    run: Callable[[Any], Any]
    prepare: Callable[[Any], Any] | None = None  # turns a request dict into this path's input, untimed


@dataclass(frozen=True)
class BatchCase:
    """One batch path over all benchmark rows; whether building the features is part of the time."""

    description: str
    features_included: bool
    run: Callable[[], Any]


def train_bench_model(rows: int, seed: int, report: Report, trees: int | None = None) -> BenchModel:
    """Fit the production pipeline on synthetic rows, in process: training's parameters and early stopping,
    or exactly ``trees`` trees (no early stopping) to see how each engine scales with the model's size."""
    from credit_scoring.cost import best_threshold
    from credit_scoring.data.synthetic import generate_applications
    from credit_scoring.training.dataset import split_frame
    from credit_scoring.training.model import build_model, classifier_params
    from credit_scoring.training.train import calibrate, fit_model, inputs

    report(f"training the bench model on {rows:,} synthetic rows (seed {seed})")
    split = split_frame(generate_applications(rows, seed), 0.2, 0.2, seed)
    if trees is None:
        pipeline = fit_model(split, classifier_params(None, seed), report)
        how = "training's parameters and early stopping"
    else:
        pipeline = build_model(classifier_params({"n_estimators": trees}, seed))
        pipeline.fit(inputs(split.train), split.train[TARGET_COLUMN])
        how = f"training's parameters, exactly {trees} trees"
    pipeline, _ = calibrate(pipeline, split, seed, report)  # as served: the calibration nodes cost too
    scores = pipeline.predict_proba(inputs(split.validation))[:, 1]
    threshold = best_threshold(split.validation[TARGET_COLUMN].to_numpy(), scores, CostWeights())
    source = f"trained in process on {rows:,} synthetic rows (seed {seed}), {how}"
    return BenchModel(pipeline, convert_classifier_to_onnx(pipeline), threshold, source)


def load_bench_model(model_uri: str, report: Report) -> BenchModel:
    """A logged MLflow model (e.g. ``models:/credit-scoring@production``); threshold from its metadata."""
    import mlflow

    report(f"loading {model_uri}")
    pipeline = mlflow.sklearn.load_model(model_uri)
    metadata = mlflow.models.get_model_info(model_uri).metadata or {}
    threshold = float(metadata.get("threshold", 0.5))
    return BenchModel(pipeline, convert_classifier_to_onnx(pipeline), threshold, model_uri)


def bench_model(
    model_uri: str | None, train_rows: int, seed: int, report: Report, trees: int | None = None
) -> BenchModel:
    """The logged model at ``model_uri`` when given, else one trained in process on synthetic rows."""
    if model_uri:
        return load_bench_model(model_uri, report)
    return train_bench_model(train_rows, seed, report, trees)


def timed_calls(run: Callable[[Any], Any], pool: Sequence[Any], start: int, count: int) -> np.ndarray:
    """Wall and thread-CPU nanoseconds (columns) of ``count`` calls, one at a time, on pool items from
    position ``start``. CPU time leaves out the time the thread waited for a core, so it stays comparable
    when other processes load the machine; wall time is what a caller waits."""
    durations = np.empty((count, 2), dtype=np.int64)
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    for index in range(count):
        item = pool[(start + index) % len(pool)]
        wall_started, cpu_started = wall(), cpu()
        run(item)
        durations[index] = (wall() - wall_started, cpu() - cpu_started)
    return durations


def summarise(durations: np.ndarray) -> dict[str, Any]:
    """Per-call percentiles in microseconds: wall time (p50_us, p99_us...) and thread CPU time (cpu_*)."""
    wall, cpu = durations[:, 0] / 1_000, durations[:, 1] / 1_000
    return {
        "p50_us": round(float(np.percentile(wall, 50)), 2),
        "p99_us": round(float(np.percentile(wall, 99)), 2),
        "mean_us": round(float(wall.mean()), 2),
        "min_us": round(float(wall.min()), 2),
        "cpu_p50_us": round(float(np.percentile(cpu, 50)), 2),
        "cpu_p99_us": round(float(np.percentile(cpu, 99)), 2),
        "iterations": int(durations.shape[0]),
    }


def latency(run: Callable[[Any], Any], pool: Sequence[Any], iterations: int, warmup: int) -> dict[str, Any]:
    """Closed loop, one call at a time over a pool of inputs: per-call percentiles in microseconds."""
    timed_calls(run, pool, 0, warmup)
    return summarise(timed_calls(run, pool, 0, iterations))


def interleaved_latency(
    runs: Mapping[str, tuple[Callable[[Any], Any], Sequence[Any], int]], warmup: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """Latency of several paths measured in turns (``rounds`` slices each), so that a burst of load from
    other processes hits every path alike and the ratios between them stay meaningful on a noisy machine."""
    for run, pool, _ in runs.values():
        timed_calls(run, pool, 0, warmup)
    slices: dict[str, list[np.ndarray]] = {name: [] for name in runs}
    for round_index in range(rounds):
        for name, (run, pool, iterations) in runs.items():
            size = iterations // rounds + (round_index < iterations % rounds)
            slices[name].append(timed_calls(run, pool, round_index * size, size))
    return {name: summarise(np.concatenate(parts)) for name, parts in slices.items()}


def single_cases(model: BenchModel, vectoriser: RecordVectoriser, dtypes: pd.Series) -> dict[str, Case]:
    """Every single-application path: request dict in (or what ``prepare`` makes of it), probability out."""
    pipeline, onnx, native = model.pipeline, OnnxScorer(model.onnx_bytes), NativeScorer(model.pipeline)

    def validated(record: Mapping[str, Any]) -> float:
        application = Application.model_validate(record)
        return float(onnx.predict_proba(vectoriser.transform_one(application.__dict__))[0])

    return {
        BASELINE_SINGLE: Case(
            "dict -> 1-row DataFrame -> Pipeline.predict_proba (sklearn checks, FeatureBuilder, LightGBM)",
            lambda r: float(pipeline.predict_proba(pd.DataFrame([r]))[0, 1]),
        ),
        "sklearn_predict_proba_typed_row": Case(
            "1-row DataFrame already typed like training (built untimed) -> Pipeline.predict_proba",
            lambda row: float(pipeline.predict_proba(row)[0, 1]),
            prepare=lambda r: pd.DataFrame([r]).astype(dtypes.to_dict()),
        ),
        "native_booster": Case(
            "dict -> build_features_from_records -> booster.predict(num_threads=1) (the stock service path)",
            lambda r: float(native.predict_proba(build_features_from_records([r]))[0]),
        ),
        "onnx_runtime": Case(
            "dict -> build_features_from_records -> ONNX Runtime (1 intra-op thread)",
            lambda r: float(onnx.predict_proba(build_features_from_records([r]))[0]),
        ),
        "native_booster_fast_features": Case(
            "dict -> RecordVectoriser -> booster.predict(num_threads=1)",
            lambda r: float(native.predict_proba(vectoriser.transform_one(r))[0]),
        ),
        "optimised": Case(
            "optimised path without validation: dict -> RecordVectoriser -> ONNX Runtime (1 thread)",
            lambda r: float(onnx.predict_proba(vectoriser.transform_one(r))[0]),
        ),
        "optimised_with_validation": Case(
            "optimised path with validation: dict -> pydantic Application -> RecordVectoriser -> ONNX",
            validated,
        ),
    }


def component_cases(model: BenchModel, vectoriser: RecordVectoriser) -> dict[str, Case]:
    """The parts of one request on their own (dict in, or the 1-row feature matrix for the model calls)."""
    onnx, native = OnnxScorer(model.onnx_bytes), NativeScorer(model.pipeline)
    return {
        "dataframe_from_dict": Case(
            "pd.DataFrame([dict]) (first step of the baseline)", lambda r: pd.DataFrame([r])
        ),
        "validation_pydantic": Case("Application.model_validate(dict)", Application.model_validate),
        "features_stock": Case(
            "build_features_from_records([dict])", lambda r: build_features_from_records([r])
        ),
        "features_fast": Case("RecordVectoriser.transform_one(dict)", vectoriser.transform_one),
        "model_only_native": Case(
            "booster.predict(1-row float32 matrix, num_threads=1)",
            native.predict_proba,
            vectoriser.transform_one,
        ),
        "model_only_onnx": Case(
            "ONNX Runtime session.run(1-row float32 matrix)", onnx.predict_proba, vectoriser.transform_one
        ),
    }


def _inputs(case: Case, pool: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [case.prepare(record) for record in pool] if case.prepare else list(pool)


def check_agreement(cases: Mapping[str, Case], pool: Sequence[Mapping[str, Any]]) -> float:
    """Largest gap between any path and the baseline on the pool; raises if a path is wrong."""
    expected = np.array([cases[BASELINE_SINGLE].run(record) for record in pool])
    worst = 0.0
    for name, case in cases.items():
        answers = np.array([case.run(item) for item in _inputs(case, pool)])
        gap = float(np.max(np.abs(answers - expected)))
        if not gap < AGREEMENT_TOLERANCE:
            raise AssertionError(f"{name} disagrees with {BASELINE_SINGLE} by {gap:.3g}: not benchmarked")
        worst = max(worst, gap)
    return worst


def _time_cases(
    cases: Mapping[str, Case], pool: Sequence[Mapping[str, Any]], config: BenchConfig, report: Report
) -> dict[str, Any]:
    runs = {
        name: (
            case.run,
            _inputs(case, pool),
            config.baseline_iterations if name in SLOW_CASES else config.iterations,
        )
        for name, case in cases.items()
    }
    report(f"timing {', '.join(runs)} in {config.rounds} interleaved rounds")
    timings = interleaved_latency(runs, config.warmup, config.rounds)
    return {name: {"description": case.description, **timings[name]} for name, case in cases.items()}


def measure_single(
    model: BenchModel, frame: pd.DataFrame, config: BenchConfig, report: Report
) -> dict[str, Any]:
    """p50/p99 of every single-application path and component, with speed-ups against the baseline."""
    vectoriser = RecordVectoriser()
    pool = request_records(frame.head(config.pool_size))
    cases = single_cases(model, vectoriser, frame.loc[:, list(INPUT_COLUMNS)].dtypes)
    report("checking every path gives the baseline's probabilities")
    agreement = check_agreement(cases, pool[:AGREEMENT_ROWS])
    paths = _time_cases(cases, pool, config, report)
    components = _time_cases(component_cases(model, vectoriser), pool, config, report)
    baseline, baseline_cpu = paths[BASELINE_SINGLE]["p50_us"], paths[BASELINE_SINGLE]["cpu_p50_us"]
    for figures in (*paths.values(), *components.values()):
        figures["speedup_vs_baseline_p50"] = round(baseline / figures["p50_us"], 2)
        figures["speedup_vs_baseline_cpu_p50"] = round(baseline_cpu / max(figures["cpu_p50_us"], 0.01), 2)
    return {
        "baseline": BASELINE_SINGLE,
        "paths": paths,
        "components": components,
        "agreement_max_abs_difference": agreement,
    }


def batch_cases(
    model: BenchModel, frame: pd.DataFrame, records: list[dict[str, Any]], chunk_rows: int
) -> dict[str, BatchCase]:
    """Every batch path over the same applications, from a typed DataFrame (a file) or from request dicts
    cut in API-sized chunks; ``features_included`` says whether building the features is timed."""
    pipeline, vectoriser, inputs = model.pipeline, RecordVectoriser(), frame.loc[:, list(INPUT_COLUMNS)]
    matrix = build_features(inputs)
    chunks = [records[start : start + chunk_rows] for start in range(0, len(records), chunk_rows)]
    per_call = f"{chunk_rows:,} dicts per call"
    cases = {
        BASELINE_BATCH: BatchCase(
            "DataFrame -> Pipeline.predict_proba", True, partial(pipeline.predict_proba, inputs)
        ),
        "sklearn_predict_proba_records": BatchCase(
            f"dicts -> DataFrame -> Pipeline.predict_proba, {per_call}",
            True,
            lambda: [pipeline.predict_proba(pd.DataFrame(chunk)) for chunk in chunks],
        ),
        "features_frame": BatchCase(
            "DataFrame -> build_features only", True, partial(build_features, inputs)
        ),
        "features_records_stock": BatchCase(
            f"dicts -> build_features_from_records only, {per_call}",
            True,
            lambda: [build_features_from_records(chunk) for chunk in chunks],
        ),
        "features_records_fast": BatchCase(
            f"dicts -> RecordVectoriser.transform only, {per_call}",
            True,
            lambda: [vectoriser.transform(chunk) for chunk in chunks],
        ),
    }
    for threads in (1, 2):
        cases |= _engine_batch_cases(model, threads, inputs, matrix, chunks, per_call)
    return cases


def _engine_batch_cases(
    model: BenchModel,
    threads: int,
    inputs: pd.DataFrame,
    matrix: np.ndarray,
    chunks: list[list[dict[str, Any]]],
    per_call: str,
) -> dict[str, BatchCase]:
    native, onnx = NativeScorer(model.pipeline, threads), OnnxScorer(model.onnx_bytes, threads)
    vectoriser = RecordVectoriser()
    suffix = f"{threads}_thread"
    return {
        f"native_booster_{suffix}": BatchCase(
            f"float32 matrix -> booster.predict(num_threads={threads})",
            False,
            partial(native.predict_proba, matrix),
        ),
        f"onnx_{suffix}": BatchCase(
            f"float32 matrix -> ONNX Runtime, {threads} intra-op thread(s)",
            False,
            partial(onnx.predict_proba, matrix),
        ),
        f"optimised_frame_{suffix}": BatchCase(
            f"DataFrame -> frame_features -> ONNX Runtime {threads} thread(s), "
            f"{FRAME_CHUNK_ROWS:,} rows per call",
            True,
            partial(frame_probabilities, inputs, onnx.predict_proba),
        ),
        f"optimised_records_{suffix}": BatchCase(
            f"dicts -> RecordVectoriser -> ONNX Runtime {threads} thread(s), {per_call}",
            True,
            lambda: [onnx.predict_proba(vectoriser.transform(chunk)) for chunk in chunks],
        ),
    }


def measure_batch(
    model: BenchModel, frame: pd.DataFrame, config: BenchConfig, report: Report
) -> dict[str, Any]:
    """Rows per second of every batch path on the same applications (paths take turns, best run counts),
    with ratios to the baseline."""
    cases = batch_cases(model, frame, request_records(frame), config.chunk_rows)
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for repeat in range(config.batch_repeats):
        report(f"batch round {repeat + 1}/{config.batch_repeats}: {len(cases)} paths on {len(frame):,} rows")
        for name, case in cases.items():
            started = time.perf_counter()
            case.run()
            seconds[name].append(time.perf_counter() - started)
    results = {
        name: {
            "description": case.description,
            "features_included": case.features_included,
            **_throughput_figures(seconds[name], len(frame)),
        }
        for name, case in cases.items()
    }
    baseline = results[BASELINE_BATCH]["rows_per_s"]
    for figures in results.values():
        figures["ratio_to_baseline"] = round(figures["rows_per_s"] / baseline, 2)
    return results


def _throughput_figures(seconds: list[float], rows: int) -> dict[str, Any]:
    best = min(seconds)
    return {
        "rows": rows,
        "seconds_best": round(best, 4),
        "seconds_median": round(statistics.median(seconds), 4),
        "rows_per_s": round(rows / best),
        "repeats": len(seconds),
    }


def batch_parity(model: BenchModel, frame: pd.DataFrame) -> dict[str, Any]:
    """Native pipeline vs ONNX on every benchmark row (they are labelled synthetic applications)."""
    inputs = frame.loc[:, list(INPUT_COLUMNS)]
    native = model.pipeline.predict_proba(inputs)[:, 1]
    onnx = OnnxScorer(model.onnx_bytes, 2).predict_proba(build_features(inputs))
    labels = frame[TARGET_COLUMN].to_numpy()
    return compare_probabilities(native, onnx, labels, model.threshold, CostWeights()).as_dict()


def machine() -> dict[str, Any]:
    """Where and with what the figures were measured."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average_1_5_15": [round(value, 2) for value in os.getloadavg()],
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default (active)"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {name: installed_version(name) for name in LIBRARIES},
    }


def run_inprocess_benchmark(model: BenchModel, config: BenchConfig, report: Report) -> dict[str, Any]:
    """The whole in-process benchmark as a JSON-ready dict with stable keys."""
    from credit_scoring.data.synthetic import generate_applications

    report(f"generating {config.batch_rows:,} synthetic applications (seed {config.data_seed})")
    frame = generate_applications(config.batch_rows, config.data_seed)
    before = machine()
    single = measure_single(model, frame, config, report)
    batch = measure_batch(model, frame, config, report)
    return {
        "settings": {
            **asdict(config),
            "timer": "perf_counter_ns (wall) and thread_time_ns (cpu_*) per call; perf_counter per batch",
            "loop": "closed, in process, one call at a time, paths interleaved in rounds, GC on",
            "gc_enabled": gc.isenabled(),
        },
        "machine": before,
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "model": model.describe(),
        "single_application": single,
        "batch": batch,
        "parity": batch_parity(model, frame),
    }
