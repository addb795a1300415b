"""The daemon: the pipeline on a schedule, in one asyncio loop.

APScheduler's AsyncIOScheduler polls each source at its own interval with jitter; a job never
overlaps itself (``max_instances=1``, and the pipeline's per-source lock) and missed runs are
coalesced. Digests (``digest.send``; the daily one at ``daily_at`` at the latest, as it goes with
the day's report when that comes first) and the daily database snapshot (``backup.daily``) run on
cron triggers; a delivery worker per channel (``outbox.worker``) sends what the polls queue; the
Telegram bot and the web app (``web/``: /healthz, /metrics, email self-service) answer in the same
loop. The web app's health snapshot, the watchdog pings and the systemd
STATUS line (from ``sources.health``) are fed by one heartbeat task. Blocking work (SQLite, feedparser,
matplotlib, SMTP) runs on threads.

Signals: SIGINT / SIGTERM stop it — no new polls, in-flight polls and sends get a few seconds,
what was taken and not sent goes back to the outbox, the database is closed, exit 0 within 10 s.
SIGHUP reloads the configuration: a valid one replaces the running session (RELOADING=1 …
READY=1 to systemd), started in full before the old one is let go; a broken one, or one that
can't start (its database can't be opened, its web port is taken), is logged with the reason
and the old session keeps running. One daemon per database: the first session takes an exclusive
lock on it (``store.DaemonLock``), which passes from session to session on a reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from . import backup, digest, sdnotify
from .charts import STARTUP
from .config import Config, ConfigError, Source
from .format import format_duration
from .health import OUTBOX, REGISTRY_SOURCES
from .lean import later, standing_in
from .pipeline import Pipeline
from .sources import schedule
from .sources.health import SourceHealth, read_all

if TYPE_CHECKING:
    from .web.server import WebServer

POOLS = "apscheduler.executors.pool"
with standing_in(POOLS, ThreadPoolExecutor=later(POOLS, "ThreadPoolExecutor")):  # without multiprocessing
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("tallywatch.daemon")
STOP_GRACE = 4.0  # seconds in-flight polls and sends get after a stop signal


@dataclass
class Session:
    """One configuration's running parts (a reload replaces the whole session)."""

    config: Config
    pipeline: Pipeline
    scheduler: AsyncIOScheduler
    workers: list[asyncio.Task]
    bot: object | None

    closed: bool = False
    halted: bool = False  # its scheduler paused: the database file is gone (``Pipeline.check_files``)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_GRACE
        self.scheduler.pause()  # no new polls
        self.pipeline.stopping.set()  # senders finish what is in flight and take nothing new
        if self.bot is not None:
            with contextlib.suppress(Exception):
                await self.bot.stop()
        if self.pipeline.inflight:
            await asyncio.wait(list(self.pipeline.inflight), timeout=STOP_GRACE)
        self.scheduler.shutdown(wait=False)  # cancels what still runs; a batch is stored whole or not at all
        if self.workers:
            _, late = await asyncio.wait(self.workers, timeout=max(0.5, deadline - loop.time()))
            for task in late:
                task.cancel()
        await self.pipeline.aclose()


class LearnedTrigger(BaseTrigger):
    """A source's polls: often inside its learned publication window, at its interval outside
    (``Pipeline.next_poll`` → ``sources.schedule.next_poll``), each poll moved later by its jitter
    (``sources.schedule.jittered``: never past an edge of the window)."""

    def __init__(self, pipeline: Pipeline, source: Source) -> None:
        self.pipeline, self.source = pipeline, source
        self._wrong = False  # the schedule gave a wrong answer (logged once)
        self.rng = random.Random()  # its jitter's draws (a test sets its own)

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        try:
            planned = self.pipeline.next_poll(self.source, now)
            wrong = None if planned > now else f"a time not after now ({planned.isoformat()})"
        except Exception as exc:  # (a trigger that raises stops the job for good)
            wrong = f"{type(exc).__name__}: {exc}"
        if wrong is not None:
            # APScheduler asks again at once for a time in the past: it would spin, and nothing else run
            if not self._wrong:
                log.error(
                    "%s: the learned schedule gave %s; polling at its interval (%s) instead",
                    self.source.name,
                    wrong,
                    format_duration(self.source.interval),
                )
            self._wrong = True
            planned = now + dt.timedelta(seconds=self.source.interval)
        seen = self.pipeline.report_times.get(self.source.name, []) if self.source.learn else []
        fast = min(self.source.fast_interval, self.source.interval)
        return schedule.jittered(seen, now, planned, fast, self.source.jitter, self.rng)

    def __str__(self) -> str:
        return f"learned window ({self.source.name})"


