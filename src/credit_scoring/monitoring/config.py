"""Monitoring settings (env prefix ``CREDIT_``): where records and profiles go, and when alerts fire."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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


class MonitoringSettings(BaseSettings):
    """Knobs of the request log, the profiles and the drift analysis (``CREDIT_`` + upper-case name).

    ``CREDIT_DATA_DIR`` is shared with :class:`credit_scoring.settings.Settings`, so both agree on ``var/``.
    """

    model_config = SettingsConfigDict(env_prefix="CREDIT_", env_file=".env", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path("var"), description="Ignored folder for data, runs and stores.")
    monitoring_enabled: bool = Field(
        default=True, description="Whether the service records its requests (false: benchmark baseline)."
    )
    request_store_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/monitoring/requests.db."
    )
    profile_dir: Path | None = Field(
        default=None, description="Folder of window profiles; default <data_dir>/monitoring/profiles."
    )
    window_minutes: int = Field(default=5, ge=1, le=1440, description="Length of one profile window.")
    monitoring_priority: Literal["idle", "low", "normal"] = Field(
        default="idle",
        description="CPU priority of each worker's request-logger process: idle (only CPU time the requests "
        "leave unused), low (nice 19) or normal.",
    )
    buffer_mb: int = Field(
        default=128,
        ge=1,
        description="Per worker, memory for records waiting for its logger process (pickled, 1-3 KB each).",
    )
    queue_size: int = Field(
        default=10_000,
        ge=1,
        description="Records waiting to be written, at most (per worker, and again in its logger process).",
    )
    batch_size: int = Field(default=256, ge=1, description="Records written to the store per batch, at most.")
    flush_interval_s: float = Field(default=1.0, gt=0, description="Longest wait before a partial batch.")
    checkpoint_interval_s: float = Field(
        default=30.0, gt=0, description="How often the open window's profile is rewritten to disk."
    )
    retention_days: float | None = Field(
        default=30.0, gt=0, description="Raw inputs older than this are erased; None keeps them."
    )

    drift_alpha: float = Field(default=0.01, gt=0, lt=1, description="p-value below which a test rejects.")
    drift_min_hellinger: float = Field(
        default=0.1, ge=0, le=1, description="Effect size (Hellinger distance) a drift must reach too."
    )
    drift_max_drifted_features: int = Field(default=0, ge=0, description="Alert above this many.")
    drift_min_rows: int = Field(default=100, ge=1, description="Fewer production rows: drift not assessed.")
    max_null_rate_change: float = Field(default=0.1, gt=0, le=1, description="Absolute null-share change.")
    max_server_error_rate: float = Field(default=0.01, ge=0, le=1, description="5xx share that alerts.")
    max_client_error_rate: float = Field(default=0.05, ge=0, le=1, description="4xx share that alerts.")
    max_out_of_range_rate: float = Field(
        default=0.01, ge=0, le=1, description="Broken-rule share per column."
    )
    latency_p50_ms: float = Field(default=50.0, gt=0, description="Median latency that alerts.")
    latency_p95_ms: float = Field(default=200.0, gt=0, description="95th percentile latency that alerts.")
    latency_p99_ms: float = Field(default=500.0, gt=0, description="99th percentile latency that alerts.")
    min_requests: int = Field(default=0, ge=0, description="Fewer requests in the range alerts (0: off).")

    @property
    def store_url(self) -> str:
        if self.request_store_url:
            return self.request_store_url
        return f"sqlite:///{self.data_dir.resolve() / 'monitoring' / 'requests.db'}"

    @property
    def profiles_path(self) -> Path:
        return (self.profile_dir or self.data_dir / "monitoring" / "profiles").resolve()

    def thresholds(self) -> AlertThresholds:
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
        )


def get_monitoring_settings() -> MonitoringSettings:
    """Read the monitoring settings from the environment (entry points only, never at import time)."""
    return MonitoringSettings()
