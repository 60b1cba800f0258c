"""What `make bench` is judged by (issues 4, 5, 12, 14, 15): where each figure sits in bench.json, verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from credit_scoring_tools.bench_http import TUNED

# Targets met at their threshold ("at most"), unlike the strict "below" of the latency ones.
INCLUSIVE_UPPER_BOUNDS = frozenset(
    {"monitoring_overhead", "shadow_overhead", "journal_append_us", "bytes_per_record", "spark_parity"}
)


@dataclass(frozen=True)
class Target:
    """One figure of issue 5 (or 4) against its threshold; ``path`` is where it sits in bench.json."""

    key: str
    text: str
    path: tuple[str, ...]
    threshold: float
    at_least: bool


TARGETS = (
    Target(
        "http_batch_share",
        "/score_batch x16 over HTTP >= 25 % of the in-process batch rows/s of the same run",
        ("http_batch_vs_inprocess",),
        0.25,
        True,
    ),
    Target(
        "score_file_parquet",
        "make score-file, 1,000,000 rows from Parquet: >= 200,000 rows/s",
        ("files", "local_parquet", "rows_per_s"),
        200_000,
        True,
    ),
    Target(
        "score_file_csv",
        "make score-file, 1,000,000 rows from CSV: >= 200,000 rows/s",
        ("files", "local_csv", "rows_per_s"),
        200_000,
        True,
    ),
    Target(
        "spark_parity",
        "Spark (local[2]) probabilities equal the local engine's within 1e-6",
        ("files", "spark_parity", "max_abs_difference"),
        1e-6,
        False,
    ),
    Target(
        "journal_append_us",
        "decision journal append <= 10 us of CPU per record (p50, in process)",
        ("recording", "append_us", "p50"),
        10,
        False,
    ),
    Target(
        "ingest_rate",
        "ingest with profiles >= 10,000 records per CPU-second (one core)",
        ("recording", "ingest", "records_per_cpu_s"),
        10_000,
        True,
    ),
    Target(
        "bytes_per_record",
        "<= 500 bytes on disk per stored record, inputs included",
        ("recording", "ingest", "bytes_per_record"),
        500,
        False,
    ),
    Target(
        "sustained_on_vs_off",
        "sustained /score x16 req/s with monitoring on >= 0.80x off, every record stored",
        ("recording", "sustained", "requests_per_s_on_vs_off"),
        0.8,
        True,
    ),
    Target(
        "sustained_unstored",
        "sustained run: answered 200 but not stored = 0 (stored - answered >= 0)",
        ("recording", "sustained", "stored_minus_answered"),
        0,
        True,
    ),
    Target(
        "inprocess_speedup",
        "optimised in-process path >= 20x faster than predict_proba (p50, one application)",
        ("inprocess", "single_application", "paths", "optimised", "speedup_vs_baseline_p50"),
        20,
        True,
    ),
    Target(
        "inprocess_p50",
        "optimised in-process path p50 < 100 us",
        ("inprocess", "single_application", "paths", "optimised", "p50_us"),
        100,
        False,
    ),
    Target(
        "batch_throughput",
        "optimised batch throughput >= 100,000 rows/s (2 cores, features included)",
        ("inprocess", "batch", "optimised_frame_2_thread", "rows_per_s"),
        100_000,
        True,
    ),
    Target(
        "http_rps_16",
        "HTTP /score, 16 clients: >= 1,500 requests/s",
        ("http", "results", TUNED, "score_c16", "requests_per_s"),
        1_500,
        True,
    ),
    Target(
        "http_errors_16",
        "HTTP /score, 16 clients: zero errors",
        ("http", "results", TUNED, "score_c16", "errors"),
        0,
        False,
    ),
    Target(
        "http_p99_16",
        "HTTP /score, 16 clients: p99 < 25 ms",
        ("http", "results", TUNED, "score_c16", "p99_ms"),
        25,
        False,
    ),
    Target(
        "http_vs_defaults",
        "HTTP /score, 16 clients: >= 4x the requests/s of BentoML's default configuration (same run)",
        ("http", "results", TUNED, "score_c16", "ratio_requests_per_s_vs_bentoml_defaults"),
        4,
        True,
    ),
    Target(
        "monitoring_overhead",
        "issue 4: monitoring adds <= 10 % to the median latency, 16 clients",
        ("http", "results", TUNED, "score_c16", "ratio_p50_vs_monitoring_off"),
        1.10,
        False,
    ),
    Target(
        "shadow_overhead",
        "issue 14: shadow scoring adds <= 10 % to the median latency, /score x16 (same Bento, same run)",
        ("shadow", "http", "p50_ratio_on_vs_off"),
        1.10,
        False,
    ),
)


def lookup(result: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = result
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def evaluate_targets(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Met / not met / not measured for every target (errors: equal to 0 is met)."""
    verdicts = {}
    for target in TARGETS:
        value = lookup(result, target.path)
        if value is None or value != value:
            met = None
        elif target.key == "http_errors_16":
            met = value == 0
        else:
            met = value >= target.threshold if target.at_least else value < target.threshold
            if target.key in INCLUSIVE_UPPER_BOUNDS:
                met = value <= target.threshold
        verdicts[target.key] = {
            "target": target.text,
            "json_key": ".".join(target.path),
            "threshold": target.threshold,
            "value": value,
            "met": met,
        }
    return verdicts
