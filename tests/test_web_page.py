"""The public page over real data (June 2025 from the bundled series, through the real ingest):
its text and figures, its card and charts, its caching, and the page as a real headless browser
(Debian's chromium) renders it at a phone's width."""

import asyncio
import datetime as dt
import html
import io
import re
import shutil

import pytest
from PIL import Image
from webapp import LAST, bundled, fresh_install, june_database, serve

from tallywatch.history import daily

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def june(tmp_path):
    return june_database(tmp_path)


def test_the_page_in_english_and_ukrainian(june):
    async def steps(client, pipeline):
        return (
            await client.get("/"),
            await client.get("/uk/"),
            await client.get("/card.png"),
            await client.get("/uk/card.png"),
            await client.get("/chart/personnel.png"),
            await client.get("/chart/nukes.png"),
            await client.get("/xx/"),
        )

    en, uk, card, card_uk, chart, no_chart, unknown = serve(june, steps)
    page = html.unescape(en.text)
    assert en.status_code == 200 and en.headers["content-type"].startswith("text/html")
    assert "<h1>Russia's losses on 13 Jun 2025</h1>" in page
    assert "day 1,206 of the full-scale war" in page
    assert "Figures: General Staff of the Armed Forces of Ukraine" in page
    assert '<a href="https://www.mil.gov.ua/news/2025/06/13/losses/">original</a>' in page
    personnel = f"{bundled('personnel', LAST):,}"
    change = f"+{bundled('personnel', LAST) - bundled('personnel', LAST.replace(day=12)):,}"
    assert f'<th scope="row">13 Jun 2025</th><td class="num">{personnel}</td><td class="num">{change}</td>' in page
    assert "Personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)" in page  # a recent alert
    assert 'src="/chart/personnel.png?range=90d&v=report-2025-06-13"' in page and 'loading="lazy"' in page
    assert "<script" not in en.text and not re.search(r'(src|href)="(https?:)?//(?!www\.mil\.gov\.ua)', page)
    assert "default-src 'none'" in en.headers["content-security-policy"]
    assert '<html lang="uk">' in uk.text and "Втрати росії станом на 13.06.2025" in uk.text
    assert "Особовий склад" in uk.text and "1\u00a0001\u00a0560" in uk.text
    for png in (card, card_uk):
        assert png.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(png.content)).size == (1080, 1350)
    assert card.content != card_uk.content
    assert chart.headers["content-type"] == "image/png" and Image.open(io.BytesIO(chart.content)).size[0] > 500
    assert no_chart.status_code == 404 and unknown.status_code == 404


def test_the_page_costs_no_database_work_until_something_is_stored(june):
    statements = []

    async def steps(client, pipeline):
        first = await client.get("/")
        card = await client.get("/card.png")
        pipeline.store.conn.set_trace_callback(statements.append)
        again = await client.get("/")
        conditional = await client.get("/", headers={"If-None-Match": first.headers["etag"]})
        card_again = await client.get("/card.png", headers={"If-None-Match": card.headers["etag"]})
        pipeline.store.conn.set_trace_callback(None)
        return first, again, conditional, card_again

    first, again, conditional, card_again = serve(june, steps)
    assert statements == []
    assert again.text == first.text
    assert conditional.status_code == 304 and card_again.status_code == 304


