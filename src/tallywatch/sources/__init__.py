"""Sources: what a source published → ``Document``s. One way of reading per ``kind``, registered here.

``harvest`` does the fetching (one conditional GET for a feed, an API or a page; a listing page
and the report pages it links to; one page per day from a dated URL; a Telegram channel preview
and, after downtime, the pages before it) and hands the bytes to the parsers off the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..config import Http, JsonMapping, Source, is_dated
from ..extract.dates import dated_url
from ..extract.json_fields import RUSSIANWARSHIP_V2
from ..models import REPORT_ZONE, Document
from . import feed, json_api
from .http import Fetched, FetchError, PoliteClient

log = logging.getLogger("tallywatch.poll")


def mapping_for(source: Source) -> dict:
    if source.mapping is not None:
        return source.mapping.to_dict()
    if source.extractor_name == "json_fields":
        return JsonMapping().to_dict()
    return RUSSIANWARSHIP_V2


def _json(content: bytes, source: Source) -> list[Document]:
    mapping = mapping_for(source)
    return json_api.parse(content, source.name, mapping["records"], mapping["date"])


def _feed(content: bytes, source: Source) -> list[Document]:
    return feed.parse(content, source.name)


def _page(content: bytes, source: Source) -> list[Document]:
    from . import html  # selectolax (1.8 MB) only where a source reads web pages

    return [html.page_document(content, source.name, source.selector or "body", source.url)]


def _channel(content: bytes, source: Source) -> list[Document]:
    from . import telegram_channel

    return telegram_channel.parse(content, source.name, source.url).posts


PARSERS: dict[str, Callable[[bytes, Source], list[Document]]] = {
    "rss": _feed,
    "atom": _feed,
    "json": _json,
    "html": _page,
    "telegram_channel": _channel,
}
PAGE = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
ACCEPT = {
    "rss": "application/rss+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5",
    "atom": "application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5",
    "json": "application/json, */*;q=0.5",
    "html": PAGE,
    "telegram_channel": PAGE,
}

Seen = Callable[[str], Awaitable[bool]]  # has this item id been stored for the source before?


@dataclass
class Harvest:
    documents: list[Document] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    pages: int = 0  # documents fetched (HTTP requests made)
    moved: str | None = None  # the source's URL moved for good (a 301): polled there from now on


class Reader:
    """One poll's fetching for one source: its limits, its validators, and a count of requests."""

    def __init__(self, client: PoliteClient, source: Source, http: Http, state: dict) -> None:
        self.client, self.source, self.http, self.state = client, source, http, state
        self.requests = 0
        self.moved: str | None = None

    async def get(self, url: str, conditional: bool = False) -> Fetched:
        self.requests += 1
        fetched = await self.client.get(
            url,
            etag=self.state.get("etag") if conditional else None,
            last_modified=self.state.get("last_modified") if conditional else None,
            timeout=self.source.timeout or self.http.timeout,
            deadline=self.http.deadline,
            max_bytes=self.source.max_bytes or self.http.max_bytes,
            accept=ACCEPT[self.source.kind],
            follow_to=self.source.follow_redirects_to,
        )
        if fetched.moved and url == self.source.url and "{" not in url:
            self.moved = fetched.moved
        return fetched

    async def page(self, url: str, day: dt.date | None = None) -> Document:
        from . import html

        fetched = await self.get(url)
        source = self.source
        return await asyncio.to_thread(
            html.page_document, fetched.content, source.name, source.selector or "body", url, day
        )


async def harvest(client: PoliteClient, source: Source, http: Http, state: dict, seen: Seen) -> Harvest:
    """Everything new this source offers now, as documents (newest first where the kind has an order).

    A source whose URL moved for good (a 301 or 308 seen before, ``state["moved_to"]``) is read
    at its new address, for as long as the configured URL is the one that moved."""
    if state.get("moved_to") and state.get("moved_from") == source.url:
        source = source.replace(url=state["moved_to"])
    reader = Reader(client, source, http, state)
    if source.kind == "html" and is_dated(source.url):
        out = Harvest(await _dated(reader, seen, dt.datetime.now(REPORT_ZONE).date(), source.url))
    elif source.kind == "html" and source.follow:
        out = await _listing(reader, seen)
    elif source.kind == "telegram_channel":
        out = Harvest(await _preview(reader, seen))
    else:
        fetched = await reader.get(source.url, conditional=True)
        if fetched.not_modified:
            return Harvest(not_modified=True, pages=reader.requests)
        documents = await asyncio.to_thread(PARSERS[source.kind], fetched.content, source)
        out = Harvest(documents, fetched.etag, fetched.last_modified)
    out.pages = reader.requests
    out.moved = reader.moved
    return out


