"""The audit export: what was stored, as CSV or Parquet, for a range; clear errors otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from credit_scoring.recording.protocol import RequestRecord
from credit_scoring.recording.store import ParquetStore
from monitor_app.export_decisions import app
from tests.support.recording import write_records

NOW = datetime(2026, 5, 6, 10, 0, tzinfo=UTC)


def _store(tmp_path: Path) -> Path:
    records = [
        RequestRecord("score", "credit-scoring", "4", 200, 3.5, probability=0.1 * i, decision="grant",
                      threshold=0.4, timestamp=NOW + timedelta(minutes=i))
        for i in range(5)
    ]  # fmt: skip
    refused = RequestRecord("score", "credit-scoring", "4", 400, 1.0, error_kind="validation", timestamp=NOW)
    records.append(refused)
    write_records(ParquetStore(tmp_path / "store"), records)
    return tmp_path / "store"


def test_export_writes_every_stored_decision_of_the_range(tmp_path: Path) -> None:
    store = _store(tmp_path)
    result = CliRunner().invoke(app, ["--out", str(tmp_path / "all.csv"), "--store", str(store)])
    assert result.exit_code == 0 and "wrote 6 decision record(s)" in result.output
    exported = pd.read_csv(tmp_path / "all.csv")
    assert list(exported.columns[:4]) == ["request_id", "item", "timestamp", "endpoint"]
    assert sorted(exported["status"]) == [200] * 5 + [400] and not exported["simulated"].any()
    assert exported["timestamp"].iloc[0] == "2026-05-06T10:00:00+00:00"
    args = ["--out", str(tmp_path / "range.parquet"), "--store", str(store), "--start", "2026-05-06T10:02",
            "--end", "2026-05-06T10:04"]  # fmt: skip
    assert CliRunner().invoke(app, args).exit_code == 0
    assert pd.read_parquet(tmp_path / "range.parquet")["probability"].round(1).tolist() == [0.2, 0.3]


def test_export_errors_say_the_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--out", str(tmp_path / "x.csv"), "--store", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "no request store" in result.output
    result = CliRunner().invoke(app, ["--out", str(tmp_path / "x.json"), "--store", str(_store(tmp_path))])
    assert result.exit_code == 2 and "name a .csv or a .parquet file" in result.output


def test_export_carries_the_challengers_figures_null_where_none_scored(tmp_path: Path) -> None:
    shadowed = RequestRecord("score", "credit-scoring", "4", 200, 3.5, probability=0.3, decision="refuse",
                             threshold=0.25, timestamp=NOW, challenger_version="5",
                             challenger_probability=0.2, challenger_decision="grant")  # fmt: skip
    alone = RequestRecord("score", "credit-scoring", "4", 200, 3.5, probability=0.1, decision="grant",
                          threshold=0.25, timestamp=NOW + timedelta(minutes=1))  # fmt: skip
    write_records(ParquetStore(tmp_path / "store"), [shadowed, alone])
    for name in ("audit.parquet", "audit.csv"):
        args = ["--out", str(tmp_path / name), "--store", str(tmp_path / "store")]
        assert CliRunner().invoke(app, args).exit_code == 0
        path = tmp_path / name
        exported = pd.read_parquet(path) if name.endswith("parquet") else pd.read_csv(path, dtype=str)
        columns = ["challenger_version", "challenger_probability", "challenger_decision"]
        first, second = exported.sort_values("timestamp")[columns].itertuples(index=False)
        assert (first[0], float(first[1]), first[2]) == ("5", 0.2, "grant")
        assert pd.isna(list(second)).all()
