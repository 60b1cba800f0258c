"""Where one /score request's time goes in process: per-stage timings, cProfile and pyinstrument reports."""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel

from credit_scoring.fastpath.engines import NativeScorer, OnnxScorer
from credit_scoring.fastpath.vectorise import RecordVectoriser
from credit_scoring.features import build_features_from_records
from credit_scoring.schema import ID_COLUMN
from credit_scoring.scoring import Score, Scorer, decide
from credit_scoring.serving.api_models import ScoreRequest, score_response
from credit_scoring.validation import application_to_record
from credit_scoring_tools.inprocess_bench import BenchModel

TOP_FUNCTIONS = 25


@dataclass
class RequestState:
    """What one request carries from stage to stage: body in, JSON answer out."""

    body: bytes
    application: BaseModel | None = None
    record: dict[str, Any] | None = None
    features: np.ndarray | None = None
    probability: float = float("nan")
    response: str = ""


Stage = tuple[str, Callable[[RequestState], None]]


class RequestPaths:
    """The /score handler's steps, on the stock path and on the optimised one.

    Each stage is what the service does for one request: BentoML validates the body into the request
    model, the handler builds the record, the features and the probability, and returns the response
    model, which is serialised to JSON. Monitoring hooks become one more stage when the service has them.
    """

    def __init__(self, model: BenchModel) -> None:
        self.scorer = Scorer(model.pipeline, threshold=model.threshold, version="profile")
        self.native = NativeScorer(model.pipeline)
        self.onnx = OnnxScorer(model.onnx_bytes)
        self.vectoriser = RecordVectoriser()

    def parse_validate(self, state: RequestState) -> None:
        state.application = ScoreRequest.model_validate_json(state.body).application

    def record(self, state: RequestState) -> None:
        state.record = application_to_record(state.application)

    def features_stock(self, state: RequestState) -> None:
        state.features = build_features_from_records([state.record])

    def features_fast(self, state: RequestState) -> None:
        state.features = self.vectoriser.transform_one(state.application.__dict__)

    def model_native(self, state: RequestState) -> None:
        state.probability = float(self.native.predict_proba(state.features)[0])

    def model_onnx(self, state: RequestState) -> None:
        state.probability = float(self.onnx.predict_proba(state.features)[0])

    def respond(self, state: RequestState) -> None:
        score = Score(state.probability, decide(state.probability, self.scorer.threshold))
        reference = getattr(state.application, ID_COLUMN)
        state.response = score_response(score, self.scorer, reference).model_dump_json()

    def paths(self) -> dict[str, list[Stage]]:
        """``stock``: the path before optimisation (features.build_features_from_records, LightGBM booster);
        ``optimised``: validated fields straight into the fast vectoriser, then ONNX Runtime."""
        return {
            "stock": [
                ("parse_validate", self.parse_validate),
                ("record", self.record),
                ("features", self.features_stock),
                ("model", self.model_native),
                ("response", self.respond),
            ],
            "optimised": [
                ("parse_validate", self.parse_validate),
                ("features", self.features_fast),
                ("model", self.model_onnx),
                ("response", self.respond),
            ],
        }


def request_bodies(records: Sequence[dict[str, Any]]) -> list[bytes]:
    """/score request bodies, as clients send them."""
    return [json.dumps({"application": record}).encode() for record in records]


def run_path(stages: Sequence[Stage], body: bytes) -> RequestState:
    state = RequestState(body)
    for _, stage in stages:
        stage(state)
    return state


def stage_timings(
    stages: Sequence[Stage], bodies: Sequence[bytes], requests: int
) -> dict[str, dict[str, float]]:
    """Wall p50/p99 and thread-CPU p50 microseconds of every stage and of the whole request."""
    durations = np.empty((requests, len(stages), 2), dtype=np.int64)
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    for index in range(requests):
        state = RequestState(bodies[index % len(bodies)])
        for position, (_, stage) in enumerate(stages):
            wall_started, cpu_started = wall(), cpu()
            stage(state)
            durations[index, position] = (wall() - wall_started, cpu() - cpu_started)
    columns = {name: durations[:, position] for position, (name, _) in enumerate(stages)}
    columns["total"] = durations.sum(axis=1)
    return {
        name: {
            "p50_us": float(np.percentile(ns[:, 0], 50)) / 1e3,
            "p99_us": float(np.percentile(ns[:, 0], 99)) / 1e3,
            "cpu_p50_us": float(np.percentile(ns[:, 1], 50)) / 1e3,
        }
        for name, ns in columns.items()
    }


