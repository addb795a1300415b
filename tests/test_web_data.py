"""The feeds and the data API through the real web app (uvicorn on 127.0.0.1), over a store that
the real ingest filled with the bundled General Staff series (June 2025: daily reports, the
million, spikes): values checked against the series itself, the Atom feed read back by feedparser,
caching checked by counting the SQL statements a repeated request runs."""

import csv
import datetime as dt
import io

import feedparser
import pytest
from tally import Tally
from test_daily_report import day_item
from webapp import FIRST, LAST, D, bundled, june_database, serve

from tallywatch.config import Config
from tallywatch.ingest import ingest


@pytest.fixture
def june(tmp_path) -> Config:
    return june_database(tmp_path)


def test_latest_in_json_and_csv_with_cors(june):
    async def steps(client, pipeline):
        return (
            await client.get("/api/v1/latest", headers={"Origin": "https://someone.example"}),
            await client.get("/api/v1/latest.csv"),
            await client.get("/api/v1/latest", headers={"Accept": "text/csv"}),
        )

    answer, as_csv, accepted = serve(june, steps)
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"
    body = answer.json()
    assert body["date"] == "2025-06-13" and body["day_of_war"] == 1206
    assert "General Staff of the Armed Forces of Ukraine" in body["about"]
    first = body["figures"][0]
    assert first["metric"] == "personnel" and first["name"] == "personnel"
    assert first["value"] == bundled("personnel", LAST)
    assert first["change"] == bundled("personnel", LAST) - bundled("personnel", LAST - dt.timedelta(days=1))
    assert [f["metric"] for f in body["figures"]][:3] == ["personnel", "tanks", "armoured_vehicles"]
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows[0]["metric"] == "personnel" and int(rows[0]["value"]) == bundled("personnel", LAST)
    assert accepted.text == as_csv.text


def test_a_series_between_two_days_and_what_it_refuses(june):
    async def steps(client, pipeline):
        return [
            await client.get("/api/v1/series/tanks?from=2025-06-01&to=2025-06-13"),
            await client.get("/api/v1/series/tanks.csv?from=2025-06-10"),
            await client.get("/api/v1/series/tankz"),
            await client.get("/api/v1/series/tanks?from=yesterday"),
            await client.get("/api/v1/series/tanks?from=2025-06-01&to=<script>"),
        ]

    good, as_csv, unknown, bad_day, hostile = serve(june, steps)
    points = good.json()["points"]
    assert [p["date"] for p in points] == [str(FIRST + dt.timedelta(days=i)) for i in range(13)]
    for p in points:
        day = D.fromisoformat(p["date"])
        assert p["value"] == bundled("tanks", day)
        assert p["change"] == bundled("tanks", day) - bundled("tanks", day - dt.timedelta(days=1))
    assert good.json()["kind"] == "total"
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["date", "value", "change"] and rows[1][0] == "2025-06-10" and len(rows) == 5
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no metric named 'tankz'"
    assert "tanks" in unknown.json()["metrics"]
    assert bad_day.status_code == 400 and bad_day.json()["detail"].startswith(
        "from: expected a date such as 2025-06-14"
    )
    assert hostile.status_code == 400 and hostile.headers["content-type"] == "application/problem+json"


def test_events_since_a_time(june):
    async def steps(client, pipeline):
        return [
            await client.get("/api/v1/events?limit=500"),
            await client.get("/api/v1/events?since=2999-01-01T00:00:00Z"),
            await client.get("/api/v1/events?since=soon"),
            await client.get("/api/v1/events.csv?limit=3"),
        ]

    every, none, bad, as_csv = serve(june, steps)
    events = every.json()["events"]
    keys = [e["key"] for e in events]
    assert keys[0] == "report:2025-06-13"  # newest first
    assert sum(k.startswith("report:") for k in keys) == 13
    million = next(e for e in events if e["key"] == "milestone:personnel:1000000")
    assert million["date"] == "2025-06-12" and million["value"] == 1_000_340
    assert million["text"] == "Personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)"
    assert million["link"] == "https://www.mil.gov.ua/news/2025/06/12/losses/"
    assert not any(e["rule"] in ("digest", "broadcast", "stale", "broken") for e in events)
    assert none.json() == {"events": []}
    assert bad.status_code == 400 and "since: expected a date or a time" in bad.json()["detail"]
    assert len(list(csv.reader(io.StringIO(as_csv.text)))) == 4


