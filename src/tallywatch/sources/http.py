"""The one polite HTTP client every source fetches through.

Timeouts on connect and read and a deadline for the whole request (a server dripping one byte
a second is cut off), a size cap on what is received and again on what it decodes to (gzip or
deflate, one layer, decoded here in bounded steps: a 2 kB gzip bomb never becomes a gigabyte),
conditional GET with the saved ETag / Last-Modified (a 304 costs no parsing), ``Retry-After``
read from 429/503 answers, and a User-Agent naming the project. The transport is injectable
(httpx's own design), so tests can run it against a real local server or a handler.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email.utils
import functools
import logging
import os
import ssl
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack
from urllib.parse import urljoin, urlsplit

import certifi

from ..lean import without

with without("pygments"):  # httpx's command-line client, never used (lean.py)
    import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every HTTP client in the process (the polite client, Telegram's,
    the webhooks'): each httpx client would otherwise load the CA bundle again, ~1.2 MB apiece.
    Same trust as httpx's default: $SSL_CERT_FILE or $SSL_CERT_DIR if set, else certifi's bundle."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


# httpx logs every request URL at INFO; a bot token travels in Telegram's URLs. Keep them quiet.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class FetchError(Exception):
    """A fetch that failed; the message says what happened, for the log and ``status``."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status  # the HTTP status, when the server answered with an error


@dataclass(frozen=True)
class Fetched:
    status: int
    content: bytes
    etag: str | None
    last_modified: str | None
    content_type: str
    moved: str | None = None  # where the URL moved for good (301 / 308 all the way): use it from now on

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After: 120`` or ``Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`` → seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


MAX_REDIRECTS = 5


@dataclass(frozen=True)
class _Redirect:
    """A 3xx answer with a Location: its status and where it points (absolute)."""

    status: int
    location: str


@functools.cache
def _suffixes():
    from publicsuffixlist import PublicSuffixList  # loaded at the first redirect only

    return PublicSuffixList()


def site(host: str) -> str:
    """A host's registrable domain (``www.kmu.gov.ua`` → ``kmu.gov.ua``); an address or a bare
    name is its own site."""
    host = host.lower().rstrip(".")
    if not host or host.replace(".", "").isdigit() or ":" in host or "." not in host:
        return host
    return _suffixes().privatesuffix(host) or host


def redirect_allowed(start: str, target: str, allowed: Sequence[str] = ()) -> bool:
    """A redirect stays on the site the source names (the same registrable domain), or goes to a
    host the source lists in ``follow_redirects_to``."""
    host = urlsplit(target).hostname or ""
    return site(host) == site(urlsplit(start).hostname or "") or host.lower() in {h.lower() for h in allowed}


class _Decoded:
    """The body as the server encoded it (identity, gzip or deflate: one layer), decoded in steps
    that never produce more than ``limit`` bytes in all."""

    def __init__(self, encoding: str, limit: int) -> None:
        layers = [e.strip().lower() for e in encoding.split(",") if e.strip() and e.strip().lower() != "identity"]
        if len(layers) > 1:
            raise FetchError(
                f"refused: the response is encoded {len(layers)} times over ({encoding}); one layer at most"
            )
        self.kind = layers[0] if layers else ""
        if self.kind not in ("", "gzip", "x-gzip", "deflate"):
            raise FetchError(f"refused: unknown content encoding {encoding!r} (we asked for gzip or deflate)")
        self.limit = limit
        self.size = 0
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS) if "gzip" in self.kind else None

    def feed(self, data: bytes) -> bytes:
        if not self.kind:
            return self._count(data)
        if self._zlib is None:
            # deflate is zlib-wrapped by the standard, raw by some servers: the first bytes tell
            wrapped = len(data) >= 2 and (data[0] * 256 + data[1]) % 31 == 0 and data[0] & 0x0F == 8
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out = bytearray()
        try:
            while data:
                out += self._count(self._zlib.decompress(data, self.limit - self.size + 1))
                data = self._zlib.unconsumed_tail
                if not data and self._zlib.eof and self._zlib.unused_data:  # a second gzip member
                    data = self._zlib.unused_data
                    self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        except zlib.error as exc:
            raise FetchError(f"the response's {self.kind} encoding is broken: {exc}") from None
        return bytes(out)

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self.limit:
            raise FetchError(f"response too large: over {self.limit:,} bytes once decoded, download aborted")
        return data


