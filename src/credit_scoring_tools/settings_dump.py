"""Settings objects as JSON for a report: secrets left out, a password in a URL masked."""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr
from pydantic_settings import BaseSettings

MASK = "***"


def secret_fields(settings: BaseSettings) -> set[str]:
    """The fields typed SecretStr (or SecretStr | None): the project's convention for a secret."""
    fields = type(settings).model_fields.items()
    return {name for name, info in fields if SecretStr in (info.annotation, *get_args(info.annotation))}


def without_password(value: Any) -> Any:
    """A URL with its password masked (a store or tracking URL may carry one); other values unchanged."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    if not parts.password:
        return value
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:{MASK}@{host}"))


def public_settings(settings: BaseSettings) -> dict[str, Any]:
    """Every setting as the run saw it, JSON-ready, safe to commit in a report."""
    dumped = settings.model_dump(mode="json", exclude=secret_fields(settings))
    return {name: without_password(value) for name, value in dumped.items()}
