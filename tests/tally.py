"""A store and a rules engine on a real SQLite file, fed like the pipeline feeds them."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from tallywatch import outbox
from tallywatch.channels.limits import FloodGate
from tallywatch.config import Config
from tallywatch.detect import Detector
from tallywatch.ingest import Ingested, Item, ingest
from tallywatch.models import Figure
from tallywatch.store import Store, utcnow


class Tally:
    def __init__(self, path: Path, config: Config, channels=()) -> None:
        self.path, self.config, self.channels = path, config, list(channels)
        self.store = Store(path)
        self.detector = Detector(config, self.store)

    def feed(self, source: str, *items: Item, quiet: bool = False, filling: dt.date | None = None) -> Ingested:
        return ingest(self.store, self.detector, self.channels, source, list(items), quiet=quiet, filling=filling)

    def report(
        self,
        source: str,
        day: dt.date,
        value: int,
        metric: str = "personnel",
        delta: int | None = None,
        item: str | None = None,
    ) -> Ingested:
        """One figure, as one item of its own (the item id changes with the value: an edited post)."""
        guid = item or f"{source}:{metric}:{day}"
        return self.feed(
            source, Item(guid, f"{guid}={value}", [Figure(metric=metric, as_of=day, value=value, reported_delta=delta)])
        )

    def restart(self) -> None:
        self.store.close()
        self.store = Store(self.path)
        self.detector = Detector(self.config, self.store)

    def close(self) -> None:
        self.store.close()

    def point(self, metric: str, day: dt.date) -> tuple[int, str, str] | None:
        row = self.store.conn.execute(
            "SELECT value, source, status FROM figures WHERE metric = ? AND as_of = ? AND status IS NOT NULL",
            [metric, day.isoformat()],
        ).fetchone()
        return tuple(row) if row else None


class Bound:
    """What a channel asks of the running daemon (``channels.Context``), without charts: the store
    ``store_of()`` gives now (a restart replaces it), used on this thread."""

    def __init__(self, store_of) -> None:
        self.store_of = store_of

    @property
    def store(self) -> Store:
        return self.store_of()

    async def in_store(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    async def chart(self, *args, **kwargs):
        return None

    async def card(self, *args, **kwargs):
        return None


def alerts(result: Ingested) -> list[tuple[str, dt.date]]:
    return [(s.event.key, s.event.as_of) for s in result.events if s.notify]


def keys(result: Ingested) -> list[str]:
    return [s.event.key for s in result.events]


def deliver(store: Store, channel) -> int:
    """Send what is due on ``channel`` now, as the daemon's worker would."""
    return asyncio.run(outbox.deliver(outbox.direct, store, channel, FloodGate(channel.limits)))


def waiting(counts: dict[str, int]) -> int:
    """Deliveries not yet done with: pending, retrying or being sent."""
    return counts["pending"] + counts["retrying"] + counts["sending"]


async def drain(
    store: Store,
    channels,
    *,
    send=None,
    run=outbox.direct,
    retry_base: float = 0.05,
    retry_max: float = 0.2,
    timeout: float = 60.0,
) -> dict[str, int]:
    """Deliver round after round until nothing waits; a send a limit or a retry put off goes when it
    comes due (the wait between rounds is until then, at most a second). A round is ``send()``
    (a running pipeline's ``deliver``), else each of ``channels`` through the outbox with a flood gate
    of its own; ``run`` is the way to the store (a pipeline's ``in_store``). The outbox's counts;
    AssertionError with them when it is not empty within ``timeout`` seconds."""
    if send is None:
        gates = {c.kind: FloodGate(c.limits) for c in channels}

        async def send() -> None:
            for c in channels:
                await outbox.deliver(run, store, c, gates[c.kind], retry_base=retry_base, retry_max=retry_max)

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        await send()
        counts = await run(store.outbox_counts)
        if not waiting(counts):
            return counts
        if loop.time() >= end:
            raise AssertionError(f"outbox not drained: {counts}")
        dues = [due for c in channels if (due := await run(store.next_due, c.kind)) is not None]
        wait = min(dues, default=None)
        await asyncio.sleep(0.02 if wait is None else min(1.0, max(0.02, (wait - utcnow()).total_seconds())))


async def drain_pipeline(pipeline, timeout: float = 60.0) -> dict[str, int]:
    """``drain`` a running pipeline's outbox its own way: its ``deliver`` (its gates, its retry
    schedule: a reply the bot just sent to a chat can delay an alert by a second), on its store's thread."""
    return await drain(pipeline.store, pipeline.channels, send=pipeline.deliver, run=pipeline.in_store, timeout=timeout)


def send_all(where, *channels, **how) -> dict[str, int]:
    """``drain`` from a test's own thread, the channels stopped after; the outbox's counts. ``where``:
    a ``Tally`` or a ``Store``."""
    store = getattr(where, "store", where)

    async def go() -> dict[str, int]:
        try:
            return await drain(store, channels, **how)
        finally:
            for channel in channels:
                stop = getattr(channel, "stop", None)
                if stop is not None:
                    await stop()

    return asyncio.run(go())


async def million_through(pipeline, source: str = "mod") -> None:
    """The day personnel passes 1,000,000 (999,200 on 11 June 2025, then 1,000,340, +1,140), stored
    through a running pipeline's own ingest, its channels queued."""
    from tallywatch.ingest import Item, ingest
    from tallywatch.models import Figure

    for n, (day, value) in enumerate([(dt.date(2025, 6, 11), 999_200), (dt.date(2025, 6, 12), 1_000_340)]):
        item = Item(
            f"million-{n}", f"million-{n}", [Figure(metric="personnel", as_of=day, value=value, reported_delta=1_140)]
        )
        await pipeline.in_store(ingest, pipeline.store, pipeline.detector, pipeline.channels, source, [item])


def finish_send(store: Store, channel, delivery) -> None:
    """A send that was in flight (claimed before something changed) completes and is marked, as the
    daemon's worker would finish it."""

    async def go():
        try:
            receipt = await channel.send(delivery.event, delivery.recipient, delivery.language)
            store.mark_sent(delivery.id, receipt)
        finally:
            await channel.stop()

    asyncio.run(go())
