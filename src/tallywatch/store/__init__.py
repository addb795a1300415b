"""All of tallywatch's state in one SQLite file; the only module that speaks SQL.

WAL journal, a busy timeout, and a schema versioned with ``PRAGMA user_version``: each entry of
``MIGRATIONS`` moves the file one version up, inside a transaction, so an old file is upgraded in
place on open. ``record`` diffs figures against what is stored; events and their deliveries are
written in the same transaction as the figures that caused them (see ``pipeline.ingest``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import os
import socket
import sqlite3
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import ADMIN_ONLY, Change, Event, Figure
from ..secrets import redact

log = logging.getLogger("tallywatch.store")


def _import_sqlite_utils():
    """sqlite-utils imports numpy and pandas when they are installed (matplotlib brings numpy), only
    to map their types; tallywatch stores none, and an idle daemon need not carry ~15 MB of numpy.
    They are hidden for that one import and importable again right after (charts need numpy)."""
    hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment] # makes `import numpy` raise ImportError
    try:
        import sqlite_utils
    finally:
        for name in hidden:
            sys.modules.pop(name, None)
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

MIGRATIONS: list[str] = [
    # 1: the walking skeleton
    """
    CREATE TABLE observations (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        item TEXT NOT NULL,
        metric TEXT NOT NULL,
        as_of TEXT NOT NULL,
        value INTEGER NOT NULL,
        reported_delta INTEGER,
        observed_at TEXT NOT NULL
    );
    CREATE INDEX observations_metric ON observations (metric, as_of);
    -- the current figure per source, metric and day: what "revised" is measured against
    CREATE TABLE figures (
        source TEXT NOT NULL,
        metric TEXT NOT NULL,
        as_of TEXT NOT NULL,
        value INTEGER NOT NULL,
        reported_delta INTEGER,
        item TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (metric, as_of, source)
    ) WITHOUT ROWID;
    CREATE TABLE items (
        source TEXT NOT NULL,
        guid TEXT NOT NULL,
        digest TEXT NOT NULL,
        figures INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (source, guid)
    ) WITHOUT ROWID;
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        last_attempt TEXT,
        last_success TEXT,
        last_new_report TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_poll_after TEXT,
        polls INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        rule TEXT NOT NULL,
        metric TEXT NOT NULL,
        as_of TEXT NOT NULL,
        value INTEGER NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        data TEXT NOT NULL,
        source TEXT NOT NULL,
        notify INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES events (id),
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
    """,
    # 2: the series the rules see is the figures' status: per metric and day at most one source's
    #    figure is 'accepted' or 'suspect'; 'discarded' ones were found implausible, NULL ones are
    #    other sources' figures. The observations log keeps only values later revised.
    """
    ALTER TABLE figures ADD COLUMN status TEXT CHECK (status IN ('accepted', 'suspect', 'discarded'));
    UPDATE figures SET status = 'accepted' WHERE source =
        (SELECT min(f.source) FROM figures f WHERE f.metric = figures.metric AND f.as_of = figures.as_of);
    CREATE TABLE revisions (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        item TEXT NOT NULL,
        metric TEXT NOT NULL,
        as_of TEXT NOT NULL,
        value INTEGER NOT NULL,
        reported_delta INTEGER,
        observed_at TEXT NOT NULL,
        revised_at TEXT
    );
    INSERT INTO revisions (source, item, metric, as_of, value, reported_delta, observed_at)
        SELECT o.source, o.item, o.metric, o.as_of, o.value, o.reported_delta, o.observed_at FROM observations o
        WHERE NOT EXISTS (SELECT 1 FROM figures f WHERE f.metric = o.metric AND f.as_of = o.as_of
                          AND f.source = o.source AND f.value = o.value);
    DROP TABLE observations;
    CREATE INDEX revisions_metric ON revisions (metric, as_of);
    CREATE INDEX events_rule ON events (rule, source)
    """,
    # 3: subscribers and claimed deliveries (status 'sending' while a worker holds the row)
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        address TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'private',
        name TEXT NOT NULL DEFAULT '',
        choice TEXT NOT NULL DEFAULT 'all' CHECK (choice IN ('all', 'milestones', 'metrics')),
        metrics TEXT NOT NULL DEFAULT '[]',
        language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'uk')),
        quiet_from INTEGER,
        quiet_to INTEGER,
        active INTEGER NOT NULL DEFAULT 1,
        reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (channel, address)
    );
    ALTER TABLE deliveries ADD COLUMN claimed_at TEXT;
    ALTER TABLE deliveries ADD COLUMN language TEXT NOT NULL DEFAULT 'en'
    """,
    # 4: email subscribers: digests, instant alerts, an unsubscribe token
    """
    ALTER TABLE subscribers ADD COLUMN digest TEXT CHECK (digest IN ('daily', 'weekly'));
    ALTER TABLE subscribers ADD COLUMN instant INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE subscribers ADD COLUMN token TEXT;
    CREATE UNIQUE INDEX subscribers_token ON subscribers (token)
    """,
    # 5: source health: a source failing for long is marked broken until it works again
    """
    ALTER TABLE sources ADD COLUMN broken_since TEXT
    """,
    # 6: how much of each report document was read: complete, partial, unread (NULL: not a report)
    """
    ALTER TABLE items ADD COLUMN coverage TEXT CHECK (coverage IN ('complete', 'partial', 'unread'))
    """,
    # 7: what the recipient's service calls a sent message (Telegram: "text:<message_id>"), to edit it
    #    later; a delivery that answers an earlier one (a retraction); events taken back
    """
    ALTER TABLE deliveries ADD COLUMN receipt TEXT;
    ALTER TABLE deliveries ADD COLUMN reply_to INTEGER REFERENCES deliveries (id);
    ALTER TABLE events ADD COLUMN retracted_at TEXT
    """,
    # 8: a delivery sent as several messages (a long text in pieces) remembers how many went out
    """
    ALTER TABLE deliveries ADD COLUMN pieces_sent INTEGER NOT NULL DEFAULT 0
    """,
    # 9: a source's URL that moved for good (301 / 308): the configured one and where it went
    """
    ALTER TABLE sources ADD COLUMN moved_from TEXT;
    ALTER TABLE sources ADD COLUMN moved_to TEXT
    """,
    # 10: a subscriber may choose the daily report alone ('report'); 'all' now brings the report too;
    #     any language a catalogue is bundled for (checked in code: adding one needs no migration).
    #     SQLite can't change a CHECK in place: the table is copied (same columns, same order).
    """
    CREATE TABLE subscribers_v10 (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        address TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'private',
        name TEXT NOT NULL DEFAULT '',
        choice TEXT NOT NULL DEFAULT 'all' CHECK (choice IN ('report', 'all', 'milestones', 'metrics')),
        metrics TEXT NOT NULL DEFAULT '[]',
        language TEXT NOT NULL DEFAULT 'en',
        quiet_from INTEGER,
        quiet_to INTEGER,
        active INTEGER NOT NULL DEFAULT 1,
        reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        digest TEXT CHECK (digest IN ('daily', 'weekly')),
        instant INTEGER NOT NULL DEFAULT 0,
        token TEXT,
        UNIQUE (channel, address)
    );
    INSERT INTO subscribers_v10 SELECT id, channel, address, kind, name, choice, metrics, language, quiet_from,
        quiet_to, active, reason, created_at, updated_at, digest, instant, token FROM subscribers;
    DROP TABLE subscribers;
    ALTER TABLE subscribers_v10 RENAME TO subscribers;
    CREATE UNIQUE INDEX subscribers_token ON subscribers (token)
    """,
    # 11: email self-service. A token is found by its SHA-256 (the lookup's timing says nothing of the
    #     token) and then compared in constant time; sign-ups wait for their confirmation link (only its
    #     hash is kept) until they expire; the web app's signing key (CSRF) survives restarts.
    """
    ALTER TABLE subscribers ADD COLUMN token_hash TEXT;
    UPDATE subscribers SET token_hash = tallywatch_sha256(token) WHERE token IS NOT NULL;
    CREATE UNIQUE INDEX subscribers_token_hash ON subscribers (token_hash);
    CREATE TABLE signups (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        address TEXT NOT NULL,
        digest TEXT CHECK (digest IN ('daily', 'weekly')),
        instant INTEGER NOT NULL DEFAULT 0,
        language TEXT NOT NULL DEFAULT 'en',
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        confirmed_at TEXT
    );
    CREATE INDEX signups_address ON signups (address, created_at);
    CREATE TABLE keys (name TEXT PRIMARY KEY, value TEXT NOT NULL)
    """,
    # 12: when the source says it published an item (a source's publication window is learned from it)
    """
    ALTER TABLE items ADD COLUMN published TEXT
    """,
    # 13: one definition of a live delivery (``LIVE_EVENT``, ``Store.settle``). An event a newer
    #     version replaced (a daily report's /2) names it; a delivery that will never go out because
    #     its event was taken back or replaced first is 'dropped' (never queued again, unlike 'dead');
    #     one recipient's deliveries go in the order they were queued (the recipient index); one put
    #     back in the queue after it was being sent (a kill, a failed round) may have arrived. A day
    #     whose report a held figure keeps back is remembered, to be told when it is settled or after
    #     ``[report] wait``.
    """
    ALTER TABLE events ADD COLUMN superseded_by INTEGER REFERENCES events (id);
    UPDATE events SET superseded_by = (SELECT min(n.id) FROM events n, json_each(n.data, '$.replaces') r
        WHERE n.rule = 'report' AND r.value = events.id) WHERE rule = 'report';
    UPDATE deliveries SET status = 'dropped'
        WHERE status = 'dead' AND last_error = 'replaced by a newer version before it was sent';
    CREATE INDEX deliveries_event ON deliveries (event_id, status);
    CREATE INDEX deliveries_recipient ON deliveries (channel, recipient, status);
    CREATE INDEX deliveries_queue ON deliveries (channel, status, id);
    CREATE INDEX events_not_live ON events (id) WHERE retracted_at IS NOT NULL OR superseded_by IS NOT NULL;
    CREATE INDEX deliveries_followups ON deliveries (status) WHERE reply_to IS NOT NULL;
    CREATE INDEX events_day ON events (metric, as_of);
    CREATE TABLE reports_held (day TEXT PRIMARY KEY, since TEXT NOT NULL) WITHOUT ROWID;
    ALTER TABLE deliveries ADD COLUMN maybe_sent INTEGER NOT NULL DEFAULT 0
    """,
    # 14: a follow-up keeps when it may go as a message of its own (the reader's quiet hours when it
    #     was queued), for when the message it answers is never sent and ``settle`` makes it one
    """
    ALTER TABLE deliveries ADD COLUMN alone_after TEXT
    """,
    # 15: since when a source has been polled successfully: one that never brought a report is silent
    #     from then (``sources.health.silence``). A file's sources polled before it: from the first item
    #     seen of theirs, else their last success (the least that is known).
    """
    ALTER TABLE sources ADD COLUMN first_success TEXT;
    UPDATE sources SET first_success = coalesce(
        min((SELECT min(first_seen) FROM items WHERE items.source = sources.name), last_success), last_success)
        WHERE last_success IS NOT NULL
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

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


def _writes(method):
    """A store method that writes runs in ``transaction()``: its own, committed when it returns, or
    the caller's, joined. The one way tallywatch writes (tests/test_store.py traces every statement)."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        with self.transaction():
            return method(self, *args, **kwargs)

    return wrapper


