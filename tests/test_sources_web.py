"""Web pages and Telegram channel previews as sources: saved pages served on 127.0.0.1, the real pipeline."""

import datetime as dt
import json
import logging
import tomllib
from pathlib import Path

import pytest
from processes import offline, run_tallywatch
from test_poll import config, run

from tallywatch.config import ConfigError, Source, defaults, parse
from tallywatch.models import REPORT_ZONE
from tallywatch.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
PAGES = FIXTURES / "pages"
D = dt.date
HTML = {"Content-Type": "text/html; charset=utf-8"}
REPORT = "/en/news/zahalni-boiovi-vtraty-protyvnyka-z-24022022-po-{:%d%m%Y}"
CHANNEL = "/s/GeneralStaffZSU"
KMU = defaults().source("kmu")  # the shipped source: its selector is what these tests read real pages with


def page(name: str) -> tuple[int, dict, bytes]:
    """A saved page: ``real/…`` as the publisher served it, else one of ours in pages/."""
    path = FIXTURES / name if name.startswith("real/") else PAGES / name
    return 200, HTML, path.read_bytes()


def kmu_page(day: str) -> tuple[int, dict, bytes]:
    return page(f"real/kmu/ukraine_stats_{day}.html")


def html_source(server, path, **extra):
    return Source(**{"name": "kmu", "kind": "html", "url": server.url + path, "selector": KMU.selector, **extra})


def channel_source(server, **extra):
    return Source(name="gs-channel", kind="telegram_channel", url=server.url + CHANNEL, **extra)


def stored(cfg, metric="personnel"):
    store = Store(cfg.storage.path)
    try:
        rows = store.conn.execute(
            "SELECT as_of, value FROM figures WHERE metric = ? AND status = 'accepted' ORDER BY as_of", [metric]
        ).fetchall()
        return {D.fromisoformat(day): value for day, value in rows}
    finally:
        store.close()


def test_the_shipped_kmu_source_reads_real_kmu_pages_once_enabled(tmp_path, feed_server):
    """The shipped source as it is (its URL moved to 127.0.0.1), serving real pages for today and
    yesterday. It ships disabled (the pages stop in early 2024: issue 30), and works once enabled."""
    assert not KMU.enabled and KMU.selector == "div.news__item--inner"
    assert KMU.url == "https://www.kmu.gov.ua" + REPORT.replace("{:%d%m%Y}", "{date:%d%m%Y}")
    today = dt.datetime.now(REPORT_ZONE).date()
    feed_server.routes[REPORT.format(today)] = kmu_page("2023-12-15")
    feed_server.routes[REPORT.format(today - dt.timedelta(days=1))] = kmu_page("2023-11-05")
    cfg = config(tmp_path, KMU.replace(url=KMU.url.replace("https://www.kmu.gov.ua", feed_server.url), enabled=True))
    [[result]], _, _ = run(cfg)
    assert (result.status, result.documents) == ("ok", 2)
    assert stored(cfg) == {D(2023, 11, 5): 305_090, D(2023, 12, 15): 343_890}
    assert {m: v for m, v in stored_row(cfg, D(2023, 12, 15)).items()} == {
        "personnel": 343_890,
        "tanks": 5_706,
        "armoured_vehicles": 10_654,
        "artillery": 8_099,
        "mlrs": 920,
        "air_defense": 605,
        "aircraft": 324,
        "helicopters": 324,
        "uav": 6_226,
        "cruise_missiles": 1_608,
        "warships": 22,
        "submarines": 1,
        "vehicles": 10_699,
        "special_equipment": 1_189,
    }


def stored_row(cfg, day):
    store = Store(cfg.storage.path)
    try:
        rows = store.conn.execute("SELECT metric, value FROM figures WHERE as_of = ?", [day.isoformat()]).fetchall()
        return dict(rows)
    finally:
        store.close()


def test_a_report_page_is_read_from_the_element_its_selector_names(tmp_path, feed_server):
    feed_server.routes["/report"] = kmu_page("2023-12-15")
    cfg = config(tmp_path, html_source(feed_server, "/report"))
    [results], latest, _ = run(cfg)
    assert results[0].status == "ok" and results[0].documents == 1
    assert latest["personnel"].value == 343_890 and latest["personnel"].as_of == D(2023, 12, 15)
    assert latest["tanks"].value == 5_706 and latest["special_equipment"].value == 1_189
    assert len(latest) == 14  # the menus, the sidebar's news and the footer are outside the element


