"""Filling a gap in the series from an API that offers history: ``tallywatch backfill`` and a start.

The russianwarship.rip v2 API answers ``/statistics?offset=&limit=&date_from=&date_to=`` with a
page of daily records (``data.records``, the same record as ``/statistics/latest``; envelope in
``tests/fixtures/SOURCE.md``). The gap is asked for in windows of ``days_per_request`` days,
oldest first, through the one polite HTTP client with a pause between two requests; each
window's days go through the same extract → ingest path as a poll, **quietly** (events are
recorded, nobody is told: a milestone passed in the gap keeps its true date), and are committed
before the next window is asked for — so an interrupted fill goes on from the last stored day.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urljoin

from .config import Source
from .extract.json_fields import RUSSIANWARSHIP_V2, lookup
from .models import REPORT_ZONE
from .sources import json_api
from .sources.http import FetchError

if TYPE_CHECKING:
    from .channels import Channel
    from .config import Config
    from .detect import Detector
    from .sources.http import PoliteClient
    from .store import Store


class Running(Protocol):
    """What a fill needs of the running daemon (the pipeline has it): never an import of it."""

    config: Config
    store: Store
    detector: Detector
    channels: list[Channel]
    client: PoliteClient

    async def in_store(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...


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


async def at_start(pipeline: Running) -> Filled | None:
    """A start with days missing since the last stored one (before yesterday): fill them."""
    last = await pipeline.in_store(pipeline.store.last_day)
    today = dt.datetime.now(REPORT_ZONE).date()
    if last is None or last >= today - dt.timedelta(days=1):
        return None
    log.info("the last stored day is %s: filling the days since from %s", last, pipeline.config.backfill.url)
    return await fill(pipeline, last + dt.timedelta(days=1), today)


async def fill(pipeline: Running, start: dt.date | None = None, end: dt.date | None = None) -> Filled:
    """Ask the API for the days ``start`` … ``end`` (default: after the last stored day … today)."""
    from .ingest import extract_items, ingest

    settings = pipeline.config.backfill
    end = end or dt.datetime.now(REPORT_ZONE).date()
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
    while window_start <= end:
        window_end = min(end, window_start + dt.timedelta(days=settings.days_per_request - 1))
        if done.requests:
            await asyncio.sleep(settings.pause)  # polite: one request at a time, spaced out
        try:
            documents = await _window(pipeline, window_start, window_end, done)
        except FetchError as exc:
            done.error = f"{settings.url}: {exc}"
            log.error("backfill stopped at %s: %s (what came before it is stored)", window_start, done.error)
            return done
        items = await asyncio.to_thread(extract_items, documents, source)
        result = await pipeline.in_store(
            ingest, pipeline.store, pipeline.detector, pipeline.channels, settings.source, items, quiet=True
        )
        done.days += len({c.figure.as_of for c in result.changes if c.kind != "unchanged"})
        done.events += len(result.events)
        done.windows += 1
        window_start = window_end + dt.timedelta(days=1)
    log.info(
        "backfill %s … %s: %d days stored from %d requests, %d events recorded quietly",
        start,
        end,
        done.days,
        done.requests,
        done.events,
    )
    return done


async def _window(pipeline: Running, first: dt.date, last: dt.date, done: Filled) -> list:
    """Every record of one window of days, following the API's ``next_url`` paging."""
    settings, http = pipeline.config.backfill, pipeline.config.http
    limit = (last - first).days + 1
    query = {"offset": 0, "limit": limit, "date_from": first.isoformat(), "date_to": last.isoformat()}
    url: str | None = f"{settings.url}?{urlencode(query)}"
    documents = []
    while url is not None and done.requests < 10_000:
        done.requests += 1
        fetched = await pipeline.client.get(
            url, timeout=http.timeout, deadline=http.deadline, max_bytes=http.max_bytes, accept=ACCEPT
        )
        data = await asyncio.to_thread(json_api.load, fetched.content)
        page = json_api.documents(data, settings.source, RUSSIANWARSHIP_V2["records"], "date")
        documents += page
        following = lookup(data, "data.paging.next_url")
        url = urljoin(url, following) if isinstance(following, str) and following and page else None
    return documents
