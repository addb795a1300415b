import datetime as dt
import sqlite3

import pytest
from tally import Tally

from tallywatch.config import Config, Milestone
from tallywatch.models import Event, Figure
from tallywatch.store import BULK_CACHE, DELIVERY_STATES, IDLE_CACHE, MIGRATIONS, SCHEMA_VERSION, SchemaTooNew, Store

D = dt.date


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def test_new_unchanged_revised(store):
    with store.transaction():
        first = store.record(
            "mod",
            "post-1",
            [
                Figure(metric="personnel", as_of=D(2025, 6, 13), value=1_001_560),
                Figure(metric="tanks", as_of=D(2025, 6, 13), value=10_934),
            ],
        )
        store.flush()
    assert [c.kind for c in first] == ["new", "new"]
    with store.transaction():
        again = store.record("mod", "post-1", [Figure(metric="personnel", as_of=D(2025, 6, 13), value=1_001_560)])
    assert [c.kind for c in again] == ["unchanged"]
    with store.transaction():
        fixed = store.record("mod", "post-1b", [Figure(metric="personnel", as_of=D(2025, 6, 13), value=1_001_650)])
        store.flush()
    assert [(c.kind, c.previous, c.figure.value) for c in fixed] == [("revised", 1_001_560, 1_001_650)]
    assert store.observation_count() == 3  # every value a source gave is kept, the revised one too
    (old,) = store.conn.execute("SELECT value, item FROM revisions").fetchall()
    assert old == (1_001_560, "post-1")


def test_revision_is_per_source(store):
    with store.transaction():
        store.record("api", "x", [Figure(metric="tanks", as_of=D(2022, 11, 24), value=2898)])
        store.flush()
        (other,) = store.record("rss", "y", [Figure(metric="tanks", as_of=D(2022, 11, 24), value=2899)])
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


def test_a_version_9_file_keeps_its_subscribers_and_takes_the_daily_report_choice(tmp_path):
    """Schema 10 copies the subscribers table (SQLite can't change a CHECK in place): every row and
    column kept, the email tokens still unique, and 'report' a choice from then on."""
    path = tmp_path / "v9.db"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:9]:
        for statement in migration.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(
        "INSERT INTO subscribers (channel, address, choice, metrics, language, quiet_from, quiet_to, digest, instant,"
        " token, created_at, updated_at) VALUES ('telegram', '42', 'metrics', '[\"tanks\"]', 'uk', 22, 7, NULL, 0,"
        " NULL, 'c', 'u'), ('email', 'a@example.org', 'all', '[]', 'en', NULL, NULL, 'daily', 1, 'tok', 'c', 'u')"
    )
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.version == SCHEMA_VERSION
    kept = store.subscriber("telegram", "42")
    assert (kept["choice"], kept["metrics"], kept["language"], kept["quiet_from"]) == ("metrics", ["tanks"], "uk", 22)
    assert store.subscriber("email", "a@example.org")["token"] == "tok"
    store.save_subscriber("telegram", "42", choice="report")
    assert store.subscriber("telegram", "42")["choice"] == "report"
    with pytest.raises(sqlite3.IntegrityError):  # the token index came back with the table
        store.conn.execute("UPDATE subscribers SET token = 'tok' WHERE address = '42'")
    store.close()


def test_a_file_from_a_newer_tallywatch_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "n.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer than this tallywatch"):
        Store(tmp_path / "n.db")


def test_event_keys_are_unique(store):
    event = Event(
        key="milestone:personnel:1000000",
        rule="milestone",
        metric="personnel",
        as_of=D(2025, 6, 12),
        value=1_000_340,
        message="m",
    )
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


