"""The sends' HTTP transport (channels.transport): httpx's, its pool asking idle connections cheaply
whether the server closed them — and still finding out when it did."""

import asyncio
import socket
import threading

import httpcore
import httpx
import pytest
from fake_telegram import TOKEN

from tallywatch.channels import transport as transport_module
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.channels.transport import _Stream, readable, transport
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


class Recording(httpcore.AsyncNetworkStream):
    """A connection's far end that records each write and answers 200."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.answer = ANSWER

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.writes.append(bytes(buffer))

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        answer, self.answer = self.answer, b""
        return answer

    async def aclose(self) -> None:
        pass

    def get_extra_info(self, info: str):
        return None


def test_a_requests_headers_and_body_leave_in_one_write():
    """httpcore writes the headers, then the body; held until the answer is read, they go as one."""
    far = Recording()

    async def post() -> int:
        connection = httpcore.AsyncHTTP11Connection(httpcore.Origin(b"http", b"127.0.0.1", 80), _Stream(far))
        body = b"chat_id=1&text=Hello"
        headers = {"Host": "127.0.0.1", "Content-Length": str(len(body))}
        request = httpcore.Request("POST", "http://127.0.0.1/sendMessage", headers=headers, content=body)
        response = await connection.handle_async_request(request)
        await response.aread()
        return response.status

    assert asyncio.run(post()) == 200
    assert len(far.writes) == 1
    assert far.writes[0].startswith(b"POST /sendMessage HTTP/1.1\r\n") and far.writes[0].endswith(
        b"\r\n\r\nchat_id=1&text=Hello"
    )


def test_over_tls_a_kept_connection_carries_each_request_whole():
    """Telegram is HTTPS: through the TLS stream the held writes still leave whole, a kept
    connection serves the next request, and the server's certificate is checked."""
    import http.server
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    async def posts() -> list[int]:
        url = f"https://127.0.0.1:{server.server_address[1]}/sendMessage"
        async with httpx.AsyncClient(transport=transport(4, trusting)) as client:
            return [(await client.post(url, data={"text": f"piece {n}"})).status_code for n in range(3)]

    try:
        assert asyncio.run(posts()) == [200, 200, 200]
        assert bodies == [b"text=piece+0", b"text=piece+1", b"text=piece+2"]

        async def untrusted() -> None:
            async with httpx.AsyncClient(transport=transport(4, ssl.create_default_context())) as client:
                await client.post(f"https://127.0.0.1:{server.server_address[1]}/x", data={"a": "b"})

        with pytest.raises(httpx.ConnectError):
            asyncio.run(untrusted())
    finally:
        server.shutdown()
        server.server_close()
