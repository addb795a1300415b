"""A metric's accepted series in memory, with sliding windows of its daily rises.

Built once from the store, then kept up to date one accepted day at a time, so a new day costs
O(window) at most (a bisect into a sorted list) instead of re-reading the history. Only
consecutive days count as daily rises; decreases (corrections) are kept out of the baselines.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from ..config import Approaching, Config, Correction, Disagreement, Guard, Milestone, Record, ReportedDelta, Spike
from ..models import Step


class Point(NamedTuple):
    """A figure in a metric's series (or held beside it). Immutable, as a frozen dataclass was, and
    made in a third of the time: one for every figure a replay stores."""

    as_of: dt.date
    value: int
    source: str
    reported_delta: int | None = None


@dataclass(frozen=True)
class MetricRules:
    """A metric's settings for every rule, resolved once (per-metric overrides applied)."""

    milestone: Milestone | None
    spike: Spike
    record: Record
    approaching: Approaching
    guard: Guard
    correction: Correction
    reported_delta: ReportedDelta
    disagreement: Disagreement

    @classmethod
    def resolve(cls, metric: str, config: Config) -> MetricRules:
        r = config.rules
        return cls(
            config.milestones.get(metric),
            r.spike.for_metric(metric),
            r.record.for_metric(metric),
            r.approaching.for_metric(metric),
            r.guard.for_metric(metric),
            r.correction.for_metric(metric),
            r.reported_delta.for_metric(metric),
            r.disagreement.for_metric(metric),
        )


class SortedWindow:
    """The daily rises of the last ``days`` days, kept sorted: O(1) max, median and quantiles.

    The sorted copy is built the first time a rule asks for it and maintained from then on, so a
    window only some metrics need (the long one of bursty metrics) costs the others a deque append.
    It holds the rises alone (plain ints: a bisection compares no days, and the median, a quantile
    or the largest rise read no day); the day a rise leaves the window takes one of its value out.
    """

    def __init__(self, days: int) -> None:
        self.days = days
        self._span = dt.timedelta(days=days)
        # in order of arrival: the days and their rises side by side (a (day, rise) pair for each
        # cost 64 bytes more: ~0.4 MB of an idle daemon's windows)
        self._days: deque[dt.date] = deque()
        self._rises: deque[int] = deque()
        self._sorted: list[int] | None = None

    def __len__(self) -> int:
        return len(self._rises)

    def add(self, day: dt.date, rise: int) -> None:
        days, rises, ordered = self._days, self._rises, self._sorted
        days.append(day)
        rises.append(rise)
        if ordered is not None:
            bisect.insort(ordered, rise)
        limit = day - self._span
        while days[0] <= limit:
            days.popleft()
            old = rises.popleft()
            if ordered is not None:
                del ordered[bisect.bisect_left(ordered, old)]

    def _ordered(self) -> list[int]:
        if self._sorted is None:
            self._sorted = sorted(self._rises)
        return self._sorted

    def values(self) -> list[int]:
        """The rises, smallest first (the window's own list: read it, never change it)."""
        return self._ordered()

    def most(self) -> int | None:
        """The largest rise (None: none yet)."""
        ordered = self._ordered()
        return ordered[-1] if ordered else None

    def quantile(self, q: float) -> int:
        ordered = self._ordered()
        return ordered[int(q * (len(ordered) - 1))]

    def median(self) -> float:
        ordered = self._ordered()
        n = len(ordered)
        mid = n // 2
        return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class Changes(SortedWindow):
    """Every day-to-day change of the last ``days`` days (falls too, unlike the rules' rises), sorted:
    where the newest day's change stands among them, without walking the days again."""

    def newest(self) -> tuple[dt.date, int] | None:
        """The newest day's change, if its day before is known."""
        return (self._days[-1], self._rises[-1]) if self._rises else None

    def above(self, change: int) -> int:
        """How many of the changes are larger than ``change``."""
        ordered = self._ordered()
        return len(ordered) - bisect.bisect_right(ordered, change)


class SlidingMax:
    """The largest daily rise of the last ``days`` days: a monotonic deque, O(1) amortised."""

    def __init__(self, days: int) -> None:
        self.days = days
        self._span = dt.timedelta(days=days)
        self._deque: deque[tuple[int, dt.date]] = deque()  # (rise, day), rises strictly decreasing

    def __len__(self) -> int:
        return len(self._deque)

    def add(self, day: dt.date, rise: int) -> None:
        q = self._deque
        while q and q[-1][0] <= rise:
            q.pop()
        q.append((rise, day))
        limit = day - self._span
        while q[0][1] <= limit:
            q.popleft()

    def largest(self) -> tuple[int, dt.date] | None:
        """(rise, day) of the largest rise, as kept (the guard asks it for every figure)."""
        q = self._deque
        return q[0] if q else None


