"""Set (or clear) @challenger, the version the service scores in shadow beside @production: `--help`."""

from __future__ import annotations

from typing import Annotated

import typer

from credit_scoring.cli import CommandApp

app = CommandApp(__doc__)


@app.command()
def main(
    version: Annotated[
        str | None,
        typer.Option(help="Version to put in shadow. Omitted or empty: the newest registered version."),
    ] = None,
    clear: Annotated[
        bool, typer.Option(help="Remove @challenger instead: the next `make build` packs no shadow model.")
    ] = False,
) -> None:
    """Point models:/credit-scoring@challenger at a version after the gates promotion applies (its ONNX
    model passed parity, its expected calibration error on its test rows is at most CREDIT_PROMOTION_MAX_ECE);
    @production is never touched. The next `make build` packs it and the service scores every request with
    it in shadow (the answer stays the champion's); `make challenger-report` compares the two. Setting the
    alias in the MLflow UI works too (without the gates). Exit code: 0 set or cleared, 1 refused by a
    gate, 2 usage error (no such version, the version is @production)."""
    from credit_scoring.registry import clear_challenger, set_challenger
    from credit_scoring.settings import get_settings

    settings = get_settings()
    alias = settings.challenger_model_uri
    if clear:
        previous = clear_challenger(settings)
        typer.echo(f"{alias} removed (was version {previous})" if previous else f"{alias} was not set")
        return
    chosen = set_challenger(settings, version or None, typer.echo)
    typer.echo(
        f"{alias} -> version {chosen.version}; rebuild (make build) and restart the service to shadow it"
    )


if __name__ == "__main__":
    app()
