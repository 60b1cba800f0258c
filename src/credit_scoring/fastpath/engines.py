"""Model engines behind one interface: ONNX Runtime (default, fastest) and the LightGBM booster (fallback)."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from credit_scoring.fastpath.onnx_export import (
    ONNX_INPUT,
    ONNX_PROBABILITIES,
    calibrator_of,
    classifier_of,
    convert_classifier_to_onnx,
)
from credit_scoring.features import FEATURE_DTYPE

Engine = Literal["onnx", "native"]
ENGINES: tuple[Engine, ...] = ("onnx", "native")
DEFAULT_ENGINE: Engine = "onnx"


@runtime_checkable
class ProbabilityModel(Protocol):
    """Feature matrix (float32, n x features) in, probability of default (float64, shape (n,)) out."""

    engine: str

    def predict_proba(self, features: np.ndarray) -> np.ndarray: ...


def _as_model_input(features: np.ndarray) -> np.ndarray:
    # A no-op for the float32 matrices FeatureBuilder makes; anything else is converted once here.
    matrix = np.ascontiguousarray(features, dtype=FEATURE_DTYPE)
    return matrix.reshape(1, -1) if matrix.ndim == 1 else matrix


class OnnxScorer:
    """ONNX Runtime session on a fixed number of threads, no spinning, sequential execution.

    One intra-op thread per request path: the service runs requests concurrently, and spinning or
    extra threads would steal the cores the other requests (and the HTTP server) need.
    """

    engine = "onnx"

    def __init__(self, onnx_bytes: bytes, threads: int = 1) -> None:
        import onnxruntime  # heavy import, only needed when the engine is built

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.threads = threads
        self._session = onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self._outputs = [ONNX_PROBABILITIES]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        probabilities = self._session.run(self._outputs, {ONNX_INPUT: _as_model_input(features)})[0]
        return probabilities[:, 1].astype(np.float64)


class NativeScorer:
    """The LightGBM booster called directly (no sklearn input checks), on a fixed number of threads, its
    log-odds through the pipeline's calibrator when it has one."""

    engine = "native"

    def __init__(self, model: Pipeline | LGBMClassifier, threads: int = 1) -> None:
        self.threads = threads
        self._booster: Any = classifier_of(model).booster_
        self._calibrator = calibrator_of(model)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        matrix = _as_model_input(features)
        if self._calibrator is None:
            return self._booster.predict(matrix, num_threads=self.threads)
        raw = self._booster.predict(matrix, raw_score=True, num_threads=self.threads)
        return self._calibrator.apply(raw)


def load_probability_model(
    engine: str, model: Pipeline | LGBMClassifier, onnx_bytes: bytes | None = None, threads: int = 1
) -> ProbabilityModel:
    """The engine a setting names; ``onnx`` without stored bytes converts the model (seconds, at start-up)."""
    if engine == "onnx":
        return OnnxScorer(onnx_bytes or convert_classifier_to_onnx(model), threads)
    if engine == "native":
        return NativeScorer(model, threads)
    raise ValueError(f"unknown scoring engine {engine!r}: choose one of {', '.join(ENGINES)}")
