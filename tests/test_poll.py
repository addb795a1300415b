"""The whole pipeline for real: a loopback HTTP server, feedparser, SQLite files, the console."""

import asyncio
import datetime as dt
import io
import json
import logging

import httpx
import pytest
from feeds import atom, post, rss, slow
from genstaff_cases import FIXTURES

from tallywatch.backoff import backoff_seconds
from tallywatch.channels.console import ConsoleChannel
from tallywatch.config import Config, Detect, Http, Milestone, Source, SourceHealth, Storage
from tallywatch.pipeline import Pipeline
from tallywatch.sources.http import FetchError, PoliteClient, retry_after_seconds
from tallywatch.store import Store, utcnow

UTC = dt.UTC
AUG = [
    ("mil-67990", "losses to 03.08", post("en_mil_gov_ua_2022-08-03.txt"), dt.datetime(2022, 8, 3, 6, tzinfo=UTC)),
    ("mil-68100", "losses to 09.08", post("en_mil_gov_ua_2022-08-09.txt"), dt.datetime(2022, 8, 9, 6, tzinfo=UTC)),
    ("mil-68101", "Minister's visit", "The minister met soldiers in Kharkiv.", dt.datetime(2022, 8, 9, 9, tzinfo=UTC)),
]


def config(tmp_path, *sources, **http):
    return Config(
        storage=Storage(path=tmp_path / "tw.db"),
        http=Http(**http),
        sources=list(sources),
        milestones={"personnel": Milestone(step=10_000), "tanks": Milestone(step=1_000)},
    )


def source(server, path, name=None, kind="rss", **extra):
    return Source.from_dict(
        {"name": name or path.strip("/").replace(".", "-"), "kind": kind, "url": server.url + path, **extra}
    )


def run(cfg, force=False, rounds=1):
    out = io.StringIO()

    async def go():
        pipeline = Pipeline(cfg, channels=[ConsoleChannel(out)])
        try:
            return [await pipeline.poll_all(force=force) for _ in range(rounds)], pipeline.store.latest()
        finally:
            await pipeline.aclose()

    results, latest = asyncio.run(go())
    return results, {r.metric: r for r in latest}, out.getvalue()


def test_rss_and_json_sources_end_to_end(tmp_path, feed_server):
    feed_server.routes["/mod.rss"] = (200, {"Content-Type": "application/rss+xml"}, rss(AUG))
    feed_server.routes["/api"] = (
        200,
        {"Content-Type": "application/json"},
        (FIXTURES / "russianwarship_api_v2" / "statistics_2022-10-03.json").read_bytes(),
    )
    cfg = config(tmp_path, source(feed_server, "/mod.rss"), source(feed_server, "/api", kind="json"))
    [results], latest, _ = run(cfg)
    assert [(r.source, r.status, r.documents) for r in results] == [("mod-rss", "ok", 3), ("api", "ok", 1)]
    assert [r.ingested.count("new") for r in results] == [26, 14]
    assert latest["personnel"].value == 60430 and latest["personnel"].as_of == dt.date(2022, 10, 3)
    assert latest["personnel"].source == "api" and latest["personnel"].delta == 60430 - 42640
    assert latest["srbm_launchers"].value == 4


def test_new_report_alerts_on_the_console(tmp_path, feed_server):
    feed_server.routes["/mod.rss"] = (200, {}, rss(AUG[:1]))
    cfg = config(tmp_path, source(feed_server, "/mod.rss"))
    cfg = cfg.replace(
        milestones={"personnel": Milestone(step=1_000), "tanks": Milestone(levels=[1_800])},
        detect=Detect(late_after=7),  # the 6 days between the two real posts: still news, said since when
    )
    [[first]], _, out = run(cfg)
    assert first.ingested.count("new") == 13 and out == ""  # first import: recorded quietly
    feed_server.routes["/mod.rss"] = (200, {}, rss(AUG))
    [[second]], _latest, out = run(cfg)
    assert second.ingested.count("new") == 13  # the 03.08 post is not read again
    assert out == (
        "2022-08-09  personnel passed 42,000 — now 42,640 (+1,290 since 3 Aug 2022)\n"
        "2022-08-09  tanks passed 1,800 — now 1,817 (+43 since 3 Aug 2022)\n"
    )
    [[third]], _, out = run(cfg)  # polling again repeats nothing
    assert third.ingested.changes == [] and out == ""


