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
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from .extract import EXTRACTORS
from .extract.genstaff import METRICS
from .models import RULES

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


def _secret_elsewhere(data: Any, keys: set[str], what: str, name: str) -> Any:
    """A secret written into the config file is refused, with where it belongs instead."""
    if isinstance(data, dict) and keys & set(data):
        raise ValueError(
            f"{what} is never read from the config file: set TALLYWATCH_{name.upper()}, or "
            f"{name} in $CREDENTIALS_DIRECTORY or the $TALLYWATCH_CREDENTIALS file"
        )
    return data


def _hinted(pattern: str, hint: str) -> Any:
    _PATTERN_HINTS[pattern] = hint
    return Field(pattern=pattern)


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
        if not m:
            raise ValueError("expected a duration such as 90, 30s, 15m, 1h or 1d")
        return float(m[1]) * _UNITS[m[2] or "s"]
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]
Url = Annotated[str, _hinted(r"^https?://\S+$", "expected an http:// or https:// address")]
Name = Annotated[str, _hinted(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", "expected a short name: letters, digits, _ . -")]
Clock = Annotated[str, _hinted(r"^([01]\d|2[0-3]):[0-5]\d$", "expected a time such as 07:30")]
Address = Annotated[
    str, _hinted(r"^[^@\s<>\r\n]+@[^@\s<>\r\n]+$", "expected an email address such as alerts@example.org")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Storage(Strict):
    path: Path | None = None  # None: the user's state folder
    backups: StrictInt = Field(7, ge=0, le=366)  # daily snapshots kept in backups/ beside it (0: none)
    backup_at: Clock = "03:30"  # when, Kyiv time

    def resolved(self) -> Path:
        if self.path is not None:
            return self.path.expanduser()
        return state_dir() / "tallywatch.db"


class Http(Strict):
    user_agent: str = "tallywatch/0.1 (feed alerting daemon; polite polling)"
    timeout: Seconds = 20.0  # to connect, and between two reads
    deadline: Seconds = 45.0  # for a whole request: a server dripping a byte a second is cut off
    max_bytes: StrictInt = Field(5_000_000, gt=0)  # received, and again once decoded
    backoff_base: Seconds = 60.0
    backoff_max: Seconds = 6 * 3600.0


class JsonMapping(Strict):
    records: list[str] = ["data.records", "data"]
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
        raise ValueError(f"selector {selector!r} is not valid CSS: {exc}") from None


class Source(Strict):
    name: Name
    kind: Literal["rss", "atom", "json", "html", "telegram_channel"]
    url: Url  # html: may hold {date:%d%m%Y}, one page per day
    interval: Seconds = 3600.0
    jitter: float = Field(0.1, ge=0, le=1)  # fraction of the interval
    # inside the hours its reports appear (learned from the days before: sources/schedule.py), the
    # source is polled this often instead; learn = false: always at `interval`
    fast_interval: Seconds = 60.0
    learn: StrictBool = True
    extractor: str | None = None  # default: genstaff for feeds, russianwarship for json
    enabled: StrictBool = True
    timeout: Seconds | None = None
    max_bytes: StrictInt | None = Field(None, gt=0)
    mapping: JsonMapping | None = None
    stale_after: Seconds | None = None  # default: [rules.stale] after
    selector: str | None = None  # html: the CSS selector of the element holding the report
    follow: str | None = None  # html: the url is a listing; follow its links matching this regex
    max_pages: StrictInt = Field(3, ge=1, le=50)  # html: pages (or days) per poll; telegram_channel: pages back
    follow_redirects_to: list[str] = []  # other hosts a redirect may lead to (its own site always may)
    # when sources give one metric for one day: the lowest priority's figure is the one the rules see
    priority: StrictInt = Field(DEFAULT_PRIORITY, ge=0, le=1000)
    # whose figures these are, said with every alert: "genstaff" (the General Staff of Ukraine's Armed
    # Forces, in the reader's language; the default for the built-in report and API readers) or
    # words of your own, e.g. "UN Human Rights Monitoring Mission in Ukraine"
    publisher: Annotated[str, Field(min_length=1, max_length=120)] | None = None

    def said_by(self) -> str:
        """The publisher said with its alerts (``publisher``; by default the General Staff for the
        built-in readers, else the source's name)."""
        if self.publisher:
            return self.publisher
        return "genstaff" if self.extractor_name in ("genstaff", "russianwarship") else self.name

    @field_validator("follow")
    @classmethod
    def _follow_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Self:
        dated = "{date" in self.url
        if self.kind == "html":
            if not self.selector:
                raise ValueError("an html source needs selector, the CSS selector of the report's element")
            if dated and self.follow:
                raise ValueError("follow (a listing page) and a {date:…} url (one page per day) exclude each other")
            if dated:
                try:
                    formatted = self.url.format(date=dt.date(2025, 6, 14))
                except (KeyError, IndexError, ValueError) as exc:
                    raise ValueError(f"url: only {{date:FORMAT}} may be templated ({exc})") from None
                if formatted == self.url.format(date=dt.date(2025, 6, 15)):
                    raise ValueError("url: the {date:…} format must name the day, e.g. {date:%d%m%Y}")
        else:
            for key in ("selector", "follow"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} is for html sources only")
            if dated:
                raise ValueError("a {date:…} url is for html sources only")
        if self.kind == "telegram_channel" and not re.fullmatch(r"/s/[A-Za-z0-9_]{4,64}/?", urlsplit(self.url).path):
            raise ValueError("a telegram_channel url is the channel's public preview, https://t.me/s/<channel>")
        if self.selector is not None:
            _css(self.selector)
        return self

    @field_validator("extractor")
    @classmethod
    def _known_extractor(cls, value: str | None) -> str | None:
        if value is not None and value not in EXTRACTORS:
            raise ValueError(f"expected one of {', '.join(sorted(EXTRACTORS))}")
        return value

    @property
    def extractor_name(self) -> str:
        return self.extractor or ("russianwarship" if self.kind == "json" else "genstaff")


class Milestone(Strict):
    step: StrictInt | None = Field(None, gt=0)
    levels: list[Annotated[StrictInt, Field(gt=0)]] = []

    @model_validator(mode="after")
    def _something(self) -> Milestone:
        if self.step is None and not self.levels:
            raise ValueError("expected `step` or `levels` (or both)")
        return self


class Detect(Strict):
    first_import: Literal["quiet", "notify"] = "quiet"
    baseline: StrictBool = True  # a first start with an empty store loads the bundled history quietly
    # When a milestone (it goes to every subscriber) may fire: "consistent" — from a figure whose
    # printed change agrees with the last total, else once a second source or the next report
    # confirms it; "agreement" — always after such a confirmation; "none" — at once.
    confirm: Literal["consistent", "agreement", "none"] = "consistent"


Days = Annotated[StrictInt, Field(gt=0)]


class RuleSettings(Strict):
    """A rule family's settings; ``[rules.<family>.metric.<name>]`` overrides any of them per metric."""

    enabled: StrictBool = True
    metric: dict[str, dict[str, Any]] = {}
    _merged: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_overrides(self) -> RuleSettings:
        base = self.model_dump(exclude={"metric"})
        for name, override in self.metric.items():
            try:
                type(self).model_validate({**base, **override})
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                hint = _did_you_mean(where, set(type(self).model_fields) - {"metric"})
                raise ValueError(f"metric.{name}.{where}: {_explain(first)}{hint}") from None
        return self

    def for_metric(self, name: str) -> Self:
        """These settings with the metric's overrides applied (cached)."""
        if name not in self._merged:
            override = self.metric.get(name)
            self._merged[name] = (
                type(self).model_validate({**self.model_dump(exclude={"metric"}), **override}) if override else self
            )
        return self._merged[name]


class Spike(RuleSettings):
    """An unusual daily change against a trailing robust baseline."""

    window: Days = 28  # days of daily changes the median and MAD are taken over
    min_history: Days = 14  # fewer daily changes than this: no verdict
    ratio: float = Field(2.0, gt=1)  # at least this many times the median
    z: float = Field(5.0, gt=0)  # and this many robust standard deviations (1.4826 · MAD) above it
    floor: StrictInt = Field(5, ge=0)  # never for a change smaller than this
    steady_median: float = Field(3.0, ge=0)  # a median below this makes the metric "bursty"
    bursty_window: Days = 365  # bursty metrics: compare with a high quantile over a long window
    bursty_min_history: Days = 60
    bursty_quantile: float = Field(0.99, gt=0, lt=1)
    bursty_factor: float = Field(1.5, gt=1)
    drops: StrictBool = False  # also alert on unusually small daily changes


class Record(RuleSettings):
    """The largest daily rise in a rolling window (or ever)."""

    window: Days | None = 365  # days; leave out for "ever"
    min_history: Days = 90
    floor: StrictInt = Field(5, ge=0)


class Approaching(RuleSettings):
    """The next milestone is near at the recent rate."""

    days: float = Field(3.0, gt=0)  # alert when the next milestone is this close
    rate_window: Days = 7  # trailing days for the average daily rate


class Guard(RuleSettings):
    """Implausible values are held as suspect until confirmed or contradicted."""

    factor: float = Field(5.0, gt=1)  # a rise above factor × the largest daily rise of the window is suspect
    window: Days = 90
    floor: StrictInt = Field(50, ge=0)  # rises up to this are always plausible
    min_history: Days = 7  # with fewer days known, the limit is cold_ratio × the total a day
    cold_ratio: float = Field(1.0, gt=0)


class Correction(RuleSettings):
    """A source revises a figure, or a running total goes down."""


class ReportedDelta(RuleSettings):
    """The printed "(+N)" disagrees with the difference of the totals."""


class Stale(RuleSettings):
    """A source brings no new report for longer than expected."""

    after: Seconds = 30 * 3600.0


class Disagreement(RuleSettings):
    """Two sources give different values for the same metric and day."""

    tolerance: StrictInt = Field(0, ge=0)  # absolute difference always tolerated
    tolerance_ratio: float = Field(0.001, ge=0)  # relative difference tolerated (0.1 %)


class Rules(Strict):
    spike: Spike = Spike()
    record: Record = Record()
    approaching: Approaching = Approaching()
    guard: Guard = Guard()
    correction: Correction = Correction()
    reported_delta: ReportedDelta = ReportedDelta()
    stale: Stale = Stale()
    disagreement: Disagreement = Disagreement()


class Console(Strict):
    enabled: StrictBool = True


ChatName = Annotated[str, _hinted(r"^(@[A-Za-z][A-Za-z0-9_]{3,}|-?\d+)$", "expected @channelname or a chat id")]


def _spoken(language: str) -> str:
    from .i18n import languages

    if language not in languages():
        raise ValueError(f"no catalogue for language {language!r} (bundled: {', '.join(languages())})")
    return language


Language = Annotated[str, AfterValidator(_spoken)]


class TelegramChat(Strict):
    """A channel or group the daemon posts to, and the language its posts are in."""

    chat: ChatName
    language: Language = "en"

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: Any) -> Any:
        """``"@name"`` and ``-100123`` (a string or a number) are accepted as well as the table form."""
        if isinstance(data, bool):
            return data  # refused below: not a chat
        if isinstance(data, int):
            return {"chat": str(data)}
        if isinstance(data, str):
            return {"chat": data}
        return data


class Telegram(Strict):
    """The Telegram bot and channel posts. Off unless a token is set (never here: see secrets)."""

    base_url: Url = "https://api.telegram.org/bot"  # the token is appended
    # channels and groups that get the daily report and every alert, each in its own language:
    # "@name", a chat id (a number or a string), or {chat = "@name", language = "uk"}
    channels: list[TelegramChat] = []
    admins: list[StrictInt] = []  # numeric user ids allowed /stats and /broadcast
    timezone: str = "Europe/Kyiv"  # for subscribers' quiet hours
    concurrency: StrictInt = Field(4, ge=1, le=64)  # messages in flight at once
    # send with allow_paid_broadcast: up to 1,000 messages a second instead of about 30; Telegram
    # bills the messages beyond the free limit (0.1 Star each) to the bot's Stars balance
    paid_broadcast: StrictBool = False
    polling: StrictBool = True  # answer commands (getUpdates); off: post alerts only

    @model_validator(mode="before")
    @classmethod
    def _no_token_here(cls, data: Any) -> Any:
        return _secret_elsewhere(data, {"token", "bot_token", "telegram_token"}, "the bot token", "telegram_token")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Email(Strict):
    """Email over SMTP: instant alerts and daily / weekly digests. Password only from secrets."""

    enabled: StrictBool = False
    host: str = "localhost"
    port: StrictInt = Field(587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"  # none: only for a relay on this machine
    user: str | None = None  # password: TALLYWATCH_SMTP_PASSWORD or the smtp_password credential
    ca_file: Path | None = None  # extra CA to trust (a private relay); certificates are always verified
    timeout: Seconds = 30.0
    from_addr: Address = "tallywatch@localhost"
    from_name: Annotated[str, _hinted(r"^[^\r\n<>\"]*$", "expected a name on one line, without <, > or quotes")] = (
        "tallywatch"
    )
    instant_rules: list[str] = ["milestone"]  # which alerts go out as one mail each
    daily_at: Clock = "07:30"
    weekly_on: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    weekly_at: Clock = "07:30"
    timezone: str = "Europe/Kyiv"
    send_empty: StrictBool = False  # a digest for a period with nothing new
    chart_metric: str = "personnel"  # the chart in digests
    unsubscribe_url: (
        Annotated[str, _hinted(r"^https://\S*\{token\}\S*$", "expected an https:// address with {token} in it")] | None
    ) = None
    unsubscribe_mailto: Address | None = None
    # set by Config from [web] public_url: the web app's own one-click unsubscribe page
    _served_unsubscribe: str | None = PrivateAttr(None)

    def unsubscribe_link(self, token: str) -> str | None:
        """Where a mail's unsubscribe link points: ``unsubscribe_url`` when set (an endpoint of the
        admin's own), else the web app's ``/unsubscribe`` under ``[web] public_url``, else none."""
        if self.unsubscribe_url:
            return self.unsubscribe_url.format(token=token)
        if self._served_unsubscribe:
            return self._served_unsubscribe + quote(token, safe="")
        return None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return Telegram._known_zone(value)

    @model_validator(mode="before")
    @classmethod
    def _no_password_here(cls, data: Any) -> Any:
        keys = {"password", "smtp_password", "pass"}
        return _secret_elsewhere(data, keys, "the SMTP password", "smtp_password")

    @model_validator(mode="after")
    def _plain_only_locally(self) -> Email:
        if self.security == "none" and self.host not in ("localhost", "127.0.0.1", "::1"):
            raise ValueError('security = "none" is only for a relay on this machine; use starttls or ssl')
        return self


class Webhook(Strict):
    name: Name
    url: Url
    rules: list[str] = []  # only these rules (empty: every alert)
    timeout: Seconds = 10.0

    @model_validator(mode="before")
    @classmethod
    def _no_secret_here(cls, data: Any) -> Any:
        keys = {"secret", "webhook_secret", "hmac_secret"}
        return _secret_elsewhere(data, keys, "the webhook signing secret", "webhook_secret")


class Health(Strict):
    """What ``/healthz`` weighs (it is served by the web app: ``[web]``)."""

    allowance: float = Field(3.0, gt=1)  # unhealthy after this many intervals without a successful poll

    @model_validator(mode="before")
    @classmethod
    def _moved_to_web(cls, data: Any) -> Any:
        moved = sorted({"enabled", "host", "port"} & set(data)) if isinstance(data, dict) else []
        if moved:
            keys = ", ".join(moved)
            raise ValueError(f"{keys}: moved to [web] (one server answers /healthz, /metrics and the public pages)")
        return data


class Web(Strict):
    """The web app in the daemon: /healthz, /metrics, the public page, feeds, the data API and
    email self-service. Bound to this machine: put a reverse proxy with TLS in front of it."""

    enabled: StrictBool = True
    host: str = "127.0.0.1"
    port: StrictInt = Field(9467, ge=0, lt=65536)
    # the address people reach it at through the proxy: links in mails (unsubscribe, confirm) and feeds
    public_url: Annotated[str, _hinted(r"^https?://[^\s?#]+$", "expected an http:// or https:// address")] | None = None
    signup: StrictBool = True  # the subscribe form (needs [email] enabled and public_url)
    signups_per_client: StrictInt = Field(5, ge=1)  # subscribe posts per client address per 10 minutes
    signups_per_address: StrictInt = Field(3, ge=1)  # confirmation mails per email address per day
    signups_per_hour: StrictInt = Field(60, ge=1)  # confirmation mails per hour in all
    confirm_within: Seconds = 48 * 3600.0  # a confirmation link expires after this

    def link(self, path: str) -> str | None:
        """``path`` under ``public_url`` (None without one)."""
        return self.public_url.rstrip("/") + path if self.public_url else None


class SourceHealth(Strict):
    """What a run of failed polls of one source does."""

    slow_after: StrictInt = Field(3, ge=1)  # failures in a row before the source is polled less often…
    slow_factor: float = Field(4.0, ge=1)  # …every slow_factor × its interval, until it works again
    broken_after: StrictInt = Field(10, ge=1)  # failures in a row before it is marked broken (an admin alert)


class Outbox(Strict):
    retry_base: Seconds = 30.0  # first retry within this (full jitter), doubling per attempt…
    retry_max: Seconds = 3600.0  # …up to this; a server's retry_after is always honoured
    batch: StrictInt = Field(200, gt=0)  # deliveries claimed at once per channel


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
    timeout: Seconds = 0.25  # a search that takes longer on a (hostile) document is cut off

    @field_validator("pattern")
    @classmethod
    def _value_group(cls, value: str) -> str:
        _compile(value, {"value"}, "pattern")
        return value

    @field_validator("date_pattern")
    @classmethod
    def _date_group(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value, {"date"}, "date_pattern")
        return value

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

    enabled: StrictBool = True
    url: Url = "https://russianwarship.rip/api/v2/statistics"
    source: Name = "russianwarship"  # its figures' source
    days_per_request: StrictInt = Field(50, ge=1, le=500)
    pause: Seconds = 1.0  # between two requests: polite to a volunteer-run API


class Config(Strict):
    storage: Storage = Storage()
    http: Http = Http()
    backfill: Backfill = Backfill()
    sources: list[Source] = []
    milestones: dict[str, Milestone] = {}
    detect: Detect = Detect()
    rules: Rules = Rules()
    console: Console = Console()
    outbox: Outbox = Outbox()
    telegram: Telegram = Telegram()
    email: Email = Email()
    webhooks: list[Webhook] = []
    health: Health = Health()
    web: Web = Web()
    source_health: SourceHealth = SourceHealth()
    metrics: dict[str, PatternMetric] = {}

    @field_validator("metrics")
    @classmethod
    def _metric_names(cls, metrics: dict[str, PatternMetric]) -> dict[str, PatternMetric]:
        for name in metrics:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                raise ValueError(f"metric name {name!r}: lowercase letters, digits and _, starting with a letter")
        return metrics

    @model_validator(mode="after")
    def _metric_sources_exist(self) -> Self:
        names = {s.name for s in self.sources}
        for metric, spec in self.metrics.items():
            unknown = [s for s in spec.sources if s not in names]
            if unknown:
                raise ValueError(f"metrics.{metric}.sources: no source named {', '.join(unknown)}")
            if spec.kind == "daily" and metric in self.milestones:
                raise ValueError(f"milestones.{metric}: {metric} is a count per day; milestones are for running totals")
        return self

    @model_validator(mode="after")
    def _served_links(self) -> Self:
        if self.web.enabled and self.web.public_url:
            self.email._served_unsubscribe = self.web.link("/unsubscribe?t=")
        return self

    @model_validator(mode="after")
    def _names_known(self) -> Self:
        """A metric or rule named anywhere must exist: a typo would otherwise never fire, silently."""
        metrics = {*METRICS, *self.metrics}
        for source in self.sources:  # a JSON source may map its fields to metrics of its own
            for target in source.mapping.metrics.values() if source.mapping else ():
                metrics.update([target] if isinstance(target, str) else [name for _, name in target])
        problems = []

        def check(where: str, name: str, known: set[str] | tuple[str, ...], what: str) -> None:
            if name not in known:
                problems.append(f"{where}: no {what} named {name!r}{_did_you_mean(name, known)}")

        for name in self.milestones:
            check(f"milestones.{name}", name, metrics, "metric")
        for family in type(self.rules).model_fields:
            for name in getattr(self.rules, family).metric:
                check(f"rules.{family}.metric.{name}", name, metrics, "metric")
        check("email.chart_metric", self.email.chart_metric, metrics, "metric")
        for rule in self.email.instant_rules:
            check("email.instant_rules", rule, RULES, "rule")
        for i, hook in enumerate(self.webhooks):
            for rule in hook.rules:
                check(f"webhooks[{i}].rules", rule, RULES, "rule")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def per_day(self, metric: str) -> bool:
        """Whether the metric is a count for each day (not a running total)."""
        spec = self.metrics.get(metric)
        return spec is not None and spec.kind == "daily"

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[Source]) -> list[Source]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return sources

    def source(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)


def state_dir() -> Path:
    """systemd's StateDirectory, else $XDG_STATE_HOME/tallywatch, else ~/.local/state/tallywatch."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "tallywatch"


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue  # pydantic's internal validator steps
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _explain(err: dict[str, Any]) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing value (required)"
    msg = msg.removeprefix("Value error, ")
    got = err.get("input")
    if kind == "string_pattern_mismatch":
        return f"{_PATTERN_HINTS.get(err.get('ctx', {}).get('pattern', ''), 'not in the expected form')}, got {got!r}"
    if kind not in ("value_error",) and not isinstance(got, dict | list):
        return f"{msg.lower()}, got {got!r}"
    return msg


def _annotation_at(loc: tuple[Any, ...]) -> Any:
    """The declared type at a key path of the config (None where it can't be told)."""
    tp: Any = Config
    for part in loc:
        while get_origin(tp) is Annotated or get_origin(tp) in (Union, UnionType):
            tp = next((a for a in get_args(tp) if a is not type(None)), None)
        if get_origin(tp) is list:
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and str(part) in tp.model_fields:
            tp = tp.model_fields[str(part)].annotation
        else:
            return None
    return tp


def _line(origin: str, err: dict[str, Any]) -> str:
    where, explained = _where(err["loc"]), _explain(err)
    if err["type"] == "extra_forbidden":
        parent = _annotation_at(tuple(p for p in err["loc"][:-1] if not str(p).startswith("function-")))
        if isinstance(parent, type) and issubclass(parent, BaseModel):
            explained += _did_you_mean(str(err["loc"][-1]), parent.model_fields)
    if where == "(top level)":  # a whole-config check: its message names its keys, one per line
        return "\n".join(f"{origin}: {line}" for line in explained.splitlines())
    return f"{origin}: {where}: {explained}"


def parse(data: dict[str, Any], origin: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_line(origin, e) for e in exc.errors())) from None


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
    return parse(tomllib.loads(defaults_text()), "built-in defaults")


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
