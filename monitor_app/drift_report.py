"""Compare production traffic of a time range with the training reference: `--help` for options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp

app = CommandApp(__doc__)


@app.command()
def main(
    start: Annotated[
        str, typer.Option(help="Start of the range: ISO 8601 (UTC unless an offset is given) or 'last 1h'.")
    ] = "last 1h",
    end: Annotated[str, typer.Option(help="End of the range (excluded): ISO 8601 or 'now'.")] = "now",
    reference: Annotated[
        Path | None,
        typer.Option(
            help="Training reference profile (.bin). Default: the one shipped in the Bento model "
            "credit-scoring:latest, else the @production run's reference/reference_profile.bin in MLflow."
        ),
    ] = None,
    profiles: Annotated[
        Path | None,
        typer.Option(help="Folder of production window profiles (default CREDIT_PROFILE_DIR or var/...)."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="Request store: a Parquet folder, or a server URL (default CREDIT_REQUEST_STORE_URL, else "
            "CREDIT_STORE_DIR or var/monitoring/store)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for report.json, report.md and the PNG plots.")
    ] = None,
) -> None:
    """Merge the production profiles of the range and compare them with the reference (per-feature drift
    with p-value and Hellinger effect size, score drift, missing-value rates), check the stored records
    (rule violations, error rates, latency percentiles) and write the report.
    Exit code: 0 no alert, 1 an alert fired (reasons printed), 2 usage or input error."""
    # Imported here so that --help answers at once instead of after loading whylogs and MLflow.
    from credit_scoring.monitoring.job import parse_range, resolve_reference, run_drift_report
    from credit_scoring.recording.journal import journal_lag
    from credit_scoring.recording.store import open_existing_store, store_settings
    from credit_scoring.settings import get_monitoring_settings, get_settings

    settings, monitoring = get_settings(), store_settings(get_monitoring_settings(), store)
    first, last = parse_range(start, end)
    found = resolve_reference(reference, settings, settings.data_root / "monitoring" / "reference-cache")
    out_dir = out or settings.data_root / "monitoring" / "reports" / last.strftime("%Y%m%dT%H%M%SZ")
    code = run_drift_report(
        settings,
        monitoring,
        start=first,
        end=last,
        reference=found,
        profile_dir=profiles or monitoring.profiles_path,
        store=open_existing_store(monitoring),
        out_dir=out_dir,
        report=typer.echo,
        journal_lag_s=journal_lag(monitoring.journal_path).lag_seconds,  # this host's journal
    )
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
