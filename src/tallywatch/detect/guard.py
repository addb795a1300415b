"""Plausibility: could a running total really go from ``before`` to ``after``?

Two checks, and either makes a value *suspect* — held by the engine until a later report or a
second source confirms it, so a typo such as 9,921,190 for 992,119 never reaches the rules:

* **the report checks itself** (``consistent``): a figure printed with its day's change ("(+1,130)")
  must continue the last accepted total by that change — a verdict that needs no history at all;
  across missed days the rise must be at least the day's change and not far beyond it;
* **the history judges it** (``plausible``): a tally never goes down, and does not rise above
  ``factor`` × the largest daily rise of the last ``window`` days (times the days between). With
  fewer than ``min_history`` days known, a rise above ``cold_ratio`` of the total a day is
  implausible (an extra digit multiplies a total by ten; a real day adds a fraction of a percent).

A count per day (a pattern metric of kind "daily") may fall; only a count far above recent days
is held.
"""

from __future__ import annotations

from ..config import Guard
from .window import Point, Window


def limit(window: Window, settings: Guard, days: int, before: Point | None = None) -> float | None:
    """The largest plausible rise over ``days``; None when nothing can judge it."""
    days = max(1, days)
    if window.daily_rises < settings.min_history:
        if before is None or window.per_day:
            return None
        return max(settings.floor, settings.cold_ratio * before.value) * days
    largest = window.largest(settings.window)
    return max(settings.floor, settings.factor * (largest[0] if largest else 0)) * days


def plausible(before: Point | None, after: Point | None, window: Window, settings: Guard) -> bool:
    if before is None or after is None or not settings.enabled:
        return True
    if window.per_day:  # a count for one day may fall; only an implausibly large one is held
        most = limit(window, settings, 1)
        return most is None or after.value <= most
    rise = after.value - before.value
    if rise < 0:
        return False
    most = limit(window, settings, (after.as_of - before.as_of).days, before)
    return most is None or rise <= most


def consistent(before: Point | None, after: Point, window: Window, settings: Guard) -> bool | None:
    """Does ``after``'s printed change agree with the rise from ``before``? None: nothing to say
    (no printed change, nothing before it, or a count per day)."""
    if before is None or after.reported_delta is None or window.per_day:
        return None
    days = (after.as_of - before.as_of).days
    if days <= 0:
        return None
    rise, printed = after.value - before.value, after.reported_delta
    if days == 1:
        return rise == printed
    # missed days: the rise holds the day's own change and the missed days' (unknown, but not far beyond it)
    return printed <= rise <= max(printed, settings.floor) * days * settings.factor


def verdict(before: Point | None, after: Point, window: Window, settings: Guard) -> bool | None:
    """Both checks together: False if either finds ``after`` wrong, True if the report agrees with
    itself, None if it printed no change to check and the history does not object. With the guard
    switched off nothing is held (never False), but only a consistent figure is vouched for."""
    agrees = consistent(before, after, window, settings)
    if not settings.enabled:
        return agrees or None
    if agrees is False or not plausible(before, after, window, settings):
        return False
    return agrees


def objection(before: Point | None, after: Point, window: Window, settings: Guard) -> str | None:
    """Why ``verdict`` finds ``after`` wrong, in plain words for the admin (None: it does not)."""
    if before is None or not settings.enabled:
        return None
    last = f"{before.value:,} on {before.as_of}"
    if consistent(before, after, window, settings) is False:
        return f"the report's own change ({after.reported_delta:+,}) does not continue the last accepted total ({last})"
    if plausible(before, after, window, settings):
        return None
    if window.per_day:
        return f"{after.value:,} for one day is far above the recent days"
    rise = after.value - before.value
    if rise < 0:
        return f"lower than the last accepted total ({last}): a running total never goes down"
    most = limit(window, settings, (after.as_of - before.as_of).days, before)
    return f"a rise of {rise:,} since the last accepted total ({last}), more than the {most:,.0f} recent days make plausible"
