"""Feature engineering is identical at training and serving time and handles the data's quirks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_scoring.features import (
    ENGINEERED_FEATURES,
    FEATURE_NAMES,
    FeatureBuilder,
    build_features,
    build_features_from_records,
)
from credit_scoring.schema import example_application
from credit_scoring.validation import Application, application_to_record


def _rows() -> list[dict]:
    base = example_application()
    return [
        base,
        base | {"DAYS_EMPLOYED": 365243, "NAME_INCOME_TYPE": "Pensioner"},
        base | {"EXT_SOURCE_1": None, "AMT_ANNUITY": None, "OCCUPATION_TYPE": None, "AMT_GOODS_PRICE": 0.0},
        base | {"CODE_GENDER": "XNA", "ORGANIZATION_TYPE": "XNA"},
    ]


def _column(matrix: np.ndarray, name: str) -> np.ndarray:
    return matrix[:, FEATURE_NAMES.index(name)]


def test_training_and_serving_paths_give_identical_features() -> None:
    rows = _rows()
    served = build_features_from_records([application_to_record(Application.model_validate(r)) for r in rows])
    trained = build_features(pd.read_json(pd.io.common.StringIO(pd.DataFrame(rows).to_json())))
    np.testing.assert_array_equal(served, trained)
    assert served.shape == (4, 120 + len(ENGINEERED_FEATURES))
    assert served.dtype == np.float32


def test_employment_sentinel_becomes_missing_plus_flag() -> None:
    features = build_features_from_records(_rows())
    assert np.isnan(_column(features, "DAYS_EMPLOYED")[1])
    assert _column(features, "DAYS_EMPLOYED_ANOMALY").tolist() == [0, 1, 0, 0]
    assert np.isnan(_column(features, "DAYS_EMPLOYED_RATIO")[1])


def test_domain_ratios() -> None:
    base = example_application()
    features = build_features_from_records([base])
    expected = base["AMT_CREDIT"] / base["AMT_INCOME_TOTAL"]
    assert _column(features, "CREDIT_INCOME_RATIO")[0] == np.float32(expected)
    assert _column(features, "ANNUITY_CREDIT_RATIO")[0] == np.float32(
        base["AMT_ANNUITY"] / base["AMT_CREDIT"]
    )
    assert _column(features, "DAYS_EMPLOYED_RATIO")[0] == np.float32(
        base["DAYS_EMPLOYED"] / base["DAYS_BIRTH"]
    )


def test_missing_and_zero_denominators_give_missing_ratios() -> None:
    features = build_features_from_records(_rows())
    assert np.isnan(_column(features, "ANNUITY_INCOME_RATIO")[2])
    assert np.isnan(_column(features, "CREDIT_GOODS_RATIO")[2])  # goods price 0


def test_unseen_levels_become_missing_not_errors() -> None:
    features = build_features_from_records([example_application() | {"ORGANIZATION_TYPE": "Space agency"}])
    assert np.isnan(_column(features, "ORGANIZATION_TYPE")[0])


def test_feature_builder_is_a_stateless_sklearn_step() -> None:
    frame = pd.DataFrame(_rows())
    builder = FeatureBuilder().fit(frame)
    np.testing.assert_array_equal(builder.transform(frame), builder.transform(_rows()))
    assert list(builder.get_feature_names_out()) == list(FEATURE_NAMES)
