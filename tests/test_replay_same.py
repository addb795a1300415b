"""A replay of the bundled General Staff history (the same files as ../shared/data/genstaff) stores
the same events and daily reports, row for row, with the report lookups' indexes and personnel's
rank kept up to date (issue 28) as without them: the lookups by scan, the rank counted over each
day's year."""

import datetime as dt
import hashlib
from pathlib import Path

from tallywatch import config, history, replay
from tallywatch.detect import Detector, report
from tallywatch.ingest import Item, ingest
from tallywatch.store import Store

COLUMNS = "key, rule, metric, as_of, value, severity, message, data, source, notify, retracted_at, superseded_by"
# everything a replay stores but the moments it stored it at (``updated_at``, ``first_seen``, …)
STORED = {
    "events": f"SELECT {COLUMNS} FROM events ORDER BY id",
    "figures": "SELECT source, metric, as_of, value, reported_delta, item, status FROM figures ORDER BY metric, as_of, source",
    "revisions": "SELECT source, item, metric, as_of, value, reported_delta FROM revisions ORDER BY id",
    "items": "SELECT source, guid, digest, figures, coverage, published FROM items ORDER BY source, guid",
    "held": "SELECT day FROM reports_held ORDER BY day",
}
# the sha256 of those rows after each way through the bundled history, as the code of 5b7d1bb (main, before
# the second round of replay speed-ups, issue 28) stored them: the speed-ups change no byte of it. Change a
# digest only with a change meant to store something else, and say so in its commit.
STORED_BEFORE = {
    "full": "e1bd46cfd5356a803effc7f2dc90021292b31903171ddb143c3ab169e4a04b3a",
    "first_start": "7a232641ce432bd1d2792f1fc92c345539ed22f3c96b95da49945fabfc5ff134",
}


def replayed(path: Path, days: dict) -> tuple[list[tuple], list[tuple]]:
    """Each day through ``ingest`` as news (its daily report made), as ``bench/replay.py`` does: the
    events stored and the days still held, everything but the moments they were stored at."""
    store = Store(path)
    detector = Detector(config.defaults(), store)
    with store.roomy(), store.transaction():
        for day, figures in days.items():
            ingest(
                store, detector, [], history.SOURCE_NAME, [Item(f"{history.SOURCE_NAME}:{day}", str(day), [*figures])]
            )
    events = store.conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY id").fetchall()
    held = store.conn.execute(
        "SELECT day FROM reports_held h WHERE NOT EXISTS"
        " (SELECT 1 FROM events e WHERE e.rule = 'report' AND e.as_of = h.day) ORDER BY day"
    ).fetchall()
    store.close()
    return events, held


def counted_rank(w, day: dt.date):
    """The rank as it was before: counted over the day's year every time."""
    return None if w.covered(day, report.RANK_DAYS) < report.RANK_COVERED else report._rank_counted(w, day)


def test_a_replay_of_the_bundled_history_stores_the_same_events_and_reports(tmp_path, monkeypatch):
    days = history.daily()
    now = replayed(tmp_path / "now.db", days)
    old = tmp_path / "before.db"
    store = Store(old)  # the lookups by scan, as before schema 16
    store.conn.execute("DROP INDEX events_rule_day")
    store.conn.execute("DROP INDEX events_late_untold")
    store.conn.execute("DROP INDEX events_retracting")
    store.close()
    monkeypatch.setattr(report, "rank", counted_rank)
    before = replayed(old, days)
    events, held = now
    assert len(events) == len(before[0]) > 2_000
    assert sum(1 for e in events if e[1] == "report") == 1_654  # a report for every day, 28 of them edited
    for mine, theirs in zip(events, before[0], strict=True):
        assert mine == theirs, mine[0]
    assert held == before[1]
    ranked = [e for e in events if e[1] == "report" and '"rank": {' in e[7]]
    assert len(ranked) > 1_000  # the rank was said, and compared, on most days


def stored(store: Store) -> str:
    """The sha256 of every row a replay stored (``STORED``), the moments left out."""
    rows = {name: store.conn.execute(sql).fetchall() for name, sql in STORED.items()}
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_the_replay_and_a_first_start_store_to_the_byte_what_they_stored_before(tmp_path):
    """Both ways ``bench/replay.py`` times: each day as news with its report, and a first start's
    quiet ``replay.feed_history``; the digests were taken from the code before the speed-ups."""
    days = history.daily()
    store = Store(tmp_path / "full.db")
    detector = Detector(config.defaults(), store)
    with store.roomy(), store.transaction():
        for day, figures in days.items():
            item = Item(f"{history.SOURCE_NAME}:{day}", str(day), [*figures])
            ingest(store, detector, [], history.SOURCE_NAME, [item])
    full = stored(store)
    store.close()
    store = Store(tmp_path / "first.db")
    replay.feed_history(store, Detector(config.defaults(), store), max(days))
    first_start = stored(store)
    store.close()
    assert {"full": full, "first_start": first_start} == STORED_BEFORE
