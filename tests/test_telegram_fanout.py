"""Telegram fan-out through the real outbox, against the local fake Bot API with Telegram's limits."""

import asyncio
import datetime as dt

import pytest
from fake_telegram import TOKEN, FakeTelegram
from tally import Tally, million_through, send_all
from waiting import wait

from tallywatch import charts, outbox
from tallywatch.channels.limits import FloodGate
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config
from tallywatch.ingest import Item
from tallywatch.models import Figure
from tallywatch.pipeline import Pipeline
from tallywatch.store import utcnow

D = dt.date
CONFIG = Config.from_dict({"milestones": {"personnel": {"step": 100_000}, "tanks": {"step": 1_000}}})
CROSSING_DAY = D(2025, 6, 12)


def seeded(tmp_path, channel) -> Tally:
    """Ten quiet days of history: personnel 990,000 … 999,000, tanks 10,885 … 10,966."""
    tally = Tally(tmp_path / "tg.db", CONFIG, [channel])
    for i in range(10):
        day = CROSSING_DAY - dt.timedelta(days=10 - i)
        figures = [
            Figure(metric="personnel", as_of=day, value=990_000 + 1_000 * i),
            Figure(metric="tanks", as_of=day, value=10_885 + 9 * i),
        ]
        tally.feed("mod", Item(f"d{i}", f"d{i}", figures), quiet=True)
    return tally


def crossing(tally: Tally):
    """The day personnel passes 1,000,000 and tanks come within three days of 11,000."""
    return tally.feed(
        "mod",
        Item(
            "d10",
            "d10",
            [
                Figure(metric="personnel", as_of=CROSSING_DAY, value=1_000_340, reported_delta=1_340),
                Figure(metric="tanks", as_of=CROSSING_DAY, value=10_977),
            ],
        ),
    )


def run_fanout(tally, channel, **how):
    return send_all(tally, channel, retry_base=0.2, retry_max=1.0, **how)


def test_fanout_to_200_subscribers_gives_each_what_they_chose_with_no_429(tmp_path, fake):
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = seeded(tmp_path, channel)
    choices = {}
    for i in range(200):
        chat = str(5_000 + i)
        kind = ("all", "milestones", "metrics", "metrics")[i % 4]
        metrics = ["tanks"] if i % 4 == 2 else ["personnel"] if i % 4 == 3 else []
        tally.store.save_subscriber(
            "telegram", chat, choice=kind, metrics=metrics, language="uk" if i % 5 == 0 else "en"
        )
        choices[chat] = (kind, metrics)
    result = crossing(tally)
    assert sorted(e.event.key for e in result.events) == ["approaching:tanks:11000", "milestone:personnel:1000000"]
    counts = run_fanout(tally, channel)
    assert counts["sent"] == 50 * 2 + 50 + 50 + 50 and counts["dead"] == 0
    assert fake.calls("sendMessage", 429) == []
    for chat, (kind, metrics) in choices.items():
        texts = [c.text for c in fake.sent(chat)]
        million = [t for t in texts if "1,000,000" in t or "1\u00a0000\u00a0000" in t]
        tanks = [t for t in texts if "11,000" in t or "11\u00a0000" in t]
        wants_million = kind in ("all", "milestones") or "personnel" in metrics
        wants_tanks = kind == "all" or "tanks" in metrics
        assert (len(million), len(tanks), len(texts)) == (
            int(wants_million),
            int(wants_tanks),
            int(wants_million) + int(wants_tanks),
        ), chat
    english = fake.sent("5001")[0].text
    assert english == (
        "🏁 <b>12 Jun 2025</b>\nPersonnel passed 1,000,000 — now 1,000,340 (+1,340 in a day)\n\n"
        "<i>Russia's losses as reported by the General Staff of the Armed Forces of Ukraine</i>"
    )
    ukrainian = next(c.text for c in fake.sent("5000") if "000\u00a0000" in c.text)
    assert (
        ukrainian
        == "🏁 <b>12.06.2025</b>\nОсобовий склад: перейдено рубіж 1\u00a0000\u00a0000 — тепер 1\u00a0000\u00a0340 (+1\u00a0340 за добу)\n\n"
        "<i>Втрати росії за даними Генерального штабу ЗСУ</i>"
    )
    rate = fake.sent()
    span = rate[-1].at - rate[0].at
    assert len(rate) / span <= 30.5  # never faster than Telegram allows
    # every delivery keeps the id Telegram gave its message (to edit it later): the photo or the text
    answered = {(str(c.params["chat_id"]), c.text): c.params["_message"] for c in fake.sent()}
    rows = tally.store.conn.execute(
        "SELECT d.recipient, d.language, d.receipt, e.key FROM deliveries d JOIN events e ON e.id = d.event_id"
        " WHERE d.channel = 'telegram' AND d.status = 'sent'"
    ).fetchall()
    assert len(rows) == 250
    for recipient, _language, receipt, _key in rows:
        kind, message_id = receipt.split(":")
        (message,) = [
            m for (chat, _), m in answered.items() if chat == recipient and m["message_id"] == int(message_id)
        ]
        assert kind == ("photo" if "photo" in message else "text")
    tally.close()


