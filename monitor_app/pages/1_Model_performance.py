"""Monitor page "Model performance": lays out what monitoring.performance_report computes from the store."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from credit_scoring.monitoring.performance import POPULATIONS
from credit_scoring.monitoring.performance_plots import (
    calibration_figure,
    cost_over_time_figure,
    fairness_table,
)
from credit_scoring.monitoring.performance_report import (
    PerformanceReport,
    build_report,
    registry_evaluation_costs,
)
from credit_scoring.recording.performance_queries import StorePerformance
from credit_scoring.recording.store import open_store
from credit_scoring.settings import get_monitoring_settings, get_settings

REFRESH_S = 60


@st.cache_data(ttl=REFRESH_S, show_spinner="Computing performance in the store...")
def cached_report(location: str) -> tuple[PerformanceReport, list[str]]:
    """The report over every stored decision (SQL aggregates), and notes on missing evaluation costs."""
    settings, monitoring, notes = get_settings(), get_monitoring_settings(), []
    source = StorePerformance(open_store(monitoring))
    costs = partial(registry_evaluation_costs, settings, report=notes.append)
    return build_report(source, settings.cost_weights, monitoring.performance_thresholds(), costs), notes


st.set_page_config(page_title="Model performance", layout="wide")
st.title("Model performance")
report, notes = cached_report(get_monitoring_settings().store_location)
for alert in report.alerts:
    st.error(alert, icon=":material/warning:")
if not report.versions:
    st.info("No scored decision stored yet: serve the API (make serve) and send traffic (make simulate).")
    st.stop()
if not report.alerts:
    st.success("No performance or fairness alert.")
st.caption(" · ".join(f"**{name}**: {text}" for name, text in POPULATIONS.items()))

st.header("Realized vs estimated cost")
versions = pd.DataFrame([v.as_dict() for v in report.versions]).set_index("version")
st.dataframe(versions, width="stretch")
costs = {v.version: v.evaluation_cost for v in report.versions if v.evaluation_cost is not None}
st.pyplot(cost_over_time_figure(report.monthly, costs))
for note in notes:
    st.caption(note)

st.header("Calibration")
left, right = st.columns([1, 1])
left.pyplot(calibration_figure(report.deciles))
right.dataframe(report.monthly_ece, width="stretch")

st.header("Fairness")
st.dataframe(fairness_table(report.fairness_groups, report.fairness), width="stretch")
