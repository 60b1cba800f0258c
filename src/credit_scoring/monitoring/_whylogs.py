"""The single entry to whylogs: numpy 2 shim, telemetry off and a vectorised float path, before import.

whylogs 1.6.4 is the last release and is unmaintained: it references ``np.unicode_`` (removed in
numpy 2) at import time and sends usage analytics unless ``WHYLOGS_NO_ANALYTICS`` is set. Both must
happen *before* whylogs is first imported, so this is the one module of the project allowed an
import-time action (plus the float fast path below, patched once here); every module that uses
whylogs imports it from here, never from whylogs directly.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

if not hasattr(np, "unicode_"):
    np.unicode_ = np.str_  # type: ignore[attr-defined]
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")

import whylogs as why
from whylogs.core import DatasetProfile, DatasetProfileView, DatasetSchema
from whylogs.core.metrics.metrics import MetricConfig
from whylogs.core.preprocessing import PreprocessedColumn

_original_pandas_split = PreprocessedColumn._pandas_split


def _fast_pandas_split(
    self: PreprocessedColumn, series: pd.Series, parse_numeric_string: bool = False
) -> None:
    """Same counts as whylogs for float64 columns, with numpy instead of a Python lambda per value.

    whylogs 1.6.4 finds NaN and inf with ``Series.apply(lambda ...)``: 13 s for 100k rows x 121
    columns, almost all of it in those lambdas (the sketches themselves take 0.3 s). Profiling runs in
    the request logger's thread, so that time would also be stolen from the service through the GIL.
    The pinned, frozen release makes this narrow patch safe; other dtypes keep the original path.
    """
    if series is None or series.dtype != np.float64:
        _original_pandas_split(self, series, parse_numeric_string)
        return
    values = series.to_numpy()
    missing = np.isnan(values)
    self.null_count = int(missing.sum())
    self.nan_count = self.null_count
    floats = values[~missing]
    self.inf_count = int(np.isinf(floats).sum())
    self.numpy.floats = floats


PreprocessedColumn._pandas_split = _fast_pandas_split  # type: ignore[method-assign]

__all__ = [
    "DatasetProfile",
    "DatasetProfileView",
    "DatasetSchema",
    "MetricConfig",
    "PreprocessedColumn",
    "why",
]
