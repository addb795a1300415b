"""Benchmark: the web app's speed, and what its load costs a Telegram fan-out.

Everything runs on 127.0.0.1: a feed server, the fake Bot API in a process of its own (Telegram's
limits: 30 messages a second; its send times on ``time.monotonic``, one clock for every process),
the real daemon as a subprocess on a real SQLite file with its web app on a free port, and the
load from this process (plain HTTP/1.1 on keep-alive connections, gzip accepted as browsers do).

1. The cached page: ``--clients`` connections ask for ``/`` one after another for ``--page-seconds``
   against the idle daemon: requests a second, and the 99th percentile of their latency.
2. The fan-out: one milestone (personnel passed 1,000,000) to ``--subscribers`` Telegram readers,
   its sustained rate (after the first second, whose allowance goes out at once).
3. The same fan-out on a fresh daemon while ``--requests`` web requests over ``--load-seconds``
   (evenly paced: 100 a second by default; ``/``, ``/uk/`` and ``/api/v1/latest`` in turn) arrive:
   its rate while they ran. Target: at least 0.95 of the rate without them.

It measures or it fails: a daemon that does not start or exits by itself, a web answer other than
200, a fan-out that does not reach every reader, or too few sends for a sustained rate is an error
(exit status 1, the reason on stderr, no figure printed). With ``--json`` the last line is one JSON
object: page_rps, page_p99_ms, fanout_rate, fanout_rate_under_load.
Run: .venv/bin/python bench/web.py [--subscribers 600] [--requests 2000] [--load-seconds 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fakes live with the tests

from fake_telegram import TOKEN, FakeTelegramProcess
from feeds import FeedServer
from processes import offline, run_tallywatch, stop, tallywatch_env
from test_telegram_daemon import feed_until

from tallywatch.store import Store

D = dt.date
MIXED = ("/", "/uk/", "/api/v1/latest")


class NothingMeasured(RuntimeError):
    """The run gave no figure to trust: none may be printed."""


@dataclass
class Daemon:
    """``tallywatch run`` on its own database, web app and fake Bot API; its output in ``log``."""

    process: subprocess.Popen
    port: int
    log: Path
    feeds: FeedServer

    def said(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def check(self, when: str) -> None:
        if self.process.poll() is not None:
            raise NothingMeasured(f"the daemon exited by itself ({self.process.returncode}) {when}:\n{self.said()}")


@contextlib.contextmanager
def daemon(tmp: Path, subscribers: int, telegram: str):
    """A daemon that has imported the days up to 11 June 2025 and has ``subscribers`` Telegram
    readers of milestones, its web app answering; stopped (killed if need be) on the way out."""
    with FeedServer() as feeds:
        db, cfg, log = tmp / "tw.db", tmp / "tw.toml", tmp / "daemon.log"
        cfg.write_text(
            offline(db, f"{feeds.url}/mod.rss")
            + f"""
[web]
port = 0  # a free port, read from the daemon's log: nothing can take it between choosing and binding
[console]
enabled = false
[telegram]
base_url = "{telegram}"
polling = false
[milestones.personnel]
step = 100_000
"""
        )
        env = tallywatch_env(TALLYWATCH_TELEGRAM_TOKEN=TOKEN)
        feeds.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 11)))
        first = run_tallywatch("poll", "--config", str(cfg), env=env)
        if first.returncode != 0:
            raise NothingMeasured(f"the first poll failed (exit {first.returncode}):\n{first.stderr[-3000:]}")
        store = Store(db)
        for i in range(subscribers):
            store.save_subscriber("telegram", str(40_000 + i), choice="milestones")
        store.close()
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "tallywatch", "run", "--config", str(cfg)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        running = Daemon(process, 0, log, feeds)
        try:
            ready = time.monotonic() + 30
            while not (running.port or listening(running)) or not healthy(running.port):
                running.check("before its web app answered")
                if time.monotonic() > ready:
                    raise NothingMeasured(f"the web app did not answer /healthz within 30 s:\n{running.said()}")
                time.sleep(0.05)
            yield running
            running.check("during the run")
        finally:
            stop(process)


def listening(running: Daemon) -> int:
    """The port the daemon's web app listens on, once its log says so (0 until then)."""
    found = re.search(r"web app at http://127\.0\.0\.1:(\d+)", running.said(10**6))
    running.port = int(found.group(1)) if found else 0
    return running.port


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


