"""The daily email follows the day's report: it goes with the report (queued in the same
transaction), and at ``[email] daily_at`` at the latest when no report came, saying so; once per
Kyiv day, whatever comes after. Real history (the bundled General Staff series) through the real
ingest, a real SMTP server (aiosmtpd) and the fake Bot API; a clock passed as ``now``."""

import asyncio
import datetime as dt
import itertools
import re
import shutil
from zoneinfo import ZoneInfo

import pytest
from fake_telegram import TOKEN
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from tally import Tally
from test_daily_report import day_item
from test_email import config as mail_config
from test_email import parts

from tallywatch import daemon, digest
from tallywatch.channels.email import EmailChannel
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config
from tallywatch.ingest import Item, ingest, overdue
from tallywatch.pipeline import Pipeline
from tallywatch.replay import seed

D = dt.date
KYIV = ZoneInfo("Europe/Kyiv")


def plain(mail) -> str:
    """A mail's text, its lines ended as Python's are."""
    return parts(mail)["text/plain"].get_content().replace("\r\n", "\n")


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=KYIV)


def config(tmp_path, port: int = 25, base_url: str = "http://127.0.0.1:9/bot", **email) -> Config:
    """test_email's settings (mail to 127.0.0.1:port), and Telegram at the fake Bot API."""
    cfg = mail_config(tmp_path, port, **email)
    return cfg.replace(telegram=cfg.telegram.replace(base_url=base_url))


def test_the_daily_mail_goes_with_the_report_or_at_daily_at_once_a_day(tmp_path, smtp, fake):
    controller, sink = smtp
    cfg = config(tmp_path, controller.port, fake.base_url)  # daily_at: 12:00, the default
    assert cfg.email.daily_at == "12:00"

    def pipeline() -> Pipeline:
        return Pipeline(cfg, channels=[EmailChannel(cfg.email), TelegramChannel(TOKEN, cfg.telegram)])

    async def report(p: Pipeline, item: Item, now: dt.datetime) -> None:
        await p.in_store(ingest, p.store, p.detector, p.channels, "mod", [item], now=now)
        await p.deliver()

    async def first_days():
        p = pipeline()
        try:
            await p.in_store(seed, p.store, p.detector, D(2025, 6, 13))
            for address, language in [("reader@example.org", "en"), ("chytach@example.org", "uk")]:
                token = f"tok-{address.split('@')[0]}"
                await p.in_store(
                    p.store.save_subscriber, "email", address, token=token, digest="daily", language=language
                )
            await p.in_store(p.store.save_subscriber, "telegram", "601", choice="all")
            await report(p, day_item(D(2025, 6, 14)), at(D(2025, 6, 14), 9, 5))  # the day's report, 09:05 Kyiv
            with_report = list(sink.messages)
            assert await digest.send(p, "daily", at(D(2025, 6, 14), 12)) == (0, 0)  # daily_at: sent already
            revised = day_item(D(2025, 6, 14), {"tanks": 2}, digest="edited")
            await report(p, revised, at(D(2025, 6, 14), 12, 30))  # a revision: no second mail
            return with_report
        finally:
            await p.aclose()

    with_report = asyncio.run(first_days())
    english, ukrainian = sorted(with_report, key=lambda m: m["To"] != "reader@example.org")
    assert (
        english["Subject"] == "Russian losses — daily figures: daily digest, 14 Jun 2025 — personnel 1,002,690 (+1,130)"
    )
    text = plain(english)
    assert text.startswith("Figures of 14 Jun 2025, change over the day:")
    assert "has not come yet" not in text and "Figures: General Staff of the Armed Forces of Ukraine" in text
    nbsp = "\u00a0"
    assert (
        ukrainian["Subject"]
        == f"Втрати росії — щоденні дані: щоденний огляд, 14.06.2025 — особовий склад 1{nbsp}002{nbsp}690 (+1{nbsp}130)"
    )
    assert plain(ukrainian).startswith("Дані на 14.06.2025, зміна за добу:")
    telegram = [c.text for c in fake.sent("601")]
    assert len(telegram) == 1 and telegram[0].startswith("📋")  # the report; the digest is no Telegram message
    assert len(sink.messages) == 2

    async def next_day():
        p = pipeline()  # a restart
        try:
            assert await digest.send(p, "daily", at(D(2025, 6, 14), 12)) == (0, 0)  # still once for the 14th
            queued, _ = await digest.send(p, "daily", at(D(2025, 6, 15), 12))  # daily_at, no report yet
            await p.deliver()
            assert queued == 2
            await report(p, day_item(D(2025, 6, 15)), at(D(2025, 6, 15), 13, 10))  # after daily_at: no mail
            mails.append(len(sink.messages))
            await report(p, day_item(D(2025, 6, 16)), at(D(2025, 6, 16), 8, 55))  # the next day's, in time
        finally:
            await p.aclose()

    mails = []
    asyncio.run(next_day())
    assert mails == [4] and len(sink.messages) == 6
    english, ukrainian = sorted(sink.messages[2:4], key=lambda m: m["To"] != "reader@example.org")
    text = plain(english)
    assert text.startswith(
        "The report for 15 Jun 2025 has not come yet: these are the latest figures, of 14 Jun 2025.\n\n"
        "Figures of 14 Jun 2025, change over the day:"
    )
    assert re.search(r"\nTanks +10,939 +\+5\n", text)  # as revised after the day before's mail, and that alert told now
    assert "14 Jun 2025  The General Staff corrected tanks for 14 Jun 2025: 10,937 → 10,939 (+2)" in text
    assert english["Subject"].startswith(
        "Russian losses — daily figures: daily digest, 14 Jun 2025 — personnel 1,002,690"
    )
    page = parts(english)["text/html"].get_content()
    assert "display:none" in page and "The report for 15 Jun 2025 has not come yet" in page
    said = plain(ukrainian)
    assert said.startswith("Звіту за 15.06.2025 ще немає: нижче останні дані, станом на 14.06.2025.")
    # the 16th: its report's figures, and the alerts since the 15th's mail (not the revision told there)
    english = next(m for m in sink.messages[4:] if m["To"] == "reader@example.org")
    assert (
        english["Subject"] == "Russian losses — daily figures: daily digest, 16 Jun 2025 — personnel 1,005,060 (+1,200)"
    )
    assert "revised" not in plain(english) and "has not come yet" not in plain(english)


