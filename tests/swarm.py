"""Connections that never finish a request, from a process of their own (so the test's own servers
— the feed, the fake Bot API — keep their share of this machine's time).

A ``Swarm`` keeps ``count`` connections open to a server: a third silent, a third half-sent (a
request line and one header, never the blank line that ends them), a third half-sent and then trickling one more byte
of that header a second (each byte a sign of life that must not buy more time). While it refills, each one the server closes is opened again at once, so
the pressure never lets up; ``stop_refilling()`` gives up the connections still being made (the
server's listen queue was full) and lets the server empty the rest. ``stats()`` says what it sees:
connections opened, open now (connected or not yet), closed by the server, the oldest one's age.
A connection the server never took (the kernel dropped its handshake's last step when the listen
queue was full) looks open from here for ever: what the server holds is seen on its side.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import resource
import selectors
import socket
import time

KINDS = ("silent", "half-sent", "trickling")
HALF = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "


def _run(port: int, count: int, conn) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 500), hard))
    sel = selectors.DefaultSelector()
    opened = closed = failed = answered = abandoned = 0
    refill = True
    since: dict[socket.socket, float] = {}
    trickle: set[socket.socket] = set()
    held_longest = 0.0

    def open_one(kind: str) -> None:
        nonlocal opened, failed
        s = socket.socket()
        s.setblocking(False)
        code = s.connect_ex(("127.0.0.1", port))
        if code not in (0, errno.EINPROGRESS):
            failed += 1
            s.close()
            return
        opened += 1
        since[s] = time.monotonic()
        sel.register(s, selectors.EVENT_WRITE, [kind, "connecting"])

    def drop(s: socket.socket) -> None:
        nonlocal held_longest
        held_longest = max(held_longest, time.monotonic() - since.pop(s))
        trickle.discard(s)
        sel.unregister(s)
        s.close()

    for i in range(count):
        open_one(KINDS[i % len(KINDS)])
    last_trickle = time.monotonic()
    while True:
        if conn.poll():
            command = conn.recv()
            if command == "stop":
                break
            if command == "stop refilling":  # and those the server never took are given up
                refill = False
                for key in list(sel.get_map().values()):
                    if key.data[1] == "connecting":
                        abandoned += 1
                        drop(key.fileobj)
            if command == "stats":
                now = time.monotonic()
                conn.send(
                    {
                        "opened": opened,
                        "open": len(since),
                        "connected": sum(key.data[1] == "open" for key in sel.get_map().values()),
                        "abandoned": abandoned,
                        "closed": closed,
                        "failed": failed,
                        "answered": answered,
                        "oldest": max((now - t for t in since.values()), default=0.0),
                        "held_longest": held_longest,
                    }
                )
        for key, _mask in sel.select(timeout=0.05):
            s, (kind, state) = key.fileobj, key.data
            if state == "connecting":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    failed += 1
                    drop(s)
                    if refill:
                        open_one(kind)
                    continue
                key.data[1] = "open"
                sel.modify(s, selectors.EVENT_READ, key.data)
                try:
                    if kind != "silent":
                        s.send(HALF)
                    if kind == "trickling":
                        trickle.add(s)
                except OSError:
                    pass
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:  # an answer (a 400, a 503): the close follows
                answered += 1
                continue
            closed += 1
            drop(s)
            if refill:
                open_one(kind)
        now = time.monotonic()
        if now - last_trickle >= 1.0:
            last_trickle = now
            for s in list(trickle):
                with contextlib.suppress(OSError):
                    s.send(b"a")
    for s in list(since):
        sel.unregister(s)
        s.close()


class Swarm:
    def __init__(self, port: int, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_run, args=(port, count, child), daemon=True)
        self.process.start()

    def stats(self) -> dict:
        self._conn.send("stats")
        return self._conn.recv()

    def stop_refilling(self) -> None:
        self._conn.send("stop refilling")

    def close(self) -> None:
        if self.process.is_alive():
            self._conn.send("stop")
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def __enter__(self) -> Swarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
