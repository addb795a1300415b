import datetime as dt
import json
import logging

import pytest
from genstaff_cases import CASES, FIXTURES, NOT_REPORTS, REAL, REAL_CASES, Case

from tallywatch import history
from tallywatch.extract import dates
from tallywatch.extract.genstaff import extract, extract_text, read, read_text
from tallywatch.models import Document
from tallywatch.sources import html
from tallywatch.sources.http import FetchError


def _as_table(figures):
    table = {}
    for f in figures:
        table.setdefault(f.as_of, {})[f.metric] = (f.value, f.reported_delta)
    return table


def read_case(case: Case):
    """A case as a source reads it: a saved page through the html source and its selector, or the text."""
    if case.page is not None:
        document = html.page_document(case.page.read_bytes(), "case", case.selector, "https://example.org/report")
        return read(document)
    return read_text(case.text, case.published)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_form_of_the_report_gives_its_exact_figures_and_date(case, caplog):
    with caplog.at_level(logging.WARNING, logger="tallywatch.extract"):
        reading = read_case(case)
    assert _as_table(reading.figures) == case.expected
    assert (reading.verdict, reading.coverage) == ("report", case.coverage)
    assert [r.getMessage() for r in caplog.records] == []  # every line of every case was read


def test_the_table_covers_every_real_page_and_every_real_day():
    pages = {c.page for c in REAL_CASES if c.page}
    assert pages == {p for p in REAL.glob("*/*.html") if p.parent.name in ("kmu", "mil") and "bot_" not in p.name}
    days = json.loads((REAL / "texts" / "item_lines_by_day.json").read_text(encoding="utf-8"))
    assert {c.published.isoformat() for c in REAL_CASES if c.page is None} == set(days)


# Where the published text differs from the dataset, the text wins; none of the real samples does.
TEXT_DIFFERS_FROM_DATASET: dict[tuple[dt.date, str], str] = {}


@pytest.mark.parametrize("case", REAL_CASES + [c for c in CASES if c.origin == "ours"], ids=lambda c: c.name)
def test_real_cases_agree_with_the_reference_dataset(case):
    """The independent daily series (fixtures: src/tallywatch/data/SOURCE.md) confirms every figure read."""
    series = history.daily()
    for day, figures in case.expected.items():
        reference = {f.metric: f.value for f in series[day]}
        for metric, (value, _delta) in figures.items():
            if (day, metric) in TEXT_DIFFERS_FROM_DATASET or metric not in reference:
                continue
            assert value == reference[metric], f"{day} {metric}: text {value}, dataset {reference[metric]}"


def test_a_bot_wall_instead_of_the_report_page_is_an_error_saying_so():
    content = (REAL / "kmu" / "bot_ukraine_stats_2023-09-30.html").read_bytes()
    with pytest.raises(FetchError) as err:
        html.page_document(content, "kmu", "div.news__item--inner", "https://www.kmu.gov.ua/en/news/x")
    assert (
        str(err.value)
        == "bot check page (ShieldSquare Captcha) instead of the page at https://www.kmu.gov.ua/en/news/x"
    )


@pytest.mark.parametrize("text", NOT_REPORTS)
def test_posts_that_are_not_reports_yield_nothing(text, caplog):
    with caplog.at_level(logging.WARNING):
        reading = read_text(text, dt.date(2025, 6, 14))
    assert (reading.figures, reading.verdict) == ([], "not_report")
    assert caplog.records == []


def test_real_pages_of_other_kinds_are_not_reports():
    for page in (REAL / "telegram").glob("*.html"):
        reading = read(html.page_document(page.read_bytes(), "x", "body", "https://t.me/s/x"))
        assert (reading.figures, reading.verdict) == ([], "not_report"), page.name


def _mil_gov_ua_posts():
    posts = json.loads((FIXTURES / "genstaff_posts" / "mil_gov_ua_en_2022.json").read_text(encoding="utf-8"))
    posts += json.loads((FIXTURES / "genstaff_posts" / "mil_gov_ua_uk_2022-07-08.json").read_text(encoding="utf-8"))
    return posts


