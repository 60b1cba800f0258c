"""Every settings class of the project: typed, read at the entry points, overridable by the environment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_scoring.cost import CostWeights

# The business costs, written once (in the cost module): the settings take their defaults from there.
DEFAULT_COSTS = CostWeights()


class ProjectSettings(BaseSettings):
    """What every settings class shares: the ``CREDIT_`` prefix, the ``.env`` file and the data folder."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_", env_file=".env", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path("var"), description="Ignored folder for data, runs and stores.")


class Settings(ProjectSettings):
    """Every knob of training, registry and serving; environment variables use the prefix ``CREDIT_``.

    MLflow's own ``MLFLOW_TRACKING_URI`` wins over ``CREDIT_TRACKING_URI`` so that every tool
    honours the variable data scientists already know.
    """

    data_path: Path | None = Field(
        default=None, description="Real application_train.csv; synthetic if unset."
    )
    tracking_uri_override: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CREDIT_TRACKING_URI")
    )
    experiment_name: str = "credit-scoring"
    model_name: str = "credit-scoring"
    production_alias: str = "production"

    seed: int = 42
    synthetic_rows: int = 100_000
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    validation_fraction: float = Field(default=0.2, gt=0, lt=0.5)

    cost_false_negative: float = Field(
        default=DEFAULT_COSTS.false_negative, gt=0, description="Cost of granting a loan that defaults."
    )
    cost_false_positive: float = Field(
        default=DEFAULT_COSTS.false_positive, gt=0, description="Cost of refusing a good client."
    )
    promotion_tolerance: float = Field(
        default=0.0,
        ge=0,
        description="Relative business-cost worsening a candidate may show and still be promoted.",
    )
    promotion_max_ece: float = Field(
        default=0.02,
        gt=0,
        lt=1,
        description="Largest expected calibration error (10 equal-size groups, on the candidate's test "
        "rows) a version may show and still be promoted. Env CREDIT_PROMOTION_MAX_ECE.",
    )

    promotion_min_shadow_decisions: int = Field(
        default=0,
        ge=0,
        description="Shadow decisions a candidate must have scored as @challenger of the current champion "
        "before promotion, with an estimated (and, once outcomes exist, realized) cost not worse than the "
        "champion's on them; 0 = live evidence not required. Env CREDIT_PROMOTION_MIN_SHADOW_DECISIONS.",
    )

    scoring_engine: Literal["onnx", "native"] = Field(
        default="onnx",
        description="Model engine of the service: ONNX Runtime (fastest; the model shipped by training) or "
        "the LightGBM booster. Env CREDIT_SCORING_ENGINE.",
    )
    # Shadow scoring: the @challenger packed beside @production scores every request, never answers.
    challenger_alias: str = Field(
        default="challenger",
        description="Registry alias of the model `make build` packs beside @production to score in shadow "
        "(none packed when no version carries it). Env CREDIT_CHALLENGER_ALIAS.",
    )
    shadow_enabled: bool = Field(
        default=True,
        description="Score every request with the packed challenger too and record its figures; false "
        "switches it off at serve time without a rebuild. Env CREDIT_SHADOW_ENABLED.",
    )
    bentoml_speedups: bool = Field(
        default=True,
        description="Remove two per-request costs of BentoML's HTTP path at start-up (credit_scoring/"
        "patches.py). Env CREDIT_BENTOML_SPEEDUPS.",
    )
    socket_per_worker: bool = Field(
        default=True,
        description="Give each API worker of `bentoml serve` its own listening socket (SO_REUSEPORT), so "
        "connections opened at once are spread over both workers (credit_scoring/patches.py); false keeps "
        "BentoML's one shared socket. Env CREDIT_SOCKET_PER_WORKER.",
    )
    batch_queue_limit: int = Field(
        default=32,
        ge=1,
        description="/score_batch requests one API worker holds at once (being scored or waiting); beyond, "
        "it answers 503 with Retry-After instead of letting them wait for the timeout. Env "
        "CREDIT_BATCH_QUEUE_LIMIT.",
    )

    api_key: SecretStr | None = Field(
        default=None, description="When set, the API requires header X-API-Key."
    )
    pseudonymisation_key: SecretStr = Field(
        default=SecretStr("demo-only-change-me"), description="HMAC key for client references."
    )

    @property
    def cost_weights(self) -> CostWeights:
        """The business costs these settings say, as the cost module takes them."""
        return CostWeights(self.cost_false_negative, self.cost_false_positive)

    @property
    def pseudonymisation_secret(self) -> bytes:
        """The HMAC key as bytes (what ``pseudonymise`` and the logger processes use)."""
        return self.pseudonymisation_key.get_secret_value().encode()

    @cached_property
    def data_root(self) -> Path:
        return self.data_dir.resolve()

    @property
    def mlflow_dir(self) -> Path:
        return self.data_root / "mlflow"

    @property
    def tracking_uri(self) -> str:
        if self.tracking_uri_override:
            return self.tracking_uri_override
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()

    @property
    def synthetic_data_path(self) -> Path:
        return self.data_root / "synthetic" / "application_train.csv"

    @property
    def production_model_uri(self) -> str:
        return f"models:/{self.model_name}@{self.production_alias}"

    @property
    def challenger_model_uri(self) -> str:
        return f"models:/{self.model_name}@{self.challenger_alias}"


