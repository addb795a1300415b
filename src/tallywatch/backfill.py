"""Filling a gap in the series from an API that offers history: ``tallywatch backfill`` and a start.

The russianwarship.rip v2 API answers ``/statistics?offset=&limit=&date_from=&date_to=`` with a
page of daily records (``data.records``, the same record as ``/statistics/latest``; envelope in
``tests/fixtures/SOURCE.md``). The gap is asked for in windows of ``days_per_request`` days,
oldest first, through the one polite HTTP client with a pause between two requests; each
window's days go through the same extract → ingest path as a poll, **quietly** (events are
recorded, nobody is told: a milestone passed in the gap keeps its true date — except one crossed
within ``[detect] late_after`` days, which is still news; an older one is a line of the next
daily report), and are committed before the next window is asked for — so an interrupted fill
goes on from the last stored day. A fill is bounded — ``[backfill] budget`` of time and
``max_requests``, the pause before every request, ``next_url`` followed only within the API's own
site and never back to a page read, records of days not asked for refused, each value judged by
the rules like any figure, JSON too deep or too big a clear error (``sources.json_api``) — so no
answer of the API can hold the daemon (the start's fill runs beside it: ``Pipeline.prepare``).

A start fills up to yesterday: today's report is the live polls' to tell, as it would have been
(``at_start``). While days stay missing (the API was down), the daemon asks again every
``[backfill] retry`` (``missing``, ``retry``); a crossing recorded with the gap it fell in gets
its true day then.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urljoin, urlsplit

from .config import Source
from .extract.json_fields import RUSSIANWARSHIP_V2, lookup
from .format import format_duration
from .models import REPORT_ZONE
from .sources import json_api
from .sources.http import FetchError

if TYPE_CHECKING:
    from .ingest import Item
    from .running import Running


log = logging.getLogger("tallywatch.backfill")
ACCEPT = "application/json, */*;q=0.5"


@dataclass
class Filled:
    start: dt.date | None = None
    end: dt.date | None = None
    requests: int = 0
    windows: int = 0  # windows of days stored (each committed)
    days: int = 0  # days with figures stored
    events: int = 0  # recorded quietly
    error: str | None = None


def today() -> dt.date:
    return dt.datetime.now(REPORT_ZONE).date()


async def at_start(pipeline: Running) -> Filled | None:
    """A start with days missing since the last stored one (before yesterday): fill them, up to
    yesterday. Today is never stored by the fill: its report goes through the live path and tells
    what it would have told (a restart is not a gap in the news)."""
    last = await pipeline.in_store(pipeline.store.last_day)
    yesterday = today() - dt.timedelta(days=1)
    if last is None or last >= yesterday:
        return None
    log.info("the last stored day is %s: filling the days since from %s", last, pipeline.config.backfill.url)
    return await fill(pipeline, last + dt.timedelta(days=1), yesterday)


async def missing(pipeline: Running, days: int = 400) -> list[tuple[dt.date, dt.date]]:
    """The runs of days (first, last) missing from the series between stored days, within the last
    ``days``: what a fill that failed left behind."""
    since = today() - dt.timedelta(days=days)
    stored = await pipeline.in_store(pipeline.store.accepted_days, "personnel", since)
    return [
        (a + dt.timedelta(days=1), b - dt.timedelta(days=1)) for a, b in itertools.pairwise(stored) if (b - a).days > 1
    ]


async def retry(pipeline: Running) -> list[Filled]:
    """The daemon's hourly job while days are missing: ask for them again (``fill`` each run)."""
    done = []
    for first, last in await missing(pipeline):
        log.info("days %s … %s are missing from the series: asking %s again", first, last, pipeline.config.backfill.url)
        filled = await fill(pipeline, first, last)
        done.append(filled)
        if filled.error:
            break
    return done