@pytest.mark.parametrize("field", ["html_fragment", "text"])
def test_all_84_mil_gov_ua_posts_match_the_dataset(field):
    """Every real mil.gov.ua post, raw HTML and text, against the independent daily dataset.

    The dataset was later corrected for some equipment counts; personnel and tanks are the
    columns its notes confirm equal to every post (fixtures/SOURCE.md).
    """
    series = history.daily()
    posts = _mil_gov_ua_posts()
    assert len(posts) == 84
    for post in posts:
        day = dt.date.fromisoformat(post["report_date"])
        published = day  # one page lacks its publication date; its report date is the same day
        got = {f.metric: f.value for f in extract_text(post[field], published)}
        want = {f.metric: f.value for f in series[day]}
        assert got, post["report_date"]
        assert {f.as_of for f in extract_text(post[field], published)} == {day}
        assert (got["personnel"], got["tanks"]) == (want["personnel"], want["tanks"]), post["report_date"]
        if post["report_date"] == "2022-07-31":
            # the real post reads "vehicles and fuel tanks ‒ (+2)." and lacks special equipment
            assert "vehicles" not in got and len(got) == 11
        else:
            assert len(got) >= 13


def test_a_category_line_without_its_number_is_logged_and_the_rest_kept(caplog):
    posts = {p["report_date"]: p for p in _mil_gov_ua_posts()}
    with caplog.at_level(logging.WARNING, logger="tallywatch.extract"):
        figures = extract_text(posts["2022-07-31"]["html_fragment"], dt.date(2022, 7, 31), where="mil.gov.ua")
    assert {f.metric: f.value for f in figures}["warships"] == 15
    assert any("could not be read: 'vehicles and fuel tanks ‒ (+2).'" in r.getMessage() for r in caplog.records)
    reading = read_text(posts["2022-07-31"]["html_fragment"], dt.date(2022, 7, 31))
    # all nine core metrics are there: a report, read partly (a line skipped), not a broken one
    assert (reading.verdict, reading.coverage) == ("report", "partial")
    assert reading.problems == ("report of 2022-07-31: 1 line(s) not read",)


def test_year_comes_from_the_publication_date_and_turns_over_at_new_year():
    text = "The total combat losses of the enemy from 24.02 to 31.12 were approximately:\ntanks ‒ 3,010 (+2),"
    (fig,) = extract_text(text, dt.date(2023, 1, 1))
    assert fig.as_of == dt.date(2022, 12, 31)


def test_date_only_in_the_title():
    doc = Document(
        source="s",
        guid="g",
        title="The total combat losses of the enemy from 24.02.2022 to 14.06.2025 were approximately:",
        text="<p>personnel ‒ about 1 002 690 (+1 130) persons</p><p>tanks ‒ 10937 (+3)</p>",
    )
    assert _as_table(extract(doc)) == {dt.date(2025, 6, 14): {"personnel": (1002690, 1130), "tanks": (10937, 3)}}


def test_unknown_category_is_kept_under_a_derived_name():
    text = (
        "Загальні бойові втрати противника з 24.02.2022 по 14.06.2026 орієнтовно склали:\n"
        "особового складу ‒ близько 1 456 610 (+1 050) осіб\n"
        "наземних робототехнічних комплексів ‒ 2 162 (+4)\n"
        "лазерних систем ‒ 3 (+1)\n"
        "Laser weapons ‒ 3 (+1)\n"
    )
    got = {f.metric: f.value for f in extract_text(text)}
    assert got == {"personnel": 1456610, "ground_robots": 2162, "lazernykh_system": 3, "laser_weapons": 3}


def test_partial_report_is_logged_with_what_is_missing(caplog):
    text = "The total combat losses of the enemy from 24.02 to 12.06 were approximately:\npersonnel ‒ about 1000340 (+1140)"
    with caplog.at_level(logging.WARNING, logger="tallywatch.extract"):
        figures = extract_text(text, dt.date(2025, 6, 12), where="feed item 7")
    assert [(f.metric, f.value) for f in figures] == [("personnel", 1000340)]
    (record,) = caplog.records
    assert "feed item 7" in record.getMessage()
    assert "parsed only partly: missing tanks, armoured_vehicles" in record.getMessage()


