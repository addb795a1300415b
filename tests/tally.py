"""A store and a rules engine on a real SQLite file, fed like the pipeline feeds them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tallywatch.config import Config
from tallywatch.detect import Detector
from tallywatch.ingest import Ingested, Item, ingest
from tallywatch.models import Figure
from tallywatch.store import Store


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
        return self.feed(source, Item(guid, f"{guid}={value}", [Figure(metric, day, value, delta)]))

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
    import asyncio

    from tallywatch import outbox
    from tallywatch.channels.limits import FloodGate

    return asyncio.run(outbox.deliver(outbox.direct, store, channel, FloodGate(channel.limits)))


async def million_through(pipeline, source: str = "mod") -> None:
    """The day personnel passes 1,000,000 (999,200 on 11 June 2025, then 1,000,340, +1,140), stored
    through a running pipeline's own ingest, its channels queued."""
    from tallywatch.ingest import Item, ingest
    from tallywatch.models import Figure

    for n, (day, value) in enumerate([(dt.date(2025, 6, 11), 999_200), (dt.date(2025, 6, 12), 1_000_340)]):
        item = Item(f"million-{n}", f"million-{n}", [Figure("personnel", day, value, 1_140)])
        await pipeline.in_store(ingest, pipeline.store, pipeline.detector, pipeline.channels, source, [item])


def finish_send(store: Store, channel, delivery) -> None:
    """A send that was in flight (claimed before something changed) completes and is marked, as the
    daemon's worker would finish it."""
    import asyncio

    async def go():
        try:
            receipt = await channel.send(delivery.event, delivery.recipient, delivery.language)
            store.mark_sent(delivery.id, receipt)
        finally:
            await channel.stop()

    asyncio.run(go())
