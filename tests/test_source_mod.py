"""mod.gov.ua, the report's publisher since 2025, as the shipped sources `mod` (English) and
`mod-uk` read it: the news listing followed to the day's pages, the sitemap when the listing fails,
the dated address as the last resort; each page dated by its own time.

The pages are OURS (tests/fixtures/pages/mod, written by make_pages.py from the description in
issue 30): no whole page of the site is saved anywhere we can reach. Real pages of the earlier
publishers are read in test_sources_web.py."""

import asyncio
import datetime as dt
import logging
import re
from pathlib import Path

import pytest
from processes import run_tallywatch
from test_poll import config, run

from tallywatch.config import ConfigError, defaults, parse
from tallywatch.extract.dates import dated_url
from tallywatch.ingest import try_source
from tallywatch.models import REPORT_ZONE
from tallywatch.sources import html
from tallywatch.sources.http import FetchError
from tallywatch.store import Store

MOD = Path(__file__).parent / "fixtures" / "pages" / "mod"
HTML = {"Content-Type": "text/html; charset=utf-8"}
XML = {"Content-Type": "application/xml"}
D = dt.date
SITE = "https://mod.gov.ua"
EN_12 = "/en/news/total-russian-combat-losses-in-ukraine-as-of-april-12-2026"
EN_11 = "/en/news/combat-losses-of-the-enemy-as-of-april-11-2026"
EN_10 = (
    "/en/news/the-estimated-combat-losses-of-russians-over-the-last-day-1130-persons-2232-uavs-and-45-artillery-systems"
)
UK_12 = "/news/bojovi-vtrati-voroga-na-12-kvitnya-2026-roku"
UK_11 = "/news/bojovi-vtrati-voroga-na-11-kvitnya-2026-roku"


def fixture(name: str) -> bytes:
    return (MOD / name).read_bytes()


def serve_site(server) -> None:
    """The site on 127.0.0.1: both listings, the six report pages, the sitemap (its addresses moved too)."""
    server.routes["/en/news"] = (200, HTML, fixture("en_listing.html"))
    server.routes["/news"] = (200, HTML, fixture("uk_listing.html"))
    for path, name in (
        (EN_12, "en_2026-04-12.html"),
        (EN_11, "en_2026-04-11.html"),
        (EN_10, "en_2026-04-10.html"),
        (UK_12, "uk_2026-04-12.html"),
        (UK_11, "uk_2026-04-11.html"),
    ):
        server.routes[path] = (200, HTML, fixture(name))
    server.routes["/sitemap.xml"] = (200, XML, fixture("sitemap.xml").replace(SITE.encode(), server.url.encode()))


def shipped(name: str, server):
    """The shipped source as it is, its addresses moved to the loopback server."""
    source = defaults().source(name)
    moved = {key: getattr(source, key).replace(SITE, server.url) for key in ("url", "sitemap", "fallback")}
    return source.replace(**moved)


def fetch(cfg, source):
    return asyncio.run(try_source(cfg, source))


# -- the page's own time ----------------------------------------------------------------------------


def test_a_page_is_dated_by_the_time_in_its_data_or_else_the_time_it_prints():
    page = fixture("en_2026-04-12.html")
    kyiv_0732 = dt.datetime(2026, 4, 12, 7, 32, tzinfo=REPORT_ZONE)
    assert html.published_time(html.parse(page)) == kyiv_0732  # "publishedAt":{"iso":"2026-04-12T04:32:00.000Z"}
    assert html.published_time(html.parse(fixture("uk_2026-04-11.html"))) == kyiv_0732.replace(day=11, minute=41)
    printed_only = page.split(b"<script>")[0] + b"</body></html>"  # "12 April, 2026, 7:32 AM EEST"
    assert html.published_time(html.parse(printed_only)) == kyiv_0732
    afternoon = printed_only.replace(b"7:32 AM EEST", b"1:05 PM EEST")
    assert html.published_time(html.parse(afternoon)) == kyiv_0732.replace(hour=13, minute=5)
    winter = printed_only.replace(b"12 April, 2026, 7:32 AM EEST", b"5 February, 2026, 12:10 AM EET")
    assert html.published_time(html.parse(winter)) == dt.datetime(2026, 2, 5, 0, 10, tzinfo=REPORT_ZONE)
    assert html.published_time(html.parse(printed_only.replace(b"7:32 AM", b"17:32 AM"))) is None