@pytest.mark.parametrize(("code", "count"), [(429, 25), (500, 25)])
def test_a_storm_of_429s_or_500s_is_survived_with_nothing_lost(tmp_path, fake, code, count):
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = seeded(tmp_path, channel)
    for i in range(20):
        tally.store.save_subscriber("telegram", str(7_000 + i), choice="milestones")
    crossing(tally)
    fake.storm(code, count, retry_after=1)
    counts = run_fanout(tally, channel)
    assert counts["sent"] == 20 and counts["dead"] == 0
    assert len(fake.calls("sendMessage", code)) >= count
    assert all(len(fake.sent(str(7_000 + i))) == 1 for i in range(20))  # each exactly once
    tally.close()


def test_blocked_users_are_deactivated_not_retried(tmp_path, fake):
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = seeded(tmp_path, channel)
    for i in range(6):
        tally.store.save_subscriber("telegram", str(8_000 + i), choice="all")
    fake.fail_chat(8_001, 403, "Forbidden: bot was blocked by the user")
    fake.fail_chat(8_002, 400, "Bad Request: chat not found")
    crossing(tally)
    counts = run_fanout(tally, channel)
    # two events each: the first refusal ends it, the second copy is dropped (no longer subscribed)
    assert (counts["dead"], counts["dropped"], counts["sent"]) == (2, 2, 8)
    assert len(fake.calls("sendMessage", 403)) == 1  # the first refusal ends it: the second event is not tried
    blocked = tally.store.subscriber("telegram", "8001")
    assert (blocked["active"], blocked["reason"]) == (0, "Telegram: Forbidden: bot was blocked by the user")
    assert tally.store.subscriber("telegram", "8002")["active"] == 0
    assert tally.store.subscriber("telegram", "8003")["active"] == 1
    tally.close()


def test_configured_channels_get_what_they_were_set_to_each_in_its_own_language(tmp_path, fake):
    from tallywatch.config import Telegram

    approaching = {"send": ["milestones", "approaching"]}
    settings = Telegram.from_dict(
        {
            "base_url": fake.base_url,
            "channels": [
                "@losses_feed",  # the report and milestones
                {"chat": -1001234567890, **approaching},
                {"chat": "@vtraty", "language": "uk", **approaching},
            ],
        }
    )
    channel = TelegramChannel(TOKEN, settings)
    tally = seeded(tmp_path, channel)
    crossing(tally)
    run_fanout(tally, channel)
    assert len(fake.sent("@losses_feed")) == 1 and len(fake.sent("-1001234567890")) == 2  # tanks near 11,000 too
    ukrainian = [c.text for c in fake.sent("@vtraty")]
    assert len(ukrainian) == 2 and all("Генерального штабу ЗСУ" in t for t in ukrainian)
    assert any("перейдено рубіж 1\u00a0000\u00a0000" in t for t in ukrainian)
    assert all("General Staff" in c.text for c in fake.sent("@losses_feed"))
    tally.close()


