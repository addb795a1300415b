"""Stale sources: no new report for longer than expected fires once; ``recovered`` when it is back."""

from __future__ import annotations

import datetime as dt

from ..models import Event, report_day


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
        since = dt.datetime.fromisoformat(open_stale.split(":", 2)[2])
        return [
            Event(
                key=f"recovered:{source}:{since.isoformat(timespec='seconds')}",
                rule="recovered",
                metric="",
                as_of=report_day(last_new_report),
                value=round((last_new_report - since).total_seconds() / 3600),
                severity="info",
                message=f"source {source} is back: a new report after {_hours(last_new_report - since)} of silence",
                data={"source": source, "silent_since": since.isoformat(timespec="seconds")},
            )
        ]
    return []