class WallClockTrigger(BaseTrigger):
    """Every day (or one day a week) at a wall-clock time in a zone, once that day whatever the clocks
    do: a time the spring change skips comes as far after it (03:30 is 04:30 that day), a time the
    autumn change repeats comes the first time. (APScheduler 3.11's CronTrigger, after firing on the
    day of the spring change, skips the next day for a time from 00:00 to 00:59, and fires twice for
    a time the autumn change repeats.)"""

    WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

    def __init__(self, clock: str, zone: ZoneInfo, weekday: str | None = None) -> None:
        hour, minute = map(int, clock.split(":"))
        self.time, self.zone, self.clock = dt.time(hour, minute), zone, clock
        self.weekday = None if weekday is None else self.WEEKDAYS.index(weekday)

    def _on(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.time, tzinfo=self.zone).astimezone(dt.UTC)

    def _from(self, day: dt.date):
        while True:
            if self.weekday is None or day.weekday() == self.weekday:
                yield day
            day += dt.timedelta(days=1)

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        if previous_fire_time is not None:  # the next day for it after the one it fired on
            return self._on(next(self._from(previous_fire_time.astimezone(self.zone).date() + dt.timedelta(days=1))))
        return next(m for d in self._from(now.astimezone(self.zone).date()) if (m := self._on(d)) >= now)

    def __str__(self) -> str:
        every = "daily" if self.weekday is None else f"every {self.WEEKDAYS[self.weekday]}"
        return f"{every} at {self.clock} ({self.zone.key})"


