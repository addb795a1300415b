"""uvicorn, serving the web app in the daemon's own asyncio loop.

uvicorn's ``Server.serve`` is made for a process of its own: it takes SIGINT / SIGTERM (the
daemon's), exits the process when its port is taken, and wakes ten times a second to see whether
it should stop. Here the daemon binds the socket itself (a taken port is an ``OSError`` it can
report and survive), calls uvicorn's ``startup`` and ``shutdown``, and refreshes the Date header
from its own heartbeat (``tick``), so an idle daemon stays idle.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

from ..health import Snapshot

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
    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        import uvicorn

        self.snapshot = Snapshot()  # the heartbeat writes it; /healthz and /metrics read it
        self.host, self.port = host, port
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http="h11",  # pure Python; httptools would add a C parser and memory for no gain at this load
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=True,  # X-Forwarded-For from the reverse proxy on this machine
            forwarded_allow_ips="127.0.0.1,::1",
            timeout_graceful_shutdown=2,
            limit_concurrency=200,
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
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.socket = sock
        self.server.lifespan = self.config.lifespan_class(self.config)
        await self.server.startup(sockets=[sock])
        await self.tick()
        log.info("web app at %s (/healthz, /metrics and the public pages)", self.address)

    async def tick(self) -> None:
        """uvicorn's once-a-second work (the Date header), on the daemon's heartbeat."""
        await self.server.on_tick(0)

    async def stop(self) -> None:
        if self.socket is None:
            return
        self.server.should_exit = True
        await self.server.shutdown(sockets=[self.socket])
        self.socket = None