def test_conditional_get_answers_304_and_costs_no_parsing(tmp_path, feed_server):
    body = rss(AUG)

    def answer(headers):
        if (
            headers.get("if-none-match") == '"v1"'
            and headers.get("if-modified-since") == "Tue, 09 Aug 2022 06:00:00 GMT"
        ):
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"ETag": '"v1"', "Last-Modified": "Tue, 09 Aug 2022 06:00:00 GMT"}, body

    feed_server.routes["/mod.rss"] = answer
    cfg = config(tmp_path, source(feed_server, "/mod.rss"))
    [first, second], _, _ = run(cfg, rounds=2)
    assert first[0].status == "ok" and first[0].documents == 3
    assert second[0].status == "not_modified" and second[0].documents == 0
    hits = feed_server.hits("/mod.rss")
    assert "if-none-match" not in hits[0]
    assert hits[1]["if-none-match"] == '"v1"'
    assert hits[1]["user-agent"].startswith("tallywatch/")


def test_edited_post_is_a_revision(tmp_path, feed_server):
    feed_server.routes["/mod.rss"] = (200, {}, rss(AUG[:1]))
    cfg = config(tmp_path, source(feed_server, "/mod.rss"))
    run(cfg)
    guid, title, text, published = AUG[0]
    feed_server.routes["/mod.rss"] = (200, {}, rss([(guid, title, text.replace("41350", "41360"), published)]))
    [results], latest, _ = run(cfg)
    assert [(c.kind, c.previous, c.figure.value) for c in results[0].ingested.changes if c.kind != "unchanged"] == [
        ("revised", 41350, 41360)
    ]
    assert latest["personnel"].value == 41360


def test_atom_feed(tmp_path, feed_server):
    feed_server.routes["/gs.atom"] = (200, {"Content-Type": "application/atom+xml"}, atom(AUG))
    cfg = config(tmp_path, source(feed_server, "/gs.atom", kind="atom"))
    [results], latest, _ = run(cfg)
    assert results[0].status == "ok"
    assert latest["personnel"].value == 42640


