"""What a site answers besides its pages, and what keeps it light on the wire.

- ``/robots.txt``: crawlers are welcome on the pages, the feeds, the pictures and the API, and kept
  off the email forms (``/subscribe``, ``/unsubscribe``, ``/confirm``, in every language: their
  links carry people's tokens) and off ``/metrics`` and ``/healthz``.
- ``/favicon.ico`` and ``/favicon.svg``: one small drawing (a tally, four strokes and one across,
  yellow on blue), drawn with Pillow into an ICO of 16, 32 and 48 pixels on first request and
  written out as SVG from the same shapes. Browsers ask for ``/favicon.ico`` whether or not a page
  names it; without it each visit logged a 404 in the browser's console.
- ``compression``: text (the page, JSON, CSV, Atom, SVG) gzipped for a client that accepts it
  (Starlette's ``GZipMiddleware``, level 6, on every answer: the page's 8.9 KB become 2.5 KB in
  0.04 ms, a category's whole series as CSV 28 KB → 8.5 KB in 0.7 ms; level 9 makes them no
  smaller and takes twice as long on the CSV). Pictures, compressed already (PNG, WebP, the ICO's
  PNGs), and answers under 500 bytes go as they are.
- ``VersionedPictures``: a picture whose address names its version (``/card.png?v=…``, the page's
  links) never changes at that address, so browsers may keep it a year without asking again.
"""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse, Response

from .. import i18n

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

GZIP_LEVEL = 6
GZIP_SMALLEST = 500  # bytes: a smaller answer fits in one packet either way
KEPT_A_YEAR = "public, max-age=31536000, immutable"
ICON_CACHE = "public, max-age=604800"  # a week
FORMS = ("/subscribe", "/unsubscribe", "/confirm")
PICTURES = (".png", ".webp", ".avif", ".jpg", ".jpeg")

# the icon on a 32 × 32 grid: four upright strokes and one across them, yellow on blue
BLUE, YELLOW = "#0057b7", "#ffd500"
STROKES = [(6, 7, 3, 18), (11.5, 7, 3, 18), (17, 7, 3, 18), (22.5, 7, 3, 18)]  # x, y, width, height
ACROSS = [(3.5, 20.5), (27, 8.5), (28.5, 11.5), (5, 23.5)]


def robots_txt() -> str:
    closed = [f"{'' if lang == i18n.SOURCE else '/' + lang}{form}" for lang in i18n.languages() for form in FORMS]
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in [*closed, "/metrics", "/healthz"]), "Allow: /"]
    return "\n".join(lines) + "\n"


def favicon_svg() -> str:
    strokes = "".join(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="1"/>' for x, y, w, h in STROKES)
    points = " ".join(f"{x},{y}" for x, y in ACROSS)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        f'<rect width="32" height="32" rx="6" fill="{BLUE}"/>'
        f'<g fill="{YELLOW}">{strokes}<polygon points="{points}"/></g></svg>\n'
    )


@functools.cache
def favicon_ico() -> bytes:
    """The same drawing as ``favicon_svg``, eight times larger, then scaled down by Pillow into an ICO."""
    from PIL import Image, ImageDraw

    scale = 8
    image = Image.new("RGBA", (32 * scale, 32 * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, 32 * scale - 1, 32 * scale - 1), radius=6 * scale, fill=BLUE)
    for x, y, w, h in STROKES:
        draw.rounded_rectangle((x * scale, y * scale, (x + w) * scale, (y + h) * scale), radius=scale, fill=YELLOW)
    draw.polygon([(x * scale, y * scale) for x, y in ACROSS], fill=YELLOW)
    out = io.BytesIO()
    image.save(out, format="ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    return out.getvalue()


async def robots(request: Request) -> Response:
    return PlainTextResponse(robots_txt(), headers={"Cache-Control": "public, max-age=86400"})


async def icon_ico(request: Request) -> Response:
    return Response(favicon_ico(), media_type="image/x-icon", headers={"Cache-Control": ICON_CACHE})


async def icon_svg(request: Request) -> Response:
    return Response(favicon_svg(), media_type="image/svg+xml", headers={"Cache-Control": ICON_CACHE})


def routes() -> list:
    from starlette.routing import Route

    return [Route("/robots.txt", robots), Route("/favicon.ico", icon_ico), Route("/favicon.svg", icon_svg)]


class VersionedPictures:
    """A picture asked for with ``?v=`` (its report's version) is kept a year, ``immutable``; its
    304 says the same, so what the browser keeps is refreshed alike. Everything else as it was."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if not any(part.startswith(b"v=") for part in query.split(b"&")):
            await self.app(scope, receive, send)
            return

        named = scope["path"].endswith(PICTURES)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                picture = headers.get("content-type", "").startswith("image/")
                if picture or (message["status"] == 304 and named):
                    headers["Cache-Control"] = KEPT_A_YEAR
            await send(message)

        await self.app(scope, receive, sending)


def middleware() -> list:
    from starlette.middleware import Middleware
    from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

    compressed_already = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "image/x-icon")  # (Pillow's ICO holds PNGs)
    return [
        Middleware(
            GZipMiddleware,
            minimum_size=GZIP_SMALLEST,
            compresslevel=GZIP_LEVEL,
            exclude_content_types=compressed_already,
        ),
        Middleware(VersionedPictures),
    ]
