"""One socket per API worker: BentoML's arbiter, built as `bentoml serve` builds it, gives each its own."""

from __future__ import annotations

import json
import logging
import shlex
import socket
import sys
from collections.abc import Iterator

import pytest
from bentoml._internal.utils.circus import Arbiter, create_standalone_arbiter
from bentoml.serving import create_watcher
from circus.process import Process
from circus.sockets import CircusSocket

from credit_scoring import patches
from credit_scoring.patches import API_SOCKET, apply_socket_per_worker, split_api_socket
from credit_scoring.serving.launcher import free_port

BENTO_ARGS = json.dumps({"note": "a value with spaces and 'quotes'"})


def worker_args(socket_name: str = API_SOCKET) -> list[str]:
    """The worker command line of BentoML 1.4's serve_http (the parts circus fills in)."""
    fd, wid = f"$(circus.sockets.{socket_name})", "$(CIRCUS.WID)"
    module = ["-m", "_bentoml_impl.worker.service", "bento.service:CreditScoring"]
    return [*module, "--fd", fd, "--worker-id", wid, "--args", BENTO_ARGS]


@pytest.fixture
def arbiter() -> Iterator[Arbiter]:
    """An arbiter as serve_http makes it: the API's TCP socket and the service watcher (2 workers)."""
    api = CircusSocket(name=API_SOCKET, host="127.0.0.1", port=free_port(), backlog=64)
    watcher = create_watcher(name="service", args=worker_args(), working_dir=".", numprocesses=2)
    made = create_standalone_arbiter(watchers=[watcher], sockets=[api])
    yield made
    made.sockets.close_all()


def spawn_without_running(arbiter: Arbiter, wid: int) -> tuple[list[str], list[CircusSocket]]:
    """What circus's Watcher.spawn_process would run for worker ``wid``, and the sockets it made for it."""
    watcher = arbiter.watchers[0]
    watcher.initialize(None, arbiter.sockets, arbiter)
    process = Process(watcher.name, wid, watcher.cmd, args=watcher.args, watcher=watcher, spawn=False)
    argv = process.format_args(process._get_sockets_fds())
    return argv, process._sockets


def listening_port(fd: int) -> int:
    with socket.socket(fileno=fd) as sock:
        try:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            return sock.getsockname()[1]
        finally:
            sock.detach()


def test_each_worker_gets_its_own_listening_socket_on_the_same_port(arbiter: Arbiter) -> None:
    port = arbiter.sockets[API_SOCKET].port
    assert split_api_socket(arbiter)
    arbiter.sockets.bind_and_listen_all()  # what the arbiter does at start
    assert arbiter.sockets[API_SOCKET].getsockname()[1] == 0  # the arbiter itself takes no connection
    (first, first_own), (second, second_own) = [spawn_without_running(arbiter, wid) for wid in (1, 2)]
    fds = [int(argv[argv.index("--fd") + 1]) for argv in (first, second)]
    assert fds[0] != fds[1]
    assert [listening_port(fd) for fd in fds] == [port, port]
    expected = [sys.executable, *worker_args()[:4], str(fds[0]), "--worker-id", "1", "--args", BENTO_ARGS]
    assert first == expected  # BentoML's own command line, with this worker's socket
    assert second[second.index("--worker-id") + 1] == "2"
    for sock in (*first_own, *second_own):
        sock.close()


def test_a_port_in_use_fails_at_start_as_the_shared_socket_did(arbiter: Arbiter) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", arbiter.sockets[API_SOCKET].port))
        squatter.listen()
        with pytest.raises(OSError, match="in use"):
            split_api_socket(arbiter)


def test_sockets_the_workers_do_not_listen_on_are_left_alone() -> None:
    other = CircusSocket(name="other", host="127.0.0.1", port=free_port())
    watcher = create_watcher(name="service", args=worker_args("other"), working_dir=".")
    made = create_standalone_arbiter(watchers=[watcher], sockets=[other])
    assert not split_api_socket(made)
    assert made.sockets["other"] is other and watcher.cmd == shlex.quote(sys.executable)
    made.sockets.close_all()


def test_applied_once_on_bentoml_1_4_39_and_skipped_with_a_warning_otherwise(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Arbiter, "start", Arbiter.start)  # undone after the test
    stock = Arbiter.start
    monkeypatch.setattr(patches, "BENTOML_CHECKED", "1.4.40")  # as if another BentoML were installed
    with caplog.at_level(logging.WARNING):
        assert not apply_socket_per_worker()
    assert Arbiter.start is stock and "patch skipped" in caplog.text
    monkeypatch.setattr(patches, "BENTOML_CHECKED", "1.4.39")
    assert apply_socket_per_worker() and apply_socket_per_worker()
    assert Arbiter.start is not stock and Arbiter.start.__wrapped__ is stock