@dataclass(frozen=True)
class AlertThresholds:
    """When the analysis calls a feature drifted and when an alert fires."""

    alpha: float = 0.01
    min_hellinger: float = 0.1
    max_drifted_features: int = 0
    min_rows_for_drift: int = 100
    max_null_rate_change: float = 0.1
    max_server_error_rate: float = 0.01
    max_client_error_rate: float = 0.05
    max_out_of_range_rate: float = 0.01
    latency_p50_ms: float = 50.0
    latency_p95_ms: float = 200.0
    latency_p99_ms: float = 500.0
    min_requests: int = 0
    max_journal_lag_s: float = 300.0


# The alert defaults, written once: the settings below take theirs from here.
ALERT_DEFAULTS = AlertThresholds()


@dataclass(frozen=True)
class PerformanceThresholds:
    """When model performance and fairness alert (make performance-report, the monitor's performance page)."""

    cost_margin: float = 0.25  # realized cost above the evaluation cost by this share
    estimated_cost_drift: float = 0.25  # a month's estimated cost away from the evaluation cost by this share
    max_ece: float = 0.03  # expected calibration error on outcomes
    min_outcomes: int = 500  # fewer outcomes: realized cost and ECE are not assessed (too noisy)
    min_decisions: int = 500  # fewer decisions in a month: its estimated cost is not assessed
    min_fairness_ratio: float = 0.8  # the four-fifths rule on approval rates
    min_fairness_group: int = 100  # smaller groups are shown but left out of the fairness ratios


PERFORMANCE_DEFAULTS = PerformanceThresholds()


