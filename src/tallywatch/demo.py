"""``tallywatch demo``: the real daemon against a loopback feed that replays real history.

A small HTTP server on 127.0.0.1 serves the bundled General Staff series as the daily posts
would read (RSS, the 2025 English wording), moving one day forward every ``seconds_per_day``.
The daemon polls it with its embedded defaults (SQLite in a throwaway folder, console output),
so a newcomer watches personnel pass 1,000,000 on 2025-06-12 within a minute, offline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import html
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from . import daemon, history
from .channels.console import ConsoleChannel
from .config import Config, Source, Storage
from .models import Figure
from .pipeline import Pipeline
from .replay import seed

log = logging.getLogger("tallywatch.demo")

# (status, headers, body) for a request (path, request headers)
Handler = Callable[[str, dict[str, str]], tuple[int, dict[str, str], bytes]]


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 answering GETs through one function."""

    def __init__(self, handler: Handler) -> None:
        outer = self
        self.handler = handler
        self.requests: list[tuple[str, dict[str, str]]] = []

        class _Request(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.path, headers))
                status, out_headers, body = outer.handler(self.path, headers)
                try:
                    self.send_response(status)
                    for key, value in out_headers.items():
                        self.send_header(key, value)
                    if "Content-Length" not in out_headers and isinstance(body, bytes):
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if status != 304:
                        for chunk in [body] if isinstance(body, bytes) else body:  # or pieces, as they come
                            self.wfile.write(chunk)
                            self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Request)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


POST_LABELS = {
    "personnel": "personnel",
    "tanks": "tanks",
    "armoured_vehicles": "armoured combat vehicles",
    "artillery": "artillery systems",
    "mlrs": "MLRS",
    "air_defense": "air defense systems",
    "aircraft": "aircraft",
    "helicopters": "helicopters",
    "uav": "UAVs operational-tactical level",
    "cruise_missiles": "cruise missiles",
    "warships": "warships / boats",
    "submarines": "submarines",
    "vehicles": "vehicles and fuel tanks",
    "special_equipment": "special equipment",
    "ground_robots": "ground robotic systems",
}


def post_text(day: dt.date, figures: tuple[Figure, ...], before: tuple[Figure, ...]) -> str:
    """The General Staff's post for ``day`` as HTML paragraphs, deltas from the day before."""
    prior = {f.metric: f.value for f in before}
    lines = [f"The total combat losses of the enemy from 24.02.2022 to {day:%d.%m.%Y} were approximately:"]
    by_metric = {f.metric: f.value for f in figures}
    for metric, label in POST_LABELS.items():
        if metric not in by_metric:
            continue
        value = by_metric[metric]
        delta = value - prior[metric] if metric in prior else None
        shown = f"{value:,}" + (f" (+{delta:,})" if delta and delta > 0 else "")
        if metric == "personnel":
            lines.append(f"personnel ‒ about {shown} persons,")
        else:
            lines.append(f"{label} ‒ {shown},")
    lines[-1] = lines[-1].rstrip(",") + "."
    lines.append("Data are being updated.")
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def rss(days: list[dt.date], series: dict[dt.date, tuple[Figure, ...]]) -> bytes:
    items = []
    for day in reversed(days):  # newest first, as feeds are
        before = series.get(day - dt.timedelta(days=1), ())
        published = dt.datetime.combine(day, dt.time(6, 0), dt.UTC)
        items.append(
            "<item>"
            f"<title>The total combat losses of the enemy from 24.02.2022 to {day:%d.%m.%Y}</title>"
            f"<link>http://127.0.0.1/genstaff/{day}</link>"
            f'<guid isPermaLink="false">genstaff-{day}</guid>'
            f"<pubDate>{email.utils.format_datetime(published)}</pubDate>"
            f"<description>{escape(post_text(day, series[day], before))}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        "<title>General Staff of the Armed Forces of Ukraine (tallywatch demo replay)</title>"
        "<link>http://127.0.0.1/</link><description>Replay of the daily loss reports</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


class ReplayFeed:
    """Serves ``/genstaff.rss``: the last ``window`` days up to the demo's today.

    The demo's clock starts at the daemon's first request (not while the history is being stored),
    and a day is published only once the day before it has been served: a daemon slowed down by a
    busy machine still reads each day's report on its own, as it would live, never two at once."""

    def __init__(self, start: dt.date, until: dt.date, seconds_per_day: float, window: int = 7) -> None:
        self.series = history.between(start - dt.timedelta(days=window + 1), until)
        self.start, self.until, self.seconds_per_day, self.window = start, until, seconds_per_day, window
        self.t0: float | None = None
        self.served = start - dt.timedelta(days=1)  # the newest day a response has carried
        self._lock = threading.Lock()

    def today(self) -> dt.date:
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        elapsed = int((now - self.t0) / self.seconds_per_day)
        return min(self.until, self.start + dt.timedelta(days=elapsed), self.served + dt.timedelta(days=1))

    def __call__(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path.split("?")[0] != "/genstaff.rss":
            return 404, {"Content-Type": "text/plain"}, b"not found"
        with self._lock:  # the server answers on threads
            today = self.today()
            self.served = max(self.served, today)
        etag = f'"{today}"'
        if headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        days = [d for d in self.series if today - dt.timedelta(days=self.window) < d <= today]
        return 200, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag}, rss(days, self.series)


def demo_config(base: Config, url: str, seconds_per_day: float, db: Path) -> Config:
    source = Source(name="genstaff-demo", kind="rss", url=url, interval=seconds_per_day / 2, jitter=0.0)
    offline = base.backfill.replace(enabled=False)  # the demo never leaves this machine
    return base.replace(sources=[source], storage=Storage(path=db), backfill=offline)


async def _run(config: Config, feed: ReplayFeed) -> None:
    stop = asyncio.Event()
    pipeline = Pipeline(config, channels=[ConsoleChannel()], recover=True)  # the demo never posts to a real chat
    before = feed.start - dt.timedelta(days=1)
    days = await pipeline.in_store(seed, pipeline.store, pipeline.detector, before)
    log.info(
        "demo: the bundled history up to %s (%d days) is stored quietly: the rules have their baselines", before, days
    )
    deadline = time.monotonic() + ((feed.until - feed.start).days + 15) * feed.seconds_per_day

    async def watch() -> None:
        while not stop.is_set():
            await asyncio.sleep(feed.seconds_per_day / 2)
            latest = await pipeline.in_store(pipeline.store.latest)
            if any(row.as_of >= feed.until for row in latest) or time.monotonic() > deadline:
                log.info("the replay reached %s: demo over", feed.until)
                stop.set()

    watcher = asyncio.create_task(watch())
    try:
        await daemon.run(config, stop, pipeline, bot=False)
    finally:
        watcher.cancel()


def run_demo(base: Config, start: dt.date, until: dt.date, seconds_per_day: float, db: Path | None) -> None:
    feed = ReplayFeed(start, until, seconds_per_day)
    with LoopbackServer(feed) as server, tempfile.TemporaryDirectory(prefix="tallywatch-demo-") as tmp:
        url = f"{server.url}/genstaff.rss"
        path = db or Path(tmp) / "tallywatch.db"
        log.info(
            "demo: serving the General Staff's daily reports at %s, one day every %gs, %s … %s",
            url,
            seconds_per_day,
            start,
            until,
        )
        log.info("demo: alerts for the days from %s print below", start)
        asyncio.run(_run(demo_config(base, url, seconds_per_day, path), feed))