def token_hash(token: str) -> str:
    """How a token is looked up: its SHA-256 (a lookup's timing can't reveal a token's prefix)."""
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


IDLE_CACHE = -1024  # KiB of SQLite page cache (negative: a size, not pages): an idle daemon's
BULK_CACHE = -16384  # …and a bulk load's (Store.roomy)


@functools.lru_cache(maxsize=8192)
def _day(text: str) -> dt.date:
    """A stored day as a date, the same object for the same day (see ``Store.series``)."""
    return dt.date.fromisoformat(text)


def _ts(when: dt.datetime | None = None) -> str:
    """A stored time: ISO 8601 in UTC to the microsecond (a retry 1 s away must not come due at
    once by truncation). Older rows have whole seconds; both compare right as text ('+' < '.')."""
    return (when or utcnow()).astimezone(dt.UTC).isoformat(timespec="microseconds")


_SUBSCRIBER_FIELDS = {
    "kind",
    "name",
    "choice",
    "metrics",
    "language",
    "quiet_from",
    "quiet_to",
    "active",
    "reason",
    "digest",
    "instant",
    "token",
}


def storage_fault(exc: sqlite3.Error) -> str:
    """What kind of storage failure an SQLite error is: full, read-only, I/O error or other."""
    text = str(exc).lower()
    if "full" in text:
        return "full"
    if "readonly" in text or "read-only" in text:
        return "read-only"
    if "i/o" in text:
        return "I/O error"
    return "other"


