"""Numbers and text as feeds print them, and numbers as people read them."""

from __future__ import annotations

import re
import unicodedata

from ..markup import to_text

# Spaces a report may put inside or around numbers: no-break, thin, narrow no-break, figure.
_ODD_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u2009\u202f\u2002\u2003\u2004\u2005\u2006\u200a"), " ")
# Invisible characters that only get in the way (zero-width, BOM, emoji variation selectors).
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\ufe0e\ufe0f"), None)

_NUMBER = re.compile(r"\d{1,3}(?:[ ,.'’]\d{3})+(?!\d)|\d+")
NUMBER_PATTERN = f"(?:{_NUMBER.pattern})"


def clean_text(text: str) -> str:
    """Markup to lines, odd spaces to plain ones, invisible characters dropped, lines trimmed."""
    text = unicodedata.normalize("NFC", to_text(text))
    text = text.translate(_ODD_SPACES).translate(_INVISIBLE)
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines())
    return "\n".join(lines)


def parse_int(text: str) -> int:
    """``1,002,690``, ``1 002 690``, ``1002690``, ``+1,130``, ``−2`` → int. ValueError otherwise."""
    s = text.strip().translate(_ODD_SPACES).replace("\u2212", "-").replace("\u2013", "-")
    sign = 1
    if s[:1] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:].strip()
    if not _NUMBER.fullmatch(s):
        raise ValueError(f"not a number: {text!r}")
    return sign * int(re.sub(r"\D", "", s))


def format_number(value: int, lang: str = "en") -> str:
    """1002690 → ``1,002,690`` (English) or ``1 002 690`` (Ukrainian)."""
    grouped = f"{value:,}"
    return grouped.replace(",", " ") if lang == "uk" else grouped


def format_delta(value: int, lang: str = "en") -> str:
    """+1,130 / −2 / ±0 — always signed, so a reader sees the direction."""
    if value == 0:
        return "±0"
    sign = "+" if value > 0 else "−"
    return sign + format_number(abs(value), lang)


def format_duration(seconds: float) -> str:
    """90 → ``90s``, 1800 → ``30m``, 7200 → ``2h``, 5400 → ``1.5h``, 86400 → ``1d`` (as the config writes them)."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            count = seconds / size
            return f"{count:g}{unit}" if count == int(count) else f"{count:.1f}{unit}"
    return f"{seconds:g}s"
