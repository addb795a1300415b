"""Words for people, in every language tallywatch speaks: gettext catalogues and CLDR formats.

Every text a reader sees is written in English in the code (the gettext ``msgid``) and
translated in a catalogue, one ``locale/<language>/LC_MESSAGES/tallywatch.po`` per language,
read with Babel when first needed (no compile step). A translator adds a language by adding its
``.po`` file: ``languages()`` finds it, and the bot offers it. Numbers, percentages and dates
follow the language's CLDR locale through Babel: ``1,002,690`` in English, ``1 002 690`` with a
no-break space in Ukrainian, so a number never wraps (dates: ``format.format_date``, one format a language).

Texts kept in tables (the bot's answers, category names) are marked with ``N_`` so that
``pybabel extract -k N_`` finds them; see ``locale/README.md``.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from importlib import resources

SOURCE = "en"  # the language the code is written in
DOMAIN = "tallywatch"


def N_(text: str) -> str:
    return text


def _folder():
    return resources.files("tallywatch") / "locale"


@functools.cache
def languages() -> tuple[str, ...]:
    """English, then every language a catalogue is bundled for."""
    found = sorted(
        entry.name
        for entry in _folder().iterdir()
        if entry.is_dir() and (entry / "LC_MESSAGES" / f"{DOMAIN}.po").is_file() and entry.name != SOURCE
    )
    return (SOURCE, *found)


@functools.cache
def catalogue(language: str) -> _gettext.NullTranslations:
    """The language's translations (the source language, or one unknown: the English as written)."""
    if language == SOURCE or language not in languages():
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    po = _folder() / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as file:
        parsed = read_po(file, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, parsed)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def capitalized(text: str) -> str:
    """The first letter upper-case, the rest as written (``UAVs`` stays ``UAVs``, not ``Uavs``)."""
    return text[:1].upper() + text[1:]


@functools.cache
def native_name(language: str) -> str:
    """A language's name in itself, as a button offers it: English, Українська."""
    from babel import Locale

    return capitalized(Locale.parse(language).get_display_name(language) or language)


def gettext(language: str, text: str) -> str:
    return catalogue(language).gettext(text)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return catalogue(language).ngettext(singular, plural, n)


def number(value: float, language: str = SOURCE, decimals: int = 0) -> str:
    """A number grouped as the language groups it: 1,002,690 / 1 002 690 (no-break spaces)."""
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=language)


def in_words(value: int, language: str = SOURCE) -> str | None:
    """A round number as people say it, in the language's CLDR words: 1 million, 1.25 million,
    150 thousand / 1 мільйон, 150 тисяч (the number and its word held together by a no-break
    space); None for one that words would round (1,000,340) or that has no word (500)."""
    from babel.numbers import format_compact_decimal

    if value < 1_000:
        return None
    unit = 1_000 ** ((len(str(value)) - 1) // 3)  # a thousand, a million, a billion
    if value % (unit // 100):  # more than two decimals of its unit: not round
        return None
    said = format_compact_decimal(value, format_type="long", locale=language, fraction_digits=2)
    return said.replace(" ", "\u00a0")
