"""The HTTP benchmark's parsing and scripting: wrk output to figures, one POST body per request."""

from __future__ import annotations

import json
import math

import pytest

from credit_scoring_tools.loadtest import parse_wrk, wrk_script

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:3000/score
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.61ms    2.01ms  30.12ms   80.00%
    Req/Sec     0.93k   100.00     1.10k    70.00%
  Latency Distribution
     50%  850.00us
     75%    1.20ms
     90%    2.50ms
     99%    1.01s
  9300 requests in 5.00s, 3.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1859.93
Transfer/sec:    634.12KB
"""


def test_parse_wrk_reads_counts_rate_and_percentiles_in_ms() -> None:
    figures = parse_wrk(WRK_OUTPUT)
    assert figures["requests"] == 9300
    assert figures["errors"] == 4 + 3  # non-2xx plus socket errors
    assert figures["rate"] == pytest.approx(1859.93)
    assert figures["p50"] == pytest.approx(0.85)
    assert figures["p90"] == pytest.approx(2.5)
    assert figures["p99"] == pytest.approx(1010.0)


def test_parse_wrk_without_errors() -> None:
    lines = WRK_OUTPUT.splitlines()
    clean = "\n".join(line for line in lines if "errors" not in line and "Non-2xx" not in line)
    assert parse_wrk(clean)["errors"] == 0


def test_wrk_script_posts_the_exact_body_with_headers() -> None:
    body = json.dumps({"application": {"NAME": 'quote " and \\ backslash'}})
    script = wrk_script(body, {"Content-Type": "application/json", "X-API-Key": "k"})
    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["X-API-Key"] = "k"' in script
    # Lua and JSON share the string escapes used here, so the body line decodes back to the body.
    body_line = next(line for line in script.splitlines() if line.startswith("wrk.body = "))
    assert json.loads(body_line.removeprefix("wrk.body = ")) == body


def test_wrk_script_without_a_body_gets() -> None:
    script = wrk_script("", {})
    assert 'wrk.method = "GET"' in script and "wrk.body" not in script


def test_parse_wrk_without_any_answer_has_no_latency() -> None:
    output = (
        "  0 requests in 5.00s, 0.00B read\n"
        "  Socket errors: connect 0, read 0, write 0, timeout 16\n"
        "Requests/sec: 0.00\n"
    )
    figures = parse_wrk(output)
    assert figures["requests"] == 0
    assert figures["errors"] == 16
    assert math.isnan(figures["p99"])
