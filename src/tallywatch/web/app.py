"""The web app's routes.

Email self-service, as the big mail providers require of a sender:

- ``/subscribe`` (``/uk/subscribe``…): a form (address; daily or weekly digest; instant
  milestones). A post is checked against a CSRF token signed with this installation's key and
  bound to a cookie; it answers the same whether or not the address is subscribed already, and
  sends a confirmation mail with a link that expires. Nothing else is ever sent to an address that
  did not follow it.
- ``/confirm?t=…``: a page with a button (a mail scanner that opens links confirms nothing); its
  POST subscribes.
- ``/unsubscribe?t=…``: a page with a button; a POST there unsubscribes at once (RFC 8058 one-click:
  the mails' ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` headers point here).

Tokens are 256 random bits, found by their hash and compared in constant time (``store``).

The form can't be used to mail-bomb anyone, nor to spend everyone's mails:

- a client (an IPv4 address; an IPv6 /64, which one host or home is given, so changing the low
  bits makes no new client) posts at most ``signups_per_client`` times in 10 minutes (then 429);
- one mailbox (``channels.email.mailbox``: case, a +tag and the domain's IDNA form folded) gets
  at most ``signups_per_address`` confirmation mails a day (silently: the answer says nothing of
  who asked before);
- all together get at most ``signups_per_hour`` mails an hour, and one client at most its share
  of those (``signups_share``, a tenth: 6 of 60; then 429 with Retry-After). Only a mail sent
  counts against the share, so a post the mailbox's limit held costs the client nothing. It takes
  ten clients, not two, to use up the hour, and those are told apart from the many readers who
  sign up once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from .. import health, i18n
from ..channels import Gone, Rejected, Retry
from ..channels.email import confirmation, email_address, mailbox, smtp_send
from ..extract.genstaff import METRICS
from ..secrets import mask_address
from . import data, static
from .data import SECURITY_HEADERS, Cache, path_language
from .page import routes as page_routes

if TYPE_CHECKING:
    from ..charts import Charts
    from ..config import Config
    from ..running import Running

log = logging.getLogger("tallywatch.web")

FORM_COOKIE = "tallywatch_form"
FORM_MAX_AGE = 2 * 3600  # a subscribe form is good for two hours after it was shown
MAX_FORM_BYTES = 4096  # an address, two choices and a token: anything longer is not our form
CLIENT_WINDOW = 600.0  # seconds over which [web] signups_per_client counts
SHARE_WINDOW = 3600.0  # seconds over which a client's share of [web] signups_per_hour counts


class Site:
    """What the routes need of the running daemon: the session (a reload swaps it), the rate
    limits, the answers cached, and the way to send a mail."""

    def __init__(self, running: Callable[[], Running], config: Config) -> None:
        from ..ratelimit import SlidingWindow

        self.running = running
        self._signing: Any = None
        self.server: Any = None  # the WebServer: its .snapshot is the heartbeat's
        self.per_client = SlidingWindow(config.web.signups_per_client, CLIENT_WINDOW)
        self.client_share = SlidingWindow(config.web.signups_per_client_hour, SHARE_WINDOW)
        self.send_mail = smtp_send  # blocking; run on a thread
        self.cache = Cache()  # the page's, the feeds' and the API's answers, while nothing new is stored
        self._charts: tuple[Any, Charts] | None = None

    @staticmethod
    def render(request: Request, template: str, language: str, **values: Any) -> str:
        return render(request, template, language, **values)

    @staticmethod
    def offers_signup(config: Config) -> bool:
        return _offered(config)

    def charts(self, run: Running) -> Charts:
        """The page's charts, drawn once per report version (kept apart from the alerts' charts)."""
        if self._charts is None or self._charts[0] is not run.store:
            from ..charts import Charts

            self._charts = (run.store, Charts(run.in_store, run.store, run.drawer, kept=2 * len(METRICS) + 4))
        return self._charts[1]

    @functools.cached_property
    def templates(self):
        import jinja2

        folder = resources.files("tallywatch") / "web" / "templates"
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            autoescape=True,  # everything a visitor typed is escaped
            trim_blocks=True,
            lstrip_blocks=True,
        )

    async def signing(self):
        """The subscribe form's signer, with this installation's key (made once, kept in the store)."""
        if self._signing is None:
            from itsdangerous import URLSafeTimedSerializer

            run = self.running()
            key = await run.in_store(run.store.key, "web", lambda: secrets.token_hex(32))
            self._signing = URLSafeTimedSerializer(key, salt="tallywatch subscribe form")
        return self._signing


def _prefix(language: str) -> str:
    return "" if language == i18n.SOURCE else f"/{language}"


def render(request: Request, template: str, language: str, **values: Any) -> str:
    """A template in ``language``: ``_`` is its gettext; the language links keep the page's path."""
    site: Site = request.app.state.site
    path = request.url.path
    if path.startswith(f"/{language}/"):
        path = path[len(language) + 1 :]
    if request.url.query:
        path += f"?{request.url.query}"
    return site.templates.get_template(template).render(
        _=functools.partial(i18n.gettext, language),
        service=site.running().config.service.called(language),  # in every title, the header and the foot
        lang=language,
        prefix=_prefix(language),
        languages=i18n.languages(),
        native=i18n.native_name,
        path=path,
        **values,
    )


