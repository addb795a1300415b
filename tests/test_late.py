"""Days the service had no figures for: an outage, a restart after a day down, a new install whose
history fill failed. A milestone crossed meanwhile is told as it would have been while it is still
news (``[detect] late_after`` days), and otherwise recorded with the days it fell in and told as one
line of the next daily report — never broadcast weeks late as if it had just happened (issue 24,
cases 3 and 4).

The history API here is ours, on 127.0.0.1: it answers for any day with figures made from the day
(no real sample holds the days around today); the other tests read the bundled real series.
"""

import asyncio
import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from fake_telegram import TOKEN
from tally import Tally, deliver
from test_daily_report import day_item
from test_email import free_port

from tallywatch import backfill
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config
from tallywatch.format import format_date
from tallywatch.ingest import Item
from tallywatch.models import Figure
from tallywatch.pipeline import Pipeline
from tallywatch.replay import seed

D = dt.date
TODAY = backfill.today()


CROSSING = [TODAY - dt.timedelta(days=1)]  # the day the made-up series crosses 1,000,000 (a test may move it)


def personnel(day: dt.date) -> int:
    """The made-up series: 1,000 a day, 1,000,500 on the day it crosses 1,000,000."""
    return 1_000_500 - 1_000 * (CROSSING[0] - day).days


@pytest.fixture(autouse=True)
def crossing_yesterday():
    CROSSING[:] = [TODAY - dt.timedelta(days=1)]


class HistoryApi:
    """``/statistics?offset=&limit=&date_from=&date_to=`` for any days, one page; 503 while ``down``."""

    def __init__(self, server):
        self.down, self.asked = False, []
        server.prefixes["/api/v2/statistics"] = self

    def __call__(self, path, headers):
        q = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        first, last = D.fromisoformat(q["date_from"]), D.fromisoformat(q["date_to"])
        self.asked.append((first, last))
        if self.down:
            return 503, {}, b"down"
        days = [last - dt.timedelta(days=n) for n in range((last - first).days + 1)]
        records = [
            {"date": str(d), "stats": {"personnel_units": personnel(d)}, "increase": {"personnel_units": 1_000}}
            for d in days
        ]
        body = {"data": {"paging": {"next_url": None}, "records": records}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def config(tmp_path, server=None) -> Config:
    return Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "late.db")},
            "detect": {"baseline": False},
            "milestones": {"personnel": {"step": 100_000}},
            "console": {"enabled": False},
            "backfill": {"url": f"{server.url if server else 'http://127.0.0.1:9'}/api/v2/statistics", "pause": 0.01},
            "web": {"port": free_port()},
        }
    )


def stored_until(cfg: Config, last: dt.date, days: int = 10) -> None:
    """The made-up series stored (as the daemon's polls would have) up to ``last``."""
    tally = Tally(cfg.storage.resolved(), cfg)
    for n in range(days, -1, -1):
        day = last - dt.timedelta(days=n)
        tally.feed(
            "russianwarship",
            Item(
                f"rw:{day}",
                f"rw:{day}",
                [Figure(metric="personnel", as_of=day, value=personnel(day), reported_delta=1_000)],
            ),
        )
    tally.close()


def milestone(cfg: Config) -> dict:
    tally = Tally(cfg.storage.resolved(), cfg)
    (found,) = [e for e in tally.store.events() if e["rule"] == "milestone"]
    tally.close()
    return {**found, "data": json.loads(found["data"])}


def start(cfg: Config) -> None:
    async def go():
        pipeline = Pipeline(cfg, recover=True)
        try:
            await pipeline.prepare()
            await pipeline.filled()  # (the start's fill runs beside the daemon; its polls wait for it)
        finally:
            await pipeline.aclose()

    asyncio.run(go())


def test_a_start_after_a_day_down_tells_yesterdays_milestone_and_leaves_today_to_the_live_path(tmp_path, feed_server):
    api = HistoryApi(feed_server)
    cfg = config(tmp_path, feed_server)
    stored_until(cfg, TODAY - dt.timedelta(days=3))  # down since the day before yesterday
    start(cfg)
    assert api.asked == [(TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1))]  # never today
    found = milestone(cfg)
    assert (found["as_of"], found["notify"], "late" in found["data"]) == (str(TODAY - dt.timedelta(days=1)), 1, False)
    assert found["message"] == "personnel passed 1,000,000 — now 1,000,500 (+1,000 in a day)"


def test_a_start_after_a_week_down_records_the_weeks_milestone_late_for_the_next_report(tmp_path, feed_server):
    HistoryApi(feed_server)
    cfg = config(tmp_path, feed_server)
    crossing = CROSSING[0] = TODAY - dt.timedelta(days=5)  # beyond late_after (2 days)
    stored_until(cfg, TODAY - dt.timedelta(days=8))
    start(cfg)
    found = milestone(cfg)
    assert (found["as_of"], found["notify"]) == (str(crossing), 0)
    assert found["data"]["late"] == {"from": str(crossing), "to": str(crossing)}
    assert (
        found["message"] == f"personnel passed 1,000,000 on {format_date(crossing)}, while this service had no figures"
    )