def test_writes_outside_a_transaction_are_committed(tmp_path):
    """The review's reproduction: a write outside ``transaction()`` (enqueue), then one inside
    (save_subscriber); reopened, both are there."""
    path = tmp_path / "w.db"
    store = Store(path)
    stored = store.add_event(
        Event(key="k", rule="milestone", metric="personnel", as_of=D(2025, 6, 12), value=1, message="m"), "mod", True
    )
    store.enqueue(stored.id, "console", "-", "k|console|-")
    store.save_subscriber("telegram", "42")
    store.conn.execute("UPDATE subscribers SET name = 'raw'")  # even a bare statement commits itself
    assert not store.conn.in_transaction
    store.conn.close()  # no close(): a crash, nothing flushed on the way out
    reopened = Store(path)
    assert reopened.outbox_counts()["pending"] == 1
    assert reopened.subscriber("telegram", "42")["name"] == "raw"
    reopened.close()


def test_every_write_is_inside_a_transaction(tmp_path):
    """One way to write: every INSERT / UPDATE / DELETE runs between BEGIN IMMEDIATE and COMMIT,
    whatever the caller did (traced at the connection while a whole life runs: polls, alerts,
    deliveries, retries, subscribers)."""
    tally = Tally(tmp_path / "t.db", Config(milestones={"personnel": Milestone(step=100_000)}))
    store = tally.store
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    tally.report("mod", D(2025, 6, 11), 999_200)
    tally.report("mod", D(2025, 6, 12), 1_000_340, delta=1_140)
    (event,) = [e for e in store.events() if e["rule"] == "milestone"]
    store.enqueue(event["id"], "console", "-", "k|console|-")
    (claimed,) = store.claim("console")
    store.mark_retry(claimed.id, "no", dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dead=False)
    (claimed,) = store.claim("console")
    store.mark_sent(claimed.id)
    store.save_subscriber("telegram", "42", language="uk")
    store.deactivate("telegram", "42", "blocked")
    store.remove_subscriber("telegram", "42")
    store.note_failure("mod", "HTTP 500", dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    store.note_success("mod", etag=None, last_modified=None, new_report=False, keep_validators=True)
    store.set_broken("mod", None)
    store.mark_item("mod", "g", "d", 0)
    store.release()
    store.requeue_dead()
    store.conn.set_trace_callback(None)
    open_ = False
    writes = 0
    for sql in statements:
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb == "BEGIN":
            assert not open_, "nested BEGIN"
            open_ = True
        elif verb in ("COMMIT", "ROLLBACK"):
            open_ = False
        elif verb in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
            writes += 1
            assert open_, f"a write outside transaction(): {sql[:80]}"
    assert writes > 15 and not open_
    store.close()


def test_every_store_method_that_writes_runs_in_a_transaction():
    """The static half of "one way to write": every Store method with an INSERT / UPDATE / DELETE
    in it is ``@_writes`` or wraps its work in ``with self.transaction()``, and a private helper
    that writes is called only from such methods (the trace above covers what a life exercises;
    this covers every method, called or not). Store's methods are those of its rooms, each a class
    in a module of the store package."""
    import ast
    import inspect
    import re

    rooms = [cls for cls in Store.__mro__ if cls.__module__.startswith("tallywatch.store")]
    assert len(rooms) > 5
    methods = {}
    for room in reversed(rooms):  # the first in the MRO wins, as in Store
        (cls,) = ast.parse(inspect.getsource(room)).body
        methods.update({fn.name: fn for fn in cls.body if isinstance(fn, ast.FunctionDef)})
    sql_write = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)

    def writes(fn: ast.FunctionDef) -> bool:
        return any(
            isinstance(c, ast.Constant) and isinstance(c.value, str) and sql_write.search(c.value) for c in ast.walk(fn)
        )

    def guarded(fn: ast.FunctionDef) -> bool:
        decorated = any(ast.unparse(d) in ("_writes", "_bookkeeping") for d in fn.decorator_list)
        wrapped = any(
            isinstance(w, ast.With)
            and any(ast.unparse(i.context_expr).startswith("self.transaction(") for i in w.items)
            for w in ast.walk(fn)
        )
        return decorated or wrapped

    def callers(name: str) -> list[ast.FunctionDef]:
        return [
            fn
            for fn in methods.values()
            if any(ast.unparse(c.func) == f"self.{name}" for c in ast.walk(fn) if isinstance(c, ast.Call))
        ]

    writers = [fn for fn in methods.values() if writes(fn)]
    assert len(writers) > 15
    for fn in writers:
        if fn.name.startswith("_"):
            assert callers(fn.name), f"Store.{fn.name} writes and nothing calls it"
            for caller in callers(fn.name):
                assert guarded(caller), f"Store.{caller.name} calls {fn.name}, which writes, outside transaction()"
        else:
            assert guarded(fn), f"Store.{fn.name} writes outside transaction(): decorate it with @_writes"