def page(
    request: Request, template: str, language: str, status: int = 200, headers: dict | None = None, **values: Any
) -> HTMLResponse:
    body = render(request, template, language, **values)
    return HTMLResponse(body, status, headers={**SECURITY_HEADERS, **(headers or {})})


def _message(request: Request, language: str, title: str, lines: list[str], status: int = 200, **kw) -> HTMLResponse:
    return page(request, "message.html", language, status, title=title, lines=lines, **kw)


async def healthz(request: Request) -> Response:
    code, body = health.healthz(request.app.state.site.server.snapshot)
    return PlainTextResponse(body, code)


async def metrics(request: Request) -> Response:
    return Response(health.metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")


# -- unsubscribe ------------------------------------------------------------------------------------


async def unsubscribe(request: Request) -> Response:
    """GET: a page with a button. POST: unsubscribed at once (RFC 8058 one-click), no cookie or form
    token needed: the link's token is the proof."""
    site: Site = request.app.state.site
    run = site.running()
    token = request.query_params.get("t", "")
    sub = await run.in_store(run.store.subscriber_by_token, token) if 0 < len(token) <= 200 else None
    asked = "lang" in request.path_params and path_language(request)  # /uk/unsubscribe: the page in that language
    language = asked or (sub or {}).get("language") or i18n.SOURCE
    _ = functools.partial(i18n.gettext, language)
    if sub is None or sub["channel"] != "email":
        return _message(
            request,
            language,
            _("This unsubscribe link is not valid"),
            [_("It may have been copied incompletely. Use the link in the latest mail you received.")],
            404,
        )
    who = mask_address(sub["address"])
    name = run.config.service.called(language)
    if request.method == "POST":
        if sub["active"]:
            await run.in_store(run.store.deactivate, "email", sub["address"], "unsubscribed by link")
            log.info("email subscriber %s unsubscribed by link", who)
        return _message(
            request,
            language,
            _("You are unsubscribed"),
            [_("No more mails from {name} will be sent to {address}.").format(name=name, address=who)],
        )
    if not sub["active"]:
        return _message(
            request,
            language,
            _("You are unsubscribed"),
            [_("{address} gets no mails from {name}.").format(name=name, address=who)],
        )
    return _message(
        request,
        language,
        _("Unsubscribe?"),
        [_("Stop all mails from {name} to {address}?").format(name=name, address=who)],
        button=_("Unsubscribe"),
        action=f"{_prefix(language) if asked else ''}/unsubscribe?t={token}",
    )


# -- subscribe ----------------------------------------------------------------------------------------


def _offered(config: Config) -> bool:
    return config.web.signup and config.email.enabled and bool(config.web.public_url)


def _not_offered(request: Request, language: str) -> Response:
    _ = functools.partial(i18n.gettext, language)
    return _message(request, language, _("Not offered here"), [_("Subscribing by email is not offered here.")], 404)


def _choices(language: str, digest: str | None, instant: bool) -> str:
    _ = functools.partial(i18n.gettext, language)
    named = {"daily": _("the daily digest"), "weekly": _("the weekly digest")}
    parts = [named[digest]] if digest else []
    if instant:
        parts.append(_("a mail for each milestone"))
    return _(" and ").join(parts)


async def _form(
    request: Request, language: str, status: int = 200, error: str = "", values: dict | None = None
) -> Response:
    site: Site = request.app.state.site
    nonce = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(16)
    if len(nonce) > 64:
        nonce = secrets.token_urlsafe(16)
    response = page(
        request,
        "subscribe.html",
        language,
        status,
        csrf=(await site.signing()).dumps(nonce),
        error=error,
        values=values or {"digest": "daily"},
    )
    secure = (site.running().config.web.public_url or "").startswith("https://")
    response.set_cookie(FORM_COOKIE, nonce, max_age=FORM_MAX_AGE, httponly=True, samesite="strict", secure=secure)
    return response


def _same_site(request: Request, config: Config) -> bool:
    """A browser's Origin (when it sends one) is this site: the public address or the one asked."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    allowed = {f"{request.url.scheme}://{request.url.netloc}"}
    if config.web.public_url:
        public = urlsplit(config.web.public_url)
        allowed.add(f"{public.scheme}://{public.netloc}")
    return origin in allowed


async def _genuine(request: Request, site: Site, token: str) -> bool:
    """The form's token was signed here within FORM_MAX_AGE for this browser's cookie."""
    from itsdangerous import BadSignature

    cookie = request.cookies.get(FORM_COOKIE, "")
    try:
        nonce = (await site.signing()).loads(token, max_age=FORM_MAX_AGE)
    except BadSignature:
        return False
    return bool(cookie) and isinstance(nonce, str) and hmac.compare_digest(nonce.encode(), cookie.encode())


def client_of(request: Request) -> str:
    """The client, as the limits count them: the peer's address (the proxy's X-Forwarded-For when
    the proxy is on this machine); an IPv6 address as its /64, the least a host or a home is given."""
    host = request.client.host if request.client else "?"
    try:
        ip = ipaddress.ip_address(host)
        if ip.version == 4:
            return str(ip)
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    except ValueError:  # not an address (a test client, a Unix socket): itself
        return host


def _too_many(request: Request, language: str, window: Any, client: str) -> Response:
    """429, with when to try again (whole minutes)."""
    _ = functools.partial(i18n.gettext, language)
    wait = max(1, round(window.retry_after(client) / 60))
    return _message(
        request,
        language,
        _("Too many requests"),
        [
            i18n.ngettext(language, "Please try again in {n} minute.", "Please try again in {n} minutes.", wait).format(
                n=wait
            )
        ],
        429,
        headers={"Retry-After": str(wait * 60)},
    )


async def subscribe(request: Request) -> Response:
    site: Site = request.app.state.site
    run = site.running()
    language = path_language(request)
    if not language:
        return PlainTextResponse("not found\n", 404)
    if not _offered(run.config):
        return _not_offered(request, language)
    if request.method == "GET":
        return await _form(request, language)
    client = client_of(request)
    chosen = await _posted(request, site, run.config, language, client)
    if isinstance(chosen, Response):
        return chosen
    return await _sign_up(request, site, run, language, client, chosen)


async def _posted(
    request: Request, site: Site, config: Config, language: str, client: str
) -> tuple[str, str, bool] | Response:
    """The posted choice — (address, digest, instant) — or the page that refuses it: a client over
    its limit, a form too long, without a valid token, or filled in wrong."""
    _ = functools.partial(i18n.gettext, language)
    if not site.per_client.allow(client):
        log.info("subscribe form: client %s over its limit", client)
        return _too_many(request, language, site.per_client, client)
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return _message(request, language, _("Not sent"), [_("The form was too long.")], 413)
    form = await request.form(max_files=0, max_fields=8)
    if not _same_site(request, config) or not await _genuine(request, site, str(form.get("csrf", ""))):
        log.info("subscribe form: refused a post without a valid form token (client %s)", client)
        return await _form(
            request, language, 403, _("This form has expired or did not come from this site. Please send it again.")
        )
    text = str(form.get("address", ""))[:320]
    digest = str(form.get("digest", ""))
    instant = form.get("instant") == "1"
    values = {"address": text, "digest": digest, "instant": instant}
    try:
        address = email_address(text.strip())
    except ValueError:
        return await _form(request, language, 400, _("That is not an email address we can send to."), values)
    if digest not in ("daily", "weekly", ""):
        return await _form(request, language, 400, _("Choose a daily or a weekly digest, or none."), values)
    if not digest and not instant:
        return await _form(request, language, 400, _("Choose a digest, milestone mails, or both."), values)
    return address, digest, instant


async def _sign_up(
    request: Request, site: Site, run: Running, language: str, client: str, chosen: tuple[str, str, bool]
) -> Response:
    """The confirmation mail for a choice the form accepted, within the client's share of the hour."""
    _ = functools.partial(i18n.gettext, language)
    address, digest, instant = chosen
    if not site.client_share.allow(client):  # counted now, so posts arriving together can't all pass
        log.warning(
            "subscribe form: client %s had its %d confirmation mails this hour; none sent",
            client,
            site.client_share.limit,
        )
        return _too_many(request, language, site.client_share, client)
    outcome = await _confirm_by_mail(site, run, address, digest or None, instant, language)
    if outcome != "sent":
        site.client_share.give_back(client)  # no mail: none of the client's share spent
    if outcome == "failed":
        return _message(
            request, language, _("Not sent"), [_("The mail could not be sent just now. Please try again later.")], 503
        )
    return _message(
        request,
        language,
        _("Check your inbox"),
        [
            _("If {address} can receive mail, a link to confirm is on its way.").format(address=address),
            _("Nothing will be sent to this address until the link is followed."),
        ],
    )


