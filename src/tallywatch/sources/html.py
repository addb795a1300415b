"""Web pages: the text of one element (a CSS selector), and the links of a listing page.

Parsed by selectolax (the Lexbor HTML5 engine), never by regular expressions over markup. The
text keeps the page's lines — a ``<p>``, ``<li>``, ``<div>`` or ``<br>`` ends one — because the
extractors read a report line by line ("танків ‒ 1912 (+5)"). A selector that matches nothing
is an error naming the selector and the page: a changed layout must not read as "no figures".
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urldefrag, urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..models import Document
from .http import FetchError

BLOCKS = "p, li, div, h1, h2, h3, h4, h5, h6, tr, blockquote, section, article, header, footer, pre"
HIDDEN = ["script", "style", "noscript", "template", "svg"]
SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2009\u202f]+")


def parse(content: bytes) -> LexborHTMLParser:
    if not content.strip():
        raise FetchError("empty response body, expected an HTML page")
    return LexborHTMLParser(content.decode("utf-8", errors="replace"))


def element_text(node: LexborNode) -> str:
    """The element's visible text, one line per block element or ``<br>``, spaces squeezed."""
    node = node.clone()
    node.strip_tags(HIDDEN)
    for br in node.css("br"):
        br.replace_with("\n")
    for block in node.css(BLOCKS):
        block.insert_after("\n")
    lines = (SPACES.sub(" ", line).strip() for line in node.text(deep=True).splitlines())
    return "\n".join(line for line in lines if line)


def select_text(tree: LexborHTMLParser, selector: str, url: str) -> str:
    nodes = tree.css(selector)
    if not nodes:
        raise FetchError(f"selector {selector!r} matched nothing on {url} (has the page layout changed?)")
    return "\n".join(text for text in (element_text(n) for n in nodes) if text)


def title(tree: LexborHTMLParser) -> str:
    for selector in ("h1", "title"):
        node = tree.css_first(selector)
        if node is not None and node.text(strip=True):
            return SPACES.sub(" ", node.text(strip=True))
    return ""


def page_document(
    content: bytes, source: str, selector: str, url: str, published: dt.datetime | None = None
) -> Document:
    """A report page as one document, its URL as the item id (an edited page is a new version)."""
    tree = parse(content)
    return Document(source, url, select_text(tree, selector, url), title(tree), url, published)


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
