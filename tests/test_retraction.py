"""A wrong value accepted is taken back: its events marked, its milestone key freed, its readers
told — and on Telegram the alert they received edited to show it was wrong (the fake Bot API)."""

import asyncio
import datetime as dt

import pytest
from fake_telegram import TOKEN
from tally import Tally, finish_send
from tally import send_all as tally_send_all

from tallywatch import outbox
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config
from tallywatch.format import format_date

D = dt.date
START = D(2025, 6, 1)
# a user who chose speed over agreement ([detect] confirm = "none") gets a milestone from a wrong figure
CONFIG = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}, "detect": {"confirm": "none"}})


def day(n):
    return START + dt.timedelta(days=n)


def send_all(tally, channel):
    """Deliver until nothing is waiting (a send Telegram's per-chat limit deferred is sent when due)."""
    return tally_send_all(tally, channel, retry_base=0.1, retry_max=0.5)


def test_a_wrong_milestone_is_taken_back_its_message_edited_and_the_true_one_fires_once(tmp_path, fake):
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "r.db", CONFIG, [channel])
    tally.store.save_subscriber("telegram", "501", choice="milestones", language="en")
    tally.store.save_subscriber("telegram", "502", choice="milestones", language="uk")
    for i in range(10):  # 988,700 … 997,700, a quiet first import
        tally.report("mod", day(i), 988_700 + 1_000 * i)
    wrong = tally.report("mod", day(10), 1_001_000)  # a wrong figure (the truth: 998,700), no "(+N)" to check
    assert [s.event.key for s in wrong.events if s.notify] == ["milestone:personnel:1000000"]
    send_all(tally, channel)
    original = {int(c.params["chat_id"]): c.params["_message"]["message_id"] for c in fake.sent()}
    assert set(original) == {501, 502}

    assert tally.report("mod", day(11), 999_800, delta=1_100).events == []  # a fall from it: held
    agreed = tally.report("mod", day(12), 1_000_900, delta=1_100)  # agrees with the day before: 1,000,900 − 1,100
    keys = [s.event.key for s in agreed.events]
    assert keys == [f"retracted:personnel:{day(10)}:1001000", "milestone:personnel:1000000"]  # the key is free again
    (true_million,) = [s.event for s in agreed.events if s.event.rule == "milestone"]
    assert (true_million.as_of, true_million.value) == (day(12), 1_000_900)

    events = tally.store.events()
    taken = [e for e in events if e["retracted_at"]]
    assert [(e["key"].split("~")[0], e["as_of"], e["value"]) for e in taken] == [
        ("milestone:personnel:1000000", str(day(10)), 1_001_000)  # kept, marked, not deleted
    ]
    assert tally.point("personnel", day(10)) == (1_001_000, "mod", "discarded")

    fake.state.calls.clear()
    send_all(tally, channel)
    edits = fake.calls("editMessageText", 200)
    # (a retry after a 429 on the answer does not edit again: test_defences.py)
    assert {(int(c.params["chat_id"]), int(c.params["message_id"])) for c in edits} == set(original.items())
    english = next(c.params["text"] for c in edits if int(c.params["chat_id"]) == 501)
    assert english == (
        f"<s>🏁 <b>{format_date(day(10))}</b>\nPersonnel passed 1,000,000 — now 1,001,000 (+3,300 in a day)</s>\n\n"
        f"⚠️ <b>{format_date(day(10))}</b>\nPersonnel 1,001,000 for {format_date(day(10))} was wrong: the next reports from "
        f"the General Staff give 999,800 for {format_date(day(11))} and 1,000,900 for {format_date(day(12))}"
        "\n\n<i>Russia's losses as reported by the General Staff of the Armed Forces of Ukraine</i>"
    )
    ukrainian = next(c.params["text"] for c in edits if int(c.params["chat_id"]) == 502)
    assert "помилкове значення" in ukrainian and "(Генштаб)" in ukrainian and ukrainian.startswith("<s>🏁")
    for chat in (501, 502):
        notes = [c for c in fake.sent(chat) if "<s>" not in c.text]
        retraction, million = sorted(notes, key=lambda c: "1,000,000" in c.text or "1\u00a0000\u00a0000" in c.text)
        assert retraction.params["reply_parameters"]["message_id"] == original[chat]  # an answer to the alert
        assert "1,000,900" in million.text or "1\u00a0000\u00a0900" in million.text  # the true crossing, once
    assert len(fake.sent()) == 4  # per reader: the retraction and the true milestone, once each
    tally.close()