def test_the_dated_address_names_the_day_as_the_slugs_do():
    assert dated_url(defaults().source("mod").fallback, D(2026, 4, 7)) == (
        "https://mod.gov.ua/en/news/total-russian-combat-losses-in-ukraine-as-of-april-7-2026"
    )
    assert dated_url(defaults().source("mod-uk").fallback, D(2026, 2, 5)) == (
        "https://mod.gov.ua/news/bojovi-vtrati-voroga-na-5-lyutogo-2026-roku"
    )


# -- the sitemap ------------------------------------------------------------------------------------


def test_a_sitemap_lists_its_pages_newest_first_and_an_index_its_sitemaps():
    listed = html.sitemap(fixture("sitemap.xml"), SITE + "/sitemap.xml")
    assert listed.children == []
    assert listed.pages[:3] == [
        SITE + "/en/news/minister-of-defence-met-partners-0",  # 09:00 on the 12th
        SITE + EN_12,  # 07:32, then its Ukrainian page (the file's order within one lastmod)
        SITE + UK_12,
    ]
    index = (
        b'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://mod.gov.ua/sitemap-pages.xml</loc><lastmod>2025-01-01</lastmod></sitemap>"
        b"<sitemap><loc>https://mod.gov.ua/sitemap-news.xml</loc><lastmod>2026-04-12</lastmod></sitemap>"
        b"</sitemapindex>"
    )
    assert html.sitemap(index, SITE + "/sitemap.xml").children == [
        SITE + "/sitemap-news.xml",
        SITE + "/sitemap-pages.xml",
    ]


def test_a_file_that_is_not_a_sitemap_says_so_and_an_entity_bomb_expands_nothing():
    with pytest.raises(FetchError, match=r"https://mod.gov.ua/sitemap.xml is not a sitemap: no <url><loc>"):
        html.sitemap(fixture("en_listing.html"), SITE + "/sitemap.xml")
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><urlset><url><loc>&lol3;</loc></url>'
        b"<url><loc>https://mod.gov.ua/x</loc></url></urlset>"
    )
    assert html.sitemap(bomb, SITE + "/sitemap.xml").pages == [SITE + "/x"]


# -- the shipped sources, end to end (fetching) ------------------------------------------------------


def test_the_shipped_sources_read_the_listing_and_follow_it_to_the_days_reports(tmp_path, feed_server):
    serve_site(feed_server)
    cfg = config(tmp_path)
    en = shipped("mod", feed_server)
    assert en.enabled and en.priority == 1 and defaults().source("mod-uk").priority == 2
    requests, documents, _ = fetch(cfg, en)
    assert requests == 3  # the listing, then the two newest reports (max_pages)
    assert [(d.guid, d.published) for d in documents] == [
        (feed_server.url + EN_12, dt.datetime(2026, 4, 12, 4, 32, tzinfo=dt.UTC)),
        (feed_server.url + EN_11, dt.datetime(2026, 4, 11, 4, 41, tzinfo=dt.UTC)),
    ]
    assert feed_server.hits("/sitemap.xml") == []
    requests, documents, _ = fetch(cfg, shipped("mod-uk", feed_server))
    assert [d.guid for d in documents] == [feed_server.url + UK_12, feed_server.url + UK_11]