def test_the_page_feeds_and_api_list_no_notice_meant_for_the_admins(june):
    """A typo set aside and a second source disagreeing are the admins' business: the API's events,
    the feeds in both languages and the page list the figures' alerts, never those notices nor the
    sources' ids."""
    tally = Tally(june.storage.resolved(), june, [])
    typo = tally.feed("mod", day_item(LAST + dt.timedelta(days=1), {"tanks": 90_000}))  # held, then set aside:
    aside = tally.feed("mod", day_item(LAST + dt.timedelta(days=2)))
    other = day_item(LAST + dt.timedelta(days=2), {"personnel": 5_000})
    apart = tally.feed("kmu-api", type(other)("kmu:1", "kmu:1", other.figures, link=other.link))
    told = [s.event.rule for s in [*typo.events, *aside.events, *apart.events]]
    assert "guard" in told and "disagreement" in told
    tally.close()

    async def steps(client, pipeline):
        return [
            await client.get(path)
            for path in ("/api/v1/events?limit=500", "/api/v1/events.csv?limit=500", "/feed.atom", "/uk/feed.atom")
        ] + [await client.get("/"), await client.get("/uk/")]

    api, as_csv, *pages = serve(june, steps)
    rules = {e["rule"] for e in api.json()["events"]}
    assert "report" in rules and "milestone" in rules and not rules & {"guard", "disagreement", "reported_delta"}
    for answer in [api, as_csv, *pages]:
        assert answer.status_code == 200
        for word in ("implausible", "kmu-api", " says ", "неправдоподібне", "kmu"):
            assert word not in answer.text, (answer.url, word)


