"""Records: the largest daily rise in a rolling window (default 365 days) or ever."""

from __future__ import annotations

from ..format import format_delta
from ..models import Event, Step
from .window import Window
from .wording import metric_label


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
    span = f"in {s.window} days" if s.window else "ever"
    sign = "" if step.per_day else "+"  # a count per day is not a rise
    before = f" (previous {sign}{best[0]:,} on {best[1]})" if best else ""
    shown = f"{step.delta:,}" if step.per_day else format_delta(step.delta)
    largest = "the largest count in a day" if step.per_day else "the largest daily rise"
    return [
        Event.about(
            step,
            f"record:{step.metric}:{step.as_of}",
            "record",
            "info",
            f"{metric_label(step.metric)} {shown} in a day — {largest} {span}{before}",
            delta=step.delta,
            previous=best[0] if best else None,
            span=span,
            largest=largest,
        )
    ]
