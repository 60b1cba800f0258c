"""One training run end to end: check, split, fit, choose the threshold, beat the baseline, log, register."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import lightgbm
import mlflow
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from credit_scoring.cost import (
    ECE_BINS,
    CostWeights,
    Evaluation,
    best_threshold,
    cost_curve,
    evaluate_scores,
)
from credit_scoring.fastpath.export import OnnxExport, export_onnx
from credit_scoring.fastpath.onnx_export import classifier_of
from credit_scoring.features import ENGINEERED_FEATURES, FEATURE_NAMES, FeatureBuilder
from credit_scoring.model_layout import (
    EVALUATION_ARTIFACT,
    FEATURES_ARTIFACT,
    MODEL_NAME_IN_RUN,
    REFERENCE_PROFILE_ARTIFACT,
)
from credit_scoring.monitoring.profiles import (
    PROBABILITY_COLUMN,
    build_profile,
    merge_profiles,
    write_profile,
)
from credit_scoring.registry import ONNX_PARITY_PASSED, ONNX_PARITY_TAG, configure_tracking, register_version
from credit_scoring.schema import INPUT_COLUMNS, TARGET_COLUMN, example_application
from credit_scoring.settings import Settings
from credit_scoring.training import plots
from credit_scoring.training.calibrate import (
    CalibrationChoice,
    calibrated_pipeline,
    choose_calibrator,
    raw_scores,
)
from credit_scoring.training.dataset import (
    Split,
    check_training_frame,
    data_sha256,
    evaluation_table,
    inputs,
    split_frame,
)
from credit_scoring.training.model import (
    DECREASING_FEATURES,
    EARLY_STOPPING_ROUNDS,
    build_baseline,
    build_model,
    classifier_params,
    model_signature,
)

Report = Callable[[str], None]
CALIBRATION_FIGURES = ("roc_auc", "brier", "log_loss", "ece", "mean_probability")
BASELINE_DESCRIPTION = "logistic regression on the same features (median-imputed + missing flags, scaled)"
# Pinned in the logged model so `mlflow models` tooling rebuilds the same stack; the credit_scoring
# package itself must be importable where the model is loaded (it holds FeatureBuilder).
MODEL_REQUIREMENTS = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "cloudpickle")


@dataclass(frozen=True)
class TrainingData:
    """The table to learn from, whether it is real or synthetic, and how to obtain it again."""

    frame: pd.DataFrame
    source: str  # "real" or "synthetic"
    origin: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"path": ...} or {"rows": .., "seed": ..}


@dataclass(frozen=True)
class Scored:
    """One model's decisions: threshold chosen on validation, evaluated on validation and test."""

    threshold: float
    validation_scores: np.ndarray
    test_scores: np.ndarray
    validation: Evaluation
    test: Evaluation


@dataclass(frozen=True)
class TrainingOutcome:
    """What a run produced, for the CLI summary and for tests (``uncalibrated``: the trees' own scores)."""

    run_id: str
    experiment_id: str
    model_uri: str
    version: str | None
    model: Scored
    baseline: Scored
    uncalibrated: Scored
    calibration: CalibrationChoice
    data_sha256: str
    rows: int
    best_iteration: int
    fit_seconds: float


