"""Sources: bytes a source published → ``Document``s. One parser per ``kind``, registered here."""

from __future__ import annotations

from collections.abc import Callable

from ..config import JsonMapping, Source
from ..extract.json_fields import RUSSIANWARSHIP_V2
from ..models import Document
from . import feed, json_api


def mapping_for(source: Source) -> dict:
    if source.mapping is not None:
        return source.mapping.model_dump()
    if source.extractor_name == "json_fields":
        return JsonMapping().model_dump()
    return RUSSIANWARSHIP_V2


def _json(content: bytes, source: Source) -> list[Document]:
    mapping = mapping_for(source)
    return json_api.parse(content, source.name, mapping["records"], mapping["date"])


def _feed(content: bytes, source: Source) -> list[Document]:
    return feed.parse(content, source.name)


PARSERS: dict[str, Callable[[bytes, Source], list[Document]]] = {
    "rss": _feed,
    "atom": _feed,
    "json": _json,
}
ACCEPT = {
    "rss": "application/rss+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5",
    "atom": "application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5",
    "json": "application/json, */*;q=0.5",
}
