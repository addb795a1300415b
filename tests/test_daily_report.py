"""The daily report: one message a day for those who chose it, naming whose figures they are, edited
when the figures are revised; channels in their own language. Real history (the bundled General
Staff series, June 2025) through the real ingest, outbox and Telegram channel against the fake Bot API."""

import asyncio
import datetime as dt

import pytest
from fake_telegram import TOKEN
from tally import Tally, finish_send, send_all

from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config
from tallywatch.history import between
from tallywatch.ingest import Item
from tallywatch.models import Figure
from tallywatch.replay import seed

D = dt.date
FIRST, LAST = D(2025, 6, 1), D(2025, 6, 13)
REPORT_EN, ALL_UK, MILESTONES = "501", "502", "503"


def config(fake) -> Config:
    return Config.from_dict(
        {
            "milestones": {"personnel": {"step": 100_000}},
            "telegram": {
                "base_url": fake.base_url,
                "channels": ["@losses_feed", {"chat": "@vtraty", "language": "uk"}],
            },
        }
    )


def link(day: dt.date) -> str:
    return f"https://www.mil.gov.ua/news/{day:%Y/%m/%d}/losses/"


def day_item(day: dt.date, change: dict[str, int] | None = None, digest: str = "") -> Item:
    """The day's real report as one post (its figures from the bundled series), with its link and,
    as the General Staff prints them, each category's "(+N)" since the day before."""
    before = {
        f.metric: f.value
        for f in between(day - dt.timedelta(days=1), day - dt.timedelta(days=1))[day - dt.timedelta(days=1)]
    }
    figures = []
    for f in between(day, day)[day]:
        value = f.value + (change or {}).get(f.metric, 0)
        figures.append(
            Figure(
                metric=f.metric,
                as_of=f.as_of,
                value=value,
                reported_delta=value - before[f.metric] if f.metric in before else None,
            )
        )
    return Item(f"post:{day}", digest or f"post:{day}", figures, link=link(day))


def fresh(tmp_path, fake, until: dt.date) -> tuple[Tally, TelegramChannel]:
    """A store with the bundled history up to ``until`` (quietly), and the Telegram channel."""
    cfg = config(fake)
    channel = TelegramChannel(TOKEN, cfg.telegram)
    tally = Tally(tmp_path / "r.db", cfg, [channel])
    seed(tally.store, tally.detector, until)
    return tally, channel


