"""Calendar dates as the reports print them, in English and Ukrainian.

``14.06.2025``, ``14.06.25``, ``14.06`` (no year), ``June 14, 2025``, ``14 June 2025``,
``5 лютого 2026 року`` (a Ukrainian month name, any case form). A date without a year takes the
year that puts it nearest before the document's publication: a report "to 31.12" read on
1 January is last year's.

``iso_day`` reads the one other form there is, ISO 8601's 2025-06-14: a day as the store keeps it
and as a reader names one (a command's ``--from``, the data API's ``?from=``).

Only two languages' twelve month names are needed, inside patterns anchored on the report's
own wording, so they are a table here rather than a general date-parsing library (which would
add megabytes and guess at formats these reports never use).
"""

from __future__ import annotations

import datetime as dt
import functools
import re

_UK = ("січ", "лют", "берез", "квіт", "трав", "черв", "лип", "серп", "верес", "жовт", "листопад", "груд")
MONTH = r"(?:[a-z]{3,9}\.?|[а-яіїєґ]{3,10})"
_MONTH_WORD = re.compile(MONTH, re.I)

NUMERIC = r"\d{1,2}\.\d{1,2}(?:\.(?:\d{4}|\d{2}))?(?!\.?\d)"
WORDS = rf"(?:{MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{MONTH},?\s+\d{{4}}(?:\s+(?:року|р\.))?)"
DATE = rf"(?:{NUMERIC}|{WORDS})"

_NUMERIC_PARTS = re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})(?:\.(?P<y>\d{4}|\d{2}))?")
_MONTH_FIRST = re.compile(rf"(?P<mon>{MONTH})\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}})", re.I)
_DAY_FIRST = re.compile(rf"(?P<d>\d{{1,2}})\s+(?P<mon>{MONTH}),?\s+(?P<y>\d{{4}})", re.I)


MONTHS_EN = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


def month_number(word: str) -> int | None:
    """1–12 for an English or Ukrainian month name (full, abbreviated or inflected); else None."""
    w = word.lower().rstrip(".")
    if len(w) < 3:
        return None
    names = MONTHS_EN if w.isascii() else _UK
    for i, name in enumerate(names, 1):
        if name.startswith(w) if w.isascii() else w.startswith(name):
            return i
    return None


@functools.lru_cache(maxsize=8192)
def iso_day(text: str) -> dt.date:
    """The day ``text`` names in ISO 8601 (2025-06-14), the same object for the same text (a long
    series read from the store shares them); ValueError if it names none (the caller says what it
    expected, where the reader will see it)."""
    return dt.date.fromisoformat(text)


def parse(text: str, reference: dt.date) -> dt.date:
    """The date ``text`` (one of the forms of ``DATE``) names; ValueError if it names none."""
    text = " ".join(text.split())
    numeric = _NUMERIC_PARTS.fullmatch(text)
    if numeric:
        return resolve(int(numeric["d"]), int(numeric["m"]), numeric["y"], reference)
    for pattern in (_MONTH_FIRST, _DAY_FIRST):
        m = pattern.match(text)
        if m:
            month = month_number(m["mon"])
            if month is None:
                raise ValueError(f"not a month: {m['mon']!r}")
            return resolve(int(m["d"]), month, m["y"], reference)
    raise ValueError(f"not a date: {text!r}")


def resolve(day: int, month: int, year: str | None, reference: dt.date) -> dt.date:
    """The date; without a year, the latest one not after ``reference`` (a day's grace for time zones)."""
    if year:
        return dt.date(int(year) + (2000 if len(year) == 2 else 0), month, day)
    latest = reference + dt.timedelta(days=1)
    for y in (latest.year, latest.year - 1, latest.year - 2):
        try:
            candidate = dt.date(y, month, day)
        except ValueError:  # 29 February in a year without it
            continue
        if candidate <= latest:
            return candidate
    raise ValueError(f"no year puts {day:02d}.{month:02d} before {reference}")


# The report pages' addresses name the day in words: mod.gov.ua's
# .../total-russian-combat-losses-in-ukraine-as-of-april-12-2026 and .../bojovi-vtrati-voroga-na-5-lyutogo-2026-roku
# (the Ukrainian genitive month transliterated as the site does it: "lyutogo" is seen; the other
# eleven follow the same scheme, unseen).
MONTHS_UK_SLUG = (
    "sichnya",
    "lyutogo",
    "bereznya",
    "kvitnya",
    "travnya",
    "chervnya",
    "lipnya",
    "serpnya",
    "veresnya",
    "zhovtnya",
    "listopada",
    "grudnya",
)


def dated_url(template: str, day: dt.date) -> str:
    """The address of ``day``'s page: ``{date:FORMAT}`` (strftime), and the parts as slugs write
    them — ``{day}`` without a leading zero, ``{month}`` the English name in lower case,
    ``{month_uk}`` the Ukrainian genitive transliterated (``MONTHS_UK_SLUG``), ``{year}``."""
    return template.format(
        date=day, day=day.day, month=MONTHS_EN[day.month - 1], month_uk=MONTHS_UK_SLUG[day.month - 1], year=day.year
    )
