"""The outbox read for people (``tallywatch outbox``, ``tallywatch deliveries``, ``status``, the
daemon's checks): how many deliveries are in each state, which hang, the rows, and one event's or
one recipient's deliveries traced with what decided their fate. It reads only; the queue's rules
(``GOES_FIRST``, a live event) come from the deliveries room."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .db import Connection, _ts, utcnow
from .deliveries import DELIVERY_STATES, GOES_FIRST


class Traces(Connection):
    """What the outbox holds, as the admin reads it."""

    def last_sent(self, channel: str) -> dt.datetime | None:
        row = self.conn.execute("SELECT max(sent_at) FROM deliveries WHERE channel = ?", [channel]).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    def next_due(self, channel: str) -> dt.datetime | None:
        row = self.conn.execute(
            "SELECT min(next_attempt_at) FROM deliveries WHERE channel = ? AND status = 'pending'", [channel]
        ).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    def outbox_counts(self) -> dict[str, int]:
        """pending (never tried), retrying (tried, will try again), sending, sent, dead, dropped (its
        event was taken back or replaced before it went out)."""
        counts = dict.fromkeys(DELIVERY_STATES, 0)
        for status, tried, n in self.conn.execute(
            "SELECT status, attempts > 0, count(*) FROM deliveries GROUP BY status, attempts > 0"
        ):
            counts["retrying" if status == "pending" and tried else status] += n
        return counts

    def stuck(self, older_than: dt.timedelta) -> tuple[int, dict[str, Any] | None]:
        """Deliveries 'sending' since longer ago than ``older_than`` (a round that hangs): how many,
        and the oldest of them (id, channel, its event's key, claimed_at)."""
        since = _ts(utcnow() - older_than)
        (count,) = self.conn.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'sending' AND claimed_at < ?", [since]
        ).fetchone()
        if not count:
            return 0, None
        rows = self.db.query(
            "SELECT d.id, d.channel, e.key, d.claimed_at FROM deliveries d"
            " JOIN events e ON e.id = d.event_id WHERE d.status = 'sending' AND d.claimed_at < ?"
            " ORDER BY d.claimed_at, d.id LIMIT 1",
            [since],
        )
        return count, next(iter(rows), None)

    def outbox_rows(self, statuses: tuple[str, ...] = ("pending", "sending", "dead")) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT d.id, d.channel, d.recipient, d.status, d.attempts, d.next_attempt_at, d.last_error, e.key"
                f" FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.status IN ({','.join('?' * len(statuses))})"
                " ORDER BY d.id",
                list(statuses),
            )
        )

    def traced(self, *, event: str | None = None, recipient: str | None = None) -> list[dict[str, Any]]:
        """Every delivery of the event ``event`` (a key: its versions and copies taken back too,
        whose keys were freed) and to ``recipient``, oldest first, with what tells its fate: its
        event's key and whether it still stands, the recipient's subscription (``subscribed``: None
        for a chat of the config), and for one queued, the delivery it waits for (``waits_for``: one
        queued before it for the same recipient, ``GOES_FIRST``)."""
        where, params = [], []
        if event is not None:
            # 'key', 'key/2' (a newer version of a daily report), 'key~retracted:7' (taken back)
            where.append(
                "(e.key = ? OR (substr(e.key, 1, length(?)) = ? AND substr(e.key, length(?) + 1, 1) IN ('/', '~')))"
            )
            params += [event] * 4
        if recipient is not None:
            where.append("d.recipient = ?")
            params.append(recipient)
        rows = list(
            self.db.query(
                "SELECT d.id, e.key AS event, e.rule, e.retracted_at, e.superseded_by, d.channel, d.recipient,"
                " d.language, d.status, d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.claimed_at,"
                " d.sent_at, d.receipt, d.reply_to, d.maybe_sent, s.active AS subscribed, s.reason AS left_because,"
                # (a follow-up goes to its original's recipient after it: it waits for it this way too)
                f" CASE WHEN d.status = 'pending' THEN (SELECT min(p.id) FROM deliveries p WHERE {GOES_FIRST})"
                " END AS waits_for"
                " FROM deliveries d JOIN events e ON e.id = d.event_id"
                " LEFT JOIN subscribers s ON s.channel = d.channel AND s.address = d.recipient"
                f" {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY d.id",
                [_ts(), *params],
            )
        )
        waited = sorted({row["waits_for"] for row in rows if row["waits_for"]})
        keys = dict(
            self.conn.execute(
                "SELECT d.id, e.key FROM deliveries d JOIN events e ON e.id = d.event_id"
                f" WHERE d.id IN ({','.join('?' * len(waited))})",
                waited,
            ).fetchall()
        )
        for row in rows:
            row["waits_for_event"] = keys.get(row["waits_for"])
        return rows
