"""TOML → validated, typed settings.

Where the config comes from: ``--config PATH``, else ``$TALLYWATCH_CONFIG``, else
``./config/tallywatch.toml`` if it exists, else the embedded defaults (``default.toml`` in the
package: the real public sources, SQLite in the user's state folder, console output).

An unknown key, a wrong type or a missing value is a ``ConfigError`` whose text names the file,
the key and what was expected, one line per problem. Secrets never live here (see ``secrets``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import logging
import os
import re
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Self, Union, get_args, get_origin
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta, field

from .extract import EXTRACTORS
from .extract.dates import dated_url
from .extract.genstaff import METRICS
from .i18n import N_
from .models import ADMIN_ONLY, RULES

log = logging.getLogger("tallywatch.config")

DEFAULT_PATH = Path("config/tallywatch.toml")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The config is unusable; ``str(err)`` is one line per problem, ready to print."""


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


# what a pattern-checked value should look like, in words (an error never shows the regular expression)
_PATTERN_HINTS: dict[str, str] = {}


def _secret_elsewhere(what: str, name: str) -> str:
    """Why a secret written into the config file is refused, and where it belongs instead."""
    return (
        f"{what} is never read from the config file: set TALLYWATCH_{name.upper()}, or "
        f"{name} in $CREDENTIALS_DIRECTORY or the $TALLYWATCH_CREDENTIALS file"
    )


def _hinted(pattern: str, hint: str) -> Meta:
    _PATTERN_HINTS[pattern] = hint
    return Meta(pattern=pattern)


class Duration(float):
    """Seconds; written in the file as 90, "30s", "15m", "1h" or "1d"."""


