"""Clear 4xx answers: each validation problem as the field it concerns and the rule it breaks."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from credit_scoring.schema import COLUMNS_BY_NAME

MAX_LISTED_PROBLEMS = 5
BODY_HINT = "see the endpoint's worked example request in the API docs at /"


def field_path(loc: Sequence[Any]) -> str:
    """``("applications", 3, "AMT_CREDIT")`` -> ``applications[3].AMT_CREDIT``; the body is ``body``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _missing(name: str, top_level: bool) -> str:
    spec = COLUMNS_BY_NAME.get(name)
    if spec is not None:
        return f"{name} is required and may not be missing: {spec.describe_rule()}"
    if top_level:
        return f"the body has no {name!r}; {BODY_HINT}"
    return f"{name} is required"


def _unknown(name: str, top_level: bool) -> str:
    if top_level:
        return f"{name!r} is not part of the request; {BODY_HINT}"
    return f"{name!r} is not an application field: use the application_train.csv column names"


def describe(error: Mapping[str, Any]) -> str:
    """One pydantic error (from ``ValidationError.errors()``) as a sentence naming the field and rule."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    name = str(loc[-1]) if loc else "body"
    if kind == "missing":
        return _missing(name, top_level=len(loc) == 1)
    if kind == "extra_forbidden":
        return _unknown(name, top_level=len(loc) == 1)
    if kind == "json_invalid":
        return f"the body is not valid JSON ({error.get('msg', '')}); {BODY_HINT}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        what = "the body" if not loc else name
        return f"{what} must be a JSON object; {BODY_HINT}"
    if kind == "too_long":
        return f"{error.get('msg', 'too many items')}: split the batch into several requests"
    return str(error.get("msg", "is invalid"))


def problems(detail: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Each error as ``{"field", "message", "type"}`` for machines, with a sentence for people."""
    return [
        {"field": field_path(e.get("loc", ())), "message": describe(e), "type": str(e.get("type", ""))}
        for e in detail
    ]


def summary(listed: Sequence[Mapping[str, str]]) -> str:
    """The ``error`` line of a 400: the first few problems, each prefixed by its field."""
    shown = [f"{p['field']}: {p['message']}" for p in listed[:MAX_LISTED_PROBLEMS]]
    more = len(listed) - len(shown)
    suffix = f" (and {more} more, see 'errors')" if more > 0 else ""
    return f"invalid request, {len(listed)} problem(s): " + "; ".join(shown) + suffix


def is_client_error(error: BaseException | None) -> bool:
    """Invalid input, or a BentoML error whose HTTP status is a 4xx (e.g. a forbidden content type)."""
    if isinstance(error, ValidationError):
        return True
    status = getattr(getattr(error, "error_code", None), "value", 500)
    return isinstance(status, int) and 400 <= status < 500


class QuietClientErrors(logging.Filter):
    """BentoML logs every rejected request as an ERROR with a traceback; a client's bad input is not a
    server error, so such records become one INFO line (real exceptions keep their traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if is_client_error(error):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "Rejected request on %s [%s]: " + f"{type(error).__name__}: {error}".splitlines()[0]
        return True


BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"


def quiet_client_errors(logger_name: str = BENTOML_REQUEST_LOGGER) -> None:
    """Install ``QuietClientErrors`` on BentoML's request logger once per process."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, QuietClientErrors) for existing in logger.filters):
        logger.addFilter(QuietClientErrors())