def train(
    data: TrainingData,
    settings: Settings,
    *,
    register: bool = True,
    overrides: Mapping[str, Any] | None = None,
    report: Report = lambda message: None,
) -> TrainingOutcome:
    """Train the LightGBM pipeline and its baseline, track everything in MLflow and register the model."""
    report(f"checking {len(data.frame):,} {data.source} rows against the applicant schema")
    check_training_frame(data.frame)
    fingerprint = data_sha256(data.frame)
    split = split_frame(data.frame, settings.test_fraction, settings.validation_fraction, settings.seed)
    report(
        f"split (seed {settings.seed}): {len(split.train):,} train / {len(split.validation):,} validation "
        f"/ {len(split.test):,} test, default rate {data.frame[TARGET_COLUMN].mean():.2%}"
    )
    params = classifier_params(overrides, settings.seed)
    started = time.perf_counter()
    trees = fit_model(split, params, report)
    fit_seconds = time.perf_counter() - started
    model, calibration = calibrate(trees, split, settings.seed, report)
    report("fitting the baseline: " + BASELINE_DESCRIPTION)
    baseline = build_baseline(settings.seed).fit(inputs(split.train), split.train[TARGET_COLUMN])
    weights = settings.cost_weights
    report("choosing thresholds on validation and evaluating on test")
    scored, scored_baseline = score(model, split, weights), score(baseline, split, weights)
    run = _RunRecord(
        data, settings, split, fingerprint, params, model, scored, scored_baseline, fit_seconds,
        score(trees, split, weights), calibration,
    )  # fmt: skip
    return log_and_register(run, register, report)


def calibrate(trees: Pipeline, split: Split, seed: int, report: Report) -> tuple[Pipeline, CalibrationChoice]:
    """The calibrator fitted on the validation rows, which the trees never fitted (they only chose how many
    trees to keep, on ranking), so the served probability is a probability of default."""
    report(f"calibrating on the {len(split.validation):,} validation rows (sigmoid or isotonic)")
    raw = raw_scores(trees, inputs(split.validation))
    choice = choose_calibrator(raw, split.validation[TARGET_COLUMN].to_numpy(), seed)
    report(f"  {choice.reason}")
    return calibrated_pipeline(trees, choice.calibrator), choice


def fit_model(split: Split, params: Mapping[str, Any], report: Report) -> Pipeline:
    """Fit the pipeline with early stopping on the validation split, reporting progress every 50 trees."""
    model = build_model(params)
    validation_features = FeatureBuilder().transform(inputs(split.validation))
    report(f"fitting LightGBM (up to {params['n_estimators']} trees, early stopping on validation AUC)")
    model.fit(
        inputs(split.train),
        split.train[TARGET_COLUMN],
        classifier__eval_X=(validation_features,),
        classifier__eval_y=(split.validation[TARGET_COLUMN],),
        classifier__eval_names=["validation"],
        classifier__callbacks=[
            lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False),
            _progress(report),
        ],
    )
    report(f"  kept {best_iteration(model)} trees")
    return model


def _progress(report: Report, every: int = 50) -> Callable[[Any], None]:
    def callback(env: Any) -> None:
        if (env.iteration + 1) % every == 0:
            figures = ", ".join(f"{metric} {value:.4f}" for _, metric, value, _ in env.evaluation_result_list)
            report(f"  tree {env.iteration + 1}/{env.end_iteration}: validation {figures}")

    return callback


def best_iteration(model: Pipeline) -> int:
    classifier = classifier_of(model)
    return int(classifier.best_iteration_ or classifier.n_estimators_)


def score(model: Pipeline, split: Split, weights: CostWeights) -> Scored:
    """Scores on validation and test, the cost-minimising threshold from validation, both evaluations."""
    validation_scores = model.predict_proba(inputs(split.validation))[:, 1]
    test_scores = model.predict_proba(inputs(split.test))[:, 1]
    validation_labels = split.validation[TARGET_COLUMN].to_numpy()
    threshold = best_threshold(validation_labels, validation_scores, weights)
    return Scored(
        threshold=threshold,
        validation_scores=validation_scores,
        test_scores=test_scores,
        validation=evaluate_scores(validation_labels, validation_scores, threshold, weights),
        test=evaluate_scores(split.test[TARGET_COLUMN].to_numpy(), test_scores, threshold, weights),
    )


@dataclass(frozen=True)
class _RunRecord:
    """Everything a run logs, gathered so the logging helpers take one argument."""

    data: TrainingData
    settings: Settings
    split: Split
    sha256: str
    params: Mapping[str, Any]
    model: Pipeline
    scored: Scored
    baseline: Scored
    fit_seconds: float
    uncalibrated: Scored
    calibration: CalibrationChoice


