"""Deliveries are queued with their events and leave exactly once, even after a failure or a crash."""

import datetime as dt
import io

import pytest
from tally import Tally, deliver

from tallywatch import outbox
from tallywatch.channels.console import ConsoleChannel
from tallywatch.config import Config, Milestone
from tallywatch.models import Event
from tallywatch.store import Store, utcnow

D = dt.date
CONFIG = Config(milestones={"personnel": Milestone(step=100_000)})
LINE = "2025-06-12  personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)\n"


class FlakyStream(io.StringIO):
    def __init__(self, failures):
        super().__init__()
        self.failures = failures

    def write(self, text):
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        return super().write(text)


def crossing(path, channels):
    tally = Tally(path, CONFIG, channels)
    tally.report("mod", D(2025, 6, 11), 999_200)
    return tally, tally.report("mod", D(2025, 6, 12), 1_000_340, delta=1_140)


def test_queued_in_the_transaction_and_sent_after_a_crash(tmp_path):
    path = tmp_path / "o.db"
    tally, _ = crossing(path, [ConsoleChannel()])
    tally.close()  # the process dies before delivering
    out = io.StringIO()
    store = Store(path)  # a restart sends what was queued, once
    console = ConsoleChannel(out)
    assert deliver(store, console) == 1
    assert deliver(store, console) == 0
    assert out.getvalue() == LINE
    (row,) = store.db.query("SELECT status, attempts, sent_at, claimed_at FROM deliveries")
    assert (row["status"], row["attempts"], row["claimed_at"]) == ("sent", 1, None) and row["sent_at"]
    assert store.outbox_counts() == {"pending": 0, "retrying": 0, "sending": 0, "sent": 1, "dead": 0, "dropped": 0}
    store.close()


def test_a_failed_send_is_retried_later_not_lost(tmp_path):
    stream = FlakyStream(failures=1)
    console = ConsoleChannel(stream)
    tally, _ = crossing(tmp_path / "o.db", [console])
    store = tally.store
    assert deliver(store, console) == 0
    (row,) = store.db.query("SELECT status, attempts, last_error, next_attempt_at FROM deliveries")
    assert (row["status"], row["attempts"]) == ("pending", 1) and "disk full" in row["last_error"]
    assert deliver(store, console) == 0  # not due yet: it backs off
    store.db.execute("UPDATE deliveries SET next_attempt_at = '2000-01-01T00:00:00+00:00'")  # time passes
    assert deliver(store, console) == 1
    assert stream.getvalue() == LINE
    store.close()


def test_a_delivery_gives_up_after_its_channel_limit(tmp_path):
    console = ConsoleChannel(FlakyStream(failures=99))
    tally, _ = crossing(tmp_path / "o.db", [console])
    store = tally.store
    for _ in range(console.limits.max_attempts):
        store.db.execute("UPDATE deliveries SET next_attempt_at = '2000-01-01T00:00:00+00:00' WHERE status = 'pending'")
        deliver(store, console)
    (row,) = store.db.query("SELECT status, attempts FROM deliveries")
    assert (row["status"], row["attempts"]) == ("dead", console.limits.max_attempts)
    store.close()


def test_idempotency_key_keeps_one_row_per_event_channel_recipient(tmp_path):
    tally, result = crossing(tmp_path / "o.db", [ConsoleChannel()])
    store = tally.store
    outbox.enqueue(store, result.events, [ConsoleChannel()])  # the same again
    assert store.db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1
    (key,) = store.db.execute("SELECT idempotency_key FROM deliveries").fetchone()
    assert key == "milestone:personnel:1000000|console|stdout"
    store.close()


class BrokenChannel(ConsoleChannel):
    def recipients(self, event, store):
        raise RuntimeError("recipient list unavailable")


def test_a_batch_that_fails_midway_stores_nothing_and_the_retry_fires_once(tmp_path):
    tally = Tally(tmp_path / "o.db", CONFIG, [BrokenChannel()])
    tally.report("mod", D(2025, 6, 11), 999_200)  # first import: nothing to enqueue
    with pytest.raises(RuntimeError, match="recipient list unavailable"):
        tally.report("mod", D(2025, 6, 12), 1_000_340, delta=1_140)
    assert tally.store.series("personnel") == [(D(2025, 6, 11), 999_200, "mod", "accepted", None)]
    assert tally.store.events(notify_only=True) == []
    tally.channels = [ConsoleChannel(io.StringIO())]
    retried = tally.report("mod", D(2025, 6, 12), 1_000_340, delta=1_140)
    assert [s.event.key for s in retried.events] == ["milestone:personnel:1000000"]
    assert tally.store.db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1
    tally.close()