def test_when_the_listing_fails_the_sitemap_lists_the_pages_and_the_log_says_so(tmp_path, feed_server, caplog):
    serve_site(feed_server)
    feed_server.routes["/en/news"] = (200, HTML, b"<html><body><main>News are being updated</main></body></html>")
    cfg = config(tmp_path)
    with caplog.at_level(logging.WARNING, "tallywatch.poll"):
        requests, documents, _ = fetch(cfg, shipped("mod", feed_server))
    assert [d.guid for d in documents] == [feed_server.url + EN_12, feed_server.url + EN_11]
    assert requests == 4
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning == (
        f"source mod: listing: no link on {feed_server.url}/en/news matches follow '/en/news/[^/?#]*combat-losses'"
        " (has the page layout changed?); the pages read from the sitemap instead"
    )


def test_when_listing_and_sitemap_fail_the_days_page_is_asked_for_by_its_address(tmp_path, feed_server, caplog):
    serve_site(feed_server)
    feed_server.routes["/en/news"] = (503, HTML, b"down for maintenance")
    feed_server.routes["/sitemap.xml"] = (404, HTML, b"not found")
    today = dt.datetime.now(REPORT_ZONE).date()
    source = shipped("mod", feed_server)
    todays = dated_url(source.fallback, today).removeprefix(feed_server.url)
    feed_server.routes[todays] = (200, HTML, fixture("en_2026-04-12.html"))
    cfg = config(tmp_path)
    with caplog.at_level(logging.WARNING, "tallywatch.poll"):
        _, documents, _ = fetch(cfg, source)
    assert [d.guid for d in documents] == [feed_server.url + todays]
    assert "the day's page read at its dated address" in caplog.records[-1].getMessage()

    del feed_server.routes[todays]  # not out yet: every way failed, and the poll is a failure naming each
    with pytest.raises(FetchError) as failed:
        fetch(cfg, source)
    message = str(failed.value)
    assert message.startswith("listing: HTTP 503") and "; sitemap: HTTP 404" in message
    assert message.endswith(f"; dated address: no page at {feed_server.url + todays} yet")


def test_a_source_without_a_sitemap_or_fallback_fails_on_its_listing_as_before(tmp_path, feed_server):
    serve_site(feed_server)
    feed_server.routes["/en/news"] = (503, HTML, b"down for maintenance")
    source = shipped("mod", feed_server).replace(sitemap=None, fallback=None)
    with pytest.raises(FetchError, match="503"):
        fetch(config(tmp_path), source)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"sitemap": SITE + "/sitemap.xml"},
            "sources[0]: sitemap and fallback stand in for a listing: they need follow",
        ),
        ({"follow": "x", "fallback": SITE + "/en/news/report"}, "sources[0].fallback: the address must name the day"),
        ({"follow": "x", "fallback": SITE + "/{weekday}"}, "fallback: only {date:FORMAT}, {day}, {month}, {month_uk}"),
        ({"follow": "x", "fallback": "mod.gov.ua/{day}"}, "sources[0].fallback: expected an http:// or https://"),
        (
            {"kind": "rss", "selector": None, "sitemap": SITE + "/sitemap.xml"},
            "sources[0].sitemap: for html sources only",
        ),
    ],
)
def test_sitemap_and_fallback_settings_are_checked(extra, message):
    base = {"name": "m", "kind": "html", "url": SITE + "/en/news", "selector": "body", **extra}
    base = {key: value for key, value in base.items() if value is not None}
    with pytest.raises(ConfigError) as err:
        parse({"sources": [base]}, "tw.toml")
    assert message in str(err.value)


def write_config(tmp_path, server) -> Path:
    """The two shipped mod.gov.ua sources as they ship, moved to 127.0.0.1."""
    blocks = []
    for name in ("mod", "mod-uk"):
        source = shipped(name, server)
        blocks.append(
            f'[[sources]]\nname = "{name}"\nkind = "html"\nurl = "{source.url}"\nfollow = \'{source.follow}\'\n'
            f'sitemap = "{source.sitemap}"\nfallback = "{source.fallback}"\nselector = "{source.selector}"\n'
            f"max_pages = {source.max_pages}\npriority = {source.priority}\n"
        )
    path = tmp_path / "tw.toml"
    path.write_text(
        f'[detect]\nbaseline = false\n[backfill]\nenabled = false\n[storage]\npath = "{tmp_path / "tw.db"}"\n\n'
        + "\n".join(blocks),
        encoding="utf-8",
    )
    return path


