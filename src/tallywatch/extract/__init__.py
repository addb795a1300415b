"""Extractors: a ``Document`` in, ``Figure``s out. Pure functions, registered by name.

A source's config names its extractor (``extractor = "genstaff"``); adding one is adding one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..models import Document, Figure
from . import genstaff, json_fields

Extractor = Callable[[Document, Mapping[str, Any] | None], list[Figure]]

EXTRACTORS: dict[str, Extractor] = {
    "genstaff": lambda doc, _mapping: genstaff.extract(doc),
    "russianwarship": lambda doc, _mapping: json_fields.extract(doc, json_fields.RUSSIANWARSHIP_V2),
    "json_fields": json_fields.extract,
    "none": lambda _doc, _mapping: [],  # a source read only for its pattern metrics ([metrics.NAME])
}
