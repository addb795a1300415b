"""Every text a reader sees is in every bundled catalogue, and a catalogue is all a new language needs."""

import shutil
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tallywatch import bot, i18n
from tallywatch.detect.wording import metric_label
from tallywatch.extract.genstaff import METRICS

SRC = Path(i18n.__file__).parent
KEYWORDS = {"N_": None, "_": None, "gettext": (2,), "ngettext": (2, 3)}  # gettext(language, text)


def msgids() -> set[str | tuple[str, str]]:
    """What the code and the web app's templates ask a catalogue for: marked and literal texts, the
    bot's tables, category names."""
    found: set = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        SRC,
        method_map=[("**.py", "python"), ("web/templates/**.html", "jinja2.ext:babel_extract")],
        keywords=KEYWORDS,
    ):
        if isinstance(message, tuple):
            found.add(message[:2] if all(message[:2]) else message[0])
        elif message:
            found.add(message)
    found |= set(bot.TEXTS.values()) | {description for _name, description in bot.COMMANDS}
    found |= {metric_label(m) for m in (*METRICS, "srbm_launchers")}
    return found


@pytest.mark.parametrize("language", [lang for lang in i18n.languages() if lang != i18n.SOURCE])
def test_every_text_is_translated(language):
    path = SRC / "locale" / language / "LC_MESSAGES" / "tallywatch.po"
    with path.open("rb") as file:
        catalogue = read_po(file, locale=language)
    have = {}
    for message in catalogue:
        if message.id:
            key = tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id
            have[key] = message
    wanted = msgids()
    missing = sorted(str(m) for m in wanted if m not in have)
    assert missing == [], f"{language}: not in the catalogue: {missing}"
    for key in wanted:
        message = have[key]
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        assert all(strings) and not message.fuzzy, f"{language}: {key!r} is not translated"
        placeholders = {p for p in ("{name}", "{delta}", "{day}", "{n}", "{level}", "{value}") if p in str(key)}
        assert all(p in s for s in strings for p in placeholders), f"{language}: {key!r} loses a placeholder"


def test_a_milestone_is_a_rubizh_in_ukrainian():
    """A milestone is "рубіж" wherever the Ukrainian catalogue names one ("позначка", a mark, read oddly)."""
    with (SRC / "locale" / "uk" / "LC_MESSAGES" / "tallywatch.po").open("rb") as file:
        catalogue = read_po(file, locale="uk")
    said = [s for m in catalogue if m.id for s in (m.string if isinstance(m.string, (list, tuple)) else [m.string])]
    assert not [s for s in said if "позначк" in s.lower()]
    assert sum("рубіж" in s.lower() or "рубеж" in s.lower() for s in said) >= 10


def test_a_new_language_is_one_catalogue(tmp_path, monkeypatch):
    """A translator adds locale/de/…/tallywatch.po: German is offered, accepted and spoken, no Python touched."""
    import datetime as dt

    from tallywatch.config import Config, ConfigError
    from tallywatch.detect.wording import say

    folder = tmp_path / "locale"
    shutil.copytree(SRC / "locale", folder)
    german = folder / "de" / "LC_MESSAGES"
    german.mkdir(parents=True)
    text = (folder / "uk" / "LC_MESSAGES" / "tallywatch.po").read_text(encoding="utf-8")
    text = text.replace("Language: uk", "Language: de").replace(
        'msgstr "{name}: перейдено рубіж {level} — тепер {value}"',
        'msgstr "{name}: Marke {level} überschritten — jetzt {value}"',
    )
    text = text.replace('msgid "personnel"\nmsgstr "особовий склад"', 'msgid "personnel"\nmsgstr "Personal"')
    (german / "tallywatch.po").write_text(text, encoding="utf-8")
    monkeypatch.setattr(i18n, "_folder", lambda: folder)
    for cached in (i18n.languages, i18n.catalogue):
        cached.cache_clear()
    try:
        assert i18n.languages() == ("en", "de", "uk")
        assert i18n.native_name("de") == "Deutsch"
        config = Config.from_dict({"telegram": {"channels": [{"chat": "@kanal", "language": "de"}]}})
        assert config.telegram.channels[0].language == "de"
        said = say("milestone", "personnel", dt.date(2025, 6, 12), 1_000_340, {"level": 1_000_000}, "de")
        assert said == "Personal: Marke 1.000.000 überschritten — jetzt 1.000.340"  # German grouping (CLDR)
        with pytest.raises(ConfigError, match="no catalogue for language 'fr'"):
            Config.from_dict({"telegram": {"channels": [{"chat": "@kanal", "language": "fr"}]}})
    finally:
        for cached in (i18n.languages, i18n.catalogue):
            cached.cache_clear()
