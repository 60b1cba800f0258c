"""MLflow helpers: tracking set-up, registration with lineage, alias resolution and cost-gated promotion."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from credit_scoring.cost import CostWeights, Evaluation, evaluate_scores
from credit_scoring.errors import ExitCode, UsageError
from credit_scoring.model_layout import EVALUATION_ARTIFACT
from credit_scoring.monitoring.challenger import (
    ChallengerSource,
    PairSummary,
    build_comparison,
    pair_evidence,
)
from credit_scoring.schema import TARGET_COLUMN
from credit_scoring.settings import Settings

THRESHOLD_TAG = "threshold"
# "passed" when the ONNX model logged with the version matched the pipeline (the service's default engine).
ONNX_PARITY_TAG = "onnx_parity"
ONNX_PARITY_PASSED = "passed"
# A champion trained on the same table with another seed saw part of the candidate's test rows; below this
# many rows held out by both runs, the candidate's whole test split is used (and the tag says so).
MIN_SHARED_ROWS = 500
LOCAL_SCHEMES = frozenset({"", "file", "sqlite"})
REGISTERED_MODEL_DESCRIPTION = (
    "Probability that a loan application defaults (Home Credit application_train columns). "
    "Refuse when probability >= the version's `threshold` tag, chosen to minimise 10 x missed defaults "
    "+ 1 x refused good clients. The alias `production` marks the served version."
)

Report = Callable[[str], None]


class RegistryError(UsageError, RuntimeError):
    """A registry request that cannot be satisfied; the message says why and what to do."""


class GateRefusal(RegistryError):
    """A version the gates refuse (ONNX parity, calibration): the job ran and said no, exit 1."""

    exit_code = ExitCode.ALERT


def configure_tracking(settings: Settings) -> str:
    """Point MLflow at the settings' store and return the experiment id (created with its artifact folder)."""
    uri = settings.tracking_uri
    mlflow.set_tracking_uri(uri)
    local = urlparse(uri).scheme in LOCAL_SCHEMES
    if local:
        _make_local_folders(uri, settings)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment is None:
        # A local store would otherwise put artifacts in ./mlruns of whatever folder the tool runs from.
        location = settings.artifact_location if local else None
        return client.create_experiment(settings.experiment_name, artifact_location=location)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def _make_local_folders(uri: str, settings: Settings) -> None:
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def register_version(
    model_uri: str, settings: Settings, tags: dict[str, str], description: str
) -> ModelVersion:
    """Register a logged model as a new version of ``settings.model_name`` with its lineage tags."""
    client = MlflowClient()
    try:
        client.get_registered_model(settings.model_name)
    except MlflowException:
        client.create_registered_model(settings.model_name, description=REGISTERED_MODEL_DESCRIPTION)
    version = mlflow.register_model(model_uri, settings.model_name, tags=tags)
    client.update_model_version(settings.model_name, version.version, description=description)
    return client.get_model_version(settings.model_name, version.version)


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version an alias points to now (as set by promotion or by hand in the UI), or None."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise


def get_version(client: MlflowClient, name: str, version: str | None) -> ModelVersion:
    """One version by number, or the newest when ``version`` is None; a clear error when absent."""
    if version:
        try:
            return client.get_model_version(name, str(version))
        except MlflowException as error:
            raise RegistryError(f"model {name!r} has no version {version}: {error.message}") from None
    versions = client.search_model_versions(f"name = '{name}'")
    if not versions:
        raise RegistryError(f"model {name!r} has no registered version yet; train one first (make train)")
    return max(versions, key=lambda found: int(found.version))


def version_threshold(version: ModelVersion) -> float:
    """The decision threshold stored on the version (tag ``threshold``)."""
    try:
        return float(version.tags[THRESHOLD_TAG])
    except (KeyError, ValueError):
        raise RegistryError(
            f"version {version.version} has no numeric '{THRESHOLD_TAG}' tag; set it in the MLflow UI or "
            "register the model with registry/train.py"
        ) from None


def load_version(name: str, version: str) -> object:
    """The fitted sklearn Pipeline of one version (pinned by number, so an alias move cannot interfere)."""
    return mlflow.sklearn.load_model(f"models:/{name}/{version}")