class MonitoringSettings(ProjectSettings):
    """Knobs of the request log, the profiles, the drift analysis and the monitor (``CREDIT_`` + name).

    ``CREDIT_DATA_DIR`` comes from :class:`ProjectSettings`, so both classes agree on ``var/``.
    """

    monitoring_enabled: bool = Field(
        default=True, description="Whether the service records its requests (false: benchmark baseline)."
    )
    request_store_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of a server store (postgresql+psycopg://..., for several replicas); "
        "unset: the embedded Parquet store under store_dir.",
    )
    store_dir: Path | None = Field(
        default=None, description="Day-partitioned Parquet store; default <data_dir>/monitoring/store."
    )
    profile_dir: Path | None = Field(
        default=None, description="Folder of window profiles; default <data_dir>/monitoring/profiles."
    )
    window_minutes: int = Field(default=5, ge=1, le=1440, description="Length of one profile window.")
    monitoring_priority: Literal["idle", "low", "normal"] = Field(
        default="idle",
        description="CPU priority of the ingest processes: idle (only CPU time the requests leave unused), "
        "low (nice 19) or normal.",
    )
    journal_dir: Path | None = Field(
        default=None,
        description="Local folder of the write-ahead decision journal; default <data_dir>/monitoring/journal",
    )
    journal_segment_mb: int = Field(default=64, ge=1, description="A journal segment is rotated at this size")
    journal_segment_age_s: float = Field(
        default=300.0, gt=0, description="... or when it is this old (then the ingest can delete it)."
    )
    journal_fsync_interval_s: float = Field(
        default=1.0, gt=0, description="How often the journal is fsynced (a power cut loses at most this)."
    )
    journal_max_mb: int = Field(
        default=4096, ge=1, description="Bound of the journal on disk: beyond it, appends fail (policy)."
    )
    journal_failure_policy: Literal["refuse", "count"] = Field(
        default="refuse",
        description="When a decision cannot be journaled: refuse (answer 503 'decision log unavailable') or "
        "count (answer anyway, count it as unrecorded). Env CREDIT_JOURNAL_FAILURE_POLICY.",
    )
    journal_retention_s: float = Field(
        default=600.0, ge=0, description="A fully ingested segment is deleted this long after."
    )
    journal_lag_alert_s: float = Field(
        default=ALERT_DEFAULTS.max_journal_lag_s,
        gt=0,
        description="Journal lag (age of the oldest record not yet stored) that alerts.",
    )
    ingest_interval_s: float = Field(
        default=1.0, gt=0, description="How often the ingest looks for new journal records."
    )
    ingest_batch_records: int = Field(default=20_000, ge=1, description="Records per stored batch, at most.")
    ingest_max_delay_s: float = Field(
        default=10.0, ge=0, description="A segment's records wait at most this long to fill a larger batch."
    )
    compact_min_parts: int = Field(
        default=32, ge=2, description="A day partition is compacted once it holds this many small parts."
    )
    checkpoint_interval_s: float = Field(
        default=30.0, gt=0, description="How often the open windows' profiles are written to disk."
    )
    reference_profile: Path | None = Field(
        default=None,
        description="Training reference profile (.bin) of the monitor; default: the Bento model's, else "
        "@production's.",
    )
    retention_days: float | None = Field(
        default=183.0, gt=0, description="Day partitions older than this are dropped whole; None keeps all."
    )

    drift_alpha: float = Field(
        default=ALERT_DEFAULTS.alpha, gt=0, lt=1, description="p-value below which a test rejects."
    )
    drift_min_hellinger: float = Field(
        default=ALERT_DEFAULTS.min_hellinger,
        ge=0,
        le=1,
        description="Effect size (Hellinger distance) a drift must reach too.",
    )
    drift_max_drifted_features: int = Field(
        default=ALERT_DEFAULTS.max_drifted_features, ge=0, description="Alert above this many."
    )
    drift_min_rows: int = Field(
        default=ALERT_DEFAULTS.min_rows_for_drift,
        ge=1,
        description="Fewer production rows: drift not assessed.",
    )
    max_null_rate_change: float = Field(
        default=ALERT_DEFAULTS.max_null_rate_change, gt=0, le=1, description="Absolute null-share change."
    )
    max_server_error_rate: float = Field(
        default=ALERT_DEFAULTS.max_server_error_rate, ge=0, le=1, description="5xx share that alerts."
    )
    max_client_error_rate: float = Field(
        default=ALERT_DEFAULTS.max_client_error_rate, ge=0, le=1, description="4xx share that alerts."
    )
    max_out_of_range_rate: float = Field(
        default=ALERT_DEFAULTS.max_out_of_range_rate, ge=0, le=1, description="Broken-rule share per column."
    )
    latency_p50_ms: float = Field(
        default=ALERT_DEFAULTS.latency_p50_ms, gt=0, description="Median latency that alerts."
    )
    latency_p95_ms: float = Field(
        default=ALERT_DEFAULTS.latency_p95_ms, gt=0, description="95th percentile latency that alerts."
    )
    latency_p99_ms: float = Field(
        default=ALERT_DEFAULTS.latency_p99_ms, gt=0, description="99th percentile latency that alerts."
    )
    min_requests: int = Field(
        default=ALERT_DEFAULTS.min_requests, ge=0, description="Fewer requests in the range alerts (0: off)."
    )

    performance_cost_margin: float = Field(
        default=PERFORMANCE_DEFAULTS.cost_margin,
        ge=0,
        description="Realized cost above the model's "
        "evaluation cost by this relative margin alerts (CREDIT_PERFORMANCE_COST_MARGIN).",
    )
    performance_estimated_drift: float = Field(
        default=PERFORMANCE_DEFAULTS.estimated_cost_drift,
        ge=0,
        description="A month's estimated cost away from the evaluation cost by this relative margin alerts.",
    )
    performance_max_ece: float = Field(
        default=PERFORMANCE_DEFAULTS.max_ece,
        gt=0,
        le=1,
        description="Calibration error (ECE) beyond sampling noise that alerts.",
    )
    performance_min_outcomes: int = Field(
        default=PERFORMANCE_DEFAULTS.min_outcomes, ge=1, description="Outcomes needed for realized alerts."
    )
    performance_min_decisions: int = Field(
        default=PERFORMANCE_DEFAULTS.min_decisions, ge=1, description="Decisions needed to assess a month."
    )
    fairness_min_ratio: float = Field(
        default=PERFORMANCE_DEFAULTS.min_fairness_ratio,
        gt=0,
        le=1,
        description="Disparate-impact ratio (lowest approval rate over highest) below which an alert fires.",
    )
    fairness_min_group: int = Field(
        default=PERFORMANCE_DEFAULTS.min_fairness_group,
        ge=1,
        description="Decisions a group needs to count in the fairness ratios.",
    )
    outcome_maturity_days: float = Field(
        default=365.0,
        gt=0,
        description="Age at which a decision's loan outcome is known (simulations).",
    )

    def performance_thresholds(self) -> PerformanceThresholds:
        """The performance and fairness alert limits these settings say."""
        return PerformanceThresholds(
            cost_margin=self.performance_cost_margin,
            estimated_cost_drift=self.performance_estimated_drift,
            max_ece=self.performance_max_ece,
            min_outcomes=self.performance_min_outcomes,
            min_decisions=self.performance_min_decisions,
            min_fairness_ratio=self.fairness_min_ratio,
            min_fairness_group=self.fairness_min_group,
        )

    @property
    def store_path(self) -> Path:
        return (self.store_dir or self.data_dir / "monitoring" / "store").resolve()

    @property
    def journal_path(self) -> Path:
        return (self.journal_dir or self.data_dir / "monitoring" / "journal").resolve()

    @property
    def store_location(self) -> str:
        """Where the records are, for people: the server URL without password, or the Parquet folder."""
        if self.request_store_url:
            from sqlalchemy.engine import make_url

            return make_url(self.request_store_url).render_as_string(hide_password=True)
        return str(self.store_path)

    @property
    def profiles_path(self) -> Path:
        return (self.profile_dir or self.data_dir / "monitoring" / "profiles").resolve()

    def thresholds(self) -> AlertThresholds:
        """The alert limits these settings say (the analysis takes these, not the settings object)."""
        return AlertThresholds(
            alpha=self.drift_alpha,
            min_hellinger=self.drift_min_hellinger,
            max_drifted_features=self.drift_max_drifted_features,
            min_rows_for_drift=self.drift_min_rows,
            max_null_rate_change=self.max_null_rate_change,
            max_server_error_rate=self.max_server_error_rate,
            max_client_error_rate=self.max_client_error_rate,
            max_out_of_range_rate=self.max_out_of_range_rate,
            latency_p50_ms=self.latency_p50_ms,
            latency_p95_ms=self.latency_p95_ms,
            latency_p99_ms=self.latency_p99_ms,
            min_requests=self.min_requests,
            max_journal_lag_s=self.journal_lag_alert_s,
        )


