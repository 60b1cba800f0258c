"""The ingest: journal to Parquet store and profiles, exactly once across crashes, same inputs as the API."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import orjson
import pytest

from credit_scoring.data.synthetic import generate_applications
from credit_scoring.monitoring.window_profiles import WindowProfiler, merge_window_profiles
from credit_scoring.recording.decode import decode_entries, parse_applications
from credit_scoring.recording.ingest import Ingest, read_status
from credit_scoring.recording.journal import (
    CHECKPOINT_FILE,
    JournalWriter,
    journal_bytes,
    journal_lag,
    segments,
)
from credit_scoring.recording.protocol import Answer, JournalEntry, pseudonymise
from credit_scoring.recording.store import ParquetStore
from credit_scoring.schema import ID_COLUMN, INPUT_COLUMNS, TARGET_COLUMN
from credit_scoring.validation import application_from_json_body, application_to_record
from credit_scoring_tools.simulation import application_payloads

KEY = b"ingest-test-key"
NOW = time.time()


def bodies(rows: int, seed: int = 3) -> list[bytes]:
    return [
        orjson.dumps({"application": p}) for p in application_payloads(generate_applications(rows, seed=seed))
    ]


def scored(body: bytes, index: int, at: float = NOW) -> JournalEntry:
    answer = Answer(f"r{index:06d}", (index % 97) / 97, "grant", 0.4, 0.1)
    return JournalEntry("score", "credit-scoring", "3", 200, None, 2.5, at, answer.request_id, [answer], body)


def refused(index: int, at: float = NOW) -> JournalEntry:
    body = orjson.dumps({"application": {"AMT_INCOME_TOTAL": -1, ID_COLUMN: 42}})
    return JournalEntry("score", "credit-scoring", "3", 400, "validation", 1.0, at, f"x{index}", [], body)


def journal_of(directory: Path, entries: list[JournalEntry], **options) -> None:
    writer = JournalWriter(directory, segment_bytes=options.get("segment_bytes", 1 << 30), segment_age_s=3600,
                           fsync_interval_s=60, max_bytes=1 << 40).start()  # fmt: skip
    for entry in entries:
        writer.record(entry)
    writer.close()


def ingest_of(tmp_path: Path, **options) -> Ingest:
    profiler = WindowProfiler(tmp_path / "profiles", worker="ingest-test", window_minutes=60)
    settings = {"retention_s": 0.0, "checkpoint_interval_s": 3600.0} | options
    return Ingest(tmp_path / "journal", ParquetStore(tmp_path / "store"), profiler, KEY, **settings)


def test_columnar_decoding_gives_the_api_validation_inputs() -> None:
    sent = bodies(300)
    columns, ids = parse_applications(sent)
    expected = [application_to_record(application_from_json_body(b)) for b in sent]
    assert [{name: columns[name][i].as_py() for name in INPUT_COLUMNS} for i in range(300)] == expected
    assert ids == [application_from_json_body(b).SK_ID_CURR for b in sent]


def test_unusual_bodies_fall_back_to_the_api_model() -> None:
    application = orjson.loads(bodies(1)[0])["application"]
    unusual = [orjson.dumps({"application": application | {ID_COLUMN: 100002.0, "CNT_CHILDREN": 2.0}})]
    columns, ids = parse_applications(unusual)
    assert ids == [100002] and columns["CNT_CHILDREN"][0].as_py() == 2


def test_everything_journaled_is_stored_once_and_profiled(tmp_path: Path) -> None:
    sent = bodies(400)
    entries = [scored(b, i) for i, b in enumerate(sent)] + [refused(i) for i in range(5)]
    journal_of(tmp_path / "journal", entries, segment_bytes=300_000)
    ingest = ingest_of(tmp_path, batch_records=150)
    assert ingest.run_once() == 405
    ingest.close()
    store = ParquetStore(tmp_path / "store")
    records = store.records()
    assert len(records) == store.count() == 405 and records["request_id"].is_unique
    first = records.set_index("request_id").loc["r000000"]
    application = application_from_json_body(sent[0])
    assert first["client_ref"] == pseudonymise(getattr(application, ID_COLUMN), KEY)
    assert first[list(INPUT_COLUMNS)].replace({float("nan"): None}).to_dict() == pytest.approx(
        application_to_record(application), nan_ok=True)  # fmt: skip
    rejected = records[records["status"] == 400]
    assert len(rejected) == 5 and orjson.loads(rejected["rejected_inputs"].iloc[0]) == {
        "AMT_INCOME_TOTAL": -1
    }
    profile = merge_window_profiles(tmp_path / "profiles")
    assert profile.get_column("probability").to_summary_dict()["counts/n"] == 400
    assert not segments(tmp_path / "journal") and read_status(tmp_path / "journal")["stored_records"] == 405


def test_a_crash_between_store_write_and_checkpoint_stores_nothing_twice(tmp_path: Path) -> None:
    journal_of(tmp_path / "journal", [scored(b, i) for i, b in enumerate(bodies(200))])
    first = ingest_of(tmp_path, batch_records=80, retention_s=3600)
    first.run_once(flush=True)  # batches of 80, 80, 40 and checkpoints; profiles written once at the end
    checkpoint = tmp_path / "journal" / CHECKPOINT_FILE
    before = checkpoint.read_bytes()
    # The crash: three batches of 20, 20 and 10 stored, the process killed before their checkpoints
    # (restored here). Read again in batches of 80, the frames are not cut where the stored batches were.
    journal_of(tmp_path / "journal", [scored(b, 1000 + i) for i, b in enumerate(bodies(50, seed=4))])
    first.batch_records = 20
    first.run_once(flush=True)
    checkpoint.write_bytes(before)
    again = ingest_of(tmp_path, batch_records=80, retention_s=3600)
    again.run_once(flush=True)
    records = ParquetStore(tmp_path / "store").records(columns=["request_id"])
    assert len(records) == 250 and records["request_id"].is_unique
    assert again.counters.skipped_batches == 3 and again.counters.stored_records == 0


def test_profiles_are_rebuilt_for_what_was_stored_after_their_last_write(tmp_path: Path) -> None:
    # An hour ahead: the window must still be open when run_once rolls (records at import time were
    # rolled to disk when the clock passed the hour between the module's import and this test).
    later = time.time() + 3600
    journal_of(tmp_path / "journal", [scored(b, i, at=later) for i, b in enumerate(bodies(120))])
    crashed = ingest_of(tmp_path, batch_records=50)
    crashed.run_once(flush=False)  # stored and checkpointed, profiles only in memory: then "killed"
    assert not list((tmp_path / "profiles").rglob("*.bin"))
    restarted = ingest_of(tmp_path)
    assert restarted.replay_profiles() == 120
    restarted.close()
    profile = merge_window_profiles(tmp_path / "profiles")
    assert profile.get_column("probability").to_summary_dict()["counts/n"] == 120
    assert ParquetStore(tmp_path / "store").count() == 120


def test_an_open_segment_waits_for_a_full_batch_or_its_delay(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "journal", segment_bytes=1 << 30, segment_age_s=3600,
                           fsync_interval_s=60, max_bytes=1 << 40).start()  # fmt: skip
    for i, body in enumerate(bodies(10)):
        writer.record(scored(body, i, at=time.time()))
    ingest = ingest_of(tmp_path, batch_records=100, max_delay_s=3600)
    assert ingest.run_once() == 0 and abs(journal_lag(tmp_path / "journal").lag_records - 10) <= 1
    ingest.max_delay_s = 0
    assert ingest.run_once() == 10 and journal_lag(tmp_path / "journal").lag_bytes == 0
    assert segments(tmp_path / "journal")  # still open: kept
    writer.close()


def test_days_go_to_their_own_partitions(tmp_path: Path) -> None:
    day = 86_400
    entries = [scored(b, i, at=NOW - (i % 3) * day) for i, b in enumerate(bodies(30))]
    journal_of(tmp_path / "journal", sorted(entries, key=lambda e: e.timestamp))
    ingest = ingest_of(tmp_path)
    ingest.run_once(flush=True)
    folders = sorted(p.name for p in (tmp_path / "store").iterdir())
    assert len(folders) == 3 and ParquetStore(tmp_path / "store").count() == 30


def test_a_store_that_fails_keeps_the_journal_and_catches_up(tmp_path: Path) -> None:
    journal_of(tmp_path / "journal", [scored(b, i) for i, b in enumerate(bodies(40))])
    (tmp_path / "store").write_text("a file where the store's folder should be")
    ingest = ingest_of(tmp_path)
    assert ingest.run_once(flush=True) == 0 and ingest.counters.store_errors == 1
    (tmp_path / "store").unlink()
    assert ingest.run_once(flush=True) == 40
    assert ParquetStore(tmp_path / "store").count() == 40


def test_decoding_drops_ids_and_targets(tmp_path: Path) -> None:
    body = orjson.dumps({"application": orjson.loads(bodies(1)[0])["application"] | {TARGET_COLUMN: 1}})
    table = decode_entries([scored(body, 1)], KEY)
    assert ID_COLUMN not in table.column_names and TARGET_COLUMN not in table.column_names
    shutil.rmtree(tmp_path, ignore_errors=True)


def batch_scored(applications: list[dict], index: int) -> JournalEntry:
    body = json.dumps({"applications": applications}).encode()  # NaN written as NaN, as pandas does
    answers = [Answer(f"b{index}-{i}", 0.25, "grant", 0.4, 0.1) for i in range(len(applications))]
    return JournalEntry("score_batch", "credit-scoring", "3", 200, None, 2.5, NOW, f"b{index}", answers, body)


def test_batch_bodies_are_stored_with_the_api_models_inputs_whichever_path_reads_them() -> None:
    payloads = [orjson.loads(body)["application"] for body in bodies(60)]
    unusual = [payloads[0] | {ID_COLUMN: 100002.0, "EXT_SOURCE_1": math.nan}, payloads[1]]  # not strict JSON
    batches = [payloads[:30], payloads[30:], unusual]
    table = decode_entries([batch_scored(batch, i) for i, batch in enumerate(batches)], KEY)
    sent = [application_from_json_body(json.dumps({"application": p}).encode()) for p in payloads + unusual]
    rows = table.to_pylist()
    stored = [{name: row[name] for name in INPUT_COLUMNS} for row in rows]
    assert stored == [application_to_record(application) for application in sent]
    assert [row["client_ref"] for row in rows] == [pseudonymise(a.SK_ID_CURR, KEY) for a in sent]
    assert [row["item"] for row in rows] == [*range(30), *range(30), 0, 1]


@pytest.mark.parametrize("bound_mb", [1, 1024])
def test_stored_segments_outlive_their_retention_only_while_the_journal_has_room(
    tmp_path: Path, bound_mb: int
) -> None:
    journal_of(tmp_path / "journal", [scored(b, i) for i, b in enumerate(bodies(400))], segment_bytes=200_000)
    written, count = journal_bytes(tmp_path / "journal"), len(segments(tmp_path / "journal"))
    assert written > (1 << 20) // 2 and count > 3
    ingest = ingest_of(tmp_path, retention_s=3600.0, journal_max_bytes=bound_mb << 20)
    assert ingest.run_once(flush=True) == 400
    assert ParquetStore(tmp_path / "store").count() == 400
    released = read_status(tmp_path / "journal")["released_early"]
    if bound_mb == 1:  # above half the bound: every stored and profiled segment deleted, and counted
        assert journal_bytes(tmp_path / "journal") == 0 and released == count
    else:  # room enough: kept for their retention
        assert journal_bytes(tmp_path / "journal") == written and released == 0


def test_a_journal_above_half_its_bound_with_nothing_stored_yet_does_not_checkpoint_every_pass(
    tmp_path: Path,
) -> None:
    journal_of(tmp_path / "journal", [scored(b, i) for i, b in enumerate(bodies(100))], segment_bytes=200_000)
    (tmp_path / "store").write_text("the store is down: nothing gets consumed")
    ingest = ingest_of(tmp_path, retention_s=3600.0, journal_max_bytes=1 << 19)
    checkpoints: list[int] = []
    ingest.checkpoint_profiles = lambda: checkpoints.append(1)  # type: ignore[method-assign]
    for _ in range(3):
        assert ingest.run_once() == 0
    assert checkpoints == [] and ingest.counters.store_errors == 3
