"""The console: one human line per alert on standard output."""

from __future__ import annotations

import sys
from typing import TextIO

from ..models import Event
from . import ChannelLimits, Retry
from .render import line


class ConsoleChannel:
    kind = "console"
    limits = ChannelLimits(max_attempts=3)

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def recipients(self) -> list[str]:
        return ["stdout"]

    def send(self, event: Event, recipient: str) -> None:
        stream = self._stream or sys.stdout
        try:
            stream.write(line(event) + "\n")
            stream.flush()
        except OSError as exc:
            raise Retry(f"cannot write to {recipient}: {exc}") from exc
