"""mod.gov.ua's 2026 report pages: the day's summary line is never read as the totals.

Every page here is ours, built from the description of the 2026 pages (see ``genstaff_cases``,
``mod_2026_page``): no whole page of that site is saved anywhere.
"""

import datetime as dt
import logging

import pytest
from genstaff_cases import (
    APRIL_12_2026,
    DAY_NUMBERS_2026_04_11,
    DAY_SUMMARIES,
    JUNE_14_2025,
    MAY_12_2026,
    MOD_2026_04_12_EN_BULLETS,
    MOD_2026_05_12_EN_PAGE,
    MOD_2026_05_12_UK_PAGE,
    NEWS_2025_EN,
    mod_2026_page,
)

from tallywatch.extract.genstaff import read, read_text
from tallywatch.models import Document
from tallywatch.sources import html

APRIL_12 = dt.date(2026, 4, 12)
SUMMARIES = [(name[:2], summary) for name, summary in DAY_SUMMARIES.items()]


def _table(figures):
    table = {}
    for f in figures:
        table.setdefault(f.as_of, {})[f.metric] = (f.value, f.reported_delta)
    return table


@pytest.mark.parametrize("where", ["before", "inside", "after"])
@pytest.mark.parametrize(("language", "summary"), SUMMARIES, ids=list(DAY_SUMMARIES))
def test_the_day_summary_before_inside_or_after_the_list_is_never_the_totals(language, summary, where, caplog):
    page = mod_2026_page(language, summary, where)
    with caplog.at_level(logging.WARNING, logger="tallywatch.extract"):
        reading = read_text(page, APRIL_12)
    assert _table(reading.figures) == {APRIL_12: APRIL_12_2026}  # the report's totals, of 12 April only
    assert (reading.verdict, reading.coverage, reading.problems) == ("report", "complete", ())
    for figure in reading.figures:
        assert figure.value != DAY_NUMBERS_2026_04_11.get(figure.metric), figure  # no day number as a total
    assert [r.getMessage() for r in caplog.records] == []  # recognised as a summary, not a second figure


@pytest.mark.parametrize(("language", "summary"), SUMMARIES, ids=list(DAY_SUMMARIES))
def test_a_day_summary_alone_makes_no_report(language, summary):
    """Not of 11 April (the day it names), not of the day it is published: it has no totals."""
    for text in (summary, f"<p>{summary}</p>", summary.replace(", ", "\n")):
        reading = read_text(text, APRIL_12)
        assert (reading.figures, reading.verdict) == ([], "not_report"), text


@pytest.mark.parametrize(
    ("language", "lines"),
    [
        ("en", ["Latest figures:", "personnel – 1,070", "UAVs – 2,081"]),
        ("uk", ["Останні дані:", "особового складу – 1 070", "БпЛА – 2 081"]),
    ],
)
def test_a_day_number_in_a_wording_not_known_yet_gives_way_to_the_total_whose_change_it_is(language, lines, caplog):
    """Defence in depth: a summary no marker catches, its figures on lines of their own before the
    list. A metric's first value equal to the change printed beside its second is the day's number:
    the total wins, and the log says so."""
    page = mod_2026_page(language).replace("<ul>", "".join(f"<p>{line}</p>" for line in lines) + "<ul>")
    with caplog.at_level(logging.WARNING, logger="tallywatch.extract"):
        reading = read_text(page, APRIL_12, where=f"mod-{language}")
    assert _table(reading.figures) == {APRIL_12: APRIL_12_2026}
    assert (reading.verdict, reading.coverage) == ("report", "complete")
    assert [r.getMessage() for r in caplog.records] == [
        f"mod-{language}: report of 2026-04-12 gives personnel 1,070 and then 1,311,180 (+1,070): kept the total",
        f"mod-{language}: report of 2026-04-12 gives uav 2,081 and then 233,866 (+2,081): kept the total",
    ]


def test_a_first_value_is_kept_unless_the_later_one_prints_it_as_its_change():
    """The rule above is narrow: a day's number before the list gives way only to the total printed
    with that number as its change; any other second value of a metric is dropped, as before."""

    def tanks(page):
        return {f.metric: f.value for f in read_text(page, APRIL_12).figures}["tanks"]

    page = mod_2026_page("en")
    assert tanks(page.replace("<ul>", "<p>tanks ‒ 8</p><ul>")) == 11_859  # the list prints "(+8)"
    assert tanks(page.replace("<ul>", "<p>tanks ‒ 9</p><ul>")) == 9  # no "(+9)": the first is kept
    inside = page.replace("<li>tanks ‒ 11 859 (+8);</li>", "<li>tanks ‒ 11 859 (+8);</li><li>tanks ‒ 8</li>")
    assert tanks(inside) == 11_859  # the total came first


def test_a_page_titled_with_the_day_summary_is_dated_by_its_publication():
    """ "… over the last day: 880 persons, 261 UAVs and 42 artillery systems" names no date: the
    list is the report of the day the page was published, and 880 is nobody's total."""
    title = (
        "The estimated combat losses of russians over the last day: 1 070 persons, 2 081 UAVs and 73 artillery systems"
    )
    body = "<ul>" + "".join(f"<li>{b}</li>" for b in MOD_2026_04_12_EN_BULLETS) + "</ul>"
    document = Document(
        source="mod",
        guid="https://mod.gov.ua/en/news/x",
        title=title,
        text=f"<h1>{title}</h1>{body}",
        published=dt.datetime(2026, 4, 12, 7, 32, tzinfo=dt.timezone(dt.timedelta(hours=3))),
    )
    reading = read(document)
    assert _table(reading.figures) == {APRIL_12: APRIL_12_2026}
    assert reading.verdict == "report"


