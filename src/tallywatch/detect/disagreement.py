"""Disagreement: two sources give the same metric and day values further apart than tolerated."""

from __future__ import annotations

import datetime as dt

from ..config import Disagreement as DisagreementSettings
from ..models import Event
from .wording import say_to_admins


def agree(a: int, b: int, s: DisagreementSettings) -> bool:
    return abs(a - b) <= max(s.tolerance, s.tolerance_ratio * max(abs(a), abs(b)))


def evaluate(
    metric: str, as_of: dt.date, first: tuple[str, int], second: tuple[str, int], s: DisagreementSettings
) -> list[Event]:
    if not s.enabled or agree(first[1], second[1], s):
        return []
    (a_src, a_val), (b_src, b_val) = sorted([first, second])
    # the sources' values by name (as before), and as a list: an alert's data also carries its
    # publisher and link, which a reader of the keys alone would take for sources
    data = {a_src: a_val, b_src: b_val, "sources": [[a_src, a_val], [b_src, b_val]]}
    return [
        Event(
            key=f"disagreement:{metric}:{as_of}:{a_src}:{b_src}",
            rule="disagreement",
            metric=metric,
            as_of=as_of,
            value=second[1],
            severity="warning",
            message=say_to_admins("disagreement", metric, as_of, second[1], data),
            data=data,
        )
    ]
