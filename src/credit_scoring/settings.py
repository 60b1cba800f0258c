"""One typed settings object, read at the entry points, overridable by environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the project; environment variables use the prefix ``CREDIT_``.

    MLflow's own ``MLFLOW_TRACKING_URI`` wins over ``CREDIT_TRACKING_URI`` so that every tool
    honours the variable data scientists already know.
    """

    model_config = SettingsConfigDict(env_prefix="CREDIT_", env_file=".env", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path("var"), description="Ignored folder for data, runs and stores.")
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
        default=10.0, gt=0, description="Cost of granting a loan that defaults."
    )
    cost_false_positive: float = Field(default=1.0, gt=0, description="Cost of refusing a good client.")
    promotion_tolerance: float = Field(
        default=0.0,
        ge=0,
        description="Relative business-cost worsening a candidate may show and still be promoted.",
    )

    scoring_engine: Literal["onnx", "native"] = Field(
        default="onnx",
        description="Model engine of the service: ONNX Runtime (fastest; the model shipped by training) or "
        "the LightGBM booster. Env CREDIT_SCORING_ENGINE.",
    )
    bentoml_speedups: bool = Field(
        default=True,
        description="Remove two per-request costs of BentoML's HTTP path at start-up (serving/"
        "bentoml_speedups.py). Env CREDIT_BENTOML_SPEEDUPS.",
    )
    socket_per_worker: bool = Field(
        default=True,
        description="Give each API worker of `bentoml serve` its own listening socket (SO_REUSEPORT), so "
        "connections opened at once are spread over both workers (serving/worker_sockets.py); false keeps "
        "BentoML's one shared socket. Env CREDIT_SOCKET_PER_WORKER.",
    )

    api_key: SecretStr | None = Field(
        default=None, description="When set, the API requires header X-API-Key."
    )
    pseudonymisation_key: SecretStr = Field(
        default=SecretStr("demo-only-change-me"), description="HMAC key for client references."
    )

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


def get_settings() -> Settings:
    """Read the settings from the environment (called by entry points, never at import time)."""
    return Settings()
