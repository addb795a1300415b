"""The figures room: what the sources said, and what became of it.

It owns the ``figures`` table (the current figure per source, metric and day, and its place in the
series the rules see: accepted, suspect, discarded, or beside it), ``revisions`` (the values later
revised), ``items`` (the documents read: a digest to notice an edit, how much of a report was read,
when it was published) and ``sources`` (each source's HTTP validators and health). ``record`` diffs
a batch against what is stored; new and revised figures are staged and written by ``flush``, in
the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import Change, Figure
from ..secrets import redact
from .db import Connection, _day, _ts, _writes


@dataclass(frozen=True)
class Latest:
    metric: str
    as_of: dt.date
    value: int
    delta: int | None
    source: str


class Figures(Connection):
    """Figures and revisions, items read, sources' state."""

    def __init__(self, path: str | Path, *, timeout: float = 10.0) -> None:
        self._staged: dict[tuple[str, dt.date, str], list[Any]] = {}  # figures waiting for flush()
        self._status: dict[tuple[str, dt.date, str], str | None] = {}  # status changes of stored figures
        super().__init__(path, timeout=timeout)

    @_writes
    def record(self, source: str, item: str, figures: Iterable[Figure]) -> list[Change]:
        """Diff figures from one item against what the source said before: new, unchanged or revised.

        New and revised figures are staged and written by ``flush`` (one statement for the batch),
        with the status the rules engine gives them (``set_status``); a revised figure's old value
        goes to the revisions log right away.
        """
        figures = sorted(figures, key=lambda f: (f.as_of, f.metric))
        if not figures:
            return []
        iso = {as_of: as_of.isoformat() for as_of in {f.as_of for f in figures}}  # (each day written once)
        days = sorted(iso.values())
        metrics = sorted({f.metric for f in figures})
        held = {
            (metric, day): value
            for metric, day, value in self.conn.execute(
                f"SELECT metric, as_of, value FROM figures WHERE metric IN ({','.join('?' * len(metrics))})"
                f" AND as_of IN ({','.join('?' * len(days))}) AND source = ?",
                [*metrics, *days, source],
            )
        }
        now = _ts()
        changes = []
        for fig in figures:
            day = iso[fig.as_of]
            old = held.get((fig.metric, day))
            if old == fig.value:
                changes.append(Change(fig, "unchanged", source))
                continue
            if old is not None:
                self.conn.execute(
                    "INSERT INTO revisions (source, item, metric, as_of, value, reported_delta, observed_at, revised_at)"
                    " SELECT source, item, metric, as_of, value, reported_delta, updated_at, ? FROM figures"
                    " WHERE metric = ? AND as_of = ? AND source = ?",
                    [now, fig.metric, day, source],
                )
            self._staged[(fig.metric, fig.as_of, source)] = [
                source,
                item,
                fig.metric,
                day,
                fig.value,
                fig.reported_delta,
                now,
                None,
            ]
            changes.append(Change(fig, "new", source) if old is None else Change(fig, "revised", source, old))
        return changes

    def set_status(self, metric: str, as_of: dt.date, source: str, status: str | None) -> None:
        """Place a figure in the series (accepted / suspect), take it out (discarded) or leave it beside (None)."""
        key = (metric, as_of, source)
        row = self._staged.get(key)
        if row is not None:
            row[7] = status
        else:
            self._status[key] = status

    def flush(self) -> None:
        """Write the staged figures and status changes (inside the caller's transaction)."""
        if not (self._staged or self._status):
            return
        with self.transaction():
            self._write_staged()

    def _write_staged(self) -> None:
        if self._staged:
            self.conn.executemany(
                "INSERT OR REPLACE INTO figures (source, item, metric, as_of, value, reported_delta, updated_at, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                list(self._staged.values()),
            )
            self._staged.clear()
        if self._status:
            self.conn.executemany(
                "UPDATE figures SET status = ? WHERE metric = ? AND as_of = ? AND source = ?",
                [(status, m, d.isoformat(), src) for (m, d, src), status in self._status.items()],
            )
            self._status.clear()

    def discard_staged(self) -> None:
        self._staged.clear()
        self._status.clear()

    def series(self, metric: str) -> list[tuple[dt.date, int, str, str, int | None]]:
        """(as_of, value, source, status, reported_delta) of a metric's accepted and suspect points."""
        self.flush()
        rows = self.conn.execute(
            "SELECT as_of, value, source, status, reported_delta FROM figures"
            " WHERE metric = ? AND status IN ('accepted', 'suspect') ORDER BY as_of",
            [metric],
        ).fetchall()
        # the detector keeps every point in memory: one date object per day and one string per
        # source, shared by every metric, rather than one of each per row (~2 MB of history)
        return [(_day(d), v, sys.intern(s), st, r) for d, v, s, st, r in rows]

    def span(self, metric: str) -> tuple[dt.date, dt.date] | None:
        """The first and the last day of a metric's accepted figures (None: none yet)."""
        first, last = self.conn.execute(
            "SELECT min(as_of), max(as_of) FROM figures WHERE metric = ? AND status = 'accepted'", [metric]
        ).fetchone()
        return None if first is None else (_day(first), _day(last))

    def chart_data(
        self, metric: str, days: int | None
    ) -> tuple[list[tuple[dt.date, int]], list[tuple[dt.date, str, dict]]]:
        """The accepted points of the last ``days`` days and the events about them (for a chart);
        ``days=None``: all of them, from the first day the store holds."""
        last = self.conn.execute(
            "SELECT max(as_of) FROM figures WHERE metric = ? AND status = 'accepted'", [metric]
        ).fetchone()[0]
        if last is None:
            return [], []
        since = "" if days is None else (dt.date.fromisoformat(last) - dt.timedelta(days=days)).isoformat()
        points = [
            (dt.date.fromisoformat(d), v)
            for d, v in self.conn.execute(
                "SELECT as_of, value FROM figures WHERE metric = ? AND status = 'accepted' AND as_of >= ? ORDER BY as_of",
                [metric, since],
            )
        ]
        events = [
            (dt.date.fromisoformat(d), rule, json.loads(data))
            for d, rule, data in self.conn.execute(
                "SELECT as_of, rule, data FROM events WHERE metric = ? AND as_of >= ? ORDER BY as_of", [metric, since]
            )
        ]
        return points, events

    def latest(self) -> list[Latest]:
        """Per metric: the newest accepted day's figure and its change from the accepted day before."""
        rows = self.db.execute(
            """
            WITH newest AS (SELECT metric, max(as_of) AS as_of FROM figures WHERE status = 'accepted' GROUP BY metric)
            SELECT s.metric, s.as_of, s.value, s.source,
                   (SELECT p.value FROM figures p WHERE p.metric = s.metric AND p.status = 'accepted'
                    AND p.as_of < s.as_of ORDER BY p.as_of DESC LIMIT 1)
            FROM figures s JOIN newest n ON s.metric = n.metric AND s.as_of = n.as_of
            WHERE s.status = 'accepted'
            ORDER BY s.metric
            """
        ).fetchall()
        return [Latest(m, dt.date.fromisoformat(d), v, None if p is None else v - p, s) for m, d, v, s, p in rows]

    def accepted_days(self, metric: str, since: dt.date) -> list[dt.date]:
        """The days since ``since`` that have an accepted figure of ``metric``, in order."""
        return [
            _day(row[0])
            for row in self.conn.execute(
                "SELECT as_of FROM figures WHERE metric = ? AND status = 'accepted' AND as_of >= ? ORDER BY as_of",
                [metric, since.isoformat()],
            )
        ]

    def last_seen(self, metric: str, before: dt.date) -> dt.date | None:
        """The last day before ``before`` any source gave a figure of ``metric`` for, whatever became of it."""
        row = self.conn.execute(
            "SELECT max(as_of) FROM figures WHERE metric = ? AND as_of < ?", [metric, before.isoformat()]
        ).fetchone()
        return _day(row[0]) if row and row[0] else None

    def last_day(self) -> dt.date | None:
        """The newest day any metric has an accepted figure for."""
        row = self.conn.execute("SELECT max(as_of) FROM figures WHERE status = 'accepted'").fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    def value_before(self, metric: str, day: dt.date) -> int | None:
        """The accepted total on the last day on or before ``day``."""
        row = self.conn.execute(
            "SELECT value FROM figures WHERE metric = ? AND status = 'accepted' AND as_of <= ? ORDER BY as_of DESC LIMIT 1",
            [metric, day.isoformat()],
        ).fetchone()
        return row[0] if row else None

    def observation_count(self) -> int:
        """Every value a source has given: the current figures and the revised ones before them."""
        return self.conn.execute("SELECT (SELECT count(*) FROM figures) + (SELECT count(*) FROM revisions)").fetchone()[
            0
        ]

    def figures_since(self, since: dt.datetime) -> int:
        return self.conn.execute("SELECT count(*) FROM figures WHERE updated_at >= ?", [_ts(since)]).fetchone()[0]

    def reported_by(self, day: dt.date, metrics: Iterable[str]) -> str:
        """The source whose figures of the day are in the series (the first of ``metrics`` that has one)."""
        for metric in metrics:
            row = self.conn.execute(
                "SELECT source FROM figures WHERE metric = ? AND as_of = ? AND status IN ('accepted', 'suspect')",
                [metric, day.isoformat()],
            ).fetchone()
            if row:
                return row[0]
        return ""

    def held_figures(self) -> list[dict[str, Any]]:
        """The figures held out of the series (status 'suspect') until the next report or a second
        source settles them: metric, day, value, source, printed change, and since when (stored)."""
        return list(
            self.db.query(
                "SELECT metric, as_of, value, source, reported_delta, updated_at AS since FROM figures"
                " WHERE status = 'suspect' ORDER BY metric, as_of"
            )
        )

    def item_digest(self, source: str, guid: str) -> str | None:
        row = self.conn.execute("SELECT digest FROM items WHERE source = ? AND guid = ?", [source, guid]).fetchone()
        return row[0] if row else None

    @_writes
    def mark_item(
        self,
        source: str,
        guid: str,
        digest: str,
        figures: int,
        coverage: str = "",
        published: dt.datetime | None = None,
    ) -> None:
        """An item read: its content's digest, its figure count, for a report how much was read, and
        when the source says it was published."""
        now = _ts()
        if published is not None and published.tzinfo is None:
            published = published.replace(tzinfo=dt.UTC)  # a time without a zone is UTC, as feeds give it
        self.conn.execute(
            "INSERT INTO items (source, guid, digest, figures, first_seen, last_seen, coverage, published)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source, guid) DO UPDATE SET digest = excluded.digest,"
            " figures = excluded.figures, last_seen = excluded.last_seen, coverage = excluded.coverage",
            [source, guid, digest, figures, now, now, coverage or None, _ts(published) if published else None],
        )

    def report_times(self, since: dt.datetime, source: str | None = None) -> dict[str, list[dt.datetime]]:
        """Per source, when its report items appeared since then — reports read completely or
        partly, not any item with a figure (a pattern metric in a news item, a post with a few
        figures): the time the source gave (a feed's history teaches a new install at once),
        unless it is missing, older than ``since``, later than when the item was first seen here
        (a wrong time zone: a local time read as UTC lies in the future) or exactly midnight, UTC's
        or Kyiv's (a day without its time: a dated page stored so before it carried a day, a feed
        that dates by the day), then the time it was first seen."""
        from ..models import REPORT_ZONE

        out: dict[str, list[dt.datetime]] = {}
        skew = dt.timedelta(minutes=5)  # the publisher's clock and ours
        only = " AND source = ?" if source is not None else ""
        for name, first_seen, published in self.conn.execute(
            "SELECT source, first_seen, published FROM items"
            f" WHERE figures > 0 AND coverage IN ('complete', 'partial') AND first_seen >= ?{only}",
            [_ts(since), *([source] if source is not None else [])],
        ):
            seen = dt.datetime.fromisoformat(first_seen)
            said = dt.datetime.fromisoformat(published) if published else None
            midnight = said is not None and dt.time() in (said.time(), said.astimezone(REPORT_ZONE).time())
            good = said is not None and since <= said <= seen + skew and not midnight
            out.setdefault(name, []).append(said if good else seen)
        return out

    def coverage(self, since: dt.datetime) -> dict[str, dict[str, int]]:
        """Per source, the report documents read since ``since``: how many completely, partly, not at all."""
        out: dict[str, dict[str, int]] = {}
        for source, coverage, count in self.conn.execute(
            "SELECT source, coverage, count(*) FROM items WHERE coverage IS NOT NULL AND last_seen >= ?"
            " GROUP BY source, coverage",
            [_ts(since)],
        ):
            out.setdefault(source, {"complete": 0, "partial": 0, "unread": 0})[coverage] = count
        return out

    def source_state(self, name: str) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM sources WHERE name = ?", [name]))
        return rows[0] if rows else {"name": name, "consecutive_failures": 0}

    def source_states(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM sources ORDER BY name"))

    def _ensure_source(self, name: str) -> None:
        """The source's row, made once (its counters start at their defaults)."""
        self.db["sources"].insert({"name": name}, ignore=True)

    @_writes
    def note_success(
        self, name: str, *, etag: str | None, last_modified: str | None, new_report: bool, keep_validators: bool
    ) -> None:
        self._ensure_source(name)
        now = _ts()
        self.db.execute(
            "UPDATE sources SET last_attempt = ?, last_success = ?, consecutive_failures = 0, last_error = NULL,"
            " next_poll_after = NULL, polls = polls + 1, first_success = coalesce(first_success, ?),"
            " etag = CASE WHEN ? THEN etag ELSE ? END, last_modified = CASE WHEN ? THEN last_modified ELSE ? END,"
            " last_new_report = CASE WHEN ? THEN ? ELSE last_new_report END WHERE name = ?",
            [now, now, now, keep_validators, etag, keep_validators, last_modified, new_report, now, name],
        )

    @_writes
    def note_moved(self, name: str, configured: str, now_at: str) -> None:
        """The source's configured URL answered a permanent redirect: poll ``now_at`` from now on."""
        self.db["sources"].upsert({"name": name, "moved_from": configured, "moved_to": now_at}, pk="name")

    @_writes
    def set_broken(self, name: str, since: dt.datetime | None) -> None:
        """Mark a source broken since ``since``, or working again (None)."""
        self.db["sources"].upsert({"name": name, "broken_since": _ts(since) if since else None}, pk="name")

    @_writes
    def note_failure(self, name: str, error: str, next_poll_after: dt.datetime) -> dict[str, Any]:
        """Count a failed poll; returns the source's state after it (failures in a row, broken since)."""
        self._ensure_source(name)
        self.db.execute(
            "UPDATE sources SET last_attempt = ?, consecutive_failures = consecutive_failures + 1,"
            " failures = failures + 1, polls = polls + 1, last_error = ?, next_poll_after = ? WHERE name = ?",
            [_ts(), redact(error), _ts(next_poll_after), name],
        )
        return self.source_state(name)