def evaluation_frame(run_id: str) -> pd.DataFrame:
    """The held-out test rows a training run logged (inputs and TARGET, original row positions as index)."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=EVALUATION_ARTIFACT, dst_path=folder
            )
        except (MlflowException, OSError) as error:
            raise RegistryError(f"run {run_id} has no {EVALUATION_ARTIFACT}: {error}") from None
        return pd.read_parquet(path)


def evaluate_version(version: ModelVersion, frame: pd.DataFrame, weights: CostWeights) -> Evaluation:
    """Business cost at the version's own threshold, and ROC-AUC, on the given labelled rows."""
    model = load_version(version.name, version.version)
    scores = np.asarray(model.predict_proba(frame.drop(columns=[TARGET_COLUMN])))[:, 1]
    return evaluate_scores(frame[TARGET_COLUMN].to_numpy(), scores, version_threshold(version), weights)


@dataclass(frozen=True)
class HeldOut:
    """The rows both versions are evaluated on, and a sentence saying where they come from."""

    frame: pd.DataFrame
    description: str


def shared_held_out(candidate: ModelVersion, champion: ModelVersion) -> HeldOut:
    """The candidate's test rows, narrowed to rows the champion never trained on when both used one table."""
    frame = evaluation_frame(candidate.run_id)
    base = f"test split of candidate run {candidate.run_id}"
    same_table = candidate.tags.get("data_sha256") == champion.tags.get("data_sha256")
    if not same_table or candidate.run_id == champion.run_id:
        return HeldOut(frame, f"{base} ({len(frame)} rows)")
    try:
        champion_rows = evaluation_frame(champion.run_id).index
    except RegistryError:
        return HeldOut(frame, f"{base} ({len(frame)} rows; champion's split unknown)")
    shared = frame.index.intersection(champion_rows)
    if shared.equals(frame.index) or len(shared) >= MIN_SHARED_ROWS:
        return HeldOut(frame.loc[shared], f"{base}, rows held out by both runs ({len(shared)} rows)")
    return HeldOut(frame, f"{base} ({len(frame)} rows; only {len(shared)} also held out by the champion)")


@dataclass(frozen=True)
class PromotionDecision:
    """What promotion concluded and why; ``promoted`` says whether the alias now points to the candidate."""

    candidate_version: str
    champion_version: str | None
    outcome: str  # first-production | promoted | forced | refused | already-production
    reason: str
    candidate: Evaluation | None = None
    champion: Evaluation | None = None

    @property
    def promoted(self) -> bool:
        return self.outcome in {"first-production", "promoted", "forced", "already-production"}


def is_not_worse(candidate_cost: float, champion_cost: float, tolerance: float) -> bool:
    """The promotion rule: the candidate's cost may exceed the champion's by a relative ``tolerance``."""
    return candidate_cost <= champion_cost * (1 + tolerance)


def promote(
    settings: Settings,
    version: str | None = None,
    tolerance: float | None = None,
    force: bool = False,
    report: Report = lambda message: None,
    shadow: ShadowRequirement | None = None,
) -> PromotionDecision:
    """Move the production alias to the candidate if it is calibrated (ECE at most
    ``settings.promotion_max_ece``), not worse than the champion on business cost and, when ``shadow``
    requires it, not worse on the live decisions it scored in shadow of that champion."""
    client = MlflowClient()
    name, alias = settings.model_name, settings.production_alias
    candidate = get_version(client, name, version)
    champion = version_by_alias(client, name, alias)
    tolerance = settings.promotion_tolerance if tolerance is None else tolerance
    weights = settings.cost_weights
    report(f"candidate: {name} version {candidate.version} (run {candidate.run_id})")
    if champion is not None and str(champion.version) == str(candidate.version):
        return PromotionDecision(
            str(candidate.version),
            str(champion.version),
            "already-production",
            f"version {candidate.version} is already @{alias}",
        )
    refusal = _onnx_refusal(client, candidate, champion, force, report)
    if refusal is not None:
        return refusal
    refusal = _calibration_refusal(client, candidate, champion, settings, force, report)
    if refusal is not None:
        return refusal
    if champion is None:
        if shadow is not None and shadow.min_decisions > 0:
            report("no champion to shadow: live evidence is not required for the first production model")
        return _promote_first(client, candidate, settings, weights, report)
    report(f"champion:  {name} version {champion.version} (@{alias})")
    decision = _compare(candidate, champion, tolerance, force, weights, report)
    if shadow is not None and shadow.min_decisions > 0:
        decision = _weigh_shadow(
            client, candidate, champion, decision, shadow, tolerance, force, weights, report
        )
    if decision.promoted:
        client.set_registered_model_alias(name, alias, candidate.version)
    return decision


