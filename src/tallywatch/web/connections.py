"""The web app's connections: how many may be open, and how long one may take to ask.

uvicorn leaves both open. Its ``limit_concurrency`` counts every open connection, silent ones too,
and answers 503 to every request beyond it — ``/healthz`` included —; its h11 protocol has no
deadline for a request (the keep-alive timer starts after a first answer, and any byte stops it),
so a connection that never finishes its headers stays for ever, holding a file descriptor the
daemon's polls, sends and database need. A thousand of them once took every descriptor the
process had: every poll failed, and asyncio logged each refused ``accept()`` with its traceback.

Here (``Door``, and ``Guarded``, uvicorn's h11 protocol with it):

- **a deadline**: a request, headers and body, must be in within ``request_timeout`` of the
  connection's opening or of the previous answer, however it trickles; else it is closed;
- **a cap** on open connections, never more than the process's file descriptors
  (``RLIMIT_NOFILE``) less a reserve for the daemon's own work (``connection_cap``). A connection
  beyond it takes the place of the oldest one still waiting for its request (a silent, half-sent
  or idle keep-alive one), so a new ``/healthz`` is answered however many sit there; only when
  every open connection is being answered is the new one closed at once. Closing is cheap and
  immediate: accepting never fails for want of descriptors, and polls never do;
- **a log that cannot flood**: each kind of refusal is said once, then at most once a minute
  with a count (and counted in ``/metrics``), never a line per connection.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from typing import Any

import h11

from ..format import format_duration, format_number
from ..health import WEB_REFUSED
from ..lean import later, standing_in

SUPERVISORS = "uvicorn.supervisors"  # (the first import of uvicorn: without multiprocessing)
with standing_in(SUPERVISORS, **{name: later(SUPERVISORS, name) for name in ("ChangeReload", "Multiprocess")}):
    from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("tallywatch.web")

BACKLOG = 64  # connections the kernel queues for accept(), and asyncio accepts at one go
IN_FLIGHT = 2 * BACKLOG  # descriptors accepted and not yet let in or closed: a batch, and the next
FEWEST = 8  # connections the web app keeps, however few descriptors there are
SAY_EVERY = 60.0  # seconds: each kind of refusal is logged at most once in this, with a count


def connection_cap(wanted: int, reserve: int) -> tuple[int, int]:
    """(connections the web app may hold, the process's file descriptors): ``wanted``, or fewer when
    ``RLIMIT_NOFILE`` less ``reserve`` (polls, sends, the database, the log) and those being
    accepted leaves less room."""
    files, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if files == resource.RLIM_INFINITY:
        return wanted, files
    return max(FEWEST, min(wanted, files - reserve - IN_FLIGHT)), files


class Door:
    """The connections of one web server: their cap, their deadline, what was turned away."""

    def __init__(self, cap: int, request_timeout: float) -> None:
        self.cap = cap
        self.request_timeout = request_timeout
        self.open: dict[Guarded, None] = {}  # oldest first
        self.counts: Counter[str] = Counter()  # refusals not said yet, by kind
        self.said: dict[str, float] = {}  # kind → when it was last said
        self.texts = {
            "slow": f"closed: its request was not complete within {format_duration(request_timeout)}",
            "room": f"closed to make room for a newer one ({format_number(cap)} open at most)",
            "full": f"refused: {format_number(cap)} open, every one of them being answered",
        }

    def admit(self, new: Guarded) -> bool:
        """Whether ``new`` may stay; at the cap, the oldest connection still waiting for its
        request makes room for it, or ``new`` is refused when there is none."""
        if len(self.open) >= self.cap:
            waiting = next((p for p in self.open if not p.answering), None)
            if waiting is None:
                self.refused("full")
                return False
            self.refused("room")
            waiting.drop()
        self.open[new] = None
        return True

    def refused(self, kind: str) -> None:
        WEB_REFUSED.labels(kind if kind in self.texts else "bad").inc()
        self.counts[kind] += 1
        if time.monotonic() - self.said.get(kind, -SAY_EVERY) >= SAY_EVERY:
            self._say(kind, first=kind not in self.said)

    def tick(self, final: bool = False) -> None:
        """Say the counts whose minute is over (all of them when ``final``)."""
        now = time.monotonic()
        for kind, count in list(self.counts.items()):
            if count and (final or now - self.said[kind] >= SAY_EVERY):
                self._say(kind, first=False)

    def _say(self, kind: str, first: bool) -> None:
        text, count = self.texts.get(kind, kind), self.counts.pop(kind)
        if first:
            log.warning("web app: a connection %s (said at most once a minute from now on, with a count)", text)
        else:
            log.warning("web app: %s more connection(s) %s", format_number(count), text)
        self.said[kind] = time.monotonic()


class _Counted:
    """uvicorn's logger as one connection sees it: a warning about that connection (a malformed
    request, an upgrade it does not speak) is counted by the door, not a line each."""

    def __init__(self, logger: logging.Logger, door: Door) -> None:
        self._logger, self._door = logger, door

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._door.refused(f"answered: {msg % args if args else msg}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


class Guarded(H11Protocol):
    """uvicorn's h11 protocol, let in by a ``Door`` and held to its deadline."""

    def __init__(self, door: Door, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.door = door
        self.logger = _Counted(self.logger, door)  # type: ignore[assignment]
        self.deadline: asyncio.TimerHandle | None = None
        self.let_in = False

    @property
    def answering(self) -> bool:
        """Its request is all in (headers and body) and its answer not yet all sent."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete and self.conn.their_state is not h11.SEND_BODY

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if not self.door.admit(self):
            transport.abort()  # the descriptor is closed at once; connection_lost follows
            return
        self.let_in = True
        super().connection_made(transport)
        self._wait_for_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.answering:  # the next request has a deadline (or the close, if its flush never ends)
            self._wait_for_request()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.let_in:
            return
        self.door.open.pop(self, None)
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        super().connection_lost(exc)

    def drop(self) -> None:
        """Close it now, whatever it was writing."""
        self.door.open.pop(self, None)
        self.transport.abort()

    def _wait_for_request(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = self.loop.call_later(self.door.request_timeout, self._too_slow)

    def _too_slow(self) -> None:
        self.deadline = None
        if self.answering:  # on_response_complete starts the next deadline
            return
        if not self.transport.is_closing():  # (closing all this time: a peer that never reads the answer)
            self.door.refused("slow")
        self.drop()