async def _start_session(config: Config, pipeline: Pipeline | None, bot: bool) -> Session:
    pipeline = pipeline or Pipeline(config, recover=True)
    await pipeline.prepare()
    loop = asyncio.get_running_loop()
    scheduler = AsyncIOScheduler(timezone=dt.UTC, event_loop=loop)
    sources = [s for s in config.sources if s.enabled]
    now = dt.datetime.now(dt.UTC)
    for source in sources:
        scheduler.add_job(
            pipeline.poll,
            LearnedTrigger(pipeline, source),
            args=[source],
            id=f"poll:{source.name}",
            name=f"poll {source.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(source.interval)),
            # first poll right away, spread a little so sources do not all start at once
            next_run_time=now + dt.timedelta(seconds=random.uniform(0, min(2.0, source.interval / 4))),
        )
    if config.email.enabled:
        for kind, trigger in digest_triggers(config).items():
            scheduler.add_job(
                digest.send,
                trigger,
                args=[pipeline, kind],
                id=f"digest:{kind}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
    scheduler.add_job(  # a daily report a held figure kept back goes out after [report] wait
        pipeline.reports_due,
        "interval",
        seconds=60,
        id="reports",
        max_instances=1,
        coalesce=True,
    )
    if config.backfill.enabled:  # days the start's fill could not get are asked for again, politely
        from apscheduler.triggers.interval import IntervalTrigger

        from . import backfill

        scheduler.add_job(
            backfill.retry,
            IntervalTrigger(seconds=config.backfill.retry),
            args=[pipeline],
            id="backfill",
            max_instances=1,
            coalesce=True,
        )
    if config.storage.backups:  # a daily snapshot of the database, the oldest beyond `backups` removed
        scheduler.add_job(
            backup.daily,
            WallClockTrigger(config.storage.backup_at, ZoneInfo("Europe/Kyiv")),  # once a day across the DST changes
            args=[pipeline],
            id="backup",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=6 * 3600,
        )
    scheduler.start()
    bot_app = await _start_bot(config, pipeline) if bot else None
    pipeline.workers = True
    workers = [asyncio.create_task(pipeline.delivery_worker(c), name=f"deliver:{c.kind}") for c in pipeline.channels]
    log.info(
        "tallywatch running: %d sources, database %s; Ctrl-C or SIGTERM stops, SIGHUP reloads",
        len(sources),
        pipeline.store.path,
    )
    return Session(config, pipeline, scheduler, workers, bot_app)


def digest_triggers(config: Config) -> dict[str, BaseTrigger]:
    """When the digests are made: the weekly one on ``weekly_on`` at ``weekly_at``; the daily one at
    ``daily_at`` at the latest (it goes with the day's report when that comes first:
    ``digest.after_report``). Both in ``[email] timezone``, once on their day whatever the clocks do."""
    zone = ZoneInfo(config.email.timezone)
    return {
        "daily": WallClockTrigger(config.email.daily_at, zone),
        "weekly": WallClockTrigger(config.email.weekly_at, zone, config.email.weekly_on),
    }


async def _start_bot(config: Config, pipeline: Pipeline):
    """The bot answers commands when a token is set and ``[telegram] polling`` is on."""
    from . import secrets

    token = secrets.secret("telegram_token")
    if not token or not config.telegram.polling:
        return None
    from .bot import TelegramBot

    bot = TelegramBot(pipeline, token, config.telegram)
    try:
        await bot.start()
    except Exception as exc:  # Telegram unreachable or the token refused: alerts still queue, polls go on
        log.error("Telegram bot could not start: %s: %s; alerts stay queued in the outbox", type(exc).__name__, exc)
        with contextlib.suppress(Exception):
            await bot.stop()
        return None
    return bot


def status_line(sources: list[SourceHealth], counts: dict[str, int]) -> str:
    enabled = [h for h in sources if h.enabled]
    reports = [h.last_new_report for h in enabled if h.last_new_report]
    last = max(reports)[:10] if reports else "none yet"
    waiting = counts["pending"] + counts["retrying"] + counts["sending"]
    return (
        f"{sum(h.ok for h in enabled)} of {len(enabled)} sources ok · last report {last} · {waiting} pending deliveries"
    )


async def _tick(
    session_ref: list[Session], web_ref: list[WebServer | None], stop: asyncio.Event, give_back: GiveBack
) -> None:
    """The loop's heartbeat: watchdog pings, the health snapshot, the systemd status line, and
    memory freed after work given back once no delivery waits (``GiveBack``)."""
    watchdog = sdnotify.watchdog_interval()
    last_ping = last_read = 0.0
    last_status = ""
    said = ""  # the last error reading the state, said once until it changes
    while not stop.is_set():
        now = time.monotonic()
        web = web_ref[0]
        if watchdog and now - last_ping >= watchdog:
            sdnotify.notify("WATCHDOG=1")
            last_ping = now
        session = session_ref[0]
        halted = session.pipeline.check_files()  # the database file deleted or replaced: no more work
        if bool(halted) != session.halted and not session.closed:
            session.halted = bool(halted)
            (session.scheduler.pause if halted else session.scheduler.resume)()
        if web is not None:
            web.snapshot.heartbeat = now
            web.snapshot.storage = halted or session.pipeline.faults.current
            await web.tick()
        if now - last_read >= 5.0:
            last_read = now
            session = session_ref[0]
            try:
                bound = stuck_after(session.config)
                state, counts, stuck = await session.pipeline.in_store(_read_state, session.pipeline.store, bound)
                waiting = counts["pending"] + counts["retrying"] + counts["sending"]
                OUTBOX.set(waiting)
                give_back(waiting)
                sources = read_all(session.config, state)
                if web is not None:
                    web.snapshot.sources = _ages(sources)
                    web.snapshot.notices = [f"source {h.name}: {h.notice}" for h in sources if h.notice]
                    web.snapshot.stuck = _stuck(stuck, bound)
                line = status_line(sources, counts)
                if line != last_status:
                    sdnotify.status(line)
                    last_status = line
                said = ""
            except Exception as exc:  # the health snapshot goes stale; said, once per kind of failure
                if f"{type(exc).__name__}: {exc}" != said:
                    said = f"{type(exc).__name__}: {exc}"
                    log.warning("the health snapshot could not be read from the database: %s", said)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min(2.0, watchdog or 2.0))


TELEGRAM_SEND = 30.0  # the longest a Telegram send waits: python-telegram-bot's time-outs for an upload
# (5 s to connect, 20 s to write, 5 s to read)
ROUND = 60.0  # for the sends of a delivery's round ahead of it ([outbox] batch at the channel's rate)


