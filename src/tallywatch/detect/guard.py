"""Plausibility: could a running total really go from ``before`` to ``after``?

A tally never goes down, and does not rise far beyond anything seen recently: a rise above
``factor`` × the largest daily rise of the last ``window`` days (times the days between) is
implausible. Such a value is held as suspect by the engine until a later report or a second
source confirms it; a typo such as 10,002,690 for 1,002,690 never reaches the rules. A count
per day (a pattern metric of kind "daily") may fall; only a count far above recent days is held.
"""

from __future__ import annotations

from ..config import Guard
from .window import Point, Window


def limit(window: Window, settings: Guard, days: int) -> float | None:
    """The largest plausible rise over ``days``; None when there is too little history to judge."""
    if window.daily_rises < settings.min_history:
        return None
    largest = window.largest(settings.window)
    return max(settings.floor, settings.factor * (largest[0] if largest else 0)) * max(1, days)


def plausible(before: Point | None, after: Point | None, window: Window, settings: Guard) -> bool:
    if before is None or after is None or not settings.enabled:
        return True
    if window.per_day:  # a count for one day may fall; only an implausibly large one is held
        most = limit(window, settings, 1)
        return most is None or after.value <= most
    rise = after.value - before.value
    if rise < 0:
        return False
    most = limit(window, settings, (after.as_of - before.as_of).days)
    return most is None or rise <= most
