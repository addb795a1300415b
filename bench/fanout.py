"""Benchmark: one milestone fanned out to 3,000 Telegram subscribers through the fake Bot API.

The fake runs in a process of its own, as Telegram is a server of its own: the sender shares no
interpreter lock with it. It enforces Telegram's limits (30 messages/s overall, 1/s per chat) by answering 429.
Prints messages per second sustained, 429s received, messages lost, the time from the event
being stored to the first message leaving, and how many times the milestone's chart was uploaded
(it is drawn once, and re-sent by Telegram's file id once the first upload is answered). Targets: >= 28 msg/s, 0 429s, 0 lost, < 100 ms.
With ``--paid`` (``[telegram] paid_broadcast = true``) the messages carry ``allow_paid_broadcast``
and are paced at up to 1,000 a second, the limit the fake enforces for them.
With ``--json`` the last line is one JSON object: subscribers, paid, rate (messages a second), 429s,
lost. A run that measured nothing (no message reached the fake, or all went out in the first second,
leaving no sustained rate) exits 1 and prints no figure.
With ``--commit-ms M`` every commit of the store takes M ms longer, as on a cheap server's disk:
the outbox writes the sends answered meanwhile in one commit (group commit), so the rate holds.
Run: .venv/bin/python bench/fanout.py [--subscribers N] [--text] [--paid] [--commit-ms M] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fake Bot API lives with the tests

from fake_telegram import TOKEN, FakeTelegramProcess

from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config
from tallywatch.ingest import Item, ingest
from tallywatch.models import Figure
from tallywatch.pipeline import Pipeline

D = dt.date


class NothingMeasured(RuntimeError):
    """The fan-out gave no figure to trust: none may be printed."""


@dataclass(frozen=True)
class Setup:
    """How the fan-out is run: ``text_only`` (no chart), ``paid`` (paid broadcast), ``commit_ms``
    (every commit of the store takes that much longer: a cheap server's disk)."""

    text_only: bool = False
    paid: bool = False
    commit_ms: float = 0.0


def slow_commits(store, seconds: float) -> None:
    """Each transaction of ``store`` takes ``seconds`` longer to commit, as on a disk whose flush is slow."""
    transaction = store.transaction

    @contextlib.contextmanager
    def slow():
        outer = not store.conn.in_transaction
        with transaction() as joined:
            yield joined
            if outer:
                time.sleep(seconds)  # (the store's own thread: as an fsync would hold it)

    store.transaction = slow


async def run(subscribers: int, fake: FakeTelegramProcess, db: Path, setup: Setup) -> dict:
    text_only, paid = setup.text_only, setup.paid
    config = Config.from_dict(
        {
            "storage": {"path": str(db)},
            "console": {"enabled": False},
            "telegram": {"base_url": fake.base_url, "paid_broadcast": paid},
            "milestones": {"personnel": {"step": 100_000}},
        }
    )
    channel = TelegramChannel(TOKEN, config.telegram)
    if text_only:  # the alert as a text message, without the milestone's chart

        async def no_chart(event, language="en"):
            return None

        channel.prepare = no_chart
    pipeline = Pipeline(config, channels=[channel])
    store = pipeline.store
    if setup.commit_ms:
        slow_commits(store, setup.commit_ms / 1000)

    def prepare() -> None:
        ingest(
            store,
            pipeline.detector,
            [],
            "mod",
            [Item("a", "a", [Figure(metric="personnel", as_of=D(2025, 6, 11), value=999_200)])],
        )
        for i in range(subscribers):
            store.save_subscriber("telegram", str(100_000 + i), choice="all")

    await pipeline.in_store(prepare)
    await channel.start()
    pipeline.workers = True
    worker = asyncio.create_task(pipeline.delivery_worker(channel))
    await asyncio.sleep(1.2)  # the worker is idle, the connection warm

    stored_at, cpu_at = time.monotonic(), time.process_time()
    await pipeline.in_store(
        ingest,
        store,
        pipeline.detector,
        pipeline.channels,
        "mod",
        [Item("b", "b", [Figure(metric="personnel", as_of=D(2025, 6, 12), value=1_000_340, reported_delta=1_140)])],
    )
    pipeline.notify()
    while (await asyncio.to_thread(fake.summary, sends=False))["accepted"] < subscribers:
        await asyncio.sleep(0.25)
        if time.monotonic() - stored_at > subscribers / 10 + 60:
            break
    cpu = time.process_time() - cpu_at  # this process's, every thread: the sender's cost
    pipeline.stopping.set()
    await worker
    await channel.stop()
    await pipeline.aclose()
    summary = fake.summary()
    sent = [at for _, _, at in summary["sent"]]  # time.monotonic: one clock for both processes
    if not sent:
        raise NothingMeasured("no message reached the fake Bot API")
    first, last = sent[0], sent[-1]
    # sustained: after the first second, whose allowance goes out at once
    steady = [at for at in sent if at >= first + 1.0]
    if len(steady) < 2:
        raise NothingMeasured(
            f"all {len(sent)} messages left within the first second, whose allowance goes out at once:"
            " no sustained rate (more subscribers)"
        )
    return {
        "subscribers": subscribers,
        "sent": len(sent),
        "seconds": last - first,
        "rate": (len(steady) - 1) / (steady[-1] - steady[0]),
        "429s": summary["429s"],
        "uploads": summary["uploads"],
        "lost": subscribers - len({chat for _, chat, _ in summary["sent"]}),
        "first_ms": (first - stored_at) * 1000,
        "cpu_ms": cpu * 1000 / len(sent),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=3_000)
    parser.add_argument("--text", action="store_true", help="send the milestone as text, without its chart")
    parser.add_argument(
        "--paid", action="store_true", help="[telegram] paid_broadcast = true: up to 1,000 messages a second"
    )
    parser.add_argument(
        "--commit-ms", type=float, default=0.0, help="each commit of the store takes this much longer (a slow disk)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON line of the figures at the end")
    args = parser.parse_args()
    with FakeTelegramProcess() as fake, tempfile.TemporaryDirectory() as tmp:
        try:
            setup = Setup(args.text, args.paid, args.commit_ms)
            r = asyncio.run(run(args.subscribers, fake, Path(tmp) / "fanout.db", setup))
        except NothingMeasured as exc:
            sys.exit(f"fanout: FAILED, nothing measured: {exc}")  # exit status 1, on stderr
    print(f"subscribers              {r['subscribers']:>10,}")
    print(f"messages accepted        {r['sent']:>10,}")
    print(f"fan-out took             {r['seconds']:>10.1f} s")
    ceiling = (
        "target as fast as this machine allows, Telegram's paid ceiling 1,000"
        if args.paid
        else "target >= 28, Telegram's ceiling 30"
    )
    print(f"messages per second      {r['rate']:>10.2f}   ({ceiling})")
    print(f"sender's CPU per message {r['cpu_ms']:>10.2f} ms (every thread of the sending process)")
    print(f"429s received            {r['429s']:>10,}   (target 0)")
    print(f"messages lost            {r['lost']:>10,}   (target 0)")
    print(f"stored → first message   {r['first_ms']:>10.1f} ms (target < 100; with the chart, its drawing first)")
    print(f"chart uploads            {r['uploads']:>10,}   (then re-sent by file id)")
    if args.json:
        figures = {"subscribers": r["subscribers"], "paid": args.paid, "rate": round(r["rate"], 2)}
        print(json.dumps({**figures, "429s": r["429s"], "lost": r["lost"]}, allow_nan=False))


if __name__ == "__main__":
    main()
