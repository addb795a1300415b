import datetime as dt
import json
import logging

import pytest
from genstaff_cases import CASES, FIXTURES, NOT_REPORTS

from tallywatch import history
from tallywatch.extract.genstaff import extract, extract_text
from tallywatch.models import Document


def _as_table(figures):
    table = {}
    for f in figures:
        table.setdefault(f.as_of, {})[f.metric] = (f.value, f.reported_delta)
    return table


@pytest.mark.parametrize(("name", "text", "published", "expected"), CASES, ids=[c[0] for c in CASES])
def test_real_report_texts(name, text, published, expected):
    assert _as_table(extract_text(text, published)) == expected


@pytest.mark.parametrize("text", NOT_REPORTS)
def test_posts_that_are_not_reports_yield_nothing(text, caplog):
    with caplog.at_level(logging.WARNING):
        assert extract_text(text, dt.date(2025, 6, 14)) == []
    assert caplog.records == []


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
    assert any("without a figure: 'vehicles and fuel tanks ‒ (+2).'" in r.getMessage() for r in caplog.records)


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
