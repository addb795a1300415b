"""markup.py, the one way from markup to text, on real pages: a newline inside a block is a space."""

import json

from genstaff_cases import FIXTURES, REAL

from tallywatch import markup
from tallywatch.sources import telegram_channel


def test_a_paragraph_wrapped_across_source_lines_is_one_line():
    """The real mil.gov.ua post of 1 July 2022 wraps its header inside one <p>."""
    posts = json.loads((FIXTURES / "genstaff_posts" / "mil_gov_ua_en_2022.json").read_text(encoding="utf-8"))
    (post,) = [p for p in posts if p["report_date"] == "2022-07-01"]
    assert "to 01.07 were\n" in post["html_fragment"]
    lines = markup.to_text(post["html_fragment"]).splitlines()
    assert lines[0] == "The total combat losses of the enemy from 24.02 to 01.07 were approximately:"
    assert lines[1] == "personnel ‒ about 35750 (+150) persons were liquidated,"


def test_a_re_indented_telegram_post_keeps_its_br_lines_and_joins_its_wrapped_ones():
    """A real t.me/s page, re-indented by its saver: the text of one line spans source lines."""
    content = (REAL / "telegram" / "DEXTNewPairsBot_tme_s_2023-11_abridged_prettified.html").read_bytes()
    page = telegram_channel.parse(content, "dext", "https://t.me/s/DEXTNewPairsBot")
    assert [d.guid for d in page.posts] == ["DEXTNewPairsBot/208652", "DEXTNewPairsBot/208649"]
    assert page.posts[0].text.splitlines()[:3] == [
        "New pair at Uniswap v2",
        "Jujutsu Kaisen (JUJU/WETH)",
        "Initial Liquidity: $4,042",
    ]
    assert page.posts[0].published.isoformat() == "2023-11-09T17:42:39+00:00"
    assert page.before == "https://t.me/s/DEXTNewPairsBot?before=208634"


def test_a_real_channel_fragment_gives_its_posts_with_dates_and_ids():
    content = (REAL / "telegram" / "mchs_bryansk_tme_s_fragment_2024-12.html").read_bytes()
    page = telegram_channel.parse(content, "m", "https://t.me/s/mchs_bryansk")
    assert len(page.posts) == 4 and page.oldest == 4656
    assert all(d.published is not None and d.link == f"https://t.me/{d.guid}" for d in page.posts)
    assert "\n\n" not in page.posts[0].text


def test_plain_text_keeps_its_own_line_breaks_and_entities_are_decoded():
    assert markup.to_text("tanks ‒ 5 &amp; more\nAPV ‒ 7") == "tanks ‒ 5 & more\nAPV ‒ 7"
    assert markup.to_text("<p>a<br>b</p><ul><li>c\n d</li></ul>") == "a\nb\nc d"
