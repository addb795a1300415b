"""Feeds and data for people who build on the figures: ``/feed.atom`` (and ``/uk/feed.atom``), and
``/api/v1/latest``, ``/api/v1/series/{metric}``, ``/api/v1/events`` in JSON or CSV (``.csv`` or
``Accept: text/csv``), open to every origin for GET (CORS).

Every answer here is cached until the store commits something new (``Store.generation``), and
carries an ETag: a repeated request costs no database work, a conditional one gets a 304.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .. import i18n
from ..channels.render import credit, event_said, metric_name, report_html, report_title, telegram_html
from ..detect.report import day_of_war
from ..extract.dates import iso_day
from ..extract.genstaff import METRICS
from . import api
from .api import MAX_EVENTS, PROBLEM_MEDIA_TYPE, PROBLEMS

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Store

ATOM = "http://www.w3.org/2005/Atom"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        # connect-src 'self': a crawler's check of /robots.txt from the page (Lighthouse's SEO audit)
        # is let through; the page runs no script, so nothing else could use it
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the tokens in /confirm and /unsubscribe never leave in a Referer
}
FEED_ENTRIES = 50
BOOT = secrets.token_hex(4)  # an ETag from before a restart never matches one after it


class Answer(Exception):
    """A request that can't be answered as asked: its status and the reason, said as JSON. Under
    ``/api/`` it is said as problem JSON (RFC 9457) of the kind ``problem`` names (``PROBLEMS``)."""

    def __init__(self, status: int, error: str, problem: str = "", **more: Any) -> None:
        super().__init__(error)
        self.status, self.problem, self.more = status, problem, more
        self.body = {"error": error, **more}


def problem(request: Request, name: str, detail: str, headers: dict | None = None, **more: Any) -> Response:
    """An API error as problem JSON (RFC 9457): its type (a URI that describes it), title, status,
    what was wrong (``detail``) and the request it answers (``instance``)."""
    status, title, _meaning = PROBLEMS[name]
    site = request.app.state.site
    base = base_url(request, site.running().config)
    instance = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = {
        "type": f"{base}{api.VERSION}/problems/{name}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **more,
    }
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1) + "\n",
        status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


class Cache:
    """Bodies by (path, query, format), good while the store's generation stays the same."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self.generation = -1
        self.bodies: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()

    def get(self, generation: int, key: tuple) -> tuple[bytes, str] | None:
        if generation != self.generation:
            self.generation = generation
            self.bodies.clear()
            return None
        found = self.bodies.get(key)
        if found is not None:
            self.bodies.move_to_end(key)
        return found

    def put(self, key: tuple, body: tuple[bytes, str]) -> None:
        self.bodies[key] = body
        while len(self.bodies) > self.size:
            self.bodies.popitem(last=False)


def client_has(request: Request, tag: str) -> bool:
    """Whether the request's If-None-Match names this ETag (the client's copy is current)."""
    return tag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}


def wants_csv(request: Request) -> bool:
    return request.url.path.endswith(".csv") or "text/csv" in request.headers.get("accept", "")


def cached(make: Callable[[Request, Config, Store, str], tuple[bytes, str]]):
    """A GET answered from the cache when nothing was stored since, 304 when the client has it;
    else ``make`` reads the store on the store's thread."""

    async def endpoint(request: Request) -> Response:
        site = request.app.state.site
        run = site.running()
        config, store = run.config, run.store
        fmt = "csv" if wants_csv(request) else "json"
        generation = store.generation
        tag = f'"{BOOT}.{generation}.{fmt}.{request.path_params.get("lang", i18n.SOURCE)}"'
        headers = {"ETag": tag, "Cache-Control": "public, max-age=60", "Vary": "Accept", **SECURITY_HEADERS}
        if client_has(request, tag):
            return Response(status_code=304, headers=headers)
        key = (request.url.path, request.url.query, fmt)
        found = site.cache.get(generation, key)
        if found is None:
            try:
                found = await run.in_store(make, request, config, store, fmt)
            except Answer as refused:
                if refused.problem:
                    return problem(request, refused.problem, str(refused), **refused.more)
                return Response(json.dumps(refused.body), refused.status, media_type="application/json")
            site.cache.put(key, found)
        body, media_type = found
        return Response(body, media_type=media_type, headers=headers)

    return endpoint


def path_language(request: Request) -> str:
    """The language a path names (``/uk/…``; the source language where it names none), or "" where
    it names one with no catalogue."""
    lang = request.path_params.get("lang", i18n.SOURCE)
    return lang if lang in i18n.languages() else ""


def i18n_of(request: Request) -> str:
    """The path's language (``path_language``), or a 404 naming the languages there are."""
    lang = path_language(request)
    if not lang:
        raise Answer(404, f"no language {request.path_params['lang']!r}", languages=list(i18n.languages()))
    return lang


