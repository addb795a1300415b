"""Records: the largest daily rise in a rolling window (default 365 days) or ever."""

from __future__ import annotations

from ..models import Event, Step
from .window import Window
from .wording import say


def evaluate(step: Step, window: Window) -> list[Event]:
    s = window.rules.record
    if not s.enabled or not step.daily or step.delta is None or step.delta < s.floor:
        return []
    if window.daily_rises < s.min_history:
        return []
    if s.window and window.covered(step.as_of, s.window) < s.window:
        return []  # a "365-day record" needs 365 days of history
    best = window.largest(s.window) if s.window else window.largest_ever
    if best is not None and step.delta <= best[0]:
        return []
    data = {
        "delta": step.delta,
        "previous": best[0] if best else None,
        "previous_on": str(best[1]) if best else None,
        "window": s.window,
        "per_day": step.per_day,
    }
    message = say("record", step.metric, step.as_of, step.value, data)
    return [Event.about(step, f"record:{step.metric}:{step.as_of}", "record", "info", message, **data)]