def test_two_processes_opening_a_new_file_at_once_migrate_it_once(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "new.db"
    code = f"from tallywatch.store import Store; Store({str(path)!r}).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    store = Store(path)
    assert store.version == SCHEMA_VERSION
    store.close()


def test_the_series_shares_its_days_and_sources_across_metrics(tmp_path):
    """The detector keeps every stored point in memory (22,000 with the bundled history): a day
    and a source name are one object each, not one per row, and SQLite keeps a 1 MiB page cache
    rather than the whole file (the idle footprint, bench/footprint.py --restart)."""
    from tallywatch.ingest import Item

    tally = Tally(tmp_path / "s.db", Config())
    days = [D(2025, 6, 1) + dt.timedelta(days=i) for i in range(3)]
    for i, day in enumerate(days):
        figures = [
            Figure(metric="personnel", as_of=day, value=1_000_000 + i),
            Figure(metric="tanks", as_of=day, value=10_000 + i),
        ]
        tally.feed("bundled-genstaff", Item(f"day-{i}", f"day-{i}", figures), quiet=True)
    personnel, tanks = tally.store.series("personnel"), tally.store.series("tanks")
    assert [row[0] for row in personnel] == days
    for mine, theirs in zip(personnel, tanks, strict=True):
        assert mine[0] is theirs[0] and mine[2] is theirs[2]
    assert tally.store.db.execute("PRAGMA cache_size").fetchone()[0] == IDLE_CACHE == -1024
    tally.close()


def test_the_bundled_history_is_stored_with_a_big_page_cache_given_back_after(tmp_path):
    from tallywatch.detect import Detector
    from tallywatch.replay import seed

    store = Store(tmp_path / "h.db")
    said = []
    store.conn.set_trace_callback(said.append)
    seed(store, Detector(Config(), store), D(2022, 3, 31))
    store.conn.set_trace_callback(None)
    begin, commit = said.index("BEGIN IMMEDIATE"), said.index("COMMIT")
    assert said.index(f"PRAGMA cache_size = {BULK_CACHE}") < begin < commit
    assert said[commit + 1 :][:2] == [f"PRAGMA cache_size = {IDLE_CACHE}", "PRAGMA shrink_memory"]
    assert store.db.execute("PRAGMA cache_size").fetchone()[0] == IDLE_CACHE
    store.close()


def test_a_commit_that_fails_is_rolled_back_and_later_transactions_still_commit(tmp_path):
    """COMMIT itself can fail (a full disk, an I/O error; here a deferred foreign key, which SQLite
    checks only at COMMIT): the transaction must end there, or every later one would silently join
    it and be lost at the next restart (issue 24, case 7)."""
    path = tmp_path / "c.db"
    store = Store(path)
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.conn.execute("PRAGMA defer_foreign_keys = ON")
        store.conn.execute(
            "INSERT INTO deliveries (event_id, channel, recipient, idempotency_key, next_attempt_at, created_at)"
            " VALUES (999, 'console', '-', 'dangling', '', '')"
        )
    assert not store.conn.in_transaction
    store.save_subscriber("telegram", "42")  # its own transaction, committed when it returns
    store.conn.close()  # a crash: nothing flushed on the way out
    reopened = Store(path)
    assert reopened.subscriber("telegram", "42") is not None
    assert reopened.outbox_counts() == dict.fromkeys(DELIVERY_STATES, 0)
    reopened.close()


UNDO_16 = (  # a schema 15 file
    "DROP INDEX events_rule_day",
    "DROP INDEX events_late_untold",
    "DROP INDEX events_retracting",
)
UNDO_15 = (*UNDO_16, "ALTER TABLE sources DROP COLUMN first_success")  # a schema 14 file
UNDO_14 = (*UNDO_15, "ALTER TABLE deliveries DROP COLUMN alone_after")  # a schema 13 file
UNDO_13 = (  # a schema 12 file, as the release before it left one
    *UNDO_14,
    "DROP INDEX deliveries_event",
    "DROP INDEX deliveries_recipient",
    "DROP INDEX deliveries_queue",
    "DROP INDEX events_not_live",
    "DROP INDEX deliveries_followups",
    "DROP INDEX events_day",
    "DROP TABLE reports_held",
    "ALTER TABLE deliveries DROP COLUMN maybe_sent",
    "ALTER TABLE events DROP COLUMN superseded_by",
)


def test_a_version_12_file_learns_which_reports_were_replaced_and_which_deliveries_were_dropped(tmp_path):
    path = tmp_path / "v12.db"
    store = Store(path)
    first = store.add_event(
        Event(key="report:2025-06-13", rule="report", metric="", as_of=D(2025, 6, 13), value=1, message="v1"),
        "mod",
        True,
    )
    data = {"replaces": [first.id], "version": 2}
    second = store.add_event(
        Event(
            key="report:2025-06-13/2", rule="report", metric="", as_of=D(2025, 6, 13), value=2, message="v2", data=data
        ),
        "mod",
        True,
    )
    store.enqueue(first.id, "telegram", "1", "a")
    store.conn.execute(
        "UPDATE deliveries SET status = 'dead', last_error = 'replaced by a newer version before it was sent'"
    )
    for statement in (*UNDO_13, "PRAGMA user_version = 12"):
        store.conn.execute(statement)
    store.close()
    store = Store(path)
    assert store.version == SCHEMA_VERSION
    assert [(e["key"], e["superseded_by"]) for e in store.events()] == [
        ("report:2025-06-13", second.id),
        ("report:2025-06-13/2", None),
    ]
    assert store.latest_report().key == "report:2025-06-13/2"
    assert store.outbox_counts()["dropped"] == 1
    assert store.requeue_dead() == 0  # a replaced copy never goes out again
    store.close()


def test_a_version_13_file_keeps_its_queue_and_its_follow_ups_wait_for_nothing_new(tmp_path):
    """Schema 14 adds when a follow-up may go on its own (``alone_after``): one queued before it has
    none, and goes as it would have."""
    path = tmp_path / "v13.db"
    store = Store(path)
    event = store.add_event(
        Event(
            key="milestone:tanks:11000",
            rule="milestone",
            metric="tanks",
            as_of=D(2025, 6, 13),
            value=11_001,
            message="m",
        ),
        "mod",
        1,
    )
    store.enqueue(event.id, "telegram", "1", "a")
    for statement in (*UNDO_14, "PRAGMA user_version = 13"):
        store.conn.execute(statement)
    store.close()
    store = Store(path)
    assert store.version == SCHEMA_VERSION
    assert [d.event.key for d in store.claim("telegram")] == ["milestone:tanks:11000"]
    assert store.conn.execute("SELECT alone_after FROM deliveries").fetchone()[0] is None
    store.close()


def test_a_version_14_file_learns_since_when_its_sources_were_polled(tmp_path):
    """Schema 15 keeps each source's first successful poll (a source that never brought a report is
    silent since then): a file's sources polled before it count from the first item seen of theirs,
    else from their last success; one never polled successfully has none, and a poll sets it once."""
    path = tmp_path / "v14.db"
    store = Store(path)
    store.conn.executemany(
        "INSERT INTO sources (name, last_success) VALUES (?, ?)",
        [("mod", "2025-06-14T06:00:00+00:00"), ("kmu", "2025-06-14T07:00:00+00:00"), ("down", None)],
    )
    store.mark_item("mod", "a", "d", 14, "complete")
    store.conn.execute("UPDATE items SET first_seen = '2025-06-01T06:00:00+00:00'")
    for statement in (*UNDO_15, "PRAGMA user_version = 14"):
        store.conn.execute(statement)
    store.close()
    store = Store(path)
    assert store.version == SCHEMA_VERSION
    first = {s["name"]: s["first_success"] for s in store.source_states()}
    assert first == {"mod": "2025-06-01T06:00:00+00:00", "kmu": "2025-06-14T07:00:00+00:00", "down": None}
    for name in ("down", "mod", "down"):
        store.note_success(name, etag=None, last_modified=None, new_report=False, keep_validators=False)
    after = {s["name"]: s for s in store.source_states()}
    assert after["mod"]["first_success"] == "2025-06-01T06:00:00+00:00"  # kept
    assert after["down"]["first_success"] < after["down"]["last_success"]  # its first success, not its last
    store.close()


def _reports(store: Store, days: int) -> None:
    """``days`` daily reports from 2022-02-25 on, the first day's in two versions, a held day, and a
    milestone a day told already (one learned of late that no report has told yet)."""
    first = D(2022, 2, 25)
    with store.transaction():
        for i in range(days):
            day = first + dt.timedelta(days=i)
            store.hold_report(day)  # each day's report waited for a held figure once, and was told
            store.add_event(
                Event(key=f"report:{day}", rule="report", metric="", as_of=day, value=i, message="r"), "mod", True
            )
            late = {"late": {"from": str(day), "to": str(day)}, "folded": f"report:{day}"} if i % 2 else {}
            store.add_event(
                Event(
                    key=f"milestone:tanks:{i}",
                    rule="milestone",
                    metric="tanks",
                    as_of=day,
                    value=i,
                    message="m",
                    data=late,
                ),
                "mod",
                True,
            )
        store.add_event(
            Event(key=f"report:{first}/2", rule="report", metric="", as_of=first, value=1, message="r2"), "mod", True
        )
        store.hold_report(first + dt.timedelta(days=days))  # still waiting
        late = {"late": {"from": str(first), "to": str(first)}}
        store.add_event(
            Event(key="milestone:uav:1", rule="milestone", metric="uav", as_of=first, value=1, message="m", data=late),
            "mod",
            False,
        )


def _lookups(store: Store, day: dt.date) -> tuple:
    return (
        store.told(day),
        [v["key"] for v in store.report_versions(day)],
        sorted(store.held_reports()),
        [e.event.key for e in store.late_untold()],
    )


def test_a_version_15_file_gains_the_index_its_report_lookups_use(tmp_path):
    """Schema 16 indexes events by rule and day: a file from before answers the same, from the index."""
    path = tmp_path / "v15.db"
    store = Store(path)
    _reports(store, 30)
    before = _lookups(store, D(2022, 2, 25))
    indexes = len(store.conn.execute("PRAGMA index_list(events)").fetchall())
    # an older tallywatch kept a held day's row after its report was told
    store.conn.execute("INSERT INTO reports_held (day, since) VALUES ('2022-02-26', '2022-02-26T06:00:00+00:00')")
    for statement in (*UNDO_16, "PRAGMA user_version = 15"):
        store.conn.execute(statement)
    store.close()
    store = Store(path)
    assert store.version == SCHEMA_VERSION
    assert (
        _lookups(store, D(2022, 2, 25))
        == before
        == (
            True,
            ["report:2022-02-25", "report:2022-02-25/2"],
            [D(2022, 3, 27)],
            ["milestone:uav:1"],
        )
    )
    plan = store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT 1 FROM events WHERE rule = 'report' AND as_of = '2022-02-25'"
    ).fetchall()
    assert "events_rule_day (rule=? AND as_of=?)" in plan[-1][-1]
    assert len(store.conn.execute("PRAGMA index_list(events)").fetchall()) == indexes
    store.close()


