import datetime as dt
import sqlite3

import pytest
from tally import Tally

from tallywatch.config import Config
from tallywatch.models import Event, Figure
from tallywatch.store import MIGRATIONS, SCHEMA_VERSION, SchemaTooNew, Store

D = dt.date


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def test_new_unchanged_revised(store):
    with store.transaction():
        first = store.record(
            "mod", "post-1", [Figure("personnel", D(2025, 6, 13), 1_001_560), Figure("tanks", D(2025, 6, 13), 10_934)]
        )
        store.flush()
    assert [c.kind for c in first] == ["new", "new"]
    with store.transaction():
        again = store.record("mod", "post-1", [Figure("personnel", D(2025, 6, 13), 1_001_560)])
    assert [c.kind for c in again] == ["unchanged"]
    with store.transaction():
        fixed = store.record("mod", "post-1b", [Figure("personnel", D(2025, 6, 13), 1_001_650)])
        store.flush()
    assert [(c.kind, c.previous, c.figure.value) for c in fixed] == [("revised", 1_001_560, 1_001_650)]
    assert store.observation_count() == 3  # every value a source gave is kept, the revised one too
    (old,) = store.conn.execute("SELECT value, item FROM revisions").fetchall()
    assert old == (1_001_560, "post-1")


def test_revision_is_per_source(store):
    with store.transaction():
        store.record("api", "x", [Figure("tanks", D(2022, 11, 24), 2898)])
        store.flush()
        (other,) = store.record("rss", "y", [Figure("tanks", D(2022, 11, 24), 2899)])
    assert other.kind == "new"  # another source's figure is not a revision of this one


def test_latest_per_metric(tmp_path):
    tally = Tally(tmp_path / "l.db", Config())
    tally.report("mod", D(2025, 6, 13), 1_001_560)
    tally.report("mod", D(2025, 6, 13), 10_934, metric="tanks")
    tally.report("mod", D(2025, 6, 14), 1_002_690)
    latest = {r.metric: r for r in tally.store.latest()}
    assert (latest["personnel"].as_of, latest["personnel"].value, latest["personnel"].delta) == (
        D(2025, 6, 14),
        1_002_690,
        1_130,
    )
    assert (latest["tanks"].as_of, latest["tanks"].delta) == (D(2025, 6, 13), None)
    tally.close()


def test_schema_wal_and_busy_timeout(tmp_path):
    store = Store(tmp_path / "s.db")
    store.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    again = Store(tmp_path / "s.db")  # reopening an up-to-date file migrates nothing
    assert again.version == SCHEMA_VERSION
    assert again.db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    again.close()


def test_a_version_1_file_is_upgraded_in_place(tmp_path):
    """A file written by the first schema: its figures become the accepted series, revisions kept."""
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    now = "2025-06-14T06:00:00+00:00"
    conn.executemany(
        "INSERT INTO observations (source, item, metric, as_of, value, reported_delta, observed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            ("mod", "a", "personnel", "2025-06-13", 1_001_500, None, now),
            ("mod", "b", "personnel", "2025-06-13", 1_001_560, None, now),
        ],
    )
    conn.execute(
        "INSERT INTO figures (source, metric, as_of, value, reported_delta, item, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("mod", "personnel", "2025-06-13", 1_001_560, None, "b", now),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.version == SCHEMA_VERSION
    assert store.series("personnel") == [(D(2025, 6, 13), 1_001_560, "mod", "accepted", None)]
    assert store.conn.execute("SELECT value FROM revisions").fetchall() == [(1_001_500,)]
    store.close()


def test_a_file_from_a_newer_tallywatch_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "n.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer than this tallywatch"):
        Store(tmp_path / "n.db")


def test_event_keys_are_unique(store):
    event = Event("milestone:personnel:1000000", "milestone", "personnel", D(2025, 6, 12), 1_000_340, "m")
    assert store.add_event(event, "mod", True) is not None
    assert store.add_event(event, "mod", True) is None
    assert len(store.events()) == 1


def test_a_failed_batch_leaves_nothing(tmp_path):
    tally = Tally(tmp_path / "r.db", Config())
    with pytest.raises(RuntimeError), tally.store.transaction():
        tally.report("mod", D(2025, 6, 13), 1_001_560)
        raise RuntimeError("crash in the middle")
    tally.detector.forget()
    assert tally.store.series("personnel") == [] and tally.store.observation_count() == 0
    tally.close()