def _seconds(value: Any) -> float:
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
        if not m:
            raise ValueError("expected a duration such as 90, 30s, 15m, 1h or 1d")
        return float(m[1]) * _UNITS[m[2] or "s"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a duration such as 90, 30s, 15m, 1h or 1d")
    return float(value)


def _decode(kind: type, value: Any) -> Any:
    """msgspec's hook for the two types it does not know: a duration and a path."""
    if kind is Duration:
        seconds = _seconds(value)
        if not seconds > 0:
            raise ValueError(f"expected a duration greater than 0, got {value!r}")
        return Duration(seconds)
    if kind is Path:
        if isinstance(value, str):
            return Path(value)
        raise ValueError(f"expected a path (text in quotes), got {_shown(value)}")
    raise NotImplementedError(kind)


def _encode(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else float(value)


Seconds = Duration
Url = Annotated[str, _hinted(r"^https?://\S+\Z", "expected an http:// or https:// address")]
Name = Annotated[str, _hinted(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z", "expected a short name: letters, digits, _ . -")]
Clock = Annotated[str, _hinted(r"^([01]\d|2[0-3]):[0-5]\d\Z", "expected a time such as 07:30")]
Address = Annotated[
    str, _hinted(r"^[^@\s<>\r\n]+@[^@\s<>\r\n]+\Z", "expected an email address such as alerts@example.org")
]
Positive = Annotated[int, Meta(gt=0)]
Days = Positive


class Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True, dict=True):
    """A table of the config: unknown keys refused, read-only once read. (msgspec structs: the
    imported stack is most of an idle daemon's memory, and msgspec costs a fifth of pydantic.)"""

    # keys that are refused with a reason of their own rather than "unknown key" (secrets, moved keys)
    _refused: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_dict(cls, data: Any, origin: str = "settings") -> Self:
        """``data`` read as this table; a ``ConfigError`` naming every problem, one line each."""
        if cls is Telegram:
            data = _plain_chats(data)
        elif cls is Config and isinstance(data, dict) and isinstance(data.get("telegram"), dict):
            data = {**data, "telegram": _plain_chats(data["telegram"])}
        try:
            return msgspec.convert(data, cls, dec_hook=_decode)
        except msgspec.ValidationError:
            problems = _problems(cls, data, "")
        raise ConfigError("\n".join(_line(origin, where, what) for where, what in problems))

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``: the table's own checks (``__post_init__``) run again; the values'
        types are the caller's to get right (``from_dict`` checks those)."""
        return msgspec.structs.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able values (paths as text, durations as seconds)."""
        return msgspec.to_builtins(self, enc_hook=_encode)


class Storage(Strict):
    path: Path | None = None  # None: the user's state folder
    backups: Annotated[int, Meta(ge=0, le=366)] = 7  # daily snapshots kept in backups/ beside it (0: none)
    backup_at: Clock = "03:30"  # when, Kyiv time

    def resolved(self) -> Path:
        if self.path is not None:
            return self.path.expanduser()
        return state_dir() / "tallywatch.db"


class Http(Strict):
    user_agent: str = "tallywatch/0.1 (feed alerting daemon; polite polling)"
    timeout: Seconds = Duration(20.0)  # to connect, and between two reads
    deadline: Seconds = Duration(45.0)  # for a whole request: a server dripping a byte a second is cut off
    max_bytes: Positive = 5_000_000  # received, and again once decoded
    backoff_base: Seconds = Duration(60.0)
    backoff_max: Seconds = Duration(6 * 3600.0)


class JsonMapping(Strict):
    records: list[str] = field(default_factory=lambda: ["data.records", "data"])
    date: str = "date"
    values: str = "stats"
    deltas: str | None = "increase"
    metrics: dict[str, str | list[tuple[str, str]]] = {}


DEFAULT_PRIORITY = 100


def _css(selector: str) -> None:
    """A selector Lexbor cannot parse is a config error, not a failure at the first poll."""
    from selectolax.lexbor import LexborHTMLParser

    try:
        LexborHTMLParser("<p></p>").css(selector)
    except Exception as exc:  # selectolax raises its own errors, or ValueError, by version
        raise ValueError(f"selector: {selector!r} is not valid CSS: {exc}") from None


def is_dated(url: str) -> bool:
    """Does this address name a day (``extract.dates.dated_url``'s fields)?"""
    return any(f"{{{field}" in url for field in ("date", "day", "month", "year"))


def _check_dated(key: str, template: str) -> None:
    try:
        one, other = (dated_url(template, dt.date(2025, 6, d)) for d in (14, 15))
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ValueError(f"{key}: only {{date:FORMAT}}, {{day}}, {{month}}, {{month_uk}}, {{year}} ({exc})") from None
    if one == other:
        raise ValueError(f"{key}: the address must name the day, e.g. {{date:%d%m%Y}} or {{month}}-{{day}}-{{year}}")


class Source(Strict):
    name: Name
    kind: Literal["rss", "atom", "json", "html", "telegram_channel"]
    url: Url  # html: may hold {date:%d%m%Y}, one page per day
    interval: Seconds = Duration(3600.0)
    jitter: Annotated[float, Meta(ge=0, le=1)] = 0.1  # fraction of the interval
    # inside the hours its reports appear (learned from the days before: sources/schedule.py), the
    # source is polled this often instead; learn = false: always at `interval`
    fast_interval: Seconds = Duration(60.0)
    learn: bool = True
    extractor: str | None = None  # default: genstaff for feeds, russianwarship for json
    enabled: bool = True
    timeout: Seconds | None = None
    max_bytes: Positive | None = None
    mapping: JsonMapping | None = None
    stale_after: Seconds | None = None  # default: [rules.stale] after
    selector: str | None = None  # html: the CSS selector of the element holding the report
    follow: str | None = None  # html: the url is a listing; follow its links matching this regex
    # html with follow, when the listing fails or lists no report: a sitemap whose addresses matching
    # follow are read instead, then the day's page by a dated address ({day} {month} {year}, see README)
    sitemap: Url | None = None
    fallback: Url | None = None
    max_pages: Annotated[int, Meta(ge=1, le=50)] = 3  # html: pages (or days) per poll; telegram_channel: pages back
    follow_redirects_to: list[str] = []  # other hosts a redirect may lead to (its own site always may)
    # when sources give one metric for one day: the lowest priority's figure is the one the rules see
    priority: Annotated[int, Meta(ge=0, le=1000)] = DEFAULT_PRIORITY
    # whose figures these are, said with every alert: "genstaff" (the General Staff of Ukraine's Armed
    # Forces, in the reader's language; the default for the built-in report and API readers) or
    # words of your own, e.g. "UN Human Rights Monitoring Mission in Ukraine"
    publisher: Annotated[str, Meta(min_length=1, max_length=120)] | None = None

    def said_by(self) -> str:
        """The publisher said with its alerts (``publisher``; by default the General Staff for the
        built-in readers, else the source's name)."""
        if self.publisher:
            return self.publisher
        return "genstaff" if self.extractor_name in ("genstaff", "russianwarship") else self.name

    def __post_init__(self) -> None:
        if self.extractor is not None and self.extractor not in EXTRACTORS:
            raise ValueError(f"extractor: expected one of {', '.join(sorted(EXTRACTORS))}")
        if self.follow is not None:
            try:
                re.compile(self.follow)
            except re.error as exc:
                raise ValueError(f"follow: not a regular expression: {exc}") from None
        if self.kind == "html":
            self._check_html()
        else:
            self._check_not_html()
        if self.kind == "telegram_channel" and not re.fullmatch(r"/s/[A-Za-z0-9_]{4,64}/?", urlsplit(self.url).path):
            raise ValueError("url: a telegram_channel url is the channel's public preview, https://t.me/s/<channel>")
        if self.selector is not None:
            _css(self.selector)

    def _check_html(self) -> None:
        """An html source: its selector, and one way to its pages (a dated url, or a listing to follow)."""
        dated = is_dated(self.url)
        if not self.selector:
            raise ValueError("an html source needs selector, the CSS selector of the report's element")
        if dated and self.follow:
            raise ValueError("follow (a listing page) and a dated url (one page per day) exclude each other")
        if dated:
            _check_dated("url", self.url)
        if (self.sitemap or self.fallback) and not self.follow:
            raise ValueError("sitemap and fallback stand in for a listing: they need follow")
        if self.fallback is not None:
            _check_dated("fallback", self.fallback)

    def _check_not_html(self) -> None:
        """Any other source: none of the html sources' keys."""
        for key in ("selector", "follow", "sitemap", "fallback"):
            if getattr(self, key) is not None:
                raise ValueError(f"{key}: for html sources only")
        if is_dated(self.url):
            raise ValueError("url: a dated url is for html sources only")

    @property
    def extractor_name(self) -> str:
        return self.extractor or ("russianwarship" if self.kind == "json" else "genstaff")


class Milestone(Strict):
    step: Positive | None = None
    levels: list[Positive] = []

    def __post_init__(self) -> None:
        if self.step is None and not self.levels:
            raise ValueError("expected `step` or `levels` (or both)")


class Detect(Strict):
    first_import: Literal["quiet", "notify"] = "quiet"
    baseline: bool = True  # a first start with an empty store loads the bundled history quietly
    # When a milestone (it goes to every subscriber) may fire: "consistent" — from a figure whose
    # printed change agrees with the last total, else once a second source or the next report
    # confirms it; "agreement" — always after such a confirmation; "none" — at once.
    confirm: Literal["consistent", "agreement", "none"] = "consistent"
    # A milestone learned of more than this many days after it was crossed (a gap in the series,
    # a fill of days missed) is no news: recorded with the days it fell in, and told as one line of
    # the next daily report. Within it, the alert goes out and says when.
    late_after: Annotated[int, Meta(ge=0, le=366)] = 2


class RuleSettings(Strict):
    """A rule family's settings; ``[rules.<family>.metric.<name>]`` overrides any of them per metric."""

    enabled: bool = True
    metric: dict[str, dict[str, Any]] = {}

    def _base(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_dict().items() if k != "metric"}

    def __post_init__(self) -> None:
        base = self._base() if self.metric else {}
        for name, override in self.metric.items():
            problems = _problems(type(self), {**base, **override}, f"metric.{name}")
            if problems:
                raise ValueError("\n".join(f"{where}: {what}" for where, what in problems))

    def for_metric(self, name: str) -> Self:
        """These settings with the metric's overrides applied (cached)."""
        merged = self.__dict__.setdefault("_merged", {})
        if name not in merged:
            override = self.metric.get(name)
            merged[name] = (
                msgspec.convert({**self._base(), **override}, type(self), dec_hook=_decode) if override else self
            )
        return merged[name]


class Spike(RuleSettings):
    """An unusual daily change against a trailing robust baseline."""

    window: Days = 28  # days of daily changes the median and MAD are taken over
    min_history: Days = 14  # fewer daily changes than this: no verdict
    ratio: Annotated[float, Meta(gt=1)] = 2.0  # at least this many times the median
    z: Annotated[float, Meta(gt=0)] = 5.0  # and this many robust standard deviations (1.4826 · MAD) above it
    floor: Annotated[int, Meta(ge=0)] = 5  # never for a change smaller than this
    steady_median: Annotated[float, Meta(ge=0)] = 3.0  # a median below this makes the metric "bursty"
    bursty_window: Days = 365  # bursty metrics: compare with a high quantile over a long window
    bursty_min_history: Days = 60
    bursty_quantile: Annotated[float, Meta(gt=0, lt=1)] = 0.99
    bursty_factor: Annotated[float, Meta(gt=1)] = 1.5
    drops: bool = False  # also alert on unusually small daily changes


class Record(RuleSettings):
    """The largest daily rise in a rolling window (or ever)."""

    window: Days | None = 365  # days; leave out for "ever"
    min_history: Days = 90
    floor: Annotated[int, Meta(ge=0)] = 5


class Approaching(RuleSettings):
    """The next milestone is near at the recent rate."""

    days: Annotated[float, Meta(gt=0)] = 3.0  # alert when the next milestone is this close
    rate_window: Days = 7  # trailing days for the average daily rate


class Guard(RuleSettings):
    """Implausible values are held as suspect until confirmed or contradicted."""

    factor: Annotated[float, Meta(gt=1)] = 5.0  # a rise above factor × the largest daily rise of the window is suspect
    window: Days = 90
    floor: Annotated[int, Meta(ge=0)] = 50  # rises up to this are always plausible
    min_history: Days = 7  # with fewer days known, the limit is cold_ratio × the total a day
    cold_ratio: Annotated[float, Meta(gt=0)] = 1.0


class Correction(RuleSettings):
    """A source revises a figure, or a running total goes down."""


class ReportedDelta(RuleSettings):
    """The printed "(+N)" disagrees with the difference of the totals."""


class Stale(RuleSettings):
    """A source brings no new report for longer than expected; for much longer, its publisher may
    have stopped (``stopped_after``: said by `tallywatch sources`, /healthz, and to the admins once)."""

    after: Seconds = Duration(30 * 3600.0)
    stopped_after: Seconds = Duration(7 * 86400.0)


class Disagreement(RuleSettings):
    """Two sources give different values for the same metric and day."""

    tolerance: Annotated[int, Meta(ge=0)] = 0  # absolute difference always tolerated
    tolerance_ratio: Annotated[float, Meta(ge=0)] = 0.001  # relative difference tolerated (0.1 %)


class Rules(Strict):
    spike: Spike = field(default_factory=Spike)
    record: Record = field(default_factory=Record)
    approaching: Approaching = field(default_factory=Approaching)
    guard: Guard = field(default_factory=Guard)
    correction: Correction = field(default_factory=Correction)
    reported_delta: ReportedDelta = field(default_factory=ReportedDelta)
    stale: Stale = field(default_factory=Stale)
    disagreement: Disagreement = field(default_factory=Disagreement)


class Console(Strict):
    enabled: bool = True


ChatName = Annotated[str, _hinted(r"^(@[A-Za-z][A-Za-z0-9_]{3,}|-?\d+)\Z", "expected @channelname or a chat id")]
BotName = Annotated[
    str,
    _hinted(
        r"^@?[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]\Z",
        "expected the bot's username as @BotFather gave it, such as @losses_bot (5 to 32 letters, digits or _, ending in bot)",
    ),
]


def _spoken(language: str) -> None:
    from .i18n import languages

    if language not in languages():
        raise ValueError(f"language: no catalogue for language {language!r} (bundled: {', '.join(languages())})")


def _known_zone(key: str, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{key}: unknown time zone {value!r}") from None


# what a configured channel may be sent (``send``), and the alerts (``Event.rule``) each kind is
SEND_KINDS: dict[str, tuple[str, ...]] = {
    "report": ("report",),  # the daily report (its spikes, records and corrections are lines of it)
    "milestones": ("milestone",),
    "records": ("record",),
    "spikes": ("spike",),
    "approaching": ("approaching",),
    # a figure revised, or lower than the day before, in plain words (a value set aside, a printed
    # "(+N)" that is not the difference, sources disagreeing: the admins', ``models.ADMIN_ONLY``)
    "corrections": ("correction",),
}


class TelegramChat(Strict):
    """A channel or group the daemon posts to, the language its posts are in, and what it is sent."""

    chat: ChatName
    language: str = "en"
    send: list[str] = field(default_factory=lambda: ["report", "milestones"])

    def __post_init__(self) -> None:
        _spoken(self.language)
        if not self.send:
            raise ValueError("send: empty, so the channel would get nothing; leave the channel out instead")
        for kind in self.send:
            if kind not in SEND_KINDS:
                raise ValueError(
                    f"send: no kind of post named {kind!r}{_did_you_mean(kind, SEND_KINDS)}; "
                    f"a channel can be sent {', '.join(SEND_KINDS)}"
                )

    def wants(self, rule: str) -> bool:
        """Whether an alert of this rule is one of the kinds the channel is sent."""
        return any(rule in SEND_KINDS[kind] for kind in self.send)


def _plain_chats(data: Any) -> Any:
    """``"@name"`` and ``-100123`` (a string or a number) are accepted in a ``[telegram]`` table's
    ``channels`` as well as the table form ``{chat = "@name", language = "uk"}`` (whose chat id may
    be a number too)."""
    channels = data.get("channels") if isinstance(data, dict) else None
    if not isinstance(channels, list):
        return data

    def number_or_name(chat: Any) -> bool:
        return isinstance(chat, str | int) and not isinstance(chat, bool)

    def entry(c: Any) -> Any:
        if isinstance(c, dict) and number_or_name(c.get("chat")):
            return {**c, "chat": str(c["chat"])}
        return {"chat": str(c)} if number_or_name(c) else c

    plain = [entry(c) for c in channels]
    return {**data, "channels": plain}


class Telegram(Strict):
    """The Telegram bot and channel posts. Off unless a token is set (never here: see secrets)."""

    _refused: ClassVar[dict[str, str]] = dict.fromkeys(
        ("token", "bot_token", "telegram_token"), _secret_elsewhere("the bot token", "telegram_token")
    )

    base_url: Url = "https://api.telegram.org/bot"  # the token is appended
    # channels and groups the bot posts to, each in its own language: "@name", a chat id (a number
    # or a string), or {chat = "@name", language = "uk", send = ["report", "milestones"]}; `send`:
    # what the channel gets (SEND_KINDS), the daily report and milestones unless told
    channels: list[TelegramChat] = []
    admins: list[
        int
    ] = []  # numeric user ids allowed /stats and /broadcast; the notices of models.ADMIN_ONLY go to them
    timezone: str = "Europe/Kyiv"  # for subscribers' quiet hours
    concurrency: Annotated[int, Meta(ge=1, le=64)] = 4  # messages in flight at once
    # send with allow_paid_broadcast: up to 1,000 messages a second instead of about 30; Telegram
    # bills the messages beyond the free limit (0.1 Star each) to the bot's Stars balance
    paid_broadcast: bool = False
    polling: bool = True  # answer commands (getUpdates); off: post alerts only
    # the bot's username, for the public page's link to it (t.me/…); None: the page names no bot
    bot_username: BotName | None = None

    @property
    def public_channels(self) -> list[TelegramChat]:
        """The channels a link can name (``@name``: a chat id is private, it has no public address)."""
        return [c for c in self.channels if c.chat.startswith("@")]

    def __post_init__(self) -> None:
        _known_zone("timezone", self.timezone)


# the service's name when [service] name is not set: a msgid, said in each reader's language
DEFAULT_NAME = N_("Russian losses — daily figures")
OneLine = Annotated[
    str, _hinted(r'^[^\r\n<>"]{1,80}\Z', "expected a name on one line, up to 80 characters, without <, > or quotes")
]


class Service(Strict):
    """How the service calls itself to its readers: mail subjects and the sender's name, the web
    pages' titles, the card's foot, the bot's greeting."""

    name: OneLine | None = None  # None: "Russian losses — daily figures" in the reader's language; set: as written
    url: Url | None = None  # where people find it, on the card (None: [web] public_url, if any)

    def called(self, language: str = "en") -> str:
        """The service's name for a reader of ``language``."""
        from .i18n import gettext

        return self.name or gettext(language, DEFAULT_NAME)

    def home(self) -> str | None:
        """Its address: ``url``, else the web app's public address (set by Config)."""
        return self.url or self.__dict__.get("_public_url")

    def signature(self, language: str = "en") -> str:
        """``Russian losses — daily figures · losses.example.org``: the name, and where to find it."""
        home = self.home()
        shown = home.split("://", 1)[1].rstrip("/") if home else ""
        return f"{self.called(language)} · {shown}" if shown else self.called(language)


class Email(Strict):
    """Email over SMTP: instant alerts and daily / weekly digests. Password only from secrets."""

    _refused: ClassVar[dict[str, str]] = dict.fromkeys(
        ("password", "smtp_password", "pass"), _secret_elsewhere("the SMTP password", "smtp_password")
    )

    enabled: bool = False
    host: str = "localhost"
    port: Annotated[int, Meta(gt=0, lt=65536)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"  # none: only for a relay on this machine
    user: str | None = None  # password: TALLYWATCH_SMTP_PASSWORD or the smtp_password credential
    ca_file: Path | None = None  # extra CA to trust (a private relay); certificates are always verified
    timeout: Seconds = Duration(30.0)
    from_addr: Address = "tallywatch@localhost"
    from_name: OneLine | None = None  # the sender's name; None: the [service] name, in the reader's language
    instant_rules: list[str] = field(default_factory=lambda: ["milestone"])  # which alerts go out as one mail each
    # the daily digest goes with the day's report; at this time at the latest (the report not come yet)
    daily_at: Clock = "12:00"
    weekly_on: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    weekly_at: Clock = "07:30"
    timezone: str = "Europe/Kyiv"
    send_empty: bool = False  # a digest for a period with nothing new
    chart_metric: str = "personnel"  # the chart in digests
    unsubscribe_url: (
        Annotated[str, _hinted(r"^https://\S*\{token\}\S*\Z", "expected an https:// address with {token} in it")] | None
    ) = None
    unsubscribe_mailto: Address | None = None

    def unsubscribe_link(self, token: str) -> str | None:
        """Where a mail's unsubscribe link points: ``unsubscribe_url`` when set (an endpoint of the
        admin's own), else the web app's ``/unsubscribe`` under ``[web] public_url``, else none."""
        if self.unsubscribe_url:
            return self.unsubscribe_url.format(token=token)
        served = self.__dict__.get("_served_unsubscribe")  # set by Config from [web] public_url
        return served + quote(token, safe="") if served else None

    @property
    def service(self) -> Service:
        """The [service] settings (set by Config; a table read alone: the defaults)."""
        return self.__dict__.get("_service") or Service()

    def sender(self, language: str = "en") -> str:
        """The From name: ``from_name``, else the service's name in the reader's language."""
        return self.from_name or self.service.called(language)

    def __post_init__(self) -> None:
        _known_zone("timezone", self.timezone)
        if self.security == "none" and self.host not in ("localhost", "127.0.0.1", "::1"):
            raise ValueError('security = "none" is only for a relay on this machine; use starttls or ssl')


class Webhook(Strict):
    _refused: ClassVar[dict[str, str]] = dict.fromkeys(
        ("secret", "webhook_secret", "hmac_secret"), _secret_elsewhere("the webhook signing secret", "webhook_secret")
    )

    name: Name
    url: Url
    rules: list[str] = []  # only these rules (empty: every alert)
    timeout: Seconds = Duration(10.0)


class Health(Strict):
    """What ``/healthz`` weighs (it is served by the web app: ``[web]``)."""

    _refused: ClassVar[dict[str, str]] = dict.fromkeys(
        ("enabled", "host", "port"), "moved to [web] (one server answers /healthz, /metrics and the public pages)"
    )

    allowance: Annotated[float, Meta(gt=1)] = 3.0  # unhealthy after this many intervals without a successful poll


class Web(Strict):
    """The web app in the daemon: /healthz, /metrics, the public page, feeds, the data API and
    email self-service. Bound to this machine: put a reverse proxy with TLS in front of it."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, lt=65536)] = 9467
    # the address people reach it at through the proxy: links in mails (unsubscribe, confirm) and feeds
    # (unset: the address it listens on, never a request's Host)
    public_url: Annotated[str, _hinted(r"^https?://[^\s?#]+\Z", "expected an http:// or https:// address")] | None = (
        None
    )
    signup: bool = True  # the subscribe form (needs [email] enabled and public_url)
    signups_per_client: Positive = 5  # subscribe posts per client (IPv4 address, IPv6 /64) per 10 minutes
    signups_per_address: Positive = 3  # confirmation mails per mailbox per day (case, +tag, IDNA folded)
    signups_per_hour: Positive = 60  # confirmation mails per hour in all…
    signups_share: Annotated[float, Meta(gt=0, le=1)] = 0.1  # …of which one client may have this part
    confirm_within: Seconds = Duration(48 * 3600.0)  # a confirmation link expires after this
    # a connection's request (headers and body) must be in within this of its opening or of the
    # previous answer, or it is closed: slow and silent clients can't hold the app
    request_timeout: Seconds = Duration(5.0)
    # connections open at once, at most; fewer if the file descriptors (RLIMIT_NOFILE) less
    # fd_reserve don't allow it. Beyond it one still waiting for its request makes room, or the new
    # one is closed at once
    max_connections: Annotated[int, Meta(ge=8)] = 1000
    fd_reserve: Annotated[int, Meta(ge=64)] = 256  # file descriptors the web app leaves to polls, sends, the database

    @property
    def signups_per_client_hour(self) -> int:
        """Confirmation mails one client may have an hour: its share of ``signups_per_hour``, at
        least one (a tenth by default: 6 of 60, so it takes ten clients to use up the hour)."""
        return max(1, int(self.signups_per_hour * self.signups_share + 1e-9))  # 0.29 × 100 is 29

    def link(self, path: str) -> str | None:
        """``path`` under ``public_url`` (None without one)."""
        return self.public_url.rstrip("/") + path if self.public_url else None


class SourceHealth(Strict):
    """What a run of failed polls of one source does."""

    slow_after: Positive = 3  # failures in a row before the source is polled less often…
    slow_factor: Annotated[float, Meta(ge=1)] = 4.0  # …every slow_factor × its interval, until it works again
    broken_after: Positive = 10  # failures in a row before it is marked broken (an admin alert)


class Outbox(Strict):
    retry_base: Seconds = Duration(30.0)  # first retry within this (full jitter), doubling per attempt…
    retry_max: Seconds = Duration(3600.0)  # …up to this; a server's retry_after is always honoured
    batch: Positive = 200  # deliveries claimed at once per channel


class Charts(Strict):
    """The charts and cards, drawn in a worker process of their own (``charts.Drawer``)."""

    # a picture not drawn within this (a hung or stopped worker) is given up: the worker is killed
    # and replaced, and the alert goes out without its picture (a picture that starts the worker
    # has 20 s more: charts.STARTUP)
    deadline: Seconds = Duration(5.0)


def _compile(pattern: str, groups: set[str], what: str) -> Any:
    """A pattern for the ``regex`` engine (it can stop a search that runs too long), checked now."""
    import regex

    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(f"{what}: not a regular expression: {exc}") from None
    if set(compiled.groupindex) != groups:
        named = ", ".join(sorted(compiled.groupindex)) or "none"
        wanted = " and ".join(f"(?P<{g}>…)" for g in sorted(groups))
        raise ValueError(f"{what}: needs exactly the named group {wanted}; it has: {named}")
    return compiled


class PatternMetric(Strict):
    """A figure that arrives as a sentence: "220 combat clashes", "the names of 111,387 …"."""

    pattern: str  # one named group, value: the number, whatever its separators
    kind: Literal["total", "daily"]  # a running total, or a count for one day (spikes and records, no milestones)
    sources: list[str] = []  # the sources whose documents it is applied to (default: all)
    date_pattern: str | None = None  # a named group, date; else the item's publication date (Kyiv)
    date_format: str = "%d.%m.%Y"  # strptime format of the date group (English month names: %B)
    timeout: Seconds = Duration(0.25)  # a search that takes longer on a (hostile) document is cut off

    def __post_init__(self) -> None:
        self.compiled  # noqa: B018 (compiled now: a bad pattern is a config error)
        self.compiled_date  # noqa: B018

    @functools.cached_property
    def compiled(self) -> Any:
        return _compile(self.pattern, {"value"}, "pattern")

    @functools.cached_property
    def compiled_date(self) -> Any:
        return _compile(self.date_pattern, {"date"}, "date_pattern") if self.date_pattern else None

    def applies_to(self, source: str) -> bool:
        return not self.sources or source in self.sources


class Backfill(Strict):
    """Filling a gap in the series from an API that offers history (russianwarship.rip v2's paged
    ``/statistics``): ``tallywatch backfill``, and at each start when the last stored day is older
    than yesterday."""

    enabled: bool = True
    url: Url = "https://russianwarship.rip/api/v2/statistics"
    source: Name = "russianwarship"  # its figures' source
    days_per_request: Annotated[int, Meta(ge=1, le=500)] = 50
    pause: Seconds = Duration(1.0)  # between two requests: polite to a volunteer-run API
    budget: Seconds = Duration(120.0)  # a fill stops after this long (what came before it is stored) …
    max_requests: Annotated[int, Meta(ge=1, le=10_000)] = 100  # … or after this many requests
    retry: Seconds = Duration(3600.0)  # while days are missing from the series, the daemon asks again this often


class Report(Strict):
    """The daily report: how long it waits for a figure held as suspect (``[report] wait``) before it
    goes out with that figure shown as not yet confirmed (a later confirmation edits it)."""

    wait: Seconds = Duration(7200.0)


class Config(Strict):
    service: Service = field(default_factory=Service)
    storage: Storage = field(default_factory=Storage)
    http: Http = field(default_factory=Http)
    backfill: Backfill = field(default_factory=Backfill)
    sources: list[Source] = []
    milestones: dict[str, Milestone] = {}
    detect: Detect = field(default_factory=Detect)
    report: Report = field(default_factory=Report)
    rules: Rules = field(default_factory=Rules)
    console: Console = field(default_factory=Console)
    outbox: Outbox = field(default_factory=Outbox)
    charts: Charts = field(default_factory=Charts)
    telegram: Telegram = field(default_factory=Telegram)
    email: Email = field(default_factory=Email)
    webhooks: list[Webhook] = []
    health: Health = field(default_factory=Health)
    web: Web = field(default_factory=Web)
    source_health: SourceHealth = field(default_factory=SourceHealth)
    metrics: dict[str, PatternMetric] = {}

    def __post_init__(self) -> None:
        problems = [
            *self._unique_names(),
            *self._metric_names(),
            *self._metric_sources_exist(),
            *self._names_known(),
            *self._unsubscribe_works(),
        ]
        if problems:
            raise ValueError("\n".join(problems))
        if self.web.enabled and self.web.public_url:
            self.email.__dict__["_served_unsubscribe"] = self.web.link("/unsubscribe?t=")
            self.service.__dict__["_public_url"] = self.web.public_url
        self.email.__dict__["_service"] = self.service

    def _unsubscribe_works(self) -> Iterable[str]:
        """Every mail to a subscriber carries a link that unsubscribes in one click (List-Unsubscribe,
        RFC 8058): the web app's /unsubscribe under [web] public_url, or an endpoint of the admin's own."""
        if not self.email.enabled or self.email.unsubscribe_url or (self.web.enabled and self.web.public_url):
            return
        fix = (
            "turn the web app on ([web] enabled = true), whose /unsubscribe page the links lead to,"
            if self.web.public_url
            else 'set [web] public_url = "https://…" (the address people reach this web app at: the links '
            "lead to its /unsubscribe page)"
        )
        yield (
            f"email: mail to subscribers needs a working unsubscribe link: {fix} "
            'or [email] unsubscribe_url = "https://…{token}" (an endpoint of your own)'
        )

    def _unique_names(self) -> Iterable[str]:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            yield f"sources: source names must be unique; repeated: {', '.join(dupes)}"

    def _metric_names(self) -> Iterable[str]:
        for name in self.metrics:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                yield f"metrics: metric name {name!r}: lowercase letters, digits and _, starting with a letter"

    def _metric_sources_exist(self) -> Iterable[str]:
        names = {s.name for s in self.sources}
        for metric, spec in self.metrics.items():
            unknown = [s for s in spec.sources if s not in names]
            if unknown:
                yield f"metrics.{metric}.sources: no source named {', '.join(unknown)}"
            if spec.kind == "daily" and metric in self.milestones:
                yield f"milestones.{metric}: {metric} is a count per day; milestones are for running totals"

    def _names_known(self) -> Iterable[str]:
        """A metric or rule named anywhere must exist: a typo would otherwise never fire, silently."""
        metrics = self._metrics_known()
        named = [(f"milestones.{name}", name) for name in self.milestones]
        named += [
            (f"rules.{family}.metric.{name}", name)
            for family in Rules.__struct_fields__
            for name in getattr(self.rules, family).metric
        ]
        named.append(("email.chart_metric", self.email.chart_metric))
        for where, name in named:
            yield from _unknown(where, name, metrics, "metric")
        for rule in self.email.instant_rules:
            yield from _unknown("email.instant_rules", rule, RULES, "rule")
            if rule in ADMIN_ONLY:  # mails go to readers; what is wrong with the data goes to the admins
                yield (
                    f"email.instant_rules: {rule!r} is a notice for the admins only ([telegram] admins, the"
                    " console, webhooks), never mailed to readers"
                )
        for i, hook in enumerate(self.webhooks):
            for rule in hook.rules:
                yield from _unknown(f"webhooks[{i}].rules", rule, RULES, "rule")

    def _metrics_known(self) -> set[str]:
        """The built-in metrics, the pattern metrics, and those a JSON source maps its fields to."""
        metrics = {*METRICS, *self.metrics}
        for source in self.sources:
            for target in source.mapping.metrics.values() if source.mapping else ():
                metrics.update([target] if isinstance(target, str) else [name for _, name in target])
        return metrics

    def provenance(self) -> list[str]:
        """Where the sources and milestones come from, one line each (``config check`` says it):
        ``sources: 6, built in (disabled: mod)``, ``milestones: none (milestones = {} in the file…)``."""
        from_file = self.__dict__.get("_from_file", {})
        lines = []
        for key, count, empty, effect in (
            ("sources", len(self.sources), "[]", "nothing is polled"),
            ("milestones", len(self.milestones), "{}", "no milestone alerts"),
        ):
            where = "from the file" if from_file.get(key) else "built in"
            if not count:
                lines.append(
                    f"{key}: none ({key} = {empty} in the file: {effect})" if from_file.get(key) else f"{key}: none"
                )
                continue
            off = [s.name for s in self.sources if not s.enabled] if key == "sources" else []
            lines.append(f"{key}: {count}, {where}" + (f" (disabled: {', '.join(off)})" if off else ""))
        return lines

    def per_day(self, metric: str) -> bool:
        """Whether the metric is a count for each day (not a running total)."""
        spec = self.metrics.get(metric)
        return spec is not None and spec.kind == "daily"

    def source(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)


def _unknown(where: str, name: str, known: set[str] | tuple[str, ...], what: str) -> Iterable[str]:
    if name not in known:
        yield f"{where}: no {what} named {name!r}{_did_you_mean(name, known)}"


def state_dir() -> Path:
    """systemd's StateDirectory, else $XDG_STATE_HOME/tallywatch, else ~/.local/state/tallywatch."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "tallywatch"


def _inner(kind: Any) -> Any:
    """The type under ``Annotated[…]`` and ``… | None``."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif get_origin(kind) in (Union, UnionType) and type(None) in get_args(kind):
            rest = [a for a in get_args(kind) if a is not type(None)]
            kind = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007 (built at run time)
        else:
            return kind


def _join(where: str, key: Any) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key)


def _problems(kind: Any, data: Any, where: str) -> list[tuple[str, str]]:
    """Every problem of ``data`` read as ``kind``, as (key path, what is wrong); none when it reads.

    msgspec stops at the first problem and names a dict's keys ``[...]``: where it finds one, the
    tables, lists and dicts below are read again one by one, so every problem is told, at its key."""
    try:
        msgspec.convert(data, kind, dec_hook=_decode)
        return []
    except msgspec.ValidationError as exc:
        message = re.sub(r" - at `\$[^`]*`$", "", str(exc))
    inner = _inner(kind)
    found: list[tuple[str, str]] = []
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct) and isinstance(data, dict):
        found = _table_problems(inner, data, where, message)
    elif get_origin(inner) is list and isinstance(data, list):
        found = [p for i, item in enumerate(data) for p in _problems(get_args(inner)[0], item, _join(where, i))]
    elif get_origin(inner) is dict and isinstance(data, dict):
        found = [p for key, value in data.items() for p in _problems(get_args(inner)[1], value, _join(where, key))]
    return found or [(where, _explain(message, kind, data))]


def _table_problems(table: type[msgspec.Struct], data: dict, where: str, message: str) -> list[tuple[str, str]]:
    """A table's problems: keys refused or unknown, each value's own, a required key missing — else
    what its own checks (``__post_init__``, msgspec's ``message``) said, at the key they name."""
    fields = {f.encode_name: f for f in msgspec.structs.fields(table)}
    found: list[tuple[str, str]] = []
    for key in data:
        if key in table._refused:
            found.append((_join(where, key), table._refused[key]))
        elif key not in fields:
            found.append((_join(where, key), f"unknown key{_did_you_mean(str(key), fields)}"))
    for name, spec in fields.items():
        if name in data:
            found += _problems(spec.type, data[name], _join(where, name))
        elif spec.required:
            found.append((_join(where, name), "missing value (required)"))
    if not found:  # the table's own checks (__post_init__): "key: what" is told at that key
        for line in message.splitlines():
            head, _, rest = line.partition(": ")
            known = rest and re.split(r"[.\[]", head)[0] in fields
            found.append((_join(where, head), rest) if known else (where, line))
    return found


_TYPES = {
    "int": "a whole number",
    "float": "a number",
    "str": "text in quotes",
    "bool": "true or false",
    "array": "a list [ … ]",
    "object": "a table",
    "null": "nothing",
}


def _shown(value: Any) -> str:
    """A value as the file spells it: true and false as TOML writes them, the rest as Python does."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


_BOUNDS = {">=": "at least", ">": "greater than", "<=": "at most", "<": "less than"}


def _explain(message: str, kind: Any, value: Any) -> str:
    """msgspec's words for one value, in the config's words, with the value that was given."""
    got = _shown(value)
    if m := re.fullmatch(r"Expected `([^`]+)`, got `\w+`", message):
        wanted = " or ".join(_TYPES.get(t, t) for t in m[1].split(" | ") if t != "null")
        return f"expected {wanted}, got {got}"
    if m := re.fullmatch(r"Expected `(\w+)` (>=|>|<=|<) (\S+)", message):
        return f"expected {_TYPES.get(m[1], m[1])} {_BOUNDS[m[2]]} {m[3]}, got {got}"
    if m := re.fullmatch(r"Expected `str` of length (>=|<=) (\d+)", message):
        return f"expected {_BOUNDS[m[1]]} {m[2]} characters, got {got}"
    if message.startswith("Expected `str` matching regex "):
        while get_origin(kind) in (Union, UnionType):  # the text's own type, under `| None`
            kind = next(a for a in get_args(kind) if a is not type(None))
        pattern = next((m.pattern for m in get_args(kind)[1:] if isinstance(m, Meta)), None)
        return f"{_PATTERN_HINTS.get(pattern or '', 'not in the expected form')}, got {got}"
    if message.startswith("Invalid enum value") and get_origin(_inner(kind)) is Literal:
        options = [repr(o) for o in get_args(_inner(kind))]
        return f"expected {', '.join(options[:-1])} or {options[-1]}, got {got}"
    return message


def _line(origin: str, where: str, what: str) -> str:
    if not where:  # a whole-config check: its message names its keys, one per line
        return "\n".join(f"{origin}: {line}" for line in what.splitlines())
    return f"{origin}: {where}: {what}"


# what a file replaces only by giving its own: left out, the built-in ones apply (an empty one,
# `sources = []` or `milestones = {}`, is the way to have none)
BUILT_IN = ("sources", "milestones")


def parse(data: dict[str, Any], origin: str) -> Config:
    """A config file's settings. Every key it leaves out is the built-in one; ``[[sources]]`` and
    ``[milestones]`` too, each replaced whole when the file gives its own. Sources given, none of
    them enabled, is an error: nothing would be polled, and ``sources = []`` says so on purpose."""
    return _settings(data, origin, given=True)


def _settings(data: dict[str, Any], origin: str, given: bool) -> Config:
    built_in = tomllib.loads(defaults_text()) if given else data
    merged = {**{key: built_in[key] for key in BUILT_IN if key not in data}, **data}
    config = Config.from_dict(merged, origin)
    sources = data.get("sources")
    if given and sources and not any(s.enabled for s in config.sources):
        raise ConfigError(
            f"{origin}: sources: every source is disabled (enabled = false), so nothing would be polled; "
            "enable one, or write `sources = []` to run without sources"
        )
    config.__dict__["_from_file"] = {key: given and key in data for key in BUILT_IN}
    return config


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Windows editors) is fine
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def defaults_text() -> str:
    return resources.files("tallywatch").joinpath("default.toml").read_text(encoding="utf-8")


def defaults() -> Config:
    return _settings(tomllib.loads(defaults_text()), "built-in defaults", given=False)


def locate(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Which config file applies, or None for the embedded defaults."""
    if explicit:
        return Path(explicit)
    if os.environ.get("TALLYWATCH_CONFIG"):
        return Path(os.environ["TALLYWATCH_CONFIG"])
    if DEFAULT_PATH.is_file():
        return DEFAULT_PATH
    return None


def load(explicit: str | os.PathLike[str] | None = None) -> tuple[Config, str]:
    """(config, where it came from)."""
    path = locate(explicit)
    if path is None:
        return defaults(), "built-in defaults"
    config = parse(_read(path), str(path))
    from .secrets import secret

    if config.webhooks and not secret("webhook_secret"):
        log.warning(
            "%s: webhooks without a signing secret: receivers can't tell tallywatch's posts from forged ones; "
            "set TALLYWATCH_WEBHOOK_SECRET or the webhook_secret credential",
            path,
        )
    return config, str(path)