def test_the_atom_feed_reads_back_in_both_languages(june):
    async def steps(client, pipeline):
        return await client.get("/feed.atom"), await client.get("/uk/feed.atom"), await client.get("/xx/feed.atom")

    english, ukrainian, unknown = serve(june, steps)
    assert english.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(english.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "Russia's losses: daily reports and alerts"
    assert feed.feed.links[0].href == "https://losses.example.org/feed.atom"
    assert feed.feed.author == "Russian losses — daily figures"  # the service's name ([service] name), not ours
    first = feed.entries[0]
    assert first.title == "Russia's losses on 13 Jun 2025"
    assert first.link == "https://www.mil.gov.ua/news/2025/06/13/losses/"
    assert first.id == "tag:tallywatch,2025:report:2025-06-13"
    assert "Personnel: <b>" in first.content[0].value
    million = next(e for e in feed.entries if e.id.endswith("milestone:personnel:1000000"))
    assert million.title == "Personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)"
    assert len({e.id for e in feed.entries}) == len(feed.entries) > 13  # the 13 reports and the alerts
    uk = feedparser.parse(ukrainian.content)
    assert not uk.bozo and uk.feed.language == "uk"
    assert uk.feed.title == "Втрати росії: щоденні звіти й сповіщення"
    assert uk.feed.author == "Втрати росії — щоденні дані"
    assert uk.entries[0].title.startswith("Втрати росії станом на 13.06.2025")
    assert unknown.status_code == 404


def test_a_repeated_request_costs_no_database_work_until_something_is_stored(june):
    statements = []

    async def steps(client, pipeline):
        first = await client.get("/api/v1/latest")
        pipeline.store.conn.set_trace_callback(statements.append)
        again = await client.get("/api/v1/latest")
        conditional = await client.get("/api/v1/latest", headers={"If-None-Match": first.headers["etag"]})
        after_repeats = len(statements)
        feed = await client.get("/feed.atom")
        after_feed = len(statements)
        feed_again = await client.get("/feed.atom")
        counts = (after_repeats, after_feed, len(statements))
        await pipeline.in_store(  # the next day's report
            ingest, pipeline.store, pipeline.detector, pipeline.channels, "mod", [day_item(LAST + dt.timedelta(days=1))]
        )
        newer = await client.get("/api/v1/latest", headers={"If-None-Match": first.headers["etag"]})
        pipeline.store.conn.set_trace_callback(None)
        return first, again, conditional, feed, feed_again, counts, newer

    first, again, conditional, feed, feed_again, counts, newer = serve(june, steps)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert conditional.status_code == 304 and conditional.content == b""
    after_repeats, after_feed, after_feed_again = counts
    assert after_repeats == 0  # the repeat and the conditional request: not one SQL statement
    assert after_feed > 0 and after_feed_again == after_feed  # the feed read once, then served as it was
    assert feed_again.content == feed.content
    assert newer.status_code == 200 and newer.json()["date"] == "2025-06-14"
    assert newer.headers["etag"] != first.headers["etag"]


def test_a_revised_report_leaves_the_page_feeds_and_api_answering_with_its_newest_version(june):
    """Issue 24, case 1: a revision of the day's report (here tanks +10 in an edited post) made
    version 2; every public answer shows it once, in its newest version, and none fails."""
    from tallywatch.detect.report import key as report_key

    tally = Tally(june.storage.resolved(), june, [])
    revised = tally.feed("mod", day_item(LAST, {"tanks": 10}, digest="edited"))
    assert [s.event.key for s in revised.events if s.event.rule == "report"] == [report_key(LAST, 2)]
    tally.close()

    async def steps(client, pipeline):
        paths = ["/", "/uk/", "/feed.atom", "/uk/feed.atom", "/api/v1/events", "/api/v1/events.csv"]
        return {path: await client.get(path) for path in paths}

    answers = serve(june, steps)
    assert {path: a.status_code for path, a in answers.items()} == dict.fromkeys(answers, 200)
    keys = [e["key"] for e in answers["/api/v1/events"].json()["events"]]
    assert keys.count(report_key(LAST, 2)) == 1 and report_key(LAST) not in keys
    entries = feedparser.parse(answers["/feed.atom"].content).entries
    ids = [entry.id for entry in entries]
    assert f"tag:tallywatch,2025:{report_key(LAST, 2)}" in ids and f"tag:tallywatch,2025:{report_key(LAST)}" not in ids
    tanks = f"{bundled('tanks', LAST) + 10:,}"
    assert tanks in answers["/"].text


def test_without_a_public_address_links_never_come_from_the_request_host(june):
    """With [web] public_url unset, the feeds' and the page's absolute links are built from the
    address the web app listens on: a request naming another Host (a forged one, or a proxy that
    passes anything on) can't put its site into the cached feed every reader gets."""
    data = june.to_dict()
    del data["web"]["public_url"]
    cfg = Config.from_dict(data)

    async def steps(client, pipeline):
        forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
        first = await client.get("/feed.atom", headers=forged)
        again = await client.get("/feed.atom")
        uk = await client.get("/uk/feed.atom", headers={"Host": "evil.example:9467"})
        page = await client.get("/", headers=forged)
        return str(client.base_url).rstrip("/"), first, again, uk, page

    origin, first, again, uk, page = serve(cfg, steps)
    assert origin == f"http://127.0.0.1:{cfg.web.port}"
    for answer in (first, again, uk, page):
        assert answer.status_code == 200 and b"evil.example" not in answer.content
    feed = feedparser.parse(again.content)
    assert feed.feed.links[0].href == feed.feed.id == f"{origin}/feed.atom"
    assert feed.feed.links[1].href == f"{origin}/"
    assert feedparser.parse(uk.content).feed.links[0].href == f"{origin}/uk/feed.atom"


def test_the_listening_address_as_an_origin():
    """An address to listen on as the origin of links: an IPv6 one in brackets; a wildcard (every
    address of the machine) as the loopback one, which always reaches it."""
    from tallywatch.web.server import origin

    assert origin("127.0.0.1", 9467) == "http://127.0.0.1:9467"
    assert origin("::1", 9467) == "http://[::1]:9467"
    assert origin("0.0.0.0", 80) == "http://127.0.0.1:80"
    assert origin("::", 8080) == "http://[::1]:8080"
    assert origin("localhost", 9467) == "http://localhost:9467"
