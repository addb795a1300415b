"""Pattern figures: a metric defined in the config by a regular expression over a document's text.

``(?P<value>\\d[\\d ,]*) combat clashes`` gives ``combat_clashes``; the number is read whatever
its separators (``111,387``, ``111 387``). The date is the ``date`` group of ``date_pattern``
when one is set and matches, else the item's publication date in Kyiv. The ``regex`` engine is
used for its timeout: a search that runs too long on a hostile document is cut off and logged,
and the document yields nothing for that metric.
"""

from __future__ import annotations

import datetime as dt
import logging

from ..config import PatternMetric
from ..markup import clean_text
from ..models import Document, Figure
from .numbers import parse_int

log = logging.getLogger("tallywatch.extract")


def extract(document: Document, metric: str, spec: PatternMetric) -> list[Figure]:
    text = clean_text(f"{document.title}\n{document.text}")
    try:
        found = spec.compiled.search(text, timeout=spec.timeout)
        when = spec.compiled_date.search(text, timeout=spec.timeout) if spec.compiled_date is not None else None
    except TimeoutError:
        log.warning(
            "%s in %s of %s: the pattern took over %g s and was cut off; nothing read",
            metric,
            document.guid,
            document.source,
            spec.timeout,
        )
        return []
    if found is None:
        return []
    try:
        value = parse_int(found.group("value").strip(" ,.'’"))
    except ValueError:
        log.warning("%s in %s of %s: %r is not a number", metric, document.guid, document.source, found["value"])
        return []
    day = _day(when, spec, document)
    if day is None:
        log.warning(
            "%s in %s of %s: no date in the text or the item; not stored", metric, document.guid, document.source
        )
        return []
    return [Figure(metric=metric, as_of=day, value=value)]


def _day(when, spec: PatternMetric, document: Document) -> dt.date | None:
    if when is not None:
        try:
            return dt.datetime.strptime(" ".join(when.group("date").split()), spec.date_format).date()
        except ValueError:
            log.warning("%s: %r does not match date_format %r", document.source, when.group("date"), spec.date_format)
    return document.day