def _json(value: Any) -> tuple[bytes, str]:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode(), "application/json"  # a line, for curl


def _csv(header: list[str], rows: list[list[Any]]) -> tuple[bytes, str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(), "text/csv; charset=utf-8; header=present"


def _day(text: str | None, what: str) -> dt.date | None:
    if not text:
        return None
    try:
        return iso_day(text)
    except ValueError:
        raise Answer(
            400, f"{what}: expected a date such as 2025-06-14, got {text[:40]!r}", "bad-parameter", parameter=what
        ) from None


def _order(metric: str) -> tuple[int, str]:
    return (METRICS.index(metric) if metric in METRICS else len(METRICS), metric)


def latest(request: Request, config: Config, store: Store, fmt: str) -> tuple[bytes, str]:
    rows = sorted(store.latest(), key=lambda r: _order(r.metric))
    if fmt == "csv":
        return _csv(
            ["metric", "date", "value", "change", "source"],
            [[r.metric, r.as_of.isoformat(), r.value, "" if r.delta is None else r.delta, r.source] for r in rows],
        )
    newest = max((r.as_of for r in rows), default=None)
    return _json(
        {
            "about": "Russia's losses as reported by the General Staff of the Armed Forces of Ukraine",
            "date": newest and newest.isoformat(),
            "day_of_war": newest and day_of_war(newest),
            "figures": [
                {
                    "metric": r.metric,
                    "name": metric_name(r.metric),
                    "date": r.as_of.isoformat(),
                    "value": r.value,
                    "change": r.delta,
                    "source": r.source,
                }
                for r in rows
            ],
        }
    )


def series(request: Request, config: Config, store: Store, fmt: str) -> tuple[bytes, str]:
    metric = request.path_params["metric"].removesuffix(".csv")
    known = {*METRICS, *config.metrics}
    if metric not in known:
        raise Answer(404, f"no metric named {metric[:40]!r}", "unknown-metric", metrics=sorted(known, key=_order))
    start = _day(request.query_params.get("from"), "from")
    end = _day(request.query_params.get("to"), "to")
    points, before = [], None
    for as_of, value, _source, status, _reported in store.series(metric):
        if status != "accepted":
            continue
        change = None if before is None else value - before
        before = value
        if (start and as_of < start) or (end and as_of > end):
            continue
        points.append((as_of, value, change))
    if fmt == "csv":
        return _csv(["date", "value", "change"], [[d.isoformat(), v, "" if c is None else c] for d, v, c in points])
    return _json(
        {
            "metric": metric,
            "name": metric_name(metric),
            "kind": "daily" if config.per_day(metric) else "total",
            "points": [{"date": d.isoformat(), "value": v, "change": c} for d, v, c in points],
        }
    )


def _since(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise Answer(
            400,
            f"since: expected a date or a time such as 2025-06-14T06:00:00Z, got {text[:40]!r}",
            "bad-parameter",
            parameter="since",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def events(request: Request, config: Config, store: Store, fmt: str) -> tuple[bytes, str]:
    since = _since(request.query_params.get("since"))
    try:
        limit = min(MAX_EVENTS, max(1, int(request.query_params.get("limit", 100))))
    except ValueError:
        text = request.query_params.get("limit", "")
        raise Answer(
            400,
            f"limit: expected a number from 1 to {MAX_EVENTS}, got {text[:40]!r}",
            "bad-parameter",
            parameter="limit",
        ) from None
    found = store.public_events(since, limit)
    if fmt == "csv":
        return _csv(
            ["id", "key", "rule", "metric", "date", "value", "stored_at", "text"],
            [
                [i, e.key, e.rule, e.metric, e.as_of.isoformat(), e.value, at, event_said(e, i18n.SOURCE)]
                for i, at, e in found
            ],
        )
    return _json(
        {
            "events": [
                {
                    "id": i,
                    "key": e.key,
                    "rule": e.rule,
                    "metric": e.metric,
                    "date": e.as_of.isoformat(),
                    "value": e.value,
                    "severity": e.severity,
                    "text": event_said(e, i18n.SOURCE),
                    "link": e.data.get("link"),
                    "stored_at": at,
                    "data": e.data,
                }
                for i, at, e in found
            ]
        }
    )


def base_url(request: Request, config: Config) -> str:
    """The origin of absolute links (the feeds', the page's): ``[web] public_url``, else the address
    the web app listens on. Never the request's Host: anyone can name any host there, and the
    answer is cached for every reader after them."""
    if config.web.public_url:
        return config.web.public_url.rstrip("/")
    from .server import origin

    app = request.scope.get("app")  # None: a request made by hand, outside the web app
    server = app.state.site.server if app is not None else None
    return server.address if server is not None else origin(config.web.host, config.web.port)


def feed(request: Request, config: Config, store: Store, fmt: str) -> tuple[bytes, str]:
    """Atom (RFC 4287): the daily reports and the alerts, newest first, in the feed's language."""
    import xml.etree.ElementTree as ET  # (here: with expat, 0.3 MB an idle daemon need not carry)

    language = i18n_of(request)
    _ = i18n.gettext
    base = base_url(request, config)
    prefix = "" if language == i18n.SOURCE else f"/{language}"
    found = store.public_events(None, FEED_ENTRIES)
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": language})

    def add(parent, tag: str, text: str | None = None, **attrs: str):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    add(root, "title", _(language, "Russia's losses: daily reports and alerts"))
    add(root, "subtitle", credit("genstaff", language))
    add(root, "id", f"{base}{prefix}/feed.atom")
    add(root, "link", rel="self", type="application/atom+xml", href=f"{base}{prefix}/feed.atom")
    add(root, "link", rel="alternate", type="text/html", href=f"{base}{prefix}/")
    add(root, "updated", _atom_time(found[0][1]) if found else "2022-02-24T00:00:00Z")
    add(add(root, "author"), "name", config.service.called(language))  # the service readers know; the software below
    add(root, "generator", "tallywatch")
    for _id, at, event in found:
        entry = add(root, "entry")
        title = _title(event, language)
        add(entry, "title", title)
        add(entry, "id", f"tag:tallywatch,2025:{event.key}")
        add(entry, "updated", _atom_time(at))
        add(entry, "category", term=event.rule)
        link = event.data.get("link")
        if isinstance(link, str) and link.startswith(("https://", "http://")):
            add(entry, "link", rel="alternate", href=link)
        body = report_html(event, language, limit=10_000) if event.rule == "report" else telegram_html(event, language)
        add(entry, "content", body.replace("\n", "<br>\n"), type="html")
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml, "application/atom+xml; charset=utf-8"


def _title(event, language: str) -> str:
    return report_title(event, language) if event.rule == "report" else event_said(event, language)


def _atom_time(stored: str) -> str:
    return dt.datetime.fromisoformat(stored).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metrics(config: Config) -> list[str]:
    return sorted({*METRICS, *config.metrics}, key=_order)


def index(request: Request, config: Config, store: Store, fmt: str) -> tuple[bytes, str]:
    return _json(api.index(config, base_url(request, config), _metrics(config)))


def openapi(request: Request, config: Config, store: Store, fmt: str) -> tuple[bytes, str]:
    return _json(api.description(config, base_url(request, config), _metrics(config)))


def problem_type(request: Request, config: Config, store: Store, fmt: str) -> tuple[bytes, str]:
    name = request.path_params["name"]
    if name not in PROBLEMS:
        raise Answer(404, f"no problem type named {name[:40]!r}", "not-found")
    return _json(api.problem_type(name, base_url(request, config)))


async def refused(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals under /api/ (no route; a method the route does not take) as problem JSON."""
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    path = request.url.path[:100]
    if exc.status_code == 405:
        methods = sorted(m.strip() for m in (exc.headers or {}).get("Allow", "GET, HEAD").split(","))
        detail = f"{request.method[:20]} is not allowed on {path}: it answers {' and '.join(methods)}"
        return problem(request, "method-not-allowed", detail, headers={"Allow": ", ".join(methods)})
    return problem(request, "not-found", f"nothing at {path}: the endpoints are listed at {api.VERSION}/")


def routes() -> list:
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.middleware.exceptions import ExceptionMiddleware
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    endpoints = [
        Route("/", cached(index)),
        Route("/openapi.json", cached(openapi)),
        Route("/problems/{name}", cached(problem_type)),
        Route("/latest", cached(latest)),
        Route("/latest.csv", cached(latest)),
        Route("/series/{metric}", cached(series)),
        Route("/events", cached(events)),
        Route("/events.csv", cached(events)),
    ]
    # CORS outside the errors: a page on another site can read why it was refused
    middleware = [
        Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"], expose_headers=["ETag"]),
        Middleware(ExceptionMiddleware, handlers={HTTPException: refused}),
    ]

    async def to_the_api(request: Request) -> Response:
        return RedirectResponse("/api/v1/", 308)

    return [
        Route("/api", to_the_api),
        Route("/api/", to_the_api),
        Route("/api/v1", to_the_api),
        Mount("/api/v1", routes=endpoints, middleware=middleware),
        Mount("/api", routes=[], middleware=middleware),  # another version, or none: not-found
        Route("/feed.atom", cached(feed)),
        Route("/{lang}/feed.atom", cached(feed)),
    ]
