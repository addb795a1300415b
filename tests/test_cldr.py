"""The CLDR data generated for the bundled languages (tools/cldr.py → cldr_data.py) writes what
Babel writes: numbers, round numbers in words, days, plural forms, language names, and the
catalogues read without Babel hold what Babel reads from them. Babel is imported here and by the
generator only; the daemon never loads it for a bundled language (tests/test_footprint.py)."""

import datetime as dt
import gettext
import io
import subprocess
import sys
from pathlib import Path

import pytest
from babel import Locale
from babel.dates import format_date as babel_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_compact_decimal, format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from tallywatch import cldr, i18n
from tallywatch.format import DATE_PATTERNS, format_date, format_number

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = i18n.languages()
many = settings(max_examples=300, deadline=None)


def test_every_bundled_language_has_its_data_and_the_data_is_what_the_generator_writes_now():
    assert all(cldr.known(language) for language in LANGUAGES)
    fresh = subprocess.run([sys.executable, str(ROOT / "tools" / "cldr.py"), "--check"], capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stderr


@many
@given(language=st.sampled_from(LANGUAGES), value=st.integers(-(10**15), 10**15))
def test_a_whole_number_is_grouped_as_babel_groups_it(language, value):
    assert format_number(value, language) == format_decimal(value, format="#,##0", locale=language)


@many
@given(
    language=st.sampled_from(LANGUAGES),
    value=st.floats(-1e9, 1e9, allow_nan=False) | st.decimals(-(10**9), 10**9, places=4, allow_nan=False),
    decimals=st.integers(0, 3),
)
def test_a_number_with_decimals_is_rounded_and_written_as_babel_writes_it(language, value, decimals):
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    assert i18n.number(value, language, decimals) == format_decimal(value, format=pattern, locale=language)


round_numbers = st.builds(lambda digits, zeros: digits * 10**zeros, st.integers(1, 99_999), st.integers(0, 13)).filter(
    lambda v: v >= 1_000
)


@many
@given(language=st.sampled_from(LANGUAGES), value=round_numbers | st.integers(0, 10**16))
def test_a_number_in_words_is_babels_long_compact_form(language, value):
    babel = format_compact_decimal(value, format_type="long", locale=language, fraction_digits=2)
    assert cldr.in_words(value, language, fraction_digits=2) == babel
    said = i18n.in_words(value, language)
    assert said is None or said == babel.replace(" ", "\u00a0")


def test_round_numbers_in_words_in_english_and_ukrainian():
    assert [i18n.in_words(v, "en") for v in (1_000_000, 1_250_000, 150_000, 1_000_340)] == [
        "1\u00a0million",
        "1.25\u00a0million",
        "150\u00a0thousand",
        None,
    ]
    assert [i18n.in_words(v, "uk") for v in (1_000_000, 2_000_000, 5_000_000, 1_250_000, 21_000)] == [
        "1\u00a0мільйон",
        "2\u00a0мільйони",
        "5\u00a0мільйонів",
        "1,25\u00a0мільйона",
        "21\u00a0тисяча",
    ]


@many
@given(language=st.sampled_from(LANGUAGES), day=st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)))
def test_a_day_is_written_as_babel_writes_it(language, day):
    assert format_date(day, language) == babel_date(day, DATE_PATTERNS.get(language, "medium"), locale=language)


@many
@given(
    language=st.sampled_from(LANGUAGES),
    value=st.integers(0, 10**6) | st.decimals(0, 10**4, places=3, allow_nan=False, allow_infinity=False),
)
def test_the_plural_form_is_cldrs_as_babel_computes_it(language, value):
    assert cldr.plural(value, language) == Locale.parse(language).plural_form(value)


def test_each_language_is_named_in_itself():
    assert [i18n.native_name(language) for language in LANGUAGES] == [
        i18n.capitalized(Locale.parse(language).get_display_name(language)) for language in LANGUAGES
    ]
    assert i18n.native_name("uk") == "Українська"


def babel_catalogue(text: str, language: str) -> gettext.GNUTranslations:
    compiled = io.BytesIO()
    write_mo(compiled, read_po(io.BytesIO(text.encode()), locale=language, domain=i18n.DOMAIN))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def same(ours, babels) -> None:
    drop_header = lambda catalogue: {k: v for k, v in catalogue._catalog.items() if k != ""}  # noqa: E731
    assert drop_header(ours) == drop_header(babels)
    assert [ours.plural(n) for n in range(300)] == [babels.plural(n) for n in range(300)]


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != i18n.SOURCE])
def test_a_bundled_catalogue_read_without_babel_holds_what_babel_reads(language):
    text = (i18n._folder() / language / "LC_MESSAGES" / "tallywatch.po").read_text(encoding="utf-8")
    same(i18n.catalogue(language), babel_catalogue(text, language))


TRICKY = r"""# a translator's comment
msgid ""
msgstr ""
"Language: uk\n"
"Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);\n"
"Content-Type: text/plain; charset=utf-8\n"

#. an extracted comment
#: bot.py:10
#, python-brace-format
msgid "{n} tanks"
msgstr "{n} танків"

#, fuzzy
msgid "still a guess"
msgstr "ще здогад"

msgid "not yet"
msgstr ""

msgctxt "button"
msgid "Back"
msgstr "Назад"

msgid ""
"two "
"lines\n"
msgstr ""
"два "
"рядки\n"
"з \"лапками\" і \\ \t табом"

msgid "one day"
msgid_plural "{n} days"
msgstr[0] "{n} день"
msgstr[1] "{n} дні"
msgstr[2] "{n} днів"

#, fuzzy, python-format
msgid "a fuzzy plural"
msgid_plural "fuzzy plurals"
msgstr[0] "a"
msgstr[1] "b"
msgstr[2] "c"
#~ msgid "gone"
#~ msgstr "зникло"
"""


def test_comments_fuzzy_empty_context_continued_and_plural_entries_are_read_as_babel_reads_them():
    mine = gettext.GNUTranslations(io.BytesIO(i18n._compiled(TRICKY)))
    same(mine, babel_catalogue(TRICKY, "uk"))
    assert mine.gettext("still a guess") == "still a guess" and mine.gettext("not yet") == "not yet"
    assert mine.pgettext("button", "Back") == "Назад" and mine.ngettext("one day", "{n} days", 22) == "{n} дні"


def test_a_line_that_is_not_po_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"line 2: 'msgstrr \"x\"' is not a \.po keyword"):
        i18n._compiled('msgid "a"\nmsgstrr "x"\n')


def test_a_language_with_no_generated_data_is_worded_by_babel():
    assert not cldr.known("de")
    assert i18n.number(1_000_340, "de") == "1.000.340" and format_date(dt.date(2025, 6, 12), "de") == "12.06.2025"
    assert i18n.in_words(1_250_000, "de") == "1,25\u00a0Millionen" and i18n.native_name("de") == "Deutsch"