def _steps(store: Store, ask) -> int:
    """How many SQLite virtual-machine steps a lookup takes (SQLite's own count of the work, not a time)."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store.conn.set_progress_handler(count, 1)
    try:
        ask()
    finally:
        store.conn.set_progress_handler(None, 1)
    return steps


@pytest.mark.parametrize("ask", ["told", "report_versions", "held_reports", "late_untold"])
def test_a_days_report_is_found_without_reading_every_earlier_one(tmp_path, ask):
    """The replay of the bundled history asks these once a day (1,626 days): with a scan of every
    report stored before, the full replay took 6,200 figures/s instead of 40,000 (issue 28)."""
    lookup = {
        "told": lambda s: s.told(D(2022, 3, 1)),
        "report_versions": lambda s: s.report_versions(D(2022, 3, 1)),
        "held_reports": lambda s: s.held_reports(),
        "late_untold": lambda s: s.late_untold(),  # the newest day's first report asks it
    }[ask]
    steps = {}
    for days in (20, 2_000):
        store = Store(tmp_path / f"{days}.db")
        _reports(store, days)
        steps[days] = _steps(store, lambda: lookup(store))  # noqa: B023 (called at once)
        store.close()
    assert steps[2_000] < 2 * steps[20], steps


def test_settling_the_queue_reads_no_events_data(tmp_path):
    """``settle`` runs at every claim and at each newer version of a daily report (28 in a replay of
    the bundled history): none of its statements may read every stored event's row and its JSON
    (2.5 ms a time with the bundled history's 2,000 events). It may read an index of them."""
    store = Store(tmp_path / "s.db")
    _reports(store, 50)
    said = []
    store.conn.set_trace_callback(said.append)
    store.settle()
    store.conn.set_trace_callback(None)
    statements = [s for s in said if s.startswith("UPDATE")]
    assert len(statements) >= 5
    for statement in statements:
        for *_, step in store.conn.execute(f"EXPLAIN QUERY PLAN {statement}"):
            assert not (step.startswith("SCAN events") and "INDEX" not in step), (step, statement)
    store.close()


def test_an_installations_key_is_made_once_and_kept_across_a_restart(tmp_path):
    """The web app's signing key: the first one made stays (a new one would void every form out there)."""
    store = Store(tmp_path / "k.db")
    assert store.key("csrf", lambda: "first") == "first"
    assert store.key("csrf", lambda: "second") == "first"
    assert store.key("other", lambda: "its own") == "its own"
    store.close()
    store = Store(tmp_path / "k.db")
    assert store.key("csrf", lambda: "third") == "first"
    store.close()


def tanks_passed(store: Store, value: int, day: int):
    event = Event(
        key=f"m{value}",
        rule="milestone",
        metric="tanks",
        as_of=dt.date(2025, 6, day),
        value=value,
        message=f"tanks passed {value:,}",
    )
    return store.add_event(event, "mod", True)


def test_the_outboxs_bookkeeping_leaves_the_web_cache_good_and_news_clears_it(tmp_path):
    """A fan-out claims, marks and puts back deliveries hundreds of times a second: none of that is
    anything the page or the API shows, so the store's generation (their cache's key) stays; an
    event stored, or taken back, moves it."""
    store = Store(tmp_path / "g.db")
    stored = tanks_passed(store, 11_000, 1)
    for chat in ("1", "2", "3"):
        store.enqueue(stored.id, "telegram", chat, f"m|telegram|{chat}")
    before = store.generation
    first, second, third = store.claim("telegram", 10)
    store.mark_step(first.id, 1, "text:1")
    store.mark_sent(first.id, "text:2", 2)
    store.mark_retry(second.id, "flood", dt.datetime.now(dt.UTC), dead=False)
    store.release([third.id])
    assert store.generation == before
    tanks_passed(store, 12_000, 2)
    assert store.generation > before
    now = store.generation
    store.retract_events([stored.id])
    assert store.generation > now
