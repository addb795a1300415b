"""Milestones: a running total crossing a configured level (every 100,000, or listed levels).

The key ``milestone:<metric>:<level>`` makes each milestone fire once ever: the store refuses a
second event with the same key, whatever order or how often reports arrive.
"""

from __future__ import annotations

from ..config import Config, Milestone
from ..extract.numbers import format_number
from ..models import Change, Event
from .wording import change_phrase, metric_label


def levels_between(rule: Milestone, low: int | None, high: int) -> list[int]:
    """Levels L with low < L <= high, ascending; ``low`` None means nothing was known before."""
    floor = 0 if low is None else low
    found = {level for level in rule.levels if floor < level <= high}
    if rule.step:
        first = (floor // rule.step + 1) * rule.step
        found.update(range(first, high + 1, rule.step))
    return sorted(found)


def evaluate(change: Change, config: Config) -> list[Event]:
    rule = config.milestones.get(change.figure.metric)
    if rule is None or change.kind == "unchanged":
        return []
    fig = change.figure
    name = metric_label(fig.metric)
    return [
        Event(
            key=f"milestone:{fig.metric}:{level}",
            rule="milestone",
            metric=fig.metric,
            as_of=fig.as_of,
            value=fig.value,
            severity="critical",
            message=f"{name} passed {format_number(level)} — now {format_number(fig.value)}{change_phrase(change)}",
            data={"level": level, "delta": change.delta, "prior_as_of": str(change.prior_as_of or "")},
        )
        for level in levels_between(rule, change.prior_value, fig.value)
    ]
