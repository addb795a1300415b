"""Approaching milestone: at the trailing average rate, the next milestone is only days away."""

from __future__ import annotations

import datetime as dt
import math

from ..models import Event, Step
from .milestones import next_level
from .window import Window
from .wording import say


def evaluate(step: Step, window: Window) -> list[Event]:
    rule, s = window.rules.milestone, window.rules.approaching
    if rule is None or not s.enabled or not step.latest:
        return []
    level = next_level(rule, step.value)
    fastest = window.rises(window.rules.spike.window).most()
    if level is None or fastest is None or level - step.value > s.days * fastest:
        return []  # out of reach even at the fastest recent day: no need for the average
    start = window.before(step.as_of - dt.timedelta(days=s.rate_window - 1))
    if start is None or start.as_of < step.as_of - dt.timedelta(days=s.rate_window + 3):
        return []  # not enough recent history for a rate
    rate = (step.value - start.value) / (step.as_of - start.as_of).days
    if rate <= 0:
        return []
    days = (level - step.value) / rate
    if days > s.days:
        return []
    whole = max(1, math.ceil(days))
    when = step.as_of + dt.timedelta(days=whole)
    data = {"level": level, "rate": round(rate, 1), "expected": str(when)}
    message = say("approaching", step.metric, step.as_of, step.value, data)
    return [Event.about(step, f"approaching:{step.metric}:{level}", "approaching", "info", message, **data)]
