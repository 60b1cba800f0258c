"""whylogs profiles of tables of applications: build, write, read and merge (reference and production)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from pathlib import Path

import pandas as pd

from credit_scoring.monitoring._whylogs import (
    DatasetProfile,
    DatasetProfileView,
    DatasetSchema,
    MetricConfig,
    why,
)
from credit_scoring.schema import COLUMNS_BY_NAME

PROBABILITY_COLUMN = "probability"


def profile_frame_types(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with explicit dtypes: schema categories as strings, everything else as float64.

    whylogs picks its metrics from the pandas dtype; pandas 3 infers ``str``, ``Int64`` or ``object``
    depending on the source (CSV, JSON records), so without this cast the same column would be profiled
    with different metrics in the reference and in production, and object columns take a slow path.
    """
    typed: dict[str, pd.Series] = {}
    for name in frame.columns:
        spec = COLUMNS_BY_NAME.get(name)
        column = frame[name]
        if spec is not None and spec.kind == "category":
            typed[name] = column.astype("str").where(column.notna(), None).astype("str")
        else:
            typed[name] = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.DataFrame(typed, index=frame.index)


def profile_schema() -> DatasetSchema:
    """whylogs' standard metrics minus the unicode-range histograms, which drift analysis never reads.

    Creating those per string column is most of the cost of starting a profile (a deep copy each), which
    the request logger pays once per window.
    """
    return DatasetSchema(default_configs=MetricConfig(track_unicode_ranges=False))


def build_profile(frame: pd.DataFrame) -> DatasetProfileView:
    """A whylogs profile of every column of the frame (inputs, and e.g. ``probability`` or latencies)."""
    return why.log(pandas=profile_frame_types(frame), schema=profile_schema()).view()


def new_profile() -> DatasetProfile:
    """An empty, growing profile: :func:`track_frame` batches into it, ``.view()`` snapshots it."""
    return DatasetProfile(schema=profile_schema())


def track_frame(profile: DatasetProfile, frame: pd.DataFrame) -> None:
    """Add a batch of rows to a growing profile (cheaper than one profile per batch plus merges)."""
    profile.track(pandas=profile_frame_types(frame))


def write_profile(view: DatasetProfileView, path: Path) -> None:
    """Write a profile to one binary file (parents created), atomically so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    view.write(str(partial))
    partial.replace(path)


def read_profile(path: Path) -> DatasetProfileView:
    """Read a profile written by ``write_profile`` (or any whylogs ``.bin``)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no whylogs profile at {path}")
    return DatasetProfileView.read(str(path))


def merge_profiles(views: Iterable[DatasetProfileView]) -> DatasetProfileView:
    """One profile summarising all the given ones (whylogs sketches merge exactly across workers/windows)."""
    views = list(views)
    if not views:
        raise ValueError("merge_profiles needs at least one profile")
    return reduce(lambda left, right: left.merge(right), views)
