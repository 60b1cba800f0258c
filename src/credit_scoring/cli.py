"""What every command-line entry point shares: one typer app mapping the project's errors to exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from credit_scoring.errors import CreditScoringError

Command = TypeVar("Command", bound=Callable[..., Any])

# Options several commands share, declared once so their names and help stay the same everywhere.
StoreOption = Annotated[
    str | None,
    typer.Option(help="Request store: a Parquet folder or a server URL (default: the service's settings)."),
]
EndOption = Annotated[str | None, typer.Option(help="End of the range (excluded): ISO 8601 or 'now'.")]
OpenStartOption = Annotated[
    str | None,
    typer.Option(
        help="First decision time: ISO 8601 (UTC unless an offset is given) or 'last 90d'. "
        "Default: every stored decision."
    ),
]


def exits_with_its_code(command: Command) -> Command:
    """``command`` with a project error turned into its message on stderr and its exit code."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CreditScoringError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(int(error.exit_code)) from None

    return guarded  # type: ignore[return-value]


class CommandApp(typer.Typer):
    """The project's typer app: no shell-completion options, plain tracebacks for real bugs, and every
    command's project errors mapped once, here, to their exit codes (CliRunner tests see the same)."""

    def __init__(self, help_text: str | None) -> None:
        super().__init__(add_completion=False, help=help_text, pretty_exceptions_enable=False)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Command], Command]:
        register = super().command(*args, **kwargs)
        return lambda function: register(exits_with_its_code(function))
