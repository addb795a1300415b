"""The commands as a user runs them: real processes, a loopback feed server, a real SQLite file."""

import datetime as dt
import json
import signal

import pytest
from processes import run_tallywatch, start_daemon
from waiting import wait

from tallywatch import history
from tallywatch.demo import rss as history_rss

D = dt.date
SERIES = history.daily()
MILLION_LINE = "2025-06-12  personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)"
MILLION = {
    "key": "milestone:personnel:1000000",
    "rule": "milestone",
    "metric": "personnel",
    "as_of": "2025-06-12",
    "value": 1_000_340,
    "message": "personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)",
}


def feed_of(last_day, days=5):
    return rss_days([last_day - dt.timedelta(days=i) for i in range(days - 1, -1, -1)])


def rss_days(days):
    return history_rss(days, SERIES)


def tallywatch(*args, cfg=None, timeout=120):
    return run_tallywatch(*args, *(["--config", str(cfg)] if cfg else []), timeout=timeout)


@pytest.fixture
def cfg(tmp_path, feed_server):
    path = tmp_path / "tallywatch.toml"
    path.write_text(
        f"""
[detect]
baseline = false  # these tests feed their own days (test_baseline.py: a first start)

[backfill]
enabled = false  # never the real API from a test (test_backfill.py: a loopback one)

[storage]
path = "{tmp_path / "state" / "tw.db"}"

[[sources]]
name = "mod"
kind = "rss"
url = "{feed_server.url}/mod.rss"
interval = "1s"
jitter = 0

[milestones.personnel]
step = 100_000
""",
        encoding="utf-8",
    )
    return path


def test_poll_end_to_end_then_status_and_events(cfg, feed_server, tmp_path):
    feed_server.routes["/mod.rss"] = (200, {}, feed_of(D(2025, 6, 11)))
    first = tallywatch("poll", cfg=cfg)
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""  # the first import is recorded quietly
    assert (tmp_path / "state" / "tw.db").exists()

    feed_server.routes["/mod.rss"] = (200, {}, feed_of(D(2025, 6, 14)))
    second = tallywatch("poll", cfg=cfg)
    assert second.returncode == 0, second.stderr
    assert second.stdout == MILLION_LINE + "\n"
    assert tallywatch("poll", cfg=cfg).stdout == ""  # nothing twice

    status = json.loads(tallywatch("status", "--json", cfg=cfg).stdout)
    personnel = next(row for row in status if row["metric"] == "personnel")
    assert personnel == {
        "metric": "personnel",
        "as_of": "2025-06-14",
        "value": 1_002_690,
        "delta": 1_130,
        "source": "mod",
    }
    assert {row["metric"] for row in status} >= {"tanks", "uav", "submarines", "special_equipment"}
    table = tallywatch("status", cfg=cfg).stdout.splitlines()
    assert table[0].split() == ["metric", "as", "of", "value", "change", "source"]
    assert "personnel          2025-06-14  1,002,690  +1,130  mod" in table

    events = json.loads(tallywatch("events", "--json", cfg=cfg).stdout)
    million = [e for e in events if e["key"] == "milestone:personnel:1000000"]
    assert million == [MILLION | {"severity": "critical", "source": "mod", "notified": True, "retracted": False}]
    # 100k … 900k were passed before the first figure, on days it does not tell: none is dated by the import
    assert [e["key"] for e in events if e["rule"] == "milestone"] == ["milestone:personnel:1000000"]

    chart = tmp_path / "personnel.png"
    drawn = tallywatch("chart", "personnel", "--days", "30", "--out", str(chart), cfg=cfg)
    assert drawn.returncode == 0, drawn.stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
    assert (
        tallywatch("chart", "nukes", "--out", str(chart), cfg=cfg).stderr
        == "tallywatch chart: no figures for nukes to draw\n"
    )


def test_poll_exits_1_when_every_source_fails(cfg, feed_server):
    feed_server.routes["/mod.rss"] = (503, {"Retry-After": "1"}, b"")
    done = tallywatch("poll", cfg=cfg)
    assert done.returncode == 1
    assert "source mod failed (1 in a row): HTTP 503 Service Unavailable" in done.stderr
    assert "Traceback" not in done.stderr


def test_status_before_any_poll(cfg):
    done = tallywatch("status", cfg=cfg)
    assert done.returncode == 1 and "no database" in done.stderr


@pytest.mark.parametrize(
    "command", [[], ["config", "check"], ["poll"], ["run"], ["status"], ["events"], ["replay"], ["demo"]]
)
def test_help_says_what_each_command_does(command):
    done = tallywatch(*command, "--help")
    assert done.returncode == 0 and "usage: tallywatch" in done.stdout
    assert len(done.stdout.splitlines()) > 4


