"""The one connection and the one way to write: what every room of the store shares.

``Connection`` opens the SQLite file (WAL journal, ``synchronous = FULL``, a busy timeout, a small
page cache, no implicit transactions) behind one ``sqlite_utils.Database`` wrapper, checks it,
and gives ``transaction()``: BEGIN IMMEDIATE, joined when one is open already. ``_writes`` puts a
room's write method inside it. Beside it: how times and days are stored (``_ts``, ``_day``,
``utcnow``), how an events row reads back as an ``Event`` (``_event``), the store's errors, the
file's identity (``problem``), and ``Faults``, the storage failing under a running daemon.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from ..extract.dates import iso_day
from ..models import Event

log = logging.getLogger("tallywatch.store")


def _import_sqlite_utils():
    """sqlite-utils imports numpy and pandas when they are installed (matplotlib brings numpy), only
    to map their types; tallywatch stores none, and an idle daemon need not carry ~15 MB of numpy.
    They are hidden for that one import and importable again right after (charts need numpy).
    It stays: sqlite-utils 4.2.1, the newest, still imports both at module level, and without it the
    daemon holds numpy (tests/test_charts.py, the daemon without matplotlib or numpy, fails)."""
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


def _writes(method, *, news: bool = True):
    """A store method that writes runs in ``transaction()``: its own, committed when it returns, or
    the caller's, joined. The one way tallywatch writes (tests/test_store.py traces every statement).
    ``news=False`` (``_bookkeeping``): its own commit is not news for the web app's cache."""

    @functools.wraps(method)
    def wrapper(self: Connection, *args: Any, **kwargs: Any) -> Any:
        if self.conn.in_transaction:  # the caller's: joined, as ``transaction()`` would (a replay's days)
            return method(self, *args, **kwargs)
        with self.transaction(news=news):
            return method(self, *args, **kwargs)

    return wrapper


def _bookkeeping(method):
    """``_writes`` for the outbox's own bookkeeping (a delivery claimed, marked sent, to retry, put
    back): nothing the web app shows changes, so its cache (``generation``) stays good — a fan-out
    commits hundreds of times a second, and each would have cleared it."""
    return _writes(method, news=False)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


IDLE_CACHE = -1024  # KiB of SQLite page cache (negative: a size, not pages): an idle daemon's
BULK_CACHE = -16384  # …and a bulk load's (Store.roomy)


_day = iso_day  # a stored day as a date, the same object for the same day (see ``Store.series``)


def _ts(when: dt.datetime | None = None) -> str:
    """A stored time: ISO 8601 in UTC to the microsecond (a retry 1 s away must not come due at
    once by truncation). Older rows have whole seconds; both compare right as text ('+' < '.')."""
    return (when or utcnow()).astimezone(dt.UTC).isoformat(timespec="microseconds")


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


RESTORE_HINT = "restore it from a backup (`tallywatch restore FILE`, see docs/admin.md, section Backups) or move it away to start afresh"


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


def _event(row: dict[str, Any], prefix: str = "") -> Event:
    return Event(
        key=row[f"{prefix}key"],
        rule=row[f"{prefix}rule"],
        metric=row[f"{prefix}metric"],
        as_of=dt.date.fromisoformat(row[f"{prefix}as_of"]),
        value=row[f"{prefix}value"],
        message=row[f"{prefix}message"],
        severity=row[f"{prefix}severity"],
        data=json.loads(row[f"{prefix}data"]),
        source=row[f"{prefix}source"],
    )


class Connection:
    """The store's one connection and its transaction helper; each room of ``Store`` builds on it.
    Opening the file ends with ``_migrate``, which the schema room (``migrations.Schema``) gives."""

    def __init__(self, path: str | Path, *, timeout: float = 10.0) -> None:
        self.path = Path(path)
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
    def transaction(self, *, news: bool = True) -> Iterator[Self]:
        """One write transaction (BEGIN IMMEDIATE: the writer's lock up front, no upgrade deadlock).

        Inside another one it joins it: an error rolls the whole outer transaction back, which is
        what every caller wants (a replay or a batch is stored whole or not at all), and it costs
        no savepoint per batch. Committed, it counts in ``generation`` unless not ``news``.
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
        if news:
            self.generation += 1

    def _migrate(self) -> None:
        """Bring the schema up to date: ``migrations.Schema`` does it; a bare connection has none."""
