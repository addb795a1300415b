"""The public page: ``/`` in English, ``/uk/`` in Ukrainian (any bundled language).

Its first phone screen answers "what happened today": the latest daily report's card (the one
Telegram gets; 540 and 1080 pixels wide, WebP with a PNG fallback), then a tile per category with
its change in a day, in 7 days and in 30 days and its total since the invasion began. Under them one
category's chart over a range the reader picks (30 days, 90 days, a year, all: plain links,
``?metric=tanks&range=1y``), its history day by day (``&page=2``: 30 days a page, newest first,
with the API's CSV), the Telegram channels and the bot, the email form and the recent alerts. No
JavaScript, nothing from another site; readable on a phone.

The tiles come from the stored figures, not from a report: a fresh install that holds the bundled
history and has read no report yet shows its latest figures, "as of" their day. A change over a
span whose first day is missing is not known (a dash), never a zero.

The page is cached until the store commits or the day (Kyiv) changes: an ETag, and no database
work in between. The card is drawn once per report version and language (``Pipeline.card``), its
smaller and WebP copies made from it once (``card_copy``, in the drawing process); the charts are
drawn once per report version, range and language.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .. import i18n
from ..channels.render import (
    capitalized,
    credit,
    event_said,
    metric_name,
    rank_line,
    report_lines,
    report_title,
    war_day,
)
from ..charts import MadeOnce
from ..detect.report import FULL_SCALE_WAR
from ..extract.genstaff import METRICS
from ..format import format_date, format_delta, format_number
from .data import BOOT, SECURITY_HEADERS, Answer, base_url, client_has, i18n_of

if TYPE_CHECKING:
    from ..config import Config
    from ..models import Event
    from ..store import Store

KYIV = ZoneInfo("Europe/Kyiv")
ALERTS_SHOWN = 10
ROWS = 30  # days a page of a category's history
# the chart's ranges: the query's word, its days (None: all), the link's words, the span's words
RANGES = {
    "30d": (30, i18n.N_("30 days"), i18n.N_("the last 30 days")),
    "90d": (90, i18n.N_("90 days"), i18n.N_("the last 90 days")),
    "1y": (365, i18n.N_("1 year"), i18n.N_("the last year")),
    "all": (None, i18n.N_("All"), i18n.N_("since the start")),
}
DEFAULT_RANGE = "90d"
CARD_WIDTHS = (540, 1080)  # the card's copies: a phone's screen at 1× and 2× (and the original)
CARD_TYPES = {"png": "image/png", "webp": "image/webp"}
CARD_SIZES = "(min-width: 46rem) 43.5rem, calc(100vw - 2.5rem)"  # the card's width in the page's layout
COPIES_KEPT = 16  # card copies kept: 3 a language, for the newest report versions


def kyiv_today() -> dt.date:
    return dt.datetime.now(KYIV).date()


def today_of(request: Request) -> dt.date:
    """Today in Kyiv, by the app's clock (``app.state.today``, a test's) or the real one."""
    clock = getattr(request.app.state, "today", None)
    return (clock or kyiv_today)()


class Refused(Exception):
    """A page asked for that is not there (a category, a range, a page of the history): its status and
    what to tell the reader."""

    def __init__(self, status: int, title: str, *lines: str) -> None:
        super().__init__(title)
        self.status, self.title, self.lines = status, title, list(lines)


@dataclass(frozen=True)
class Tile:
    """A category's newest figure: its day, its total, its change in 1, 7 and 30 days (None: the
    first day of that span is missing from the store, so the change is not known)."""

    metric: str
    day: dt.date
    total: int
    changes: tuple[int | None, int | None, int | None]


SPANS = (1, 7, 30)


def tile(metric: str, points: list[tuple[dt.date, int]]) -> Tile | None:
    """``points``: the category's accepted figures of at least its last 30 days, in order."""
    if not points:
        return None
    values = dict(points)
    day, total = points[-1]
    before = [values.get(day - dt.timedelta(days=n)) for n in SPANS]
    return Tile(metric, day, total, tuple(None if b is None else total - b for b in before))


def tiles(store: Store) -> list[Tile]:
    """Every report category the store has figures of, in the report's order."""
    found = (tile(m, store.chart_data(m, max(SPANS))[0]) for m in METRICS)
    return [t for t in found if t is not None]