GIVE_BACK_AFTER = 1 << 20  # bytes the resident memory grows past its size after the last give-back


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where there is none (musl, macOS): then nothing is trimmed."""
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError) as exc:
        log.debug("no malloc_trim here (%s): memory the daemon frees stays with its allocator", exc)
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


def _resident() -> int:
    """The daemon's resident memory in bytes (the second field of /proc/self/statm, in pages)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class GiveBack:
    """Memory the daemon freed after bulk work — a first start's history stored in one transaction
    (16 MiB of SQLite page cache), a report's detection, pictures and fan-out — stays with glibc's
    allocator for reuse, resident: bench/footprint.py --first-start, 63.0 MB idle without this,
    59.7 with it. The heartbeat calls this every 5 s with the deliveries waiting; once none wait
    and the resident memory has grown by ``GIVE_BACK_AFTER`` since the last give-back (or the
    start), ``malloc_trim(0)`` returns the freed pages to the system (a millisecond or so)."""

    def __init__(self, trim: Callable[[], object] | None, resident: Callable[[], int] = _resident) -> None:
        self.trim, self.resident = trim, resident
        self.after = resident() if trim is not None else 0

    def __call__(self, waiting: int) -> None:
        if self.trim is None or waiting:
            return
        before = self.resident()
        if before < self.after + GIVE_BACK_AFTER:
            return
        self.trim()
        self.after = self.resident()
        log.debug(
            "memory the daemon freed given back to the system: %.1f MB resident, now %.1f MB",
            before / 2**20,
            self.after / 2**20,
        )


def stuck_after(config: Config) -> float:
    """Seconds a delivery may be 'sending' before /healthz calls it stuck: the two pictures a send
    may wait for (a daily digest's card and chart), each up to ``[charts] deadline`` and the first
    with a worker's start (``charts.STARTUP``), the longest send time-out of the channels, and
    ``ROUND`` for the sends claimed with it and ahead of it. 120 s with the defaults."""
    sends = [TELEGRAM_SEND, config.email.timeout, *(hook.timeout for hook in config.webhooks)]
    return 2 * config.charts.deadline + STARTUP + max(sends) + ROUND


def _read_state(store, stuck: float) -> tuple[list[dict], dict[str, int], tuple[int, dict | None]]:
    return store.source_states(), store.outbox_counts(), store.stuck(dt.timedelta(seconds=stuck))


def _stuck(stuck: tuple[int, dict | None], bound: float) -> str | None:
    """/healthz's line for the deliveries 'sending' past ``bound`` (no recipient: it may be public)."""
    count, oldest = stuck
    if oldest is None:
        return None
    since = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(oldest["claimed_at"])).total_seconds()
    more = f" (and {count - 1} more)" if count > 1 else ""
    return (
        f"delivery {oldest['id']} ({oldest['channel']}, {oldest['key']}) 'sending' for {since:.0f} s,"
        f" over the {bound:.0f} s a send can take{more}"
    )


