"""Outcomes join stored decisions through the pseudonym: idempotent, unmatched counted, raw ids never kept."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from credit_scoring.errors import DataError, UsageError
from credit_scoring.recording.outcomes import (
    OutcomeLoad,
    ParquetOutcomes,
    drop_outcomes_before,
    load_outcomes,
    matched_decisions,
    read_outcome_file,
)
from credit_scoring.recording.store import ParquetStore
from tests.support.outcomes import KEY, decisions, outcome_file_frame, store_decisions


@pytest.fixture
def stored(tmp_path: Path) -> tuple[ParquetStore, pd.DataFrame]:
    store, frame = ParquetStore(tmp_path / "store"), decisions(300)
    store_decisions(store, frame)
    return store, frame


def _current(store: ParquetStore) -> pd.DataFrame:
    files = ParquetOutcomes(store.root).files()
    return pd.concat([pq.read_table(f).to_pandas() for f in files]) if files else pd.DataFrame()


def test_every_outcome_joins_its_decision_and_a_second_load_changes_nothing(stored) -> None:
    store, frame = stored
    first = load_outcomes(store, outcome_file_frame(frame), KEY)
    files = ParquetOutcomes(store.root).files()
    again = load_outcomes(store, outcome_file_frame(frame), KEY)
    assert (first.stored, first.unmatched, first.matched) == (300, 0, 300)
    assert (again.stored, again.corrected, again.unchanged) == (0, 0, 300)
    assert ParquetOutcomes(store.root).files() == files
    kept = _current(store).merge(
        store.records(columns=["request_id", "item", "probability"]), on=["request_id", "item"]
    )
    expected = frame.set_index("probability")["target"]
    assert kept.set_index("probability")["target"].sort_index().tolist() == expected.sort_index().tolist()


def test_unknown_clients_are_counted_not_refused(stored) -> None:
    store, frame = stored
    sent = pd.concat(
        [
            outcome_file_frame(frame.head(10)),
            pd.DataFrame(
                {
                    "SK_ID_CURR": [1, 2],
                    "TARGET": [0, 1],
                    "OBSERVATION_DATE": pd.to_datetime(["2027-01-01", None]),
                }
            ),
        ]
    )
    load = load_outcomes(store, sent.reset_index(drop=True), KEY)
    assert (load.received, load.stored, load.unmatched) == (12, 10, 2)


def test_a_changed_target_is_a_correction(stored) -> None:
    store, frame = stored
    load_outcomes(store, outcome_file_frame(frame.head(5)), KEY)
    changed = outcome_file_frame(frame.head(5)).assign(TARGET=lambda f: (1 - f["TARGET"]).astype("int8"))
    load = load_outcomes(store, changed, KEY)
    assert (load.corrected, load.stored) == (5, 0)


def test_the_raw_client_id_is_never_stored(stored) -> None:
    store, frame = stored
    load_outcomes(store, outcome_file_frame(frame), KEY)
    written = b"".join(Path(f).read_bytes() for f in ParquetOutcomes(store.root).files())
    table = _current(store)
    assert "SK_ID_CURR" not in table.columns
    assert not table.astype(str).isin(frame["client"].astype(str).tolist()).any().any()
    assert str(frame["client"].iloc[0]).encode() not in written


def test_the_latest_decision_at_or_before_the_observation_day_is_joined() -> None:
    times = pd.to_datetime(["2026-01-01T10:00Z", "2026-03-01T10:00Z", "2026-05-01T10:00Z"], utc=True)
    stored = pd.DataFrame(
        {"client_ref": "a", "request_id": ["r1", "r2", "r3"], "item": 0, "timestamp": times}
    )
    sent = pd.DataFrame(
        {"client_ref": ["a", "a"], "target": [1, 0], "observed_on": [pd.Timestamp("2026-03-01").date(), None]}
    )
    joined = matched_decisions(stored, sent)
    assert joined.sort_values("target")["request_id"].tolist() == ["r3", "r2"]
    assert (joined["decision_time"] <= times[2] + timedelta(0)).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("SK_ID_CURR,OUTCOME\n1,0\n", "missing column"),
        ("SK_ID_CURR,TARGET\n1,2\n", "TARGET must be 0"),
        ("SK_ID_CURR,TARGET\nabc,1\n", "row(s) [2]"),
        ("SK_ID_CURR,TARGET,OBSERVATION_DATE\n1,1,yesterday\n", "OBSERVATION_DATE must be a date"),
    ],
)
def test_bad_files_are_refused_with_the_rule_and_the_rows(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=re.escape(message)):
        read_outcome_file(path)


def test_a_missing_file_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="FILE="):
        read_outcome_file(tmp_path / "none.csv")


def test_the_command_exits_2_on_a_bad_file_and_loads_a_good_one(stored, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from monitor_app.load_outcomes import app

    store, frame = stored
    env = {"CREDIT_STORE_DIR": str(store.root), "CREDIT_PSEUDONYMISATION_KEY": KEY.decode()}
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text("SK_ID_CURR,TARGET\n1,yes\n")
    outcome_file_frame(frame).to_csv(good, index=False, date_format="%Y-%m-%d")
    refused = CliRunner().invoke(app, [str(bad)], env=env)
    loaded = CliRunner().invoke(app, [str(good)], env=env)
    assert refused.exit_code == 2 and "TARGET must be 0 (repaid) or 1 (defaulted)" in refused.output
    assert loaded.exit_code == 0 and '"stored": 300' in loaded.output


def test_the_load_summary_counts_every_outcome_received_once() -> None:
    load = OutcomeLoad(received=10, matched=9, stored=5, corrected=1, unchanged=1, unmatched=1, location="x")
    assert load.superseded == 2
    counted = [int(word) for word in load.summary().replace(",", "").split() if word.isdigit()]
    assert sum(counted[1:]) == load.received  # stored + corrected + known + superseded + unmatched


def test_retention_drops_the_outcomes_of_the_decisions_it_drops(stored) -> None:
    store, frame = stored
    load_outcomes(store, outcome_file_frame(frame), KEY)
    days = sorted({p.name for p in ParquetOutcomes(store.root).root.glob("day=*")})
    assert len(days) >= 2, days  # the fixture's decisions span several days
    cutoff = date.fromisoformat(days[-1][4:])
    dropped = drop_outcomes_before(store, cutoff)
    store.drop_days_before(cutoff)
    left = _current(store)
    assert dropped == len(days) - 1
    assert (pd.to_datetime(left["decision_time"], utc=True).dt.date >= cutoff).all() and len(left) > 0
    assert set(left["request_id"]) <= set(store.records()["request_id"])  # none outlives its decision
