"""Training data: the checks it must pass, its fingerprint, and the seeded stratified three-way split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from credit_scoring.errors import DataError
from credit_scoring.schema import ID_COLUMN, INPUT_COLUMNS, TARGET_COLUMN
from credit_scoring.validation import check_frame

# Below this many defaults (or repaid loans) the three splits cannot all hold both classes reliably.
MIN_ROWS_PER_CLASS = 30
MAX_VIOLATIONS_SHOWN = 15


class TrainingDataError(DataError, ValueError):
    """The training table cannot be used; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Split:
    """Train (fit), validation (early stopping and threshold) and test (the reported figures) tables."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def check_training_frame(frame: pd.DataFrame) -> None:
    """Raise ``TrainingDataError`` unless the table follows the applicant schema and has a usable TARGET."""
    violations = check_frame(frame)
    if violations:
        shown = "\n".join(f"  - {violation}" for violation in violations[:MAX_VIOLATIONS_SHOWN])
        more = len(violations) - MAX_VIOLATIONS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise TrainingDataError(
            f"the training table breaks {len(violations)} schema rule(s):\n{shown}{tail}\n"
            "Fix the file (it must have the columns and value ranges of application_train.csv) or train on "
            "synthetic data by leaving out --data."
        )
    _check_target(frame)


def _check_target(frame: pd.DataFrame) -> None:
    if TARGET_COLUMN not in frame.columns:
        raise TrainingDataError("the training table has no TARGET column (1 = default, 0 = repaid)")
    target = frame[TARGET_COLUMN]
    if target.isna().any() or not target.isin([0, 1]).all():
        raise TrainingDataError("TARGET must be 0 (repaid) or 1 (default) on every row, with no gaps")
    defaults = int(target.sum())
    if min(defaults, len(target) - defaults) < MIN_ROWS_PER_CLASS:
        raise TrainingDataError(
            f"too few rows to train: {defaults} defaults and {len(target) - defaults} repaid loans; "
            f"at least {MIN_ROWS_PER_CLASS} of each are needed (use more rows)"
        )


def data_sha256(frame: pd.DataFrame) -> str:
    """Content hash of the table (values and column names, not the index): the data's identity."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def split_frame(frame: pd.DataFrame, test_fraction: float, validation_fraction: float, seed: int) -> Split:
    """Stratified on TARGET and seeded, so the same data and seed always give the same three tables."""
    rest, test = train_test_split(
        frame, test_size=test_fraction, stratify=frame[TARGET_COLUMN], random_state=seed
    )
    # The validation share is of the whole table, hence rescaled to what remains after the test cut.
    train, validation = train_test_split(
        rest,
        test_size=validation_fraction / (1 - test_fraction),
        stratify=rest[TARGET_COLUMN],
        random_state=seed,
    )
    return Split(train=train, validation=validation, test=test)


def inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns only: never the client id, never the target."""
    return frame.loc[:, list(INPUT_COLUMNS)]


def evaluation_table(frame: pd.DataFrame) -> pd.DataFrame:
    """What is kept for later evaluation: inputs and TARGET, without the raw client id (privacy)."""
    return frame.drop(columns=[ID_COLUMN], errors="ignore").loc[:, [*INPUT_COLUMNS, TARGET_COLUMN]]
