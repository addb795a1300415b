"""Broken sources: a source failing ``broken_after`` times in a row fires ``broken`` once;
``repaired`` when a poll of it works again. Both are for the admin, like ``stale``."""

from __future__ import annotations

import datetime as dt

from ..models import Event, report_day


def broken(source: str, failures: int, error: str, since: dt.datetime) -> Event:
    stamp = since.isoformat(timespec="seconds")
    return Event(
        key=f"broken:{source}:{stamp}",
        rule="broken",
        metric="",
        as_of=report_day(since),
        value=failures,
        severity="warning",
        message=f"source {source} is broken: {failures} polls in a row failed, the last with: {error}",
        data={"source": source, "since": stamp, "error": error},
    )


def repaired(source: str, since: dt.datetime, now: dt.datetime) -> Event:
    stamp = since.isoformat(timespec="seconds")
    hours = (now - since).total_seconds() / 3600
    return Event(
        key=f"repaired:{source}:{stamp}",
        rule="repaired",
        metric="",
        as_of=report_day(now),
        value=round(hours),
        severity="info",
        message=f"source {source} works again, after {hours:.0f} h marked broken",
        data={"source": source, "since": stamp},
    )
