"""Extractors: a ``Document`` in, a ``Reading`` (its ``Figure``s and a verdict) out. Pure functions, registered by name.

A source's config names its extractor (``extractor = "genstaff"``); adding one is adding one entry.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ..models import Document, Reading
from . import genstaff, json_fields


class SaidOnce(logging.Filter):
    """Lets a warning through once per message and values (source, item, the unreadable value):
    a feed re-read every poll does not repeat what it said last poll. Remembers the last ``kept``."""

    def __init__(self, kept: int = 4096) -> None:
        super().__init__()
        self.kept = kept
        self._said: OrderedDict[tuple, None] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.msg, tuple(map(str, record.args or ())))
        if key in self._said:
            self._said.move_to_end(key)
            return False
        self._said[key] = None
        while len(self._said) > self.kept:
            self._said.popitem(last=False)
        return True


logging.getLogger("tallywatch.extract").addFilter(SaidOnce())  # every extractor logs there

Extractor = Callable[[Document, Mapping[str, Any] | None], Reading]

EXTRACTORS: dict[str, Extractor] = {
    "genstaff": lambda doc, _mapping: genstaff.read(doc),
    "russianwarship": lambda doc, _mapping: Reading.of(json_fields.extract(doc, json_fields.RUSSIANWARSHIP_V2)),
    "json_fields": lambda doc, mapping: Reading.of(json_fields.extract(doc, mapping)),
    "none": lambda _doc, _mapping: Reading.of([]),  # a source read only for its pattern metrics ([metrics.NAME])
}