def june(tmp_path, fake) -> tuple[Tally, TelegramChannel]:
    tally, channel = fresh(tmp_path, fake, FIRST - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")
    tally.store.save_subscriber("telegram", ALL_UK, choice="all", language="uk")
    tally.store.save_subscriber("telegram", MILESTONES, choice="milestones")
    day = FIRST
    while day <= LAST:
        tally.feed("mod", day_item(day))
        send_all(tally, channel)
        day += dt.timedelta(days=1)
    return tally, channel


def test_one_report_a_day_with_its_source_and_the_alerts_it_folds_in(tmp_path, fake):
    tally, _ = june(tmp_path, fake)
    days = (LAST - FIRST).days + 1
    reports = fake.sent(REPORT_EN)
    assert len(reports) == days  # exactly one a day, nothing else
    for n, call in enumerate(reports):
        day = FIRST + dt.timedelta(days=n)
        text = call.text
        if day == D(2025, 6, 12):  # the day personnel passed 1,000,000: that is its first line
            first, text = text.split("\n", 1)
            assert first == "🏁 <b>1,000,000 — personnel passed 1\u00a0million</b>"
        assert "highest" not in text  # no day of the first half of June 2025 was among a year's top ten
        assert text.startswith(
            f"📋 <b>Russia's losses on {day.day} Jun 2025</b>\nday {(day - D(2022, 2, 24)).days + 1:,}"
        )
        assert "Russia's losses as reported by the General Staff of the Armed Forces of Ukraine" in text
        assert f'<a href="{link(day)}">original</a>' in text
        assert len(text) <= 1024  # fits a photo's caption
    june_12 = reports[11].text
    assert "Personnel: <b>1,000,340</b> (+1,140)" in june_12 and "Tanks: <b>10,933</b> (+6)" in june_12
    # aircraft +41 on 3 June is a spike and a record: a line of that day's report, not a message of its own
    assert "📈 Aircraft +41 in a day" in reports[2].text
    everything = [c.text for c in fake.sent(ALL_UK)]
    assert sum("📋 <b>Втрати росії станом на" in t for t in everything) == days
    assert not any(t.startswith("📈") or t.startswith("🏆") for t in everything)  # folded: told once, in the report
    # the milestone is still an alert of its own, for those who chose alerts
    assert any(
        t.startswith("🏁 <b>12.06.2025</b>\nОсобовий склад: перейдено рубіж 1\u00a0000\u00a0000") for t in everything
    )
    assert "Літаки: +41 за добу" in next(t for t in everything if "03.06.2025" in t and t.startswith("📋"))
    milestones_only = [c.text for c in fake.sent(MILESTONES)]
    assert len(milestones_only) == 1 and "passed 1,000,000" in milestones_only[0]
    # the channels: the report and the alerts, each in its own language
    assert sum("📋 <b>Russia's losses on" in c.text for c in fake.sent("@losses_feed")) == days
    assert sum("📋 <b>Втрати росії" in c.text for c in fake.sent("@vtraty")) == days
    assert any(
        c.text.startswith("🏁 <b>12 Jun 2025</b>\nPersonnel passed 1,000,000") for c in fake.sent("@losses_feed")
    )
    tally.close()


def test_a_revised_figure_edits_the_report_already_sent(tmp_path, fake):
    tally, channel = june(tmp_path, fake)
    sent = fake.sent(REPORT_EN)[-1]
    message_id = sent.params["_message"]["message_id"]
    fake.state.calls.clear()
    revised = tally.feed("mod", day_item(LAST, {"personnel": 10}, digest="edited"))
    assert sorted(s.event.key for s in revised.events if s.event.rule == "report") == [f"report:{LAST}/2"]
    send_all(tally, channel)
    assert fake.sent(REPORT_EN) == []  # no second message
    (edit,) = [c for c in fake.calls("editMessageText", 200) if str(c.params["chat_id"]) == REPORT_EN]
    assert int(edit.params["message_id"]) == message_id
    assert "Personnel: <b>1,001,570</b> (+1,230)" in edit.params["text"]
    assert "Revised since it was first sent" in edit.params["text"]
    # the channels' reports are edited too, each in its language; the correction is no separate post
    edited = {str(c.params["chat_id"]): c.params["text"] for c in fake.calls("editMessageText", 200)}
    assert "1\u00a0001\u00a0570" in edited["@vtraty"] and "1,001,570" in edited["@losses_feed"]
    assert fake.sent("@losses_feed") == [] and fake.sent(ALL_UK) == []
    # the same figures again (another source repeating them) make nothing new
    again = tally.feed("other", day_item(LAST, {"personnel": 10}, digest="repeat"))
    assert [s.event.rule for s in again.events if s.event.rule == "report"] == []
    tally.close()


def test_a_report_not_sent_yet_is_replaced_by_its_revision_not_sent_twice(tmp_path, fake):
    tally, channel = fresh(tmp_path, fake, LAST - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")
    tally.feed("mod", day_item(LAST))
    tally.feed("mod", day_item(LAST, {"personnel": 10}, digest="edited"))  # before anything was sent
    send_all(tally, channel)
    (only,) = fake.sent(REPORT_EN)
    assert "Personnel: <b>1,001,570</b>" in only.text
    assert fake.calls("editMessageText") == []
    tally.close()


def test_a_report_in_flight_when_revised_is_edited_once_it_is_sent(tmp_path, fake):
    """Issue 24, case 2: version 1 was being sent when version 2 came; the reader gets version 1,
    then its message edited to version 2 (no second message, nothing left out)."""
    tally, channel = fresh(tmp_path, fake, LAST - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")
    tally.feed("mod", day_item(LAST))
    (in_flight,) = [d for d in tally.store.claim("telegram") if d.recipient == REPORT_EN]
    tally.feed("mod", day_item(LAST, {"personnel": 10}, digest="edited"))

    finish_send(tally.store, channel, in_flight)
    tally.store.release()  # the channels' copies it claimed too go back
    send_all(tally, channel)
    (first,) = fake.sent(REPORT_EN)
    assert "Personnel: <b>1,001,560</b>" in first.text
    edits = [c for c in fake.calls("editMessageText", 200) if str(c.params["chat_id"]) == REPORT_EN]
    assert {int(e.params["message_id"]) for e in edits} == {first.params["_message"]["message_id"]}
    assert "Personnel: <b>1,001,570</b>" in edits[-1].params["text"]
    tally.close()


def test_an_incomplete_or_held_report_is_not_sent(tmp_path, fake):
    """No report before every core category is in, and none while a typo is held as suspect."""
    tally, _ = fresh(tmp_path, fake, LAST - dt.timedelta(days=1))
    partial = [f for f in between(LAST, LAST)[LAST] if f.metric != "mlrs"]
    assert [
        s.event.rule for s in tally.feed("mod", Item("part", "part", partial)).events if s.event.rule == "report"
    ] == []
    typo = tally.feed("mod", day_item(LAST, {"personnel": 9_000_000}))  # a digit too many: held, not reported
    assert [s.event.rule for s in typo.events if s.event.rule == "report"] == []
    tally.close()


TYPO = {"tanks": 98_397}  # 10,933 printed as 109,330: a digit too many, held as suspect


def test_a_day_held_by_a_typo_gets_its_report_when_the_next_day_settles_it(tmp_path, fake):
    """Issue 24, case 5: a typo in one category held the day's report, and the next day's report
    (which sets the typo aside) came before it: the held day is reported first, the category shown
    as not confirmed, then the next day."""
    held, after = LAST - dt.timedelta(days=1), LAST
    tally, channel = fresh(tmp_path, fake, held - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")
    typo = tally.feed("mod", day_item(held, TYPO))
    assert [s.event.key for s in typo.events if s.event.rule == "report"] == []  # waits for the typo
    nxt = tally.feed("mod", day_item(after))
    assert [s.event.key for s in nxt.events if s.event.rule == "report"] == [f"report:{held}", f"report:{after}"]
    send_all(tally, channel)
    first, second = fake.sent(REPORT_EN)
    assert f"on {held.day} Jun 2025" in first.text and "Tanks: <b>not yet confirmed</b>" in first.text
    assert "Personnel: <b>1,000,340</b> (+1,140)" in first.text
    assert f"on {after.day} Jun 2025" in second.text
    tally.close()


def test_a_day_held_by_a_typo_is_reported_after_the_wait_and_edited_when_the_figure_is_settled(tmp_path, fake):
    from tallywatch.ingest import overdue
    from tallywatch.store import utcnow

    held = LAST - dt.timedelta(days=1)
    tally, channel = fresh(tmp_path, fake, held - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")
    tally.feed("mod", day_item(held, TYPO))
    from tallywatch.detect import milestones
    from tallywatch.models import Event

    old = D(2025, 3, 1)  # a crossing learned late, not told yet: it waits for the newest day's first report
    crossing = Event(
        key="milestone:uav:150000",
        rule="milestone",
        metric="uav",
        as_of=old,
        value=150_100,
        message="uav passed 150,000",
        severity="critical",
        data={"level": 150_000},
    )
    tally.store.add_event(milestones.late(crossing, old, old), "api", notify=False)
    wait = dt.timedelta(seconds=tally.config.report.wait)
    assert overdue(tally.store, tally.detector, [channel], utcnow() + wait / 2) == []
    (made,) = overdue(tally.store, tally.detector, [channel], utcnow() + wait)
    assert made.event.key == f"report:{held}" and made.notify
    # the day's own crossing (stored with its first batch) is the headline; the late one waits
    assert [(s["rule"], s["metric"]) for s in made.event.data["standouts"] if s["rule"] == "milestone"] == [
        ("milestone", "personnel")
    ]
    assert [e.event.key for e in tally.store.late_untold()] == [crossing.key]
    assert overdue(tally.store, tally.detector, [channel], utcnow() + 2 * wait) == []  # once
    send_all(tally, channel)
    (sent,) = fake.sent(REPORT_EN)
    assert "Tanks: <b>not yet confirmed</b>" in sent.text and "Personnel: <b>1,000,340</b>" in sent.text
    true_tanks = next(f for f in day_item(held).figures if f.metric == "tanks")
    settled = tally.feed("api", Item("api:tanks", "api:tanks", [true_tanks]))  # a second source: the true figure
    assert [s.event.key for s in settled.events if s.event.rule == "report"] == [f"report:{held}/2"]
    fake.state.calls.clear()
    send_all(tally, channel)
    assert fake.sent(REPORT_EN) == []
    edits = [c for c in fake.calls("editMessageText", 200) if str(c.params["chat_id"]) == REPORT_EN]
    assert {int(e.params["message_id"]) for e in edits} == {sent.params["_message"]["message_id"]}
    assert "Tanks: <b>10,933</b> (+6)" in edits[-1].params["text"]
    tally.close()


def test_the_report_goes_as_a_card_drawn_once_per_language_and_a_revision_replaces_it(tmp_path, fake, drawings):
    from tallywatch import charts
    from tallywatch.pipeline import Pipeline

    cards = lambda: sorted(args[2] for draw, args in drawings if draw is charts.card)  # noqa: E731 (languages)
    tally, channel = fresh(tmp_path, fake, LAST - dt.timedelta(days=1))
    Pipeline(tally.config, store=tally.store, channels=[channel])  # binds the channel: cards are drawn
    for i in range(6):
        tally.store.save_subscriber("telegram", str(700 + i), choice="report", language="uk" if i % 2 else "en")
    tally.feed("mod", day_item(LAST))
    send_all(tally, channel)
    sent = fake.sent()
    photos = [c for c in sent if c.params["caption"].startswith("📋")]  # (the channels also get the milestone)
    assert len(photos) == 8 and all(c.method == "sendPhoto" for c in sent)  # 6 readers, 2 channels: the card
    assert cards() == ["en", "uk"]  # drawn once per language
    uploads = [c for c in photos if isinstance(c.params["photo"], bytes)]
    assert all(c.params["photo"][:8] == b"\x89PNG\r\n\x1a\n" for c in uploads)
    assert len(uploads) < len(photos)  # the rest by file id
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(uploads[0].params["photo"])).size == (1080, 1350)
    caption = next(c.params["caption"] for c in photos if str(c.params["chat_id"]) == "700")
    assert caption.startswith("📋 <b>Russia's losses on 13 Jun 2025</b>") and "General Staff" in caption
    receipts = {r[0] for r in tally.store.conn.execute("SELECT receipt FROM deliveries WHERE status = 'sent'")}
    assert all(r.startswith("photo:") for r in receipts)

    fake.state.calls.clear()
    tally.feed("mod", day_item(LAST, {"personnel": 10}, digest="edited"))
    send_all(tally, channel)
    assert fake.sent() == []  # nothing new: the cards are replaced where they are
    edits = fake.calls("editMessageMedia", 200)
    assert len(edits) == 8 and all(c.params["photo"][:8] == b"\x89PNG\r\n\x1a\n" for c in edits)
    assert all("1,001,570" in c.params["caption"] or "1\u00a0001\u00a0570" in c.params["caption"] for c in edits)
    assert cards() == ["en", "en", "uk", "uk"]  # the new version's card, once per language
    tally.close()


def test_a_real_kmu_page_makes_the_days_report_card_with_its_link(tmp_path, fake, feed_server):
    """The page as kmu.gov.ua served it (5 November 2023), fetched and read by the shipped source's
    selector through a real poll: its report goes out as one card, the page linked as the original."""
    from pathlib import Path

    from tallywatch.config import defaults
    from tallywatch.pipeline import Pipeline

    saved = Path(__file__).parent / "fixtures" / "real" / "kmu" / "ukraine_stats_2023-11-05.html"
    feed_server.routes["/report"] = (200, {"Content-Type": "text/html; charset=utf-8"}, saved.read_bytes())
    kmu = defaults().source("kmu")
    source = kmu.replace(url=feed_server.url + "/report")
    cfg = config(fake).replace(sources=[source])
    channel = TelegramChannel(TOKEN, cfg.telegram)
    tally = Tally(tmp_path / "k.db", cfg, [channel])
    seed(tally.store, tally.detector, D(2023, 11, 4))
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")

    async def go():
        pipeline = Pipeline(cfg, store=tally.store, channels=[channel])
        try:
            return await pipeline.poll(source)
        finally:
            await channel.stop()

    result = asyncio.run(go())
    assert result.status == "ok", result.error
    (card,) = fake.sent(REPORT_EN)
    photo = card.params["photo"]  # the upload, or the file id of the one a channel got first
    png = fake.state.files[photo] if isinstance(photo, str) else photo
    assert card.method == "sendPhoto" and png[:8] == b"\x89PNG\r\n\x1a\n"
    caption = card.params["caption"]
    assert caption.startswith("📋 <b>Russia's losses on 5 Nov 2023</b>\nday 620 of the full-scale war")
    assert "Personnel: <b>305,090</b> (+990)" in caption and "Submarines: <b>1</b>" in caption
    assert f'<a href="{feed_server.url}/report">original</a>' in caption


@pytest.mark.parametrize("known", [D(2025, 6, 12), D(2025, 6, 20)], ids=["the-newest-day", "a-held-day"])
def test_personnels_rank_is_counted_over_the_365_days_before_on_the_real_series(tmp_path, known):
    """The report's "the Nth highest of the last 365 days", checked against the bundled General
    Staff series counted directly (every day whose day before is known gives a rise) — also for a
    day reported after later ones are known (a held day): the days after it are not its year."""
    from tallywatch import history
    from tallywatch.config import Config
    from tallywatch.detect import report
    from tallywatch.replay import seed

    day = dt.date(2025, 6, 12)  # the day personnel passed 1,000,000
    tally = Tally(tmp_path / "r.db", Config())
    seed(tally.store, tally.detector, known)
    personnel = {d: f.value for d, figs in history.daily().items() for f in figs if f.metric == "personnel"}
    start = day - dt.timedelta(days=report.RANK_DAYS)
    rises = {
        d: v - personnel[d - dt.timedelta(days=1)]
        for d, v in personnel.items()
        if start < d <= day and d - dt.timedelta(days=1) in personnel
    }
    expected = {"rank": 1 + sum(1 for r in rises.values() if r > rises[day]), "of": len(rises)}
    assert report.rank(tally.detector.window("personnel"), day) == expected
    assert expected["of"] >= 360  # a year of consecutive days, nearly all of them
    tally.close()


def test_a_revised_report_says_a_days_spike_once_with_its_new_number(tmp_path, fake):
    """Issue 24, case 8: a revision of a spike's figure made version 2 say the spike twice, with the
    old and the new number. The newer line replaces the older one."""
    spike_day = D(2025, 6, 3)  # aircraft +41: a spike and a record
    tally, _ = fresh(tmp_path, fake, spike_day - dt.timedelta(days=1))
    first = tally.feed("mod", day_item(spike_day))
    (v1,) = [s.event for s in first.events if s.event.rule == "report"]
    assert [(s["rule"], s["metric"], s["value"]) for s in v1.data["standouts"]][:1] == [("spike", "aircraft", 413)]
    revised = tally.feed("mod", day_item(spike_day, {"aircraft": 2}, digest="edited"))
    (v2,) = [s.event for s in revised.events if s.event.rule == "report"]
    said = [(s["rule"], s["metric"]) for s in v2.data["standouts"]]
    assert len(said) == len(set(said)), said
    (aircraft,) = [s for s in v2.data["standouts"] if s["metric"] == "aircraft" and s["rule"] == "spike"]
    assert aircraft["value"] == 415 and "+43" in aircraft["message"]
    tally.close()


def test_a_fill_that_settles_a_held_figure_has_the_next_live_batch_edit_that_days_report(tmp_path, fake):
    """The held day's report went out with tanks not yet confirmed; the history fill (quiet) then
    brings the true figure: the next live report edits the held day's report first."""
    from tallywatch.ingest import overdue
    from tallywatch.store import utcnow

    held = LAST - dt.timedelta(days=1)
    tally, channel = fresh(tmp_path, fake, held - dt.timedelta(days=1))
    tally.feed("mod", day_item(held, TYPO))
    overdue(tally.store, tally.detector, [channel], utcnow() + dt.timedelta(seconds=tally.config.report.wait))
    true_tanks = next(f for f in day_item(held).figures if f.metric == "tanks")
    filled = tally.feed("russianwarship", Item("rw:tanks", "rw:tanks", [true_tanks]), quiet=True, filling=LAST)
    assert [s.event.rule for s in filled.events if s.event.rule == "report"] == []  # a fill tells nothing itself
    nxt = tally.feed("mod", day_item(LAST))
    assert [s.event.key for s in nxt.events if s.event.rule == "report"] == [f"report:{held}/2", f"report:{LAST}"]
    tally.close()


def test_a_held_day_settled_after_an_outage_still_gets_its_report(tmp_path, fake):
    """A real but unusually big day is held; the service then misses two days; the report after them
    confirms it: the held day's report goes out, however many days later, before the new one."""
    held = LAST - dt.timedelta(days=3)
    tally, _ = fresh(tmp_path, fake, held - dt.timedelta(days=1))
    big = {"personnel": 15_000}  # its "(+N)" agrees with it: held only for being far above the usual
    assert [s.event.rule for s in tally.feed("mod", day_item(held, big)).events if s.event.rule == "report"] == []
    back = tally.feed("mod", day_item(LAST, big))  # two days missed
    assert [s.event.key for s in back.events if s.event.rule == "report"] == [f"report:{held}", f"report:{LAST}"]
    tally.close()


def photo_of(fake, call) -> bytes:
    """The PNG a sendPhoto carried: the upload, or the bytes of the file id it reused."""
    photo = call.params["photo"]
    return fake.state.files[photo] if isinstance(photo, str) else photo


def test_the_day_personnel_passes_a_million_the_report_leads_with_it(tmp_path, fake):
    """Issue 26: on 12 June 2025 (personnel 1,000,340) the report's card said "1,000,340" and its
    caption never said 1,000,000. Now the crossing is the card's band and the caption's first line,
    in each reader's language; a reader of the report alone gets that one message, no alert beside it."""
    import io

    from PIL import Image

    from tallywatch.pipeline import Pipeline

    day = D(2025, 6, 12)
    tally, channel = fresh(tmp_path, fake, day - dt.timedelta(days=1))
    Pipeline(tally.config, store=tally.store, channels=[channel])  # binds the channel: cards are drawn
    report_uk = "504"
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")
    tally.store.save_subscriber("telegram", report_uk, choice="report", language="uk")
    tally.store.save_subscriber("telegram", ALL_UK, choice="all", language="uk")
    tally.feed("mod", day_item(day))
    send_all(tally, channel)

    (en,) = fake.sent(REPORT_EN)  # the report, and nothing else
    assert en.method == "sendPhoto"
    caption = en.params["caption"]
    assert caption.split("\n")[:2] == [
        "🏁 <b>1,000,000 — personnel passed 1\u00a0million</b>",
        "📋 <b>Russia's losses on 12 Jun 2025</b>",
    ]
    assert caption.count("1,000,000") == 1  # said once, as the headline: no standout line repeats it
    assert "Personnel: <b>1,000,340</b> (+1,140)" in caption
    assert "highest" not in caption  # the 276th highest day of 365 is no news
    (uk,) = fake.sent(report_uk)
    assert uk.params["caption"].split("\n")[:2] == [
        "🏁 <b>1\u00a0000\u00a0000 — особовий склад: перейдено рубіж 1\u00a0мільйон</b>",
        "📋 <b>Втрати росії станом на 12.06.2025</b>",
    ]
    assert "найбільший показник" not in uk.params["caption"]
    # a reader who chose alerts too gets the report and the milestone's own alert
    alert, report = sorted((c.params.get("caption") or c.text for c in fake.sent(ALL_UK)), key=lambda t: "📋" in t)
    assert report.startswith("🏁 <b>1\u00a0000\u00a0000 — особовий склад") and "📋" in report
    assert alert.startswith("🏁 <b>12.06.2025</b>\nОсобовий склад: перейдено рубіж 1\u00a0000\u00a0000 — тепер")
    # the card: a red band across its whole width under the title, where a day without one has white
    for call in (en, uk):
        card = Image.open(io.BytesIO(photo_of(fake, call))).convert("RGB")
        assert card.getpixel((10, 250)) == (0xC0, 0x39, 0x2B) and card.getpixel((1070, 250)) == (0xC0, 0x39, 0x2B)
    tally.close()


@pytest.mark.parametrize(
    ("day", "en", "uk"),
    [
        (D(2025, 1, 7), "Personnel: the 5th highest day in a year.", "Особовий склад: 5-й найбільший показник за рік."),
        (
            D(2025, 3, 28),
            "Personnel: the 9th highest day in a year.",
            "Особовий склад: 9-й найбільший показник за рік.",
        ),
        (D(2025, 6, 11), None, None),  # the 58th: no rank line
        (D(2025, 2, 28), None, None),  # the 1st, and its spike already says "the most in a year"
    ],
    ids=["5th", "9th", "quiet", "1st-with-its-spike"],
)
def test_personnels_rank_is_said_only_when_it_is_news(tmp_path, fake, day, en, uk):
    tally, channel = fresh(tmp_path, fake, day - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")
    tally.store.save_subscriber("telegram", ALL_UK, choice="report", language="uk")
    tally.feed("mod", day_item(day))
    send_all(tally, channel)
    (english,), (ukrainian,) = fake.sent(REPORT_EN), fake.sent(ALL_UK)
    ranks = [line for line in english.text.split("\n") if "highest" in line or "the most in a day" in line]
    assert ranks == ([en] if en else [])
    ranks = [line for line in ukrainian.text.split("\n") if "найбільш" in line and line.startswith("Особовий")]
    assert ranks == ([uk] if uk else [])
    tally.close()


def test_the_days_records_come_before_its_unusual_days(tmp_path, fake):
    """28 March 2025: armoured vehicles far above the usual (a spike), artillery and vehicles the
    most in a year (records): the records first, then the spike, then the rank."""
    day = D(2025, 3, 28)
    tally, channel = fresh(tmp_path, fake, day - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")
    tally.feed("mod", day_item(day))
    send_all(tally, channel)
    (sent,) = fake.sent(REPORT_EN)
    after_table = sent.text.split("\n\n")[2].split("\n")
    assert [line.split()[0] for line in after_table] == ["🏆", "🏆", "📈", "Personnel:"], after_table
    tally.close()


def test_a_milestone_that_came_in_an_earlier_batch_still_leads_the_days_report(tmp_path, fake):
    """Left by the first cut of issue 26: the crossing led the report only when it came in the
    same batch. A post with personnel alone came first (the milestone went out then), the full
    report later: the report leads with the day's milestone all the same, read from the store."""
    day = D(2025, 6, 12)
    tally, channel = fresh(tmp_path, fake, day - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", REPORT_EN, choice="report")
    full = day_item(day)
    personnel = [f for f in full.figures if f.metric == "personnel"]
    first = tally.feed("mod", Item(f"early:{day}", "early", personnel, link=full.link))
    assert [s.event.key for s in first.events if s.event.rule == "milestone"] == ["milestone:personnel:1000000"]
    later = tally.feed("mod", full)
    (made,) = [s.event for s in later.events if s.event.rule == "report"]
    assert [(s["rule"], s["metric"]) for s in made.data["standouts"]][:1] == [("milestone", "personnel")]
    send_all(tally, channel)
    (report,) = fake.sent(REPORT_EN)
    assert report.text.startswith("🏁 <b>1,000,000 — personnel passed 1\u00a0million</b>\n📋")
    tally.close()
