"""One chunk of a file scored as the API scores it: its validation, the domain's features, ONNX, decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from credit_scoring.columnar import ArrowInputs
from credit_scoring.features import derive_features
from credit_scoring.schema import ID_COLUMN
from credit_scoring.scoring import decide_all

ROW_COLUMN = "row"  # 1 for the first application of the file (a CSV's second line, after the header)
REASON_SEPARATOR = "; "
# Rows whose features are derived and scored in one ONNX call: ~8 MB of float32 features that the
# allocator reuses from one call to the next (one call per 32k-row chunk asks for fresh pages each time).
MODEL_ROWS = 8_192


@dataclass(frozen=True)
class ChunkScorer:
    """The model as a chunk needs it: probabilities from features, and the version's threshold."""

    predict_proba: Callable[[np.ndarray], np.ndarray]
    threshold: float
    version: str


@dataclass(frozen=True)
class ScoredChunk:
    """Answers for the accepted rows and the API's reasons for the refused ones (nothing dropped)."""

    scores: pa.Table
    rejects: pa.Table

    def combined(self) -> pd.DataFrame:
        """Both in one table (reasons empty for scored rows), the shape a Spark task returns."""
        return pa.concat_tables([self.scores, self.rejects], promote_options="default").to_pandas()


def score_chunk(chunk: pa.Table | pd.DataFrame, rows: np.ndarray, scorer: ChunkScorer) -> ScoredChunk:
    """Validate every row of ``chunk`` (file row numbers ``rows``) and score the accepted ones."""
    table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_pandas(chunk, preserve_index=False)
    inputs = ArrowInputs.read({name: table.column(name) for name in table.column_names}, table.num_rows)
    broken = inputs.broken()
    refused = broken.any(axis=1)
    accepted = np.flatnonzero(~refused)
    # Every row is scored (a refused row's cells are NaN or out of range, harmless to the trees): cheaper
    # than copying the accepted rows out of the chunk, and each row's probability is its own.
    probabilities = _probabilities(inputs.encoded, scorer.predict_proba)[accepted]
    scores = {
        ROW_COLUMN: pa.array(rows[accepted], pa.int64()),
        **_ids(table, accepted),
        "probability": pa.array(probabilities, pa.float64()),
        "decision": pa.array(decide_all(probabilities, scorer.threshold), pa.string()),
        "threshold": pa.repeat(pa.scalar(scorer.threshold, pa.float64()), len(accepted)),
        "model_version": pa.repeat(pa.scalar(scorer.version, pa.string()), len(accepted)),
    }
    return ScoredChunk(pa.table(scores), _rejects(table, rows, inputs, broken, np.flatnonzero(refused)))


def _probabilities(encoded: np.ndarray, predict_proba: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    parts = [
        predict_proba(derive_features(encoded[start : start + MODEL_ROWS]))
        for start in range(0, len(encoded), MODEL_ROWS)
    ]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def _rejects(
    table: pa.Table, rows: np.ndarray, inputs: ArrowInputs, broken: np.ndarray, refused: np.ndarray
) -> pa.Table:
    reasons = [REASON_SEPARATOR.join(inputs.reasons(broken, row)) for row in refused.tolist()]
    return pa.table(
        {
            ROW_COLUMN: pa.array(rows[refused], pa.int64()),
            **_ids(table, refused),
            "reasons": pa.array(reasons, pa.string()),
        }
    )


def _ids(table: pa.Table, positions: np.ndarray) -> dict[str, pa.ChunkedArray]:
    # The lender's own reference, passed through as the file has it (not validated, not pseudonymised).
    return {ID_COLUMN: table.column(ID_COLUMN).take(positions)} if ID_COLUMN in table.column_names else {}
