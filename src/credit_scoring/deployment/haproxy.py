"""HAProxy in front of the blue and green servers: its configuration and its runtime API (no reloads)."""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass
from pathlib import Path

from credit_scoring.errors import UnavailableError

BACKEND = "bento"
COLOURS = ("blue", "green")

# Retries and redispatch hide a server that closes a connection during a switch; /readyz health checks
# take a dead server out within two seconds. Timeouts stay generous: a batch can take seconds.
CONFIG_TEMPLATE = """\
global
    stats socket {socket} mode 600 level admin expose-fd listeners
    stats timeout 30s
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    option httpchk GET /readyz
    default-server inter 1s fall 2 rise 1

frontend public
    bind {host}:{port}
    default_backend {backend}

backend {backend}
    balance roundrobin
{servers}
"""


class HAProxyError(UnavailableError, RuntimeError):
    """HAProxy's runtime API refused a command or cannot be reached."""


def render_config(socket_path: Path, host: str, port: int, ports: dict[str, int], serving: str) -> str:
    """The configuration: the serving colour up at weight 100, the other one in maintenance."""
    lines = [
        f"    server {colour} 127.0.0.1:{ports[colour]} check weight 100"
        + ("" if colour == serving else " disabled")
        for colour in COLOURS
    ]
    return CONFIG_TEMPLATE.format(
        socket=socket_path, host=host, port=port, backend=BACKEND, servers="\n".join(lines)
    )


@dataclass(frozen=True)
class ServerStats:
    """What `show stat` says about one server: sessions now, totals, errors and response time."""

    current_sessions: int
    total_sessions: int
    server_errors: int
    retries: int
    response_time_ms: int
    status: str

    @property
    def errors(self) -> int:
        """Every sign of a failing server: 5xx, broken responses, failed connections, retries."""
        return self.server_errors + self.retries


class RuntimeApi:
    """Commands over HAProxy's admin socket (one connection per command, as `socat` would)."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def command(self, line: str) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(5)
                client.connect(str(self.socket_path))
                client.sendall(line.encode() + b"\n")
                return _read_all(client)
        except OSError as error:
            raise HAProxyError(f"HAProxy runtime API at {self.socket_path}: {error}") from None

    def set_weight(self, colour: str, weight: int) -> None:
        self._expect_empty(f"set weight {BACKEND}/{colour} {weight}")

    def set_state(self, colour: str, state: str) -> None:
        """``ready``, ``drain`` (no new requests) or ``maint`` (out of the pool)."""
        self._expect_empty(f"set server {BACKEND}/{colour} state {state}")

    def stats(self) -> dict[str, ServerStats]:
        """Per-server figures of the backend, from `show stat`."""
        rows = csv.DictReader(io.StringIO(self.command("show stat").lstrip("# ")))
        return {row["svname"]: _server_stats(row) for row in rows if row["pxname"] == BACKEND
                and row["svname"] in COLOURS}  # fmt: skip

    def _expect_empty(self, line: str) -> None:
        answer = self.command(line).strip()
        if answer:
            raise HAProxyError(f"HAProxy refused {line!r}: {answer}")


def _read_all(client: socket.socket) -> str:
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def _number(value: str | None) -> int:
    return int(value) if value else 0


def _server_stats(row: dict[str, str]) -> ServerStats:
    errors = sum(_number(row.get(field)) for field in ("hrsp_5xx", "eresp", "econ"))
    return ServerStats(
        current_sessions=_number(row.get("scur")) + _number(row.get("qcur")),
        total_sessions=_number(row.get("stot")),
        server_errors=errors,
        retries=_number(row.get("wretr")) + _number(row.get("wredis")),
        response_time_ms=_number(row.get("rtime")),
        status=row.get("status", ""),
    )
