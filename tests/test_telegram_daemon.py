"""The daemon as a subprocess with Telegram on: SIGKILL or SIGTERM in the middle of a fan-out loses nothing."""

import contextlib
import datetime as dt
import os
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fake_telegram import TOKEN, FakeTelegram
from processes import offline, run_tallywatch, start_daemon, tallywatch_env, unit_environment
from waiting import wait

from tallywatch import history
from tallywatch.demo import rss
from tallywatch.store import Store

D = dt.date
SUBSCRIBERS = 100
MILLION = "Personnel passed 1,000,000"


def feed_until(day, days=5):
    series = history.daily()
    return rss([day - dt.timedelta(days=i) for i in range(days - 1, -1, -1)], series)


def first_days_then_a_reader(feed_server, db, cfg, env, chat: str, choice: str) -> None:
    """The days up to 11 June 2025 polled (quietly: the first import), then a Telegram reader added."""
    feed_server.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 11)))
    assert run_tallywatch("poll", "--config", str(cfg), env=env).returncode == 0
    store = Store(db)
    store.save_subscriber("telegram", chat, choice=choice)
    store.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_stop_mid_fanout_then_restart_delivers_everything(tmp_path, feed_server, fake, sig):
    db = tmp_path / "tw.db"
    cfg = tmp_path / "tallywatch.toml"
    cfg.write_text(
        offline(db, f"{feed_server.url}/mod.rss")
        + f"""
[console]
enabled = false

[telegram]
base_url = "{fake.base_url}"

[milestones.personnel]
step = 100_000
"""
    )
    feed_server.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 11)))
    with_token = tallywatch_env(**unit_environment(), TALLYWATCH_TELEGRAM_TOKEN=TOKEN)  # as the unit runs it
    first = run_tallywatch("poll", "--config", str(cfg), env=with_token)
    assert first.returncode == 0, first.stderr
    store = Store(db)
    for i in range(SUBSCRIBERS):
        store.save_subscriber("telegram", str(20_000 + i), choice="milestones")
    store.close()

    feed_server.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 12)))
    fake.hold_after(30)  # the fan-out stops there, however loaded this machine is, until released
    daemon = start_daemon(cfg, with_token)
    try:
        assert wait(lambda: len([c for c in fake.sent() if MILLION in c.text]) >= 30), "fan-out never started"
    finally:
        stopped = time.monotonic()
        daemon.send_signal(sig)
        fake.release()  # the sends in flight are answered: a clean stop marks them, a kill never learns
        _, err1 = daemon.communicate(timeout=10)
    if sig == signal.SIGTERM:  # a clean stop: in-flight sends finish and are marked, the rest waits
        assert daemon.returncode == 0 and time.monotonic() - stopped < 10, err1
    killed_at = len([c for c in fake.sent() if MILLION in c.text])
    assert killed_at < SUBSCRIBERS  # the kill fell in the middle of the fan-out

    daemon = start_daemon(cfg, with_token)
    try:
        got = lambda: {str(c.params["chat_id"]) for c in fake.sent() if MILLION in c.text}  # noqa: E731
        everyone = wait(lambda: len(got()) == SUBSCRIBERS)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err2 = daemon.communicate(timeout=10)
    assert everyone, f"only {len(got())} of {SUBSCRIBERS} got the alert; the daemon said:\n{err2[-4000:]}"
    assert daemon.returncode == 0, err2

    per_chat: dict[str, int] = {}
    for c in fake.sent():
        if MILLION in c.text:
            per_chat[str(c.params["chat_id"])] = per_chat.get(str(c.params["chat_id"]), 0) + 1
    assert set(per_chat) == {str(20_000 + i) for i in range(SUBSCRIBERS)}
    duplicates = sum(per_chat.values()) - SUBSCRIBERS
    assert max(per_chat.values()) <= 2  # a duplicate only where the kill fell between accept and mark…
    assert duplicates <= 4  # …at most one per send in flight (concurrency 4)
    if sig == signal.SIGTERM:
        assert duplicates == 0
    assert fake.calls("sendMessage", 429) == []
    store = Store(db)
    assert store.outbox_counts()["sent"] == SUBSCRIBERS
    store.close()
    for err in (err1, err2):
        assert TOKEN not in err and TOKEN.split(":")[1] not in err
    assert "deliveries a previous run was sending are queued again" in err2 or sum(per_chat.values()) == SUBSCRIBERS


