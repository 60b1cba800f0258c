"""whylogs profiles: explicit types, a faithful fast float path, file round trip and exact merges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_scoring.monitoring._whylogs import PreprocessedColumn
from credit_scoring.monitoring.profiles import (
    build_profile,
    merge_profiles,
    profile_frame_types,
    read_profile,
    write_profile,
)
from credit_scoring.schema import INPUT_COLUMNS
from tests.unit.monitoring_samples import applications


def _summary(view, column: str) -> dict:
    return view.get_column(column).to_summary_dict()


def test_fast_float_path_counts_like_whylogs() -> None:
    series = pd.Series([1.0, np.nan, np.inf, -2.5, np.nan, 7.0])
    fast, slow = PreprocessedColumn(), PreprocessedColumn()
    fast._pandas_split(series)
    PreprocessedColumn._pandas_split.__wrapped__(slow, series)  # whylogs' own code, under the patch
    counts = ("null_count", "nan_count", "inf_count")
    assert [getattr(fast, c) for c in counts] == [getattr(slow, c) for c in counts] == [2, 2, 1]
    np.testing.assert_array_equal(fast.numpy.floats, slow.numpy.floats)


def test_categories_profile_as_strings_and_numbers_as_floats() -> None:
    frame = applications(200, seed=1)
    frame["CNT_CHILDREN"] = frame["CNT_CHILDREN"].astype("Int64")  # pandas nullable ints must not leak
    frame["probability"] = np.linspace(0, 1, len(frame))
    view = build_profile(frame)
    assert set(view.get_columns()) == {*INPUT_COLUMNS, "probability"}
    gender = _summary(view, "CODE_GENDER")
    assert gender["types/string"] == 200 and gender["types/fractional"] == 0
    children = _summary(view, "CNT_CHILDREN")
    assert children["types/fractional"] == 200 and children["types/integral"] == 0
    assert _summary(view, "probability")["distribution/max"] == pytest.approx(1.0)


def test_missing_values_are_counted_as_nulls() -> None:
    frame = pd.DataFrame({"OCCUPATION_TYPE": ["Laborers", None, None], "EXT_SOURCE_3": [0.1, None, 0.3]})
    typed = profile_frame_types(frame)
    assert typed["OCCUPATION_TYPE"].isna().sum() == 2
    view = build_profile(frame)
    assert _summary(view, "OCCUPATION_TYPE")["counts/null"] == 2
    assert _summary(view, "EXT_SOURCE_3")["counts/null"] == 1


def test_write_read_round_trip(tmp_path: Path) -> None:
    view = build_profile(applications(100, seed=2))
    path = tmp_path / "nested" / "reference_profile.bin"
    write_profile(view, path)
    again = read_profile(path)
    assert _summary(again, "AMT_INCOME_TOTAL") == _summary(view, "AMT_INCOME_TOTAL")
    assert not list(path.parent.glob("*.partial"))


def test_read_missing_profile_says_where(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no whylogs profile"):
        read_profile(tmp_path / "absent.bin")


def test_merge_equals_profile_of_concatenation() -> None:
    first, second = applications(150, seed=3), applications(250, seed=4)
    merged = merge_profiles([build_profile(first), build_profile(second)])
    whole = build_profile(pd.concat([first, second], ignore_index=True))
    for column in ("AMT_INCOME_TOTAL", "NAME_INCOME_TYPE", "EXT_SOURCE_3"):
        got, expected = _summary(merged, column), _summary(whole, column)
        assert got["counts/n"] == expected["counts/n"] == 400
        assert got["counts/null"] == expected["counts/null"]
    assert (
        _summary(merged, "AMT_INCOME_TOTAL")["distribution/max"]
        == whole.get_column("AMT_INCOME_TOTAL").to_summary_dict()["distribution/max"]
    )


def test_merge_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        merge_profiles([])
