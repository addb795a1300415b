"""The outbox: deliveries written with their events, sent afterwards, marked when done.

``enqueue`` runs inside the transaction that stores the figures and events, so a crash either
loses both or keeps both. ``deliver`` claims due rows (status 'sending'), sends each through the
channel's flood gate, and marks it sent (with the channel's receipt: Telegram's message id), to
retry (exponential backoff with full jitter, never sooner than the server's ``retry_after``), or dead (the recipient is gone, the message was
refused, or the attempts ran out). Rows a killed process was sending are released on the next
start, so a message can arrive twice only if the kill fell between the server accepting it and
the row being marked — at most one per recipient per kill, since a recipient never has two in
flight. Every delivery's idempotency key (event × channel × recipient) is UNIQUE: the same alert
is never queued twice. In the daemon, ``worker`` runs one channel's rounds: woken when
something is queued, and otherwise when the next retry falls due.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import sqlite3
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from .backoff import backoff_seconds
from .channels import Channel, Gone, Rejected, Retry, Steps
from .channels.limits import FloodGate
from .health import DELIVERIES
from .store import Delivery, Faults, Store, StoredEvent, utcnow

log = logging.getLogger("tallywatch.outbox")

Run = Callable[..., Awaitable[Any]]  # runs a store method on the store's thread


async def direct(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A ``Run`` for code that already is on the store's thread (tests, one-shot tools)."""
    return fn(*args, **kwargs)


def idempotency_key(event_key: str, channel: str, recipient: str) -> str:
    return f"{event_key}|{channel}|{recipient}"


def enqueue(store: Store, events: Iterable[StoredEvent], channels: Iterable[Channel]) -> int:
    """Queue a delivery per notifying event and recipient; returns how many rows were added.

    An event that takes others back (``data["retracts"]``), corrects them (``data["answers"]``,
    a revised figure) or is a newer version of one (``data["replaces"]``, a daily report) follows
    them up for everyone who got them or is getting them now (``Store.followed``: sent, or in
    flight — that follow-up waits until it is sent), each delivery answering the one it follows
    (so a channel can edit that message). Copies not sent yet were dropped when their event
    stopped being live (``Store.settle``); a newer version takes their place, for the same reader
    at the same time (dead in the place of a copy that died, for `outbox retry` to revive). A correction also goes to its other readers as usual, a retraction to the admins
    (``models.ADMIN_ONLY``: the Telegram admins, the console, webhooks) and no other reader.
    """
    channels = list(channels)
    kinds = {c.kind: c for c in channels}
    added = 0
    for stored in events:
        data = stored.event.data
        replaced = data.get("replaces") or []
        waiting = store.supersede(replaced, stored.id) if replaced else []
        answered = _follow_ups(store, stored, kinds, data.get("retracts") or data.get("answers") or replaced)
        added += len(answered)
        if replaced:
            added += _in_place_of(store, stored, kinds, waiting if stored.notify else [], set(answered))
        elif stored.notify:
            added += _to_recipients(store, stored, channels, set(answered))
    return added


def _follow_ups(
    store: Store, stored: StoredEvent, kinds: dict[str, Channel], followed: list[int]
) -> list[tuple[str, str]]:
    """A delivery answering each copy of the events ``stored`` follows up; the (channel, recipient)s answered."""
    answered = []
    for earlier in store.followed(followed):
        if earlier["channel"] not in kinds:
            continue
        kind, recipient = earlier["channel"], earlier["recipient"]
        key = idempotency_key(stored.event.key, kind, f"{recipient}#{earlier['id']}")
        # a follow-up of a copy still deferred (the reader's quiet hours) is due when that copy is
        due = dt.datetime.fromisoformat(earlier["next_attempt_at"]) if earlier["status"] == "pending" else None
        # (and if that copy is never sent, it goes as a message of its own: then quiet hours hold it)
        alone = kinds[kind].quiet_until(recipient, stored.event, store)
        store.enqueue(stored.id, kind, recipient, key, due, earlier["language"], earlier["id"], alone_after=alone)
        answered.append((kind, recipient))
    return answered


def _in_place_of(
    store: Store,
    stored: StoredEvent,
    kinds: dict[str, Channel],
    waiting: list[dict[str, Any]],
    answered: set[tuple[str, str]],
) -> int:
    """A newer version in the place of each copy of the older one not sent yet (``waiting``): for
    the same reader at the same time (dead in the place of a copy that died); how many were added."""
    added = 0
    for copy in waiting:
        if copy["channel"] not in kinds or (copy["channel"], copy["recipient"]) in answered:
            continue
        kind, recipient = copy["channel"], copy["recipient"]
        due = dt.datetime.fromisoformat(copy["next_attempt_at"])
        key = idempotency_key(stored.event.key, kind, recipient)
        dead = (copy["last_error"] or "gave up") if copy["status"] == "dead" else None
        store.enqueue(stored.id, kind, recipient, key, due, copy["language"], copy["reply_to"], dead)
        added += 1
    return added


