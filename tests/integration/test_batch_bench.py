"""The benchmark's file throughput: each run a fresh process scoring the whole file, the median reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from credit_scoring_tools.batch_bench import fresh_process_throughput, synthetic_file
from tests.support.batch_files import tiny_batch_model

pytestmark = pytest.mark.integration


def test_each_run_scores_the_whole_file_in_its_own_process(tmp_path: Path) -> None:
    source = synthetic_file(tmp_path / "applications.parquet", 3_000)
    figures = fresh_process_throughput(tiny_batch_model().batch, source, tmp_path / "runs", runs=3)
    assert figures["rows"] == 3_000 and figures["rejected"] == 3  # one refused row per thousand
    assert len(figures["runs_rows_per_s"]) == 3
    assert figures["rows_per_s"] == sorted(figures["runs_rows_per_s"])[1] > 0
    for run in range(3):
        scores = pd.read_parquet(tmp_path / "runs" / f"run-{run}" / "scores.parquet")
        assert len(scores) == 2_997 and scores["probability"].between(0, 1).all()
