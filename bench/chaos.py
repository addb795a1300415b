"""Chaos: the real daemon fanning one milestone out to 300 Telegram subscribers, killed with SIGKILL
10 times at random moments of that fan-out, then let finish.

Everything runs on 127.0.0.1: a feed server, the fake Bot API (Telegram's limits, 429s), the daemon
as a subprocess on a real SQLite file. Prints who never got the alert (target 0) and the
duplicates per kill (bound: [telegram] concurrency, 4. A message can arrive twice only when the
kill falls between Telegram accepting it and the row being marked sent — the at-least-once
window, which the Bot API gives no way to close — so a kill duplicates at most the sends in
flight, one per chat; a chat in flight at two kills can get three copies).

It measures or it fails: a start of the daemon that exits on its own (a refused config), a
fan-out that stops moving, a last start that does not end cleanly, or a run in which nothing was
killed or sent is an error (exit status 1, the daemon's own words, no figure printed). With
``--json`` the last line is one JSON object: subscribers, kills, lost, duplicates_per_kill.
With ``--paid`` the fan-out is a paid broadcast (up to 1,000 a second, 32 sends in flight: the bound
is 32 a kill, still one per chat).
Run: .venv/bin/python bench/chaos.py [--subscribers 300] [--kills 10] [--seed N] [--paid] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fakes live with the tests

from fake_telegram import TOKEN, FakeTelegram
from feeds import FeedServer
from processes import offline, run_tallywatch, tallywatch_env
from test_telegram_daemon import MILLION, feed_until

from tallywatch.channels.telegram import PAID_CONCURRENCY
from tallywatch.store import Store

D = dt.date
CONCURRENCY = 4  # [telegram] concurrency, the default, written into the config: sends in flight at once


class ChaosFailed(RuntimeError):
    """The run measured nothing trustworthy: no figure may be printed from it."""


def sent_million(fake: FakeTelegram) -> list[str]:
    return [str(c.params["chat_id"]) for c in fake.sent() if MILLION in c.text]


RUNNING: list[subprocess.Popen] = []  # killed on the way out, whatever happened


def start(cfg: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``tallywatch run``, its output to ``log`` (a pipe nobody reads would fill and stall it)."""
    with log.open("a") as out:
        out.write(f"--- start {time.strftime('%H:%M:%S')}\n")
        out.flush()
        daemon = subprocess.Popen(
            [sys.executable, "-m", "tallywatch", "run", "--config", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    RUNNING.append(daemon)
    return daemon


def said(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]


def chaos(subscribers: int = 300, kill_count: int = 10, seed: int | None = None, paid: bool = False) -> dict:
    """Run it; returns what it measured (lost, duplicates, kills, …), or raises ``ChaosFailed``.
    ``paid``: a paid broadcast (``[telegram] paid_broadcast``), up to 1,000 a second, 32 in flight."""
    try:
        return _chaos(argparse.Namespace(subscribers=subscribers, kills=kill_count, paid=paid), seed)
    finally:
        while RUNNING:
            daemon = RUNNING.pop()
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()


def _chaos(args: argparse.Namespace, seed: int | None) -> dict:  # noqa: C901 — one experiment read top to bottom: start, kill at random, restart, count
    seed = seed if seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    in_flight = PAID_CONCURRENCY if args.paid else CONCURRENCY
    with tempfile.TemporaryDirectory() as tmp, FeedServer() as feeds, FakeTelegram() as fake:
        db, cfg = Path(tmp) / "tw.db", Path(tmp) / "tw.toml"
        cfg.write_text(
            offline(db, f"{feeds.url}/mod.rss")
            + f"""
[web]
port = 0  # the web app as deployed, on a free port: runs beside anything else on this machine
[console]
enabled = false
[telegram]
base_url = "{fake.base_url}"
polling = false
concurrency = {CONCURRENCY}
paid_broadcast = {"true" if args.paid else "false"}
[milestones.personnel]
step = 100_000
"""
        )
        env = tallywatch_env(TALLYWATCH_TELEGRAM_TOKEN=TOKEN)
        feeds.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 11)))
        log = Path(tmp) / "daemon.log"
        first = run_tallywatch("poll", "--config", str(cfg), env=env)
        if first.returncode != 0:
            raise ChaosFailed(f"the first poll failed (exit {first.returncode}):\n{first.stderr[-3000:]}")
        store = Store(db)
        for i in range(args.subscribers):
            store.save_subscriber("telegram", str(40_000 + i), choice="milestones")
        store.close()
        feeds.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 12)))  # the million: one fan-out

        kills = 0
        lives: list[int] = []  # where each life of the daemon ended in the fake's list of sends
        started = time.monotonic()
        while kills < args.kills and len(set(sent_million(fake))) < args.subscribers:
            daemon = start(cfg, env, log)
            before = len(sent_million(fake))
            # a random moment: after 1 to 40 more messages (a paid broadcast: up to 40 times as many)
            goal = before + rng.randint(1, 40 * (40 if args.paid else 1))
            stalled = time.monotonic() + 20  # a fan-out that stopped moving is reported, not waited on
            everyone = lambda: len(set(sent_million(fake))) == args.subscribers  # noqa: E731
            while (
                len(sent_million(fake)) < goal
                and not everyone()
                and daemon.poll() is None
                and time.monotonic() < stalled
            ):
                time.sleep(0.005)  # watching the fake from outside, as an observer would
            if daemon.poll() is not None:
                raise ChaosFailed(
                    f"start {kills + 1} of the daemon exited by itself ({daemon.returncode}):\n{said(log)}"
                )
            if everyone():  # the fan-out ended before this kill fell: not a kill during it
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=15)
                break
            if len(sent_million(fake)) == before:
                daemon.kill()
                daemon.wait()
                raise ChaosFailed(f"start {kills + 1}: the fan-out did not move for 20 s:\n{said(log)}")
            time.sleep(rng.uniform(0, 0.05))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            lives.append(len(sent_million(fake)))
            if daemon.returncode != -signal.SIGKILL:  # it ended on its own in those last milliseconds
                raise ChaosFailed(
                    f"start {kills + 1} of the daemon exited by itself ({daemon.returncode}):\n{said(log)}"
                )
            kills += 1
        daemon = start(cfg, env, log)  # the last start: let it finish
        lives_before = said(log, 10**9).count("tallywatch running:")
        end = time.monotonic() + 120
        while (
            (
                len(set(sent_million(fake))) < args.subscribers
                or said(log, 10**9).count("tallywatch running:") == lives_before  # (its SIGTERM handler set up)
            )
            and daemon.poll() is None
            and time.monotonic() < end
        ):
            time.sleep(0.05)
        if daemon.poll() is not None:
            raise ChaosFailed(f"the last start of the daemon exited by itself ({daemon.returncode}):\n{said(log)}")
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
        if daemon.returncode != 0:
            raise ChaosFailed(f"the last start of the daemon did not stop cleanly ({daemon.returncode}):\n{said(log)}")
        took = time.monotonic() - started

        million = sent_million(fake)
        per_chat = Counter(million)
        # a duplicate needs a kill: within one life of the daemon no chat gets the alert twice, so a
        # kill adds at most one copy per chat
        bounds = [0, *lives, len(million)]
        twice = max((max(Counter(million[a:b]).values(), default=0) for a, b in itertools.pairwise(bounds)), default=0)
        if kills == 0 or not per_chat:
            raise ChaosFailed(f"nothing was measured ({kills} kills, {len(per_chat)} chats reached):\n{said(log)}")
        return {
            "subscribers": args.subscribers,
            "kills": kills,
            "seed": seed,
            "concurrency": in_flight,
            "paid": args.paid,
            "lost": args.subscribers - len(per_chat),
            "duplicates": sum(per_chat.values()) - len(per_chat),
            "most": max(per_chat.values(), default=0),
            "most_in_one_life": twice,
            "429s": len(fake.calls(None, 429)),
            "took": took,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--paid", action="store_true", help="a paid broadcast: up to 1,000 a second, 32 in flight")
    parser.add_argument("--json", action="store_true", help="one JSON line of the figures at the end")
    args = parser.parse_args()
    try:
        r = chaos(args.subscribers, args.kills, args.seed, args.paid)
    except ChaosFailed as exc:
        sys.exit(f"chaos: FAILED, nothing measured: {exc}")  # exit status 1, on stderr
    kind = "paid " if r["paid"] else ""
    print(f"chaos: {r['subscribers']} subscribers, {r['kills']} SIGKILLs during one {kind}fan-out (seed {r['seed']})")
    print(f"  lost (never got the alert):  {r['lost']}   (target 0)")
    per_kill = r["duplicates"] / max(1, r["kills"])
    print(
        f"  duplicates:                  {r['duplicates']}   ({per_kill:.2f} a kill; bound {r['concurrency']}: the sends in flight)"
    )
    print(f"  most copies to one chat:     {r['most']}")
    print(f"  most to one chat in one life: {r['most_in_one_life']}   (bound 1: a duplicate needs a kill)")
    print(f"  429s from the fake Bot API:  {r['429s']}")
    print(f"  wall time:                   {r['took']:.1f} s")
    if args.json:
        figures = {"subscribers": r["subscribers"], "kills": r["kills"], "lost": r["lost"]}
        print(json.dumps({**figures, "duplicates_per_kill": round(per_kill, 2)}, allow_nan=False))


if __name__ == "__main__":
    main()