class ByDay:
    """A window's accepted points by day: a list beside its sorted ``days``, found by bisection.
    (A dict per metric held ~1 MB for the bundled history's 22,000 points, for lookups a
    bisection does as well.)"""

    __slots__ = ("_days", "_points")

    def __init__(self, days: list[dt.date]) -> None:
        self._days = days
        self._points: list[Point] = []

    def get(self, day: dt.date) -> Point | None:
        i = bisect.bisect_left(self._days, day)
        return self._points[i] if i < len(self._days) and self._days[i] == day else None

    def at(self, i: int) -> Point:
        """The ``i``-th point, in the order of ``days``."""
        return self._points[i]

    def tail(self, i: int) -> list[Point]:
        """The points from the ``i``-th on, oldest first."""
        return self._points[i:]

    def append(self, point: Point) -> None:
        self._points.append(point)


class Window:
    def __init__(self, metric: str, config: Config) -> None:
        self.metric = metric
        self.per_day = config.per_day(metric)  # a count per day (pattern metrics), not a running total
        self.rules = rules = MetricRules.resolve(metric, config)
        self.days: list[dt.date] = []
        self.points = ByDay(self.days)
        self.last: Point | None = None  # the newest accepted point
        self.suspect: Point | None = None
        # sorted windows where a median or quantile is needed; sliding maxima where the largest is
        self._sorted = {days: SortedWindow(days) for days in (rules.spike.window, rules.spike.bursty_window)}
        self._maxima = {days: SlidingMax(days) for days in (rules.guard.window, rules.record.window) if days}
        self._windows: list[SortedWindow | SlidingMax] = [*self._sorted.values(), *self._maxima.values()]
        self.largest_ever: tuple[int, dt.date] | None = None
        self.daily_rises = 0  # how many daily rises are known (history for the rules)
        self._changes: dict[int, Changes] = {}  # built when asked (personnel's rank), then kept up to date

    def covered(self, day: dt.date, days: int) -> int:
        """How many of the ``days`` days before ``day`` the series covers (for honest wording)."""
        return min(days, (day - self.days[0]).days) if self.days else 0

    def rises(self, days: int) -> SortedWindow:
        """The daily rises of the last ``days`` days, sorted (a window the spike rule asked for)."""
        return self._sorted[days]

    def largest(self, days: int) -> tuple[int, dt.date] | None:
        """The largest daily rise of the last ``days`` days (a window the guard or record rule asked for)."""
        return self._maxima[days].largest()

    def changes(self, days: int) -> Changes:
        """The day-to-day changes of the ``days`` days up to the newest one (falls too): read from the
        series the first time, then kept up to date by ``push``."""
        changes = self._changes.get(days)
        if changes is None:
            changes = self._changes[days] = Changes(days)
            if self.last is not None:
                start = self.last.as_of - dt.timedelta(days=days)
                previous = None
                for point in self.points.tail(max(0, bisect.bisect_right(self.days, start) - 1)):
                    if previous is not None and point.as_of > start and (point.as_of - previous.as_of).days == 1:
                        changes.add(point.as_of, point.value - previous.value)
                    previous = point
        return changes

    def before(self, day: dt.date) -> Point | None:
        i = bisect.bisect_left(self.days, day)
        return self.points.at(i - 1) if i else None

    def after(self, day: dt.date) -> Point | None:
        i = bisect.bisect_right(self.days, day)
        return self.points.at(i) if i < len(self.days) else None

    def step_for(self, point: Point) -> Step:
        last = self.last
        latest = last is None or point.as_of > last.as_of
        prior = last if latest else self.before(point.as_of)
        return Step(
            self.metric,
            point.as_of,
            point.value,
            point.source,
            prior.as_of if prior else None,
            prior.value if prior else None,
            point.reported_delta,
            latest,
            self.per_day,
        )

    def push(self, point: Point) -> None:
        """Add an accepted point at the head of the series (the newest day)."""
        prior = self.last
        day, value = point.as_of, point.value
        self.days.append(day)
        self.points.append(point)
        self.last = point
        follows = prior is not None and (day - prior.as_of).days == 1
        if follows and self._changes:
            for changes in self._changes.values():
                changes.add(day, value - prior.value)
        if self.per_day:
            rise = value  # each day's count is the day's "rise"
        elif not follows:
            return
        else:
            rise = value - prior.value
        if rise < 0:
            return
        self.daily_rises += 1
        for window in self._windows:
            window.add(day, rise)
        if self.largest_ever is None or rise > self.largest_ever[0]:
            self.largest_ever = (rise, point.as_of)