def history(store: Store, metric: str) -> list[tuple[dt.date, int, int | None]]:
    """(day, total, change from the day before — None when that day is missing), newest first."""
    points = [(d, v) for d, v, _source, status, _reported in store.series(metric) if status == "accepted"]
    values = dict(points)
    rows = []
    for day, value in reversed(points):
        before = values.get(day - dt.timedelta(days=1))
        rows.append((day, value, None if before is None else value - before))
    return rows


def _asked(request: Request, language: str, known: list[str]) -> tuple[str, str, int]:
    """The category, the range and the page of the history the query asks for, or ``Refused``."""
    _ = functools.partial(i18n.gettext, language)
    query = request.query_params
    metric = query.get("metric") or ("personnel" if "personnel" in known else known[0])
    if metric not in known:
        raise Refused(
            404,
            _("No such category"),
            _("There is no category “{metric}” on this page.").format(metric=metric[:40]),
            _("The categories: {metrics}.").format(metrics=", ".join(known)),
        )
    chosen = query.get("range") or DEFAULT_RANGE
    if chosen not in RANGES:
        raise Refused(
            400,
            _("No such range"),
            _("There is no range “{range}”: choose {ranges}.").format(range=chosen[:40], ranges=", ".join(RANGES)),
        )
    text = query.get("page") or "1"
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 100_000):
        raise Refused(
            400,
            _("No such page"),
            _("“{page}” is not a page number: the pages are numbered from 1.").format(page=text[:40]),
        )
    return metric, chosen, int(text)


def _prefix(language: str) -> str:
    return "" if language == i18n.SOURCE else f"/{language}"


def _link(prefix: str, **query: str | int) -> str:
    return f"{prefix}/?{urlencode(query)}"


def page(request: Request, config: Config, store: Store, language: str, today: dt.date) -> tuple[bytes, str]:
    """The page's HTML (on the store's thread: it reads the figures, the report and the alerts)."""
    site = request.app.state.site
    _ = functools.partial(i18n.gettext, language)
    report = store.latest_report()
    alerts = [(format_date(e.as_of, language), event_said(e, language)) for _i, _at, e in _alerts(store)]
    values: dict = {
        "alerts": alerts,
        "signup": site.offers_signup(config),
        "base": base_url(request, config),
        "telegram": _telegram(config, language),
    }
    found = tiles(store)
    if report is not None:
        rows = [(capitalized(name), value, change) for name, value, change in report_lines(report, language)]
        link = report.data.get("link")
        values |= {
            "report": True,
            "title": report_title(report, language),
            "war": war_day(report, language),
            "credit": credit(report.data.get("publisher") or "genstaff", language),
            "link": link if isinstance(link, str) and link.startswith(("https://", "http://")) else None,
            "rank": rank_line(report, language),
            "version": _version(report),
            "card_alt": f"{report_title(report, language)}: "
            + " · ".join(f"{name} {value}" + (f" ({change})" if change else "") for name, value, change in rows),
            "card_sizes": CARD_SIZES,
        }
    elif found:
        values |= {"title": _("Russia's losses"), "credit": credit("genstaff", language)}
    else:
        values["title"] = _("No daily report yet")
    if found:
        values |= _figures(request, store, language, found, today, _version_of(report, found))
    body = site.render(request, "index.html", language, **values)
    return body.encode(), "text/html; charset=utf-8"