def log_and_register(run: _RunRecord, register: bool, report: Report) -> TrainingOutcome:
    """Log the run (params, lineage, metrics, plots, data, profile, model) then register the model."""
    report(f"logging to MLflow at {run.settings.tracking_uri}")
    experiment_id = configure_tracking(run.settings)
    commit = git_commit()
    with mlflow.start_run(experiment_id=experiment_id, description=run_summary(run)) as active:
        mlflow.set_tags(lineage_tags(run, commit))
        mlflow.log_params(run_params(run))
        mlflow.log_metrics(run_metrics(run))
        log_plots(run)
        log_tables(run, report)
        exported = log_onnx_parity(run, report)
        model_uri = log_model(run, exported).model_uri
    version = None
    if register:
        tags = {**version_tags(run, commit, active.info.run_id), ONNX_PARITY_TAG: parity_status(exported)}
        registered = register_version(model_uri, run.settings, tags, run_summary(run, commit))
        version = str(registered.version)  # MLflow returns an int here and a str elsewhere
        report(f"registered {run.settings.model_name} version {version}")
    return TrainingOutcome(
        run_id=active.info.run_id,
        experiment_id=active.info.experiment_id,  # differs from ours when `mlflow run` opened the run
        model_uri=model_uri,
        version=version,
        model=run.scored,
        baseline=run.baseline,
        uncalibrated=run.uncalibrated,
        calibration=run.calibration,
        data_sha256=run.sha256,
        rows=len(run.data.frame),
        best_iteration=best_iteration(run.model),
        fit_seconds=run.fit_seconds,
    )


def git_commit() -> str:
    """The commit the code was trained from (``+dirty`` when tracked files changed), or ``unknown``."""
    folder = Path(__file__).resolve().parent
    try:
        commit = _git(folder, "rev-parse", "HEAD")
        changed = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if changed else "")


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


def lineage_tags(run: _RunRecord, commit: str) -> dict[str, str]:
    return {"data_sha256": run.sha256, "data_source": run.data.source, "git_commit": commit}


def run_params(run: _RunRecord) -> dict[str, Any]:
    """Hyper-parameters, data origin and fingerprint, split and cost settings: enough to redo the run."""
    classifier = {f"classifier_{k}": v for k, v in run.params.items() if k != "monotone_constraints"}
    settings = run.settings
    return {
        **classifier,
        "monotone_decreasing": ",".join(DECREASING_FEATURES),
        "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
        "best_iteration": best_iteration(run.model),
        "data_source": run.data.source,
        "data_rows": len(run.data.frame),
        "data_sha256": run.sha256,
        **{f"data_{key}": value for key, value in run.data.origin.items()},
        "split_seed": settings.seed,
        "test_fraction": settings.test_fraction,
        "validation_fraction": settings.validation_fraction,
        "cost_false_negative": settings.cost_false_negative,
        "cost_false_positive": settings.cost_false_positive,
        "feature_count": len(FEATURE_NAMES),
        "baseline": BASELINE_DESCRIPTION,
        "calibration_method": run.calibration.calibrator.method,
        "calibration_rows": "validation split",
        "ece_bins": f"{ECE_BINS} equal-size groups by predicted probability",
    }


def run_metrics(run: _RunRecord) -> dict[str, float]:
    """ROC-AUC, business cost, recall, precision... for validation and test, the baseline's, and the gains."""
    model, baseline = run.scored, run.baseline
    return {
        **model.validation.as_metrics("val"),
        **model.test.as_metrics("test"),
        **baseline.validation.as_metrics("val", prefix="baseline_"),
        **baseline.test.as_metrics("test", prefix="baseline_"),
        "threshold": model.threshold,
        "baseline_threshold": baseline.threshold,
        "roc_auc_gain_vs_baseline_test": model.test.roc_auc - baseline.test.roc_auc,
        "business_cost_reduction_vs_baseline_test": _relative_saving(model.test, baseline.test),
        "fit_seconds": run.fit_seconds,
        **calibration_metrics(run),
    }


