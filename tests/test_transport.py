"""The sends' HTTP transport (channels.transport): httpx's, its pool asking idle connections cheaply
whether the server closed them — and still finding out when it did."""

import asyncio
import socket
import threading

import httpx
from fake_telegram import TOKEN

from tallywatch.channels import transport as transport_module
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.channels.transport import readable, transport
from tallywatch.config import Config
from tallywatch.sources.http import tls_context

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class ClosingServer:
    """Answers each connection's first request with keep-alive, then closes it without a word
    (as a server does when its idle timeout runs out): a client that reuses it gets nothing."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(ANSWER)
            self.closed.set()  # closed after its one answer

    def stop(self) -> None:
        self.listener.close()


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    server = ClosingServer()

    async def two_requests() -> list[int]:
        async with httpx.AsyncClient(transport=transport(4, tls_context())) as client:
            first = await client.get(f"http://127.0.0.1:{server.port}/")
            await asyncio.to_thread(server.closed.wait, 10)
            second = await client.get(f"http://127.0.0.1:{server.port}/")  # on a new connection
            return [first.status_code, second.status_code]

    try:
        assert asyncio.run(two_requests()) == [200, 200]
        assert server.connections == 2
    finally:
        server.stop()


def test_readable_is_what_a_read_would_find():
    a, b = socket.socketpair()
    with a, b:
        assert not readable(a)  # nothing to read: the connection can be reused
        b.sendall(b"x")
        assert readable(a)
    assert readable(None)  # no socket: gone


def test_the_telegram_sends_go_through_it():
    """Wired: the Bot's request pool is on the cheap-asking backend (an httpx upgrade that moves its
    pool fails ``transport()`` loudly, never silently slow)."""
    channel = TelegramChannel(TOKEN, Config.from_dict({}).telegram)
    pool = channel.bot.request._client._transport._pool
    assert isinstance(pool._network_backend, transport_module._Backend)