def test_a_milestone_chart_is_drawn_once_per_language_then_sent_by_file_id(tmp_path, fake, drawings):
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = seeded(tmp_path, channel)
    pipeline = Pipeline(CONFIG, store=tally.store, channels=[channel])  # binds the channel: charts read the store
    for i in range(40):
        tally.store.save_subscriber("telegram", str(9_000 + i), choice="milestones", language="uk" if i % 2 else "en")
    event = next(s.event for s in crossing(tally).events if s.event.rule == "milestone")
    counts = run_fanout(tally, channel)
    assert counts["sent"] == 40 and counts["dead"] == 0
    photos = fake.calls("sendPhoto", 200)
    assert len(photos) == 40 and fake.sent() == photos  # every subscriber got the chart with the alert as caption
    drawn = [(args[0], args[3]) for draw, args in drawings if draw is charts.render]
    assert sorted(drawn) == [("personnel", "en"), ("personnel", "uk")]  # once in each language
    uploads = [c for c in photos if isinstance(c.params["photo"], bytes)]
    # the sends in flight before Telegram answered the first upload upload too; the rest go by file id
    assert 2 <= len(uploads) <= 2 * channel.limits.concurrency
    assert all(c.params["photo"][:8] == b"\x89PNG\r\n\x1a\n" for c in uploads)
    file_ids = {c.params["_message"]["photo"][-1]["file_id"]: "000\u00a0000" in c.text for c in uploads}
    assert all(file_ids[c.params["photo"]] == ("000\u00a0000" in c.text) for c in photos if c not in uploads)
    receipts = dict(tally.store.conn.execute("SELECT recipient, receipt FROM deliveries WHERE status = 'sent'"))
    assert receipts == {str(c.params["chat_id"]): f"photo:{c.params['_message']['message_id']}" for c in photos}

    fake.state.files.clear()  # Telegram forgot the file: the next recipient gets the bytes again, not an error
    tally.store.save_subscriber("telegram", "9999", choice="milestones")

    async def through_a_gate() -> None:  # a new gate, as after a restart: the last second's sends were someone's
        gate = FloodGate(channel.limits)
        gate.hold_all(1.0)
        await gate.acquire("9999")
        await channel.send(event, "9999", "en")

    asyncio.run(through_a_gate())
    last = fake.sent("9999")[-1]
    assert last.method == "sendPhoto" and isinstance(last.params["photo"], bytes)
    assert [c.status for c in fake.calls("sendPhoto") if str(c.params["chat_id"]) == "9999"] == [400, 200]
    asyncio.run(pipeline.aclose())


def long_broadcast(tally: Tally, chats: list[str]) -> str:
    """A broadcast of ~11,000 characters (three messages) queued for ``chats``; returns its text."""
    from tallywatch.models import Event

    text = "\n".join(f"line {n}: " + "figures & context " * 10 for n in range(50))
    stored = tally.store.add_event(
        Event(key="broadcast:long", rule="broadcast", metric="", as_of=CROSSING_DAY, value=0, message=text),
        "admin",
        True,
    )
    for chat in chats:
        tally.store.enqueue(stored.id, "telegram", chat, outbox.idempotency_key("broadcast:long", "telegram", chat))
    return text


def each_line_once(pieces: list[str]) -> bool:
    return all(sum(f"line {n}:" in p for p in pieces) == 1 for n in range(50))