def test_a_new_install_says_there_is_no_report_yet(tmp_path):
    from test_email import free_port

    from tallywatch.config import Config

    cfg = Config.from_dict({"storage": {"path": str(tmp_path / "new.db")}, "web": {"port": free_port()}})

    async def steps(client, pipeline):
        return await client.get("/"), await client.get("/card.png")

    page, card = serve(cfg, steps)
    assert page.status_code == 200 and "No daily report yet" in page.text and card.status_code == 404


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here (.ci/run installs Debian's); the page's browser test needs one"
)
def test_the_page_in_a_real_browser_at_a_phones_width(june, tmp_path):
    shot = tmp_path / "page.png"

    async def browse(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # as root in CI
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=412,2200",  # a phone's width (CSS pixels)
            "--virtual-time-budget=5000",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        return out.decode()

    async def steps(client, pipeline):
        url = str(client.base_url).rstrip("/") + "/uk/"
        dom = await browse("--dump-dom", url)
        await browse(f"--screenshot={shot}", url)
        return dom

    dom = html.unescape(serve(june, steps))  # chromium writes a no-break space as &nbsp;
    assert "Втрати росії станом на 13.06.2025" in dom
    # the first screen: the card, then the tiles (as of the report's day: the real clock is later);
    # one chart, then the history: not a stack of a chart a category
    at = [dom.index(mark) for mark in ("<picture>", "Станом на 13.06.2025", 'id="chart"', 'id="history"')]
    assert at == sorted(at) and dom.count("/chart/") == 1
    assert "Особовий склад" in dom and "1\u00a0001\u00a0560" in dom
    assert "перейдено рубіж 1\u00a0000\u00a0000" in dom
    image = Image.open(shot)
    assert image.size[0] == 412
    # the card was loaded and drawn: the screenshot is not a blank page (many colours in its top half)
    colours = image.convert("RGB").crop((0, 0, 412, 1100)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50


# -- the first screen: the card, the tiles, one chart, the history, the links ------------------------

CHANNELS = ["@losses_feed", {"chat": "@vtraty_feed", "language": "uk"}, -1001234567890]


def tiles_of(page: str) -> dict[str, list[str]]:
    """Each tile's category and its four figures (in a day, 7 days, 30 days, in all)."""
    found = re.findall(r'<li(?: class="wide")?>\s*<a href="[^"]*"[^>]*>([^<]+)</a>\s*<dl>(.*?)</dl>', page, re.S)
    return {name: re.findall(r"<dd>([^<]*)</dd>", dl) for name, dl in found}


def rows_of(page: str) -> list[tuple[str, str, str]]:
    return re.findall(
        r'<tr><th scope="row">([^<]+)</th><td class="num">([^<]+)</td><td class="num">([^<]+)</td></tr>', page
    )


def test_the_first_screen_answers_what_happened_today_in_both_languages(tmp_path):
    cfg = june_database(
        tmp_path,
        telegram={"channels": CHANNELS, "bot_username": "@losses_bot"},
        email={"enabled": True, "host": "127.0.0.1", "port": 2525, "security": "none"},
    )

    async def steps(client, pipeline):
        return [html.unescape((await client.get(path)).text) for path in ("/", "/uk/")]

    for page, words in zip(
        serve(cfg, steps, today=LAST),
        (
            ("Today, 13 Jun 2025", "Personnel", "Tanks", "Personnel: the last 90 days", "Personnel, day by day"),
            (
                "Сьогодні, 13.06.2025",
                "Особовий склад",
                "Танки",
                "Особовий склад: останні 90 днів",
                "Особовий склад, день за днем",
            ),
        ),
        strict=True,
    ):
        marks = [
            "<picture>",
            '<ul class="tiles">',
            '<h2 id="chart">',
            '<h2 id="history">',
            'href="https://t.me/losses_feed"',
            'href="https://t.me/vtraty_feed"',
            'href="https://t.me/losses_bot"',
            '/subscribe">',
        ]
        at = [page.find(mark) for mark in marks]
        assert -1 not in at and at == sorted(at), dict(zip(marks, at, strict=True))
        assert all(word in page for word in words), [w for w in words if w not in page]
        assert page.count("/chart/") == 1  # one chart, not one a category
        assert "t.me/-100" not in page and "t.me/1001234567890" not in page  # a chat id has no public address
        assert len(tiles_of(page)) == len(daily()[LAST]) == 14  # every category of the day (ground robots came later)
        assert re.search(r"<img [^>]*>", page) and all(
            " alt=" in img and " width=" in img and " height=" in img for img in re.findall(r"<img [^>]*>", page)
        )
    en, uk = serve(cfg, steps, today=LAST)
    assert "Telegram channel @losses_feed" in en and "Telegram bot @losses_bot" in en
    assert "Telegram-канал @vtraty_feed" in uk and "Telegram-бот @losses_bot" in uk
    assert '(<span lang="uk">Українська</span>)' in en  # the Ukrainian channel, named in the English page


def test_the_card_comes_540_and_1080_wide_as_webp_with_a_png_fallback(june):
    async def steps(client, pipeline):
        page = (await client.get("/uk/")).text
        source = re.search(r'<source type="image/webp" srcset="([^"]+)" sizes="[^"]+">', page)
        img = re.search(
            r'<img class="card" src="([^"]+)" srcset="([^"]+)" sizes="[^"]+" width="1080" height="1350"', page
        )
        assert source and img, page
        got = {}
        for srcset in (source.group(1), img.group(2)):
            for entry in srcset.split(", "):
                url, width = entry.split(" ")
                got[html.unescape(url)] = (int(width.removesuffix("w")), await client.get(html.unescape(url)))
        again = await client.get(
            "/uk/card-540.webp", headers={"If-None-Match": got[next(iter(got))][1].headers["etag"]}
        )
        wrong = [await client.get(path) for path in ("/card-300.webp", "/card-540.gif", "/xx/card-540.png")]
        return img.group(1), got, again, wrong

    fallback, got, again, wrong = serve(june, steps)
    assert fallback.startswith("/uk/card-540.png?v=")
    assert {(url.split("?")[0], width) for url, (width, _r) in got.items()} == {
        ("/uk/card-540.webp", 540),
        ("/uk/card-1080.webp", 1080),
        ("/uk/card-540.png", 540),
        ("/uk/card.png", 1080),
    }
    for url, (width, answer) in got.items():
        image = Image.open(io.BytesIO(answer.content))
        kind = "WEBP" if ".webp" in url else "PNG"
        assert (image.format, image.size) == (kind, (width, width * 1350 // 1080)), url
        assert answer.headers["content-type"] == f"image/{kind.lower()}"
    small = Image.open(io.BytesIO(got[next(u for u in got if "540.webp" in u)][1].content))
    assert len(small.convert("RGB").getcolors(1 << 16) or range(999)) > 50  # a drawing, not a blank
    assert (
        len(got[next(u for u in got if "540.webp" in u)][1].content)
        < len(got[next(u for u in got if "card.png" in u)][1].content) / 4
    )
    assert again.status_code == 304
    assert [w.status_code for w in wrong] == [404, 404, 404] and "540 or 1080" in wrong[0].text


def test_the_tiles_are_the_stores_changes_in_a_day_7_and_30_days_and_the_total(june):
    async def steps(client, pipeline):
        return html.unescape((await client.get("/")).text), html.unescape((await client.get("/uk/")).text)

    en, uk = serve(june, steps, today=LAST)

    def change(metric: str, days: int) -> int:
        """The sum of the days' changes, as the bundled series gives them day by day."""
        return sum(
            bundled(metric, LAST - dt.timedelta(days=n)) - bundled(metric, LAST - dt.timedelta(days=n + 1))
            for n in range(days)
        )

    for metric, name, name_uk in (
        ("personnel", "Personnel", "Особовий склад"),
        ("tanks", "Tanks", "Танки"),
        ("uav", "UAVs", "БПЛА"),
    ):
        expected = [f"+{change(metric, n):,}" for n in (1, 7, 30)] + [f"{bundled(metric, LAST):,}"]
        assert tiles_of(en)[name] == expected, metric
        assert tiles_of(uk)[name_uk] == [e.replace(",", "\u00a0") for e in expected]
    assert "Each category: its change in a day, in 7 days and in 30 days, and its total since 24 Feb 2022." in en


def test_the_range_links_change_the_charts_range_and_mark_the_one_shown(june):
    async def steps(client, pipeline):
        page = html.unescape((await client.get("/?metric=tanks&range=1y")).text)
        uk = html.unescape((await client.get("/uk/?metric=tanks&range=30d")).text)
        src = re.search(r'<img src="(/chart/tanks\.png\?[^"]+)"', page).group(1)
        charts = {r: await client.get(f"/chart/tanks.png?range={r}&v=x") for r in ("30d", "all")}
        bad = await client.get("/?metric=tanks&range=2w")
        bad_chart = await client.get("/chart/tanks.png?range=2w")
        return page, uk, src, charts, bad, bad_chart

    page, uk, src, charts, bad, bad_chart = serve(june, steps, today=LAST)
    assert src.startswith("/chart/tanks.png?range=1y&v=")
    choice = page[page.index('<nav aria-label="Range of the chart">') :].split("</nav>")[0]
    links = re.findall(r'<li><a href="([^"]+)"( aria-current="true")?>([^<]+)</a></li>', choice)
    assert [(href, bool(cur), words) for href, cur, words in links] == [
        ("/?metric=tanks&range=30d#chart", False, "30 days"),
        ("/?metric=tanks&range=90d#chart", False, "90 days"),
        ("/?metric=tanks&range=1y#chart", True, "1 year"),
        ("/?metric=tanks&range=all#chart", False, "All"),
    ]
    assert '<h2 id="chart">Tanks: the last year</h2>' in page and 'alt="Chart of tanks, the last year"' in page
    assert '<a href="/uk/?metric=tanks&range=30d#chart" aria-current="true">30 днів</a>' in uk
    assert "Танки: останні 30 днів" in uk
    short, whole = (Image.open(io.BytesIO(c.content)) for c in charts.values())
    assert charts["30d"].content != charts["all"].content and short.format == whole.format == "PNG"
    assert bad.status_code == 400 and "There is no range “2w”: choose 30d, 90d, 1y, all." in html.unescape(bad.text)
    assert bad_chart.status_code == 404 and "2w" in bad_chart.text


def test_the_history_table_pages_newest_first_with_its_csv(june):
    days = sorted(d for d in daily() if d <= LAST)

    async def steps(client, pipeline):
        first = html.unescape((await client.get("/?metric=tanks")).text)
        pages = int(re.search(r"Page 1 of (\d+)", first).group(1))
        last = html.unescape((await client.get(f"/?metric=tanks&page={pages}")).text)
        past = await client.get(f"/?metric=tanks&page={pages + 1}")
        past_uk = await client.get(f"/uk/?metric=tanks&page={pages + 1}")
        nonsense = await client.get("/?metric=tanks&page=two")
        no_metric = await client.get("/?metric=tankz")
        csv = await client.get(re.search(r'<a href="([^"]+)">Every day as CSV</a>', first).group(1))
        return first, pages, last, past, past_uk, nonsense, no_metric, csv

    first, pages, last, past, past_uk, nonsense, no_metric, csv = serve(june, steps, today=LAST)
    assert pages == -(-len(days) // 30)
    top = rows_of(first)
    assert len(top) == 30 and top[0] == (
        "13 Jun 2025",
        f"{bundled('tanks', LAST):,}",
        f"+{bundled('tanks', LAST) - bundled('tanks', LAST - dt.timedelta(days=1)):,}",
    )
    assert [r[0] for r in top[:2]] == ["13 Jun 2025", "12 Jun 2025"]  # newest first
    assert (
        'rel="prev"' not in first
        and '<a href="/?metric=tanks&range=90d&page=2#history" rel="next">Older days</a>' in first
    )
    bottom = rows_of(last)
    assert len(bottom) == len(days) - 30 * (pages - 1)
    assert bottom[-1][:2] == (f"{days[0].day} Feb 2022", f"{bundled('tanks', days[0]):,}")
    assert bottom[-1][2] == "—"  # the first day has no day before it: its change is not known
    assert 'rel="next"' not in last and f'page={pages - 1}#history" rel="prev">Newer days</a>' in last
    assert past.status_code == 404
    assert f"There is no page {pages + 1}: the history of tanks has {pages} pages." in html.unescape(past.text)
    assert (
        past_uk.status_code == 404
        and '<html lang="uk">' in past_uk.text
        and "Немає сторінки" in html.unescape(past_uk.text)
    )
    assert nonsense.status_code == 400 and "“two” is not a page number" in html.unescape(nonsense.text)
    assert no_metric.status_code == 404 and "There is no category “tankz” on this page." in html.unescape(
        no_metric.text
    )
    assert csv.status_code == 200 and csv.text.startswith("date,value,change")


def test_as_of_appears_when_the_newest_figures_are_older_than_today_in_kyiv(june):
    day = [LAST]

    async def steps(client, pipeline):
        en, uk = await client.get("/"), await client.get("/uk/")
        day[0] = LAST + dt.timedelta(days=1)  # midnight in Kyiv, nothing new stored: the page changes all the same
        later = [
            await client.get(p, headers={"If-None-Match": r.headers["etag"]}) for p, r in (("/", en), ("/uk/", uk))
        ]
        return [html.unescape(r.text) for r in (en, uk, *later)]

    today_en, today_uk, later_en, later_uk = serve(june, steps, today=lambda: day[0])
    assert '<h2 id="tiles">Today, 13 Jun 2025</h2>' in today_en and "As of" not in today_en
    assert '<h2 id="tiles">As of 13 Jun 2025</h2>' in later_en and "Today," not in later_en
    assert '<h2 id="tiles">Станом на 13.06.2025</h2>' in later_uk and "Сьогодні" not in later_uk
    assert "Сьогодні, 13.06.2025" in today_uk


def test_a_fresh_install_shows_the_latest_figures_it_holds(tmp_path):
    cfg = fresh_install(tmp_path)
    newest = max(daily())

    async def steps(client, pipeline):
        return (
            html.unescape((await client.get("/")).text),
            html.unescape((await client.get("/uk/")).text),
            await client.get("/card-540.webp"),
        )

    en, uk, card = serve(cfg, steps, today=dt.date(2026, 12, 1))
    assert "No daily report yet" not in en and "<h1>Russia's losses</h1>" in en
    assert f'<h2 id="tiles">As of {newest.day} {newest:%b %Y}</h2>' in en
    assert "No daily report has been read yet: these are the latest figures held here." in en
    assert tiles_of(en)["Personnel"][3] == f"{bundled('personnel', newest):,}"
    assert rows_of(en)[0][0] == f"{newest.day} {newest:%b %Y}"
    assert "<picture>" not in en and card.status_code == 404  # no card without a report: see docs/web.md
    assert f"Станом на {newest:%d.%m.%Y}" in uk and "Щоденного звіту ще не прочитано" in uk
    assert f'src="/chart/personnel.png?range=90d&v=day-{newest.isoformat()}"' in en


def test_a_day_missing_from_the_store_is_not_a_zero(june):
    import sqlite3

    gone = LAST - dt.timedelta(days=7)
    with sqlite3.connect(june.storage.resolved()) as db:
        db.execute("DELETE FROM figures WHERE metric = 'tanks' AND as_of = ?", [gone.isoformat()])

    async def steps(client, pipeline):
        return html.unescape((await client.get("/?metric=tanks")).text)

    page = serve(june, steps, today=LAST)
    day, week, month, total = tiles_of(page)["Tanks"]
    assert total == f"{bundled('tanks', LAST):,}"
    assert (
        week == "—"
        and day != "—"
        and month == f"+{bundled('tanks', LAST) - bundled('tanks', LAST - dt.timedelta(days=30)):,}"
    )
    assert "A dash: a day missing from the figures, so that change is not known." in page
    rows = dict((d, (v, c)) for d, v, c in rows_of(page))
    after = LAST - dt.timedelta(days=6)
    assert f"{gone.day} Jun 2025" not in rows and rows[f"{after.day} Jun 2025"][1] == "—"
