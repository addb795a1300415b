"""The daemon as a subprocess with Telegram on: SIGKILL or SIGTERM in the middle of a fan-out loses nothing."""

import datetime as dt
import signal
import time

import pytest
from fake_telegram import TOKEN, FakeTelegram
from processes import offline, run_tallywatch, start_daemon, tallywatch_env, unit_environment
from waiting import wait

from tallywatch import history
from tallywatch.demo import rss
from tallywatch.store import Store

D = dt.date
SUBSCRIBERS = 100
MILLION = "personnel passed 1,000,000"


def feed_until(day, days=5):
    series = history.daily()
    return rss([day - dt.timedelta(days=i) for i in range(days - 1, -1, -1)], series)


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


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
        feed_server.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 11)))
        assert run_tallywatch("poll", "--config", str(cfg), env=env).returncode == 0
        store = Store(db)
        store.save_subscriber("telegram", "4242", choice="milestones")
        store.close()
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
