"""REPORT.md from bench.json and TRIED.md: targets, figures, ratios, the floor, what was tried."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from credit_scoring.errors import UsageError
from credit_scoring_tools.batch_bench import render_files
from credit_scoring_tools.bench_http import (
    DEFAULTS,
    FLOOR_SCENARIO,
    KEY_SCENARIO,
    MONITORING_OFF,
    TUNED,
    VARIANTS,
)
from credit_scoring_tools.bench_recording import render_recording
from credit_scoring_tools.bench_shadow import render_shadow

# The sections of profiling/TRIED.md the report includes as they are written (the project's history).
TRIED_SECTION = "What was tried"
WHY_SECTION = "Final configuration and why"


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
    table = _table(["target", "measured", "verdict", "key"], rows)
    return ["## Targets (issues 4, 5, 12, 14 and 15)", "", *table, ""]


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
    shares = [_shares(r) for r in rounds[TUNED]]
    rows = [
        [
            str(i + 1),
            *[f"{_fmt(rate[n][i])} / {_fmt(p50[n][i], 2)}" for n in VARIANTS],
            _fmt(vs_defaults[i], 2),
            _fmt(vs_off[i], 3),
            " / ".join(f"{share:.1%}" for share in shares[i]) or "n/a",
        ]
        for i in range(len(vs_defaults))
    ]
    header = ["round", *[f"`{n}` req/s / p50 ms" for n in VARIANTS], "req/s x defaults", "p50 x off"]
    header.append(f"`{TUNED}` share per worker")
    return [
        f"/score x16 round by round (the variants back to back in each round; the verdicts above use each "
        f"variant's median round): the same-round ratios have medians {_fmt(vs_defaults_median, 2)}x the "
        f"defaults' req/s and {_fmt(vs_off_median, 3)}x monitoring off's p50. Each worker's share of the "
        f"served configuration's rounds spans {_share_span(shares)} (35-65 % is the target).",
        "",
        *_table(header, rows),
        "",
    ]


def _shares(run: Mapping[str, Any]) -> list[float]:
    return [share for share in run.get("worker_shares", []) if share == share]  # NaN: not measured


def _share_span(shares: list[list[float]]) -> str:
    """The smallest and largest share any worker had over the rounds, and their spread."""
    values = [share for round_shares in shares for share in round_shares]
    if not values:
        return "n/a (not measured in this run)"
    return f"{min(values):.1%}-{max(values):.1%} (spread {max(values) - min(values):.1%})"


def render_monitoring(monitoring: Mapping[str, Any]) -> list[str]:
    """What the decision journal did under the load (nothing dropped: the lag is what is not stored yet)."""
    lines = []
    for name, c in monitoring.items():
        if c.get("enabled"):
            lines.append(
                f"- decision journal of `{name}` right after the runs ({c['workers_seen']} worker(s)): "
                f"{c['appended']:,} decisions appended, {c['lag_records']:,} not yet ingested "
                f"({c['lag_seconds']:,.0f} s behind), {c['unrecorded']:,} answered without a record, "
                f"{c['refused']:,} refused with a 503."
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


def markdown_sections(text: str) -> dict[str, list[str]]:
    """The ``## `` sections of a Markdown text by title, each without the blank lines around it."""
    sections: dict[str, list[str]] = {}
    body: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            body = sections.setdefault(line.removeprefix("## ").strip(), [])
        elif body is not None:
            body.append(line)
    return {title: "\n".join(lines).strip("\n").splitlines() for title, lines in sections.items()}


def history_section(history: str, title: str) -> list[str]:
    """One section of TRIED.md; a missing one is an error, not a report silently without its history."""
    sections = markdown_sections(history)
    if title not in sections:
        raise UsageError(f"profiling/TRIED.md has no '## {title}' section (found: {', '.join(sections)})")
    return sections[title]


def check_history(history: str) -> None:
    """Fail before a 9-minute run, not after it, when TRIED.md lacks a section the report includes."""
    for title in (TRIED_SECTION, WHY_SECTION):
        history_section(history, title)


def render_configuration(result: Mapping[str, Any], history: str) -> list[str]:
    final = result["final_configuration"]
    return [
        f"## {TRIED_SECTION}",
        "",
        *history_section(history, TRIED_SECTION),
        "",
        f"## {WHY_SECTION}",
        "",
        f"- Service options: `{json.dumps(final['service_config'])}`; engine {final['engine']}; "
        f"ONNX intra-op threads {final['onnx_intra_op_threads']}; "
        f"OMP_WAIT_POLICY {final['omp_wait_policy']}.",
        *history_section(history, WHY_SECTION),
        "",
    ]


def render_report(result: Mapping[str, Any], history: str) -> str:
    """REPORT.md from the bench.json dict and the text of TRIED.md alone (regenerated by `make bench`,
    never edited by hand)."""
    lines = [
        "# Benchmark report (generated by `make bench` from profiling/bench.json and TRIED.md; do not edit)",
        "",
        f"Run {result['generated_at']}, {result['elapsed_s']:g} s"
        + (" (quick run: short durations, figures not meaningful)" if result["settings"]["quick"] else "")
        + ".",
        "",
    ]
    lines += render_targets(result) + render_context(result)
    lines += render_single(result["inprocess"]) + render_batch(result["inprocess"])
    lines += render_http(result["http"]) + render_rounds(result["http"]) + render_floor(result["http"])
    lines += render_recording(result.get("recording")) + render_shadow(result.get("shadow"))
    lines += render_files(result.get("files"), result.get("http_batch_vs_inprocess"))
    lines += render_profile(result["profile"]) + render_configuration(result, history)
    return "\n".join(lines).rstrip() + "\n"