def calibration_metrics(run: _RunRecord) -> dict[str, float]:
    """The trees' own scores beside the calibrated ones on test, the cross-validated choice, the Bayes
    threshold of the costs (what a calibrated model's chosen threshold should be close to)."""
    trees = run.uncalibrated.test
    return {
        **{f"uncalibrated_{name}_test": getattr(trees, name) for name in CALIBRATION_FIGURES},
        "roc_auc_change_by_calibration_test": run.scored.test.roc_auc - trees.roc_auc,
        "base_rate_brier_test": run.scored.test.base_rate_brier,
        "bayes_threshold": run.settings.cost_weights.bayes_threshold,
        "uncalibrated_threshold": run.uncalibrated.threshold,
        **run.calibration.metrics(),
    }


def _relative_saving(model: Evaluation, baseline: Evaluation) -> float:
    return 1 - model.business_cost / baseline.business_cost if baseline.business_cost else 0.0


def log_plots(run: _RunRecord) -> None:
    """ROC (test), cost against threshold (validation, where the threshold is chosen), feature importance."""
    test_labels = run.split.test[TARGET_COLUMN].to_numpy()
    validation_labels = run.split.validation[TARGET_COLUMN].to_numpy()
    weights = run.settings.cost_weights
    scored = {"LightGBM": run.scored, "baseline": run.baseline}
    roc = plots.roc_figure(
        test_labels, {k: v.test_scores for k, v in scored.items()}, "ROC on the test split"
    )
    costs = {k: cost_curve(validation_labels, v.validation_scores, weights) for k, v in scored.items()}
    thresholds = {k: v.threshold for k, v in scored.items()}
    cost = plots.cost_figure(costs, thresholds, "Business cost per application (validation split)")
    gains = classifier_of(run.model).booster_.feature_importance(importance_type="gain")
    importance = plots.importance_figure(FEATURE_NAMES, gains)
    reliability = plots.reliability_figure(
        test_labels,
        {"calibrated": run.scored.test_scores, "trees alone": run.uncalibrated.test_scores},
        f"Reliability on the test split ({ECE_BINS} equal-size groups)",
    )
    figures = (
        (roc, "roc_curve"), (cost, "cost_vs_threshold"), (importance, "feature_importance"),
        (reliability, "reliability_diagram"),
    )  # fmt: skip
    for figure, path in figures:
        mlflow.log_figure(figure, f"plots/{path}.png")


def log_tables(run: _RunRecord, report: Report) -> None:
    """The test split (for promotion), the feature list and the whylogs reference profile (for drift)."""
    with tempfile.TemporaryDirectory() as folder:
        test_path = Path(folder) / Path(EVALUATION_ARTIFACT).name
        # The index keeps each row's position in the source table: promotion intersects two runs' splits.
        evaluation_table(run.split.test).to_parquet(test_path, index=True)
        mlflow.log_artifact(str(test_path), Path(EVALUATION_ARTIFACT).parent.as_posix())
        report("profiling the training data with whylogs (reference for drift monitoring)")
        profile_path = Path(folder) / Path(REFERENCE_PROFILE_ARTIFACT).name
        write_profile(reference_profile(run.split, run.scored.validation_scores), profile_path)
        mlflow.log_artifact(str(profile_path), Path(REFERENCE_PROFILE_ARTIFACT).parent.as_posix())
    mlflow.log_dict(feature_card(run.scored.threshold), FEATURES_ARTIFACT)


def reference_profile(split: Split, validation_scores: np.ndarray) -> Any:
    """Inputs profiled on the training rows; ``probability`` on the validation rows, which the model did
    not fit, so its distribution is what production should look like (training scores are too confident)."""
    inputs_view = build_profile(inputs(split.train))
    scores_view = build_profile(pd.DataFrame({PROBABILITY_COLUMN: validation_scores}))
    return merge_profiles([inputs_view, scores_view])


