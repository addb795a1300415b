"""Rules: pure functions from a stored ``Change`` (and the config) to ``Event``s.

Each rule family is one module with one job, registered here by name. A rule reads only what the
change carries (the figure, the stored total before it) and its own settings; it never touches
the database, so it can be tested on hand-made values and replayed over the bundled history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..config import Config
from ..models import Change, Event
from . import milestones

Rule = Callable[[Change, Config], list[Event]]

RULES: dict[str, Rule] = {
    "milestone": milestones.evaluate,
}


def evaluate(changes: Iterable[Change], config: Config) -> list[Event]:
    events: list[Event] = []
    for change in changes:
        for rule in RULES.values():
            events.extend(rule(change, config))
    return events
