"""The project's one error base: every error a user can cause or meet, with its exit code and HTTP status."""

from __future__ import annotations

from enum import IntEnum
from http import HTTPStatus


class ExitCode(IntEnum):
    """Process exit codes shared by every command-line entry point."""

    OK = 0
    ALERT = 1  # the job ran and found something a human must look at (drift, refused promotion)
    USAGE = 2  # bad options or input: the message says the fix
    UNAVAILABLE = 3  # a service the job needs (registry, store, server) did not answer


class CreditScoringError(Exception):
    """Base of the project's errors: the message is for the user; the class says how to exit or answer."""

    exit_code: ExitCode = ExitCode.USAGE
    http_status: HTTPStatus = HTTPStatus.BAD_REQUEST


class UsageError(CreditScoringError):
    """An option, a file or a value the user gave cannot be used as it is."""


class DataError(UsageError):
    """Input data (a CSV, a table, a record) breaks the applicant schema."""


class ModelError(CreditScoringError):
    """A model cannot be exported, loaded or served as it is (wrong flavour, failed parity)."""


class UnavailableError(CreditScoringError):
    """A service or a resource the job depends on cannot be reached or used right now."""

    exit_code = ExitCode.UNAVAILABLE
    http_status = HTTPStatus.SERVICE_UNAVAILABLE
