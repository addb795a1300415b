"""Stale sources: no new report for longer than expected fires once; ``recovered`` when it is back.

A source silent for much longer (``[rules.stale] stopped_after``, 7 days) — from its last new
report, or from its first successful poll if it never brought one — is ``stopped``: its publisher
may have stopped. ``sources.health.silence`` is the one answer to "for how long", read by ``sources.health``
(`tallywatch sources`, ``status``, /stats, /healthz) and by ``stopped`` (the admins' notice, once
per silence). The silence ends with the next new report: one ``recovered``, shared with ``stale``'s
(the same key when both were open), so the admins are told once that it is back.
"""

from __future__ import annotations

import datetime as dt

from ..models import Event, report_day
from ..sources.health import DAY, silence


def stopped(
    source: str,
    first_success: dt.datetime | None,
    last_new_report: dt.datetime | None,
    now: dt.datetime,
    after: float,
    open_stopped: Event | None,
) -> list[Event]:
    """``stopped`` once per silence (``open_stopped``: the source's last one not yet followed by a
    recovery); ``recovered`` when a report ended it."""
    found = silence(first_success, last_new_report, now, after)
    if found is not None:
        stamp = found.since.isoformat(timespec="seconds")
        key = f"stopped:{source}:{stamp}"
        if open_stopped is not None and key == open_stopped.key:
            return []
        return [
            Event(
                key=key,
                rule="stopped",
                metric="",
                as_of=report_day(now),
                value=found.days,
                severity="warning",
                message=f"source {source}: {found.words} ({found.origin})",
                data={"source": source, "since": stamp, "ever": found.ever},
            )
        ]
    if open_stopped is None or last_new_report is None:
        return []
    since = dt.datetime.fromisoformat(open_stopped.data["since"])
    if last_new_report.replace(microsecond=0) <= since:  # (the key's moment is to the second)
        return []
    if open_stopped.data.get("ever"):
        return [recovered(source, since, last_new_report)]
    days = (last_new_report - since) // DAY
    first = f"source {source} brought its first report, {days} day{'s' if days != 1 else ''} after it was first polled"
    return [recovered(source, since, last_new_report, first)]


def _hours(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.0f} h"


def evaluate(
    source: str,
    last_new_report: dt.datetime | None,
    now: dt.datetime,
    after: float,
    open_stale: str | None,
) -> list[Event]:
    """``open_stale``: the key of the source's stale event not yet followed by a recovery."""
    if last_new_report is None:
        return []
    silent = now - last_new_report
    stamp = last_new_report.isoformat(timespec="seconds")
    if silent.total_seconds() > after:
        key = f"stale:{source}:{stamp}"
        if key == open_stale:
            return []
        return [
            Event(
                key=key,
                rule="stale",
                metric="",
                as_of=report_day(last_new_report),
                value=round(silent.total_seconds() / 3600),
                severity="warning",
                message=f"source {source} has brought no new report for {_hours(silent)} "
                f"(last {last_new_report:%Y-%m-%d %H:%M} UTC)",
                data={"source": source, "last_new_report": stamp},
            )
        ]
    if open_stale is not None and not open_stale.endswith(f":{stamp}"):
        return [recovered(source, dt.datetime.fromisoformat(open_stale.split(":", 2)[2]), last_new_report)]
    return []


def recovered(source: str, since: dt.datetime, back: dt.datetime, said: str | None = None) -> Event:
    """A silence since ``since`` ended by a new report at ``back``: one key per silence, whichever
    of ``stale`` and ``stopped`` was open."""
    return Event(
        key=f"recovered:{source}:{since.isoformat(timespec='seconds')}",
        rule="recovered",
        metric="",
        as_of=report_day(back),
        value=round((back - since).total_seconds() / 3600),
        severity="info",
        message=said or f"source {source} is back: a new report after {_hours(back - since)} of silence",
        data={"source": source, "silent_since": since.isoformat(timespec="seconds")},
    )
