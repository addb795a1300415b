"""Channels: where deliveries leave tallywatch. Each is one module, registered by ``kind``.

A channel declares its limits as data (``ChannelLimits``: the send rate overall, per chat and
per group, the message length, how many attempts, how many sends in flight) instead of burying
them in branches; ``limits.FloodGate`` enforces the rates for every channel alike. ``send``
returns when the message was accepted, or raises ``Retry`` (try again later, not sooner than
``after`` seconds) or ``Gone`` (the recipient blocked us or no longer exists: never again).
A channel may also have ``prepare(event, language)``: a send's slow work (drawing a chart, once
per event), which the outbox awaits before the flood gate books the send. A channel that reads
the store when sending (email: unsubscribe tokens, charts) is handed a ``Context`` with
``bind(context)`` at start; a channel never imports the pipeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..models import Event

if TYPE_CHECKING:
    from ..store import Reply, Store


class Retry(Exception):
    """Sending failed for now; ``after`` seconds is the soonest worth trying again. ``uncertain``: no
    answer came (a time-out), so the message may have arrived all the same."""

    def __init__(self, reason: str, after: float | None = None, *, uncertain: bool = False) -> None:
        super().__init__(reason)
        self.after = after
        self.uncertain = uncertain


class Gone(Exception):
    """The recipient cannot be reached any more; do not try again."""


class Rejected(Exception):
    """The message itself was refused (malformed); trying again would not help."""


class Steps:
    """One delivery sent as several API calls (a long text in pieces, an edit then an answer): the
    pieces that went out before, kept by the outbox so a retry resumes at the first one not sent,
    and the flood gate every call after the first passes (the outbox booked the first)."""

    def __init__(
        self,
        done: int = 0,
        receipt: str | None = None,
        gate: Callable[[], Awaitable[None]] | None = None,
        record: Callable[[int, str | None], Awaitable[None]] | None = None,
        finished: Callable[[], None] | None = None,
    ) -> None:
        self.done = done  # pieces sent, in this attempt and before
        self.receipt = receipt  # the last piece's receipt
        self._gate = gate
        self._record = record
        self._finished = finished  # the gate's: the call before this one has its answer
        self._calls = 0

    async def call(self) -> None:
        """Before each API call of this attempt."""
        if self._calls and self._gate is not None:
            if self._finished is not None:
                self._finished()
            await self._gate()
        self._calls += 1

    async def sent(self, receipt: str | None, *, last: bool = False) -> None:
        """A piece went out: remembered before the next one is tried. The ``last`` is not written
        down on its own: the delivery is marked sent with its receipt next, in one commit."""
        self.done += 1
        self.receipt = receipt
        if self._record is not None and not last:
            await self._record(self.done, receipt)


@dataclass(frozen=True)
class Recipient:
    """Who gets a delivery, in which language, and not before when (quiet hours)."""

    address: str
    not_before: dt.datetime | None = None
    language: str = "en"


@dataclass(frozen=True)
class ChannelLimits:
    per_second: float | None = None  # sends started in any one second, all recipients together
    per_chat_interval: float | None = None  # seconds between two sends to one recipient
    per_group_per_minute: int | None = None  # sends to one group chat in any 60 seconds
    max_length: int | None = None  # characters in one message
    max_attempts: int = 10
    concurrency: int = 1  # sends in flight at once (each recipient has at most one)


class Channel(Protocol):
    kind: str
    limits: ChannelLimits

    def recipients(self, event: Event, store: Store) -> list[Recipient]:
        """Who gets this event — called inside the ingest transaction."""
        ...

    def quiet_until(self, recipient: str, event: Event, store: Store) -> dt.datetime | None:
        """Until when a message of its own about ``event`` to ``recipient`` would wait now (quiet
        hours), or None — asked for a follow-up, which may have to go as one (``Store.settle``)."""
        ...

    async def send(
        self, event: Event, recipient: str, language: str, reply: Reply | None = None, steps: Steps | None = None
    ) -> str | None:
        """Send; returns a receipt — what the service calls the message (Telegram: ``text:<message_id>``,
        ``photo:<message_id>``), kept with the delivery so the message can be edited later — or None.
        ``reply``: the earlier message this one corrects (a retraction), for channels that can edit it.
        ``steps``: for a channel that sends one delivery as several calls, where to resume and the gate."""
        ...

    def is_group(self, recipient: str) -> bool: ...


class Context(Protocol):
    """What a channel may ask of the running daemon, given with ``bind(context)`` at start: the
    store (used on its own thread, through ``in_store``), a chart drawn once per event and a daily
    report's card drawn once per language. A
    channel never imports the pipeline: the daemon hands it this much and no more."""

    store: Store

    async def in_store(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    async def chart(
        self, metric: str, language: str = "en", days: int = 90, *, once: str | None = None
    ) -> bytes | None: ...

    async def card(self, event: Event, language: str = "en") -> bytes | None: ...