async def _confirm_by_mail(
    site: Site, run: Running, address: str, digest: str | None, instant: bool, language: str
) -> str:
    """The confirmation mail ("sent"), unless this mailbox had enough of them today or everyone
    this hour ("held": nothing is sent, and the visitor is told the same as always); "failed": the
    mail server failed."""
    config = run.config
    token = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=config.web.confirm_within)
    limits = (config.web.signups_per_address, config.web.signups_per_hour)
    stopped = await run.in_store(
        run.store.add_signup, address, token, digest, instant, language, expires, limits, mailbox
    )
    if stopped == "address":
        log.info(
            "subscribe form: the mailbox of %s had %d confirmation mails today; none sent",
            mask_address(address),
            limits[0],
        )
        return "held"
    if stopped == "hour":
        log.warning("subscribe form: %d confirmation mails in the last hour; none sent", limits[1])
        return "held"
    link = config.web.link(f"{_prefix(language)}/confirm?t={token}")
    hours = round(config.web.confirm_within / 3600)
    message = confirmation(config.email, address, link, _choices(language, digest, instant), hours, language)
    try:
        await asyncio.to_thread(site.send_mail, config.email, message)
    except (Retry, Gone, Rejected) as exc:
        await run.in_store(run.store.drop_signup, token)
        log.error("subscribe form: the confirmation mail to %s was not sent: %s", mask_address(address), exc)
        return "failed"
    return "sent"