BROKEN = {
    "html": (
        (200, {"Content-Type": "text/html"}, b"<!doctype html><html><body><h1>Site maintenance</h1></body></html>"),
        "not a well-formed feed",
    ),
    "truncated": ((200, {}, rss(AUG)[:900]), "not a well-formed feed"),
    "empty": ((200, {}, b""), "empty response body"),
    "http500": ((500, {}, b"oops"), "HTTP 500 Internal Server Error"),
    "timeout": (slow(2.0, (200, {}, rss(AUG))), "timed out"),
    "oversized": (
        (200, {}, b"<rss>" + b" " * 300_000 + b"</rss>"),
        "response too large: 300,011 bytes declared, limit 100,000",
    ),
    "refused": (None, "ConnectError"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_source_is_one_clear_error_and_the_others_go_on(tmp_path, feed_server, caplog, case):
    response, message = BROKEN[case]
    feed_server.routes["/good.rss"] = (200, {}, rss(AUG))
    if response is not None:
        feed_server.routes["/bad"] = response
        bad = source(feed_server, "/bad", name="bad", timeout=0.5, max_bytes=100_000)
    else:
        bad = Source(name="bad", kind="rss", url="http://127.0.0.1:9/feed.rss")  # nothing listens on port 9
    cfg = config(tmp_path, bad, source(feed_server, "/good.rss", name="good"))
    with caplog.at_level(logging.WARNING):
        [results], latest, _ = run(cfg)
    by_name = {r.source: r for r in results}
    assert by_name["good"].status == "ok" and latest["personnel"].value == 42640
    assert by_name["bad"].status == "failed" and message in by_name["bad"].error
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith("source bad failed (1 in a row): ")
    assert message in errors[0].getMessage()


def test_retry_after_is_honoured(tmp_path, feed_server):
    feed_server.routes["/busy"] = (429, {"Retry-After": "120"}, b"slow down")
    cfg = config(tmp_path, source(feed_server, "/busy", name="busy"))
    [first, second], _, _ = run(cfg, rounds=2)
    assert first[0].status == "failed" and "HTTP 429" in first[0].error
    assert second[0].status == "skipped" and "backing off" in second[0].error
    assert len(feed_server.hits("/busy")) == 1  # the second round did not knock
    from tallywatch.store import Store

    store = Store(tmp_path / "tw.db")
    state = store.source_state("busy")
    store.close()
    wait = dt.datetime.fromisoformat(state["next_poll_after"]) - utcnow()
    assert dt.timedelta(seconds=110) < wait <= dt.timedelta(seconds=121)
    assert state["consecutive_failures"] == 1 and state["last_error"] == "HTTP 429 Too Many Requests"
    [[forced]], _, _ = run(cfg, force=True)
    assert forced.status == "failed" and len(feed_server.hits("/busy")) == 2


def test_failures_back_off_and_success_resets(tmp_path, feed_server):
    feed_server.routes["/flaky"] = (503, {}, b"")
    cfg = config(tmp_path, source(feed_server, "/flaky", name="flaky"), backoff_base=0.001, backoff_max=0.002)
    run(cfg, rounds=3, force=True)  # three failures in a row, whatever their backoff
    from tallywatch.store import Store

    store = Store(tmp_path / "tw.db")
    assert store.source_state("flaky")["consecutive_failures"] == 3
    store.close()
    feed_server.routes["/flaky"] = (200, {}, rss(AUG))
    [[slowed]], _, _ = run(cfg)  # three failures in a row: polled every 4 × 1 h until it works again
    assert slowed.status == "skipped" and slowed.error.startswith("backing off until ")
    [[ok]], _, _ = run(cfg, force=True)
    store = Store(tmp_path / "tw.db")
    state = store.source_state("flaky")
    store.close()
    assert ok.status == "ok" and state["consecutive_failures"] == 0 and state["last_error"] is None


def test_a_source_failing_for_long_is_slowed_then_marked_broken_until_it_works(tmp_path, feed_server, caplog):
    feed_server.routes["/down"] = (503, {}, b"")
    cfg = config(tmp_path, source(feed_server, "/down", name="down", interval="30m"), backoff_base=0.001)
    cfg = cfg.replace(source_health=SourceHealth(slow_after=2, slow_factor=4, broken_after=4))
    with caplog.at_level(logging.WARNING, logger="tallywatch.poll"):
        rounds, _, out = run(cfg, force=True, rounds=5)
    assert [r.status for [r] in rounds] == ["failed"] * 5
    assert "source down: 2 failures in a row; polled every 2h instead of every 30m until it works again" in caplog.text
    assert caplog.text.count("polled every 2h") == 1  # said once, when it happens
    message = "source down is broken: 4 polls in a row failed, the last with: HTTP 503 Service Unavailable"
    assert message in caplog.text and out.count(message) == 1  # one admin alert, not one per failure
    store = Store(tmp_path / "tw.db")
    since = store.source_state("down")["broken_since"]
    assert since and store.source_state("down")["next_poll_after"] > utcnow().isoformat()
    store.close()

    feed_server.routes["/down"] = (200, {}, rss(AUG))
    [[ok]], _, out = run(cfg, force=True)
    assert ok.status == "ok"
    assert "source down works again, after 0 h marked broken" in out
    store = Store(tmp_path / "tw.db")
    assert store.source_state("down")["broken_since"] is None
    assert [e["rule"] for e in store.events() if e["rule"] in ("broken", "repaired")] == ["broken", "repaired"]
    store.close()


def test_backoff_is_exponential_with_full_jitter():
    samples = [backoff_seconds(5, base=60, cap=3600) for _ in range(200)]
    assert all(0 <= s <= 960 for s in samples) and max(samples) > 480  # uniform over [0, 60·2⁴]
    assert all(backoff_seconds(30, base=60, cap=3600) <= 3600 for _ in range(50))
    assert backoff_seconds(1, base=60, cap=3600, floor=300) >= 300


def test_retry_after_as_http_date():
    now = dt.datetime(2026, 10, 21, 7, 26, tzinfo=UTC)
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:00 GMT", now) == 120
    assert retry_after_seconds("soon", now) is None


def test_size_cap_aborts_a_stream_without_content_length():
    async def chunks():
        for _ in range(100):
            yield b"x" * 10_000

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=chunks()))

    async def go():
        client = PoliteClient("tallywatch-test", transport)
        try:
            await client.get("http://feeds.test/big", max_bytes=50_000)
        finally:
            await client.aclose()

    with pytest.raises(FetchError, match="over 50,000 bytes, download aborted"):
        asyncio.run(go())


