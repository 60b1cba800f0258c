"""Load loan outcomes (the lender's loan book) and join them to the stored decisions: `--help` for options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp, StoreOption

app = CommandApp(__doc__)


@app.command()
def main(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with columns SK_ID_CURR and TARGET (0 repaid, 1 defaulted), optionally "
            "OBSERVATION_DATE (YYYY-MM-DD: the outcome joins the client's latest decision on or "
            "before that day; without it, the latest decision)."
        ),
    ],
    store: StoreOption = None,
) -> None:
    """Pseudonymise each SK_ID_CURR with the service's key (CREDIT_PSEUDONYMISATION_KEY), join it to the
    client's stored decision and store the outcome beside the records; the raw id is never stored. Loading
    the same file again changes nothing. Prints a JSON summary (stored, corrected, already known, matching
    no decision). Exit code: 0 loaded (unmatched references included), 2 bad file or options."""
    from credit_scoring.recording.outcomes import load_outcomes, read_outcome_file
    from credit_scoring.recording.store import open_existing_store, store_settings
    from credit_scoring.settings import get_monitoring_settings, get_settings

    outcomes = read_outcome_file(file)
    records = open_existing_store(store_settings(get_monitoring_settings(), store))
    loaded = load_outcomes(records, outcomes, get_settings().pseudonymisation_secret)
    typer.echo(loaded.summary())
    typer.echo(json.dumps(loaded.as_dict()))


if __name__ == "__main__":
    app()
