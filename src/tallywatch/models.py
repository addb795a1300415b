"""Plain values passed from one pipeline stage to the next.

fetch → ``Document`` → extract → ``Reading`` (``Figure``s and a verdict) → store → ``Change`` → detect → ``Event``.
No stage keeps a reference to another's internals; these dataclasses are the contract.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Required, TypedDict
from zoneinfo import ZoneInfo

# The reports' calendar: a report "for 14.06" is Kyiv's 14 June (a dated page's "today", an item's day).
REPORT_ZONE = ZoneInfo("Europe/Kyiv")


@dataclass(frozen=True)
class Document:
    """One item a source published: a feed entry, or one record of a JSON API."""

    source: str
    guid: str
    text: str = ""
    title: str = ""
    link: str = ""
    published: dt.datetime | None = None  # when the source says it published it: a moment (a day alone: dated)
    payload: Any = None  # structured data (JSON sources); text sources leave it None
    # the day it is dated by when the source gives a day without a time of day (a dated page's URL,
    # a date-only meta): it dates the report, and is no publication time (00:00 is nobody's hour)
    dated: dt.date | None = None

    @property
    def day(self) -> dt.date | None:
        """The Kyiv calendar day it was published (a time without a zone is UTC, as feeds give it)."""
        return self.dated if self.published is None else report_day(self.published)


def report_day(when: dt.datetime) -> dt.date:
    """The report day of a moment: its calendar day in Kyiv, where the figures are published (a
    time without a zone is UTC). Every event is dated this way, the daemon's own ones too."""
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(REPORT_ZONE).date()


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One number a report states: the running total of ``metric`` on ``as_of``."""

    metric: str
    as_of: dt.date
    value: int
    reported_delta: int | None = None

    def out_of_range(self) -> str | None:
        """Why this is no loss count, or None: a total below 0 or above ``MAX_FIGURE`` is a misread
        (digits run together, a hostile feed), and the rules must never work on it."""
        if 0 <= self.value <= MAX_FIGURE and (self.reported_delta is None or abs(self.reported_delta) <= MAX_FIGURE):
            return None
        number = self.value if not 0 <= self.value <= MAX_FIGURE else self.reported_delta
        shown = f"{number:,}" if abs(number) < 10**18 else f"about 10^{len(str(abs(number))) - 1}"
        return f"{self.metric} {shown} on {self.as_of} is not a loss count (limit {MAX_FIGURE:,}); ignored"


# every kind of event tallywatch raises (``Event.rule``): what `instant_rules` and a webhook's
# `rules` may name
RULES = (
    "milestone",
    "approaching",
    "spike",
    "record",
    "correction",
    "reported_delta",
    "guard",
    "disagreement",
    "stale",
    "stopped",
    "recovered",
    "broken",
    "repaired",
    "broadcast",
    "digest",
    "report",
)
# Who is told of an event. The readers — subscribers, the config's channels, the page, the feeds, the
# API's events, the digests — get the figures and what they mean: milestones, records, unusual days,
# corrections. What is wrong with the data or the service — a figure held or set aside ("guard"), sources
# disagreeing, a printed change that does not add up, a source broken, stale, stopped or back — is for the
# admins only (``[telegram] admins``, the console, the webhooks), with the sources' ids. A retraction
# ("guard") reaches readers only as the answer to an alert they got (``outbox.enqueue``), in plain words.
ADMIN_ONLY = frozenset(
    {"guard", "disagreement", "reported_delta", "stale", "stopped", "recovered", "broken", "repaired"}
)


def for_readers(rule: str) -> bool:
    """Whether readers are told of an event of ``rule`` (else only the admins): the one answer every
    channel, the page, the feeds, the API and the digests ask."""
    return rule not in ADMIN_ONLY


MAX_FIGURE = 10**9  # every running total watched is far below; SQLite's integers end at 2^63


@dataclass(frozen=True)
class Reading:
    """What extraction made of one document: its figures and a verdict on it.

    ``verdict``: ``report`` (a loss report, read), ``not_report`` (any other item: fine, silent)
    or ``broken`` (it looks like a loss report — a header or title and category lines, or several
    category lines — but gave fewer than the core metrics: a source failure, never "nothing new").
    ``coverage`` says how much of a report was read: ``complete``, ``partial`` (a line skipped, or
    a core metric missing) or ``unread`` (no figure at all); empty for anything not a report.
    """

    figures: list[Figure]
    verdict: str = "report"
    coverage: str = "complete"
    problems: tuple[str, ...] = ()  # what was missing or skipped, for the log and the source's health

    @classmethod
    def of(cls, figures: list[Figure]) -> Reading:
        """A structured record (JSON): a report if it gave figures, else not one."""
        return cls(figures) if figures else cls([], "not_report", "")


@dataclass(frozen=True, slots=True)
class Change:
    """What storing a figure did for its source: ``new``, ``unchanged`` or ``revised``."""

    figure: Figure
    kind: str
    source: str
    previous: int | None = None  # the value this source had given for the day (revised only)


@dataclass(slots=True)
class Step:
    """A figure accepted into a metric's series, with the accepted point before it."""

    metric: str
    as_of: dt.date
    value: int
    source: str
    prior_as_of: dt.date | None = None
    prior_value: int | None = None
    reported_delta: int | None = None
    latest: bool = True  # False for a day filled in behind newer ones
    per_day: bool = False  # the value is a count for the day itself, not a running total
    # derived from the above (computed once: every rule reads them)
    delta: int | None = field(init=False)  # change since the prior accepted day, computed, not the printed (+N)
    gap: int | None = field(init=False)  # days since the prior accepted day
    daily: bool = field(init=False)  # the day right after the last one, at the head of the series

    def __post_init__(self) -> None:
        known = self.prior_value is not None and self.prior_as_of is not None
        self.gap = gap = (self.as_of - self.prior_as_of).days if known else None
        if self.per_day:  # the day's count is its "rise": spikes and records read it as such
            self.delta, self.daily = self.value, self.latest
            return
        self.delta = self.value - self.prior_value if known else None
        self.daily = self.latest and gap == 1


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something worth telling people, identified by a stable ``key``."""

    key: str
    rule: str
    metric: str
    as_of: dt.date
    value: int
    message: str
    severity: str = "info"
    data: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the source whose report caused it (set when read back from the store)

    @classmethod
    def about(cls, step: Step, key: str, rule: str, severity: str, message: str, **data: Any) -> Event:
        """An event about an accepted figure: its metric, day and value come from the step."""
        return cls(
            key=key,
            rule=rule,
            metric=step.metric,
            as_of=step.as_of,
            value=step.value,
            message=message,
            severity=severity,
            data=data,
        )


# -- what each kind of event carries in ``Event.data`` ----------------------------------------------
# One TypedDict per rule (``EVENT_DATA``): the keys an event of that rule may carry and their types,
# as they are stored (JSON: a day is an ISO string). Every key is optional unless ``Required``: an
# event made by hand (a broadcast, a test) may leave some out; the rules fill what they know.
# ``check_data`` holds an event to its rule's shape; the tests run it on every event stored.

LateData = TypedDict("LateData", {"from": str, "to": str})  # the days a late milestone fell between


class RankData(TypedDict):
    rank: int  # the day's place among all days (1: the most)
    of: int


class ReportFigure(TypedDict, total=False):
    metric: Required[str]
    value: int | None  # None: held (not confirmed yet)
    delta: int | None
    confirmed: bool


class Standout(TypedDict):
    """An event the daily report tells of (a milestone, a record, …), as the report keeps it."""

    rule: str
    metric: str
    value: int
    message: str
    data: dict[str, Any]


class RecordData(TypedDict):
    delta: int
    previous: int  # the rise it beat
    previous_on: str
    window: int  # days looked back
    per_day: bool


class _Told(TypedDict, total=False):
    publisher: str  # whose figures these are (``config.Source.said_by``)
    link: str | None  # the report the figure came from
    folded: str  # the key of the daily report that tells of it too


class MilestoneData(_Told, total=False):
    level: int
    delta: int
    prior_as_of: str
    late: LateData  # learned of days after it was crossed


class ApproachingData(_Told, total=False):
    level: Required[int]
    expected: Required[str]  # the day it is expected
    rate: Required[float]  # per day


class SpikeData(_Told, total=False):
    delta: int
    direction: str  # "rise" or "drop"
    baseline: float
    score: float | None
    per_day: bool
    record: RecordData  # the spike is also the most in the window


class RecordEventData(_Told, total=False):
    delta: Required[int]
    previous: Required[int]
    previous_on: Required[str]
    window: Required[int]
    per_day: Required[bool]


class CorrectionData(_Told, total=False):
    kind: str  # "revised" (the publisher's own) or a figure set aside
    old: int
    new: int
    answers: list[int]  # the ids of the events it corrects


class ReportedDeltaData(_Told, total=False):
    computed: Required[int]
    reported: Required[int]


class GuardData(_Told, total=False):
    source: Required[str]
    why: str
    discarded: bool
    other: int
    other_day: str
    other_source: str
    retracted: bool
    retracts: list[int]  # the ids of the events it takes back
    later: list[tuple[int, str]]


class DisagreementData(_Told, total=False):
    """Also each source's value under its name (as before the list), which ``check_data`` allows."""

    sources: Required[list[tuple[str, int]]]


