"""The daily report: once a day's report is complete, one ``report:YYYY-MM-DD`` event.

Complete means every core metric (the nine every General Staff report has named since 2022) has
a figure for the day *accepted* into its series — the guard and the confirmation rules decide,
so a held typo keeps the report back rather than spreading into it — and the day is the newest
of each series (a day filled in behind newer ones is history, not news).

The event carries every metric's total and the day's change in the report's own order, the day
of the full-scale war, personnel's rank among the last 365 days, and the day's news as
``standouts``: first the milestones crossed that day (the report's headline: ``headlines``), then
its records, spikes and corrections of its figures, one line each. Those alerts are *folded* into
the report (``data["folded"]``), so a reader of the report does not get them again as separate
messages. So are milestones learned of too late to be news (``milestones.late``), whatever their
day. A milestone of the day is not folded: it is news of its own, an alert for those who chose
alerts, and the headline of the report for everyone who reads it. The rank is said only when it
is news (``notable_rank``: a top-10 day of the last 365).

A later change to the day's figures (a revision, a late category, a source of higher priority)
makes a new version, ``report:YYYY-MM-DD/2``, that ``replaces`` the one before: the outbox sends
it as an edit of the message already sent. The same figures again make nothing.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..extract.genstaff import CORE_METRICS, METRICS
from ..models import Event
from .window import Window
from .wording import figures_said

FULL_SCALE_WAR = dt.date(2022, 2, 24)  # day 1 (russianwarship.rip's "day" counts the same way)
FOLDED = ("spike", "record", "correction")  # alerts of a reported day that become a line of the report
ORDER = {"milestone": 0, "record": 1, "spike": 2, "correction": 3}  # the day's news first; late crossings last
RANK_DAYS = 365
RANK_COVERED = 300  # days of history before personnel's rank is said
NOTABLE_RANK = 10  # personnel's rank is news only among the 10 highest days of the last 365


def day_of_war(day: dt.date) -> int:
    return (day - FULL_SCALE_WAR).days + 1


def key(day: dt.date, version: int = 1) -> str:
    return f"report:{day.isoformat()}" + (f"/{version}" if version > 1 else "")


def standing(window: Callable[[str], Window], day: dt.date) -> dict[str, str]:
    """Each core category on ``day``: ``in`` (its figure accepted), ``held`` (a suspect figure waits
    for confirmation), ``passed`` (none, and its series went on past the day — accepted, or held: the
    figure was set aside, or never given) or ``missing`` (none yet)."""
    out = {}
    for metric in CORE_METRICS:
        w = window(metric)
        last = w.last
        if (last is not None and last.as_of == day) or w.points.get(day) is not None:  # (the newest day: its head)
            out[metric] = "in"
        elif w.suspect is not None and w.suspect.as_of == day:
            out[metric] = "held"
        else:  # the series went on past the day (accepted, or held: a newer suspect set this one aside)
            later = w.after(day) is not None or (w.suspect is not None and w.suspect.as_of > day)
            out[metric] = "passed" if later else "missing"
    return out


def days_to_tell(
    window: Callable[[str], Window],
    days: Iterable[dt.date],
    told: Callable[[dt.date], bool],
    owed: Callable[[dt.date], bool],
    recent: int,
) -> tuple[list[dt.date], list[dt.date]]:
    """Of ``days`` (whose series a live batch changed: with figures it brought, a day told already,
    a day held back), the ones whose report it makes or revises, oldest first, and those whose
    report waits for a held figure: no core category missing; none held unless the day was told
    already (``told``); within ``recent`` days of the newest unless its report is ``owed`` (told
    already, or held back). Never a day of history (a second source repeating it changes no
    series), never one skipped because the next came first, however late that was."""
    heads = [window(m).last for m in CORE_METRICS]
    if any(head is None for head in heads):
        return [], []
    newest = max(head.as_of for head in heads)
    tell, wait = [], []
    for day in sorted(set(days)):
        if (newest - day).days > recent and not owed(day):
            continue
        states = set(standing(window, day).values())
        if "missing" in states:
            continue
        if "held" in states and not told(day):
            wait.append(day)
        else:
            tell.append(day)
    return tell, wait


def figures(window: Callable[[str], Window], day: dt.date) -> list[dict[str, Any]]:
    """Each reported metric's total on ``day`` and its change from the day before (None: no day
    before); a core category whose figure is held or was set aside is there, not confirmed."""
    out = []
    for metric in METRICS:
        w = window(metric)
        days = w.days
        last = w.last
        # the day's place in the series (``points.get``, ``before``): the newest day's (each day of a
        # replay, each live report) is the last, else found by bisection
        i = len(days) - 1 if last is not None and last.as_of == day else bisect.bisect_left(days, day)
        if i == len(days) or days[i] != day:
            if metric in CORE_METRICS:
                out.append({"metric": metric, "value": None, "delta": None, "confirmed": False})
            continue
        point, before = w.points.at(i), w.points.at(i - 1) if i else None
        if before is not None and (day - before.as_of).days == 1:
            delta = point.value - before.value
        else:
            delta = point.reported_delta
        out.append({"metric": metric, "value": point.value, "delta": delta})
    return out


def rank(w: Window, day: dt.date) -> dict[str, int] | None:
    """Where the day's rise stands among the daily rises of the last 365 days (1: the highest).

    The newest day's (each day of a replay, each live report) from the changes the window keeps up
    to date (``Window.changes``); a day behind it (a held day's report) counted over its year."""
    if w.covered(day, RANK_DAYS) < RANK_COVERED:
        return None
    if w.last is None or day != w.last.as_of:
        return _rank_counted(w, day)
    changes = w.changes(RANK_DAYS)
    newest = changes.newest()
    if newest is None or newest[0] != day:  # the day before is not known: no rise
        return None
    return {"rank": 1 + changes.above(newest[1]), "of": len(changes)}


def _rank_counted(w: Window, day: dt.date) -> dict[str, int] | None:
    """``rank`` counted over the day's year of the series (for a day behind the newest)."""
    start = day - dt.timedelta(days=RANK_DAYS)
    first = max(0, bisect.bisect_right(w.days, start) - 1)  # the day before the window: the first rise's base
    rises, previous, today = [], None, None
    for point in w.points.tail(first):
        d = point.as_of
        if d > day:  # a day reported after later ones (held back): its year ends with it
            break
        if previous is not None and d > start and (d - previous.as_of).days == 1:
            rises.append(point.value - previous.value)
            if d == day:
                today = rises[-1]
        previous = point
    if today is None:
        return None
    return {"rank": 1 + sum(1 for r in rises if r > today), "of": len(rises)}


@dataclass(frozen=True)
class Origin:
    """Where a day's report comes from: the source's id, whose figures they are (``Source.said_by``)
    and where people can read them (the post's link, if known)."""

    source: str
    said_by: str
    link: str | None = None


def evaluate(
    window: Callable[[str], Window], versions: list[dict[str, Any]], day: dt.date, found: list[Event], origin: Origin
) -> Event | None:
    """The report event for ``day`` — its first version, or a new one if its figures changed —
    or None. ``versions``: the day's report events stored before (oldest first); ``found``: the
    batch's other events (the day's spikes and records are folded into the report)."""
    source, said_by, link = origin.source, origin.said_by, origin.link
    reported = figures(window, day)
    previous = versions[-1]["data"] if versions else None
    if previous is not None and previous["figures"] == reported:
        return None  # the same report again (another source, an edit elsewhere in the post)
    data: dict[str, Any] = {
        "day_of_war": day_of_war(day),
        "figures": reported,
        "rank": rank(window("personnel"), day),
        "publisher": said_by,
        "link": link,
    }
    folded = [e for e in found if (e.rule in FOLDED and e.as_of == day) or "late" in e.data]
    crossed = [e for e in found if e.as_of == day and _headline(e.rule, e.data)]
    standouts = [
        {"rule": e.rule, "metric": e.metric, "value": e.value, "message": e.message, "data": e.data}
        for e in (*crossed, *folded)
    ]
    if previous is not None:  # the day's earlier lines stay, unless a new one says the same of the same category
        newer = {(s["rule"], s["metric"]) for s in standouts}
        kept = [s for s in previous.get("standouts", []) if (s["rule"], s["metric"]) not in newer]
        standouts = [*kept, *standouts]
        data["link"] = link or previous.get("link")
    data["standouts"] = sorted(standouts, key=lambda s: 4 if "late" in s["data"] else ORDER.get(s["rule"], 4))
    version = len(versions) + 1
    if versions:
        data["version"] = version
        data["replaces"] = [versions[-1]["id"]]
    report = key(day, version)
    for e in folded:
        e.data["folded"] = report
    personnel = next((f for f in data["figures"] if f["metric"] == "personnel"), None)
    message = _summary(day, data["figures"])
    value = personnel["value"] if personnel and personnel["value"] is not None else 0
    return Event(
        key=report,
        rule="report",
        metric="",
        as_of=day,
        value=value,
        message=message,
        severity="info",
        data=data,
        source=source,
    )


def _headline(rule: str, data: Mapping[str, Any]) -> bool:
    """A milestone told as news (not one learned of late): of a report's day, its headline."""
    return rule == "milestone" and "late" not in data


def headlines(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The milestones crossed on the report's day, in the report's order: its headline."""
    return [s for s in report.get("standouts", []) if _headline(s["rule"], s["data"])]


def lines(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's other standouts: records, spikes, corrections, crossings learned of late."""
    return [s for s in report.get("standouts", []) if not _headline(s["rule"], s["data"])]


def notable_rank(report: Mapping[str, Any]) -> dict[str, int] | None:
    """Personnel's rank, when it is news: among the ``NOTABLE_RANK`` highest days of the last 365
    and not already said (the highest day is a spike or a record of personnel's, whose line says
    "the most in a year")."""
    rank = report.get("rank")
    if not rank or rank["rank"] > NOTABLE_RANK:
        return None
    if rank["rank"] == 1 and any(
        s["metric"] == "personnel" and s["rule"] in ("spike", "record") for s in report.get("standouts", [])
    ):
        return None
    return rank


def _summary(day: dt.date, figures: list[Mapping[str, Any]]) -> str:
    """The report in one English line (the console, logs, webhooks' ``message``)."""
    parts = figures_said((f["metric"], f["value"], f["delta"]) for f in figures)
    return f"Russian losses, day {day_of_war(day):,} of the full-scale war: " + ", ".join(parts)
