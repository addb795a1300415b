"""Backups of the one SQLite file: a consistent copy while the daemon runs, a daily snapshot kept
for ``[storage] backups`` days, and a restore that puts a checked copy back in place.

A copy is made with SQLite's online backup API (``sqlite3.Connection.backup``): it is consistent
even while the daemon writes. It is written beside its target and renamed into place, so a
copy is whole or absent, never half written. A lost disk or a damaged file costs at most a day.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from .models import report_day
from .store import SCHEMA_VERSION, DaemonLock, Store, StoreError, utcnow

if TYPE_CHECKING:
    from .pipeline import Pipeline

log = logging.getLogger("tallywatch.backup")
PREFIX = "tallywatch-"


def folder(database: Path) -> Path:
    """Where the daily snapshots live: ``backups/`` beside the database (the state directory)."""
    return database.parent / "backups"


def copy(store: Store, target: Path) -> Path:
    """A consistent copy of the open database at ``target`` (written beside it, then renamed)."""
    return _copy(store.conn, target)


def _copy(source: sqlite3.Connection, target: Path) -> Path:
    """SQLite's online backup of ``source`` into ``target``: written beside it, then renamed into
    place, so the target is whole or untouched."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    out = sqlite3.connect(partial)
    try:
        source.backup(out)
        out.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    finally:
        out.close()
    os.replace(partial, target)
    return target


def snapshot(store: Store, keep: int, today: dt.date) -> Path | None:
    """Today's snapshot (once a day; again the same day replaces it), and only the ``keep`` newest kept."""
    if keep <= 0:
        return None
    where = folder(store.path)
    made = copy(store, where / f"{PREFIX}{today.isoformat()}.db")
    kept = sorted(where.glob(f"{PREFIX}????-??-??.db"))
    for old in kept[:-keep]:
        old.unlink(missing_ok=True)
    log.info("database snapshot %s (%d kept in %s)", made.name, min(len(kept), keep), where)
    return made


def check(path: Path) -> str:
    """What a backup file holds, or a StoreError saying why it can't be restored."""
    if not path.is_file():
        raise StoreError(f"no backup file at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            figures = conn.execute("SELECT count(*), max(as_of) FROM figures").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a tallywatch database ({exc})") from None
    if problems != ["ok"]:
        raise StoreError(f"{path} is damaged too ({'; '.join(problems)}); try an older backup")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} is from a newer tallywatch (schema {version}, this one knows {SCHEMA_VERSION})")
    return f"{figures[0]:,} figures, the newest of {figures[1] or 'none'}"


def restore(source: Path, database: Path) -> Path | None:
    """Put ``source`` in place of ``database``; returns where the replaced file was kept (or None).

    Refused while a daemon holds the database (stop it first). The backup is checked first; the
    file it replaces is kept as ``<database>.before-restore``.
    """
    check(source)
    lock = DaemonLock(database)  # raises DatabaseBusy while the daemon runs
    try:
        kept = None
        if database.exists():
            kept = database.with_name(database.name + ".before-restore")
            try:  # a copy with its journal replayed, if it can still be read
                current = Store(database)
                try:
                    copy(current, kept)
                finally:
                    current.close()
            except (StoreError, sqlite3.Error):  # too damaged to read: kept as it is
                os.replace(database, kept)
        for suffix in ("-wal", "-shm"):  # the old file's journal must not be replayed onto the backup
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            _copy(src, database)
        finally:
            src.close()
        Store(database).close()  # brought to this version's schema, WAL on
        return kept
    finally:
        lock.release()


async def daily(pipeline: Pipeline) -> None:
    """The daemon's daily snapshot (``[storage] backups``); a failure is logged, never fatal."""
    try:
        await pipeline.in_store(snapshot, pipeline.store, pipeline.config.storage.backups, report_day(utcnow()))
    except (OSError, sqlite3.Error) as exc:
        log.error("the daily database snapshot failed: %s: %s", type(exc).__name__, exc)
