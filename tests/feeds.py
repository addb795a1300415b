"""Feeds built around the real report texts, and a programmable loopback server for them."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from datetime import datetime
from xml.sax.saxutils import escape

from genstaff_cases import FIXTURES

from tallywatch.demo import LoopbackServer


def post(name: str) -> str:
    return (FIXTURES / "genstaff_posts" / name).read_text(encoding="utf-8")


def rss(entries: list[tuple[str, str, str, datetime]]) -> bytes:
    """entries: (guid, title, text, published)."""
    items = "".join(
        f"<item><title>{escape(title)}</title><guid isPermaLink='false'>{escape(guid)}</guid>"
        f"<pubDate>{email.utils.format_datetime(published)}</pubDate>"
        f"<description>{escape(text)}</description></item>"
        for guid, title, text, published in entries
    )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>MoD</title>"
        f"<link>http://127.0.0.1/</link><description>news</description>{items}</channel></rss>"
    ).encode()


def atom(entries: list[tuple[str, str, str, datetime]]) -> bytes:
    items = "".join(
        f"<entry><id>{escape(guid)}</id><title>{escape(title)}</title>"
        f"<updated>{published.isoformat()}</updated><content type='html'>{escape(text)}</content></entry>"
        for guid, title, text, published in entries
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>GS</title><id>urn:gs</id><updated>2022-08-09T06:00:00Z</updated>{items}</feed>"
    ).encode()


Response = tuple[int, dict[str, str], bytes]


class FeedServer(LoopbackServer):
    """``server.routes["/x.rss"] = (200, {...}, body)`` or a function of the request headers."""

    def __init__(self) -> None:
        self.routes: dict[str, Response | Callable[[dict[str, str]], Response]] = {}
        # path prefix → a function of (path with its query, headers): an API that reads its query
        self.prefixes: dict[str, Callable[[str, dict[str, str]], Response]] = {}
        super().__init__(self._answer)

    def _answer(self, path: str, headers: dict[str, str]) -> Response:
        for prefix, answer in self.prefixes.items():
            if path.startswith(prefix):
                return answer(path, headers)
        route = self.routes.get(path)
        if route is None:
            return 404, {}, b"not found"
        return route(headers) if callable(route) else route

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


def slow(seconds: float, response: Response) -> Callable[[dict[str, str]], Response]:
    def answer(headers: dict[str, str]) -> Response:
        time.sleep(seconds)
        return response

    return answer
