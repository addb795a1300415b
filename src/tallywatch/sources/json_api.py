"""JSON APIs: each record the mapping's ``records`` path finds becomes one ``Document``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..extract.json_fields import lookup
from ..models import Document
from .http import FetchError


def parse(content: bytes, source: str, records: Sequence[str], date_key: str) -> list[Document]:
    return documents(load(content), source, records, date_key)


MAX_DEPTH = 32  # levels of nesting; a real API's answer has four or five


def load(content: bytes) -> Any:
    """The response's JSON; a clear FetchError for an empty or invalid body, or one nested deeper
    than ``MAX_DEPTH`` (Python's parser gives up on deep nesting with a RecursionError, and nothing
    we read is deep). Its size is the HTTP client's to bound (``[http] max_bytes``)."""
    if not content.strip():
        raise FetchError("empty response body, expected JSON")
    try:
        data = json.loads(content)
    except RecursionError:
        raise FetchError(f"JSON nested deeper than {MAX_DEPTH} levels, not an API's answer") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchError(f"not valid JSON: {exc}") from None
    level, nodes = 0, [data]
    while nodes:
        level += 1
        if level > MAX_DEPTH:
            raise FetchError(f"JSON nested deeper than {MAX_DEPTH} levels, not an API's answer")
        nodes = [c for n in nodes if isinstance(n, dict | list) for c in (n.values() if isinstance(n, dict) else n)]
    return data


def documents(data: Any, source: str, records: Sequence[str], date_key: str) -> list[Document]:
    """One document per record found at the first of the ``records`` paths that holds any."""
    found = None
    for path in records:
        found = lookup(data, path)
        if found is not None:
            break
    if found is None:
        raise FetchError(f"no records in the response at {' or '.join(records)}")
    items = found if isinstance(found, list) else [found]
    documents = []
    for index, record in enumerate(items):
        key = lookup(record, date_key) if isinstance(record, dict) else None
        guid = str(key) if key is not None else f"record-{index}"
        documents.append(Document(source=source, guid=guid, payload=record))
    return documents