def test_only_the_daemon_takes_back_rows_left_sending(tmp_path):
    """A one-shot command beside a running daemon must not requeue what the daemon is sending."""
    import asyncio

    from tallywatch.config import Storage
    from tallywatch.pipeline import Pipeline

    path = tmp_path / "o.db"
    tally, _ = crossing(path, [ConsoleChannel()])
    (claimed,) = tally.store.claim("console")
    tally.close()
    cfg = CONFIG.replace(storage=Storage(path=path), console=CONFIG.console.replace(enabled=False))

    async def counts(recover):
        pipeline = Pipeline(cfg, channels=[], recover=recover)
        try:
            return await pipeline.in_store(pipeline.store.outbox_counts)
        finally:
            await pipeline.aclose()

    assert asyncio.run(counts(False))["sending"] == 1  # `tallywatch poll` while the daemon sends
    assert asyncio.run(counts(True))["pending"] == 1  # the daemon starting after a kill
    assert claimed.recipient == "stdout"


class Hanging:
    """A channel whose sends never end (a server that stopped answering): the test interrupts them."""

    kind = "console"

    def __init__(self):
        from tallywatch.channels import ChannelLimits

        self.limits = ChannelLimits(concurrency=2)
        self.entered = 0

    def recipients(self, event, store):
        from tallywatch.channels import Recipient

        return [Recipient(f"r{i}") for i in range(5)]

    def is_group(self, recipient):
        return False

    async def send(self, event, recipient, language, reply=None, steps=None):
        import asyncio

        self.entered += 1
        await asyncio.Event().wait()


def test_an_interrupted_delivery_round_gives_back_what_it_claimed(tmp_path):
    """Ctrl-C on `tallywatch poll` or `digest` cancels deliver(): the rows it claimed go back to
    'pending' on the way out, not left 'sending' until a daemon start."""
    import asyncio

    from tallywatch.channels.limits import FloodGate

    channel = Hanging()
    tally, _ = crossing(tmp_path / "o.db", [channel])
    store = tally.store

    async def interrupted():
        task = asyncio.create_task(outbox.deliver(outbox.direct, store, channel, FloodGate(channel.limits)))
        while channel.entered < 2:  # both workers are inside a send
            await asyncio.sleep(0.01)
        assert store.outbox_counts()["sending"] == 5
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    assert store.outbox_counts() == {"pending": 5, "retrying": 0, "sending": 0, "sent": 0, "dead": 0, "dropped": 0}
    tally.close()


def test_one_recipient_gets_one_send_at_a_time_in_the_order_queued(tmp_path):
    """Issue 24, case 8: two sends to one chat were in flight at once (a channel sends several side
    by side) and could arrive out of order. A recipient's next delivery is taken only once the one
    before it is done; other recipients' go on meanwhile; a retry holds back what came after it, quiet hours do not."""
    store = Store(tmp_path / "q.db")
    for n in range(3):
        stored = store.add_event(
            Event(key=f"e{n}", rule="milestone", metric="personnel", as_of=D(2025, 6, 12), value=n, message=f"m{n}"),
            "mod",
            True,
        )
        for chat in ("1", "2"):
            store.enqueue(stored.id, "telegram", chat, f"e{n}|telegram|{chat}")
    first = store.claim("telegram")
    assert [(d.recipient, d.event.key) for d in first] == [("1", "e0"), ("2", "e0")]
    assert store.claim("telegram") == []  # both chats have one in flight
    store.mark_sent(first[0].id)
    store.mark_retry(first[1].id, "429", utcnow() + dt.timedelta(hours=1), dead=False)
    assert [(d.recipient, d.event.key) for d in store.claim("telegram")] == [("1", "e1")]
    assert store.claim("telegram") == []  # chat 2 waits for its retry: e1 and e2 stay behind e0
    late = store.add_event(
        Event(key="night", rule="milestone", metric="personnel", as_of=D(2025, 6, 12), value=9, message="m"),
        "mod",
        True,
    )
    store.enqueue(late.id, "telegram", "3", "night|telegram|3", utcnow() + dt.timedelta(hours=6))  # quiet hours
    milestone = store.add_event(
        Event(key="m", rule="milestone", metric="personnel", as_of=D(2025, 6, 12), value=9, message="m"), "mod", True
    )
    store.enqueue(milestone.id, "telegram", "3", "m|telegram|3")
    assert [(d.recipient, d.event.key) for d in store.claim("telegram")] == [("3", "m")]  # it need not wait
    store.close()


