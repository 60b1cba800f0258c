"""The checks a candidate server passes before it takes traffic: probes, a smoke score, ONNX parity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bentoml
import httpx

from credit_scoring.data.synthetic import generate_applications
from credit_scoring.errors import CreditScoringError
from credit_scoring.schema import INPUT_COLUMNS, example_application
from credit_scoring.serving.bento_model import load_scorer

PARITY_SEED = 20260


class CheckFailed(CreditScoringError, RuntimeError):
    """A candidate failed a check before taking traffic; the message says which and why."""


def probe(server: httpx.Client) -> None:
    """/livez and /readyz must both answer 200 (``server``: a client with the candidate's base URL)."""
    for path in ("/livez", "/readyz"):
        answer = server.get(path)
        if answer.status_code != 200:
            raise CheckFailed(f"probe {path} answered HTTP {answer.status_code}: {answer.text[:200]}")


def smoke_score(server: httpx.Client, expected_version: str) -> dict[str, Any]:
    """The worked example scored over HTTP, by the expected registry version."""
    answer = server.post("/score", json={"application": example_application()})
    if answer.status_code != 200:
        raise CheckFailed(f"smoke score answered HTTP {answer.status_code}: {answer.text[:200]}")
    body = answer.json()
    _expect_version(body, expected_version, "smoke score")
    return body


def parity_applications(rows: int) -> list[dict[str, Any]]:
    """Synthetic applications as a client sends them (JSON numbers and strings, null when missing)."""
    frame = generate_applications(rows, seed=PARITY_SEED).loc[:, list(INPUT_COLUMNS)]
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: _json_value(v) for k, v in record.items()} for record in records]


def onnx_parity(
    server: httpx.Client, model: bentoml.Model, expected_version: str, rows: int, tolerance: float
) -> float:
    """The largest gap between the server's /score_batch answers and the native LightGBM pipeline of the
    Bento's own model directory; fails beyond ``tolerance`` or when an answer names another version."""
    applications = parity_applications(rows)
    answer = server.post("/score_batch", json={"applications": applications})
    if answer.status_code != 200:
        raise CheckFailed(f"/score_batch answered HTTP {answer.status_code}: {answer.text[:200]}")
    served = answer.json()
    for body in served:
        _expect_version(body, expected_version, "/score_batch")
    native = load_scorer(Path(model.path), model.info.metadata, "native").probabilities(applications)
    gap = _largest_gap([body["probability"] for body in served], native.tolist())
    if gap > tolerance:
        raise CheckFailed(
            f"ONNX parity failed: served probabilities differ from native LightGBM by up to {gap:.3g} "
            f"(tolerance {tolerance:g}) on {rows} synthetic applications"
        )
    return gap


def _largest_gap(served: Sequence[float], native: Sequence[float]) -> float:
    if len(served) != len(native):
        raise CheckFailed(f"/score_batch gave {len(served)} answers for {len(native)} applications")
    return max(abs(a - b) for a, b in zip(served, native, strict=True))


def _expect_version(body: dict[str, Any], expected: str, where: str) -> None:
    if str(body.get("model_version")) != expected:
        raise CheckFailed(f"{where} answered with version {body.get('model_version')}, expected {expected}")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value