def _onnx_refusal(
    client: MlflowClient,
    candidate: ModelVersion,
    champion: ModelVersion | None,
    force: bool,
    report: Report,
) -> PromotionDecision | None:
    """A refusal when the candidate has no ONNX model that passed parity (the service would not start)."""
    status = candidate.tags.get(ONNX_PARITY_TAG, "missing")
    if status == ONNX_PARITY_PASSED:
        return None
    problem = (
        f"tag {ONNX_PARITY_TAG}={status}: version {candidate.version} has no ONNX model that matched the "
        "pipeline, so the service cannot serve it on its default engine"
    )
    if force:
        report(f"warning: {problem}; promoted anyway (--force): serve it with CREDIT_SCORING_ENGINE=native")
        return None
    reason = f"{problem}; retrain it with registry/train.py, or promote with --force and serve it natively"
    decision = PromotionDecision(
        str(candidate.version), str(champion.version) if champion else None, "refused", reason
    )
    _record(client, candidate, decision, "not evaluated (ONNX parity)", 0.0)
    return decision


def calibration_check(
    candidate: ModelVersion, settings: Settings, report: Report
) -> tuple[Evaluation, pd.DataFrame, str | None]:
    """The candidate's evaluation on its test rows, those rows, and why its ECE is above the setting (or
    None): the gate both promotion and setting a challenger apply."""
    frame = evaluation_frame(candidate.run_id)
    evaluation = evaluate_version(candidate, frame, settings.cost_weights)
    limit = settings.promotion_max_ece
    report(
        f"calibration: ECE {evaluation.ece:.4f} on {len(frame)} test rows of the candidate (limit {limit:g})"
    )
    if evaluation.ece <= limit:
        return evaluation, frame, None
    problem = (
        f"version {candidate.version} is not calibrated: expected calibration error {evaluation.ece:.4f} > "
        f"{limit:g} (mean P(default) {evaluation.mean_probability:.2%} vs {evaluation.default_rate:.2%} "
        "observed)"
    )
    return evaluation, frame, problem


def _calibration_refusal(
    client: MlflowClient,
    candidate: ModelVersion,
    champion: ModelVersion | None,
    settings: Settings,
    force: bool,
    report: Report,
) -> PromotionDecision | None:
    """A refusal when the candidate's probabilities are not probabilities of default on its test rows
    (expected calibration error above the setting): the threshold and every estimate built on them lie."""
    evaluation, frame, problem = calibration_check(candidate, settings, report)
    if problem is None:
        return None
    if force:
        report(f"warning: {problem}; promoted anyway (--force)")
        return None
    reason = (
        f"{problem}; retrain it with registry/train.py (which calibrates), or raise CREDIT_PROMOTION_MAX_ECE "
        "if the test split is too small to measure it"
    )
    decision = PromotionDecision(
        str(candidate.version), str(champion.version) if champion else None, "refused", reason, evaluation
    )
    _record(client, candidate, decision, f"test split of run {candidate.run_id} ({len(frame)} rows)", 0.0)
    return decision


def _promote_first(
    client: MlflowClient, candidate: ModelVersion, settings: Settings, weights: CostWeights, report: Report
) -> PromotionDecision:
    report("no version holds @production yet: the candidate is promoted without comparison")
    held_out = evaluation_frame(candidate.run_id)
    # Evaluating anyway proves the version loads and scores before it is served, and records its cost.
    evaluation = evaluate_version(candidate, held_out, weights)
    reason = f"first production model (no champion); test cost {evaluation.business_cost:.4f}"
    decision = PromotionDecision(str(candidate.version), None, "first-production", reason, evaluation)
    _record(client, candidate, decision, f"test split of run {candidate.run_id} ({len(held_out)} rows)", 0.0)
    client.set_registered_model_alias(settings.model_name, settings.production_alias, candidate.version)
    return decision