def _figures(request: Request, store: Store, language: str, found: list[Tile], today: dt.date, version: str) -> dict:
    """The tiles, the chosen category's chart over the chosen range, and a page of its history."""
    _ = functools.partial(i18n.gettext, language)
    prefix = _prefix(language)
    metric, chosen, number = _asked(request, language, [t.metric for t in found])
    name = capitalized(metric_name(metric, language))
    newest = max(t.day for t in found)
    day = format_date(newest, language)

    def said(change: int | None) -> str | None:
        return None if change is None else format_delta(change, language)

    shown = [
        {
            "metric": t.metric,
            "name": capitalized(metric_name(t.metric, language)),
            "href": _link(prefix, metric=t.metric, range=chosen) + "#chart",
            "total": format_number(t.total, language),
            "changes": [said(c) for c in t.changes],
            "as_of": None if t.day == newest else _("as of {day}").format(day=format_date(t.day, language)),
        }
        for t in found
    ]
    rows = history(store, metric)
    pages = max(1, math.ceil(len(rows) / ROWS))
    if number > pages:
        raise Refused(
            404,
            _("No such page"),
            i18n.ngettext(
                language,
                "There is no page {page}: the history of {name} has {n} page.",
                "There is no page {page}: the history of {name} has {n} pages.",
                pages,
            ).format(page=number, name=metric_name(metric, language), n=pages),
        )
    span = RANGES[chosen][2]

    def at(n: int) -> str:
        return _link(prefix, metric=metric, range=chosen, page=n) + "#history"

    return {
        "tiles": shown,
        "tiles_title": (_("Today, {day}") if newest >= today else _("As of {day}")).format(day=day),
        "tiles_note": _(
            "Each category: its change in a day, in 7 days and in 30 days, and its total since {start}."
        ).format(start=format_date(FULL_SCALE_WAR, language)),
        "unknown": any(c is None for t in found for c in t.changes),
        "metric": metric,
        "chart_title": f"{name}: {_(span)}",
        "chart_src": f"{prefix}/chart/{metric}.png?" + urlencode({"range": chosen, "v": version}),
        "chart_alt": _("Chart of {name}, {period}").format(name=metric_name(metric, language), period=_(span)),
        "ranges": [
            (_(words), _link(prefix, metric=metric, range=code) + "#chart", code == chosen)
            for code, (_days, words, _span) in RANGES.items()
        ],
        "history_title": _("{name}, day by day").format(name=name),
        "history": [
            (format_date(d, language), format_number(v, language), None if c is None else format_delta(c, language))
            for d, v, c in rows[(number - 1) * ROWS : number * ROWS]
        ],
        "page_of": _("Page {page} of {pages}").format(page=number, pages=pages),
        "newer": at(number - 1) if number > 1 else None,
        "older": at(number + 1) if number < pages else None,
        "csv": f"/api/v1/series/{metric}.csv",
    }


def _telegram(config: Config, language: str) -> list[tuple[str, str, str | None]]:
    """(the link's words, its address, the language it is in when not the page's) for the public
    channels and the bot."""
    _ = functools.partial(i18n.gettext, language)
    links = [
        (
            _("Telegram channel {name}").format(name=c.chat),
            f"https://t.me/{c.chat.removeprefix('@')}",
            None if c.language == language else c.language,
        )
        for c in config.telegram.public_channels
    ]
    if config.telegram.bot_username:
        bot = config.telegram.bot_username.removeprefix("@")
        links.append((_("Telegram bot @{name}").format(name=bot), f"https://t.me/{bot}", None))
    return links


def _alerts(store: Store) -> list:
    return [found for found in store.public_events(None, 40) if found[2].rule != "report"][:ALERTS_SHOWN]


def _version(report: Event) -> str:
    return report.key.replace(":", "-").replace("/", "v")


def _version_of(report: Event | None, found: list[Tile]) -> str:
    """What the charts' addresses change with: the report's version, or (none read yet) the newest day."""
    return _version(report) if report else f"day-{max(t.day for t in found).isoformat()}"


async def index(request: Request) -> Response:
    """The page, from the cache while the store has committed nothing and the day is the same; 304
    when the client has it."""
    site = request.app.state.site
    run = site.running()
    try:
        language = i18n_of(request)
    except Answer as unknown:
        return Response(f"{unknown}; the page is in {', '.join(i18n.languages())}\n", 404, media_type="text/plain")
    today = today_of(request)
    generation = run.store.generation
    tag = f'"{BOOT}.{generation}.{today.isoformat()}.{language}"'
    headers = {"ETag": tag, "Cache-Control": "public, max-age=60", **SECURITY_HEADERS}
    if client_has(request, tag):
        return Response(status_code=304, headers=headers)
    key = ("page", request.url.path, request.url.query, today)
    found = site.cache.get(generation, key)
    if found is None:
        try:
            found = await run.in_store(page, request, run.config, run.store, language, today)
        except Refused as refused:
            body = site.render(request, "message.html", language, title=refused.title, lines=refused.lines)
            return HTMLResponse(body, refused.status, headers=SECURITY_HEADERS)
        site.cache.put(key, found)
    body, media_type = found
    return Response(body, media_type=media_type, headers=headers)


