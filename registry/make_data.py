"""Write a synthetic application_train.csv: `python registry/make_data.py --rows N --out PATH [--seed S]`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from credit_scoring.cli import CommandApp
from credit_scoring.errors import UsageError

app = CommandApp(__doc__)
MAX_ROWS = 356_254  # distinct SK_ID_CURR values in the real table's id range


@app.command()
def main(
    rows: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_ROWS, help="Applications to generate (default 100000, CREDIT_SYNTHETIC_ROWS)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="CSV file to write, replaced if it exists; folders are created "
            "(default: synthetic/application_train.csv in CREDIT_DATA_DIR, i.e. var/)."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed: the same seed writes the same file (default 42, CREDIT_SEED)."),
    ] = None,
) -> None:
    """Generate applications that follow the published summary of Kaggle's Home Credit table (same 122
    columns, dtypes, null rates, levels, quantiles, strong correlations, ~8 % defaults) and write them in
    the exact application_train.csv format, so anything that reads the real file reads this one."""
    # Imported here so that --help answers at once instead of after loading pandas and scipy.
    from credit_scoring.data import write_synthetic_file
    from credit_scoring.settings import get_settings

    settings = get_settings()
    started = time.perf_counter()

    def report(message: str) -> None:
        typer.echo(f"[{time.perf_counter() - started:5.1f} s] {message}")

    path = out or settings.synthetic_data_path
    try:
        write_synthetic_file(
            rows or settings.synthetic_rows, path, seed if seed is not None else settings.seed, report
        )
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot write {path}: {error}") from None
    typer.echo(f"{path}\nTrain on it: make train DATA={path}")


if __name__ == "__main__":
    app()
