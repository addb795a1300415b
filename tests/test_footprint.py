"""What the idle daemon carries: no Babel (the bundled languages' CLDR data is generated,
``tallywatch.cldr``), nor the optional packages python-telegram-bot and httpx load when installed
(``tallywatch.lean``) — each stays in memory for as long as the daemon runs (bench/footprint.py)."""

import datetime as dt
import importlib.util
import platform
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fake_telegram import TOKEN
from processes import offline, run_tallywatch, tallywatch_env, unit_environment
from waiting import wait

from tallywatch import history
from tallywatch.demo import rss

D = dt.date
LEFT_OUT = ("babel", "cryptography", "pygments")  # ~9, ~7.5 and ~1.3 MB while the daemon runs
# what APScheduler and uvicorn import for pools and supervisors tallywatch never starts, and the
# drawing worker once took from multiprocessing (~0.5 MB; lean.standing_in, charts.Drawer)
NOT_STARTED = ("multiprocessing", "concurrent.futures.process", "_posixshmem")
# …and what only a request imports: the Atom feed's ElementTree (and expat with it, ~0.3 MB idle)
NOT_ASKED = ("xml.etree",)
WRAPPER = Path(__file__).parent / "modules_on_signal.py"


def days_until(day: dt.date, days: int = 5) -> bytes:
    return rss([day - dt.timedelta(days=i) for i in range(days - 1, -1, -1)], history.daily())


def test_the_daemon_that_worded_a_milestone_in_english_and_ukrainian_carries_no_babel_nor_unused_extras(
    tmp_path, feed_server, fake
):
    """…nor multiprocessing, though its web app runs, its scheduler too, and it drew its cards."""
    from test_daemon_lifecycle import free_port

    # the packages are there to be loaded (the test extras bring them): leaving them out is the daemon's doing
    assert all(importlib.util.find_spec(name) for name in LEFT_OUT)
    db, cfg, out = tmp_path / "tw.db", tmp_path / "tallywatch.toml", tmp_path / "modules.txt"
    cfg.write_text(
        offline(db, f"{feed_server.url}/mod.rss")
        + f"""
[console]
enabled = false

[web]
port = {free_port()}

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
    photos = lambda: {c.params.get("chat_id") for c in fake.sent() if c.method == "sendPhoto"}  # noqa: E731
    try:
        told = wait(
            lambda: (
                any("1,000,340" in t for t in texts("@losses_feed"))
                and any("1\u00a0000\u00a0340" in t for t in texts("@vtraty"))
                and photos() == {"@losses_feed", "@vtraty"}  # the day's cards: drawn before the daemon tells
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
    assert {"uvicorn", "apscheduler.schedulers.base"} <= set(loaded)
    assert [m for m in loaded if m.startswith(NOT_STARTED)] == []
    assert [m for m in loaded if m.startswith(NOT_ASKED)] == []


def test_memory_freed_after_work_is_given_back_once_the_daemon_is_quiet():
    """glibc keeps what the daemon freed (a first start's history stored in one transaction, a
    report's work) for reuse: the heartbeat gives it back once no delivery waits, after the
    resident memory grew by a megabyte since it last did — not while deliveries wait, not for less."""
    from tallywatch.daemon import GiveBack

    resident, trims = [40 << 20], []

    def trim() -> None:
        trims.append(resident[0])
        resident[0] -= 3 << 20

    give_back = GiveBack(trim, lambda: resident[0])
    resident[0] += 900 << 10  # less than a megabyte more: nothing to do
    give_back(waiting=0)
    resident[0] += 6 << 20  # the work's peak (about 46.9 MB): deliveries wait
    give_back(waiting=3)
    assert trims == []
    give_back(waiting=0)  # quiet again: given back, once
    give_back(waiting=0)
    assert trims == [40 * 2**20 + (900 << 10) + (6 << 20)]
    resident[0] += 1 << 20  # a megabyte more than after the trim
    give_back(waiting=0)
    assert len(trims) == 2
    assert GiveBack(None, lambda: resident[0])(waiting=0) is None  # no glibc (musl, macOS): nothing to call


def test_the_daemon_gives_back_the_memory_its_first_start_freed(tmp_path, feed_server):
    """The real daemon on a first start stores the bundled history in one transaction (16 MiB of
    page cache, freed after it): once it is quiet it gives that back (bench/footprint.py
    --first-start: 63.0 -> 59.7 MB idle), and says so at debug level."""
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    db, cfg, said = tmp_path / "tw.db", tmp_path / "tallywatch.toml", tmp_path / "daemon.log"
    cfg.write_text(offline(db, f"{feed_server.url}/mod.rss", interval="1h") + "\n[console]\nenabled = false\n")
    cfg.write_text(cfg.read_text().replace("baseline = false", "baseline = true"))
    assert "baseline = true" in cfg.read_text()
    feed_server.routes["/mod.rss"] = (200, {}, days_until(D(2025, 6, 11)))
    with said.open("w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "tallywatch", "--log-level", "debug", "run", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=tallywatch_env(**unit_environment()),
        )
    try:
        given = wait(lambda: "memory the daemon freed given back" in said.read_text(), limit=60)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
    words = said.read_text()
    assert given, words[-3000:]
    (line,) = [x for x in words.splitlines() if "memory the daemon freed given back" in x]
    before, after = (float(n) for n in re.findall(r"(\d+\.\d) MB", line))
    assert after < before - 1, line  # the history's page cache, and more


def test_the_pools_and_supervisors_left_out_are_there_for_whoever_asks():
    """The daemon's scheduler and web server come without multiprocessing; a scheduler that does
    use APScheduler's thread pool, or uvicorn's supervisors, still gets the real ones."""
    script = """
import sys
import tallywatch.daemon, tallywatch.web.connections
print(sorted(m for m in sys.modules if m.startswith(("multiprocessing", "concurrent.futures.process"))))
from apscheduler.schedulers.background import BackgroundScheduler
import uvicorn.supervisors
print(type(BackgroundScheduler()._create_default_executor()).__module__, sys.modules["uvicorn.main"].Multiprocess.__name__)
print(uvicorn.supervisors.Multiprocess.__module__, "multiprocessing" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[]",
        "apscheduler.executors.pool Multiprocess",
        "uvicorn.supervisors.multiprocess True",
    ]