def test_a_long_message_goes_in_pieces_each_through_the_flood_gate(tmp_path, fake):
    """Three pieces to each of three chats: the fake Bot API (one message a second per chat) never
    has to answer 429, and each chat gets each piece once, in order, entities whole."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "tg.db", CONFIG, [channel])
    chats = ["8001", "8002", "8003"]
    long_broadcast(tally, chats)
    counts = run_fanout(tally, channel)
    assert counts["sent"] == 3 and counts["dead"] == 0
    assert fake.calls("sendMessage", 429) == []
    for chat in chats:
        pieces = [c.text for c in fake.sent(chat)]
        assert len(pieces) == 3 and all(len(p) <= 4096 for p in pieces) and each_line_once(pieces)
        assert pieces[0].startswith("📣 <b>12 Jun 2025</b>\nline 0: ") and "line 49:" in pieces[2]
        assert all(p.count("&amp;") == p.count("&") for p in pieces)  # no entity cut in two
    tally.close()


def test_a_429_on_piece_two_resumes_at_piece_two(tmp_path, fake):
    """The review's reproduction: a 429 on the second piece. The retry sends pieces 2 and 3; piece 1
    is never sent again (before the fix it went out 12 times, then the delivery died)."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "tg.db", CONFIG, [channel])
    long_broadcast(tally, ["8001"])
    fake.trap(lambda params: "line 0:" not in str(params.get("text", "")), 429, retry_after=1)
    counts = run_fanout(tally, channel)
    assert counts["sent"] == 1 and counts["dead"] == 0
    assert len(fake.calls("sendMessage", 429)) == 1
    pieces = [c.text for c in fake.sent("8001")]
    assert len(pieces) == 3 and each_line_once(pieces)
    (row,) = tally.store.db.query("SELECT status, attempts, pieces_sent, receipt FROM deliveries")
    assert (row["status"], row["attempts"], row["pieces_sent"]) == ("sent", 2, 3)
    assert row["receipt"] == f"text:{fake.sent('8001')[-1].params['_message']['message_id']}"
    tally.close()


def test_a_429_is_waited_out_as_told_for_that_chat(tmp_path, fake):
    """A 429 with retry_after=3 for one chat: its retry is stored as due no sooner than 3 s later
    (the outbox's retry base here is 0.2 s) and reaches Telegram no sooner; the other chats go on."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = seeded(tmp_path, channel)
    tally.store.save_subscriber("telegram", "7001", choice="milestones")  # the million
    for chat in ("7002", "7003"):
        tally.store.save_subscriber("telegram", chat, choice="all")  # two alerts each: the million, tanks
    crossing(tally)
    fake.trap(lambda params: str(params.get("chat_id")) == "7001", 429, retry_after=3)
    before = utcnow()

    async def one_round():
        try:
            await outbox.deliver(outbox.direct, tally.store, channel, FloodGate(channel.limits), retry_base=0.2)
        finally:
            await channel.stop()

    asyncio.run(one_round())  # the retry is due not before retry_after, also for a process started anew
    (row,) = tally.store.db.query("SELECT next_attempt_at FROM deliveries WHERE status = 'pending'")
    assert (dt.datetime.fromisoformat(row["next_attempt_at"]) - before).total_seconds() >= 3.0
    counts = run_fanout(tally, channel)
    assert counts["sent"] == 5 and counts["dead"] == 0
    (refused,) = fake.calls(None, 429)
    (later,) = fake.sent("7001")
    assert later.at - refused.at >= 3.0
    others = [c.at for chat in ("7002", "7003") for c in fake.sent(chat)]
    assert min(others) - refused.at < 3.0  # they did not wait for 7001
    tally.close()


def test_after_a_429_the_chats_next_alert_waits_too(tmp_path, fake):
    """The chat told to wait 3 s has a second alert queued behind the refused one: the flood gate
    holds that chat (only that chat) for the 3 s as well."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = seeded(tmp_path, channel)
    for chat in ("7001", "7002"):
        tally.store.save_subscriber("telegram", chat, choice="all")  # two alerts each: the million, tanks
    crossing(tally)
    fake.trap(lambda params: str(params.get("chat_id")) == "7001", 429, retry_after=3)
    counts = run_fanout(tally, channel)
    assert counts["sent"] == 4 and counts["dead"] == 0
    (refused,) = fake.calls(None, 429)
    assert len(fake.sent("7001")) == 2 and all(c.at - refused.at >= 3.0 for c in fake.sent("7001"))
    assert any(c.at - refused.at < 3.0 for c in fake.sent("7002"))
    tally.close()