def answered_twice(tmp_path, dropped_before_the_next: bool) -> tuple[list[tuple[int]], int]:
    """The alert reached the reader; a correction of it was queued and dropped (taken back in its
    turn) before or after the next correction, which answers both, was queued: the messages the
    next correction's copies answer (the reader holds one: one answer to it)."""
    store = Store(tmp_path / "t.db")
    channel = ConsoleChannel(io.StringIO())
    alert = store.add_event(
        Event(key="milestone:a", rule="milestone", metric="personnel", as_of=D(2025, 6, 12), value=1, message="m"),
        "mod",
        True,
    )
    outbox.enqueue(store, [alert], [channel])
    (sent,) = store.claim("console")
    store.mark_sent(sent.id)

    def correction(n: int, answers: list[int]):
        event = Event(
            key=f"correction:{n}",
            rule="correction",
            metric="personnel",
            as_of=D(2025, 6, 12),
            value=n,
            message=f"c{n}",
            data={"answers": answers},
        )
        stored = store.add_event(event, "mod", True)
        outbox.enqueue(store, [stored], [channel])
        return stored

    first = correction(2, [alert.id])  # queued: not sent yet
    if dropped_before_the_next:
        store.retract_events([first.id])
    second = correction(3, [alert.id, first.id])  # answers the alert, and the queued correction
    store.retract_events([first.id])  # (the queued correction's copy is dropped)
    store.settle()
    answers = store.conn.execute(
        "SELECT reply_to FROM deliveries WHERE event_id = ? AND status = 'pending'", [second.id]
    ).fetchall()
    store.close()
    return answers, sent.id


def test_a_correction_answering_an_alert_and_a_dropped_correction_of_it_goes_once(tmp_path):
    answers, sent = answered_twice(tmp_path, dropped_before_the_next=True)
    assert answers == [(sent,)]


def test_a_follow_up_of_a_correction_dropped_after_it_was_queued_does_not_answer_the_alert_twice(tmp_path):
    """Found by the inbox state machine (a source flip-flopping while a chat was held back): the
    correction still queued was dropped after the next one was queued, and its answer chained to
    the alert — which the next one answered already."""
    answers, sent = answered_twice(tmp_path, dropped_before_the_next=False)
    assert answers == [(sent,)]


def test_an_answer_to_a_message_sent_goes_at_once_not_when_that_copy_was_due_while_it_waited(tmp_path):
    """Found by the inbox state machine (thorough): a correction queued while the alert's copy waited
    for a retry took that copy's due time, and still waited for it after the alert went: the reader
    held the false figure 23 minutes longer. An answer to a message sent goes now."""
    store = Store(tmp_path / "a.db")
    channel = ConsoleChannel(io.StringIO())
    alert = store.add_event(
        Event(key="milestone:a", rule="milestone", metric="personnel", as_of=D(2025, 6, 12), value=1, message="m"),
        "mod",
        True,
    )
    outbox.enqueue(store, [alert], [channel])
    (copy,) = store.claim("console")
    store.mark_retry(copy.id, "503", utcnow() + dt.timedelta(hours=1), dead=False)  # Telegram busy: an hour
    event = Event(
        key="correction:a",
        rule="correction",
        metric="personnel",
        as_of=D(2025, 6, 12),
        value=2,
        message="c",
        data={"answers": [alert.id]},
    )
    outbox.enqueue(store, [store.add_event(event, "mod", True)], [channel])  # due when the alert's copy is
    store.conn.execute("UPDATE deliveries SET next_attempt_at = ? WHERE id = ?", [utcnow().isoformat(), copy.id])
    (again,) = store.claim("console")  # (the hour has passed for the alert)
    store.mark_sent(again.id)
    assert [d.event.key for d in store.claim("console")] == ["correction:a"]
    store.close()
