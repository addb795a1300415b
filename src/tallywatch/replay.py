"""Replay: the bundled history through the same store → detect path, into a throwaway database."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from . import history
from .config import Config
from .models import Event
from .pipeline import Item, ingest
from .store import Store


def replay(config: Config, start: dt.date | None = None, end: dt.date | None = None) -> list[Event]:
    """What would have fired, day by day, from ``start`` to ``end`` (whole history by default).

    Days before ``start`` are stored first without notifying, so the rules have their history.
    """
    with tempfile.TemporaryDirectory(prefix="tallywatch-replay-") as tmp:
        store = Store(Path(tmp) / "replay.db")
        try:
            fired: list[Event] = []
            for day, figures in history.between(None, end).items():
                item = Item(f"{history.SOURCE_NAME}:{day}", day.isoformat(), list(figures))
                warm_up = start is not None and day < start
                result = ingest(store, config, [], history.SOURCE_NAME, [item], quiet=warm_up)
                fired.extend(s.event for s in result.events if s.notify)
            return fired
        finally:
            store.close()
