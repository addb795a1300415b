"""The flood gate: a channel's declared rates, enforced before each send.

Telegram allows about 30 messages a second overall, one a second to one chat and 20 a minute to
one group; python-telegram-bot's own limiter has no per-chat limit. ``acquire`` waits until a
send to ``recipient`` fits all three, then books it; ``finished`` moves that chat's spacing to
when the answer came. A 429's ``retry_after`` pauses that chat.
A small margin under each limit absorbs the jitter between our clock and the server's.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import defaultdict, deque

from . import ChannelLimits

MARGIN = 0.97  # a group's minute is counted as 62 s: our clock and the server's may differ a little
CHAT_SPACING = 1.15  # × the per-chat interval: 1.15 s between two messages to one chat, since a
# reply and an alert to the same chat may leave from different connections and arrive out of step


class FloodGate:
    def __init__(self, limits: ChannelLimits, clock=time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._recent: deque[float] = deque()  # send times in the last second, all recipients
        self._last: dict[str, float] = {}  # last send time per recipient
        self._group: defaultdict[str, deque[float]] = defaultdict(deque)  # send times per group, last minute
        self._paused: dict[str, float] = {}  # recipient → not before (after a 429)
        # a request may reach the server any time between its booking and its answer: a send
        # answered in the last second counts there, however long ago it was booked
        self._booked: dict[str, float] = {}  # recipient → when its send now in flight was booked
        # sends that may count where they arrived, each on its way through two heaps (O(log n) a
        # send, however many are in the last second): ``_coming`` (booked + 1 s, answered + 1 s)
        # until a second has passed since its booking, then ``_counting`` (answered + 1 s) until a
        # second has passed since its answer
        self._coming: list[tuple[float, float]] = []
        self._counting: list[float] = []
        self._kept = self.KEPT  # how many chats the maps hold before the next forgetting

    def hold_all(self, seconds: float) -> None:
        """No send at all for ``seconds`` (a previous process may have used this second's allowance)."""
        self._paused[""] = max(self._paused.get("", 0.0), self.clock() + seconds)

    def finished(self, recipient: str) -> None:
        """A send to ``recipient`` got its answer. Its chat's next send is spaced from now, so a
        request delayed on the way (a loaded machine) can't arrive less than a second before the
        next; and for the overall rate it counts as having arrived as late as now."""
        now = self.clock()
        if recipient in self._last:
            self._last[recipient] = max(self._last[recipient], now)
        booked = self._booked.pop(recipient, None)
        if booked is not None:
            heapq.heappush(self._coming, (booked + 1.0, now + 1.0))

    def _late(self, now: float) -> tuple[int, float]:
        """Sends booked over a second ago and answered within the last second (they may have
        arrived within it), and when the first of them stops counting."""
        while self._coming and self._coming[0][0] <= now:
            _, stops = heapq.heappop(self._coming)
            if stops > now:
                heapq.heappush(self._counting, stops)
        while self._counting and self._counting[0] <= now:
            heapq.heappop(self._counting)
        return len(self._counting), self._counting[0] if self._counting else now

    def pause(self, recipient: str, seconds: float) -> None:
        self._paused[recipient] = max(self._paused.get(recipient, 0.0), self.clock() + seconds)

    def wait_for(self, recipient: str, group: bool, now: float) -> float:
        """Seconds until a send to ``recipient`` fits every limit (0: now)."""
        limits = self.limits
        waits = [self._paused.get(recipient, 0.0) - now, self._paused.get("", 0.0) - now]
        if limits.per_second:
            # at most 30 sends in any second, and evenly paced: the server counts arrivals, which
            # jitter; a burst of 30 then a pause would let jitter push a 31st into its window
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            late, until = self._late(now)
            # every send that may have arrived in the last second counts (booked in it, or answered
            # in it): the whole allowance is used without a bunch of late arrivals overrunning it
            if len(self._recent) + late >= int(limits.per_second):
                leaves = [self._recent[0] + 1.0] if self._recent else []  # the oldest booking leaves the second
                waits.append(min([*leaves, *([until] if late else [])]) - now)
            if self._recent:
                waits.append(self._recent[-1] + 1.0 / limits.per_second - now)
        if limits.per_chat_interval and recipient in self._last:
            waits.append(self._last[recipient] + limits.per_chat_interval * CHAT_SPACING - now)
        if group and limits.per_group_per_minute:
            sent = self._group[recipient]
            while sent and sent[0] <= now - 60.0 / MARGIN:
                sent.popleft()
            if len(sent) >= limits.per_group_per_minute:
                waits.append(sent[0] + 60.0 / MARGIN - now)
        return max(0.0, *waits)

    KEPT = 1024  # recipients remembered before the ones no limit concerns any more are forgotten

    def _forget(self, now: float) -> None:
        """Drop what no limit looks at any more (a send over a minute ago, a pause that ended), so
        the maps hold the recently active chats, not every chat ever sent to."""
        horizon = now - 60.0 / MARGIN
        self._last = {r: t for r, t in self._last.items() if t > horizon}
        self._group = defaultdict(deque, {r: q for r, q in self._group.items() if q and q[-1] > horizon})
        self._paused = {r: t for r, t in self._paused.items() if t > now}
        self._booked = {r: t for r, t in self._booked.items() if t > horizon}

    async def acquire(self, recipient: str, group: bool = False) -> None:
        while True:
            now = self.clock()
            if len(self._last) > self._kept:
                self._forget(now)
                # the next forgetting after as many new chats again: each send pays O(1) for it even
                # when thousands of chats were sent to in the last minute (a paid broadcast)
                self._kept = max(self.KEPT, 2 * len(self._last))
            wait = self.wait_for(recipient, group, now)
            if wait <= 0:
                self._recent.append(now)
                self._last[recipient] = now
                self._booked[recipient] = now
                if group:
                    self._group[recipient].append(now)
                return
            await asyncio.sleep(wait)
