"""A configured Telegram channel gets the kinds of post it was set to get (``[telegram] channels``,
``send``): the daily report and milestones unless told otherwise. Real history (the bundled General
Staff series, June 2025) through the real ingest, outbox and Telegram channel, against the fake Bot
API; what each channel holds is read from the fake's messages."""

import datetime as dt

import pytest
from fake_telegram import TOKEN
from tally import Tally, send_all
from test_daily_report import day_item

from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config, ConfigError
from tallywatch.replay import seed

D = dt.date
CHANNELS = [
    "@losses_feed",  # the default: the report and milestones
    {"chat": "@vtraty", "language": "uk", "send": ["report", "milestones", "approaching"]},
    {"chat": "@every_post", "send": ["report", "milestones", "records", "spikes", "approaching", "corrections"]},
    {"chat": "@doubts", "send": ["spikes", "records", "corrections"]},
]


def channels(fake, until: dt.date, tmp_path) -> tuple[Tally, TelegramChannel]:
    cfg = Config.from_dict(
        {"milestones": {"personnel": {"step": 100_000}}, "telegram": {"base_url": fake.base_url, "channels": CHANNELS}}
    )
    channel = TelegramChannel(TOKEN, cfg.telegram)
    tally = Tally(tmp_path / "c.db", cfg, [channel])
    seed(tally.store, tally.detector, until)
    return tally, channel


def posts(fake, chat: str) -> list[str]:
    """What a channel holds: each post's text (its icon first; a report's is 📋)."""
    return [c.text for c in fake.sent(chat)]


def test_a_channel_gets_the_report_and_milestones_unless_told_otherwise(tmp_path, fake):
    tally, channel = channels(fake, D(2025, 6, 6), tmp_path)
    day = D(2025, 6, 7)
    while day <= D(2025, 6, 12):  # a spike and a record on 7 June, approaching on 9 June, 1,000,000 passed on 12 June
        tally.feed("mod", day_item(day))
        day += dt.timedelta(days=1)
    send_all(tally, channel)

    default = posts(fake, "@losses_feed")
    reports = [p for p in default if "📋 <b>Russia's losses on" in p]
    assert len(reports) == 6  # one report a day; 12 June's leads with its milestone
    assert reports[-1].startswith("🏁 <b>1,000,000 — personnel passed 1\u00a0million</b>\n📋")
    (milestone,) = [p for p in default if p not in reports]
    assert milestone.startswith("🏁 <b>12 Jun 2025</b>\nPersonnel passed 1,000,000")

    ukrainian = [p for p in posts(fake, "@vtraty") if "📋 <b>Втрати росії" not in p]
    assert len(ukrainian) == 2 and "1\u00a0000\u00a0000" in ukrainian[0] + ukrainian[1]
    assert any(p.startswith("⏳") for p in ukrainian)  # the approaching milestone, in Ukrainian

    every = [p for p in posts(fake, "@every_post") if "📋" not in p]
    # the spikes and the record of a reported day are lines of its report, not posts of their own
    assert len(every) == 2 and any(p.startswith("⏳") for p in every) and any(p.startswith("🏁") for p in every)

    doubts = posts(fake, "@doubts")
    assert not any(p.startswith(("📋", "🏁", "⏳")) for p in doubts)
    assert len(doubts) == 2  # no report there: the spike and the record of 7 June are posts of their own
    assert doubts[0].startswith("📈 <b>7 Jun 2025</b>\nArmoured vehicles")
    assert doubts[1].startswith("🏆 <b>7 Jun 2025</b>\nUAVs")
    tally.close()


def test_corrections_go_where_corrections_were_asked_for_and_values_set_aside_to_no_channel(tmp_path, fake):
    tally, channel = channels(fake, D(2025, 6, 10), tmp_path)
    tally.feed("mod", day_item(D(2025, 6, 11), {"personnel": 9_000_000}))  # a typo, held as suspect
    tally.feed("mod", day_item(D(2025, 6, 12)))  # the next report contradicts it: discarded
    tally.feed("mod", day_item(D(2025, 6, 13)))
    tally.feed("mod", day_item(D(2025, 6, 13), {"tanks": 2}, digest="edited"))  # tanks revised
    send_all(tally, channel)

    def said(chat: str, icon: str) -> list[str]:
        return [p for p in posts(fake, chat) if p.startswith(icon)]

    set_aside, revised = "⚠️", "✏️"  # personnel 9,999,200 discarded; tanks 10,934 → 10,936
    assert said("@losses_feed", set_aside) == said("@losses_feed", revised) == []
    assert said("@vtraty", set_aside) == said("@vtraty", revised) == []
    for chat in ("@every_post", "@doubts"):  # a value set aside is the admins' to hear of (two audiences)
        assert said(chat, set_aside) == []
    assert said("@every_post", revised) == []  # a line of the day's report, edited, instead
    (correction,) = said("@doubts", revised)  # no report there: a post of its own
    assert "10,934 → 10,936" in correction
    tally.close()


@pytest.mark.parametrize(
    ("send", "problem"),
    [
        (
            ["report", "spike"],
            "telegram.channels[1].send: no kind of post named 'spike' (did you mean 'spikes'?); "
            "a channel can be sent report, milestones, records, spikes, approaching, corrections",
        ),
        (
            [],
            "telegram.channels[1].send: empty, so the channel would get nothing; leave the channel out instead",
        ),
        ("report", "telegram.channels[1].send: expected a list [ … ], got 'report'"),
    ],
)
def test_an_unknown_kind_is_a_config_error_naming_it(send, problem):
    with pytest.raises(ConfigError) as caught:
        Config.from_dict({"telegram": {"channels": ["@a_feed", {"chat": "@b_feed", "send": send}]}}, "tw.toml")
    assert str(caught.value) == f"tw.toml: {problem}"


def test_the_default_is_the_report_and_milestones():
    cfg = Config.from_dict(
        {
            "telegram": {
                "channels": ["@a_feed", -1001234567890, {"chat": "@b_feed"}, {"chat": -100987, "send": ["report"]}]
            }
        }
    )
    assert [c.send for c in cfg.telegram.channels] == [["report", "milestones"]] * 3 + [["report"]]
    assert cfg.telegram.channels[3].chat == "-100987"  # a chat id as a number in the table form too