def test_a_body_that_names_a_local_file_is_not_read_from_disk(tmp_path, feed_server):
    """feedparser opens bare bytes as a file name if it can; the body must be parsed as a body."""
    local = tmp_path / "local.rss"
    local.write_bytes(rss(AUG))
    feed_server.routes["/evil"] = (200, {}, str(local).encode())
    [[result]], latest, _ = run(config(tmp_path, source(feed_server, "/evil", name="evil")))
    assert result.status == "failed" and "not a well-formed feed" in result.error
    assert latest == {}


@pytest.mark.parametrize("absurd", [10**12, 10**30])
def test_an_absurd_value_is_refused_at_extraction_and_the_rest_is_read(tmp_path, feed_server, caplog, absurd):
    """The real API answer of 2022-10-03 with personnel replaced by 10^12 (which made the milestone
    rule list ~10^7 levels: OOM) or 10^30 (an SQLite OverflowError on every poll). The figure is
    refused, said once per version of the answer; the 13 other figures are stored; nothing crashes.
    (The real answer changed by us: no publisher sent such a value.)"""
    answer = json.loads((FIXTURES / "russianwarship_api_v2" / "statistics_2022-10-03.json").read_bytes())
    answer["data"]["stats"]["personnel_units"] = absurd
    feed_server.routes["/api"] = (200, {"Content-Type": "application/json"}, json.dumps(answer).encode())
    cfg = config(tmp_path, source(feed_server, "/api", kind="json"))
    with caplog.at_level(logging.WARNING):
        rounds, latest, out = run(cfg, force=True, rounds=2)
    (first,), (second,) = rounds
    assert first.status == "failed" and "is not a loss count (limit 1,000,000,000); ignored" in first.error
    assert second.status == "ok"  # the same answer again: said once, not every poll
    assert "personnel" not in latest and latest["tanks"].value == 2380 and len(latest) == 13
    assert out == "" and "Traceback" not in caplog.text and "OverflowError" not in caplog.text


def test_milestone_levels_are_counted_not_listed():
    """However far a figure jumps, the rule's work and its alerts are bounded."""
    from tallywatch.detect.milestones import levels_between

    rule = Milestone(step=100_000)
    assert levels_between(rule, 1_000_000, 10**15) == [10**15]  # 10^10 levels crossed: only the highest
    assert levels_between(rule, 990_000, 1_300_000) == [1_000_000, 1_100_000, 1_200_000, 1_300_000]
    listed = Milestone(step=100_000, levels=[5, 1_000_000, 10**12])
    assert levels_between(listed, 0, 10**13) == [5, 1_000_000, 10**12, 10**13]


def fetch(url: str, **limits):
    async def go():
        client = PoliteClient("tallywatch-test")
        try:
            return await client.get(url, **limits)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_a_slow_drip_is_cut_off_at_the_deadline(feed_server):
    """A server sending one byte at a time defeats a per-read timeout; the deadline ends the request."""
    import time

    def drip(headers):
        def body():
            for _ in range(600):
                time.sleep(0.1)  # the hostile server's pace, not the test's synchronisation
                yield b"<"

        return 200, {"Content-Type": "application/rss+xml", "Content-Length": "600"}, body()

    feed_server.routes["/drip"] = drip
    with pytest.raises(FetchError, match=r"took too long: no whole answer within 1 s \(the deadline\)"):
        fetch(f"{feed_server.url}/drip", timeout=5, deadline=1)


def gzip_layers(size: int, layers: int) -> bytes:
    """``size`` zero bytes gzipped ``layers`` times, compressed a megabyte at a time."""
    import zlib

    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    data = b"".join(squeeze.compress(block) for _ in range(size >> 20)) + squeeze.flush()
    for _ in range(layers - 1):
        data = zlib.compress(data, 9, wbits=16 + zlib.MAX_WBITS)
    return data