def get_settings() -> Settings:
    """Read the settings from the environment (called by entry points, never at import time)."""
    return Settings()


def get_monitoring_settings() -> MonitoringSettings:
    """Read the monitoring settings from the environment (entry points only, never at import time)."""
    return MonitoringSettings()


class DeploySettings(ProjectSettings):
    """Knobs of `make deploy`: HAProxy in front, blue/green Bento servers, the controller that follows
    ``@production`` (``CREDIT_DEPLOY_`` + name; GitHub's own variables for the dispatch)."""

    deploy_blue_port: int = Field(default=3001, ge=1, le=65535, description="Internal port of blue.")
    deploy_green_port: int = Field(default=3002, ge=1, le=65535, description="Internal port of green.")
    deploy_listener_port: int = Field(
        default=3003, ge=1, le=65535, description="Port of the controller's webhook receiver and /status."
    )
    deploy_listener_host: str = Field(
        default="127.0.0.1", description="Interface of the webhook receiver (0.0.0.0 for a remote MLflow)."
    )
    deploy_webhook_url: str | None = Field(
        default=None,
        description="URL the tracking server calls (a remote MLflow must reach it); default "
        "http://127.0.0.1:<listener port>/webhook.",
    )
    deploy_poll_interval_s: float = Field(
        default=5.0, gt=0, description="How often the alias is read as the webhook's fallback."
    )
    deploy_webhook_secret: SecretStr | None = Field(
        default=None,
        description="HMAC secret of the MLflow webhook (X-MLflow-Signature); a random one per run if unset.",
    )
    deploy_parity_rows: int = Field(
        default=300, ge=1, le=1000, description="Synthetic applications of the ONNX parity check."
    )
    deploy_parity_tolerance: float = Field(
        default=1e-5, gt=0, description="Largest probability gap, served ONNX vs native LightGBM."
    )
    deploy_canary_percent: int = Field(
        default=10, ge=0, le=100, description="Share of traffic the candidate takes first (0: no canary)."
    )
    deploy_canary_s: float = Field(default=10.0, ge=0, description="How long the canary runs.")
    deploy_canary_latency_factor: float = Field(
        default=3.0,
        gt=1,
        description="Canary rolled back when its mean response time exceeds the old "
        "server's by this factor (and by 20 ms at least).",
    )
    deploy_ready_timeout_s: float = Field(
        default=180.0, gt=0, description="Seconds a candidate has to answer /readyz."
    )
    deploy_drain_timeout_s: float = Field(
        default=60.0, gt=0, description="Seconds the old server has to finish its requests after the switch."
    )
    github_token: SecretStr | None = Field(
        default=None, validation_alias="GITHUB_TOKEN", description="Token for the model-promoted dispatch."
    )
    github_repository: str | None = Field(
        default=None, validation_alias="GITHUB_REPOSITORY", description="owner/name receiving the dispatch."
    )
    github_api_url: str = Field(
        default="https://api.github.com", validation_alias="GITHUB_API_URL", description="GitHub's API."
    )

    @property
    def deploy_dir(self) -> Path:
        """Pids, logs, the HAProxy configuration and the status file of `make deploy`."""
        return (self.data_dir / "deploy").resolve()


def get_deploy_settings() -> DeploySettings:
    """Read the deploy settings from the environment (entry points only)."""
    return DeploySettings()
