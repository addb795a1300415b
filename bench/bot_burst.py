"""Benchmark: a crowd at the bot. N users each send /start and /subscribe at once (a channel
mentioned the bot), through the fake Bot API, which enforces Telegram's limits (30 messages a
second overall, one a second per chat) by answering 429.

Prints replies per second overall, the median and the worst time from the crowd's arrival to each
user's /subscribe keyboard, and the 429s received. Targets for 200 users: >= 25 replies/s, worst
<= 20 s, 0 x 429.
With ``--json`` the last line is one JSON object: users, replies_per_s, median_s, worst_s (null
when a user never got the keyboard), 429s. A run in which no user got the keyboard measured
nothing: exit status 1, no figure.
Run: .venv/bin/python bench/bot_burst.py [--users N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fake Bot API lives with the tests

from fake_telegram import TOKEN, FakeTelegram

from tallywatch.bot import TelegramBot
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config
from tallywatch.pipeline import Pipeline

FIRST_USER = 700_000


async def crowd(users: int, fake: FakeTelegram, db: Path, timeout: float = 300.0) -> dict:
    config = Config.from_dict(
        {
            "storage": {"path": str(db)},
            "detect": {"baseline": False},
            "backfill": {"enabled": False},
            "console": {"enabled": False},
            "telegram": {"base_url": fake.base_url},
        }
    )
    channel = TelegramChannel(TOKEN, config.telegram)
    pipeline = Pipeline(config, channels=[channel])
    bot = TelegramBot(pipeline, TOKEN, config.telegram)
    await bot.start()
    try:
        people = range(FIRST_USER, FIRST_USER + users)
        arrived = time.monotonic()
        for user in people:
            fake.send_command(user, "/start")
            fake.send_command(user, "/subscribe")
        deadline = arrived + timeout
        while time.monotonic() < deadline:
            if sum(1 for c in fake.sent() if c.status == 200) >= 2 * users:
                break
            await asyncio.sleep(0.05)
        replies = [c for c in fake.sent() if c.status == 200 and int(c.params["chat_id"]) in people]
        keyboards = {int(c.params["chat_id"]): c.at - arrived for c in replies if "reply_markup" in c.params}
        order_kept = all(
            [("reply_markup" in c.params) for c in replies if int(c.params["chat_id"]) == user] == [False, True]
            for user in people
        )
        last = max(c.at for c in replies) if replies else arrived
        return {
            "replies": len(replies),
            "rate": len(replies) / max(1e-9, last - arrived),
            "median": statistics.median(keyboards.values()) if keyboards else float("nan"),
            "worst": max(keyboards.values()) if len(keyboards) == users else float("inf"),
            "429": len(fake.calls(status=429)),
            "order_kept": order_kept,
        }
    finally:
        await bot.stop()
        await channel.stop()
        await pipeline.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="one JSON line of the figures at the end")
    args = parser.parse_args()
    if args.users < 1:
        sys.exit(f"bot_burst: --users {args.users}: it must be at least 1, or nothing would be measured")
    with FakeTelegram() as fake, tempfile.TemporaryDirectory() as tmp:
        got = asyncio.run(crowd(args.users, fake, Path(tmp) / "burst.db"))
    if got["median"] != got["median"]:  # NaN: no keyboard reached anyone
        sys.exit(f"bot_burst: FAILED, nothing measured: no user got the /subscribe keyboard ({got['replies']} replies)")
    print(f"{args.users} users x (/start, /subscribe): {got['replies']} replies")
    print(f"replies per second          {got['rate']:>7.1f}   (target >= 25)")
    print(
        f"time to the keyboard        median {got['median']:.1f} s, worst {got['worst']:.1f} s   (target worst <= 20 s)"
    )
    print(f"429s received               {got['429']:>7d}   (target 0)")
    print(f"each chat answered in order {'yes' if got['order_kept'] else 'NO'}")
    if args.json:
        worst = None if got["worst"] == float("inf") else round(got["worst"], 2)
        figures = {"users": args.users, "replies_per_s": round(got["rate"], 1), "median_s": round(got["median"], 2)}
        print(json.dumps({**figures, "worst_s": worst, "429s": got["429"]}, allow_nan=False))


if __name__ == "__main__":
    main()
