"""Fast and light (issue 29, item 5), over the real June 2025 data served on 127.0.0.1: text goes
gzipped to a client that asks for it and decompresses to the very body others get; pictures and
tiny answers go as they are; a picture whose address names its version is kept by browsers for a
year; robots.txt keeps crawlers off the email forms and /metrics; a favicon in ICO and SVG."""

import gzip
import io
import re
import urllib.robotparser
import xml.etree.ElementTree as ET

import pytest
from PIL import Image
from webapp import june_database, serve

TEXT = ["/", "/uk/", "/api/v1/latest", "/api/v1/series/personnel.csv", "/feed.atom", "/uk/feed.atom"]
YEAR = 365 * 24 * 3600


@pytest.fixture(scope="module")
def june(tmp_path_factory):
    return june_database(tmp_path_factory.mktemp("june"))


async def raw(client, path: str, encoding: str | None):
    """The answer to GET ``path`` with that Accept-Encoding, and its body as it came over the wire."""
    headers = {"Accept-Encoding": encoding} if encoding else {"Accept-Encoding": "identity"}
    async with client.stream("GET", path, headers=headers) as answer:
        return answer, b"".join([chunk async for chunk in answer.aiter_raw()])


def test_text_goes_gzipped_to_those_who_ask_and_decompresses_to_the_same_body(june):
    async def steps(client, pipeline):
        return {path: (await raw(client, path, "gzip, deflate, br"), await raw(client, path, None)) for path in TEXT}

    for path, ((zipped, zipped_body), (plain, plain_body)) in serve(june, steps).items():
        assert zipped.status_code == plain.status_code == 200, path
        assert zipped.headers.get("content-encoding") == "gzip", (path, zipped.headers)
        assert "content-encoding" not in plain.headers, path
        assert gzip.decompress(zipped_body) == plain_body, path
        assert len(zipped_body) < len(plain_body) / 2, (path, len(zipped_body), len(plain_body))
        assert int(zipped.headers["content-length"]) == len(zipped_body), path
        for answer in (zipped, plain):  # a shared cache keeps the two apart
            assert "accept-encoding" in answer.headers["vary"].lower(), (path, answer.headers)
        assert zipped.headers["content-type"] == plain.headers["content-type"], path


def test_pictures_and_tiny_answers_go_as_they_are(june):
    async def steps(client, pipeline):
        paths = ["/card.png", "/uk/card.png", "/chart/personnel.png", "/healthz", "/favicon.ico"]
        return {path: await raw(client, path, "gzip") for path in paths}

    for path, (answer, body) in serve(june, steps).items():
        assert answer.status_code == 200 or path == "/healthz", path  # (503 here: no heartbeat yet)
        assert "content-encoding" not in answer.headers, (path, answer.headers)
        assert int(answer.headers["content-length"]) == len(body), path
    assert body.startswith(b"\x00\x00\x01\x00")  # /favicon.ico: an ICO as it was made


def max_age(answer) -> int:
    parts = dict(p.strip().partition("=")[::2] for p in answer.headers["cache-control"].split(","))
    return int(parts["max-age"])


def test_a_picture_whose_address_names_its_version_is_kept_a_year(june):
    async def steps(client, pipeline):
        page = (await client.get("/")).text
        cards = re.findall(r'(/card[-0-9]*\.(?:png|webp)\?v=[^" ]+)', page)  # the card and its copies
        assert {c.split("?")[0] for c in cards} >= {"/card.png", "/card-540.png", "/card-540.webp", "/card-1080.webp"}
        card = next(c for c in cards if c.startswith("/card.png"))
        versioned = [*sorted(set(cards)), "/uk/" + card.lstrip("/"), "/chart/personnel.png?v=" + card.split("?v=")[1]]
        first = [await client.get(path) for path in versioned]
        again = [
            await client.get(path, headers={"If-None-Match": a.headers["etag"]})
            for path, a in zip(versioned, first, strict=True)
        ]
        return first, again, await client.get("/card.png"), await client.get("/")

    first, again, unversioned, page = serve(june, steps)
    for answer in first:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/")
        assert max_age(answer) == YEAR and "immutable" in answer.headers["cache-control"], answer.headers
        assert "public" in answer.headers["cache-control"]
    for answer in again:  # the 304 says the same: it refreshes what the browser keeps
        assert answer.status_code == 304 and max_age(answer) == YEAR, answer.headers
    # without a version the address may show another picture tomorrow: an hour, as before
    assert max_age(unversioned) == 3600 and "immutable" not in unversioned.headers["cache-control"]
    assert max_age(page) < YEAR and "immutable" not in page.headers["cache-control"]  # the page itself is not


def test_robots_keep_crawlers_off_the_forms_and_the_metrics(june):
    async def steps(client, pipeline):
        return await client.get("/robots.txt")

    answer = serve(june, steps)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    robots = urllib.robotparser.RobotFileParser()
    robots.parse(answer.text.splitlines())
    site = "https://losses.example.org"
    for path in ["/", "/uk/", "/feed.atom", "/uk/feed.atom", "/card.png?v=x", "/uk/chart/tanks.png", "/api/v1/latest"]:
        assert robots.can_fetch("Googlebot", site + path), path
    for path in [
        "/subscribe",
        "/uk/subscribe",
        "/unsubscribe?t=abc",
        "/uk/unsubscribe?t=abc",
        "/confirm?t=abc",
        "/uk/confirm?t=abc",
        "/metrics",
    ]:
        assert not robots.can_fetch("Googlebot", site + path), path


def test_a_favicon_in_ico_and_svg(june):
    async def steps(client, pipeline):
        return await client.get("/favicon.ico"), await client.get("/favicon.svg")

    ico, svg = serve(june, steps)
    assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
    icon = Image.open(io.BytesIO(ico.content))
    assert icon.format == "ICO" and {(16, 16), (32, 32), (48, 48)} <= set(icon.info["sizes"])
    icon.size = (32, 32)
    rgb = icon.convert("RGB")
    pixels = [rgb.getpixel((x, y)) for x in range(32) for y in range(32)]

    def near(colour) -> float:
        return sum(max(abs(a - b) for a, b in zip(p, colour, strict=True)) < 60 for p in pixels) / len(pixels)

    # yellow strokes on blue, not a blank square
    assert near((0x00, 0x57, 0xB7)) > 0.3 and near((0xFF, 0xD5, 0x00)) > 0.15
    assert max_age(ico) >= 86400
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(svg.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox") == "0 0 32 32"
    assert len(list(root.iter())) > 5 and max_age(svg) >= 86400  # the background and the five strokes
