"""Start the Streamlit monitor with the analysis libraries already imported (`streamlit run` options pass
through, e.g. `--server.port 8501`): the first visitor then does not wait for whylogs and pandas to load."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
PRELOADED = ("credit_scoring.monitoring.dashboard", "credit_scoring.monitoring.plots",
             "credit_scoring.recording.store", "altair", "matplotlib.pyplot")  # fmt: skip


def main() -> None:
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__)
        return
    from streamlit.web import cli

    # Imported before the server starts: the page script finds them loaded (2-3 s of a first render).
    for module in PRELOADED:
        importlib.import_module(module)
    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