def test_replay_json_has_the_million_on_its_date():
    done = tallywatch("replay", "--from", "2025-06-01", "--to", "2025-06-30", "--json")
    events = json.loads(done.stdout)
    assert MILLION | {"severity": "critical"} in events
    text = tallywatch("replay", "--from", "2025-06-01", "--to", "2025-06-30").stdout.splitlines()
    assert text[0] == f"# replay of the bundled history 2025-06-01 … 2025-06-30: {len(events)} events"
    assert text[1].split() == ["metric", "milestone", "approaching", "spike", "record", "total"]
    assert ["personnel", "1", "1", "0", "0", "2"] in [row.split() for row in text]
    assert MILLION_LINE in text


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_daemon_polls_on_schedule_and_stops_cleanly(cfg, feed_server, sig):
    day = {"last": D(2025, 6, 10)}
    feed_server.routes["/mod.rss"] = lambda headers: (200, {}, feed_of(day["last"]))
    proc = start_daemon(cfg)
    try:
        assert wait(lambda: len(feed_server.hits("/mod.rss")) >= 1), "the daemon never polled"
        day["last"] = D(2025, 6, 13)  # the next reports appear
        polls = len(feed_server.hits("/mod.rss"))
        assert wait(lambda: len(feed_server.hits("/mod.rss")) >= polls + 2), "no polls on the interval"
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=5)  # must stop within 5 s
    assert proc.returncode == 0, err
    assert out == MILLION_LINE + "\n"
    assert "tallywatch.daemon: stopped" in err
    assert "Traceback" not in err


def test_daemon_keeps_going_when_a_feed_breaks(cfg, feed_server):
    state = {"broken": True}
    feed_server.routes["/mod.rss"] = lambda headers: (
        (200, {}, b"<html>maintenance</html>") if state["broken"] else (200, {}, feed_of(D(2025, 6, 12)))
    )
    text = cfg.read_text().replace(
        "[milestones.personnel]", "[http]\nbackoff_base = 0.01\nbackoff_max = 0.02\n\n[milestones.personnel]"
    )
    cfg.write_text(text)
    proc = start_daemon(cfg)
    try:
        assert wait(lambda: len(feed_server.hits("/mod.rss")) >= 2)
        state["broken"] = False
        polls = len(feed_server.hits("/mod.rss"))
        assert wait(lambda: len(feed_server.hits("/mod.rss")) >= polls + 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert "source mod failed (1 in a row): not an RSS or Atom feed" in err
    assert "source mod: 5 items, 70 new figures" in err  # it recovered and stored the reports


def test_demo_shows_the_million_live():
    done = tallywatch("demo", "--start", "2025-06-09", "--until", "2025-06-13", "--seconds-per-day", "0.4", timeout=60)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout
        == "2025-06-09  personnel will pass 1,000,000 in about 3 days (≈ 12 Jun 2025)\n" + MILLION_LINE + "\n"
    )
    assert "the replay reached 2025-06-13: demo over" in done.stderr


def test_outbox_shows_and_requeues_dead_deliveries(cfg, feed_server):
    from tallywatch.store import Store

    feed_server.routes["/mod.rss"] = (200, {}, feed_of(D(2025, 6, 11)))
    tallywatch("poll", cfg=cfg)
    feed_server.routes["/mod.rss"] = (200, {}, feed_of(D(2025, 6, 12)))
    tallywatch("poll", cfg=cfg)
    db = cfg.parent / "state" / "tw.db"
    store = Store(db)
    store.db.execute("UPDATE deliveries SET status = 'dead', attempts = 3, last_error = 'stdout closed'")
    store.close()
    shown = tallywatch("outbox", cfg=cfg).stdout.splitlines()
    assert shown[0] == "pending 0  retrying 0  sending 0  sent 0  dead 1  dropped 0"
    assert any(row.startswith("dead      console   stdout") and "stdout closed" in row for row in shown[1:])
    assert tallywatch("outbox", "retry", cfg=cfg).stdout == (
        "1 dead deliveries queued again\n0 deliveries left 'sending' for over 10m queued again\n"
    )
    counts = json.loads(tallywatch("outbox", "--json", cfg=cfg).stdout)["counts"]
    assert counts == {"pending": 1, "retrying": 0, "sending": 0, "sent": 0, "dead": 0, "dropped": 0}

    # a process interrupted while sending left it claimed: a recent claim may be a daemon at work,
    # one older than --stuck-after is queued again
    store = Store(db)
    now = dt.datetime.now(dt.UTC)
    store.db.execute("UPDATE deliveries SET status = 'sending', claimed_at = ?", [now.isoformat()])
    store.close()
    assert "0 deliveries left 'sending'" in tallywatch("outbox", "retry", cfg=cfg).stdout
    store = Store(db)
    store.db.execute("UPDATE deliveries SET claimed_at = ?", [(now - dt.timedelta(minutes=11)).isoformat()])
    store.close()
    assert "1 deliveries left 'sending' for over 10m queued again" in tallywatch("outbox", "retry", cfg=cfg).stdout
    counts = json.loads(tallywatch("outbox", "--json", cfg=cfg).stdout)["counts"]
    assert counts["pending"] == 1 and counts["sending"] == 0


