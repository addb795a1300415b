"""Web pages: the text of one element (a CSS selector), and the links of a listing page.

Parsed by selectolax (the Lexbor HTML5 engine), never by regular expressions over markup; the
text is ``markup.node_text``'s, the one way markup becomes lines. A selector that matches nothing
is an error naming the selector and the page: a changed layout must not read as "no figures".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin

from selectolax.lexbor import LexborHTMLParser

from .. import markup
from ..extract.dates import month_number
from ..models import REPORT_ZONE, Document
from .http import FetchError


def parse(content: bytes) -> LexborHTMLParser:
    if not content.strip():
        raise FetchError("empty response body, expected an HTML page")
    return markup.parse(content)


def select_text(tree: LexborHTMLParser, selector: str, url: str) -> str:
    nodes = tree.css(selector)
    if not nodes:
        raise FetchError(f"selector {selector!r} matched nothing on {url} (has the page layout changed?)")
    return "\n".join(text for text in (markup.node_text(n) for n in nodes) if text)


def title(tree: LexborHTMLParser) -> str:
    for selector in ("h1", "title"):
        node = tree.css_first(selector)
        text = " ".join(markup.node_text(node).split()) if node is not None else ""
        if text:
            return text
    return ""


# What a bot wall or captcha page carries instead of the page asked for (kmu.gov.ua served a
# ShieldSquare one: tests/fixtures/real/kmu/bot_ukraine_stats_2023-09-30.html).
BOT_CHECK_MARKS = ".h-captcha, .g-recaptcha, .cf-turnstile, #challenge-form, #cf-challenge-running, form#captcha-form"
BOT_CHECK_TITLE = re.compile(r"captcha|just a moment|attention required|are you a (?:ro)?bot|access denied|ddos", re.I)
BOT_CHECK_TEXT = re.compile(r"you are a bot|not a robot|verify you are human|solve this captcha", re.I)


def bot_check(tree: LexborHTMLParser) -> str | None:
    """A description of the bot wall this page is, or None for an ordinary page."""
    head = tree.css_first("title")
    name = " ".join(head.text().split()) if head is not None else ""
    body = tree.body
    if (
        BOT_CHECK_TITLE.search(name)
        or tree.css_first(BOT_CHECK_MARKS) is not None
        or (body is not None and BOT_CHECK_TEXT.search(markup.node_text(body)[:5000]))
    ):
        return f"bot check page ({name or 'a captcha'})"
    return None


# Where a page says when it was published: standard metadata first, then a date-classed element
# whose text starts with an ISO date (mil.gov.ua: <span class="aticle-date">2022-07-18 09:10:00 | …).
_PUBLISHED_META = (
    'meta[property="article:published_time"], meta[itemprop="datePublished"], meta[name="pubdate"],'
    ' meta[name="date"], meta[name="dc.date"]'
)
_ISO_START = re.compile(r"\s*(?P<day>\d{4}-\d{2}-\d{2})(?P<time>[ T]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?")


# A server-rendered app's page data (Next.js: mod.gov.ua's "publishedAt":{"iso":"…"}, JSON-LD's
# "datePublished"), inside a script, its quotes perhaps escaped (a React server payload).
_PUBLISHED_JSON = re.compile(
    r'\\?"(?:publishedAt|datePublished)\\?"\s*:\s*(?:\{\s*\\?"iso\\?"\s*:\s*)?\\?"(?P<when>\d{4}-\d{2}-\d{2}T[^"\\]+)'
)
# The time as the page prints it: "12 April, 2026, 7:32 AM EEST" (Kyiv's summer or winter time).
_PRINTED = re.compile(
    r"(?P<d>\d{1,2})\s+(?P<mon>[A-Za-z]{3,9}),?\s+(?P<y>\d{4}),?\s+(?P<h>\d{1,2}):(?P<min>\d{2})\s*(?P<half>[AP]M)\s+EES?T\b"
)


def _stated_in_page(tree: LexborHTMLParser) -> dt.datetime | None:
    """The publication time in the page's data, or printed in a date element; None if neither."""
    for script in tree.css("script"):
        m = _PUBLISHED_JSON.search(script.text())
        if m:
            try:
                when = dt.datetime.fromisoformat(m["when"].replace("Z", "+00:00"))
            except ValueError:
                continue
            return when if when.tzinfo else when.replace(tzinfo=REPORT_ZONE)
    for node in tree.css('[class*="date"], time'):
        m = _PRINTED.search(node.text())
        month = month_number(m["mon"]) if m else None
        if m and month and 1 <= int(m["h"]) <= 12:
            hour = int(m["h"]) % 12 + (12 if m["half"] == "PM" else 0)
            try:
                return dt.datetime(int(m["y"]), month, int(m["d"]), hour, int(m["min"]), tzinfo=REPORT_ZONE)
            except ValueError:
                continue
    return None


