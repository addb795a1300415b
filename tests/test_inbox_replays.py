"""Sequences the inbox state machine (``test_inbox_days.py``, thorough profile) found failing, kept
as they were found: each was an ``xfail(strict=True)`` while it failed, and is a plain test now that
it passes.

Found on 2026-12-05 (issue 24): a correction whose original never reached the quiet reader (504) —
the chat failed, its copy died — became a message of its own when ``Store.settle`` re-chained it,
due at once, inside the reader's quiet hours. A follow-up now keeps the reader's quiet hours from
when it was queued (``deliveries.alone_after``); the direct test is in ``test_features_meet.py``.
"""

import pytest
from test_inbox_days import Inboxes, servers  # noqa: F401


class Chat:
    """``data.draw`` as the run drew it."""

    def __init__(self, chat: str) -> None:
        self.chat = chat

    def draw(self, strategy):
        return self.chat


@pytest.mark.usefixtures("servers")
def test_a_correction_that_becomes_a_message_of_its_own_waits_for_the_end_of_quiet_hours():
    state = Inboxes()
    try:
        state.start(confirm="consistent")
        state.inboxes_hold()
        state.next_day_commit_fails()
        state.inboxes_hold()
        state.mail_server(failing=True)
        state.inboxes_hold()
        state.storm(code=429, count=6)
        state.inboxes_hold()
        state.second_source(metric="personnel", off=0)
        state.inboxes_hold()
        state.hours_pass()
        state.inboxes_hold()
        state.flip_flop(flips=3, off=-860)
        state.inboxes_hold()
        state.quiet_hours_begin()
        state.inboxes_hold()
        state.revise_today(by=-100, metric="personnel")
        state.inboxes_hold()
        state.mail_server(failing=True)
        state.inboxes_hold()
        state.next_day_big(metric="personnel", times=7)
        state.inboxes_hold()
        state.next_day(backfill=False, outage=3)
        state.inboxes_hold()
        state.next_day_with_typo(add=False, at=0, metric="personnel")
        state.inboxes_hold()
        state.next_day_with_typo(add=False, at=0, metric="personnel")
        state.inboxes_hold()
        state.chat_fails(chat="504")
        state.inboxes_hold()
        state.next_day_big(metric="tanks", times=11)
        state.inboxes_hold()
        state.hours_pass()
        state.inboxes_hold()
        state.revise_today(by=4, metric="personnel")
        state.inboxes_hold()
        state.chat_fails(chat="503")
        state.inboxes_hold()
        state.flip_flop(flips=5, off=-193)
        state.inboxes_hold()
        state.chat_recovers(data=Chat("504"))
        state.inboxes_hold()
    finally:
        state.teardown()
