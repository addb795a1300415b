"""Events as text for people."""

from __future__ import annotations

from ..models import Event


def line(event: Event) -> str:
    """``2025-06-12  personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)``"""
    return f"{event.as_of.isoformat()}  {event.message}"
