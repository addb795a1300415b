"""Web pages and Telegram channel previews as sources: saved pages served on 127.0.0.1, the real pipeline."""

import datetime as dt
import json
import logging
import tomllib
from pathlib import Path

import pytest
from processes import run_tallywatch
from test_poll import config, run

from tallywatch.config import ConfigError, Source, parse
from tallywatch.models import REPORT_ZONE
from tallywatch.store import Store

PAGES = Path(__file__).parent / "fixtures" / "pages"
D = dt.date
HTML = {"Content-Type": "text/html; charset=utf-8"}
REPORT = "/news/zahalni-boiovi-vtraty-protyvnyka-z-24022022-po-{:%d%m%Y}"
CHANNEL = "/s/GeneralStaffZSU"


def page(name: str) -> tuple[int, dict, bytes]:
    return 200, HTML, (PAGES / name).read_bytes()


def html_source(server, path, **extra):
    return Source(name="kmu", kind="html", url=server.url + path, selector="div.news-body", **extra)


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


def test_a_report_page_is_read_from_the_element_its_selector_names(tmp_path, feed_server):
    feed_server.routes["/report"] = page("kmu_report_2025-06-14.html")
    cfg = config(tmp_path, html_source(feed_server, "/report"))
    [results], latest, _ = run(cfg)
    assert results[0].status == "ok" and results[0].documents == 1
    assert latest["personnel"].value == 1_002_690 and latest["personnel"].as_of == D(2025, 6, 14)
    assert latest["tanks"].value == 10_937 and latest["special_equipment"].value == 3_914
    assert len(latest) == 14  # the hotline number, the address and the related news are outside the element


def test_a_listing_page_is_followed_to_at_most_max_pages_report_pages(tmp_path, feed_server):
    feed_server.routes["/news"] = page("kmu_listing.html")
    for day in (D(2025, 6, 12), D(2025, 6, 13), D(2025, 6, 14)):
        feed_server.routes[REPORT.format(day)] = page(f"kmu_report_{day}.html")
    cfg = config(tmp_path, html_source(feed_server, "/news", follow=r"zahalni-boiovi-vtraty-protyvnyka", max_pages=2))
    [[first]], _, _ = run(cfg)
    assert first.status == "ok" and first.documents == 2
    assert stored(cfg) == {D(2025, 6, 13): 1_001_560, D(2025, 6, 14): 1_002_690}  # the two newest, not the third
    assert feed_server.hits(REPORT.format(D(2025, 6, 12))) == []

    [[again]], _, _ = run(cfg)  # the newest page is read again (it may be edited); a page read before is not
    assert again.status == "ok"
    assert len(feed_server.hits(REPORT.format(D(2025, 6, 14)))) == 2
    assert len(feed_server.hits(REPORT.format(D(2025, 6, 13)))) == 1
    assert feed_server.hits("/news")[-1].get("if-none-match") is None  # the loopback server sends no ETag


def test_a_dated_url_template_reads_one_page_per_day_and_skips_days_not_published(tmp_path, feed_server):
    today = dt.datetime.now(REPORT_ZONE).date()
    yesterday, before = today - dt.timedelta(days=1), today - dt.timedelta(days=2)
    # today's page is not out yet (404); the two days before have theirs
    feed_server.routes[REPORT.format(yesterday)] = page("kmu_report_2025-06-14.html")
    feed_server.routes[REPORT.format(before)] = page("kmu_report_2025-06-13.html")
    src = html_source(feed_server, "/news/zahalni-boiovi-vtraty-protyvnyka-z-24022022-po-{date:%d%m%Y}")
    cfg = config(tmp_path, src)
    [[first]], _, _ = run(cfg)
    assert first.status == "ok" and first.documents == 2
    assert stored(cfg) == {D(2025, 6, 13): 1_001_560, D(2025, 6, 14): 1_002_690}
    assert len(feed_server.hits(REPORT.format(today))) == 1

    [[again]], _, _ = run(cfg)  # today is tried again; the days already read are not
    assert again.status == "ok"
    assert len(feed_server.hits(REPORT.format(today))) == 2
    assert len(feed_server.hits(REPORT.format(yesterday))) == 1


