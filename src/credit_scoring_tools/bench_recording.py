"""`make bench`'s decision-log figures (issue 12): journal append, ingest, bytes per record, sustained run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Report = Callable[[str], None]


def run_recording_benchmark(bento: str | None, quick: bool, report: Report) -> dict[str, Any]:
    """In process: the append's CPU and the ingest's rate and bytes on disk; with a Bento, the sustained run
    (at least 120 s at 16 clients, monitoring on then off; 5 s in a quick run)."""
    from credit_scoring_tools.recording_bench import measure_append_us, measure_ingest, sustained_run

    report("decision journal: append CPU per record (in process)")
    append = measure_append_us(2_000 if quick else 20_000)
    report("ingest: journal -> Parquet store + window profiles (in process, one thread)")
    ingest = measure_ingest(2_000 if quick else 50_000)
    result: dict[str, Any] = {"append_us": append, "ingest": ingest, "sustained": None}
    if bento is not None:
        result["sustained"] = sustained_run(bento, 5.0 if quick else 120.0, 16, report)
        on = result["sustained"]["monitoring_on"]
        result["sustained"]["stored_minus_answered"] = on["stored"] - on["answered_200"]
    return result


def render_recording(recording: dict[str, Any] | None) -> list[str]:
    """The decision log's figures, each with what it is judged against."""
    if not recording:
        return []
    append, ingest = recording["append_us"], recording["ingest"]
    lines = [
        "## Decision log (issue 12)",
        "",
        f"- Journal append, CPU per record (build the entry, frame it, one `os.write`): p50 "
        f"{append['p50']:.1f} us, p90 {append['p90']:.1f} us over {append['n']:,} appends "
        "(target p50 <= 10 us).",
        f"- Ingest into the Parquet store with window profiles, one thread: "
        f"{ingest['records_per_cpu_s']:,.0f} records per CPU-second, {ingest['records_per_s']:,.0f} per "
        f"second of wall time, over {ingest['records']:,} records (target >= 10,000/s).",
        f"- On disk: {ingest['bytes_per_record']:,.0f} bytes per stored record, inputs included "
        "(target <= 500).",
    ]
    return [*lines, *_render_sustained(recording.get("sustained")), ""]


def _render_sustained(sustained: dict[str, Any] | None) -> list[str]:
    if not sustained:
        return ["- Sustained run: not measured (no Bento served in this run)."]
    on, off = sustained["monitoring_on"], sustained["monitoring_off"]
    lag = on["largest_lag"]
    return [
        f"- Sustained run, 16 clients on /score, monitoring on: {on['answered_200']:,} answered 200, "
        f"{on['stored']:,} stored once the ingest caught up ({sustained['stored_minus_answered']:+,}: wrk "
        f"does not count the answers in flight when it stops), largest journal lag "
        f"{lag.get('lag_records', 0):,} records / {lag.get('lag_seconds', 0):,.0f} s, "
        f"caught up {on['catch_up_s']:,.1f} s after the load.",
        f"- Sustained requests/s: {on['requests_per_s']:,.0f} with monitoring on, "
        f"{off['requests_per_s']:,.0f} off: {sustained['requests_per_s_on_vs_off']:.2f}x (target >= 0.80), "
        "every record stored.",
    ]
