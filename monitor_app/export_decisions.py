"""Export the stored decisions of a time range for an audit: `--help` for options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp, EndOption, StoreOption

app = CommandApp(__doc__)


@app.command()
def main(
    out: Annotated[Path, typer.Option(help="File to write: .csv or .parquet.")],
    start: Annotated[
        str | None,
        typer.Option(help="Start of the range: ISO 8601 (UTC unless an offset is given) or 'last 7d'."),
    ] = None,
    end: EndOption = None,
    store: StoreOption = None,
) -> None:
    """Write every stored record of the range (everything by default), one row per scored application or
    refused request: request id, item (position in a batch), time (UTC), endpoint, model and version,
    probability, decision, threshold, HTTP status, error kind, latency (ms) and whether it was simulated."""
    from datetime import UTC, datetime

    from credit_scoring.monitoring.job import parse_open_range
    from credit_scoring.recording.export import export_decisions
    from credit_scoring.recording.store import open_existing_store, store_settings
    from credit_scoring.settings import get_monitoring_settings

    first, last = parse_open_range(start, end, datetime.now(UTC))
    records = open_existing_store(store_settings(get_monitoring_settings(), store))
    written = export_decisions(records, out, first, last)
    typer.echo(f"wrote {written} decision record(s) from {records.location} to {out}")


if __name__ == "__main__":
    app()