def test_a_listing_page_is_followed_to_at_most_max_pages_report_pages(tmp_path, feed_server):
    feed_server.routes["/news"] = page("kmu_listing.html")
    for day in (D(2023, 8, 16), D(2023, 11, 5), D(2023, 12, 15)):
        feed_server.routes[REPORT.format(day)] = kmu_page(day.isoformat())
    cfg = config(tmp_path, html_source(feed_server, "/news", follow=r"zahalni-boiovi-vtraty-protyvnyka", max_pages=2))
    [[first]], _, _ = run(cfg)
    assert first.status == "ok" and first.documents == 2
    assert stored(cfg) == {D(2023, 11, 5): 305_090, D(2023, 12, 15): 343_890}  # the two newest, not the third
    assert feed_server.hits(REPORT.format(D(2023, 8, 16))) == []

    [[again]], _, _ = run(cfg)  # the newest page is read again (it may be edited); a page read before is not
    assert again.status == "ok"
    assert len(feed_server.hits(REPORT.format(D(2023, 12, 15)))) == 2
    assert len(feed_server.hits(REPORT.format(D(2023, 11, 5)))) == 1
    assert feed_server.hits("/news")[-1].get("if-none-match") is None  # the loopback server sends no ETag


def test_a_dated_url_template_reads_one_page_per_day_and_skips_days_not_published(tmp_path, feed_server):
    today = dt.datetime.now(REPORT_ZONE).date()
    yesterday, before = today - dt.timedelta(days=1), today - dt.timedelta(days=2)
    # today's page is not out yet (404); the two days before have theirs
    feed_server.routes[REPORT.format(yesterday)] = kmu_page("2023-12-15")
    feed_server.routes[REPORT.format(before)] = kmu_page("2023-11-05")
    src = html_source(feed_server, "/en/news/zahalni-boiovi-vtraty-protyvnyka-z-24022022-po-{date:%d%m%Y}")
    cfg = config(tmp_path, src)
    [[first]], _, _ = run(cfg)
    assert first.status == "ok" and first.documents == 2
    assert stored(cfg) == {D(2023, 11, 5): 305_090, D(2023, 12, 15): 343_890}
    assert len(feed_server.hits(REPORT.format(today))) == 1

    [[again]], _, _ = run(cfg)  # today is tried again; the days already read are not
    assert again.status == "ok"
    assert len(feed_server.hits(REPORT.format(today))) == 2
    assert len(feed_server.hits(REPORT.format(yesterday))) == 1


def test_a_dated_page_without_a_time_of_its_own_teaches_the_window_when_it_was_seen(tmp_path, feed_server):
    """kmu.gov.ua's report pages state no time of their own: the URL gives a day, not a moment —
    read as 00:00 UTC it made the window 02:00 Kyiv time (issue 24). When each page was first seen
    teaches the window instead."""
    today = dt.datetime.now(REPORT_ZONE).date()
    for back, day in enumerate(("2023-12-15", "2023-11-05", "2023-08-16", "2023-05-08")):
        feed_server.routes[REPORT.format(today - dt.timedelta(days=back))] = kmu_page(day)
    src = html_source(feed_server, "/en/news/zahalni-boiovi-vtraty-protyvnyka-z-24022022-po-{date:%d%m%Y}", max_pages=4)
    cfg = config(tmp_path, src)
    polled = dt.datetime.now(dt.UTC)
    [[result]], _, _ = run(cfg)
    assert (result.status, result.documents) == ("ok", 4)
    store = Store(cfg.storage.path)
    try:
        times = store.report_times(polled - dt.timedelta(days=15))["kmu"]
        said = store.conn.execute("SELECT published FROM items WHERE source = 'kmu'").fetchall()
    finally:
        store.close()
    assert len(times) == 4 and all(polled <= t <= dt.datetime.now(dt.UTC) for t in times), times
    assert said == [(None,)] * 4  # no time was given, so none is stored


