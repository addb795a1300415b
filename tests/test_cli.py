"""The commands as a user runs them: real processes, a loopback feed server, a real SQLite file."""

import datetime as dt
import json
import signal

import pytest
from processes import offline, run_tallywatch, start_daemon, tallywatch_env
from waiting import wait

from tallywatch import history
from tallywatch.cli import build_parser
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
        offline(tmp_path / "state" / "tw.db", f"{feed_server.url}/mod.rss")
        + """
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
        "held": None,
    }
    assert {row["metric"] for row in status} >= {"tanks", "uav", "submarines", "special_equipment"}
    table = tallywatch("status", cfg=cfg).stdout.splitlines()
    (source,) = [line for line in table if line.startswith("source mod: ok; last success ")]
    assert source.split("; ")[1].endswith((" +02:00", " +03:00"))  # Kyiv time, with the offset
    assert table[0].split() == ["metric", "as", "of", "value", "change", "source"]
    assert "personnel          2025-06-14  1,002,690  +1,130  mod" in table

    events = json.loads(tallywatch("events", "--json", cfg=cfg).stdout)
    million = [e for e in events if e["key"] == "milestone:personnel:1000000"]
    stored_at = million[0].pop("stored_at")  # when it was stored, in Kyiv time with the offset
    assert dt.datetime.fromisoformat(stored_at).utcoffset() in (dt.timedelta(hours=2), dt.timedelta(hours=3))
    assert million == [
        MILLION | {"severity": "critical", "source": "mod", "notified": True, "retracted": False, "retracted_at": None}
    ]
    wide = run_tallywatch("events", "--config", str(cfg), env=tallywatch_env(COLUMNS="400")).stdout
    lines = wide.splitlines()  # a line an event
    assert len(lines) == len(events) == 4 and lines[1].startswith("2025-06-12  report:2025-06-12  ")
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
    "where",
    [
        ["--config", "{cfg}", "--log-level", "debug", "status"],  # before the command
        ["status", "--config", "{cfg}", "--log-level", "debug"],  # after it
        ["--log-level", "debug", "status", "--config", "{cfg}"],  # one each side
        ["--config", "{cfg}", "config", "check"],  # before a command with a subcommand…
        ["config", "--config", "{cfg}", "check"],  # …between the two…
        ["config", "check", "--config", "{cfg}"],  # …and after both
    ],
)
def test_global_options_go_before_or_after_the_command(cfg, tmp_path, where):
    argv = [arg.format(cfg=cfg) for arg in where]
    if "--log-level" in argv:
        assert build_parser().parse_args(argv).log_level == "debug"
    done = run_tallywatch(*argv)
    if "status" in where:  # the file's database is the one looked for
        assert done.returncode == 1, done.stderr
        assert f"no database at {tmp_path / 'state' / 'tw.db'}" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith(f"# {cfg}: valid")
        assert json.loads(done.stdout)["sources"][0]["name"] == "mod"


@pytest.mark.parametrize(
    "command",
    [[], ["config", "check"], ["poll"], ["run"], ["status"], ["events"], ["deliveries"], ["replay"], ["demo"]],
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


# -- tracing an alert: `deliveries`, `events` filtered, held figures in `status`, the admin's times --

TRACED = {"milestones": {"personnel": {"step": 100_000}}, "detect": {"confirm": "none"}}


def trace_day(n):
    return D(2025, 6, 1) + dt.timedelta(days=n)


def one_round(tally, channel):
    """One round of the daemon's Telegram worker: what is due now is sent, retried or given up."""
    import asyncio

    from tallywatch import outbox
    from tallywatch.channels.limits import FloodGate

    async def go():
        try:
            await outbox.deliver(outbox.direct, tally.store, channel, FloodGate(channel.limits))
        finally:
            await channel.stop()

    asyncio.run(go())


