"""Run a monitor page headless with Streamlit's AppTest over a given data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

MONITOR_PAGES = Path(__file__).resolve().parents[2] / "monitor_app" / "pages"


def run_page(monkeypatch: pytest.MonkeyPatch, page: str, data_dir: Path) -> AppTest:
    """The page rendered once with CREDIT_DATA_DIR=data_dir; it must raise nothing."""
    monkeypatch.setenv("CREDIT_DATA_DIR", str(data_dir))
    app = AppTest.from_file(str(MONITOR_PAGES / page), default_timeout=120)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app