def test_a_report_held_back_by_a_doubtful_figure_brings_the_mail_when_it_goes(tmp_path, smtp):
    """A typo holds the day's report back ([report] wait, 2 h); when it goes, the mail goes with it."""
    controller, sink = smtp
    cfg = config(tmp_path, controller.port)

    async def steps():
        p = Pipeline(cfg, channels=[EmailChannel(cfg.email)])
        try:
            await p.in_store(seed, p.store, p.detector, D(2025, 6, 13))
            await p.in_store(p.store.save_subscriber, "email", "reader@example.org", token="tok", digest="daily")
            typo = day_item(D(2025, 6, 14), {"personnel": 9_000_000})
            await p.in_store(ingest, p.store, p.detector, p.channels, "mod", [typo], now=at(D(2025, 6, 14), 9, 5))
            await p.deliver()
            assert sink.messages == []  # the report waits, and the mail with it
            held = at(D(2025, 6, 14), 9, 5).astimezone(dt.UTC).isoformat()  # (held since then, by the test's clock)
            await p.in_store(p.store.conn.execute, "UPDATE reports_held SET since = ?", [held])
            made = await p.in_store(overdue, p.store, p.detector, p.channels, at(D(2025, 6, 14), 11, 10))
            assert [s.event.key for s in made] == ["report:2025-06-14"]
            await p.deliver()
            assert await digest.send(p, "daily", at(D(2025, 6, 14), 12)) == (0, 0)
        finally:
            await p.aclose()

    asyncio.run(steps())
    (mail,) = sink.messages
    assert mail["Subject"].startswith("Russian losses — daily figures: daily digest, 14 Jun 2025")
    assert plain(mail).startswith("Figures of 14 Jun 2025, change over the day:")


# -- once per Kyiv day, over random report times -------------------------------------------------