class Connection:
    """One keep-alive HTTP/1.1 connection, as light as a load generator needs: a GET, the status
    line, Content-Length, the body read and dropped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
        await self.reader.readexactly(length)
        return int(lines[0].split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def page_speed(port: int, clients: int, seconds: float) -> tuple[float, float]:
    """(requests a second, 99th-percentile latency in ms) of ``clients`` connections asking for
    ``/`` back to back for ``seconds``: the cached page, nothing stored meanwhile."""
    took: list[float] = []
    bad: list[int] = []
    await Connection(port).get("/")  # the page made once, then cached

    async def client() -> None:
        connection = Connection(port)
        try:
            while time.monotonic() < end:
                asked = time.monotonic()
                status = await connection.get("/")
                took.append(time.monotonic() - asked)
                if status != 200:
                    bad.append(status)
        finally:
            await connection.close()

    start = time.monotonic()
    end = start + seconds
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.monotonic() - start
    if bad or not took:
        raise NothingMeasured(f"the page answered {sorted(set(bad))} ({len(bad)} of {len(took)} requests)")
    return len(took) / elapsed, percentile(took, 0.99) * 1000


async def paced_load(port: int, requests: int, seconds: float, clients: int = 16) -> dict:
    """``requests`` GETs spread evenly over ``seconds`` (each at its moment, whatever the answers
    before it took, on up to ``clients`` keep-alive connections), the paths of MIXED in turn."""
    start = time.monotonic()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    took: list[float] = []
    bad: list[int] = []

    async def client() -> None:
        connection = Connection(port)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                due = start + i * seconds / requests
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                status = await connection.get(MIXED[i % len(MIXED)])
                took.append(time.monotonic() - due)
                if status != 200:
                    bad.append(status)
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    if bad:
        raise NothingMeasured(f"under load the web app answered {sorted(set(bad))} ({len(bad)} of {requests})")
    return {"start": start, "end": time.monotonic(), "p99_ms": percentile(took, 0.99) * 1000, "answered": len(took)}


def sustained(sent: list[float], start: float | None = None, end: float | None = None) -> float:
    """Messages a second after the fan-out's first second (whose allowance goes out at once),
    counting only those sent between ``start`` and ``end`` when given."""
    if not sent:
        raise NothingMeasured("no message reached the fake Bot API")
    steady = [at for at in sent if at >= sent[0] + 1.0]
    steady = [at for at in steady if (start is None or at >= start) and (end is None or at <= end)]
    if len(steady) < 10:
        raise NothingMeasured(
            f"{len(steady)} messages after the fan-out's first second{' while the load ran' if start else ''}:"
            " no sustained rate (more subscribers)"
        )
    return (len(steady) - 1) / (steady[-1] - steady[0])


async def fan_out(running: Daemon, fake: FakeTelegramProcess, subscribers: int, load: argparse.Namespace | None):
    """The million published, the fan-out to every reader (with the web load beside it, if any):
    (the send times of the milestone, the load's figures or None)."""
    running.feeds.routes["/mod.rss"] = (200, {}, feed_until(D(2025, 6, 12)))
    loading = (
        asyncio.create_task(paced_load(running.port, load.requests, load.load_seconds)) if load is not None else None
    )
    moved, reached = time.monotonic(), 0
    while True:
        await asyncio.sleep(0.25)
        summary = await asyncio.to_thread(fake.summary)
        now = len({chat for _method, chat, _at in summary["sent"]})
        if now >= subscribers:
            break
        running.check("during the fan-out")
        if now > reached:
            moved, reached = time.monotonic(), now
        elif time.monotonic() - moved > (20 if reached else 60):
            raise NothingMeasured(f"the fan-out stopped at {reached} of {subscribers} readers:\n{running.said()}")
    figures = await loading if loading is not None else None
    summary = await asyncio.to_thread(fake.summary)  # (with the sends of the last moment)
    return [at for _method, _chat, at in summary["sent"]], figures


def measure(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp) / "first", Path(tmp) / "second"
        first.mkdir()
        second.mkdir()
        with FakeTelegramProcess() as fake, daemon(first, args.subscribers, fake.base_url) as running:
            page_rps, page_p99 = asyncio.run(page_speed(running.port, args.clients, args.page_seconds))
            sent, _ = asyncio.run(fan_out(running, fake, args.subscribers, None))
            rate = sustained(sent)
        with FakeTelegramProcess() as fake, daemon(second, args.subscribers, fake.base_url) as running:
            sent_loaded, load = asyncio.run(fan_out(running, fake, args.subscribers, args))
            rate_loaded = sustained(sent_loaded, load["start"], load["end"])
    return {
        "page_rps": page_rps,
        "page_p99_ms": page_p99,
        "fanout_rate": rate,
        "fanout_rate_under_load": rate_loaded,
        "load": load,
        "fanout_seconds": (sent[-1] - sent[0], sent_loaded[-1] - sent_loaded[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=600, help="Telegram readers of the milestone (20 s at 30/s)")
    parser.add_argument("--clients", type=int, default=4, help="keep-alive connections asking for the page")
    parser.add_argument("--page-seconds", type=float, default=5.0, help="how long the page is asked for")
    parser.add_argument("--requests", type=int, default=2_000, help="web requests during the second fan-out")
    parser.add_argument("--load-seconds", type=float, default=20.0, help="the seconds they are spread over")
    parser.add_argument("--json", action="store_true", help="one JSON line of the figures at the end")
    args = parser.parse_args()
    for name in ("subscribers", "clients", "page_seconds", "requests", "load_seconds"):
        if getattr(args, name) <= 0:
            sys.exit(
                f"web: FAILED, nothing measured: --{name.replace('_', '-')} {getattr(args, name)}: give more than 0"
            )
    try:
        r = measure(args)
    except NothingMeasured as exc:
        sys.exit(f"web: FAILED, nothing measured: {exc}")  # exit status 1, on stderr
    ratio = r["fanout_rate_under_load"] / r["fanout_rate"]
    load = r["load"]
    print(f"the cached page        {r['page_rps']:>9,.0f} requests/s   ({args.clients} keep-alive clients, gzip)")
    print(f"  99th percentile      {r['page_p99_ms']:>9.1f} ms")
    print(f"fan-out, no web load   {r['fanout_rate']:>9.2f} messages/s   ({args.subscribers} readers)")
    print(
        f"fan-out, web load      {r['fanout_rate_under_load']:>9.2f} messages/s   "
        f"({args.requests:,} requests over {args.load_seconds:g} s: {', '.join(MIXED)})"
    )
    print(f"  ratio                {ratio:>9.2f}   (target >= 0.95)")
    print(f"  the load's p99       {load['p99_ms']:>9.1f} ms from each request's moment to its answer")
    print(f"fan-outs took          {r['fanout_seconds'][0]:>9.1f} s and {r['fanout_seconds'][1]:.1f} s")
    if args.json:
        keys = ("page_rps", "page_p99_ms", "fanout_rate", "fanout_rate_under_load")
        print(json.dumps({key: round(r[key], 2) for key in keys}, allow_nan=False))


if __name__ == "__main__":
    main()