def test_lines_after_the_list_are_not_figures():
    """Reposter commentary with a dash and a number after the list must not become a metric."""
    text = (FIXTURES / "genstaff_posts" / "telegram_repost_uk_2022-04-30.txt").read_text(encoding="utf-8")
    assert "Юбилей - 1000" in text
    metrics = {f.metric for f in extract_text(text, dt.date(2022, 4, 30))}
    assert not any("iubyl" in m or "юб" in m for m in metrics)
    assert all(m.isascii() for m in metrics)


def _kmu_page(day: str) -> bytes:
    return (REAL / "kmu" / f"ukraine_stats_{day}.html").read_bytes()


def test_a_line_that_cannot_be_read_is_skipped_and_logged_and_the_report_goes_on(caplog):
    """A real page with one category line broken in the middle of the list (the edit is ours)."""
    content = _kmu_page("2023-12-15").replace("<li>APV ‒ 10654 (+38),</li>".encode(), "<li>APV ‒ (+38),</li>".encode())
    with caplog.at_level(logging.WARNING, logger="tallywatch.extract"):
        reading = read(html.page_document(content, "kmu", "div.news__item--inner", "https://kmu/r"))
    got = {f.metric: f.value for f in reading.figures}
    assert "armoured_vehicles" not in got and len(got) == 13
    assert got["special_equipment"] == 1189  # the last line, after the broken one, is read
    assert (reading.verdict, reading.coverage) == ("broken", "partial")
    assert reading.problems == (
        "report of 2023-12-15: missing armoured_vehicles",
        "report of 2023-12-15: 1 line(s) not read",
    )
    assert "kmu item https://kmu/r: report of 2023-12-15 has a line that could not be read: 'APV ‒ (+38),'" in [
        r.getMessage() for r in caplog.records
    ]


def test_a_report_whose_lines_cannot_be_read_at_all_is_broken_and_unread():
    content = _kmu_page("2023-08-16")
    for line in ("tanks ‒ 4324", "APV ‒ 8380", "artillery systems – 5152", "MLRS – 714", "personnel ‒ about 255570"):
        content = content.replace(line.encode(), line.split(" ", 1)[0].encode() + " ‒ n/a".encode())
    page = html.page_document(content, "kmu", "div.news__item--inner", "https://kmu/r")
    page = Document(page.source, page.guid, "\n".join(page.text.splitlines()[:6]), page.title, page.link)
    reading = read(page)
    assert (reading.figures, reading.verdict, reading.coverage) == ([], "broken", "unread")
    assert reading.problems[0].startswith("report of 2023-08-16: missing personnel, tanks, armoured_vehicles")


def test_a_full_list_without_a_header_is_dated_by_its_publication_and_without_one_is_broken():
    lines = json.loads((REAL / "texts" / "item_lines_by_day.json").read_text(encoding="utf-8"))["2024-03-10"]
    assert {f.as_of for f in read_text(lines, dt.date(2024, 3, 10)).figures} == {dt.date(2024, 3, 10)}
    undated = read_text(lines, None)
    assert (undated.figures, undated.verdict, undated.problems) == ([], "broken", ("a list of losses without a date",))
    # a few category-like lines in an ordinary text are not a report
    assert read_text("tanks – 5, helicopters – 2", dt.date(2024, 3, 10)).verdict == "not_report"


def test_a_variant_of_a_known_label_is_that_category_never_a_phantom_metric():
    text = "Total combat losses of the enemy as of 14.06.2025:\n" + "\n".join(
        f"{label} ‒ {value}"
        for label, value in [
            ("personnel", 1002690),
            ("tankss", 10937),
            ("armored combat vehicle", 22798),
            ("artilery systems", 29157),
            ("MLRS", 1417),
            ("air defence system", 1185),
            ("aircraft", 416),
            ("helicoptres", 337),
            ("UAVs", 40586),
            ("laser weapons", 3),
        ]
    )
    got = {f.metric: f.value for f in read_text(text).figures}
    assert got == {
        "personnel": 1002690,
        "tanks": 10937,
        "armoured_vehicles": 22798,
        "artillery": 29157,
        "mlrs": 1417,
        "air_defense": 1185,
        "aircraft": 416,
        "helicopters": 337,
        "uav": 40586,
        "laser_weapons": 3,  # a genuinely new category keeps a name of its own
    }


