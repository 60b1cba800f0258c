"""Feature engineering, once: the same vectorised code turns tables or API records into model inputs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from credit_scoring.schema import APPLICATION_COLUMNS, EMPLOYED_SENTINEL, INPUT_COLUMNS

# The model sees float32 everywhere (training, LightGBM, ONNX Runtime), so every path rounds identically.
FEATURE_DTYPE = np.float32

ENGINEERED_FEATURES: tuple[str, ...] = (
    "DAYS_EMPLOYED_ANOMALY",
    "CREDIT_INCOME_RATIO",
    "ANNUITY_INCOME_RATIO",
    "ANNUITY_CREDIT_RATIO",
    "DAYS_EMPLOYED_RATIO",
    "CREDIT_GOODS_RATIO",
)
FEATURE_NAMES: tuple[str, ...] = (*INPUT_COLUMNS, *ENGINEERED_FEATURES)

# Categories become their position in the schema's fixed level list; an unseen level becomes missing,
# which the trees already know how to route, instead of an error at scoring time.
LEVEL_CODES: dict[str, dict[str, float]] = {
    spec.name: {level: float(code) for code, level in enumerate(spec.levels)}
    for spec in APPLICATION_COLUMNS
    if spec.kind == "category"
}
_COLUMN = {name: position for position, name in enumerate(INPUT_COLUMNS)}


def encode_frame(frame: pd.DataFrame) -> np.ndarray:
    """The raw input columns of a table as one float64 matrix, categories as level codes."""
    encoded = np.empty((len(frame), len(INPUT_COLUMNS)), dtype=np.float64)
    for position, name in enumerate(INPUT_COLUMNS):
        column = frame[name]
        if name in LEVEL_CODES:
            encoded[:, position] = column.map(LEVEL_CODES[name]).astype(float).to_numpy()
        else:
            encoded[:, position] = pd.to_numeric(column, errors="coerce").astype(float).to_numpy()
    return encoded


def _encode_value(name: str, value: Any) -> float:
    if value is None:
        return np.nan
    codes = LEVEL_CODES.get(name)
    return codes.get(value, np.nan) if codes is not None else float(value)


def encode_records(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The same matrix as ``encode_frame`` for request records (dicts keyed by column name)."""
    encoded = np.empty((len(records), len(INPUT_COLUMNS)), dtype=np.float64)
    for row, record in enumerate(records):
        encoded[row] = [_encode_value(name, record.get(name)) for name in INPUT_COLUMNS]
    return encoded


# Ratios as (numerator, denominator) in ENGINEERED_FEATURES order, computed in one vectorised division.
_RATIOS: tuple[tuple[str, str], ...] = (
    ("AMT_CREDIT", "AMT_INCOME_TOTAL"),
    ("AMT_ANNUITY", "AMT_INCOME_TOTAL"),
    ("AMT_ANNUITY", "AMT_CREDIT"),
    ("DAYS_EMPLOYED", "DAYS_BIRTH"),
    ("AMT_CREDIT", "AMT_GOODS_PRICE"),
)
_NUMERATORS = np.array([_COLUMN[numerator] for numerator, _ in _RATIOS])
_DENOMINATORS = np.array([_COLUMN[denominator] for _, denominator in _RATIOS])
_EMPLOYED = _COLUMN["DAYS_EMPLOYED"]
# Ratios whose numerator is DAYS_EMPLOYED: the sentinel is missing there too (it is never a denominator).
_OF_EMPLOYED = np.array([numerator == "DAYS_EMPLOYED" for numerator, _ in _RATIOS])
_RATIO_POSITIONS = tuple((_COLUMN[numerator], _COLUMN[denominator]) for numerator, denominator in _RATIOS)
_WIDTH = len(INPUT_COLUMNS)
_ROW_OPERANDS = frozenset({_EMPLOYED, *(position for pair in _RATIO_POSITIONS for position in pair)})


def derive_features(encoded: np.ndarray) -> np.ndarray:
    """Model inputs from encoded columns: employment sentinel as missing plus a flag, and the ratios.

    Written into one float32 matrix; the ratios are divided in float64 (then rounded like the raw
    columns) only where the denominator is not zero, so no floating-point error state has to be set.
    """
    anomaly = encoded[:, _EMPLOYED] == EMPLOYED_SENTINEL
    numerators, denominators = encoded[:, _NUMERATORS], encoded[:, _DENOMINATORS]  # copies
    numerators[anomaly[:, None] & _OF_EMPLOYED] = np.nan
    ratios = np.full(numerators.shape, np.nan)
    np.divide(numerators, denominators, out=ratios, where=denominators != 0)
    ratios[np.isinf(ratios)] = np.nan
    features = np.empty((len(encoded), len(FEATURE_NAMES)), dtype=FEATURE_DTYPE)
    features[:, :_WIDTH] = encoded
    features[anomaly, _EMPLOYED] = np.nan
    features[:, _WIDTH] = anomaly
    features[:, _WIDTH + 1 :] = ratios
    return features


def derive_row(values: Sequence[Any]) -> np.ndarray:
    """``derive_features`` for one row of raw values (None when missing), as a 1-row matrix.

    One API request's path: a dozen numpy calls cost more than the arithmetic on one row, so the same
    rules are applied to the few Python numbers they read (identical results, parity-tested).
    """
    numbers = {position: _number(values[position]) for position in _ROW_OPERANDS}
    anomaly = numbers[_EMPLOYED] == EMPLOYED_SENTINEL
    raw = list(values)
    if anomaly:
        numbers[_EMPLOYED] = raw[_EMPLOYED] = math.nan
    ratios = [_ratio(numbers[numerator], numbers[denominator]) for numerator, denominator in _RATIO_POSITIONS]
    # Through float64 as in derive_features, so "12.5" or an int rounds once the same way; None -> NaN.
    return np.array([[*raw, float(anomaly), *ratios]], dtype=np.float64).astype(FEATURE_DTYPE)


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)  # float() as encode_records: "12.5" ok, text fails


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return math.nan
    ratio = numerator / denominator
    return math.nan if math.isinf(ratio) else ratio


def build_features(frame: pd.DataFrame) -> np.ndarray:
    """Training-time path: a table of applications to the model's feature matrix."""
    return derive_features(encode_frame(frame))


def build_features_from_records(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Serving-time path: validated request records to the same feature matrix."""
    return derive_features(encode_records(records))


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Stateless sklearn step wrapping ``build_features`` so the fitted Pipeline carries its own features."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> FeatureBuilder:
        return self

    def transform(self, X: pd.DataFrame | Sequence[Mapping[str, Any]]) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            return build_features(X)
        return build_features_from_records(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)