def moment(stored, zone="Europe/Kyiv"):
    """A stored UTC time as the admin is to read it: local time in ``zone`` and its offset."""
    from zoneinfo import ZoneInfo

    local = dt.datetime.fromisoformat(stored).astimezone(ZoneInfo(zone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


def admin_config(tmp_path, db, extra=""):
    path = tmp_path / f"admin{len(extra)}.toml"
    path.write_text(f'[storage]\npath = "{db}"\n{extra}', encoding="utf-8")
    return path


@pytest.fixture
def traced(tmp_path, fake):
    """A database the real pipeline filled with every fate a delivery has: a wrong milestone sent to
    two readers through the fake Bot API, refused for one (400), one gone (403), one failing (500),
    then taken back (the retraction due, the true milestone held behind it, the failing reader's copy
    dropped), a warning deferred by quiet hours, a reader who unsubscribed, a send interrupted."""
    from zoneinfo import ZoneInfo

    from fake_telegram import TOKEN
    from tally import Tally

    from tallywatch.channels.telegram import TelegramChannel
    from tallywatch.config import Config

    config = Config.from_dict(TRACED)
    channel = TelegramChannel(TOKEN, config.telegram.replace(base_url=fake.base_url))
    db = tmp_path / "traced.db"
    tally = Tally(db, config, [channel])
    store = tally.store
    hour = dt.datetime.now(ZoneInfo(config.telegram.timezone)).hour
    store.save_subscriber("telegram", "701", choice="milestones")
    store.save_subscriber("telegram", "702", choice="all", quiet_from=hour, quiet_to=(hour + 2) % 24)
    for chat in ("703", "704", "705"):
        store.save_subscriber("telegram", chat, choice="milestones")
    store.save_subscriber("telegram", "706", choice="all", quiet_from=hour, quiet_to=(hour + 2) % 24)
    fake.fail_chat(703, 403, "Forbidden: bot was blocked by the user")
    fake.fail_chat(704, 500, "Internal Server Error")
    fake.fail_chat(705, 400, "Bad Request: message is too long")
    for i in range(10):  # 988,700 … 997,700: a quiet first import, then "approaching 1,000,000"
        tally.report("mod", trace_day(i), 988_700 + 1_000 * i)
    tally.report("mod", trace_day(10), 1_001_000)  # a wrong figure crosses 1,000,000
    one_round(tally, channel)
    retrying = tallywatch("deliveries", "--to", "704", "--json", cfg=admin_config(tmp_path, db))
    tally.report("mod", trace_day(11), 999_800, delta=1_100)
    tally.report("mod", trace_day(12), 1_000_900, delta=1_100)  # two reports agree: it is taken back
    store.save_subscriber("telegram", "706", active=0, reason="unsubscribed")  # as /unsubscribe does
    claimed = store.claim("telegram")  # a round takes what is due, hands 701's retraction to Telegram, is killed
    (handed,) = [d.id for d in claimed if d.recipient == "701"]
    store.release([d.id for d in claimed], started=[handed])
    tally.close()
    return db, json.loads(retrying.stdout)


def by_reader(rows):
    return {(row["event"], row["recipient"]): row for row in rows}


def test_deliveries_tell_each_readers_copy_of_an_alert_sent_or_why_not(traced, fake, tmp_path):
    from tallywatch.store import Store

    db, first = traced
    ((retrying),) = first
    assert retrying["status"] == "retrying" and retrying["attempts"] == 1
    assert retrying["last_error"] == "Telegram: NetworkError: Internal Server Error"
    assert retrying["why"].startswith("attempt 2 not before ")

    store = Store(db)
    stored = {row["id"]: row for row in store.db.query("SELECT * FROM deliveries")}
    store.close()
    cfg = admin_config(tmp_path, db)
    done = tallywatch("deliveries", "--json", cfg=cfg)
    assert done.returncode == 0, done.stderr
    rows = by_reader(json.loads(done.stdout))
    million, approaching = "milestone:personnel:1000000", "approaching:personnel:1000000"
    retraction = "retracted:personnel:2025-06-11:1001000"

    wrong = {chat: rows[(million + " (taken back)", chat)] for chat in ("701", "702", "703", "704", "705")}
    (to_701,) = fake.sent(701)
    assert wrong["701"]["status"] == "sent"
    assert wrong["701"]["message_id"] == str(to_701.params["_message"]["message_id"])
    assert wrong["701"]["sent_at"] == dt.datetime.fromisoformat(stored[wrong["701"]["id"]]["sent_at"]).astimezone(
        dt.datetime.fromisoformat(wrong["701"]["sent_at"]).tzinfo
    ).isoformat(timespec="seconds")
    assert wrong["703"]["status"] == "gone"
    assert wrong["703"]["why"] == "Telegram: Forbidden: bot was blocked by the user"
    assert (wrong["704"]["status"], wrong["704"]["why"]) == ("dropped", "taken back before it was sent")
    assert wrong["705"]["status"] == "dead"
    assert wrong["705"]["why"] == "gave up after 1 attempt: Telegram refused the message: Message is too long"

    deferred = rows[(approaching, "702")]
    until = stored[deferred["id"]]["next_attempt_at"]
    assert deferred["status"] == "deferred" and deferred["why"] == f"quiet hours, until {moment(until)}"
    assert rows[(approaching, "706")]["status"] == "unsubscribed"
    assert rows[(approaching, "706")]["why"] == "the subscription ended after it was queued: unsubscribed"

    told_back = rows[(retraction, "701")]
    assert told_back["status"] == "due" and told_back["maybe_sent"] is True
    assert "may have arrived" in told_back["why"]
    assert told_back["answers"] == wrong["701"]["id"]
    held = rows[(million, "701")]
    assert held["status"] == "held" and held["waits_for"] == told_back["id"]
    assert held["why"] == f"waiting for #{told_back['id']} ({retraction}) to go first"
    assert rows[(million, "704")]["status"] == "due"

    # the table: one line a delivery, times in Kyiv with the offset
    table = tallywatch("deliveries", "--to", "701", cfg=cfg).stdout.splitlines()
    sent_line = next(line for line in table if line.startswith(f"#{wrong['701']['id']} "))
    sent_at = moment(stored[wrong["701"]["id"]]["sent_at"])
    assert sent_line.split()[1:4] == [million, "(taken", "back)"]
    assert sent_line.endswith(f"sent {sent_at}, message {to_701.params['_message']['message_id']}")
    assert len(table) == 3 and all(" 701 " in line for line in table)
    assert any(line.endswith(f"held: waiting for #{told_back['id']} ({retraction}) to go first") for line in table)

    # one alert: its copies for everyone; another zone for the admin: [email] timezone
    only = json.loads(tallywatch("deliveries", "--event", million, "--json", cfg=cfg).stdout)
    assert sorted(row["id"] for row in only) == sorted(row["id"] for key, row in rows.items() if million in key[0])
    tokyo = admin_config(tmp_path, db, '[email]\ntimezone = "Asia/Tokyo"\n')
    shown = tallywatch("deliveries", "--event", million, "--to", "701", cfg=tokyo).stdout
    assert f"sent {moment(stored[wrong['701']['id']]['sent_at'], 'Asia/Tokyo')}, message" in shown
    assert "+09:00" in shown

    # bad input: named
    unknown = tallywatch("deliveries", "--event", "milestone:personel:1000000", cfg=cfg)
    assert unknown.returncode == 1
    assert unknown.stderr == (
        "tallywatch deliveries: no event with the key 'milestone:personel:1000000'"
        " (did you mean 'milestone:personnel:1000000'?)\n"
    )
    nobody = tallywatch("deliveries", "--to", "799", cfg=cfg)
    assert nobody.returncode == 1 and nobody.stderr == "tallywatch deliveries: no deliveries to 799\n"


def test_events_filtered_by_day_rule_and_metric_in_lines_that_fit(traced, tmp_path):
    db, _ = traced
    cfg = admin_config(tmp_path, db)
    every = json.loads(tallywatch("events", "--json", cfg=cfg).stdout)
    milestones = json.loads(tallywatch("events", "--rule", "milestone", "--json", cfg=cfg).stdout)
    assert [(e["key"], e["retracted"]) for e in milestones] == [
        ("milestone:personnel:1000000", True),
        ("milestone:personnel:1000000", False),
    ]
    assert milestones[0]["retracted_at"].endswith(("+02:00", "+03:00"))
    since = json.loads(tallywatch("events", "--since", "2025-06-12", "--metric", "personnel", "--json", cfg=cfg).stdout)
    assert since == [e for e in every if e["as_of"] >= "2025-06-12" and e["metric"] == "personnel"] and since
    assert json.loads(tallywatch("events", "--metric", "tanks", "--json", cfg=cfg).stdout) == []

    narrow = run_tallywatch("events", "--config", str(cfg), env=tallywatch_env(COLUMNS="72")).stdout.splitlines()
    assert len(narrow) == len(every)  # one line an event, however long its message
    assert all(len(line) <= 72 for line in narrow)
    cut = [line for line in narrow if line.endswith("…")]
    assert cut and all(len(line) == 72 for line in cut)
    assert any(len(e["message"]) > 72 for e in every)  # the JSON has it whole

    wrong_rule = tallywatch("events", "--rule", "milestones", cfg=cfg)
    assert wrong_rule.returncode == 2 and "--rule: no rule named 'milestones' (did you mean 'milestone'?)" in (
        wrong_rule.stderr
    )
    wrong_metric = tallywatch("events", "--metric", "tankz", cfg=cfg)
    assert wrong_metric.returncode == 2
    assert wrong_metric.stderr == "tallywatch events: no metric named 'tankz' (did you mean 'tanks'?)\n"
    wrong_day = tallywatch("events", "--since", "12.06.2025", cfg=cfg)
    assert wrong_day.returncode == 2 and "expected a date like 2025-06-12, got '12.06.2025'" in wrong_day.stderr


def test_status_shows_a_held_figure_its_source_since_when_and_why(tmp_path):
    from tally import Tally

    from tallywatch.config import Config
    from tallywatch.store import Store

    db = tmp_path / "held.db"
    tally = Tally(db, Config.from_dict({"milestones": {"personnel": {"step": 100_000}}}))
    for i in range(10):  # … 999,200 on 2025-06-10
        tally.report("mod", trace_day(i), 990_200 + 1_000 * i, delta=1_000 if i else None)
    tally.report("mod", trace_day(10), 1_000_900, delta=1_140)  # its "(+1,140)" does not continue 999,200
    tally.close()
    store = Store(db)
    (since,) = store.conn.execute("SELECT updated_at FROM figures WHERE status = 'suspect'").fetchone()
    store.close()
    cfg = admin_config(tmp_path, db)
    why = "the report's own change (+1,140) does not continue the last accepted total (999,200 on 2025-06-10)"
    table = tallywatch("status", cfg=cfg).stdout.splitlines()
    assert "held back until the next report or a second source confirms it:" in table
    assert f"personnel  2025-06-11  1,000,900  from mod, since {moment(since)}: {why}" in table
    rows = json.loads(tallywatch("status", "--json", cfg=cfg).stdout)
    personnel = next(row for row in rows if row["metric"] == "personnel")
    assert personnel["as_of"] == "2025-06-10" and personnel["value"] == 999_200
    held = personnel["held"]
    assert held == {
        "as_of": "2025-06-11",
        "value": 1_000_900,
        "source": "mod",
        "since": dt.datetime.fromisoformat(since)
        .astimezone(dt.datetime.fromisoformat(held["since"]).tzinfo)
        .isoformat(timespec="seconds"),
        "why": why,
    }
