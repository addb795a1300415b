"""The daemon: the pipeline on a schedule, in one asyncio loop.

APScheduler's AsyncIOScheduler polls each source at its own interval with jitter; a job never
overlaps itself (``max_instances=1``, and the pipeline's per-source lock) and missed runs are
coalesced. SIGINT / SIGTERM stop it: no new polls start, polls in flight get a few seconds to
finish, then the database is closed. Whatever was queued and not yet sent stays in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import signal
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config
from .pipeline import Pipeline

log = logging.getLogger("tallywatch.daemon")
STOP_GRACE = 4.0  # seconds in-flight polls and sends get after a stop signal


async def run(
    config: Config, stop: asyncio.Event | None = None, pipeline: Pipeline | None = None, *, bot: bool = True
) -> None:
    stop = stop or asyncio.Event()
    pipeline = pipeline or Pipeline(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    scheduler = AsyncIOScheduler(timezone=dt.UTC, event_loop=loop)
    sources = [s for s in config.sources if s.enabled]
    now = dt.datetime.now(dt.UTC)
    for source in sources:
        scheduler.add_job(
            pipeline.poll,
            IntervalTrigger(seconds=source.interval, jitter=source.interval * source.jitter, timezone=dt.UTC),
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
        from apscheduler.triggers.cron import CronTrigger

        zone = ZoneInfo(config.email.timezone)
        daily_h, daily_m = map(int, config.email.daily_at.split(":"))
        weekly_h, weekly_m = map(int, config.email.weekly_at.split(":"))
        triggers = {
            "daily": CronTrigger(hour=daily_h, minute=daily_m, timezone=zone),
            "weekly": CronTrigger(day_of_week=config.email.weekly_on, hour=weekly_h, minute=weekly_m, timezone=zone),
        }
        for kind, trigger in triggers.items():
            scheduler.add_job(
                pipeline.queue_digest,
                trigger,
                args=[kind],
                id=f"digest:{kind}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
    scheduler.start()
    bot_app = await _start_bot(config, pipeline) if bot else None
    pipeline.workers = True
    workers = [asyncio.create_task(pipeline.delivery_worker(c), name=f"deliver:{c.kind}") for c in pipeline.channels]
    log.info(
        "tallywatch running: %d sources, database %s; Ctrl-C or SIGTERM stops",
        len(sources),
        pipeline.store.path,
    )
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        scheduler.pause()  # no new polls
        if bot_app is not None:
            await bot_app.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        deadline = loop.time() + STOP_GRACE
        if pipeline.inflight:
            await asyncio.wait(list(pipeline.inflight), timeout=STOP_GRACE)
        scheduler.shutdown(wait=False)  # cancels what still runs; a batch is stored whole or not at all
        pipeline.stopping.set()  # senders finish what is in flight and take nothing new
        if workers:
            _, late = await asyncio.wait(workers, timeout=max(0.5, deadline - loop.time()))
            for task in late:
                task.cancel()
        for channel in pipeline.channels:
            if hasattr(channel, "stop"):
                await channel.stop()
        await pipeline.aclose()
        log.info("stopped")


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