def test_a_changed_layout_is_a_clear_source_error_not_a_silent_zero(tmp_path, feed_server, caplog):
    feed_server.routes["/report"] = page("kmu_report_changed_layout.html")
    cfg = config(tmp_path, html_source(feed_server, "/report"))
    with caplog.at_level(logging.ERROR, logger="tallywatch.poll"):
        [results], latest, _ = run(cfg)
    assert results[0].status == "failed" and latest == {}
    message = f"selector 'div.news-body' matched nothing on {feed_server.url}/report (has the page layout changed?)"
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
    assert stored(cfg, "tanks")[D(2022, 8, 21)] != 1_912  # as first posted: 1,921, a typo

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
        ("kind = 'html'\nselector = 'div['", "sources[0]: selector 'div[' is not valid CSS"),
        ("kind = 'html'\nselector = 'p'\nfollow = '(unclosed'", "sources[0].follow: not a regular expression"),
        ("kind = 'rss'\nselector = 'p'", "sources[0]: selector is for html sources only"),
        ("kind = 'telegram_channel'", "sources[0]: a telegram_channel url is the channel's public preview"),
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
        f"""
[storage]
path = "{tmp_path / "tw.db"}"

[[sources]]
name = "kmu"
kind = "html"
url = "{server.url}/report"
selector = "div.news-body"
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
    feed_server.routes["/report"] = page("kmu_report_2025-06-14.html")
    feed_server.routes["/ops"] = page("genstaff_operational_update_2025-06-14.html")
    feed_server.routes[CHANNEL] = page("tme_page.html")
    cfg = write_config(tmp_path, feed_server)

    done = run_tallywatch("sources", "test", "kmu", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# kmu: 1 requests, 1 items, 14 figures (nothing stored)\n")
    assert "  personnel            2025-06-14     1,002,690  (+1,130)" in done.stdout
    ops = run_tallywatch("sources", "test", "gs-ops", "--config", str(cfg))
    assert "  combat_clashes       2025-06-14           220" in ops.stdout, ops.stderr
    channel = run_tallywatch("sources", "test", "gs-channel", "--config", str(cfg))
    assert channel.stdout.startswith("# gs-channel: 1 requests, 4 items, 39 figures (nothing stored)\n"), channel.stdout
    assert "GeneralStaffZSU/21004  2022-08-20T15:12+00:00\n  Оперативна інформація" in channel.stdout
    assert "  (no figures)" in channel.stdout
    assert not (tmp_path / "tw.db").exists()

    feed_server.routes["/report"] = page("kmu_report_changed_layout.html")
    broken = run_tallywatch("sources", "test", "kmu", "--config", str(cfg))
    assert broken.returncode == 1
    assert broken.stderr == (
        f"tallywatch sources test kmu: selector 'div.news-body' matched nothing on {feed_server.url}/report "
        "(has the page layout changed?)\n"
    )
    unknown = run_tallywatch("sources", "test", "nope", "--config", str(cfg))
    assert unknown.returncode == 2
    assert "no source named 'nope' (configured: kmu, gs-ops, gs-channel)" in unknown.stderr


def test_sources_lists_each_sources_health(tmp_path, feed_server):
    feed_server.routes["/report"] = page("kmu_report_changed_layout.html")  # failing
    feed_server.routes["/ops"] = page("genstaff_operational_update_2025-06-14.html")
    feed_server.routes[CHANNEL] = page("tme_page.html")
    cfg = write_config(tmp_path, feed_server)
    before = run_tallywatch("sources", "--config", str(cfg))
    assert "kmu  (html, priority 1)  not polled yet" in before.stdout, before.stderr
    run_tallywatch("poll", "--config", str(cfg))
    listed = run_tallywatch("sources", "--config", str(cfg))
    assert "kmu  (html, priority 1)  failing: 1 in a row" in listed.stdout
    assert "    last error: selector 'div.news-body' matched nothing on" in listed.stdout
    assert "gs-channel  (telegram_channel, priority 100)  ok" in listed.stdout
    assert "    next poll every 1h" in listed.stdout
    health = {h["name"]: h for h in json.loads(run_tallywatch("sources", "--json", "--config", str(cfg)).stdout)}
    assert health["gs-ops"]["state"] == "ok" and health["gs-ops"]["last_new_report"]
    assert health["kmu"]["consecutive_failures"] == 1 and health["kmu"]["next_poll"].startswith("not before ")
