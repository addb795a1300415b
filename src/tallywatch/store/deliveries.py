"""The deliveries room: the outbox's rows, and the one definition of a live delivery.

An event is *live* while it is neither taken back (``retracted_at``) nor replaced by a newer
version (``superseded_by``): ``LIVE_EVENT`` and its negation ``NOT_LIVE`` say it in SQL, here
only; the events room, digests, the page and the feeds read it from here. A *live delivery* is one
of a live event, or a follow-up (an edit, a retraction) of a message that was sent. ``settle``
holds the queue to it, and runs where events stop being live (``retract_events``, ``supersede``)
and before ``claim`` takes anything; ``followed`` names who must hear of a change.

Enqueue, settle, claim, release and the marks (sent, a piece sent, retry or dead) are plain SQL:
one statement each over the whole queue, whose conditions are the rules (and which the queue's
indexes are shaped for) — a table API would hide them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..models import ADMIN_ONLY, Event
from ..secrets import redact
from .db import Connection, _bookkeeping, _event, _ts, _writes, utcnow

# An event still standing: neither taken back (a retraction) nor replaced by a newer version (a daily
# report's /2). A *live delivery* is one of a live event, or a follow-up (an edit, a retraction) of a
# message that was sent. ``Store.settle`` applies this to the queue; claim, the follow-ups, digests,
# the page and the feeds all read it from here.
LIVE_EVENT = "retracted_at IS NULL AND superseded_by IS NULL"
UNSUBSCRIBED = "the subscription ended before it was sent"  # a dropped copy's last_error (``Store.settle``)
NOT_LIVE = "retracted_at IS NOT NULL OR superseded_by IS NOT NULL"  # the same, negated (the partial index's words)
DELIVERY_STATES = ("pending", "retrying", "sending", "sent", "dead", "dropped")

# A delivery ``d`` waits while ``p``, one queued before it for the same recipient, is in flight, being
# retried or due (one deferred by quiet hours lets it by): ``claim`` takes none that waits, and
# `tallywatch deliveries` names the one it waits for. Its one parameter: now.
GOES_FIRST = (
    "p.channel = d.channel AND p.recipient = d.recipient AND p.id < d.id"
    " AND (p.status = 'sending' OR (p.status = 'pending' AND (p.attempts > 0 OR p.next_attempt_at <= ?)))"
)


@dataclass(frozen=True)
class Reply:
    """The earlier message a delivery answers: its event and the channel's receipt for it."""

    event: Event
    receipt: str | None


@dataclass(frozen=True, kw_only=True)
class Delivery:
    id: int
    channel: str
    recipient: str
    attempts: int
    language: str
    event: Event
    reply: Reply | None = None  # a retraction answers the alert it takes back
    pieces_sent: int = 0  # of a message sent in pieces, those that went out before (a retry resumes)
    receipt: str | None = None  # the last piece's receipt


