"""At most so many events per key in a sliding window: the bot's commands per chat, the web app's
subscribe posts and confirmation mails per client. Keys quiet for a whole window are forgotten, so the map never grows
with every key ever seen."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable


class SlidingWindow:
    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._seen: dict[Hashable, deque[float]] = {}

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        if len(self._seen) > 256:
            self.forget_idle(now)
        recent = self._seen.setdefault(key, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        return recent

    def allow(self, key: Hashable) -> bool:
        """Count one more event for ``key`` if it is within the limit; False (not counted) if not."""
        now = self.clock()
        recent = self._recent(key, now)
        if len(recent) >= self.limit:
            return False
        recent.append(now)
        return True

    def give_back(self, key: Hashable) -> None:
        """Take back the last event allowed for ``key``: what it was counted for cost nothing."""
        recent = self._seen.get(key)
        if recent:
            recent.pop()

    def first(self, key: Hashable) -> bool:
        """Whether the last event allowed for ``key`` was the first of its window."""
        return len(self._seen.get(key, ())) == 1

    def retry_after(self, key: Hashable) -> float:
        """Seconds until ``key`` may have another event."""
        now = self.clock()
        recent = self._recent(key, now)
        return 0.0 if len(recent) < self.limit else max(0.0, recent[0] + self.window - now)

    def forget_idle(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        for key in [k for k, r in self._seen.items() if not r or r[-1] <= now - self.window]:
            del self._seen[key]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._seen
