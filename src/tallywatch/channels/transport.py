"""The HTTP transport of a busy sender: httpx's, with a connection pool that looks at its idle
connections cheaply.

Before each request, and again after it, httpcore's pool asks every idle connection whether the
server closed it (``has_expired`` → ``get_extra_info("is_readable")``). Through AnyIO that ask
builds the socket's whole attribute table, a ``getpeername`` call included, every time: with the
30-odd connections a paid broadcast keeps, it was 30 % of the sender's time
(encode/httpx#3215, encode/httpcore#928, open upstream). Here each connection's stream keeps
its socket and answers the ask with one ``poll``. Everything else is httpcore's and httpx's own:
the streams are theirs, only wrapped.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx


def readable(sock: socket.socket | None, poller: select.poll | None = None) -> bool:
    """Whether a read would return at once (data, or the end a server's close leaves): a socket
    gone counts as readable, as in httpcore's own check. ``poller``: one with ``sock`` registered."""
    if sock is None or sock.fileno() < 0:
        return True
    if poller is None:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


UNSENT_MAX = 65536  # bytes a stream holds before it writes them anyway (a large upload)


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's stream, with its socket kept for the pool's readability ask, and its writes
    held until the answer is read: a request's headers and body leave in one write (one system
    call, one TCP segment), where httpcore writes them one after the other."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._unsent = bytearray()
        self._timeout: float | None = None
        self._socket = inner.get_extra_info("socket")
        self._poller = select.poll()  # registered once: each ask is then one poll() call
        if self._socket is not None:
            self._poller.register(self._socket, select.POLLIN)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._flush()
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._unsent += buffer
        self._timeout = timeout
        if len(self._unsent) >= UNSENT_MAX:
            await self._flush()

    async def _flush(self) -> None:
        if self._unsent:
            data, self._unsent = bytes(self._unsent), bytearray()
            await self._inner.write(data, self._timeout)

    async def aclose(self) -> None:
        self._unsent.clear()
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        await self._flush()
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return readable(self._socket, self._poller)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's AnyIO backend, its streams wrapped in ``_Stream``."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def transport(connections: int, verify: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    """httpx's transport, up to ``connections`` at once, its pool on ``_Backend``.

    httpx builds its pool itself and takes no backend for it, so the backend is set on the pool
    it built (``_pool``, ``_network_backend``: httpx 0.28, httpcore 1.0). Should an upgrade rename
    them, this fails at once (test_transport), not silently slow."""
    made = httpx.AsyncHTTPTransport(verify=verify, limits=httpx.Limits(max_connections=connections))
    pool = made._pool
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError(f"httpx's transport holds no httpcore connection pool to set up: {pool!r}")
    pool._network_backend = _Backend()
    return made
