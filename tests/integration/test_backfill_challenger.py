"""The backfill with a @challenger: its history carries the challenger's figures, as shadow scoring stores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from credit_scoring.batch.model import challenger_model, production_model
from credit_scoring.cost import CostWeights
from credit_scoring.monitoring.challenger import build_comparison
from credit_scoring.recording.challenger_queries import StoreChallenger
from credit_scoring.recording.store import ParquetStore
from credit_scoring.settings import Settings
from credit_scoring_tools.backfill import BackfillPlan, BackfillTarget, run_backfill
from tests.support.registry import MODEL_NAME, register_tiny_model, scratch_store

pytestmark = pytest.mark.integration

END = datetime(2026, 3, 11, tzinfo=UTC)
DAYS, PER_DAY = 2, 800
SHADOW_COLUMNS = ["challenger_version", "challenger_probability", "challenger_decision"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A champion (@production) and a challenger trained on other rows with another threshold."""
    uri = scratch_store(tmp_path_factory.mktemp("backfill-registry"))
    register_tiny_model(uri, seed=3, threshold=0.3)
    challenger = register_tiny_model(uri, seed=8, threshold=0.25, promote=False)
    settings = Settings(MLFLOW_TRACKING_URI=uri)
    MlflowClient(uri).set_registered_model_alias(MODEL_NAME, settings.challenger_alias, challenger.version)
    return settings


def _backfill(settings: Settings, root: Path, with_challenger: bool) -> ParquetStore:
    store = ParquetStore(root / "store")
    target = BackfillTarget(root / "journal", store, root / "profiles", b"test-key")
    shadow = challenger_model(settings) if with_challenger else None
    run_backfill(BackfillPlan(DAYS, PER_DAY, END, seed=5), production_model(settings), target, print, shadow)
    return store


def test_every_scored_record_carries_the_challengers_own_figures(registry: Settings, tmp_path: Path) -> None:
    challenger = challenger_model(registry)
    store = _backfill(registry, tmp_path, with_challenger=True)
    frame = store.records(None, None, ["status", "model_version", "probability", *SHADOW_COLUMNS])
    scored, failed = frame[frame["status"] == 200], frame[frame["status"] != 200]
    assert len(scored) > 0.9 * DAYS * PER_DAY and len(failed) > 0
    assert (scored["challenger_version"] == challenger.version).all()
    assert (scored["model_version"] != challenger.version).all()
    expected = np.where(scored["challenger_probability"] >= challenger.threshold, "refuse", "grant")
    assert (scored["challenger_decision"].to_numpy() == expected).all()
    assert not np.allclose(scored["challenger_probability"], scored["probability"])
    assert failed[SHADOW_COLUMNS].isna().all().all()  # a refused request has no shadow figures
    comparison = build_comparison(StoreChallenger(store), CostWeights())
    assert comparison.current.n == len(scored) and 0.5 < comparison.current.agreement < 1.0


def test_without_a_challenger_the_history_has_none(registry: Settings, tmp_path: Path) -> None:
    store = _backfill(registry, tmp_path, with_challenger=False)
    frame = store.records(None, None, SHADOW_COLUMNS)
    assert len(frame) == DAYS * PER_DAY and frame[SHADOW_COLUMNS].isna().all().all()
    cleared = registry.model_copy(update={"challenger_alias": "nobody"})
    assert challenger_model(cleared) is None
