"""The outbox: deliveries written with their events, sent afterwards, marked when done.

``enqueue`` runs inside the transaction that stores the figures and events, so a crash either
loses both or keeps both; ``deliver`` sends what is due and marks each row. A delivery's
idempotency key (event × channel × recipient) is UNIQUE: the same alert is never queued twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from .backoff import backoff_seconds
from .channels import Channel, Gone, Retry
from .store import Store, StoredEvent, utcnow

log = logging.getLogger("tallywatch.outbox")


def idempotency_key(event_key: str, channel: str, recipient: str) -> str:
    return f"{event_key}|{channel}|{recipient}"


def enqueue(store: Store, events: Iterable[StoredEvent], channels: Iterable[Channel]) -> None:
    channels = list(channels)
    for stored in events:
        if not stored.notify:
            continue
        for channel in channels:
            for recipient in channel.recipients():
                key = idempotency_key(stored.event.key, channel.kind, recipient)
                store.enqueue(stored.id, channel.kind, recipient, key)


def retry_at(attempts: int, floor: float | None = None, base: float = 30.0, cap: float = 3600.0) -> dt.datetime:
    """When to try a failed delivery again: backoff with full jitter, never sooner than ``floor``."""
    return utcnow() + dt.timedelta(seconds=backoff_seconds(attempts, base, cap, floor))


def deliver(store: Store, channels: Iterable[Channel]) -> int:
    """Send every due delivery; returns how many were sent."""
    sent = 0
    for channel in channels:
        for delivery in store.due_deliveries(channel.kind):
            try:
                channel.send(delivery.event, delivery.recipient)
            except Gone as exc:
                log.warning("%s %s: recipient gone: %s", channel.kind, delivery.recipient, exc)
                store.mark_retry(delivery.id, str(exc), utcnow(), dead=True)
            except Retry as exc:
                attempts = delivery.attempts + 1
                dead = attempts >= channel.limits.max_attempts
                log.warning(
                    "%s %s: %s (attempt %d%s)",
                    channel.kind,
                    delivery.recipient,
                    exc,
                    attempts,
                    ", giving up" if dead else "",
                )
                store.mark_retry(delivery.id, str(exc), retry_at(attempts, exc.after), dead=dead)
            else:
                store.mark_sent(delivery.id)
                sent += 1
    return sent
