"""Measured batch scoring for the benchmark: local rows/s on synthetic files, and Spark's parity."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
from itertools import chain
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import typer

from credit_scoring.batch.local import score_file_locally
from credit_scoring.batch.model import BatchModel
from credit_scoring.cli import CommandApp
from credit_scoring.data.synthetic import generate_applications
from credit_scoring.schema import ID_COLUMN

DISTINCT_ROWS = 100_000  # generated once, then repeated: a million synthetic rows take minutes to draw
BROKEN_EVERY = 1_000  # one refused row per thousand, so the rejects path is part of the measure
# Runs per file, each in a fresh process as `make score-file` runs (the benchmark's own threads and heap
# stay out of it); the median is the figure, the others show the spread of this machine.
RUNS = 3


def synthetic_file(path: Path, rows: int, seed: int = 0) -> Path:
    """``rows`` synthetic applications (application_train.csv columns) as CSV or Parquet, by suffix,
    with fresh ids and a few invalid rows (AMT_CREDIT negative)."""
    base = generate_applications(min(rows, DISTINCT_ROWS), seed=seed)
    frame = pd.concat([base] * -(-rows // len(base)), ignore_index=True).iloc[:rows].copy()
    frame[ID_COLUMN] = np.arange(100_002, 100_002 + rows)
    frame.loc[::BROKEN_EVERY, "AMT_CREDIT"] = -1.0
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    return path


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def local_throughput(model: BatchModel, source: Path, folder: Path) -> dict[str, Any]:
    """One local-engine run on ``source``: wall and CPU time, rows/s, refused rows."""
    cpu = _cpu_seconds()
    summary = score_file_locally(source, folder / "scores.parquet", folder / "rejects.csv", model, False)
    cpu = _cpu_seconds() - cpu
    return {
        "rows": summary.rows,
        "rejected": summary.rejected,
        "seconds": round(summary.seconds, 3),
        "rows_per_s": round(summary.rows_per_second),
        "cpu_us_per_row": round(cpu / max(summary.rows, 1) * 1e6, 2),
    }


def fresh_process_throughput(
    model: BatchModel, source: Path, folder: Path, runs: int = RUNS
) -> dict[str, Any]:
    """``local_throughput`` in ``runs`` fresh processes: the median run, and every run's rows/s."""
    model_file = folder / "model.onnx"
    folder.mkdir(parents=True, exist_ok=True)
    model_file.write_bytes(model.onnx_bytes)
    results = [_one_process(model, model_file, source, folder / f"run-{run}") for run in range(runs)]
    median = statistics.median_low(result["rows_per_s"] for result in results)
    chosen = next(result for result in results if result["rows_per_s"] == median)
    return {**chosen, "runs_rows_per_s": [result["rows_per_s"] for result in results]}


def _one_process(model: BatchModel, model_file: Path, source: Path, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True)
    command = [sys.executable, "-m", "credit_scoring_tools.batch_bench", str(source), str(out)]
    model_options = {"--model-file": str(model_file), "--name": model.name, "--version": model.version}
    command += [*chain.from_iterable(model_options.items()), "--threshold", repr(model.threshold)]
    finished = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(finished.stdout.splitlines()[-1])


def main(
    source: Annotated[Path, typer.Argument(help="Applications file (.csv or .parquet) to score.")],
    out: Annotated[Path, typer.Argument(help="Existing folder for the scores and rejects.")],
    model_file: Annotated[Path, typer.Option(help="The version's ONNX model (as the registry holds it).")],
    name: Annotated[str, typer.Option(help="The registered model's name.")],
    version: Annotated[str, typer.Option(help="The model version, written with each score.")],
    threshold: Annotated[float, typer.Option(help="The version's decision threshold.")],
) -> None:
    """Score SOURCE once with the local engine; print the run's figures as one JSON line."""
    model = BatchModel(name, version, threshold, model_file.read_bytes())
    typer.echo(json.dumps(local_throughput(model, source, out)))


