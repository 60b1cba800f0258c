"""Promotion on live evidence and setting @challenger, on a real MLflow registry and a real request store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow import MlflowClient

from credit_scoring.data.synthetic import generate_applications
from credit_scoring.recording.challenger_queries import StoreChallenger
from credit_scoring.recording.outcomes import load_outcomes
from credit_scoring.recording.store import ParquetStore
from credit_scoring.registry import (
    GateRefusal,
    RegistryError,
    ShadowRequirement,
    clear_challenger,
    configure_tracking,
    promote,
    set_challenger,
    version_by_alias,
)
from credit_scoring.settings import Settings, get_settings
from credit_scoring.training.train import TrainingData, TrainingOutcome, train
from tests.support.challenger import shadowed_decisions, shadowed_records
from tests.support.outcomes import KEY, outcome_file_frame
from tests.support.recording import write_records

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FAST = {"n_estimators": 150, "learning_rate": 0.1, "n_jobs": 1}
MIN_SHADOW = 200


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("shadow-promotion")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        patch.setenv("CREDIT_DATA_DIR", str(root / "var"))
        patch.setenv("CREDIT_PROMOTION_MAX_ECE", "0.06")  # 800 test rows: sampling noise alone is ~0.02
        settings = get_settings()
        configure_tracking(settings)
        yield settings


@pytest.fixture(scope="module")
def versions(settings: Settings) -> tuple[TrainingOutcome, TrainingOutcome]:
    """Champion and candidate trained alike (the same model): offline they tie, so live evidence decides."""
    data = TrainingData(generate_applications(4000, seed=5), "synthetic", {"synthetic_rows": 4000})
    return train(data, settings, overrides=FAST), train(data, settings, overrides=FAST)


def _evidence(folder: Path, champion: str, candidate: str, challenger_cost: str, count: int = 600) -> Path:
    """A store holding ``count`` live decisions ``candidate`` scored in shadow of ``champion``, with outcomes:
    "estimated-worse", the challenger grants everyone; "realized-worse", it grants the champion's refusals
    with a low probability (cheaper on paper) and they all default; else both decide alike."""
    frame = shadowed_decisions(count, seed=21, shadow_share=1.0).assign(version=champion)
    frame["challenger_probability"] = frame["probability"]
    frame["challenger_granted"] = frame["granted"]
    if challenger_cost == "estimated-worse":
        frame["challenger_granted"] = True
    if challenger_cost == "realized-worse":
        refused = ~frame["granted"]
        frame.loc[refused, ["challenger_probability", "challenger_granted", "target"]] = [0.01, True, 1]
    records = [replace(r, challenger_version=candidate) for r in shadowed_records(frame)]
    store = ParquetStore(folder / "store")
    write_records(store, records)
    load_outcomes(store, outcome_file_frame(frame), KEY)
    return folder / "store"


def _tags(settings: Settings, version: str) -> dict[str, str]:
    return MlflowClient().get_model_version(settings.model_name, version).tags


def _crown(settings: Settings, version: str) -> None:
    MlflowClient().set_registered_model_alias(settings.model_name, settings.production_alias, version)


def _production(settings: Settings) -> str:
    return str(version_by_alias(MlflowClient(), settings.model_name, settings.production_alias).version)


def _shadow(store: Path, minimum: int = MIN_SHADOW) -> ShadowRequirement:
    return ShadowRequirement(minimum, lambda: StoreChallenger(ParquetStore(store)))


def test_without_enough_shadow_decisions_promotion_is_refused_and_says_what_to_do(
    settings: Settings, versions, tmp_path: Path
) -> None:
    champion, candidate = versions
    _crown(settings, champion.version)
    store = _evidence(tmp_path, champion.version, candidate.version, "alike", count=50)
    refused = promote(settings, version=candidate.version, shadow=_shadow(store))
    assert refused.outcome == "refused" and _production(settings) == champion.version
    assert f"only 50 shadow decisions as challenger of this champion, {MIN_SHADOW} required" in refused.reason
    assert f"make challenger VERSION={candidate.version}" in refused.reason
    tags = _tags(settings, candidate.version)
    assert (tags["shadow_decisions"], tags["shadow_min_decisions"]) == ("50", str(MIN_SHADOW))
    assert tags["promotion_decision"] == "refused" and tags["compared_with_version"] == champion.version


def test_a_challenger_costlier_on_live_decisions_is_refused_with_the_figures(
    settings: Settings, versions, tmp_path: Path
) -> None:
    champion, candidate = versions
    _crown(settings, champion.version)
    store = _evidence(tmp_path, champion.version, candidate.version, "estimated-worse")
    refused = promote(settings, version=candidate.version, shadow=_shadow(store))
    assert refused.outcome == "refused" and "estimated cost" in refused.reason
    tags = _tags(settings, candidate.version)
    assert float(tags["shadow_estimated_cost_challenger"]) > float(tags["shadow_estimated_cost_champion"])
    assert tags["shadow_decisions"] == "600" and float(tags["shadow_agreement"]) < 1.0
    forced = promote(settings, version=candidate.version, force=True, shadow=_shadow(store))
    assert forced.outcome == "forced" and _production(settings) == candidate.version
    assert _tags(settings, candidate.version)["promotion_forced"] == "true"


def test_realized_cost_refuses_once_outcomes_show_the_challenger_worse(
    settings: Settings, versions, tmp_path: Path
) -> None:
    champion, candidate = versions
    _crown(settings, champion.version)
    store = _evidence(tmp_path, champion.version, candidate.version, "realized-worse")
    refused = promote(settings, version=candidate.version, shadow=_shadow(store))
    assert refused.outcome == "refused" and "realized cost" in refused.reason, refused.reason
    tags = _tags(settings, candidate.version)
    assert float(tags["shadow_realized_cost_challenger"]) > float(tags["shadow_realized_cost_champion"])


def test_enough_live_evidence_not_worse_promotes_and_is_recorded(
    settings: Settings, versions, tmp_path: Path
) -> None:
    champion, candidate = versions
    _crown(settings, champion.version)
    store = _evidence(tmp_path, champion.version, candidate.version, "alike")
    promoted = promote(settings, version=candidate.version, shadow=_shadow(store))
    assert promoted.outcome == "promoted" and _production(settings) == candidate.version, promoted.reason
    tags = _tags(settings, candidate.version)
    assert tags["shadow_decisions"] == "600" and float(tags["shadow_agreement"]) == 1.0
    assert tags["shadow_realized_cost_challenger"] == tags["shadow_realized_cost_champion"] != "none"
    assert "candidate_cost" in tags and "600 shadow decisions" in tags["promotion_reason"]


def test_the_promote_cli_reads_the_store_and_exits_1_with_the_figures(
    settings: Settings, versions, tmp_path: Path
) -> None:
    champion, candidate = versions
    _crown(settings, champion.version)
    store = _evidence(tmp_path, champion.version, candidate.version, "estimated-worse")
    command = [sys.executable, "registry/promote.py", "--version", candidate.version, "--min-shadow", "100",
               "--store", str(store)]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ), cwd=REPO, timeout=300
    )
    assert done.returncode == 1, done.stderr
    assert "refused" in done.stderr and "600 shadow decisions" in done.stderr
    assert "shadow evidence vs champion" in done.stdout
    env = {**os.environ, "CREDIT_PROMOTION_MIN_SHADOW_DECISIONS": "1000"}
    setting = subprocess.run([*command[:4], "--store", str(store)], capture_output=True, text=True, env=env,
                             cwd=REPO, timeout=300)  # fmt: skip
    assert setting.returncode == 1 and "1000 required" in setting.stderr
    assert _production(settings) == champion.version


def test_setting_the_challenger_passes_the_gates_and_never_moves_production(
    settings: Settings, versions
) -> None:
    champion, candidate = versions
    _crown(settings, champion.version)
    chosen = set_challenger(settings, candidate.version, lambda message: None)
    client = MlflowClient()
    assert str(version_by_alias(client, settings.model_name, settings.challenger_alias).version) == str(
        chosen.version
    ) == candidate.version  # fmt: skip
    assert _production(settings) == champion.version
    with pytest.raises(RegistryError, match="cannot shadow itself"):
        set_challenger(settings, champion.version, lambda message: None)
    strict = settings.model_copy(update={"promotion_max_ece": 1e-6})
    with pytest.raises(GateRefusal, match="not calibrated"):
        set_challenger(strict, candidate.version, lambda message: None)
    assert clear_challenger(settings) == candidate.version
    assert version_by_alias(client, settings.model_name, settings.challenger_alias) is None


def test_the_challenger_cli_sets_clears_and_refuses(settings: Settings, versions) -> None:
    champion, candidate = versions
    _crown(settings, champion.version)

    def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "registry/challenger.py", *args]
        return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, cwd=REPO,
                              timeout=300)  # fmt: skip

    done = cli("--version", candidate.version)
    assert done.returncode == 0 and "@challenger -> version" in done.stdout, done.stderr
    assert "calibration: ECE" in done.stdout
    refused = cli("--version", candidate.version, CREDIT_PROMOTION_MAX_ECE="0.000001")
    assert refused.returncode == 1 and "not calibrated" in refused.stderr
    itself = cli("--version", champion.version)
    assert itself.returncode == 2 and "cannot shadow itself" in itself.stderr
    assert "Traceback" not in itself.stderr + refused.stderr
    cleared = cli("--clear")
    assert cleared.returncode == 0 and f"was version {candidate.version}" in cleared.stdout
    assert _production(settings) == champion.version
    shown = subprocess.run([sys.executable, "registry/challenger.py", "--help"], capture_output=True,
                           text=True, cwd=REPO, check=True).stdout  # fmt: skip
    assert "--version" in shown and "--clear" in shown