def test_a_changed_layout_is_a_clear_source_error_not_a_silent_zero(tmp_path, feed_server, caplog):
    feed_server.routes["/report"] = page("real/mil/mil_2022-07-18.html")  # a real report page of another layout
    cfg = config(tmp_path, html_source(feed_server, "/report"))
    with caplog.at_level(logging.ERROR, logger="tallywatch.poll"):
        [results], latest, _ = run(cfg)
    assert results[0].status == "failed" and latest == {}
    message = (
        f"selector 'div.news__item--inner' matched nothing on {feed_server.url}/report (has the page layout changed?)"
    )
    assert results[0].error == message
    assert any(message in r.getMessage() and "source kmu failed (1 in a row)" in r.getMessage() for r in caplog.records)
    store = Store(cfg.storage.path)
    assert store.source_state("kmu")["last_error"] == message
    store.close()


def test_a_telegram_channel_preview_gives_one_item_per_post_and_an_edit_revises_it(tmp_path, feed_server):
    feed_server.routes[CHANNEL] = page("tme_page.html")
    cfg = config(tmp_path, channel_source(feed_server, max_pages=1))
    [[first]], _, _ = run(cfg)
    assert first.status == "ok" and first.documents == 4  # three reports and a notice with no figures
    assert stored(cfg) == {D(2022, 8, 19): 44_700, D(2022, 8, 20): 44_900, D(2022, 8, 21): 45_200}
    # as first posted: 1,921 (+5), a typo the report itself gives away (1,907 + 5 is 1,912): held as suspect
    assert D(2022, 8, 21) not in stored(cfg, "tanks")
    store = Store(cfg.storage.path)
    assert store.conn.execute(
        "SELECT value, status FROM figures WHERE metric = 'tanks' AND as_of = '2022-08-21'"
    ).fetchone() == (1_921, "suspect")
    store.close()

    feed_server.routes[CHANNEL] = page("tme_page_edited.html")  # the post was edited: 1,912
    [[second]], _, _ = run(cfg)
    assert second.status == "ok"
    assert stored(cfg, "tanks")[D(2022, 8, 21)] == 1_912
    assert feed_server.hits(f"{CHANNEL}?before=21001") == []  # max_pages = 1: no catch-up


def test_after_downtime_the_preview_is_read_back_until_a_post_seen_before(tmp_path, feed_server):
    feed_server.routes[CHANNEL] = page("tme_page_before_21001.html")  # the channel as it was days ago
    cfg = config(tmp_path, channel_source(feed_server, max_pages=5))
    run(cfg)
    assert set(stored(cfg)) == {D(2022, 8, 16), D(2022, 8, 17), D(2022, 8, 18)}
    assert len(feed_server.hits(f"{CHANNEL}?before=20995")) == 1  # nothing was seen yet: one page back, then no more

    feed_server.routes[CHANNEL] = page("tme_page.html")  # now: three newer posts, none of them seen
    feed_server.routes[f"{CHANNEL}?before=21001"] = page("tme_page_before_21001.html")
    [[result]], _, _ = run(cfg)
    assert result.status == "ok"
    assert set(stored(cfg)) == {D(2022, 8, day) for day in range(16, 22)}
    assert len(feed_server.hits(f"{CHANNEL}?before=21001")) == 1  # one page back reached posts seen before
    assert len(feed_server.hits(f"{CHANNEL}?before=20995")) == 1  # and it went no further


def test_catch_up_stops_at_max_pages_and_says_so(tmp_path, feed_server, caplog):
    feed_server.routes[CHANNEL] = page("tme_page.html")
    feed_server.routes[f"{CHANNEL}?before=21001"] = page("tme_page_before_21001.html")
    cfg = config(tmp_path, channel_source(feed_server, max_pages=2))
    store = Store(cfg.storage.path)  # the channel was read once, long ago
    store.note_success("gs-channel", etag=None, last_modified=None, new_report=True, keep_validators=False)
    store.close()
    with caplog.at_level(logging.WARNING, logger="tallywatch.poll"):
        run(cfg)
    assert feed_server.hits(f"{CHANNEL}?before=20995") == []
    message = "source gs-channel: 2 pages read back without reaching a post read before (max_pages); posts before 20995"
    assert any(message in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("kind = 'html'", "sources[0]: an html source needs selector"),
        ("kind = 'html'\nselector = 'div['", "sources[0].selector: 'div[' is not valid CSS"),
        ("kind = 'html'\nselector = 'p'\nfollow = '(unclosed'", "sources[0].follow: not a regular expression"),
        ("kind = 'rss'\nselector = 'p'", "sources[0].selector: for html sources only"),
        ("kind = 'telegram_channel'", "sources[0].url: a telegram_channel url is the channel's public preview"),
    ],
)
def test_bad_web_source_settings_are_config_errors(extra, message):
    text = f"[[sources]]\nname = 'x'\nurl = 'https://example.org/page'\n{extra}\n"
    with pytest.raises(ConfigError) as err:
        parse(tomllib.loads(text), "tw.toml")
    assert message in str(err.value)


