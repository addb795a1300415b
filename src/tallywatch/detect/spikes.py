"""Spikes: a daily change unusual against a trailing robust baseline.

Steady metrics (personnel, artillery, UAVs…): the median and the MAD of the last ``window``
days' rises; a day fires when it is at least ``ratio`` × the median *and* ``z`` robust standard
deviations (1.4826 · MAD) above it. Bursty metrics — zero on most days (aircraft, ships, cruise
missiles) — have a median near zero, so every non-zero day would look huge: for them the
baseline is a high quantile of a long window, and a day fires only well above it. An absolute
``floor`` keeps tiny numbers quiet, and fewer than ``min_history`` known days give no verdict.
"""

from __future__ import annotations

import statistics

from ..models import Event, Step
from .window import Window
from .wording import say


def evaluate(step: Step, window: Window) -> list[Event]:
    s = window.rules.spike
    if not s.enabled or not step.daily or step.delta is None or step.delta < 0:
        return []
    rise = step.delta
    recent = window.rises(s.window)
    if len(recent) < s.min_history:
        return []
    median = recent.median()
    if median >= s.steady_median:
        high = rise >= s.floor and rise >= s.ratio * median  # cheap tests first: most days are neither
        low = s.drops and rise <= median / s.ratio
        if not (high or low):
            return []
        mad = statistics.median([abs(v - median) for v in recent.values()]) or 1.0
        score = (rise - median) / (1.4826 * mad)
        if high and score >= s.z:
            return [_event(step, "spike", median, score)]
        if low and score <= -s.z:
            return [_event(step, "drop", median, score)]
        return []
    long = window.rises(s.bursty_window)
    if len(long) < s.bursty_min_history or rise < s.floor:
        return []
    high = max(1, long.quantile(s.bursty_quantile))
    if rise <= s.bursty_factor * high:
        return []
    return [_event(step, "spike", high, None)]  # the baseline: what a high day of the long window brings


def _event(step: Step, kind: str, baseline: float, score: float | None) -> Event:
    """The spike (or drop) event, worded for people by ``wording.say`` from its data."""
    data = {"delta": step.delta, "baseline": baseline, "score": score, "direction": kind, "per_day": step.per_day}
    message = say("spike", step.metric, step.as_of, step.value, data)
    return Event.about(step, f"{kind}:{step.metric}:{step.as_of}", "spike", "warning", message, **data)