async def fill(pipeline: Running, start: dt.date | None = None, end: dt.date | None = None) -> Filled:
    """Ask the API for the days ``start`` … ``end`` (default: after the last stored day … today)."""
    from .ingest import extract_items, ingest

    settings = pipeline.config.backfill
    end = end or today()
    if start is None:
        last = await pipeline.in_store(pipeline.store.last_day)
        if last is None:
            return Filled(error="nothing is stored yet to fill after: name the first day with --from")
        start = last + dt.timedelta(days=1)
    done = Filled(start, end)
    if start > end:
        return done
    source = Source(name=settings.source, kind="json", url=settings.url, extractor="russianwarship")
    window_start = start
    try:
        async with asyncio.timeout(settings.budget):  # the whole fill: a slow or endless API can't hold it
            while window_start <= end:
                window_end = min(end, window_start + dt.timedelta(days=settings.days_per_request - 1))
                documents = await _window(pipeline, window_start, window_end, done)
                extracted = await asyncio.to_thread(extract_items, documents, source)
                items = _within(extracted, window_start, window_end, settings.url)
                result = await pipeline.in_store(
                    ingest,
                    pipeline.store,
                    pipeline.detector,
                    pipeline.channels,
                    settings.source,
                    items,
                    quiet=True,
                    filling=today(),
                )
                done.days += len({c.figure.as_of for c in result.changes if c.kind != "unchanged"})
                done.events += len(result.events)
                done.windows += 1
                window_start = window_end + dt.timedelta(days=1)
    except (FetchError, TimeoutError) as exc:
        timed_out = isinstance(exc, TimeoutError)
        why = f"stopped after {format_duration(settings.budget)} ([backfill] budget)" if timed_out else exc
        done.error = f"{settings.url}: {why}"
        log.error("backfill stopped at %s: %s (what came before it is stored)", window_start, done.error)
        return done
    log.info(
        "backfill %s … %s: %d days stored from %d requests, %d events recorded quietly",
        start,
        end,
        done.days,
        done.requests,
        done.events,
    )
    return done


def _within(items: list[Item], first: dt.date, last: dt.date, url: str) -> list[Item]:
    """The figures of the days asked for; any other day's are refused, said once (an API that
    answers with days it was not asked for — 2030's, say — must not write them into the series)."""
    kept, refused = [], []
    for item in items:
        inside = [f for f in item.figures if first <= f.as_of <= last]
        refused += [f.as_of for f in item.figures if f not in inside]
        if inside:
            kept.append(dataclasses.replace(item, figures=inside))
    if refused:
        log.error(
            "%s answered %d figures of days not asked for (%s … %s, asked %s … %s): refused",
            url,
            len(refused),
            min(refused),
            max(refused),
            first,
            last,
        )
    return kept


async def _window(pipeline: Running, first: dt.date, last: dt.date, done: Filled) -> list:
    """Every record of one window of days, following the API's ``next_url`` paging — within its own
    site, never to a page read already, with ``[backfill] pause`` before every request but the
    fill's first and at most ``[backfill] max_requests`` in a fill."""
    settings, http = pipeline.config.backfill, pipeline.config.http
    limit = (last - first).days + 1
    query = {"offset": 0, "limit": limit, "date_from": first.isoformat(), "date_to": last.isoformat()}
    url = f"{settings.url}?{urlencode(query)}"
    site, read = urlsplit(settings.url)[:2], set()
    documents = []
    while True:
        if done.requests >= settings.max_requests:
            raise FetchError(f"stopped after {settings.max_requests} requests ([backfill] max_requests)")
        if done.requests:
            await asyncio.sleep(settings.pause)  # polite: one request at a time, spaced out
        done.requests += 1
        read.add(url)
        fetched = await pipeline.client.get(
            url, timeout=http.timeout, deadline=http.deadline, max_bytes=http.max_bytes, accept=ACCEPT
        )
        data = await asyncio.to_thread(json_api.load, fetched.content)
        page = json_api.documents(data, settings.source, RUSSIANWARSHIP_V2["records"], "date")
        documents += page
        following = lookup(data, "data.paging.next_url")
        if not (isinstance(following, str) and following and page):
            return documents
        url = urljoin(url, following)
        if urlsplit(url)[:2] != site:
            raise FetchError(f"its next_url leads off the API's own site, to {url}")
        if url in read:
            raise FetchError(f"its next_url leads back to a page already read ({url})")