def crossing_the_million(tmp_path, fake, chat: str, choice: str) -> tuple[Tally, TelegramChannel]:
    """Ten days to 998,100, then post-10: 1,000,340 (+2,240), queued for one reader who chose ``choice``."""
    cfg = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}})
    channel = TelegramChannel(TOKEN, cfg.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "r.db", cfg, [channel])
    tally.store.save_subscriber("telegram", chat, choice=choice)
    for i in range(10):  # … 998,100
        tally.report("mod", day(i), 989_100 + 1_000 * i, delta=1_000 if i else None)
    tally.report("mod", day(10), 1_000_340, delta=2_240, item="post-10")
    return tally, channel


def test_a_source_revising_its_figure_edits_the_alerts_it_caused(tmp_path, fake):
    tally, channel = crossing_the_million(tmp_path, fake, "601", "all")  # corrections too: it must get this one once
    send_all(tally, channel)
    alert = next(c for c in fake.sent(601) if "passed 1,000,000" in c.text)
    tally.store.save_subscriber("telegram", "602", choice="all")  # subscribed after the alert went out

    revised = tally.report("mod", day(10), 1_000_400, delta=2_300, item="post-10")  # the post edited
    assert [s.event.rule for s in revised.events] == ["correction"]  # the milestone still holds: not again
    fake.state.calls.clear()
    send_all(tally, channel)
    edits = fake.calls("editMessageText", 200)
    assert {(int(e.params["chat_id"]), int(e.params["message_id"])) for e in edits} == {
        (601, alert.params["_message"]["message_id"])
    }
    edit = edits[-1]
    assert edit.params["text"] == (
        f"<s>🏁 <b>{format_date(day(10))}</b>\nPersonnel passed 1,000,000 — now 1,000,340 (+2,240 in a day)</s>\n\n"
        f"✏️ <b>{format_date(day(10))}</b>\nThe General Staff corrected personnel for {format_date(day(10))}: "
        "1,000,340 → 1,000,400 (+60)"
        "\n\n<i>Russia's losses as reported by the General Staff of the Armed Forces of Ukraine</i>"
    )
    (answer,) = fake.sent(601)
    assert answer.params["reply_parameters"]["message_id"] == alert.params["_message"]["message_id"]
    (plain,) = fake.sent(602)  # a reader who never had the alert gets the correction as a message of its own
    assert (
        "reply_parameters" not in plain.params
        and "corrected personnel for 11 Jun 2025: 1,000,340 → 1,000,400" in plain.text
    )

    below = tally.report("mod", day(10), 999_950, delta=1_850, item="post-10")  # revised below the level
    assert [s.event.rule for s in below.events] == ["correction"]
    assert [e["key"] for e in tally.store.events() if e["rule"] == "milestone" and not e["retracted_at"]] == []
    crossing = tally.report("mod", day(11), 1_001_000, delta=1_050)
    assert [s.event.key for s in crossing.events if s.event.rule == "milestone"] == ["milestone:personnel:1000000"]
    tally.close()


def test_a_milestone_sent_with_its_chart_has_its_caption_edited(tmp_path, fake):
    from tallywatch.pipeline import Pipeline

    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "c.db", CONFIG, [channel])
    pipeline = Pipeline(CONFIG, store=tally.store, channels=[channel])  # binds the channel: charts are drawn
    tally.store.save_subscriber("telegram", "701", choice="milestones")
    for i in range(10):
        tally.report("mod", day(i), 988_700 + 1_000 * i)
    tally.report("mod", day(10), 1_001_000)
    send_all(tally, channel)
    (photo,) = fake.sent(701)
    assert photo.method == "sendPhoto"
    tally.report("mod", day(11), 999_800, delta=1_100)
    tally.report("mod", day(12), 1_000_900, delta=1_100)
    fake.state.calls.clear()
    send_all(tally, channel)
    captions = fake.calls("editMessageCaption", 200)
    assert {int(c.params["message_id"]) for c in captions} == {photo.params["_message"]["message_id"]}
    assert captions[-1].params["caption"].startswith(f"<s>🏁 <b>{format_date(day(10))}</b>\nPersonnel passed 1,000,000")
    assert "was wrong" in captions[-1].params["caption"]
    assert fake.calls("editMessageText") == []
    asyncio.run(pipeline.aclose())


