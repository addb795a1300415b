"""The bundled history through the same store → detect path: ``replay``, ``seed`` and a first start's ``baseline``."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import history
from .channels import Channel
from .config import Config
from .detect import Detector
from .ingest import Item, ingest
from .models import Event
from .store import Store

log = logging.getLogger("tallywatch")


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
    """The bundled days up to ``end``, one ingest a day in one transaction; the alerts that notify.

    Days before ``quiet_before`` are recorded without notifying (a warm-up for the rules).
    """
    fired: list[Event] = []
    with _history_is_not_news(), store.roomy(), store.transaction():  # one commit; each day's ingest joins it
        for day, figures in history.between(None, end).items():
            item = Item(f"{history.SOURCE_NAME}:{day}", day.isoformat(), list(figures))
            quiet = quiet_before is None or day < quiet_before
            result = ingest(store, detector, channels, history.SOURCE_NAME, [item], quiet=quiet)
            # the alerts, as a rule's tuning weighs them (the daily report is not one)
            fired.extend(s.event for s in result.events if s.notify and s.event.rule != "report")
    return fired


def seed(store: Store, detector: Detector, until: dt.date) -> int:
    """Give a database the bundled history up to ``until``, quietly: the rules get their baselines.

    Returns the number of days stored. Days the database already has are left as they are.
    """
    feed_history(store, detector, until)
    return len(history.between(None, until))


def baseline(store: Store, detector: Detector) -> int:
    """A first start: an empty store gets the whole bundled history, quietly; returns the days stored."""
    if store.observation_count():
        return 0
    started = time.monotonic()
    days = seed(store, detector, None)
    first, last = min(history.daily()), max(history.daily())
    history.daily.cache_clear()  # the daemon keeps its figures in the store, not 22,000 of them in memory
    log.info(
        "first start: the bundled history %s … %s (%d days) stored quietly in %.1f s; the rules judge new "
        "reports against it",
        first,
        last,
        days,
        time.monotonic() - started,
    )
    return days


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


RULE_ORDER = ("milestone", "approaching", "spike", "record", "correction", "guard", "reported_delta", "disagreement")


def counts_table(events: Sequence[Event]) -> str:
    """Events per metric (rows) and rule (columns), with totals: what ``replay`` prints first."""
    counts: dict[tuple[str, str], int] = {}
    for e in events:
        counts[(e.metric, e.rule)] = counts.get((e.metric, e.rule), 0) + 1
    rules = [r for r in RULE_ORDER if any(rule == r for _, rule in counts)]
    rules += sorted({rule for _, rule in counts} - set(rules))
    metrics = sorted({metric for metric, _ in counts})
    width = max([len("metric"), len("total"), *map(len, metrics)])
    rows = [["metric".ljust(width), *(r.rjust(max(len(r), 5)) for r in rules), "total".rjust(5)]]
    for metric in [*metrics, "total"]:
        cells = [sum(n for (m, r), n in counts.items() if r == rule and (metric in ("total", m))) for rule in rules]
        rows.append(
            [
                metric.ljust(width),
                *(str(n).rjust(max(len(r), 5)) for n, r in zip(cells, rules, strict=True)),
                str(sum(cells)).rjust(5),
            ]
        )
    return "\n".join("  ".join(row) for row in rows)