def feature_card(threshold: float) -> dict[str, Any]:
    """What a consumer of the model needs besides the pipeline: columns in, features used, decision rule."""
    return {
        "input_columns": list(INPUT_COLUMNS),
        "feature_names": list(FEATURE_NAMES),
        "engineered_features": list(ENGINEERED_FEATURES),
        "monotone_decreasing": list(DECREASING_FEATURES),
        "threshold": threshold,
        "decision": "refuse when P(default) >= threshold",
        "probability": "calibrated probability of default (LightGBM log-odds through the calibrator)",
        "positive_class": "1 = default",
    }


def parity_status(exported: OnnxExport) -> str:
    return ONNX_PARITY_PASSED if exported.parity.passed else "failed"


def log_onnx_parity(run: _RunRecord, report: Report) -> OnnxExport:
    """Convert the classifier to ONNX (the service's default engine) and log its parity with the pipeline."""
    report("exporting the model to ONNX and checking it against the pipeline on held-out rows")
    weights = run.settings.cost_weights
    labelled = evaluation_table(run.split.test)
    exported = export_onnx(run.model, labelled, run.scored.threshold, weights, run.settings.seed)
    mlflow.log_metrics(exported.metrics())
    mlflow.set_tag(ONNX_PARITY_TAG, parity_status(exported))
    report("  " + exported.parity.summary())
    return exported


def log_model(run: _RunRecord, exported: OnnxExport) -> Any:
    """The fitted pipeline, cloudpickled (skops refuses LightGBM), pyfunc returning ``predict_proba``;
    the ONNX model and its parity report travel with it as extra files (read back by the service)."""
    with tempfile.TemporaryDirectory() as folder:
        files = exported.write(Path(folder) / "onnx")
        return _log_sklearn_model(run, [str(path) for path in files])


def _log_sklearn_model(run: _RunRecord, extra_files: list[str]) -> Any:
    example = input_example(inputs(run.split.train).dtypes)
    return mlflow.sklearn.log_model(
        run.model,
        name=MODEL_NAME_IN_RUN,
        serialization_format="cloudpickle",
        signature=model_signature(),
        input_example=example,
        pyfunc_predict_fn="predict_proba",
        pip_requirements=[f"{name}=={installed_version(name)}" for name in MODEL_REQUIREMENTS],
        metadata={
            "threshold": run.scored.threshold,
            "calibration_method": run.calibration.calibrator.method,
            "input_columns": list(INPUT_COLUMNS),
            "feature_names": list(FEATURE_NAMES),
            "data_sha256": run.sha256,
            "data_source": run.data.source,
        },
        extra_files=extra_files,
    )


def input_example(dtypes: pd.Series) -> pd.DataFrame:
    """The schema's worked application (not a client's row), typed like the training inputs."""
    example = pd.DataFrame([example_application()]).loc[:, list(INPUT_COLUMNS)]
    return example.astype(dtypes.to_dict())


def version_tags(run: _RunRecord, commit: str, run_id: str) -> dict[str, str]:
    """The lineage and figures every consumer of a version reads without opening the run."""
    return {
        "threshold": f"{run.scored.threshold:.6g}",
        "roc_auc_test": f"{run.scored.test.roc_auc:.6f}",
        "business_cost_test": f"{run.scored.test.business_cost:.6f}",
        "baseline_business_cost_test": f"{run.baseline.test.business_cost:.6f}",
        "calibration_method": run.calibration.calibrator.method,
        "ece_test": f"{run.scored.test.ece:.6f}",
        "brier_test": f"{run.scored.test.brier:.6f}",
        "log_loss_test": f"{run.scored.test.log_loss:.6f}",
        "base_rate_brier_test": f"{run.scored.test.base_rate_brier:.6f}",
        "mean_probability_test": f"{run.scored.test.mean_probability:.6f}",
        "default_rate_test": f"{run.scored.test.default_rate:.6f}",
        "bayes_threshold": f"{run.settings.cost_weights.bayes_threshold:.6g}",
        "data_sha256": run.sha256,
        "data_source": run.data.source,
        "data_rows": str(len(run.data.frame)),
        "git_commit": commit,
        "run_id": run_id,
    }


