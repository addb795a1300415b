"""What the idle daemon carries: no Babel (the bundled languages' CLDR data is generated,
``tallywatch.cldr``), nor the optional packages python-telegram-bot and httpx load when installed
(``tallywatch.lean``) — each stays in memory for as long as the daemon runs (bench/footprint.py)."""

import datetime as dt
import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

from fake_telegram import TOKEN
from processes import offline, run_tallywatch, tallywatch_env, unit_environment
from waiting import wait

from tallywatch import history
from tallywatch.demo import rss

D = dt.date
LEFT_OUT = ("babel", "cryptography", "pygments")  # ~9, ~7.5 and ~1.3 MB while the daemon runs
WRAPPER = Path(__file__).parent / "modules_on_signal.py"


def days_until(day: dt.date, days: int = 5) -> bytes:
    return rss([day - dt.timedelta(days=i) for i in range(days - 1, -1, -1)], history.daily())


def test_the_daemon_that_worded_a_milestone_in_english_and_ukrainian_carries_no_babel_nor_unused_extras(
    tmp_path, feed_server, fake
):
    # the packages are there to be loaded (the test extras bring them): leaving them out is the daemon's doing
    assert all(importlib.util.find_spec(name) for name in LEFT_OUT)
    db, cfg, out = tmp_path / "tw.db", tmp_path / "tallywatch.toml", tmp_path / "modules.txt"
    cfg.write_text(
        offline(db, f"{feed_server.url}/mod.rss")
        + f"""
[console]
enabled = false

[telegram]
base_url = "{fake.base_url}"
channels = ["@losses_feed", {{chat = "@vtraty", language = "uk"}}]
"""
    )
    env = tallywatch_env(**unit_environment(), TALLYWATCH_TELEGRAM_TOKEN=TOKEN)  # as the unit runs it
    feed_server.routes["/mod.rss"] = (200, {}, days_until(D(2025, 6, 11)))
    first = run_tallywatch("poll", "--config", str(cfg), env=env)  # the days before, quietly
    assert first.returncode == 0, first.stderr
    feed_server.routes["/mod.rss"] = (200, {}, days_until(D(2025, 6, 12)))  # personnel passes 1,000,000
    daemon = subprocess.Popen(
        [sys.executable, str(WRAPPER), str(out), "run", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    texts = lambda chat: [c.text for c in fake.sent() if c.params.get("chat_id") == chat]  # noqa: E731
    try:
        told = wait(
            lambda: (
                any("1,000,340" in t for t in texts("@losses_feed"))
                and any("1\u00a0000\u00a0340" in t for t in texts("@vtraty"))
            ),
            limit=60,
        )
        if told:
            daemon.send_signal(signal.SIGUSR1)
            wait(out.exists)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=15)
    assert told, f"the channels were not told; the daemon said:\n{err[-3000:]}"
    english, ukrainian = texts("@losses_feed"), texts("@vtraty")
    # the reader's words: numbers grouped as each language groups them, the day as each writes it
    assert any("12 Jun 2025</b>\nPersonnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)" in t for t in english)
    said = "12.06.2025</b>\nОсобовий склад: перейдено рубіж 1\u00a0000\u00a0000 — тепер 1\u00a0000\u00a0340 (+1\u00a0140 за добу)"
    assert any(said in t for t in ukrainian), ukrainian
    loaded = out.read_text().split()
    assert [m for m in loaded if m.split(".")[0] in LEFT_OUT] == []
    assert "tallywatch.cldr" in loaded  # what worded them instead