class GetOptions(TypedDict, total=False):
    """How ``PoliteClient.get`` asks (``_Request``, as keywords)."""

    etag: str | None
    last_modified: str | None
    timeout: float
    deadline: float
    max_bytes: int
    accept: str
    follow_to: Sequence[str]


@dataclass(frozen=True)
class _Request:
    """``etag``, ``last_modified``: the validators of the copy held (a conditional GET); ``timeout``
    to connect and between reads, ``deadline`` for all of it; ``max_bytes``, the largest answer
    read; ``accept``, the types asked for; ``follow_to``, the other hosts a redirect may lead to."""

    etag: str | None = None
    last_modified: str | None = None
    timeout: float = 20.0
    deadline: float = 45.0
    max_bytes: int = 5_000_000
    accept: str = "*/*"
    follow_to: Sequence[str] = ()


async def _body(response: httpx.Response, max_bytes: int) -> bytes:
    """The answer's body, decoded, refused past ``max_bytes`` (as declared, or as it arrives)."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"response too large: {int(declared):,} bytes declared, limit {max_bytes:,}")
    body = bytearray()
    received = 0
    decoded = _Decoded(response.headers.get("Content-Encoding", ""), max_bytes)
    async for chunk in response.aiter_raw():  # as sent: decoded here, in bounded steps
        received += len(chunk)
        if received > max_bytes:
            raise FetchError(f"response too large: over {max_bytes:,} bytes, download aborted")
        body += decoded.feed(chunk)
    return bytes(body)


class PoliteClient:
    def __init__(self, user_agent: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            follow_redirects=False,  # followed in get(), hop by hop, where the source allows
            transport=transport,
            verify=tls_context(),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, url: str, **options: Unpack[GetOptions]) -> Fetched:
        """GET ``url``: ``timeout`` to connect and between reads, ``deadline`` for all of it.

        Redirects are followed (at most 5) within the site of ``url`` or to the hosts in
        ``follow_to``; another is refused, naming the host. When every hop was permanent (301,
        308), ``Fetched.moved`` is where the URL now lives."""
        request = _Request(**options)
        deadline, follow_to = request.deadline, request.follow_to
        try:
            async with asyncio.timeout(deadline):
                current, permanent = url, True
                for _ in range(MAX_REDIRECTS + 1):
                    fetched = await self._get(current, request)
                    if isinstance(fetched, Fetched):
                        moved = current if permanent and current != url else None
                        return dataclasses.replace(fetched, moved=moved) if moved else fetched
                    target, code = fetched.location, fetched.status
                    if urlsplit(target).scheme not in ("http", "https"):
                        raise FetchError(f"refused a redirect to {target!r}: not an http(s) address")
                    if not redirect_allowed(url, target, follow_to):
                        host = urlsplit(target).hostname
                        raise FetchError(
                            f"refused a redirect to another site, {host} (HTTP {code} from {current}); "
                            f'if it is right, allow it: follow_redirects_to = ["{host}"]'
                        )
                    permanent = permanent and code in (301, 308)
                    current = target
                raise FetchError(f"more than {MAX_REDIRECTS} redirects from {url}")
        except TimeoutError:
            raise FetchError(f"took too long: no whole answer within {deadline:g} s (the deadline)") from None

    async def _get(self, url: str, request: _Request) -> Fetched | _Redirect:
        """One request: what it answered, or where it redirects to."""
        etag, last_modified, timeout = request.etag, request.last_modified, request.timeout
        headers = {"Accept": request.accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        limits = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        try:
            async with self._client.stream("GET", url, headers=headers, timeout=limits) as response:
                if response.status_code == 304:
                    return Fetched(304, b"", etag, last_modified, "")
                if response.has_redirect_location:
                    return _Redirect(response.status_code, urljoin(url, response.headers["Location"]))
                if response.status_code >= 400:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                    raise FetchError(reason, wait, response.status_code)
                return Fetched(
                    response.status_code,
                    await _body(response, request.max_bytes),
                    response.headers.get("ETag"),
                    response.headers.get("Last-Modified"),
                    response.headers.get("Content-Type", ""),
                )
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out ({type(exc).__name__}, limit {timeout:g} s)") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from None
