"""The scoring function, once: validated applications in, probability of default and decision out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sklearn.pipeline import Pipeline

from credit_scoring.fastpath.engines import NativeScorer, ProbabilityModel
from credit_scoring.fastpath.vectorise import RecordVectoriser
from credit_scoring.features import FeatureBuilder, derive_features
from credit_scoring.model_layout import CLASSIFIER_STEP, FEATURES_STEP

if TYPE_CHECKING:
    from credit_scoring.batch_validation import ApplicationBatch

Decision = Literal["grant", "refuse"]


def decide(probability: float, threshold: float) -> Decision:
    """The business decision: refuse when the risk reaches the threshold chosen on the 10:1 cost."""
    return "refuse" if probability >= threshold else "grant"


def decide_all(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """``decide`` for an array of probabilities at once (batch scoring of files)."""
    return np.where(probabilities >= threshold, "refuse", "grant")


@dataclass(frozen=True, slots=True)
class Score:
    """One application's answer: probability of default and the decision at the model's threshold."""

    probability: float
    decision: Decision


@dataclass(frozen=True, slots=True)
class Contribution:
    """How much one model feature pushed one score, in log-odds (positive = riskier)."""

    feature: str
    value: float | None
    contribution: float


@dataclass(frozen=True, slots=True)
class Explanation:
    """A score with its top contributing features and the model's base log-odds."""

    score: Score
    base_log_odds: float
    contributions: list[Contribution]


def _booster_of(pipeline: Pipeline) -> Any:
    classifier = pipeline.named_steps.get(CLASSIFIER_STEP)
    booster = getattr(classifier, "booster_", None)
    if booster is None:
        raise TypeError(
            f"the pipeline's {CLASSIFIER_STEP!r} step must be a fitted LightGBM classifier, "
            f"got {type(classifier).__name__}"
        )
    return booster


def _native_model(pipeline: Pipeline) -> ProbabilityModel:
    return NativeScorer(pipeline)


class Scorer:
    """Scores applications with a fitted ``features -> classifier`` pipeline (the registered model).

    The pipeline's own feature step builds the matrix, so serving uses exactly the features the model
    was trained with; ``model`` (ONNX Runtime or the LightGBM booster, see fastpath.engines) turns it into
    calibrated probabilities. Explanations always use the booster, the only engine with per-feature
    contributions; they are in the trees' log-odds, which the calibrator maps to the probability in order.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        threshold: float,
        version: str,
        name: str = "credit-scoring",
        model: ProbabilityModel | None = None,
    ):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a probability between 0 and 1, got {threshold!r}")
        self.pipeline = pipeline
        self.threshold = float(threshold)
        self.version = str(version)
        self.name = name
        self._features = pipeline.named_steps[FEATURES_STEP]
        # For the project's own (stateless) FeatureBuilder, the record vectoriser builds the identical
        # matrix with less Python per request (parity-tested in fastpath); any other step runs as fitted.
        self._vectoriser = RecordVectoriser() if type(self._features) is FeatureBuilder else None
        self._booster = _booster_of(pipeline)
        self.model = model if model is not None else _native_model(pipeline)
        self.feature_names: tuple[str, ...] = tuple(self._features.get_feature_names_out())

    def features(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The model's input matrix for request records (dicts keyed by Kaggle column name)."""
        if self._vectoriser is not None:
            return self._vectoriser.transform(records)
        return self._features.transform(records)

    def probabilities(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Probability of default for each record, in order."""
        if not records:
            return np.empty(0, dtype=np.float64)
        return self.model.predict_proba(self.features(records))

    def batch_scored(self, batch: ApplicationBatch) -> tuple[np.ndarray | None, np.ndarray]:
        """A validated batch's input matrix (None when not built from its columns) and its probability of
        default for each application, in order."""
        if not len(batch):
            return None, np.empty(0, dtype=np.float64)
        matrix = self.batch_features(batch)
        if matrix is None:
            return None, self.probabilities(batch.records())
        return matrix, self.model.predict_proba(matrix)

    def batch_features(self, batch: ApplicationBatch) -> np.ndarray | None:
        """The model's input matrix of a non-empty validated batch, when the vectoriser can build it from the
        batch's encoded columns (only the derived features remain); None for any other feature step."""
        return derive_features(batch.encoded) if self._vectoriser is not None else None

    def shares_features_with(self, other: Scorer) -> bool:
        """Whether ``other``'s input matrix is this scorer's too (both the project's stateless feature step,
        same features), so a second model can score the matrix already built (shadow scoring)."""
        both_vectorised = self._vectoriser is not None and other._vectoriser is not None
        return both_vectorised and self.feature_names == other.feature_names

    def score_features(self, matrix: np.ndarray) -> list[Score]:
        """Probability and decision for each row of an input matrix built by ``features``."""
        return [Score(float(p), decide(float(p), self.threshold)) for p in self.model.predict_proba(matrix)]

    @property
    def engine(self) -> str:
        """Which engine computes the probabilities: ``onnx`` or ``native``."""
        return self.model.engine

    def score(self, records: Sequence[Mapping[str, Any]]) -> list[Score]:
        """Probability and decision for each record, in order."""
        return [Score(float(p), decide(float(p), self.threshold)) for p in self.probabilities(records)]

    def explain(self, record: Mapping[str, Any], top: int = 10) -> Explanation:
        """One record's score and its ``top`` features by absolute LightGBM contribution (pred_contrib)."""
        return self.explain_features(self.features([record]), top)

    def explain_features(self, matrix: np.ndarray, top: int = 10) -> Explanation:
        """``explain`` of the one-row input matrix of a record (built by ``features``)."""
        contributions = self._booster.predict(matrix, pred_contrib=True, num_threads=1)[0]
        # The served engine gives the probability, so /explain and /score always agree on the decision.
        probability = float(self.model.predict_proba(matrix)[0])
        order = np.argsort(-np.abs(contributions[:-1]), kind="stable")[: max(top, 0)]
        return Explanation(
            score=Score(probability, decide(probability, self.threshold)),
            base_log_odds=float(contributions[-1]),
            contributions=[self._contribution(matrix[0], int(i), contributions) for i in order],
        )

    def _contribution(self, row: np.ndarray, index: int, contributions: np.ndarray) -> Contribution:
        value = float(row[index])
        return Contribution(
            feature=self.feature_names[index],
            value=None if np.isnan(value) else value,
            contribution=float(contributions[index]),
        )
