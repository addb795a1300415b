"""The public page over real data (June 2025 from the bundled series, through the real ingest):
its text and figures, its card and charts, its caching, and the page as a real headless browser
(Debian's chromium) renders it at a phone's width."""

import asyncio
import html
import io
import re
import shutil

import pytest
from PIL import Image
from webapp import LAST, bundled, june_database, serve

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
    assert f'<th scope="row">Personnel</th><td class="num">{personnel}</td><td class="num">{change}</td>' in page
    assert "Personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)" in page  # a recent alert
    assert 'src="/chart/personnel.png?v=report-2025-06-13"' in page and 'loading="lazy"' in page
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
    assert "Особовий склад" in dom and "1\u00a0001\u00a0560" in dom
    assert "перейдено рубіж 1\u00a0000\u00a0000" in dom
    image = Image.open(shot)
    assert image.size[0] == 412
    # the card was loaded and drawn: the screenshot is not a blank page (many colours in its top half)
    colours = image.convert("RGB").crop((0, 0, 412, 1100)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50
