"""The store-and-detect step of the way through: documents' figures in, events and their
deliveries out, in one transaction.

``extract_items`` reads each fetched document with its source's extractor (and the pattern metrics
that apply); ``ingest`` records the figures, runs the rules and queues the deliveries of the
events they raise. The poll, the replay of the bundled history and the backfill all store through
``ingest``: there is no second way in. ``try_source`` fetches and reads one source without storing
(``tallywatch sources test``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from . import outbox
from .channels import Channel
from .config import Config, PatternMetric, Source
from .detect import Detector, milestones, report
from .digest import after_report
from .extract import EXTRACTORS
from .models import REPORT_ZONE, Change, Document, Event, Figure
from .sources import harvest, mapping_for
from .sources.http import PoliteClient
from .store import Store, StoredEvent, utcnow


@dataclass(frozen=True)
class Item:
    """One document's figures, ready for the store; ``digest`` tells an edited post from a seen one.

    ``verdict``, ``coverage`` and ``problems`` are the extractor's reading of the document
    (``models.Reading``); items made from structured history leave them at their defaults.
    """

    guid: str
    digest: str
    figures: list[Figure]
    verdict: str = "report"
    coverage: str = ""
    problems: tuple[str, ...] = ()
    link: str = ""  # where people can read the original (the post's or page's address), if the source gave one
    published: dt.datetime | None = (
        None  # when the source says it published it (its publication window is learned from it)
    )


@dataclass
class Ingested:
    items: int = 0
    changes: list[Change] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)
    coverage: list[str] = field(default_factory=list)  # of each new report document read
    problems: list[str] = field(default_factory=list)  # broken reports among the new documents

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


def digest(document: Document) -> str:
    body = json.dumps([document.title, document.text, document.payload], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def extract_items(
    documents: Iterable[Document], source: Source, metrics: Mapping[str, PatternMetric] | None = None
) -> list[Item]:
    """Each document's figures: the source's extractor's, and those of the pattern metrics that apply to it."""
    extractor = EXTRACTORS[source.extractor_name]
    mapping = mapping_for(source)
    applied = [(name, spec) for name, spec in (metrics or {}).items() if spec.applies_to(source.name)]
    if applied:
        from .extract import patterns
    items = []
    latest = dt.datetime.now(REPORT_ZONE).date() + dt.timedelta(days=1)  # (a publisher's clock may run ahead)
    for doc in documents:
        reading = extractor(doc, mapping)
        figures = reading.figures
        for name, spec in applied:
            figures = [*figures, *patterns.extract(doc, name, spec)]
        verdict, problems = reading.verdict, reading.problems
        absurd = {f: why for f in figures if (why := f.out_of_range() or _not_yet(f, latest))}
        if absurd:  # kept out of the store and the rules; the document is a broken report, said once
            figures = [f for f in figures if f not in absurd]
            verdict, problems = "broken", (*problems, *dict.fromkeys(absurd.values()))
        items.append(Item(doc.guid, digest(doc), figures, verdict, reading.coverage, problems, doc.link, doc.published))
    return items


def _crossed_before(store: Store, day: dt.date, found: list[Event]) -> list[Event]:
    """The day's milestones stored by an earlier batch (personnel came before the rest of the
    report, or the report was held): its headline all the same."""
    have = {e.key for e in found}
    return [e for e in store.crossed_on(day) if e.key not in have]


def _not_yet(figure: Figure, latest: dt.date) -> str | None:
    """A figure of a day that has not come is no report (a hostile or broken feed: one dated 2030
    would stand as the series' newest day for years)."""
    if figure.as_of <= latest:
        return None
    return f"{figure.metric} for {figure.as_of} is dated after tomorrow, a day no report can be of; ignored"


def page_problems(documents: Sequence[Document], items: Sequence[Item]) -> list[str]:
    """A fetched page is read for its figures: one that gives none is a failure naming what was found.

    (A bot wall is already refused by ``sources.html``; this is a page of another kind — an
    unrelated article, a search page — where a report should be.)
    """
    return [
        f"no report on the page {doc.link or doc.guid} (found {doc.title or 'a page without a title'!r})"
        for doc, item in zip(documents, items, strict=True)
        if not item.figures and item.verdict != "broken"
    ]


class IngestOptions(TypedDict, total=False):
    """How ``ingest`` tells a batch's events (``Options``, as keywords)."""

    quiet: bool
    filling: dt.date | None
    now: dt.datetime | None