def _to_recipients(store: Store, stored: StoredEvent, channels: list[Channel], answered: set[tuple[str, str]]) -> int:
    """The event to each channel's recipients of it, but those ``answered`` already; how many were added.

    A retraction is a notice about the data ("guard", models.ADMIN_ONLY), so the channels name only
    the admins — readers have it as the answer to what they got."""
    added = 0
    for channel in channels:
        for r in channel.recipients(stored.event, store):
            if (channel.kind, r.address) in answered:
                continue
            key = idempotency_key(stored.event.key, channel.kind, r.address)
            store.enqueue(stored.id, channel.kind, r.address, key, r.not_before, r.language)
            added += 1
    return added


def _interleave(deliveries: list[Delivery]) -> list[Delivery]:
    """Round-robin over recipients, so one chat's backlog does not hold up everyone else."""
    by_recipient: defaultdict[str, deque[Delivery]] = defaultdict(deque)
    for d in deliveries:
        by_recipient[d.recipient].append(d)
    order, queues = [], deque(by_recipient.values())
    while queues:
        q = queues.popleft()
        order.append(q.popleft())
        if q:
            queues.append(q)
    return order


def _sent(store: Store, channel: Channel, marks: list[tuple[int, str | None, int | None]]) -> None:
    store.mark_all_sent(marks)
    DELIVERIES.labels(channel.kind, "sent").inc(len(marks))


@dataclass
class _Marks:
    """The sends answered, marked sent in one commit per batch (group commit): the first answer
    starts a write on the store's thread; those answered while it is written go in the next one.
    Each send waits for its own mark, so nothing counts as sent before its row says so."""

    run: Run
    store: Store
    channel: Channel
    waiting: list[tuple[tuple[int, str | None, int | None], asyncio.Future[None]]] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None

    async def sent(self, d: Delivery, receipt: str | None, pieces: int | None) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append(((d.id, receipt, pieces), done))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())
        await asyncio.shield(done)  # a send stopped while its mark is written: the mark still goes down

    async def _write(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            try:
                await self.run(_sent, self.store, self.channel, [mark for mark, _ in batch])
            except BaseException as exc:  # the store failing (or the loop stopping): every send of the batch hears it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


def _outcome(
    store: Store, channel: Channel, d: Delivery, error: Exception, retry_base: float, retry_max: float
) -> None:
    """A send that failed marked: dead (the recipient gone, the message refused, the attempts run
    out) or to retry (backoff from ``retry_base`` up to ``retry_max``)."""
    attempts = d.attempts + 1
    if isinstance(error, Gone | Rejected):
        what = "recipient gone" if isinstance(error, Gone) else "message refused"
        log.warning("%s %s: %s: %s; not retried", channel.kind, d.recipient, what, error)
        store.mark_retry(d.id, str(error), utcnow(), dead=True)
        DELIVERIES.labels(channel.kind, "dead").inc()
        if isinstance(error, Gone):
            store.deactivate(channel.kind, d.recipient, str(error))
        return
    after = error.after if isinstance(error, Retry) else None
    dead = attempts >= channel.limits.max_attempts
    # never sooner than a tenth of the base: a retry the same instant would meet the same failure
    floor = max(after or 0.0, retry_base / 10)
    when = utcnow() + dt.timedelta(seconds=backoff_seconds(attempts, retry_base, retry_max, floor))
    log.warning(
        "%s %s: %s (attempt %d%s)",
        channel.kind,
        d.recipient,
        error,
        attempts,
        ", giving up" if dead else f", next try not before {when.isoformat(timespec='seconds')}",
    )
    store.mark_retry(d.id, str(error), when, dead=dead, maybe_sent=isinstance(error, Retry) and error.uncertain)
    DELIVERIES.labels(channel.kind, "dead" if dead else "retry").inc()


class DeliverOptions(TypedDict, total=False):
    """How ``deliver`` goes about it (``_Sending``, as keywords)."""

    retry_base: float
    retry_max: float
    batch: int
    stop: asyncio.Event | None


@dataclass(frozen=True)
class _Sending:
    """``retry_base``, ``retry_max``: ``Retries``; ``batch``: how many deliveries a round claims;
    ``stop``: once set, no new send starts."""

    retry_base: float = 30.0
    retry_max: float = 3600.0
    batch: int = 200
    stop: asyncio.Event | None = None


async def deliver(run: Run, store: Store, channel: Channel, gate: FloodGate, **options: Unpack[DeliverOptions]) -> int:
    """Send everything of ``channel`` that is due now; returns how many were sent.

    Once ``stop`` is set no new send starts; sends in flight finish and are marked, and what was
    claimed but not sent is released back to the queue.
    """
    sending = _Sending(**options)
    sender = _Sender(run, store, channel, gate, sending)
    return await sender.drain()


@dataclass
class _Sender:
    """One ``deliver``: rounds of claimed deliveries, each sent by the channel's concurrent workers."""

    run: Run
    store: Store
    channel: Channel
    gate: FloodGate
    sending: _Sending
    sent: int = 0
    gone: set[str] = field(default_factory=set)  # recipients found gone: their other deliveries are not tried

    def __post_init__(self) -> None:
        # slow work for a send (a chart), done before the gate books it
        self.prepare = getattr(self.channel, "prepare", None)
        self.marks = _Marks(self.run, self.store, self.channel)

    def stopped(self) -> bool:
        return bool(self.sending.stop and self.sending.stop.is_set())

    async def drain(self) -> int:
        while not self.stopped() and (
            claimed := await self.run(self.store.claim, self.channel.kind, self.sending.batch)
        ):
            await self._round(claimed)
        return self.sent

    async def _round(self, claimed: list[Delivery]) -> None:
        queue = deque(_interleave(claimed))
        unmarked = {d.id for d in claimed}  # claimed and not yet marked sent, to retry or dead
        started: set[int] = set()  # of those, handed to the channel (they may have arrived)

        async def worker() -> None:
            while queue and not self.stopped():
                d = queue.popleft()
                await self._send(d, started)
                unmarked.discard(d.id)

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, self.channel.limits.concurrency))))
        finally:  # stopped, interrupted (Ctrl-C) or failed (a full disk): what was taken and not
            # marked goes back to the queue at once, never left 'sending' until a restart
            if unmarked:
                await _release(self.run, self.store, self.channel, sorted(unmarked), sorted(started & unmarked))

    async def _send(self, d: Delivery, started: set[int]) -> None:
        """One delivery through the gate to the channel, marked as it went."""
        channel, gate = self.channel, self.gate
        if d.recipient not in self.gone:
            if self.prepare is not None:
                await self.prepare(d.event, d.language)
            await gate.acquire(d.recipient, channel.is_group(d.recipient))
        if d.recipient in self.gone:  # found gone by another send (also while we waited for the gate)
            gate.finished(d.recipient)  # booked, never sent
            earlier = Gone("recipient gone (found earlier)")
            await self._failed(d, earlier)
            return
        try:
            steps = Steps(
                d.pieces_sent,
                d.receipt,
                gate=functools.partial(gate.acquire, d.recipient, channel.is_group(d.recipient)),
                record=functools.partial(self.run, self.store.mark_step, d.id),
                finished=functools.partial(gate.finished, d.recipient),
            )
            started.add(d.id)
            try:
                receipt = await channel.send(d.event, d.recipient, d.language, reply=d.reply, steps=steps)
            finally:
                gate.finished(d.recipient)
            self.sent += 1
        except (Retry, Gone, Rejected) as exc:
            if isinstance(exc, Gone):
                self.gone.add(d.recipient)
            if isinstance(exc, Retry) and exc.after:
                gate.pause(d.recipient, exc.after)
            await self._failed(d, exc)
            return
        except Exception as exc:  # a bug or an unforeseen answer: retry later, never lose
            log.exception("%s %s: unexpected error while sending", channel.kind, d.recipient)
            await self._failed(d, Retry(f"unexpected error: {type(exc).__name__}: {exc}", uncertain=True))
            return
        await self.marks.sent(d, receipt, steps.done or None)

    async def _failed(self, d: Delivery, error: Exception) -> None:
        await self.run(_outcome, self.store, self.channel, d, error, self.sending.retry_base, self.sending.retry_max)