class SourceData(TypedDict, total=False):
    source: Required[str]
    since: str
    error: str  # broken
    ever: bool  # stopped: a report came once
    last_new_report: str  # stale
    silent_since: str  # recovered


class BroadcastData(TypedDict, total=False):
    by: int  # the admin's Telegram id


class DigestEvent(TypedDict):
    as_of: str
    rule: str
    metric: str
    value: int
    message: str
    data: dict[str, Any]


class DigestMetric(TypedDict):
    metric: str
    as_of: str
    value: int
    change: int


class DigestData(TypedDict, total=False):
    kind: Required[str]  # daily or weekly
    label: Required[str]
    since: Required[str]
    as_of: Required[str]
    chart_metric: Required[str]
    metrics: Required[list[DigestMetric]]
    events: Required[list[DigestEvent]]
    awaited: str  # the day's report had not come when it went


class ReportData(_Told, total=False):
    day_of_war: int
    figures: list[ReportFigure]
    rank: RankData | None
    standouts: list[Standout]
    version: int  # 2, 3, …: a newer version of the day's report
    replaces: list[int]  # the ids of the versions it replaces


EVENT_DATA: dict[str, type] = {
    "milestone": MilestoneData,
    "approaching": ApproachingData,
    "spike": SpikeData,
    "record": RecordEventData,
    "correction": CorrectionData,
    "reported_delta": ReportedDeltaData,
    "guard": GuardData,
    "disagreement": DisagreementData,
    "stale": SourceData,
    "stopped": SourceData,
    "recovered": SourceData,
    "broken": SourceData,
    "repaired": SourceData,
    "broadcast": BroadcastData,
    "digest": DigestData,
    "report": ReportData,
}


def check_data(rule: str, data: dict[str, Any]) -> list[str]:
    """What is wrong with an event's data for its rule (``EVENT_DATA``): keys it may not carry,
    values of the wrong type, required keys missing; [] when it fits."""
    import json

    import msgspec

    shape = EVENT_DATA.get(rule)
    if shape is None:
        return [f"no data shape for the rule {rule!r}"]
    stored = json.loads(json.dumps(data, default=str))  # as the store keeps it
    if rule == "disagreement":  # each source's value under its name, beside the list
        named = {name for name, _ in stored.get("sources", [])}
        stored = {k: v for k, v in stored.items() if not (k in named and isinstance(v, int))}
    problems = [f"{rule}: unknown key {key!r}" for key in sorted(set(stored) - set(_keys(shape)))]
    try:
        msgspec.convert(stored, shape)
    except msgspec.ValidationError as exc:
        problems.append(f"{rule}: {exc}")
    return problems


def _keys(shape: type) -> set[str]:
    from typing import get_type_hints

    return set(get_type_hints(shape))