@dataclass(frozen=True)
class Options:
    """``quiet``: record every event without notifying; ``filling`` (today): the items fill days
    missed; ``now``: the moment, for a test's clock."""

    quiet: bool = False
    filling: dt.date | None = None
    now: dt.datetime | None = None


def ingest(
    store: Store,
    detector: Detector,
    channels: Sequence[Channel],
    source: str,
    items: Iterable[Item],
    **options: Unpack[IngestOptions],
) -> Ingested:
    """Record figures, detect, store events and queue their deliveries: one transaction.

    Items already seen with the same content are skipped. On the first import of a metric
    (nothing stored for it before this batch) events are recorded without notifying, unless
    ``[detect] first_import = "notify"``; ``quiet`` records every event without notifying.
    ``filling`` (today): the items fill days missed — quietly, but a milestone crossed within
    ``[detect] late_after`` days is still news and told. A milestone learned of later than that
    (here, or after a gap in the series) is recorded late and told as a line of the next daily
    report (``milestones.learned_late``); a fill that finds the day of one recorded with the gap it
    fell in pins it to that day. The day's first report, told on its day, brings the daily digest
    with it (``digest.after_report``; ``now``: the moment, for a test's clock).
    """
    batch = _Batch(store, detector, source, Options(**options))
    try:
        with store.transaction():
            events = batch.attributed(batch.record(items))
            batch.report_days(events)
            batch.store_events(events)
            outbox.enqueue(store, batch.result.events, channels)
            after_report(store, detector.config, channels, batch.result.events, batch.options.now or utcnow())
    except BaseException:
        detector.forget()  # the transaction was rolled back: rebuild the windows from the store
        store.discard_staged()
        raise
    return batch.result


@dataclass
class _Batch:
    """One call of ``ingest``: its steps, and what they share."""

    store: Store
    detector: Detector
    source: str
    options: Options
    result: Ingested = field(default_factory=Ingested)
    first_import: set[str] = field(default_factory=set)  # metrics with nothing stored before this batch
    links: dict[tuple[str, dt.date], str] = field(default_factory=dict)  # (metric, day): where to read it

    @property
    def said_by(self) -> str:
        return _said_by(self.detector.config, self.source)

    def record(self, items: Iterable[Item]) -> list[Event]:
        """The new and edited items' figures stored, oldest first; the events the rules raise."""
        store, detector, result = self.store, self.detector, self.result
        fresh = [it for it in items if store.item_digest(self.source, it.guid) != it.digest]
        fresh.sort(key=lambda it: min((f.as_of for f in it.figures), default=dt.date.min))
        if detector.config.detect.first_import == "quiet":
            self.first_import = {f.metric for it in fresh for f in it.figures if not detector.known(f.metric)}
        self.links = {(f.metric, f.as_of): it.link for it in fresh if it.link for f in it.figures}
        events = []
        for it in fresh:
            changes = store.record(self.source, it.guid, it.figures)
            result.changes.extend(changes)
            for change in changes:
                events.extend(detector.observe(change))
            store.mark_item(self.source, it.guid, it.digest, len(it.figures), it.coverage, it.published)
            if it.coverage:
                result.coverage.append(it.coverage)
            if it.verdict == "broken":
                result.problems.append(f"broken report in {it.guid}: {'; '.join(it.problems)}")
        store.flush()
        result.items = len(fresh)
        return events

    def attributed(self, events: list[Event]) -> list[Event]:
        """The events as told: whose figures and where to read them, a crossing learned of late
        marked so; a level "approaching" on one day of the batch and passed on a later one left out
        (only the crossing)."""
        reached: dict[str, int] = {}  # per metric, the highest figure of this batch
        for change in self.result.changes:
            reached[change.figure.metric] = max(reached.get(change.figure.metric, 0), change.figure.value)
        events = [e for e in events if not (e.rule == "approaching" and reached.get(e.metric, 0) >= e.data["level"])]
        said_by = self.said_by
        for event in events:  # every alert says whose figures these are, and where to read them
            event.data.setdefault("publisher", said_by)
            if (event.metric, event.as_of) in self.links:
                event.data.setdefault("link", self.links[(event.metric, event.as_of)])
        late_after = self.detector.config.detect.late_after
        return [milestones.learned_late(e, late_after, self.options.filling, self.store.last_seen) for e in events]

    def report_days(self, events: list[Event]) -> None:
        """The daily report of each day whose series changed, when it is news (never for history
        stored quietly or a first import): made and added to ``events``, or held back."""
        store, detector = self.store, self.detector
        news = not self.options.quiet and not set(report.CORE_METRICS) & self.first_import
        if not news:  # a quiet fill that settles a figure of a day told already: the next live batch edits it
            detector.settled_quietly |= detector.settled()
            return
        # days whose series changed: with figures that came now, a day told already, a day held back
        changed = {c.figure.as_of for c in self.result.changes if c.kind != "unchanged"}
        settled, quietly = detector.settled(), detector.settled_quietly
        detector.settled_quietly = set()
        waiting = store.held_reports()
        owed = lambda d: d in waiting or store.told(d)  # noqa: E731  (held back, or told: its edit)
        days = {d for d in settled if d in changed or owed(d)} | {d for d in quietly if store.told(d)}
        late_after = detector.config.detect.late_after
        tell, wait = report.days_to_tell(detector.window, days, store.told, owed, late_after)
        for day in wait:
            store.hold_report(day)  # told once settled, or after [report] wait
        for day in tell:
            self._report(day, events, newest=day == tell[-1])

    def _report(self, day: dt.date, events: list[Event], *, newest: bool) -> None:
        store = self.store
        versions = store.report_versions(day)
        # crossings learned late: lines of the newest day's first report (held back till then)
        first_of_newest = newest and not versions
        untold = store.late_untold() if first_of_newest else []
        found = [*(s.event for s in untold), *(e for e in events if first_of_newest or "late" not in e.data)]
        found += _crossed_before(store, day, found)
        origin = report.Origin(self.source, self.said_by, self.links.get(("personnel", day)))
        made = report.evaluate(self.detector.window, versions, day, found, origin)
        if made is not None:
            events.append(made)
            if untold:
                store.fold([s.id for s in untold], made.key)

    def store_events(self, events: list[Event]) -> None:
        """The events stored (each once), told or not (``_told``)."""
        quiet, filling = self.options.quiet, self.options.filling
        for event in events:
            stored = self.store.add_event(event, self.source, notify=_told(event, quiet, filling, self.first_import))
            if stored is not None:
                self.result.events.append(stored)
            elif filling is not None and event.rule == "milestone":  # a crossing recorded with the gap
                self.store.pin(milestones.late(event, event.as_of, event.as_of))  # it fell in: its true day


