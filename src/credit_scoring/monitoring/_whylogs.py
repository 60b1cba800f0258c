"""The single entry to whylogs: its patches (credit_scoring.patches) applied before and after import.

whylogs 1.6.4 is the last release and is unmaintained: it needs a numpy 2 alias and telemetry off
*before* it is first imported, so every module that uses whylogs imports it from here, never from
whylogs directly; this is the one module of the project with an import-time action.
"""

from __future__ import annotations

from credit_scoring.patches import patch_whylogs_float_split, prepare_whylogs_import

prepare_whylogs_import()

import whylogs as why  # noqa: E402
from whylogs.core import DatasetProfile, DatasetProfileView, DatasetSchema  # noqa: E402
from whylogs.core.metrics.metrics import MetricConfig  # noqa: E402
from whylogs.core.preprocessing import PreprocessedColumn  # noqa: E402

patch_whylogs_float_split()

__all__ = [
    "DatasetProfile",
    "DatasetProfileView",
    "DatasetSchema",
    "MetricConfig",
    "PreprocessedColumn",
    "why",
]
