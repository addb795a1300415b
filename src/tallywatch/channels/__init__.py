"""Channels: where deliveries leave tallywatch. Each is one module, registered by ``kind``.

A channel declares its limits as data (``ChannelLimits``) and answers ``send`` with nothing
(sent) or raises ``Retry`` (try again later) or ``Gone`` (the recipient is gone for good).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..config import Config
from ..models import Event


class Retry(Exception):
    """Sending failed for now; ``after`` seconds is the soonest worth trying again."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Gone(Exception):
    """The recipient cannot be reached any more; do not try again."""


@dataclass(frozen=True)
class ChannelLimits:
    max_attempts: int = 10


class Channel(Protocol):
    kind: str
    limits: ChannelLimits

    def recipients(self) -> list[str]: ...

    def send(self, event: Event, recipient: str) -> None: ...


def enabled_channels(config: Config) -> list[Channel]:
    from .console import ConsoleChannel

    channels: list[Channel] = []
    if config.console.enabled:
        channels.append(ConsoleChannel())
    return channels
