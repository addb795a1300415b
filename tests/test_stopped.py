"""No report for days: the publisher may have stopped (issue 30).

A source that answers every poll but brings no report — a page whose day is a 404 until it is
published, a feed whose items are never reports — would otherwise be silent forever. After
``[rules.stale] stopped_after`` (7 days) without a report from an enabled source polled
successfully, ``tallywatch sources``, ``status``, /stats and /healthz say so, and the admins (never
the readers) are told once per silence; a report coming again is told once. Real parts: the SQLite
file, the fake Bot API, the daemon as a subprocess."""

import datetime as dt
import json
import re
import signal
from zoneinfo import ZoneInfo

from fake_telegram import TOKEN
from hypothesis import given, settings
from hypothesis import strategies as st
from processes import offline, run_tallywatch, start_daemon, tallywatch_env
from tally import send_all
from test_daemon_lifecycle import free_port, get
from test_telegram_daemon import feed_until
from waiting import wait

from tallywatch import upkeep
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config
from tallywatch.sources.health import read_all, silence
from tallywatch.store import Store, utcnow

KYIV = ZoneInfo("Europe/Kyiv")
DAY = dt.timedelta(days=1)
WEEK = 7 * 86400.0
T0 = dt.datetime(2026, 5, 2, 4, 32, tzinfo=dt.UTC)  # 07:32 Kyiv time (EEST)
ADMIN, READER = 900, 501
STOPPED = "the publisher may have stopped"


# -- the pure function: (first successful poll, last new report, now) → the silence ----------------

moments = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 31), timezones=st.just(dt.UTC)
)


@settings(max_examples=300, deadline=None)
@given(first=moments, report=st.one_of(st.none(), st.timedeltas(dt.timedelta(0), 400 * DAY)),
       later=st.timedeltas(dt.timedelta(0), 400 * DAY), after=st.sampled_from([WEEK, 86400.0, 36 * 3600.0]))  # fmt: skip
def test_the_silence_counts_whole_days_from_the_last_report_or_the_first_poll(first, report, later, after):
    last = None if report is None else first + report
    now = (last or first) + later
    found = silence(first, last, now, after)
    since = last or first
    if (now - since).total_seconds() < after:
        assert found is None
        return
    assert found.since == since and found.ever == (last is not None)
    assert found.days == (now - since) // DAY  # whole days elapsed, whatever the clocks in Kyiv did
    assert found.words == f"no report for {found.days} day{'s' * (found.days != 1)}: {STOPPED}"
    # the moment shown is Kyiv's, with the offset of its season (EET +02:00 or EEST +03:00)
    local = since.astimezone(KYIV)
    assert found.shown == f"{local:%Y-%m-%d %H:%M} Kyiv time"
    later_still = silence(first, last, now + dt.timedelta(hours=25), after)
    assert later_still.days >= found.days and later_still.since == found.since  # it only grows


def test_across_the_spring_clock_change_a_week_is_168_hours():
    """29 March 2026: Kyiv's clocks go from 03:00 to 04:00. From 08:00 on the 24th (EET) to 08:00 on
    the 31st (EEST) is 7 days on the calendar but 167 hours: not yet a week."""
    first = dt.datetime(2026, 3, 24, 8, 0, tzinfo=KYIV).astimezone(dt.UTC)
    now = dt.datetime(2026, 3, 31, 8, 0, tzinfo=KYIV).astimezone(dt.UTC)
    assert silence(first, None, now, WEEK) is None
    found = silence(first, None, now + dt.timedelta(hours=1), WEEK)
    assert found.days == 7 and found.shown == "2026-03-24 08:00 Kyiv time"


# -- the notice in the store and the admin's chat, never a reader's ----------------------------------


def config(fake) -> Config:
    return Config.from_dict(
        {
            "sources": [
                {"name": "kmu", "kind": "html", "url": "https://kmu.example/{date:%d%m%Y}", "selector": "div"},
                {"name": "mod", "kind": "rss", "url": "https://mod.example/rss"},
                {"name": "off", "kind": "rss", "url": "https://off.example/rss", "enabled": False},
            ],
            "telegram": {
                "base_url": fake.base_url,
                "admins": [ADMIN],
                "channels": [{"chat": "@losses_feed", "send": ["report", "milestones", "corrections"]}],
            },
        }
    )


def deliver(store: Store, channel: TelegramChannel) -> None:
    send_all(store, channel)
    assert store.outbox_counts()["sent"] == store.conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]


