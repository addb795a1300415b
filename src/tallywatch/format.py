"""Numbers, dates and durations as people read them: one place for every message, table and log line."""

from __future__ import annotations

import datetime as dt

from . import cldr

# the one way each language writes a day, wherever a reader sees one (an alert, the report, a
# mail, the page, a chart, the bot): the month in words in English, so no one reads 06/13 or
# 13/06 the wrong way round; as Ukrainian papers write it in Ukrainian. A language not here
# writes its CLDR "medium" date.
DATE_PATTERNS = {"en": "d MMM y", "uk": "dd.MM.y"}


def format_number(value: int, lang: str = "en") -> str:
    """1002690 → ``1,002,690`` (English) or ``1 002 690`` (Ukrainian: no-break spaces, by its CLDR locale)."""
    if lang == "en":
        return f"{value:,}"
    from .i18n import number

    return number(value, lang)


def format_delta(value: int, lang: str = "en") -> str:
    """+1,130 / −2 / ±0 — always signed, so a reader sees the direction."""
    if value == 0:
        return "±0"
    sign = "+" if value > 0 else "−"
    return sign + format_number(abs(value), lang)


def format_date(when: dt.date, lang: str = "en") -> str:
    """A day for people: ``13 Jun 2025`` (English), ``13.06.2025`` (Ukrainian); see ``DATE_PATTERNS``
    (the bundled languages from ``cldr_data.py``, without Babel; another through Babel)."""
    if cldr.known(lang):
        return cldr.date(when, lang)
    from babel.dates import format_date as cldr_date

    return cldr_date(when, DATE_PATTERNS.get(lang, "medium"), locale=lang)


def format_period(first: dt.date, last: dt.date, lang: str = "en") -> str:
    """Two days, each as ``format_date`` writes it: ``7 Jun 2025 – 13 Jun 2025``."""
    return f"{format_date(first, lang)} – {format_date(last, lang)}"


def format_duration(seconds: float) -> str:
    """90 → ``90s``, 1800 → ``30m``, 7200 → ``2h``, 5400 → ``1.5h``, 86400 → ``1d`` (as the config writes them)."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            count = seconds / size
            return f"{count:g}{unit}" if count == int(count) else f"{count:.1f}{unit}"
    return f"{seconds:g}s"


def _local(when: dt.datetime | str, zone: dt.tzinfo) -> dt.datetime:
    moment = dt.datetime.fromisoformat(when) if isinstance(when, str) else when
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(zone)


def format_moment(when: dt.datetime | str, zone: dt.tzinfo) -> str:
    """A moment (stored in UTC) as the admin reads it: its time in ``zone`` and the offset,
    ``2026-12-04 09:31 +02:00`` — the same in every table the commands print."""
    local = _local(when, zone)
    minutes = int(local.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    hours, rest = divmod(abs(minutes), 60)
    return f"{local:%Y-%m-%d %H:%M} {'-' if minutes < 0 else '+'}{hours:02}:{rest:02}"


def iso_moment(when: dt.datetime | str | None, zone: dt.tzinfo) -> str | None:
    """The same moment for a program (``--json``): ISO 8601 in ``zone``, ``2026-12-04T09:31:02+02:00``."""
    return None if when is None else _local(when, zone).isoformat(timespec="seconds")
