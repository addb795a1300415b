"""Pattern figures: metrics defined in the config by a regular expression, totals and counts per day."""

import datetime as dt
import logging
import time
import tomllib
from pathlib import Path

import pytest
from tally import Tally, keys
from test_poll import run

from tallywatch.config import Config, ConfigError, Milestone, PatternMetric, Record, Rules, Source, Storage, parse
from tallywatch.extract import patterns
from tallywatch.ingest import Item
from tallywatch.models import Document, Figure

PAGES = Path(__file__).parent / "fixtures" / "pages"
HTML = {"Content-Type": "text/html; charset=utf-8"}
D = dt.date
CLASHES = PatternMetric(
    pattern=r"(?P<value>\d[\d ,]*) combat clashes",
    kind="daily",
    sources=["gs-ops"],
    date_pattern=r"as of \d\d:\d\d on (?P<date>[A-Z][a-z]+ \d{1,2}, \d{4})",
    date_format="%B %d, %Y",
)
CONFIRMED = PatternMetric(
    pattern=r"confirmed the names of (?P<value>\d[\d ,.]*\d) Russian",
    kind="total",
    sources=["mediazona"],
    date_pattern=r"Updated (?P<date>[A-Z][a-z]+ \d{1,2}, \d{4})",
    date_format="%B %d, %Y",
)


def page_source(server, name, path):
    return Source(name=name, kind="html", url=server.url + path, selector="article", extractor="none")


def test_combat_clashes_and_mediazonas_count_are_read_from_their_pages(tmp_path, feed_server):
    feed_server.routes["/ops"] = (200, HTML, (PAGES / "genstaff_operational_update_2025-06-14.html").read_bytes())
    feed_server.routes["/mz"] = (200, HTML, (PAGES / "mediazona_count_2025-06-13.html").read_bytes())
    cfg = Config(
        storage=Storage(path=tmp_path / "tw.db"),
        sources=[page_source(feed_server, "gs-ops", "/ops"), page_source(feed_server, "mediazona", "/mz")],
        metrics={"combat_clashes": CLASHES, "confirmed_deaths": CONFIRMED},
        milestones={"confirmed_deaths": Milestone(step=10_000)},
    )
    [results], latest, _ = run(cfg)
    assert [r.status for r in results] == ["ok", "ok"]
    assert (latest["combat_clashes"].value, latest["combat_clashes"].as_of) == (220, D(2025, 6, 14))
    assert (latest["confirmed_deaths"].value, latest["confirmed_deaths"].as_of) == (111_387, D(2025, 6, 13))
    assert set(latest) == {"combat_clashes", "confirmed_deaths"}  # "2 missile strikes", "64 times": not read


def test_the_number_is_read_whatever_its_separators_and_the_date_falls_back_to_the_item():
    spec = PatternMetric(pattern=r"names of (?P<value>\d[\d ,.\u00a0\u202f]*\d)", kind="total")
    published = dt.datetime(2025, 6, 13, 22, 30, tzinfo=dt.UTC)  # 01:30 on 14 June in Kyiv
    for written in ("111,387", "111 387", "111\u00a0387", "111\u202f387", "111387"):
        doc = Document("mz", "x", f"we have confirmed the names of {written} Russian soldiers", published=published)
        assert patterns.extract(doc, "confirmed_deaths", spec) == [
            Figure(metric="confirmed_deaths", as_of=D(2025, 6, 14), value=111_387)
        ]
    assert patterns.extract(Document("mz", "y", "no figure here", published=published), "confirmed_deaths", spec) == []


