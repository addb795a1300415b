"""The chaos run as a test: slow (about half a minute), so it lives in bench/, outside CI's tests/.
Run: .venv/bin/python -m pytest -q -m slow bench/

A run that measured nothing (a daemon that would not start, a fan-out that never moved) raises
``ChaosFailed``: this test fails with the daemon's own words, it never passes on an empty figure."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos import chaos


@pytest.mark.slow
def test_ten_sigkills_in_one_fanout_lose_nothing_and_duplicate_only_the_sends_in_flight():
    r = chaos(subscribers=300, kill_count=10)
    assert r["kills"] == 10, r
    assert r["lost"] == 0, r
    # each kill can duplicate only what was in flight: at most `concurrency` messages, one per chat
    assert r["duplicates"] <= r["concurrency"] * r["kills"], r
    assert r["most"] <= 1 + r["kills"], r
    assert r["most_in_one_life"] == 1, r  # at most one duplicate per chat per kill


@pytest.mark.slow
def test_ten_sigkills_in_a_paid_broadcast_leave_at_most_one_duplicate_per_chat_per_kill():
    r = chaos(subscribers=10_000, kill_count=10, paid=True)
    assert r["kills"] == 10 and r["lost"] == 0, r
    assert r["duplicates"] <= r["concurrency"] * r["kills"], r
    assert r["most_in_one_life"] == 1, r
