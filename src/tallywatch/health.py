"""Health and metrics: what ``/healthz`` and ``/metrics`` (served by the web app) answer.

The event loop refreshes a snapshot every second (a heartbeat) and every few seconds reads the
sources' state from the store; a request only reads that snapshot, never the database.
``/healthz`` answers 200 while the loop is alive, every source's last successful poll is recent
enough (``allowance`` × its interval), the database can be written and is still the file opened,
and no delivery is stuck 'sending'; 503 with the reasons otherwise. A source that works but has
brought no report for ``[rules.stale] stopped_after`` is a notice line after them ("notice: source
kmu: no report for 9 days: the publisher may have stopped"), never a 503: the daemon is fine, and a
restart (what a failing health check leads to) would mend nothing. ``/metrics`` is
Prometheus text from prometheus-client (its own registry, nothing global).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("tallywatch.health")

REGISTRY = CollectorRegistry(auto_describe=True)
POLLS = Counter("tallywatch_polls", "Polls per source and outcome", ["source", "outcome"], registry=REGISTRY)
FIGURES = Counter("tallywatch_figures_stored", "Figures stored (new or revised)", registry=REGISTRY)
REPORTS = Counter(
    "tallywatch_reports_read",
    "Report documents read, by source and how much of each: complete, partial or unread",
    ["source", "coverage"],
    registry=REGISTRY,
)
EVENTS = Counter("tallywatch_events", "Events stored, by rule", ["rule"], registry=REGISTRY)
DELIVERIES = Counter(
    "tallywatch_deliveries", "Delivery attempts by channel and outcome", ["channel", "outcome"], registry=REGISTRY
)
TELEGRAM_429 = Counter("tallywatch_telegram_429", "Telegram flood-control answers (429) received", registry=REGISTRY)
STORAGE_ERRORS = Counter(
    "tallywatch_storage_errors",
    "Writes to the database that failed, by kind: full, read-only, I/O error, other; file gone: the"
    " database file deleted or replaced under the daemon",
    ["kind"],
    registry=REGISTRY,
)
WEB_REFUSED = Counter(
    "tallywatch_web_connections_refused",
    "Web app connections closed by the daemon: slow (request not complete in time), room (made room for a newer"
    " one at the cap), full (the cap reached, every connection being answered), bad (a malformed request)",
    ["reason"],
    registry=REGISTRY,
)
OUTBOX = Gauge("tallywatch_outbox_depth", "Deliveries waiting (pending, retrying or being sent)", registry=REGISTRY)


@dataclass
class Snapshot:
    heartbeat: float = 0.0  # monotonic time of the loop's last tick
    started: float = field(default_factory=time.monotonic)
    sources: dict[str, tuple[float | None, float]] = field(
        default_factory=dict
    )  # name → (last success age s, allowance s)
    storage: str | None = None  # the database can't be written: why
    stuck: str | None = None  # a delivery 'sending' for longer than a send can take: which
    notices: list[str] = field(default_factory=list)  # said, but healthy: a source whose publisher may have stopped

    def problems(self, now: float) -> list[str]:
        out = []
        if now - self.heartbeat > 10:
            out.append(f"event loop silent for {now - self.heartbeat:.0f} s")
        if self.storage:
            out.append(f"storage: {self.storage}")
        if self.stuck:
            out.append(f"outbox: {self.stuck}")
        for name, (age, allowance) in sorted(self.sources.items()):
            since_start = now - self.started
            if age is None and since_start > allowance:
                out.append(f"source {name}: no successful poll in {since_start:.0f} s (allowance {allowance:.0f} s)")
            elif age is not None and age > allowance:
                out.append(f"source {name}: last success {age:.0f} s ago (allowance {allowance:.0f} s)")
        return out


def healthz(snapshot: Snapshot) -> tuple[int, str]:
    """/healthz: 200 "ok", or 503 with one line per problem; then a line per notice ("notice: …")."""
    problems = snapshot.problems(time.monotonic())
    notices = "".join(f"notice: {line}\n" for line in snapshot.notices)
    return (503, "\n".join(problems) + "\n" + notices) if problems else (200, "ok\n" + notices)


def metrics() -> bytes:
    """/metrics: Prometheus text."""
    return generate_latest(REGISTRY)


class _SourceAges:
    """Collects the last-success age per source from the live web server's snapshot."""

    def __init__(self) -> None:
        self.health: Any = None  # what has the snapshot: the web server
        REGISTRY.register(self)

    def set(self, health: Any) -> None:
        self.health = health

    def collect(self):
        family = GaugeMetricFamily(
            "tallywatch_source_last_success_age_seconds",
            "Seconds since the source's last successful poll",
            labels=["source"],
        )
        if self.health is not None:
            for name, (age, _allowance) in self.health.snapshot.sources.items():
                if age is not None:
                    family.add_metric([name], age)
        yield family


REGISTRY_SOURCES = _SourceAges()
