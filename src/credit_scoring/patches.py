"""Every patch of another library, in one place: what it changes, why, and the version it was checked on.

A patch applies only to the exact version it was checked against; on any other version it is skipped
with a warning, so an upgrade can make the project slower or fail loudly, never silently wrong.

| patch | library | checked on | what it changes and why |
|---|---|---|---|
| ``numpy_unicode_alias`` | whylogs | 1.6.4 | ``np.unicode_ = np.str_`` before whylogs is imported: the last whylogs release references the alias numpy 2 removed, at import time. |
| ``whylogs_no_analytics`` | whylogs | 1.6.4 | ``WHYLOGS_NO_ANALYTICS=1`` unless set: whylogs otherwise sends usage telemetry. |
| ``whylogs_float_split`` | whylogs | 1.6.4 | ``PreprocessedColumn._pandas_split`` counts NaN/inf of float64 columns with numpy instead of a Python lambda per value (13 s -> 0.3 s for 100k rows x 121 columns); same counts, other dtypes untouched. |
| ``bentoml_method_wrapper_once`` | bentoml | 1.4.39 | ``APIMethod._local_call`` memoised per (method, instance): BentoML ran ``inspect.signature`` and built a new wrapper on every request (~23 us). |
| ``bentoml_socket_per_worker`` | bentoml | 1.4.39 | ``Arbiter.start`` (in `bentoml serve`'s master, from ``@bentoml.on_deployment``) turns the one shared TCP API socket into one ``SO_REUSEPORT`` socket per worker (circus's own option): with a shared accept queue the first awake worker took every connection opened at once (16-32 from a load tester), so one worker sometimes served everything; the kernel now hashes each connection to a worker's queue. |
| ``bentoml_headers_without_injection`` | bentoml | 1.4.39 | ``ServiceAppFactory._add_response_headers`` called without simple_di's per-answer argument binding, the access-log format read once (~23 us per request). |

The BentoML speed-ups also check the code's shape and leave it alone (logged) when it differs; they are
applied at worker start-up unless ``CREDIT_BENTOML_SPEEDUPS=false`` (the benchmark's "BentoML defaults").
The socket per worker is applied unless ``CREDIT_SOCKET_PER_WORKER=false`` (BentoML's shared socket).
"""

# ruff: noqa: E501  (the table above is one row per line)

from __future__ import annotations

import functools
import inspect
import logging
import os
import shlex
import socket
import weakref
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

logger = logging.getLogger(__name__)

WHYLOGS_CHECKED = "1.6.4"
BENTOML_CHECKED = "1.4.39"
_PATCHED = "_credit_scoring_patch"
API_SOCKET = "_bento_api_server"  # _bentoml_impl.server.serving.API_SERVER_NAME


def version_matches(library: str, checked: str, patch: str) -> bool:
    """Whether ``library`` is installed at the version ``patch`` was checked on; a warning when it is not."""
    try:
        installed = version(library)
    except PackageNotFoundError:
        installed = "not installed"
    if installed != checked:
        logger.warning(
            "patch skipped: checked on another version",
            extra={"patch": patch, "library": library, "installed": installed, "checked_on": checked},
        )
    return installed == checked


# --- whylogs ----------------------------------------------------------------------------------------


def prepare_whylogs_import() -> None:
    """Before whylogs is first imported: the numpy 2 alias it needs and its telemetry off."""
    if not version_matches("whylogs", WHYLOGS_CHECKED, "numpy_unicode_alias"):
        return
    import numpy as np

    if not hasattr(np, "unicode_"):
        np.unicode_ = np.str_  # type: ignore[attr-defined]
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")


def patch_whylogs_float_split() -> None:
    """Count NaN and inf of float64 columns with numpy (whylogs applies a Python lambda per value)."""
    if not version_matches("whylogs", WHYLOGS_CHECKED, "whylogs_float_split"):
        return
    from whylogs.core.preprocessing import PreprocessedColumn

    current = PreprocessedColumn._pandas_split
    if not getattr(current, _PATCHED, False):
        PreprocessedColumn._pandas_split = _numpy_float_split(current)  # type: ignore[method-assign]


def _numpy_float_split(original: Callable[..., None]) -> Callable[..., None]:
    import numpy as np

    @functools.wraps(original)
    def split(self: Any, series: Any, parse_numeric_string: bool = False) -> None:
        if series is None or series.dtype != np.float64:
            original(self, series, parse_numeric_string)
            return
        values = series.to_numpy()
        missing = np.isnan(values)
        self.null_count = int(missing.sum())
        self.nan_count = self.null_count
        floats = values[~missing]
        self.inf_count = int(np.isinf(floats).sum())
        self.numpy.floats = floats

    setattr(split, _PATCHED, True)
    return split


# --- BentoML ----------------------------------------------------------------------------------------


def apply_bentoml_speedups() -> list[str]:
    """Patch what can be patched (idempotent); the names of the patched functions."""
    if not version_matches("bentoml", BENTOML_CHECKED, "bentoml_speedups"):
        return []
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


# --- BentoML: one listening socket per API worker ----------------------------------------------------


def apply_socket_per_worker() -> bool:
    """Patch BentoML's arbiter to give each API worker its own socket; False (logged) where it cannot."""
    if not version_matches("bentoml", BENTOML_CHECKED, "bentoml_socket_per_worker"):
        return False
    if not hasattr(socket, "SO_REUSEPORT"):
        logger.warning("no SO_REUSEPORT on this system: the API workers share one socket")
        return False
    from bentoml._internal.utils.circus import Arbiter

    start = Arbiter.start
    if getattr(start, _PATCHED, False):
        return True

    @functools.wraps(start)
    def start_with_socket_per_worker(self: Any, cb: Any = None) -> None:
        split_api_socket(self)
        return start(self, cb)

    setattr(start_with_socket_per_worker, _PATCHED, True)
    Arbiter.start = start_with_socket_per_worker
    return True


def split_api_socket(arbiter: Any) -> bool:
    """Before the arbiter binds anything: its TCP API socket becomes one SO_REUSEPORT socket per worker."""
    from circus.sockets import CircusSocket

    shared = arbiter.sockets.get(API_SOCKET)
    token = f"$(circus.sockets.{API_SOCKET})"
    users = [watcher for watcher in arbiter.watchers if token in (watcher.args or [])]
    if shared is None or shared.is_unix or shared.so_reuseport or not shared.port or not users:
        return False  # port 0 would give each worker a port of its own
    ensure_port_free(shared.family, shared.host, shared.port)
    arbiter.sockets[API_SOCKET] = CircusSocket.load_from_config(socket_config(shared))
    shared.close()
    for watcher in users:  # circus opens a process's own socket only for those named in the command
        watcher.cmd, watcher.args = f"{watcher.cmd} {shlex.join(watcher.args)}", None
    return True


def socket_config(shared: Any) -> dict[str, Any]:
    """Circus's description of the same socket, with ``so_reuseport`` (a new one is bound per process)."""
    return {
        "name": shared.name,
        "host": shared.host,
        "port": shared.port,
        "family": socket.AddressFamily(shared.family).name,
        "backlog": shared.backlog,
        "so_reuseport": True,
    }


def ensure_port_free(family: int, host: str, port: int) -> None:
    """Fail at start, as the shared socket would, if something listens there already (OSError)."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Without SO_REUSEPORT this bind fails even if the listener there has it (same user, own group).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