def test_sources_test_mod_prints_the_days_figures_and_the_verdict(tmp_path, feed_server):
    """The English page's summary line gives the day's numbers ("1,070 personnel, 2,081 UAVs"): they
    are never totals; the totals are the list's."""
    serve_site(feed_server)
    cfg = write_config(tmp_path, feed_server)
    done = run_tallywatch("sources", "test", "mod", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("# mod: 3 requests, 2 items, 28 figures (nothing stored)\n"), out
    assert f"{feed_server.url}{EN_12}  2026-04-12T04:32+00:00\n  Total russian combat losses in Ukraine" in out
    assert "  personnel            2026-04-12     1,311,180  (+1,070)\n" in out
    assert "  uav                  2026-04-12       233,866  (+2,081)\n" in out
    assert "  air_defense          2026-04-12         1,345  (+1)\n" in out
    assert "  personnel            2026-04-11     1,310,110" in out
    assert out.count("  verdict: a report, read completely\n") == 2
    assert "1,070 " not in out.replace("(+1,070)", "")
    uk = run_tallywatch("sources", "test", "mod-uk", "--config", str(cfg))
    assert uk.returncode == 0, uk.stderr
    assert "  personnel            2026-04-12     1,311,180  (+1,070)\n" in uk.stdout
    assert uk.stdout.count("  verdict: a report, read completely\n") == 2
    assert not (tmp_path / "tw.db").exists()


def test_the_undated_title_form_is_dated_by_the_pages_own_time(tmp_path, feed_server):
    """ "The estimated combat losses of russians over the last day: 1,130 persons, …" names no day: the
    page's time (7:29 on 10 April) dates its list, and the title's day numbers are no totals."""
    serve_site(feed_server)
    _, documents, items = fetch(config(tmp_path), shipped("mod", feed_server).replace(max_pages=3))
    assert documents[2].guid == feed_server.url + EN_10
    figures = {f.metric: (f.as_of, f.value, f.reported_delta) for f in items[2].figures}
    assert figures["personnel"] == (D(2026, 4, 10), 1_308_670, 1_130)
    assert figures["uav"][1] > 100_000 and figures["artillery"][2] == 45
    assert items[2].verdict == "report" and items[2].coverage == "complete"


def test_the_window_is_learned_from_the_times_the_pages_give(tmp_path, feed_server):
    """Each page's own time (in its data) is when its report appeared, not when it was first polled."""
    serve_site(feed_server)
    now = dt.datetime.now(dt.UTC)
    said = {}
    for path, name, back, minute in ((EN_12, "en_2026-04-12.html", 1, 32), (EN_11, "en_2026-04-11.html", 2, 41)):
        day = (now - dt.timedelta(days=back)).astimezone(REPORT_ZONE)
        said[path] = day.replace(hour=7, minute=minute, second=0, microsecond=0).astimezone(dt.UTC)
        iso = said[path].strftime("%Y-%m-%dT%H:%M:%S.000Z").encode()
        page = re.sub(rb'(publishedAt\\":\{\\"iso\\":\\")[^\\]+', rb"\g<1>" + iso, fixture(name))
        feed_server.routes[path] = (200, HTML, page)
    cfg = config(tmp_path, shipped("mod", feed_server))
    [[result]], _, _ = run(cfg)
    assert (result.status, result.documents) == ("ok", 2)
    store = Store(cfg.storage.path)
    try:
        times = store.report_times(now - dt.timedelta(days=14))["mod"]
    finally:
        store.close()
    assert sorted(times) == sorted(said.values())