def _compare(
    candidate: ModelVersion,
    champion: ModelVersion,
    tolerance: float,
    force: bool,
    weights: CostWeights,
    report: Report,
) -> PromotionDecision:
    held_out = shared_held_out(candidate, champion)
    report(f"evaluating both on the {held_out.description}")
    ours = evaluate_version(candidate, held_out.frame, weights)
    theirs = evaluate_version(champion, held_out.frame, weights)
    limit = theirs.business_cost * (1 + tolerance)
    figures = (
        f"candidate cost {ours.business_cost:.4f} (AUC {ours.roc_auc:.4f}) vs champion v{champion.version} "
        f"cost {theirs.business_cost:.4f} (AUC {theirs.roc_auc:.4f}); "
        f"limit {limit:.4f} at tolerance {tolerance:.1%}"
    )
    if is_not_worse(ours.business_cost, theirs.business_cost, tolerance):
        outcome, reason = "promoted", f"not worse on business cost: {figures}"
    elif force:
        outcome, reason = "forced", f"worse on business cost but forced by a human (--force): {figures}"
    else:
        outcome, reason = "refused", f"worse on business cost: {figures}"
    decision = PromotionDecision(str(candidate.version), str(champion.version), outcome, reason, ours, theirs)
    _record(MlflowClient(), candidate, decision, held_out.description, tolerance)
    return decision


@dataclass(frozen=True)
class ShadowRequirement:
    """Live evidence promotion asks for: at least ``min_decisions`` decisions the candidate scored as
    @challenger of the current champion, read from ``source`` (the request store's aggregates)."""

    min_decisions: int
    source: Callable[[], ChallengerSource]


def shadow_problem(evidence: PairSummary | None, minimum: int, tolerance: float) -> str | None:
    """Why the shadow evidence does not support promotion (too few decisions, costlier), or None."""
    n = evidence.n if evidence else 0
    if evidence is None or n < minimum:
        return f"only {n} shadow decisions as challenger of this champion, {minimum} required"
    ours, theirs = evidence.challenger, evidence.champion
    if not is_not_worse(ours.estimated_cost, theirs.estimated_cost, tolerance):
        return (
            f"estimated cost {ours.estimated_cost:.4f} on the live decisions is above the champion's "
            f"{theirs.estimated_cost:.4f}"
        )
    labelled = ours.realized_cost is not None and theirs.realized_cost is not None
    if labelled and not is_not_worse(ours.realized_cost, theirs.realized_cost, tolerance):
        return (
            f"realized cost {ours.realized_cost:.4f} on {evidence.n_outcomes} labelled live decisions is "
            f"above the champion's {theirs.realized_cost:.4f}"
        )
    return None


def shadow_figures(evidence: PairSummary | None) -> str:
    if evidence is None:
        return "no shadow decision"
    ours, theirs = evidence.challenger, evidence.champion
    return (
        f"{evidence.n} shadow decisions ({evidence.n_outcomes} with outcomes), agreement "
        f"{evidence.agreement:.1%}, estimated cost {ours.estimated_cost} vs champion "
        f"{theirs.estimated_cost}, realized {ours.realized_cost} vs {theirs.realized_cost}"
    )


