"""Extractors: a ``Document`` in, a ``Reading`` (its ``Figure``s and a verdict) out. Pure functions, registered by name.

A source's config names its extractor (``extractor = "genstaff"``); adding one is adding one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..models import Document, Reading
from . import genstaff, json_fields

Extractor = Callable[[Document, Mapping[str, Any] | None], Reading]

EXTRACTORS: dict[str, Extractor] = {
    "genstaff": lambda doc, _mapping: genstaff.read(doc),
    "russianwarship": lambda doc, _mapping: Reading.of(json_fields.extract(doc, json_fields.RUSSIANWARSHIP_V2)),
    "json_fields": lambda doc, mapping: Reading.of(json_fields.extract(doc, mapping)),
    "none": lambda _doc, _mapping: Reading.of([]),  # a source read only for its pattern metrics ([metrics.NAME])
}