def run_summary(run: _RunRecord, commit: str | None = None) -> str:
    """One paragraph for the run and version descriptions in the MLflow UI."""
    model, baseline = run.scored.test, run.baseline.test
    text = (
        f"LightGBM on {len(run.data.frame):,} {run.data.source} rows (sha256 {run.sha256[:12]}). "
        f"Test ROC-AUC {model.roc_auc:.4f} vs baseline {baseline.roc_auc:.4f}; business cost "
        f"{model.business_cost:.4f} per application vs {baseline.business_cost:.4f} "
        f"({_relative_saving(model, baseline):.1%} lower) at threshold {run.scored.threshold:.3f} "
        f"(recall {model.recall:.1%}, precision {model.precision:.1%}, refusals {model.refusal_rate:.1%}). "
        f"Calibrated ({run.calibration.calibrator.method}): ECE {model.ece:.4f}, Brier {model.brier:.4f} vs "
        f"{model.base_rate_brier:.4f} for the base rate, mean P(default) {model.mean_probability:.2%} vs "
        f"{model.default_rate:.2%} observed."
    )
    return text + (f" Code {commit}." if commit else "")


def calibration_lines(outcome: TrainingOutcome) -> list[str]:
    """The calibration block of the CLI summary: the calibrated figures on test beside the trees' own."""
    model, trees = outcome.model.test, outcome.uncalibrated.test
    return [
        f"calibration     {outcome.calibration.reason}",
        f"ECE (test)      {model.ece:.4f}   trees alone {trees.ece:.4f}   ({ECE_BINS} equal-size groups)",
        f"Brier (test)    {model.brier:.4f}   base rate {model.base_rate_brier:.4f}   "
        f"trees alone {trees.brier:.4f}",
        f"mean P(default) {model.mean_probability:.2%}   observed {model.default_rate:.2%}   "
        f"trees alone {trees.mean_probability:.2%}",
        f"ROC-AUC change  {model.roc_auc - trees.roc_auc:+.5f} by calibration (test)",
    ]


def summary_lines(outcome: TrainingOutcome, settings: Settings) -> list[str]:
    """The one-screen summary the CLI prints at the end."""
    model, baseline = outcome.model.test, outcome.baseline.test
    registered = f"{settings.model_name} version {outcome.version}" if outcome.version else "not registered"
    return [
        f"data            {outcome.rows:,} rows, sha256 {outcome.data_sha256[:12]}",
        f"trees           {outcome.best_iteration} (fit {outcome.fit_seconds:.1f} s)",
        f"ROC-AUC (test)  {model.roc_auc:.4f}   baseline {baseline.roc_auc:.4f}   "
        f"gain {model.roc_auc - baseline.roc_auc:+.4f}",
        f"cost (test)     {model.business_cost:.4f}   baseline {baseline.business_cost:.4f}   "
        f"saving {_relative_saving(model, baseline):.1%}  (per application, FN=10, FP=1)",
        f"threshold       {outcome.model.threshold:.3f}   recall {model.recall:.1%}   "
        f"precision {model.precision:.1%}   refusals {model.refusal_rate:.1%}   "
        f"(cost-optimal for a calibrated model: {settings.cost_weights.bayes_threshold:.3f})",
        *calibration_lines(outcome),
        f"run             {outcome.run_id} (experiment {outcome.experiment_id})",
        f"model           {registered}",
        "next            make promote   (then: make mlflow-ui to browse runs and versions)",
    ]
