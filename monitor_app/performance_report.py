"""Model performance, realized and estimated, calibration and fairness of decisions: `--help` for options."""

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
        typer.Option(
            help="Folder for performance.json and performance.md (default var/monitoring/performance)."
        ),
    ] = None,
) -> None:
    """Per model version and month of decision: AUC, business cost per application, default rate among
    granted, approval rate and calibration, realized from the loaded outcomes and estimated from the
    calibrated probabilities (CBPE); fairness by CODE_GENDER and age band. The last line printed is a
    one-line JSON summary per version. Exit code: 0 no alert, 1 an alert fired, 2 usage error."""
    from datetime import UTC, datetime

    from credit_scoring.monitoring.job import parse_open_range
    from credit_scoring.monitoring.performance_report import run_performance_report
    from credit_scoring.recording.performance_queries import StorePerformance
    from credit_scoring.recording.store import open_existing_store, store_settings
    from credit_scoring.settings import get_monitoring_settings, get_settings

    settings, monitoring = get_settings(), store_settings(get_monitoring_settings(), store)
    first, last = parse_open_range(start, end, datetime.now(UTC))
    source = StorePerformance(open_existing_store(monitoring), first, last)
    out_dir = out or settings.data_root / "monitoring" / "performance"
    code = run_performance_report(
        source, settings, monitoring.performance_thresholds(), out_dir, first, last, typer.echo
    )
    raise typer.Exit(int(code))


if __name__ == "__main__":
    app()
