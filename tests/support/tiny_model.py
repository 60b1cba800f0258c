"""A small real model for tests: seeded synthetic applications and the production Pipeline fitted on them."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from credit_scoring.data.synthetic import generate_applications
from credit_scoring.schema import ID_COLUMN, TARGET_COLUMN
from credit_scoring.training.model import build_model, classifier_params

TINY_PARAMS = {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 10, "n_jobs": 1}


def tiny_applications(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Synthetic application_train rows (inputs and TARGET; no client id, which a model never sees)."""
    return generate_applications(rows, seed=seed).drop(columns=[ID_COLUMN])


def fit_tiny_pipeline(frame: pd.DataFrame, seed: int = 0) -> Pipeline:
    """The production Pipeline (FeatureBuilder + monotone LightGBM) fitted in under a second."""
    model = build_model(classifier_params(TINY_PARAMS, seed=seed))
    return model.fit(frame.drop(columns=[TARGET_COLUMN]), frame[TARGET_COLUMN])


def as_json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Table rows as an API client sends them: JSON numbers and strings, null for missing values."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
