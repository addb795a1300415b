"""Where features meet (issue 24, found in review): quiet hours and the order of a reader's
deliveries, a stop or a kill in the middle of a fan-out, report versions over edits in flight or
dead copies, held reports, late milestones — seen from a reader's inbox, through the real store,
outbox, Telegram channel and the fake Bot API. (Claim's speed with 10,000 queued: bench/claim.py.)"""

import asyncio
import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from fake_telegram import TOKEN
from tally import Tally, finish_send
from tally import send_all as send_reports
from test_daily_report import FIRST, day_item, fresh
from test_retraction import CONFIG, send_all, take_it_back, wrong_million_then_taken_back

from tallywatch import outbox
from tallywatch.channels.limits import FloodGate
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.models import Event
from tallywatch.store import Store, utcnow

D = dt.date


def stored(store: Store, event: Event, channels) -> None:
    """An event stored and queued as ingest does it: one transaction."""
    with store.transaction():
        made = store.add_event(event, "mod", notify=True)
        outbox.enqueue(store, [made], channels)


# -- per-recipient order ------------------------------------------------------------------------------


def test_a_milestone_at_night_is_not_held_behind_an_alert_waiting_for_quiet_hours_to_end(tmp_path, fake):
    cfg = CONFIG.telegram.replace(base_url=fake.base_url)
    channel = TelegramChannel(TOKEN, cfg)
    store = Store(tmp_path / "q.db")
    hour = dt.datetime.now(ZoneInfo("Europe/Kyiv")).hour  # quiet hours now (say 22–07), whatever the time
    store.save_subscriber("telegram", "901", choice="all", quiet_from=hour, quiet_to=(hour + 2) % 24)
    spike = Event(
        key="spike:tanks:2025-06-12",
        rule="spike",
        metric="tanks",
        as_of=D(2025, 6, 12),
        value=10_933,
        message="tanks +55",
        severity="warning",
    )
    stored(store, spike, [channel])  # waits until 07:00 (quiet hours)
    million = Event(
        key="milestone:personnel:1000000",
        rule="milestone",
        metric="personnel",
        as_of=D(2025, 6, 12),
        value=1_000_340,
        message="passed",
        severity="critical",
    )
    stored(store, million, [channel])  # critical: never waits
    rows = {r["key"]: r for r in store.outbox_rows(("pending",))}
    assert rows[million.key]["next_attempt_at"] <= utcnow().isoformat() < rows[spike.key]["next_attempt_at"]
    claimed = store.claim("telegram")
    assert [d.event.key for d in claimed] == [million.key]
    store.mark_sent(claimed[0].id, "text:1")
    # a correction of the spike waiting for the morning waits with it, and holds nothing back
    (spike_id,) = [e["id"] for e in store.events() if e["key"] == spike.key]
    fixed = Event(
        key="correction:tanks",
        rule="correction",
        metric="tanks",
        as_of=D(2025, 6, 12),
        value=10_940,
        message="fixed",
        severity="warning",
    )
    stored(store, dataclasses.replace(fixed, data={"answers": [spike_id]}), [channel])
    later = Event(
        key="milestone:uav:150000",
        rule="milestone",
        metric="uav",
        as_of=D(2025, 6, 12),
        value=150_100,
        message="passed",
        severity="critical",
    )
    stored(store, later, [channel])
    assert [d.event.key for d in store.claim("telegram")] == [later.key]
    store.close()