@pytest.mark.parametrize(
    ("printed", "published", "expected"),
    [
        ("31.12", dt.date(2023, 1, 1), dt.date(2022, 12, 31)),  # read on 1 January: last year's
        ("01.01", dt.date(2023, 1, 1), dt.date(2023, 1, 1)),
        ("14.06", dt.date(2025, 6, 14), dt.date(2025, 6, 14)),
        ("15.06", dt.date(2025, 6, 14), dt.date(2025, 6, 15)),  # a day's grace for time zones
        ("20.06", dt.date(2025, 6, 14), dt.date(2024, 6, 20)),  # never a date in the future
        ("29.02", dt.date(2025, 3, 1), dt.date(2024, 2, 29)),
    ],
)
def test_a_header_without_a_year_takes_the_year_nearest_before_publication(printed, published, expected):
    assert dates.parse(printed, published) == expected
    text = f"The total combat losses of the enemy from 24.02 to {printed} were approximately:\npersonnel ‒ about 1000 (+10)"
    assert {f.as_of for f in read_text(text, published).figures} == {expected}


def test_a_page_without_a_year_in_its_header_is_dated_by_the_page_itself():
    """mil.gov.ua's "from 24.02 to 18.07": the page's own date line (2022-07-18 09:10) gives the year."""
    page = html.page_document((REAL / "mil" / "mil_2022-07-18.html").read_bytes(), "mil", "#aticle-content", "u")
    assert page.published.isoformat() == "2022-07-18T09:10:00+03:00"
    assert {f.as_of for f in read(page).figures} == {dt.date(2022, 7, 18)}


DATE_ONLY_PAGE = """<html><head><meta property="article:published_time" content="2023-01-01"></head>
<body><div class="r">The total combat losses of the enemy from 24.02 to 31.12 were approximately:<br>
personnel ‒ about 1000 (+10)</div></body></html>"""


def test_a_page_that_gives_only_a_day_is_dated_by_it_without_a_time():
    """A day without a time of day (a date-only meta, a dated URL) dates the report, and is no
    publication time: 00:00 would teach the source's window a time nobody published at."""
    page = html.page_document(DATE_ONLY_PAGE.encode(), "x", "div.r", "u")
    assert page.published is None and page.day == dt.date(2023, 1, 1)
    assert {f.as_of for f in read(page).figures} == {dt.date(2022, 12, 31)}  # read on 1 January: last year's
    dated = html.page_document(
        DATE_ONLY_PAGE.replace("2023-01-01", "").encode(), "x", "div.r", "u", dt.date(2023, 1, 1)
    )
    assert dated.published is None and dated.day == dt.date(2023, 1, 1)
    timed = html.page_document(
        DATE_ONLY_PAGE.replace("2023-01-01", "2023-01-01T09:12:00+02:00").encode(), "x", "div.r", "u"
    )
    assert timed.published.isoformat() == "2023-01-01T09:12:00+02:00" and timed.day == dt.date(2023, 1, 1)
    both = DATE_ONLY_PAGE.replace("<body>", '<body><time datetime="2023-01-01 09:12">9:12</time>')
    assert html.page_document(both.encode(), "x", "div.r", "u").published.isoformat() == "2023-01-01T09:12:00+02:00"


def test_a_blank_delta_is_unknown_even_where_zero_deltas_are_left_out():
    text = "Загальні бойові втрати противника з 24.02 по 30.04 орієнтовно склали:\nтанків ‒ 1008 (+22),\nРСЗВ - 151,\nлітаків – 190 (+),"
    got = {f.metric: f.reported_delta for f in read_text(text, dt.date(2022, 4, 30)).figures}
    assert got == {"tanks": 22, "mlrs": 0, "aircraft": None}
