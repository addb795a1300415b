"""The public page: ``/`` in English, ``/uk/`` in Ukrainian (any bundled language).

The latest daily report as its card and as a table (the same figures, readable by a screen
reader), the day of the war, whose figures they are with a link to the original, the recent
alerts, and each category's last 90 days as a chart. No JavaScript, nothing from another site;
readable on a phone. The page is cached like the feeds (``data.cached``: an ETag, and no database
work until the store commits); the card is the one Telegram gets (``Pipeline.card``, drawn once
per report version and language) and the charts are drawn once per report version.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

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
from ..extract.genstaff import METRICS
from ..format import format_date
from .data import BOOT, Answer, base_url, cached, client_has, i18n_of

if TYPE_CHECKING:
    from ..config import Config
    from ..models import Event
    from ..store import Store

ALERTS_SHOWN = 10


def page(request: Request, config: Config, store: Store, fmt: str) -> tuple[bytes, str]:
    """The page's HTML (on the store's thread: it reads the report and the alerts)."""
    site = request.app.state.site
    language = i18n_of(request)
    _ = functools.partial(i18n.gettext, language)
    report = store.latest_report()
    alerts = [(format_date(e.as_of, language), event_said(e, language)) for _i, _at, e in _alerts(store)]
    values: dict = {"alerts": alerts, "signup": site.offers_signup(config), "base": base_url(request, config)}
    if report is not None:
        rows = [(capitalized(name), value, change) for name, value, change in report_lines(report, language)]
        link = report.data.get("link")
        values |= {
            "title": report_title(report, language),
            "war": war_day(report, language),
            "credit": credit(report.data.get("publisher") or "genstaff", language),
            "link": link if isinstance(link, str) and link.startswith(("https://", "http://")) else None,
            "rows": rows,
            "rank": rank_line(report, language),
            "version": _version(report),
            "card_alt": f"{report_title(report, language)}: "
            + " · ".join(f"{name} {value}" + (f" ({change})" if change else "") for name, value, change in rows),
            "charts": [(f["metric"], capitalized(metric_name(f["metric"], language))) for f in report.data["figures"]],
        }
    else:
        values["title"] = _("No daily report yet")
    body = site.render(request, "index.html", language, **values)
    return body.encode(), "text/html; charset=utf-8"


def _alerts(store: Store) -> list:
    return [found for found in store.public_events(None, 40) if found[2].rule != "report"][:ALERTS_SHOWN]


def _version(report: Event) -> str:
    return report.key.replace(":", "-").replace("/", "v")


async def _report(request: Request):
    """The latest report, looked up once per store generation (an image request costs no SQL then)."""
    site = request.app.state.site
    run = site.running()
    key = ("latest report",)
    found = site.cache.get(run.store.generation, key)
    if found is None:
        found = (await run.in_store(run.store.latest_report),)
        site.cache.put(key, found)
    return run, found[0]


def _png(request: Request, tag: str) -> tuple[bool, dict]:
    """(whether the client has this picture already, the headers to answer with)."""
    headers = {"ETag": tag, "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return client_has(request, tag), headers


async def card_png(request: Request) -> Response:
    try:
        language = i18n_of(request)
    except Answer:
        return Response("not found\n", 404, media_type="text/plain")
    run, report = await _report(request)
    if report is None:
        return Response("no daily report yet\n", 404, media_type="text/plain")
    fresh, headers = _png(request, f'"{BOOT}.{_version(report)}.{language}"')
    if fresh:
        return Response(status_code=304, headers=headers)
    png = await run.charts.card(report.key, report.data, report.as_of, language, run.config.service.signature(language))
    if png is None:
        return Response("the card could not be drawn\n", 503, media_type="text/plain")
    return Response(png, media_type="image/png", headers=headers)


async def chart_png(request: Request) -> Response:
    site = request.app.state.site
    try:
        language = i18n_of(request)
    except Answer:
        return Response("not found\n", 404, media_type="text/plain")
    metric = request.path_params["metric"]
    run, report = await _report(request)
    if metric not in {*METRICS, *run.config.metrics}:
        return Response(f"no metric named {metric[:40]!r}\n", 404, media_type="text/plain")
    version = _version(report) if report else "none"
    fresh, headers = _png(request, f'"{BOOT}.{version}.{metric}.{language}"')
    if fresh:
        return Response(status_code=304, headers=headers)
    png = await site.charts(run).get(metric, language, 90, once=f"web:{version}")
    if png is None:
        return Response("not enough figures for a chart\n", 404, media_type="text/plain")
    return Response(png, media_type="image/png", headers=headers)


def routes() -> list:
    from starlette.routing import Route

    return [
        Route("/", cached(page)),
        Route("/card.png", card_png),
        Route("/chart/{metric}.png", chart_png),
        Route("/{lang}/", cached(page)),
        Route("/{lang}/card.png", card_png),
        Route("/{lang}/chart/{metric}.png", chart_png),
    ]
