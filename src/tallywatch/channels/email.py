"""Email: one mail per instant alert (milestones by default) and daily / weekly digests.

Each mail says whose figures they are (and links the original, for an alert), opens with a
preview line for the inbox (a hidden preheader), and describes every picture in its alt text: a
daily digest carries the day's card (the figures on one image, as in Telegram) and the chart.

Messages are built with ``email.message.EmailMessage`` and the default policy, which refuses a
CR or LF in any header: nothing a feed or a user wrote can add a header. Every mail is plain
text plus HTML (inline styles, no external images or scripts) with the chart inline as a PNG
(Content-ID), a ``List-Unsubscribe`` header with one-click ``List-Unsubscribe-Post`` (RFC 8058)
and a visible unsubscribe line. SMTP runs off the event loop; certificates are always verified
with a default SSL context (plus ``ca_file`` for a private relay).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import secrets
from ..detect.report import day_of_war
from ..detect.wording import figures_said
from ..format import format_date, format_delta, format_number
from ..i18n import N_, capitalized, gettext, ngettext
from ..models import Event
from . import ChannelLimits, Context, Gone, Recipient, Rejected, Retry
from .render import alert_text, credit, event_said, metric_name, source_line

if TYPE_CHECKING:
    from email.message import EmailMessage

    from ..config import Email as EmailSettings
    from ..store import Store

log = logging.getLogger("tallywatch.email")

LIMITS = ChannelLimits(per_second=5, max_attempts=20, concurrency=1)


def email_address(text: str) -> str:
    """A bare address (no display name), normalised; ValueError naming what is wrong (the command
    line's and the subscribe form's check)."""
    from email_validator import EmailNotValidError, validate_email

    if any(c in text for c in '\r\n<>",;'):
        raise ValueError(f"{text!r} is not a bare email address (no line breaks, names, <>, quotes or lists)")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{text!r} is not a valid email address: {exc}") from None


@functools.lru_cache(maxsize=4096)
def mailbox(address: str) -> str:
    """The mailbox an address reaches, as the key a limit counts under: the local part case-folded
    and without its ``+tag`` (subaddressing, RFC 5233), the domain in its IDNA ASCII form (as
    email-validator gives it: IDNA 2008, UTS #46). "Reader+x@Bücher.Example" and
    "reader@xn--bcher-kva.example" are one mailbox. Only for counting: a mail still goes to the
    address as written. A local part that is nothing but a tag keeps it. ValueError as
    ``email_address``."""
    from email_validator import EmailNotValidError, validate_email

    try:
        found = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{address!r} is not a valid email address: {exc}") from None
    local = found.local_part.casefold()
    local = local.partition("+")[0] or local
    return f"{local}@{found.ascii_domain.lower()}"


def _unsubscribe(settings: EmailSettings, token: str | None, language: str = "en") -> tuple[str | None, str]:
    """(List-Unsubscribe header value or None, the visible line, in the reader's language). No
    token: a mail to someone not subscribed (a confirmation), which says what ignoring it does."""
    _ = functools.partial(gettext, language)
    if token is None:
        return None, _("If you did not ask for this, ignore this mail: nothing more will be sent to you.")
    targets = []
    link = settings.unsubscribe_link(token)
    if link:
        targets.append(f"<{link}>")
    if settings.unsubscribe_mailto:
        targets.append(f"<mailto:{settings.unsubscribe_mailto}?subject=unsubscribe%20{token}>")
    # (a link there is: mail to subscribers without one is a config error, config.Config._unsubscribe_works)
    line = ""
    if link:
        line = _("Unsubscribe: {url}").format(url=link)
    elif settings.unsubscribe_mailto:
        line = _("Unsubscribe: write to {address} with the subject 'unsubscribe {token}'").format(
            address=settings.unsubscribe_mailto, token=token
        )
    return (", ".join(targets) or None), line


def _html_page(title: str, body: str, footer: str, preheader: str = "") -> str:
    """The mail's HTML: one column for a phone, inline styles; ``preheader``: the line a mail app
    shows beside the subject in the inbox (hidden in the mail itself)."""
    hidden = (
        "<div style='display:none;max-height:0;overflow:hidden;mso-hide:all;font-size:1px;color:#f4f5f7'>"
        f"{html.escape(preheader)}</div>"
        if preheader
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'></head>"
        "<body style='margin:0;padding:16px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1d2733'>"
        f"{hidden}"
        "<div style='max-width:640px;margin:0 auto;background:#ffffff;border-radius:8px;padding:20px'>"
        f"<h1 style='font-size:20px;margin:0 0 12px'>{title}</h1>{body}"
        f"<p style='font-size:12px;color:#6b7785;margin-top:24px;overflow-wrap:anywhere'>{footer}</p>"
        "</div></body></html>"
    )


@dataclass(frozen=True)
class Picture:
    """An image shown in the mail: its PNG, the alt text that states what it shows, its file name."""

    png: bytes
    alt: str
    name: str


@dataclass(frozen=True)
class Mail:
    """What a mail says: its subject, its plain text, its HTML body and pictures, and the preheader
    (the line a mail program shows after the subject)."""

    subject: str
    text: str
    html_body: str
    pictures: Sequence[Picture] = ()
    preheader: str = ""


def build_message(
    settings: EmailSettings, to: str, token: str | None, mail: Mail, language: str = "en"
) -> EmailMessage:
    """A multipart/alternative mail (text, then HTML with its pictures related by Content-ID)."""
    subject, text, html_body, pictures, preheader = (
        mail.subject,
        mail.text,
        mail.html_body,
        mail.pictures,
        mail.preheader,
    )
    # the email package is imported when a mail is built, not by an idle daemon
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.policy import default
    from email.utils import format_datetime, make_msgid

    header, line = _unsubscribe(settings, token, language)
    # headers folded only past SMTP's 998-character line: Python's folding at 78 drops or moves the
    # space where it splits a non-ASCII header ("щоденні дані" arrived as "щоденнідані"); the
    # body's encoding still keeps its lines short
    message = EmailMessage(policy=default.clone(max_line_length=998))
    message["From"] = Address(display_name=settings.sender(language), addr_spec=settings.from_addr)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = make_msgid(domain=settings.from_addr.partition("@")[2] or None)
    if header:
        message["List-Unsubscribe"] = header
        if token is not None and settings.unsubscribe_link(token):  # RFC 8058: a POST there unsubscribes
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(f"{text}\n\n--\n{line}\n")
    cids = [make_msgid(domain="tallywatch.local") for _ in pictures]
    images = "".join(
        f"<p><img src='cid:{cid[1:-1]}' alt='{html.escape(picture.alt, quote=True)}' width='600' "
        "style='max-width:100%;height:auto;display:block'></p>"
        for cid, picture in zip(cids, pictures, strict=True)
    )
    page = _html_page(html.escape(subject), images + html_body, html.escape(line), preheader)
    message.add_alternative(page, subtype="html")
    for cid, picture in zip(cids, pictures, strict=True):
        message.get_payload()[1].add_related(picture.png, "image", "png", cid=cid, filename=picture.name)
    return message


def instant(
    event: Event, settings: EmailSettings, to: str, token: str, chart: bytes | None, language: str = "en"
) -> EmailMessage:
    """One alert: the sentence, whose figures they are and the link to the original, its chart."""
    sentence = event_said(event, language)
    when = format_date(event.as_of, language)
    source = source_line(event, language)  # HTML: the publisher in the reader's language, the link
    plain_source = html.unescape(re.sub(r"<[^>]+>", "", source))
    link = event.data.get("link") or ""
    text = f"{when}  {sentence}" + (f"\n\n{plain_source}" + (f"\n{link}" if link else "") if source else "")
    body = f"<p style='font-size:16px'><b>{when}</b><br>{html.escape(sentence)}</p>"
    if source:
        body += f"<p style='font-size:13px;color:#4b5866'>{source}</p>"
    pictures = [Picture(chart, _chart_alt(event.metric, sentence, language), "chart.png")] if chart else []
    subject = f"{settings.service.called(language)}: {sentence}"
    return build_message(settings, to, token, Mail(subject, text, body, pictures, sentence), language)


def confirmation(
    settings: EmailSettings, to: str, link: str, choice: str, hours: int, language: str = "en"
) -> EmailMessage:
    """The double opt-in mail: what was asked for, of which service, and the button that confirms it
    (the link itself in the plain text; nothing else is ever sent to an address that does not follow it)."""
    _ = functools.partial(gettext, language)
    name = settings.service.called(language)
    subject = _("Confirm your subscription to {name}").format(name=name)
    asked = _("Someone, hopefully you, asked to receive {choice} from {name} at this address.").format(
        choice=choice, name=name
    )
    follow = ngettext(
        language,
        "To confirm, open this link (it expires in {n} hour):",
        "To confirm, open this link (it expires in {n} hours):",
        hours,
    ).format(n=hours)
    press = ngettext(
        language,
        "To confirm, press the button (it works for {n} hour):",
        "To confirm, press the button (it works for {n} hours):",
        hours,
    ).format(n=hours)
    text = f"{asked}\n\n{follow}\n{link}"
    body = (
        f"<p style='font-size:16px'>{html.escape(asked)}</p><p style='font-size:16px'>{html.escape(press)}</p>"
        f"<p style='margin:20px 0'>{_button(link, _('Confirm my subscription'))}</p>"
    )
    return build_message(settings, to, None, Mail(subject, text, body, preheader=asked), language)


def _button(link: str, words: str) -> str:
    """A link that looks like a button (a styled ``<a>``: mail apps show no forms or scripts)."""
    return (
        f"<a href='{html.escape(link, quote=True)}' style='display:inline-block;padding:12px 24px;"
        "background:#0057b7;color:#ffffff;border-radius:6px;font-size:16px;font-weight:bold;"
        f"text-decoration:none'>{html.escape(words)}</a>"
    )


def _chart_alt(metric: str, summary: str, language: str) -> str:
    """What a chart shows, in words, for whoever can't see it (the alert it goes with, if any)."""
    name = metric_name(metric, language)
    alt = gettext(language, "Chart of {name} over the last 90 days").format(name=name)
    return f"{alt}: {summary}" if summary else alt


def digest_subject(data: dict[str, Any], name: str, language: str = "en") -> str:
    """``Russian losses — daily figures: daily digest, 14 Jun 2025 — personnel 1,002,690 (+1,130)``
    (``name``: the service's)."""
    end = dt.date.fromisoformat(data["as_of"])
    lead = next(
        (m for m in data["metrics"] if m["metric"] == "personnel"), data["metrics"][0] if data["metrics"] else None
    )
    headline = ""
    if lead:
        change = f" ({format_delta(lead['change'], language)})" if lead["change"] is not None else ""
        headline = f" — {metric_name(lead['metric'], language)} {format_number(lead['value'], language)}{change}"
    kind = gettext(language, DIGEST_KINDS[data["kind"]])
    return f"{name}: {kind}, {format_date(end, language)}{headline}"


def figures_line(metrics: list[dict[str, Any]], language: str = "en", limit: int | None = None) -> str:
    """``personnel 1,001,560 (+1,220) · tanks 10,934 (+1) · …``: a preheader, an alt text."""
    return " · ".join(figures_said(((m["metric"], m["value"], m.get("change")) for m in metrics[:limit]), language))


def card_of(event: Event) -> Event | None:
    """A daily digest's figures as a daily report's card (the weekly one's changes are a week's: no card)."""
    data = event.data
    if data.get("kind") != "daily" or not data.get("metrics"):
        return None
    day = dt.date.fromisoformat(data["as_of"])
    figures = [{"metric": m["metric"], "value": m["value"], "delta": m["change"]} for m in data["metrics"]]
    card = {"figures": figures, "day_of_war": day_of_war(day), "publisher": data.get("publisher") or "genstaff"}
    return Event(
        key=f"{event.key}:card", rule="report", metric="", as_of=day, value=0, message="", severity="info", data=card
    )


DIGEST_KINDS = {"daily": N_("daily digest"), "weekly": N_("weekly digest")}
# a daily digest that went at `daily_at` before the day's report came: it says so, first
AWAITED = N_("The report for {day} has not come yet: these are the latest figures, of {latest}.")
DIGEST_WORDS = {  # msgids
    "daily": (N_("Figures of {day}, change over the day:"), N_("Alerts of the day:")),
    "weekly": (N_("Figures of {day}, change over the week:"), N_("Alerts of the week:")),
}


@dataclass(frozen=True)
class Drawn:
    """A digest's pictures, drawn before it is built: the chart, and the day's card (None: not drawn)."""

    chart: bytes | None
    card: bytes | None = None


def digest(
    event: Event, settings: EmailSettings, to: str, token: str, drawn: Drawn, language: str = "en"
) -> EmailMessage:
    """Every category's latest figure and its change over the day or week, who counts them, the
    period's alerts (worded for the reader, as in Telegram), the day's card and the chart."""
    chart, card = drawn.chart, drawn.card
    data = event.data
    heading, alerts_heading = (gettext(language, text) for text in DIGEST_WORDS[data["kind"]])
    day = dt.date.fromisoformat(data["as_of"])
    when = format_date(day, language)
    rows = [
        (
            capitalized(metric_name(m["metric"], language)),
            format_number(m["value"], language),
            "" if m["change"] is None else format_delta(m["change"], language),
        )
        for m in data["metrics"]
    ]
    width = (max((len(r[0]) for r in rows), default=6), max((len(r[1]) for r in rows), default=5))
    said = credit(data.get("publisher") or "genstaff", language)
    alerts = [(format_date(dt.date.fromisoformat(e["as_of"]), language), _alert(e, language)) for e in data["events"]]
    awaited = ""
    if data.get("awaited"):
        awaited = gettext(language, AWAITED).format(
            day=format_date(dt.date.fromisoformat(data["awaited"]), language), latest=format_date(day, language)
        )
    text_lines = [awaited, ""] if awaited else []
    text_lines += [heading.format(day=when), ""]
    text_lines += [f"{n.ljust(width[0])}  {v.rjust(width[1])}  {c}" for n, v, c in rows]
    text_lines += ["", said]
    if alerts:
        text_lines += ["", alerts_heading] + [f"{d}  {sentence}" for d, sentence in alerts]
    cells = "".join(
        f"<tr><td style='padding:3px 12px 3px 0'>{html.escape(n)}</td>"
        f"<td style='padding:3px 12px;text-align:right;font-variant-numeric:tabular-nums'>{v}</td>"
        f"<td style='padding:3px 0;text-align:right;color:#1f5fa8'>{c}</td></tr>"
        for n, v, c in rows
    )
    body = (
        (f"<p style='font-size:16px'><b>{html.escape(awaited)}</b></p>" if awaited else "")
        + f"<p>{html.escape(heading).format(day=f'<b>{when}</b>')}</p>"
        f"<table style='border-collapse:collapse;font-size:15px'>{cells}</table>"
        f"<p style='font-size:13px;color:#4b5866'>{html.escape(said)}</p>"
    )
    if alerts:
        items = "".join(f"<li><b>{d}</b> {html.escape(sentence)}</li>" for d, sentence in alerts)
        body += (
            f"<p style='margin-top:18px'>{html.escape(alerts_heading)}</p><ul style='padding-left:18px'>{items}</ul>"
        )
    pictures = []
    if card:
        alt = gettext(language, "Russia's losses on {day}").format(day=format_date(day, language))
        pictures.append(Picture(card, f"{alt}: {figures_line(data['metrics'], language)}", "losses.png"))
    if chart and data.get("chart_metric"):
        pictures.append(Picture(chart, _chart_alt(data["chart_metric"], "", language), "chart.png"))
    preheader = " ".join(filter(None, [awaited, figures_line(data["metrics"], language, limit=3)]))
    subject = digest_subject(data, settings.service.called(language), language)
    return build_message(settings, to, token, Mail(subject, "\n".join(text_lines), body, pictures, preheader), language)


def _alert(stored: dict[str, Any], language: str) -> str:
    """One of the period's alerts in the reader's words (as stored by an older version: its message)."""
    if "data" not in stored:
        return stored["message"]
    day = dt.date.fromisoformat(stored["as_of"])
    return alert_text(stored, day, language)


def smtp_send(settings: EmailSettings, message: EmailMessage) -> None:
    """Deliver one message (blocking: run it in a thread). Raises the outbox's Retry / Gone / Rejected."""
    import smtplib
    import ssl

    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    try:
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.user:
                smtp.login(settings.user, secrets.secret("smtp_password") or "")
            # headers folded only past SMTP's 998 characters: folding at 78, Python's email package
            # can leave two spaces in a subject where it breaks before a non-ASCII word ("1,030,580  → …")
            message.policy = message.policy.clone(max_line_length=998)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        reason = f"SMTP {code} {reply.decode(errors='replace')}"
        raise (Gone(reason) if code >= 500 else Retry(reason)) from None
    except smtplib.SMTPDataError as exc:
        reason = f"SMTP {exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
        raise (Rejected(reason) if exc.smtp_code >= 500 else Retry(reason)) from None
    except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, TLS, authentication
        raise Retry(f"SMTP {settings.host}:{settings.port}: {type(exc).__name__}: {exc}") from None


class EmailChannel:
    kind = "email"
    limits = LIMITS

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._context: Context | None = None

    def bind(self, context: Context) -> None:
        self._context = context

    def is_group(self, recipient: str) -> bool:
        return False

    def quiet_until(self, recipient: str, event: Event, store: Store) -> None:
        return None  # (no quiet hours here)

    def recipients(self, event: Event, store: Store) -> list[Recipient]:
        subs = store.subscribers(self.kind)
        if event.rule == "digest":
            return [Recipient(s["address"]) for s in subs if s["digest"] == event.data["kind"]]
        if event.rule in self.settings.instant_rules:
            return [Recipient(s["address"]) for s in subs if s["instant"]]
        return []

    async def send(self, event: Event, recipient: str, language: str = "en", reply=None, steps=None) -> None:
        context = self._context
        if context is None:
            raise Retry("email channel not bound to the running daemon")
        sub = await context.in_store(context.store.subscriber, self.kind, recipient)
        if sub is None or not sub["active"]:
            raise Gone("no longer subscribed")
        language = sub.get("language") or "en"
        chart = await self.prepare(event, language)
        token = sub["token"] or ""
        if event.rule == "digest":
            daily = card_of(event)
            card = await context.card(daily, language) if daily is not None else None
            message = digest(event, self.settings, recipient, token, Drawn(chart, card), language)
        else:
            message = instant(event, self.settings, recipient, token, chart, language)
        await asyncio.to_thread(smtp_send, self.settings, message)

    async def prepare(self, event: Event, language: str = "en") -> bytes | None:
        """The event's chart, drawn once for all its recipients (the outbox calls this before sending)."""
        metric = event.data.get("chart_metric") if event.rule == "digest" else event.metric
        if not metric or self._context is None:
            return None
        return await self._context.chart(metric, language, once=event.key)
