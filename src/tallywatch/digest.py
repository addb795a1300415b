"""Digests: every metric's latest value and its change over the day or week, with the period's alerts.

A digest is an event like any other (``digest:daily:2025-06-14``, ``digest:weekly:2025-W24``), so
the store's UNIQUE key makes it go out at most once per period, across restarts, and the outbox
delivers it. A period with nothing new — no figure stored, no alert — sends nothing unless
``[email] send_empty`` says so. ``send`` is what the scheduler and ``tallywatch digest`` run: queue
the period's digest, then hand it on to be sent.

The daily digest follows the day's report: ``after_report`` queues it in the transaction that
stores the day's first report (``ingest``), so it goes within minutes of the Telegram report with
the day's figures. ``[email] daily_at`` is the latest it goes: when no report came by then, the
scheduler's ``send`` makes it with the figures there are, saying the day's report has not come
yet. Either way the day's key is taken: a report after that, a revision, a restart send nothing
more. Its alerts are those stored since the day before's digest, whenever that went.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from . import outbox
from .channels import Channel
from .config import Config
from .extract.genstaff import METRICS
from .format import format_delta, format_number
from .models import Event
from .running import Running
from .store import Store, StoredEvent, utcnow

log = logging.getLogger("tallywatch.digest")


SPANS = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}


@dataclass(frozen=True)
class Total:
    """A category over a period: its losses in the last ``days`` days up to ``end``, and in the
    ``days`` before them (None where the series does not reach back that far)."""

    metric: str
    end: dt.date
    days: int
    total: int
    before: int | None
    source: str = ""  # whose figure the newest day's is

    @property
    def per_day(self) -> float:
        return self.total / self.days

    @property
    def change(self) -> float | None:
        """The period against the one before, as a fraction (+0.04: 4 % more); None when not comparable."""
        return None if not self.before else self.total / self.before - 1


def totals(store: Store, days: int, *, current: int = 365) -> list[Total]:
    """Every category's losses over the last ``days`` days (up to its newest day), in the report's
    order, leaving out categories not reported for ``current`` days. Call on the store's thread."""
    latest = {r.metric: r for r in store.latest()}
    if not latest:
        return []
    newest = max(r.as_of for r in latest.values())
    order = [m for m in METRICS if m in latest] + sorted(m for m in latest if m not in METRICS)
    out = []
    span = dt.timedelta(days=days)
    for metric in order:
        row = latest[metric]
        if (newest - row.as_of).days > current:
            continue
        start = store.value_before(metric, row.as_of - span)
        if start is None:
            continue
        earlier = store.value_before(metric, row.as_of - 2 * span)
        before = None if earlier is None else start - earlier
        out.append(Total(metric, row.as_of, days, row.value - start, before, row.source))
    return out


def period_label(kind: str, local_day: dt.date) -> str:
    if kind == "daily":
        return local_day.isoformat()
    year, week, _ = local_day.isocalendar()
    return f"{year}-W{week:02d}"


def make(store: Store, config: Config, kind: str, now: dt.datetime | None = None) -> Event | None:
    """The digest event for the period ending ``now``; None when there is nothing to tell.

    A daily digest tells the alerts stored since the day before's digest (a day when none went:
    the last 24 hours), and, when its figures are older than its day, that the day's report has not
    come yet (``data["awaited"]``): it goes all the same, with the figures there are."""
    now = now or utcnow()
    since = now - SPANS[kind]
    if kind == "daily":
        since = store.last_digest_at("daily") or since
    latest = store.latest()
    if not latest:
        return None
    newest = max(r.as_of for r in latest)
    # labelled with the period it tells of: a weekly digest sent on Monday is last week's
    told = now - SPANS[kind] / 2 if kind == "weekly" else now
    local_day = told.astimezone(ZoneInfo(config.email.timezone)).date()
    awaited = kind == "daily" and newest < local_day
    alerts = store.events_since(since)
    if not config.email.send_empty and not awaited and not alerts and store.figures_since(since) == 0:
        return None
    span = SPANS[kind].days
    metrics = []
    current = [r for r in latest if (newest - r.as_of).days <= 7]  # not categories the report dropped long ago
    order = {metric: i for i, metric in enumerate(METRICS)}  # the report's own order, personnel first
    for row in sorted(current, key=lambda r: (order.get(r.metric, len(order)), r.metric)):
        before = store.value_before(row.metric, row.as_of - dt.timedelta(days=span))
        metrics.append(
            {
                "metric": row.metric,
                "as_of": str(row.as_of),
                "value": row.value,
                "change": None if before is None else row.value - before,
            }
        )
    label = period_label(kind, local_day)
    lead = metrics[0]
    change = f" ({format_delta(lead['change'])})" if lead["change"] is not None else ""
    return Event(
        key=f"digest:{kind}:{label}",
        rule="digest",
        metric="",
        as_of=newest,
        value=0,
        message=f"{kind} digest {label}: {lead['metric'].replace('_', ' ')} {format_number(lead['value'])}{change}",
        severity="info",
        data={
            "kind": kind,
            "label": label,
            "as_of": str(newest),
            "since": since.isoformat(timespec="seconds"),
            "metrics": metrics,
            "events": [
                {
                    "as_of": e["as_of"],
                    "rule": e["rule"],
                    "metric": e["metric"],
                    "value": e["value"],
                    "message": e["message"],
                    "data": json.loads(e["data"]),
                }
                for e in alerts
            ],
            "chart_metric": config.email.chart_metric,
            **({"awaited": local_day.isoformat()} if awaited else {}),
        },
    )


def queue(store: Store, config: Config, channels: Sequence[Channel], kind: str, now: dt.datetime | None = None) -> int:
    """Make the period's digest and queue its deliveries (once per period); returns how many."""
    event = make(store, config, kind, now)
    if event is None:
        return 0
    with store.transaction():
        stored = store.add_event(event, "digest", True)
        events: list[StoredEvent] = [stored] if stored else []
        return outbox.enqueue(store, events, channels)


def after_report(
    store: Store, config: Config, channels: Sequence[Channel], stored: Sequence[StoredEvent], now: dt.datetime
) -> int:
    """The day's daily digest, queued with the day's report: called in the transaction that stores
    the events, it queues the digest when one of them is a daily report told to its readers whose day
    is today (in ``[email] timezone``) — once: a second version, or a report after ``daily_at`` sent
    the digest already, finds the day's key taken. Returns the deliveries queued."""
    if not config.email.enabled or not any(c.kind == "email" for c in channels):
        return 0
    today = now.astimezone(ZoneInfo(config.email.timezone)).date()
    if not any(s.notify and s.event.rule == "report" and s.event.as_of == today for s in stored):
        return 0
    return queue(store, config, channels, "daily", now)


async def send(running: Running, kind: str, now: dt.datetime | None = None) -> tuple[int, int]:
    """Queue this period's digest (at most once per period) and hand it on: (queued, sent here).

    In the daemon the delivery workers send it (sent is 0 here); a one-shot command sends inline.
    """
    queued = await running.in_store(queue, running.store, running.config, running.channels, kind, now)
    log.info("%s digest: %s", kind, f"{queued} deliveries queued" if queued else "nothing new to send")
    return queued, await running.handed_on()