async def _release(run: Run, store: Store, channel: Channel, ids: list[int], started: list[int]) -> None:
    try:
        await run(store.release, ids, started=started)
    except Exception as exc:  # the store itself failing: the next start releases them
        log.error("%s: %d deliveries could not be put back in the queue: %s", channel.kind, len(ids), exc)


@dataclass(frozen=True)
class Signals:
    """What moves a channel's ``worker``: ``wake`` (something was queued) and ``stop`` (the session ends)."""

    wake: asyncio.Event
    stop: asyncio.Event


async def worker(
    run: Run,
    store: Store,
    channel: Channel,
    send_due: Callable[[], Awaitable[int]],
    signals: Signals,
    faults: Faults,
) -> None:
    """The daemon's loop for one channel: send what is due (``send_due``), then sleep until woken
    (something was queued: ``signals.wake``) or a retry falls due, 30 s at most; until ``signals.stop``.

    A round that fails on the store may leave rows it claimed 'sending': the next round gives
    them back first (this worker is the channel's only sender: one daemon per database)."""
    wake, stop = signals.wake, signals.stop
    stranded = False
    where = f"{channel.kind} deliveries"
    while not stop.is_set():
        wake.clear()
        try:
            if stranded:
                released = await run(store.release, channel=channel.kind)
                if released:
                    log.info(
                        "%s: %d deliveries left 'sending' by a failed round are queued again", channel.kind, released
                    )
            await send_due()
            stranded = False
            faults.works(where)
        except sqlite3.Error as exc:
            stranded = True
            faults.failed(where, exc)
        except Exception:  # a channel failed in a way not foreseen: log, wait, go on
            log.exception("%s: delivery round failed", channel.kind)
        try:
            due = await run(store.next_due, channel.kind)
        except sqlite3.Error:
            due = None
        pause = 30.0 if due is None else min(30.0, max(0.0, (due - utcnow()).total_seconds()))
        waits = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
        await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
