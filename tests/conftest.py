"""Test-wide isolation: no test touches the user's var/, MLflow server or BentoML store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# The tiny registered model, shared by the integration and end-to-end suites (built once per session).
pytest_plugins = ["tests.support.model_fixtures", "tests.support.postgres"]


def pytest_configure(config: pytest.Config) -> None:
    # Done before any test module is imported so settings read anywhere see the isolated paths.
    scratch = Path(tempfile.mkdtemp(prefix="credit-tests-"))
    os.environ["CREDIT_DATA_DIR"] = str(scratch / "var")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("CREDIT_API_KEY", None)
    os.environ["BENTOML_HOME"] = str(scratch / "bentoml")
    os.environ["WHYLOGS_NO_ANALYTICS"] = "1"
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    # pytest's tmp folders under this session's scratch: several sessions at once (worktrees on one
    # machine) share /tmp/pytest-of-<user>, and one session's clean-up there removed another's folders.
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(scratch))
