"""The synthetic generator reproduces the published summary of the real table, column by column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from credit_scoring.data.summary import (
    column_summaries,
    fidelity_table,
    load_summary,
    quantile_distance,
    spearman_gaps,
)
from credit_scoring.data.synthetic import MISSING_TOGETHER, generate_applications
from credit_scoring.data.target import _signal_inputs
from credit_scoring.features import build_features
from credit_scoring.schema import APPLICATION_COLUMNS, EMPLOYED_SENTINEL, FILE_COLUMNS
from credit_scoring.validation import check_frame

ROWS = 20_000
MAIN_AMOUNT_PAIRS = {
    ("AMT_INCOME_TOTAL", "AMT_CREDIT"),
    ("AMT_INCOME_TOTAL", "AMT_ANNUITY"),
    ("AMT_INCOME_TOTAL", "AMT_GOODS_PRICE"),
    ("AMT_CREDIT", "AMT_ANNUITY"),
    ("AMT_CREDIT", "AMT_GOODS_PRICE"),
    ("AMT_ANNUITY", "AMT_GOODS_PRICE"),
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_applications(ROWS, seed=7)


def test_columns_order_and_dtypes_are_those_of_the_real_file(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(FILE_COLUMNS)
    expected = {"SK_ID_CURR": "int64", "TARGET": "int64"} | {
        spec.name: {"int": "int64", "float": "float64", "category": "str"}[spec.kind]
        for spec in APPLICATION_COLUMNS
    }
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == expected
    assert frame.dtypes.astype(str).value_counts().to_dict() == {"float64": 65, "int64": 41, "str": 16}


def test_every_row_passes_the_schema(frame: pd.DataFrame) -> None:
    assert [str(violation) for violation in check_frame(frame)] == []


def test_same_seed_gives_the_same_frame_and_another_seed_another() -> None:
    pd.testing.assert_frame_equal(generate_applications(500, seed=3), generate_applications(500, seed=3))
    assert not generate_applications(500, seed=3).equals(generate_applications(500, seed=4))


def test_client_ids_are_unique_sorted_and_in_the_real_range(frame: pd.DataFrame) -> None:
    ids = frame["SK_ID_CURR"]
    assert ids.is_unique and ids.is_monotonic_increasing
    assert ids.min() >= 100_002 and ids.max() <= 456_255


@pytest.mark.parametrize("n_rows", [0, -5, 356_255])
def test_impossible_sizes_are_refused_clearly(n_rows: int) -> None:
    with pytest.raises(ValueError, match="n_rows must be between 1 and 356254"):
        generate_applications(n_rows)


def test_every_column_is_close_to_the_summary(frame: pd.DataFrame) -> None:
    table = fidelity_table(frame)
    assert set(table.index) == set(FILE_COLUMNS) - {"SK_ID_CURR"}
    too_far = table[(table["ks"] > 0.05) | (table["tv"] > 0.05) | (table["null_rate_diff"] > 0.02)]
    assert too_far.empty, f"columns far from the summary:\n{too_far}"


def test_quantile_distance_sees_a_shifted_column(frame: pd.DataFrame) -> None:
    quantiles = column_summaries()["DAYS_BIRTH"]["quantiles"]
    assert quantile_distance(frame["DAYS_BIRTH"], quantiles) < 0.05
    assert quantile_distance(frame["DAYS_BIRTH"] + 1500, quantiles) > 0.1


def test_published_strong_correlations_are_kept(frame: pd.DataFrame) -> None:
    gaps = spearman_gaps(frame)
    amounts = gaps[[(a, b) in MAIN_AMOUNT_PAIRS for a, b in zip(gaps["first"], gaps["second"], strict=True)]]
    assert len(amounts) == len(MAIN_AMOUNT_PAIRS)
    assert amounts["gap"].max() < 0.05, amounts
    assert gaps["gap"].max() < 0.1, gaps.sort_values("gap").tail()


def test_unpublished_pairs_stay_weak(frame: pd.DataFrame) -> None:
    """The summary lists every pair with |rho| >= 0.3, so any other pair must stay below that.

    Ranks are taken once per column (a fast approximation of pairwise Spearman, hence the 0.4 margin).
    """
    numbers = frame.drop(columns=["SK_ID_CURR", "TARGET"]).select_dtypes("number")
    correlations = numbers.loc[:, numbers.nunique() > 1].rank().corr()
    published = {frozenset((a, b)) for a, b, _ in load_summary()["spearman_abs_ge_0_3"]}
    strong = [
        (a, b, round(correlations.loc[a, b], 2))
        for i, a in enumerate(correlations.columns)
        for b in correlations.columns[i + 1 :]
        if frozenset((a, b)) not in published and abs(correlations.loc[a, b]) > 0.4
    ]
    assert strong == []


def test_the_published_fit_inputs_have_their_real_mean_and_spread(frame: pd.DataFrame) -> None:
    signal = load_summary()["target_signal"]
    inputs = _signal_inputs(frame)
    for name in signal["features"]:
        mean, std = signal["mean"][name], signal["std"][name]
        assert abs(inputs[name].mean() - mean) < 0.1 * std, name
        assert 0.8 < inputs[name].std() / std < 1.3, name


def test_employment_quirks_go_together(frame: pd.DataFrame) -> None:
    sentinel = frame["DAYS_EMPLOYED"] == EMPLOYED_SENTINEL
    assert abs(sentinel.mean() - 0.1808) < 0.01
    assert (sentinel == (frame["FLAG_EMP_PHONE"] == 0)).all()
    assert (sentinel == (frame["ORGANIZATION_TYPE"] == "XNA")).all()
    assert (sentinel == frame["NAME_INCOME_TYPE"].isin(["Pensioner", "Unemployed"])).all()
    assert frame.loc[sentinel, "OCCUPATION_TYPE"].isna().all()
    working = frame[~sentinel]
    assert (working["DAYS_EMPLOYED"] <= 0).all()
    assert (working["DAYS_EMPLOYED"] >= working["DAYS_BIRTH"]).all()


def test_logical_constraints_of_the_real_table_hold(frame: pd.DataFrame) -> None:
    assert (frame["CNT_FAM_MEMBERS"] >= frame["CNT_CHILDREN"] + 1).all()
    assert (frame["DAYS_REGISTRATION"] >= frame["DAYS_BIRTH"]).all()
    assert (frame["OWN_CAR_AGE"].isna() == (frame["FLAG_OWN_CAR"] == "N")).all()
    documents = frame.filter(like="FLAG_DOCUMENT_")
    assert documents.sum(axis=1).max() == 1  # one document per applicant, as in the real table


def test_missing_building_information_is_missing_together(frame: pd.DataFrame) -> None:
    building = frame[list(MISSING_TOGETHER["building"])].isna()
    least_missing = building.mean().idxmin()
    assert building[building[least_missing]].all(axis=1).all()
    assert building["APARTMENTS_AVG"].corr(building["LIVINGAREA_AVG"]) > 0.9


def test_default_rate_is_about_8_percent(frame: pd.DataFrame) -> None:
    assert 0.07 <= frame["TARGET"].mean() <= 0.085


def test_lightgbm_learns_a_realistic_signal(frame: pd.DataFrame) -> None:
    features, target = build_features(frame), frame["TARGET"].to_numpy()
    train_x, test_x, train_y, test_y = train_test_split(
        features, target, test_size=0.25, stratify=target, random_state=0
    )
    model = LGBMClassifier(
        n_estimators=100,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=50,
        random_state=0,
        n_jobs=1,  # threads only contend on a 2-core machine running other jobs
        verbose=-1,
    ).fit(train_x, train_y)
    auc = roc_auc_score(test_y, model.predict_proba(test_x)[:, 1])
    assert 0.70 <= auc <= 0.80, auc


def test_target_ignores_the_client_id(frame: pd.DataFrame) -> None:
    assert abs(np.corrcoef(frame["SK_ID_CURR"], frame["TARGET"])[0, 1]) < 0.03