def published_time(tree: LexborHTMLParser) -> dt.datetime | dt.date | None:
    """When the page says it was published (a naive time is Kyiv's); if it states only a day, that
    day (no moment of publication: midnight is nobody's hour); else None. Standard metadata first,
    then the page's own data or printed time (``_stated_in_page``), then a date element's ISO day."""
    candidates = [n.attributes.get("content") or "" for n in tree.css(_PUBLISHED_META)]
    first_time = tree.css_first("time[datetime]")
    candidates += [first_time.attributes.get("datetime") or ""] if first_time is not None else []
    candidates += [n.text() for n in tree.css('[class*="date"]')]
    day = None
    for text in candidates:
        m = _ISO_START.match(text)
        if not m:
            continue
        try:
            if m["time"] is None:
                day = day or dt.date.fromisoformat(m["day"])
                continue
            when = dt.datetime.fromisoformat(m.group(0).strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        return when if when.tzinfo else when.replace(tzinfo=REPORT_ZONE)
    return _stated_in_page(tree) or day


def page_document(content: bytes, source: str, selector: str, url: str, day: dt.date | None = None) -> Document:
    """A report page as one document, its URL as the item id (an edited page is a new version).

    A bot wall or captcha instead of the page is an error saying so. The page's own publication
    time, where it states one, dates it; else the day it states, else ``day`` (a dated URL's) —
    a day without a time, never taken for a publication time.
    """
    tree = parse(content)
    wall = bot_check(tree)
    if wall:
        raise FetchError(f"{wall} instead of the page at {url}")
    text = select_text(tree, selector, url)
    stated = published_time(tree)
    if isinstance(stated, dt.datetime):
        return Document(source, url, text, title(tree), url, stated)
    return Document(source, url, text, title(tree), url, dated=stated or day)


def links(content: bytes, base_url: str, pattern: re.Pattern[str]) -> list[str]:
    """Absolute URLs of the page's links whose address matches ``pattern``, in page order, once each."""
    seen: dict[str, None] = {}
    for a in parse(content).css("a[href]"):
        href = (a.attributes.get("href") or "").strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            continue
        url = urldefrag(urljoin(base_url, href)).url
        if url.startswith(("http://", "https://")) and pattern.search(url):
            seen.setdefault(url, None)
    return list(seen)


@dataclass(frozen=True)
class Sitemap:
    pages: list[str]  # the pages it lists, newest first (by lastmod; in the file's order without one)
    children: list[str]  # a sitemap index: the sitemaps it lists, newest first


def sitemap(content: bytes, url: str) -> Sitemap:
    """A sitemap (``<urlset>``) or sitemap index (``<sitemapindex>``), read with the same HTML5
    parser as the pages: it reads any ``<loc>`` and ``<lastmod>`` and never expands an entity, so
    a hostile file can do no more than fail to list anything."""
    tree = parse(content)
    pages, children = [], []
    for kind, found in (("url", pages), ("sitemap", children)):
        for i, entry in enumerate(tree.css(kind)):
            loc = entry.css_first("loc")
            address = " ".join(loc.text().split()) if loc is not None else ""
            if address.startswith(("http://", "https://")):
                modified = entry.css_first("lastmod")
                found.append((modified.text().strip() if modified is not None else "", -i, urljoin(url, address)))
    if not pages and not children:
        raise FetchError(f"{url} is not a sitemap: no <url><loc> or <sitemap><loc> in it")
    return Sitemap(_newest(pages), _newest(children))


def _newest(entries: list[tuple[str, int, str]]) -> list[str]:
    return [address for *_, address in sorted(entries, reverse=True)]