def test_a_summary_shaped_like_a_header_does_not_keep_the_title_from_dating_the_page():
    """The title is the header when the text has none; "Бойові втрати ворога за минулу добу на 11
    квітня …" in the text is a day summary, not a header that would make the title unneeded."""
    page = mod_2026_page("uk", DAY_SUMMARIES["uk-header-shaped"]).replace(
        "<h1>Бойові втрати ворога на 12 квітня 2026 року</h1>", ""
    )
    document = Document(source="mod-uk", guid="u", title="Бойові втрати ворога на 12 квітня 2026 року", text=page)
    reading = read(document)  # no publication time: only the title dates it
    assert _table(reading.figures) == {APRIL_12: APRIL_12_2026}
    assert (reading.verdict, reading.coverage) == ("report", "complete")


def test_a_report_on_one_line_that_speaks_of_the_past_day_after_its_header_is_still_read():
    """Only a line's lead-in (before its first colon or dash) can make it a day summary: a report
    printed on one line, with a remark on the past day after its list, is a report."""
    text = NEWS_2025_EN + " The enemy lost the most over the past day in the Pokrovsk direction."
    reading = read_text(text, dt.date(2025, 6, 14))
    assert _table(reading.figures) == {dt.date(2025, 6, 14): JUNE_14_2025}
    assert reading.verdict == "report"


@pytest.mark.parametrize(
    ("printed", "label"),
    [
        ("armored fighting vehicles", "armoured fighting vehicles"),
        ("armored fighting vehicles", "armored fighting vehicle"),
        ("air defense assets", "air defence assets"),
        ("air defense assets", "air defense asset"),
        ("air defense assets", "air-defense assets"),
        ("UAVs (operational-tactical level)", "UAV (operational-tactical level)"),
        ("UAVs (operational-tactical level)", "drones (operational-tactical level)"),
        ("warships and boats", "warships and boat"),
    ],
)
def test_the_2026_english_labels_read_as_their_metric_in_either_spelling(printed, label):
    """The 2026 labels are synonyms of their metrics, not near misses of older labels: singular
    or plural, British or American spelling, a hyphen, give the same category."""
    page = mod_2026_page("en")
    assert f"<li>{printed} ‒" in page
    reading = read_text(page.replace(f"<li>{printed} ‒", f"<li>{label} ‒"), APRIL_12)
    assert _table(reading.figures) == {APRIL_12: APRIL_12_2026}
    assert reading.verdict == "report"


@pytest.mark.parametrize("label", ["unmanned ground vehicles", "unmanned ground vehicle", "Unmanned Ground Vehicles"])
def test_unmanned_ground_vehicles_are_ground_robots(label):
    page = mod_2026_page("en").replace("</ul>", f"<li>{label} ‒ 1 373 (+2).</li></ul>")
    figures = {f.metric: (f.value, f.reported_delta) for f in read_text(page, APRIL_12).figures}
    assert figures == {**APRIL_12_2026, "ground_robots": (1_373, 2)}


@pytest.mark.parametrize("page", [MOD_2026_05_12_EN_PAGE, MOD_2026_05_12_UK_PAGE], ids=["en", "uk"])
@pytest.mark.parametrize("selector", ["body", "main", "article"])
def test_the_whole_page_through_the_html_source_gives_the_day_s_figures_and_the_sidebar_none(page, selector):
    """As the mod source reads it, whatever element its selector names: the page's title is its
    h1, the sidebar's links (other days' report titles) make no reports, the summary no figures."""
    document = html.page_document(page.encode(), "mod", selector, "https://mod.gov.ua/en/news/x")
    reading = read(document)
    assert _table(reading.figures) == {dt.date(2026, 5, 12): MAY_12_2026}
    assert (reading.verdict, reading.coverage, reading.problems) == ("report", "complete", ())


def _sidebar_before_the_list(page: str) -> str:
    """The page with its sidebar of other days' report titles moved between the title and the list."""
    aside = page[page.index("<aside>") : page.index("</aside>") + len("</aside>")]
    page = page.replace(aside, "")
    return page.replace("<ul>\n<li>", aside + "\n<ul>\n<li>", 1)


@pytest.mark.parametrize("page", [MOD_2026_05_12_EN_PAGE, MOD_2026_05_12_UK_PAGE], ids=["en", "uk"])
def test_other_days_titles_between_the_page_s_title_and_its_list_do_not_take_the_list(page, caplog):
    """A page is the report its title names: links to other days' reports printed between its
    header and its list (a sidebar, "read also") start no report that would take the list."""
    page = _sidebar_before_the_list(page)
    assert page.index("<aside>") < page.index("<ul>\n<li>") < page.index("</article>")
    document = html.page_document(page.encode(), "mod", "body", "https://mod.gov.ua/en/news/x")
    with caplog.at_level(logging.WARNING, logger="tallywatch.extract"):
        reading = read(document)
    assert _table(reading.figures) == {dt.date(2026, 5, 12): MAY_12_2026}
    assert (reading.verdict, reading.coverage, reading.problems) == ("report", "complete", ())
    assert caplog.records == []


def test_other_days_reports_after_the_titled_one_are_still_read():
    """Only until the titled report has a category: a digest of several days keeps them all."""
    bullets = "\n".join(MOD_2026_04_12_EN_BULLETS)  # the same figures twice: the dates are what is tested
    text = f"Combat losses of the enemy as of April 12, 2026:\n{bullets}\nCombat losses of the enemy as of April 11, 2026:\n{bullets}"
    document = Document(
        source="digest", guid="d", title="Total combat losses of the enemy as of April 12, 2026", text=text
    )
    reading = read(document)
    assert _table(reading.figures) == {APRIL_12: APRIL_12_2026, dt.date(2026, 4, 11): APRIL_12_2026}
