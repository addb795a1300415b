"""Milestones: a running total crossing a configured level (every 100,000, or listed levels).

The key ``milestone:<metric>:<level>`` makes each milestone fire once ever: the store refuses a
second event with the same key, whatever order or how often reports arrive. A metric's first
figure fires none: the levels below it were passed on days it does not tell, and an event dated
by the import would be wrong (their true dates come with the bundled history).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable

from ..config import Milestone
from ..models import Event, Step
from .window import Window
from .wording import say

log = logging.getLogger("tallywatch.detect")


MAX_PER_FIGURE = 10  # levels one figure may announce; beyond, only the highest (and a log line)


def levels_between(rule: Milestone, low: int | None, high: int) -> list[int]:
    """Levels L with low < L <= high, ascending; ``low`` None means nothing was known before.

    The step's levels are counted, not listed: a jump across more than ``MAX_PER_FIGURE`` of them
    (a long gap, or a value no guard caught) gives only the highest, whatever the numbers.
    """
    floor = 0 if low is None else low
    found = {level for level in rule.levels if floor < level <= high}
    if rule.step:
        first = (floor // rule.step + 1) * rule.step
        last = high // rule.step * rule.step
        count = (last - first) // rule.step + 1 if last >= first else 0
        if count > MAX_PER_FIGURE:
            log.warning(
                "%d levels of %s between %s and %s at once: only the highest is announced", count, rule.step, low, high
            )
            found.add(last)
        else:
            found.update(range(first, last + 1, rule.step))
    return sorted(found)[-MAX_PER_FIGURE:]


def key(metric: str, level: int) -> str:
    return f"milestone:{metric}:{level}"


def next_level(rule: Milestone, value: int) -> int | None:
    """The lowest level above ``value``."""
    if not rule.levels:
        return (value // rule.step + 1) * rule.step if rule.step else None
    candidates = [level for level in rule.levels if level > value]
    if rule.step:
        candidates.append((value // rule.step + 1) * rule.step)
    return min(candidates, default=None)


def evaluate(step: Step, window: Window) -> list[Event]:
    rule = window.rules.milestone
    if rule is None or step.prior_value is None or step.value <= step.prior_value:
        return []  # a first figure: the levels below it were passed on days it does not tell
    if (next_level(rule, step.prior_value) or step.value + 1) > step.value:
        return []  # the usual day: no level between yesterday and today
    events = []
    for level in levels_between(rule, step.prior_value, step.value):
        data = {"level": level, "delta": step.delta, "prior_as_of": str(step.prior_as_of or "")}
        message = say("milestone", step.metric, step.as_of, step.value, data)
        events.append(Event.about(step, key(step.metric, level), "milestone", "critical", message, **data))
    return events


def late(event: Event, first: dt.date, last: dt.date) -> Event:
    """A crossing learned of too late to be news (``[detect] late_after``): it fell on a day from
    ``first`` to ``last`` (one day, when a fill found it), while this service had no figures. It is
    recorded so, sent to no one, and told as a line of the next daily report."""
    data = {**event.data, "late": {"from": first.isoformat(), "to": last.isoformat()}}
    message = say("milestone", event.metric, event.as_of, event.value, data)
    return dataclasses.replace(event, data=data, message=message or event.message)


def learned_late(
    event: Event, late_after: int, filling: dt.date | None, seen: Callable[[str, dt.date], dt.date | None]
) -> Event:
    """``event`` marked late if it is: a milestone crossed in a gap of more than ``late_after`` days
    in which this service had no figure of the metric at all (``seen``: the last day before one it
    had any figure for — one held or set aside counts: the service was watching), or one that a fill
    of missed days (on ``filling``, today) found on a day more than ``late_after`` days ago; else
    ``event`` itself."""
    if event.rule != "milestone" or "late" in event.data:
        return event
    prior = event.data.get("prior_as_of")
    if prior and (event.as_of - dt.date.fromisoformat(prior)).days > late_after:
        last = seen(event.metric, event.as_of)
        if last is not None and (event.as_of - last).days > late_after:
            return late(event, last + dt.timedelta(days=1), event.as_of)
    if filling is not None and (filling - event.as_of).days > late_after:
        return late(event, event.as_of, event.as_of)
    return event