def test_a_group_upgraded_to_a_supergroup_is_followed(tmp_path, fake):
    """Telegram answers a send to the old group with "upgraded to a supergroup" and the new id: the
    alert goes to the new chat, and the subscription moves there (later alerts go straight to it)."""
    cfg = CONFIG.replace(storage=CONFIG.storage.replace(path=tmp_path / "m.db"))
    channel = TelegramChannel(TOKEN, cfg.telegram.replace(base_url=fake.base_url))

    async def go():
        pipeline = Pipeline(cfg, channels=[channel])
        try:
            await pipeline.in_store(pipeline.store.save_subscriber, "telegram", "-4001", choice="all", kind="group")
            fake.state.migrated["-4001"] = "-1004001"
            await million_through(pipeline)
            await pipeline.deliver()
            return (
                await pipeline.in_store(pipeline.store.subscriber, "telegram", "-1004001"),
                await pipeline.in_store(pipeline.store.subscriber, "telegram", "-4001"),
                await pipeline.in_store(pipeline.store.outbox_counts),
            )
        finally:
            await channel.stop()
            await pipeline.aclose()

    moved, old, counts = asyncio.run(go())
    assert moved["active"] == 1 and moved["choice"] == "all" and old is None
    assert counts["sent"] == 1 and counts["dead"] == 0
    assert len(fake.calls(None, 400)) == 1 and len(fake.sent("-1004001")) == 1


def test_paid_broadcast_sends_as_paid_and_is_paced_for_a_thousand_a_second(tmp_path, fake):
    """[telegram] paid_broadcast = true: every alert carries allow_paid_broadcast and the flood gate
    lets 1,000 a second through (one a second per chat still); the fake Bot API enforces both
    limits. (bench/fanout.py --paid measures the rate 10,000 subscribers get.)"""
    settings = CONFIG.telegram.replace(base_url=fake.base_url, paid_broadcast=True)
    channel = TelegramChannel(TOKEN, settings)
    assert (channel.limits.per_second, channel.limits.per_chat_interval) == (1000, 1.0)
    tally = seeded(tmp_path, channel)
    for i in range(120):
        tally.store.save_subscriber("telegram", str(8_000 + i), choice="milestones")
    crossing(tally)
    counts = run_fanout(tally, channel)
    assert counts["sent"] == 120 and fake.calls(status=429) == []
    assert all(c.params.get("allow_paid_broadcast") in (True, "true", "True") for c in fake.sent())
    # the gate: 200 sends booked within 0.2 s leave room for the next at once when paid, not when free
    paid, free = FloodGate(channel.limits, clock=lambda: 0.0), FloodGate(TelegramChannel(TOKEN, CONFIG.telegram).limits)
    for gate in (paid, free):
        for i in range(200):
            gate._recent.append(i / 1000)
    assert paid.wait_for("new", False, 0.2) <= 0.002 and free.wait_for("new", False, 0.2) >= 0.5
    tally.close()


def test_the_fake_bot_api_holds_free_sends_to_30_a_second_and_paid_to_1000():
    with FakeTelegram() as fake:
        free = [fake.handle(f"/bot{TOKEN}/sendMessage", {"chat_id": 9_000 + i, "text": "x"})[0] for i in range(40)]
        paid = [
            fake.handle(f"/bot{TOKEN}/sendMessage", {"chat_id": 9_100 + i, "text": "x", "allow_paid_broadcast": True})[
                0
            ]
            for i in range(40)
        ]
    assert free.count(429) >= 10 and set(paid) == {200}


def test_the_gate_counts_a_send_where_it_may_have_arrived():
    """A request booked 1.2 s ago and answered just now may have reached the server just now: it
    counts in the last second's allowance, and the chat's next send is a second after the answer.
    (Under load a slow request and quick ones after it arrived bunched: a 429.)"""
    now = [0.0]
    gate = FloodGate(TelegramChannel(TOKEN, CONFIG.telegram).limits, clock=lambda: now[0])

    async def go():
        await gate.acquire("slow")  # booked at 0.0
        now[0] = 1.2
        gate.finished("slow")  # answered at 1.2
        for i in range(29):  # 29 quick ones in the next second
            now[0] = 1.2 + i * 0.034
            await gate.acquire(f"quick{i}")
            gate.finished(f"quick{i}")

    asyncio.run(go())
    now[0] = 2.19
    # 29 booked in the last second plus the slow one that may have arrived within it: 30, the limit
    assert gate.wait_for("another", False, now[0]) > 0
    assert gate.wait_for("slow", False, now[0]) >= 1.2 + 1.15 - 2.19 - 1e-9  # spaced from its answer
    now[0] = 2.21
    assert gate.wait_for("another", False, now[0]) == 0  # the slow one's second is over