def polled(store: Store, name: str, first: dt.datetime, last_report: dt.datetime | None = None) -> None:
    """A source polled successfully since ``first`` (its reports last at ``last_report``)."""
    store.note_success(name, etag=None, last_modified=None, new_report=False, keep_validators=False)
    store.conn.execute(
        "UPDATE sources SET first_success = ?, last_new_report = ? WHERE name = ?",
        [first.isoformat(), last_report.isoformat() if last_report else None, name],
    )


def check(path, cfg: Config, channel: TelegramChannel, name: str, now: dt.datetime) -> list[str]:
    """One poll's check of a source, on the file opened afresh each time (a restart in between)."""
    store = Store(path)
    try:
        return [s.event.key for s in upkeep.check_stale(store, cfg, [channel], cfg.source(name), now)]
    finally:
        store.close()


def test_the_admin_is_told_once_per_silence_and_again_once_when_a_report_comes(tmp_path, fake):
    cfg, path = config(fake), tmp_path / "s.db"
    channel = TelegramChannel(TOKEN, cfg.telegram)
    store = Store(path)
    store.save_subscriber("telegram", str(READER), choice="all")
    polled(store, "kmu", T0)  # never a report: its day's page a 404 every time
    polled(store, "mod", T0 - 2 * DAY, T0)  # its last report on 2 May
    polled(store, "off", T0 - 30 * DAY)  # disabled: never a notice
    store.close()

    fired = {name: [] for name in ("kmu", "mod", "off")}
    for hours in (1, 31, 100, 167, 169, 170, 180, 200, 210):  # many polls, the file reopened for each
        for name in fired:
            fired[name] += check(path, cfg, channel, name, T0 + dt.timedelta(hours=hours))
    stamp = T0.isoformat(timespec="seconds")
    assert fired["kmu"] == [f"stopped:kmu:{stamp}"]  # never a report: no "stale", the notice once
    assert fired["mod"] == [f"stale:mod:{stamp}", f"stopped:mod:{stamp}"]
    assert fired["off"] == []

    store = Store(path)
    health = {h.name: h for h in read_all(cfg, store.source_states(), now=T0 + 9 * DAY + dt.timedelta(hours=1))}
    assert health["kmu"].notice == f"no report for 9 days: {STOPPED}"
    assert health["kmu"].silent_since == "2026-05-02T07:32:00+03:00" and health["kmu"].state == "ok"
    assert health["mod"].as_dict()["notice"] == f"no report for 9 days: {STOPPED}"
    assert health["off"].notice is None and health["off"].silent_since is None
    unwatched = cfg.replace(rules=cfg.rules.replace(stale=cfg.rules.stale.replace(enabled=False)))
    later = T0 + 9 * DAY + dt.timedelta(hours=1)
    assert [h.notice for h in read_all(unwatched, store.source_states(), now=later)] == [None, None, None]
    # a report again on the 11th: kmu's first ever
    store.conn.execute("UPDATE sources SET last_new_report = ? WHERE name = 'kmu'", [(T0 + 9 * DAY).isoformat()])
    store.conn.execute("UPDATE sources SET last_new_report = ? WHERE name = 'mod'", [(T0 + 9 * DAY).isoformat()])
    store.close()
    for minutes in (5, 60, 600):
        for name in fired:
            fired[name] += check(path, cfg, channel, name, T0 + 9 * DAY + dt.timedelta(minutes=minutes))
    assert fired["kmu"][1:] == [f"recovered:kmu:{stamp}"] and fired["mod"][2:] == [f"recovered:mod:{stamp}"]
    store = Store(path)
    deliver(store, channel)
    store.close()

    admin = [c.text for c in fake.sent(ADMIN)]
    assert [t for t in admin if STOPPED in t] == [
        f"📭 <b>9 May 2026</b>\nSource kmu: no report for 7 days: {STOPPED} (polled since 2026-05-02 07:32 Kyiv time,"
        " never a report)",
        f"📭 <b>9 May 2026</b>\nSource mod: no report for 7 days: {STOPPED} (last report 2026-05-02 07:32 Kyiv time)",
    ]
    assert [t for t in admin if "🔔" in t] == [
        "🔔 <b>11 May 2026</b>\nSource kmu brought its first report, 9 days after it was first polled",
        "🔔 <b>11 May 2026</b>\nSource mod is back: a new report after 216 h of silence",
    ]
    assert len(admin) == 5  # and mod's "stale" after 30 h: each once
    assert fake.sent(READER) == [] and fake.sent("@losses_feed") == []  # readers never