def test_a_gap_the_history_api_could_not_fill_is_asked_for_again_and_pins_the_true_day(tmp_path, feed_server):
    api = HistoryApi(feed_server)
    cfg = config(tmp_path, feed_server)
    before = TODAY - dt.timedelta(days=40)
    stored_until(cfg, before)
    api.down = True
    start(cfg)  # the fill fails: the days stay missing
    tally = Tally(cfg.storage.resolved(), cfg)  # the live poll's report, 39 days after the last stored one
    live = tally.feed(
        "russianwarship",
        Item(
            "rw:live",
            "rw:live",
            [Figure(metric="personnel", as_of=TODAY, value=personnel(TODAY), reported_delta=1_000)],
        ),
    )
    (late,) = [s for s in live.events if s.event.rule == "milestone"]
    assert not late.notify and late.event.data["late"] == {"from": str(before + dt.timedelta(days=1)), "to": str(TODAY)}
    tally.close()

    async def retried():
        pipeline = Pipeline(cfg)
        try:
            assert await backfill.missing(pipeline) == [(before + dt.timedelta(days=1), TODAY - dt.timedelta(days=1))]
            api.down = False
            (done,) = await backfill.retry(pipeline)
            assert done.error is None and done.days == 39
            return await backfill.missing(pipeline)
        finally:
            await pipeline.aclose()

    assert asyncio.run(retried()) == []
    found = milestone(cfg)
    crossing = TODAY - dt.timedelta(days=1)
    assert (found["as_of"], found["notify"], found["data"]["late"]) == (
        str(crossing),
        0,
        {"from": str(crossing), "to": str(crossing)},
    )


def test_a_new_install_whose_fill_failed_tells_old_crossings_as_a_line_of_the_first_report(tmp_path, fake):
    """The bundled history ends weeks before the first live report and nothing filled the gap: the
    four levels crossed meanwhile are not broadcast; the day's report says them, a line each."""
    cfg = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}, "telegram": {"base_url": fake.base_url}})
    channel = TelegramChannel(TOKEN, cfg.telegram)
    tally = Tally(tmp_path / "new.db", cfg, [channel])
    seed(tally.store, tally.detector, D(2025, 5, 1))
    tally.store.save_subscriber("telegram", "901", choice="all")
    tally.store.save_subscriber("telegram", "902", choice="milestones")
    first = tally.feed("mod", day_item(D(2025, 6, 13)))  # 43 days later
    late = [s for s in first.events if s.event.rule == "milestone"]
    assert late and not any(s.notify for s in late)
    (report,) = [s.event for s in first.events if s.event.rule == "report"]
    lines = [s["message"] for s in report.data["standouts"] if s["rule"] == "milestone"]
    assert "personnel passed 1,000,000 between 2 May 2025 and 13 Jun 2025, while this service had no figures" in lines
    assert len(lines) == len(late)
    deliver(tally.store, channel)
    assert fake.sent(902) == []  # no milestone broadcast weeks late
    (told,) = fake.sent(901)
    assert told.text.startswith("📋") and "passed 1,000,000 between 2 May 2025 and 13 Jun 2025" in told.text
    tally.close()


def test_a_crossing_after_a_short_gap_is_still_news_and_says_since_when(tmp_path):
    cfg = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}})
    tally = Tally(tmp_path / "short.db", cfg)
    seed(tally.store, tally.detector, D(2025, 6, 10))
    result = tally.feed("mod", day_item(D(2025, 6, 12)))  # 11 June missed: 2 days, within late_after
    (told,) = [s for s in result.events if s.event.rule == "milestone"]
    assert told.notify and told.event.message == "personnel passed 1,000,000 — now 1,000,340 (+2,260 since 10 Jun 2025)"
    tally.close()


def test_a_crossing_a_fill_found_too_late_is_a_line_of_the_next_report_and_of_no_other(tmp_path):
    cfg = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}})
    tally = Tally(tmp_path / "fill.db", cfg)
    seed(tally.store, tally.detector, D(2025, 6, 5))
    days = [day_item(D(2025, 6, 6) + dt.timedelta(days=n)) for n in range(7)]  # … 12 June, the crossing
    filled = tally.feed("russianwarship", *days, quiet=True, filling=D(2025, 6, 16))  # found four days late
    (late,) = [s for s in filled.events if s.event.rule == "milestone"]
    assert not late.notify and late.event.data["late"] == {"from": "2025-06-12", "to": "2025-06-12"}
    lines = []
    for day in (D(2025, 6, 13), D(2025, 6, 14)):
        (report,) = [s.event for s in tally.feed("mod", day_item(day)).events if s.event.rule == "report"]
        lines.append([s["message"] for s in report.data["standouts"] if s["rule"] == "milestone"])
    assert lines == [["personnel passed 1,000,000 on 12 Jun 2025, while this service had no figures"], []]
    tally.close()
