"""Numbers, round numbers in words and days as CLDR writes them, for the bundled languages, without Babel.

Babel and its CLDR tables cost the daemon about 9 MB for as long as it runs, once a number has
been worded; the few values the daemon words with (group and decimal marks, the long words for
round numbers and the plural rule that picks them, one date pattern and its month names, the
language's own name) are a few kB, generated from Babel into ``cldr_data.py`` by
``tools/cldr.py``. ``tests/test_cldr.py`` checks that this writes exactly what Babel writes, for
many numbers and days, in every bundled language. ``known(language)`` is False for a language
that has a catalogue but no generated data yet (added without running the generator): ``i18n``
and ``format`` ask Babel for it then.

The algorithms are Babel's (``babel.numbers.NumberPattern.apply``, ``_get_compact_format``;
``babel.dates.DateTimeFormat``), cut to what the daemon asks for.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .cldr_data import LOCALES, PLURALS


def known(language: str) -> bool:
    return language in LOCALES


def _digits(value: Decimal, fraction: tuple[int, int], language: str, grouped: bool = True) -> str:
    """``value`` (not negative) rounded half-even to at most ``fraction[1]`` decimals, at least
    ``fraction[0]`` shown, grouped by threes with the language's marks."""
    data = LOCALES[language]
    whole, _, decimals = f"{value.quantize(Decimal(1).scaleb(-fraction[1])):f}".partition(".")
    if grouped:
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        whole = data["group"].join([whole, *groups])
    decimals = (decimals or "0").ljust(fraction[0], "0")
    if fraction[1] == 0 or (fraction[0] == 0 and int(decimals) == 0):
        return whole
    while len(decimals) > fraction[0] and decimals.endswith("0"):
        decimals = decimals[:-1]
    return whole + data["decimal"] + decimals


def _decimal(value: float | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def number(value: float | Decimal, language: str, decimals: int = 0) -> str:
    """Babel's ``format_decimal(value, "#,##0" [+ "." + "0" * decimals], locale=language)``."""
    exact = _decimal(value)
    return ("-" if exact.is_signed() else "") + _digits(abs(exact).normalize(), (decimals, decimals), language)


def _operands(value: Decimal) -> tuple:
    """CLDR's plural operands n, i, v, w, f, t, c, e of a number (``babel.plural.extract_operands``)."""
    n = abs(value)
    exponent = n.as_tuple().exponent
    shown = "".join(map(str, n.as_tuple().digits[exponent:])) if isinstance(exponent, int) and exponent < 0 else ""
    bare = shown.rstrip("0")
    return n, int(n), len(shown), len(bare), int(shown or 0), int(bare or 0), 0, 0


def plural(value: float | Decimal, language: str) -> str:
    """The number's CLDR plural category in the language: one, few, many, other…"""
    return PLURALS[language](*_operands(_decimal(value)))


def _precision(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _compact_form(value: Decimal, patterns: dict, language: str, fraction_digits: int):
    """The number to write and the (prefix, zeros, suffix) to write it in; None: no word for it."""
    magnitudes = sorted(patterns["other"], reverse=True)
    for index, magnitude in enumerate(magnitudes):
        if abs(value) < magnitude:
            continue
        if patterns["other"][magnitude] is None:  # "0": written as it is
            return value, None
        divisor = magnitude // 10 ** (patterns["other"][magnitude][1] - 1)
        rounded = round(value / divisor, fraction_digits)
        if index > 0 and abs(rounded) * divisor >= magnitudes[index - 1]:  # 999,999 is 1 million
            bumped = Decimal(magnitudes[index - 1]).copy_sign(value)
            return _compact_form(bumped, patterns, language, fraction_digits)
        form = plural(abs(rounded).normalize(), language)
        if form not in patterns:
            form = "other"
        if rounded == 1 and magnitude in patterns.get("1", {}):
            form = "1"
        if magnitude not in patterns[form]:
            form = "other"
        return rounded, patterns[form][magnitude]
    return value, None


def in_words(value: float | Decimal, language: str, fraction_digits: int = 0) -> str:
    """Babel's ``format_compact_decimal(value, format_type="long", locale=language, fraction_digits=…)``:
    1.25 million, 150 thousand / 1,25 мільйона, 150 тисяч."""
    exact = _decimal(value)
    shown, pattern = _compact_form(exact, LOCALES[language]["compact_long"], language, fraction_digits)
    prefix, _zeros, suffix = pattern or ("", 1, "")
    digits = _digits(abs(shown).normalize(), (0, _precision(abs(shown))), language, grouped=pattern is None)
    return ("-" if shown.is_signed() else "") + prefix + digits + suffix


def date(day: dt.date, language: str) -> str:
    """The day in the language's one date pattern (``format.DATE_PATTERNS``, else CLDR's medium)."""
    data = LOCALES[language]
    out = []
    for token in data["date"]:
        if isinstance(token, str):
            out.append(token)
            continue
        letter, count = token
        if letter == "d":
            out.append(f"{day.day:0{count}d}")
        elif letter in "ML" and count >= 3:
            out.append(data["months"][f"{letter}{count}"][day.month - 1])
        elif letter in "ML":
            out.append(f"{day.month:0{count}d}")
        else:  # y: the year, at least ``count`` digits; yy: its last two
            year = f"{day.year:0{count}d}"
            out.append(year[-2:] if count == 2 else year)
    return "".join(out)


def native_name(language: str) -> str:
    """The language's name in itself, capitalised: English, Українська."""
    return LOCALES[language]["native_name"]