def wrong_million_then_taken_back(tally):
    """A quiet first import, a wrong figure that crosses 1,000,000 (queued to the readers), then two
    reports that agree with each other and contradict it: returns the retraction batch."""
    for i in range(10):
        tally.report("mod", day(i), 988_700 + 1_000 * i)
    wrong = tally.report("mod", day(10), 1_001_000)
    assert [s.event.key for s in wrong.events if s.notify] == ["milestone:personnel:1000000"]
    return wrong


def take_it_back(tally):
    assert tally.report("mod", day(11), 999_800, delta=1_100).events == []
    agreed = tally.report("mod", day(12), 1_000_900, delta=1_100)
    assert [s.event.rule for s in agreed.events] == ["guard", "milestone"]


def test_a_wrong_alert_not_sent_yet_is_dropped_and_its_readers_get_only_the_true_one(tmp_path, fake):
    """Issue 24, case 2: the false alert was still waiting (quiet hours, a slow channel) when it was
    taken back: it never goes out, nor does a retraction of it; the true milestone does, once."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "p.db", CONFIG, [channel])
    tally.store.save_subscriber("telegram", "511", choice="milestones", language="en")
    wrong_million_then_taken_back(tally)
    take_it_back(tally)
    counts = send_all(tally, channel)
    (only,) = fake.sent(511)
    assert "passed 1,000,000 — now 1,000,900" in only.text and "<s>" not in only.text
    assert fake.calls("editMessageText") == [] and counts["dropped"] == 1 and counts["sent"] == 1
    tally.close()


def test_a_wrong_alert_in_flight_when_taken_back_is_followed_by_its_retraction_before_the_true_one(tmp_path, fake):
    """Issue 24, case 2: the false alert was being sent when it was taken back. Once it is sent the
    reader gets the retraction (an edit and an answer), and only then the true milestone."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "f.db", CONFIG, [channel])
    tally.store.save_subscriber("telegram", "521", choice="milestones", language="en")
    wrong_million_then_taken_back(tally)
    (in_flight,) = tally.store.claim("telegram")  # a worker holds it, its send under way

    take_it_back(tally)
    assert tally.store.claim("telegram") == []  # the retraction waits for the send, the true alert behind it

    finish_send(tally.store, channel, in_flight)
    send_all(tally, channel)
    false, retraction, true = fake.sent(521)
    assert "1,001,000" in false.text and "was wrong" in retraction.text and "now 1,000,900" in true.text
    assert retraction.params["reply_parameters"]["message_id"] == false.params["_message"]["message_id"]
    edits = fake.calls("editMessageText", 200)  # (again after a 429 on the answer: the same edit)
    assert {int(e.params["message_id"]) for e in edits} == {false.params["_message"]["message_id"]}
    assert edits[-1].params["text"].startswith("<s>🏁") and "was wrong" in edits[-1].params["text"]
    tally.close()


def test_the_digest_leaves_out_an_alert_that_was_taken_back(tmp_path):
    from tallywatch import digest

    tally = Tally(tmp_path / "d.db", CONFIG)
    wrong_million_then_taken_back(tally)
    take_it_back(tally)
    told = digest.make(tally.store, CONFIG, "daily")
    milestones = [a for a in told.data["events"] if a["rule"] == "milestone"]
    assert [(a["as_of"], a["value"]) for a in milestones] == [(str(day(12)), 1_000_900)]
    tally.close()


