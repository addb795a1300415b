"""TOML → validated, typed settings.

Where the config comes from: ``--config PATH``, else ``$TALLYWATCH_CONFIG``, else
``./config/tallywatch.toml`` if it exists, else the embedded defaults (``default.toml`` in the
package: the real public sources, SQLite in the user's state folder, console output).

An unknown key, a wrong type or a missing value is a ``ConfigError`` whose text names the file,
the key and what was expected, one line per problem. Secrets never live here (see ``secrets``).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
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

DEFAULT_PATH = Path("config/tallywatch.toml")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The config is unusable; ``str(err)`` is one line per problem, ready to print."""


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
        if not m:
            raise ValueError("expected a duration such as 90, 30s, 15m, 1h or 1d")
        return float(m[1]) * _UNITS[m[2] or "s"]
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Storage(Strict):
    path: Path | None = None  # None: the user's state folder

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
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: Literal["rss", "atom", "json", "html", "telegram_channel"]
    url: str = Field(pattern=r"^https?://\S+$")  # html: may hold {date:%d%m%Y}, one page per day
    interval: Seconds = 3600.0
    jitter: float = Field(0.1, ge=0, le=1)  # fraction of the interval
    extractor: str | None = None  # default: genstaff for feeds, russianwarship for json
    enabled: StrictBool = True
    timeout: Seconds | None = None
    max_bytes: StrictInt | None = Field(None, gt=0)
    mapping: JsonMapping | None = None
    stale_after: Seconds | None = None  # default: [rules.stale] after
    selector: str | None = None  # html: the CSS selector of the element holding the report
    follow: str | None = None  # html: the url is a listing; follow its links matching this regex
    max_pages: StrictInt = Field(3, ge=1, le=50)
    # when sources give one metric for one day: the lowest priority's figure is the one the rules see
    priority: StrictInt = Field(
        DEFAULT_PRIORITY, ge=0, le=1000
    )  # html: pages (or days) per poll; telegram_channel: pages back

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
                raise ValueError(f"metric.{name}.{where}: {_explain(first)}") from None
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


class Telegram(Strict):
    """The Telegram bot and channel posts. Off unless a token is set (never here: see secrets)."""

    base_url: str = Field("https://api.telegram.org/bot", pattern=r"^https?://\S+$")  # the token is appended
    channels: list[Annotated[str, Field(pattern=r"^(@[A-Za-z][A-Za-z0-9_]{3,}|-?\d+)$")]] = []  # get every alert
    admins: list[StrictInt] = []  # numeric user ids allowed /stats and /broadcast
    timezone: str = "Europe/Kyiv"  # for subscribers' quiet hours
    concurrency: StrictInt = Field(4, ge=1, le=32)  # messages in flight at once
    polling: StrictBool = True  # answer commands (getUpdates); off: post alerts only

    @model_validator(mode="before")
    @classmethod
    def _no_token_here(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"token", "bot_token"} & set(data):
            raise ValueError(
                "the bot token is never read from the config file: set TALLYWATCH_TELEGRAM_TOKEN, or "
                "telegram_token in $CREDENTIALS_DIRECTORY or the $TALLYWATCH_CREDENTIALS file"
            )
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]  # 07:30


class Email(Strict):
    """Email over SMTP: instant alerts and daily / weekly digests. Password only from secrets."""

    enabled: StrictBool = False
    host: str = "localhost"
    port: StrictInt = Field(587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"  # none: only for a relay on this machine
    user: str | None = None  # password: TALLYWATCH_SMTP_PASSWORD or the smtp_password credential
    ca_file: Path | None = None  # extra CA to trust (a private relay); certificates are always verified
    timeout: Seconds = 30.0
    from_addr: str = Field("tallywatch@localhost", pattern=r"^[^@\s<>\r\n]+@[^@\s<>\r\n]+$")
    from_name: str = Field("tallywatch", pattern=r"^[^\r\n<>\"]*$")
    instant_rules: list[str] = ["milestone"]  # which alerts go out as one mail each
    daily_at: Clock = "07:30"
    weekly_on: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    weekly_at: Clock = "07:30"
    timezone: str = "Europe/Kyiv"
    send_empty: StrictBool = False  # a digest for a period with nothing new
    chart_metric: str = "personnel"  # the chart in digests
    unsubscribe_url: str | None = Field(None, pattern=r"^https://\S*\{token\}\S*$")  # https://…?t={token}
    unsubscribe_mailto: str | None = Field(None, pattern=r"^[^@\s<>]+@[^@\s<>]+$")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return Telegram._known_zone(value)

    @model_validator(mode="after")
    def _plain_only_locally(self) -> Email:
        if self.security == "none" and self.host not in ("localhost", "127.0.0.1", "::1"):
            raise ValueError('security = "none" is only for a relay on this machine; use starttls or ssl')
        return self


class Webhook(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    url: str = Field(pattern=r"^https?://\S+$")
    rules: list[str] = []  # only these rules (empty: every alert)
    timeout: Seconds = 10.0


class Health(Strict):
    """``/healthz`` and ``/metrics`` for the daemon; bound to this machine by default."""

    enabled: StrictBool = True
    host: str = "127.0.0.1"
    port: StrictInt = Field(9467, ge=0, lt=65536)
    allowance: float = Field(3.0, gt=1)  # unhealthy after this many intervals without a successful poll


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
    url: str = Field("https://russianwarship.rip/api/v2/statistics", pattern=r"^https?://\S+$")
    source: str = Field("russianwarship", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # its figures' source
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
    if kind not in ("value_error",) and not isinstance(got, dict | list):
        return f"{msg.lower()}, got {got!r}"
    return msg


def parse(data: dict[str, Any], origin: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = [f"{origin}: {_where(e['loc'])}: {_explain(e)}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


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
    return parse(_read(path), str(path)), str(path)


def masked_url(url: str) -> str:
    """A URL safe to print: a password, a token in its path or query hidden."""
    from .secrets import redact

    return redact(url, [])
