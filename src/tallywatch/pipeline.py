"""The one way through: fetch → extract → store → detect → outbox → channel.

``Pipeline.poll`` runs it for one source: ``sources.harvest`` fetches, ``ingest.extract_items``
reads, ``ingest.ingest`` stores, detects and queues in one transaction, ``upkeep`` records what
the poll did to the source's standing, and ``handed_on`` sends what was queued: inline for a
one-shot command (``deliver``), through the daemon's ``outbox.worker``s otherwise. ``digest.send``
queues a period's digest and hands it on the same way.
``replay`` (the bundled history) and ``backfill`` (days missed) store through the same
``ingest``. The daemon, the one-shot commands and the bot all go through here; there is no second
implementation. The pipeline owns the running parts the stages share: the store's thread, the
HTTP client, the channels and their flood gates, the charts, the storage-fault watch and the lock.

SQLite work runs on one dedicated thread (the store's), feed parsing on worker threads, so the
event loop stays free for the scheduler and the Telegram bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import charts, outbox, upkeep
from .channels import Channel
from .channels.enabled import enabled_channels
from .channels.limits import FloodGate
from .config import Config, Source
from .detect import Detector
from .health import EVENTS, FIGURES, POLLS, REPORTS, STORAGE_ERRORS
from .ingest import Ingested, Item, extract_items, ingest, overdue, page_problems
from .models import Event
from .sources import harvest, schedule
from .sources.http import FetchError, PoliteClient
from .store import DaemonLock, Faults, Store, utcnow

log = logging.getLogger("tallywatch.poll")
T = TypeVar("T")


@dataclass
class PollResult:
    source: str
    status: str  # ok | not_modified | failed | skipped
    documents: int = 0
    ingested: Ingested = field(default_factory=Ingested)
    error: str | None = None


class Pipeline:
    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        channels: Sequence[Channel] | None = None,
        transport: Any = None,
        recover: bool = False,
    ) -> None:
        """``recover``: this is the daemon starting — deliveries a killed run left 'sending' are queued
        again. One-shot commands must not: a daemon running beside them may be sending those."""
        self.config = config
        # the daemon's hold on its database (one daemon per database), taken before anything is read
        self.lock = DaemonLock(config.storage.resolved()) if recover and store is None else None
        self._db = ThreadPoolExecutor(1, thread_name_prefix="tallywatch-store")
        try:
            self.store = store or self._db.submit(Store, config.storage.resolved()).result()
            if self.lock is not None:
                self._db.submit(self.store.check).result()
        except BaseException:
            self._db.shutdown(wait=False)
            if self.lock is not None:
                self.lock.release()
            raise
        self.detector = Detector(config, self.store)  # used on the store's thread only
        self.channels = list(enabled_channels(config) if channels is None else channels)
        self.gates = {c.kind: FloodGate(c.limits) for c in self.channels}
        for channel in self.channels:
            bind = getattr(channel, "bind", None)
            if bind is not None:  # channels that read the store when sending (email: tokens, charts)
                bind(self)
        self.client = PoliteClient(config.http.user_agent, transport)
        self._busy: dict[str, asyncio.Lock] = {}
        self.inflight: set[asyncio.Task] = set()
        self.wakes = {c.kind: asyncio.Event() for c in self.channels}  # set when deliveries are queued
        self.stopping = asyncio.Event()  # set at shutdown: senders take no new delivery
        self.halted: str | None = None  # the database file is gone or replaced: no poll, no send (``check_files``)
        self.workers = False  # the daemon runs delivery workers; one-shot commands deliver inline
        # one drawing process for the alerts' charts and the page's, a picture cut off at its deadline
        self.drawer = charts.Drawer(deadline=config.charts.deadline)
        self.charts = charts.Charts(self.in_store, self.store, self.drawer, kept_for=charts.KEPT_FOR)
        # per source, when its reports appeared in the last weeks: its polling window is learned from them
        self.report_times: dict[str, list[dt.datetime]] = {}
        self.filling: asyncio.Task | None = None  # the start's fill of the days missed (``prepare``)
        self.faults = Faults(self.store.path)  # the database failing under us: counted, said once, on /healthz
        released = self._db.submit(self.store.release).result() if recover else 0
        if released:
            log.info("%d deliveries a previous run was sending are queued again", released)
        for channel in self.channels:
            last = self._db.submit(self.store.last_sent, channel.kind).result()
            if channel.limits.per_second and last and utcnow() - last < dt.timedelta(seconds=2):
                # a previous process was sending a moment ago: its sends still count against the limits
                self.gates[channel.kind].hold_all(1.1)

    async def prepare(self) -> None:
        """Before the first poll: on a first start (an empty store) the bundled history, quietly
        (``[detect] baseline``); then the days missing since the last stored one, from the API that
        offers history (``[backfill]``), in the background: the daemon is up (READY, the bot, the
        web app) whatever that API does, and each poll waits for the fill (``filled``), within its
        ``[backfill] budget``, so today's report follows the days before it. A fill that fails is
        logged; the polls go on."""
        if self.config.detect.baseline:
            from .replay import baseline

            await self.in_store(baseline, self.store, self.detector)
        if self.config.backfill.enabled:
            self.filling = asyncio.create_task(self._fill_at_start(), name="backfill at start")
        await self.learn_report_times()

    async def _fill_at_start(self) -> None:
        from .backfill import at_start

        try:
            await at_start(self)
        except Exception as exc:  # (the fill says its own errors; anything else is said here, and the polls go on)
            log.error("the start's fill failed: %s: %s", type(exc).__name__, exc)

    async def filled(self) -> bool:
        """Wait for the start's fill, if one runs; False if the daemon stops first."""
        if self.filling is None or self.filling.done():
            return True
        stopping = asyncio.create_task(self.stopping.wait())
        try:  # (a waiter cancelled here leaves the fill alone)
            await asyncio.wait([self.filling, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        return self.filling.done()

    async def learn_report_times(self) -> None:
        """When each source's reports appeared over the window's lookback (``sources.schedule``)."""
        since = utcnow() - dt.timedelta(days=schedule.LOOKBACK + 1)
        self.report_times = await self.in_store(self.store.report_times, since)

    def next_poll(self, source: Source, now: dt.datetime) -> dt.datetime:
        """When the daemon polls ``source`` next: in its learned window often, else at its interval."""
        if not source.learn:
            return now + dt.timedelta(seconds=source.interval)
        seen = self.report_times.get(source.name, [])
        return schedule.next_poll(seen, now, source.interval, min(source.fast_interval, source.interval))

    def check_files(self) -> str | None:
        """The daemon's heartbeat asks: is the database file still the one opened, and the lock file
        ours? If not, every write would go into a file nobody opens again (and a second daemon could
        start on the path): the daemon takes no more work — no poll, no send — rather than write into
        nothing, said once, counted (``tallywatch_storage_errors_total{kind="file gone"}``), on
        /healthz until the file is back."""
        problem = self.store.problem() or (self.lock.problem() if self.lock is not None else None)
        if problem != self.halted:
            if problem:
                STORAGE_ERRORS.labels("file gone").inc()
                log.error(
                    "%s: no more polls or sends until it is back; put it back (or restore a backup: "
                    "`tallywatch restore`) and restart tallywatch",
                    problem,
                )
            else:
                log.info("the database file is back: polls and sends go on")
            self.halted = problem
        return problem

    async def in_store(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the store's own thread (SQLite work stays off the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._db, functools.partial(fn, *args, **kwargs))

    async def chart(
        self, metric: str, language: str = "en", days: int = 90, *, once: str | None = None
    ) -> bytes | None:
        """A metric's chart as PNG (``charts.Charts``: drawn off the loop; with ``once``, once per event)."""
        return await self.charts.get(metric, language, days, once=once)

    async def card(self, event: Event, language: str = "en") -> bytes | None:
        """A daily report's card as PNG (``charts.card``), drawn once per report version and language."""
        service = self.config.service.signature(language)  # at the card's foot
        return await self.charts.card(event.key, event.data, event.as_of, language, service)

    async def aclose(self) -> None:
        if self.filling is not None and not self.filling.done():
            self.filling.cancel()  # (a window being stored is stored whole or not at all)
            with contextlib.suppress(asyncio.CancelledError):
                await self.filling
        for channel in self.channels:  # Telegram's and the webhooks' HTTP clients
            stop = getattr(channel, "stop", None)
            if stop is not None:
                with contextlib.suppress(Exception):
                    await stop()
        await self.client.aclose()
        await self.drawer.aclose()
        await self.in_store(self.store.close)
        self._db.shutdown(wait=True)
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    async def poll_all(self, force: bool = False) -> list[PollResult]:
        sources = [s for s in self.config.sources if s.enabled]
        return list(await asyncio.gather(*(self.poll(s, force=force) for s in sources)))

    async def poll(self, source: Source, force: bool = False) -> PollResult:
        """One poll of one source, start to finish; never raises for a bad source."""
        result = await self._poll_once(source, force)
        POLLS.labels(source.name, result.status).inc()
        FIGURES.inc(result.ingested.count("new") + result.ingested.count("revised"))
        for stored in result.ingested.events:
            EVENTS.labels(stored.event.rule).inc()
        for coverage in result.ingested.coverage:
            REPORTS.labels(source.name, coverage).inc()
        return result

    async def _poll_once(self, source: Source, force: bool) -> PollResult:
        lock = self._busy.setdefault(source.name, asyncio.Lock())
        if lock.locked():
            return PollResult(source.name, "skipped", error="previous poll still running")
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
        try:
            if self.halted:  # (the database file is gone: nothing fetched could be stored)
                return PollResult(source.name, "failed", error=self.halted)
            if not await self.filled():  # today's report follows the days before it
                return PollResult(source.name, "skipped", error="stopping before the start's fill was done")
            async with lock:
                try:
                    result = await self._poll(source, force)
                    if result.status != "skipped":
                        await self.in_store(upkeep.check_stale, self.store, self.config, self.channels, source)
                except sqlite3.Error as exc:  # the database can't be written: nothing was stored
                    return PollResult(source.name, "failed", error=self.faults.failed(source.name, exc))
                self.faults.works(source.name)
            await self.handed_on()
            return result
        finally:
            self.inflight.discard(task)

    async def _poll(self, source: Source, force: bool) -> PollResult:
        state = await self.in_store(self.store.source_state, source.name)
        wait_until = state.get("next_poll_after")
        if not force and wait_until and dt.datetime.fromisoformat(wait_until) > utcnow():
            log.debug("source %s: backing off until %s", source.name, wait_until)
            return PollResult(source.name, "skipped", error=f"backing off until {wait_until}")

        async def seen(guid: str) -> bool:
            return await self.in_store(self.store.item_digest, source.name, guid) is not None

        try:
            got = await harvest(self.client, source, self.config.http, state, seen)
            if got.moved and got.moved != state.get("moved_to"):
                await self.in_store(self.store.note_moved, source.name, source.url, got.moved)
                log.warning(
                    "source %s: %s has moved for good to %s (HTTP 301); polled there from now on. "
                    "Change its url in the config to say so.",
                    source.name,
                    source.url,
                    got.moved,
                )
            if got.not_modified:
                await self.in_store(upkeep.note_success, self.store, self.channels, source.name, None, False)
                log.debug("source %s: not modified", source.name)
                return PollResult(source.name, "not_modified")
            documents = got.documents
            items = await asyncio.to_thread(extract_items, documents, source, self.config.metrics)
            problems = page_problems(documents, items) if source.kind == "html" else []
            readable = [it for it in items if it.figures or it.verdict == "broken"] if problems else items
            ingested = await self.in_store(
                self._ingest_and_note, source.name, readable, got.etag, got.last_modified, problems
            )
        except FetchError as exc:
            return await self._failed(source, str(exc), exc.retry_after)
        except sqlite3.Error:
            raise  # the store itself failing: _poll_once says so, once, and records nothing
        except Exception as exc:  # a bug must not stop the other sources or the daemon
            log.exception("source %s: unexpected error", source.name)
            return await self._failed(source, f"unexpected error: {type(exc).__name__}: {exc}", None)
        self._log_ingested(source.name, len(documents), ingested)
        problems = problems + ingested.problems
        if problems:  # what was read is stored, and the source is failing: never a quiet "nothing new"
            return await self._failed(source, "; ".join(problems), None, len(documents), ingested)
        return PollResult(source.name, "ok", len(documents), ingested)

    def _ingest_and_note(
        self, source: str, items: list[Item], etag: str | None, last_modified: str | None, problems: list[str]
    ) -> Ingested:
        """Store what was read; the poll is a success unless a page or a report in it could not be read."""
        ingested = ingest(self.store, self.detector, self.channels, source, items)
        if ingested.items and any(it.figures for it in items):  # new report items: the window learns of them
            since = utcnow() - dt.timedelta(days=schedule.LOOKBACK + 1)
            self.report_times[source] = self.store.report_times(since, source).get(source, [])
        if not problems and not ingested.problems:
            validators = upkeep.Validators(etag, last_modified)
            upkeep.note_success(self.store, self.channels, source, validators, ingested.count("new") > 0)
        return ingested

    async def _failed(
        self,
        source: Source,
        error: str,
        retry_after: float | None,
        documents: int = 0,
        ingested: Ingested | None = None,
    ) -> PollResult:
        """A failed poll: counted, its next try set (``upkeep.note_failure``), the failure returned."""
        await self.in_store(upkeep.note_failure, self.store, self.config, self.channels, source, error, retry_after)
        return PollResult(source.name, "failed", documents, ingested or Ingested(), error=error)

    @staticmethod
    def _log_ingested(source: str, documents: int, ingested: Ingested) -> None:
        if not ingested.changes:
            log.debug("source %s: %d items, nothing new", source, documents)
            return
        days = sorted({c.figure.as_of for c in ingested.changes if c.kind != "unchanged"})
        alerts = sum(1 for e in ingested.events if e.notify)
        quiet = len(ingested.events) - alerts
        log.info(
            "source %s: %d items, %d new figures, %d revised%s, %d alerts%s",
            source,
            documents,
            ingested.count("new"),
            ingested.count("revised"),
            f" ({days[0]}{' … ' + str(days[-1]) if len(days) > 1 else ''})" if days else "",
            alerts,
            f" ({quiet} past events recorded quietly)" if quiet else "",
        )

    async def reports_due(self) -> int:
        """Make the daily reports a held figure kept back for ``[report] wait`` (``ingest.overdue``),
        and hand them on; returns how many were made."""
        try:
            made = await self.in_store(overdue, self.store, self.detector, self.channels)
        except sqlite3.Error as exc:
            self.faults.failed("daily reports", exc)
            return 0
        if made:
            log.info("%d daily reports held back by a figure not yet confirmed go out now", len(made))
            await self.handed_on()
        return len(made)

    async def handed_on(self) -> int:
        """After something was queued: the daemon wakes its delivery workers (0 sent here); a one-shot
        command sends what is due inline. Returns how many were sent here."""
        if self.workers:
            self.notify()
            return 0
        return await self.deliver()

    def notify(self) -> None:
        """Wake the delivery workers: something was queued."""
        for wake in self.wakes.values():
            wake.set()

    async def deliver(self, channel: Channel | None = None) -> int:
        """Send what is due on one channel (or all); returns how many were sent."""
        sent = 0
        if self.halted:  # (a send could not be marked sent: it would go again after a restart)
            return sent
        for c in [channel] if channel else self.channels:
            sent += await outbox.deliver(
                self.in_store,
                self.store,
                c,
                self.gates[c.kind],
                retry_base=self.config.outbox.retry_base,
                retry_max=self.config.outbox.retry_max,
                batch=self.config.outbox.batch,
                stop=self.stopping,
            )
        return sent

    async def delivery_worker(self, channel: Channel) -> None:
        """The daemon's sender for one channel (``outbox.worker``), until the session stops."""
        await outbox.worker(
            self.in_store,
            self.store,
            channel,
            lambda: self.deliver(channel),
            outbox.Signals(wake=self.wakes[channel.kind], stop=self.stopping),
            self.faults,
        )
