"""A public Telegram channel's web preview (``https://t.me/s/<channel>``), read without an account.

Each page holds up to about twenty posts, oldest first, and a "more" link
(``?before=<post id>``) to the posts before them. One post becomes one document: its id
(``channel/1234``) is the item id, so an edited post is a new version of the same item; its
date is the ``<time datetime>`` of its footer; its text keeps its line breaks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

from .. import markup
from ..models import Document
from . import html
from .http import FetchError


@dataclass(frozen=True)
class Page:
    posts: list[Document]  # newest first
    before: str | None  # the URL of the page before this one, if there is one
    oldest: int | None  # the smallest post id on the page


def post_number(guid: str) -> int:
    return int(guid.rsplit("/", 1)[-1])


def parse(content: bytes, source: str, url: str) -> Page:
    tree = html.parse(content)
    messages = tree.css("div.tgme_widget_message[data-post]")
    if not messages and tree.css_first("div.tgme_channel_history, section.tgme_channel_history") is None:
        raise FetchError(f"{url} is not a Telegram channel preview page (no message history on it)")
    posts, numbers = [], []
    for message in messages:
        guid = message.attributes.get("data-post") or ""
        if "/" not in guid or not guid.rsplit("/", 1)[-1].isdigit():
            continue
        numbers.append(post_number(guid))
        text_node = message.css_first("div.tgme_widget_message_text.js-message_text")
        if text_node is None:  # a photo or a poll without a caption: nothing to read
            continue
        time_node = message.css_first("a.tgme_widget_message_date time[datetime]")
        published = None
        if time_node is not None:
            try:
                published = dt.datetime.fromisoformat(time_node.attributes["datetime"])
            except (KeyError, TypeError, ValueError):
                published = None
        link = f"https://t.me/{guid}"
        posts.append(Document(source, guid, markup.node_text(text_node), "", link, published))
    posts.sort(key=lambda d: post_number(d.guid), reverse=True)
    more = tree.css_first("a.tme_messages_more[data-before]")
    before = None
    if more is not None and more.attributes.get("href"):
        candidate = urljoin(url, more.attributes["href"])
        if "before" in parse_qs(urlsplit(candidate).query):
            before = candidate
    return Page(posts, before, min(numbers, default=None))
