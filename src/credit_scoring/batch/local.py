"""The local engine: a file scored chunk by chunk on this machine's cores, behind a progress bar."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from credit_scoring.batch.chunks import ChunkScorer, ScoredChunk, score_chunk
from credit_scoring.batch.files import Source, TableWriter, TextInNumbersError, reject_schema, score_schema
from credit_scoring.batch.model import BatchModel
from credit_scoring.batch.summary import Summary


def score_file_locally(
    source: Path,
    out: Path,
    rejects: Path,
    model: BatchModel,
    show_progress: bool = True,
    read_as_text: bool = False,
) -> Summary:
    """Score every row of ``source`` into ``out``; refused rows go to ``rejects`` with the API's reasons.

    A CSV is read with its number columns parsed by Arrow; if one holds text somewhere (rare), the file is
    read again with every cell as text (``read_as_text``, slower; as the Spark engine reads it)."""
    started = time.perf_counter()
    with arrow_for_chunks():
        try:
            summary = _score(Source(source, text=read_as_text), out, rejects, model, show_progress)
        except TextInNumbersError:
            summary = _score(Source(source, text=True), out, rejects, model, show_progress)
    summary.seconds = time.perf_counter() - started
    return summary


@contextmanager
def arrow_for_chunks() -> Iterator[None]:
    """Arrow set up for the run, then restored.

    The C library's allocator: Arrow's default (mimalloc) hands each chunk's memory back and faults it in
    again; reading cost 4.8-5.2 us per row instead of 2.3-2.7 (Parquet, 200,000 rows, measured here), and
    numpy reuses the freed memory too. One Arrow thread: the chunks already keep every core busy, and a
    second reader thread only competed with them (1,000,000 Parquet rows: 10.7 us of CPU per row
    instead of 11.0)."""
    pool, threads = pa.default_memory_pool(), pa.cpu_count()
    pa.set_memory_pool(pa.system_memory_pool())
    pa.set_cpu_count(1)
    try:
        yield
    finally:
        pa.set_memory_pool(pool)
        pa.set_cpu_count(threads)


def _score(source: Source, out: Path, rejects: Path, model: BatchModel, show: bool) -> Summary:
    score_writer = TableWriter(out, score_schema(source.id_type()), "output")
    reject_writer = TableWriter(rejects, reject_schema(source.id_type()), "rejects")
    try:
        summary = _score_chunks(source, model, show, (score_writer, reject_writer))
    except BaseException:
        score_writer.abort()
        reject_writer.abort()
        raise
    score_writer.commit()
    reject_writer.commit()
    summary.scores, summary.rejects = str(out), str(rejects)
    return summary


def _score_chunks(source: Source, model: BatchModel, show: bool, writers: tuple[TableWriter, ...]) -> Summary:
    """Chunks are scored on every core at once, each by one thread (Arrow, numpy and ONNX Runtime release
    the GIL), and written in file order; a few chunks in flight bound the memory."""
    workers = os.cpu_count() or 1
    scorer = ChunkScorer(model.scorer(threads=1).predict_proba, model.threshold, model.version)
    summary, in_flight = Summary("", ""), deque[tuple[Future[ScoredChunk], int, int]]()
    with ThreadPoolExecutor(workers) as pool, progress_bar(source.total, show) as advance:
        for chunk in source.chunks():
            rows = np.arange(summary.rows + 1, summary.rows + chunk.table.num_rows + 1)
            summary.rows += len(rows)
            in_flight.append((pool.submit(score_chunk, chunk.table, rows, scorer), chunk.done, summary.rows))
            while len(in_flight) > workers or (in_flight and in_flight[0][0].done()):
                _write(in_flight.popleft(), writers, summary, advance)
        while in_flight:
            _write(in_flight.popleft(), writers, summary, advance)
    return summary


def _write(
    item: tuple[Future[ScoredChunk], int, int],
    writers: tuple[TableWriter, ...],
    summary: Summary,
    advance: Callable[[int, int], None],
) -> None:
    future, done, rows = item
    scored = future.result()
    writers[0].write(scored.scores)
    writers[1].write(scored.rejects)
    summary.note(scored)
    advance(done, rows)


@contextmanager
def progress_bar(total: int, show: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; the callable takes how far the file is read and the rows done."""
    columns = (
        TextColumn("scoring"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), disable=not show) as bar:
        task = bar.add_task("scoring", total=total, rows=0)
        yield lambda done, rows: bar.update(task, completed=done, rows=rows)