async def _dated(reader: Reader, seen: Seen, today: dt.date, template: str) -> list[Document]:
    """One page per day: today's, then the days before it not read yet (a 404 is a day not published)."""
    documents = []
    for back in range(reader.source.max_pages):
        day = today - dt.timedelta(days=back)
        url = dated_url(template, day)
        if back and await seen(url):
            continue
        try:
            documents.append(await reader.page(url, day))  # a day, no time: the page says none
        except FetchError as exc:
            if exc.status not in (404, 410):
                raise
            log.debug("source %s: no page for %s yet (%s)", reader.source.name, day, exc)
    return documents


async def _listing(reader: Reader, seen: Seen) -> Harvest:
    """A listing page, then the report pages it links to: the newest, and those not read yet.

    When the listing fails or links to no report (a new layout, an outage of that page), the
    source's ``sitemap`` lists the pages instead, and failing that the day's page is asked for by
    its dated address (``fallback``); each step down is logged. Only when every way fails is the
    poll a failure, naming each."""
    source = reader.source
    pattern = re.compile(source.follow or "")
    failures: list[str] = []
    urls, out = await _listed(reader, pattern, failures)
    if out.not_modified:
        return out
    if not urls and source.sitemap:
        try:
            urls = await _sitemap(reader, source.sitemap, pattern)
        except FetchError as exc:
            failures.append(f"sitemap: {exc}")
    if not urls and source.fallback:
        return await _fallback(reader, seen, source.fallback, failures)
    if not urls:
        raise FetchError("; ".join(failures))
    if failures:
        log.warning("source %s: %s; the pages read from the sitemap instead", source.name, "; ".join(failures))
    for i, url in enumerate(urls[: source.max_pages]):
        if i and await seen(url):
            continue
        out.documents.append(await reader.page(url))
    return out


async def _listed(reader: Reader, pattern: re.Pattern[str], failures: list[str]) -> tuple[list[str], Harvest]:
    """The report pages the listing links to, and the harvest they go in (not modified: none to read).
    A listing that fails, when the source has another way to its pages, is one of the ``failures``."""
    from . import html

    source = reader.source
    try:
        fetched = await reader.get(source.url, conditional=True)
        if fetched.not_modified:
            return [], Harvest(not_modified=True)
        urls = await asyncio.to_thread(html.links, fetched.content, source.url, pattern)
        if not urls:
            raise FetchError(f"no link on {source.url} matches follow {source.follow!r} (has the page layout changed?)")
        return urls, Harvest([], fetched.etag, fetched.last_modified)
    except FetchError as exc:
        if not (source.sitemap or source.fallback):
            raise
        failures.append(f"listing: {exc}")
        return [], Harvest()


async def _fallback(reader: Reader, seen: Seen, fallback: str, failures: list[str]) -> Harvest:
    """The day's page at its dated address, when the listing and the sitemap gave none."""
    today = dt.datetime.now(REPORT_ZONE).date()
    documents = await _dated(reader, seen, today, fallback)
    if not documents:  # (a failure still: the listing and the sitemap are how the source works)
        failures.append(f"dated address: no page at {dated_url(fallback, today)} yet")
        raise FetchError("; ".join(failures))
    log.warning("source %s: %s; the day's page read at its dated address", reader.source.name, "; ".join(failures))
    return Harvest(documents)


async def _sitemap(reader: Reader, url: str, pattern: re.Pattern[str]) -> list[str]:
    """The addresses a sitemap lists that match ``pattern``, newest first; a sitemap index is
    followed to its newest sitemap (one request more)."""
    from . import html

    fetched = await reader.get(url)
    listed = await asyncio.to_thread(html.sitemap, fetched.content, url)
    if listed.children and not listed.pages:
        child = listed.children[0]
        fetched = await reader.get(child)
        listed = await asyncio.to_thread(html.sitemap, fetched.content, child)
    urls = [page for page in listed.pages if pattern.search(page)]
    if not urls:
        raise FetchError(f"no address in the sitemap {url} matches follow {reader.source.follow!r}")
    return urls


async def _preview(reader: Reader, seen: Seen) -> list[Document]:
    """The channel's newest posts; after downtime, the pages before them until a post read before.

    A failure on a page further back ends the catch-up, keeping what was read; the first poll of
    a channel reads ``max_pages`` pages, its first import.
    """
    from . import telegram_channel

    source = reader.source
    fetched = await reader.get(source.url)
    page = await asyncio.to_thread(telegram_channel.parse, fetched.content, source.name, source.url)
    documents = list(page.posts)
    while page.before is not None and not any([await seen(d.guid) for d in page.posts]):
        if reader.requests >= source.max_pages:
            if reader.state.get("last_success"):  # a catch-up, not the channel's first import
                log.warning(
                    "source %s: %d pages read back without reaching a post read before (max_pages); "
                    "posts before %s skipped",
                    source.name,
                    reader.requests,
                    page.oldest,
                )
            break
        try:
            fetched = await reader.get(page.before)
            page = await asyncio.to_thread(telegram_channel.parse, fetched.content, source.name, page.before)
        except FetchError as exc:
            log.warning("source %s: catching up stopped at %s: %s", source.name, page.before, exc)
            break
        documents.extend(page.posts)
    return documents
