"""Chaos: the real daemon fanning one milestone out to 300 Telegram subscribers, killed with SIGKILL
10 times at random moments of that fan-out, then let finish.

Everything runs on 127.0.0.1: a feed server, the fake Bot API (Telegram's limits, 429s), the daemon
as a subprocess on a real SQLite file. Prints who never got the alert (target 0) and the
duplicates per kill (target <= 1: a message can arrive twice only when the kill falls between
Telegram accepting it and the row being marked sent, and each chat has at most one in flight).
Run: .venv/bin/python bench/chaos.py [--subscribers 300] [--kills 10] [--seed N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fakes live with the tests

from fake_telegram import TOKEN, FakeTelegram
from feeds import FeedServer
from processes import offline, run_tallywatch, start_daemon, tallywatch_env
from test_telegram_daemon import MILLION, feed_until

from tallywatch.store import Store

D = dt.date


def sent_million(fake: FakeTelegram) -> list[str]:
    return [str(c.params["chat_id"]) for c in fake.sent() if MILLION in c.text]


def chaos(subscribers: int = 300, kill_count: int = 10, seed: int | None = None) -> dict:
    """Run it; returns what it measured (lost, duplicates, kills, …)."""
    seed = seed if seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    args = argparse.Namespace(subscribers=subscribers, kills=kill_count)
    with tempfile.TemporaryDirectory() as tmp, FeedServer() as feeds, FakeTelegram() as fake:
        db, cfg = Path(tmp) / "tw.db", Path(tmp) / "tw.toml"
        cfg.write_text(
            offline(db, f"{feeds.url}/mod.rss")
            + f"""
[health]
enabled = false
[console]
enabled = false
[telegram]
base_url = "{fake.base_url}"
polling = false
[milestones.personnel]
step = 100_000
"""
        )
        env = tallywatch_env(TALLYWATCH_TELEGRAM_TOKEN=TOKEN)
        feeds.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 11)))
        run_tallywatch("poll", "--config", str(cfg), env=env)
        store = Store(db)
        for i in range(args.subscribers):
            store.save_subscriber("telegram", str(40_000 + i), choice="milestones")
        store.close()
        feeds.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 12)))  # the million: one fan-out

        kills = 0
        started = time.monotonic()
        while kills < args.kills and len(set(sent_million(fake))) < args.subscribers:
            daemon = start_daemon(cfg, env)
            before = len(sent_million(fake))
            goal = before + rng.randint(1, 40)  # a random moment: after 1 to 40 more messages
            stalled = time.monotonic() + 20  # a fan-out that stopped moving is reported, not waited on
            while len(sent_million(fake)) < goal and daemon.poll() is None and time.monotonic() < stalled:
                time.sleep(0.005)  # watching the fake from outside, as an observer would
            time.sleep(rng.uniform(0, 0.05))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            kills += 1
        daemon = start_daemon(cfg, env)  # the last start: let it finish
        end = time.monotonic() + 120
        while len(set(sent_million(fake))) < args.subscribers and time.monotonic() < end:
            time.sleep(0.05)
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=15)
        took = time.monotonic() - started

        per_chat = Counter(sent_million(fake))
        return {
            "subscribers": args.subscribers,
            "kills": kills,
            "seed": seed,
            "lost": args.subscribers - len(per_chat),
            "duplicates": sum(per_chat.values()) - len(per_chat),
            "most": max(per_chat.values(), default=0),
            "429s": len(fake.calls(None, 429)),
            "took": took,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    r = chaos(args.subscribers, args.kills, args.seed)
    print(f"chaos: {r['subscribers']} subscribers, {r['kills']} SIGKILLs during one fan-out (seed {r['seed']})")
    print(f"  lost (never got the alert):  {r['lost']}   (target 0)")
    per_kill = r["duplicates"] / max(1, r["kills"])
    print(f"  duplicates:                  {r['duplicates']}   ({per_kill:.2f} a kill; target <= 1)")
    print(f"  most copies to one chat:     {r['most']}")
    print(f"  429s from the fake Bot API:  {r['429s']}")
    print(f"  wall time:                   {r['took']:.1f} s")


if __name__ == "__main__":
    main()
