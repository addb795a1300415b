"""All of tallywatch's state in one SQLite file; the only package that speaks SQL.

One room a thing kept, each a module that says what it owns:

* ``db`` — the one connection (pragmas, the ``sqlite_utils.Database`` wrapper around it), the one
  transaction helper (``transaction``, ``_writes``), stored times and days, errors, ``Faults``;
* ``migrations`` — ``MIGRATIONS``, ``SCHEMA_VERSION``, bringing a file up to date on open;
* ``figures`` — figures and their revisions, items read, sources' state;
* ``events`` — events, stored once ever under their key, and the days whose report is held;
* ``deliveries`` — the outbox's rows, and the one definition of a live delivery (``LIVE_EVENT``,
  ``NOT_LIVE``, ``settle``) that ``retract_events``, ``supersede``, ``followed``, ``claim``,
  ``events_since``, the page and the feeds all read;
* ``traces`` — the outbox as the admin reads it (counts, what hangs, one event's deliveries);
* ``subscribers`` — subscribers and email sign-ups;
* ``keys`` — the installation's secrets, and how a token is looked up (``token_hash``);
* ``lock`` — ``DaemonLock``, one daemon per database.

``Store`` is the rooms put together: each is a class built on ``db.Connection`` and ``Store``
inherits them all, so there is one object, one connection and one transaction for a caller (a
poll's figures, events and deliveries are written in one, see ``ingest``), ``store.method(...)``
works as it always did, and a room can't reach another's state except through the tables. A
store object per room would have to share the connection and the open transaction by hand and
would change every call site; a room is a mixin instead, and names only what it owns.

sqlite-utils: the ``Database`` wrapper around the connection (its ``query`` gives rows as dicts),
and its table API where a row is put in place whole — an installation's key, a source's row made
once, a source's move and broken mark (``insert(..., ignore=True)``, ``upsert``). Plain SQL where
the statement is the rule: the figures' diff and batch writes (the hot path), the queue's settle
and claim (one statement over the whole queue each, shaped for its indexes), counters and
conditional updates (``polls + 1``, ``coalesce``), and rows that keep some columns on conflict (an
item's first sighting, a subscriber's ``created_at``). Migrations are SQL too (see ``migrations``).
"""

from __future__ import annotations

from .db import (
    BULK_CACHE,
    IDLE_CACHE,
    RESTORE_HINT,
    Connection,
    DatabaseBusy,
    Faults,
    SchemaTooNew,
    StoreError,
    _ts,
    identity,
    still_there,
    storage_fault,
    utcnow,
)
from .deliveries import (
    DELIVERY_STATES,
    GOES_FIRST,
    LIVE_EVENT,
    NOT_LIVE,
    UNSUBSCRIBED,
    Deliveries,
    Delivery,
    Reply,
)
from .events import Events, StoredEvent
from .figures import Figures, Latest
from .keys import Keys, token_hash
from .lock import DaemonLock
from .migrations import MIGRATIONS, SCHEMA_VERSION, Schema
from .subscribers import Subscribers
from .traces import Traces

__all__ = [
    "BULK_CACHE",
    "DELIVERY_STATES",
    "GOES_FIRST",
    "IDLE_CACHE",
    "LIVE_EVENT",
    "MIGRATIONS",
    "NOT_LIVE",
    "RESTORE_HINT",
    "SCHEMA_VERSION",
    "UNSUBSCRIBED",
    "Connection",
    "DaemonLock",
    "DatabaseBusy",
    "Delivery",
    "Faults",
    "Latest",
    "Reply",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "StoredEvent",
    "_ts",
    "identity",
    "still_there",
    "storage_fault",
    "token_hash",
    "utcnow",
]


class Store(Figures, Events, Deliveries, Traces, Subscribers, Keys, Schema):
    """tallywatch's state: every room on one connection (see the package's docstring)."""