async def _report(request: Request):
    """The latest report, looked up once per store generation (an image request costs no SQL then)."""
    site = request.app.state.site
    run = site.running()
    key = ("latest report",)
    found = site.cache.get(run.store.generation, key)
    if found is None:
        found = (await run.in_store(run.store.latest_report), await run.in_store(run.store.last_day))
        site.cache.put(key, found)
    return run, found[0], found[1]


def _headers(request: Request, tag: str) -> tuple[bool, dict]:
    """(whether the client has this picture already, the headers to answer with)."""
    headers = {"ETag": tag, "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return client_has(request, tag), headers


def card_copy(png: bytes, width: int, kind: str) -> bytes:
    """The card ``width`` pixels wide (its height in proportion) as ``kind`` (png, webp): made with
    Pillow in the drawing process, from the card as drawn."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width != width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if kind == "webp":
        image.save(out, "WEBP", quality=85, method=4)
    else:
        image.save(out, "PNG", optimize=True)
    return out.getvalue()


async def card(request: Request, copies: MadeOnce) -> Response:
    """``/card.png`` (1080 px, as drawn) and its copies ``/card-540.webp``, ``/card-1080.webp``,
    ``/card-540.png``."""
    try:
        language = i18n_of(request)
    except Answer:
        return Response("not found\n", 404, media_type="text/plain")
    width = request.path_params.get("width", CARD_WIDTHS[-1])
    kind = request.path_params.get("kind", "png")
    if width not in CARD_WIDTHS or kind not in CARD_TYPES:
        return Response(
            f"no card {width} pixels wide as {kind[:10]!r}: the card is 540 or 1080 pixels wide, png or webp\n",
            404,
            media_type="text/plain",
        )
    run, report, _day = await _report(request)
    if report is None:
        return Response("no daily report yet\n", 404, media_type="text/plain")
    fresh, headers = _headers(request, f'"{BOOT}.{_version(report)}.{language}.{width}.{kind}"')
    if fresh:
        return Response(status_code=304, headers=headers)
    png = await run.charts.card(report.key, report.data, report.as_of, language, run.config.service.signature(language))
    if png is None:
        return Response("the card could not be drawn\n", 503, media_type="text/plain")
    if (width, kind) != (CARD_WIDTHS[-1], "png"):
        try:
            png = await copies.get((report.key, language, width, kind), lambda: run.drawer(card_copy, png, width, kind))
        except Exception as exc:  # the drawing process failed or timed out: say so
            return Response(f"the card could not be made: {exc}\n", 503, media_type="text/plain")
    return Response(png, media_type=CARD_TYPES[kind], headers=headers)


async def chart_png(request: Request) -> Response:
    site = request.app.state.site
    try:
        language = i18n_of(request)
    except Answer:
        return Response("not found\n", 404, media_type="text/plain")
    metric = request.path_params["metric"]
    run, report, last = await _report(request)
    if metric not in {*METRICS, *run.config.metrics}:
        return Response(f"no metric named {metric[:40]!r}\n", 404, media_type="text/plain")
    chosen = request.query_params.get("range") or DEFAULT_RANGE
    if chosen not in RANGES:
        return Response(f"no range {chosen[:40]!r}: the ranges are {', '.join(RANGES)}\n", 404, media_type="text/plain")
    days = RANGES[chosen][0]  # None: every day the store holds (charts.chart_for)
    version = _version(report) if report else f"day-{last}"
    fresh, headers = _headers(request, f'"{BOOT}.{version}.{metric}.{chosen}.{language}"')
    if fresh:
        return Response(status_code=304, headers=headers)
    png = await site.charts(run).get(metric, language, days, once=f"web:{version}")
    if png is None:
        return Response("not enough figures for a chart\n", 404, media_type="text/plain")
    return Response(png, media_type="image/png", headers=headers)


def routes() -> list:
    from starlette.routing import Route

    copies = MadeOnce(COPIES_KEPT)  # each copy made once per report version, language, width and type

    async def card_picture(request: Request) -> Response:
        return await card(request, copies)

    return [
        Route("/", index),
        Route("/card.png", card_picture),
        Route("/card-{width:int}.{kind}", card_picture),
        Route("/chart/{metric}.png", chart_png),
        Route("/{lang}/", index),
        Route("/{lang}/card.png", card_picture),
        Route("/{lang}/card-{width:int}.{kind}", card_picture),
        Route("/{lang}/chart/{metric}.png", chart_png),
    ]
