"""What the jobs beside the pipeline — a digest, a fill of missed days, the web app — need of the
running session (``pipeline.Pipeline`` has it), so that none of them imports the pipeline.

Its configuration; its store and the store's own thread, where every database call goes (never
the event loop's thread: a call there could join a transaction in flight); the rules; the
channels; the one polite HTTP client; the charts and the process they are drawn in; and
``handed_on``, which sends (or wakes the senders for) what was just queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .channels import Channel
    from .charts import Charts, Drawer
    from .config import Config
    from .detect import Detector
    from .sources.http import PoliteClient
    from .store import Store


class Running(Protocol):
    """The running session, as the jobs beside the pipeline see it: never an import of it."""

    config: Config
    store: Store
    detector: Detector
    channels: list[Channel]
    client: PoliteClient
    charts: Charts
    drawer: Drawer

    async def in_store(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    async def handed_on(self) -> int: ...
