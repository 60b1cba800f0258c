"""Streamlit monitor of the scoring API (`make monitor`): lays out what monitoring.dashboard computes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from credit_scoring.monitoring import dashboard as board
from credit_scoring.monitoring.job import UsageError, resolve_reference
from credit_scoring.monitoring.plots import distribution_figure, time_chart
from credit_scoring.monitoring.profiles import read_profile
from credit_scoring.recording.journal import journal_lag
from credit_scoring.recording.store import open_store
from credit_scoring.settings import MonitoringSettings, get_monitoring_settings, get_settings


@st.cache_resource(show_spinner=False)
def cached_store(location: str):
    """The production store (its query API), opened once per location."""
    return open_store(get_monitoring_settings())


@st.cache_data(ttl=board.REFRESH_S, show_spinner=False)
def cached_count(location: str) -> int:
    return cached_store(location).count()


@st.cache_resource(ttl=300, show_spinner="Loading the training reference profile...")
def cached_reference(path: Path | None, data_root: Path):
    """(profile, label) of the training reference, or (None, why it is missing)."""
    try:
        found = resolve_reference(path, get_settings(), data_root / "monitoring" / "reference-cache")
        return read_profile(found.path), found.label
    except (UsageError, OSError) as error:
        return None, str(error)


@st.cache_resource(ttl=board.REFRESH_S, show_spinner="Computing the range's aggregates...")
def cached_snapshot(
    location: str, profile_dir: Path, minutes: int, start, end, simulated, reference_key, _reference, _limits,
    _lag_s,
):  # fmt: skip
    store = cached_store(location)
    aggregates, production = board.load_range(store, profile_dir, minutes, start, end, _reference, simulated)
    snapshot = board.build_snapshot(aggregates, production, _reference, _limits, reference_key, _lag_s)
    return snapshot, production


def sidebar(monitoring: MonitoringSettings, reference_label: str) -> tuple[str, bool | None]:
    """The range (``?range=last+7+days`` in the URL picks the first one) and whether to show history."""
    labels = list(board.RANGES)
    asked = st.query_params.get("range")
    with st.sidebar:
        st.header("Time range")
        first = labels.index(asked) if asked in labels else 1
        label = st.selectbox("Show requests from", labels, index=first, key="range")
        history = st.toggle("Include simulated history", value=True, key="simulated",
                            help="Records written by make backfill, marked simulated")  # fmt: skip
        if st.button("Refresh now", help=f"Data is otherwise reused for {board.REFRESH_S} s"):
            st.cache_data.clear()
            cached_snapshot.clear()
        st.caption(f"Request store: `{monitoring.store_location}`")
        st.caption(f"Profiles: `{monitoring.profiles_path}`")
        st.caption(f"Reference: {reference_label}")
    return label, None if history else False


def headline_panel(snapshot: board.Snapshot, limits) -> None:
    st.subheader("Alerts")
    shown, more = board.split_alerts(snapshot.reasons)
    for reason in shown:
        st.error(reason, icon=":material/warning:")
    if more:
        with st.expander(f"{len(more)} more alert(s)"):
            st.markdown("\n".join(f"- {reason}" for reason in more))
    if not shown:
        st.success("No alert in this range: traffic, latency, errors and inputs are within their limits.")
    for column, metric in zip(st.columns(5), board.headline(snapshot, limits), strict=True):
        column.metric(
            metric.label,
            metric.value,
            metric.delta,
            delta_color="red" if metric.alert else "gray",
            delta_arrow="off",
            help=metric.help or None,
            border=True,
        )


def chart(slot, frame, y_label: str, time_format: str, bars: bool = False) -> None:
    """A time chart of the frame (UTC, 24-hour clock), each series in its usual colour; nothing when empty."""
    if not frame.empty:
        figure = time_chart(frame, y_label, time_format, board.colours(frame), bars=bars)
        slot.altair_chart(figure, width="stretch")


def traffic_panels(aggregates: board.Aggregates, time_format: str) -> None:
    st.header("Traffic and latency")
    st.caption(
        f"One point per {board.age_span(aggregates.bucket_s)}; times in UTC. "
        + board.simulated_caption(aggregates.summary["requests"], aggregates.summary["simulated"])
    )
    left, right = st.columns(2)
    left.subheader("Request volume")
    chart(left, board.volume_over_time(aggregates), "requests", time_format, bars=True)
    right.subheader("Error rate")
    chart(right, board.error_rate_over_time(aggregates), "% of requests", time_format)
    left, right = st.columns(2)
    left.subheader("Latency p50 / p95 / p99")
    chart(left, board.latency_over_time(aggregates), "ms (whole request)", time_format)
    right.subheader("Model inference time")
    chart(right, board.inference_over_time(aggregates), "ms (model only)", time_format)


def score_panels(aggregates: board.Aggregates, reference, time_format: str) -> None:
    st.header("Scores and decisions")
    left, right = st.columns(2)
    left.subheader("Score distribution")
    scores = board.score_distribution(aggregates.scores, aggregates.score_upper, reference)
    left.bar_chart(scores, color=board.colours(scores), y_label="share", stack=False)
    if reference is None:
        left.caption("No reference profile: production scores only.")
    right.subheader("Decision rate")
    chart(right, board.refusal_rate_over_time(aggregates), "%", time_format)


def drift_panels(snapshot: board.Snapshot, reference, production, limits, reference_label: str) -> None:
    st.header("Feature drift")
    if snapshot.report is None:
        st.warning(f"Drift cannot be assessed without the training reference profile: {reference_label}")
        return
    if production is None:
        st.info("No production profile in this range yet: the service writes them every 30 s.")
        return
    report = snapshot.report
    st.caption(board.drift_caption(report))
    if snapshot.aggregates.simulated is False:
        st.caption(board.PROFILES_HOLD_HISTORY)
    table = board.style_drift_table(board.drift_table(report.features), limits)
    status_width = {"status": st.column_config.TextColumn(width=150)}
    st.dataframe(table, hide_index=True, height=320, column_config=status_width)
    columns = board.top_features(report.features)
    st.subheader("Most drifted features against the reference")
    by_name = {f.column: f for f in report.features}
    for slot, column in zip(st.columns(2) * 2, columns, strict=False):
        subtitle = f"{board.drift_status(by_name[column])}, Hellinger {by_name[column].hellinger or 0:.2f}"
        slot.pyplot(distribution_figure(reference, production, column, subtitle), clear_figure=False)


def quality_panels(snapshot: board.Snapshot) -> None:
    st.header("Data quality")
    left, right = st.columns([2, 1])
    left.subheader("Inputs breaking the schema")
    table = board.quality_table(snapshot.quality)
    if table.empty:
        left.success("No input broke the schema's rules in this range.")
    else:
        left.dataframe(table, hide_index=True)
    right.subheader("Refused requests by kind")
    kinds = board.error_kinds_table(snapshot.operations)
    if kinds.empty:
        right.success("No refused request.")
    else:
        right.dataframe(kinds, hide_index=True)


def service_panels(snapshot: board.Snapshot, health: board.Health, now: datetime, lag) -> None:
    st.header("Model versions and pipeline health")
    st.subheader("Model versions seen")
    st.dataframe(board.versions_table(snapshot.aggregates.versions), hide_index=True)
    st.subheader("Request log")
    stored, record, profile, workers = st.columns(4)
    stored.metric("Stored records", f"{health.stored_records:,}", border=True)
    record.metric("Last record written", board.age(health.last_record, now), border=True)
    profile.metric("Last profile written", board.age(health.last_profile_write, now), border=True)
    workers.metric("Workers profiling", health.workers, border=True)
    st.caption(
        f"{health.profile_lag} scored record(s) of this range are not yet in a written profile "
        "(the service checkpoints its profiles every 30 s)."
    )
    st.caption(
        f"Decision journal on this host: {lag.lag_records:,} record(s) not yet stored, the oldest "
        f"{lag.lag_seconds:.0f} s old; {lag.bytes_on_disk / 2**20:.1f} MiB on disk in "
        f"{lag.segments} segment(s)"
        + (f", oldest unconsumed {lag.oldest_unconsumed_segment}." if lag.oldest_unconsumed_segment else ".")
    )


def main() -> None:
    st.set_page_config(page_title="Credit scoring monitor", page_icon=":material/monitoring:", layout="wide")
    st.title("Credit scoring monitor")
    settings, monitoring = get_settings(), get_monitoring_settings()
    limits = monitoring.thresholds()
    reference, reference_label = cached_reference(monitoring.reference_profile, settings.data_root)
    label, simulated = sidebar(monitoring, reference_label)
    location = monitoring.store_location
    try:
        stored = cached_count(location)
    except Exception as error:  # e.g. a PostgreSQL server that is down: say so, keep the page up
        st.error(f"Cannot read the request store {location}: {error.__class__.__name__}")
        return
    if stored == 0:
        st.info(board.NO_TRAFFIC)
        return
    now = datetime.now(UTC)
    start, end = board.time_bounds(label, board.ceil_time(now, board.REFRESH_S))
    lag = journal_lag(monitoring.journal_path)  # this host's journal
    snapshot, production = cached_snapshot(
        location,
        monitoring.profiles_path,
        monitoring.window_minutes,
        start,
        end,
        simulated,
        reference_label,
        reference,
        limits,
        lag.lag_seconds,
    )
    if snapshot.empty:
        st.warning(
            f"No request in the {label}: {stored:,} stored records are older. Pick a wider time range."
        )
        return
    aggregates = snapshot.aggregates
    time_format = board.time_format(aggregates.first, end)
    headline_panel(snapshot, limits)
    traffic_panels(aggregates, time_format)
    score_panels(aggregates, reference, time_format)
    drift_panels(snapshot, reference, production, limits, reference_label)
    quality_panels(snapshot)
    profile_start = board.profile_range_start(start, monitoring.window_minutes)
    health = board.pipeline_health(stored, aggregates, monitoring.profiles_path, profile_start,
                                   snapshot.profiled_rows)  # fmt: skip
    service_panels(snapshot, health, now, lag)


if __name__ == "__main__":
    main()
