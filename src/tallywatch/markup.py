"""Markup to text: the one way every source and extractor turns HTML into lines.

HTML is parsed by selectolax (the Lexbor HTML5 engine), never by regular expressions. The text
keeps the page's lines — a ``<p>``, ``<li>``, ``<div>`` or ``<br>`` ends one — because the
extractors read a report line by line ("tanks ‒ 5706 (+14)"); inside a block, any run of white
space, a newline included, is one space, as a browser shows it: the saved kmu.gov.ua and t.me
pages wrap a paragraph across source lines, and that must not split a header or a figure.
Text that is not markup keeps its own line breaks.
"""

from __future__ import annotations

import re
import unicodedata
from html import unescape

from selectolax.lexbor import LexborHTMLParser, LexborNode

BLOCKS = (
    "p, li, div, h1, h2, h3, h4, h5, h6, tr, td, th, dt, dd, blockquote, section, article, header, footer, pre,"
    " ul, ol, table, hr"
)
HIDDEN = ["script", "style", "noscript", "template", "svg", "head"]
_BREAK = "\ue000"  # a private-use character: a line break the markup asked for
_WHITE = re.compile(r"[\s\u00a0\u2009\u202f]+")
_TAG = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9]*[\s/>]|/[a-zA-Z]|!--)")
# Spaces a report may put inside or around numbers: no-break, thin, narrow no-break, figure.
ODD_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u2009\u202f\u2002\u2003\u2004\u2005\u2006\u200a"), " ")
# Invisible characters that only get in the way (zero-width, BOM, emoji variation selectors).
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\ufe0e\ufe0f"), None)


def parse(content: bytes | str) -> LexborHTMLParser:
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return LexborHTMLParser(content)


def node_text(node: LexborNode) -> str:
    """The element's visible text: one line per block element or ``<br>``, spaces squeezed."""
    node = node.clone()
    node.strip_tags(HIDDEN)
    for br in node.css("br"):
        br.replace_with(_BREAK)
    for block in node.css(BLOCKS):
        block.insert_before(_BREAK)
        block.insert_after(_BREAK)
    text = _WHITE.sub(" ", node.text(deep=True))
    lines = (line.strip() for line in text.split(_BREAK))
    return "\n".join(line for line in lines if line)


def is_markup(text: str) -> bool:
    return _TAG.search(text) is not None


def to_text(text: str) -> str:
    """Lines of an HTML fragment or document (as ``node_text``); plain text with entities decoded."""
    if not is_markup(text):
        return unescape(text)
    tree = parse(text)
    root = tree.body if tree.body is not None else tree.root
    return node_text(root) if root is not None else ""


def clean_text(text: str) -> str:
    """Markup (or plain text) to the lines an extractor reads: odd spaces made plain, invisible
    characters dropped, each line trimmed."""
    text = unicodedata.normalize("NFC", to_text(text))
    text = text.translate(ODD_SPACES).translate(_INVISIBLE)
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines())
    return "\n".join(lines)