def _weigh_shadow(
    client: MlflowClient,
    candidate: ModelVersion,
    champion: ModelVersion,
    decision: PromotionDecision,
    shadow: ShadowRequirement,
    tolerance: float,
    force: bool,
    weights: CostWeights,
    report: Report,
) -> PromotionDecision:
    """The offline decision, refused (or forced) when the live evidence does not support it; the evidence
    goes on the candidate version as tags either way."""
    comparison = build_comparison(shadow.source(), weights)
    evidence = pair_evidence(comparison, str(champion.version), str(candidate.version))
    report(f"shadow evidence vs champion v{champion.version}: {shadow_figures(evidence)}")
    _record_shadow(client, candidate, evidence, shadow.min_decisions)
    problem = shadow_problem(evidence, shadow.min_decisions, tolerance)
    if problem is None or decision.outcome == "refused":
        suffix = f"; live: {problem}" if problem else f"; live: {shadow_figures(evidence)}"
        return _with_reason(client, candidate, decision, decision.outcome, decision.reason + suffix)
    if force:
        return _with_reason(client, candidate, decision, "forced", f"forced despite live evidence: {problem}")
    advice = (
        f"set it as challenger (make challenger VERSION={candidate.version}), rebuild and serve (make build "
        "serve) until enough live decisions are scored, then promote again; or lower --min-shadow"
    )
    reason = f"live evidence: {problem} ({shadow_figures(evidence)}); {advice}"
    return _with_reason(client, candidate, decision, "refused", reason)


def _with_reason(
    client: MlflowClient, candidate: ModelVersion, decision: PromotionDecision, outcome: str, reason: str
) -> PromotionDecision:
    """The decision with its final outcome and reason, and the version's tags saying so."""
    final = replace(decision, outcome=outcome, reason=reason)
    tags = {"promotion_decision": outcome, "promotion_reason": reason,
            "promotion_forced": str(outcome == "forced").lower()}  # fmt: skip
    for key, value in tags.items():
        client.set_model_version_tag(candidate.name, candidate.version, key, value)
    return final