def test_a_correction_whose_original_never_reached_a_quiet_reader_waits_for_their_quiet_hours_to_end(tmp_path, fake):
    """A milestone goes at night (critical), but the chat fails and its copy dies; its correction,
    queued in the reader's quiet hours to edit that message, has nothing to edit and goes as a
    message of its own — not at night: a correction waits for quiet hours (the thorough inbox run
    found it going at once)."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    store = Store(tmp_path / "q.db")
    hour = dt.datetime.now(ZoneInfo("Europe/Kyiv")).hour
    store.save_subscriber("telegram", "905", choice="all", quiet_from=hour, quiet_to=(hour + 2) % 24)
    million = Event(
        key="milestone:personnel:1000000",
        rule="milestone",
        metric="personnel",
        as_of=D(2025, 6, 12),
        value=1_000_340,
        message="passed",
        severity="critical",
    )
    stored(store, million, [channel])
    (copy,) = store.claim("telegram")  # critical: at once, quiet hours or not
    store.mark_retry(copy.id, "Telegram: NetworkError: 500", utcnow() + dt.timedelta(minutes=5), dead=False)
    (million_id,) = [e["id"] for e in store.events() if e["key"] == million.key]
    fixed = Event(
        key="correction:personnel",
        rule="correction",
        metric="personnel",
        as_of=D(2025, 6, 12),
        value=1_000_330,
        message="fixed",
        severity="warning",
    )
    stored(store, dataclasses.replace(fixed, data={"answers": [million_id]}), [channel])
    store.mark_retry(copy.id, "Telegram: chat not found", utcnow(), dead=True)  # the milestone's copy dies
    assert store.claim("telegram") == []  # the correction, now a message of its own, waits
    (row,) = [r for r in store.outbox_rows(("pending",)) if r["key"] == fixed.key]
    wake = dt.datetime.now(ZoneInfo("Europe/Kyiv")).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=2)
    assert dt.datetime.fromisoformat(row["next_attempt_at"]) == wake
    store.close()


def test_a_retraction_waits_for_its_original_in_retry_backoff_and_then_the_original_is_dropped(tmp_path, fake):
    """The false alert failed once (a 500: it did not arrive) and waits to be tried again when it is
    taken back: it is dropped, its reader gets neither it nor a retraction — only the true milestone."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "b.db", CONFIG, [channel])
    tally.store.save_subscriber("telegram", "911", choice="milestones")
    wrong_million_then_taken_back(tally)
    (first,) = tally.store.claim("telegram")
    tally.store.mark_retry(first.id, "Telegram: NetworkError: 500", utcnow() + dt.timedelta(minutes=5), dead=False)
    take_it_back(tally)
    counts = send_all(tally, channel)
    (only,) = fake.sent(911)
    assert "now 1,000,900" in only.text and counts["dropped"] == 1
    tally.close()


# -- maybe_sent --------------------------------------------------------------------------------------


class StopsAfterOne(TelegramChannel):
    """The daemon told to stop (SIGTERM, a reload) while a round's first send is under way."""

    halt: asyncio.Event

    async def send(self, *args, **kwargs):
        try:
            return await super().send(*args, **kwargs)
        finally:
            self.halt.set()


def test_a_clean_stop_does_not_make_readers_who_never_got_the_alert_get_its_retraction(tmp_path, fake):
    settings = CONFIG.telegram.replace(base_url=fake.base_url, concurrency=1)
    channel = StopsAfterOne(TOKEN, settings)
    tally = Tally(tmp_path / "s.db", CONFIG, [channel])
    for chat in ("921", "922", "923"):
        tally.store.save_subscriber("telegram", chat, choice="milestones")
    wrong_million_then_taken_back(tally)

    async def round_stopped():
        channel.halt = asyncio.Event()
        try:
            await outbox.deliver(outbox.direct, tally.store, channel, FloodGate(channel.limits), stop=channel.halt)
        finally:
            await channel.stop()

    asyncio.run(round_stopped())
    (got,) = {c.params["chat_id"] for c in fake.sent()}  # one reader got the false alert; then the stop
    take_it_back(tally)
    channel.halt = asyncio.Event()  # (never set again: the send_all below runs to the end)
    fake.state.calls.clear()

    send_all(tally, channel)
    for chat in {"921", "922", "923"} - {str(got)}:
        texts = [c.text for c in fake.sent(chat)]
        assert not any("was wrong" in t for t in texts), (chat, texts)  # never had the alert
    tally.close()


# -- the daily report's versions -----------------------------------------------------------------------


def revised(day: dt.date, by: int):
    return day_item(day, {"personnel": by}, digest=f"post:{day}:+{by}")


