"""Champion vs challenger on the decisions the challenger scored in shadow: `--help` for options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp, EndOption, OpenStartOption, StoreOption

app = CommandApp(__doc__)


@app.command()
def main(
    start: OpenStartOption = None,
    end: EndOption = None,
    store: StoreOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for challenger.json, .md and .png (default var/reports/challenger)."),
    ] = None,
) -> None:
    """Per champion/challenger version pair, over the scored decisions the @challenger also scored in
    shadow: decision agreement, score shift (mean, mean absolute, quantiles, histogram), grant rates, each
    model's estimated business cost per application (CBPE, at its own threshold) and, once outcomes are
    loaded, its realized cost. The last line printed is one-line JSON: n, agreement and both models'
    version, estimated_cost and realized_cost (null until outcomes exist) for the pair seen last.
    Exit code: 0 written, 2 usage error, 3 no shadow data (set @challenger and rebuild)."""
    from datetime import UTC, datetime

    from credit_scoring.monitoring.challenger_report import run_challenger_report
    from credit_scoring.monitoring.job import parse_open_range
    from credit_scoring.recording.challenger_queries import StoreChallenger
    from credit_scoring.recording.store import open_existing_store, store_settings
    from credit_scoring.settings import get_monitoring_settings, get_settings

    settings, monitoring = get_settings(), store_settings(get_monitoring_settings(), store)
    first, last = parse_open_range(start, end, datetime.now(UTC))
    source = StoreChallenger(open_existing_store(monitoring), first, last)
    out_dir = out or settings.data_root / "reports" / "challenger"
    raise typer.Exit(
        int(run_challenger_report(source, settings.cost_weights, out_dir, first, last, typer.echo))
    )


if __name__ == "__main__":
    app()
