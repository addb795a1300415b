"""When to poll a source next: often inside the hours its reports appear, rarely outside them.

A source's **window** is learned from when its new reports appeared on the days before (each
report item's own publication time when the source gives one, else when it was first seen), in
Kyiv time — the publisher's clock, so a daylight-saving change moves nothing. The window spans the
usual times of the last two weeks (10th to 90th percentile) and every time of the last three days,
with a margin before and after, so a publisher whose hour drifts is followed within days. It is
never wider than ``MAX_WIDTH``: times spread wider (a publisher without a usual hour, or crafted
publication times) give the span of that width holding the most days, the latest day's among them
when it can be.

Inside the window the source is polled every ``fast`` seconds (a conditional GET: an unchanged
feed costs a 304); in the three hours before it (an early report: a publisher back at an earlier
hour) every ``EARLY`` × fast far from it, down to ``LATE`` × fast as it nears (a sixth of the time
left); for a few hours after it (a late report) every ``LATE`` × fast; otherwise at the normal
interval, never past the next of those moments. Once the day's report is in, the source relaxes to its normal interval until the next
day's window. Two polls are never closer than ``fast`` seconds, and the next one is always after
now (a trigger asked again at once would spin). Without enough
history (``MIN_DAYS``) a source is polled at its normal interval.

``next_poll`` is one pure function of (the times seen, now), tested with a clock; the daemon's
trigger, ``tallywatch sources`` and ``bench/latency.py`` all use it. The daemon's trigger and the
benchmark then move each planned poll later by the source's jitter through ``jittered``, which never
carries a poll past an edge of the window (``edges``).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

KYIV = ZoneInfo("Europe/Kyiv")
LOOKBACK = 14  # days of history the window is learned from
RECENT = 3  # the last days that always fall inside it (a drifting hour is followed)
MIN_DAYS = 3  # days with a report needed before a window is trusted
BEFORE = 10  # minutes of margin before the earliest usual time
AFTER = 20  # … and after the latest
LATE = 3  # an early or late report is waited for at this × the fast interval at least …
EARLY_FOR = 3 * 60  # … from this many minutes before the window opens …
LATE_FOR = 6 * 60  # … and for this many minutes after it closes
APPROACH = 6  # before the window a poll waits this fraction of the time left (LATE to EARLY × fast)
EARLY = 8  # × the fast interval: the longest wait in the hours before the window
DONE_BEFORE = 3 * 60  # a report seen this long before the window opens is yesterday's, late
MAX_WIDTH = 4 * 60  # minutes: the widest window, margins included


@dataclass(frozen=True)
class Window:
    start: int  # minutes after midnight, Kyiv time
    end: int
    days: int  # days with a report it was learned from

    def __str__(self) -> str:
        return f"{_clock(self.start)}–{_clock(self.end)} Kyiv time (learned from {self.days} days)"


def _clock(minutes: int) -> str:
    minutes = max(0, min(minutes, 24 * 60 - 1))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(when: dt.datetime) -> int:
    local = when.astimezone(KYIV)
    return local.hour * 60 + local.minute


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def firsts(seen: Iterable[dt.datetime]) -> dict[dt.date, dt.datetime]:
    """The earliest report of each Kyiv day."""
    out: dict[dt.date, dt.datetime] = {}
    for when in seen:
        day = when.astimezone(KYIV).date()
        if day not in out or when < out[day]:
            out[day] = when
    return out


def learn(seen: Iterable[dt.datetime], now: dt.datetime) -> Window | None:
    """The window from the reports of the ``LOOKBACK`` days before today; None with too few."""
    today = now.astimezone(KYIV).date()
    days = {d: t for d, t in firsts(seen).items() if 1 <= (today - d).days <= LOOKBACK}
    if len(days) < MIN_DAYS:
        return None
    ordered = [_minutes(days[d]) for d in sorted(days)]
    recent = ordered[-RECENT:]
    first, last = min(_quantile(ordered, 0.1), *recent), max(_quantile(ordered, 0.9), *recent)
    span = MAX_WIDTH - BEFORE - AFTER
    if last - first > span:  # too wide: the span holding the most days (the latest day's, if it can)
        first = max(ordered, key=lambda a: (sum(a <= m <= a + span for m in ordered), a <= ordered[-1] <= a + span))
        last = max(m for m in ordered if first <= m <= first + span)
    return Window(max(0, first - BEFORE), min(24 * 60 - 1, last + AFTER), len(ordered))


def _at(day: dt.date, minutes: int) -> dt.datetime:
    """That wall-clock time in Kyiv on that day (zoneinfo resolves a daylight-saving change)."""
    return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=KYIV)


def done_today(seen: Iterable[dt.datetime], window: Window, now: dt.datetime) -> bool:
    """Whether today's report is in: one seen today, not long before the window (that is yesterday's, late)."""
    today = now.astimezone(KYIV).date()
    first = firsts(t for t in seen if t <= now).get(today)
    return first is not None and _minutes(first) >= window.start - DONE_BEFORE


def next_poll(seen: list[dt.datetime], now: dt.datetime, normal: float, fast: float) -> dt.datetime:
    """When to poll next, given the report times seen so far and now (UTC or any zone): at least
    ``fast`` seconds after now."""
    now = now.astimezone(dt.UTC)  # adding seconds to a Kyiv wall-clock time is wrong across a DST change
    return max(now + dt.timedelta(seconds=fast), _planned(seen, now, normal, fast))


def _planned(seen: list[dt.datetime], now: dt.datetime, normal: float, fast: float) -> dt.datetime:
    window = learn(seen, now)
    if window is None:
        return now + dt.timedelta(seconds=normal)
    today = now.astimezone(KYIV).date()
    opens, closes = _at(today, window.start), _at(today, window.end)
    early = dt.timedelta(minutes=EARLY_FOR)
    relaxed = now + dt.timedelta(seconds=normal)
    watchful = now + dt.timedelta(seconds=min(normal, LATE * fast))

    def nearing(opens: dt.datetime) -> dt.datetime:  # in the hours before a window: sooner as it nears
        left = (opens - now).total_seconds()
        return min(opens, now + dt.timedelta(seconds=min(normal, max(LATE * fast, min(EARLY * fast, left / APPROACH)))))

    # until tomorrow's window: its early hours may have begun before midnight (a window soon after it)
    opens_tomorrow = _at(today + dt.timedelta(days=1), window.start)
    tomorrow = min(relaxed, opens_tomorrow - early) if now < opens_tomorrow - early else nearing(opens_tomorrow)
    if done_today(seen, window, now):
        return tomorrow
    if now < opens - early:
        return min(relaxed, opens - early)
    if now < opens:
        return nearing(opens)
    if now <= closes:
        return now + dt.timedelta(seconds=fast)
    if now <= closes + dt.timedelta(minutes=LATE_FOR):
        return watchful
    return tomorrow


def edges(seen: list[dt.datetime], now: dt.datetime) -> list[dt.datetime]:
    """The moments from which the schedule polls more often than before them: the start of the early
    hours before the window and the window's opening, today's and tomorrow's (none without a window)."""
    window = learn(seen, now)
    if window is None:
        return []
    today = now.astimezone(KYIV).date()
    early = dt.timedelta(minutes=EARLY_FOR)
    return sorted(
        moment
        for day in (today, today + dt.timedelta(days=1))
        for opens in [_at(day, window.start).astimezone(dt.UTC)]
        for moment in (opens - early, opens)
    )


def jittered(
    seen: list[dt.datetime], now: dt.datetime, planned: dt.datetime, fast: float, jitter: float, rng: random.Random
) -> dt.datetime:
    """``planned`` (from ``next_poll``) moved later by a random part of the wait, so that sources
    (and installs) do not all poll at the same second: up to ``jitter`` × the wait, a quarter of
    ``fast`` at most when polling fast, and never past an edge of the window (``edges``: a poll
    planned before the early hours or the window's opening comes at that moment at the latest)."""
    wait = (planned - now).total_seconds()
    spread = jitter * wait if wait > fast else min(jitter * wait, fast / 4)
    edge = next((e for e in edges(seen, now) if e >= planned), None)
    if edge is not None:
        spread = min(spread, (edge - planned).total_seconds())
    return planned + dt.timedelta(seconds=rng.uniform(0, max(0.0, spread)))
