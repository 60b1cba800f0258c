"""The tools' command lines map the project's errors to exit codes here, once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from credit_scoring.errors import CreditScoringError


@contextmanager
def exit_codes() -> Iterator[None]:
    """A CreditScoringError ends the command with its message on stderr and its exit code, no traceback."""
    try:
        yield
    except CreditScoringError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(int(error.exit_code)) from None