@pytest.mark.parametrize("damage", ["not a database", "torn pages"])
def test_a_damaged_database_is_one_line_naming_it_and_what_to_do(cfg, tmp_path, damage):
    db = tmp_path / "state" / "tw.db"
    db.parent.mkdir()
    if damage == "not a database":
        db.write_bytes(b"this is not an SQLite file, " * 200)
    else:  # tallywatch's own database with pages in the middle overwritten (a torn write, a bad sector)
        from tallywatch.store import Store

        store = Store(db)
        for n in range(300):
            store.save_subscriber("telegram", str(n), name="x" * 300)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        data = bytearray(db.read_bytes())
        data[4096 * 8 : 4096 * 10] = b"\xff" * 8192
        db.write_bytes(bytes(data))
    result = tallywatch("run", cfg=cfg, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if "tallywatch run:" in ln]
    assert f"database {db} " in line and "restore it from a backup (`tallywatch restore FILE`" in line


def test_backup_while_the_daemon_runs_and_restore_once_it_stopped(cfg, feed_server, tmp_path):
    from tallywatch.store import Store

    db = cfg.parent / "state" / "tw.db"
    feed_server.routes["/mod.rss"] = (200, {}, feed_of(D(2025, 6, 11)))
    daemon = start_daemon(cfg)
    try:
        assert wait(lambda: feed_server.hits("/mod.rss") and "mod" in tallywatch("status", cfg=cfg).stdout)
        copy = tmp_path / "copy.db"
        made = tallywatch("backup", str(copy), cfg=cfg)  # the daemon writing meanwhile
        assert made.returncode == 0, made.stderr
        assert made.stdout == f"backed up {db} to {copy} (70 figures, the newest of 2025-06-11)\n"
        refused = tallywatch("restore", str(copy), cfg=cfg)
        assert refused.returncode == 1 and f"another tallywatch daemon (pid {daemon.pid})" in refused.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=10)
    store = Store(db)
    store.save_subscriber("telegram", "77")  # written after the backup: gone once it is restored
    store.close()
    restored = tallywatch("restore", str(copy), cfg=cfg)
    assert restored.returncode == 0, restored.stderr
    assert f"the database it replaced is kept as {db}.before-restore" in restored.stdout
    store = Store(db)
    assert store.subscriber("telegram", "77") is None and store.observation_count() == 70
    store.close()
    kept = Store(f"{db}.before-restore")
    assert kept.subscriber("telegram", "77") is not None
    kept.close()
    torn = tmp_path / "torn.db"
    torn.write_bytes(b"not a database" * 100)
    bad = tallywatch("restore", str(torn), cfg=cfg)
    assert bad.returncode == 1 and f"{torn} is not a tallywatch database" in bad.stderr


def test_daily_snapshots_keep_the_newest(tmp_path):
    import datetime as dt_

    from tallywatch import backup
    from tallywatch.store import Store

    store = Store(tmp_path / "state" / "tw.db")
    for day in range(1, 6):
        store.save_subscriber("telegram", str(day))
        backup.snapshot(store, keep=3, today=dt_.date(2026, 11, day))
    store.close()
    kept = sorted(p.name for p in (tmp_path / "state" / "backups").iterdir())
    assert kept == ["tallywatch-2026-11-03.db", "tallywatch-2026-11-04.db", "tallywatch-2026-11-05.db"]
    newest = Store(tmp_path / "state" / "backups" / "tallywatch-2026-11-05.db")
    assert len(newest.all_subscribers()) == 5
    newest.close()


def test_the_daemons_daily_snapshot_is_logged_when_it_fails(tmp_path, caplog):
    import asyncio
    import shutil

    from tallywatch import backup
    from tallywatch.config import Config
    from tallywatch.pipeline import Pipeline

    backups = tmp_path / "state" / "backups"

    async def run() -> list[str]:
        cfg = Config.from_dict({"storage": {"path": str(tmp_path / "state" / "tw.db"), "backups": 2}})
        pipeline = Pipeline(cfg)
        try:
            await backup.daily(pipeline)  # today's snapshot
            made = sorted(p.name for p in backups.iterdir())
            shutil.rmtree(backups)
            backups.write_text("a file where the folder should be")  # the next snapshot can't be written
            await backup.daily(pipeline)  # logged, not raised: the daemon goes on
            return made
        finally:
            await pipeline.aclose()

    with caplog.at_level("INFO", logger="tallywatch.backup"):
        made = asyncio.run(run())
    assert len(made) == 1 and made[0].startswith("tallywatch-")
    failed = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(failed) == 1 and failed[0].startswith("the daily database snapshot failed: ")