def overdue(
    store: Store, detector: Detector, channels: Sequence[Channel], now: dt.datetime | None = None
) -> list[StoredEvent]:
    """The daily reports a held figure kept back for ``[report] wait``: made now, with that category
    shown as not yet confirmed (its confirmation later edits them), and queued; one transaction.
    The daemon asks every minute."""
    wait = dt.timedelta(seconds=detector.config.report.wait)
    now = now or utcnow()
    try:
        with store.transaction():
            made = []
            for day, since in sorted(store.held_reports().items()):
                if now - since < wait:
                    continue
                source = store.reported_by(day, report.CORE_METRICS)
                said_by = _said_by(detector.config, source)
                # (late milestones wait for the newest day's first report: this is an older, held day's)
                found = _crossed_before(store, day, [])
                event = report.evaluate(detector.window, [], day, found, report.Origin(source, said_by))
                stored = store.add_event(event, source, notify=True) if event is not None else None
                if stored is not None:
                    made.append(stored)
            outbox.enqueue(store, made, channels)
            after_report(store, detector.config, channels, made, now)
    except BaseException:
        detector.forget()
        raise
    return made


def _told(event: Event, quiet: bool, filling: dt.date | None, first_import: set[str]) -> bool:
    """Does the event notify anyone? Not from a metric's first import, nor a crossing learned of
    late (a line of the next report instead); from a quiet batch only a fill's recent milestone."""
    if event.metric in first_import or "late" in event.data:
        return False
    return not quiet or (filling is not None and event.rule == "milestone")


def _said_by(config: Config, source: str) -> str:
    """Whose figures a source gives (``Source.said_by``); the bundled history is the General Staff's."""
    try:
        return config.source(source).said_by()
    except KeyError:
        return "genstaff"


async def try_source(config: Config, source: Source, transport: Any = None) -> tuple[int, list[Document], list[Item]]:
    """Fetch one source once and extract its figures, storing nothing (``tallywatch sources test``).

    The same fetching and extraction as a poll; nothing counts as read before, and a channel
    preview is read one page deep. Returns (requests made, documents, items).
    """
    client = PoliteClient(config.http.user_agent, transport)

    async def never(_guid: str) -> bool:
        return False

    probe = source.replace(max_pages=1) if source.kind == "telegram_channel" else source
    try:
        got = await harvest(client, probe, config.http, {}, never)
    finally:
        await client.aclose()
    items = await asyncio.to_thread(extract_items, got.documents, source, config.metrics)
    return got.pages, got.documents, items