class Faults:
    """The database failing under a running daemon (full, read-only, I/O errors): each failed
    round counted in ``tallywatch_storage_errors_total``, said once per source or channel and
    change of state (never a traceback a poll), and ``current`` tells /healthz while it lasts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: str | None = None
        self._said: dict[str, str] = {}  # source or channel → the fault last said for it

    def failed(self, where: str, exc: sqlite3.Error) -> str:
        """Count and (once) say a failed round; returns the error for its result."""
        from ..health import STORAGE_ERRORS

        kind = storage_fault(exc)
        STORAGE_ERRORS.labels(kind).inc()
        self.current = f"{exc} ({kind}) at {self.path}"
        if self._said.get(where) != kind:
            self._said[where] = kind
            log.error(
                "%s: the database %s can't be written (%s: %s); nothing of this round is stored, "
                "it is tried again until space or access returns",
                where,
                self.path,
                kind,
                exc,
            )
        return f"storage {kind}: {exc}"

    def works(self, where: str) -> None:
        """A round of ``where`` wrote again."""
        if self._said.pop(where, None) is not None:
            log.info("%s: the database can be written again", where)
            if not self._said:
                self.current = None


class StoreError(Exception):
    """The database can't be used; the message names the file, what is wrong, and what to do."""


class SchemaTooNew(StoreError):
    pass