def test_a_hostile_document_is_cut_off_and_logged(caplog):
    # fifteen nested lazy wildcards over a line of "a"s: a search that would take hours
    spec = PatternMetric(pattern=r"(?P<value>\d+)(?:.*?a){15}!", kind="total", timeout=0.05)
    doc = Document("evil", "e1", "1" + "a" * 60, published=dt.datetime(2025, 6, 14, tzinfo=dt.UTC))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="tallywatch.extract"):
        assert patterns.extract(doc, "evil", spec) == []
    assert time.monotonic() - started < 5  # stopped, not run to the end (which would take ages)
    assert "evil in e1 of evil: the pattern took over 0.05 s and was cut off; nothing read" in caplog.text


def test_a_count_per_day_has_spikes_and_records_but_no_milestones_corrections_or_suspects(tmp_path):
    cfg = Config(
        metrics={"combat_clashes": PatternMetric(pattern=r"(?P<value>\d+) combat clashes", kind="daily")},
        rules=Rules(record=Record(window=30, min_history=30)),
    )
    tally = Tally(tmp_path / "tw.db", cfg)
    start = D(2025, 5, 1)
    usual = [150, 162, 171, 148, 155, 167, 159, 173, 152, 160] * 4  # forty ordinary days
    for i, value in enumerate(usual):
        tally.feed(
            "ops",
            Item(f"d{i}", f"d{i}", [Figure(metric="combat_clashes", as_of=start + dt.timedelta(days=i), value=value)]),
        )
    day = start + dt.timedelta(days=len(usual))
    spike = tally.feed("ops", Item("s", "s", [Figure(metric="combat_clashes", as_of=day, value=420)]))
    assert keys(spike) == [f"spike:combat_clashes:{day}"]  # also a 30-day record: one alert saying both
    assert spike.events[0].event.message == (
        "combat clashes 420 in a day — the most in 30 days, about 2.6× the usual 160 a day"
    )
    fall = tally.feed(
        "ops", Item("f", "f", [Figure(metric="combat_clashes", as_of=day + dt.timedelta(days=1), value=140)])
    )
    assert keys(fall) == []  # a quieter day: no correction, nothing held as suspect
    assert tally.point("combat_clashes", day + dt.timedelta(days=1)) == (140, "ops", "accepted")
    typo = tally.feed(
        "ops", Item("t", "t", [Figure(metric="combat_clashes", as_of=day + dt.timedelta(days=2), value=16_000)])
    )
    assert keys(typo) == []  # far beyond any day seen: held as suspect, no spike from a typo
    assert tally.point("combat_clashes", day + dt.timedelta(days=2))[2] == "suspect"
    tally.close()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "pattern = '(\\d+) clashes'\nkind = 'daily'",
            "metrics.x.pattern: needs exactly the named group (?P<value>…); it has: none",
        ),
        (
            "pattern = '(?P<value>\\d+) of (?P<total>\\d+)'\nkind = 'daily'",
            "metrics.x.pattern: needs exactly the named group (?P<value>…); it has: total, value",
        ),
        ("pattern = '(?P<value>\\d+'\nkind = 'daily'", "metrics.x.pattern: not a regular expression"),
        ("pattern = '(?P<value>\\d+)'\nkind = 'weekly'", "metrics.x.kind: expected 'total' or 'daily', got 'weekly'"),
        (
            "pattern = '(?P<value>\\d+)'\nkind = 'daily'\ndate_pattern = '(\\d\\d\\.\\d\\d)'",
            "metrics.x.date_pattern: needs exactly the named group (?P<date>…)",
        ),
        (
            "pattern = '(?P<value>\\d+)'\nkind = 'daily'\nsources = ['nowhere']",
            "metrics.x.sources: no source named nowhere",
        ),
        (
            "pattern = '(?P<value>\\d+)'\nkind = 'daily'\n[milestones.x]\nstep = 100",
            "milestones.x: x is a count per day; milestones are for running totals",
        ),
    ],
)
def test_bad_pattern_metrics_are_config_errors(table, message):
    with pytest.raises(ConfigError) as err:
        parse(tomllib.loads(f"[metrics.x]\n{table}\n"), "tw.toml")
    assert message in str(err.value)
