"""Closed-loop HTTP load for `make bench`: wrk (preferred) or an async httpx loop, same figures."""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

TIMEOUT_S = 30
_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk_script(body: str, headers: dict[str, str]) -> str:
    """A wrk Lua script that POSTs the same JSON body on every request (GETs when the body is empty)."""
    lines = [f'wrk.method = "{"POST" if body else "GET"}"'] + [
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()
    ]
    return "\n".join([*lines, f"wrk.body = {json.dumps(body)}" if body else "", ""])


def _to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests, errors, rate and latency percentiles from ``wrk --latency`` output."""
    percentiles = {int(p): _to_ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)$", output, re.MULTILINE)}
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket.groups())) if socket else 0)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    # No answer at all (every request timed out) leaves wrk without a latency distribution.
    latency = {f"p{p}": percentiles.get(p, math.nan) for p in (50, 75, 90, 99)}
    return {"requests": requests, "errors": errors, "rate": rate, **latency}


def run_wrk(
    url: str, body: str, headers: dict[str, str], connections: int, duration_s: float, threads: int
) -> dict[str, float]:
    """One wrk run (closed loop: each connection sends its next request when the previous one answered)."""
    with tempfile.TemporaryDirectory(prefix="credit-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(wrk_script(body, headers))
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency"]
        # wrk's default 2 s timeout would silently drop slow batch answers from the latency figures.
        command += ["--timeout", f"{TIMEOUT_S}s"]
        done = subprocess.run([*command, "-s", str(script), url], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


async def _worker(
    client: httpx.AsyncClient, url: str, body: bytes, stop: float, latencies: list, errors: list
):
    while time.perf_counter() < stop:
        start = time.perf_counter()
        try:
            response = await client.request("POST" if body else "GET", url, content=body or None)
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append(time.perf_counter() - start)
        if not ok:
            errors.append(1)


async def _httpx_load(url: str, body: bytes, headers: dict[str, str], connections: int, duration_s: float):
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=TIMEOUT_S) as client:
        start = time.perf_counter()
        stop = start + duration_s
        await asyncio.gather(
            *(_worker(client, url, body, stop, latencies, errors) for _ in range(connections))
        )
        elapsed = time.perf_counter() - start
    return latencies, len(errors), elapsed


def run_httpx(
    url: str, body: str, headers: dict[str, str], connections: int, duration_s: float
) -> dict[str, float]:
    """The same closed loop with asyncio + httpx (slower client: it measures less of the server)."""
    latencies, errors, elapsed = asyncio.run(
        _httpx_load(url, body.encode(), headers, connections, duration_s)
    )
    ms = np.asarray(latencies) * 1e3
    return {
        "requests": len(latencies),
        "errors": errors,
        "rate": len(latencies) / elapsed,
        **{f"p{p}": float(np.percentile(ms, p)) for p in (50, 90, 99)},
    }


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its children (the server's workers)."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total