def test_a_flip_flopping_source_gives_each_reader_one_retraction_and_one_re_alert_at_most(tmp_path, fake):
    """Issue 24, case 6: a priority-1 source edits its post back and forth between 999,340 (+140) and
    1,000,340 (+1,140) — both agree with themselves. The first crossing is sent, the first flip back
    takes it back; after that the day is unstable: the crossing waits until the next report or a
    second source agrees, then goes out once."""
    cfg = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}})
    channel = TelegramChannel(TOKEN, cfg.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "flip.db", cfg, [channel])
    tally.store.save_subscriber("telegram", "801", choice="milestones")
    tally.store.save_subscriber("telegram", "802", choice="all")
    for i in range(10):  # … 999,200 on day 9
        tally.report("mod", day(i), 990_200 + 1_000 * i, delta=1_000 if i else None)
    for flip in range(6):
        value, delta = (1_000_340, 1_140) if flip % 2 == 0 else (999_340, 140)
        tally.report("mod", day(10), value, delta=delta, item="post-10")
        send_all(tally, channel)
    assert tally.point("personnel", day(10)) == (999_340, "mod", "accepted")
    tally.report("mod", day(10), 1_000_340, delta=1_140, item="post-10")  # and once more: held
    assert tally.point("personnel", day(10)) == (1_000_340, "mod", "suspect")
    confirmed = tally.report("mod", day(11), 1_001_400, delta=1_060)  # the next report continues it
    assert [s.event.key for s in confirmed.events if s.event.rule == "milestone"] == ["milestone:personnel:1000000"]
    # readers were last told "1,000,340 → 999,340": a correction back to the value that holds answers it
    (back,) = [s.event for s in confirmed.events if s.event.rule == "correction"]
    assert (back.data["old"], back.data["new"]) == (999_340, 1_000_340) and back.data["answers"]
    send_all(tally, channel)
    for chat in (801, 802):
        sent = fake.sent(chat)
        crossings = [c for c in sent if "passed 1,000,000" in c.text]
        assert len(crossings) == 2, [c.text for c in sent]  # the first, and the one that holds
        down = [c for c in sent if "1,000,340 → 999,340" in c.text and "<s>" not in c.text]
        back = [c for c in sent if "999,340 → 1,000,340" in c.text]
        assert len(down) == 1 and len(back) == 1  # one correction each way, whatever the source did
        edits = {
            int(c.params["message_id"]) for c in fake.calls("editMessageText", 200) if int(c.params["chat_id"]) == chat
        }
        # the first crossing struck through and corrected, and that correction answered by the one back
        assert edits == {crossings[0].params["_message"]["message_id"], down[0].params["_message"]["message_id"]}
    assert len(fake.sent(801)) <= 4
    tally.close()


def test_a_wrong_alert_a_kill_interrupted_is_taken_back_for_its_reader_all_the_same(tmp_path, fake):
    """The false alert reached the reader, then the daemon was killed before marking it sent; after
    the restart it is taken back. It is not sent again, and its reader still gets the retraction
    (as a message of its own: there is no receipt to edit) before the true milestone."""
    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "k.db", CONFIG, [channel])
    tally.store.save_subscriber("telegram", "531", choice="milestones", language="en")
    wrong_million_then_taken_back(tally)
    (in_flight,) = tally.store.claim("telegram")

    async def arrives_unmarked():
        try:
            await channel.send(in_flight.event, in_flight.recipient, in_flight.language)
        finally:
            await channel.stop()

    asyncio.run(arrives_unmarked())  # … and SIGKILL before mark_sent
    tally.restart()
    assert tally.store.release() == 1  # what a daemon's start does
    take_it_back(tally)
    send_all(tally, channel)
    false, retraction, true = fake.sent(531)
    assert "1,001,000" in false.text and "was wrong" in retraction.text and "now 1,000,900" in true.text, [
        c.text[:40] for c in fake.sent(531)
    ]
    assert "reply_parameters" not in retraction.params and fake.calls("editMessageText") == []
    tally.close()


