"""One chunk of a file scored as the API scores it: its validation, the domain's features, ONNX, decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_scoring.batch.cells import Cells
from credit_scoring.batch.checks import Verdicts, check_cells
from credit_scoring.fastpath.vectorise import frame_probabilities
from credit_scoring.schema import ID_COLUMN
from credit_scoring.scoring import decide_all

ROW_COLUMN = "row"  # 1 for the first application of the file (a CSV's second line, after the header)
REASON_SEPARATOR = "; "


@dataclass(frozen=True)
class ChunkScorer:
    """The model as a chunk needs it: probabilities from features, and the version's threshold."""

    predict_proba: Callable[[np.ndarray], np.ndarray]
    threshold: float
    version: str


@dataclass(frozen=True)
class ScoredChunk:
    """Answers for the accepted rows and the API's reasons for the refused ones (nothing dropped)."""

    scores: pd.DataFrame
    rejects: pd.DataFrame

    def combined(self) -> pd.DataFrame:
        """Both in one table (reasons empty for scored rows), the shape a Spark task returns."""
        return pd.concat([self.scores, self.rejects], ignore_index=True)


def score_chunk(frame: pd.DataFrame, rows: np.ndarray, scorer: ChunkScorer) -> ScoredChunk:
    """Validate every row of ``frame`` (file row numbers ``rows``) and score the accepted ones."""
    cells = Cells.from_frame(frame)
    verdicts = check_cells(cells)
    accepted = verdicts.accepted
    probabilities = frame_probabilities(cells.model_frame(accepted), scorer.predict_proba)
    scores = {
        ROW_COLUMN: rows[accepted],
        **_ids(frame, accepted),
        "probability": probabilities,
        "decision": decide_all(probabilities, scorer.threshold),
        "threshold": np.full(len(accepted), scorer.threshold),
        "model_version": np.full(len(accepted), scorer.version, dtype=object),
    }
    return ScoredChunk(pd.DataFrame(scores), _rejects(frame, rows, verdicts))


def _rejects(frame: pd.DataFrame, rows: np.ndarray, verdicts: Verdicts) -> pd.DataFrame:
    refused = np.flatnonzero(verdicts.rejected)
    reasons = [REASON_SEPARATOR.join(verdicts.reasons[position]) for position in refused.tolist()]
    # object dtype even when empty: a chunk without refusals would otherwise give the combined table a float
    # "reasons" column, which Spark cannot turn into its string column (the task fails).
    reasons_column = pd.Series(reasons, dtype=object)
    return pd.DataFrame({ROW_COLUMN: rows[refused], **_ids(frame, refused), "reasons": reasons_column})


def _ids(frame: pd.DataFrame, positions: np.ndarray) -> dict[str, object]:
    # The lender's own reference, passed through as the file has it (not validated, not pseudonymised).
    return {ID_COLUMN: frame[ID_COLUMN].array[positions]} if ID_COLUMN in frame.columns else {}