# -- the daemon: the admin's chat across restarts, /healthz, `tallywatch sources` ------------------

NEWS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>news</title>
<item><guid>n1</guid><title>A visit abroad</title><description>The minister met his colleagues.</description>
<pubDate>Mon, 04 May 2026 09:00:00 GMT</pubDate></item></channel></rss>"""


def test_the_daemon_tells_the_admin_once_and_says_it_on_healthz_and_in_sources(tmp_path, feed_server, fake):
    db, cfg, port = tmp_path / "tw.db", tmp_path / "tw.toml", free_port()
    feed_server.routes["/mod.rss"] = (200, {}, NEWS)  # answers every poll, never a report
    cfg.write_text(
        offline(db, f"{feed_server.url}/mod.rss")
        + f"""
[console]
enabled = false

[web]
port = {port}

[telegram]
base_url = "{fake.base_url}"
admins = [{ADMIN}]
polling = false
"""
    )
    env = tallywatch_env(TALLYWATCH_TELEGRAM_TOKEN=TOKEN)
    first = run_tallywatch("poll", "--config", str(cfg), env=env)
    assert first.returncode == 0, first.stderr
    store = Store(db)
    store.save_subscriber("telegram", str(READER), choice="all")
    began = utcnow() - 9 * DAY - dt.timedelta(hours=2)  # as if polled since nine days ago
    store.conn.execute("UPDATE sources SET first_success = ? WHERE name = 'mod'", [began.isoformat()])
    store.close()
    words = f"no report for 9 days: {STOPPED}"

    for run in range(2):  # a restart: the notice is not told again
        polls = len(feed_server.hits("/mod.rss"))
        daemon = start_daemon(cfg, env)
        try:
            assert wait(lambda n=polls: len(feed_server.hits("/mod.rss")) >= n + 3), "the daemon never polled"
            assert wait(lambda: any(STOPPED in c.text for c in fake.sent(ADMIN)))
            assert wait(lambda: words in get(f"http://127.0.0.1:{port}/healthz")[1])
            code, body = get(f"http://127.0.0.1:{port}/healthz")
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=15)
        assert daemon.returncode == 0, err
        assert (code, body) == (200, f"ok\nnotice: source mod: {words}\n")  # the daemon works: still healthy
        assert err.count(words) == (1 if run == 0 else 0), err  # the log says it once

    assert [c.text.split("\n", 1)[1] for c in fake.sent(ADMIN)] == [
        f"Source mod: {words} (polled since {began.astimezone(KYIV):%Y-%m-%d %H:%M} Kyiv time, never a report)"
    ]
    assert fake.sent(READER) == []

    listed = run_tallywatch("sources", "--config", str(cfg), env=env)
    assert listed.returncode == 0, listed.stderr
    assert re.search(
        rf"^    notice: {words} \(polled since {began.astimezone(KYIV):%Y-%m-%d %H:%M} Kyiv time, never a report\)$",
        listed.stdout,
        re.M,
    ), listed.stdout
    (row,) = json.loads(run_tallywatch("sources", "--json", "--config", str(cfg), env=env).stdout)
    assert row["notice"] == words
    assert row["silent_since"] == began.astimezone(KYIV).isoformat(timespec="seconds")
    status = run_tallywatch("status", "--config", str(cfg), env=env)
    assert f"source mod: ok; {words};" in status.stdout, status.stdout

    feed_server.routes["/mod.rss"] = (200, {}, feed_until(dt.date(2025, 6, 11)))  # reports again
    daemon = start_daemon(cfg, env)
    try:
        assert wait(lambda: any("🔔" in c.text for c in fake.sent(ADMIN)))
        assert wait(lambda: get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n"))
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=15)
    assert daemon.returncode == 0, err
    assert [c.text.split("\n", 1)[1] for c in fake.sent(ADMIN) if "🔔" in c.text] == [
        "Source mod brought its first report, 9 days after it was first polled"
    ]
    assert "notice" not in run_tallywatch("sources", "--config", str(cfg), env=env).stdout
    assert len([c for c in fake.sent(ADMIN) if STOPPED in c.text]) == 1 and fake.sent(READER) == []
    store = Store(db)
    assert [e["rule"] for e in store.events() if e["rule"] in ("stopped", "recovered")] == ["stopped", "recovered"]
    store.close()