def test_version_3_while_version_2_waits_on_version_1_in_flight_edits_the_one_message(tmp_path, fake):
    tally, channel = fresh(tmp_path, fake, FIRST - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", "931", choice="report")
    tally.feed("mod", day_item(FIRST))
    in_flight = tally.store.claim("telegram")  # /1 being sent (to the reader and the config's channels)
    tally.feed("mod", revised(FIRST, 10))  # /2 waits for /1 to be sent
    tally.feed("mod", revised(FIRST, 20))  # /3 takes /2's place, still answering /1
    for d in in_flight:
        finish_send(tally.store, channel, d)
    send_reports(tally, channel)
    sent = fake.sent(931)
    assert len(sent) == 1
    edits = [c for c in fake.calls(status=200) if c.method.startswith("edit") and str(c.params["chat_id"]) == "931"]
    assert [int(c.params["message_id"]) for c in edits] == [sent[0].params["_message"]["message_id"]]
    newest = tally.store.latest_report()
    assert newest.key == f"report:{FIRST}/3"
    tally.close()


def test_version_3_after_version_2s_edit_failed_in_flight_still_edits_the_first_message(tmp_path, fake):
    tally, channel = fresh(tmp_path, fake, FIRST - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", "941", choice="report")
    tally.feed("mod", day_item(FIRST))
    send_reports(tally, channel)
    (first,) = fake.sent(941)
    tally.feed("mod", revised(FIRST, 10))
    in_flight = tally.store.claim("telegram")  # /2's edits under way
    tally.feed("mod", revised(FIRST, 20))  # /3 follows /2 up, waiting for it
    for v2 in in_flight:  # /2's edits failed (a 502): they will be tried again
        tally.store.mark_retry(v2.id, "Telegram: NetworkError: Bad Gateway", utcnow(), dead=False)
    send_reports(tally, channel)
    assert len(fake.sent(941)) == 1, [c.method for c in fake.sent(941)]  # still one report message
    edits = [c for c in fake.calls(status=200) if c.method.startswith("edit") and str(c.params["chat_id"]) == "941"]
    assert {int(c.params["message_id"]) for c in edits} == {first.params["_message"]["message_id"]}
    tally.close()


def test_outbox_retry_after_a_dead_report_copy_was_superseded_brings_the_days_report(tmp_path, fake):
    tally, channel = fresh(tmp_path, fake, FIRST - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", "951", choice="report")
    tally.feed("mod", day_item(FIRST))
    for v1 in tally.store.claim("telegram"):  # Telegram down: the attempts ran out
        tally.store.mark_retry(v1.id, "Telegram: NetworkError: Bad Gateway", utcnow(), dead=True)
    tally.feed("mod", revised(FIRST, 10))  # the post edited while Telegram was down
    tally.store.requeue_dead()  # `tallywatch outbox retry`, Telegram back
    send_reports(tally, channel)
    assert len(fake.sent(951)) == 1  # the day's report, in its newest version
    tally.close()


# -- held reports and late milestones ----------------------------------------------------------------


def test_a_held_day_whose_typo_is_replaced_by_a_second_typo_waits_from_the_first(tmp_path, fake):
    """The post is edited from one typo to another: still held, and ``[report] wait`` counts from the
    first hold (not restarted by the second); the report goes out once, the category not confirmed."""
    from tallywatch.ingest import overdue

    tally, channel = fresh(tmp_path, fake, FIRST - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", "961", choice="report")
    tally.feed("mod", day_item(FIRST, {"tanks": 90_000}, digest="typo-1"))
    (since,) = tally.store.held_reports().values()
    again = tally.feed("mod", day_item(FIRST, {"tanks": 91_000}, digest="typo-2"))
    assert [s.event.rule for s in again.events if s.event.rule == "report"] == []
    assert list(tally.store.held_reports().values()) == [since]
    wait = dt.timedelta(seconds=tally.config.report.wait)
    (made,) = overdue(tally.store, tally.detector, [channel], since + wait)
    assert made.event.key == f"report:{FIRST}"
    send_reports(tally, channel)
    (sent,) = fake.sent(961)
    assert "Tanks: <b>not yet confirmed</b>" in sent.text
    tally.close()


def test_a_late_milestone_is_a_line_of_the_next_days_report_not_only_of_an_edit_of_an_old_one(tmp_path, fake):
    from tallywatch.detect import milestones

    tally, channel = fresh(tmp_path, fake, FIRST - dt.timedelta(days=1))
    tally.store.save_subscriber("telegram", "971", choice="report")
    tally.feed("mod", day_item(FIRST))
    send_reports(tally, channel)
    # an hourly fill finds a crossing in an old gap: recorded late, sent to no one
    old = D(2025, 3, 1)
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
    with tally.store.transaction():
        tally.store.add_event(milestones.late(crossing, old, old), "api", notify=False)
    tally.feed("mod", revised(FIRST, 10))  # yesterday's post edited: its report's /2, an edit
    nxt = day_item(FIRST + dt.timedelta(days=1))  # today's report, its "(+N)" from the edited total
    figures = [
        dataclasses.replace(f, reported_delta=f.reported_delta - 10) if f.metric == "personnel" else f
        for f in nxt.figures
    ]
    tally.feed("mod", dataclasses.replace(nxt, figures=figures))
    send_reports(tally, channel)
    (edit,) = [c for c in fake.calls(status=200) if c.method.startswith("edit") and str(c.params["chat_id"]) == "971"]
    assert "on 1 Jun 2025" in edit.text and "150,000" not in edit.text  # the edit of 1 June: not there
    today = fake.sent(971)[-1]
    assert today.text.startswith("📋 <b>Russia's losses on 2 Jun 2025") and "150,000" in today.text
    tally.close()