def test_a_gzip_bomb_is_refused_without_being_decoded(feed_server):
    """256 MiB of zeros gzipped twice is ~1 kB on the wire (the review sent 1 GiB); stacked encodings are refused, and one
    layer of 200 MB stops at the cap: memory stays bounded (traced), nothing near the decoded size."""
    import tracemalloc

    twice = gzip_layers(256 << 20, 2)
    assert len(twice) < 10_000
    feed_server.routes["/twice"] = (200, {"Content-Encoding": "gzip, gzip"}, twice)
    feed_server.routes["/once"] = (200, {"Content-Encoding": "gzip"}, gzip_layers(200 << 20, 1))
    feed_server.routes["/brotli"] = (200, {"Content-Encoding": "br"}, b"\x0b\x02\x80hello\x03")
    with pytest.raises(FetchError, match=r"encoded 2 times over \(gzip, gzip\); one layer at most"):
        fetch(f"{feed_server.url}/twice")
    with pytest.raises(FetchError, match=r"unknown content encoding 'br'"):
        fetch(f"{feed_server.url}/brotli")
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match=r"over 5,000,000 bytes once decoded, download aborted"):
            fetch(f"{feed_server.url}/once", max_bytes=5_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30_000_000  # the cap and a chunk, never the 200 MB


def test_gzip_and_deflate_answers_are_read(feed_server):
    import zlib

    body = rss(AUG)
    feed_server.routes["/gz"] = (200, {"Content-Encoding": "gzip"}, zlib.compress(body, wbits=16 + zlib.MAX_WBITS))
    feed_server.routes["/zlib"] = (200, {"Content-Encoding": "deflate"}, zlib.compress(body))
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    feed_server.routes["/raw"] = (200, {"Content-Encoding": "deflate"}, raw.compress(body) + raw.flush())
    for path in ("/gz", "/zlib", "/raw"):
        assert fetch(f"{feed_server.url}{path}").content == body, path


def test_a_storage_fault_is_one_line_per_change_counted_and_nothing_is_lost(tmp_path, feed_server, caplog):
    """The database turns read-only under the daemon (``PRAGMA query_only``: SQLite's own "attempt
    to write a readonly database", as on a disk remounted read-only; a full disk takes the same
    path). Each poll fails and is counted; the log says it once, not two tracebacks a poll; when
    the disk is writable again, the same reports are stored."""
    from tallywatch.health import REGISTRY

    def faults() -> float:
        return REGISTRY.get_sample_value("tallywatch_storage_errors_total", {"kind": "read-only"}) or 0.0

    feed_server.routes["/mod.rss"] = (200, {}, rss(AUG[:1]))
    cfg = config(tmp_path, source(feed_server, "/mod.rss", name="mod")).replace(
        milestones={"personnel": Milestone(step=1_000)}, detect=Detect(confirm="none", late_after=7)
    )
    before = faults()
    out = io.StringIO()

    async def go():
        pipeline = Pipeline(cfg, channels=[ConsoleChannel(out)])
        try:
            assert (await pipeline.poll_all(force=True))[0].status == "ok"
            await pipeline.in_store(pipeline.store.conn.execute, "PRAGMA query_only = ON")
            feed_server.routes["/mod.rss"] = (200, {}, rss(AUG))  # the next report, and no way to store it
            failed = [(await pipeline.poll_all(force=True))[0] for _ in range(3)]
            fault = pipeline.faults.current
            await pipeline.in_store(pipeline.store.conn.execute, "PRAGMA query_only = OFF")  # writable again
            ok = (await pipeline.poll_all(force=True))[0]
            return failed, fault, ok, pipeline.faults.current, pipeline.store.latest()
        finally:
            await pipeline.aclose()

    with caplog.at_level(logging.INFO):
        failed, fault, ok, after, latest = asyncio.run(go())
    assert [r.status for r in failed] == ["failed"] * 3
    assert failed[0].error == "storage read-only: attempt to write a readonly database"
    assert faults() - before == 3  # every failed round counted
    assert "attempt to write a readonly database (read-only) at " in fault and after is None  # /healthz
    assert caplog.text.count("can't be written (read-only: attempt to write a readonly database)") == 1
    assert "Traceback" not in caplog.text and "unexpected error" not in caplog.text
    assert "mod: the database can be written again" in caplog.text
    assert ok.status == "ok" and ok.ingested.count("new") > 0
    assert max(row.as_of for row in latest) == dt.date(2022, 8, 9)
    # the milestone the lost round would have raised is raised now, and told: it never was
    assert out.getvalue() == "2022-08-09  personnel passed 42,000 — now 42,640 (+1,290 since 3 Aug 2022)\n"


def test_a_permanent_redirect_is_remembered_a_temporary_one_is_not(tmp_path, feed_server, caplog):
    feed_server.routes["/old.rss"] = (301, {"Location": "/new.rss"}, b"")
    feed_server.routes["/new.rss"] = (200, {}, rss(AUG))
    feed_server.routes["/now.rss"] = (302, {"Location": "/new.rss"}, b"")
    cfg = config(tmp_path, source(feed_server, "/old.rss", name="old"), source(feed_server, "/now.rss", name="now"))
    with caplog.at_level(logging.WARNING):
        rounds, latest, _ = run(cfg, force=True, rounds=3)
    assert all(r.status == "ok" for results in rounds for r in results)
    assert len(feed_server.hits("/old.rss")) == 1  # once: then straight to where it moved
    assert len(feed_server.hits("/now.rss")) == 3  # a temporary redirect is asked again every time
    assert caplog.text.count(f"source old: {feed_server.url}/old.rss has moved for good to") == 1
    assert latest["personnel"].value > 0


def test_a_redirect_to_another_site_is_refused_unless_allowed(tmp_path, feed_server):
    elsewhere = feed_server.url.replace("127.0.0.1", "localhost")  # another host name: another site
    feed_server.routes["/away.rss"] = (302, {"Location": f"{elsewhere}/new.rss"}, b"")
    feed_server.routes["/new.rss"] = (200, {}, rss(AUG))
    cfg = config(tmp_path, source(feed_server, "/away.rss", name="away"))
    [[refused]], _, _ = run(cfg, force=True)
    assert refused.status == "failed"
    assert refused.error.startswith("refused a redirect to another site, localhost (HTTP 302 from ")
    assert 'allow it: follow_redirects_to = ["localhost"]' in refused.error
    assert feed_server.hits("/new.rss") == []
    allowed = config(tmp_path, source(feed_server, "/away.rss", name="away", follow_redirects_to=["localhost"]))
    [[followed]], _, _ = run(allowed, force=True)
    assert followed.status == "ok" and len(feed_server.hits("/new.rss")) == 1


def test_same_site_is_the_registrable_domain():
    from tallywatch.sources.http import redirect_allowed

    assert redirect_allowed("https://www.kmu.gov.ua/news", "https://kmu.gov.ua/news/1")
    assert not redirect_allowed("https://www.kmu.gov.ua/news", "https://mil.gov.ua/news/1")  # gov.ua is a suffix
    assert not redirect_allowed("https://a.github.io/x", "https://b.github.io/x")  # a private suffix too
    assert redirect_allowed("https://t.me/s/x", "https://cdn.example.org/y", ["cdn.example.org"])


def test_a_warning_about_the_same_unreadable_value_is_said_once(tmp_path, feed_server, caplog):
    """The real API answer of 2022-10-03 with one value that is not a whole number (changed by us):
    polled three times, the warning comes once; a different bad value is said again."""
    answer = json.loads((FIXTURES / "russianwarship_api_v2" / "statistics_2022-10-03.json").read_bytes())
    answer["data"]["stats"]["tanks"] = "2,380?"
    feed_server.routes["/api"] = (200, {"Content-Type": "application/json"}, json.dumps(answer).encode())
    cfg = config(tmp_path, source(feed_server, "/api", kind="json"))
    with caplog.at_level(logging.WARNING, logger="tallywatch.extract"):
        run(cfg, force=True, rounds=3)
        answer["data"]["stats"]["tanks"] = "2,381?"
        feed_server.routes["/api"] = (200, {"Content-Type": "application/json"}, json.dumps(answer).encode())
        run(cfg, force=True)
    said = [r.getMessage() for r in caplog.records if "is not a whole number" in r.getMessage()]
    assert said == [
        "api item 2022-10-03: tanks on 2022-10-03 is not a whole number: '2,380?'",
        "api item 2022-10-03: tanks on 2022-10-03 is not a whole number: '2,381?'",
    ]