class DatabaseBusy(StoreError):
    """Another tallywatch daemon holds this database."""


RESTORE_HINT = "restore it from a backup (`tallywatch restore FILE`, see the README) or move it away to start afresh"


def identity(path: Path) -> tuple[int, int] | None:
    """The file at ``path`` (its device and inode), or None if there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def still_there(path: Path, known: tuple[int, int] | None, what: str) -> str | None:
    """None while ``path`` is the file opened as ``known``; else what became of it."""
    if known is None:
        return None
    now = identity(path)
    if now == known:
        return None
    happened = "deleted" if now is None else "replaced by another file"
    return f"{what} {path} was {happened} while the daemon ran"


class DaemonLock:
    """One daemon per database: an exclusive ``flock`` on ``<database>.lock``, which names the
    holder's pid — and, on Linux, a listening socket in the abstract namespace named after the
    database's directory (device, inode) and file name, which survives deleting the database and
    its lock file (a second daemon started on the same path then would send everything again).
    The kernel lets go of both when the process ends, however it ends."""

    def __init__(self, database: Path) -> None:
        import fcntl

        self.path = Path(f"{database}.lock")
        self._socket: socket.socket | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"database {database} can't be opened ({exc})") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise DatabaseBusy(_busy(holder, database)) from None
        try:
            self._socket = _abstract_lock(database)
        except DatabaseBusy:
            os.close(self._fd)
            raise
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        self.identity = identity(self.path)

    def problem(self) -> str | None:
        """What became of the lock file, if it is not the one locked any more."""
        return still_there(self.path, self.identity, "the lock file") if self._fd >= 0 else None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor lets go of the lock
            self._fd = -1
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _busy(holder: str, database: Path) -> str:
    return (
        f"another tallywatch daemon (pid {holder}) is running on {database}; stop it first "
        "(one daemon per database: two would send every alert twice)"
    )


def _abstract_lock(database: Path) -> socket.socket | None:
    """Linux: bind the abstract name of ``database`` (nothing to delete, gone with the process);
    elsewhere nothing. A second daemon finds it bound and is told the holder's pid (SO_PEERCRED)."""
    if not sys.platform.startswith("linux"):
        return None
    folder = os.stat(database.parent)
    key = hashlib.sha256(f"{folder.st_dev}:{folder.st_ino}/{database.name}".encode()).hexdigest()[:40]
    name = f"\0tallywatch-{key}"
    held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        held.bind(name)
        held.listen(1)
        return held
    except OSError:
        held.close()
    holder = "unknown"
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.connect(name)
        credentials = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        holder = str(struct.unpack("3i", credentials)[0])
    raise DatabaseBusy(_busy(holder, database))


@dataclass(frozen=True)
class Latest:
    metric: str
    as_of: dt.date
    value: int
    delta: int | None
    source: str


@dataclass(frozen=True)
class StoredEvent:
    id: int
    event: Event
    notify: bool


@dataclass(frozen=True)
class Reply:
    """The earlier message a delivery answers: its event and the channel's receipt for it."""

    event: Event
    receipt: str | None


@dataclass(frozen=True)
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


def _event(row: dict[str, Any], prefix: str = "") -> Event:
    return Event(
        row[f"{prefix}key"],
        row[f"{prefix}rule"],
        row[f"{prefix}metric"],
        dt.date.fromisoformat(row[f"{prefix}as_of"]),
        row[f"{prefix}value"],
        row[f"{prefix}message"],
        row[f"{prefix}severity"],
        json.loads(row[f"{prefix}data"]),
        row[f"{prefix}source"],
    )


