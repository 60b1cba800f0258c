"""REPORT.md rendered from bench.json alone: targets, figures, ratios, the floor, what was tried."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from credit_scoring_tools.bench_http import (
    DEFAULTS,
    FLOOR_SCENARIO,
    KEY_SCENARIO,
    MONITORING_OFF,
    TUNED,
    VARIANTS,
)

TRIED = (
    (
        "ONNX Runtime for the trees (skl2onnx + onnxmltools LightGBM converter), 1 intra-op thread",
        "helped: model call ~120 -> ~70 us per application in the profile, batch several times faster",
    ),
    (
        "converter threshold rounding fix (split thresholds rounded to float32 as LightGBM compares them)",
        "needed for parity: without it a few probabilities moved by > 1e-5; with it no decision changes",
    ),
    (
        "RecordVectoriser: precomputed column indices + numpy instead of per-field loops",
        "helped: features 212 -> 144 us per application; derive_features kept a fixed cost per call",
    ),
    (
        "one request's engineered features in Python (derive_row: the same rules, numpy called once)",
        "helped: derive 21-24 -> 9 us, RecordVectoriser.transform_one 27 -> 13 us; bit-for-bit equal",
    ),
    (
        "derive_features without np.errstate (divide only where the denominator is not zero), "
        "written straight into float32",
        "helped the batch path: 100,000 rows 55 -> 24-29 ms of feature derivation",
    ),
    (
        "batch: categories encoded per frame (encode_frame) instead of per record",
        "category encoding was ~70 % of batch time; vectorised per column",
    ),
    (
        "pydantic validation: a Python rule check per field (120 validators)",
        "was the largest in-process cost: ~145-210 us per request, 16-22 % of a worker's samples under load",
    ),
    (
        "the same rules as pydantic-core constraints (strict types, ge/le, levels); the Python rules only "
        "for what those refuse (error wording, lenient forms such as 2.0 for an integer)",
        "helped: ScoreRequest from JSON ~170 -> 45 us, same answers and errors (tested on every column); "
        "allow_inf_nan on a field had silently added a Python check per int field (model config instead)",
    ),
    (
        "a reused onnxruntime.RunOptions instead of the default built per run()",
        "did not help measurably (interleaved A/B: 20.0 vs 19.6 us min per call); not kept",
    ),
    ("uvloop + httptools (uvicorn picks them up)", "helped: p50 7.9 -> 3.5 ms, 16 clients 117 -> 263 req/s"),
    (
        "OpenTelemetry spans off on the API routes; access log off",
        "helped: ~0.5-0.8 ms CPU per request together; 16 clients ~420 -> ~770 req/s (test model)",
    ),
    (
        "single answers as a complete JSON Response (Content-Length, no chunked stream)",
        "helped a little: 2 socket writes instead of 3",
    ),
    ("2 workers (one per core)", "helped: 676 -> 772 req/s at 16 clients; more workers than cores did not"),
    ("Prometheus metrics off", "did not help enough to keep: ~0.1-0.3 ms, and /metrics is scraped"),
    (
        "thread pool (sync endpoints)",
        "did not help: a thread hop per request; async endpoints compute inline",
    ),
    (
        "monitoring in a background thread of the worker (store + whylogs, 10,000-row profile batches)",
        "not enough: ~0.25-0.33 ms CPU per record holding the GIL, whylogs calls of ~0.1 s stalling the "
        "event loop; 16-client p50 +30-37 % vs monitoring off",
    ),
    (
        "monitoring in a child process per worker at nice 10 / nice 19",
        "not enough: +11 % p50 at nice 19; in a session of its own (setsid) the child is a scheduler "
        "autogroup with a full CPU share whatever its niceness (3 s of CPU per 10 s of load)",
    ),
    (
        "monitoring child at SCHED_IDLE (same session), records pickled in 20 ms bunches",
        "helped: p50 7.15 ms off vs 7.35 ms on (+3 %) in the first A/B; the child catches up when the "
        "load eases (backlog bounded by CREDIT_BUFFER_MB)",
    ),
    (
        "records sent to the logger process in 200 ms bunches instead of 20 ms",
        "helped: the worker's pickling and pipe threads take the GIL from the event loop 5 times a second "
        "instead of 50; p50 at 16 clients 10.8-11.6 -> 9.4-9.7 ms (off: 8.7-9.9) in an A/B",
    ),
    (
        "logger process: orjson for the inputs column, a cheaper NaN test; worker: hmac.digest, the "
        "request log found once",
        "helped a little: a stored row 96 -> 26 us (idle-priority process); pseudonymising 4.3 -> 2.2 us",
    ),
    (
        "gc.freeze() after start-up; one wrk thread instead of two",
        "did not help the tail: p99 ~50-100 ms either way; GET /livez (a no-op) has the same tail",
    ),
    (
        "a /score record sent as its raw body and the answer's figures (AnsweredApplication); the logger "
        "process validates the body again (same JSON-mode validation) and pseudonymises the id",
        "helped: building, pseudonymising and pickling 120 inputs had cost the event loop ~25 us per "
        "request; in-process middleware bench 38 -> 15-20 us of event loop, 55 -> 20 us of process CPU; "
        "16-client A/B: worker CPU per request with monitoring on within the noise of off",
    ),
    (
        "BentoML 1.4 per-request costs: inspect.signature and a new wrapper per method lookup "
        "(APIMethod._local_call), simple_di's bind_partial per answer (_add_response_headers)",
        "helped: ~23 us each per request in a quiet loop, 0.7 and 8.5 us patched at start-up "
        "(serving/bentoml_speedups.py; left alone if BentoML's code changes shape); 16-client A/B: "
        "worker CPU ~0.9-1.1 -> ~0.86-0.97 ms per request",
    ),
    (
        "logger process priority lowered before its imports (Linux keeps it per thread; lowered after, "
        "it missed the imports and the threads they start: 3 of 6 threads at the worker's priority)",
        "fixed the first load round after a start, where the logger process took 0.4-0.8 ms of CPU per "
        "request; /score x1 with monitoring on 524 -> 777 req/s between the 12:52 and 13:26 runs",
    ),
)
CONFIG_WHY = (
    "ONNX Runtime engine (CREDIT_SCORING_ENGINE=onnx, native LightGBM booster as fallback): same decisions "
    "(parity check), cheaper per call.",
    "One ONNX intra-op thread and OMP_WAIT_POLICY=PASSIVE: no thread spinning stealing the core the other "
    "worker needs.",
    "2 BentoML workers on 2 cores; async endpoints, no thread pool; uvloop + httptools.",
    "Access log off and no tracing spans on /score, /score_batch, /explain: each cost more than the "
    "model; the monitoring request log keeps the record off the hot path.",
    "Request log written and profiled by one child process per worker at SCHED_IDLE "
    "(CREDIT_MONITORING_PRIORITY=idle): the requests get the cores first; for /score and /explain the "
    "worker only queues the raw body and the answer's figures, the child builds the record.",
    "Two BentoML per-request costs patched at start-up (CREDIT_BENTOML_SPEEDUPS=true): same answers and "
    "headers, ~40 us less per request.",
)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render_targets(result: Mapping[str, Any]) -> list[str]:
    marks = {True: "met", False: "NOT met", None: "not measured"}
    rows = [
        [v["target"], _fmt(v["value"], 3), marks[v["met"]], f"`{v['json_key']}`"]
        for v in result["targets"].values()
    ]
    return ["## Targets (issues 5 and 4)", "", *_table(["target", "measured", "verdict", "key"], rows), ""]


def render_single(inprocess: Mapping[str, Any]) -> list[str]:
    single = inprocess["single_application"]
    rows = [
        [
            f"`{name}`",
            _fmt(f["p50_us"]),
            _fmt(f["p99_us"]),
            _fmt(f["cpu_p50_us"]),
            _fmt(f["speedup_vs_baseline_p50"], 2),
            f["description"],
        ]
        for name, f in {**single["paths"], **single["components"]}.items()
    ]
    header = ["path", "p50 us", "p99 us", "cpu p50 us", "x vs predict_proba", "what"]
    return [
        "## In process: one application, request dict to probability",
        "",
        f"Baseline: `{single['baseline']}`; every path agrees with it within "
        f"{_fmt(single['agreement_max_abs_difference'], 9)}.",
        "",
        *_table(header, rows),
        "",
    ]


def render_batch(inprocess: Mapping[str, Any]) -> list[str]:
    rows = [
        [
            f"`{name}`",
            _fmt(f["rows_per_s"]),
            _fmt(f["ratio_to_baseline"], 2),
            "yes" if f["features_included"] else "no",
            f["description"],
        ]
        for name, f in inprocess["batch"].items()
    ]
    parity = inprocess.get("parity", {})
    first_row = next(iter(inprocess["batch"].values()))
    return [
        "## In process: batch throughput",
        "",
        f"{_fmt(first_row['rows'])} applications per path, best of {first_row['repeats']} runs.",
        "",
        *_table(["path", "rows/s", "x vs baseline", "features timed", "what"], rows),
        "",
        f"Parity on these rows (native vs ONNX): `{json.dumps(parity)}`",
        "",
    ]


def render_http(http: Mapping[str, Any] | None) -> list[str]:
    if not http:
        return ["## HTTP through the Bento", "", "Not measured in this run (--skip-http).", ""]
    s = http["settings"]
    lines = [
        "## HTTP through the Bento",
        "",
        f"Bento `{s['bento']}`, tool {s['tool']} ({s['tool_command']}), {s['loop']} loop, "
        f"{s['warmup_s']:g} s warm-up + {s['duration_s']:g} s per run, {s['order']}; "
        f"{s.get('key_scenario', 'one round per scenario')}; "
        f"/score_batch carries {s['batch_applications_per_request']} applications.",
        "",
    ]
    for name, variant in http["variants"].items():
        overrides = ", ".join(f"`{o}`" for o in variant["bentoml_config"]) or "none"
        lines.append(
            f"- `{name}`: {variant['description']} (env {variant['env'] or '{}'}; overrides {overrides})"
        )
    header = [
        "variant",
        "scenario",
        "req/s",
        "apps/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "srv cpu ms/req",
        "req/s x defaults",
        "p50 x monitoring off",
    ]
    rows = [
        [
            f"`{name}`",
            f"{f['endpoint']} x{f['clients']}",
            _fmt(f["requests_per_s"]),
            _fmt(f["applications_per_s"]),
            _fmt(f["p50_ms"], 2),
            _fmt(f["p99_ms"], 2),
            _fmt(f["errors"]),
            _fmt(f["server_cpu_ms_per_request"], 2),
            _fmt(f.get("ratio_requests_per_s_vs_bentoml_defaults"), 2),
            _fmt(f.get("ratio_p50_vs_monitoring_off"), 2),
        ]
        for name, scenarios in http["results"].items()
        for f in scenarios.values()
    ]
    return [*lines, "", *_table(header, rows), "", *render_monitoring(http.get("monitoring", {})), ""]


def render_floor(http: Mapping[str, Any] | None) -> list[str]:
    """The HTTP targets next to what a no-op endpoint reaches on the same servers in the same run."""
    results = (http or {}).get("results", {})
    score = results.get(TUNED, {}).get(KEY_SCENARIO.key)
    # Both served-configuration servers answer /livez the same way (it is never logged): their best run
    # is the floor, so one run disturbed by a neighbour does not lower it.
    floors = [results.get(name, {}).get(FLOOR_SCENARIO.key) for name in (TUNED, MONITORING_OFF)]
    floors = [floor for floor in floors if floor]
    defaults = results.get(DEFAULTS, {}).get(KEY_SCENARIO.key)
    if not (score and floors and defaults):
        return []
    rate = max(floor["requests_per_s"] for floor in floors)
    p99, p50 = min((floor["p99_ms"], floor["p50_ms"]) for floor in floors)
    ceiling = rate / defaults["requests_per_s"]
    return [
        "## The HTTP targets against this machine's floor (same run)",
        "",
        f"- `GET /livez` does nothing. On the served configuration, with 16 clients, its best p99 is "
        f"{_fmt(p99, 2)} ms (p50 {_fmt(p50, 2)} ms): the tail of any endpoint on these 2 shared vCPUs, "
        f"which also run the load generator. /score's p99 is {_fmt(score['p99_ms'], 2)} ms; a p99 under "
        f"25 ms is below this floor.",
        f"- The same no-op tops out at {_fmt(rate)} req/s, {_fmt(ceiling, 2)}x what BentoML's defaults "
        f"reach on /score: BentoML's per-request machinery alone caps the ratio there. /score reaches "
        f"{_fmt(100 * score['requests_per_s'] / rate)} % of the no-op's rate "
        f"({_fmt(score['requests_per_s'])} req/s); 4x the defaults would need {_fmt(400 / ceiling)} %.",
        "",
    ]


def paired_ratios(numerators: list[float], denominators: list[float]) -> tuple[list[float], float]:
    """Round-by-round ratios of two interleaved variants, and their median."""
    ratios = sorted(n / d for n, d in zip(numerators, denominators, strict=True) if d)
    middle = len(ratios) // 2
    median = ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2
    return [n / d if d else float("nan") for n, d in zip(numerators, denominators, strict=True)], median


def render_rounds(http: Mapping[str, Any] | None) -> list[str]:
    """The key scenario round by round: the spread behind the verdicts, and ratios paired per round."""
    results = (http or {}).get("results", {})
    rounds = {name: results.get(name, {}).get(KEY_SCENARIO.key, {}).get("rounds") for name in VARIANTS}
    if not all(rounds.values()) or len({len(r) for r in rounds.values()}) != 1:
        return []
    rate = {name: [r["requests_per_s"] for r in runs] for name, runs in rounds.items()}
    p50 = {name: [r["p50_ms"] for r in runs] for name, runs in rounds.items()}
    vs_defaults, vs_defaults_median = paired_ratios(rate[TUNED], rate[DEFAULTS])
    vs_off, vs_off_median = paired_ratios(p50[TUNED], p50[MONITORING_OFF])
    rows = [
        [
            str(i + 1),
            *[f"{_fmt(rate[n][i])} / {_fmt(p50[n][i], 2)}" for n in VARIANTS],
            _fmt(vs_defaults[i], 2),
            _fmt(vs_off[i], 3),
        ]
        for i in range(len(vs_defaults))
    ]
    header = ["round", *[f"`{n}` req/s / p50 ms" for n in VARIANTS], "req/s x defaults", "p50 x off"]
    return [
        f"/score x16 round by round (the variants back to back in each round; the verdicts above use each "
        f"variant's median round): the same-round ratios have medians {_fmt(vs_defaults_median, 2)}x the "
        f"defaults' req/s and {_fmt(vs_off_median, 3)}x monitoring off's p50.",
        "",
        *_table(header, rows),
        "",
    ]


def render_monitoring(monitoring: Mapping[str, Any]) -> list[str]:
    """What the request log did under the load (dropped records are the price of an overload)."""
    lines = []
    for name, c in monitoring.items():
        if c.get("enabled"):
            lines.append(
                f"- request log of `{name}` right after the runs ({c['workers_seen']} worker(s)): "
                f"{c['submitted']:,} records submitted, {c['written']:,} written so far, "
                f"{c['queue_depth']:,} waiting for the idle-priority logger process, "
                f"{c['dropped']:,} dropped, {c['failed_records']:,} failed."
            )
    return ["Monitoring under load:", "", *lines] if lines else []


def render_context(result: Mapping[str, Any]) -> list[str]:
    m, inprocess = result["machine"], result["inprocess"]
    settings = inprocess["settings"]
    versions_text = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    return [
        "## How it was measured",
        "",
        f"- Machine: {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']}; load average "
        f"{m['load_average_before']} before, {m['load_average_after']} after (1/5/15 min).",
        f"- Versions: {versions_text}.",
        f"- In process: {settings['loop']}; timer {settings['timer']}; {settings['iterations']:,} timed "
        f"calls per path ({settings['baseline_iterations']:,} for the slow baseline), "
        f"{settings['warmup']:,} warm-up calls, "
        f"OMP_WAIT_POLICY={inprocess['machine']['omp_wait_policy']}.",
        f"- Model: {json.dumps(inprocess['model'])}.",
        "- Ratios compare figures of this same run only (the machine is shared and noisy).",
        "",
    ]


def render_profile(profile: Mapping[str, Any]) -> list[str]:
    lines = ["## Bottlenecks found (`make profile`, top of " + f"`{profile['source']}`)", ""]
    if not profile["top_lines"]:
        return [*lines, profile.get("note", "no profile"), ""]
    return [
        *lines,
        "```",
        *profile["top_lines"],
        "```",
        "",
        "Reading: after validation moved into pydantic-core and one row's features into derive_row, the "
        "trees and the JSON parsing lead the in-process path. Over HTTP (py-spy, a worker's event loop "
        "under 16 clients), Starlette/BentoML/uvicorn's per-request machinery takes about half, ahead of "
        "scoring (~24 %, ONNX Runtime ~10 %), validation (~16 %), sending the answer through the "
        "middlewares (~15 %), Prometheus metrics (~6 %) and the request log (~3 %, was ~9 % before the "
        "raw-body records).",
        "",
    ]


def render_configuration(result: Mapping[str, Any]) -> list[str]:
    final = result["final_configuration"]
    rows = [[change, effect] for change, effect in TRIED]
    return [
        "## What was tried",
        "",
        *_table(["change", "effect"], rows),
        "",
        "## Final configuration and why",
        "",
        f"- Service options: `{json.dumps(final['service_config'])}`; engine {final['engine']}; "
        f"ONNX intra-op threads {final['onnx_intra_op_threads']}; "
        f"OMP_WAIT_POLICY {final['omp_wait_policy']}.",
        *[f"- {why}" for why in CONFIG_WHY],
        "",
    ]


def render_report(result: Mapping[str, Any]) -> str:
    """REPORT.md from the bench.json dict alone (regenerated by `make bench`, never edited by hand)."""
    lines = [
        "# Benchmark report (generated by `make bench` from profiling/bench.json; do not edit)",
        "",
        f"Run {result['generated_at']}, {result['elapsed_s']:g} s"
        + (" (quick run: short durations, figures not meaningful)" if result["settings"]["quick"] else "")
        + ".",
        "",
    ]
    lines += render_targets(result) + render_context(result)
    lines += render_single(result["inprocess"]) + render_batch(result["inprocess"])
    lines += render_http(result["http"]) + render_rounds(result["http"]) + render_floor(result["http"])
    lines += render_profile(result["profile"]) + render_configuration(result)
    return "\n".join(lines).rstrip() + "\n"
