"""What a scoring run did, whatever the engine: rows read and refused, the first reasons, time, outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from credit_scoring.batch.chunks import ROW_COLUMN, ScoredChunk

MAX_EXAMPLES = 5


@dataclass
class Summary:
    """Rows read, rows refused (with the first few reasons), seconds, and where the results went."""

    scores: str
    rejects: str
    rows: int = 0
    rejected: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return self.rows - self.rejected

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def note(self, chunk: ScoredChunk) -> None:
        """Count a chunk's refusals and keep the first reasons of the run."""
        self.rejected += chunk.rejects.num_rows
        if len(self.examples) < MAX_EXAMPLES:
            self.keep_examples(chunk.rejects.slice(0, MAX_EXAMPLES).to_pandas())

    def keep_examples(self, rejects: pd.DataFrame) -> None:
        room = MAX_EXAMPLES - len(self.examples)
        for row, reasons in rejects[[ROW_COLUMN, "reasons"]].head(max(room, 0)).itertuples(index=False):
            self.examples.append(f"row {row}: {reasons}")

    def lines(self, model: str) -> list[str]:
        """The report printed at the end of a run."""
        return [
            f"scored {self.scored:,} of {self.rows:,} rows in {self.seconds:.1f} s "
            f"({self.rows_per_second:,.0f} rows/s) with {model}",
            f"  scores:  {self.scores}",
            f"  rejects: {self.rejects} ({self.rejected:,} row(s) refused, with the API's reasons)",
            *(f"    {example}" for example in self.examples),
        ]
