"""The events room: what the rules found, each stored once ever under its key.

It owns the ``events`` table — alerts, daily reports (and their versions), digests, the admins'
notices — and ``reports_held`` (days whose report waits for a held figure). What an event's
end (taken back, replaced) does to its deliveries is the deliveries room's (``retract_events``,
``supersede``); which events still stand is read from there too (``LIVE_EVENT``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ..models import ADMIN_ONLY, Event
from .db import Connection, _day, _event, _ts, _writes
from .deliveries import LIVE_EVENT

# an event's data as stored: json.dumps(data, sort_keys=True) to the byte, one encoder made once and
# without the check for circular data (a daily report's is stored once a day of a replay)
_DATA = json.JSONEncoder(sort_keys=True, check_circular=False)


@dataclass(frozen=True)
class StoredEvent:
    id: int
    event: Event
    notify: bool


class Events(Connection):
    """Events stored, read, folded into reports, pinned to their day."""

    def has_event(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM events WHERE key = ?", [key]).fetchone() is not None

    @_writes
    def add_event(self, event: Event, source: str, notify: bool) -> StoredEvent | None:
        """Store an event once ever: None if one with the same key exists already."""
        cur = self.conn.execute(
            "INSERT INTO events (key, rule, metric, as_of, value, severity, message, data, source, notify, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            [
                event.key,
                event.rule,
                event.metric,
                event.as_of.isoformat(),
                event.value,
                event.severity,
                event.message,
                _DATA.encode(event.data),
                source,
                notify,
                _ts(),
            ],
        )
        if cur.rowcount == 0:
            return None
        if event.rule == "report":  # the day's report is told: it waits no more (``held_reports``)
            self.conn.execute("DELETE FROM reports_held WHERE day = ?", [event.as_of.isoformat()])
        return StoredEvent(cur.lastrowid, event, notify)

    def late_untold(self) -> list[StoredEvent]:
        """Live milestones learned of late (``data["late"]``) that no daily report told yet (``fold``):
        the next day's report tells them, a line each."""
        rows = self._rows(  # (the words of the partial index events_late_untold, which holds only these)
            f"SELECT * FROM events WHERE rule = 'milestone' AND {LIVE_EVENT}"
            " AND json_extract(data, '$.late') IS NOT NULL AND json_extract(data, '$.folded') IS NULL ORDER BY id"
        )
        return [StoredEvent(row["id"], _event(row), False) for row in rows]

    def _rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """The rows as dicts, for the lookups a daily report makes (asked once a day of a replay:
        most find nothing, and ``db.query`` costs twice as much for that)."""
        cur = self.conn.execute(sql, params or [])
        rows = cur.fetchall()
        if not rows:
            return []
        names = [column[0] for column in cur.description]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def crossed_on(self, day: dt.date) -> list[Event]:
        """The live milestones crossed on ``day`` and told as news (not learned of late): the
        headline of that day's report, whichever batch brought them."""
        rows = self._rows(
            f"SELECT * FROM events WHERE rule = 'milestone' AND as_of = ? AND {LIVE_EVENT}"
            " AND json_extract(data, '$.late') IS NULL ORDER BY id",
            [day.isoformat()],
        )
        return [_event(row) for row in rows]

    @_writes
    def fold(self, ids: list[int], report: str) -> None:
        """These events are told as lines of the report ``report`` (its key)."""
        self.conn.executemany(
            "UPDATE events SET data = json_set(data, '$.folded', ?) WHERE id = ?", [(report, i) for i in ids]
        )

    @_writes
    def pin(self, event: Event) -> bool:
        """A fill found the day a crossing recorded late with the gap it fell in (``late`` from one
        day to another) really fell on: the stored event takes ``event``'s day, value and words."""
        return (
            self.conn.execute(
                "UPDATE events SET as_of = ?, value = ?, data = ?, message = ? WHERE key = ?"
                " AND json_extract(data, '$.late.from') != json_extract(data, '$.late.to')",
                [
                    event.as_of.isoformat(),
                    event.value,
                    _DATA.encode(event.data),
                    event.message,
                    event.key,
                ],
            ).rowcount
            > 0
        )

    def open_stale(self, source: str) -> str | None:
        """The key of the source's last stale event, unless a recovery followed it."""
        event = self.open_silence(source, "stale")
        return event.key if event else None

    def open_silence(self, source: str, rule: str) -> Event | None:
        """The source's last ``rule`` event (``stale``, ``stopped``), unless a recovery followed it."""
        rows = list(
            self.db.query(
                "SELECT * FROM events WHERE source = ? AND rule IN (?, 'recovered') ORDER BY id DESC LIMIT 1",
                [source, rule],
            )
        )
        return _event(rows[0]) if rows and rows[0]["rule"] == rule else None

    def told(self, day: dt.date) -> bool:
        """Whether the day has a daily report already."""
        return (
            self.conn.execute("SELECT 1 FROM events WHERE rule = 'report' AND as_of = ?", [day.isoformat()]).fetchone()
            is not None
        )

    @_writes
    def hold_report(self, day: dt.date) -> None:
        """A live report of ``day`` came with a figure held: its report waits (once, from now)."""
        self.conn.execute(
            "INSERT INTO reports_held (day, since) VALUES (?, ?) ON CONFLICT DO NOTHING", [day.isoformat(), _ts()]
        )

    def held_reports(self) -> dict[dt.date, dt.datetime]:
        """The days whose report waits for a held figure and is not told yet, with since when. (A
        day's row goes when its report is stored; a file from before schema 16 may keep rows of
        days told since, which the ``NOT EXISTS`` leaves out.)"""
        return {
            _day(day): dt.datetime.fromisoformat(since)
            for day, since in self.conn.execute(
                "SELECT day, since FROM reports_held h WHERE NOT EXISTS"
                " (SELECT 1 FROM events e WHERE e.rule = 'report' AND e.as_of = h.day)"
            )
        }

    def report_versions(self, day: dt.date) -> list[dict[str, Any]]:
        """The day's report events, oldest first: their id, key and data."""
        return [
            {"id": row[0], "key": row[1], "data": json.loads(row[2])}
            for row in self.conn.execute(
                "SELECT id, key, data FROM events WHERE rule = 'report' AND as_of = ? ORDER BY id", [day.isoformat()]
            )
        ]

    def events(self, *, notify_only: bool = False) -> list[dict[str, Any]]:
        where = "WHERE notify" if notify_only else ""
        return list(self.db.query(f"SELECT * FROM events {where} ORDER BY as_of, id"))

    def events_about(
        self, *, since: dt.date | None = None, rule: str | None = None, metric: str | None = None
    ) -> list[dict[str, Any]]:
        """The events of days from ``since`` on, of one rule, about one metric (each filter optional)."""
        where, params = ["1"], []
        for column, value in (("as_of >= ", since and since.isoformat()), ("rule = ", rule), ("metric = ", metric)):
            if value:
                where.append(f"{column}?")
                params.append(value)
        return list(self.db.query(f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY as_of, id", params))

    def event_metrics(self) -> set[str]:
        """The metrics stored events are about."""
        return {metric for (metric,) in self.conn.execute("SELECT DISTINCT metric FROM events") if metric}

    def events_caused(self, metric: str, as_of: dt.date) -> list[tuple[int, str]]:
        """The (id, key) of the events a metric's figure for the day caused (as it stood, or as a
        revision left it), not taken back."""
        return [
            (row[0], row[1])
            for row in self.conn.execute(
                "SELECT id, key FROM events WHERE metric = ? AND as_of = ? AND retracted_at IS NULL"
                " AND rule IN ('milestone', 'approaching', 'spike', 'record', 'correction', 'reported_delta')",
                [metric, as_of.isoformat()],
            )
        ]

    def told_of(self, metric: str, day: dt.date) -> list[tuple[int, str, str, int, int | None]]:
        """What readers were told of a metric's figure for the day and still hold, oldest first: the
        events it caused and not taken back, as (id, key, rule, value, the value a correction told)."""
        return [
            tuple(row)
            for row in self.conn.execute(
                "SELECT id, key, rule, value, json_extract(data, '$.new') FROM events WHERE metric = ? AND as_of = ?"
                " AND retracted_at IS NULL"
                " AND rule IN ('milestone', 'approaching', 'spike', 'record', 'correction', 'reported_delta')"
                " ORDER BY id",
                [metric, day.isoformat()],
            )
        ]

    def retracted_keys(self, metric: str) -> dict[dt.date, set[str]]:
        """Per day, the keys the metric's events taken back had (as they were before being freed)."""
        out: dict[dt.date, set[str]] = {}
        for as_of, key in self.conn.execute(
            "SELECT as_of, key FROM events WHERE metric = ? AND retracted_at IS NOT NULL", [metric]
        ):
            out.setdefault(_day(as_of), set()).add(key.split("~retracted:")[0])
        return out

    def event_keys(self) -> list[str]:
        """Every stored event's key, as it was (a key freed by a retraction without its mark)."""
        return sorted({key.split("~retracted:")[0] for (key,) in self.conn.execute("SELECT key FROM events")})

    def public_events(self, since: dt.datetime | None = None, limit: int = 50) -> list[tuple[int, str, Event]]:
        """The newest events readers were told of — daily reports and alerts about the figures, not
        digests, broadcasts or the admins' notices (``models.ADMIN_ONLY``) —, newest first: (id, stored
        at, event)."""
        hidden = ("digest", "broadcast", *sorted(ADMIN_ONLY))
        marks = ", ".join("?" * len(hidden))
        rows = self.db.query(
            f"SELECT * FROM events WHERE notify AND {LIVE_EVENT} AND rule NOT IN ({marks})"
            " AND created_at >= ? ORDER BY id DESC LIMIT ?",
            [*hidden, _ts(since) if since else "", limit],
        )
        return [(row["id"], row["created_at"], _event(row)) for row in rows]

    def latest_report(self) -> Event | None:
        """The newest day's daily report, in its newest version."""
        rows = list(
            self.db.query(
                f"SELECT * FROM events WHERE rule = 'report' AND notify AND {LIVE_EVENT}"
                " ORDER BY as_of DESC, id DESC LIMIT 1"
            )
        )
        return _event(rows[0]) if rows else None

    def events_since(self, since: dt.datetime) -> list[dict[str, Any]]:
        """Live events that told readers something, stored since ``since`` (digests, broadcasts and
        daily reports left out: a digest is itself the summary; nor anything taken back, nor the
        admins' notices: ``models.ADMIN_ONLY``)."""
        hidden = ("digest", "broadcast", "report", *sorted(ADMIN_ONLY))
        return list(
            self.db.query(
                f"SELECT * FROM events WHERE notify AND {LIVE_EVENT} AND created_at >= ?"
                f" AND rule NOT IN ({', '.join('?' * len(hidden))}) ORDER BY as_of, id",
                [_ts(since), *hidden],
            )
        )

    def last_digest_at(self, kind: str) -> dt.datetime | None:
        """When the newest digest of ``kind`` (daily, weekly) was made, or None before the first."""
        row = self.conn.execute(
            "SELECT max(created_at) FROM events WHERE rule = 'digest' AND key LIKE ?", [f"digest:{kind}:%"]
        ).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row[0] else None
