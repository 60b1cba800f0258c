"""Application data: the real application_train.csv when given, a synthetic look-alike otherwise."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from credit_scoring.data.loader import DataFileError, load_applications, write_applications
from credit_scoring.data.synthetic import generate_applications

if TYPE_CHECKING:
    from credit_scoring.settings import Settings

__all__ = [
    "DataFileError",
    "generate_applications",
    "load_applications",
    "load_training_frame",
    "write_applications",
    "write_synthetic_file",
]

DataSource = Literal["real", "synthetic"]
log = logging.getLogger(__name__)


def load_training_frame(settings: Settings) -> tuple[pd.DataFrame, DataSource]:
    """Training rows and where they come from: ``settings.data_path`` if set ("real"), else "synthetic".

    A real file is checked by ``load_applications`` (DataFileError on a bad file); synthetic rows are
    generated on the fly from ``settings.synthetic_rows`` and ``settings.seed`` (a second or two per 100k).
    """
    if settings.data_path is not None:
        log.info("loading %s", settings.data_path)
        return load_applications(settings.data_path), "real"
    log.info("generating %d synthetic rows (seed %d)", settings.synthetic_rows, settings.seed)
    return generate_applications(settings.synthetic_rows, seed=settings.seed), "synthetic"


def write_synthetic_file(n_rows: int, path: Path, seed: int, report: Callable[[str], None]) -> Path:
    """Generate ``n_rows`` applications and write them as application_train.csv, reporting progress."""
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a directory; give a file name such as {path / 'application_train.csv'}"
        )
    started = time.perf_counter()
    report(f"generating {n_rows:,} synthetic applications (seed {seed})")
    frame = generate_applications(n_rows, seed=seed)
    report(f"generated in {time.perf_counter() - started:.1f} s; default rate {frame['TARGET'].mean():.2%}")
    write_applications(
        frame, path, progress=lambda done, total: report(f"writing {path}: {done / total:.0%}")
    )
    size, elapsed = path.stat().st_size / 1e6, time.perf_counter() - started
    report(f"wrote {n_rows:,} rows x {frame.shape[1]} columns ({size:.1f} MB) in {elapsed:.1f} s")
    return path
