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

from ..format import format_delta
from ..models import Event, Step
from .window import Window
from .wording import metric_label, number, times


def evaluate(step: Step, window: Window) -> list[Event]:
    s = window.rules.spike
    if not s.enabled or not step.daily or step.delta is None or step.delta < 0:
        return []
    rise = step.delta
    recent = window.rises(s.window)
    if len(recent) < s.min_history:
        return []
    median = recent.median()
    name = metric_label(step.metric)
    sign = "" if step.per_day else "+"  # a count per day is not a rise
    shown = number(rise) if step.per_day else format_delta(rise)
    if median >= s.steady_median:
        high = rise >= s.floor and rise >= s.ratio * median  # cheap tests first: most days are neither
        low = s.drops and rise <= median / s.ratio
        if not (high or low):
            return []
        mad = statistics.median([abs(v - median) for v in recent.values()]) or 1.0
        score = (rise - median) / (1.4826 * mad)
        if high and score >= s.z:
            why = f"{window.covered(step.as_of, s.window)}-day median {sign}{number(median)}, {times(rise / median)} usual"
            return [_event(step, "spike", f"{name} {shown} in a day — {why}", median, score)]
        if low and score <= -s.z:
            why = f"{window.covered(step.as_of, s.window)}-day median {sign}{number(median)}, only {rise / median:.0%} of usual"
            return [_event(step, "drop", f"{name} only {shown} in a day — {why}", median, score)]
        return []
    long = window.rises(s.bursty_window)
    if len(long) < s.bursty_min_history or rise < s.floor:
        return []
    high = max(1, long.quantile(s.bursty_quantile))
    if rise <= s.bursty_factor * high:
        return []
    pct = f"{s.bursty_quantile * 100:g}th percentile"
    why = f"{window.covered(step.as_of, s.bursty_window)}-day {pct} {sign}{number(high)}, {times(rise / high)} that"
    return [_event(step, "spike", f"{name} {shown} in a day — {why}", high, None)]


def _event(step: Step, kind: str, message: str, baseline: float, score: float | None) -> Event:
    return Event.about(
        step,
        f"{kind}:{step.metric}:{step.as_of}",
        "spike",
        "warning",
        message,
        delta=step.delta,
        baseline=baseline,
        score=score,
        direction=kind,
    )
