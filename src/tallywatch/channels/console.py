"""The console: one human line per alert on standard output (the admin's log of alerts: the daily
report, a subscriber's product, is not printed — ``tallywatch events`` lists it)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from ..models import Event
from . import ChannelLimits, Recipient, Retry
from .render import line

if TYPE_CHECKING:
    from ..store import Store


class ConsoleChannel:
    kind = "console"
    limits = ChannelLimits(max_attempts=3)

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def recipients(self, event: Event, store: Store) -> list[Recipient]:
        return [] if event.rule == "report" else [Recipient("stdout")]

    def is_group(self, recipient: str) -> bool:
        return False

    def quiet_until(self, recipient: str, event: Event, store: Store) -> None:
        return None  # (no quiet hours here)

    async def send(self, event: Event, recipient: str, language: str = "en", reply=None, steps=None) -> None:
        stream = self._stream or sys.stdout
        try:
            stream.write(line(event) + "\n")
            stream.flush()
        except OSError as exc:
            raise Retry(f"cannot write to {recipient}: {exc}") from exc
