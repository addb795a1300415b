"""Plain values passed from one pipeline stage to the next.

fetch → ``Document`` → extract → ``Figure`` → store → ``Change`` → detect → ``Event``.
No stage keeps a reference to another's internals; these dataclasses are the contract.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One item a source published: a feed entry, or one record of a JSON API."""

    source: str
    guid: str
    text: str = ""
    title: str = ""
    link: str = ""
    published: dt.datetime | None = None
    payload: Any = None  # structured data (JSON sources); text sources leave it None


@dataclass(frozen=True)
class Figure:
    """One number a report states: the running total of ``metric`` on ``as_of``."""

    metric: str
    as_of: dt.date
    value: int
    reported_delta: int | None = None


@dataclass(frozen=True)
class Change:
    """What storing a figure did: ``new``, ``unchanged`` or ``revised``."""

    figure: Figure
    kind: str
    source: str
    previous: int | None = None  # the stored value this one replaced (revised only)
    prior_value: int | None = None  # the metric's latest total before ``as_of``
    prior_as_of: dt.date | None = None

    @property
    def delta(self) -> int | None:
        """Change since the previous stored day, computed (not the printed ``(+N)``)."""
        if self.prior_value is None:
            return None
        return self.figure.value - self.prior_value


@dataclass(frozen=True)
class Event:
    """Something worth telling people, identified by a stable ``key``."""

    key: str
    rule: str
    metric: str
    as_of: dt.date
    value: int
    message: str
    severity: str = "info"
    data: dict[str, Any] = field(default_factory=dict)
