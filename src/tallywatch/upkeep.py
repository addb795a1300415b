"""The sources' upkeep: what each poll's outcome does to its source's standing, with the events
that standing raises for the admin.

A success resets the count of failures (a broken source is ``repaired``, once); a failure is
counted, its next try set (exponential backoff with full jitter, never sooner than the server's
``Retry-After``; polled ``slow_factor`` times less often after ``slow_after`` failures in a row)
and at ``broken_after`` the source is ``broken``, once; a source bringing no new report for too
long is ``stale``, once, and for much longer ``stopped`` (its publisher may have stopped; a source
that never brought a report counts from its first successful poll), once, then ``recovered``. All of it runs on the store's thread, each step in one
transaction with the events and deliveries it raises. ``sources.health`` reads the result.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from . import outbox
from .backoff import backoff_seconds
from .channels import Channel
from .config import Config, Source
from .detect import broken, stale
from .format import format_duration
from .models import Event
from .store import Store, StoredEvent, utcnow

log = logging.getLogger("tallywatch.poll")


@dataclass(frozen=True)
class Validators:
    """What a source answered to be asked again conditionally (ETag, Last-Modified)."""

    etag: str | None
    last_modified: str | None


def note_success(
    store: Store, channels: Sequence[Channel], source: str, validators: Validators | None, new_report: bool
) -> None:
    """A poll worked: the source's failures are reset and its ``validators`` kept for the next
    conditional GET (None: it answered 304, the ones held stay); a broken one is repaired, once."""
    since = store.source_state(source).get("broken_since")
    with store.transaction():
        store.note_success(
            source,
            etag=validators.etag if validators else None,
            last_modified=validators.last_modified if validators else None,
            new_report=new_report,
            keep_validators=validators is None,
        )
        if since:
            store.set_broken(source, None)
            _admin_event(store, channels, broken.repaired(source, dt.datetime.fromisoformat(since), utcnow()), source)


def next_try(config: Config, source: Source, failures: int, retry_after: float | None) -> dt.datetime:
    """When a source failing ``failures`` times in a row is polled again."""
    health = config.source_health
    delay = backoff_seconds(failures, config.http.backoff_base, config.http.backoff_max, retry_after)
    if failures >= health.slow_after:  # failing for a while: polled less often until it works again
        delay = max(delay, source.interval * health.slow_factor)
    return utcnow() + dt.timedelta(seconds=delay)


def note_failure(
    store: Store,
    config: Config,
    channels: Sequence[Channel],
    source: Source,
    error: str,
    retry_after: float | None,
) -> int:
    """A poll failed: counted, its next try set and said; at ``broken_after`` in a row the source is
    marked broken (an admin alert, once). Returns the failures in a row."""
    health = config.source_health
    with store.transaction():
        failures = store.source_state(source.name).get("consecutive_failures", 0) + 1
        when = next_try(config, source, failures, retry_after)
        row = store.note_failure(source.name, error, when)
        if failures >= health.broken_after and not row["broken_since"]:
            now = utcnow()
            store.set_broken(source.name, now)
            _admin_event(store, channels, broken.broken(source.name, failures, error, now), source.name)
    log.error(
        "source %s failed (%d in a row): %s; next try not before %s",
        source.name,
        failures,
        error,
        when.isoformat(timespec="seconds"),
    )
    if failures == health.slow_after:
        log.warning(
            "source %s: %d failures in a row; polled every %s instead of every %s until it works again",
            source.name,
            failures,
            format_duration(source.interval * health.slow_factor),
            format_duration(source.interval),
        )
    return failures


def check_stale(
    store: Store, config: Config, channels: Sequence[Channel], source: Source, now: dt.datetime | None = None
) -> list[StoredEvent]:
    """Raise ``stale`` once when a source has brought no new report for too long, ``stopped`` once
    when for much longer (or never, polled for as long), and one ``recovered`` when a report ends it
    (both open: the same key, stored once)."""
    settings = config.rules.stale
    if not settings.enabled or not source.enabled:
        return []
    state = store.source_state(source.name)
    last, first = (
        dt.datetime.fromisoformat(state[k]) if state.get(k) else None for k in ("last_new_report", "first_success")
    )
    now = now or utcnow()
    with store.transaction():
        events = [
            *stale.evaluate(
                source.name, last, now, source.stale_after or settings.after, store.open_stale(source.name)
            ),
            *stale.stopped(
                source.name, first, last, now, settings.stopped_after, store.open_silence(source.name, "stopped")
            ),
        ]
        stored = [s for s in (store.add_event(e, source.name, True) for e in events) if s is not None]
        outbox.enqueue(store, stored, channels)
    for event in stored:
        log.log(logging.INFO if event.event.rule == "recovered" else logging.WARNING, "%s", event.event.message)
    return stored


def _admin_event(store: Store, channels: Sequence[Channel], event: Event, source: str) -> None:
    """Store an event about a source and queue it (inside the caller's transaction), and log it."""
    stored = store.add_event(event, source, True)
    if stored is not None:
        outbox.enqueue(store, [stored], channels)
        log.log(logging.ERROR if event.rule == "broken" else logging.INFO, "%s", event.message)
