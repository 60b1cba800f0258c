"""Simulated loan outcomes for stored decisions old enough to have matured, loaded through the outcomes path.

Each matured decision defaults with the synthetic generator's own probability of default for its stored
inputs (``credit_scoring.data.synthetic.default_probability``), optionally shifted in log-odds from a given
moment (concept drift: the same applicants default more, which input drift cannot show). The draw of a
decision depends only on the seed and its record id, so running the simulation again loads the same
outcomes (nothing changes). Outcomes go through ``credit_scoring.recording.outcomes.load_pseudonymised``,
the join the API and ``make outcomes`` use, keyed by the stored pseudonym (the raw id is not in the store).

Command line: ``python -m credit_scoring_tools.outcome_simulation --help``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from scipy.special import expit, logit

from credit_scoring.cli import CommandApp, StoreOption
from credit_scoring.data.synthetic import default_probability
from credit_scoring.recording.outcomes import OutcomeLoad, load_pseudonymised
from credit_scoring.recording.protocol import INPUT_COLUMNS
from credit_scoring.recording.store import RecordStore

_KEYS = ["request_id", "item", "timestamp", "client_ref", "status", "decision"]


def matured_decisions(store: RecordStore, matured_before: datetime) -> pd.DataFrame:
    """Scored decisions with a client reference made before ``matured_before``, with their inputs."""
    frame = store.records(None, matured_before, [*_KEYS, *INPUT_COLUMNS])
    scored = frame["decision"].isin(["grant", "refuse"]) & (frame["status"] < 400)
    return frame[scored & frame["client_ref"].notna() & (frame["client_ref"] != "None")]


def stable_uniforms(decisions: pd.DataFrame, seed: int) -> np.ndarray:
    """One uniform number per decision from the seed and its record id: the same on every run."""
    keys = (
        f"{seed}:{r}:{i}".encode() for r, i in zip(decisions["request_id"], decisions["item"], strict=True)
    )
    return np.array([int(hashlib.sha256(k).hexdigest()[:13], 16) / 16**13 for k in keys])


def default_probabilities(decisions: pd.DataFrame, shift: float, shift_from: datetime | None) -> np.ndarray:
    """The generator's probability of default, plus ``shift`` log-odds for decisions from ``shift_from``."""
    base = np.clip(default_probability(decisions), 1e-9, 1 - 1e-9)
    shifted = decisions["timestamp"] >= shift_from if shift_from is not None else True
    return np.where(shifted, expit(logit(base) + shift), base)


def simulate_outcomes(
    store: RecordStore,
    now: datetime,
    maturity_days: float = 365.0,
    seed: int = 0,
    shift: float = 0.0,
    shift_from: datetime | None = None,
) -> OutcomeLoad:
    """Draw and load the outcomes of every decision older than ``maturity_days``. ``shift``: log-odds added
    to the default probability of decisions from ``shift_from``. The observation date given to the join is
    the decision's own day: synthetic client ids repeat across simulated traffic, and a later date would join
    the client's later decision instead of this one."""
    decisions = matured_decisions(store, now - timedelta(days=maturity_days))
    target = stable_uniforms(decisions, seed) < default_probabilities(decisions, shift, shift_from)
    observed = decisions["timestamp"].dt.date
    outcomes = pd.DataFrame(
        {
            "client_ref": decisions["client_ref"].to_numpy(),
            "target": target.astype("int8"),
            "observed_on": observed.to_numpy(),
        }
    )
    return load_pseudonymised(store, outcomes, now)


app = CommandApp(__doc__)


@app.command()
def main(
    maturity_days: Annotated[
        float | None,
        typer.Option(
            help="Age (days) at which a loan's outcome is known (default CREDIT_OUTCOME_MATURITY_DAYS)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the draws (same seed: same outcomes).")] = 0,
    shift: Annotated[
        float, typer.Option(help="Log-odds added to the default probability (concept drift); 0: none.")
    ] = 0.0,
    shift_from: Annotated[
        str | None, typer.Option(help="ISO 8601 moment from which decisions get the shift (default: all).")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Draw outcomes for the stored decisions old enough to have matured and load them (idempotent)."""
    from credit_scoring.monitoring.job import parse_moment
    from credit_scoring.recording.store import open_existing_store, store_settings
    from credit_scoring.settings import get_monitoring_settings

    now, monitoring = datetime.now(UTC), get_monitoring_settings()
    records = open_existing_store(store_settings(monitoring, store))
    since = parse_moment(shift_from, now) if shift_from else None
    maturity = maturity_days or monitoring.outcome_maturity_days
    typer.echo(simulate_outcomes(records, now, maturity, seed, shift, since).summary())


if __name__ == "__main__":
    app()
