"""Monitor page "Challenger": lays out what monitoring.challenger computes from shadow-scored decisions."""

from __future__ import annotations

import streamlit as st

from credit_scoring.monitoring.challenger import NO_SHADOW_DATA, ChallengerComparison, build_comparison
from credit_scoring.monitoring.challenger_report import (
    POPULATIONS,
    TABLE_COLUMNS,
    agreement_figure,
    comparison_figure,
)
from credit_scoring.recording.challenger_queries import StoreChallenger
from credit_scoring.recording.store import open_store
from credit_scoring.settings import get_monitoring_settings, get_settings

REFRESH_S = 60


@st.cache_data(ttl=REFRESH_S, show_spinner="Comparing champion and challenger in the store...")
def cached_comparison(location: str) -> ChallengerComparison:
    """The comparison over every stored decision the challenger scored (SQL aggregates)."""
    return build_comparison(
        StoreChallenger(open_store(get_monitoring_settings())), get_settings().cost_weights
    )


def _cost(value: float | None) -> str:
    return "no outcome yet" if value is None else f"{value:.4f}"


st.set_page_config(page_title="Challenger", layout="wide")
st.title("Champion vs challenger")
comparison = cached_comparison(get_monitoring_settings().store_location)
pair = comparison.current
if pair is None:
    st.info(NO_SHADOW_DATA[0].upper() + NO_SHADOW_DATA[1:] + ".")
    st.stop()
st.caption(" · ".join(f"**{name}**: {text}" for name, text in POPULATIONS.items()))
st.subheader(f"Challenger v{pair.challenger.version} in shadow of champion v{pair.champion.version}")
columns = st.columns(4)
columns[0].metric("decisions (n)", f"{pair.n:,}", f"{pair.n_outcomes:,} with outcomes", delta_color="off")
columns[1].metric("decision agreement", f"{pair.agreement:.1%}")
columns[2].metric(
    "estimated cost, challenger",
    f"{pair.challenger.estimated_cost:.4f}",
    f"{pair.challenger.estimated_cost - pair.champion.estimated_cost:+.4f} vs champion",
    delta_color="inverse",
)
columns[3].metric(
    "realized cost, challenger",
    _cost(pair.challenger.realized_cost),
    f"champion {_cost(pair.champion.realized_cost)}",
    delta_color="off",
)

st.header("Score shift and cost over time")
st.pyplot(comparison_figure(comparison))
st.pyplot(agreement_figure(comparison))

st.header("Per version pair")
st.dataframe(comparison.overall[TABLE_COLUMNS], width="stretch", hide_index=True)