def test_a_token_echoed_by_the_bot_api_is_never_logged_stored_or_printed(tmp_path, feed_server):
    """The Bot API's error text can echo the request path, token and all. Through the real
    command (the redacting formatter in the path), the outbox rows and `tallywatch outbox`."""
    db, cfg = tmp_path / "tw.db", tmp_path / "tw.toml"
    with FakeTelegram() as fake:
        cfg.write_text(
            offline(db)
            + f"""
[telegram]
base_url = "{fake.base_url}"
polling = false
[[webhooks]]
name = "hook"
url = "http://127.0.0.1:9/hook?token=hook-secret-in-the-url&x=1"
[[sources]]
name = "mod"
kind = "rss"
url = "http://reader:feed-password@{feed_server.url.removeprefix("http://")}/mod.rss"
[milestones.personnel]
step = 100_000
"""
        )
        env = tallywatch_env(TALLYWATCH_TELEGRAM_TOKEN=TOKEN)
        first_days_then_a_reader(feed_server, db, cfg, env, "4242", "milestones")
        fake.fail_chat(4242, 400, f"Bad Request: can't parse the request to /bot{TOKEN}/sendMessage")
        feed_server.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 12)))
        polled = run_tallywatch("poll", "--config", str(cfg), env=env)
        assert fake.calls(None, 400), polled.stderr  # the echo happened
    shown = run_tallywatch("outbox", "--config", str(cfg), env=env).stdout
    as_json = run_tallywatch("outbox", "--json", "--config", str(cfg), env=env).stdout
    checked = run_tallywatch("config", "check", "--config", str(cfg), env=env).stdout
    store = Store(db)
    stored = " ".join(str(r) for r in store.db.query("SELECT last_error FROM deliveries"))
    store.close()
    assert "/bot<redacted>/" in polled.stderr and "/bot<redacted>/" in shown
    for text in (polled.stderr, polled.stdout, shown, as_json, stored, checked):
        assert TOKEN.split(":")[1].lower() not in text.lower()  # python-telegram-bot lowercases the echo
    assert "hook-secret-in-the-url" not in checked and "feed-password" not in checked
    assert "?token=<redacted>&x=1" in checked and "://***@127.0.0.1" in checked


def test_sigterm_with_commands_queued_exits_within_ten_seconds(tmp_path, feed_server, fake):
    """Fifty commands from ten people are queued (a minute of replies at one a second per chat);
    SIGTERM drops the replies not sent (they are not alerts) and the daemon is gone within 10 s."""
    db, cfg = tmp_path / "tw.db", tmp_path / "tw.toml"
    cfg.write_text(
        offline(db, f"{feed_server.url}/mod.rss", interval="1h")
        + f"""
[web]
enabled = false
[telegram]
base_url = "{fake.base_url}"
"""
    )
    feed_server.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 11)))
    daemon = start_daemon(cfg, tallywatch_env(TALLYWATCH_TELEGRAM_TOKEN=TOKEN))
    try:
        assert wait(lambda: fake.calls("setMyCommands")), "the bot never started"
        for user in range(3001, 3011):
            for _ in range(5):
                fake.send_command(user, "/help")
        assert wait(lambda: len(fake.sent()) >= 3), "no reply at all"
    finally:
        stopped = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    took = time.monotonic() - stopped
    assert daemon.returncode == 0, err
    assert took < 10, f"took {took:.1f} s to stop"
    assert len(fake.sent()) < 50  # the queued replies were dropped, not all sent first


