"""`make bench`'s shadow scoring (issue 14): cost per row in process, /score x16 p50 with it on vs off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credit_scoring_tools.bench_http import (
    KEY_SCENARIO,
    HttpSettings,
    HttpVariant,
    Report,
    ensure_ready,
    measure_scenario,
    median_run,
    start_variant,
    wait_until_logged,
)

SHADOW_ON, SHADOW_OFF = "shadow_on", "shadow_off"
BATCH_ROWS = 50
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ShadowPlan:
    """The registry the Bento is built from, the alias packed as challenger, and how long each run lasts."""

    http: HttpSettings
    tracking_uri: str
    challenger_alias: str
    production_alias: str = "production"


def measure_shadow_cost(model: Any, iterations: int, warmup: int, rounds: int) -> dict[str, Any]:
    """In process: the /score path's model work alone and with the challenger on the same matrix (its own
    ONNX session), the shadow call alone, and a 50-row batch's shadow cost per row."""
    from credit_scoring.fastpath.engines import OnnxScorer
    from credit_scoring.schema import example_application
    from credit_scoring.scoring import Scorer
    from credit_scoring.serving.shadow import Shadow
    from credit_scoring.validation import Application, application_to_record
    from credit_scoring_tools.inprocess_bench import interleaved_latency

    champion = Scorer(model.pipeline, model.threshold, "champion", model=OnnxScorer(model.onnx_bytes))
    challenger = Scorer(model.pipeline, model.threshold, "challenger", model=OnnxScorer(model.onnx_bytes))
    shadow = Shadow(challenger, champion)
    record = application_to_record(Application.model_validate(example_application()))
    rows, batch = [record], [record] * BATCH_ROWS
    matrix, batch_matrix = champion.features(rows), champion.features(batch)
    runs = {
        "score_path_shadow_off": (lambda r: champion.score_features(champion.features(r)), [rows],
                                  iterations),
        "score_path_shadow_on": (lambda r: _scored_with_shadow(champion, shadow, r), [rows], iterations),
        "shadow_one_row": (lambda m: shadow.score(m, lambda: rows, "score"), [matrix], iterations),
        "shadow_batch_50": (lambda m: shadow.score(m, lambda: batch, "score_batch"), [batch_matrix],
                            max(iterations // 10, rounds)),
    }  # fmt: skip
    measured = interleaved_latency(runs, warmup, rounds)
    per_row = round(measured["shadow_batch_50"]["p50_us"] / BATCH_ROWS, 2)
    return {
        "paths": measured,
        "shadow_us_per_row_single": measured["shadow_one_row"]["p50_us"],
        "shadow_us_per_row_batch_50": per_row,
        # What the /score path really pays: the two sessions' trees also compete for the CPU caches.
        "score_path_added_us": round(
            measured["score_path_shadow_on"]["p50_us"] - measured["score_path_shadow_off"]["p50_us"], 2
        ),
        "score_path_p50_ratio": _ratio(
            measured["score_path_shadow_on"]["p50_us"], measured["score_path_shadow_off"]["p50_us"]
        ),
        "reuses_champion_features": shadow.reuses_features,
        "failures": shadow.failures,
    }


def _scored_with_shadow(champion: Any, shadow: Any, rows: list) -> Any:
    matrix = champion.features(rows)
    return champion.score_features(matrix), shadow.score(matrix, lambda: rows, "score")


def build_shadow_bento(plan: ShadowPlan, home: Path, report: Report) -> tuple[str, str]:
    """bento/build.py into a scratch BENTOML_HOME (the project's store and `credit_scoring:latest` stay as
    they are): @production with @challenger, or @production packed as its own challenger when no version
    carries that alias (same model size, so the same cost). The Bento tag and the challenger it packed."""
    from mlflow import MlflowClient

    from credit_scoring.registry import version_by_alias
    from credit_scoring.settings import get_settings

    client, name = MlflowClient(plan.tracking_uri), get_settings().model_name
    found = version_by_alias(client, name, plan.challenger_alias)
    alias = plan.challenger_alias if found is not None else plan.production_alias
    report(f"shadow: building a Bento with @{plan.production_alias} and @{alias} as challenger in {home}")
    env = dict(os.environ) | {"BENTOML_HOME": str(home), "CREDIT_CHALLENGER_ALIAS": alias,
                              "MLFLOW_TRACKING_URI": plan.tracking_uri,
                              "BENTOML_DO_NOT_TRACK": "True"}  # fmt: skip
    done = subprocess.run([sys.executable, "bento/build.py"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"shadow: bento/build.py failed: {done.stderr[-2000:]}")
    tag = re.search(r"^BENTO_TAG=(\S+)$", done.stdout, re.MULTILINE)
    return tag.group(1) if tag else "credit_scoring:latest", alias  # type: ignore[union-attr]


def run_shadow_http(plan: ShadowPlan, report: Report) -> dict[str, Any]:
    """The same Bento served twice at once (shadow on, shadow off; monitoring on in both), /score x16 in
    interleaved rounds; the median round's p50 of each and their ratio."""
    from credit_scoring.serving.launcher import stop_server, wait_until_ready
    from credit_scoring_tools.loadtest import wrk_available

    tool = ("wrk" if wrk_available() else "httpx") if plan.http.tool == "auto" else plan.http.tool
    with tempfile.TemporaryDirectory(prefix="credit-bench-shadow-") as tmp:
        home = Path(tmp) / "bentoml"
        bento, packed_alias = build_shadow_bento(plan, home, report)
        variants = {
            SHADOW_ON: HttpVariant("shadow scoring on", {"BENTOML_HOME": str(home)}),
            SHADOW_OFF: HttpVariant(
                "shadow scoring off", {"BENTOML_HOME": str(home), "CREDIT_SHADOW_ENABLED": "false"}
            ),
        }
        servers = [start_variant(name, v, bento, Path(tmp)) for name, v in variants.items()]
        try:
            for server in servers:
                ensure_ready(server, wait_until_ready)
            runs = _rounds(servers, plan.http, tool, report)
            health = {server.name: _shadow_health(server.base_url) for server in servers}
        finally:
            for server in servers:
                stop_server(server.process)
    results = {name: median_run(measured) for name, measured in runs.items()}
    return {
        "bento": bento,
        "challenger_alias_packed": packed_alias,
        "tool": tool,
        "scenario": f"{KEY_SCENARIO.key}: median (by p50) of {plan.http.key_rounds} interleaved rounds, "
        f"{plan.http.warmup_s:g} s warm-up + {plan.http.duration_s:g} s each",
        "results": results,
        "shadow_health": health,
        "p50_ratio_on_vs_off": _ratio(results[SHADOW_ON]["p50_ms"], results[SHADOW_OFF]["p50_ms"]),
        "requests_per_s_ratio_on_vs_off": _ratio(
            results[SHADOW_ON]["requests_per_s"], results[SHADOW_OFF]["requests_per_s"]
        ),
    }


def _rounds(servers: list, settings: HttpSettings, tool: str, report: Report) -> dict[str, list[dict]]:
    runs: dict[str, list[dict[str, Any]]] = {server.name: [] for server in servers}
    for round_number in range(1, settings.key_rounds + 1):
        for server in servers:
            rounds = f"round {round_number}/{settings.key_rounds}"
            report(f"shadow: {KEY_SCENARIO.key} on {server.name} ({rounds})")
            wait_until_logged(servers, report)
            runs[server.name].append(measure_scenario(server, KEY_SCENARIO, settings, tool))
    return runs


def _shadow_health(base_url: str) -> dict[str, Any] | None:
    import httpx

    return httpx.get(f"{base_url}/monitoring/health", timeout=10).json().get("shadow")


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return round(value / baseline, 3) if value and baseline else None


def run_shadow_benchmark(
    model: Any, plan: ShadowPlan | None, inprocess: Mapping[str, int], report: Report
) -> dict[str, Any]:
    """The in-process cost per row, then (with a plan: a registry to build from) the HTTP on/off run."""
    report("shadow: the challenger's in-process cost per row")
    result: dict[str, Any] = {"inprocess": measure_shadow_cost(model, **inprocess), "http": None}
    if plan is not None:
        result["http"] = run_shadow_http(plan, report)
    return result


def render_shadow(shadow: Mapping[str, Any] | None) -> list[str]:
    """The shadow-scoring section of REPORT.md."""
    if not shadow:
        return []
    cost = shadow["inprocess"]
    off, on = cost["paths"]["score_path_shadow_off"], cost["paths"]["score_path_shadow_on"]
    lines = [
        "## Shadow scoring (issue 14)",
        "",
        f"- In process, the challenger on the champion's matrix (its own ONNX session): "
        f"{cost['shadow_us_per_row_single']:.1f} us for one row called alone (p50), "
        f"{cost['shadow_us_per_row_batch_50']:.2f} us per row in a batch of {BATCH_ROWS}; the /score model "
        f"path (features, champion, challenger) {off['p50_us']:.1f} us without, {on['p50_us']:.1f} us with "
        f"it: +{cost['score_path_added_us']:.1f} us ({_text(cost['score_path_p50_ratio'])}x).",
    ]
    return [*lines, *_render_http(shadow.get("http")), ""]


def _render_http(http: Mapping[str, Any] | None) -> list[str]:
    if not http:
        return ["- HTTP: not measured (no registry to build the Bento with a challenger from)."]
    on, off = http["results"][SHADOW_ON], http["results"][SHADOW_OFF]
    return [
        f"- HTTP {http['scenario']}; one Bento with @{http['challenger_alias_packed']} packed as challenger, "
        f"served twice at once: p50 {on['p50_ms']:.2f} ms with shadow scoring, {off['p50_ms']:.2f} ms "
        f"without: {_text(http['p50_ratio_on_vs_off'])}x (target <= 1.10); requests/s "
        f"{on['requests_per_s']:,.0f} vs {off['requests_per_s']:,.0f}; "
        f"errors {on['errors']} / {off['errors']}.",
    ]


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def shadow_plan_for(http: HttpSettings, settings: Any) -> ShadowPlan:
    """The plan from the bench's HTTP settings and the project's settings (registry, aliases)."""
    return ShadowPlan(http, settings.tracking_uri, settings.challenger_alias, settings.production_alias)


def shadow_config(quick: bool) -> dict[str, int]:
    """Iterations of the in-process timing (a quick run: a few, figures not meaningful)."""
    if quick:
        return {"iterations": 200, "warmup": 10, "rounds": 2}
    return {"iterations": 5_000, "warmup": 200, "rounds": 10}