def test_a_reader_who_unsubscribes_gets_nothing_still_queued_for_them(tmp_path, fake):
    """A copy waiting for a reader (their quiet hours, a retry) went out after they unsubscribed:
    Telegram's sender never asked (email's did). It is dropped now, in the one queue for all channels."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = seeded(tmp_path, channel)
    for chat in ("701", "702"):
        tally.store.save_subscriber("telegram", chat, choice="all")
    crossing(tally)
    assert tally.store.deactivate("telegram", "702", "unsubscribed (/unsubscribe)")
    run_fanout(tally, channel)
    assert fake.sent(701) and fake.sent(702) == []
    dropped = tally.store.conn.execute(
        "SELECT DISTINCT status, last_error FROM deliveries WHERE recipient = '702'"
    ).fetchall()
    assert dropped == [("dropped", "the subscription ended before it was sent")]
    tally.close()


def short_broadcast(tally: Tally, chats: list[str]) -> None:
    """A one-piece broadcast queued for ``chats``."""
    from tallywatch.models import Event

    stored = tally.store.add_event(
        Event(key="broadcast:short", rule="broadcast", metric="", as_of=CROSSING_DAY, value=0, message="Hello"),
        "admin",
        True,
    )
    for chat in chats:
        tally.store.enqueue(stored.id, "telegram", chat, outbox.idempotency_key("broadcast:short", "telegram", chat))


def test_a_one_piece_message_is_marked_sent_in_one_write(tmp_path, fake):
    """Its piece is not written down on its own before the delivery is marked sent: one commit a message."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = seeded(tmp_path, channel)
    chats = [str(7_000 + i) for i in range(5)]
    short_broadcast(tally, chats)
    said: list[str] = []
    tally.store.conn.set_trace_callback(said.append)
    counts = run_fanout(tally, channel)
    tally.store.conn.set_trace_callback(None)
    assert counts["sent"] == 5 and all(len(fake.sent(chat)) == 1 for chat in chats)
    assert not [s for s in said if s.startswith("UPDATE deliveries SET pieces_sent")]
    rows = tally.store.db.query("SELECT status, pieces_sent, receipt FROM deliveries")
    assert all((r["status"], r["pieces_sent"]) == ("sent", 1) and r["receipt"].startswith("text:") for r in rows)


def test_sends_answered_while_a_commit_is_slow_are_marked_in_the_next_one(tmp_path, fake):
    """Group commit: the disk holds the first mark until every other send has its answer; those
    answers are then written down together, each delivery once, each reader one message."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url, paid_broadcast=True))
    tally = seeded(tmp_path, channel)
    pipeline = Pipeline(CONFIG, store=tally.store, channels=[channel])  # the store on its own thread
    chats = [str(7_000 + i) for i in range(20)]
    short_broadcast(tally, chats)
    batches: list[int] = []
    mark_all_sent = tally.store.mark_all_sent

    def slow_disk(marks):
        batches.append(len(marks))
        if len(batches) == 1:
            assert wait(lambda: len(fake.sent()) == len(chats))  # every send answered meanwhile
        return mark_all_sent(marks)

    tally.store.mark_all_sent = slow_disk
    counts = run_fanout(tally, channel, run=pipeline.in_store)
    assert counts["sent"] == 20 and all(len(fake.sent(chat)) == 1 for chat in chats)
    assert batches[0] == 1 and sum(batches) == 20 and len(batches) < 20 and max(batches) > 1
    asyncio.run(pipeline.aclose())