def write_config(tmp_path, server) -> Path:
    cfg = tmp_path / "tw.toml"
    cfg.write_text(
        offline(tmp_path / "tw.db")
        + f"""
[[sources]]
name = "kmu"
kind = "html"
url = "{server.url}/report"
selector = "div.news__item--inner"
priority = 1

[[sources]]
name = "gs-ops"
kind = "html"
url = "{server.url}/ops"
selector = "article"
extractor = "none"

[[sources]]
name = "gs-channel"
kind = "telegram_channel"
url = "{server.url}{CHANNEL}"

[metrics.combat_clashes]
kind = "daily"
pattern = '(?P<value>\\d[\\d ,]*) combat clashes'
date_pattern = 'as of \\d\\d:\\d\\d on (?P<date>[A-Z][a-z]+ \\d{{1,2}}, \\d{{4}})'
date_format = "%B %d, %Y"
sources = ["gs-ops"]
"""
    )
    return cfg


def test_sources_test_fetches_once_and_shows_what_it_extracts_storing_nothing(tmp_path, feed_server):
    feed_server.routes["/report"] = kmu_page("2023-12-15")
    feed_server.routes["/ops"] = page("genstaff_operational_update_2025-06-14.html")
    feed_server.routes[CHANNEL] = page("tme_page.html")
    cfg = write_config(tmp_path, feed_server)

    done = run_tallywatch("sources", "test", "kmu", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# kmu: 1 requests, 1 items, 14 figures (nothing stored)\n")
    assert "  personnel            2023-12-15       343,890  (+1,090)" in done.stdout
    ops = run_tallywatch("sources", "test", "gs-ops", "--config", str(cfg))
    assert "  combat_clashes       2025-06-14           220" in ops.stdout, ops.stderr
    assert "  verdict: not a report; the figures are the pattern metrics'" in ops.stdout
    channel = run_tallywatch("sources", "test", "gs-channel", "--config", str(cfg))
    assert channel.stdout.startswith("# gs-channel: 1 requests, 4 items, 39 figures (nothing stored)\n"), channel.stdout
    assert "GeneralStaffZSU/21004  2022-08-20T15:12+00:00\n  Оперативна інформація" in channel.stdout
    assert "  verdict: not a report (no figures)" in channel.stdout
    assert "  verdict: a report, read completely" in channel.stdout
    assert not (tmp_path / "tw.db").exists()

    feed_server.routes["/report"] = page("real/kmu/bot_ukraine_stats_2023-09-30.html")
    broken = run_tallywatch("sources", "test", "kmu", "--config", str(cfg))
    assert broken.returncode == 1
    assert broken.stderr == (
        f"tallywatch sources test kmu: bot check page (ShieldSquare Captcha) instead of the page at "
        f"{feed_server.url}/report\n"
    )
    unknown = run_tallywatch("sources", "test", "nope", "--config", str(cfg))
    assert unknown.returncode == 2
    assert "no source named 'nope' (configured: kmu, gs-ops, gs-channel)" in unknown.stderr


def test_sources_lists_each_sources_health(tmp_path, feed_server):
    feed_server.routes["/report"] = page("real/mil/mil_2022-07-18.html")  # another layout: failing
    feed_server.routes["/ops"] = page("genstaff_operational_update_2025-06-14.html")
    feed_server.routes[CHANNEL] = page("tme_page.html")
    cfg = write_config(tmp_path, feed_server)
    before = run_tallywatch("sources", "--config", str(cfg))
    assert "kmu  (html, priority 1)  not polled yet" in before.stdout, before.stderr
    run_tallywatch("poll", "--config", str(cfg))
    listed = run_tallywatch("sources", "--config", str(cfg))
    assert "kmu  (html, priority 1)  failing: 1 in a row" in listed.stdout
    assert "    last error: selector 'div.news__item--inner' matched nothing on" in listed.stdout
    assert "gs-channel  (telegram_channel, priority 100)  ok" in listed.stdout
    assert "    next poll every 1h" in listed.stdout
    health = {h["name"]: h for h in json.loads(run_tallywatch("sources", "--json", "--config", str(cfg)).stdout)}
    assert health["gs-ops"]["state"] == "ok" and health["gs-ops"]["last_new_report"]
    assert health["kmu"]["consecutive_failures"] == 1 and health["kmu"]["next_poll"].startswith("not before ")


def test_a_bot_wall_where_the_report_should_be_is_a_source_failure_saying_so(tmp_path, feed_server):
    feed_server.routes["/report"] = page("real/kmu/bot_ukraine_stats_2023-09-30.html")
    cfg = config(tmp_path, html_source(feed_server, "/report"))
    [[result]], latest, _ = run(cfg)
    expected = f"bot check page (ShieldSquare Captcha) instead of the page at {feed_server.url}/report"
    assert (result.status, result.error, latest) == ("failed", expected, {})
    store = Store(cfg.storage.path)
    assert store.source_state("kmu")["last_error"] == expected
    store.close()


def test_a_page_that_is_not_a_report_is_a_source_failure_never_zero_figures(tmp_path, feed_server):
    """A real page of another kind (a t.me preview) where a report page should be."""
    feed_server.routes["/report"] = page("real/telegram/mchs_bryansk_tme_s_fragment_2024-12.html")
    cfg = config(tmp_path, html_source(feed_server, "/report", selector="body"))
    [[result]], latest, _ = run(cfg)
    assert (result.status, latest) == ("failed", {})
    assert result.error.startswith(f"no report on the page {feed_server.url}/report (found ")
    [[again]], _, _ = run(cfg, force=True)  # nothing was taken as read: it fails again
    assert again.status == "failed"
    store = Store(cfg.storage.path)
    assert store.source_state("kmu")["consecutive_failures"] == 2
    store.close()


def broken_kmu_page() -> tuple[int, dict, bytes]:
    """The real 15 December 2023 page with three lines cut short (the edit is ours): a broken report."""
    status, headers, content = kmu_page("2023-12-15")
    for line in ("APV ‒ 10654 (+38),", "MLRS – 920 (+0),", "UAV operational-tactical level – 6226 (+20),"):
        content = content.replace(line.encode(), line.split("‒")[0].split("–")[0].encode() + "‒ (+0),".encode())
    return status, headers, content


def test_a_broken_report_keeps_what_was_read_and_counts_as_a_source_failure(tmp_path, feed_server):
    from tallywatch.health import REGISTRY

    def read_counter(coverage):
        return REGISTRY.get_sample_value("tallywatch_reports_read_total", {"source": "kmu", "coverage": coverage}) or 0

    partial_before = read_counter("partial")
    feed_server.routes["/report"] = broken_kmu_page()
    cfg = config(tmp_path, html_source(feed_server, "/report"))
    [[result]], latest, _ = run(cfg)
    assert result.status == "failed"
    assert result.error == (
        f"broken report in {feed_server.url}/report: report of 2023-12-15: missing armoured_vehicles, mlrs, uav; "
        "report of 2023-12-15: 3 line(s) not read"
    )
    assert latest["personnel"].value == 343_890 and len(latest) == 11  # the lines that were read are kept
    assert read_counter("partial") == partial_before + 1


def test_sources_shows_how_much_of_each_recent_report_was_read(tmp_path, feed_server):
    feed_server.routes["/report"] = broken_kmu_page()
    feed_server.routes["/ops"] = page("genstaff_operational_update_2025-06-14.html")
    feed_server.routes[CHANNEL] = page("tme_page.html")
    cfg = write_config(tmp_path, feed_server)
    run_tallywatch("poll", "--config", str(cfg))
    feed_server.routes["/report"] = kmu_page("2023-12-15")  # the page is mended
    run_tallywatch("poll", "--config", str(cfg), "--force")
    listed = run_tallywatch("sources", "--config", str(cfg))
    assert "kmu  (html, priority 1)  ok" in listed.stdout, listed.stdout
    assert "    reports in 30 days: 1 read completely, 0 partly, 0 not at all" in listed.stdout
    assert "    reports in 30 days: 3 read completely, 0 partly, 0 not at all" in listed.stdout  # the channel's three
    health = {h["name"]: h for h in json.loads(run_tallywatch("sources", "--json", "--config", str(cfg)).stdout)}
    assert health["kmu"]["reports"] == {"complete": 1, "partial": 0, "unread": 0}
