"""Two per-request costs of BentoML 1.4's HTTP path, removed at worker start-up (same answers, same headers).

Found by py-spy under load (profiling/NOTES_service.md), each ~23 us per request in a quiet loop:

- ``APIMethod.__get__`` calls ``_local_call``, which runs ``inspect.signature`` on the API method and
  builds a new wrapper every time the server looks the method up, i.e. on every request. The wrapper
  depends only on the method and the service instance: it is built once per pair here.
- ``ServiceAppFactory._add_response_headers`` is wrapped by simple_di's ``inject``, which binds the call's
  arguments with ``inspect.Signature.bind_partial`` on every answer only to supply the access-log format,
  a start-up setting: here the format is read once and the undecorated function is called.

Both patches check that BentoML's code has the expected shape and otherwise leave it alone (logged), so
a BentoML upgrade can make the service slower but not wrong. ``CREDIT_BENTOML_SPEEDUPS=false`` turns
them off (the benchmark's "BentoML defaults" variant does).
"""

from __future__ import annotations

import functools
import inspect
import logging
import weakref
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_PATCHED = "_credit_scoring_speedup"


def apply_bentoml_speedups() -> list[str]:
    """Patch what can be patched (idempotent); the names of the patched functions."""
    from _bentoml_impl.server.app import ServiceAppFactory
    from _bentoml_sdk.method import APIMethod

    patched = []
    if _replace(APIMethod, "_local_call", _memoised_local_call, ["self", "instance"]):
        patched.append("APIMethod._local_call")
    if _replace(ServiceAppFactory, "_add_response_headers", _headers_without_injection, None):
        patched.append("ServiceAppFactory._add_response_headers")
    return patched


def _replace(owner: type, name: str, make: Callable[[Any], Any], parameters: list[str] | None) -> bool:
    current = getattr(owner, name, None)
    if getattr(current, _PATCHED, False):
        return True
    replacement = make(current) if _expected(current, parameters) else None
    if replacement is None:
        logger.warning("BentoML code not as expected: not sped up", extra={"function": name})
        return False
    setattr(replacement, _PATCHED, True)
    setattr(owner, name, replacement)
    return True


def _expected(function: Any, parameters: list[str] | None) -> bool:
    if not callable(function):
        return False
    if parameters is None:  # the injected header function: its undecorated original must be reachable
        original = getattr(function, "__wrapped__", None)
        return getattr(function, "_is_injected", False) and callable(original)
    return list(inspect.signature(function).parameters) == parameters


def _memoised_local_call(local_call: Callable[[Any, Any], Callable[..., Any]]) -> Callable[..., Any]:
    built: weakref.WeakKeyDictionary[Any, dict[str, Callable[..., Any]]] = weakref.WeakKeyDictionary()

    @functools.wraps(local_call)
    def memoised(method: Any, instance: Any) -> Callable[..., Any]:
        per_instance = built.setdefault(instance, {})
        wrapper = per_instance.get(method.name)
        if wrapper is None:
            wrapper = per_instance[method.name] = local_call(method, instance)
        return wrapper

    memoised.wrappers = built  # type: ignore[attr-defined]  # for inspection
    return memoised


def _headers_without_injection(injected: Any) -> Callable[..., None] | None:
    original = injected.__wrapped__
    if list(inspect.signature(original).parameters) != ["self", "resp", "logging_format"]:
        return None
    formats: list[dict[str, str]] = []

    @functools.wraps(original)
    def add_response_headers(self: Any, resp: Any, logging_format: dict[str, str] | None = None) -> None:
        if logging_format is None:
            if not formats:
                from bentoml._internal.configuration.containers import BentoMLContainer

                formats.append(BentoMLContainer.logging_formatting.get())
            logging_format = formats[0]
        original(self, resp, logging_format)

    return add_response_headers
