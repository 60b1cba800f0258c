"""Write simulated history (past days of decisions) through the journal and the ingest: `--help`."""

from __future__ import annotations

from typing import Annotated

import typer

from credit_scoring.cli import CommandApp
from credit_scoring.errors import UsageError

app = CommandApp(__doc__)


@app.command()
def main(
    days: Annotated[int, typer.Option(help="Whole UTC days of history, ending at today's midnight.")] = 30,
    per_day: Annotated[int, typer.Option(help="Simulated requests per day (about 1 % invalid).")] = 35_000,
    seed: Annotated[int, typer.Option(help="Seed of the applications, times and incidents.")] = 2026,
) -> None:
    """Simulate DAYS days of traffic with a daily rhythm, a drift episode (incomes +30 %, EXT_SOURCE_3
    missing twice as often, older applicants) from 30 % to 10 % of the history back, and a latency
    incident (requests 8 times slower, some 503) half-way back; score it with the @production model (ONNX,
    as the API does) and, when a version carries @challenger, with that one too (its figures stored beside
    the champion's, as shadow scoring does); append it to a journal with its past timestamps, marked
    simulated; ingest it into the configured store and whylogs profiles (windowed by each record's time).
    Prints progress per day.
    Exit code: 0 done, 2 usage error, 3 no usable @production model (run `make train promote`)."""
    if days < 1 or per_day < 1:
        raise UsageError("--days and --per-day must be at least 1")
    from credit_scoring_tools.backfill import backfill_from_settings, result_line

    result = backfill_from_settings(days, per_day, seed, lambda line: typer.echo(line))
    typer.echo(result_line(result))


if __name__ == "__main__":
    app()
