"""One daemon per database: ``DaemonLock`` (a ``flock`` on ``<database>.lock`` and, on Linux, an
abstract socket named after the database; the kernel lets go of both when the process ends)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import struct
import sys
from pathlib import Path

from .db import DatabaseBusy, StoreError, identity, still_there


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