async def confirm(request: Request) -> Response:
    """GET: what is being confirmed, and a button. POST: subscribed."""
    site: Site = request.app.state.site
    run = site.running()
    language = path_language(request) or i18n.SOURCE
    _ = functools.partial(i18n.gettext, language)
    token = request.query_params.get("t", "")
    found = await run.in_store(run.store.signup, token) if 0 < len(token) <= 200 else None
    if found is None:
        return _message(
            request,
            language,
            _("This link has expired"),
            [_("Confirmation links work for a limited time. Please subscribe again.")],
            404,
            link=f"{_prefix(language)}/subscribe",
            link_text=_("Subscribe"),
        )
    choice = _choices(language, found["digest"], bool(found["instant"]))
    if request.method == "POST":
        sub = await run.in_store(run.store.confirm_signup, token, secrets.token_urlsafe(32))
        log.info("email subscriber %s confirmed: %s", mask_address(found["address"]), choice)
        return _message(
            request,
            language,
            _("You are subscribed"),
            [_("{address} will receive {choice}.").format(address=sub["address"], choice=choice)],
        )
    return _message(
        request,
        language,
        _("Confirm your subscription"),
        [_("Send {choice} to {address}?").format(choice=choice, address=found["address"])],
        button=_("Confirm"),
        action=f"{_prefix(language)}/confirm?t={token}",
    )


def build(site: Site) -> Starlette:
    routes = [
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/unsubscribe", unsubscribe, methods=["GET", "POST"]),
        Route("/{lang}/unsubscribe", unsubscribe, methods=["GET", "POST"]),
        Route("/subscribe", subscribe, methods=["GET", "POST"]),
        Route("/{lang}/subscribe", subscribe, methods=["GET", "POST"]),
        Route("/confirm", confirm, methods=["GET", "POST"]),
        Route("/{lang}/confirm", confirm, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=[*routes, *static.routes(), *data.routes(), *page_routes()], middleware=static.middleware())
    app.state.site = site
    return app
