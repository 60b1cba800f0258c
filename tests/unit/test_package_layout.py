"""The Bento ships the product package and none of the tooling package (benchmarks, load tests, simulator)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pathspec import PathSpec

ROOT = Path(__file__).resolve().parents[2]


def shipped_sources() -> set[str]:
    """The repository's Python files that bentofile.yaml's include/exclude globs select (BentoML's matcher:
    gitwildmatch patterns on paths relative to the build context)."""
    config = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    include = PathSpec.from_lines("gitwildmatch", config["include"])
    exclude = PathSpec.from_lines("gitwildmatch", config.get("exclude", []))
    files = (path.relative_to(ROOT).as_posix() for path in (ROOT / "src").rglob("*.py"))
    return {name for name in files if include.match_file(name) and not exclude.match_file(name)}


def test_the_bento_ships_the_product_and_no_tooling() -> None:
    shipped = shipped_sources()
    assert {"src/credit_scoring/scoring.py", "src/credit_scoring/serving/launcher.py"} <= shipped
    assert not [name for name in shipped if name.startswith("src/credit_scoring_tools/")]
    tooling = ("bench", "loadtest", "simulation", "request_profile")
    assert not [name for name in shipped if any(word in Path(name).stem for word in tooling)]
    assert (ROOT / "src" / "credit_scoring_tools" / "simulation.py").is_file()  # the package exists
