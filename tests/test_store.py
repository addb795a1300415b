import datetime as dt
import sqlite3

import pytest

from tallywatch.models import Figure
from tallywatch.store import SCHEMA_VERSION, SchemaTooNew, Store

D = dt.date


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def test_new_unchanged_revised(store):
    first = store.record(
        "mod", "post-1", [Figure("personnel", D(2025, 6, 13), 1_001_560), Figure("tanks", D(2025, 6, 13), 10_934)]
    )
    assert [c.kind for c in first] == ["new", "new"]
    again = store.record("mod", "post-1", [Figure("personnel", D(2025, 6, 13), 1_001_560)])
    assert [c.kind for c in again] == ["unchanged"]
    fixed = store.record("mod", "post-1b", [Figure("personnel", D(2025, 6, 13), 1_001_650)])
    assert [(c.kind, c.previous, c.figure.value) for c in fixed] == [("revised", 1_001_560, 1_001_650)]
    assert store.observation_count() == 3  # every distinct observation is kept


def test_change_knows_the_day_before(store):
    store.record("mod", "a", [Figure("personnel", D(2025, 6, 11), 999_200)])
    (change,) = store.record("mod", "b", [Figure("personnel", D(2025, 6, 12), 1_000_340)])
    assert (change.prior_value, change.prior_as_of, change.delta) == (999_200, D(2025, 6, 11), 1_140)


def test_revision_is_per_source(store):
    store.record("api", "x", [Figure("tanks", D(2022, 11, 24), 2898)])
    (other,) = store.record("rss", "y", [Figure("tanks", D(2022, 11, 24), 2899)])
    assert other.kind == "new"  # another source's figure is not a revision of this one


def test_latest_per_metric(store):
    store.record("mod", "a", [Figure("personnel", D(2025, 6, 13), 1_001_560), Figure("tanks", D(2025, 6, 13), 10_934)])
    store.record("mod", "b", [Figure("personnel", D(2025, 6, 14), 1_002_690)])
    latest = {r.metric: r for r in store.latest()}
    assert (latest["personnel"].as_of, latest["personnel"].value, latest["personnel"].delta) == (
        D(2025, 6, 14),
        1_002_690,
        1_130,
    )
    assert (latest["tanks"].as_of, latest["tanks"].delta) == (D(2025, 6, 13), None)


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


def test_a_file_from_a_newer_tallywatch_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "n.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer than this tallywatch"):
        Store(tmp_path / "n.db")


def test_event_keys_are_unique(store):
    from tallywatch.models import Event

    event = Event("milestone:personnel:1000000", "milestone", "personnel", D(2025, 6, 12), 1_000_340, "m")
    assert store.add_event(event, "mod", True) is not None
    assert store.add_event(event, "mod", True) is None
    assert len(store.events()) == 1