def spark_parity(model: BatchModel, source: Path, folder: Path, master: str = "local[2]") -> dict[str, Any]:
    """The Spark engine against the local one on ``source``: largest probability difference, rejects."""
    from credit_scoring.batch.spark import score_file_on_spark

    local, spark = folder / "local", folder / "spark"
    score_file_locally(source, local / "s.parquet", local / "r.parquet", model, False)
    summary = score_file_on_spark(
        str(source), str(spark / "s.parquet"), str(spark / "r.parquet"), model, master, {}
    )
    ours, theirs = (
        pd.read_parquet(side / "s.parquet").sort_values("row", ignore_index=True) for side in (local, spark)
    )
    rejects = [
        pd.read_parquet(side / "r.parquet").sort_values("row", ignore_index=True) for side in (local, spark)
    ]
    same_rows = ours["row"].equals(theirs["row"])
    return {
        "rows": summary.rows,
        "spark_seconds": round(summary.seconds, 3),
        "max_abs_difference": float((ours["probability"] - theirs["probability"]).abs().max())
        if same_rows
        else None,
        "same_scored_rows": bool(same_rows),
        "same_decisions": bool(same_rows and ours["decision"].equals(theirs["decision"])),
        "rejects_identical": bool(rejects[0].astype(str).equals(rejects[1].astype(str))),
    }


def measure_batch_scoring(
    model: BatchModel, rows: int = 1_000_000, spark_rows: int = 20_000, folder: Path | None = None
) -> dict[str, Any]:
    """What ``make bench`` reports for files: local rows/s on ``rows`` synthetic rows as Parquet and as
    CSV, and Spark (local[2]) parity on ``spark_rows``; ``spark_rows=0`` skips Spark."""
    with tempfile.TemporaryDirectory(prefix="credit-batch-bench-", dir=folder) as scratch:
        root = Path(scratch)
        figures: dict[str, Any] = {"model_version": model.version}
        for suffix in ("parquet", "csv"):
            source = synthetic_file(root / f"applications.{suffix}", rows)
            figures[f"local_{suffix}"] = fresh_process_throughput(model, source, root / f"out-{suffix}")
            source.unlink()
        if spark_rows:
            source = synthetic_file(root / "spark.csv", spark_rows, seed=1)
            figures["spark_parity"] = spark_parity(model, source, root / "parity")
        return figures


def render_files(files: dict[str, Any] | None, http_batch_share: float | None) -> list[str]:
    """make score-file's throughput, Spark's parity, and /score_batch against the in-process batch path."""
    lines = ["## Batch scoring (issue 15)", ""]
    if http_batch_share is not None:
        lines.append(f"- /score_batch x16 over HTTP: {http_batch_share:.1%} of the in-process batch rows/s "
                     "of this run (target >= 25 %).")  # fmt: skip
    if not files:
        return [*lines, "- make score-file: not measured (no @production model)", ""]
    for suffix in ("parquet", "csv"):
        local = files[f"local_{suffix}"]
        runs = ", ".join(f"{run:,}" for run in local.get("runs_rows_per_s", []))
        lines.append(f"- make score-file, {local.get('rows', 0):,} synthetic rows from {suffix}: "
                     f"{local['rows_per_s']:,} rows/s, {local.get('cpu_us_per_row')} us of CPU per row "
                     f"(median of fresh-process runs: {runs}; target >= 200,000).")  # fmt: skip
    parity = files.get("spark_parity")
    if parity:
        same, rejects = parity["same_decisions"], parity["rejects_identical"]
        lines.append(f"- Spark local[2] against the local engine on {parity['rows']:,} rows: largest "
                     f"probability difference {parity['max_abs_difference']}, same decisions {same}, "
                     f"identical rejects {rejects}.")  # fmt: skip
    return [*lines, ""]


if __name__ == "__main__":
    app = CommandApp(__doc__)
    app.command()(main)
    app()
