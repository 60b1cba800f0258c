"""One listening socket per BentoML API worker (SO_REUSEPORT), so the kernel spreads connections over both.

`bentoml serve` (1.4) binds one socket in its circus arbiter and every worker inherits it: both wait on
the same accept queue, and the first awake takes every connection queued at that moment (16-32 at once
from a load tester), so one worker sometimes served everything (issue 15). Circus can instead open a
socket of its own for each process it starts (its ``so_reuseport`` socket option); the kernel then hashes
each new connection to one worker's queue, whoever is awake. BentoML creates the socket without that
option and names it in the watcher's arguments where circus does not look, hence the one patch below,
applied in the arbiter (``@bentoml.on_deployment``) before it starts, for BentoML 1.4.39 only.
``CREDIT_SOCKET_PER_WORKER=false`` keeps BentoML's shared socket.
"""

from __future__ import annotations

import functools
import logging
import shlex
import socket
from typing import Any

logger = logging.getLogger(__name__)

EXPECTED_BENTOML = "1.4.39"
API_SOCKET = "_bento_api_server"  # _bentoml_impl.server.serving.API_SERVER_NAME
_PATCHED = "_credit_scoring_socket_per_worker"


def apply_socket_per_worker() -> bool:
    """Patch BentoML's arbiter to give each API worker its own socket; False (logged) where it cannot."""
    import bentoml
    from bentoml._internal.utils.circus import Arbiter

    if bentoml.__version__ != EXPECTED_BENTOML or not hasattr(socket, "SO_REUSEPORT"):
        logger.warning(
            "not BentoML %s on a system with SO_REUSEPORT: the API workers share one socket",
            EXPECTED_BENTOML,
            extra={"bentoml": bentoml.__version__},
        )
        return False
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
