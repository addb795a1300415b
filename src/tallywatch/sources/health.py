"""One answer to "is this source healthy?": the ``SourceHealth`` read model.

Computed in one place from the configured source and its row in the store, and read by every
place that tells it: ``tallywatch sources`` and ``status``, the bot's ``/stats``, the systemd
STATUS line and ``/healthz`` — with a source silent for ``[rules.stale] stopped_after`` (its
publisher may have stopped: ``silence``) as a notice beside its state, never a state of
its own (the source works; a restart mends nothing). (``config.SourceHealth`` is the settings: when a failing source is
slowed, when it is broken.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from ..config import Config, Source
from ..format import format_duration
from ..models import REPORT_ZONE
from ..secrets import redact, values
from . import schedule

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Silence:
    """A source without a report for ``days`` whole days (24 h each, whatever Kyiv's clocks do)
    since ``since``: its last new report (``ever``), else its first successful poll."""

    since: dt.datetime
    days: int
    ever: bool

    @property
    def words(self) -> str:
        """What `tallywatch sources`, ``status``, /stats and /healthz say."""
        return f"no report for {self.days} day{'s' if self.days != 1 else ''}: the publisher may have stopped"

    @property
    def shown(self) -> str:
        """``since`` as people read it: Kyiv time."""
        return f"{self.since.astimezone(REPORT_ZONE):%Y-%m-%d %H:%M} Kyiv time"

    @property
    def origin(self) -> str:
        """Where the days are counted from, in words."""
        return f"last report {self.shown}" if self.ever else f"polled since {self.shown}, never a report"


def silence(
    first_success: dt.datetime | None, last_new_report: dt.datetime | None, now: dt.datetime, after: float
) -> Silence | None:
    """The source's silence once it has lasted ``after`` seconds (``[rules.stale] stopped_after``),
    else None; a source never polled successfully has none."""
    since = last_new_report or first_success
    if since is None or (now - since).total_seconds() < after:
        return None
    return Silence(since, (now - since) // DAY, last_new_report is not None)


@dataclass(frozen=True)
class SourceHealth:
    name: str
    kind: str
    state: str  # ok, failing, slowed, broken, not polled yet, disabled
    summary: str  # the state as people read it: "failing: 2 in a row", "broken since …"
    last_success: str | None
    last_new_report: str | None
    consecutive_failures: int
    last_error: str | None  # secrets redacted
    next_poll: str
    window: str | None  # the learned publication window ("08:50–10:20 Kyiv time (learned from 14 days)")
    priority: int
    age: float | None  # seconds since the last successful poll (None: never)
    allowance: float  # /healthz: unhealthy past this many seconds without a successful poll
    reports: dict[str, int] = field(default_factory=dict)  # recent report documents read: complete, partial, unread
    # no report for [rules.stale] stopped_after: "no report for 9 days: the publisher may have stopped",
    # counted since (Kyiv time, ISO) its last new report or its first successful poll; None otherwise
    notice: str | None = None
    silent_since: str | None = None
    silent_from: str | None = None  # the same in words: "last report 2026-05-02 07:32 Kyiv time", "polled since …"

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @property
    def enabled(self) -> bool:
        return self.state != "disabled"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.summary  # what `tallywatch sources --json` has always said
        del out["summary"], out["age"], out["allowance"], out["silent_from"]
        return out


@dataclass(frozen=True)
class Record:
    """What the store keeps of one source: its row (``Store.source_states``), its recent coverage,
    and when its reports appeared (``Store.report_times``: its window and its next poll)."""

    row: dict[str, Any] | None
    coverage: dict[str, int] | None = None
    times: list[dt.datetime] | None = None


def read(
    config: Config, source: Source, record: Record, now: dt.datetime | None = None, known: list[str] | None = None
) -> SourceHealth:
    """One source's health from its ``record``; ``known``: the secret values to hide in its last
    error (default: looked up now)."""
    row, coverage, times = record.row or {}, record.coverage, record.times
    failures = row.get("consecutive_failures") or 0
    if not source.enabled:
        state, summary = "disabled", "disabled"
    elif not row:
        state, summary = "not polled yet", "not polled yet"
    elif row.get("broken_since"):
        state, summary = "broken", f"broken since {row['broken_since']} ({failures} failures in a row)"
    elif failures >= config.source_health.slow_after:
        state, summary = "slowed", f"slowed: {failures} failures in a row"
    elif failures:
        state, summary = "failing", f"failing: {failures} in a row"
    else:
        state, summary = "ok", "ok"
    last = row.get("last_success")
    now = now or dt.datetime.now(dt.UTC)
    backoff = row.get("next_poll_after")
    window = schedule.learn(times or [], now) if source.learn else None
    first, report = (
        dt.datetime.fromisoformat(row[k]) if row.get(k) else None for k in ("first_success", "last_new_report")
    )
    watched = source.enabled and config.rules.stale.enabled  # ([rules.stale] enabled = false: not told, not shown)
    silent = silence(first, report, now, config.rules.stale.stopped_after) if watched else None
    if backoff:
        next_poll = f"not before {backoff}"
    elif window is None or not source.enabled:
        next_poll = f"every {format_duration(source.interval)}"
    else:
        at = schedule.next_poll(times or [], now, source.interval, min(source.fast_interval, source.interval))
        next_poll = f"{at.astimezone(schedule.KYIV):%H:%M} Kyiv time (every {format_duration(source.fast_interval)} in the window, {format_duration(source.interval)} outside)"
    return SourceHealth(
        name=source.name,
        kind=source.kind,
        state=state,
        summary=summary,
        last_success=last,
        last_new_report=row.get("last_new_report"),
        consecutive_failures=failures,
        last_error=redact(row.get("last_error") or "", known) or None,
        next_poll=next_poll,
        window=str(window) if window else None,
        priority=source.priority,
        age=(now - dt.datetime.fromisoformat(last)).total_seconds() if last else None,
        allowance=max(source.interval * config.health.allowance, 5.0),
        reports=coverage or {"complete": 0, "partial": 0, "unread": 0},
        notice=silent.words if silent else None,
        silent_since=silent.since.astimezone(schedule.KYIV).isoformat(timespec="seconds") if silent else None,
        silent_from=silent.origin if silent else None,
    )


def read_all(
    config: Config,
    rows: list[dict[str, Any]],
    coverage: dict[str, dict[str, int]] | None = None,
    now: dt.datetime | None = None,
    times: dict[str, list[dt.datetime]] | None = None,
) -> list[SourceHealth]:
    """Every configured source's health, in the config's order (the secrets to hide looked up once)."""
    by_name, known, times = {row["name"]: row for row in rows}, values(), times or {}
    return [
        read(config, s, Record(by_name.get(s.name), (coverage or {}).get(s.name), times.get(s.name)), now, known)
        for s in config.sources
    ]
