"""Structured logs: one JSON object per line with the extra fields, and the logger's warnings use them."""

from __future__ import annotations

import io
import json
import logging

from credit_scoring.monitoring.logs import JsonFormatter, configure_json_logging


def test_json_lines_carry_level_message_and_extra_fields() -> None:
    stream = io.StringIO()
    level = logging.getLogger().level
    handler = configure_json_logging(logging.INFO, stream)
    try:
        logging.getLogger("credit_scoring.test").warning(
            "records dropped", extra={"dropped": 3, "queue": "full"}
        )
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("credit_scoring.test").exception("write failed")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["message"] == "records dropped"
    assert first["dropped"] == 3 and first["queue"] == "full" and first["ts"].endswith("+00:00")
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exception"]


def test_configuring_twice_keeps_one_json_handler() -> None:
    root = logging.getLogger()
    before, level = len(root.handlers), root.level
    first = configure_json_logging(stream=io.StringIO())
    second = configure_json_logging(stream=io.StringIO())
    try:
        assert first not in root.handlers and second in root.handlers
        assert len(root.handlers) == before + 1 and isinstance(second.formatter, JsonFormatter)
    finally:
        root.removeHandler(second)
        root.setLevel(level)


def test_whylogs_bookkeeping_is_left_out_but_its_warnings_are_kept() -> None:
    stream = io.StringIO()
    level = logging.getLogger().level
    handler = configure_json_logging(logging.INFO, stream)
    chatty = logging.getLogger("whylogs.core.utils.protobuf_utils")
    try:
        chatty.info("Attempting to read profile file as delimited from position 1956286.")
        chatty.warning("profile file truncated")
        logging.getLogger("credit_scoring.test").info("ingest lock taken")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
        logging.getLogger("whylogs").setLevel(logging.NOTSET)
    lines = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert lines == ["profile file truncated", "ingest lock taken"]