class Deliveries(Connection):
    """The outbox: queued, settled, claimed, marked."""

    @_writes
    def enqueue(  # noqa: PLR0913 — one argument per column of the row it writes (outbox.enqueue gives them)
        self,
        event_id: int,
        channel: str,
        recipient: str,
        key: str,
        not_before: dt.datetime | None = None,
        language: str = "en",
        reply_to: int | None = None,
        dead: str | None = None,
        alone_after: dt.datetime | None = None,
    ) -> None:
        """Queue a delivery (``dead``: as one that gave up with this error, which `outbox retry` revives:
        a newer version taking the place of a copy that died; ``alone_after``: for a follow-up, not before
        when it may go if it has to go as a message of its own — the reader's quiet hours now)."""
        now = _ts()
        self.conn.execute(
            "INSERT INTO deliveries (event_id, channel, recipient, idempotency_key, next_attempt_at, created_at,"
            " language, reply_to, status, last_error, alone_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            [
                event_id,
                channel,
                recipient,
                key,
                _ts(not_before) if not_before else now,
                now,
                language,
                reply_to,
                "dead" if dead else "pending",
                dead,
                _ts(alone_after) if alone_after else None,
            ],
        )

    @_writes
    def retract_events(self, ids: list[int]) -> None:
        """Take back events: marked, never deleted, and their keys freed (renamed), so the true
        crossing of a milestone can fire once when it happens and reach the same readers. Their
        deliveries not sent yet are dropped (``settle``); those sent or in flight are answered by
        whatever takes them back (``followed``)."""
        for event_id in ids:
            self.conn.execute(
                "UPDATE events SET retracted_at = ?, key = key || '~retracted:' || id WHERE id = ?", [_ts(), event_id]
            )
            self.conn.execute(
                "UPDATE deliveries SET idempotency_key = idempotency_key || '~retracted:' || event_id"
                " WHERE event_id = ?",
                [event_id],
            )
        self.settle()

    @_writes
    def supersede(self, event_ids: list[int], by: int) -> list[dict[str, Any]]:
        """Event ``by`` is a newer version of these: they are no longer live, and their deliveries not
        sent yet are dropped; returns those, and those that died (channel, recipient, language, when
        it was due, the message it was to edit, its status and error), for the newer version to take
        their place."""
        if not event_ids:
            return []
        marks = ",".join("?" * len(event_ids))
        self.conn.execute(
            f"UPDATE events SET superseded_by = ? WHERE id IN ({marks}) AND superseded_by IS NULL", [by, *event_ids]
        )
        rows = list(
            self.db.query(
                "SELECT id, channel, recipient, language, next_attempt_at, reply_to, status, last_error FROM deliveries"
                f" WHERE status IN ('pending', 'dead') AND event_id IN ({marks}) ORDER BY id",
                event_ids,
            )
        )
        self.settle()
        return rows

    def followed(self, event_ids: list[int]) -> list[dict[str, Any]]:
        """Who got these events, will get them, or may have got them: the deliveries sent, in flight
        or still queued (a follow-up waits until its original is sent), or put back after a send that
        may have arrived (``maybe_sent``), with their channel, recipient and language. (A copy of an
        event taken back or replaced was dropped before this is asked: only one that may have
        arrived is followed then — or a dropped follow-up, whose own original the new one answers:
        ``settle`` chains it there, or drops it when another copy answers that message.)"""
        if not event_ids:
            return []
        return list(
            self.db.query(
                "SELECT id, channel, recipient, language, status, next_attempt_at FROM deliveries WHERE (status IN"
                " ('sent', 'sending', 'pending') OR maybe_sent OR (status = 'dropped' AND reply_to IS NOT NULL))"
                f" AND event_id IN ({','.join('?' * len(event_ids))}) ORDER BY id",
                event_ids,
            )
        )

    @_writes
    def settle(self, now: str | None = None) -> None:
        """Hold the queue to the one definition of a live delivery (``LIVE_EVENT``):

        * a delivery not sent yet whose event was taken back or replaced is dropped (its readers
          never saw it: nothing to follow up);
        * a follow-up of a message that was never sent (dropped, or dead) is dropped if it takes
          that message back, and otherwise (a correction, a newer version) goes as a message of
          its own — so does a retraction of one that may have arrived before a kill (``maybe_sent``);
        * a reader's copy not sent yet is dropped once they unsubscribed (quiet hours held it, a retry
          was due): they asked for nothing more — an answer to a message they hold still goes, and
          the admins' notices go to the admins whatever they once subscribed to.

        Run by ``claim`` before anything is taken, and right where events stop being live."""
        admins = ", ".join(f"'{rule}'" for rule in sorted(ADMIN_ONLY))
        # an answer to a message sent goes now (it edits it: quiet hours never hold it), not at the
        # time it took from that message's copy while it waited (a retry, quiet hours)
        self.conn.execute(
            "UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending' AND attempts = 0"
            " AND next_attempt_at > ? AND reply_to IN (SELECT id FROM deliveries WHERE status = 'sent')",
            [now := now or _ts(), now],
        )
        self.conn.execute(
            "UPDATE deliveries SET status = 'dropped', claimed_at = NULL, last_error = ?"
            " WHERE status = 'pending' AND reply_to IS NULL AND EXISTS (SELECT 1 FROM subscribers s WHERE"
            " s.channel = deliveries.channel AND s.address = deliveries.recipient AND NOT s.active)"
            f" AND event_id IN (SELECT id FROM events WHERE rule NOT IN ('broadcast', {admins}))",
            [UNSUBSCRIBED],
        )
        self.conn.execute(
            "UPDATE deliveries SET status = 'dropped', claimed_at = NULL, last_error = CASE WHEN"
            " (SELECT retracted_at FROM events e WHERE e.id = deliveries.event_id) IS NOT NULL"
            " THEN 'taken back before it was sent' ELSE 'replaced by a newer version before it was sent' END"
            f" WHERE status = 'pending' AND event_id IN (SELECT id FROM events WHERE {NOT_LIVE})"
        )
        never = (
            "status = 'pending' AND reply_to IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries o"
            " WHERE o.id = deliveries.reply_to AND o.status IN ('dead', 'dropped')"
        )
        self.conn.execute(
            "UPDATE deliveries SET status = 'dropped', last_error = 'the message it takes back was never sent'"
            f" WHERE {never} AND NOT o.maybe_sent AND o.reply_to IS NULL)"
            " AND event_id IN (SELECT id FROM events WHERE json_extract(data, '$.retracts') IS NOT NULL)"
        )
        # (a copy whose answer would go to a message another copy of its event answers already — or
        # will, chained from an earlier one — is not needed: one answer to one message)
        self.conn.execute(
            "UPDATE deliveries SET status = 'dropped', last_error = 'another copy answers that message'"
            f" WHERE {never} AND (EXISTS (SELECT 1 FROM deliveries t WHERE t.event_id = deliveries.event_id"
            " AND t.id != deliveries.id AND t.reply_to = o.reply_to AND (t.status IN ('pending', 'sending',"
            " 'sent') OR t.maybe_sent)) OR EXISTS (SELECT 1 FROM deliveries t JOIN deliveries p ON p.id ="
            " t.reply_to WHERE t.event_id = deliveries.event_id AND t.id < deliveries.id AND t.status = 'pending'"
            " AND p.status IN ('dead', 'dropped') AND p.reply_to = o.reply_to)))"
        )
        never += ")"
        # (an edit whose original was itself an edit of a message sent edits that message instead)
        # (and is due when that message's copy is, if it is still queued: quiet hours hold it too;
        # one that becomes a message of its own waits for the quiet hours it was queued in)
        self.conn.execute(
            "UPDATE deliveries SET next_attempt_at = max(next_attempt_at, coalesce((SELECT q.next_attempt_at"
            " FROM deliveries o JOIN deliveries q ON q.id = o.reply_to WHERE o.id = deliveries.reply_to AND"
            " q.status = 'pending'), CASE WHEN (SELECT o.reply_to FROM deliveries o WHERE o.id = deliveries.reply_to)"
            " IS NULL THEN alone_after END, next_attempt_at)),"
            " reply_to = (SELECT o.reply_to FROM deliveries o WHERE o.id = deliveries.reply_to)"
            f" WHERE {never}"
        )

    def claim(self, channel: str, limit: int = 100) -> list[Delivery]:
        """Take up to ``limit`` due live deliveries for sending (status 'sending'), oldest first.

        One recipient's deliveries go in the order they were queued, one at a time: a delivery is
        taken only when none queued before it for the same recipient is due, being retried or in
        flight (a retraction before the alert that replaces it, even when it has to be tried again;
        never two sends to one chat at once) — one deferred by quiet hours lets the later ones by
        (a milestone at night) —, and a follow-up only once the message it answers was sent."""
        now = _ts()
        with self.transaction(news=False):  # (the outbox's bookkeeping, as ``_bookkeeping``)
            self.settle(now)
            ids = [
                row[0]
                for row in self.conn.execute(
                    "UPDATE deliveries SET status = 'sending', claimed_at = ? WHERE id IN (SELECT d.id FROM deliveries d"
                    # (+: walk the queue in order by deliveries_queue and stop at the limit, not sort every due row)
                    " WHERE d.channel = ? AND d.status = 'pending' AND +d.next_attempt_at <= ?"
                    " AND (d.reply_to IS NULL OR (SELECT o.status FROM deliveries o WHERE o.id = d.reply_to) = 'sent')"
                    f" AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE {GOES_FIRST})"
                    " ORDER BY d.id LIMIT ?) RETURNING id",
                    [now, channel, now, now, limit],
                ).fetchall()
            ]
        if not ids:
            return []
        rows = self.db.query(
            "SELECT d.id, d.channel, d.recipient, d.attempts, d.language, d.pieces_sent, d.receipt, e.key, e.rule, e.metric, e.as_of, e.value,"
            " e.message, e.severity, e.data, e.source, o.receipt AS reply_receipt, oe.key AS reply_key,"
            " oe.rule AS reply_rule, oe.metric AS reply_metric, oe.as_of AS reply_as_of, oe.value AS reply_value,"
            " oe.message AS reply_message, oe.severity AS reply_severity, oe.data AS reply_data,"
            " oe.source AS reply_source"
            " FROM deliveries d JOIN events e ON e.id = d.event_id"
            " LEFT JOIN deliveries o ON o.id = d.reply_to LEFT JOIN events oe ON oe.id = o.event_id"
            f" WHERE d.id IN ({','.join('?' * len(ids))}) ORDER BY d.id",
            ids,
        )
        return [
            Delivery(
                id=r["id"],
                channel=r["channel"],
                recipient=r["recipient"],
                attempts=r["attempts"],
                language=r["language"],
                event=_event(r),
                reply=Reply(_event(r, "reply_"), r["reply_receipt"]) if r["reply_key"] else None,
                pieces_sent=r["pieces_sent"],
                receipt=r["receipt"],
            )
            for r in rows
        ]

    @_bookkeeping
    def release(
        self,
        ids: list[int] | None = None,
        *,
        started: Iterable[int] | None = None,
        channel: str | None = None,
        older_than: dt.timedelta | None = None,
    ) -> int:
        """Put deliveries claimed and not sent ('sending') back in the queue; returns how many.

        ``ids``: those a round took and did not mark (it stopped, or was interrupted), of which
        ``started`` had been handed to the channel; ``channel``: all of a channel's (its round failed
        on the store); ``older_than``: those claimed longer ago (a process stopped holding them);
        none of these: all (a daemon's start: the run before it died holding them). One that was
        being sent may have arrived (``maybe_sent``: its follow-ups must reach it) — with ``ids``
        those ``started``, otherwise any of them."""
        where, params = ["status = 'sending'"], []
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params += ids
        if channel is not None:
            where.append("channel = ?")
            params.append(channel)
        if older_than is not None:
            where.append("(claimed_at IS NULL OR claimed_at < ?)")
            params.append(_ts(utcnow() - older_than))
        maybe = "1"
        if ids is not None:
            started = list(started or [])
            maybe = f"CASE WHEN id IN ({','.join('?' * len(started))}) THEN 1 ELSE maybe_sent END"
            params = [*started, *params]
        return self.conn.execute(
            f"UPDATE deliveries SET status = 'pending', claimed_at = NULL, maybe_sent = {maybe}"
            f" WHERE {' AND '.join(where)}",
            params,
        ).rowcount

    @_bookkeeping
    def mark_step(self, delivery_id: int, pieces_sent: int, receipt: str | None) -> None:
        """A piece of a delivery went out: a retry starts after it."""
        self.conn.execute(
            "UPDATE deliveries SET pieces_sent = ?, receipt = ? WHERE id = ?", [pieces_sent, receipt, delivery_id]
        )

    def mark_sent(self, delivery_id: int, receipt: str | None = None, pieces: int | None = None) -> None:
        """Sent; ``receipt`` is what the recipient's service calls the message (to edit it later);
        ``pieces``: how many went out in all (the last one is written down here, not by ``mark_step``)."""
        self.mark_all_sent([(delivery_id, receipt, pieces)])

    @_bookkeeping
    def mark_all_sent(self, marks: list[tuple[int, str | None, int | None]]) -> None:
        """``mark_sent`` for each (delivery id, receipt, pieces), in one transaction: the outbox's
        sends answered while the last commit was being written go down in the next (group commit)."""
        now = _ts()
        self.conn.executemany(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = NULL,"
            " claimed_at = NULL, receipt = ?, pieces_sent = COALESCE(?, pieces_sent) WHERE id = ?",
            [(now, receipt, pieces, delivery_id) for delivery_id, receipt, pieces in marks],
        )

    @_bookkeeping
    def mark_retry(
        self, delivery_id: int, error: str, when: dt.datetime, dead: bool, *, maybe_sent: bool = False
    ) -> None:
        """Failed, to try again at ``when`` or ``dead``; ``maybe_sent``: no answer came, it may have arrived."""
        self.db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, claimed_at = NULL,"
            " status = CASE WHEN ? THEN 'dead' ELSE 'pending' END, maybe_sent = maybe_sent OR ? WHERE id = ?",
            [redact(error), _ts(when), dead, maybe_sent, delivery_id],  # an API's error text may echo a token
        )

    @_writes
    def requeue_dead(self) -> int:
        return self.db.execute(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE status = 'dead'"
            f" AND event_id IN (SELECT id FROM events WHERE {LIVE_EVENT})",
            [_ts()],
        ).rowcount
