"""Shadow scoring: the packed @challenger scores every application the champion answers, never answering.

The challenger scores the champion's own input matrix when both build the same one (one ONNX call more,
no second validation or vectorisation). Whatever it does, the champion's answer is unchanged: a challenger
that raises is caught, counted (Prometheus and /monitoring/health), logged once, and its figures are null.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_scoring.scoring import Scorer, decide

logger = logging.getLogger(__name__)

FAILURE_METRIC = "credit_scoring_shadow_failures"  # exposed on /metrics as ..._total
_failures_metric: Any = None


@dataclass(frozen=True, slots=True)
class ShadowScores:
    """The challenger's figures for the applications of one request, in the request's order."""

    version: str
    probabilities: list[float]
    decisions: list[str]


def _count_failure(endpoint: str) -> None:
    """One more failure on the Prometheus counter (made on first use, in the worker: BentoML's metrics
    are set up for its multiprocess registry only once the server runs)."""
    global _failures_metric
    if _failures_metric is None:
        import bentoml

        _failures_metric = bentoml.metrics.Counter(
            name=FAILURE_METRIC,
            documentation="Applications the @challenger failed to score in shadow (the champion answered).",
            labelnames=["endpoint"],
        )
    _failures_metric.labels(endpoint=endpoint).inc()


class Shadow:
    """The challenger of one worker: scores in shadow, counts what it scored and what it failed."""

    def __init__(self, challenger: Scorer | None, champion: Scorer, enabled: bool = True) -> None:
        self.challenger = challenger
        self.enabled = enabled and challenger is not None
        self.reuses_features = challenger is not None and champion.shares_features_with(challenger)
        self.scored = 0
        self.failures = 0
        self.last_error: str | None = None
        self.load_error: str | None = None

    @classmethod
    def unavailable(cls, champion: Scorer, error: Exception) -> Shadow:
        """No shadow scoring: the packed challenger could not be loaded (the champion serves anyway)."""
        shadow = cls(None, champion)
        shadow.load_error = f"{type(error).__name__}: {error}"
        logger.error("the packed challenger could not be loaded; serving without shadow scoring: %s", error)
        return shadow

    @property
    def version(self) -> str | None:
        return self.challenger.version if self.challenger is not None else None

    def score(
        self, matrix: np.ndarray | None, records: Callable[[], Sequence[Mapping[str, Any]]], endpoint: str
    ) -> ShadowScores | None:
        """The challenger's figures for the champion's input ``matrix`` (or, when their features differ or
        the matrix is None, for the ``records``); None when off, absent or failing. Never raises."""
        if not self.enabled:
            return None
        challenger: Scorer = self.challenger  # type: ignore[assignment]
        try:
            if self.reuses_features and matrix is not None:
                probabilities = challenger.model.predict_proba(matrix)
            else:
                probabilities = challenger.probabilities(records())
            figures = probabilities.tolist()
            decisions = [decide(p, challenger.threshold) for p in figures]  # cheaper than numpy for a few
            scores = ShadowScores(challenger.version, figures, decisions)
        except Exception as error:  # any failure of the challenger is its own, never the answer's
            self._failed(error, endpoint)
            return None
        self.scored += len(scores.probabilities)
        return scores

    def _failed(self, error: Exception, endpoint: str) -> None:
        self.failures += 1
        self.last_error = f"{type(error).__name__}: {error}"
        if self.failures == 1:  # once: a broken challenger fails on every request
            logger.exception("the challenger failed to score in shadow (the champion answered); counting")
        try:
            _count_failure(endpoint)
        except Exception:  # the metric must not turn a counted failure into a failed answer
            logger.debug("shadow failure metric unavailable", exc_info=True)

    def health(self) -> dict[str, Any]:
        """The ``shadow`` figures of GET /monitoring/health."""
        return {
            "challenger_version": self.version,
            "enabled": self.enabled,
            "scored": self.scored,
            "failures": self.failures,
            "last_error": self.last_error,
            "load_error": self.load_error,
        }
