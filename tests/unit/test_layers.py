"""The import layers of pyproject's [tool.importlinter] hold: nothing imports upwards, nor the tooling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold() -> None:
    command = Path(sys.executable).with_name("lint-imports")  # installed beside this interpreter
    done = subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken" in done.stdout