def cprofile_report(stages: Sequence[Stage], bodies: Sequence[bytes], requests: int, sort: str) -> str:
    """cProfile's top functions over ``requests`` requests, sorted by ``sort`` (tottime or cumulative)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for index in range(requests):
        run_path(stages, bodies[index % len(bodies)])
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(TOP_FUNCTIONS)
    return out.getvalue().strip()


def pyinstrument_report(stages: Sequence[Stage], bodies: Sequence[bytes], requests: int) -> str:
    """pyinstrument's call tree (sampling every 100 µs) over ``requests`` requests."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0001)
    profiler.start()
    for index in range(requests):
        run_path(stages, bodies[index % len(bodies)])
    profiler.stop()
    return profiler.output_text(unicode=False, color=False, short_mode=False).strip()


TABLE_FIGURES = (("p50_us", "p50"), ("cpu_p50_us", "cpu p50"), ("p99_us", "p99"))


def timing_table(timings: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """Stages in rows; for each path, wall p50, thread-CPU p50 and wall p99 in microseconds."""
    paths = list(timings)
    stages = list(dict.fromkeys(stage for figures in timings.values() for stage in figures))
    header = f"{'stage':<15}" + "".join(
        f"{f'{path} {label}':>18}" for path in paths for _, label in TABLE_FIGURES
    )
    lines = [header, "-" * len(header)]
    for stage in stages:
        cells = [_cells(timings[path].get(stage)) for path in paths]
        lines.append(f"{stage:<15}" + "".join(cells))
    return lines


def _cells(figures: dict[str, float] | None) -> str:
    if figures is None:
        return "".join(f"{'-':>18}" for _ in TABLE_FIGURES)
    return "".join(f"{figures[key]:>18.1f}" for key, _ in TABLE_FIGURES)


def measure_stages(
    paths: dict[str, list[Stage]], bodies: Sequence[bytes], requests: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Stage timings of every path after a warm-up (first calls fill pydantic, ONNX Runtime, numpy caches)."""
    for stages in paths.values():
        for body in bodies[:50]:
            run_path(stages, body)
    return {name: stage_timings(stages, bodies, requests) for name, stages in paths.items()}


def profile_report(model: BenchModel, records: Sequence[dict[str, Any]], requests: int) -> str:
    """The whole text report: stage table for both paths, cProfile of both, pyinstrument of both."""
    paths, bodies = RequestPaths(model).paths(), request_bodies(records)
    timings = measure_stages(paths, bodies, requests)
    sections = [
        "Profile of one /score request, in process (make profile; regenerated, not hand-edited)",
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {requests:,} requests per path over {len(bodies)} "
        f"different applications, load average {', '.join(f'{v:.2f}' for v in os.getloadavg())} on "
        f"{os.cpu_count()} CPUs",
        f"model: {model.source}; {model.describe()['trees']} trees; threshold {model.threshold}",
        "",
        "== Stage timings, microseconds per request (wall: perf_counter_ns; cpu: thread_time_ns) ==",
        *timing_table(timings),
    ]
    for name, stages in paths.items():
        sections += ["", f"== cProfile, {name} path, top {TOP_FUNCTIONS} by own time ==", ""]
        sections.append(cprofile_report(stages, bodies, requests, "tottime"))
    for name, stages in paths.items():
        sections += [
            "",
            f"== pyinstrument, {name} path ==",
            "",
            pyinstrument_report(stages, bodies, requests),
        ]
    return "\n".join(sections) + "\n"
