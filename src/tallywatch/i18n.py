"""Words for people, in every language tallywatch speaks: gettext catalogues and CLDR formats.

Every text a reader sees is written in English in the code (the gettext ``msgid``) and
translated in a catalogue, one ``locale/<language>/LC_MESSAGES/tallywatch.po`` per language,
read when first needed (no compile step: ``_compiled`` turns the ``.po`` into what gettext reads).
A translator adds a language by adding its ``.po`` file: ``languages()`` finds it, and the bot
offers it. Numbers, percentages and dates follow the language's CLDR locale: ``1,002,690`` in
English, ``1 002 690`` with a no-break space in Ukrainian, so a number never wraps (dates:
``format.format_date``, one format a language). For the bundled languages they come from the few
CLDR values in ``cldr_data.py`` (``tallywatch.cldr``, tested equal to Babel's output), so the
daemon never loads Babel (about 9 MB); a language added without running ``tools/cldr.py`` is
worded by Babel itself.

Texts kept in tables (the bot's answers, category names) are marked with ``N_`` so that
``pybabel extract -k N_`` finds them; see ``locale/README.md``.
"""

from __future__ import annotations

import ast
import functools
import gettext as _gettext
import io
import struct
from collections.abc import Iterator
from importlib import resources

from . import cldr

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
    po = _folder() / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    return _gettext.GNUTranslations(io.BytesIO(_compiled(po.read_text(encoding="utf-8"))))


def _po_messages(text: str) -> dict[str, str]:
    """A ``.po`` file's messages as a ``.mo`` holds them, as Babel's ``read_po`` and ``write_mo``
    make them: the header, and each entry translated and not fuzzy (a plural one as
    ``msgid NUL plural`` → its forms joined by NUL; a context as ``context EOT msgid``). Comments
    and obsolete (``#~``) entries are left out; a line that is none of these is an error."""
    messages = {}
    for entry, fuzzy in _po_entries(text):
        msgid, plural = entry.get("msgid", ""), "msgid_plural" in entry
        if plural:
            forms = sorted((k for k in entry if k.startswith("msgstr[")), key=lambda k: int(k[7:-1]))
            msgid, string = f"{msgid}\0{entry['msgid_plural']}", "\0".join(entry[k] for k in forms)
        else:
            string = entry.get("msgstr", "")
        if "msgctxt" in entry:
            msgid = f"{entry['msgctxt']}\x04{msgid}"
        if msgid == "" or (not fuzzy and (string or plural)):
            messages[msgid] = string
    return messages


def _po_entries(text: str) -> Iterator[tuple[dict[str, str], bool]]:
    """Each entry of a ``.po`` file: its keywords' strings (``msgid``, ``msgstr[1]``, …), and whether it is fuzzy."""
    entry: dict[str, str] = {}
    fuzzy, key = False, ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if any(k.startswith("msgstr") for k in entry) and (
            not line or line.startswith("#") or line.split(" ", 1)[0] in ("msgctxt", "msgid")
        ):
            yield entry, fuzzy
            entry, fuzzy = {}, False
        if not line or line.startswith("#"):
            fuzzy = fuzzy or (line.startswith("#,") and "fuzzy" in {flag.strip() for flag in line[2:].split(",")})
        elif line.startswith('"') and key:
            entry[key] += ast.literal_eval(line)
        else:
            key, _, rest = line.partition(" ")
            if not (key in ("msgctxt", "msgid", "msgid_plural", "msgstr") or key.startswith("msgstr[")):
                raise ValueError(f"line {number}: {line[:40]!r} is not a .po keyword and string")
            entry[key] = ast.literal_eval(rest)
    if entry:
        yield entry, fuzzy


def _compiled(text: str) -> bytes:
    """A ``.po`` file's text as the bytes of a ``.mo`` file (GNU gettext's format), for ``GNUTranslations``."""
    messages = sorted((k.encode(), v.encode()) for k, v in _po_messages(text).items())
    keys_at = 7 * 4
    values_at = keys_at + 8 * len(messages)
    data_at = values_at + 8 * len(messages)
    keys, values, data = [], [], b""
    for table, pick in ((keys, 0), (values, 1)):
        for message in messages:
            table.append((len(message[pick]), data_at + len(data)))
            data += message[pick] + b"\0"
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(messages), keys_at, values_at, 0, 0)
    tables = b"".join(struct.pack("ii", *pair) for pair in (*keys, *values))
    return header + tables + data


def capitalized(text: str) -> str:
    """The first letter upper-case, the rest as written (``UAVs`` stays ``UAVs``, not ``Uavs``)."""
    return text[:1].upper() + text[1:]


@functools.cache
def native_name(language: str) -> str:
    """A language's name in itself, as a button offers it: English, Українська."""
    if cldr.known(language):
        return cldr.native_name(language)
    from babel import Locale

    return capitalized(Locale.parse(language).get_display_name(language) or language)


def gettext(language: str, text: str) -> str:
    return catalogue(language).gettext(text)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return catalogue(language).ngettext(singular, plural, n)


def number(value: float, language: str = SOURCE, decimals: int = 0) -> str:
    """A number grouped as the language groups it: 1,002,690 / 1 002 690 (no-break spaces)."""
    if cldr.known(language):
        return cldr.number(value, language, decimals)
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=language)


def in_words(value: int, language: str = SOURCE) -> str | None:
    """A round number as people say it, in the language's CLDR words: 1 million, 1.25 million,
    150 thousand / 1 мільйон, 150 тисяч (the number and its word held together by a no-break
    space); None for one that words would round (1,000,340) or that has no word (500)."""
    if value < 1_000:
        return None
    unit = 1_000 ** ((len(str(value)) - 1) // 3)  # a thousand, a million, a billion
    if value % (unit // 100):  # more than two decimals of its unit: not round
        return None
    if cldr.known(language):
        said = cldr.in_words(value, language, fraction_digits=2)
    else:
        from babel.numbers import format_compact_decimal

        said = format_compact_decimal(value, format_type="long", locale=language, fraction_digits=2)
    return said.replace(" ", "\u00a0")
