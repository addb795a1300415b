"""The bundled history through the same store → detect path: ``replay`` and ``seed``."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import history
from .channels import Channel
from .config import Config
from .detect import Detector
from .models import Event
from .pipeline import Item, ingest
from .store import Store


@contextmanager
def _history_is_not_news() -> Iterator[None]:
    """The engine's notes on held and confirmed values are for live reports, not the archive."""
    engine_log = logging.getLogger("tallywatch.detect")
    level = engine_log.level
    engine_log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        engine_log.setLevel(level)


def feed_history(
    store: Store,
    detector: Detector,
    end: dt.date | None,
    quiet_before: dt.date | None = None,
    channels: Sequence[Channel] = (),
) -> list[Event]:
    """The bundled days up to ``end``, one ingest a day in one transaction; the events that notify.

    Days before ``quiet_before`` are recorded without notifying (a warm-up for the rules).
    """
    fired: list[Event] = []
    with _history_is_not_news(), store.transaction():  # a single commit; each day's ingest joins it
        for day, figures in history.between(None, end).items():
            item = Item(f"{history.SOURCE_NAME}:{day}", day.isoformat(), list(figures))
            quiet = quiet_before is None or day < quiet_before
            result = ingest(store, detector, channels, history.SOURCE_NAME, [item], quiet=quiet)
            fired.extend(s.event for s in result.events if s.notify)
    return fired


def seed(store: Store, detector: Detector, until: dt.date) -> int:
    """Give a database the bundled history up to ``until``, quietly: the rules get their baselines.

    Returns the number of days stored. Days the database already has are left as they are.
    """
    feed_history(store, detector, until)
    return len(history.between(None, until))


def replay(config: Config, start: dt.date | None = None, end: dt.date | None = None) -> list[Event]:
    """What would have fired, day by day, from ``start`` to ``end`` (whole history by default).

    Days before ``start`` are stored first without notifying, so the rules have their history.
    """
    with tempfile.TemporaryDirectory(prefix="tallywatch-replay-") as tmp:
        store = Store(Path(tmp) / "replay.db")
        try:
            return feed_history(store, Detector(config, store), end, quiet_before=start or dt.date.min)
        finally:
            store.close()
