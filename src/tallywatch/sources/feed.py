"""RSS 2.0 and Atom, parsed by feedparser from the bytes the polite client fetched.

feedparser is never given a URL: it would fetch by itself, with no timeout and no size cap. Nor
is it given bare bytes: it tries those as a local file name first, so a hostile body such as
``/etc/passwd`` would be read from disk. It gets a file-like object, which it only reads.
A document that is not well-formed XML (an HTML error page, a truncated download) is rejected
whole, not half-read: a number cut in the middle would be a wrong figure.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import io
from xml.sax import SAXException

import feedparser

from ..models import Document
from .http import FetchError


def _published(entry: dict) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            return dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.UTC)
    return None


def _text(entry: dict) -> str:
    parts = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    summary = entry.get("summary", "")
    if summary and all(summary not in p for p in parts):
        parts.insert(0, summary)
    return "\n".join(parts)


def parse(content: bytes, source: str) -> list[Document]:
    if not content.strip():
        raise FetchError("empty response body, expected an RSS or Atom feed")
    parsed = feedparser.parse(io.BytesIO(content))
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and isinstance(problem, SAXException):
        raise FetchError(f"not a well-formed feed: {problem}")
    if not parsed.get("version") and not parsed.entries:
        raise FetchError("not an RSS or Atom feed")
    documents = []
    for entry in parsed.entries:
        text = _text(entry)
        guid = entry.get("id") or entry.get("link") or hashlib.sha256(text.encode()).hexdigest()[:16]
        documents.append(
            Document(
                source=source,
                guid=guid,
                text=text,
                title=entry.get("title", ""),
                link=entry.get("link", ""),
                published=_published(entry),
            )
        )
    return documents
