"""uvicorn, serving the web app in the daemon's own asyncio loop.

uvicorn's ``Server.serve`` is made for a process of its own: it takes SIGINT / SIGTERM (the
daemon's), exits the process when its port is taken, and wakes ten times a second to see whether
it should stop. Here the daemon binds the socket itself (a taken port is an ``OSError`` it can
report and survive), calls uvicorn's ``startup`` and ``shutdown``, and refreshes the Date header
from its own heartbeat (``tick``), so an idle daemon stays idle. Its connections go through a
``connections.Door``: a cap within the process's file descriptors, a deadline for each request,
and a log that says each kind of refusal once a minute.
"""

from __future__ import annotations

import functools
import logging
import socket
from typing import TYPE_CHECKING

from ..config import Web
from ..format import format_number
from ..health import Snapshot
from .connections import BACKLOG, Door, Guarded, connection_cap

if TYPE_CHECKING:
    from starlette.types import ASGIApp

log = logging.getLogger("tallywatch.web")


def origin(host: str, port: int) -> str:
    """The origin of an address the web app listens on, for links when no [web] public_url is set:
    an IPv6 address in brackets; a wildcard (every address of this machine) as the loopback one,
    which always reaches it."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class WebServer:
    def __init__(self, app: ASGIApp, host: str, port: int, limits: Web | None = None) -> None:
        import uvicorn

        self.limits = limits = limits or Web()
        self.snapshot = Snapshot()  # the heartbeat writes it; /healthz and /metrics read it
        self.host, self.port = host, port
        cap, self.files = connection_cap(limits.max_connections, limits.fd_reserve)
        self.door = Door(cap, limits.request_timeout)
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            # uvicorn's h11 protocol (pure Python; httptools would add a C parser and memory for no
            # gain at this load), let in by the door and held to its deadline
            http=functools.partial(Guarded, self.door),
            ws="none",  # no WebSocket routes: an upgrade would take a connection past the door
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=True,  # X-Forwarded-For from the reverse proxy on this machine
            forwarded_allow_ips="127.0.0.1,::1",
            timeout_graceful_shutdown=2,
            limit_concurrency=None,  # the door's cap: uvicorn's counts silent connections and answers 503 to all
            timeout_keep_alive=limits.request_timeout,  # the door's deadline covers an idle keep-alive too
            backlog=BACKLOG,  # asyncio accepts this many at one go, before any can be turned away
            h11_max_incomplete_event_size=64 * 1024,
        )
        self.config.load()
        self.server = uvicorn.Server(self.config)
        self.socket: socket.socket | None = None

    @property
    def address(self) -> str:
        """The origin it listens on (the bound socket's port once started: a configured 0 is any)."""
        host, port = self.socket.getsockname()[:2] if self.socket else (self.host, self.port)
        return origin(host, port)

    async def start(self) -> None:
        """Listen, or raise OSError (the port is taken, the address is not this machine's)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY on the connections it accepts only when the
        # listener's proto says TCP (``_set_nodelay``); with proto 0 Nagle's algorithm holds each
        # answer's last segment until the client's delayed ACK, a 40 ms floor under every request
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, self.port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.socket = sock
        self.server.lifespan = self.config.lifespan_class(self.config)
        await self.server.startup(sockets=[sock])
        await self.tick()
        log.info("web app at %s (/healthz, /metrics and the public pages)", self.address)
        if self.door.cap < self.limits.max_connections:
            log.warning(
                "web app: at most %s connections, not %s: the process may open %s files (RLIMIT_NOFILE;"
                " LimitNOFILE= under systemd), %s of them kept for polls, sends and the database",
                format_number(self.door.cap),
                format_number(self.limits.max_connections),
                format_number(self.files),
                format_number(self.limits.fd_reserve),
            )

    async def tick(self) -> None:
        """uvicorn's once-a-second work (the Date header), on the daemon's heartbeat; the door's counts."""
        await self.server.on_tick(0)
        self.door.tick()

    async def stop(self) -> None:
        if self.socket is None:
            return
        self.server.should_exit = True
        await self.server.shutdown(sockets=[self.socket])
        self.door.tick(final=True)
        self.socket = None