def test_a_send_that_timed_out_may_have_arrived_and_its_retraction_still_reaches_the_reader(tmp_path, fake):
    """Telegram gave no answer (a time-out): the alert may have arrived. Taken back while it waits
    for its retry, it is not sent again, and its reader gets the retraction as a message of its own."""
    from telegram.error import TimedOut

    from tallywatch.channels import Retry

    channel = TelegramChannel(TOKEN, CONFIG.telegram.replace(base_url=fake.base_url))

    async def silent(*_args):
        raise TimedOut("Timed out")

    async def probe():
        try:
            await channel._call("541", silent)
        finally:
            await channel.stop()

    with pytest.raises(Retry) as caught:
        asyncio.run(probe())
    assert caught.value.uncertain
    tally = Tally(tmp_path / "t.db", CONFIG, [channel])
    tally.store.save_subscriber("telegram", "541", choice="milestones", language="en")
    wrong_million_then_taken_back(tally)
    (waiting,) = tally.store.claim("telegram")
    outbox._outcome(tally.store, channel, waiting, caught.value, 30.0, 3600.0)  # the retry an hour away
    take_it_back(tally)
    send_all(tally, channel)
    texts = [c.text for c in fake.sent(541)]
    assert len(texts) == 2 and "was wrong" in texts[0] and "now 1,000,900" in texts[1], texts
    tally.close()


def test_a_correction_made_while_the_alert_waits_for_its_reader_follows_it_there(tmp_path, fake):
    """The milestone's copy for a milestones-only reader was still queued (their chat failing) when
    the source revised the figure: once the copy goes out, the correction follows it (an edit and an
    answer), though that reader chose no corrections — nothing stays with the old figure unanswered."""
    tally, channel = crossing_the_million(tmp_path, fake, "611", "milestones")  # queued, not sent yet
    revised = tally.report("mod", day(10), 1_000_400, delta=2_300, item="post-10")
    assert [s.event.rule for s in revised.events] == ["correction"]
    send_all(tally, channel)
    alert, answer = fake.sent(611)
    assert "now 1,000,340" in alert.text and "corrected personnel for 11 Jun 2025: 1,000,340 → 1,000,400" in answer.text
    assert answer.params["reply_parameters"]["message_id"] == alert.params["_message"]["message_id"]
    tally.close()


def test_a_revision_held_by_the_guard_and_confirmed_later_answers_the_alert_of_the_old_value(tmp_path, fake):
    """The post is edited to a value whose printed change does not continue the day before (held),
    and the next report confirms it: the milestone 'now 1,000,340' its reader got is answered by the
    correction to the value that holds, once that is known."""
    cfg = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}})
    channel = TelegramChannel(TOKEN, cfg.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "h.db", cfg, [channel])
    tally.store.save_subscriber("telegram", "621", choice="milestones")
    for i in range(10):  # … 999,200 on day 9
        tally.report("mod", day(i), 990_200 + 1_000 * i, delta=1_000 if i else None)
    tally.report("mod", day(10), 1_000_340, delta=1_140, item="post-10")
    send_all(tally, channel)
    (alert,) = fake.sent(621)
    held = tally.report("mod", day(10), 1_000_900, delta=1_140, item="post-10")  # its "(+N)" does not fit: held
    assert [s.event.rule for s in held.events] == [] and tally.point("personnel", day(10))[2] == "suspect"
    confirmed = tally.report("mod", day(11), 1_002_000, delta=1_100)  # continues 1,000,900
    (fixed,) = [s.event for s in confirmed.events if s.event.rule == "correction"]
    assert (fixed.data["old"], fixed.data["new"]) == (1_000_340, 1_000_900)
    send_all(tally, channel)
    (answer,) = fake.sent(621)[1:]
    assert "1,000,340 → 1,000,900" in answer.text
    assert answer.params["reply_parameters"]["message_id"] == alert.params["_message"]["message_id"]
    tally.close()


def test_a_correction_dropped_before_it_reached_a_reader_is_followed_by_the_next_one_there(tmp_path, fake):
    """The milestone reached the reader; the post was revised below the level (the milestone taken
    back, the correction queued for them — their chat failing) and revised again before that copy
    went out: the newer correction reaches them as the answer to the milestone they hold."""
    tally, channel = crossing_the_million(tmp_path, fake, "631", "milestones")
    send_all(tally, channel)
    (alert,) = fake.sent(631)
    tally.report("mod", day(10), 999_950, delta=1_850, item="post-10")  # below the level: its copy waits
    tally.report("mod", day(10), 999_960, delta=1_860, item="post-10")  # revised again before it went out
    send_all(tally, channel)
    (answer,) = fake.sent(631)[1:]
    assert "999,950 → 999,960" in answer.text
    assert answer.params["reply_parameters"]["message_id"] == alert.params["_message"]["message_id"]
    tally.close()
