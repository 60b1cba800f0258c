"""The drift report finds the reference profile of the model in use: Bento model first, then the registry."""

from __future__ import annotations

from pathlib import Path

import bentoml
import pytest

from credit_scoring.monitoring.job import UsageError, _bento_reference, _registry_reference, resolve_reference
from credit_scoring.monitoring.profiles import read_profile
from credit_scoring.schema import INPUT_COLUMNS
from credit_scoring.settings import Settings
from tests.support.registry import TinyRegistration

pytestmark = pytest.mark.integration


def _settings(tracking_uri: str) -> Settings:
    return Settings(MLFLOW_TRACKING_URI=tracking_uri)  # the field is read under its environment names


def test_registry_fallback_downloads_the_production_runs_reference(
    registered_model: TinyRegistration, tmp_path: Path
) -> None:
    settings = _settings(registered_model.tracking_uri)
    found = _registry_reference(settings, tmp_path / "cache")
    assert found is not None and f"version {registered_model.version}" in found.label
    assert set(INPUT_COLUMNS) <= set(read_profile(found.path).get_columns())


def test_bento_model_reference_comes_first(bento_model: bentoml.Model, tmp_path: Path) -> None:
    found = _bento_reference()
    assert found is not None and str(bento_model.tag) in found.label
    settings = _settings(f"sqlite:///{tmp_path / 'absent.db'}")
    assert resolve_reference(None, settings, tmp_path).path == found.path


def test_no_registry_and_no_path_is_a_usage_error(tmp_path: Path) -> None:
    settings = _settings(f"sqlite:///{tmp_path / 'absent.db'}")
    assert _registry_reference(settings, tmp_path) is None and not (tmp_path / "absent.db").exists()
    with pytest.raises(UsageError, match="no such file"):
        resolve_reference(tmp_path / "missing.bin", settings, tmp_path)