def status(url: str) -> int:
    """The HTTP status of a GET (0: nothing listening yet)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def gone(pid: int) -> bool:
    """Ended and reaped (a zombie still has its /proc entry)."""
    return not Path(f"/proc/{pid}").exists()


def test_a_stopped_drawing_worker_holds_the_report_up_to_its_deadline_and_healthz_names_a_stuck_delivery(
    tmp_path, feed_server, fake
):
    """Issue 25: the daemon's drawing worker stopped (SIGSTOP) kept the day's report 'sending' for
    over a minute while /healthz said 200. Now the card is given up at [charts] deadline, the
    worker killed and replaced, and the report goes as text; and a delivery 'sending' for longer
    than a send can take (here one a round left an hour ago) makes /healthz 503, naming it."""
    from test_charts import drawing as drawing_workers
    from test_daemon_lifecycle import free_port, get

    from tallywatch.store import _ts, utcnow

    db, cfg, port = tmp_path / "tw.db", tmp_path / "tw.toml", free_port()
    cfg.write_text(
        offline(db, f"{feed_server.url}/mod.rss")
        + f"""
[console]
enabled = false
[charts]
deadline = "1s"
[web]
port = {port}
[telegram]
base_url = "{fake.base_url}"
polling = false
"""
    )
    web = f"http://127.0.0.1:{port}"
    env = tallywatch_env(TALLYWATCH_TELEGRAM_TOKEN=TOKEN)
    first_days_then_a_reader(feed_server, db, cfg, env, "900", "report")
    daemon = start_daemon(cfg, env)
    stopped = None
    try:
        assert wait(lambda: status(f"{web}/chart/personnel.png") == 200)  # the page's chart starts the worker
        (stopped,) = drawing_workers(daemon.pid)
        os.kill(stopped, signal.SIGSTOP)  # hung, as far as the daemon can tell
        began = time.monotonic()
        feed_server.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 12)))
        assert wait(lambda: fake.sent("900"), limit=30), "the report never went out"
        took = time.monotonic() - began
        (report,) = fake.sent("900")
        assert report.method == "sendMessage" and "Russia's losses on 12 Jun 2025" in report.text  # no card
        assert wait(lambda: gone(stopped), limit=10)  # the stopped worker was killed…
        assert wait(lambda: status(f"{web}/uk/chart/personnel.png") == 200)  # …and a new one draws
        assert get(f"{web}/healthz") == (200, "ok\n")

        store = Store(db)  # a round that hung an hour ago, holding a delivery 'sending'
        with store.transaction():
            (event,) = store.conn.execute("SELECT id FROM events WHERE key LIKE 'report:2025-06-12%'").fetchone()
            an_hour_ago = _ts(utcnow() - dt.timedelta(hours=1))
            store.conn.execute(
                "INSERT INTO deliveries (event_id, channel, recipient, idempotency_key, status, next_attempt_at,"
                " created_at, claimed_at) VALUES (?, 'telegram', '901', 'hung', 'sending', ?, ?, ?)",
                [event, an_hour_ago, an_hour_ago, an_hour_ago],
            )
            (stuck,) = store.conn.execute("SELECT id FROM deliveries WHERE idempotency_key = 'hung'").fetchone()
        store.close()
        assert wait(lambda: get(f"{web}/healthz")[0] == 503, limit=20)
        body = get(f"{web}/healthz")[1]
        line = rf"outbox: delivery {stuck} \(telegram, report:2025-06-12\S*\) 'sending' for 36\d\d s, over the 112 s a send can take\n"
        assert re.fullmatch(line, body), body
        assert "901" not in body  # /healthz may be public: no recipient
    finally:
        if stopped is not None:  # never leave a stopped process behind, whatever failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(stopped, signal.SIGKILL)
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=20)
    assert daemon.returncode == 0, err
    assert "could not be drawn; it goes without one" in err and "its process was killed" in err
    assert took < 15, f"the report waited {took:.0f} s"