def more_files() -> None:
    """The soft limit on open files raised to the hard one: the web app's connections are capped
    within it (``web.connections``), and the rest is the daemon's own. Left alone under a seccomp
    filter (systemd's ``SystemCallFilter=~@resources`` kills a process that calls setrlimit):
    the unit's ``LimitNOFILE=`` sets both limits alike."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or soft == resource.RLIM_INFINITY:
        return
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            if any(line.split() == ["Seccomp:", "2"] for line in status):
                log.info("open files: %d of at most %d, left so (a seccomp filter is on)", soft, hard)
                return
    except OSError:
        pass
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:
        log.warning("open files: the soft limit %d could not be raised to %d: %s", soft, wanted, exc)


def _ages(sources: list[SourceHealth]) -> dict[str, tuple[float | None, float]]:
    """What /healthz weighs per source: seconds since its last success, and its allowance."""
    return {h.name: (h.age, h.allowance) for h in sources if h.enabled}


async def run(
    config: Config,
    stop: asyncio.Event | None = None,
    pipeline: Pipeline | None = None,
    *,
    bot: bool = True,
    reload: Callable[[], Config] | None = None,
) -> None:
    """Run until SIGINT / SIGTERM (or ``stop``); SIGHUP reloads through ``reload``."""
    stop = stop or asyncio.Event()
    hup = asyncio.Event()
    loop = asyncio.get_running_loop()
    more_files()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    started = time.monotonic()
    give_back = GiveBack(_malloc_trim())  # (measured from before the start's work)
    session_ref = [await _start_session(config, pipeline, bot)]
    web = None
    if config.web.enabled and pipeline is None:
        try:
            web = await _web_server(config, session_ref)
        except OSError as exc:
            log.error("web app on %s:%d: %s; running without it", config.web.host, config.web.port, exc)
    web_ref = [web]
    ticker = asyncio.create_task(_tick(session_ref, web_ref, stop, give_back))
    sdnotify.ready(f"started in {time.monotonic() - started:.1f} s")
    try:
        while True:
            waits = [asyncio.create_task(stop.wait()), asyncio.create_task(hup.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            if stop.is_set():
                break
            hup.clear()
            await _on_hup(reload, session_ref, web_ref, bot)
    finally:
        log.info("stopping")
        sdnotify.stopping()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        stop.set()
        await session_ref[0].close()
        ticker.cancel()
        if web_ref[0] is not None:
            await web_ref[0].stop()
        log.info("stopped")


async def _on_hup(
    reload: Callable[[], Config] | None, session_ref: list[Session], web_ref: list[WebServer | None], bot: bool
) -> None:
    """SIGHUP: the configuration read again and a new session started in the old one's place; if
    that fails, the old session runs on and the reason is logged."""
    new = _reload(reload)
    if new is None:
        return
    sdnotify.reloading()
    log.info("reloading the configuration")
    try:
        session_ref[0], web_ref[0] = await _replace(session_ref, new, bot, web_ref[0])
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".replace("\n", "; ")
        log.error("configuration reload failed, still running on the previous configuration: %s", reason)
        sdnotify.ready(f"reload failed: {reason[:200]}")
        return
    sdnotify.ready("configuration reloaded")
    log.info("configuration reloaded")


async def _web_server(config: Config, session_ref: list[Session]) -> WebServer:
    """The web app on ``[web] host:port``, serving whichever session is running (a reload swaps it)."""
    from .web.app import Site, build
    from .web.server import WebServer

    site = Site(lambda: session_ref[0].pipeline, config)
    server = WebServer(build(site), config.web.host, config.web.port, config.web)
    site.server = server
    REGISTRY_SOURCES.set(server)
    await server.start()
    server.snapshot.sources = _ages(read_all(config, []))  # every source starts unproven
    return server


async def _replace(
    session_ref: list[Session], config: Config, bot: bool, web: WebServer | None
) -> tuple[Session, WebServer | None]:
    """A reload: the new session is started in full before the old one is let go; if anything of
    it fails (the database can't be opened, the web port is taken), what was started of it is
    closed and the error raised: the old session never stopped. The web app serves the old
    session until the new one takes over."""
    old = session_ref[0]
    same_db = config.storage.resolved() == old.config.storage.resolved()
    # on the same database the old session's claims are its own, in flight: not released
    pipeline = Pipeline(config, recover=not same_db)
    new_web = web
    try:
        where = (config.web.enabled, config.web.host, config.web.port)
        if where != (old.config.web.enabled, old.config.web.host, old.config.web.port):
            new_web = await _web_server(config, session_ref) if config.web.enabled else None
        for kind, gate in old.pipeline.gates.items():  # one flood gate per channel across the handover
            if kind in pipeline.gates:
                pipeline.gates[kind] = gate
        session = await _start_session(config, pipeline, bot=False)
    except BaseException:
        await pipeline.aclose()
        if new_web is not web and new_web is not None:
            await new_web.stop()
        raise
    if same_db:  # the daemon's hold on the database passes to the new session
        pipeline.lock, old.pipeline.lock = old.pipeline.lock, None
    await old.close()
    if bot:  # one bot polls Telegram at a time: the old one has stopped
        session.bot = await _start_bot(config, pipeline)
    if new_web is not web and web is not None:
        await web.stop()
    return session, new_web


def _reload(reload: Callable[[], Config] | None) -> Config | None:
    if reload is None:
        log.warning("SIGHUP: nothing to reload (no configuration file)")
        return None
    try:
        return reload()
    except ConfigError as exc:
        reason = str(exc).replace("\n", "; ")
        log.error("configuration reload failed, still running on the previous configuration: %s", reason)
        sdnotify.status(f"reload failed: {reason[:200]}")
        return None