def _record_shadow(
    client: MlflowClient, candidate: ModelVersion, evidence: PairSummary | None, minimum: int
) -> None:
    """The live evidence on the candidate version, beside the offline comparison's tags."""
    sides = {"challenger": evidence.challenger, "champion": evidence.champion} if evidence else {}
    tags = {
        "shadow_decisions": str(evidence.n if evidence else 0),
        "shadow_outcomes": str(evidence.n_outcomes if evidence else 0),
        "shadow_agreement": _text(evidence.agreement if evidence else None),
        "shadow_min_decisions": str(minimum),
        "shadow_evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for role in ("challenger", "champion"):
        figures = sides.get(role)
        tags[f"shadow_estimated_cost_{role}"] = _text(figures.estimated_cost if figures else None)
        tags[f"shadow_realized_cost_{role}"] = _text(figures.realized_cost if figures else None)
    for key, value in tags.items():
        client.set_model_version_tag(candidate.name, candidate.version, key, value)


def _text(value: float | None) -> str:
    return "none" if value is None else f"{value:.6f}"


def _record(
    client: MlflowClient,
    candidate: ModelVersion,
    decision: PromotionDecision,
    evaluated_on: str,
    tolerance: float,
) -> None:
    """Keep the comparison on the candidate version, where the UI shows it next to the alias."""
    tags = {
        "promotion_decision": decision.outcome,
        "promotion_reason": decision.reason,
        "compared_with_version": decision.champion_version or "none",
        "candidate_cost": _figure(decision.candidate, "business_cost"),
        "champion_cost": _figure(decision.champion, "business_cost"),
        "candidate_auc": _figure(decision.candidate, "roc_auc"),
        "champion_auc": _figure(decision.champion, "roc_auc"),
        "candidate_ece": _figure(decision.candidate, "ece"),
        "promotion_tolerance": str(tolerance),
        "promotion_forced": str(decision.outcome == "forced").lower(),
        "evaluated_on": evaluated_on,
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for key, value in tags.items():
        client.set_model_version_tag(candidate.name, candidate.version, key, value)


def _figure(evaluation: Evaluation | None, field: str) -> str:
    return "none" if evaluation is None else f"{getattr(evaluation, field):.6f}"


def store_evidence(store: str | None) -> Callable[[], ChallengerSource]:
    """The request store's champion/challenger aggregates (``--store``, else the service's settings),
    opened only when promotion asks for live evidence."""

    def source() -> ChallengerSource:
        from credit_scoring.recording.challenger_queries import StoreChallenger
        from credit_scoring.recording.store import open_existing_store, store_settings
        from credit_scoring.settings import get_monitoring_settings

        return StoreChallenger(open_existing_store(store_settings(get_monitoring_settings(), store)))

    return source


def run_promotion_job(
    settings: Settings,
    version: str | None,
    tolerance: float | None,
    force: bool,
    report: Report,
    shadow: ShadowRequirement | None = None,
) -> int:
    """Promotion for the command line: messages for every outcome; exit 1 when refused (a RegistryError,
    exit 2, when the request cannot be satisfied)."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    decision = promote(settings, version or None, tolerance, force, report, shadow)
    _record_in_launching_run(decision)
    if not decision.promoted:
        print(
            f"refused: version {decision.candidate_version} stays out of production; {decision.reason}",
            file=sys.stderr,
        )
        return ExitCode.ALERT
    report(f"{decision.outcome}: {decision.reason}")
    report(f"{settings.production_model_uri} -> version {decision.candidate_version}")
    return ExitCode.OK


def set_challenger(settings: Settings, version: str | None, report: Report) -> ModelVersion:
    """Point @challenger at a version after the gates promotion applies first (an ONNX model that passed
    parity, ECE at most the setting); @production is never touched. A RegistryError says why not."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    client, name = MlflowClient(), settings.model_name
    candidate = get_version(client, name, version)
    champion = version_by_alias(client, name, settings.production_alias)
    report(f"candidate challenger: {name} version {candidate.version} (run {candidate.run_id})")
    if champion is not None and str(champion.version) == str(candidate.version):
        raise RegistryError(
            f"version {candidate.version} is @{settings.production_alias}: a model cannot shadow itself; "
            "pick another version"
        )
    if candidate.tags.get(ONNX_PARITY_TAG) != ONNX_PARITY_PASSED:
        raise GateRefusal(
            f"version {candidate.version} has no ONNX model that passed parity (tag {ONNX_PARITY_TAG}): the "
            "service could not score it in shadow; retrain it with registry/train.py"
        )
    _, _, problem = calibration_check(candidate, settings, report)
    if problem is not None:
        raise GateRefusal(f"{problem}; retrain it with registry/train.py (which calibrates)")
    client.set_registered_model_alias(name, settings.challenger_alias, candidate.version)
    client.set_model_version_tag(name, candidate.version, "challenger_since",
                                 datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
    return client.get_model_version(name, candidate.version)


def clear_challenger(settings: Settings) -> str | None:
    """Remove @challenger (the next build packs no shadow model); the version it pointed to, or None."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient()
    current = version_by_alias(client, settings.model_name, settings.challenger_alias)
    if current is not None:
        client.delete_registered_model_alias(settings.model_name, settings.challenger_alias)
    return None if current is None else str(current.version)


# MLflow 3's server also starts a pool of background job workers (GenAI evaluation jobs), unused here: they
# slow the start-up and outlive the server when it is killed.
UI_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def _record_in_launching_run(decision: PromotionDecision) -> None:
    """Under `mlflow run . -e promote`, the run MLflow opened for the job records the decision as well."""
    if not os.environ.get("MLFLOW_RUN_ID"):
        return
    with mlflow.start_run():
        mlflow.set_tags(
            {
                "promotion_decision": decision.outcome,
                "candidate_version": decision.candidate_version,
                "compared_with_version": decision.champion_version or "none",
            }
        )
        for role, evaluation in (("candidate", decision.candidate), ("champion", decision.champion)):
            if evaluation is not None:
                mlflow.log_metrics(
                    {f"{role}_cost": evaluation.business_cost, f"{role}_auc": evaluation.roc_auc}
                )


def ui_command(settings: Settings, host: str, port: int) -> list[str]:
    """The ``mlflow server`` command serving the settings' local store (runs, registry, artifacts)."""
    uri = settings.tracking_uri
    if urlparse(uri).scheme not in LOCAL_SCHEMES:
        raise RegistryError(f"MLFLOW_TRACKING_URI is a server already ({uri}): open it in a browser instead")
    configure_tracking(settings)  # creates the folders, the store and the experiment on a fresh machine
    return [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        settings.artifact_location,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",  # one user browsing a local store: more workers only cost memory
    ]