# the day before a change of clocks in Kyiv (30 March / 26 October 2025, 31 March / 27 October
# 2024), a new year, and the day before 1,000,000
STARTS = [D(2025, 3, 29), D(2025, 10, 25), D(2024, 3, 30), D(2024, 10, 26), D(2025, 12, 30), D(2025, 6, 11)]
DAYS = 4
EXAMPLES = itertools.count()
MINUTES = 24 * 60
arrival = st.one_of(  # minutes after the Kyiv midnight that begins the report's day (past the next midnight: late)
    st.none(),
    st.integers(0, MINUTES + 120),
    st.sampled_from([0, 1, 179, 180, 181, 239, 240, 241, 719, 720, 721, MINUTES - 1, MINUTES, MINUTES + 1]),
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A database per start day with the history before it and one daily subscriber (copied per example)."""
    folder = tmp_path_factory.mktemp("seeded")
    made: dict[dt.date, object] = {}

    def get(start: dt.date):
        if start not in made:
            path = folder / f"{start}.db"
            tally = Tally(path, config(folder))
            seed(tally.store, tally.detector, start - dt.timedelta(days=1))
            tally.store.save_subscriber("email", "reader@example.org", token="tok", digest="daily")
            tally.close()
            made[start] = path
        return made[start]

    return get


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.sampled_from(STARTS),
    daily_at=st.sampled_from(["12:00", "00:00", "00:30", "03:00", "03:30", "04:00", "09:00", "23:59"]),
    arrivals=st.lists(arrival, min_size=DAYS, max_size=DAYS),
    revised=st.lists(st.booleans(), min_size=DAYS, max_size=DAYS),
    restart=st.integers(0, 12),
)
# found on 2026-12-05: the report at the very moment of daily_at on the day the autumn change repeats it
@example(start=D(2025, 10, 25), daily_at="03:00", arrivals=[None, 180, None, None], revised=[False] * 4, restart=0)
def test_one_daily_digest_per_kyiv_day_with_the_report_or_at_daily_at(
    tmp_path, seeded, start, daily_at, arrivals, revised, restart
):
    path = tmp_path / f"example-{next(EXAMPLES)}.db"
    shutil.copy(seeded(start), path)
    cfg = config(tmp_path, daily_at=daily_at)
    tally = Tally(path, cfg, [EmailChannel(cfg.email)])
    day_ = lambda moment: moment.astimezone(KYIV).date()  # noqa: E731
    # the timeline: each day's report (unless it has none, or would come after the next day's),
    # perhaps revised 20 minutes later, and every time the daemon's own trigger fires at daily_at
    steps: list[tuple[dt.datetime, str, object]] = []
    last = None
    for n, offset in enumerate(arrivals):
        day = start + dt.timedelta(days=n)
        if offset is None:
            continue
        # in UTC, as the scheduler's clock: a Kyiv time the autumn change repeats is never equal to
        # another zone's (PEP 495), so a report at the very moment of daily_at sorted and compared wrong
        moment = at(day, 0).astimezone(dt.UTC) + dt.timedelta(minutes=offset)
        if last is not None and moment <= last:
            continue
        last = moment
        steps.append((moment, "report", day_item(day)))
        if revised[n]:
            steps.append((moment + dt.timedelta(minutes=20), "report", day_item(day, {"tanks": 1}, digest="edited")))
    trigger = daemon.digest_triggers(cfg)["daily"]
    end = at(start + dt.timedelta(days=DAYS), 0)
    fired, now = None, at(start, 0).astimezone(dt.UTC)
    deadlines: dict[dt.date, dt.datetime] = {}
    while (fired := trigger.get_next_fire_time(fired, now)) < end:
        steps.append((fired, "daily_at", None))
        deadlines.setdefault(day_(fired), fired)
        now = fired.astimezone(dt.UTC) + dt.timedelta(seconds=1)  # the scheduler's clock is UTC
    steps.sort(key=lambda s: (s[0], s[1]))
    assert sorted(deadlines) == [start + dt.timedelta(days=n) for n in range(DAYS)]  # once every day, DST or not

    appeared: dict[str, dt.datetime] = {}
    first_report: dict[dt.date, dt.datetime] = {}
    try:
        for n, (moment, what, item) in enumerate(steps):
            if n == restart:
                tally.restart()
            if what == "report":
                result = ingest(tally.store, tally.detector, tally.channels, "mod", [item], now=moment)
                if any(s.notify and s.event.rule == "report" and s.event.as_of == day_(moment) for s in result.events):
                    first_report.setdefault(day_(moment), moment)
            else:
                digest.queue(tally.store, tally.config, tally.channels, "daily", moment)
            for (key,) in tally.store.conn.execute("SELECT key FROM events WHERE rule = 'digest'"):
                appeared.setdefault(key, moment)

        expected = {
            f"digest:daily:{day}": min(deadline, first_report.get(day, deadline)) for day, deadline in deadlines.items()
        }
        assert appeared == expected
        for day, deadline in deadlines.items():
            event("with the report" if first_report.get(day, deadline) < deadline else "at daily_at")
        mails = dict(
            tally.store.conn.execute(
                "SELECT e.key, count(*) FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE d.channel = 'email' AND d.recipient = 'reader@example.org' GROUP BY e.key"
            ).fetchall()
        )
        assert mails == dict.fromkeys(expected, 1)  # one mail a day for the reader, never two
    finally:
        tally.close()


@pytest.mark.parametrize(
    ("weekly_on", "weekly_at", "days"),
    [  # the week of the spring change (Sunday 30 March 2025), and of the autumn one (Sunday 26 October)
        ("mon", "00:30", [D(2025, 3, 24), D(2025, 3, 31), D(2025, 4, 7)]),
        ("sun", "03:30", [D(2025, 10, 19), D(2025, 10, 26), D(2025, 11, 2)]),
        ("sun", "03:30", [D(2025, 3, 23), D(2025, 3, 30), D(2025, 4, 6)]),  # 03:30 does not exist on the 30th
    ],
)
def test_the_weekly_digest_comes_once_on_its_day_across_the_clock_changes(tmp_path, weekly_on, weekly_at, days):
    trigger = daemon.digest_triggers(config(tmp_path, weekly_on=weekly_on, weekly_at=weekly_at))["weekly"]
    fired, now, seen = None, at(days[0] - dt.timedelta(days=1), 12).astimezone(dt.UTC), []
    for _ in days:
        fired = trigger.get_next_fire_time(fired, now)
        seen.append(fired.astimezone(KYIV))
        now = fired + dt.timedelta(seconds=1)
    assert [m.date() for m in seen] == days
    expected = [(4, 30) if m.date() == D(2025, 3, 30) else tuple(map(int, weekly_at.split(":"))) for m in seen]
    assert [(m.hour, m.minute) for m in seen] == expected