class Store:
    def __init__(self, path: str | Path, *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._staged: dict[tuple[str, dt.date, str], list[Any]] = {}  # figures waiting for flush()
        self._status: dict[tuple[str, dt.date, str], str | None] = {}  # status changes of stored figures
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions. A statement outside ``transaction()``
            # commits by itself, and ``transaction()`` is the only way to group writes; with Python's
            # default, a write outside one opened a transaction that later ones joined and never committed.
            conn = sqlite3.connect(str(path), timeout=timeout, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise StoreError(f"database {self.path} can't be opened ({exc})") from None
        self.conn = conn  # the hot paths (record, flush) use it directly
        # the file opened: a daemon checks each heartbeat that it is still the one at ``path`` (``problem``)
        self.identity = identity(self.path) if str(path) != ":memory:" else None
        self.generation = 0  # transactions committed through this Store: what a cached answer is checked against
        conn.create_function("tallywatch_sha256", 1, token_hash, deterministic=True)  # migration 11
        self.db = sqlite_utils.Database(conn)
        try:
            self._open(timeout)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"database {self.path} can't be used ({exc}); {RESTORE_HINT}") from None

    def _open(self, timeout: float) -> None:
        path = self.path
        self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        self.db.execute("PRAGMA foreign_keys = ON")
        # FULL: a commit is on disk when it returns — figures, events and deliveries survive a power
        # cut (NORMAL in WAL mode may lose the last commits). Costs ~1 fsync per poll that changes
        # something; bench/footprint.py measures it.
        self.db.execute("PRAGMA synchronous = FULL")
        # a small page cache: the OS caches the file as well, and a bigger one only held the pages
        # of the whole history in an idle daemon's memory (a bulk load takes more: ``roomy``)
        self.db.execute(f"PRAGMA cache_size = {IDLE_CACHE}")
        self.db.execute("PRAGMA temp_store = MEMORY")  # savepoint journals stay in memory
        if str(path) != ":memory:":
            self.db.enable_wal()
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def problem(self) -> str | None:
        """What became of the database file, if the one at ``path`` is not the one opened (deleted:
        every write would go into a file nobody will ever open again; replaced: into the old one)."""
        return still_there(self.path, self.identity, "the database file")

    def check(self) -> None:
        """At a daemon's start: the file is whole (``PRAGMA quick_check``) and writable, or a
        ``StoreError`` says which file and what to do."""
        try:
            problems = [row[0] for row in self.conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise StoreError(f"database {self.path} is damaged ({'; '.join(problems)}); {RESTORE_HINT}")
            with self.transaction():
                self.conn.execute("CREATE TABLE IF NOT EXISTS probe_write (x)")  # the write lock and one write
                self.conn.execute("DROP TABLE probe_write")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"database {self.path} can't be used ({exc}); {RESTORE_HINT}") from None

    # -- schema ---------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        """Bring the schema up to date under the write lock: two processes opening one new file at
        once migrate it once (the second waits, then finds it done)."""
        if self.version == SCHEMA_VERSION:
            return
        with self.transaction():
            current = self.version
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.path}: schema version {current} is newer than this tallywatch ({SCHEMA_VERSION})"
                )
            for number in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def roomy(self) -> Iterator[None]:
        """A big page cache for one bulk write (the bundled history: 22,000 figures in one
        transaction, whose pages would otherwise spill mid-way), given back afterwards."""
        self.conn.execute(f"PRAGMA cache_size = {BULK_CACHE}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA cache_size = {IDLE_CACHE}")
            self.conn.execute("PRAGMA shrink_memory")  # the pages it held are freed now

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One write transaction (BEGIN IMMEDIATE: the writer's lock up front, no upgrade deadlock).

        Inside another one it joins it: an error rolls the whole outer transaction back, which is
        what every caller wants (a replay or a batch is stored whole or not at all), and it costs
        no savepoint per batch.
        """
        if self.conn.in_transaction:
            yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self.conn.commit()
        except BaseException:
            # COMMIT itself may fail (a full disk, an I/O error, a deferred constraint) and leave the
            # transaction open: every later one would join it and be lost. It ends here, either way.
            if self.conn.in_transaction:
                self.conn.rollback()
            raise
        self.generation += 1

    # -- figures --------------------------------------------------------------------------------

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
        days = sorted({f.as_of.isoformat() for f in figures})
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
            day = fig.as_of.isoformat()
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

    def chart_data(self, metric: str, days: int) -> tuple[list[tuple[dt.date, int]], list[tuple[dt.date, str, dict]]]:
        """The accepted points of the last ``days`` days and the events about them (for a chart)."""
        last = self.conn.execute(
            "SELECT max(as_of) FROM figures WHERE metric = ? AND status = 'accepted'", [metric]
        ).fetchone()[0]
        if last is None:
            return [], []
        since = (dt.date.fromisoformat(last) - dt.timedelta(days=days)).isoformat()
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

    def observation_count(self) -> int:
        """Every value a source has given: the current figures and the revised ones before them."""
        return self.conn.execute("SELECT (SELECT count(*) FROM figures) + (SELECT count(*) FROM revisions)").fetchone()[
            0
        ]

    # -- items ----------------------------------------------------------------------------------

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

    # -- sources --------------------------------------------------------------------------------

    def source_state(self, name: str) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM sources WHERE name = ?", [name]))
        return rows[0] if rows else {"name": name, "consecutive_failures": 0}

    def source_states(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM sources ORDER BY name"))

    def _ensure_source(self, name: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO sources (name) VALUES (?)", [name])

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
        self._ensure_source(name)
        self.conn.execute("UPDATE sources SET moved_from = ?, moved_to = ? WHERE name = ?", [configured, now_at, name])

    @_writes
    def set_broken(self, name: str, since: dt.datetime | None) -> None:
        """Mark a source broken since ``since``, or working again (None)."""
        self._ensure_source(name)
        self.db.execute("UPDATE sources SET broken_since = ? WHERE name = ?", [_ts(since) if since else None, name])

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

    # -- events and the outbox -----------------------------------------------------------------

    def has_event(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM events WHERE key = ?", [key]).fetchone() is not None

    @_writes
    def add_event(self, event: Event, source: str, notify: bool) -> StoredEvent | None:
        """Store an event once ever: None if one with the same key exists already."""
        cur = self.db.execute(
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
                json.dumps(event.data, sort_keys=True),
                source,
                notify,
                _ts(),
            ],
        )
        if cur.rowcount == 0:
            return None
        return StoredEvent(cur.lastrowid, event, notify)

    def late_untold(self) -> list[StoredEvent]:
        """Live milestones learned of late (``data["late"]``) that no daily report told yet (``fold``):
        the next day's report tells them, a line each."""
        rows = self.db.query(
            f"SELECT * FROM events WHERE rule = 'milestone' AND {LIVE_EVENT}"
            " AND json_extract(data, '$.late') IS NOT NULL AND json_extract(data, '$.folded') IS NULL ORDER BY id"
        )
        return [StoredEvent(row["id"], _event(row), False) for row in rows]

    def crossed_on(self, day: dt.date) -> list[Event]:
        """The live milestones crossed on ``day`` and told as news (not learned of late): the
        headline of that day's report, whichever batch brought them."""
        rows = self.db.query(
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
                    json.dumps(event.data, sort_keys=True),
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
        """The days whose report waits for a held figure and is not told yet, with since when."""
        return {
            _day(day): dt.datetime.fromisoformat(since)
            for day, since in self.conn.execute(
                "SELECT day, since FROM reports_held h WHERE NOT EXISTS"
                " (SELECT 1 FROM events e WHERE e.rule = 'report' AND e.as_of = h.day)"
            )
        }

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

    def held_figures(self) -> list[dict[str, Any]]:
        """The figures held out of the series (status 'suspect') until the next report or a second
        source settles them: metric, day, value, source, printed change, and since when (stored)."""
        return list(
            self.db.query(
                "SELECT metric, as_of, value, source, reported_delta, updated_at AS since FROM figures"
                " WHERE status = 'suspect' ORDER BY metric, as_of"
            )
        )

    @_writes
    def enqueue(
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
        with self.transaction():
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
                r["id"],
                r["channel"],
                r["recipient"],
                r["attempts"],
                r["language"],
                _event(r),
                Reply(_event(r, "reply_"), r["reply_receipt"]) if r["reply_key"] else None,
                r["pieces_sent"],
                r["receipt"],
            )
            for r in rows
        ]

    @_writes
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

    def last_sent(self, channel: str) -> dt.datetime | None:
        row = self.conn.execute("SELECT max(sent_at) FROM deliveries WHERE channel = ?", [channel]).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    def next_due(self, channel: str) -> dt.datetime | None:
        row = self.conn.execute(
            "SELECT min(next_attempt_at) FROM deliveries WHERE channel = ? AND status = 'pending'", [channel]
        ).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    @_writes
    def mark_step(self, delivery_id: int, pieces_sent: int, receipt: str | None) -> None:
        """A piece of a delivery went out: a retry starts after it."""
        self.conn.execute(
            "UPDATE deliveries SET pieces_sent = ?, receipt = ? WHERE id = ?", [pieces_sent, receipt, delivery_id]
        )

    @_writes
    def mark_sent(self, delivery_id: int, receipt: str | None = None) -> None:
        """Sent; ``receipt`` is what the recipient's service calls the message (to edit it later)."""
        self.db.execute(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = NULL,"
            " claimed_at = NULL, receipt = ? WHERE id = ?",
            [_ts(), receipt, delivery_id],
        )

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

    def event_keys(self) -> list[str]:
        """Every stored event's key, as it was (a key freed by a retraction without its mark)."""
        return sorted({key.split("~retracted:")[0] for (key,) in self.conn.execute("SELECT key FROM events")})

    @_writes
    def requeue_dead(self) -> int:
        return self.db.execute(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE status = 'dead'"
            f" AND event_id IN (SELECT id FROM events WHERE {LIVE_EVENT})",
            [_ts()],
        ).rowcount

    # -- subscribers ---------------------------------------------------------------------------

    def subscriber(self, channel: str, address: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM subscribers WHERE channel = ? AND address = ?", [channel, address]))
        if not rows:
            return None
        row = rows[0]
        row["metrics"] = json.loads(row["metrics"])
        return row

    def save_subscriber(self, channel: str, address: str, **fields: Any) -> dict[str, Any]:
        """Create or update a subscriber; ``fields`` are columns (metrics as a list)."""
        unknown = set(fields) - _SUBSCRIBER_FIELDS
        if unknown:
            raise ValueError(f"not subscriber fields: {', '.join(sorted(unknown))}")
        if "metrics" in fields:
            fields["metrics"] = json.dumps(sorted(set(fields["metrics"])))
        if "token" in fields:
            fields["token_hash"] = token_hash(fields["token"]) if fields["token"] is not None else None
        now = _ts()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO subscribers (channel, address, created_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (channel, address) DO NOTHING",
                [channel, address, now, now],
            )
            if fields:
                assignments = ", ".join(f"{column} = ?" for column in fields)
                self.conn.execute(
                    f"UPDATE subscribers SET {assignments}, updated_at = ? WHERE channel = ? AND address = ?",
                    [*fields.values(), now, channel, address],
                )
        return self.subscriber(channel, address) or {}

    @_writes
    def move_subscriber(self, channel: str, old: str, new: str) -> None:
        """A chat got a new address (a group upgraded to a supergroup): its subscription and its
        queued deliveries follow it (if the new address has a subscription already, the old one ends)."""
        if self.subscriber(channel, new) is None:
            self.conn.execute(
                "UPDATE subscribers SET address = ?, updated_at = ? WHERE channel = ? AND address = ?",
                [new, _ts(), channel, old],
            )
        else:
            self.deactivate(channel, old, f"moved to {new}")
        self.conn.execute(
            "UPDATE deliveries SET recipient = ? WHERE channel = ? AND recipient = ? AND status IN ('pending', 'sending')",
            [new, channel, old],
        )

    def subscriber_by_token(self, token: str) -> dict[str, Any] | None:
        """The subscriber whose unsubscribe token this is: found by the token's hash, then compared
        in constant time."""
        rows = list(
            self.db.query("SELECT channel, address, token FROM subscribers WHERE token_hash = ?", [token_hash(token)])
        )
        if not rows or not hmac.compare_digest(rows[0]["token"].encode(), token.encode()):
            return None
        return self.subscriber(rows[0]["channel"], rows[0]["address"])

    # -- email self-service: sign-ups waiting for their confirmation -----------------------------

    @_writes
    def add_signup(
        self,
        address: str,
        token: str,
        digest: str | None,
        instant: bool,
        language: str,
        expires: dt.datetime,
        limits: tuple[int, int] = (3, 60),
        mailbox: Callable[[str], str] | None = None,
    ) -> str | None:
        """Keep a sign-up waiting for its confirmation link (only the link's hash is kept), unless
        ``limits`` are reached: (per mailbox per day, in all per hour). ``mailbox``: the mailbox an
        address reaches (``channels.email.mailbox``: case, a +tag and the domain's form don't make
        another one); None: each address its own. The sign-ups of the last day are few (at most a
        day of the hourly limit) and are compared as mailboxes here, so those kept before this rule
        count too. The count and the insert are one transaction, so posts arriving together can't
        all pass. None if kept, else which limit stopped it ("address" or "hour"). Sign-ups expired
        a week ago are let go."""
        now = utcnow()
        per_address, per_hour = limits
        same = mailbox or str
        day_ago, hour_ago = _ts(now - dt.timedelta(days=1)), _ts(now - dt.timedelta(hours=1))
        recent = self.conn.execute("SELECT address FROM signups WHERE created_at >= ?", [day_ago]).fetchall()
        key = same(address)
        if sum(same(row[0]) == key for row in recent) >= per_address:
            return "address"
        if (
            self.conn.execute("SELECT count(*) FROM signups WHERE created_at >= ?", [hour_ago]).fetchone()[0]
            >= per_hour
        ):
            return "hour"
        self.conn.execute("DELETE FROM signups WHERE expires_at < ?", [_ts(now - dt.timedelta(days=7))])
        self.conn.execute(
            "INSERT INTO signups (token_hash, address, digest, instant, language, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [token_hash(token), address, digest, int(instant), language, _ts(now), _ts(expires)],
        )
        return None

    @_writes
    def drop_signup(self, token: str) -> None:
        """Its confirmation mail could not be sent: it never happened (nor counts against a limit)."""
        self.conn.execute("DELETE FROM signups WHERE token_hash = ?", [token_hash(token)])

    def signups_since(self, address: str, since: dt.datetime) -> int:
        """How many confirmation mails this address was sent since then."""
        return self.conn.execute(
            "SELECT count(*) FROM signups WHERE address = ? AND created_at >= ?", [address, _ts(since)]
        ).fetchone()[0]

    def signup(self, token: str) -> dict[str, Any] | None:
        """The sign-up this confirmation link is for, if it has not expired (confirmed or not)."""
        rows = list(
            self.db.query("SELECT * FROM signups WHERE token_hash = ? AND expires_at >= ?", [token_hash(token), _ts()])
        )
        return rows[0] if rows else None

    @_writes
    def confirm_signup(self, token: str, new_token: str) -> dict[str, Any] | None:
        """Follow a confirmation link: the address is subscribed as it asked (an existing
        subscription is changed and keeps its unsubscribe token; ``new_token`` is for a new one).
        None if the link is unknown or expired; a second use changes nothing."""
        found = self.signup(token)
        if found is None:
            return None
        if found["confirmed_at"] is None:
            old = self.subscriber("email", found["address"])
            self.save_subscriber(
                "email",
                found["address"],
                digest=found["digest"],
                instant=found["instant"],
                language=found["language"],
                token=(old or {}).get("token") or new_token,
                active=1,
                reason=None,
            )
            self.conn.execute("UPDATE signups SET confirmed_at = ? WHERE id = ?", [_ts(), found["id"]])
        return self.subscriber("email", found["address"])

    @_writes
    def key(self, name: str, make: Callable[[], str]) -> str:
        """A long-lived secret of this installation (the web app's signing key): made once, kept."""
        self.conn.execute("INSERT INTO keys (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", [name, make()])
        return self.conn.execute("SELECT value FROM keys WHERE name = ?", [name]).fetchone()[0]

    @_writes
    def remove_subscriber(self, channel: str, address: str) -> bool:
        return (
            self.db.execute("DELETE FROM subscribers WHERE channel = ? AND address = ?", [channel, address]).rowcount
            > 0
        )

    def all_subscribers(self) -> list[dict[str, Any]]:
        rows = list(self.db.query("SELECT * FROM subscribers ORDER BY channel, id"))
        for row in rows:
            row["metrics"] = json.loads(row["metrics"])
        return rows

    def value_before(self, metric: str, day: dt.date) -> int | None:
        """The accepted total on the last day on or before ``day``."""
        row = self.conn.execute(
            "SELECT value FROM figures WHERE metric = ? AND status = 'accepted' AND as_of <= ? ORDER BY as_of DESC LIMIT 1",
            [metric, day.isoformat()],
        ).fetchone()
        return row[0] if row else None

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

    def figures_since(self, since: dt.datetime) -> int:
        return self.conn.execute("SELECT count(*) FROM figures WHERE updated_at >= ?", [_ts(since)]).fetchone()[0]

    @_writes
    def deactivate(self, channel: str, address: str, reason: str) -> bool:
        """Stop sending to a subscriber (blocked us, left the chat); False if there is none."""
        return (
            self.db.execute(
                "UPDATE subscribers SET active = 0, reason = ?, updated_at = ? WHERE channel = ? AND address = ? AND active = 1",
                [reason, _ts(), channel, address],
            ).rowcount
            > 0
        )

    def subscribers(self, channel: str, *, active: bool | None = True) -> list[dict[str, Any]]:
        where = "" if active is None else f" AND active = {int(active)}"
        rows = list(self.db.query(f"SELECT * FROM subscribers WHERE channel = ?{where} ORDER BY id", [channel]))
        for row in rows:
            row["metrics"] = json.loads(row["metrics"])
        return rows

    @_writes
    def mark_retry(
        self, delivery_id: int, error: str, when: dt.datetime, dead: bool, *, maybe_sent: bool = False
    ) -> None:
        """Failed, to try again at ``when`` or ``dead``; ``maybe_sent``: no answer came, it may have arrived."""
        self.db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, claimed_at = NULL,"
            " status = CASE WHEN ? THEN 'dead' ELSE 'pending' END, maybe_sent = maybe_sent OR ? WHERE id = ?",
            [redact(error), _ts(when), dead, maybe_sent, delivery_id],  # an API's error text may echo a token
        )
